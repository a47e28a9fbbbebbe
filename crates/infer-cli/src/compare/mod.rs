//! `infer compare`'s orchestration: the same workload on every backend and device (of a fixture
//! folder, or of every model file given: see `files`), each
//! measured in its own child process ([`crate::runner`]) so a crash in native code becomes that
//! row's error and loses no other row. `--rounds` children per (backend, device), taken in turns
//! across the backends and pooled ([`infer_measure::rounds`]), then one profile child each; the
//! comparison so far goes to the [`Reports`] after every row, so a crash or Ctrl-C loses
//! nothing already measured.

mod files;
mod plan;
pub mod serving;

use std::path::{Path, PathBuf};

use infer_core::{Device, Registry, Result};

pub use self::files::ModelDescription;
use self::plan::{Slot, Target};
use crate::{
    fixture::Fixture,
    runner::{self, BenchJob, ChildError, ChildTarget, ProfileJob},
};
use infer_measure::{
    confidence::CiTarget,
    environment::Environment,
    profile::ProfileSummary,
    results::{
        BenchRow,
        comparison::{Comparison, PROFILE_NODES, RowStatus},
    },
    rounds,
    timing::{BenchConfig, Stop},
    workload::Workload,
};
use infer_report::progress::Reports;

/// The batch sizes compared when none are asked (and the model's batch is not fixed).
pub const DEFAULT_BATCH_SIZES: [usize; 2] = [1, 8];

/// Settings of a comparison.
#[derive(Debug, Clone)]
pub struct CompareSpec {
    /// One fixture folder (with `meta.json`, made by `cargo xtask fixtures`), or model files
    /// and folders, the first one the reference of the others' outputs.
    pub models: Vec<PathBuf>,
    /// Devices to try.
    pub devices: Vec<Device>,
    /// Batch sizes; none: [`DEFAULT_BATCH_SIZES`], or with model files whose first has a fixed
    /// batch, that batch.
    pub batch_sizes: Vec<usize>,
    /// Timing.
    pub config: BenchConfig,
    /// Intra-op threads for every backend (0 = default).
    pub threads: usize,
    /// Tolerance on the difference to the reference output.
    pub tolerance: f64,
    /// Child processes per (backend, device), taken in turns with the other backends and pooled
    /// (see [`infer_measure::rounds`]); 1 measures each once.
    pub rounds: usize,
    /// Profiled runs of the operator profile taken after the rounds (0: no profile).
    pub profile_runs: usize,
    /// What the inputs are made of, passed to every child (the profile child gets the first
    /// combination of `--dim` sizes). With model files, given in the first file's input names.
    pub workload: Workload,
    /// Stop on confidence (`--target-ci`, the default): rounds until every row's interval is within
    /// the target or its budget is spent; `rounds` is then the most rounds. `None`: exactly
    /// `rounds` rounds of `config`'s count or duration.
    pub target: Option<RoundsTarget>,
}

/// Stopping on confidence across rounds: each row is measured in rounds of
/// [`RoundsTarget::per_round`] calls until the 95% interval of its median, resampling the rounds
/// ([`infer_measure::rounds::converge`]), is within the target — from `min_rounds` rounds on, so
/// the spread between processes is measured — or until its measured calls reach the target's
/// `max_time` (or the next round would take it past it). Rounds of one size weigh alike in the
/// pooled median: a round that stopped on its own interval would give a noisy process more calls,
/// and so more weight, than a quiet one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoundsTarget {
    /// The interval asked of every row, and its budget of measured calls summed over the rounds.
    pub ci: CiTarget,
    /// Rounds before a row can count as reached.
    pub min_rounds: usize,
    /// Timed calls per row and round.
    pub per_round: usize,
}

/// Timed calls per row and round of a comparison with a target.
pub const PER_ROUND: usize = 20;

impl RoundsTarget {
    /// Whether `row` needs no more rounds: its target reached, its budget spent, or too little of
    /// it left for another round at the pace of its last round.
    #[must_use]
    pub fn done(&self, row: &BenchRow) -> bool {
        let spent_s = row.samples_ms.iter().sum::<f64>() / 1e3;
        let last_median_s = rounds::round_medians(row).last().copied().unwrap_or(0.0) / 1e3;
        #[allow(clippy::cast_precision_loss)]
        let next_s = last_median_s * self.per_round as f64;
        let budget = self.ci.max_time.as_secs_f64();
        row.convergence.as_ref().is_some_and(|c| c.reached) || spent_s >= budget || spent_s + next_s > budget * 1.1
    }
}

/// Runs the comparison, reporting nothing; `exe` is the `infer` binary used for the child
/// processes.
///
/// # Errors
/// As [`compare_each`].
pub fn compare(registry: &Registry, exe: &Path, spec: &CompareSpec) -> Result<Comparison> {
    compare_each(registry, exe, spec, &Reports::new())
}

/// As [`compare`], telling `reporter` when each child starts, handing it the comparison so far
/// after each row ([`Reports::progress`]) and the finished one at the end
/// ([`Reports::final_summary`]). After Ctrl-C ([`crate::interrupt::requested`], once
/// [`crate::interrupt::watch`] was called) the running child is killed and it and every
/// remaining row get the status [`RowStatus::Interrupted`].
///
/// # Errors
/// When the fixture cannot be read; with model files, those of preparing them (a file no backend
/// reads, inputs that cannot be matched, no reference output: see `files::prepare`); and the first
/// error of the reporter. Each row's own failure is recorded in its entry.
pub fn compare_each(registry: &Registry, exe: &Path, spec: &CompareSpec, reporter: &Reports) -> Result<Comparison> {
    let scratch = tempfile::tempdir().map_err(|e| infer_core::Error::io(std::env::temp_dir(), e))?;
    let (model, mut slots, batch_sizes) = match spec.models.as_slice() {
        [] => return Err(infer_core::Error::InvalidInput("no model to compare".into())),
        [dir] if Fixture::is_fixture(dir) => {
            let fixture = Fixture::open(dir)?;
            let workload = fixture.workload(&spec.workload);
            let slots = plan::fixture_slots(registry, &fixture, &spec.devices, &workload);
            (fixture.meta.model.clone(), slots, DEFAULT_BATCH_SIZES.to_vec())
        }
        _ => {
            let prepared = files::prepare(registry, exe, spec, scratch.path())?;
            (prepared.name, prepared.slots, prepared.batch_sizes)
        }
    };
    let resolved;
    let spec = if spec.batch_sizes.is_empty() {
        resolved = CompareSpec { batch_sizes, ..spec.clone() };
        &resolved
    } else {
        spec
    };
    let model = model.as_str();
    // Measured in rounds, each round visiting every backend in turn.
    let rounds = spec.rounds.max(1);
    let mut first = true;
    for round in 1..=rounds {
        let mut measured = false;
        for i in 0..slots.len() {
            // Not measurable, failed in an earlier round (that error stands), or done.
            let Some(batch_sizes) = pending_batches(&slots[i], spec) else { continue };
            if !first {
                reporter.progress(&snapshot(model, spec, &slots))?;
            }
            first = false;
            measured = true;
            measure_round(&mut slots[i], (i, round, rounds), &batch_sizes, exe, spec, scratch.path(), reporter);
        }
        if !measured {
            break;
        }
    }
    if spec.profile_runs > 0 {
        for i in 0..slots.len() {
            if slots[i].entry.report.is_none() || slots[i].target.is_none() || crate::interrupt::requested() {
                continue;
            }
            reporter.progress(&snapshot(model, spec, &slots))?;
            let Slot { entry: e, target: Some(target) } = &mut slots[i] else { continue };
            reporter.profile_start(&e.backend, e.device);
            let json = scratch.path().join(format!("{}-profile.json", file_stem(i, &target.backend, e.device)));
            let child = child_target(exe, target, e.device, spec);
            match profile_child(&child, target, spec, &json) {
                Ok(mut p) => {
                    p.by_node.truncate(PROFILE_NODES);
                    e.profile = Some(p);
                }
                Err(_) if crate::interrupt::requested() => {}
                Err(err) => e.profile_error = Some(err.to_string()),
            }
        }
    }
    let done = snapshot(model, spec, &slots);
    reporter.final_summary(&done)?;
    Ok(done)
}

/// The batch sizes a slot's next round measures: all of them at first; with a target, those of
/// its rows not done yet; `None` when it needs no round (cannot run, failed, or every row done).
fn pending_batches(slot: &Slot, spec: &CompareSpec) -> Option<Vec<usize>> {
    if !slot.runnable() {
        return None;
    }
    let (Some(target), Some(report)) = (&spec.target, &slot.entry.report) else {
        return Some(spec.batch_sizes.clone());
    };
    let mut sizes: Vec<usize> = Vec::new();
    for row in report.rows.iter().filter(|r| !target.done(r)) {
        if !sizes.contains(&row.batch_size) {
            sizes.push(row.batch_size);
        }
    }
    (!sizes.is_empty()).then_some(sizes)
}

/// One round of one slot: its child measures `batch_sizes`, and the report is pooled with the
/// rounds before (with a target, each row's interval across the rounds is recomputed). A failure
/// or Ctrl-C becomes the slot's status; the rows of earlier rounds are kept.
fn measure_round(
    slot: &mut Slot,
    (i, round, rounds): (usize, usize, usize),
    batch_sizes: &[usize],
    exe: &Path,
    spec: &CompareSpec,
    scratch: &Path,
    reporter: &Reports,
) {
    let Slot { entry: e, target: Some(target) } = slot else { return };
    if crate::interrupt::requested() {
        if e.report.is_none() {
            e.status = RowStatus::Interrupted;
        }
        return;
    }
    reporter.measurement_start(&e.backend, e.device, round, rounds);
    let json = scratch.join(format!("{}-{round}.json", file_stem(i, &target.backend, e.device)));
    let child = child_target(exe, target, e.device, spec);
    let in_round =
        |err: &dyn std::fmt::Display| RowStatus::Error { message: format!("round {round} of {rounds}: {err}") };
    // With a target, rounds of one size (see [`RoundsTarget`]).
    let config = match &spec.target {
        Some(t) => BenchConfig { stop: Stop::Iterations(t.per_round), ..spec.config },
        None => spec.config,
    };
    match run_child(&child, target, (batch_sizes, config), &json, round) {
        Ok(mut report) => {
            label(&mut report, &e.backend, &target.dim_names);
            let pooled = match e.report.as_mut() {
                Some(pooled) => rounds::pool(pooled, report).map(|()| pooled),
                None => {
                    e.status = RowStatus::Ok;
                    Ok(e.report.insert(report))
                }
            };
            let converged = pooled.and_then(|pooled| match &spec.target {
                Some(t) => pooled.rows.iter_mut().try_for_each(|row| rounds::converge(row, &t.ci, t.min_rounds)),
                None => Ok(()),
            });
            if let Err(err) = converged {
                e.status = in_round(&err);
            }
        }
        Err(_) if crate::interrupt::requested() && e.report.is_none() => e.status = RowStatus::Interrupted,
        Err(_) if crate::interrupt::requested() => {}
        Err(err) if rounds > 1 && e.report.is_some() => e.status = in_round(&err),
        Err(err) => e.status = RowStatus::Error { message: err.to_string() },
    }
}

/// `3-onnx-cuda0`: a file name for one slot's child output.
fn file_stem(slot: usize, backend: &str, device: Device) -> String {
    format!("{slot}-{backend}-{}", device.to_string().replace(':', ""))
}

/// Gives a child's report the row's label (`onnx (model.onnx)` with model files), so that every
/// table and analysis keeps rows of two files apart, and its rows' unnamed dimensions the symbol
/// they stand for (`dim_names`).
fn label(
    report: &mut infer_measure::results::BenchReport,
    label: &str,
    dim_names: &std::collections::BTreeMap<String, String>,
) {
    report.backend = label.into();
    for row in &mut report.rows {
        row.backend = label.into();
        let dims = std::mem::take(&mut row.dims);
        for (key, size) in dims {
            row.dims.entry(dim_names.get(&key).cloned().unwrap_or(key)).or_insert(size);
        }
    }
}

/// The comparison made of the entries so far (the ones not measured yet are left out).
fn snapshot(model: &str, spec: &CompareSpec, slots: &[Slot]) -> Comparison {
    let entries: Vec<_> =
        slots.iter().map(|s| s.entry.clone()).filter(|e| !matches!(e.status, RowStatus::Pending)).collect();
    let mut environment = Environment::capture(spec.threads);
    for e in &entries {
        if let Some(r) = &e.report {
            environment.versions.extend(r.environment.versions.clone());
        }
    }
    Comparison { model: model.into(), environment, tolerance: spec.tolerance, entries }
}

/// The child target of one slot on `device`.
fn child_target(exe: &Path, target: &Target, device: Device, spec: &CompareSpec) -> ChildTarget {
    ChildTarget {
        exe: exe.to_path_buf(),
        model: target.model.clone(),
        backend: target.backend.clone(),
        device,
        threads: spec.threads,
    }
}

/// One round of `infer bench` on `batch_sizes` as `config` says, checked against the slot's
/// reference.
fn run_child(
    child: &ChildTarget,
    target: &Target,
    (batch_sizes, config): (&[usize], BenchConfig),
    json: &Path,
    round: usize,
) -> std::result::Result<infer_measure::results::BenchReport, ChildError> {
    let job = BenchJob {
        batch_sizes: batch_sizes.to_vec(),
        config,
        workload: target.workload.clone(),
        reference: target.reference.clone(),
        memory_limit: None,
    };
    let mut cmd = child.bench(&job, json);
    // Which round this child is (1-based): for its log, and the tests' crash hook.
    cmd.env("INFER_ROUND", round.to_string());
    runner::run(cmd, json)
}

/// `infer profile` of one (backend, device) at the first batch size, after 2 warm-up runs.
fn profile_child(
    child: &ChildTarget,
    target: &Target,
    spec: &CompareSpec,
    json: &Path,
) -> std::result::Result<ProfileSummary, ChildError> {
    let first = target.workload.points().swap_remove(0);
    let job = ProfileJob {
        batch_size: spec.batch_sizes.first().copied().unwrap_or(1),
        runs: spec.profile_runs,
        warmup: 2,
        workload: target.workload.at(&first),
    };
    runner::run(child.profile(&job, json), json)
}
