//! `infer compare`: every backend and device on one fixture folder, or on the user's own model
//! files (each read by every backend that reads it, checked against the first file's output).

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Context;
use clap::Args;
use infer_core::Registry;
use infer_harness::{
    bench::{BenchConfig, Stop, Warmup, parse_duration},
    compare::{CompareSpec, compare_each},
    comparison::RowStatus,
    interrupt,
    reporters::{Reporter, Reports, TerminalReport},
};

use super::{Devices, Sizes, WorkloadArgs, parse_devices, parse_sizes};

/// Arguments of `infer compare`.
#[derive(Debug, Args)]
#[command(after_help = "Exit codes: 0 success, 1 error or a difference above the tolerance, 2 bad arguments, \
                        130 interrupted by Ctrl-C (the rows measured so far are kept in the reports).")]
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
    /// Batch sizes, comma-separated.
    #[arg(long, default_value = "1,8", value_parser = parse_sizes)]
    batch_sizes: Sizes,
    /// Untimed warm-up iterations per batch size, or `auto`: windows of 5 until the window
    /// median changes by less than 3% (at most 100 iterations or 20 s).
    #[arg(long, default_value = "auto")]
    warmup: Warmup,
    /// Timed iterations per batch size and round (3 rounds of 40 pool 120 samples).
    #[arg(long, default_value_t = 40, conflicts_with = "duration")]
    iterations: usize,
    /// Time per batch size instead of a count, e.g. 10s.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Child processes per backend and device, taken in turns with the other backends; their
    /// samples are pooled and the spread of their medians reported. One process's median can sit
    /// several percent from the next one's on the same machine, so 3 rounds make two comparisons
    /// agree where one round cannot.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=100))]
    rounds: u64,
    /// Profiled runs of each backend's operator profile, taken in a child process after the
    /// timed rounds at the first batch size (0: no profile).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    profile_runs: u64,
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
}

pub fn compare(registry: &Registry, a: &CompareArgs) -> anyhow::Result<ExitCode> {
    let stop = a.duration.map_or(Stop::Iterations(a.iterations.max(1)), Stop::Duration);
    let spec = CompareSpec {
        models: a.models.clone(),
        devices: a.device.0.clone(),
        batch_sizes: a.batch_sizes.0.clone(),
        config: BenchConfig { warmup: a.warmup, stop },
        threads: if a.threads == 0 { infer_harness::environment::Environment::default_threads() } else { a.threads },
        tolerance: a.tolerance,
        rounds: usize::try_from(a.rounds)?,
        profile_runs: usize::try_from(a.profile_runs)?,
        workload: a.workload.workload(),
    };
    spec.workload.check()?;
    let exe = std::env::current_exe().context("cannot find the infer executable for the child processes")?;
    // The files are rewritten (atomically) after every entry, and Ctrl-C stops the running child,
    // marks the rest "interrupted" and keeps every row already measured; the terminal shows
    // progress, then the tables.
    std::fs::create_dir_all(&a.out).map_err(|e| infer_core::Error::io(&a.out, e))?;
    infer_core::fsutil::check_writable(&a.out.join("compare.json"))?;
    interrupt::watch().map_err(anyhow::Error::msg)?;
    let reports = Reports::files(&a.out).with(TerminalReport);
    let c = compare_each(registry, &exe, &spec, &reports)?;
    for f in reports.files() {
        eprintln!("wrote {}", f.display());
    }
    if c.entries.iter().any(|e| matches!(e.status, RowStatus::Interrupted)) {
        eprintln!("interrupted: the rows measured so far are kept in {}", a.out.display());
        return Ok(ExitCode::from(interrupt::EXIT_INTERRUPTED));
    }
    let mismatch =
        c.entries.iter().filter_map(|e| e.report.as_ref()?.max_abs_diff).any(|d| d.is_nan() || d > a.tolerance);
    let measured = c.entries.iter().any(|e| e.report.is_some());
    if !measured {
        eprintln!("error: no backend could be measured (see the status column)");
        return Ok(ExitCode::FAILURE);
    }
    if mismatch {
        eprintln!("error: some outputs differ from the reference by more than {:.0e}", a.tolerance);
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
