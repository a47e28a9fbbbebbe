//! Reading TensorFlow's per-node timings (`RunMetadata.step_stats`), with the few messages and
//! fields read declared by hand for `prost` (no `protoc`, nothing generated at build time).
//!
//! A session run with `RunOptions.trace_level = FULL_TRACE` and run metadata requested returns a
//! serialized `RunMetadata` whose step stats hold, per device, one `NodeExecStats` per executed
//! node. Field numbers, from `tensorflow/core/protobuf/config.proto` and
//! `tensorflow/core/framework/step_stats.proto` (checked against the descriptors of the venv's
//! TensorFlow 2.21.0):
//!
//! - `RunMetadata.step_stats` = 1 → `StepStats.dev_stats` = 1 (repeated)
//! - `DeviceStepStats`: `device` = 1, `node_stats` = 2 (repeated)
//! - `NodeExecStats`: `node_name` = 1, `all_start_micros` = 2, `op_start_rel_micros` = 3,
//!   `op_end_rel_micros` = 4, `all_end_rel_micros` = 5, `timeline_label` = 8,
//!   `all_start_nanos` = 13, `op_start_rel_nanos` = 14, `op_end_rel_nanos` = 15,
//!   `all_end_rel_nanos` = 16 (all integers are `int64` varints)
//!
//! Every other field (memory, outputs, thread ids, cost graphs, partition graphs) is skipped.
//!
//! ```
//! use infer_tf::stepstats::{DeviceStepStats, NodeExecStats, RunMetadata, StepStats, parse_run_metadata};
//! use prost::Message;
//!
//! let node = NodeExecStats {
//!     node_name: "c".into(),
//!     op_start_rel_micros: 2,
//!     op_end_rel_micros: 9,
//!     timeline_label: "c = Conv2D(x, w)".into(),
//!     ..Default::default()
//! };
//! let device = DeviceStepStats { device: "cpu".into(), node_stats: vec![node] };
//! let meta = RunMetadata { step_stats: Some(StepStats { dev_stats: vec![device] }) }.encode_to_vec();
//!
//! let devices = parse_run_metadata(&meta)?;
//! let n = &devices[0].node_stats[0];
//! assert_eq!((devices[0].device.as_str(), n.node_name.as_str(), n.op_type()), ("cpu", "c", Some("Conv2D")));
//! assert_eq!(n.op_duration_us(), 7.0);
//! # Ok::<(), infer_tf::stepstats::MalformedProto>(())
//! ```

use infer_core::profile::OpEvent;
use prost::Message;

/// Why some bytes are not the `RunMetadata` they should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedProto(prost::DecodeError);

impl std::fmt::Display for MalformedProto {
    /// `malformed RunMetadata: ` then where decoding stopped (`NodeExecStats.op_start_rel_micros:
    /// DeviceStepStats.node_stats: …`) and why (`buffer underflow`, `invalid wire type`, …).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = self.0.to_string();
        let detail = text.strip_prefix("failed to decode Protobuf message: ").unwrap_or(&text);
        write!(f, "malformed RunMetadata: {detail}")
    }
}

impl std::error::Error for MalformedProto {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// `RunMetadata`: what a traced run returns.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct RunMetadata {
    /// The run's per-node timings.
    #[prost(message, optional, tag = "1")]
    pub step_stats: Option<StepStats>,
}

/// `StepStats`: the timings of one run, per device.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct StepStats {
    /// One entry per device.
    #[prost(message, repeated, tag = "1")]
    pub dev_stats: Vec<DeviceStepStats>,
}

/// `DeviceStepStats`: one device's node timings of one run.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct DeviceStepStats {
    /// Device name (`/job:localhost/replica:0/task:0/device:CPU:0`).
    #[prost(string, tag = "1")]
    pub device: String,
    /// One entry per executed node, in the order TensorFlow recorded them.
    #[prost(message, repeated, tag = "2")]
    pub node_stats: Vec<NodeExecStats>,
}

/// The fields of one `NodeExecStats` that timings need. Times relative to `all_start_*`.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct NodeExecStats {
    /// Node name in the executed graph (after function inlining and Grappler's rewrites).
    #[prost(string, tag = "1")]
    pub node_name: String,
    /// When the node was scheduled, microseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub all_start_micros: i64,
    /// Start of the kernel's compute, relative to `all_start_micros`.
    #[prost(int64, tag = "3")]
    pub op_start_rel_micros: i64,
    /// End of the kernel's compute, relative to `all_start_micros`.
    #[prost(int64, tag = "4")]
    pub op_end_rel_micros: i64,
    /// End of the node's whole execution, relative to `all_start_micros`.
    #[prost(int64, tag = "5")]
    pub all_end_rel_micros: i64,
    /// `name = OpType(inputs)`, where the runtime wrote one.
    #[prost(string, tag = "8")]
    pub timeline_label: String,
    /// As `all_start_micros`, in nanoseconds (0 where the runtime does not record nanoseconds).
    #[prost(int64, tag = "13")]
    pub all_start_nanos: i64,
    /// As `op_start_rel_micros`, in nanoseconds.
    #[prost(int64, tag = "14")]
    pub op_start_rel_nanos: i64,
    /// As `op_end_rel_micros`, in nanoseconds.
    #[prost(int64, tag = "15")]
    pub op_end_rel_nanos: i64,
    /// As `all_end_rel_micros`, in nanoseconds.
    #[prost(int64, tag = "16")]
    pub all_end_rel_nanos: i64,
}

/// Nodes the executor adds to every graph as its entry and exit points. They run no kernel of
/// the model (a `NoOp` each) and would only add noise to a per-operator breakdown.
pub const BOOKKEEPING_NODES: [&str; 2] = ["_SOURCE", "_SINK"];

impl NodeExecStats {
    /// The operator type from the timeline label (`conv1 = Conv2D(x, w)` → `Conv2D`), where
    /// the label has that form.
    #[must_use]
    pub fn op_type(&self) -> Option<&str> {
        // The label may start with memory notes, so look for the node's own `name = ` rather than
        // the first ` = `; node names hold neither spaces nor `=`.
        let head = format!("{} = ", self.node_name);
        let start = self.timeline_label.find(&head)? + head.len();
        let rest = &self.timeline_label[start..];
        let op = &rest[..rest.find('(').unwrap_or(rest.len())];
        (!op.is_empty()).then_some(op)
    }

    /// Time the kernel computed (`op_end_rel - op_start_rel`), in microseconds, from the
    /// nanosecond fields when the runtime recorded them, else from the microsecond ones.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn op_duration_us(&self) -> f64 {
        if self.all_start_nanos != 0 {
            (self.op_end_rel_nanos - self.op_start_rel_nanos).max(0) as f64 / 1e3
        } else {
            (self.op_end_rel_micros - self.op_start_rel_micros).max(0) as f64
        }
    }

    /// Whether this is one of the executor's [`BOOKKEEPING_NODES`].
    #[must_use]
    pub fn is_bookkeeping(&self) -> bool {
        BOOKKEEPING_NODES.contains(&self.node_name.as_str())
    }
}

/// Whether a device entry is a pseudo-device of the GPU tracer (`…/stream:all`, `…/stream:12`,
/// `…/memcpy`): those repeat, as kernel times, the nodes the device itself already lists, so
/// keeping both would count them twice.
#[must_use]
pub fn is_tracer_pseudo_device(device: &str) -> bool {
    device.contains("/stream:") || device.ends_with("/memcpy")
}

/// Parses a serialized `RunMetadata` into its step stats, one entry per device.
///
/// # Errors
/// [`MalformedProto`] naming the message and field where decoding stopped when the bytes are not
/// a protobuf message of that shape (truncated, an impossible wire type or length, text not
/// UTF-8).
pub fn parse_run_metadata(bytes: &[u8]) -> Result<Vec<DeviceStepStats>, MalformedProto> {
    let meta = RunMetadata::decode(bytes).map_err(MalformedProto)?;
    Ok(meta.step_stats.map(|s| s.dev_stats).unwrap_or_default())
}

/// The operator events of one run: every node of every device except the executor's
/// [`BOOKKEEPING_NODES`] and the GPU tracer's pseudo-devices ([`is_tracer_pseudo_device`]).
/// `op_type_of` names the operator of a node whose timeline label does not (e.g. from the graph);
/// failing that the type is `unknown`.
pub fn events(devices: &[DeviceStepStats], run: u64, op_type_of: impl Fn(&str) -> Option<String>) -> Vec<OpEvent> {
    devices
        .iter()
        .filter(|d| !is_tracer_pseudo_device(&d.device))
        .flat_map(|d| &d.node_stats)
        .filter(|n| !n.is_bookkeeping())
        .map(|n| OpEvent {
            op_type: n
                .op_type()
                .map(str::to_string)
                .or_else(|| op_type_of(&n.node_name))
                .map_or_else(|| "unknown".into(), |t| tf_op_name(&t).to_string()),
            node: n.node_name.clone(),
            duration_us: n.op_duration_us(),
            calls: 1,
            run: Some(run),
        })
        .collect()
}

/// The TensorFlow operator a kernel implements: oneDNN builds rewrite the graph with their own
/// kernels (`_MklNativeMaxPool`, `_MklNativePadWithConv2D`, `_MklFusedMatMul`), which are
/// reported under the operator they stand for (`MaxPool`, `PadWithConv2D`, `FusedMatMul`), so
/// profiles read the same on every CPU.
#[must_use]
pub fn tf_op_name(kernel: &str) -> &str {
    ["_MklNative", "_MklLayoutDependent", "_Mkl"].iter().find_map(|p| kernel.strip_prefix(p)).unwrap_or(kernel)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The outer messages as a later TensorFlow writes them: nodes kept as raw bytes (so a test
    /// can corrupt one), and fields this reader does not declare, which it must skip.
    #[derive(Clone, PartialEq, Message)]
    struct LaterRunMetadata {
        #[prost(message, optional, tag = "1")]
        step_stats: Option<LaterStepStats>,
        /// `cost_graph`.
        #[prost(bytes = "vec", tag = "2")]
        cost_graph: Vec<u8>,
        /// Fixed-width fields of a later version.
        #[prost(fixed32, tag = "9")]
        fixed32: u32,
        #[prost(fixed64, tag = "10")]
        fixed64: u64,
    }

    #[derive(Clone, PartialEq, Message)]
    struct LaterStepStats {
        #[prost(message, repeated, tag = "1")]
        dev_stats: Vec<LaterDevice>,
    }

    #[derive(Clone, PartialEq, Message)]
    struct LaterDevice {
        #[prost(string, tag = "1")]
        device: String,
        #[prost(bytes = "vec", repeated, tag = "2")]
        node_stats: Vec<Vec<u8>>,
    }

    /// A node as bytes, with a `memory` message (6) and a `thread_id` (10) after its timings.
    fn node(name: &str, label: &str, start_rel_ns: i64, end_rel_ns: i64) -> Vec<u8> {
        let n = NodeExecStats {
            node_name: name.into(),
            all_start_micros: 1_000,
            op_start_rel_micros: start_rel_ns / 1000,
            op_end_rel_micros: end_rel_ns / 1000,
            timeline_label: label.into(),
            all_start_nanos: 1_000_000,
            op_start_rel_nanos: start_rel_ns,
            op_end_rel_nanos: end_rel_ns,
            all_end_rel_nanos: end_rel_ns + 500,
            ..Default::default()
        };
        // memory { allocator_name: "cpu" }, thread_id: 3.
        [n.encode_to_vec(), vec![0x32, 5, 0x0a, 3, b'c', b'p', b'u', 0x50, 3]].concat()
    }

    fn run_metadata(devices: &[(&str, Vec<Vec<u8>>)]) -> Vec<u8> {
        let dev_stats =
            devices.iter().map(|(name, nodes)| LaterDevice { device: (*name).into(), node_stats: nodes.clone() });
        LaterRunMetadata {
            step_stats: Some(LaterStepStats { dev_stats: dev_stats.collect() }),
            cost_graph: vec![0x0a, 0x00],
            fixed32: 0x0403_0201,
            fixed64: 0x0807_0605_0403_0201,
        }
        .encode_to_vec()
    }

    #[test]
    fn reads_devices_nodes_and_timings() {
        let cpu = "/job:localhost/replica:0/task:0/device:CPU:0";
        let meta = run_metadata(&[
            (
                cpu,
                vec![
                    node("_SOURCE", "_SOURCE = NoOp()", 0, 1_000),
                    node("model/conv1", "model/conv1 = _FusedConv2D(x, w, b)", 2_000, 9_500),
                    node("relu", "[cpu 0.1MB] relu = Relu(model/conv1)", 100, 350),
                    node("odd", "no label here", 0, 2_000),
                ],
            ),
            ("/device:GPU:0/stream:all", vec![node("k", "k = Conv2D()", 0, 1_000)]),
        ]);
        let devices = parse_run_metadata(&meta).unwrap();
        assert_eq!(devices.len(), 2);
        assert_eq!(devices[0].device, cpu);
        let conv = &devices[0].node_stats[1];
        assert_eq!((conv.node_name.as_str(), conv.op_type()), ("model/conv1", Some("_FusedConv2D")));
        assert_eq!((conv.all_start_micros, conv.op_start_rel_micros, conv.op_end_rel_micros), (1_000, 2, 9));
        assert_eq!((conv.all_start_nanos, conv.op_start_rel_nanos, conv.op_end_rel_nanos), (1_000_000, 2_000, 9_500));
        assert_eq!((conv.all_end_rel_micros, conv.all_end_rel_nanos), (0, 10_000));
        // Nanoseconds win over microseconds where they were recorded.
        assert!((conv.op_duration_us() - 7.5).abs() < 1e-12);
        assert_eq!(devices[0].node_stats[2].op_type(), Some("Relu"));
        assert_eq!(devices[0].node_stats[3].op_type(), None);
        assert!(devices[0].node_stats[0].is_bookkeeping());

        let graph = |name: &str| (name == "odd").then(|| "FromGraph".to_string());
        let ev = events(&devices, 4, graph);
        let got: Vec<_> = ev.iter().map(|e| (e.op_type.as_str(), e.node.as_str(), e.duration_us, e.run)).collect();
        // `_SOURCE` and the GPU tracer's stream device are left out.
        assert_eq!(
            got,
            [
                ("_FusedConv2D", "model/conv1", 7.5, Some(4)),
                ("Relu", "relu", 0.25, Some(4)),
                ("FromGraph", "odd", 2.0, Some(4))
            ]
        );
        assert_eq!(events(&devices, 0, |_| None)[2].op_type, "unknown");
    }

    #[test]
    fn microseconds_when_no_nanoseconds_and_never_negative() {
        let n = NodeExecStats { op_start_rel_micros: 3, op_end_rel_micros: 10, ..NodeExecStats::default() };
        assert!((n.op_duration_us() - 7.0).abs() < 1e-12);
        let n = NodeExecStats { all_start_nanos: 5, op_start_rel_nanos: 900, op_end_rel_nanos: 100, ..n };
        assert!(n.op_duration_us().abs() < 1e-12);
        let n = NodeExecStats { node_name: "a".into(), timeline_label: "a = (x)".into(), ..NodeExecStats::default() };
        assert_eq!(n.op_type(), None);
    }

    /// Bytes written by the venv's TensorFlow 2.21.0 (`config_pb2.RunMetadata`, two nodes on the
    /// CPU: `conv1` with every timing field and `thread_id`, `_SOURCE` with a label only).
    #[test]
    fn reads_what_python_wrote() {
        let py = b"\n\x88\x01\n\x85\x01\n,/job:localhost/replica:0/task:0/device:CPU:0\x126\n\x05conv1\x10\xe8\x07\
                   \x18\x02 \t(\nB\x14conv1 = Conv2D(x, w)P\x07h\xbb\x85=p\xd0\x0fx\x9cJ\x80\x01\x90N\x12\x1d\n\
                   \x07_SOURCE \x01B\x10_SOURCE = NoOp()";
        let devices = parse_run_metadata(py).unwrap();
        let nodes = &devices[0].node_stats;
        assert_eq!(devices[0].device, "/job:localhost/replica:0/task:0/device:CPU:0");
        let want = NodeExecStats {
            node_name: "conv1".into(),
            timeline_label: "conv1 = Conv2D(x, w)".into(),
            all_start_micros: 1000,
            op_start_rel_micros: 2,
            op_end_rel_micros: 9,
            all_end_rel_micros: 10,
            all_start_nanos: 1_000_123,
            op_start_rel_nanos: 2000,
            op_end_rel_nanos: 9500,
            all_end_rel_nanos: 10_000,
        };
        assert_eq!(nodes[0], want);
        assert_eq!((nodes[1].node_name.as_str(), nodes[1].op_end_rel_micros), ("_SOURCE", 1));
        let ev = events(&devices, 0, |_| None);
        assert_eq!(ev.len(), 1);
        assert_eq!((ev[0].op_type.as_str(), ev[0].duration_us), ("Conv2D", 7.5));
    }

    fn error(bytes: &[u8]) -> String {
        parse_run_metadata(bytes).unwrap_err().to_string()
    }

    /// The metadata of one device whose one node is `node` (raw bytes), the last bytes of the input.
    fn with_node(node: &[u8]) -> Vec<u8> {
        let device = LaterDevice { device: "cpu".into(), node_stats: vec![node.to_vec()] };
        let step_stats = Some(LaterStepStats { dev_stats: vec![device] });
        LaterRunMetadata { step_stats, ..Default::default() }.encode_to_vec()
    }

    #[test]
    fn malformed_input_is_a_clear_error_never_a_panic() {
        let meta = run_metadata(&[("cpu", vec![node("conv", "conv = Conv2D(x)", 0, 1_000)])]);
        // Every strict prefix either parses (cut at a field boundary of the outer message) or fails
        // with an error; none panics.
        let mut errors = 0;
        for cut in 0..meta.len() {
            if let Err(e) = parse_run_metadata(&meta[..cut]) {
                assert!(e.to_string().starts_with("malformed RunMetadata: "), "{e}");
                errors += 1;
            }
        }
        assert!(errors > meta.len() / 2, "{errors} of {} prefixes rejected", meta.len());

        // Cut inside the node: the length of the outer field runs past the end.
        assert_eq!(error(&meta[..20]), "malformed RunMetadata: RunMetadata.step_stats: buffer underflow");

        // A length-consistent message whose node's varint is cut at the end of the input: the
        // error names the path. (Cut inside the input, prost reads on and finds the message's
        // length exceeded.)
        assert_eq!(
            error(&with_node(&[0x10, 0x80])),
            "malformed RunMetadata: NodeExecStats.all_start_micros: DeviceStepStats.node_stats: \
             StepStats.dev_stats: RunMetadata.step_stats: invalid varint"
        );
        let err = error(&run_metadata(&[("cpu", vec![vec![0x10, 0x80]])]));
        assert!(err.contains("DeviceStepStats.node_stats") && err.contains("delimited length exceeded"), "{err}");

        // A group (wire type 3) where a message belongs, field number 0, an 11-byte varint.
        let err = error(&[0x0b]);
        assert!(err.contains("RunMetadata.step_stats") && err.contains("invalid wire type: StartGroup"), "{err}");
        assert!(error(&[0x00, 0x00]).contains("invalid tag value: 0"));
        let err = error(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert!(err.contains("invalid varint"), "{err}");
        let err = error(&with_node(&[0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]));
        assert!(err.contains("NodeExecStats.all_start_micros") && err.contains("invalid varint"), "{err}");
        // step_stats as an integer, a node's time as bytes, a device as an integer, a node name
        // that is not UTF-8.
        let err = error(&[0x08, 0x01]);
        assert!(err.contains("RunMetadata.step_stats: invalid wire type: Varint (expected LengthDelimited)"), "{err}");
        let err = error(&with_node(&[0x12, 1, b'x']));
        assert!(err.contains("NodeExecStats.all_start_micros") && err.contains("invalid wire type"), "{err}");
        let err = error(&[0x0a, 2, 0x08, 5]);
        assert!(err.contains("StepStats.dev_stats") && err.contains("invalid wire type"), "{err}");
        let err = error(&with_node(&[0x0a, 2, 0xff, 0xfe]));
        assert!(err.contains("NodeExecStats.node_name") && err.contains("not UTF-8"), "{err}");
        // A declared length of ~2^63 bytes: refused before anything is allocated.
        let err = error(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        assert!(err.contains("buffer underflow"), "{err}");
        // Empty input: no step stats, no devices.
        assert!(parse_run_metadata(&[]).unwrap().is_empty());
    }
}

#[cfg(test)]
mod onednn_names {
    #[test]
    fn onednn_kernels_are_reported_as_the_operator_they_implement() {
        for (kernel, op) in [
            ("_MklNativeMaxPool", "MaxPool"),
            ("_MklNativePadWithConv2D", "PadWithConv2D"),
            ("_MklFusedMatMul", "FusedMatMul"),
            ("Conv2D", "Conv2D"),
        ] {
            assert_eq!(super::tf_op_name(kernel), op);
        }
    }
}
