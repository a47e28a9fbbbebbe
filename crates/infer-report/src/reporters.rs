//! Reporters, criterion's shape (`src/report.rs`): one [`Reporter`] trait whose methods are the
//! events of a comparison, each with a no-op default, implemented by the terminal, JSON, CSV,
//! Markdown and HTML reporters, and fanned out by one [`Reports`] list. `infer compare` hands its
//! `Reports` to `infer_cli::compare::compare_each`; `infer report` calls one file reporter's
//! [`Reporter::final_summary`] on a saved comparison.
//!
//! Reporters only render: the numbers come from [`crate::analysis`] and the tables shared by the
//! text formats from [`tables`].

use std::path::{Path, PathBuf};

use infer_core::{Device, Result};

pub use crate::{
    csv::CsvReport, html::HtmlReport, json::JsonReport, markdown::MarkdownReport, terminal::TerminalReport,
};
use infer_measure::results::comparison::Comparison;

/// One output of a comparison. Every method has a default that does nothing, so a reporter
/// implements only the events it shows.
pub trait Reporter {
    /// A child process starts measuring `backend` on `device`, round `round` of `rounds`.
    fn measurement_start(&self, _backend: &str, _device: Device, _round: usize, _rounds: usize) {}

    /// A child process starts profiling `backend` on `device`.
    fn profile_start(&self, _backend: &str, _device: Device) {}

    /// The comparison so far, after each row: what a file reporter saves so that a crash or
    /// Ctrl-C loses no finished row.
    ///
    /// # Errors
    /// File errors naming the file.
    fn progress(&self, _c: &Comparison) -> Result<()> {
        Ok(())
    }

    /// The finished (or interrupted) comparison.
    ///
    /// # Errors
    /// File errors naming the file.
    fn final_summary(&self, _c: &Comparison) -> Result<()> {
        Ok(())
    }

    /// The files this reporter writes.
    fn files(&self) -> Vec<PathBuf> {
        Vec::new()
    }
}

/// Every reporter of a run, each event passed to each in order. A file error stops the fan-out
/// and is returned.
#[derive(Default)]
pub struct Reports {
    reporters: Vec<Box<dyn Reporter>>,
}

impl Reports {
    /// No reporter.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// This list and `reporter`.
    #[must_use]
    pub fn with(mut self, reporter: impl Reporter + 'static) -> Self {
        self.reporters.push(Box::new(reporter));
        self
    }

    /// The files of `infer compare` in `dir`: `compare.json` (raw samples included),
    /// `compare.csv`, `compare.md` and the self-contained `compare.html`.
    #[must_use]
    pub fn files(dir: &Path) -> Self {
        Self::new()
            .with(JsonReport::new(&dir.join("compare.json")))
            .with(CsvReport::new(&dir.join("compare.csv")))
            .with(MarkdownReport::new(&dir.join("compare.md")))
            .with(HtmlReport::new(&dir.join("compare.html")))
    }
}

impl Reporter for Reports {
    fn measurement_start(&self, backend: &str, device: Device, round: usize, rounds: usize) {
        for r in &self.reporters {
            r.measurement_start(backend, device, round, rounds);
        }
    }

    fn profile_start(&self, backend: &str, device: Device) {
        for r in &self.reporters {
            r.profile_start(backend, device);
        }
    }

    fn progress(&self, c: &Comparison) -> Result<()> {
        self.reporters.iter().try_for_each(|r| r.progress(c))
    }

    fn final_summary(&self, c: &Comparison) -> Result<()> {
        self.reporters.iter().try_for_each(|r| r.final_summary(c))
    }

    fn files(&self) -> Vec<PathBuf> {
        self.reporters.iter().flat_map(|r| r.files()).collect()
    }
}

/// Writes every file of [`Reports::files`] into `dir` (created if needed) and returns them.
///
/// # Errors
/// File errors naming the file.
pub fn write_all(c: &Comparison, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| infer_core::Error::io(dir, e))?;
    let files = Reports::files(dir);
    files.final_summary(c)?;
    Ok(files.files())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::cell::RefCell;

    use super::*;
    use infer_measure::{results::read_json, testing::synthetic};

    /// Records the events it sees.
    #[derive(Default)]
    struct Log(std::rc::Rc<RefCell<Vec<String>>>);

    impl Reporter for Log {
        fn measurement_start(&self, backend: &str, device: Device, round: usize, rounds: usize) {
            self.0.borrow_mut().push(format!("measure {backend} {device} {round}/{rounds}"));
        }

        fn final_summary(&self, c: &Comparison) -> Result<()> {
            self.0.borrow_mut().push(format!("final {}", c.entries.len()));
            Ok(())
        }
    }

    #[test]
    fn reports_fan_out_every_event_and_defaults_do_nothing() {
        let log = Log::default();
        let seen = log.0.clone();
        let reports = Reports::new().with(log).with(TerminalReport);
        reports.measurement_start("onnx", Device::Cpu, 1, 1);
        reports.profile_start("onnx", Device::Cpu);
        reports.progress(&synthetic()).unwrap();
        assert_eq!(*seen.borrow(), ["measure onnx cpu 1/1"], "progress and profile_start: no-ops for Log");
        assert!(reports.files().is_empty(), "neither writes files");
    }

    #[test]
    fn write_all_writes_every_file_and_keeps_raw_samples() {
        let c = synthetic();
        let dir = tempfile::tempdir().unwrap();
        let files = write_all(&c, &dir.path().join("out")).unwrap();
        let names: Vec<String> = files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["compare.json", "compare.csv", "compare.md", "compare.html"]);
        let back: Comparison = read_json(&files[0]).unwrap();
        assert_eq!((back.entries.len(), back.model.as_str()), (5, "resnet<18>"));
        assert_eq!(back.entries[4].status, c.entries[4].status);
        assert_eq!(back.entries[1].report.as_ref().unwrap().rows[1].samples_ms.len(), 40, "raw samples kept");
        assert!(std::fs::read_to_string(&files[1]).unwrap().starts_with("backend,device,batch,"));
        assert!(std::fs::read_to_string(&files[2]).unwrap().starts_with("# resnet<18> — backend comparison"));
        assert!(std::fs::read_to_string(&files[3]).unwrap().starts_with("<!DOCTYPE html>"));
    }
}
