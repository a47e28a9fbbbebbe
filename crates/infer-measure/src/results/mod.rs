//! Results as data (JSON, raw samples kept) and as tables (terminal, Markdown, CSV). Every file is
//! written atomically.

pub mod comparison;
pub mod serving;

use std::{collections::BTreeMap, path::Path};

use crate::stats::{DEFAULT_CONFIDENCE, Estimate, Sample, Summary};
use infer_core::{Device, DeviceMemory, Result, fsutil::write_atomic};
use serde::{Deserialize, Serialize};

use crate::{
    confidence::Convergence,
    device_time::DeviceTime,
    environment::Environment,
    host::{HostEvidence, Observed, RowEnergy, disturbed_warnings},
    timing::StageSummary,
    workload::InputUsed,
};

/// Version of the JSON layout below.
pub const SCHEMA_VERSION: u32 = 1;

/// One (model, backend, device, batch size) measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchRow {
    /// Model file.
    pub model: String,
    /// Backend name.
    pub backend: String,
    /// Device the session ran on.
    pub device: Device,
    /// Items per inference call.
    pub batch_size: usize,
    /// Latency of one call, milliseconds.
    pub latency_ms: Summary,
    /// Bootstrap 95% confidence interval of the median latency, milliseconds.
    pub median_ci_ms: Option<Estimate>,
    /// Bootstrap 95% confidence interval of the p99 latency, milliseconds.
    pub p99_ci_ms: Option<Estimate>,
    /// Coefficient of variation of the latency (std / mean).
    pub cov: f64,
    /// Why these numbers may not be trustworthy (unstable run, too few samples for p99).
    pub warnings: Vec<String>,
    /// Items per second at the median latency.
    pub throughput_per_s: f64,
    /// Median latency divided by the batch size, milliseconds.
    pub per_item_ms: f64,
    /// Timed iterations.
    pub iterations: usize,
    /// The fingerprint of the machine and runtimes.
    pub environment: Environment,
    /// Every timed latency in milliseconds, in measurement order.
    pub samples_ms: Vec<f64>,
    /// Warm-up iterations actually run before timing (`--warmup auto` decides it).
    #[serde(default)]
    pub warmup_iterations: Option<usize>,
    /// With `--warmup auto`: whether the window median settled before the cap.
    #[serde(default)]
    pub warmup_settled: Option<bool>,
    /// Time to build this batch's input tensors from the workload (host side, once), milliseconds.
    #[serde(default)]
    pub input_prep_ms: Option<f64>,
    /// Median split of a call into input binding, compute and output fetch, where the backend
    /// separates them.
    #[serde(default)]
    pub stages_ms: Option<StageSummary>,
    /// Throughput relative to batch size 1 in the same run (items/s ratio), when batch 1 was measured.
    #[serde(default)]
    pub speedup_vs_batch1: Option<f64>,
    /// With several rounds (`infer compare --rounds N`): each round's median, milliseconds, in the
    /// order measured; the statistics above are over the pooled samples of every round.
    #[serde(default)]
    pub round_medians_ms: Option<Vec<f64>>,
    /// With several rounds: how many of `samples_ms` each round measured, in order (the samples
    /// are the rounds' one after the other), so the rounds can be told apart again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round_iterations: Option<Vec<usize>>,
    /// With `--target-ci`: whether the interval reached its target, how close it came, and the
    /// measuring time it took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convergence: Option<Convergence>,
    /// The size of every dynamic dimension other than the batch in this row (`--dim`, `--dims`,
    /// `--shape` or the input data), by symbol, or `INPUT[AXIS]` for an unnamed one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dims: BTreeMap<String, usize>,
    /// What each input was made of: dtype, shape, file or synthetic, and for synthetic integers
    /// the range drawn from and how it was found.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputUsed>,
    /// The device's own time per call, where the session measures it (torch on CUDA: CUDA
    /// events); absent on the CPU. The wall-clock figures above stay the row's primary ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_time: Option<DeviceTime>,
    /// The device allocator's figures read right after this row's timed calls (allocated,
    /// reserved, peak since the session was loaded), where the backend exposes them (torch on
    /// CUDA); absent on the CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_memory: Option<DeviceMemory>,
    /// Unix time, seconds, at the start and end of each timed phase pooled in this row (one per
    /// round), so that an outside monitor's samples (the GPU's power and energy from NVML) can
    /// be matched to the row's calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timed_unix_s: Vec<[f64; 2]>,
    /// What the host did during the timed phase: steal time, other processes' CPU, memory
    /// pressure, CPU frequency, the GPU's clocks and throttling ([`crate::host`]). With several
    /// rounds, the most disturbed round's (every round's in `host_rounds`). Absent when the host
    /// was not watched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostEvidence>,
    /// With several rounds: each round's evidence, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_rounds: Vec<HostEvidence>,
    /// Why the host's evidence marks this row *disturbed* (interference during the timed phase),
    /// one sentence with its figures per reason, `round N:` first when rounds were pooled; empty
    /// when it is not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disturbed: Vec<String>,
    /// Joules per inference (one call) with its 95% interval, or why there is none here: never
    /// 0 for unknown. Absent when the host was not watched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy: Option<RowEnergy>,
}

/// Titles of the columns [`BenchRow::key_cells`] fills.
pub const KEY_COLUMNS: [&str; 6] = ["backend", "device", "batch", "median ms", "p95 ms", "p99 ms"];

/// Where a [`BenchRow`]'s numbers come from: what was measured, and how its confidence intervals
/// are resampled.
#[derive(Debug, Clone)]
pub struct RowSource<'a> {
    /// Model file.
    pub model: &'a str,
    /// Backend name.
    pub backend: &'a str,
    /// Device the session ran on.
    pub device: Device,
    /// Items per call.
    pub batch_size: usize,
    /// Machine and runtimes.
    pub environment: &'a Environment,
    /// Bootstrap resamples for the confidence intervals.
    pub resamples: usize,
    /// Seed of the resampling, so reports are reproducible.
    pub seed: u64,
}

impl BenchRow {
    /// A row from raw per-call latencies: summary, bootstrap 95% intervals on the median and p99,
    /// CoV, items/s and per-item latency. Warnings and the optional details are left empty for
    /// the caller. A single timed call (`--iterations 1`) has a summary but no [`Sample`]: no
    /// intervals, and a CoV of 0.
    ///
    /// # Errors
    /// [`infer_core::Error::InvalidInput`] when there are no samples or one is not finite.
    pub fn from_samples(src: &RowSource<'_>, samples_ms: Vec<f64>) -> Result<Self> {
        let summary = Summary::new(&samples_ms)?;
        let sample = Sample::new(samples_ms.clone()).ok();
        let ci = |f: fn(&Sample, usize, f64, u64) -> Result<Estimate>| {
            sample.as_ref().and_then(|s| f(s, src.resamples, DEFAULT_CONFIDENCE, src.seed).ok())
        };
        #[allow(clippy::cast_precision_loss)]
        let batch = src.batch_size as f64;
        Ok(Self {
            model: src.model.into(),
            backend: src.backend.into(),
            device: src.device,
            batch_size: src.batch_size,
            throughput_per_s: batch * 1e3 / summary.median,
            per_item_ms: summary.median / batch,
            iterations: samples_ms.len(),
            median_ci_ms: ci(Sample::median_ci),
            p99_ci_ms: ci(Sample::p99_ci),
            cov: sample.as_ref().map_or(0.0, Sample::coefficient_of_variation),
            warnings: Vec::new(),
            latency_ms: summary,
            environment: src.environment.clone(),
            samples_ms,
            warmup_iterations: None,
            warmup_settled: None,
            input_prep_ms: None,
            stages_ms: None,
            speedup_vs_batch1: None,
            round_medians_ms: None,
            round_iterations: None,
            convergence: None,
            dims: BTreeMap::new(),
            inputs: Vec::new(),
            device_time: None,
            device_memory: None,
            timed_unix_s: Vec::new(),
            host: None,
            host_rounds: Vec::new(),
            disturbed: Vec::new(),
            energy: None,
        })
    }

    /// Whether the host's evidence shows interference during this row.
    #[must_use]
    pub fn is_disturbed(&self) -> bool {
        !self.disturbed.is_empty()
    }

    /// Records what the host did during this row's timed phase: the evidence, the energy, and
    /// the disturbed reasons as warnings (`disturbed: …`).
    pub fn observe(&mut self, seen: Observed) {
        self.disturbed = seen.host.as_ref().map(|h| h.disturbed.clone()).unwrap_or_default();
        self.warnings.extend(disturbed_warnings(&self.disturbed));
        self.warnings.extend(seen.problems);
        self.host = seen.host;
        self.energy = seen.energy;
    }

    /// The row's dimension sizes as text, `sequence=128, …` (empty without any).
    #[must_use]
    pub fn dims_label(&self) -> String {
        self.dims.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
    }

    /// `batch 8`, or `batch 8, sequence=128` where the row has dimension sizes.
    #[must_use]
    pub fn label(&self) -> String {
        if self.dims.is_empty() {
            format!("batch {}", self.batch_size)
        } else {
            format!("batch {}, {}", self.batch_size, self.dims_label())
        }
    }

    /// Table cells shared by every table: backend, device, batch, median, p95 and p99 (ms).
    #[must_use]
    pub fn key_cells(&self, decimals: usize) -> Vec<String> {
        let ms = |v: f64| format!("{v:.decimals$}");
        vec![
            self.backend.clone(),
            self.device.to_string(),
            self.batch_size.to_string(),
            ms(self.latency_ms.median),
            ms(self.latency_ms.p95),
            ms(self.latency_ms.p99),
        ]
    }
}

/// Everything `infer bench` measured for one model on one backend and device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// Layout version.
    pub schema_version: u32,
    /// Model file.
    pub model: String,
    /// Backend name.
    pub backend: String,
    /// Device asked for.
    pub device: Device,
    /// Fingerprint.
    pub environment: Environment,
    /// Time to load the model and create the session, milliseconds.
    pub load_ms: f64,
    /// First inference at the first batch size (includes lazy initialization), milliseconds.
    pub first_inference_ms: f64,
    /// Parameters, where the backend can tell.
    pub parameters: Option<u64>,
    /// Bytes of parameters, where the backend can tell.
    pub parameter_bytes: Option<u64>,
    /// Process RSS before loading the model, bytes.
    pub rss_before_load: Option<u64>,
    /// Process RSS after loading, bytes.
    pub rss_after_load: Option<u64>,
    /// Process peak RSS at the end (Linux `VmHWM`), bytes.
    pub peak_rss: Option<u64>,
    /// Largest absolute difference to the reference output, when one was given.
    pub max_abs_diff: Option<f64>,
    /// The reference output file compared against.
    pub reference: Option<String>,
    /// Largest absolute difference over the largest magnitude of the reference, per output, the
    /// largest of the outputs (see [`crate::reference`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rel_diff: Option<f64>,
    /// Share of rows whose top-1 class agrees with the reference's, where the first output is a
    /// score vector `[batch, classes]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top1_agreement: Option<f64>,
    /// One row per batch size.
    pub rows: Vec<BenchRow>,
    /// The rows not measured, and why (their inputs need more memory than is available).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_rows: Vec<FailedRow>,
    /// RSS increase caused by loading the model (after - before), bytes.
    #[serde(default)]
    pub rss_load_increase: Option<u64>,
    /// RSS increase caused by inference (peak at the end - RSS after loading), bytes.
    #[serde(default)]
    pub rss_inference_increase: Option<u64>,
    /// How the RSS figures were obtained.
    #[serde(default)]
    pub memory_method: Option<String>,
    /// On CUDA: device memory from the driver around loading and inference.
    #[serde(default)]
    pub cuda_memory: Option<CudaMemoryReport>,
    /// On a device: the backend allocator's own figures, where it exposes them.
    #[serde(default)]
    pub device_memory: Option<DeviceMemory>,
}

/// A (batch size, dimension sizes) row that was not measured, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedRow {
    /// Items per call asked.
    pub batch_size: usize,
    /// The sizes of the dynamic dimensions other than the batch, as [`BenchRow::dims`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dims: BTreeMap<String, usize>,
    /// The one-line error.
    pub error: String,
}

impl FailedRow {
    /// `batch 8` or `batch 8, sequence=128`, as [`BenchRow::label`].
    #[must_use]
    pub fn label(&self) -> String {
        let dims: Vec<String> = self.dims.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if dims.is_empty() {
            format!("batch {}", self.batch_size)
        } else {
            format!("batch {}, {}", self.batch_size, dims.join(", "))
        }
    }
}

/// CUDA device memory as the driver reports it (whole device), at three moments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CudaMemoryReport {
    /// Device memory in total, bytes.
    pub total: Option<u64>,
    /// Used before loading the model, bytes.
    pub used_before_load: Option<u64>,
    /// Used after loading, bytes.
    pub used_after_load: Option<u64>,
    /// Used after the last timed run, bytes.
    pub used_after_inference: Option<u64>,
    /// How the figures were obtained, or why they are missing (e.g. `no CUDA driver`).
    pub method: String,
}

/// Writes `value` as pretty JSON, atomically.
///
/// # Errors
/// File errors naming `path`.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_vec_pretty(value).map_err(|e| infer_core::Error::file(path, e.to_string()))?;
    text.push(b'\n');
    write_atomic(path, &text)
}

/// Reads a JSON file written by [`write_json`].
///
/// # Errors
/// File errors naming `path`, with the parser's message.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| infer_core::Error::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| infer_core::Error::file(path, format!("not a valid result file: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_bad_file_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        write_json(&p, &vec![1, 2, 3]).unwrap();
        assert_eq!(read_json::<Vec<i32>>(&p).unwrap(), vec![1, 2, 3]);
        std::fs::write(&p, "{oops").unwrap();
        let err = read_json::<Vec<i32>>(&p).unwrap_err().to_string();
        assert!(err.contains("r.json") && err.contains("not a valid result file"), "{err}");
    }
}
