//! `infer compare`: every backend and device on one fixture folder, or on the user's own model
//! files (each read by every backend that reads it, checked against the first file's output).

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use crate::{
    compare::{
        CompareSpec, PER_ROUND, RoundsTarget, compare_each,
        serving::{Batching, ServingSpec, compare_serving},
    },
    interrupt,
};
use anyhow::Context;
use clap::Args;
use infer_core::Registry;
use infer_measure::{
    results::comparison::RowStatus,
    scenario::ScenarioKind,
    timing::{BenchConfig, Stop, Warmup, parse_duration},
};
use infer_report::{progress::Reports, report::Format};

use super::{
    Devices, Sizes, WorkloadArgs, bench::scenario::ScenarioArgs, confidence::ConfidenceArgs, parse_devices, parse_sizes,
};

/// Arguments of `infer compare`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 success, 1 error (a row that failed, none measured) or a difference above the tolerance, 2 bad arguments, \
                        130 interrupted by Ctrl-C (the rows measured so far are kept in the reports)."
)]
pub struct CompareArgs {
    /// Model files or SavedModel folders (.onnx, TorchScript .pt, saved_model/, …), every backend that
    /// reads each file measuring it, each fed the same inputs (--input, else synthetic) and checked
    /// against the first file's output (max abs and relative difference, top-1 agreement); or one
    /// fixture folder with meta.json (made by `cargo xtask fixtures`).
    #[arg(required = true, value_name = "MODEL")]
    models: Vec<PathBuf>,
    /// Devices, comma-separated.
    #[arg(long, short, default_value = "cpu,cuda", value_parser = parse_devices)]
    device: Devices,
    /// Batch sizes, comma-separated (default 1,8, or the batch of a model that fixes it; with
    /// --scenario offline, the sizes it tries, default 1,2,4,8,16,32).
    #[arg(long, value_parser = parse_sizes)]
    batch_sizes: Option<Sizes>,
    /// Untimed warm-up iterations per batch size, or `auto`: windows of 5 until the window
    /// median changes by less than 3% (at most 100 iterations or 20 s).
    #[arg(long, default_value = "auto")]
    warmup: Warmup,
    /// Timed iterations per batch size and round (3 rounds of 40 pool 120 samples): a fixed count
    /// instead of the default --target-ci.
    #[arg(long, conflicts_with = "duration")]
    iterations: Option<usize>,
    /// Time per batch size instead of a count, e.g. 10s.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Child processes per backend and device, taken in turns with the other backends; their
    /// samples are pooled and the spread of their medians reported. One process's median can sit
    /// several percent from the next one's on the same machine, so 3 rounds make two comparisons
    /// agree where one round cannot. With a target (the default), the fewest rounds before a row
    /// can count as reached; given without --target-ci, exactly that many rounds of --iterations.
    /// Default 3.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100))]
    rounds: Option<u64>,
    #[command(flatten)]
    confidence: ConfidenceArgs,
    /// Profiled runs of each backend's operator profile, taken in a child process after the
    /// timed rounds at the first batch size (0: no profile).
    /// Default 5.
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    profile_runs: Option<u64>,
    /// Intra-op threads, the same for every backend (0 = one per physical core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Largest acceptable max abs difference to the reference output (with model files: the first
    /// file's output).
    #[arg(long, default_value_t = 1e-4)]
    tolerance: f64,
    /// Folder for compare.json, compare.csv, compare.md and compare.html.
    #[arg(long, short, default_value = "results")]
    out: PathBuf,
    #[command(flatten)]
    workload: WorkloadArgs,
    /// A value given on every call, NAME=VALUE (repeatable), as in `infer bench`: an argument
    /// that is not a tensor (a TorchScript `sr: int`), or a scalar input (rank 0) of any model.
    #[arg(long = "arg", value_name = "NAME=VALUE", value_parser = infer_core::args::parse_arg)]
    args: Vec<(String, String)>,
    /// The serving scenarios (`--scenario offline|server`, as in `infer bench`): each backend
    /// and device runs the scenario in its own child; with --scenario server, once without and
    /// once with the dynamic batcher (--dynamic-batch, default 8, --batch-timeout, default 2ms).
    /// Writes serving.json (every request's record), serving.md and serving.html.
    #[command(flatten)]
    serving: ScenarioArgs,
}

/// The interval every row of `infer compare` is held to unless told otherwise: ±2% of the median.
pub const DEFAULT_TARGET: f64 = 0.02;
/// A row's budget of measured calls, summed over its rounds, unless --max-time says otherwise.
pub const DEFAULT_MAX_TIME: Duration = Duration::from_secs(30);
/// The most rounds with a target.
pub const MAX_ROUNDS: usize = 10;

/// The dynamic batcher `infer compare --scenario server` measures beside no batching when
/// `--dynamic-batch` is not given: up to 8 requests, the oldest waiting at most 2 ms.
pub const DEFAULT_DYNAMIC_BATCH: (u16, Duration) = (8, Duration::from_millis(2));

pub fn compare(registry: &Registry, a: &CompareArgs) -> anyhow::Result<ExitCode> {
    if a.serving.scenario != ScenarioKind::SingleStream {
        return serving(registry, a);
    }
    a.serving.check(false, false)?;
    let target = rounds_target(a)?;
    let stop = a.duration.map_or(Stop::Iterations(a.iterations.unwrap_or(40).max(1)), Stop::Duration);
    let rounds = usize::try_from(a.rounds.unwrap_or(3))?;
    let spec = CompareSpec {
        models: a.models.clone(),
        devices: a.device.0.clone(),
        batch_sizes: a.batch_sizes.as_ref().map_or_else(Vec::new, |s| s.0.clone()),
        config: BenchConfig { warmup: a.warmup, stop },
        threads: threads(a),
        tolerance: a.tolerance,
        rounds: if target.is_some() { MAX_ROUNDS.max(rounds) } else { rounds },
        profile_runs: usize::try_from(a.profile_runs.unwrap_or(5))?,
        workload: a.workload.workload(a.args.iter().cloned().collect()),
        target,
    };
    spec.workload.check()?;
    // The files are rewritten (atomically) after every entry, and Ctrl-C stops the running child,
    // marks the rest "interrupted" and keeps every row already measured; the terminal shows
    // progress, then the tables.
    let exe = prepare(&a.out, "compare.json")?;
    let reports = Reports::compare_files(&a.out).terminal();
    let c = compare_each(registry, &exe, &spec, &reports)?;
    for f in reports.paths() {
        eprintln!("wrote {}", f.display());
    }
    let mismatch =
        c.entries.iter().filter_map(|e| e.report.as_ref()?.max_abs_diff).any(|d| d.is_nan() || d > a.tolerance);
    let rows: Vec<_> =
        c.entries.iter().map(|e| (format!("{} {}", e.backend, e.device), &e.status, e.report.is_some())).collect();
    Ok(exit_code(
        &a.out,
        &rows,
        mismatch.then(|| format!("some outputs differ from the reference by more than {:.0e}", a.tolerance)),
    ))
}

/// Stop on confidence or a fixed count: `--target-ci P%` (or, by default, ±2%) across at least
/// `--rounds` rounds; `--iterations`, `--duration` or `--rounds` given without `--target-ci`, or
/// `--target-ci off`, keep the fixed rounds of a count.
fn rounds_target(a: &CompareArgs) -> anyhow::Result<Option<RoundsTarget>> {
    let fixed = a.iterations.is_some() || a.duration.is_some();
    let explicit = a.confidence.target(DEFAULT_MAX_TIME)?;
    if explicit.is_some() && fixed {
        anyhow::bail!(
            "--target-ci stops on confidence: do not give --iterations or --duration (or give --target-ci off)"
        );
    }
    let ci = match (explicit, &a.confidence.target_ci) {
        (Some(t), _) => t,
        (None, Some(_)) => return Ok(None), // off
        (None, None) if fixed || a.rounds.is_some() => return Ok(None),
        (None, None) => infer_measure::confidence::CiTarget::median(DEFAULT_TARGET, DEFAULT_MAX_TIME),
    };
    Ok(Some(RoundsTarget { ci, min_rounds: usize::try_from(a.rounds.unwrap_or(3))?, per_round: PER_ROUND }))
}

/// The intra-op threads every child gets: `--threads`, or one per physical core for 0.
fn threads(a: &CompareArgs) -> usize {
    if a.threads == 0 { infer_measure::environment::Environment::default_threads() } else { a.threads }
}

/// Before any child runs: the output folder made and `first` in it known writable, Ctrl-C
/// watched; returns the `infer` executable for the children.
fn prepare(out: &Path, first: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the infer executable for the child processes")?;
    std::fs::create_dir_all(out).map_err(|e| infer_core::Error::io(out, e))?;
    infer_core::fsutil::check_writable(&out.join(first))?;
    interrupt::watch().map_err(anyhow::Error::msg)?;
    Ok(exe)
}

/// The exit code of a finished comparison, saying why on stderr: Ctrl-C (130, the rows kept in
/// `out`), no row measured, `error` (a check of the comparison's own), a row that failed.
/// `rows` are (label, status, measured).
fn exit_code(out: &Path, rows: &[(String, &RowStatus, bool)], error: Option<String>) -> ExitCode {
    if rows.iter().any(|(_, status, _)| matches!(status, RowStatus::Interrupted)) {
        eprintln!("interrupted: the rows measured so far are kept in {}", out.display());
        return ExitCode::from(interrupt::EXIT_INTERRUPTED);
    }
    if !rows.iter().any(|(_, _, measured)| *measured) {
        eprintln!("error: no backend could be measured (see the status column)");
        return ExitCode::FAILURE;
    }
    if let Some(error) = error {
        eprintln!("error: {error}");
        return ExitCode::FAILURE;
    }
    let failed: Vec<&str> = rows.iter().filter(|(_, s, _)| s.is_error()).map(|(label, _, _)| label.as_str()).collect();
    if !failed.is_empty() {
        eprintln!("error: {} failed (see the status column; the other rows are kept)", failed.join("; "));
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// `infer compare --scenario offline|server`: the serving scenario on every backend and device.
fn serving(registry: &Registry, a: &CompareArgs) -> anyhow::Result<ExitCode> {
    a.serving.check(false, false)?;
    if a.rounds.is_some() || a.profile_runs.is_some() {
        anyhow::bail!(
            "--rounds and --profile-runs apply to single-stream comparisons, not --scenario {}",
            a.serving.scenario
        );
    }
    let batch_sizes = a.batch_sizes.as_ref().map(|s| s.0.as_slice());
    let batchings = if a.serving.scenario == ScenarioKind::Server {
        let (max, timeout) = a.serving.dynamic_batch().unwrap_or(DEFAULT_DYNAMIC_BATCH);
        vec![Batching::none(), Batching::dynamic(max, timeout.as_secs_f64() * 1e3)]
    } else {
        vec![Batching { label: "-".into(), args: Vec::new() }]
    };
    let [fixture] = a.models.as_slice() else {
        anyhow::bail!(
            "--scenario {} compares one fixture folder (made by `cargo xtask fixtures`), not {} model files",
            a.serving.scenario,
            a.models.len()
        );
    };
    if !fixture.join("meta.json").is_file() {
        anyhow::bail!(
            "{}: --scenario {} expects a fixture folder with meta.json (made by `cargo xtask fixtures`), found none",
            fixture.display(),
            a.serving.scenario
        );
    }
    let spec = ServingSpec {
        fixture: fixture.clone(),
        devices: a.device.0.clone(),
        threads: threads(a),
        warmup: a.warmup,
        workload: a.workload.workload(a.args.iter().cloned().collect()),
        scenario: a.serving.scenario,
        options: [a.serving.child_options(a.duration, batch_sizes), a.confidence.child_args()].concat(),
        batchings,
    };
    spec.workload.check()?;
    let exe = prepare(&a.out, "serving.json")?;
    // serving.json keeps every request's record; the terminal shows which row starts, then the table.
    let reports =
        Reports::new().files_in(&a.out, "serving", &[Format::Json, Format::Markdown, Format::Html]).terminal();
    let c = compare_serving(registry, &exe, &spec, &reports)?;
    for f in reports.paths() {
        eprintln!("wrote {}", f.display());
    }
    let rows: Vec<_> = c.rows.iter().map(|r| (r.label(), &r.status, r.report.is_some())).collect();
    Ok(exit_code(&a.out, &rows, None))
}
