//! The load test of `infer bench --concurrency N` (a [`LoadReport`] per device and batch size):
//! one line per run. The terminal shows the table (`infer bench` prints each run's warnings on
//! stderr as it ends); the other formats list the warnings under it.

use infer_core::Result;
use infer_measure::{
    concurrent::{LoadReport, RssPoint},
    memory,
};

use crate::{
    document::{Block, Document, List, Section, TableBlock, Warning},
    evidence,
    report::{Format, Report, to_json},
    table::Table,
};

impl Report for Vec<LoadReport> {
    fn document(&self, format: Format) -> Document {
        let mut s = Section::new().block(TableBlock::new(table(self)).text([0, 1]).main());
        let label =
            |r: &LoadReport| format!("{} {}, {} workers, batch {}", r.backend, r.device, r.concurrency, r.batch_size);
        let mut host = evidence::host_lines(self.iter().map(|r| (label(r), r.host.as_ref())));
        host.extend(evidence::energy_lines(self.iter().map(|r| (label(r), r.energy.as_ref()))));
        if !host.is_empty() {
            s.push(List::plain(host));
        }
        if format != Format::Terminal {
            s.push(Block::Warnings(
                self.iter()
                    .flat_map(|r| r.warnings.iter().map(|w| Warning::about(format!("{} {}", r.backend, r.device), w)))
                    .collect(),
            ));
        }
        let title = self.first().map_or_else(String::new, |r| format!("Load test: {}", r.model));
        Document::new(title).section(s)
    }

    /// The list of runs (what `infer bench --concurrency N --json` writes).
    fn json(&self) -> Result<String> {
        to_json(self)
    }
}

/// The terminal table of load reports.
#[must_use]
pub fn table(reports: &[LoadReport]) -> Table {
    let mut t = Table::new(&[
        "backend",
        "device",
        "workers",
        "batch",
        "requests",
        "req/s",
        "items/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "RSS start",
        "RSS end",
    ]);
    for r in reports {
        let l = &r.latency_ms;
        let rss = |p: Option<&RssPoint>| p.map_or_else(|| "-".into(), |p| memory::mib(p.rss));
        t.rows.push(vec![
            r.backend.clone(),
            r.device.to_string(),
            r.concurrency.to_string(),
            r.batch_size.to_string(),
            r.requests.to_string(),
            format!("{:.1}", r.requests_per_s),
            format!("{:.1}", r.items_per_s),
            format!("{:.3}", l.p50),
            format!("{:.3}", l.p95),
            format!("{:.3}", l.p99),
            format!("{:.3}", l.max),
            rss(r.rss.first()),
            rss(r.rss.last()),
        ]);
    }
    t
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use infer_core::Device;
    use infer_measure::{environment::Environment, stats::Summary};

    use super::*;

    #[test]
    fn every_format_has_a_line_per_run() {
        let one = LoadReport {
            model: "m.onnx".into(),
            backend: "onnx".into(),
            device: Device::Cpu,
            concurrency: 4,
            batch_size: 2,
            elapsed_s: 2.0,
            requests: 400,
            requests_per_worker: vec![100; 4],
            latency_ms: Summary::new(&[1.0, 2.0, 3.0, 9.0]).unwrap(),
            requests_per_s: 200.0,
            items_per_s: 400.0,
            rss: vec![RssPoint { t_s: 0.0, rss: 10 << 20 }, RssPoint { t_s: 1.0, rss: 12 << 20 }],
            rss_growth: Some(2 << 20),
            warnings: vec!["RSS grew <a lot>".into()],
            environment: Environment::capture(0),
            host: None,
            disturbed: Vec::new(),
            energy: None,
        };
        let mut two = one.clone();
        two.device = Device::Cuda(0);
        two.rss.clear();
        let runs = vec![one, two];
        let text = runs.render(Format::Terminal).unwrap();
        assert!(text.starts_with("backend  device  workers  batch  requests  req/s"), "{text}");
        assert!(text.contains("\nonnx     cpu     4        2      400       200.0  400.0"), "{text}");
        assert!(text.contains("10.0 MiB") && !text.contains("warning"), "{text}");
        let md = runs.render(Format::Markdown).unwrap();
        assert!(md.contains("| onnx | cuda:0 | 4 | 2 | 400 |") && md.contains("- **onnx cpu:** RSS grew \\<a lot>"));
        assert!(runs.render(Format::Html).unwrap().contains("RSS grew &lt;a lot&gt;"));
        assert_eq!(runs.render(Format::Csv).unwrap().lines().count(), 3);
        assert!(runs.json().unwrap().starts_with('['));
    }
}
