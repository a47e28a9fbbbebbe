//! `infer bench --lengths SYMBOL=SPEC [--pad-to …]`: variable-length traffic (see
//! docs/scenarios.md, "Variable-length traffic").

use std::{path::Path, process::ExitCode};

use clap::Args;
use infer_core::{Backend, Device};
use infer_measure::{
    host::HostOptions,
    lengths::{LengthsReport, LengthsSpec, measure_lengths},
    timing::{Stop, Warmup},
    workload::{
        Workload,
        lengths::{Lengths, LengthsArg, PadTo, parse_lengths_arg},
    },
};
use infer_report::report::{Format, Report, save};

use crate::cli::ModelArgs;

/// The variable-length options of `infer bench`.
#[derive(Debug, Args, Clone, Default)]
pub struct LengthsArgs {
    /// Variable-length traffic: draw the size of a dynamic dimension per request, SYMBOL=SPEC
    /// with SPEC uniform:LO..HI (inclusive), normal:MEAN,STD[,LO..HI], lognormal:MU,SIGMA[,LO..HI]
    /// (MU and SIGMA of the natural log of the length: the median is e^MU), or file:PATH (or a
    /// PATH): observed lengths, one integer per line, `#` comments. Seeded by --seed; lengths are
    /// integers >= 1, clamped to LO..HI. Reports latency per length bucket (powers of two),
    /// padding waste, useful tokens/s and items/s; with --scenario offline|server, a length per
    /// sample or request.
    #[arg(long, value_name = "SYMBOL=SPEC", value_parser = |s: &str| parse_lengths_arg(s).map(Box::new))]
    pub lengths: Option<Box<LengthsArg>>,
    /// With --lengths: pad each batch to its longest request (max, the default), to the next
    /// multiple of N (multiple:N) or to the smallest listed bucket that fits (buckets:32,64,128;
    /// a longer length is an error).
    #[arg(long, value_name = "max|multiple:N|buckets:N,...")]
    pub pad_to: Option<PadTo>,
}

impl LengthsArgs {
    /// `--pad-to` without `--lengths` is refused.
    ///
    /// # Errors
    /// A one-line message naming both options.
    pub fn check(&self) -> anyhow::Result<()> {
        if self.lengths.is_none()
            && let Some(pad) = &self.pad_to
        {
            anyhow::bail!("--pad-to {pad} pads batches of --lengths: give --lengths SYMBOL=SPEC too");
        }
        Ok(())
    }

    /// The lengths to draw, with `seed`, when `--lengths` is given.
    pub fn lengths(&self, seed: u64) -> Option<Lengths> {
        self.lengths.clone().map(|arg| Lengths { arg: *arg, pad_to: self.pad_to.clone().unwrap_or_default(), seed })
    }
}

/// The rest of `infer bench`'s arguments that `--lengths` uses.
pub struct Plan<'a> {
    /// Model and load options.
    pub model: &'a ModelArgs,
    /// Devices, each measured in turn.
    pub devices: &'a [Device],
    /// Requests per call (one size), or the model's own.
    pub batch_sizes: &'a [usize],
    /// What the inputs are made of.
    pub workload: &'a Workload,
    /// The lengths drawn.
    pub lengths: Lengths,
    /// Warm-up.
    pub warmup: Warmup,
    /// Calls or time.
    pub stop: Stop,
    /// Where to write the report.
    pub json: Option<&'a Path>,
    /// No terminal output.
    pub quiet: bool,
}

/// Runs `infer bench --lengths` on each device, printing and saving the reports.
///
/// # Errors
/// Invalid options, load and run errors, write errors.
pub fn run(backend: &dyn Backend, plan: &Plan<'_>) -> anyhow::Result<ExitCode> {
    if plan.batch_sizes.len() > 1 {
        anyhow::bail!(
            "--lengths times one batch size: give one in --batch-sizes (e.g. --batch-sizes {})",
            plan.batch_sizes[0]
        );
    }
    let mut reports: Vec<LengthsReport> = Vec::new();
    for &device in plan.devices {
        let spec = LengthsSpec {
            model: plan.model.model.clone(),
            options: plan.model.options(device),
            batch_size: plan.batch_sizes.first().copied(),
            workload: plan.workload.clone(),
            lengths: plan.lengths.clone(),
            warmup: plan.warmup,
            stop: plan.stop,
            host: HostOptions::from_env(),
        };
        reports.push(measure_lengths(backend, &spec)?);
        if let Some(path) = plan.json {
            save(&reports, path, Format::Json)?;
        }
    }
    if !plan.quiet {
        print!("{}", reports.render(Format::Terminal)?);
    }
    Ok(ExitCode::SUCCESS)
}
