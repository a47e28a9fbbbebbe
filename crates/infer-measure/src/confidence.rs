//! Stopping on confidence instead of a fixed count (`--target-ci`): sample until the 95% interval
//! of the median — and of p99 where asked — lies within ±P% of its point, or until a time budget
//! runs out, and record how long it took and, when the budget ran out, how close it came.
//!
//! One process: the interval is the sample's own percentile bootstrap ([`Sample::median_ci`],
//! the same resamples and seed as the reported row, so the check and the report agree). Several
//! processes (`infer compare`'s rounds): the interval resamples the *processes* first and then the
//! calls within each ([`rounds_ci`]), because on a shared host the processes disagree with each
//! other far more than the calls of one process do; a pooled bootstrap that treated every call as
//! independent would certify ±0.5% on a host whose processes are 40% apart.
//!
//! ```
//! use std::time::Duration;
//! use infer_measure::{confidence::CiTarget, stats::Sample};
//!
//! let target = CiTarget::median(0.02, Duration::from_secs(10));
//! let tight = Sample::new((0..200).map(|i| 10.0 + f64::from(i % 5) * 0.01).collect())?;
//! assert!(target.met(&target.check(&tight)?));
//! let loose = Sample::new((0..20).map(|i| if i % 2 == 0 { 5.0 } else { 15.0 }).collect())?;
//! assert!(!target.met(&target.check(&loose)?));
//! # Ok::<(), infer_core::Error>(())
//! ```

use std::time::Duration;

use infer_core::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::{
    rng::SplitMix64,
    stats::{DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, Distribution, Estimate, Sample, percentile_sorted},
};

/// Seed of the bootstrap resampling of every check and of the rows' intervals
/// ([`crate::measure::SEED`] is this one), so a row's reported interval is the one its stop
/// rule saw.
pub const SEED: u64 = 0x1fe_2025;

/// The fewest samples before the first check: an interval from fewer says little.
pub const MIN_SAMPLES: usize = 10;

/// What `--target-ci` asks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CiTarget {
    /// The largest relative half-width of the median's 95% interval (0.02: within ±2%).
    pub median: f64,
    /// The same for p99, when it is held to a target too.
    pub p99: Option<f64>,
    /// The most measuring time before giving up (then the target is "not reached").
    pub max_time: Duration,
    /// The fewest samples before the first check.
    pub min_samples: usize,
}

/// How wide the intervals are, relative to their points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Precision {
    /// Relative half-width of the median's interval: the larger of its two sides over the point.
    pub median: f64,
    /// The same for p99, when it was checked.
    pub p99: Option<f64>,
    /// The median's interval.
    pub median_ci: Estimate,
}

impl CiTarget {
    /// A target on the median alone, at least [`MIN_SAMPLES`] samples.
    #[must_use]
    pub fn median(median: f64, max_time: Duration) -> Self {
        Self { median, p99: None, max_time, min_samples: MIN_SAMPLES }
    }

    /// Whether the fractions are in `(0, 1)` and the budget positive.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        let ok = |f: f64| f > 0.0 && f < 1.0;
        ok(self.median) && self.p99.is_none_or(ok) && !self.max_time.is_zero()
    }

    /// The intervals of one process's sample (percentile bootstrap, [`DEFAULT_RESAMPLES`]).
    ///
    /// # Errors
    /// Bootstrap errors (none for a valid sample).
    pub fn check(&self, sample: &Sample) -> Result<Precision> {
        let median_ci = sample.median_ci(DEFAULT_RESAMPLES, DEFAULT_CONFIDENCE, SEED)?;
        let p99 = match self.p99 {
            Some(_) => Some(half_width(&sample.p99_ci(DEFAULT_RESAMPLES, DEFAULT_CONFIDENCE, SEED)?)),
            None => None,
        };
        Ok(Precision { median: half_width(&median_ci), p99, median_ci })
    }

    /// The intervals of several processes' samples, resampling the processes ([`rounds_ci`]).
    ///
    /// # Errors
    /// As [`rounds_ci`].
    pub fn check_rounds(&self, rounds: &[&[f64]]) -> Result<Precision> {
        let median_ci = rounds_ci(rounds, 50.0, DEFAULT_RESAMPLES, SEED)?;
        let p99 = match self.p99 {
            Some(_) => Some(half_width(&rounds_ci(rounds, 99.0, DEFAULT_RESAMPLES, SEED)?)),
            None => None,
        };
        Ok(Precision { median: half_width(&median_ci), p99, median_ci })
    }

    /// The order-statistic intervals of the median (and p99) of `values` (reordered here): the
    /// ranks `n·q ± 1.96·√(n·q·(1 − q))` (the binomial interval of a percentile, distribution-free),
    /// found by selection in O(n), so a server's worker can check between two calls.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for fewer than two values or a non-finite one.
    pub fn check_quantiles(&self, values: &mut [f64]) -> Result<Precision> {
        if values.len() < 2 || values.iter().any(|v| !v.is_finite()) {
            return Err(Error::InvalidInput("an interval needs at least two finite values".into()));
        }
        let median_ci = quantile_ci(values, 50.0);
        let p99 = self.p99.map(|_| half_width(&quantile_ci(values, 99.0)));
        Ok(Precision { median: half_width(&median_ci), p99, median_ci })
    }

    /// Whether every interval asked is within its target.
    #[must_use]
    pub fn met(&self, p: &Precision) -> bool {
        p.median <= self.median && self.p99.is_none_or(|t| p.p99.is_some_and(|w| w <= t))
    }

    /// `±2% of the median` or `±2% of the median and ±5% of p99`.
    #[must_use]
    pub fn label(&self) -> String {
        let median = format!("±{} of the median", pct(self.median));
        match self.p99 {
            Some(p) => format!("{median} and ±{} of p99", pct(p)),
            None => median,
        }
    }
}

/// The larger side of an interval over its point (infinite for a zero point).
#[must_use]
pub fn half_width(e: &Estimate) -> f64 {
    let side = (e.point - e.lower()).max(e.upper() - e.point);
    if e.point.abs() > 0.0 { side / e.point.abs() } else { f64::INFINITY }
}

/// A fraction as a percentage with one decimal where it has one (0.02 → `2%`, 0.025 → `2.5%`).
#[must_use]
pub fn pct(fraction: f64) -> String {
    let v = fraction * 100.0;
    if (v - v.round()).abs() < 1e-9 { format!("{v:.0}%") } else { format!("{v:.1}%") }
}

/// A half-width `width` beside its `target`, as [`pct`] writes it unless that would read as the
/// target (or under it) for a width over it: then with as many decimals (two or three) as it takes
/// — 0.0202 against 0.02 is `2.02%`, never `2.0%`.
#[must_use]
pub fn pct_against(width: f64, target: f64) -> String {
    let (v, t) = (width * 100.0, target * 100.0);
    let reads_over = |s: &String| s.trim_end_matches('%').parse::<f64>().is_ok_and(|r| r > t);
    let plain = pct(width);
    if width <= target || reads_over(&plain) {
        return plain;
    }
    (2..=3usize).map(|d| format!("{v:.d$}%")).find(reads_over).unwrap_or_else(|| format!("{v:.3}%"))
}

/// What a row records about its stop on confidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Convergence {
    /// The target on the median's relative half-width.
    pub target: f64,
    /// The target on p99's, when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_p99: Option<f64>,
    /// Whether every interval asked came within its target.
    pub reached: bool,
    /// The median's relative half-width at the end.
    pub median_half_width: f64,
    /// p99's, when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_half_width: Option<f64>,
    /// The median's interval held to the target (across processes for pooled rounds).
    pub median_ci: Estimate,
    /// Measuring time until the interval was reached, or until the budget ran out, seconds.
    pub time_to_interval_s: f64,
    /// The budget, seconds.
    pub max_time_s: f64,
    /// Samples measured.
    pub samples: usize,
    /// Processes pooled (`infer compare`), when more than one process measured the row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rounds: Option<usize>,
}

impl Convergence {
    /// The record of a check: `precision` after `samples` samples and `time_s` of measuring.
    #[must_use]
    pub fn new(target: &CiTarget, precision: &Precision, samples: usize, time_s: f64) -> Self {
        Self {
            target: target.median,
            target_p99: target.p99,
            reached: target.met(precision),
            median_half_width: precision.median,
            p99_half_width: precision.p99,
            median_ci: precision.median_ci,
            time_to_interval_s: time_s,
            max_time_s: target.max_time.as_secs_f64(),
            samples,
            rounds: None,
        }
    }

    /// `±1.3% in 4.2 s` when reached; `not reached: ±4.1% after 30.0 s (target ±2%)` otherwise.
    #[must_use]
    pub fn label(&self) -> String {
        let p99 = self.p99_width().map(|w| format!(", p99 ±{w}")).unwrap_or_default();
        if self.reached {
            format!("±{}{p99} in {:.1} s", self.median_width(), self.time_to_interval_s)
        } else {
            format!(
                "not reached: ±{}{p99} after {:.1} s (target ±{})",
                self.median_width(),
                self.time_to_interval_s,
                pct(self.target)
            )
        }
    }

    /// The median's half-width as a percentage beside its target ([`pct_against`]).
    fn median_width(&self) -> String {
        pct_against(self.median_half_width, self.target)
    }

    /// p99's half-width, when measured, beside its target where one was asked.
    fn p99_width(&self) -> Option<String> {
        self.p99_half_width.map(|w| self.target_p99.map_or_else(|| pct(w), |t| pct_against(w, t)))
    }

    /// The warning of a row that did not reach its target; `None` when it did.
    #[must_use]
    pub fn warning(&self) -> Option<String> {
        (!self.reached).then(|| {
            let p99 = match (self.p99_width(), self.target_p99) {
                (Some(w), Some(t)) => format!(" and p99's ±{w} (target ±{})", pct(t)),
                _ => String::new(),
            };
            format!(
                "target not reached: the 95% interval of the median is ±{} (target ±{}){p99} after {:.1} s of \
                 measuring ({} samples): the figure is not certified to the target",
                self.median_width(),
                pct(self.target),
                self.time_to_interval_s,
                self.samples
            )
        })
    }
}

/// When to check an interval, so that checking costs at most a tenth of the measuring: after
/// [`CiTarget::min_samples`], then each time the sample has grown by a tenth, and never sooner
/// after one check than nine times what that check cost.
#[derive(Debug, Clone)]
pub struct CheckSchedule {
    next_samples: usize,
    next_time: Duration,
}

impl CheckSchedule {
    /// The schedule of a target.
    #[must_use]
    pub fn new(target: &CiTarget) -> Self {
        Self { next_samples: target.min_samples.max(2), next_time: Duration::ZERO }
    }

    /// Whether a check is due with `samples` samples at `elapsed` measuring time.
    #[must_use]
    pub fn due(&self, samples: usize, elapsed: Duration) -> bool {
        samples >= self.next_samples && elapsed >= self.next_time
    }

    /// Records a check made with `samples` samples that ended at `elapsed` and cost `cost`.
    pub fn checked(&mut self, samples: usize, elapsed: Duration, cost: Duration) {
        self.next_samples = samples + (samples / 10).max(1);
        self.next_time = elapsed + cost * 9;
    }
}

/// The 95% order-statistic interval of the `q`-th percentile of finite `values` (at least two;
/// reordered), with the percentile (linear interpolation) as its point.
fn quantile_ci(values: &mut [f64], q: f64) -> Estimate {
    let n = values.len();
    let last = n - 1;
    let mut at = |rank: usize| *values.select_nth_unstable_by(rank.min(last), f64::total_cmp).1;
    #[allow(clippy::cast_precision_loss)]
    let (nf, p) = (n as f64, q / 100.0);
    #[allow(clippy::cast_precision_loss)]
    let h = last as f64 * p;
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let (lo, hi, i) = {
        let spread = 1.96 * (nf * p * (1.0 - p)).sqrt();
        ((h - spread).floor().max(0.0) as usize, (h + spread).ceil() as usize, h.floor() as usize)
    };
    let (a, b) = (at(i), at(i + 1));
    let point = a + (h - h.floor()) * (b - a);
    let (lower, upper) = (at(lo).min(point), at(hi).max(point));
    Estimate {
        point,
        confidence_interval: crate::stats::ConfidenceInterval { lower, upper, confidence: DEFAULT_CONFIDENCE },
        standard_error: None,
    }
}

/// The percentile-bootstrap interval of the `q`-th percentile of several processes' samples
/// pooled, resampling on two levels: each resample draws as many processes as there are with
/// replacement, then, within each process drawn, as many of its calls with replacement, and
/// takes the percentile of everything drawn. The spread between processes is then in the
/// interval; with a single process it is [`Sample::bootstrap_ci`]'s interval.
///
/// # Errors
/// [`Error::InvalidInput`] without any sample, with an empty or non-finite one, or with 0
/// resamples.
pub fn rounds_ci(rounds: &[&[f64]], q: f64, resamples: usize, seed: u64) -> Result<Estimate> {
    if rounds.is_empty() || rounds.iter().any(|r| r.is_empty()) || resamples == 0 {
        return Err(Error::InvalidInput("an interval across rounds needs samples in every round".into()));
    }
    let sorted: Vec<Vec<f64>> = rounds
        .iter()
        .map(|r| {
            let mut s = r.to_vec();
            s.sort_by(f64::total_cmp);
            s
        })
        .collect();
    let mut pooled: Vec<f64> = sorted.iter().flatten().copied().collect();
    if pooled.iter().any(|v| !v.is_finite()) {
        return Err(Error::InvalidInput("a round has a non-finite sample".into()));
    }
    pooled.sort_by(f64::total_cmp);
    let point = percentile_sorted(&pooled, q);
    let mut rng = SplitMix64::new(seed);
    let mut draw = Vec::with_capacity(pooled.len());
    let mut stats = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        draw.clear();
        for _ in 0..sorted.len() {
            let round = &sorted[rng.below(sorted.len())];
            draw.extend((0..round.len()).map(|_| round[rng.below(round.len())]));
        }
        draw.sort_by(f64::total_cmp);
        stats.push(percentile_sorted(&draw, q));
    }
    Distribution::new(stats)?.estimate(point, DEFAULT_CONFIDENCE)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sample(center: f64, spread: f64, n: usize) -> Vec<f64> {
        (0..n).map(|i| center * (1.0 + spread * (f64::from(u32::try_from(i % 7).unwrap()) - 3.0) / 3.0)).collect()
    }

    #[test]
    fn the_target_is_met_by_a_tight_sample_and_not_by_a_loose_one() {
        let t = CiTarget::median(0.02, Duration::from_secs(1));
        let tight = Sample::new(sample(10.0, 0.01, 100)).unwrap();
        let p = t.check(&tight).unwrap();
        assert!(t.met(&p) && p.median <= 0.01, "{p:?}");
        let loose = Sample::new(sample(10.0, 0.5, 12)).unwrap();
        let p = t.check(&loose).unwrap();
        assert!(!t.met(&p) && p.median > 0.02, "{p:?}");
        // p99 asked too: the tail of 100 samples is not within ±0.1%.
        let strict = CiTarget { p99: Some(0.001), ..t };
        let uniform: Vec<f64> = (0..100).map(|i| 10.0 + f64::from(i) * 0.01).collect();
        let p = strict.check(&Sample::new(uniform).unwrap()).unwrap();
        assert!(p.p99.is_some() && !strict.met(&p), "{p:?}");
        assert_eq!(strict.label(), "±2% of the median and ±0.1% of p99");
    }

    /// The order-statistic interval brackets the percentile and narrows as the sample grows
    /// (about as 1/√n); it agrees with the bootstrap's within a rank or two.
    #[test]
    fn order_statistic_intervals_bracket_the_percentile_and_narrow_with_n() {
        let t = CiTarget { p99: Some(0.5), ..CiTarget::median(0.02, Duration::from_secs(1)) };
        // A shuffled uniform grid over [10, 20].
        let grid = |n: usize| -> Vec<f64> {
            let mut rng = SplitMix64::new(3);
            let mut v: Vec<f64> =
                (0..n).map(|i| 10.0 + 10.0 * f64::from(u32::try_from(i).unwrap()) / n as f64).collect();
            for i in (1..n).rev() {
                v.swap(i, rng.below(i + 1));
            }
            v
        };
        let small = t.check_quantiles(&mut grid(400)).unwrap();
        let large = t.check_quantiles(&mut grid(40_000)).unwrap();
        let m = small.median_ci;
        assert!(m.lower() < m.point && m.point < m.upper() && (m.point - 15.0).abs() < 0.05, "{m:?}");
        assert!(small.median > 0.02 && large.median < 0.005, "{small:?} vs {large:?}");
        assert!((small.median / large.median - 10.0).abs() < 2.0, "√100 = 10: {small:?} vs {large:?}");
        assert!(large.p99.unwrap() < small.p99.unwrap());
        let boot = Sample::new(grid(400)).unwrap().median_ci(2000, 0.95, 1).unwrap();
        assert!((half_width(&boot) - small.median).abs() < 0.01, "{boot:?} vs {small:?}");
        assert!(t.check_quantiles(&mut [1.0]).is_err());
    }

    #[test]
    fn half_width_is_the_larger_side() {
        let e = |point, lower, upper| Estimate {
            point,
            confidence_interval: crate::stats::ConfidenceInterval { lower, upper, confidence: 0.95 },
            standard_error: None,
        };
        assert!((half_width(&e(10.0, 9.9, 10.3)) - 0.03).abs() < 1e-12);
        assert!((half_width(&e(10.0, 9.6, 10.1)) - 0.04).abs() < 1e-12);
        assert!(half_width(&e(0.0, 0.0, 0.0)).is_infinite());
    }

    /// Three processes that each measured tightly but 20% apart: a pooled bootstrap that treats
    /// every call alike says ±1%-ish; resampling the processes says what a fourth process might
    /// give, far more than ±2%. Three processes that agree stay tight.
    #[test]
    fn rounds_far_apart_widen_the_interval_and_rounds_that_agree_do_not() {
        let (a, b, c) = (sample(10.0, 0.01, 40), sample(12.0, 0.01, 40), sample(11.0, 0.01, 40));
        let apart: [&[f64]; 3] = [&a, &b, &c];
        let across = rounds_ci(&apart, 50.0, 2000, 1).unwrap();
        let pooled: Vec<f64> = [a.clone(), b.clone(), c.clone()].concat();
        let naive = Sample::new(pooled).unwrap().median_ci(2000, 0.95, 1).unwrap();
        assert!(half_width(&across) > 0.05, "{across:?}");
        assert!(half_width(&naive) < half_width(&across) / 2.0, "naive {naive:?} vs across {across:?}");

        let (d, e) = (sample(10.05, 0.01, 40), sample(9.95, 0.01, 40));
        let agree: [&[f64]; 3] = [&a, &d, &e];
        let t = CiTarget::median(0.02, Duration::from_secs(1));
        let p = t.check_rounds(&agree).unwrap();
        assert!(t.met(&p), "{p:?}");
        assert!(!t.met(&t.check_rounds(&apart).unwrap()));
        assert!(rounds_ci(&[], 50.0, 10, 1).is_err());
        assert!(rounds_ci(&[&[]], 50.0, 10, 1).is_err());
    }

    #[test]
    fn checks_are_spaced_by_growth_and_by_their_cost() {
        let t = CiTarget::median(0.02, Duration::from_secs(1));
        let mut s = CheckSchedule::new(&t);
        assert!(!s.due(9, Duration::from_secs(1)) && s.due(10, Duration::ZERO));
        s.checked(100, Duration::from_millis(100), Duration::from_millis(10));
        assert!(!s.due(109, Duration::from_secs(5)), "a tenth more samples first");
        assert!(!s.due(110, Duration::from_millis(189)), "nine times the check's cost");
        assert!(s.due(110, Duration::from_millis(190)));
    }

    #[test]
    fn labels_say_reached_or_how_close_it_came() {
        let t = CiTarget::median(0.02, Duration::from_secs(30));
        let p = |w: f64| Precision {
            median: w,
            p99: None,
            median_ci: Estimate {
                point: 10.0,
                confidence_interval: crate::stats::ConfidenceInterval {
                    lower: 10.0 * (1.0 - w),
                    upper: 10.0 * (1.0 + w),
                    confidence: 0.95,
                },
                standard_error: None,
            },
        };
        let ok = Convergence::new(&t, &p(0.013), 120, 4.21);
        assert!(ok.reached && ok.warning().is_none());
        assert_eq!(ok.label(), "±1.3% in 4.2 s");
        let no = Convergence::new(&t, &p(0.041), 900, 30.02);
        assert!(!no.reached);
        assert_eq!(no.label(), "not reached: ±4.1% after 30.0 s (target ±2%)");
        let w = no.warning().unwrap();
        assert!(w.starts_with("target not reached: the 95% interval of the median is ±4.1% (target ±2%)"), "{w}");
        // Just over the target never reads as the target.
        let close = Convergence::new(&t, &p(0.0202), 200, 29.2);
        assert_eq!(close.label(), "not reached: ±2.02% after 29.2 s (target ±2%)");
        assert!(close.warning().unwrap().contains("is ±2.02% (target ±2%)"));
        assert_eq!(pct_against(0.02001, 0.02), "2.001%");
        assert_eq!(pct_against(0.0250, 0.02), "2.5%");
        assert_eq!(pct_against(0.03, 0.02), "3%", "as pct writes it where that reads over the target");
        assert_eq!(pct_against(0.0199, 0.02), "2.0%", "a width within the target as pct writes it");
        assert!(!CiTarget::median(0.0, Duration::from_secs(1)).is_valid());
        assert!(!CiTarget::median(0.02, Duration::ZERO).is_valid());
    }
}
