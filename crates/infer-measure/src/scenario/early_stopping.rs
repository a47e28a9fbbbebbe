//! MLPerf LoadGen's early-stopping rule on a latency percentile (`loadgen/early_stopping.cc` and
//! `PerformanceSummary::EarlyStopping` in `loadgen/results.cc`), and its mirror for a failure.
//!
//! Each request either meets the latency bound or is *over* it. If the true fraction of requests
//! over the bound were exactly `1 − p + d` (`p` the percentile, e.g. 0.99, `d` a tolerance, 0 in
//! LoadGen), then seeing `t` or fewer over the bound among `n` requests has probability
//! `P(Binomial(n, 1 − p + d) ≤ t)`. LoadGen's server scenario passes when that probability is at
//! most `1 − c` (confidence `c = 0.99`): with `t` requests over, it needs `h(t)` requests under,
//! the least `h` with `P(Binomial(h + t, 1 − p + d) ≤ t) ≤ 1 − c` (`MinPassingQueriesFinder`). For
//! p99 that is 459 requests when none is over, 662 when one is, and so on.
//!
//! LoadGen runs for a fixed minimum and then judges; a search needs to stop a probe as soon as
//! either answer is certain, so the failure side mirrors the rule: a probe *fails* when, were
//! exactly `1 − p` of requests over the bound, seeing `t` or more over among `n` would have
//! probability at most `1 − c` (`P(Binomial(n, 1 − p) ≥ t) ≤ 1 − c`).
//!
//! The single-stream estimate of a percentile (`PerformanceSummary::EarlyStopping`, single stream)
//! is the `t`-th largest latency for the largest `t` with `h(t) + t ≤ n`: the percentile one can
//! claim at confidence `c` from `n` latencies.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// LoadGen's confidence of the early-stopping rule.
pub const CONFIDENCE: f64 = 0.99;
/// LoadGen's tolerance of the early-stopping rule.
pub const TOLERANCE: f64 = 0.0;

/// The percentile, confidence and tolerance of the rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// The percentile as a fraction, e.g. 0.99 for p99.
    pub percentile: f64,
    /// Confidence of a verdict, e.g. 0.99.
    pub confidence: f64,
    /// LoadGen's `d`: how far below `percentile` the pass side tests (0 in LoadGen).
    pub tolerance: f64,
}

impl Rule {
    /// LoadGen's rule for a percentile given as a fraction (0.99 for p99).
    #[must_use]
    pub fn loadgen(percentile: f64) -> Self {
        Self { percentile, confidence: CONFIDENCE, tolerance: TOLERANCE }
    }

    /// Whether the fields are in range: `0 < percentile < 1`, `0 < confidence < 1`,
    /// `0 ≤ tolerance < percentile`.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        (0.0 < self.percentile && self.percentile < 1.0)
            && (0.0 < self.confidence && self.confidence < 1.0)
            && (0.0 <= self.tolerance && self.tolerance < self.percentile)
    }
}

/// What the requests so far say about the percentile against the bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// At the rule's confidence, the percentile is within the bound.
    Pass,
    /// At the rule's confidence, the percentile is over the bound.
    Fail,
    /// Not enough requests for either.
    Undecided,
}

/// `P(Binomial(n, q) ≤ k)`, summed in log space (no underflow for large `n`).
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn binomial_cdf(k: u64, n: u64, q: f64) -> f64 {
    if k >= n || q <= 0.0 {
        return 1.0;
    }
    if q >= 1.0 {
        return 0.0;
    }
    let (ln_q, ln_1q) = (q.ln(), (-q).ln_1p());
    let mut term = n as f64 * ln_1q;
    let mut logs = Vec::with_capacity(usize::try_from(k).unwrap_or(0) + 1);
    logs.push(term);
    for x in 0..k {
        term += ((n - x) as f64).ln() - ((x + 1) as f64).ln() + ln_q - ln_1q;
        logs.push(term);
    }
    let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = logs.iter().map(|l| (l - max).exp()).sum();
    (max + sum.ln()).exp().min(1.0)
}

/// LoadGen's `MinPassingQueriesFinder`, memoized: `h(t)`, the fewest requests within the bound
/// that, beside `t` requests over it, pass the rule.
#[derive(Debug, Clone)]
pub struct EarlyStopping {
    rule: Rule,
    cache: HashMap<u64, u64>,
}

impl EarlyStopping {
    /// A finder for `rule` (see [`Rule::is_valid`]; an invalid rule never passes nor fails).
    #[must_use]
    pub fn new(rule: Rule) -> Self {
        Self { rule, cache: HashMap::new() }
    }

    /// The rule.
    #[must_use]
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// `h(t)`: the least `h` with `P(Binomial(h + t, 1 − p + d) ≤ t) ≤ 1 − c` (`u64::MAX` for an
    /// invalid rule).
    pub fn min_passing(&mut self, t: u64) -> u64 {
        if !self.rule.is_valid() {
            return u64::MAX;
        }
        if let Some(&h) = self.cache.get(&t) {
            return h;
        }
        let q = 1.0 - self.rule.percentile + self.rule.tolerance;
        let target = 1.0 - self.rule.confidence;
        let passes = |h: u64| binomial_cdf(t, h.saturating_add(t), q) <= target;
        // The probability falls as h grows: bracket by doubling, then bisect.
        let (mut lo, mut hi) = (0u64, 1u64);
        while !passes(hi) {
            lo = hi;
            hi = hi.saturating_mul(2);
        }
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if passes(mid) { hi = mid } else { lo = mid + 1 }
        }
        self.cache.insert(t, lo);
        lo
    }

    /// The verdict after `n` requests of which `over` exceeded the bound: pass when `n ≥ h(over) +
    /// over`, fail when `P(Binomial(n, 1 − p) ≥ over) ≤ 1 − c`, undecided otherwise.
    pub fn verdict(&mut self, n: u64, over: u64) -> Verdict {
        if !self.rule.is_valid() || n == 0 {
            return Verdict::Undecided;
        }
        let over = over.min(n);
        // Neither side can hold where the count is on the wrong side of its mean (a binomial's
        // median is within one of its mean, so the tail there is at least 1/2 > 1 − c): this
        // skips the sums, which grow with the counts, on long runs.
        #[allow(clippy::cast_precision_loss)]
        let (nf, of) = (n as f64, over as f64);
        let decisive = self.rule.confidence > 0.5;
        let may_fail = !decisive || of > nf * (1.0 - self.rule.percentile);
        let may_pass = !decisive || of < nf * (1.0 - self.rule.percentile + self.rule.tolerance);
        if over > 0 && may_fail {
            let upper_tail = 1.0 - binomial_cdf(over - 1, n, 1.0 - self.rule.percentile);
            if upper_tail <= 1.0 - self.rule.confidence {
                return Verdict::Fail;
            }
        }
        if may_pass && n >= self.min_passing(over).saturating_add(over) { Verdict::Pass } else { Verdict::Undecided }
    }

    /// LoadGen's `t` for `n` requests: the largest `t ≥ 1` with `h(t) + t ≤ n`, or `None` when
    /// even `t = 1` needs more than `n` requests.
    pub fn tolerated_over(&mut self, n: u64) -> Option<u64> {
        if n < self.min_passing(1).saturating_add(1) {
            return None;
        }
        // h(t) + t grows with t: bisect for the last t that fits.
        let (mut lo, mut hi) = (1u64, n);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if self.min_passing(mid).saturating_add(mid) <= n { lo = mid } else { hi = mid - 1 }
        }
        Some(lo)
    }

    /// LoadGen's early-stopping estimate of the percentile from latencies sorted ascending: the
    /// `t`-th largest for `t` from [`EarlyStopping::tolerated_over`]; `None` with too few.
    pub fn estimate(&mut self, sorted: &[f64]) -> Option<f64> {
        let n = sorted.len();
        let t = self.tolerated_over(u64::try_from(n).ok()?)?;
        sorted.get(n - usize::try_from(t).ok()?).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomial_cdf_matches_closed_forms() {
        // P(X <= 1), X ~ Bin(64, 0.1) = 0.9^64 + 64 * 0.1 * 0.9^63.
        let want = 0.9f64.powi(64) + 6.4 * 0.9f64.powi(63);
        assert!((binomial_cdf(1, 64, 0.1) - want).abs() < 1e-14);
        assert!((binomial_cdf(0, 459, 0.01) - 0.99f64.powi(459)).abs() < 1e-15);
        assert_eq!(binomial_cdf(5, 5, 0.3), 1.0);
        // Large n: no underflow, and the median of Bin(100000, 0.01) is 1000.
        let mid = binomial_cdf(1000, 100_000, 0.01);
        assert!((0.5..0.52).contains(&mid), "{mid}");
    }

    /// The thresholds LoadGen prints: "Processed at least 64 queries" for the 90th percentile
    /// (h(1) = 63), and for 2048, 2116 and 2145 queries "Would discard 172, 178, 181 highest
    /// latency queries" (t − 1); for p99 with none over, 459 queries (⌈ln 0.01 / ln 0.99⌉).
    #[test]
    fn thresholds_match_loadgen() {
        let mut p90 = EarlyStopping::new(Rule::loadgen(0.90));
        assert_eq!(p90.min_passing(1), 63);
        assert_eq!(p90.tolerated_over(63), None);
        assert_eq!(p90.tolerated_over(64), Some(1));
        assert_eq!(p90.tolerated_over(2048), Some(173));
        assert_eq!(p90.tolerated_over(2116), Some(179));
        assert_eq!(p90.tolerated_over(2145), Some(182));
        let mut p99 = EarlyStopping::new(Rule::loadgen(0.99));
        assert_eq!(p99.min_passing(0), 459);
        assert!(p99.min_passing(1) > 459 && p99.min_passing(2) > p99.min_passing(1));
    }

    #[test]
    fn verdicts_pass_fail_or_wait() {
        let mut es = EarlyStopping::new(Rule::loadgen(0.99));
        assert_eq!(es.verdict(458, 0), Verdict::Undecided);
        assert_eq!(es.verdict(459, 0), Verdict::Pass);
        let h1 = es.min_passing(1);
        assert_eq!(es.verdict(h1, 1), Verdict::Undecided);
        assert_eq!(es.verdict(h1 + 1, 1), Verdict::Pass);
        // 1% allowed over: 5 over of 20 is certainly too many; 1 of 20 is not certain.
        assert_eq!(es.verdict(20, 5), Verdict::Fail);
        assert_eq!(es.verdict(20, 1), Verdict::Undecided);
        // The failure side's threshold: the least t with P(Bin(n, 0.01) >= t) <= 0.01.
        let n = 500;
        let t = (1..n).find(|&t| 1.0 - binomial_cdf(t - 1, n, 0.01) <= 0.01).unwrap();
        assert_eq!(es.verdict(n, t), Verdict::Fail);
        assert_ne!(es.verdict(n, t - 1), Verdict::Fail);
        let mut bad = EarlyStopping::new(Rule { percentile: 1.0, confidence: 0.99, tolerance: 0.0 });
        assert_eq!(bad.verdict(10_000, 0), Verdict::Undecided);
    }

    /// The shortcuts that skip the binomial sums give the same verdicts as the sums on every
    /// count of a range, and keep a long run's verdict cheap.
    #[test]
    fn the_shortcuts_agree_with_the_sums() {
        for p in [0.9, 0.99] {
            let rule = Rule::loadgen(p);
            let mut es = EarlyStopping::new(rule);
            for n in [1u64, 20, 63, 64, 200, 459, 700, 2000] {
                for over in 0..=n.min(300) {
                    let fail = over > 0 && 1.0 - binomial_cdf(over - 1, n, 1.0 - p) <= 1.0 - rule.confidence;
                    let pass = !fail && n >= es.min_passing(over) + over;
                    let want = if fail {
                        Verdict::Fail
                    } else if pass {
                        Verdict::Pass
                    } else {
                        Verdict::Undecided
                    };
                    assert_eq!(es.verdict(n, over), want, "p{p} n {n} over {over}");
                }
            }
        }
        // 2 million requests, 100,000 over (5% at p99): decided without summing 100,000 terms
        // for the pass side.
        let mut es = EarlyStopping::new(Rule::loadgen(0.99));
        assert_eq!(es.verdict(2_000_000, 100_000), Verdict::Fail);
        assert_eq!(es.verdict(2_000_000, 10_000), Verdict::Pass);
    }

    #[test]
    fn the_estimate_is_the_t_th_largest() {
        let sorted: Vec<f64> = (0..2048).map(f64::from).collect();
        let mut es = EarlyStopping::new(Rule::loadgen(0.90));
        assert_eq!(es.estimate(&sorted), Some(f64::from(2048 - 173)));
        assert_eq!(es.estimate(&sorted[..10]), None);
    }
}
