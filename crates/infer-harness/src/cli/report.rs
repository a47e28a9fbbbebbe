//! `infer report`: rebuilds a report (HTML, Markdown, CSV or JSON) from saved results.

use std::{path::PathBuf, process::ExitCode};

use anyhow::bail;
use clap::{Args, ValueEnum};
use infer_harness::{
    reporters::{CsvReport, HtmlReport, JsonReport, MarkdownReport, Reporter},
    runs,
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
    /// A result file: compare.json (`infer compare`) or a bench report (`infer bench --json`).
    result: PathBuf,
    /// Where to write the report.
    #[arg(long, short)]
    output: PathBuf,
    /// Output format (default: from the extension of --output: .html, .md, .csv, .json).
    #[arg(long, value_enum)]
    format: Option<Format>,
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
    let c = runs::load(&a.result)?.into_comparison();
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
