//! The optimal batch size: the largest batch that fits (exponential growth, then a binary
//! search between the last batch that ran and the first that did not), and the best-throughput
//! batch among those measured, under an optional latency bound. Each probe runs in a child
//! process (`infer bench --json` on one batch size, address space limited), so an out-of-memory
//! error, an abort or a kill only ends that probe.

use std::path::{Path, PathBuf};

use infer_core::{Device, Result};
use serde::{Deserialize, Serialize};

use crate::{
    bench::BenchConfig,
    memory::mib,
    report::{BenchReport, Table},
    runner::{self, BenchJob, ChildTarget},
    workload::Workload,
};

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum Outcome {
    /// The batch ran.
    Fit {
        /// Median latency of one call, milliseconds.
        median_ms: f64,
        /// Items per second at the median.
        throughput_per_s: f64,
        /// Peak RSS of the probe process, bytes.
        peak_rss: Option<u64>,
    },
    /// The batch did not run.
    DidNotFit {
        /// Why (the child's last error line, or the signal that ended it).
        reason: String,
    },
}

/// One probed batch size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// Batch size.
    pub batch_size: usize,
    /// What happened (flattened in JSON: `outcome` is `fit` or `did_not_fit`).
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The result of a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchSearch {
    /// Model file.
    pub model: String,
    /// Largest batch tried.
    pub max_batch: usize,
    /// Address-space limit of each probe process, bytes (None: no limit).
    pub memory_limit: Option<u64>,
    /// Latency bound on the median, milliseconds.
    pub max_latency_ms: Option<f64>,
    /// Every probe, in the order run.
    pub probes: Vec<Probe>,
    /// Largest batch that ran.
    pub largest_fit: Option<usize>,
    /// Smallest batch that did not run, if any did not.
    pub smallest_failure: Option<usize>,
    /// The batch with the highest throughput among those that ran within the latency bound.
    pub best_batch: Option<usize>,
}

/// Probes `1, 2, 4, ...` up to `max_batch` until one does not fit, then binary-searches between
/// the last fit and the first failure. Returns the probes in order.
pub fn search(max_batch: usize, mut probe: impl FnMut(usize) -> Outcome) -> Vec<Probe> {
    let max_batch = max_batch.max(1);
    let mut probes = Vec::new();
    let mut run = |b: usize, probes: &mut Vec<Probe>| -> bool {
        let outcome = probe(b);
        let fit = matches!(outcome, Outcome::Fit { .. });
        probes.push(Probe { batch_size: b, outcome });
        fit
    };
    let (mut lo, mut hi) = (0, None);
    let mut b = 1;
    loop {
        if run(b, &mut probes) {
            lo = b;
            if b == max_batch {
                break;
            }
            b = (b * 2).min(max_batch);
        } else {
            hi = Some(b);
            break;
        }
    }
    if let Some(mut hi) = hi {
        while lo > 0 && hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if run(mid, &mut probes) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
    }
    probes
}

/// Fills in the largest fit, the smallest failure and the best batch of `probes`.
#[must_use]
pub fn conclude(
    model: &str,
    max_batch: usize,
    memory_limit: Option<u64>,
    max_latency_ms: Option<f64>,
    probes: Vec<Probe>,
) -> BatchSearch {
    let fits = || {
        probes.iter().filter_map(|p| match p.outcome {
            Outcome::Fit { median_ms, throughput_per_s, .. } => Some((p.batch_size, median_ms, throughput_per_s)),
            Outcome::DidNotFit { .. } => None,
        })
    };
    let largest_fit = fits().map(|f| f.0).max();
    let smallest_failure =
        probes.iter().filter(|p| matches!(p.outcome, Outcome::DidNotFit { .. })).map(|p| p.batch_size).min();
    let best_batch = fits()
        .filter(|&(_, median, _)| max_latency_ms.is_none_or(|bound| median <= bound))
        .max_by(|a, b| a.2.total_cmp(&b.2).then(b.0.cmp(&a.0)))
        .map(|f| f.0);
    BatchSearch {
        model: model.into(),
        max_batch,
        memory_limit,
        max_latency_ms,
        probes,
        largest_fit,
        smallest_failure,
        best_batch,
    }
}

/// How to run each probe.
#[derive(Debug, Clone)]
pub struct ProbeSpec {
    /// The `infer` executable.
    pub exe: PathBuf,
    /// Model file or folder.
    pub model: PathBuf,
    /// Backend name.
    pub backend: String,
    /// Device.
    pub device: Device,
    /// Intra-op threads (0 = default).
    pub threads: usize,
    /// What the inputs are made of, passed on to each probe (one shape).
    pub workload: Workload,
    /// Timing of each probe.
    pub config: BenchConfig,
    /// Address-space limit of each probe process, bytes.
    pub memory_limit: Option<u64>,
}

/// Runs `infer bench` on one batch size in a child process ([`crate::runner`]) and reads its
/// JSON; a failed child is a probe that did not fit, with the child's reason.
#[must_use]
pub fn probe_child(spec: &ProbeSpec, batch: usize, scratch: &Path) -> Outcome {
    let json = scratch.join(format!("probe-{batch}.json"));
    let target = ChildTarget {
        exe: spec.exe.clone(),
        model: spec.model.clone(),
        backend: spec.backend.clone(),
        device: spec.device,
        threads: spec.threads,
    };
    let job = BenchJob {
        batch_sizes: vec![batch],
        config: spec.config,
        workload: spec.workload.clone(),
        reference: None,
        memory_limit: spec.memory_limit,
    };
    match runner::run::<BenchReport>(target.bench(&job, &json), &json) {
        Ok(report) => match report.rows.first() {
            Some(row) => Outcome::Fit {
                median_ms: row.latency_ms.median,
                throughput_per_s: row.throughput_per_s,
                peak_rss: report.peak_rss,
            },
            None => Outcome::DidNotFit { reason: format!("{}: the report has no row", json.display()) },
        },
        Err(e) => Outcome::DidNotFit { reason: e.to_string() },
    }
}

/// Runs the whole search with child-process probes.
///
/// # Errors
/// Only when no scratch folder can be created: probe failures are outcomes.
pub fn optimize(spec: &ProbeSpec, max_batch: usize, max_latency_ms: Option<f64>) -> Result<BatchSearch> {
    let scratch = tempfile::tempdir().map_err(|e| infer_core::Error::io(std::env::temp_dir(), e))?;
    let probes = search(max_batch, |b| {
        eprintln!("probing batch {b} ...");
        probe_child(spec, b, scratch.path())
    });
    Ok(conclude(&spec.model.display().to_string(), max_batch, spec.memory_limit, max_latency_ms, probes))
}

/// The probes as a table, with the best batch marked.
#[must_use]
pub fn table(s: &BatchSearch) -> Table {
    let mut t = Table::new(&["batch", "median ms", "items/s", "peak RSS", "result"]);
    let mut probes: Vec<&Probe> = s.probes.iter().collect();
    probes.sort_by_key(|p| p.batch_size);
    for p in probes {
        t.rows.push(match &p.outcome {
            Outcome::Fit { median_ms, throughput_per_s, peak_rss } => {
                let mut result = "fits".to_string();
                if s.max_latency_ms.is_some_and(|b| *median_ms > b) {
                    result = "fits, over the latency bound".into();
                }
                if s.best_batch == Some(p.batch_size) {
                    result.push_str(" (best throughput)");
                }
                vec![
                    p.batch_size.to_string(),
                    format!("{median_ms:.3}"),
                    format!("{throughput_per_s:.1}"),
                    peak_rss.map_or_else(|| "-".into(), mib),
                    result,
                ]
            }
            Outcome::DidNotFit { reason } => {
                vec![p.batch_size.to_string(), "-".into(), "-".into(), "-".into(), format!("did not fit: {reason}")]
            }
        });
    }
    t
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A fake device where batches up to `limit` fit; latency 1 ms + 0.5 ms per item.
    fn fake(limit: usize) -> impl FnMut(usize) -> Outcome {
        move |b| {
            if b <= limit {
                #[allow(clippy::cast_precision_loss)]
                let median_ms = 1.0 + 0.5 * b as f64;
                #[allow(clippy::cast_precision_loss)]
                let throughput_per_s = b as f64 * 1e3 / median_ms;
                Outcome::Fit { median_ms, throughput_per_s, peak_rss: None }
            } else {
                Outcome::DidNotFit { reason: "out of memory".into() }
            }
        }
    }

    #[test]
    fn finds_the_largest_batch_that_fits() {
        let probes = search(1024, fake(37));
        let order: Vec<usize> = probes.iter().map(|p| p.batch_size).collect();
        // 1..64 doubling, then binary search in (32, 64).
        assert_eq!(order, [1, 2, 4, 8, 16, 32, 64, 48, 40, 36, 38, 37]);
        let s = conclude("m", 1024, None, None, probes);
        assert_eq!((s.largest_fit, s.smallest_failure), (Some(37), Some(38)));
        // Throughput grows with the batch here: the largest is best.
        assert_eq!(s.best_batch, Some(37));
    }

    #[test]
    fn stops_at_the_cap_and_at_batch_one() {
        let s = conclude("m", 20, None, None, search(20, fake(1000)));
        assert_eq!(s.probes.iter().map(|p| p.batch_size).collect::<Vec<_>>(), [1, 2, 4, 8, 16, 20]);
        assert_eq!((s.largest_fit, s.smallest_failure), (Some(20), None));
        let s = conclude("m", 64, None, None, search(64, fake(0)));
        assert_eq!(s.probes.len(), 1);
        assert_eq!((s.largest_fit, s.best_batch, s.smallest_failure), (None, None, Some(1)));
        let t = table(&s);
        assert_eq!(t.rows[0][4], "did not fit: out of memory");
    }

    #[test]
    fn latency_bound_picks_the_best_batch_within_it() {
        // Latency 1 + 0.5 b ms: a 9 ms bound allows b <= 16.
        let s = conclude("m", 64, None, Some(9.0), search(64, fake(64)));
        assert_eq!(s.largest_fit, Some(64));
        assert_eq!(s.best_batch, Some(16));
        let t = table(&s);
        let row16 = t.rows.iter().find(|r| r[0] == "16").unwrap();
        assert_eq!(row16[4], "fits (best throughput)");
        let row32 = t.rows.iter().find(|r| r[0] == "32").unwrap();
        assert_eq!(row32[4], "fits, over the latency bound");
        // A bound nothing meets: no best batch.
        assert_eq!(conclude("m", 64, None, Some(0.5), search(64, fake(64))).best_batch, None);
    }
}
