//! `infer profile`: the top operators by time, from the backend's own profiler.

use std::{path::PathBuf, process::ExitCode};

use clap::Args;
use infer_core::{Device, Registry};
use infer_measure::profile::{ProfileSpec, profile};
use infer_report::{
    profile::ProfileView,
    report::{Format, Report, save},
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
    let workload = a.workload.workload(a.model.arg_map());
    super::feedback::refuse(&workload, "infer profile (independent runs under the profiler)")?;
    let backend = crate::backends::choose(registry, &a.model.model, a.model.backend.as_deref())?;
    let spec = ProfileSpec {
        model: a.model.model.clone(),
        options: a.model.options(a.device),
        batch_size: a.batch_size.map(usize::try_from).transpose()?,
        workload,
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
    let view = ProfileView { summary: &summary, top: a.top, trace_kept: a.keep_trace.is_some() };
    print!("{}", view.render(Format::Terminal)?);
    if let Some(path) = &a.json {
        save(&view, path, Format::Json)?;
    }
    Ok(ExitCode::SUCCESS)
}
