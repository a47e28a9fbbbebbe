//! The optimal batch size: the largest batch that fits (exponential growth, then a binary
//! search between the last batch that ran and the first that did not), and the best-throughput
//! batch among those measured, under an optional latency bound. [`search`] asks a probe for each
//! batch it tries; the `infer` command line runs each probe in a child process (`infer bench
//! --json` on one batch size), so an out-of-memory error, an abort or a kill only ends that probe. On the CPU the child's address space is limited
//! ([`probe_memory_limit`]), so an oversized batch fails to allocate instead of swapping; on a GPU
//! it is not (CUDA reserves far more address space than it uses, and its start-up fails under a
//! limit): there the framework's own out-of-memory error ends the probe. Either way the reason is
//! marked "out of memory" when it is one ([`is_out_of_memory`]).

use infer_core::Device;
use serde::{Deserialize, Serialize};

use crate::memory::mib;

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
pub fn search(max_batch: usize, probe: impl FnMut(usize) -> Outcome) -> Vec<Probe> {
    search_with(&Bounds { start: 1, max_batch, precision: 0.0 }, probe)
}

/// Where a search starts and how close it brackets the edge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    /// The first batch tried (then doubled); 1 by default.
    pub start: usize,
    /// The largest batch tried.
    pub max_batch: usize,
    /// The binary search stops once the first failure is within this fraction of the last fit
    /// (0: at the exact edge). Each probe is a process start (seconds on a GPU): 5% saves half
    /// the probes of a search near a thousand.
    pub precision: f64,
}

/// As [`search`], doubling from `bounds.start` and stopping the binary search once the
/// bracket is within `bounds.precision` of the last fit.
pub fn search_with(bounds: &Bounds, mut probe: impl FnMut(usize) -> Outcome) -> Vec<Probe> {
    let max_batch = bounds.max_batch.max(1);
    let close = |lo: usize, hi: usize| {
        #[allow(clippy::cast_precision_loss)]
        let (lo_f, gap) = (lo as f64, (hi - lo) as f64);
        gap <= 1.0 || gap <= bounds.precision * lo_f
    };
    let mut probes = Vec::new();
    let mut run = |b: usize, probes: &mut Vec<Probe>| -> bool {
        let outcome = probe(b);
        let fit = matches!(outcome, Outcome::Fit { .. });
        probes.push(Probe { batch_size: b, outcome });
        fit
    };
    let (mut lo, mut hi) = (0, None);
    let mut b = bounds.start.clamp(1, max_batch);
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
        while !close(lo, hi) {
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

/// The address-space limit of each probe on `device`, and a warning when one that was asked is
/// not applied: on the CPU, `asked`; on a GPU none, since CUDA reserves a virtual address range
/// far larger than the memory it uses (its unified address space) and fails to start under an
/// `RLIMIT_AS`; the device allocator's out-of-memory error ends an oversized probe there.
/// `explicit` says whether `asked` came from the user (warned about) or from a default (not).
#[must_use]
pub fn probe_memory_limit(device: Device, asked: Option<u64>, explicit: bool) -> (Option<u64>, Option<String>) {
    match asked {
        Some(bytes) if device.is_gpu() => {
            let warning = explicit.then(|| {
                format!(
                    "warning: --memory-limit {} is not applied on {device}: an address-space limit makes CUDA fail to \
                     start; the device's out-of-memory error ends an oversized probe instead",
                    mib(bytes)
                )
            });
            (None, warning)
        }
        other => (other, None),
    }
}

/// Whether a failed probe's message is an out-of-memory error: the host's (an allocation
/// refused under the address-space limit: `memory allocation of N bytes failed`,
/// `std::bad_alloc`, `Cannot allocate memory`) or the device's, as each framework words it
/// (torch: `CUDA out of memory. Tried to allocate …`; ONNX Runtime: `Failed to allocate memory
/// for requested buffer of size …`; cuBLAS/cuDNN: `CUBLAS_STATUS_ALLOC_FAILED`; the driver:
/// `CUDA_ERROR_OUT_OF_MEMORY`, `cudaErrorMemoryAllocation`; TensorFlow: `OOM when allocating
/// tensor`).
#[must_use]
pub fn is_out_of_memory(message: &str) -> bool {
    const NEEDLES: &[&str] = &[
        "out of memory",
        "failed to allocate memory",
        "memory allocation of",
        "bad_alloc",
        "cannot allocate memory",
        "status_alloc_failed",
        "cuda_error_out_of_memory",
        "cudaerrormemoryallocation",
        "oom when allocating",
        "resource_exhausted",
        "resourceexhausted",
    ];
    let lower = message.to_ascii_lowercase();
    NEEDLES.iter().any(|n| lower.contains(n))
}

/// The reason of a probe that failed with `message`: `out of memory: …` when it is one, else the
/// message as it is.
#[must_use]
pub fn failure_reason(message: &str) -> String {
    if is_out_of_memory(message) && !message.starts_with("out of memory") {
        format!("out of memory: {message}")
    } else {
        message.to_string()
    }
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
    fn a_search_can_start_higher_and_stop_within_a_precision() {
        let exact = search(4096, fake(1500));
        let coarse = search_with(&Bounds { start: 8, max_batch: 4096, precision: 0.05 }, fake(1500));
        assert_eq!(coarse[0].batch_size, 8, "starts at 8");
        let s = conclude("m", 4096, None, None, coarse.clone());
        let (fit, fail) = (s.largest_fit.unwrap(), s.smallest_failure.unwrap());
        assert!(fit <= 1500 && fail > 1500 && fail - fit <= fit / 20, "{fit}..{fail}");
        assert!(coarse.len() + 5 <= exact.len(), "{} probes against {}", coarse.len(), exact.len());
        // A start that does not fit still finds the edge below it.
        let low =
            conclude("m", 64, None, None, search_with(&Bounds { start: 16, max_batch: 64, precision: 0.0 }, fake(5)));
        assert_eq!((low.largest_fit, low.smallest_failure), (Some(5), Some(6)));
    }

    #[test]
    fn stops_at_the_cap_and_at_batch_one() {
        let s = conclude("m", 20, None, None, search(20, fake(1000)));
        assert_eq!(s.probes.iter().map(|p| p.batch_size).collect::<Vec<_>>(), [1, 2, 4, 8, 16, 20]);
        assert_eq!((s.largest_fit, s.smallest_failure), (Some(20), None));
        let s = conclude("m", 64, None, None, search(64, fake(0)));
        assert_eq!(s.probes.len(), 1);
        assert_eq!((s.largest_fit, s.best_batch, s.smallest_failure), (None, None, Some(1)));
    }

    /// Real messages of failed probes, as the child's last stderr line shows them.
    #[test]
    fn out_of_memory_errors_of_every_framework_are_recognised() {
        for oom in [
            "exit code 1: torch: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of \
             139.72 GiB of which 1.12 GiB is free.",
            "exit code 1: onnx: Failed to allocate memory for requested buffer of size 4294967296",
            "exit code 1: torch: CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`",
            "exit code 1: torch: cuDNN error: CUDNN_STATUS_ALLOC_FAILED",
            "exit code 1: CUDA driver error: CUDA_ERROR_OUT_OF_MEMORY",
            "exit code 1: tf: OOM when allocating tensor with shape[512,3,224,224] and type float",
            "the child process was killed by a signal (signal: 6 (SIGABRT) (core dumped)): memory allocation of \
             8589934592 bytes failed",
            "the child process was killed by a signal (signal: 6 (SIGABRT)): terminate called after throwing an \
             instance of 'std::bad_alloc'",
        ] {
            assert!(is_out_of_memory(oom), "{oom}");
            assert_eq!(failure_reason(oom), format!("out of memory: {oom}"));
        }
        for other in [
            "exit code 1: torch: CUDA error: an illegal memory access was encountered",
            "exit code 1: model.onnx: cannot load: invalid protobuf",
            "the child process was killed by a signal (signal: 11 (SIGSEGV)): no message",
        ] {
            assert!(!is_out_of_memory(other), "{other}");
            assert_eq!(failure_reason(other), other);
        }
        assert_eq!(failure_reason("out of memory"), "out of memory");
    }

    #[test]
    fn no_address_space_limit_on_a_gpu() {
        assert_eq!(probe_memory_limit(Device::Cpu, Some(8 << 30), true), (Some(8 << 30), None));
        assert_eq!(probe_memory_limit(Device::Cpu, None, false), (None, None));
        assert_eq!(probe_memory_limit(Device::Cuda(0), Some(8 << 30), false), (None, None));
        let (limit, warning) = probe_memory_limit(Device::Cuda(1), Some(8 << 30), true);
        assert_eq!(limit, None);
        let warning = warning.unwrap();
        assert!(
            warning.contains("8192.0 MiB is not applied on cuda:1: an address-space limit makes CUDA fail to start")
        );
        assert_eq!(probe_memory_limit(Device::Cuda(0), None, true), (None, None));
    }

    #[test]
    fn latency_bound_picks_the_best_batch_within_it() {
        // Latency 1 + 0.5 b ms: a 9 ms bound allows b <= 16.
        let s = conclude("m", 64, None, Some(9.0), search(64, fake(64)));
        assert_eq!(s.largest_fit, Some(64));
        assert_eq!(s.best_batch, Some(16));
        // A bound nothing meets: no best batch.
        assert_eq!(conclude("m", 64, None, Some(0.5), search(64, fake(64))).best_batch, None);
    }
}
