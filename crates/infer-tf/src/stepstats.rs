//! Reading TensorFlow's per-node timings (`RunMetadata.step_stats`) with a small protobuf walker,
//! so the backend needs no protobuf dependency.
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
//! use infer_tf::stepstats::{parse_run_metadata, NodeStats};
//!
//! // RunMetadata { step_stats { dev_stats { device: "cpu" node_stats { node_name: "c"
//! //   op_start_rel_micros: 2 op_end_rel_micros: 9 timeline_label: "c = Conv2D(x, w)" } } } }
//! let node = [&[0x0a, 1, b'c', 0x18, 2, 0x20, 9, 0x42, 16][..], b"c = Conv2D(x, w)"].concat();
//! let dev = [&[0x0a, 3][..], b"cpu", &[0x12, node.len() as u8], &node].concat();
//! let step = [&[0x0a, dev.len() as u8][..], &dev].concat();
//! let meta = [&[0x0a, step.len() as u8][..], &step].concat();
//!
//! let devices = parse_run_metadata(&meta)?;
//! let n: &NodeStats = &devices[0].nodes[0];
//! assert_eq!((devices[0].device.as_str(), n.node_name.as_str(), n.op_type()), ("cpu", "c", Some("Conv2D")));
//! assert_eq!(n.op_duration_us(), 7.0);
//! # Ok::<(), infer_tf::stepstats::MalformedProto>(())
//! ```

use infer_core::profile::OpEvent;

/// Why some bytes are not the `RunMetadata` they should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedProto {
    /// The message being read (`RunMetadata`, `StepStats`, `DeviceStepStats`, `NodeExecStats`).
    pub message: &'static str,
    /// Offset in the whole input where the problem was found.
    pub offset: usize,
    /// What is wrong.
    pub reason: String,
}

impl std::fmt::Display for MalformedProto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed RunMetadata: {} at byte {}: {}", self.message, self.offset, self.reason)
    }
}

impl std::error::Error for MalformedProto {}

/// One device's node timings of one run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceStats {
    /// Device name (`/job:localhost/replica:0/task:0/device:CPU:0`).
    pub device: String,
    /// One entry per executed node, in the order TensorFlow recorded them.
    pub nodes: Vec<NodeStats>,
}

/// The fields of one `NodeExecStats` that timings need. Times relative to `all_start_*`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeStats {
    /// Node name in the executed graph (after function inlining and Grappler's rewrites).
    pub node_name: String,
    /// `name = OpType(inputs)`, where the runtime wrote one.
    pub timeline_label: String,
    /// When the node was scheduled, microseconds since the epoch.
    pub all_start_micros: i64,
    /// Start of the kernel's compute, relative to `all_start_micros`.
    pub op_start_rel_micros: i64,
    /// End of the kernel's compute, relative to `all_start_micros`.
    pub op_end_rel_micros: i64,
    /// End of the node's whole execution, relative to `all_start_micros`.
    pub all_end_rel_micros: i64,
    /// As `all_start_micros`, in nanoseconds (0 where the runtime does not record nanoseconds).
    pub all_start_nanos: i64,
    /// As `op_start_rel_micros`, in nanoseconds.
    pub op_start_rel_nanos: i64,
    /// As `op_end_rel_micros`, in nanoseconds.
    pub op_end_rel_nanos: i64,
    /// As `all_end_rel_micros`, in nanoseconds.
    pub all_end_rel_nanos: i64,
}

/// Nodes the executor adds to every graph as its entry and exit points. They run no kernel of
/// the model (a `NoOp` each) and would only add noise to a per-operator breakdown.
pub const BOOKKEEPING_NODES: [&str; 2] = ["_SOURCE", "_SINK"];

impl NodeStats {
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
/// [`MalformedProto`] naming the message and byte offset when the bytes are not a protobuf
/// message of that shape (truncated, an impossible wire type or length, text not UTF-8).
pub fn parse_run_metadata(bytes: &[u8]) -> Result<Vec<DeviceStats>, MalformedProto> {
    let mut devices = Vec::new();
    let mut run_metadata = Reader::new(bytes, 0, "RunMetadata");
    while let Some((field, value)) = run_metadata.next_field()? {
        if field != 1 {
            continue;
        }
        let (step_bytes, at) = run_metadata.message(value)?;
        let mut step = Reader::new(step_bytes, at, "StepStats");
        while let Some((field, value)) = step.next_field()? {
            if field == 1 {
                let (dev_bytes, at) = step.message(value)?;
                devices.push(device_stats(dev_bytes, at)?);
            }
        }
    }
    Ok(devices)
}

fn device_stats(bytes: &[u8], base: usize) -> Result<DeviceStats, MalformedProto> {
    let mut out = DeviceStats::default();
    let mut r = Reader::new(bytes, base, "DeviceStepStats");
    while let Some((field, value)) = r.next_field()? {
        match field {
            1 => out.device = r.string(value)?,
            2 => {
                let (node_bytes, at) = r.message(value)?;
                out.nodes.push(node_stats(node_bytes, at)?);
            }
            _ => {}
        }
    }
    Ok(out)
}

fn node_stats(bytes: &[u8], base: usize) -> Result<NodeStats, MalformedProto> {
    let mut n = NodeStats::default();
    let mut r = Reader::new(bytes, base, "NodeExecStats");
    while let Some((field, value)) = r.next_field()? {
        match field {
            1 => n.node_name = r.string(value)?,
            8 => n.timeline_label = r.string(value)?,
            2 => n.all_start_micros = r.int64(value)?,
            3 => n.op_start_rel_micros = r.int64(value)?,
            4 => n.op_end_rel_micros = r.int64(value)?,
            5 => n.all_end_rel_micros = r.int64(value)?,
            13 => n.all_start_nanos = r.int64(value)?,
            14 => n.op_start_rel_nanos = r.int64(value)?,
            15 => n.op_end_rel_nanos = r.int64(value)?,
            16 => n.all_end_rel_nanos = r.int64(value)?,
            _ => {}
        }
    }
    Ok(n)
}

/// The operator events of one run: every node of every device except the executor's
/// [`BOOKKEEPING_NODES`] and the GPU tracer's pseudo-devices ([`is_tracer_pseudo_device`]).
/// `op_type_of` names the operator of a node whose timeline label does not (e.g. from the graph);
/// failing that the type is `unknown`.
pub fn events(devices: &[DeviceStats], run: u64, op_type_of: impl Fn(&str) -> Option<String>) -> Vec<OpEvent> {
    devices
        .iter()
        .filter(|d| !is_tracer_pseudo_device(&d.device))
        .flat_map(|d| &d.nodes)
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

/// A field's value as the wire carries it.
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Varint(u64),
    /// A fixed32 or fixed64 value: no field read here has one, so only skipped.
    Fixed,
    /// Bytes and their offset in the whole input.
    Bytes(&'a [u8], usize),
}

/// Reads the fields of one message, in order.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf` in the whole input, for messages.
    base: usize,
    /// Where the field read last starts, for errors about its value.
    field_start: usize,
    message: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], base: usize, message: &'static str) -> Self {
        Self { buf, pos: 0, base, field_start: 0, message }
    }

    fn error(&self, at: usize, reason: impl Into<String>) -> MalformedProto {
        MalformedProto { message: self.message, offset: self.base + at, reason: reason.into() }
    }

    fn varint(&mut self) -> Result<u64, MalformedProto> {
        let start = self.pos;
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let Some(&byte) = self.buf.get(self.pos) else {
                return Err(self.error(start, "truncated: the input ends inside a varint"));
            };
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(self.error(start, "a varint longer than 10 bytes"))
    }

    fn take(&mut self, n: u64, start: usize) -> Result<(&'a [u8], usize), MalformedProto> {
        let left = self.buf.len() - self.pos;
        match usize::try_from(n) {
            Ok(n) if n <= left => {
                let at = self.pos;
                self.pos += n;
                Ok((&self.buf[at..at + n], self.base + at))
            }
            _ => Err(self.error(start, format!("truncated: a field of {n} bytes, only {left} left"))),
        }
    }

    /// The next field number and value, or `None` at the end of the message.
    fn next_field(&mut self) -> Result<Option<(u64, Value<'a>)>, MalformedProto> {
        if self.pos == self.buf.len() {
            return Ok(None);
        }
        let start = self.pos;
        self.field_start = start;
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 {
            return Err(self.error(start, "field number 0"));
        }
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8, start)?;
                Value::Fixed
            }
            2 => {
                let len = self.varint()?;
                let (bytes, at) = self.take(len, start)?;
                Value::Bytes(bytes, at)
            }
            5 => {
                self.take(4, start)?;
                Value::Fixed
            }
            wire => {
                return Err(self.error(start, format!("field {field} has wire type {wire}, which this reader rejects")));
            }
        };
        Ok(Some((field, value)))
    }

    fn message(&self, value: Value<'a>) -> Result<(&'a [u8], usize), MalformedProto> {
        match value {
            Value::Bytes(bytes, at) => Ok((bytes, at)),
            _ => Err(self.error(self.field_start, "expected an embedded message (wire type 2)")),
        }
    }

    fn string(&self, value: Value<'a>) -> Result<String, MalformedProto> {
        let (bytes, at) = self.message(value)?;
        String::from_utf8(bytes.to_vec()).map_err(|e| MalformedProto {
            message: self.message,
            offset: at,
            reason: format!("a string that is not UTF-8 ({e})"),
        })
    }

    fn int64(&self, value: Value<'a>) -> Result<i64, MalformedProto> {
        match value {
            // int64 varints carry the two's complement bits: the wrap is the encoding.
            #[allow(clippy::cast_possible_wrap)]
            Value::Varint(v) => Ok(v as i64),
            _ => Err(self.error(self.field_start, "expected an integer (wire type 0)")),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn int(field: u64, v: i64) -> Vec<u8> {
        let mut out = Vec::new();
        varint(&mut out, field << 3);
        varint(&mut out, v as u64);
        out
    }

    fn bytes(field: u64, b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        varint(&mut out, (field << 3) | 2);
        varint(&mut out, b.len() as u64);
        out.extend_from_slice(b);
        out
    }

    fn node(name: &str, label: &str, start_rel_ns: i64, end_rel_ns: i64) -> Vec<u8> {
        [
            bytes(1, name.as_bytes()),
            int(2, 1_000),
            int(3, start_rel_ns / 1000),
            int(4, end_rel_ns / 1000),
            // `memory` (6, a message) and `thread_id` (10, a varint), skipped.
            bytes(6, &bytes(1, b"cpu")),
            int(10, 3),
            bytes(8, label.as_bytes()),
            int(13, 1_000_000),
            int(14, start_rel_ns),
            int(15, end_rel_ns),
            int(16, end_rel_ns + 500),
        ]
        .concat()
    }

    fn run_metadata(devices: &[(&str, Vec<Vec<u8>>)]) -> Vec<u8> {
        let dev_stats: Vec<u8> = devices
            .iter()
            .flat_map(|(name, nodes)| {
                let dev = [bytes(1, name.as_bytes()), nodes.iter().flat_map(|n| bytes(2, n)).collect()].concat();
                bytes(1, &dev)
            })
            .collect();
        // A `cost_graph` (2) and fixed32 / fixed64 fields of a later version, skipped.
        let unknown =
            [bytes(2, b"\x0a\x00"), vec![(9 << 3) | 5, 1, 2, 3, 4], vec![(10 << 3) | 1, 1, 2, 3, 4, 5, 6, 7, 8]];
        [bytes(1, &dev_stats), unknown.concat()].concat()
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
        let conv = &devices[0].nodes[1];
        assert_eq!((conv.node_name.as_str(), conv.op_type()), ("model/conv1", Some("_FusedConv2D")));
        assert_eq!((conv.all_start_micros, conv.op_start_rel_micros, conv.op_end_rel_micros), (1_000, 2, 9));
        assert_eq!((conv.all_start_nanos, conv.op_start_rel_nanos, conv.op_end_rel_nanos), (1_000_000, 2_000, 9_500));
        assert_eq!((conv.all_end_rel_micros, conv.all_end_rel_nanos), (0, 10_000));
        // Nanoseconds win over microseconds where they were recorded.
        assert!((conv.op_duration_us() - 7.5).abs() < 1e-12);
        assert_eq!(devices[0].nodes[2].op_type(), Some("Relu"));
        assert_eq!(devices[0].nodes[3].op_type(), None);
        assert!(devices[0].nodes[0].is_bookkeeping());

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
        let n = NodeStats { op_start_rel_micros: 3, op_end_rel_micros: 10, ..NodeStats::default() };
        assert!((n.op_duration_us() - 7.0).abs() < 1e-12);
        let n = NodeStats { all_start_nanos: 5, op_start_rel_nanos: 900, op_end_rel_nanos: 100, ..n };
        assert!(n.op_duration_us().abs() < 1e-12);
        let n = NodeStats { node_name: "a".into(), timeline_label: "a = (x)".into(), ..NodeStats::default() };
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
        let nodes = &devices[0].nodes;
        assert_eq!(devices[0].device, "/job:localhost/replica:0/task:0/device:CPU:0");
        let want = NodeStats {
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
        let err = parse_run_metadata(&meta[..20]).unwrap_err();
        assert_eq!((err.message, err.offset), ("RunMetadata", 0));
        assert!(err.reason.starts_with("truncated: a field of"), "{err}");

        // A length-consistent message whose last node's varint is cut.
        let bad_node = vec![0x10, 0x80];
        let dev = bytes(2, &bad_node);
        let meta = bytes(1, &bytes(1, &dev));
        let err = parse_run_metadata(&meta).unwrap_err();
        assert_eq!(err.message, "NodeExecStats");
        assert_eq!(
            err.to_string(),
            format!(
                "malformed RunMetadata: NodeExecStats at byte {}: truncated: the input ends inside a varint",
                meta.len() - 1
            )
        );

        let err = parse_run_metadata(&[0x0b]).unwrap_err().to_string();
        assert!(err.contains("wire type 3"), "{err}");
        let err = parse_run_metadata(&[0x00, 0x00]).unwrap_err().to_string();
        assert!(err.contains("field number 0"), "{err}");
        let err = parse_run_metadata(&[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])
            .unwrap_err()
            .to_string();
        assert!(err.contains("longer than 10 bytes"), "{err}");
        // step_stats as an integer, a nested message as an integer, a node name that is not UTF-8.
        let err = parse_run_metadata(&[0x08, 0x01]).unwrap_err();
        assert_eq!((err.message, err.offset), ("RunMetadata", 0));
        assert!(err.reason.contains("expected an embedded message"), "{err}");
        let node_with_bytes_time = bytes(1, &bytes(1, &bytes(2, &bytes(2, b"x"))));
        let err = parse_run_metadata(&node_with_bytes_time).unwrap_err().to_string();
        assert!(err.contains("NodeExecStats") && err.contains("expected an integer"), "{err}");
        let err = parse_run_metadata(&bytes(1, &int(1, 5))).unwrap_err().to_string();
        assert!(err.contains("StepStats") && err.contains("expected an embedded message"), "{err}");
        let err = parse_run_metadata(&bytes(1, &bytes(1, &bytes(2, &bytes(1, b"\xff\xfe"))))).unwrap_err();
        assert!(err.to_string().contains("NodeExecStats") && err.reason.contains("not UTF-8"), "{err}");
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
