//! The reports of a [`Comparison`] (`infer compare`): on the terminal the results table, CPU
//! against GPU and where the time goes; in Markdown (and CSV, its results table) those with
//! what they mean, backends against each other and the environment; in HTML the page of
//! `page`, with the statistics' confidence intervals and the charts. The numbers come from
//! [`crate::analysis`], the text tables from [`tables`].

mod page;
pub mod tables;

use infer_core::Result;

use crate::{
    analysis::PROFILE_TOP,
    document::{Document, List, Section, TableBlock, environment, paragraph},
    report::{Format, Report, to_json},
};
use infer_measure::results::comparison::Comparison;

use self::tables::{PROFILE_NOTE, profile_sources};

impl Report for Comparison {
    fn document(&self, format: Format) -> Document {
        match format {
            Format::Terminal => summary(self),
            Format::Html => page::page(self),
            _ => full(self),
        }
    }

    fn json(&self) -> Result<String> {
        to_json(self)
    }
}

/// The terminal's text: the results, CPU against GPU and where the time goes.
fn summary(c: &Comparison) -> Document {
    let mut results = Section::new().block(TableBlock::new(tables::results(c)).main());
    host_lines(&mut results, c);
    let mut doc = Document::new(format!("{} — backend comparison", c.model)).section(results);
    let speed = tables::speedups(c);
    if !speed.rows.is_empty() {
        doc = doc.section(
            Section::titled("CPU against GPU (speed-up = cpu median / gpu median)")
                .block(speed)
                .block(List::plain(tables::speedup_verdicts(c))),
        );
    }
    let prof = tables::profiles(c);
    if !prof.rows.is_empty() {
        doc = doc.section(
            Section::titled("Where the time goes (top operator types per backend, from its own profiler)").block(prof),
        );
    }
    doc
}

/// The Markdown report: the results and what they mean, CPU against GPU, backends against each
/// other, where the time goes, and the environment.
fn full(c: &Comparison) -> Document {
    let mut results = Section::new().block(TableBlock::new(tables::results(c)).main()).block(paragraph(format!(
        "Latency is per call (batch), median of the timed iterations; RSS +model is the peak resident memory \
         minus the resident memory before loading (what the model added; the runtime libraries linked into \
         `infer` are left out); max |diff| is against the reference output of the framework that wrote each \
         model, or with model files the first file's output (tolerance {:.0e}); max rel diff is that over the \
         reference's largest magnitude, top-1 agree the share of rows whose top class agrees.",
        c.tolerance
    )));
    host_lines(&mut results, c);
    let mut doc = Document::new(format!("{} — backend comparison", c.model)).section(results);
    let speed = tables::speedups(c);
    if !speed.rows.is_empty() {
        doc = doc.section(
            Section::titled("CPU against GPU")
                .block(paragraph("Speed-up = CPU median / GPU median, same backend and batch size."))
                .block(speed)
                .block(List::plain(tables::speedup_verdicts(c))),
        );
    }
    let rel = tables::relative(c);
    if !rel.rows.is_empty() {
        doc = doc.section(
            Section::titled("Backends against each other")
                .block(paragraph(format!(
                    "Each backend's median relative to the fastest on the same device and batch size. {VERDICT_NOTE}"
                )))
                .block(rel),
        );
    }
    let prof = tables::profiles(c);
    if !prof.rows.is_empty() {
        doc = doc.section(
            Section::titled("Where the time goes")
                .block(paragraph(format!("Top {PROFILE_TOP} operator types per backend.")))
                .block(prof)
                .block(paragraph(PROFILE_NOTE))
                .block(List::plain(profile_sources(c))),
        );
    }
    doc.section(Section::titled("Environment").block(environment(&c.environment)))
}

/// What "faster" and "indistinguishable here" mean in the comparison's words.
pub const VERDICT_NOTE: &str = "A row is called faster or slower only when the 95% intervals of the two medians do \
     not overlap or the 95% bootstrap interval of the ratio of the medians excludes 1 (and, where both pooled \
     rounds, their rounds' medians do not overlap); otherwise they are indistinguishable here.";

/// Under the results table: the energy line(s), and the host's figures for every disturbed row
/// (its reasons are among the warnings).
fn host_lines(section: &mut Section, c: &Comparison) {
    let lines: Vec<String> = tables::energy(c).into_iter().chain(tables::disturbed(c)).collect();
    if !lines.is_empty() {
        section.push(List::plain(lines));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use infer_measure::testing::{synthetic, with_profiles};

    #[test]
    fn markdown_has_speedups_ranks_and_environment() {
        let md = synthetic().render(Format::Markdown).unwrap();
        assert!(md.starts_with("# resnet\\<18> — backend comparison\n\n| backend | device |"), "{md}");
        assert!(
            md.contains("## CPU against GPU") && md.contains("| onnx | cuda:0 | 8 | 150.00 | 5.00 | 30.00x |"),
            "{md}"
        );
        assert!(md.contains("## Backends against each other") && md.contains("- **GPU:**"), "{md}");
        assert!(!md.contains("Where the time goes"), "no profile, no section");
        assert!(md.contains("error: exit code 1: \\<script>alert(1)\\</script> |"), "no raw HTML from data: {md}");
    }

    #[test]
    fn markdown_shows_where_the_time_goes() {
        let md = with_profiles(synthetic()).render(Format::Markdown).unwrap();
        assert!(
            md.contains("## Where the time goes") && md.contains("\n- onnx on cpu: batch 1, 1 runs; ORT JSON\n"),
            "{md}"
        );
        assert!(md.contains("| torch | cpu | no profile: exit code 1: boom | - | - | - |"), "{md}");
    }

    #[test]
    fn the_host_and_energy_show_in_every_format() {
        use infer_measure::host::RowEnergy;
        let mut c = synthetic();
        let none = RowEnergy::not_available("no /sys/class/powercap, no NVML (x)");
        for (i, row) in c.entries.iter_mut().filter_map(|e| e.report.as_mut()).flat_map(|r| &mut r.rows).enumerate() {
            let disturbed: &[&str] = if i == 1 { &["other processes used 1.20 cores on average"] } else { &[] };
            *row = infer_measure::testing::observed(row.clone(), disturbed, none.clone());
        }
        let text = c.render(Format::Terminal).unwrap();
        assert!(text.contains("\nenergy: not available here (no /sys/class/powercap, no NVML (x))\n"), "{text}");
        assert!(text.contains("ok (disturbed)"), "the disturbed row's status: {text}");
        assert_eq!(text.lines().filter(|l| l.ends_with("ok (disturbed)")).count(), 1, "{text}");
        assert!(text.contains("\nonnx, batch 8: cuda:0 is faster than cpu (×30.00, 95% CI "), "{text}");
        assert!(text.contains("\nonnx cpu, batch 8: host: CPU not available here ("), "{text}");
        let md = c.render(Format::Markdown).unwrap();
        assert!(md.contains("- energy: not available here (no /sys/class/powercap") && md.contains("ok (disturbed) |"));
        assert!(md.contains("is faster than cpu (×") && md.contains("× slower (95% CI"), "{md}");
        let csv = c.render(Format::Csv).unwrap();
        assert!(csv.contains(",ok (disturbed)\n"), "{csv}");
    }

    #[test]
    fn terminal_has_the_tables_and_no_title() {
        let text = with_profiles(synthetic()).render(Format::Terminal).unwrap();
        assert!(text.starts_with("backend  device  batch"), "{text}");
        assert!(text.contains("\nCPU against GPU (speed-up = cpu median / gpu median):\nbackend  gpu"), "{text}");
        assert!(text.contains("\nWhere the time goes (top operator types per backend, from its own profiler):\n"));
        assert!(!text.contains("Backends against each other") && !text.contains("resnet"), "{text}");
    }

    #[test]
    fn every_format_renders_and_csv_is_the_results_table() {
        let c = with_profiles(synthetic());
        for format in [Format::Terminal, Format::Markdown, Format::Csv, Format::Json, Format::Html] {
            let text = c.render(format).unwrap();
            assert!(text.contains("150"), "{format}: the onnx cpu batch-8 median");
            assert!(text.contains("onnx") && text.contains("torch"), "{format}");
        }
        let csv = c.render(Format::Csv).unwrap();
        assert!(csv.starts_with("backend,device,batch,median ms,p95 ms,p99 ms,items/s,RSS +model,max |diff|,status\n"));
        assert_eq!(csv.lines().count(), 1 + 4 * 2 + 1, "a line per measured row, one for tf");
        let back: Comparison = serde_json::from_str(&c.json().unwrap()).unwrap();
        assert_eq!(back.entries.len(), 5);
    }
}
