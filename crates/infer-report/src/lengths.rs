//! Variable-length traffic, `infer bench --lengths` (a [`LengthsReport`] per device): the headline
//! figures (padding waste, useful tokens/s, items/s), the latency per length bucket, and in HTML
//! the latency against the length.

use infer_core::Result;
use infer_measure::lengths::LengthsReport;

use crate::{
    document::{Block, Document, List, Section, TableBlock, note, paragraph},
    evidence,
    report::{Format, Report, to_json},
    svg::{PALETTE, Series, line_chart},
    table::Table,
};

impl Report for Vec<LengthsReport> {
    fn document(&self, format: Format) -> Document {
        let mut s = Section::new().block(TableBlock::new(figures(self)).text([0, 1, 2, 3]).main());
        if format != Format::Terminal {
            s.push(note(
                "Each call carries a batch of requests whose lengths are drawn (seeded) from the distribution, \
                 padded to one length per --pad-to. Padding waste: padded positions over all positions fed; useful \
                 tokens/s: the requests' own lengths per second of calls. Buckets: the calls by their longest \
                 request, in powers of two.",
            ));
        }
        for r in self {
            if format == Format::Terminal {
                s.push(paragraph(format!("{} {}: latency per length bucket", r.backend, r.device)));
            } else {
                s.push(Block::Heading(crate::document::Heading::new(format!(
                    "{} {}: latency per length bucket",
                    r.backend, r.device
                ))));
            }
            s.push(Block::Table(TableBlock::new(buckets(r))));
        }
        let label = |r: &LengthsReport| format!("{} {}, batch {}", r.backend, r.device, r.batch_size);
        let mut host = evidence::host_lines(self.iter().map(|r| (label(r), r.host.as_ref())));
        host.extend(evidence::energy_lines(self.iter().map(|r| (label(r), r.energy.as_ref()))));
        if !host.is_empty() {
            s.push(List::plain(host));
        }
        if format == Format::Html {
            s.push(Block::Chart(chart(self)));
        }
        let title = self.first().map_or_else(String::new, |r| format!("Variable lengths: {}", r.model));
        Document::new(title).section(s)
    }

    /// One device: the report itself; several: a list (what `infer bench --lengths --json` writes).
    fn json(&self) -> Result<String> {
        match self.as_slice() {
            [one] => to_json(one),
            many => to_json(many),
        }
    }
}

/// One line per device: the draws, the padding and the throughput.
#[must_use]
pub fn figures(reports: &[LengthsReport]) -> Table {
    let mut t = Table::new(&[
        "backend",
        "device",
        "lengths",
        "pad to",
        "batch",
        "calls",
        "padding waste",
        "tokens/s",
        "items/s",
        "p50 ms",
        "p99 ms",
    ]);
    for r in reports {
        t.rows.push(vec![
            r.backend.clone(),
            r.device.to_string(),
            format!("{}={}", r.symbol, r.distribution),
            r.pad_to.clone(),
            r.batch_size.to_string(),
            r.iterations.to_string(),
            format!("{:.1}%", r.padding_waste * 100.0),
            format!("{:.1}", r.useful_tokens_per_s),
            format!("{:.1}", r.items_per_s),
            format!("{:.3}", r.latency_ms.p50),
            format!("{:.3}", r.latency_ms.p99),
        ]);
    }
    t
}

/// The latency of each length bucket of one report.
#[must_use]
pub fn buckets(r: &LengthsReport) -> Table {
    let mut t = Table::new(&["longest", "calls", "mean length", "mean padded", "p50 ms", "p95 ms", "p99 ms", "max ms"]);
    for b in &r.buckets {
        let l = &b.latency_ms;
        t.rows.push(vec![
            b.label(),
            b.calls.to_string(),
            format!("{:.1}", b.mean_length),
            format!("{:.1}", b.mean_padded),
            format!("{:.3}", l.p50),
            format!("{:.3}", l.p95),
            format!("{:.3}", l.p99),
            format!("{:.3}", l.max),
        ]);
    }
    t
}

/// Median latency of each bucket against its mean longest length, one line per device.
fn chart(reports: &[LengthsReport]) -> String {
    let series: Vec<Series> = reports
        .iter()
        .enumerate()
        .map(|(i, r)| Series {
            name: format!("{} {} p50", r.backend, r.device),
            color: PALETTE[i % PALETTE.len()].into(),
            points: r.buckets.iter().map(|b| (b.mean_length, b.latency_ms.p50)).collect(),
        })
        .collect();
    line_chart("Latency against length", "longest request in the call (mean of the bucket)", "p50 ms", &series, true)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use infer_core::Device;
    use infer_measure::{
        environment::Environment,
        lengths::{LengthCall, buckets},
        stats::Summary,
    };

    use super::*;

    fn report() -> LengthsReport {
        let call = |l: usize, latency_ms| LengthCall { lengths: vec![l], padded: l.div_ceil(8) * 8, latency_ms };
        let calls = vec![call(3, 1.0), call(20, 2.0), call(30, 2.5), call(100, 6.0)];
        LengthsReport {
            schema_version: 1,
            model: "m.onnx".into(),
            backend: "onnx".into(),
            device: Device::Cpu,
            environment: Environment::capture(0),
            load_ms: 1.0,
            symbol: "sequence".into(),
            distribution: "uniform:1..128".into(),
            pad_to: "multiple:8".into(),
            seed: 1,
            batch_size: 1,
            warmup_iterations: 0,
            iterations: 4,
            latency_ms: Summary::new(&[1.0, 2.0, 2.5, 6.0]).unwrap(),
            padding_waste: 0.1,
            useful_tokens_per_s: 1000.0,
            items_per_s: 500.0,
            buckets: buckets(&calls).unwrap(),
            calls,
            host: None,
            disturbed: Vec::new(),
            energy: None,
        }
    }

    #[test]
    fn every_format_carries_the_buckets_and_the_padding() {
        let runs = vec![report()];
        let text = runs.render(Format::Terminal).unwrap();
        assert!(text.starts_with("backend  device  lengths"), "{text}");
        assert!(text.contains("sequence=uniform:1..128") && text.contains("10.0%"), "{text}");
        assert!(text.contains("onnx cpu: latency per length bucket") && text.contains("17–32"), "{text}");
        let md = runs.render(Format::Markdown).unwrap();
        assert!(md.contains("| 65–128 | 1 |") && md.contains("padding waste"), "{md}");
        let html = runs.render(Format::Html).unwrap();
        assert_eq!(html.matches("class=\"mark point\"").count(), 3, "a point per bucket");
        assert!(html.contains("Latency against length"));
        let json: serde_json::Value = serde_json::from_str(&runs.json().unwrap()).unwrap();
        assert_eq!(json["buckets"].as_array().unwrap().len(), 3);
        assert_eq!(json["padding_waste"].as_f64(), Some(0.1));
        assert_eq!(runs.render(Format::Csv).unwrap().lines().count(), 2);
    }
}
