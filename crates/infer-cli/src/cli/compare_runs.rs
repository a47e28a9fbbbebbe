//! `infer compare-runs`: significant changes between two saved runs; exit code 1 on a
//! regression beyond the threshold, 2 when an input cannot be read.

use std::{path::PathBuf, process::ExitCode};

use clap::Args;
use infer_report::{
    compare_runs::{RunChanges, compare_runs, parse_threshold},
    report::{Format, Report},
    saved::load,
};

/// Arguments of `infer compare-runs`.
#[derive(Debug, Args)]
pub struct CompareRunsArgs {
    /// The baseline result file (compare.json or `infer bench --json`).
    old: PathBuf,
    /// The result file to check against the baseline.
    new: PathBuf,
    /// Smallest slowdown of the median that counts as a regression, e.g. 5%.
    #[arg(long, default_value = "5%", value_parser = parse_threshold)]
    threshold: f64,
}

pub fn compare_runs_cmd(a: &CompareRunsArgs) -> ExitCode {
    let (old, new) = match (load(&a.old), load(&a.new)) {
        (Ok(o), Ok(n)) => (o, n),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let changes = RunChanges {
        old: a.old.display().to_string(),
        new: a.new.display().to_string(),
        threshold: a.threshold,
        changes: compare_runs(&old, &new, a.threshold),
    };
    match changes.render(Format::Terminal) {
        Ok(text) => print!("{text}"),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    let regressions = changes.regressions();
    if changes.matched() == 0 {
        eprintln!("warning: no row of {} matches a row of {}", a.old.display(), a.new.display());
    }
    if regressions > 0 {
        eprintln!(
            "error: {regressions} significant regression(s) beyond {:.1}% (95% CI of the median ratio above 1)",
            a.threshold * 100.0
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
