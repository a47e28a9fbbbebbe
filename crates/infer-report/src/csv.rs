//! The CSV report (`compare.csv`): the results table, one line per (backend, device, batch size).

use std::path::{Path, PathBuf};

use infer_core::Result;

use crate::{reporters::Reporter, tables};
use infer_measure::results::comparison::Comparison;

/// Writes the results table as CSV to one file, after every row and at the end.
#[derive(Debug, Clone)]
pub struct CsvReport {
    path: PathBuf,
}

impl CsvReport {
    /// A reporter writing `path`.
    #[must_use]
    pub fn new(path: &Path) -> Self {
        Self { path: path.to_path_buf() }
    }
}

/// The CSV text.
///
/// # Errors
/// Never in practice (writing to memory).
pub fn render(c: &Comparison) -> Result<String> {
    tables::results(c).to_csv()
}

impl Reporter for CsvReport {
    fn progress(&self, c: &Comparison) -> Result<()> {
        infer_core::fsutil::write_atomic(&self.path, render(c)?.as_bytes())
    }

    fn final_summary(&self, c: &Comparison) -> Result<()> {
        self.progress(c)
    }

    fn files(&self) -> Vec<PathBuf> {
        vec![self.path.clone()]
    }
}
