//! `infer bench`: latency statistics per batch size and device.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Args;
use infer_core::{Device, Registry};
use infer_measure::{
    batch_search::probe_memory_limit,
    host::HostOptions,
    measure::{MeasureSpec, measure_each},
    memory::{self, parse_bytes},
    results::BenchReport,
    scenario::ScenarioKind,
    timing::{BenchConfig, Stop, Warmup, parse_duration},
    workload::Workload,
};
use infer_report::report::{Format, Report, save};

use super::{Devices, ModelArgs, Sizes, WorkloadArgs, confidence::ConfidenceArgs, parse_devices, parse_sizes};

pub(super) mod lengths;
pub(super) mod scenario;

/// Arguments of `infer bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub(super) model: ModelArgs,
    /// Batch sizes to time, comma-separated (default: the model's static batch, else 1; with --sweep
    /// 1,2,4,8,16,32).
    #[arg(long, visible_alias = "batch", value_parser = parse_sizes)]
    batch_sizes: Option<Sizes>,
    /// Throughput sweep: every batch size for a fixed duration (default 2s each unless
    /// --duration or --iterations is given), with items/s, per-item latency and the speed-up
    /// over batch 1.
    #[arg(long)]
    sweep: bool,
    /// Devices, comma-separated: cpu, cuda, cuda:N.
    #[arg(long, short, default_value = "cpu", value_parser = parse_devices)]
    device: Devices,
    /// Untimed warm-up iterations per batch size, or `auto`: windows of 5 until the window
    /// median changes by less than 3% (at most 100 iterations or 20 s); the count used is reported.
    #[arg(long, default_value = "auto")]
    warmup: Warmup,
    /// Timed iterations per batch size (default 50 unless --duration is given).
    #[arg(long, conflicts_with = "duration", value_parser = clap::value_parser!(u64).range(1..))]
    iterations: Option<u64>,
    /// Time per batch size instead of a count, e.g. 10s or 500ms.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    #[command(flatten)]
    workload: WorkloadArgs,
    /// Reference input to check correctness before timing (with --reference-output): a .npy or
    /// .pb for the first input, a .npz holding every input by name, or an ONNX test data set folder.
    #[arg(long, requires = "reference_output")]
    reference_input: Option<PathBuf>,
    /// Expected output for --reference-input: a .npy or .pb for the first output, a .npz of
    /// several, or an ONNX test data set folder (output_N.pb), matched by output name, else by
    /// position; the max abs and relative differences are reported.
    #[arg(long, requires = "reference_input")]
    reference_output: Option<PathBuf>,
    /// Write the full results (raw samples included) as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Print no table (for scripts reading --json).
    #[arg(long)]
    quiet: bool,
    /// Limit the memory this process may map beyond the libraries already loaded (e.g. 2G), so an
    /// oversized batch fails with an allocation error instead of swapping; used by
    /// `infer optimize-batch` for its probes. Not applied with a CUDA device (it makes CUDA fail
    /// to start).
    #[arg(long, value_parser = parse_bytes)]
    memory_limit: Option<u64>,
    /// Load test: N workers, each with its own session, run requests at once; reports
    /// per-request latency across workers, total throughput and RSS over time.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: Option<u16>,
    #[command(flatten)]
    pub(super) serving: scenario::ScenarioArgs,
    #[command(flatten)]
    pub(super) lengths: lengths::LengthsArgs,
    #[command(flatten)]
    pub(super) confidence: ConfidenceArgs,
}

/// The batch sizes of `--sweep`.
pub const SWEEP_SIZES: [usize; 6] = [1, 2, 4, 8, 16, 32];
/// Time per batch size of `--sweep` unless --duration or --iterations says otherwise.
pub const SWEEP_DURATION: Duration = Duration::from_secs(2);
/// The measuring budget of a row with `--target-ci` unless --max-time says otherwise.
pub const TARGET_MAX_TIME: Duration = Duration::from_secs(60);

pub fn bench(registry: &Registry, a: &BenchArgs) -> anyhow::Result<ExitCode> {
    if let Some(bytes) = a.memory_limit {
        // Not on a GPU: an address-space limit makes CUDA fail to start.
        let gpu = a.device.0.iter().copied().find(|d| d.is_gpu());
        let (limit, warning) = probe_memory_limit(gpu.unwrap_or(Device::Cpu), Some(bytes), true);
        if let Some(w) = warning {
            eprintln!("{w}");
        }
        if let Some(limit) = limit {
            memory::limit_address_space(limit).map_err(anyhow::Error::msg)?;
        }
    }
    if let Some(path) = &a.json {
        infer_core::fsutil::check_writable(path)?;
        let done = if a.serving.scenario == ScenarioKind::SingleStream { "batch sizes" } else { "devices" };
        crate::interrupt::announce(format!("interrupted: the {done} finished so far are in {}", path.display()))
            .map_err(anyhow::Error::msg)?;
    }
    let backend = crate::backends::choose(registry, &a.model.model, a.model.backend.as_deref())?;
    crash_hook(backend.name());
    a.serving.check(a.concurrency.is_some(), a.sweep)?;
    a.lengths.check()?;
    let target = a.confidence.target(TARGET_MAX_TIME)?;
    if target.is_some() && (a.iterations.is_some() || a.duration.is_some()) {
        anyhow::bail!(
            "--target-ci stops on confidence: do not give --iterations or --duration (or give --target-ci off)"
        );
    }
    if target.is_some() && a.concurrency.is_some() {
        anyhow::bail!("--target-ci does not apply to --concurrency load tests");
    }
    let workload = a.workload.workload(a.model.arg_map());
    workload.check()?;
    a.serving.check_feedback(&workload, a.concurrency.is_some())?;
    if a.serving.scenario != ScenarioKind::SingleStream {
        let plan = scenario::Plan {
            model: &a.model,
            devices: &a.device.0,
            warmup: a.warmup,
            iterations: a.iterations,
            duration: a.duration,
            batch_sizes: a.batch_sizes.as_ref().map(|s| s.0.clone()),
            workload: workload.clone(),
            json: a.json.as_deref(),
            quiet: a.quiet,
            target,
            lengths: a.lengths.lengths(a.serving.seed),
        };
        return scenario::run(backend, &a.serving, &plan);
    }
    let stop = match (a.iterations, a.duration, target) {
        (_, _, Some(t)) => Stop::Confidence(t),
        (_, Some(d), None) => Stop::Duration(d),
        (Some(n), None, None) => Stop::Iterations(usize::try_from(n)?),
        (None, None, None) if a.sweep => Stop::Duration(SWEEP_DURATION),
        (None, None, None) => Stop::Iterations(50),
    };
    // Without --batch-sizes, the size --shape gives at the batch axis (where every --shape
    // agrees) is the batch, else the model's own (its static batch, or 1), found once it is
    // loaded (`Plan::default_batch`).
    let batch_sizes = match (&a.batch_sizes, a.sweep) {
        (Some(s), _) => s.0.clone(),
        (None, true) => SWEEP_SIZES.to_vec(),
        (None, false) => Vec::new(),
    };
    if let Some(lengths) = a.lengths.lengths(a.serving.seed) {
        if a.concurrency.is_some() || a.sweep {
            anyhow::bail!("--lengths does not combine with --concurrency or --sweep");
        }
        if let Some(pair) = workload.feedback.first() {
            anyhow::bail!("--feedback {pair} does not combine with --lengths: a carried state has one length");
        }
        if target.is_some() {
            anyhow::bail!("--target-ci does not apply to --lengths: give --iterations or --duration");
        }
        let plan = lengths::Plan {
            model: &a.model,
            devices: &a.device.0,
            batch_sizes: &batch_sizes,
            workload: &workload,
            lengths,
            warmup: a.warmup,
            stop,
            json: a.json.as_deref(),
            quiet: a.quiet,
        };
        return lengths::run(backend, &plan);
    }
    if let Some(n) = a.concurrency {
        return load(backend, a, &workload, stop, usize::from(n), &batch_sizes);
    }
    let devices: Vec<Device> = a.device.0.clone();
    let mut reports: Vec<BenchReport> = Vec::new();
    for device in devices {
        let spec = MeasureSpec {
            model: a.model.model.clone(),
            options: a.model.options(device),
            batch_sizes: batch_sizes.clone(),
            workload: workload.clone(),
            config: BenchConfig { warmup: a.warmup, stop },
            reference: a.reference_input.clone().zip(a.reference_output.clone()),
            host: HostOptions::from_env(),
        };
        // Finished batch sizes are saved as they complete: Ctrl-C or a crash loses only the
        // batch size being timed.
        let done = reports.clone();
        let report = measure_each(backend, &spec, &mut |partial| match &a.json {
            Some(path) if done.is_empty() => save(partial, path, Format::Json),
            Some(path) => save(&[done.as_slice(), std::slice::from_ref(partial)].concat(), path, Format::Json),
            None => Ok(()),
        })?;
        if !a.quiet {
            print!("{}", report.render(Format::Terminal)?);
            for w in infer_report::bench::warnings(&report) {
                eprintln!("warning: {w}");
            }
        }
        // Rows not measured (their inputs do not fit in memory): one error line each.
        for row in &report.failed_rows {
            eprintln!("error: {} {device} {}: {}", backend.name(), row.label(), row.error);
        }
        reports.push(report);
    }
    if let Some(path) = &a.json {
        // One device: the report itself (what `compare` reads); several: a list.
        save(&reports, path, Format::Json)?;
    }
    let failed = reports.iter().any(|r| !r.failed_rows.is_empty());
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// `--concurrency N`: a load test per device and batch size.
fn load(
    backend: &dyn infer_core::Backend,
    a: &BenchArgs,
    workload: &Workload,
    stop: Stop,
    concurrency: usize,
    batch_sizes: &[usize],
) -> anyhow::Result<ExitCode> {
    let mut reports = Vec::new();
    // No batch size asked: one run at the model's own.
    let batch_sizes: Vec<Option<usize>> =
        if batch_sizes.is_empty() { vec![None] } else { batch_sizes.iter().copied().map(Some).collect() };
    for &device in &a.device.0 {
        for &batch_size in &batch_sizes {
            let spec = infer_measure::concurrent::LoadSpec {
                model: a.model.model.clone(),
                options: a.model.options(device),
                batch_size,
                workload: workload.clone(),
                concurrency,
                // Workers warm up by count; `auto` gives each worker three windows' worth.
                warmup: match a.warmup {
                    Warmup::Count(n) => n,
                    Warmup::UntilStable { window, .. } => window * 3,
                },
                stop,
                rss_interval: Duration::from_millis(250),
                host: HostOptions::from_env(),
            };
            let report = infer_measure::concurrent::run_load(backend, &spec)?;
            for w in &report.warnings {
                eprintln!("warning: {w}");
            }
            reports.push(report);
            if let Some(path) = &a.json {
                save(&reports, path, Format::Json)?;
            }
        }
    }
    if !a.quiet {
        print!("{}", reports.render(Format::Terminal)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// A hidden hook for the tests of `infer compare`: `INFER_TEST_CRASH=abort` or `segv` (optionally
/// `@BACKEND`, then optionally `#ROUND`, matched against the `INFER_ROUND` that `infer compare`
/// gives its children) makes this child die as a crash in native code would. Honoured only in
/// debug builds or with the `test-hooks` feature; release builds ignore it.
pub(super) fn crash_hook(backend: &str) {
    if !(cfg!(debug_assertions) || cfg!(feature = "test-hooks")) {
        return;
    }
    let Ok(value) = std::env::var("INFER_TEST_CRASH") else { return };
    let (value, round) = value.split_once('#').map_or((value.as_str(), None), |(v, r)| (v, Some(r)));
    let (kind, only) = value.split_once('@').map_or((value, None), |(k, b)| (k, Some(b)));
    if only.is_some_and(|b| b != backend) {
        return;
    }
    if round.is_some_and(|r| std::env::var("INFER_ROUND").ok().as_deref() != Some(r)) {
        return;
    }
    match kind {
        "abort" => std::process::abort(),
        "segv" => {
            // Rust's own SIGSEGV handler (stack-overflow detection) restores the default action
            // on a signal it did not cause and returns: the next SIGSEGV kills.
            let pid = std::process::id().to_string();
            for _ in 0..50 {
                let _ = std::process::Command::new("kill").args(["-SEGV", &pid]).status();
                std::thread::sleep(Duration::from_millis(100));
            }
            std::process::abort();
        }
        _ => {}
    }
}
