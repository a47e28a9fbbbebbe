//! Operator profiles as tables: the top operator types or nodes by time.

use infer_measure::profile::OpRow;

use crate::table::Table;

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
    }
}
