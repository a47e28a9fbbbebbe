//! What infer reads from an ONNX model without running it: its IR version and opsets, parameter
//! count and bytes, external-data files, the symbols of its input axes and the integer ranges its
//! graph proves ([`crate::ranges`]). Built on the messages of [`crate::proto`].
//!
//! ```
//! use infer_onnx_proto::proto::{GraphProto, ModelProto, NodeProto};
//! use infer_onnx_proto::summary::summarize;
//! use prost::Message;
//!
//! let node = NodeProto { op_type: "Relu".into(), input: vec!["x".into()], output: vec!["y".into()], ..Default::default() };
//! let graph = GraphProto { node: vec![node], ..Default::default() };
//! let bytes = ModelProto { ir_version: 8, graph: Some(graph), ..Default::default() }.encode_to_vec();
//! let summary = summarize(&bytes)?;
//! assert_eq!((summary.ir_version, summary.nodes, summary.parameters), (8, 1, 0));
//! # Ok::<(), String>(())
//! ```

use crate::proto::{DimensionValue, ModelProto, TypeTensor, TypeValue, data_type, decode};

/// What the reader found in a model file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelSummary {
    /// `ModelProto.ir_version`.
    pub ir_version: u64,
    /// `(domain, version)` of each opset import (`""` is the default ONNX domain).
    pub opsets: Vec<(String, u64)>,
    /// `ModelProto.producer_name`.
    pub producer: String,
    /// Number of nodes in the main graph.
    pub nodes: usize,
    /// Number of scalar parameters in the graph's initializers.
    pub parameters: u64,
    /// Bytes of the initializers (by element type).
    pub parameter_bytes: u64,
    /// The `location` of every initializer stored as external data.
    pub external_data: Vec<String>,
    /// The symbol (`dim_param`) of each axis of each graph input, by input name (`None` for an
    /// axis with a size or no name), for runtimes that drop the names (OpenVINO).
    pub input_symbols: std::collections::BTreeMap<String, Vec<Option<String>>>,
    /// The range each integer input must stay in, where the graph proves one
    /// ([`crate::ranges`]).
    pub integer_ranges: std::collections::BTreeMap<String, crate::IntRange>,
    /// The graph inputs and outputs that are tensors of no declared shape (not even a rank),
    /// which ONNX Runtime reports as if they were scalars.
    pub unranked: std::collections::BTreeSet<String>,
}

impl ModelSummary {
    /// Summarizes a decoded model. Sizes saturate rather than overflow (a hostile file may
    /// declare any dimensions).
    #[must_use]
    pub fn of(model: &ModelProto) -> Self {
        let mut summary = ModelSummary {
            ir_version: u64::try_from(model.ir_version).unwrap_or(0),
            opsets: model
                .opset_import
                .iter()
                .map(|o| (o.domain.clone(), u64::try_from(o.version).unwrap_or(0)))
                .collect(),
            producer: model.producer_name.clone(),
            ..ModelSummary::default()
        };
        let Some(graph) = &model.graph else { return summary };
        summary.nodes = graph.node.len();
        summary.integer_ranges = crate::ranges::integer_input_ranges_of(model);
        for value in graph.input.iter().chain(&graph.output) {
            if let Some(TypeValue::TensorType(TypeTensor { shape: None, .. })) =
                value.r#type.as_ref().and_then(|t| t.value.as_ref())
            {
                summary.unranked.insert(value.name.clone());
            }
        }
        for input in &graph.input {
            let Some(TypeValue::TensorType(TypeTensor { shape: Some(shape), .. })) =
                input.r#type.as_ref().and_then(|t| t.value.as_ref())
            else {
                continue;
            };
            let symbols = shape
                .dim
                .iter()
                .map(|d| match &d.value {
                    Some(DimensionValue::DimParam(s)) if !s.is_empty() => Some(s.clone()),
                    _ => None,
                })
                .collect();
            summary.input_symbols.insert(input.name.clone(), symbols);
        }
        for tensor in &graph.initializer {
            let count = tensor.dims.iter().fold(1u64, |n, &d| n.saturating_mul(u64::try_from(d).unwrap_or(u64::MAX)));
            summary.parameters = summary.parameters.saturating_add(count);
            summary.parameter_bytes =
                summary.parameter_bytes.saturating_add(count.saturating_mul(data_type::element_size(tensor.data_type)));
            summary
                .external_data
                .extend(tensor.external_data.iter().filter(|e| e.key == "location").map(|e| e.value.clone()));
        }
        summary
    }
}

/// Decodes and summarizes an ONNX model.
///
/// # Errors
/// As [`decode`].
pub fn summarize(bytes: &[u8]) -> Result<ModelSummary, String> {
    decode(bytes).map(|model| ModelSummary::of(&model))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::proto::*;
    use prost::Message;

    fn tiny() -> Vec<u8> {
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/tiny/tiny_cnn.onnx")).unwrap()
    }

    #[test]
    fn summarizes_tiny_cnn() {
        let s = summarize(&tiny()).unwrap();
        // Conv 4x3x3x3 + bias 4, Gemm 10x4 + bias 10.
        assert_eq!(s.parameters, 4 * 3 * 3 * 3 + 4 + 10 * 4 + 10);
        assert_eq!(s.parameter_bytes, s.parameters * 4);
        assert!(s.opsets.iter().any(|(d, v)| d.is_empty() && *v == 17), "{:?}", s.opsets);
        assert!(s.nodes >= 4);
        assert!(s.external_data.is_empty());
        let graph = decode(&tiny()).unwrap().graph.unwrap();
        let input = &graph.input[0];
        assert_eq!(input.elem_type(), Some(data_type::FLOAT));
        let dims = &input.r#type.as_ref().unwrap().value.as_ref().map(|TypeValue::TensorType(t)| t.clone());
        let shape: Vec<_> =
            dims.as_ref().unwrap().shape.as_ref().unwrap().dim.iter().map(|d| d.value.clone()).collect();
        assert_eq!(shape.len(), 4);
        assert!(matches!(shape[0], Some(DimensionValue::DimParam(_))), "{shape:?}");
        assert_eq!(shape[1], Some(DimensionValue::DimValue(3)));
    }

    #[test]
    fn unpacked_and_packed_dims_both_count() {
        let t = TensorProto { dims: vec![3, 5], data_type: data_type::INT64, name: "w".into(), ..Default::default() };
        let graph = GraphProto { initializer: vec![t], ..Default::default() };
        let model = ModelProto { ir_version: 8, graph: Some(graph), ..Default::default() };
        let unpacked = model.encode_to_vec();
        // dims as two varint fields (proto2's default, what `onnx` writes)…
        assert!(unpacked.windows(4).any(|w| w == [0x08, 3, 0x08, 5]), "{unpacked:?}");
        // …and as one packed field, which protobuf readers must accept too.
        let packed = unpacked
            .windows(4)
            .position(|w| w == [0x08, 3, 0x08, 5])
            .map(|at| [&unpacked[..at], &[0x0a, 2, 3, 5], &unpacked[at + 4..]].concat())
            .unwrap();
        for bytes in [unpacked, packed] {
            let s = summarize(&bytes).unwrap();
            assert_eq!((s.parameters, s.parameter_bytes), (15, 120));
        }
    }

    #[test]
    fn absurd_dimensions_saturate() {
        let t = TensorProto { dims: vec![i64::MAX, i64::MAX, -1], data_type: 1, ..Default::default() };
        let graph = GraphProto { initializer: vec![t.clone(), t], ..Default::default() };
        let model = ModelProto { ir_version: 8, graph: Some(graph), ..Default::default() };
        let s = summarize(&model.encode_to_vec()).unwrap();
        assert_eq!((s.parameters, s.parameter_bytes), (u64::MAX, u64::MAX));
    }

    #[test]
    fn rejects_garbage_and_truncation_without_panicking() {
        let err = summarize(b"").unwrap_err();
        assert_eq!(err, "not an ONNX model: no graph or IR version found in the protobuf");
        let err = summarize(b"hello, this is not a model").unwrap_err();
        assert!(err.starts_with("not an ONNX model: invalid protobuf ("), "{err}");
        let bytes = tiny();
        for cut in [1, 7, bytes.len() / 3, bytes.len() - 1] {
            let err = summarize(&bytes[..cut]).unwrap_err();
            assert!(err.starts_with("not an ONNX model: "), "cut at {cut}: {err}");
        }
        let err = summarize(&bytes[..bytes.len() / 3]).unwrap_err();
        assert!(err.contains("truncated protobuf: a field needs more bytes than remain (ModelProto.graph"), "{err}");
        // A declared length of ~2^63 bytes: refused before anything is allocated.
        let err = summarize(&[0x3a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]).unwrap_err();
        assert!(err.contains("truncated protobuf"), "{err}");
        // A known field with the wrong wire type, field number 0.
        let err = summarize(&[0x0a, 0x00]).unwrap_err();
        assert!(err.contains("ModelProto.ir_version") && err.contains("invalid wire type"), "{err}");
        assert!(summarize(&[0x00, 0x00]).unwrap_err().contains("invalid tag value: 0"));
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..200 {
            let noise: Vec<u8> = (0..256)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x.to_le_bytes()[0]
                })
                .collect();
            // Noise is refused as not a model, or (rarely) decodes to a summary bounded by the
            // bytes it came from: never a panic, never a count from nowhere.
            match summarize(&noise) {
                Ok(s) => assert!(s.nodes <= noise.len() && s.external_data.len() <= noise.len(), "{s:?}"),
                Err(e) => assert!(e.starts_with("not an ONNX model"), "{e}"),
            }
        }
    }

    #[test]
    fn deep_nesting_stops_at_the_recursion_limit() {
        // The declared messages do not nest recursively; skipped unknown fields can (groups
        // inside groups), and prost bounds that depth instead of overflowing the stack.
        let groups = vec![(15 << 3) | 3; 100_000];
        let err = summarize(&groups).unwrap_err();
        assert!(err.contains("recursion limit"), "{err}");
    }
}
