//! Operator profiles (`infer profile`): what was profiled, then the top operator types and the
//! top nodes by time, and where the profile came from.

use infer_core::Result;
use infer_measure::profile::{OpRow, ProfileSummary};

use crate::{
    document::{Document, List, Section, TableBlock, paragraph},
    report::{Format, Report, to_json},
    table::Table,
};

/// A profile with how it is shown: the lines per table, and whether the runtime's raw profile
/// file was kept.
#[derive(Debug, Clone, Copy)]
pub struct ProfileView<'a> {
    /// The profile.
    pub summary: &'a ProfileSummary,
    /// Lines per table.
    pub top: usize,
    /// Whether the raw profile file was kept (`--keep-trace`); otherwise the source line says
    /// it was a temporary file.
    pub trace_kept: bool,
}

impl Report for ProfileView<'_> {
    fn document(&self, _format: Format) -> Document {
        let s = self.summary;
        #[allow(clippy::cast_precision_loss)]
        let per_run_ms = s.total_us / 1e3 / s.runs.max(1) as f64;
        let head = format!(
            "{} on {}: {} profiled runs at batch {} ({} warm-up runs left out), operator time {per_run_ms:.3} ms per run",
            s.model, s.backend, s.runs, s.batch_size, s.warmup_runs
        );
        let inputs = s.inputs.iter().map(|i| match &i.values {
            Some(v) => format!("input {}: {} {:?} {v}", i.name, i.dtype, i.shape),
            None => format!("input {}: {} {:?} {}", i.name, i.dtype, i.shape, i.source),
        });
        let kept = if self.trace_kept { "" } else { " (a temporary file, removed: keep it with --keep-trace DIR)" };
        Document::new(format!("Operator profile: {} on {}", s.model, s.backend))
            .section(Section::new().block(paragraph(head)).block(List::plain(inputs)))
            .section(
                Section::titled("top operator types by total time")
                    .block(TableBlock::new(table(&s.by_type, self.top, "op type")).text([0]).main()),
            )
            .section(
                Section::titled("top nodes by total time")
                    .block(TableBlock::new(table(&s.by_node, self.top, "node")).text([0, 1])),
            )
            .section(Section::new().block(paragraph(format!("source: {}{kept}", s.source))))
    }

    /// The whole summary: every operator type and node.
    fn json(&self) -> Result<String> {
        to_json(self.summary)
    }
}

/// The top `top` lines of `rows` as a table; `first` titles the name column, and the op-type
/// column is shown only for nodes (when `first` is not `op type`).
#[must_use]
pub fn table(rows: &[OpRow], top: usize, first: &str) -> Table {
    let nodes = first != "op type";
    let header: &[&str] = if nodes { &[first, "op type"] } else { &[first] };
    let mut t = Table::new(&[header, &["total ms", "per run ms", "calls", "share %"]].concat());
    for r in rows.iter().take(top) {
        let mut cells = vec![r.name.clone()];
        if nodes {
            cells.push(r.op_type.clone());
        }
        cells.extend([
            format!("{:.3}", r.total_us / 1e3),
            format!("{:.3}", r.per_run_us / 1e3),
            r.calls.to_string(),
            format!("{:.1}", r.share_pct),
        ]);
        t.rows.push(cells);
    }
    t
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use infer_core::profile::{OpEvent, OpProfile};
    use infer_measure::profile::summarize;

    use super::*;

    fn ev(op: &str, node: &str, us: f64, run: Option<u64>) -> OpEvent {
        OpEvent { op_type: op.into(), node: node.into(), duration_us: us, calls: 1, run }
    }

    #[test]
    fn tables_of_nodes_and_op_types() {
        let p = OpProfile {
            backend: "x".into(),
            source: "t".into(),
            runs: 3,
            events: vec![
                ev("Conv", "c1", 1000.0, Some(0)),
                ev("Relu", "r1", 1000.0, Some(0)),
                ev("Conv", "c1", 60.0, Some(1)),
                ev("Conv", "c2", 20.0, Some(1)),
                ev("Relu", "r1", 20.0, Some(1)),
                ev("Conv", "c1", 60.0, Some(2)),
                ev("Conv", "c2", 20.0, Some(2)),
                ev("Relu", "r1", 20.0, Some(2)),
            ],
        };
        let s = summarize(&p, 1, "m.onnx", 2);
        let t = table(&s.by_node, 2, "node");
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0], ["c1", "Conv", "0.120", "0.060", "2", "60.0"]);
        let t = table(&s.by_type, 15, "op type");
        assert_eq!(t.header, ["op type", "total ms", "per run ms", "calls", "share %"]);
        assert_eq!(t.rows[1], ["Relu", "0.040", "0.020", "2", "20.0"]);

        let view = ProfileView { summary: &s, top: 1, trace_kept: false };
        let text = view.render(Format::Terminal).unwrap();
        assert!(text.starts_with("m.onnx on x: 2 profiled runs at batch 2 (1 warm-up runs left out), operator time"));
        assert!(text.contains("\n\ntop operator types by total time:\nop type  total ms"), "{text}");
        assert!(text.contains("\n\ntop nodes by total time:\nnode  op type"), "{text}");
        assert!(text.ends_with("\n\nsource: t (a temporary file, removed: keep it with --keep-trace DIR)\n"));
        let kept = ProfileView { trace_kept: true, ..view };
        assert!(kept.render(Format::Terminal).unwrap().ends_with("\n\nsource: t\n"));
        let md = view.render(Format::Markdown).unwrap();
        assert!(md.contains("## top nodes by total time\n\n| node | op type |") && md.contains("| c1 | Conv |"));
        assert!(view.render(Format::Csv).unwrap().starts_with("op type,total ms"), "the operator types");
        assert!(view.render(Format::Html).unwrap().contains("<td class=\"text\">Conv</td>"));
        assert!(view.json().unwrap().contains("\"by_node\""));
    }
}
