//! The offline scenario (MLPerf LoadGen's Offline): every sample is available at once and only the
//! throughput counts. The samples are run in batches of each size asked, back to back, inputs
//! assembled per batch and outputs split per sample as in the server scenario; the throughput of a
//! batch size is the samples over the time from the start to the last sample's output, and the
//! report gives the best over the sizes.

use std::time::Instant;

use crate::stats::Summary;
use infer_core::{Error, Result, Session};
use serde::{Deserialize, Serialize};

use super::{samples::Samples, server::warm_up};
use crate::{
    timing::Warmup,
    workload::lengths::{Padding, PaddingFigures},
};

/// How to run the offline scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct OfflineConfig {
    /// Samples issued at once.
    pub samples: usize,
    /// Batch sizes to try (sizes above `samples` are skipped).
    pub batch_sizes: Vec<usize>,
    /// Warm-up at batch 1 before the first size; each size then gets one untimed call.
    pub warmup: Warmup,
}

/// One batch size's pass over all the samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfflineRow {
    /// Samples per call (the last call takes the rest).
    pub batch_size: usize,
    /// Calls made.
    pub calls: usize,
    /// From the start to the last sample's output, seconds.
    pub elapsed_s: f64,
    /// Samples per second.
    pub throughput_per_s: f64,
    /// Time of one call (assembly, run, split), ms.
    pub call_ms: Summary,
    /// Every call's time, ms, in order.
    pub calls_ms: Vec<f64>,
    /// With `--lengths`: the padding waste, useful tokens/s and items/s of the pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub padding: Option<PaddingFigures>,
}

/// The outcome of the offline scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfflineReport {
    /// Samples issued at once.
    pub samples: usize,
    /// Warm-up calls at batch 1.
    pub warmup_iterations: usize,
    /// One row per batch size, in the order run.
    pub rows: Vec<OfflineRow>,
    /// The batch size of the best throughput.
    pub best_batch: usize,
    /// The best throughput, samples per second.
    pub best_throughput_per_s: f64,
    /// Notes (sizes skipped, a fixed batch dimension).
    pub warnings: Vec<String>,
}

/// Runs the offline scenario on a loaded session.
///
/// # Errors
/// No samples or no batch size, and run errors.
pub fn run_offline(session: &mut dyn Session, samples: &Samples, config: &OfflineConfig) -> Result<OfflineReport> {
    let n = config.samples;
    if n == 0 || config.batch_sizes.is_empty() || config.batch_sizes.contains(&0) {
        return Err(Error::InvalidInput(
            "the offline scenario needs at least one sample and positive batch sizes".into(),
        ));
    }
    let mut warnings = Vec::new();
    let mut sizes: Vec<usize> = Vec::new();
    for &b in &config.batch_sizes {
        if b > 1 && !samples.batchable() {
            warnings.push(format!("batch {b} skipped: the model's batch dimension is fixed"));
        } else if b > n {
            warnings.push(format!("batch {b} skipped: larger than the {n} samples"));
        } else if !sizes.contains(&b) {
            sizes.push(b);
        }
    }
    if sizes.is_empty() {
        return Err(Error::InvalidInput(format!("no batch size of {:?} can run {n} samples", config.batch_sizes)));
    }
    let warmup_iterations = warm_up(session, samples, config.warmup, 1)?;
    let mut rows = Vec::new();
    for &b in &sizes {
        // One untimed call at this size (and at the size of the last, partial call).
        for size in [b, n % b].into_iter().filter(|&s| s > 0) {
            session.run(&samples.batch(0, size)?)?;
            session.synchronize()?;
        }
        let mut calls_ms = Vec::new();
        let start = Instant::now();
        let mut first = 0;
        while first < n {
            let size = b.min(n - first);
            let t = Instant::now();
            let outputs = session.run(&samples.batch(first, size)?)?;
            session.synchronize()?;
            drop(samples.split(&outputs, session.outputs(), size)?);
            calls_ms.push(t.elapsed().as_secs_f64() * 1e3);
            first += size;
        }
        let elapsed_s = start.elapsed().as_secs_f64();
        #[allow(clippy::cast_precision_loss)]
        let throughput_per_s = n as f64 / elapsed_s;
        rows.push(OfflineRow {
            batch_size: b,
            calls: calls_ms.len(),
            elapsed_s,
            throughput_per_s,
            call_ms: Summary::new(&calls_ms)?,
            calls_ms,
            padding: padding(samples, n, b, elapsed_s)?,
        });
    }
    let best = rows
        .iter()
        .max_by(|a, b| a.throughput_per_s.total_cmp(&b.throughput_per_s))
        .ok_or_else(|| Error::InvalidInput("no batch size ran".into()))?;
    Ok(OfflineReport {
        samples: n,
        warmup_iterations,
        best_batch: best.batch_size,
        best_throughput_per_s: best.throughput_per_s,
        rows,
        warnings,
    })
}

/// With `--lengths`, the padding of a pass over `n` samples in batches of `b` that took `seconds`.
fn padding(samples: &Samples, n: usize, b: usize, seconds: f64) -> Result<Option<PaddingFigures>> {
    if samples.lengths().is_none() {
        return Ok(None);
    }
    let mut total = Padding::default();
    let mut first = 0;
    while first < n {
        let size = b.min(n - first);
        total.add(samples.padding(first, size)?.unwrap_or_default());
        first += size;
    }
    Ok(Some(total.figures(n, seconds)))
}
