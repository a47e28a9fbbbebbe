//! Statistics of measurements (latencies, throughputs), criterion's shape: a validated
//! [`Sample`] (at least two finite points), its [`Summary`], and one bootstrap engine whose
//! [`Distribution`] of resampled statistics gives an [`Estimate`] (point, confidence interval,
//! standard error), for one sample ([`Sample::bootstrap`]) and for two
//! ([`bootstrap_two`], e.g. the ratio of two medians in [`median_ratio_ci`]).
//!
//! Percentiles use linear interpolation between the closest ranks, which is NumPy's default
//! (`method="linear"`, R's type 7): for sorted values `x[0..n]` and `q` in `0..=100`, the
//! virtual index is `h = (n - 1) * q / 100` and the result is
//! `x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])`.
//!
//! ```
//! use infer_measure::stats::Sample;
//!
//! let s = Sample::new((1..=10).map(f64::from).collect())?;
//! let summary = s.summary();
//! assert_eq!(summary.median, 5.5);
//! assert!((summary.p95 - 9.55).abs() < 1e-12);
//! let ci = s.median_ci(1000, 0.95, 7)?;
//! assert!(ci.lower() <= ci.point && ci.point <= ci.upper());
//! assert!(ci.standard_error.is_some_and(|se| se > 0.0));
//! # Ok::<(), infer_core::Error>(())
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;
use infer_core::{Error, Result};

/// Number of bootstrap resamples used when the caller has no better idea.
pub const DEFAULT_RESAMPLES: usize = 2000;

/// Confidence level used when the caller has no better idea.
pub const DEFAULT_CONFIDENCE: f64 = 0.95;

/// At least two finite observations, kept in their original order and sorted (criterion's
/// `Sample` invariants: two points or more, no NaN; we refuse infinities too).
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    values: Vec<f64>,
    sorted: Vec<f64>,
}

/// Descriptive statistics of a [`Sample`] (or of a single observation, [`Summary::new`]).
/// Percentiles as described in the [module docs](self).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of observations.
    pub count: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median (the same as `p50`).
    pub median: f64,
    /// Sample standard deviation (divisor `n - 1`); 0 for a single observation.
    pub std: f64,
    /// Smallest observation.
    pub min: f64,
    /// Largest observation.
    pub max: f64,
    /// 50th percentile.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// A confidence interval: the bounds and the confidence level they were taken at.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ConfidenceInterval {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// Confidence level of the interval, in `(0, 1)` (e.g. 0.95).
    pub confidence: f64,
}

/// A point estimate with its confidence interval and standard error (criterion's `Estimate`).
///
/// In JSON the interval's fields sit beside `point` (`{"point", "lower", "upper", "confidence",
/// "standard_error"}`), the layout every saved result has used; `standard_error` is absent
/// from results written before it existed and from intervals not made by a bootstrap.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The statistic computed on the whole sample.
    pub point: f64,
    /// Where the statistic lies with the interval's confidence.
    #[serde(flatten)]
    pub confidence_interval: ConfidenceInterval,
    /// Standard deviation of the bootstrap distribution of the statistic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standard_error: Option<f64>,
}

impl Estimate {
    /// Lower bound of the interval.
    #[must_use]
    pub fn lower(&self) -> f64 {
        self.confidence_interval.lower
    }

    /// Upper bound of the interval.
    #[must_use]
    pub fn upper(&self) -> f64 {
        self.confidence_interval.upper
    }

    /// Confidence level of the interval.
    #[must_use]
    pub fn confidence(&self) -> f64 {
        self.confidence_interval.confidence
    }
}

/// The bootstrap distribution of a statistic: its value on every resample, sorted.
#[derive(Debug, Clone, PartialEq)]
pub struct Distribution(Vec<f64>);

impl Distribution {
    /// A distribution of resampled values (sorted here), for resampling schemes of other modules.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `values` is empty or holds a NaN.
    pub fn new(values: Vec<f64>) -> Result<Self> {
        if values.is_empty() {
            return Err(Error::InvalidInput("a bootstrap distribution needs at least one resample".into()));
        }
        let mut i = 0;
        collect(values.len(), || {
            i += 1;
            values[i - 1]
        })
    }

    /// The resampled values of the statistic, ascending.
    #[must_use]
    pub fn values(&self) -> &[f64] {
        &self.0
    }

    /// The percentile interval: the `(1 - confidence) / 2` and `(1 + confidence) / 2` quantiles
    /// (linear interpolation).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `confidence` is not strictly between 0 and 1.
    pub fn confidence_interval(&self, confidence: f64) -> Result<ConfidenceInterval> {
        check_confidence(confidence)?;
        let alpha = (1.0 - confidence) / 2.0;
        Ok(ConfidenceInterval {
            lower: percentile_sorted(&self.0, alpha * 100.0),
            upper: percentile_sorted(&self.0, (1.0 - alpha) * 100.0),
            confidence,
        })
    }

    /// Standard deviation of the resampled values (divisor `n - 1`; 0 for one resample).
    #[must_use]
    pub fn standard_error(&self) -> f64 {
        std_dev_of(&self.0)
    }

    /// The estimate of a statistic whose value on the whole sample is `point`.
    ///
    /// # Errors
    /// As [`Distribution::confidence_interval`].
    pub fn estimate(&self, point: f64, confidence: f64) -> Result<Estimate> {
        Ok(Estimate {
            point,
            confidence_interval: self.confidence_interval(confidence)?,
            standard_error: Some(self.standard_error()),
        })
    }
}

impl Sample {
    /// Validates and stores observations.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `values` has fewer than two values or holds a NaN or
    /// infinite value; the message names the first offending index (e.g. "sample has a NaN at
    /// index 3").
    pub fn new(values: Vec<f64>) -> Result<Self> {
        if values.len() < 2 {
            return Err(Error::InvalidInput(format!(
                "a sample needs at least 2 values, got {}{}",
                values.len(),
                if values.is_empty() { " (it is empty)" } else { "" }
            )));
        }
        check_finite(&values)?;
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        Ok(Self { values, sorted })
    }

    /// A sample of durations expressed in milliseconds.
    ///
    /// # Errors
    /// As [`Sample::new`].
    pub fn from_durations_ms(durations: &[Duration]) -> Result<Self> {
        Self::new(durations.iter().map(|d| d.as_secs_f64() * 1e3).collect())
    }

    /// The observations in their original order.
    #[must_use]
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The observations sorted ascending.
    #[must_use]
    pub fn sorted(&self) -> &[f64] {
        &self.sorted
    }

    /// Number of observations (at least 2).
    #[must_use]
    pub fn count(&self) -> usize {
        self.values.len()
    }

    /// Arithmetic mean.
    #[must_use]
    pub fn mean(&self) -> f64 {
        mean_of(&self.values)
    }

    /// Sample standard deviation (divisor `n - 1`).
    #[must_use]
    pub fn std_dev(&self) -> f64 {
        std_dev_of(&self.values)
    }

    /// Smallest observation.
    #[must_use]
    pub fn min(&self) -> f64 {
        self.sorted[0]
    }

    /// Largest observation.
    #[must_use]
    pub fn max(&self) -> f64 {
        self.sorted[self.sorted.len() - 1]
    }

    /// Median (50th percentile).
    #[must_use]
    pub fn median(&self) -> f64 {
        self.percentile(50.0)
    }

    /// The `q`-th percentile, `q` in `0..=100`, by linear interpolation between closest ranks
    /// (NumPy's default method, see the [module docs](self)). `q` outside the range is clamped
    /// to it; a NaN `q` gives NaN.
    #[must_use]
    pub fn percentile(&self, q: f64) -> f64 {
        percentile_sorted(&self.sorted, q)
    }

    /// Coefficient of variation: standard deviation divided by mean. Infinite or NaN when the
    /// mean is 0.
    #[must_use]
    pub fn coefficient_of_variation(&self) -> f64 {
        self.std_dev() / self.mean()
    }

    /// All descriptive statistics at once.
    #[must_use]
    pub fn summary(&self) -> Summary {
        summarize(&self.values, &self.sorted)
    }

    /// The bootstrap distribution of a statistic: `resamples` resamples of `count()`
    /// observations drawn with replacement by a small deterministic PRNG (splitmix64) seeded
    /// with `seed`, so the same inputs always give the same distribution. `stat` receives a
    /// **sorted** slice, so quantile statistics need no sorting of their own (see
    /// [`percentile_sorted`]); a resample costs O(n), not O(n log n): indices are counted, not
    /// sorted.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `resamples` is 0 or `stat` returns NaN on a resample.
    pub fn bootstrap<F>(&self, stat: F, resamples: usize, seed: u64) -> Result<Distribution>
    where
        F: Fn(&[f64]) -> f64,
    {
        check_resamples(resamples)?;
        let mut rng = SplitMix64::new(seed);
        let mut resampler = Resampler::new(&self.sorted);
        collect(resamples, || stat(resampler.draw(&mut rng)))
    }

    /// Percentile-bootstrap estimate of a statistic: its value on the whole sample, with the
    /// interval and standard error of [`Sample::bootstrap`]'s distribution.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `resamples` is 0, `confidence` is not strictly between 0 and 1,
    /// or `stat` returns NaN.
    pub fn bootstrap_ci<F>(&self, stat: F, resamples: usize, confidence: f64, seed: u64) -> Result<Estimate>
    where
        F: Fn(&[f64]) -> f64,
    {
        check_resamples(resamples)?;
        check_confidence(confidence)?;
        let point = stat(&self.sorted);
        if point.is_nan() {
            return Err(Error::InvalidInput("bootstrap statistic returned NaN on the sample".into()));
        }
        self.bootstrap(stat, resamples, seed)?.estimate(point, confidence)
    }

    /// Bootstrap estimate of the median; see [`Sample::bootstrap_ci`].
    ///
    /// # Errors
    /// As [`Sample::bootstrap_ci`].
    pub fn median_ci(&self, resamples: usize, confidence: f64, seed: u64) -> Result<Estimate> {
        self.bootstrap_ci(|s| percentile_sorted(s, 50.0), resamples, confidence, seed)
    }

    /// Bootstrap estimate of the 99th percentile; see [`Sample::bootstrap_ci`].
    /// With few observations (under a few hundred) the tail is poorly resolved and the
    /// interval is wide or degenerate.
    ///
    /// # Errors
    /// As [`Sample::bootstrap_ci`].
    pub fn p99_ci(&self, resamples: usize, confidence: f64, seed: u64) -> Result<Estimate> {
        self.bootstrap_ci(|s| percentile_sorted(s, 99.0), resamples, confidence, seed)
    }
}

impl Summary {
    /// Descriptive statistics of one or more finite observations: a single timed call still has
    /// a median (its value) where a [`Sample`] needs two.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `values` is empty or holds a NaN or infinite value.
    pub fn new(values: &[f64]) -> Result<Self> {
        if values.is_empty() {
            return Err(Error::InvalidInput("sample is empty: at least one value is needed".into()));
        }
        check_finite(values)?;
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        Ok(summarize(values, &sorted))
    }
}

/// The two-sample bootstrap: each resample draws `a` then `b` (each with replacement, sizes
/// kept) from one generator seeded with `seed`, and `stat(a, b)` (both slices sorted) is
/// computed on it, e.g. the ratio of their medians. Resampling both sets independently is what
/// makes the interval cover the noise of both runs.
///
/// # Errors
/// [`Error::InvalidInput`] when `resamples` is 0, `confidence` is not strictly between 0 and 1,
/// or `stat` returns NaN.
pub fn bootstrap_two<F>(
    a: &Sample,
    b: &Sample,
    stat: F,
    resamples: usize,
    confidence: f64,
    seed: u64,
) -> Result<Estimate>
where
    F: Fn(&[f64], &[f64]) -> f64,
{
    check_resamples(resamples)?;
    check_confidence(confidence)?;
    let point = stat(&a.sorted, &b.sorted);
    if point.is_nan() {
        return Err(Error::InvalidInput("bootstrap statistic returned NaN on the samples".into()));
    }
    let mut rng = SplitMix64::new(seed);
    let (mut ra, mut rb) = (Resampler::new(&a.sorted), Resampler::new(&b.sorted));
    let distribution = collect(resamples, || {
        let x = ra.draw(&mut rng);
        let y = rb.draw(&mut rng);
        stat(x, y)
    })?;
    distribution.estimate(point, confidence)
}

/// Percentile-bootstrap estimate of `median(new) / median(old)`, resampling both sets
/// independently ([`bootstrap_two`], `old` drawn first).
///
/// # Errors
/// As [`bootstrap_two`].
pub fn median_ratio_ci(old: &Sample, new: &Sample, resamples: usize, confidence: f64, seed: u64) -> Result<Estimate> {
    bootstrap_two(old, new, |o, n| percentile_sorted(n, 50.0) / percentile_sorted(o, 50.0), resamples, confidence, seed)
}

/// Draws resamples of one sorted sample: counts how often each index is drawn, then repeats
/// each value that often, which keeps the resample sorted.
struct Resampler<'a> {
    sorted: &'a [f64],
    counts: Vec<usize>,
    buf: Vec<f64>,
}

impl<'a> Resampler<'a> {
    fn new(sorted: &'a [f64]) -> Self {
        Self { sorted, counts: vec![0; sorted.len()], buf: Vec::with_capacity(sorted.len()) }
    }

    fn draw(&mut self, rng: &mut SplitMix64) -> &[f64] {
        let n = self.sorted.len();
        self.counts.fill(0);
        for _ in 0..n {
            self.counts[rng.below(n)] += 1;
        }
        self.buf.clear();
        for (&value, &c) in self.sorted.iter().zip(&self.counts) {
            self.buf.extend(std::iter::repeat_n(value, c));
        }
        &self.buf
    }
}

/// Runs `next` `resamples` times into a sorted [`Distribution`], refusing NaN.
fn collect(resamples: usize, mut next: impl FnMut() -> f64) -> Result<Distribution> {
    let mut stats = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        let s = next();
        if s.is_nan() {
            return Err(Error::InvalidInput("bootstrap statistic returned NaN on a resample".into()));
        }
        stats.push(s);
    }
    stats.sort_by(f64::total_cmp);
    Ok(Distribution(stats))
}

fn check_resamples(resamples: usize) -> Result<()> {
    if resamples == 0 {
        return Err(Error::InvalidInput("bootstrap needs at least one resample, got 0".into()));
    }
    Ok(())
}

fn check_confidence(confidence: f64) -> Result<()> {
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(Error::InvalidInput(format!(
            "confidence must be strictly between 0 and 1 (e.g. 0.95), got {confidence}"
        )));
    }
    Ok(())
}

/// Refuses NaN and infinities, naming the first offending index.
fn check_finite(values: &[f64]) -> Result<()> {
    if let Some((index, bad)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        let what = if bad.is_nan() { "a NaN".to_string() } else { format!("an infinite value ({bad})") };
        let total = values.iter().filter(|v| !v.is_finite()).count();
        let more = if total > 1 { format!(" ({total} non-finite values in all)") } else { String::new() };
        return Err(Error::InvalidInput(format!("sample has {what} at index {index}{more}")));
    }
    Ok(())
}

/// The [`Summary`] of non-empty `values` and the same values `sorted`.
fn summarize(values: &[f64], sorted: &[f64]) -> Summary {
    let median = percentile_sorted(sorted, 50.0);
    Summary {
        count: values.len(),
        mean: mean_of(values),
        median,
        std: std_dev_of(values),
        min: sorted[0],
        max: sorted[sorted.len() - 1],
        p50: median,
        p95: percentile_sorted(sorted, 95.0),
        p99: percentile_sorted(sorted, 99.0),
    }
}

/// The `q`-th percentile (`q` in `0..=100`, clamped) of an ascending `sorted` slice, by linear
/// interpolation between closest ranks (NumPy's default). NaN for an empty slice or a NaN `q`.
#[must_use]
pub fn percentile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    let last = sorted.len() - 1;
    let h = last as f64 * (q.clamp(0.0, 100.0) / 100.0);
    let lo = h.floor();
    let i = (lo as usize).min(last);
    let j = (i + 1).min(last);
    lerp(sorted[i], sorted[j], h - lo)
}

/// Arithmetic mean of a slice (NaN when empty).
#[must_use]
pub fn mean_of(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// Sample standard deviation (divisor `n - 1`); 0 for fewer than two values.
fn std_dev_of(values: &[f64]) -> f64 {
    let n = values.len();
    if n < 2 {
        return 0.0;
    }
    let mean = mean_of(values);
    let ss: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
    (ss / (n - 1) as f64).sqrt()
}

/// NumPy's `_lerp`: exact at both ends, and monotonic.
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let diff = b - a;
    if t >= 0.5 { b - diff * (1.0 - t) } else { a + diff * t }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    fn one_to_ten() -> Sample {
        Sample::new((1..=10).map(f64::from).collect()).unwrap()
    }

    /// Deterministic "latencies": 10 ms plus noise of the given spread.
    fn noisy(n: usize, spread: f64, seed: u64) -> Sample {
        let mut rng = SplitMix64::new(seed);
        Sample::new((0..n).map(|_| 10.0 + spread * (rng.next_u64() as f64 / u64::MAX as f64)).collect()).unwrap()
    }

    #[test]
    fn rejects_empty_nan_and_infinite() {
        let err = Sample::new(vec![]).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)));
        assert!(err.to_string().contains("at least 2 values, got 0 (it is empty)"), "{err}");
        // criterion's invariant: one point is no sample (no spread, no resampling).
        let err = Sample::new(vec![4.0]).unwrap_err();
        assert!(err.to_string().contains("at least 2 values, got 1"), "{err}");

        let err = Sample::new(vec![1.0, 2.0, 3.0, f64::NAN, 5.0]).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)));
        assert!(err.to_string().contains("sample has a NaN at index 3"), "{err}");

        let err = Sample::new(vec![1.0, f64::NEG_INFINITY, f64::NAN]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("infinite value (-inf) at index 1"), "{msg}");
        assert!(msg.contains("2 non-finite values"), "{msg}");

        assert!(Sample::new(vec![f64::INFINITY, 1.0]).unwrap_err().to_string().contains("(inf) at index 0"));
    }

    #[test]
    fn keeps_original_order_and_sorted_copy() {
        let s = Sample::new(vec![3.0, 1.0, 2.0]).unwrap();
        assert_eq!(s.values(), &[3.0, 1.0, 2.0]);
        assert_eq!(s.sorted(), &[1.0, 2.0, 3.0]);
        assert_eq!(s.count(), 3);
        assert_eq!((s.min(), s.max()), (1.0, 3.0));
    }

    #[test]
    fn percentiles_match_numpy_linear() {
        let s = one_to_ten();
        // np.percentile(np.arange(1, 11), [0, 25, 50, 95, 99, 100])
        assert_eq!(s.percentile(0.0), 1.0);
        assert!(close(s.percentile(25.0), 3.25));
        assert!(close(s.median(), 5.5));
        assert!(close(s.percentile(95.0), 9.55));
        assert!(close(s.percentile(99.0), 9.91));
        assert_eq!(s.percentile(100.0), 10.0);
        // clamped and NaN q
        assert_eq!(s.percentile(-5.0), 1.0);
        assert_eq!(s.percentile(250.0), 10.0);
        assert!(s.percentile(f64::NAN).is_nan());

        // np.percentile([3.2, 1.5, 7.7, 2.0, 9.1], [10, 25, 90]) == [1.7, 2.0, 8.54]
        let s = Sample::new(vec![3.2, 1.5, 7.7, 2.0, 9.1]).unwrap();
        assert!(close(s.percentile(10.0), 1.7));
        assert!(close(s.percentile(25.0), 2.0));
        assert!(close(s.percentile(90.0), 8.54));
        assert!(close(s.median(), 3.2));

        // a single value is every percentile
        assert_eq!(percentile_sorted(&[4.0], 0.0), 4.0);
        assert_eq!(percentile_sorted(&[4.0], 99.0), 4.0);
        assert!(percentile_sorted(&[], 50.0).is_nan());
    }

    #[test]
    fn summary_values() {
        let sum = one_to_ten().summary();
        assert_eq!(sum.count, 10);
        assert!(close(sum.mean, 5.5));
        assert!(close(sum.median, 5.5));
        assert!(close(sum.p50, 5.5));
        // np.std(np.arange(1, 11), ddof=1)
        assert!(close(sum.std, 3.027_650_354_097_491_7));
        assert_eq!((sum.min, sum.max), (1.0, 10.0));
        assert!(close(sum.p95, 9.55));
        assert!(close(sum.p99, 9.91));

        // One timed call still has a summary, not a sample.
        let single = Summary::new(&[2.5]).unwrap();
        assert_eq!(single.std, 0.0);
        assert_eq!((single.count, single.mean, single.median, single.p99), (1, 2.5, 2.5, 2.5));
        assert_eq!(Summary::new(&[3.0, 1.0, 2.0]).unwrap(), Sample::new(vec![3.0, 1.0, 2.0]).unwrap().summary());
        assert!(Summary::new(&[]).unwrap_err().to_string().contains("empty"));
        assert!(Summary::new(&[1.0, f64::NAN]).unwrap_err().to_string().contains("NaN at index 1"));

        let json = serde_json::to_string(&sum).unwrap();
        assert!(json.contains("\"p95\""), "{json}");
        // serde_json's default float parsing may differ in the last bit
        let back = serde_json::from_str::<Summary>(&json).unwrap();
        assert_eq!(back.count, sum.count);
        assert!(close(back.p95, sum.p95) && close(back.std, sum.std) && close(back.p99, sum.p99));
    }

    #[test]
    fn coefficient_of_variation() {
        let s = one_to_ten();
        assert!(close(s.coefficient_of_variation(), 3.027_650_354_097_491_7 / 5.5));
        assert_eq!(Sample::new(vec![3.0, 3.0]).unwrap().coefficient_of_variation(), 0.0);
    }

    #[test]
    fn from_durations() {
        let s = Sample::from_durations_ms(&[Duration::from_micros(1500), Duration::from_millis(2)]).unwrap();
        assert!(close(s.mean(), 1.75));
        assert!(Sample::from_durations_ms(&[Duration::from_millis(1)]).is_err());
    }

    #[test]
    fn bootstrap_contains_point_and_is_deterministic() {
        let s = noisy(200, 2.0, 1);
        let ci = s.median_ci(1000, 0.95, 42).unwrap();
        assert_eq!(ci.point, s.median());
        assert!(ci.lower() <= ci.point && ci.point <= ci.upper(), "{ci:?}");
        assert!(ci.lower() < ci.upper(), "{ci:?}");
        assert_eq!(ci.confidence(), 0.95);
        // The standard error is the spread of the resampled medians: positive, and well inside
        // the interval's half-width times 2 (about 1.96 standard errors for a normal shape).
        let se = ci.standard_error.unwrap();
        assert!(se > 0.0 && se < ci.upper() - ci.lower(), "{ci:?}");
        assert_eq!(s.median_ci(1000, 0.95, 42).unwrap(), ci);
        assert_ne!(s.median_ci(1000, 0.95, 43).unwrap(), ci);

        let p99 = s.p99_ci(1000, 0.95, 42).unwrap();
        assert_eq!(p99.point, s.percentile(99.0));
        assert!(p99.lower() <= p99.point && p99.point <= p99.upper(), "{p99:?}");
        assert!(p99.upper() <= s.max());

        // the mean via a closure over the sorted slice
        let mean = s.bootstrap_ci(mean_of, 500, 0.9, 3).unwrap();
        assert!(close(mean.point, s.mean()));
        assert!(mean.lower() < mean.point && mean.point < mean.upper(), "{mean:?}");

        let json = serde_json::to_string(&ci).unwrap();
        let back = serde_json::from_str::<Estimate>(&json).unwrap();
        assert!(close(back.lower(), ci.lower()) && close(back.upper(), ci.upper()) && back.confidence() == 0.95);
        assert!(close(back.standard_error.unwrap(), se));
        // The layout every saved result has: the interval's fields beside the point.
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["confidence", "lower", "point", "standard_error", "upper"]);
        // Results saved before the standard error existed still load.
        let old: Estimate =
            serde_json::from_str(r#"{"point": 2.0, "lower": 1.5, "upper": 2.5, "confidence": 0.95}"#).unwrap();
        assert_eq!((old.lower(), old.upper(), old.standard_error), (1.5, 2.5, None));
    }

    #[test]
    fn bootstrap_narrower_for_larger_sample() {
        let small = noisy(20, 2.0, 5).median_ci(1000, 0.95, 9).unwrap();
        let large = noisy(5000, 2.0, 5).median_ci(1000, 0.95, 9).unwrap();
        assert!(large.upper() - large.lower() < (small.upper() - small.lower()) / 4.0, "{small:?} vs {large:?}");
        // a higher confidence gives a wider interval
        let s = noisy(300, 2.0, 8);
        let c90 = s.median_ci(1000, 0.90, 1).unwrap();
        let c99 = s.median_ci(1000, 0.99, 1).unwrap();
        assert!(c99.upper() - c99.lower() >= c90.upper() - c90.lower());
    }

    #[test]
    fn bootstrap_constant_and_single_samples() {
        let s = Sample::new(vec![7.0; 50]).unwrap();
        let ci = s.median_ci(100, 0.95, 0).unwrap();
        assert_eq!((ci.point, ci.lower(), ci.upper(), ci.standard_error), (7.0, 7.0, 7.0, Some(0.0)));
        let two = Sample::new(vec![1.0, 1.0]).unwrap().p99_ci(10, 0.95, 0).unwrap();
        assert_eq!((two.lower(), two.upper()), (1.0, 1.0));
    }

    #[test]
    fn bootstrap_rejects_bad_arguments() {
        let s = one_to_ten();
        assert!(s.median_ci(0, 0.95, 0).unwrap_err().to_string().contains("at least one resample"));
        for c in [0.0, 1.0, -0.5, 95.0, f64::NAN] {
            let err = s.median_ci(10, c, 0).unwrap_err();
            assert!(err.to_string().contains("strictly between 0 and 1"), "{err}");
        }
        let err = s.bootstrap_ci(|_| f64::NAN, 10, 0.95, 0).unwrap_err();
        assert!(err.to_string().contains("NaN"), "{err}");
    }

    /// The textbook bootstrap of one resample: draw `n` indices, collect, sort.
    fn naive_resample(sorted: &[f64], rng: &mut SplitMix64) -> Vec<f64> {
        let mut r: Vec<f64> = (0..sorted.len()).map(|_| sorted[rng.below(sorted.len())]).collect();
        r.sort_by(f64::total_cmp);
        r
    }

    #[test]
    fn one_sample_engine_is_the_textbook_bootstrap() {
        let s = noisy(37, 3.0, 11);
        let d = s.bootstrap(|r| percentile_sorted(r, 50.0), 300, 5).unwrap();
        let mut rng = SplitMix64::new(5);
        let mut want: Vec<f64> =
            (0..300).map(|_| percentile_sorted(&naive_resample(s.sorted(), &mut rng), 50.0)).collect();
        want.sort_by(f64::total_cmp);
        assert_eq!(d.values(), &want[..], "counting indices draws the same resamples as sorting them");
        let mean = mean_of(&want);
        let se = (want.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / 299.0).sqrt();
        assert!(close(d.standard_error(), se));
        assert!(d.confidence_interval(1.5).is_err());
    }

    #[test]
    fn two_sample_ratio_is_the_textbook_bootstrap_with_one_generator() {
        let (old, new) = (noisy(40, 2.0, 1), noisy(25, 2.0, 2));
        let est = median_ratio_ci(&old, &new, 500, 0.95, 9).unwrap();
        // Each resample draws old, then new, from the same generator: the order runs.rs has
        // always used, so saved decisions stay reproducible.
        let mut rng = SplitMix64::new(9);
        let mut ratios: Vec<f64> = (0..500)
            .map(|_| {
                let o = percentile_sorted(&naive_resample(old.sorted(), &mut rng), 50.0);
                percentile_sorted(&naive_resample(new.sorted(), &mut rng), 50.0) / o
            })
            .collect();
        ratios.sort_by(f64::total_cmp);
        assert_eq!(est.point, new.median() / old.median());
        assert_eq!(est.lower(), percentile_sorted(&ratios, 2.5));
        assert_eq!(est.upper(), percentile_sorted(&ratios, 97.5));
        assert!(est.lower() < 1.0 && 1.0 < est.upper(), "same distribution: {est:?}");
        // A 20% slower sample: the whole interval above 1.
        let slower = Sample::new(new.values().iter().map(|v| v * 1.2).collect()).unwrap();
        let est = median_ratio_ci(&old, &slower, 500, 0.95, 9).unwrap();
        assert!(est.lower() > 1.1 && est.upper() < 1.3, "{est:?}");
        // Any two-sample statistic, e.g. a difference of means.
        let diff = bootstrap_two(&old, &slower, |a, b| mean_of(b) - mean_of(a), 200, 0.9, 1).unwrap();
        assert!(diff.lower() > 0.0 && diff.standard_error.unwrap() > 0.0, "{diff:?}");
        assert!(bootstrap_two(&old, &new, |_, _| f64::NAN, 10, 0.95, 0).unwrap_err().to_string().contains("NaN"));
        assert!(median_ratio_ci(&old, &new, 0, 0.95, 0).is_err() && median_ratio_ci(&old, &new, 10, 1.0, 0).is_err());
    }

    #[test]
    fn rng_below_is_in_range_and_spread() {
        let mut rng = SplitMix64::new(0);
        let mut hist = [0usize; 7];
        for _ in 0..7000 {
            hist[rng.below(7)] += 1;
        }
        assert!(hist.iter().all(|&c| (800..1200).contains(&c)), "{hist:?}");
    }
}
