//! `infer report`: rebuilds a report (HTML, Markdown, CSV or JSON) from saved results; from
//! several results (one per machine), the fleet report.

use std::{path::PathBuf, process::ExitCode};

use anyhow::bail;
use clap::{Args, ValueEnum};
use infer_report::{
    fleet::{self, Fleet},
    report::{self, Report},
    saved::{self, Saved},
};

/// Output formats of `infer report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    /// Self-contained HTML with plots.
    Html,
    /// Markdown tables.
    Md,
    /// The comparison table as CSV.
    Csv,
    /// The results as a comparison JSON (raw samples kept).
    Json,
}

/// Arguments of `infer report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Result files: compare.json (`infer compare`), bench reports (`infer bench --json`), scenario
    /// reports (`infer bench --scenario … --json`), variable-length reports (`infer bench --lengths
    /// … --json`) or serving.json (`infer compare --scenario …`).
    /// Several comparisons or bench reports (one per machine) make a fleet report: one table with
    /// a machine column, each machine's ratio to the first, plots of all of them.
    #[arg(required = true, num_args = 1..)]
    results: Vec<PathBuf>,
    /// Where to write the report.
    #[arg(long, short)]
    output: PathBuf,
    /// Output format (default: from the extension of --output: .html, .md, .csv, .json).
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Fleet report: put results of different models or inputs side by side (their fingerprints'
    /// digests differ) instead of refusing; the report lists the differences at the top.
    #[arg(long)]
    allow_mixed: bool,
}

pub fn report(a: &ReportArgs) -> anyhow::Result<ExitCode> {
    let format = match a.format {
        Some(FormatArg::Html) => report::Format::Html,
        Some(FormatArg::Md) => report::Format::Markdown,
        Some(FormatArg::Csv) => report::Format::Csv,
        Some(FormatArg::Json) => report::Format::Json,
        None => match report::Format::from_path(&a.output) {
            Some(f) => f,
            None => bail!(
                "cannot tell the format of {} from its extension: use .html, .md, .csv or .json, or --format",
                a.output.display()
            ),
        },
    };
    if let [one] = a.results.as_slice() {
        // A bench report is shown as a comparison of its devices (JSON included), as always.
        let result: Box<dyn Report> = match saved::load_any(one)? {
            Saved::Results(r) => Box::new(r.into_comparison()),
            Saved::Scenario(reports) => Box::new(reports),
            Saved::Serving(c) => c,
            Saved::Lengths(reports) => Box::new(reports),
        };
        report::save(result.as_ref(), &a.output, format)?;
        eprintln!("wrote {}", a.output.display());
        return Ok(ExitCode::SUCCESS);
    }
    let loaded =
        a.results.iter().map(|p| Ok((p.display().to_string(), saved::load(p)?))).collect::<anyhow::Result<Vec<_>>>()?;
    let machines = fleet::machines(loaded);
    let mixed = fleet::mismatches(&machines);
    if !mixed.is_empty() && !a.allow_mixed {
        bail!(
            "these results are not of the same workload: {}; give --allow-mixed to put them side by side anyway",
            mixed.join("; ")
        );
    }
    let count = machines.len();
    report::save(&Fleet { machines, mixed }, &a.output, format)?;
    eprintln!("wrote {} ({count} machines)", a.output.display());
    Ok(ExitCode::SUCCESS)
}
