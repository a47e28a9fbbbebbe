//! The search of `infer optimize-batch`: the probes as a table, the best batch marked, then the
//! largest batch that fits and the best-throughput batch.

use infer_core::Result;
use infer_measure::{
    batch_search::{BatchSearch, Outcome, Probe},
    memory::mib,
};

use crate::{
    document::{Document, Section, TableBlock, paragraph},
    report::{Format, Report, to_json},
    table::Table,
};

/// A batch search with where it ran: on a GPU no address-space limit applies.
#[derive(Debug, Clone, Copy)]
pub struct BatchSearchView<'a> {
    /// The search.
    pub search: &'a BatchSearch,
    /// Whether the probes ran on a GPU.
    pub on_gpu: bool,
}

impl Report for BatchSearchView<'_> {
    fn document(&self, _format: Format) -> Document {
        let s = self.search;
        let limit = match s.memory_limit {
            Some(bytes) => mib(bytes),
            None if self.on_gpu => "none on a GPU: the device's out-of-memory error ends a probe".into(),
            None => "none".into(),
        };
        let mut section = Section::new().block(TableBlock::new(table(s)).text([4]).main());
        section.push(paragraph(match s.largest_fit {
            Some(b) => {
                format!("largest batch that fits: {b} (each probe a child process, address space limit {limit})")
            }
            None => format!("no batch fits, not even 1 (address space limit {limit})"),
        }));
        let best = match (s.best_batch, s.max_latency_ms) {
            (Some(b), Some(bound)) => Some(format!("best throughput with median latency <= {bound} ms: batch {b}")),
            (Some(b), None) => Some(format!("best throughput: batch {b}")),
            (None, Some(bound)) => Some(format!("no batch meets the latency bound of {bound} ms")),
            (None, None) => None,
        };
        if let Some(best) = best {
            section.push(paragraph(best));
        }
        Document::new(format!("Batch sizes of {}", s.model)).section(section)
    }

    /// Every probe and the conclusion.
    fn json(&self) -> Result<String> {
        to_json(self.search)
    }
}

/// The probes as a table, with the best batch marked.
#[must_use]
pub fn table(s: &BatchSearch) -> Table {
    let mut t = Table::new(&["batch", "median ms", "items/s", "peak RSS", "result"]);
    let mut probes: Vec<&Probe> = s.probes.iter().collect();
    probes.sort_by_key(|p| p.batch_size);
    for p in probes {
        t.rows.push(match &p.outcome {
            Outcome::Fit { median_ms, throughput_per_s, peak_rss } => {
                let mut result = "fits".to_string();
                if s.max_latency_ms.is_some_and(|b| *median_ms > b) {
                    result = "fits, over the latency bound".into();
                }
                if s.best_batch == Some(p.batch_size) {
                    result.push_str(" (best throughput)");
                }
                vec![
                    p.batch_size.to_string(),
                    format!("{median_ms:.3}"),
                    format!("{throughput_per_s:.1}"),
                    peak_rss.map_or_else(|| "-".into(), mib),
                    result,
                ]
            }
            Outcome::DidNotFit { reason } => {
                vec![p.batch_size.to_string(), "-".into(), "-".into(), "-".into(), format!("did not fit: {reason}")]
            }
        });
    }
    t
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use infer_measure::batch_search::{conclude, search};

    use super::*;

    fn fake(limit: usize) -> impl FnMut(usize) -> Outcome {
        move |b| {
            if b <= limit {
                #[allow(clippy::cast_precision_loss)]
                let median_ms = 1.0 + 0.5 * b as f64;
                #[allow(clippy::cast_precision_loss)]
                let throughput_per_s = b as f64 * 1e3 / median_ms;
                Outcome::Fit { median_ms, throughput_per_s, peak_rss: None }
            } else {
                Outcome::DidNotFit { reason: "out of memory".into() }
            }
        }
    }

    #[test]
    fn failures_and_the_latency_bound_are_marked() {
        let s = conclude("m", 64, None, None, search(64, fake(0)));
        let t = table(&s);
        assert_eq!(t.rows[0][4], "did not fit: out of memory");
        // Latency 1 + 0.5 b ms: a 9 ms bound allows b <= 16.
        let s = conclude("m", 64, None, Some(9.0), search(64, fake(64)));
        let t = table(&s);
        let row16 = t.rows.iter().find(|r| r[0] == "16").unwrap();
        assert_eq!(row16[4], "fits (best throughput)");
        let row32 = t.rows.iter().find(|r| r[0] == "32").unwrap();
        assert_eq!(row32[4], "fits, over the latency bound");

        let view = BatchSearchView { search: &s, on_gpu: false };
        let text = view.render(Format::Terminal).unwrap();
        assert!(text.starts_with("batch  median ms  items/s  peak RSS  result\n"), "{text}");
        assert!(
            text.ends_with(
                "largest batch that fits: 64 (each probe a child process, address space limit none)\n\
             best throughput with median latency <= 9 ms: batch 16\n"
            ),
            "{text}"
        );
        let gpu = BatchSearchView { on_gpu: true, ..view }.render(Format::Terminal).unwrap();
        assert!(gpu.contains("address space limit none on a GPU"), "{gpu}");
        let none = conclude("m", 64, Some(1 << 30), None, search(64, fake(0)));
        let text = BatchSearchView { search: &none, on_gpu: false }.render(Format::Markdown).unwrap();
        assert!(text.contains("no batch fits, not even 1 (address space limit 1024.0 MiB)"), "{text}");
        assert!(view.render(Format::Html).unwrap().contains("fits (best throughput)"));
        assert!(view.render(Format::Csv).unwrap().starts_with("batch,median ms"));
        assert!(view.json().unwrap().contains("\"best_batch\": 16"));
    }
}
