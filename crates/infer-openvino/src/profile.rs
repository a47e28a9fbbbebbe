//! OpenVINO's per-layer performance counters as an [`OpProfile`].
//!
//! With `PERF_COUNT` on, the CPU plugin keeps for every node of the compiled graph the *mean* of
//! its execution times since compilation, in whole microseconds. infer reads the counters after
//! every profiled run, so run `r` (from 0) gives a cumulative total `mean × (r + 1)`; the
//! difference between consecutive totals is the run's time, which places every event in its run
//! and lets the warm-up runs be left out. Because the mean is truncated, one run's figure can be
//! off by up to `r` µs, but the sum over runs `a..b` telescopes to within `b` µs of the truth.
//! The cumulative totals are made non-decreasing first, so no event is negative.
//!
//! ```
//! use infer_openvino::profile::{Counter, from_counters};
//!
//! let c = |mean_us| vec![Counter { node: "conv".into(), node_type: "Convolution".into(), exec_type: "brgconv_avx512_f32".into(), executed: true, mean_us }];
//! // Means 200, 130, 115 µs after runs 0, 1, 2: totals 200, 260, 345 µs.
//! let p = from_counters(&[c(200), c(130), c(115)]);
//! let got: Vec<_> = p.events.iter().map(|e| (e.run, e.duration_us)).collect();
//! assert_eq!(got, [(Some(0), 200.0), (Some(1), 60.0), (Some(2), 85.0)]);
//! assert_eq!((p.runs, p.events[0].op_type.as_str()), (3, "Convolution"));
//! ```

use std::collections::BTreeMap;

use infer_core::profile::{OpEvent, OpProfile};

/// One node's counter, as OpenVINO reports it after a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    /// Node name in the compiled graph (`conv/WithoutBiases`, or a `Reorder` OpenVINO inserted).
    pub node: String,
    /// Operation type (`Convolution`, `Eltwise`, `Reorder`).
    pub node_type: String,
    /// The kernel that ran it (`brgconv_avx512_f32`, `jit_avx512_bf16`): says the precision used.
    pub exec_type: String,
    /// Whether the node ran (fused or optimized-out nodes did not).
    pub executed: bool,
    /// Mean execution time since compilation, whole microseconds.
    pub mean_us: u64,
}

/// Turns the counters read after each run (`snapshots[r]` after run `r`) into per-run events of
/// the nodes that ran.
#[must_use]
pub fn from_counters(snapshots: &[Vec<Counter>]) -> OpProfile {
    // Per node (first-seen order): its type and the mean read after each run.
    let mut order: Vec<String> = Vec::new();
    let mut nodes: BTreeMap<String, (String, Vec<Option<u64>>, bool)> = BTreeMap::new();
    for (run, snapshot) in snapshots.iter().enumerate() {
        for c in snapshot {
            let entry = nodes.entry(c.node.clone()).or_insert_with(|| {
                order.push(c.node.clone());
                (c.node_type.clone(), vec![None; snapshots.len()], false)
            });
            entry.1[run] = Some(c.mean_us);
            entry.2 |= c.executed;
        }
    }
    let mut events = Vec::new();
    for name in &order {
        let (op_type, means, executed) = &nodes[name];
        if !executed {
            continue;
        }
        let mut emitted = 0u64;
        for (run, mean) in means.iter().enumerate() {
            let Some(mean) = mean else { continue };
            let total = mean.saturating_mul(run as u64 + 1).max(emitted);
            #[allow(clippy::cast_precision_loss)]
            let duration_us = (total - emitted) as f64;
            emitted = total;
            events.push(OpEvent {
                op_type: op_type.clone(),
                node: name.clone(),
                duration_us,
                calls: 1,
                run: Some(run as u64),
            });
        }
    }
    OpProfile {
        backend: crate::BACKEND.into(),
        source: format!(
            "OpenVINO performance counters (PERF_COUNT: per-node mean since compilation, read after each of {} runs)",
            snapshots.len()
        ),
        runs: snapshots.len() as u64,
        events,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(node: &str, executed: bool, mean_us: u64) -> Counter {
        Counter { node: node.into(), node_type: "Eltwise".into(), exec_type: "jit".into(), executed, mean_us }
    }

    #[test]
    fn truncated_means_never_give_negative_runs_and_sums_telescope() {
        // True times 3, 2, 2, 2 µs: means 3, 2 (5/2), 2 (7/3), 2 (9/4): totals 3, 4, 6, 8.
        let snaps: Vec<Vec<Counter>> = [3, 2, 2, 2]
            .iter()
            .map(|&m| vec![counter("a", true, m), counter("fused", false, 0), counter("param", false, 0)])
            .collect();
        let p = from_counters(&snaps);
        let a: Vec<f64> = p.events.iter().map(|e| e.duration_us).collect();
        assert_eq!(a, [3.0, 1.0, 2.0, 2.0]);
        assert!(p.events.iter().all(|e| e.node == "a" && e.calls == 1));
        assert_eq!(p.runs, 4);
        // A mean that drops faster than the truncation allows is clamped, not negative.
        let p = from_counters(&[vec![counter("b", true, 10)], vec![counter("b", true, 4)]]);
        assert_eq!(p.events.iter().map(|e| e.duration_us).collect::<Vec<_>>(), [10.0, 0.0]);
        assert!(from_counters(&[]).events.is_empty());
    }
}
