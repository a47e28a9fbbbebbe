//! Two runs compared (`infer compare-runs`): saved results ([`crate::saved`]) matched row by
//! row on (model, backend, device, batch size). A change is a **regression** when the new median
//! is slower than the old by more than the threshold *and* the 95% bootstrap confidence interval
//! of the ratio new median / old median lies entirely above 1 (the slowdown is not noise); an
//! **improvement** is the mirror image. [`RunChanges`] is their report.

use std::{collections::BTreeMap, fmt};

use infer_core::{Error, Result};
use infer_measure::{
    results::BenchRow,
    stats::{self, ConfidenceInterval, DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, Estimate, Sample},
};
use serde::Serialize;

use crate::{
    document::{Document, Section, TableBlock, paragraph},
    report::{Format, Report, to_json},
    saved::{Results, RowKey},
    table::Table,
};

/// The decision about one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Significantly slower, by more than the threshold.
    Regression,
    /// Significantly faster, by more than the threshold.
    Improvement,
    /// A real change, but within the threshold.
    WithinThreshold,
    /// Not distinguishable from noise.
    WithinNoise,
    /// Beyond the threshold by the samples, but both runs have rounds (separate processes) and
    /// their round medians overlap: the change is no larger than one run's own process-to-process
    /// spread.
    WithinRounds,
    /// Only in the new run.
    Added,
    /// Only in the old run.
    Removed,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Regression => "REGRESSION",
            Verdict::Improvement => "improvement",
            Verdict::WithinThreshold => "within threshold",
            Verdict::WithinNoise => "within noise",
            Verdict::WithinRounds => "within the rounds' spread",
            Verdict::Added => "added",
            Verdict::Removed => "removed",
        })
    }
}

/// One row of the comparison of two runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// The row.
    pub key: RowKey,
    /// Old median latency, milliseconds (absent for added rows).
    pub old_median_ms: Option<f64>,
    /// New median latency, milliseconds (absent for removed rows).
    pub new_median_ms: Option<f64>,
    /// New median / old median, with its confidence interval when it could be computed.
    pub ratio: Option<Estimate>,
    /// The decision.
    pub verdict: Verdict,
}

/// Seed of the ratio bootstrap, fixed so the decision is reproducible.
const SEED: u64 = 0x5eed_2bad;

/// Percentile-bootstrap confidence interval of `median(new) / median(old)`, resampling both sets
/// independently (the two-sample bootstrap of [`infer_measure::stats`]).
///
/// # Errors
/// [`Error::InvalidInput`] when a set has fewer than two values or holds a non-finite or
/// non-positive value, or `confidence` is not strictly between 0 and 1.
pub fn median_ratio_ci(old: &[f64], new: &[f64], resamples: usize, confidence: f64, seed: u64) -> Result<Estimate> {
    let sample = |v: &[f64], which: &str| -> Result<Sample> {
        if v.iter().any(|x| *x <= 0.0) {
            return Err(Error::InvalidInput(format!("the {which} samples must be positive to compare medians")));
        }
        Sample::new(v.to_vec()).map_err(|e| Error::InvalidInput(format!("the {which} samples: {e}")))
    };
    stats::median_ratio_ci(&sample(old, "old")?, &sample(new, "new")?, resamples, confidence, seed)
}

/// Decides whether `new` changed against `old`: the ratio of medians with a bootstrap CI from the
/// raw samples (or, without samples, from the two median CIs), judged against `threshold`
/// (a fraction: 0.05 = 5%).
#[must_use]
pub fn decide(key: RowKey, old: &BenchRow, new: &BenchRow, threshold: f64) -> Change {
    let (om, nm) = (old.latency_ms.median, new.latency_ms.median);
    let ratio = median_ratio_ci(&old.samples_ms, &new.samples_ms, DEFAULT_RESAMPLES, DEFAULT_CONFIDENCE, SEED)
        .ok()
        .or_else(|| {
            // No raw samples: the widest ratio the two median intervals allow.
            let (o, n) = (old.median_ci_ms.as_ref()?, new.median_ci_ms.as_ref()?);
            (o.lower() > 0.0).then(|| Estimate {
                point: nm / om,
                confidence_interval: ConfidenceInterval {
                    lower: n.lower() / o.upper(),
                    upper: n.upper() / o.lower(),
                    confidence: o.confidence().min(n.confidence()),
                },
                standard_error: None,
            })
        });
    let overlap = rounds_overlap(old, new);
    let verdict = match &ratio {
        Some(r) if r.point > 1.0 + threshold && r.lower() > 1.0 && overlap => Verdict::WithinRounds,
        Some(r) if r.point < 1.0 - threshold && r.upper() < 1.0 && overlap => Verdict::WithinRounds,
        Some(r) if r.point > 1.0 + threshold && r.lower() > 1.0 => Verdict::Regression,
        Some(r) if r.point < 1.0 - threshold && r.upper() < 1.0 => Verdict::Improvement,
        Some(r) if r.lower() > 1.0 || r.upper() < 1.0 => Verdict::WithinThreshold,
        _ => Verdict::WithinNoise,
    };
    Change { key, old_median_ms: Some(om), new_median_ms: Some(nm), ratio, verdict }
}

/// Whether both rows pooled several rounds and the ranges of their round medians overlap. The
/// bootstrap over pooled samples sees only the spread within processes; on a shared machine the
/// medians of separate processes spread further, and a change inside that spread is not one.
fn rounds_overlap(old: &BenchRow, new: &BenchRow) -> bool {
    let range = |r: &BenchRow| {
        let m = r.round_medians_ms.as_ref().filter(|m| m.len() >= 2)?;
        Some(m.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x))))
    };
    match (range(old), range(new)) {
        (Some((olo, ohi)), Some((nlo, nhi))) => olo <= nhi && nlo <= ohi,
        _ => false,
    }
}

/// Every row of both runs: matched rows decided by [`decide`], the others added or removed.
#[must_use]
pub fn compare_runs(old: &Results, new: &Results, threshold: f64) -> Vec<Change> {
    let old_rows: BTreeMap<RowKey, &BenchRow> = old.rows().into_iter().collect();
    let new_rows: BTreeMap<RowKey, &BenchRow> = new.rows().into_iter().collect();
    let mut out = Vec::new();
    for (key, o) in &old_rows {
        match new_rows.get(key) {
            Some(n) => out.push(decide(key.clone(), o, n, threshold)),
            None => out.push(Change {
                key: key.clone(),
                old_median_ms: Some(o.latency_ms.median),
                new_median_ms: None,
                ratio: None,
                verdict: Verdict::Removed,
            }),
        }
    }
    for (key, n) in new_rows.iter().filter(|(k, _)| !old_rows.contains_key(k)) {
        out.push(Change {
            key: key.clone(),
            old_median_ms: None,
            new_median_ms: Some(n.latency_ms.median),
            ratio: None,
            verdict: Verdict::Added,
        });
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// The table `infer compare-runs` prints.
#[must_use]
pub fn changes_table(changes: &[Change]) -> Table {
    let mut t = Table::new(&[
        "model",
        "backend",
        "device",
        "batch",
        "old median ms",
        "new median ms",
        "change",
        "95% CI",
        "verdict",
    ]);
    let ms = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.3}"));
    let pct = |r: f64| format!("{:+.1}%", (r - 1.0) * 100.0);
    for c in changes {
        t.rows.push(vec![
            c.key.model.clone(),
            c.key.backend.clone(),
            c.key.device.clone(),
            c.key.batch_size.to_string(),
            ms(c.old_median_ms),
            ms(c.new_median_ms),
            match (c.old_median_ms, c.new_median_ms) {
                (Some(o), Some(n)) => pct(n / o),
                _ => "-".into(),
            },
            c.ratio.as_ref().map_or_else(|| "-".into(), |r| format!("{} to {}", pct(r.lower()), pct(r.upper()))),
            c.verdict.to_string(),
        ]);
    }
    t
}

/// The changes between two runs, with the files and the threshold they were judged against.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunChanges {
    /// The baseline's file.
    pub old: String,
    /// The new run's file.
    pub new: String,
    /// The smallest slowdown that counts as a regression (a fraction: 0.05 = 5%).
    pub threshold: f64,
    /// Every row of both runs, in key order.
    pub changes: Vec<Change>,
}

impl RunChanges {
    /// The rows that regressed.
    #[must_use]
    pub fn regressions(&self) -> usize {
        self.changes.iter().filter(|c| c.verdict == Verdict::Regression).count()
    }

    /// The rows found in both runs.
    #[must_use]
    pub fn matched(&self) -> usize {
        self.changes.iter().filter(|c| !matches!(c.verdict, Verdict::Added | Verdict::Removed)).count()
    }
}

impl Report for RunChanges {
    /// The table; beyond the terminal, under a title with what the verdicts mean.
    fn document(&self, format: Format) -> Document {
        let mut t = TableBlock::new(changes_table(&self.changes)).text([0, 1, 2, 8]).main();
        for (r, c) in self.changes.iter().enumerate() {
            t.mark(
                r,
                8,
                match c.verdict {
                    Verdict::Regression => "bad",
                    Verdict::Improvement => "faster",
                    _ => "",
                },
            );
        }
        let mut s = Section::new();
        if format != Format::Terminal {
            s.push(paragraph(format!(
                "Each row's median latency in {} against {}. REGRESSION: slower by more than {:.1}% with the 95% \
                 bootstrap interval of the ratio of medians above 1; improvement: the mirror image; within noise: \
                 the interval holds 1.",
                self.new,
                self.old,
                self.threshold * 100.0
            )));
        }
        s.push(t);
        Document::new(format!("{} against {}", self.new, self.old)).section(s)
    }

    fn json(&self) -> Result<String> {
        to_json(self)
    }
}

/// Parses a threshold such as `5%` or `5` (both 5 percent) into a fraction.
///
/// # Errors
/// A message naming the text when it is not a number from 0 to 1000 percent.
pub fn parse_threshold(text: &str) -> std::result::Result<f64, String> {
    let t = text.trim();
    let n = t.strip_suffix('%').unwrap_or(t).trim();
    match n.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=1000.0).contains(&v) => Ok(v / 100.0),
        _ => Err(format!("invalid threshold `{text}`: expected a percentage such as 5% (0 to 1000)")),
    }
}

#[cfg(test)]
mod tests {
    use infer_core::Device;
    use infer_measure::rng::SplitMix64;

    use super::*;

    /// A row with these raw samples.
    fn row(samples: Vec<f64>) -> BenchRow {
        let mut row = infer_measure::testing::row_of_samples(samples, 3);
        row.throughput_per_s = 1.0;
        row.per_item_ms = 1.0;
        row
    }

    /// `n` samples around `center`, spread ±`spread` (relative) in a fixed pseudo-random pattern.
    fn around(center: f64, spread: f64, n: usize, seed: u64) -> Vec<f64> {
        let mut rng = SplitMix64::new(seed);
        (0..n).map(|_| center * (1.0 + spread * (2.0 * rng.unit() - 1.0))).collect()
    }

    fn key() -> RowKey {
        RowKey { model: "m".into(), backend: "onnx".into(), device: "cpu".into(), batch_size: 1 }
    }

    #[test]
    fn clearly_slower_is_a_regression_and_faster_an_improvement() {
        let old = row(around(10.0, 0.02, 100, 1));
        let new = row(around(12.0, 0.02, 100, 2));
        let c = decide(key(), &old, &new, 0.05);
        assert_eq!(c.verdict, Verdict::Regression);
        let r = c.ratio.unwrap();
        assert!(r.lower() > 1.15 && r.upper() < 1.25 && r.lower() <= r.point && r.point <= r.upper(), "{r:?}");
        assert_eq!(decide(key(), &new, &old, 0.05).verdict, Verdict::Improvement);
        // The same 20% slowdown is only "within threshold" when the threshold is 30%.
        assert_eq!(decide(key(), &old, &new, 0.30).verdict, Verdict::WithinThreshold);
    }

    #[test]
    fn a_change_inside_both_runs_round_spread_is_not_a_regression() {
        let (mut old, mut new) = (row(around(10.0, 0.02, 100, 1)), row(around(12.0, 0.02, 100, 2)));
        // Rounds of the old run reached 12.5 ms: a new run at 12 ms is within its own spread.
        old.round_medians_ms = Some(vec![9.5, 10.0, 12.5]);
        new.round_medians_ms = Some(vec![11.8, 12.0, 12.2]);
        assert_eq!(decide(key(), &old, &new, 0.05).verdict, Verdict::WithinRounds);
        assert_eq!(Verdict::WithinRounds.to_string(), "within the rounds' spread");
        // Every new round slower than every old one: a regression again.
        old.round_medians_ms = Some(vec![9.5, 10.0, 10.4]);
        assert_eq!(decide(key(), &old, &new, 0.05).verdict, Verdict::Regression);
        // One round on either side tells nothing about the spread.
        old.round_medians_ms = Some(vec![12.5]);
        assert_eq!(decide(key(), &old, &new, 0.05).verdict, Verdict::Regression);
    }

    #[test]
    fn the_same_distribution_is_noise() {
        let old = row(around(10.0, 0.05, 100, 1));
        let new = row(around(10.0, 0.05, 100, 2));
        let c = decide(key(), &old, &new, 0.05);
        assert_eq!(c.verdict, Verdict::WithinNoise, "{c:?}");
        let r = c.ratio.unwrap();
        assert!(r.lower() < 1.0 && r.upper() > 1.0);
    }

    #[test]
    fn a_noisy_slowdown_beyond_the_threshold_is_not_called_a_regression() {
        // Medians 10% apart, but with ±80% noise and 10 samples the interval covers 1.
        let old = row(around(10.0, 0.8, 10, 5));
        let mut new_samples = around(10.0, 0.8, 10, 6);
        let shift = 1.1 * Sample::new(old.samples_ms.clone()).unwrap().median()
            / Sample::new(new_samples.clone()).unwrap().median();
        new_samples.iter_mut().for_each(|v| *v *= shift);
        let new = row(new_samples);
        let c = decide(key(), &old, &new, 0.05);
        let r = c.ratio.unwrap();
        assert!((r.point - 1.1).abs() < 1e-9, "{r:?}");
        assert!(r.lower() < 1.0, "{r:?}");
        assert_eq!(c.verdict, Verdict::WithinNoise);
    }

    #[test]
    fn without_raw_samples_the_median_intervals_decide() {
        let mut old = row(around(10.0, 0.02, 100, 1));
        let mut new = row(around(12.0, 0.02, 100, 2));
        old.samples_ms.clear();
        new.samples_ms.clear();
        assert_eq!(decide(key(), &old, &new, 0.05).verdict, Verdict::Regression);
        old.median_ci_ms = None;
        let c = decide(key(), &old, &new, 0.05);
        assert_eq!((c.verdict, c.ratio), (Verdict::WithinNoise, None));
    }

    #[test]
    fn thresholds_parse_as_percentages() {
        assert!((parse_threshold("5%").unwrap() - 0.05).abs() < 1e-12);
        assert!((parse_threshold(" 2.5 ").unwrap() - 0.025).abs() < 1e-12);
        assert!(parse_threshold("-1%").unwrap_err().contains("-1%"));
        assert!(parse_threshold("much").is_err());
    }

    #[test]
    fn ratio_ci_rejects_bad_samples() {
        assert!(median_ratio_ci(&[], &[1.0], 10, 0.95, 1).is_err());
        assert!(median_ratio_ci(&[1.0, f64::NAN], &[1.0], 10, 0.95, 1).is_err());
        assert!(median_ratio_ci(&[1.0, 2.0], &[1.0, 2.0], 10, 1.0, 1).is_err());
        assert!(median_ratio_ci(&[1.0, -2.0], &[1.0, 2.0], 10, 0.95, 1).unwrap_err().to_string().contains("positive"));
        // One value is no sample: no ratio interval (decide falls back to the median intervals).
        assert!(median_ratio_ci(&[1.0], &[1.0, 2.0], 10, 0.95, 1).unwrap_err().to_string().contains("at least 2"));
    }

    #[test]
    fn changes_render_in_every_format() {
        let report = |medians: &[(usize, f64)]| {
            Results::Bench(vec![infer_measure::testing::report("onnx", Device::Cpu, medians)])
        };
        let (old, new) = (report(&[(1, 20.0), (8, 150.0)]), report(&[(8, 180.0), (32, 600.0)]));
        let changes = RunChanges {
            old: "old.json".into(),
            new: "new <1>.json".into(),
            threshold: 0.05,
            changes: compare_runs(&old, &new, 0.05),
        };
        assert_eq!((changes.regressions(), changes.matched()), (1, 1));
        let text = changes.render(Format::Terminal).unwrap();
        assert!(text.starts_with("model   backend  device  batch  old median ms"), "{text}");
        let slow = text.lines().find(|l| l.contains("REGRESSION")).unwrap();
        assert!(slow.contains("150.000") && slow.contains("180.000") && slow.contains("+20.0%"), "{slow}");
        assert!(text.contains("removed") && text.contains("added"));
        let html = changes.render(Format::Html).unwrap();
        assert!(html.contains("<td class=\"text bad\">REGRESSION</td>") && html.contains("new &lt;1&gt;.json"));
        assert!(changes.render(Format::Markdown).unwrap().contains("| m.onnx | onnx | cpu | 8 | 150.000 | 180.000 |"));
        assert_eq!(changes.render(Format::Csv).unwrap().lines().count(), 4);
        let json: serde_json::Value = serde_json::from_str(&changes.json().unwrap()).unwrap();
        assert_eq!(json["changes"][1]["verdict"], "regression");
    }
}
