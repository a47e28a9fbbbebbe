//! The one trait every result kind renders through, criterion's shape (`src/report.rs`): a
//! result gives its [`Document`] and its JSON, and [`Report::render`] turns it into any
//! [`Format`]. Commands print `render(Format::Terminal)`, write `render(format)` files, and
//! `infer compare` rewrites its files after every row through [`crate::progress::Reports`].

use std::{fmt, path::Path};

use infer_core::Result;
use serde::Serialize;

use crate::{document::Document, render};

/// A format a report is rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Text for the terminal: aligned tables and lines.
    Terminal,
    /// GitHub-flavoured Markdown.
    Markdown,
    /// The main table as CSV, one line per measured row.
    Csv,
    /// The result itself as JSON, raw samples included: what every other format can be rebuilt
    /// from (`infer report`).
    Json,
    /// One self-contained HTML page with tables and inline-SVG charts.
    Html,
}

impl Format {
    /// The format of a file by its extension: `.html`/`.htm`, `.md`/`.markdown`, `.csv`, `.json`
    /// (any case); `None` for any other.
    #[must_use]
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "html" | "htm" => Some(Format::Html),
            "md" | "markdown" => Some(Format::Markdown),
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            _ => None,
        }
    }

    /// The file extension of this format (`txt` for the terminal's text).
    #[must_use]
    pub fn extension(self) -> &'static str {
        match self {
            Format::Terminal => "txt",
            Format::Markdown => "md",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Html => "html",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Terminal => "terminal",
            Format::Markdown => "markdown",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Html => "html",
        })
    }
}

/// A result that can be shown: implemented by every result kind (a bench report, a comparison,
/// a scenario report, a serving comparison, a fleet, the changes between two runs, load tests,
/// an operator profile, a batch search).
pub trait Report {
    /// What this result shows in `format` (any but [`Format::Json`]). Most kinds show the same
    /// document in every format; a kind whose terminal summary, Markdown report and HTML page
    /// have always shown different things (the comparison, the serving comparison, the fleet)
    /// builds each from the same pieces.
    fn document(&self, format: Format) -> Document;

    /// The result as pretty JSON with a final newline, raw samples included.
    ///
    /// # Errors
    /// When the result cannot be written as JSON (or, for a kind that has no JSON form, says so).
    fn json(&self) -> Result<String>;

    /// The result rendered in `format`: [`Report::json`] for JSON, else
    /// [`Report::document`] through the format's renderer ([`crate::render`]).
    ///
    /// # Errors
    /// Those of [`Report::json`], and CSV writing errors (none in practice).
    fn render(&self, format: Format) -> Result<String> {
        match format {
            Format::Json => self.json(),
            Format::Terminal => Ok(render::terminal(&self.document(format))),
            Format::Markdown => Ok(render::markdown(&self.document(format))),
            Format::Csv => render::csv(&self.document(format)),
            Format::Html => Ok(render::html(&self.document(format))),
        }
    }
}

/// Writes `report` rendered in `format` to `path`, atomically.
///
/// # Errors
/// Those of [`Report::render`], and file errors naming `path`.
pub fn save(report: &dyn Report, path: &Path, format: Format) -> Result<()> {
    infer_core::fsutil::write_atomic(path, report.render(format)?.as_bytes())
}

/// `value` as pretty JSON with a final newline: the bytes
/// [`infer_measure::results::write_json`] writes.
///
/// # Errors
/// [`infer_core::Error::InvalidInput`] when serde cannot write `value`.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| infer_core::Error::InvalidInput(e.to_string()))?;
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn formats_by_extension() {
        for (name, f) in [
            ("r.html", Some(Format::Html)),
            ("r.HTM", Some(Format::Html)),
            ("r.md", Some(Format::Markdown)),
            ("r.markdown", Some(Format::Markdown)),
            ("a/b.csv", Some(Format::Csv)),
            ("r.json", Some(Format::Json)),
            ("r.pdf", None),
            ("noext", None),
        ] {
            assert_eq!(Format::from_path(Path::new(name)), f, "{name}");
        }
        assert_eq!(Format::from_path(Path::new(&format!("x.{}", Format::Html.extension()))), Some(Format::Html));
        assert_eq!(Format::Markdown.to_string(), "markdown");
    }

    #[test]
    fn json_is_what_write_json_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.json");
        let value = vec![1.5, 2.0];
        infer_measure::results::write_json(&path, &value).unwrap();
        assert_eq!(to_json(&value).unwrap(), std::fs::read_to_string(&path).unwrap());
    }
}
