//! The Markdown report (`compare.md`): the results table, CPU against GPU, backends against
//! each other, where the time goes, and the environment.

use std::path::{Path, PathBuf};

use infer_core::Result;

use crate::analysis::{self, PROFILE_TOP, ProfileOutcome};
use crate::{reporters::Reporter, tables};
use infer_measure::results::comparison::Comparison;

/// Writes the Markdown report to one file, after every row and at the end.
#[derive(Debug, Clone)]
pub struct MarkdownReport {
    path: PathBuf,
}

impl MarkdownReport {
    /// A reporter writing `path`.
    #[must_use]
    pub fn new(path: &Path) -> Self {
        Self { path: path.to_path_buf() }
    }
}

impl Reporter for MarkdownReport {
    fn progress(&self, c: &Comparison) -> Result<()> {
        infer_core::fsutil::write_atomic(&self.path, render(c).as_bytes())
    }

    fn final_summary(&self, c: &Comparison) -> Result<()> {
        self.progress(c)
    }

    fn files(&self) -> Vec<PathBuf> {
        vec![self.path.clone()]
    }
}

/// What the profile section's shares mean, before the list of where each profile came from.
pub const PROFILE_NOTE: &str = "Each backend's own profiler, in a child process after the timed rounds, at the first \
     batch size (2 warm-up runs left out). Shares are of the operator time that profiler saw. The profilers name \
     different things (ONNX Runtime: fused graph nodes; libtorch: ATen ops by self time; TensorFlow: graph \
     kernels), so compare where the time goes, not the names.";

/// Where each profile came from: `onnx on cpu: batch 1, 5 runs; <profiler>`, one per profile.
#[must_use]
pub fn profile_sources(c: &Comparison) -> Vec<String> {
    analysis::profiles(c)
        .into_iter()
        .filter_map(|p| match p.outcome {
            ProfileOutcome::Profiled { summary, .. } => Some(format!(
                "{} on {}: batch {}, {} runs; {}",
                p.backend, p.device, summary.batch_size, summary.runs, summary.source
            )),
            ProfileOutcome::Failed(_) => None,
        })
        .collect()
}

/// The Markdown report as text.
#[must_use]
pub fn render(c: &Comparison) -> String {
    let mut text = format!("# {} — backend comparison\n\n{}", c.model, tables::results(c).to_markdown());
    text.push_str(&format!(
        "\nLatency is per call (batch), median of the timed iterations; RSS +model is the peak resident memory \
         minus the resident memory before loading (what the model added; the runtime libraries linked into \
         `infer` are left out); max |diff| is against the reference output of the framework that wrote each \
         model, or with model files the first file's output (tolerance {:.0e}); max rel diff is that over the \
         reference's largest magnitude, top-1 agree the share of rows whose top class agrees.\n",
        c.tolerance
    ));
    let speed = tables::speedups(c);
    if !speed.rows.is_empty() {
        text.push_str(&format!(
            "\n## CPU against GPU\n\nSpeed-up = CPU median / GPU median, same backend and batch size.\n\n{}",
            speed.to_markdown()
        ));
    }
    let rel = tables::relative(c);
    if !rel.rows.is_empty() {
        text.push_str(&format!(
            "\n## Backends against each other\n\nEach backend's median relative to the fastest on the same device \
             and batch size.\n\n{}",
            rel.to_markdown()
        ));
    }
    let prof = tables::profiles(c);
    if !prof.rows.is_empty() {
        text.push_str(&format!(
            "\n## Where the time goes\n\nTop {PROFILE_TOP} operator types per backend.\n\n{}\n{PROFILE_NOTE}",
            prof.to_markdown()
        ));
        for source in profile_sources(c) {
            text.push_str(&format!("\n- {source}"));
        }
        text.push('\n');
    }
    text.push_str("\n## Environment\n\n");
    for (k, v) in c.environment.lines() {
        let v = if k == "Command" { format!("`{v}`") } else { v };
        text.push_str(&format!("- **{k}:** {v}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use infer_measure::testing::{synthetic, with_profiles};

    #[test]
    fn markdown_has_speedups_ranks_and_environment() {
        let md = render(&synthetic());
        assert!(
            md.contains("## CPU against GPU") && md.contains("| onnx | cuda:0 | 8 | 150.00 | 5.00 | 30.00x |"),
            "{md}"
        );
        assert!(md.contains("## Backends against each other") && md.contains("- **GPU:**"), "{md}");
        assert!(!md.contains("Where the time goes"), "no profile, no section");
    }

    #[test]
    fn markdown_shows_where_the_time_goes() {
        let md = render(&with_profiles(synthetic()));
        assert!(
            md.contains("## Where the time goes") && md.contains("\n- onnx on cpu: batch 1, 1 runs; ORT JSON\n"),
            "{md}"
        );
        assert!(md.contains("| torch | cpu | no profile: exit code 1: boom | - | - | - |"), "{md}");
    }
}
