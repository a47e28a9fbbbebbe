//! `infer bench`: latency statistics per batch size and device.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use clap::Args;
use infer_core::{Device, Registry};
use infer_harness::{
    bench::{BenchConfig, Stop, parse_duration},
    measure::{MeasureSpec, measure},
    report::{BenchReport, bench_table, write_json},
};

use super::{Devices, ModelArgs, Sizes, parse_devices, parse_sizes};

/// Arguments of `infer bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Batch sizes to time, comma-separated.
    #[arg(long, default_value = "1", value_parser = parse_sizes)]
    batch_sizes: Sizes,
    /// Devices, comma-separated: cpu, cuda, cuda:N.
    #[arg(long, short, default_value = "cpu", value_parser = parse_devices)]
    device: Devices,
    /// Untimed warm-up iterations per batch size.
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Timed iterations per batch size (default 50 unless --duration is given).
    #[arg(long, conflicts_with = "duration", value_parser = clap::value_parser!(u64).range(1..))]
    iterations: Option<u64>,
    /// Time per batch size instead of a count, e.g. 10s or 500ms.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Sizes of dynamic dimensions other than the batch, comma-separated, in input order.
    #[arg(long, value_parser = parse_sizes)]
    dims: Option<Sizes>,
    /// Reference input (.npy) to check correctness before timing (with --reference-output).
    #[arg(long, requires = "reference_output")]
    reference_input: Option<PathBuf>,
    /// Expected output (.npy) for --reference-input; the max abs difference is reported.
    #[arg(long, requires = "reference_input")]
    reference_output: Option<PathBuf>,
    /// Write the full results (raw samples included) as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Print no table (for scripts reading --json).
    #[arg(long)]
    quiet: bool,
}

pub fn bench(registry: &Registry, a: &BenchArgs) -> anyhow::Result<ExitCode> {
    let backend = infer_harness::backends::choose(registry, &a.model.model, a.model.backend.as_deref())?;
    let stop = match (a.iterations, a.duration) {
        (_, Some(d)) => Stop::Duration(d),
        (Some(n), None) => Stop::Iterations(usize::try_from(n)?),
        (None, None) => Stop::Iterations(50),
    };
    let batch_sizes = a.batch_sizes.0.clone();
    let devices: Vec<Device> = a.device.0.clone();
    let mut reports: Vec<BenchReport> = Vec::new();
    for device in devices {
        let spec = MeasureSpec {
            model: a.model.model.clone(),
            options: a.model.options(device),
            batch_sizes: batch_sizes.clone(),
            dim_fill: a.dims.clone().map(|d| d.0).unwrap_or_default(),
            config: BenchConfig { warmup: a.warmup, stop },
            reference: a.reference_input.clone().zip(a.reference_output.clone()),
        };
        let report = measure(backend, &spec)?;
        if !a.quiet {
            print!("{}", bench_table(&report).to_text());
            for row in &report.rows {
                if let Some(ci) = &row.median_ci_ms {
                    println!(
                        "batch {}: median {:.3} ms (95% CI {:.3}–{:.3}), CoV {:.1}%",
                        row.batch_size,
                        ci.point,
                        ci.lower,
                        ci.upper,
                        row.cov * 100.0
                    );
                }
                for w in &row.warnings {
                    eprintln!("warning: batch {}: {w}", row.batch_size);
                }
            }
            if let Some(d) = report.max_abs_diff {
                println!("max |diff| to {}: {d:.3e}", report.reference.as_deref().unwrap_or("reference"));
            }
        }
        reports.push(report);
    }
    if let Some(path) = &a.json {
        // One device: the report itself (what `compare` reads); several: a list.
        match reports.as_slice() {
            [one] => write_json(path, one)?,
            many => write_json(path, &many)?,
        }
    }
    Ok(ExitCode::SUCCESS)
}
