//! `infer report`: rebuilds a report (HTML, Markdown, CSV or JSON) from saved results; from
//! several results (one per machine), the fleet report.

use std::{path::PathBuf, process::ExitCode};

use anyhow::bail;
use clap::{Args, ValueEnum};
use infer_report::{
    compare_runs, fleet,
    reporters::{CsvReport, HtmlReport, JsonReport, MarkdownReport, Reporter},
};

/// Output formats of `infer report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
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
    /// Result files: compare.json (`infer compare`) or bench reports (`infer bench --json`). Several
    /// (one per machine) make a fleet report: one table with a machine column, each machine's
    /// ratio to the first, plots of all of them.
    #[arg(required = true, num_args = 1..)]
    results: Vec<PathBuf>,
    /// Where to write the report.
    #[arg(long, short)]
    output: PathBuf,
    /// Output format (default: from the extension of --output: .html, .md, .csv, .json).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Fleet report: put results of different models or inputs side by side (their fingerprints'
    /// digests differ) instead of refusing; the report lists the differences at the top.
    #[arg(long)]
    allow_mixed: bool,
}

pub fn report(a: &ReportArgs) -> anyhow::Result<ExitCode> {
    let format = match a.format {
        Some(f) => f,
        None => match a.output.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("html" | "htm") => Format::Html,
            Some("md" | "markdown") => Format::Md,
            Some("csv") => Format::Csv,
            Some("json") => Format::Json,
            _ => bail!(
                "cannot tell the format of {} from its extension: use .html, .md, .csv or .json, or --format",
                a.output.display()
            ),
        },
    };
    if let [one] = a.results.as_slice() {
        return single(a, one, format);
    }
    let loaded = a
        .results
        .iter()
        .map(|p| Ok((p.display().to_string(), compare_runs::load(p)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let machines = fleet::machines(loaded);
    let mixed = fleet::mismatches(&machines);
    if !mixed.is_empty() && !a.allow_mixed {
        bail!(
            "these results are not of the same workload: {}; give --allow-mixed to put them side by side anyway",
            mixed.join("; ")
        );
    }
    let text = match format {
        Format::Html => fleet::html(&machines, &mixed),
        Format::Md => fleet::markdown(&machines, &mixed),
        Format::Csv => fleet::table(&machines, &fleet::rows(&machines)).to_csv()?,
        Format::Json => bail!("a fleet report (several results) is written as .html, .md or .csv, not .json"),
    };
    infer_core::fsutil::write_atomic(&a.output, text.as_bytes())?;
    eprintln!("wrote {} ({} machines)", a.output.display(), machines.len());
    Ok(ExitCode::SUCCESS)
}

/// The report of one result file.
fn single(a: &ReportArgs, result: &std::path::Path, format: Format) -> anyhow::Result<ExitCode> {
    let c = compare_runs::load(result)?.into_comparison();
    let reporter: Box<dyn Reporter> = match format {
        Format::Html => Box::new(HtmlReport::new(&a.output)),
        Format::Md => Box::new(MarkdownReport::new(&a.output)),
        Format::Csv => Box::new(CsvReport::new(&a.output)),
        Format::Json => Box::new(JsonReport::new(&a.output)),
    };
    reporter.final_summary(&c)?;
    eprintln!("wrote {}", a.output.display());
    Ok(ExitCode::SUCCESS)
}
