//! `infer compare`'s orchestration: the same workload on every backend and device, each
//! measured in its own child process ([`crate::runner`]) so a crash in native code becomes that
//! row's error and loses no other row. `--rounds` children per (backend, device), taken in turns
//! across the backends and pooled ([`crate::rounds`]), then one profile child each; the
//! comparison so far goes to the [`Reporter`] after every row, so a crash or Ctrl-C loses
//! nothing already measured.

mod plan;
pub mod serving;

use std::path::{Path, PathBuf};

use infer_core::{Device, Registry, Result};

use self::plan::Slot;
use crate::{
    bench::BenchConfig,
    comparison::{Comparison, PROFILE_NODES, RowStatus},
    environment::Environment,
    fixture::{Fixture, FormatEntry},
    profile::ProfileSummary,
    reporters::{Reporter, Reports},
    rounds,
    runner::{self, BenchJob, ChildError, ChildTarget, ProfileJob},
    workload::Workload,
};

/// Settings of a comparison.
#[derive(Debug, Clone)]
pub struct CompareSpec {
    /// The fixture folder.
    pub fixture: PathBuf,
    /// Devices to try.
    pub devices: Vec<Device>,
    /// Batch sizes.
    pub batch_sizes: Vec<usize>,
    /// Timing.
    pub config: BenchConfig,
    /// Intra-op threads for every backend (0 = default).
    pub threads: usize,
    /// Tolerance on the difference to the reference output.
    pub tolerance: f64,
    /// Child processes per (backend, device), taken in turns with the other backends and pooled
    /// (see [`crate::rounds`]); 1 measures each once.
    pub rounds: usize,
    /// Profiled runs of the operator profile taken after the rounds (0: no profile).
    pub profile_runs: usize,
    /// What the inputs are made of, passed to every child (the profile child gets the first
    /// combination of `--dim` sizes).
    pub workload: Workload,
}

/// Runs the comparison, reporting nothing; `exe` is the `infer` binary used for the child
/// processes.
///
/// # Errors
/// Only when the fixture cannot be read: each row's failure is recorded in its entry.
pub fn compare(registry: &Registry, exe: &Path, spec: &CompareSpec) -> Result<Comparison> {
    compare_each(registry, exe, spec, &Reports::new())
}

/// As [`compare`], telling `reporter` when each child starts, handing it the comparison so far
/// after each row ([`Reporter::progress`]) and the finished one at the end
/// ([`Reporter::final_summary`]). After Ctrl-C ([`crate::interrupt::requested`], once
/// [`crate::interrupt::watch`] was called) the running child is killed and it and every
/// remaining row get the status [`RowStatus::Interrupted`].
///
/// # Errors
/// When the fixture cannot be read, and the first error of the reporter.
pub fn compare_each(
    registry: &Registry,
    exe: &Path,
    spec: &CompareSpec,
    reporter: &dyn Reporter,
) -> Result<Comparison> {
    let fixture = Fixture::open(&spec.fixture)?;
    let scratch = tempfile::tempdir().map_err(|e| infer_core::Error::io(std::env::temp_dir(), e))?;
    let mut slots = plan::slots(registry, &fixture, &spec.devices);
    // Measured in rounds, each round visiting every backend in turn.
    let rounds = spec.rounds.max(1);
    let mut first = true;
    for round in 1..=rounds {
        for i in 0..slots.len() {
            // Not measurable, or failed in an earlier round (that error stands).
            if !slots[i].runnable() {
                continue;
            }
            if !first {
                reporter.progress(&snapshot(&fixture, spec, &slots))?;
            }
            first = false;
            let Slot { entry: e, format: Some(format) } = &mut slots[i] else { continue };
            if crate::interrupt::requested() {
                if e.report.is_none() {
                    e.status = RowStatus::Interrupted;
                }
                continue;
            }
            reporter.measurement_start(&e.backend, e.device, round, rounds);
            let json = scratch.path().join(format!("{}-{round}.json", file_stem(&e.backend, e.device)));
            let target = child_target(exe, &fixture, format, &e.backend, e.device, spec);
            let in_round =
                |err: &dyn std::fmt::Display| RowStatus::Error { message: format!("round {round} of {rounds}: {err}") };
            match run_child(&target, &fixture, format, spec, &json, round) {
                Ok(report) => match e.report.as_mut() {
                    Some(pooled) => {
                        if let Err(err) = rounds::pool(pooled, report) {
                            e.status = in_round(&err);
                        }
                    }
                    None => {
                        e.report = Some(report);
                        e.status = RowStatus::Ok;
                    }
                },
                Err(_) if crate::interrupt::requested() && e.report.is_none() => e.status = RowStatus::Interrupted,
                Err(_) if crate::interrupt::requested() => {}
                Err(err) if rounds > 1 && e.report.is_some() => e.status = in_round(&err),
                Err(err) => e.status = RowStatus::Error { message: err.to_string() },
            }
        }
    }
    if spec.profile_runs > 0 {
        for i in 0..slots.len() {
            if slots[i].entry.report.is_none() || slots[i].format.is_none() || crate::interrupt::requested() {
                continue;
            }
            reporter.progress(&snapshot(&fixture, spec, &slots))?;
            let Slot { entry: e, format: Some(format) } = &mut slots[i] else { continue };
            reporter.profile_start(&e.backend, e.device);
            let json = scratch.path().join(format!("{}-profile.json", file_stem(&e.backend, e.device)));
            let target = child_target(exe, &fixture, format, &e.backend, e.device, spec);
            match profile_child(&target, spec, &json) {
                Ok(mut p) => {
                    p.by_node.truncate(PROFILE_NODES);
                    e.profile = Some(p);
                }
                Err(_) if crate::interrupt::requested() => {}
                Err(err) => e.profile_error = Some(err.to_string()),
            }
        }
    }
    let done = snapshot(&fixture, spec, &slots);
    reporter.final_summary(&done)?;
    Ok(done)
}

/// `onnx-cuda0`: a file name for one (backend, device)'s child output.
fn file_stem(backend: &str, device: Device) -> String {
    format!("{backend}-{}", device.to_string().replace(':', ""))
}

/// The comparison made of the entries so far (the ones not measured yet are left out).
fn snapshot(fixture: &Fixture, spec: &CompareSpec, slots: &[Slot<'_>]) -> Comparison {
    let entries: Vec<_> =
        slots.iter().map(|s| s.entry.clone()).filter(|e| !matches!(e.status, RowStatus::Pending)).collect();
    let mut environment = Environment::capture(spec.threads);
    for e in &entries {
        if let Some(r) = &e.report {
            environment.versions.extend(r.environment.versions.clone());
        }
    }
    Comparison { model: fixture.meta.model.clone(), environment, tolerance: spec.tolerance, entries }
}

/// The child target of the fixture's model in `format` for one (backend, device).
fn child_target(
    exe: &Path,
    fixture: &Fixture,
    format: &FormatEntry,
    backend: &str,
    device: Device,
    spec: &CompareSpec,
) -> ChildTarget {
    ChildTarget {
        exe: exe.to_path_buf(),
        model: fixture.path(&format.file),
        backend: backend.into(),
        device,
        threads: spec.threads,
    }
}

/// One round of `infer bench` on every batch size, checked against the format's reference.
fn run_child(
    target: &ChildTarget,
    fixture: &Fixture,
    format: &FormatEntry,
    spec: &CompareSpec,
    json: &Path,
    round: usize,
) -> std::result::Result<crate::report::BenchReport, ChildError> {
    let job = BenchJob {
        batch_sizes: spec.batch_sizes.clone(),
        config: spec.config,
        workload: spec.workload.clone(),
        reference: Some((fixture.input_for(format), fixture.path(&format.reference))),
        memory_limit: None,
    };
    let mut cmd = target.bench(&job, json);
    // Which round this child is (1-based): for its log, and the tests' crash hook.
    cmd.env("INFER_ROUND", round.to_string());
    runner::run(cmd, json)
}

/// `infer profile` of one (backend, device) at the first batch size, after 2 warm-up runs.
fn profile_child(
    target: &ChildTarget,
    spec: &CompareSpec,
    json: &Path,
) -> std::result::Result<ProfileSummary, ChildError> {
    let first = spec.workload.points().swap_remove(0);
    let job = ProfileJob {
        batch_size: spec.batch_sizes.first().copied().unwrap_or(1),
        runs: spec.profile_runs,
        warmup: 2,
        workload: spec.workload.at(&first),
    };
    runner::run(target.profile(&job, json), json)
}
