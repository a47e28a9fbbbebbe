//! `infer profile`: the top operators by time, from the backend's own profiler.

use infer_report::profile::table;
use std::{path::PathBuf, process::ExitCode};

use clap::Args;
use infer_core::{Device, Registry};
use infer_measure::{
    profile::{ProfileSpec, profile},
    results::write_json,
};

use super::{ModelArgs, WorkloadArgs};

/// Arguments of `infer profile`.
#[derive(Debug, Args)]
pub struct ProfileArgs {
    #[command(flatten)]
    pub(super) model: ModelArgs,
    /// Device: cpu, cuda, cuda:N.
    #[arg(long, short, default_value = "cpu")]
    device: Device,
    /// Batch size of the synthetic input (default: the model's static batch, else 1).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    batch_size: Option<u64>,
    /// Profiled runs summarized.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    iterations: u64,
    /// Runs first, profiled but left out of the summary.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Lines shown per table.
    #[arg(long, default_value_t = 15)]
    top: usize,
    #[command(flatten)]
    workload: WorkloadArgs,
    /// Write the whole summary (every operator type and node) as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Keep the runtime's raw profile file in this folder (default: a temporary folder, removed).
    #[arg(long)]
    keep_trace: Option<PathBuf>,
}

pub fn profile_cmd(registry: &Registry, a: &ProfileArgs) -> anyhow::Result<ExitCode> {
    let backend = crate::backends::choose(registry, &a.model.model, a.model.backend.as_deref())?;
    let spec = ProfileSpec {
        model: a.model.model.clone(),
        options: a.model.options(a.device),
        batch_size: a.batch_size.map(usize::try_from).transpose()?,
        workload: a.workload.workload(a.model.arg_map()),
        warmup: a.warmup,
        iterations: usize::try_from(a.iterations)?,
    };
    let temp = tempfile::tempdir()?;
    let scratch = match &a.keep_trace {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| infer_core::Error::io(dir, e))?;
            dir.clone()
        }
        None => temp.path().to_path_buf(),
    };
    let summary = profile(backend, &spec, &scratch)?;
    println!(
        "{} on {}: {} profiled runs at batch {} ({} warm-up runs left out), operator time {:.3} ms per run",
        summary.model,
        summary.backend,
        summary.runs,
        summary.batch_size,
        summary.warmup_runs,
        per_run_ms(summary.total_us, summary.runs)
    );
    for i in &summary.inputs {
        match &i.values {
            Some(v) => println!("input {}: {} {:?} {v}", i.name, i.dtype, i.shape),
            None => println!("input {}: {} {:?} {}", i.name, i.dtype, i.shape, i.source),
        }
    }
    println!("\ntop operator types by total time:");
    print!("{}", table(&summary.by_type, a.top, "op type").to_text());
    println!("\ntop nodes by total time:");
    print!("{}", table(&summary.by_node, a.top, "node").to_text());
    let kept = if a.keep_trace.is_some() { "" } else { " (a temporary file, removed: keep it with --keep-trace DIR)" };
    println!("\nsource: {}{kept}", summary.source);
    if let Some(path) = &a.json {
        write_json(path, &summary)?;
    }
    Ok(ExitCode::SUCCESS)
}

#[allow(clippy::cast_precision_loss)]
fn per_run_ms(total_us: f64, runs: u64) -> f64 {
    total_us / 1e3 / runs.max(1) as f64
}
