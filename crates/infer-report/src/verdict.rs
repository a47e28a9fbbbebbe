//! Whether one row is faster than another, or the two are indistinguishable here: the words the
//! reports use when they compare two rows (backends against the fastest, CPU against GPU).
//!
//! "A is faster than B" is said only when the 95% intervals of the two medians do not overlap, or
//! the 95% bootstrap interval of the ratio of the medians (both sets of raw samples resampled
//! independently, [`infer_measure::stats::median_ratio_ci`]) excludes 1. When both rows pooled
//! several rounds (`infer compare --rounds`) and the ranges of their rounds' medians overlap,
//! the pair is indistinguishable all the same: the bootstrap sees the spread within processes
//! only, and separate processes of one run already landed that far apart (the rule of `infer
//! compare-runs`). Otherwise the words are "indistinguishable here", with the ratio and its
//! interval, so the reader sees how close it was.

use infer_measure::{
    measure::SEED,
    results::BenchRow,
    stats::{self, DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, Sample},
};

/// The outcome of comparing two rows `a` and `b`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// `median(b) / median(a)`: above 1, `a` is the faster.
    pub ratio: f64,
    /// The 95% bootstrap interval of [`Verdict::ratio`], where both rows have raw samples.
    pub ratio_ci: Option<(f64, f64)>,
    /// Whether the 95% intervals of the two medians are apart.
    pub medians_apart: bool,
    /// Whether both rows pooled rounds whose medians' ranges overlap.
    pub rounds_overlap: bool,
}

/// Which of the two rows is faster, when one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Faster {
    /// The first row.
    A,
    /// The second row.
    B,
}

/// Compares `a` with `b`; see the [module docs](self).
#[must_use]
pub fn judge(a: &BenchRow, b: &BenchRow) -> Verdict {
    let ratio = b.latency_ms.median / a.latency_ms.median;
    let sample =
        |r: &BenchRow| Sample::new(r.samples_ms.clone()).ok().filter(|_| r.samples_ms.iter().all(|v| *v > 0.0));
    let ratio_ci = sample(a)
        .zip(sample(b))
        .and_then(|(x, y)| stats::median_ratio_ci(&x, &y, DEFAULT_RESAMPLES, DEFAULT_CONFIDENCE, SEED).ok())
        .map(|e| (e.lower(), e.upper()));
    let medians_apart = match (&a.median_ci_ms, &b.median_ci_ms) {
        (Some(x), Some(y)) => x.upper() < y.lower() || y.upper() < x.lower(),
        _ => false,
    };
    Verdict { ratio, ratio_ci, medians_apart, rounds_overlap: rounds_overlap(a, b) }
}

/// Whether both rows pooled at least two rounds and the ranges of their medians overlap.
fn rounds_overlap(a: &BenchRow, b: &BenchRow) -> bool {
    let range = |r: &BenchRow| {
        let m = r.round_medians_ms.as_ref().filter(|m| m.len() >= 2)?;
        Some(m.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x))))
    };
    match (range(a), range(b)) {
        (Some((alo, ahi)), Some((blo, bhi))) => alo <= bhi && blo <= ahi,
        _ => false,
    }
}

impl Verdict {
    /// Which row is faster, when the evidence separates them.
    #[must_use]
    pub fn faster(&self) -> Option<Faster> {
        let ci_excludes_one = self.ratio_ci.is_some_and(|(lo, hi)| lo > 1.0 || hi < 1.0);
        if !(self.medians_apart || ci_excludes_one) || self.rounds_overlap || !self.ratio.is_finite() {
            return None;
        }
        Some(if self.ratio > 1.0 { Faster::A } else { Faster::B })
    }

    /// The slower median over the faster (at least 1), with its interval in the same
    /// orientation.
    fn oriented(&self) -> (f64, Option<(f64, f64)>) {
        if self.ratio < 1.0 {
            (1.0 / self.ratio, self.ratio_ci.map(|(lo, hi)| (1.0 / hi, 1.0 / lo)))
        } else {
            (self.ratio, self.ratio_ci)
        }
    }

    /// The interval in words: `95% CI 1.22–1.28`, or `no interval` without raw samples.
    fn ci_text(&self) -> String {
        self.oriented().1.map_or_else(|| "no interval".into(), |(lo, hi)| format!("95% CI {lo:.2}–{hi:.2}"))
    }

    /// The slower median over the faster with its interval: `×1.25, 95% CI 1.22–1.28`.
    #[must_use]
    pub fn ratio_text(&self) -> String {
        format!("×{:.2}, {}", self.oriented().0, self.ci_text())
    }

    /// Why the pair is indistinguishable, in a few words, or nothing when it is not.
    fn why_not(&self) -> &'static str {
        if self.faster().is_some() {
            ""
        } else if self.rounds_overlap && (self.medians_apart || self.ratio_ci.is_some_and(|(l, h)| l > 1.0 || h < 1.0))
        {
            "; the rounds' medians overlap"
        } else {
            ""
        }
    }

    /// The sentence: `A is faster than B (×1.25, 95% CI 1.22–1.28)`, or `A and B are
    /// indistinguishable here (×1.02, 95% CI 0.97–1.08)`.
    #[must_use]
    pub fn sentence(&self, a: &str, b: &str) -> String {
        match self.faster() {
            Some(Faster::A) => format!("{a} is faster than {b} ({})", self.ratio_text()),
            Some(Faster::B) => format!("{b} is faster than {a} ({})", self.ratio_text()),
            None => format!("{a} and {b} are indistinguishable here ({}{})", self.ratio_text(), self.why_not()),
        }
    }

    /// A table cell about `b` against `a` (the reference, e.g. the fastest): `1.25× slower (95%
    /// CI 1.22–1.28)`, `1.25× faster (…)`, or `indistinguishable here (×1.02, 95% CI 0.97–1.08)`.
    #[must_use]
    pub fn cell(&self) -> String {
        let r = self.oriented().0;
        match self.faster() {
            Some(Faster::A) => format!("{r:.2}× slower ({})", self.ci_text()),
            Some(Faster::B) => format!("{r:.2}× faster ({})", self.ci_text()),
            None => format!("indistinguishable here ({}{})", self.ratio_text(), self.why_not()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn row(samples: Vec<f64>) -> BenchRow {
        infer_measure::testing::row_of_samples(samples, 1)
    }

    /// `n` samples within ±`spread` (relative) of `center`, in a fixed spread-out pattern.
    fn around(center: f64, spread: f64, n: usize) -> Vec<f64> {
        #[allow(clippy::cast_precision_loss)]
        (0..n).map(|i| center * (1.0 + spread * (((i * 37) % 101) as f64 / 50.0 - 1.0))).collect()
    }

    #[test]
    fn separated_intervals_say_faster() {
        let (a, b) = (row(around(10.0, 0.02, 80)), row(around(12.5, 0.02, 80)));
        let v = judge(&a, &b);
        assert!(v.medians_apart, "{v:?}");
        assert_eq!(v.faster(), Some(Faster::A));
        let s = v.sentence("onnx", "torch");
        assert!(s.starts_with("onnx is faster than torch (×1.25, 95% CI 1.2"), "{s}");
        assert!(v.cell().starts_with("1.25× slower (95% CI 1.2"), "{}", v.cell());
        // The other way round: b is the faster, the ratio still read as ≥ 1.
        let w = judge(&b, &a);
        assert_eq!(w.faster(), Some(Faster::B));
        assert!(w.sentence("torch", "onnx").starts_with("onnx is faster than torch (×1.25, 95% CI 1.2"));
        assert!(w.cell().starts_with("1.25× faster (95% CI 1.2"), "{}", w.cell());
    }

    #[test]
    fn overlapping_intervals_are_indistinguishable() {
        let (a, b) = (row(around(10.0, 0.2, 40)), row(around(10.2, 0.2, 40)));
        let v = judge(&a, &b);
        assert!(!v.medians_apart && v.faster().is_none(), "{v:?}");
        let (lo, hi) = v.ratio_ci.unwrap();
        assert!(lo < 1.0 && hi > 1.0, "{v:?}");
        let s = v.sentence("cpu", "cuda:0");
        assert!(s.starts_with("cpu and cuda:0 are indistinguishable here (×1.0"), "{s}");
        assert!(v.cell().starts_with("indistinguishable here (×1.0"), "{}", v.cell());
    }

    #[test]
    fn rounds_that_overlap_keep_a_pair_indistinguishable() {
        let (mut a, mut b) = (row(around(10.0, 0.01, 80)), row(around(10.5, 0.01, 80)));
        assert_eq!(judge(&a, &b).faster(), Some(Faster::A));
        a.round_medians_ms = Some(vec![9.9, 10.6]);
        b.round_medians_ms = Some(vec![10.4, 10.7]);
        let v = judge(&a, &b);
        assert_eq!(v.faster(), None);
        assert!(v.sentence("a", "b").ends_with("; the rounds' medians overlap)"), "{}", v.sentence("a", "b"));
        b.round_medians_ms = Some(vec![10.7, 10.8]);
        assert_eq!(judge(&a, &b).faster(), Some(Faster::A));
    }

    #[test]
    fn without_samples_only_the_median_intervals_decide() {
        let (mut a, mut b) = (row(around(10.0, 0.02, 80)), row(around(12.0, 0.02, 80)));
        a.samples_ms.clear();
        b.samples_ms.clear();
        let v = judge(&a, &b);
        assert_eq!((v.ratio_ci, v.faster()), (None, Some(Faster::A)));
        assert!(v.sentence("a", "b").ends_with("(×1.20, no interval)"), "{}", v.sentence("a", "b"));
        a.median_ci_ms = None;
        assert_eq!(judge(&a, &b).faster(), None);
    }
}
