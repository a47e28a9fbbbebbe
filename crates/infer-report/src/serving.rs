//! The reports of a serving comparison ([`ServingComparison`], `infer compare --scenario`): the
//! table a deployment engineer reads (backend, device, batching, the highest sustainable rate,
//! p50/p99 there) on the terminal, in `serving.md` and in `serving.html`, with latency
//! percentiles against the offered rate (one curve per configuration) on the page; `serving.json`
//! keeps every request's raw record.

use infer_core::Result;
use infer_measure::{
    results::serving::{ServingComparison, ServingRow},
    scenario::ScenarioKind,
};

use crate::{
    document::{Block, Document, Inline, List, Section, TableBlock, Warning, environment, note, paragraph},
    evidence,
    report::{Format, Report, to_json},
    svg::{PALETTE, Series, line_chart},
    table::Table,
};

impl Report for ServingComparison {
    fn document(&self, format: Format) -> Document {
        match format {
            Format::Terminal => summary(self),
            Format::Html => page(self),
            _ => full(self),
        }
    }

    fn json(&self) -> Result<String> {
        to_json(self)
    }
}

/// The comparison table: one line per (backend, device, batching); the columns follow the
/// scenario (a search, one server run, offline).
#[must_use]
pub fn table(c: &ServingComparison) -> Table {
    let search = c.options.iter().any(|o| o == "--find-max-rate");
    let columns: &[&str] = match (c.scenario, search) {
        (ScenarioKind::Server, true) => &["max rate/s", "p50 ms at max", "p99 ms at max", "closed loop/s", "found"],
        (ScenarioKind::Server, false) => &["rate/s", "served/s", "p50 ms", "p99 ms", "mean batch", "sustainable"],
        _ => &["items/s", "best batch"],
    };
    let mut t = Table::new(&[&["backend", "device", "batching"], columns, &["status"]].concat());
    let num = |v: Option<f64>, digits: usize| {
        v.filter(|v| v.is_finite()).map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
    };
    let yes = |v: Option<bool>| v.map_or_else(|| "-".into(), |b| if b { "yes".to_string() } else { "no".into() });
    for row in &c.rows {
        let mut cells = vec![row.backend.clone(), row.device.to_string(), row.batching.clone()];
        match row.figures() {
            None => cells.resize(3 + columns.len(), "-".into()),
            Some(f) => cells.extend(match (c.scenario, search) {
                (ScenarioKind::Server, true) => vec![
                    num(f.rate_per_s, 1),
                    num(f.p50_ms, 2),
                    num(f.p99_ms, 2),
                    num(f.throughput_per_s, 1),
                    yes(f.sustainable),
                ],
                (ScenarioKind::Server, false) => vec![
                    num(f.rate_per_s, 1),
                    num(f.throughput_per_s, 1),
                    num(f.p50_ms, 2),
                    num(f.p99_ms, 2),
                    num(f.batch, 2),
                    yes(f.sustainable),
                ],
                _ => vec![num(f.throughput_per_s, 1), num(f.batch, 0)],
            }),
        }
        cells.push(row.status.to_string());
        t.rows.push(cells);
    }
    t
}

/// Each row's warnings, named by its label.
fn warnings(c: &ServingComparison) -> Block {
    Block::Warnings(
        c.rows
            .iter()
            .flat_map(|r| r.warnings().into_iter().map(move |w| Warning::plain(format!("{}: {w}", r.label()))))
            .collect(),
    )
}

/// The terminal: what was run, the table, the host and energy lines, the warnings.
fn summary(c: &ServingComparison) -> Document {
    Document::new(format!("Serving comparison: {}", c.model))
        .section(Section::new().block(paragraph(format!("{} — {}", c.model, c.options.join(" ")))))
        .section(Section::new().block(TableBlock::new(table(c)).main()).block(host(c)).block(warnings(c)))
}

/// The energy line(s) of every row that ran, then the host's figures of every disturbed row.
fn host(c: &ServingComparison) -> Block {
    let reports = || c.rows.iter().filter_map(|r| r.report.as_ref().map(|rep| (r.label(), rep)));
    let mut lines = evidence::energy_lines(reports().map(|(label, r)| (label, r.energy.as_ref())));
    lines.extend(evidence::host_lines(
        reports().filter(|(_, r)| !r.disturbed.is_empty()).map(|(label, r)| (label, r.host.as_ref())),
    ));
    List::plain(lines).into()
}

/// The options every row ran with, as code.
fn options(c: &ServingComparison) -> Block {
    Block::Paragraph(Inline::Code(c.options.join(" ")))
}

/// `serving.md`: the options, the table, the warnings.
fn full(c: &ServingComparison) -> Document {
    let mut doc = Document::new(format!("Serving comparison: {}", c.model))
        .section(Section::new().block(options(c)).block(TableBlock::new(table(c)).main()).block(host(c)));
    let w = warnings(c);
    if !matches!(&w, Block::Warnings(ws) if ws.is_empty()) {
        doc = doc.section(Section::titled("Warnings").block(w));
    }
    doc
}

/// `serving.html`: the options, the table (errors in red), the warnings, the curves, every
/// probe and the runtimes.
fn page(c: &ServingComparison) -> Document {
    let mut t = TableBlock::new(table(c)).text([0, 1, 2]).main();
    let status = t.table.header.len() - 1;
    for (r, row) in c.rows.iter().enumerate() {
        t.mark(r, status, if row.status.is_error() { "bad" } else { "" });
    }
    let mut doc = Document::new(format!("Serving comparison: {}", c.model))
        .section(Section::new().block(options(c)).block(t).block(host(c)).block(warnings(c)));
    if let Some(curves) = rate_charts(c) {
        doc = doc.section(curves);
    }
    for probes in probe_tables(c) {
        doc = doc.section(probes);
    }
    doc.section(Section::titled("Environment").block(environment(&c.environment)))
}

/// Every probe of every search, a section per row: its rate, its span of schedule, the requests
/// it answered and its verdict.
fn probe_tables(c: &ServingComparison) -> Vec<Section> {
    let mut out = Vec::new();
    for row in &c.rows {
        let Some(infer_measure::scenario::ScenarioResult::FindMaxRate(search)) = row.report.as_ref().map(|r| &r.result)
        else {
            continue;
        };
        let mut t = Table::new(&["probe", "req/s", "seconds of schedule", "requests", "result", "why"]);
        for (i, p) in search.probes.iter().enumerate() {
            t.rows.push(vec![
                (i + 1).to_string(),
                format!("{:.2}", p.rate),
                format!("{:.2}", p.duration_s),
                p.requests.to_string(),
                infer_measure::scenario::search::outcome_word(p.outcome).into(),
                p.reason.clone(),
            ]);
        }
        out.push(Section::titled(format!("Probes: {}", row.label())).block(TableBlock::new(t).text([5])));
    }
    out
}

/// The latency-against-offered-rate curves of the rows that searched, one per configuration.
fn rate_charts(c: &ServingComparison) -> Option<Section> {
    let searched: Vec<&ServingRow> = c.rows.iter().filter(|r| !r.probes().is_empty()).collect();
    if searched.is_empty() {
        return None;
    }
    let series = |pick: fn(&(f64, f64, f64)) -> f64| -> Vec<Series> {
        searched
            .iter()
            .enumerate()
            .map(|(i, r)| Series {
                name: r.label(),
                color: PALETTE[i % PALETTE.len()].into(),
                points: r.probes().iter().map(|p| (p.0, pick(p))).collect(),
            })
            .collect()
    };
    Some(
        Section::titled("Latency against offered rate")
            .block(note(
                "Each point is one probe of the search (a server run at that rate, stopped by early stopping); \
                 latency counts from each request's scheduled arrival, so queueing shows.",
            ))
            .block(Block::Chart(line_chart(
                "p99 latency against offered rate",
                "offered rate (requests/s)",
                "p99 ms",
                &series(|p| p.2),
                true,
            )))
            .block(Block::Chart(line_chart(
                "p50 latency against offered rate",
                "offered rate (requests/s)",
                "p50 ms",
                &series(|p| p.1),
                true,
            ))),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use infer_core::Device;
    use infer_measure::{
        results::{comparison::RowStatus, serving::SERVING_SCHEMA_VERSION},
        scenario::ScenarioReport,
    };

    use super::*;

    /// A serving comparison of `reports` (each an onnx row), a torch row that failed with markup
    /// in its message, and a tf row not compiled.
    pub(crate) fn serving(reports: Vec<ScenarioReport>) -> ServingComparison {
        let row = |backend: &str, status: RowStatus, report: Option<ScenarioReport>| ServingRow {
            backend: backend.into(),
            device: Device::Cpu,
            batching: "none".into(),
            status,
            report,
        };
        let mut rows: Vec<ServingRow> = reports.into_iter().map(|r| row("onnx", RowStatus::Ok, Some(r))).collect();
        rows.push(row("torch", RowStatus::Error { message: "exit code 1: <b>boom</b>".into() }, None));
        rows.push(row("tf", RowStatus::NotCompiled, None));
        ServingComparison {
            schema_version: SERVING_SCHEMA_VERSION,
            model: "tiny<cnn>".into(),
            scenario: ScenarioKind::Offline,
            options: vec!["--scenario".into(), "offline".into()],
            environment: infer_measure::environment::Environment::capture(1),
            rows,
        }
    }

    #[test]
    fn every_format_shows_the_table_and_the_warnings() {
        let c = serving(vec![crate::scenario::tests::offline_report()]);
        let text = c.render(Format::Terminal).unwrap();
        assert!(text.starts_with("tiny<cnn> — --scenario offline\n\nbackend  device  batching  items/s"), "{text}");
        assert!(text.contains("\nonnx     cpu     none      640.0    4           ok\n"), "{text}");
        assert!(text.ends_with("warning: onnx cpu, none: batch 64 skipped\n"), "{text}");
        let md = c.render(Format::Markdown).unwrap();
        assert!(md.starts_with("# Serving comparison: tiny\\<cnn>\n\n`--scenario offline`\n\n| backend |"), "{md}");
        assert!(md.ends_with("## Warnings\n\n- onnx cpu, none: batch 64 skipped\n"), "{md}");
        let html = c.render(Format::Html).unwrap();
        assert!(html.contains("<td class=\"bad\">error: exit code 1: &lt;b&gt;boom&lt;/b&gt;</td>"), "{html}");
        assert!(html.contains("<ul class=\"warnings\"><li>onnx cpu, none: batch 64 skipped</li></ul>"));
        assert!(!html.contains("<svg"), "no search, no curves");
        assert_eq!(c.render(Format::Csv).unwrap().lines().count(), 4, "a line per row");
        assert!(c.json().unwrap().contains("\"calls_ms\""), "raw records kept");
    }
}
