//! Turning the events of libtorch's profiler into an operator profile.
//!
//! With the `runtime` feature, a session loaded with `LoadOptions::profile_prefix` runs libtorch's
//! Kineto profiler (through infer's C++ shim, `cpp/profiler.cpp`) and wraps each run in a user
//! scope named [`RUN_SCOPE`] + its index. The profiler reports every op it saw as a [`RawEvent`]
//! with its *inclusive* time: `aten::conv2d` holds `aten::convolution`, which holds
//! `aten::_convolution`, which holds `aten::mkldnn_convolution`. [`op_profile`] nests the events
//! of each thread and keeps each op's *self* time (its time minus its children's), so that summing
//! the events counts every microsecond once.
//!
//! ```
//! use infer_torch::profile::{RawEvent, op_profile};
//!
//! let ev = |name: &str, scope, start, end| RawEvent {
//!     name: name.into(), scope, tid: 1, start_ns: start, end_ns: end, modules: Vec::new(),
//! };
//! let events = [
//!     ev("infer::run#0", 7, 0, 1_000),
//!     ev("aten::conv2d", 0, 100, 900),
//!     ev("aten::mkldnn_convolution", 0, 150, 850),
//!     ev("aten::to", 0, 1_100, 1_200), // outside every run: the input and output copies
//! ];
//! let p = op_profile(&events, "test".into());
//! let got: Vec<_> = p.events.iter().map(|e| (e.op_type.as_str(), e.duration_us, e.run)).collect();
//! assert_eq!(got, [("aten::conv2d", 0.1, Some(0)), ("aten::mkldnn_convolution", 0.7, Some(0))]);
//! assert_eq!(p.runs, 1);
//! ```

use std::{
    cmp::Reverse,
    collections::{BTreeMap, HashMap},
};

use infer_core::{
    Error, Result,
    profile::{OpEvent, OpProfile},
};
use serde::{Deserialize, Serialize};

use crate::BACKEND;

/// Name of the user scope around each profiled run, followed by the run's index (`infer::run#0`).
pub const RUN_SCOPE: &str = "infer::run#";

/// libtorch's `at::RecordScope::FUNCTION`: the scope of ATen ops. Other scopes (TorchScript
/// functions, user scopes) nest ops but are not ops themselves.
pub const SCOPE_FUNCTION: u8 = 0;

/// One event of libtorch's profiler, as the C++ shim serializes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawEvent {
    /// Op or scope name (`aten::conv2d`, `forward`, `infer::run#0`).
    pub name: String,
    /// The `at::RecordScope` it was recorded in ([`SCOPE_FUNCTION`] for ops).
    pub scope: u8,
    /// libtorch's id of the thread it ran on.
    pub tid: u64,
    /// Start, nanoseconds on libtorch's clock.
    pub start_ns: u64,
    /// End, nanoseconds on libtorch's clock (inclusive of nested events).
    pub end_ns: u64,
    /// TorchScript module hierarchy, outermost first (`TOP(ResNet)::forward`,
    /// `layer1(Sequential)::forward`, ...); empty outside TorchScript.
    #[serde(default)]
    pub modules: Vec<String>,
}

/// Parses the events the C++ shim returns (a JSON array of [`RawEvent`]).
///
/// # Errors
/// [`Error::Backend`] when the text is not such an array (a shim and crate out of step).
pub fn parse(json: &str) -> Result<Vec<RawEvent>> {
    serde_json::from_str(json).map_err(|e| {
        Error::backend(BACKEND, format!("libtorch profiler: unreadable events from infer's C++ shim: {e}"))
    })
}

/// The dotted module path of a TorchScript module hierarchy: `layer1.0.conv1` for
/// `TOP(ResNet)::forward`, `SELF(ResNet)::_forward_impl`, `layer1(Sequential)::forward`,
/// `0(BasicBlock)::forward`, `conv1(Conv2d)::forward`; empty for the top module.
///
/// ```
/// let h = ["TOP(ResNet)::forward", "layer1(Sequential)::forward", "0(BasicBlock)::forward", "bn1(BatchNorm2d)::forward", "::batch_norm"];
/// let h: Vec<String> = h.iter().map(|s| s.to_string()).collect();
/// assert_eq!(infer_torch::profile::module_path(&h), "layer1.0.bn1");
/// ```
#[must_use]
pub fn module_path(modules: &[String]) -> String {
    let names: Vec<&str> = modules
        .iter()
        .filter_map(|m| m.split_once('(').map(|(instance, _)| instance))
        .filter(|i| !i.is_empty() && *i != "TOP" && *i != "SELF")
        .collect();
    names.join(".")
}

/// Self (exclusive) time of each event in nanoseconds: its duration minus the time of the
/// events directly nested in it on the same thread.
fn self_times(events: &[RawEvent]) -> Vec<u64> {
    let mut self_ns: Vec<u64> = events.iter().map(|e| e.end_ns.saturating_sub(e.start_ns)).collect();
    let mut threads: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        threads.entry(e.tid).or_default().push(i);
    }
    for mut order in threads.into_values() {
        // Parents before children: by start, longest first, then in the profiler's order.
        order.sort_by_key(|&i| (events[i].start_ns, Reverse(events[i].end_ns), i));
        let mut open: Vec<usize> = Vec::new();
        for i in order {
            let e = &events[i];
            while open.last().is_some_and(|&top| events[top].end_ns <= e.start_ns) {
                open.pop();
            }
            if let Some(&parent) = open.last() {
                let inside = e.end_ns.min(events[parent].end_ns).saturating_sub(e.start_ns);
                self_ns[parent] = self_ns[parent].saturating_sub(inside);
            }
            open.push(i);
        }
    }
    self_ns
}

/// The operator profile of `events`: one [`OpEvent`] per op call inside a run, with its self
/// time and the run's index; `source` says how the events were obtained.
///
/// A node is named by the op's TorchScript module and the op (`layer1.0.conv1/aten::conv2d`),
/// or by the op alone outside TorchScript modules; the n-th repeat of the same name within a
/// run gets `#n` (`aten::conv2d#1`), so a node is unique within a run and the same across runs.
/// Events outside every run (the copies of inputs and outputs) and scopes that are not ops
/// (TorchScript functions, user scopes) are left out; their nested ops are kept.
#[must_use]
pub fn op_profile(events: &[RawEvent], source: String) -> OpProfile {
    let mut runs: Vec<(u64, u64, u64)> = events
        .iter()
        .filter_map(|e| Some((e.start_ns, e.end_ns, e.name.strip_prefix(RUN_SCOPE)?.parse().ok()?)))
        .collect();
    runs.sort_unstable();
    let run_of = |ts: u64| {
        let i = runs.partition_point(|r| r.0 <= ts).checked_sub(1)?;
        let (_, end, run) = runs[i];
        (ts <= end).then_some(run)
    };
    let self_ns = self_times(events);
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| (events[i].start_ns, Reverse(events[i].end_ns), i));
    let mut repeats: HashMap<(u64, String), u64> = HashMap::new();
    let mut out = Vec::new();
    for i in order {
        let e = &events[i];
        if e.scope != SCOPE_FUNCTION {
            continue;
        }
        let Some(run) = run_of(e.start_ns) else { continue };
        let module = module_path(&e.modules);
        let base = if module.is_empty() { e.name.clone() } else { format!("{module}/{}", e.name) };
        let n = repeats.entry((run, base.clone())).or_insert(0);
        let node = if *n == 0 { base } else { format!("{base}#{n}") };
        *n += 1;
        #[allow(clippy::cast_precision_loss)]
        let duration_us = self_ns[i] as f64 / 1e3;
        out.push(OpEvent { op_type: e.name.clone(), node, duration_us, calls: 1, run: Some(run) });
    }
    OpProfile { backend: BACKEND.into(), source, runs: runs.len() as u64, events: out }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ev(name: &str, scope: u8, tid: u64, start: u64, end: u64, modules: &[&str]) -> RawEvent {
        RawEvent {
            name: name.into(),
            scope,
            tid,
            start_ns: start,
            end_ns: end,
            modules: modules.iter().map(|m| (*m).to_string()).collect(),
        }
    }

    #[test]
    fn nested_ops_count_their_self_time_once() {
        let conv = ["TOP(Net)::forward", "conv(Conv2d)::forward"];
        let relu = ["TOP(Net)::forward", "relu(ReLU)::forward"];
        let events = [
            ev("infer::run#0", 7, 1, 0, 10_000, &[]),
            ev("forward", 2, 1, 10, 9_990, &["TOP(Net)::forward"]),
            ev("aten::conv2d", 0, 1, 100, 5_100, &conv),
            ev("aten::convolution", 0, 1, 200, 5_000, &conv),
            ev("aten::mkldnn_convolution", 0, 1, 300, 4_900, &conv),
            ev("aten::empty", 0, 1, 400, 500, &conv),
            ev("aten::empty", 0, 1, 600, 650, &conv),
            // The same module called twice, then an op on another thread.
            ev("aten::relu_", 0, 1, 6_000, 7_000, &relu),
            ev("aten::relu_", 0, 1, 7_000, 8_000, &relu),
            ev("aten::add", 0, 2, 8_000, 9_000, &[]),
            ev("infer::run#1", 7, 1, 20_000, 21_000, &[]),
            ev("aten::relu_", 0, 1, 20_100, 20_600, &relu),
            ev("aten::to", 0, 1, 30_000, 31_000, &[]),
        ];
        let p = op_profile(&events, "t".into());
        assert_eq!(p.runs, 2);
        let got: Vec<_> =
            p.events.iter().map(|e| (e.node.as_str(), e.op_type.as_str(), e.duration_us, e.run)).collect();
        assert_eq!(
            got,
            [
                ("conv/aten::conv2d", "aten::conv2d", 0.2, Some(0)),
                ("conv/aten::convolution", "aten::convolution", 0.2, Some(0)),
                ("conv/aten::mkldnn_convolution", "aten::mkldnn_convolution", 4.45, Some(0)),
                ("conv/aten::empty", "aten::empty", 0.1, Some(0)),
                ("conv/aten::empty#1", "aten::empty", 0.05, Some(0)),
                ("relu/aten::relu_", "aten::relu_", 1.0, Some(0)),
                ("relu/aten::relu_#1", "aten::relu_", 1.0, Some(0)),
                ("aten::add", "aten::add", 1.0, Some(0)),
                ("relu/aten::relu_", "aten::relu_", 0.5, Some(1)),
            ]
        );
        // Self times add up to the inclusive time of the outermost op.
        let conv_total: f64 = p.events.iter().filter(|e| e.node.starts_with("conv/")).map(|e| e.duration_us).sum();
        assert!((conv_total - 5.0).abs() < 1e-9, "{conv_total}");
    }

    #[test]
    fn events_parse_and_bad_text_is_an_error() {
        let json = r#"[{"name":"aten::add","scope":0,"tid":3,"start_ns":1,"end_ns":2,"modules":["TOP(M)::forward"]},
                       {"name":"infer::run#0","scope":7,"tid":3,"start_ns":0,"end_ns":5}]"#;
        let events = parse(json).unwrap();
        assert_eq!(events[0], ev("aten::add", 0, 3, 1, 2, &["TOP(M)::forward"]));
        assert!(events[1].modules.is_empty());
        let err = parse("{}").unwrap_err().to_string();
        assert!(err.contains("unreadable events"), "{err}");
        assert_eq!(op_profile(&[], "t".into()).runs, 0);
    }
}
