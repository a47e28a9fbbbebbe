//! The JSON report (`compare.json`): the whole comparison, raw samples included, so every other
//! report can be rebuilt from it (`infer report`) and two runs compared (`infer compare-runs`).

use std::path::{Path, PathBuf};

use infer_core::Result;

use crate::reporters::Reporter;
use infer_measure::{results::comparison::Comparison, results::write_json};

/// Writes the comparison as JSON to one file, after every row and at the end.
#[derive(Debug, Clone)]
pub struct JsonReport {
    path: PathBuf,
}

impl JsonReport {
    /// A reporter writing `path`.
    #[must_use]
    pub fn new(path: &Path) -> Self {
        Self { path: path.to_path_buf() }
    }
}

impl Reporter for JsonReport {
    fn progress(&self, c: &Comparison) -> Result<()> {
        write_json(&self.path, c)
    }

    fn final_summary(&self, c: &Comparison) -> Result<()> {
        self.progress(c)
    }

    fn files(&self) -> Vec<PathBuf> {
        vec![self.path.clone()]
    }
}
