//! Operator-level profiles: run a model under its runtime's profiler, then sum the events per
//! operator type and per node, with each one's share of the total operator time.

use std::path::{Path, PathBuf};

use infer_core::{
    Backend, Error, LoadOptions, Result,
    profile::{OpEvent, OpProfile},
};
use serde::{Deserialize, Serialize};

use crate::workload::{InputUsed, Workload};

/// One line of a summary: an operator type or a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpRow {
    /// Operator type, or node name.
    pub name: String,
    /// Operator type (for nodes; the same as `name` for types).
    pub op_type: String,
    /// Total time over the profiled runs, microseconds.
    pub total_us: f64,
    /// Executions summed.
    pub calls: u64,
    /// Share of the total operator time, in percent.
    pub share_pct: f64,
    /// Time per profiled run, microseconds.
    pub per_run_us: f64,
}

/// A profile summed per operator type and per node, largest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileSummary {
    /// Model file.
    pub model: String,
    /// Backend name.
    pub backend: String,
    /// How the events were obtained.
    pub source: String,
    /// Batch size of the profiled runs.
    pub batch_size: usize,
    /// Runs summarized (warm-up runs excluded).
    pub runs: u64,
    /// Warm-up runs excluded from the summary.
    pub warmup_runs: u64,
    /// Total operator time over the summarized runs, microseconds.
    pub total_us: f64,
    /// Every operator type, largest total first.
    pub by_type: Vec<OpRow>,
    /// Every node, largest total first.
    pub by_node: Vec<OpRow>,
    /// What each input was made of (shape, file or synthetic, integer ranges).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputUsed>,
}

/// Sums `events` per key; shares over the total of `events`; `runs` divides the per-run figures.
fn rows(events: &[&OpEvent], runs: u64, key: impl Fn(&OpEvent) -> (String, String)) -> Vec<OpRow> {
    let total: f64 = events.iter().map(|e| e.duration_us).sum();
    let mut map: std::collections::BTreeMap<String, OpRow> = std::collections::BTreeMap::new();
    for e in events {
        let (name, op_type) = key(e);
        let row = map.entry(name.clone()).or_insert(OpRow {
            name,
            op_type,
            total_us: 0.0,
            calls: 0,
            share_pct: 0.0,
            per_run_us: 0.0,
        });
        row.total_us += e.duration_us;
        row.calls += e.calls;
    }
    #[allow(clippy::cast_precision_loss)]
    let runs_f = runs.max(1) as f64;
    let mut out: Vec<OpRow> = map
        .into_values()
        .map(|mut r| {
            r.share_pct = if total > 0.0 { r.total_us / total * 100.0 } else { 0.0 };
            r.per_run_us = r.total_us / runs_f;
            r
        })
        .collect();
    out.sort_by(|a, b| b.total_us.total_cmp(&a.total_us).then_with(|| a.name.cmp(&b.name)));
    out
}

/// Summarizes a profile, leaving out the events of the first `skip_runs` runs (the warm-up) when
/// the profile places events in runs.
#[must_use]
pub fn summarize(profile: &OpProfile, skip_runs: u64, model: &str, batch_size: usize) -> ProfileSummary {
    let placed = profile.events.iter().any(|e| e.run.is_some());
    let kept: Vec<&OpEvent> =
        profile.events.iter().filter(|e| !placed || e.run.is_some_and(|r| r >= skip_runs)).collect();
    let (runs, warmup_runs) =
        if placed { (profile.runs.saturating_sub(skip_runs), skip_runs.min(profile.runs)) } else { (profile.runs, 0) };
    ProfileSummary {
        model: model.into(),
        backend: profile.backend.clone(),
        source: profile.source.clone(),
        batch_size,
        runs,
        warmup_runs,
        total_us: kept.iter().map(|e| e.duration_us).sum(),
        by_type: rows(&kept, runs, |e| (e.op_type.clone(), e.op_type.clone())),
        by_node: rows(&kept, runs, |e| (e.node.clone(), e.op_type.clone())),
        inputs: Vec::new(),
    }
}

/// What to profile.
#[derive(Debug, Clone)]
pub struct ProfileSpec {
    /// Model file or folder.
    pub model: PathBuf,
    /// Session options; the profile prefix is set by [`profile`].
    pub options: LoadOptions,
    /// Batch size of the synthetic inputs; none: the model's own
    /// ([`crate::workload::Plan::default_batch`]).
    pub batch_size: Option<usize>,
    /// What the inputs are made of (one shape: a `--dim` list is refused).
    pub workload: Workload,
    /// Runs excluded from the summary first.
    pub warmup: usize,
    /// Runs summarized.
    pub iterations: usize,
}

/// Loads the model with the runtime's profiler on (writing under `scratch`), runs warm-up and
/// profiled iterations, and summarizes the backend's events.
///
/// # Errors
/// [`Error::InvalidInput`] when the backend has no operator profile ("not supported by this
/// backend"), and load, input and run errors.
pub fn profile(backend: &dyn Backend, spec: &ProfileSpec, scratch: &Path) -> Result<ProfileSummary> {
    if spec.iterations == 0 || spec.batch_size == Some(0) {
        return Err(Error::InvalidInput("--iterations and --batch-size must be at least 1".into()));
    }
    let options = LoadOptions { profile_prefix: Some(scratch.join(backend.name())), ..spec.options.clone() };
    let point = spec.workload.single_point("infer profile")?;
    let mut session = backend.load(&spec.model, &options)?;
    let plan = spec.workload.plan(&spec.model, session.as_ref())?;
    let batch_size = spec.batch_size.unwrap_or_else(|| plan.default_batch());
    let built = plan.build(batch_size, &point)?;
    for _ in 0..spec.warmup + spec.iterations {
        session.run(&built.tensors).map_err(|e| plan.context(e))?;
        session.synchronize()?;
    }
    let events = session.op_profile().map_err(|e| match e {
        Error::InvalidInput(m) if m.contains("not supported") => {
            Error::InvalidInput(format!("{}: {m}", backend.name()))
        }
        other => other,
    })?;
    let mut summary = summarize(&events, spec.warmup as u64, &spec.model.display().to_string(), batch_size);
    summary.inputs = built.used;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ev(op: &str, node: &str, us: f64, run: Option<u64>) -> OpEvent {
        OpEvent { op_type: op.into(), node: node.into(), duration_us: us, calls: 1, run }
    }

    #[test]
    fn sums_per_type_and_node_and_skips_warmup() {
        let p = OpProfile {
            backend: "x".into(),
            source: "test".into(),
            runs: 3,
            events: vec![
                ev("Conv", "c1", 1000.0, Some(0)),
                ev("Relu", "r1", 1000.0, Some(0)),
                ev("Conv", "c1", 60.0, Some(1)),
                ev("Conv", "c2", 20.0, Some(1)),
                ev("Relu", "r1", 20.0, Some(1)),
                ev("Conv", "c1", 60.0, Some(2)),
                ev("Conv", "c2", 20.0, Some(2)),
                ev("Relu", "r1", 20.0, Some(2)),
            ],
        };
        let s = summarize(&p, 1, "m.onnx", 2);
        assert_eq!((s.runs, s.warmup_runs), (2, 1));
        assert!((s.total_us - 200.0).abs() < 1e-9);
        let types: Vec<_> = s.by_type.iter().map(|r| (r.name.as_str(), r.total_us, r.calls, r.share_pct)).collect();
        assert_eq!(types, [("Conv", 160.0, 4, 80.0), ("Relu", 40.0, 2, 20.0)]);
        assert!((s.by_type[0].per_run_us - 80.0).abs() < 1e-9);
        let nodes: Vec<_> = s.by_node.iter().map(|r| (r.name.as_str(), r.op_type.as_str())).collect();
        // c2 and r1 tie at 40 us: ties go by name.
        assert_eq!(nodes, [("c1", "Conv"), ("c2", "Conv"), ("r1", "Relu")]);
        let share: f64 = s.by_node.iter().map(|r| r.share_pct).sum();
        assert!((share - 100.0).abs() < 1e-9);
    }

    #[test]
    fn events_without_runs_are_all_kept() {
        let p = OpProfile { backend: "x".into(), source: "t".into(), runs: 0, events: vec![ev("A", "a", 5.0, None)] };
        let s = summarize(&p, 3, "m", 1);
        assert_eq!((s.runs, s.warmup_runs, s.by_type.len()), (0, 0, 1));
        let empty = summarize(&OpProfile { events: Vec::new(), ..p }, 0, "m", 1);
        assert!(empty.by_type.is_empty() && empty.total_us == 0.0);
    }
}
