//! `infer optimize-batch`: the largest batch that fits and the best-throughput batch.

use crate::probes::{ProbeSpec, optimize};
use infer_report::batch_search::table;
use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Args;
use infer_core::{Device, Registry};
use infer_measure::{
    batch_search::probe_memory_limit,
    memory::{mem_available, mib, parse_bytes},
    results::write_json,
    timing::{BenchConfig, Stop, Warmup, parse_duration},
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
    let workload = a.workload.workload();
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
    let result = optimize(&spec, usize::try_from(a.max_batch)?, a.max_latency_ms)?;
    print!("{}", table(&result).to_text());
    let limit = match memory_limit {
        Some(bytes) => mib(bytes),
        None if a.device.is_gpu() => "none on a GPU: the device's out-of-memory error ends a probe".into(),
        None => "none".into(),
    };
    match result.largest_fit {
        Some(b) => println!("largest batch that fits: {b} (each probe a child process, address space limit {limit})"),
        None => println!("no batch fits, not even 1 (address space limit {limit})"),
    }
    match (result.best_batch, a.max_latency_ms) {
        (Some(b), Some(bound)) => println!("best throughput with median latency <= {bound} ms: batch {b}"),
        (Some(b), None) => println!("best throughput: batch {b}"),
        (None, Some(bound)) => println!("no batch meets the latency bound of {bound} ms"),
        (None, None) => {}
    }
    if let Some(path) = &a.json {
        write_json(path, &result)?;
    }
    Ok(ExitCode::SUCCESS)
}
