//! Backend-neutral results of a runtime's own profiler and of per-call stage timing.
//!
//! A backend turns whatever its runtime writes (ONNX Runtime's Chrome-trace JSON, libtorch's
//! profiler, TensorFlow's step stats) into an [`OpProfile`]: one [`OpEvent`] per executed node and
//! call. The harness sums them per operator type and per node.
//!
//! ```
//! use infer_core::profile::{OpEvent, OpProfile};
//!
//! let p = OpProfile {
//!     backend: "onnx".into(),
//!     source: "ORT profiling JSON".into(),
//!     runs: 1,
//!     events: vec![OpEvent { op_type: "Conv".into(), node: "conv1".into(), duration_us: 120.0, calls: 1, run: Some(0) }],
//! };
//! assert_eq!(p.total_us(), 120.0);
//! ```

use serde::{Deserialize, Serialize};

/// Time spent in one node of the graph, over `calls` executions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpEvent {
    /// Operator type (`Conv`, `MatMul`, `aten::conv2d`, ...).
    pub op_type: String,
    /// Node name in the graph (unique within a model).
    pub node: String,
    /// Total time in microseconds over all `calls`.
    pub duration_us: f64,
    /// Number of executions summed in `duration_us`.
    pub calls: u64,
    /// Index (from 0) of the model run the event belongs to, where the profiler tells.
    #[serde(default)]
    pub run: Option<u64>,
}

/// Operator-level profile of some model runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpProfile {
    /// Backend that produced it.
    pub backend: String,
    /// How it was obtained (e.g. the profiler and the file it wrote).
    pub source: String,
    /// Model runs covered by the profile (0 when the runtime does not say).
    pub runs: u64,
    /// Per-node events; the same node may appear several times (one event per call).
    pub events: Vec<OpEvent>,
}

impl OpProfile {
    /// Total operator time in microseconds.
    #[must_use]
    pub fn total_us(&self) -> f64 {
        self.events.iter().map(|e| e.duration_us).sum()
    }
}

/// How one call of [`crate::Session::run_staged`] split its time, where the backend can separate
/// the stages. Every figure is wall-clock time in seconds on the calling thread.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RunStages {
    /// Handing the inputs to the runtime (building its tensor views / bindings), seconds.
    pub bind_s: f64,
    /// The runtime's own run call (graph execution, device synchronized), seconds.
    pub compute_s: f64,
    /// Copying the outputs back into infer tensors, seconds.
    pub fetch_s: f64,
}
