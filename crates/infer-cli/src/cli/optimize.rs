//! `infer optimize-batch`: the largest batch that fits and the best-throughput batch.

use crate::probes::{ProbeSpec, optimize};
use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Args;
use infer_core::{Device, Registry};
use infer_measure::{
    batch_search::{BatchSearch, Bounds, probe_memory_limit},
    memory::{mem_available, parse_bytes},
    timing::{BenchConfig, Stop, Warmup, parse_duration},
};
use infer_report::{
    batch_search::BatchSearchView,
    report::{Format, Report, save},
};

use super::{ModelArgs, WorkloadArgs};

/// Arguments of `infer optimize-batch`.
#[derive(Debug, Args)]
pub struct OptimizeArgs {
    #[command(flatten)]
    pub(super) model: ModelArgs,
    /// Device: cpu, cuda, cuda:N.
    #[arg(long, short, default_value = "cpu")]
    device: Device,
    /// Largest batch size tried.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    max_batch: u64,
    /// First batch size tried, then doubled until one does not fit.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    start_batch: u64,
    /// Stop the binary search once the first batch that did not fit is within this of the
    /// largest that did, e.g. 5% (default: the exact edge). Each probe is a process start.
    #[arg(long, value_parser = parse_precision)]
    precision: Option<f64>,
    /// Best throughput only among batches whose median latency is at most this (milliseconds).
    #[arg(long)]
    max_latency_ms: Option<f64>,
    /// Memory each probe process may map beyond the runtime libraries it starts with (e.g. 8G);
    /// default 80% of MemAvailable, so the machine never swaps. `none` for no limit. Not applied on
    /// a CUDA device (an address-space limit breaks CUDA's start-up): there the device's
    /// out-of-memory error ends a probe.
    #[arg(long)]
    memory_limit: Option<String>,
    /// Timed time per probe, e.g. 2s.
    #[arg(long, default_value = "2s", value_parser = parse_duration, conflicts_with = "iterations")]
    duration: Duration,
    /// Timed iterations per probe instead of a duration.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    iterations: Option<u64>,
    /// Untimed warm-up iterations per probe.
    #[arg(long, default_value = "2")]
    warmup: Warmup,
    #[command(flatten)]
    workload: WorkloadArgs,
    /// Write every probe and the conclusion as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub fn optimize_batch(registry: &Registry, a: &OptimizeArgs) -> anyhow::Result<ExitCode> {
    let backend = crate::backends::choose(registry, &a.model.model, a.model.backend.as_deref())?;
    super::feedback::refuse(
        &a.workload.workload(a.model.arg_map()),
        "infer optimize-batch (probes of independent calls)",
    )?;
    let asked = match a.memory_limit.as_deref() {
        Some("none") => None,
        Some(text) => Some(parse_bytes(text).map_err(anyhow::Error::msg)?),
        None => mem_available().map(|m| m / 10 * 8),
    };
    let (memory_limit, warning) = probe_memory_limit(a.device, asked, a.memory_limit.is_some());
    if let Some(w) = warning {
        eprintln!("{w}");
    }
    if let Some(bound) = a.max_latency_ms.filter(|b| !b.is_finite() || *b <= 0.0) {
        anyhow::bail!("invalid --max-latency-ms {bound}: must be a positive number of milliseconds");
    }
    // The search varies the batch of one shape; each probe gets the same inputs. Planned here
    // once, on the CPU (so that no device memory stays reserved in this process while the
    // probes search): a model whose batch is fixed has no batch size to search, said at once
    // rather than as probes that all fail, and a batch whose inputs alone exceed a probe's
    // memory is not started.
    let workload = a.workload.workload(a.model.arg_map());
    workload.check()?;
    let point = workload.single_point("infer optimize-batch")?;
    let described = backend.load(&a.model.model, &a.model.options(Device::Cpu))?;
    let plan = workload.plan(&a.model.model, described.as_ref())?;
    if plan.batch_is_fixed() {
        let inputs: Vec<String> = described.inputs().iter().map(ToString::to_string).collect();
        anyhow::bail!(
            "{}: the batch is fixed by the model ({}): there is no batch size to search; `infer bench` \
             measures it at that batch",
            a.model.model.display(),
            inputs.join("; ")
        );
    }
    drop(described);
    let stop = match a.iterations {
        Some(n) => Stop::Iterations(usize::try_from(n)?),
        None => Stop::Duration(a.duration),
    };
    let spec = ProbeSpec {
        exe: std::env::current_exe()?,
        model: a.model.model.clone(),
        backend: backend.name().into(),
        device: a.device,
        threads: a.model.threads,
        workload,
        config: BenchConfig { warmup: a.warmup, stop },
        memory_limit,
        plan: Some((plan, point)),
    };
    let bounds = Bounds {
        start: usize::try_from(a.start_batch)?,
        max_batch: usize::try_from(a.max_batch)?,
        precision: a.precision.unwrap_or(0.0),
    };
    // The JSON is rewritten after every probe: a search stopped midway keeps what it found.
    let on_gpu = a.device.is_gpu();
    let mut save_so_far = |so_far: &BatchSearch| {
        if let Some(path) = &a.json
            && let Err(e) = save(&BatchSearchView { search: so_far, on_gpu }, path, Format::Json)
        {
            eprintln!("warning: {e}");
        }
    };
    let result = optimize(&spec, &bounds, a.max_latency_ms, &mut save_so_far)?;
    let view = BatchSearchView { search: &result, on_gpu };
    print!("{}", view.render(Format::Terminal)?);
    if let Some(path) = &a.json {
        save(&view, path, Format::Json)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A precision given as `5%` or `0.05`, at least 0 and below 1.
fn parse_precision(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    };
    match v {
        Ok(v) if (0.0..1.0).contains(&v) => Ok(v),
        _ => Err(format!("invalid precision `{text}`: expected e.g. 5% or 0.05")),
    }
}
