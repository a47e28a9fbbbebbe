//! The probes of `infer optimize-batch`: each batch size a child `infer bench --json` ([`crate::runner`]),
//! so an out-of-memory error, an abort or a kill only ends that probe; the search itself is
//! [`infer_measure::batch_search`]'s.

use std::path::{Path, PathBuf};

use infer_core::{Device, Result};
use infer_measure::{
    batch_search::{BatchSearch, Bounds, Outcome, conclude, failure_reason, search_with},
    results::BenchReport,
    timing::BenchConfig,
    workload::Workload,
};

use crate::runner::{self, BenchJob, ChildTarget};

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
    /// Address-space limit of each probe process, bytes (see [`infer_measure::batch_search::probe_memory_limit`]: none on a
    /// GPU).
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
        Err(e) => Outcome::DidNotFit { reason: failure_reason(&e.to_string()) },
    }
}

/// Runs the whole search with child-process probes, within `bounds` (see [`Bounds`]), handing
/// `on_probe` the search concluded so far after every probe (so that a caller can save it: a
/// search stopped midway keeps the probes it ran).
///
/// # Errors
/// Only when no scratch folder can be created: probe failures are outcomes.
pub fn optimize(
    spec: &ProbeSpec,
    bounds: &Bounds,
    max_latency_ms: Option<f64>,
    on_probe: &mut dyn FnMut(&BatchSearch),
) -> Result<BatchSearch> {
    let scratch = tempfile::tempdir().map_err(|e| infer_core::Error::io(std::env::temp_dir(), e))?;
    let model = spec.model.display().to_string();
    let mut so_far = Vec::new();
    let probes = search_with(bounds, |b| {
        eprintln!("probing batch {b} ...");
        let outcome = probe_child(spec, b, scratch.path());
        so_far.push(infer_measure::batch_search::Probe { batch_size: b, outcome: outcome.clone() });
        on_probe(&conclude(&model, bounds.max_batch, spec.memory_limit, max_latency_ms, so_far.clone()));
        outcome
    });
    Ok(conclude(&model, bounds.max_batch, spec.memory_limit, max_latency_ms, probes))
}
