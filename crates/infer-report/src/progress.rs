//! Where a running comparison's reports go, criterion's `Reports`: files, each rewritten
//! atomically with [`Report::render`] in its format after every row (so a crash or Ctrl-C loses
//! no finished row), and the terminal, which shows which child starts and, at the end, the
//! result. A thin layer over [`Report`]: it renders nothing itself.

use std::path::{Path, PathBuf};

use infer_core::{Device, Result};

use crate::report::{Format, Report, save};

/// The outputs of one run: files in their formats, and the terminal or not.
#[derive(Debug, Clone, Default)]
pub struct Reports {
    files: Vec<(PathBuf, Format)>,
    terminal: bool,
}

impl Reports {
    /// No output.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// These outputs and the file `path` in `format`.
    #[must_use]
    pub fn file(mut self, path: &Path, format: Format) -> Self {
        self.files.push((path.to_path_buf(), format));
        self
    }

    /// These outputs and `STEM.EXT` in `dir` for each of `formats`.
    #[must_use]
    pub fn files_in(self, dir: &Path, stem: &str, formats: &[Format]) -> Self {
        formats.iter().fold(self, |r, &f| r.file(&dir.join(format!("{stem}.{}", f.extension())), f))
    }

    /// The files of `infer compare` in `dir`: `compare.json` (raw samples included),
    /// `compare.csv`, `compare.md` and the self-contained `compare.html`.
    #[must_use]
    pub fn compare_files(dir: &Path) -> Self {
        Self::new().files_in(dir, "compare", &[Format::Json, Format::Csv, Format::Markdown, Format::Html])
    }

    /// These outputs and the terminal: progress lines on stderr, the result on stdout at the end.
    #[must_use]
    pub fn terminal(mut self) -> Self {
        self.terminal = true;
        self
    }

    /// The files written, in order.
    #[must_use]
    pub fn paths(&self) -> Vec<PathBuf> {
        self.files.iter().map(|(p, _)| p.clone()).collect()
    }

    /// A child starts measuring `backend` on `device`, round `round` of `rounds`.
    pub fn measurement_start(&self, backend: &str, device: Device, round: usize, rounds: usize) {
        if self.terminal {
            let of = if rounds > 1 { format!(" (round {round} of {rounds})") } else { String::new() };
            eprintln!("measuring {backend} on {device}{of} ...");
        }
    }

    /// A child starts profiling `backend` on `device`.
    pub fn profile_start(&self, backend: &str, device: Device) {
        if self.terminal {
            eprintln!("profiling {backend} on {device} ...");
        }
    }

    /// A child starts measuring the row `label` (of a serving comparison).
    pub fn row_start(&self, label: &str) {
        if self.terminal {
            eprintln!("measuring {label} …");
        }
    }

    /// The result so far, after each row: every file rewritten.
    ///
    /// # Errors
    /// File errors naming the file; the first stops the others.
    pub fn progress(&self, report: &dyn Report) -> Result<()> {
        self.files.iter().try_for_each(|(path, format)| save(report, path, *format))
    }

    /// The finished (or interrupted) result: every file rewritten, then the terminal's text on
    /// stdout.
    ///
    /// # Errors
    /// As [`Reports::progress`].
    pub fn final_summary(&self, report: &dyn Report) -> Result<()> {
        self.progress(report)?;
        if self.terminal {
            print!("{}", report.render(Format::Terminal)?);
        }
        Ok(())
    }
}

/// Writes every file of [`Reports::compare_files`] for `report` into `dir` (created if needed)
/// and returns them.
///
/// # Errors
/// File errors naming the file.
pub fn write_compare_files(report: &dyn Report, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| infer_core::Error::io(dir, e))?;
    let files = Reports::compare_files(dir);
    files.final_summary(report)?;
    Ok(files.paths())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use infer_measure::{
        results::{comparison::Comparison, read_json},
        testing::synthetic,
    };

    #[test]
    fn compare_files_are_every_format_and_keep_raw_samples() {
        let c = synthetic();
        let dir = tempfile::tempdir().unwrap();
        let files = write_compare_files(&c, &dir.path().join("out")).unwrap();
        let names: Vec<String> = files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["compare.json", "compare.csv", "compare.md", "compare.html"]);
        let back: Comparison = read_json(&files[0]).unwrap();
        assert_eq!((back.entries.len(), back.model.as_str()), (5, "resnet<18>"));
        assert_eq!(back.entries[4].status, c.entries[4].status);
        assert_eq!(back.entries[1].report.as_ref().unwrap().rows[1].samples_ms.len(), 40, "raw samples kept");
        assert!(std::fs::read_to_string(&files[1]).unwrap().starts_with("backend,device,batch,"));
        assert!(std::fs::read_to_string(&files[2]).unwrap().starts_with("# resnet\\<18> — backend comparison"));
        assert!(std::fs::read_to_string(&files[3]).unwrap().starts_with("<!DOCTYPE html>"));
    }

    #[test]
    fn progress_rewrites_each_file_and_no_output_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("r.json");
        let reports = Reports::new().file(&json, Format::Json);
        let mut c = synthetic();
        c.entries.truncate(1);
        reports.progress(&c).unwrap();
        assert_eq!(read_json::<Comparison>(&json).unwrap().entries.len(), 1);
        reports.progress(&synthetic()).unwrap();
        assert_eq!(read_json::<Comparison>(&json).unwrap().entries.len(), 5, "rewritten");
        // Silent: events do nothing, there is nothing to write.
        let none = Reports::new();
        none.measurement_start("onnx", Device::Cpu, 1, 3);
        none.final_summary(&c).unwrap();
        assert!(none.paths().is_empty());
        // A file that cannot be written is named.
        let bad = Reports::new().file(&dir.path().join("missing/r.md"), Format::Markdown);
        assert!(bad.progress(&c).unwrap_err().to_string().contains("missing"));
    }
}
