//! ONNX's protobuf messages, declared by hand for `prost` (no `protoc`, nothing generated at build
//! time), with only the fields infer reads: enough to check that a file is an ONNX model, count its
//! parameters, list its external-data files and walk its main graph (nodes, initializers, typed
//! inputs and outputs), without ONNX Runtime and without executing anything.
//!
//! Field numbers and types are those of `onnx/onnx.proto` (ONNX 1.23, proto2). Every other field
//! (tensor data, doc strings, subgraphs, functions, …) is skipped by the decoder without being
//! copied, so a 100 MB model costs its node list, not its weights. Hostile bytes give an error, never
//! a panic: `prost` checks every length against the bytes that remain before it allocates, and
//! stops nested messages at its recursion limit. [`crate::summary`] reads a model through them.

use prost::Message;

/// `ModelProto`: the file.
#[derive(Clone, PartialEq, Message)]
pub struct ModelProto {
    /// The IR version the model was written for (0 or absent: not a model).
    #[prost(int64, tag = "1")]
    pub ir_version: i64,
    /// The tool that wrote the model.
    #[prost(string, tag = "2")]
    pub producer_name: String,
    /// The main graph.
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
    /// The operator sets the graph uses.
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
}

/// `OperatorSetIdProto`: one opset import.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct OperatorSetIdProto {
    /// The operator domain (`""` is the default ONNX domain).
    #[prost(string, tag = "1")]
    pub domain: String,
    /// The opset version in that domain.
    #[prost(int64, tag = "2")]
    pub version: i64,
}

/// `GraphProto`: nodes in topological order, the initializers (weights) and the graph's inputs
/// and outputs.
#[derive(Clone, PartialEq, Message)]
pub struct GraphProto {
    /// The nodes.
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    /// The graph's name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Constant tensors (weights), by name.
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    /// The graph's inputs (before IR 4 they may repeat initializers, as defaults).
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    /// The graph's outputs.
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
}

/// `NodeProto`: one operator call.
#[derive(Clone, PartialEq, Message)]
pub struct NodeProto {
    /// Names of the input values (`""` for an omitted optional input).
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    /// Names of the output values.
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    /// The node's name (may be empty).
    #[prost(string, tag = "3")]
    pub name: String,
    /// The operator (`Gather`, `Cast`, …).
    #[prost(string, tag = "4")]
    pub op_type: String,
    /// The operator's attributes.
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
    /// The operator's domain (`""` is the default ONNX domain).
    #[prost(string, tag = "7")]
    pub domain: String,
}

impl NodeProto {
    /// The attribute called `name`, if the node has it.
    #[must_use]
    pub fn attribute(&self, name: &str) -> Option<&AttributeProto> {
        self.attribute.iter().find(|a| a.name == name)
    }
}

/// `AttributeProto`, with the integer and tensor values only.
#[derive(Clone, PartialEq, Message)]
pub struct AttributeProto {
    /// The attribute's name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// An `INT` attribute's value.
    #[prost(int64, tag = "3")]
    pub i: i64,
    /// A `TENSOR` attribute's value (a `Constant` node's `value`).
    #[prost(message, optional, tag = "5")]
    pub t: Option<TensorProto>,
    /// `AttributeProto.AttributeType` (2 = `INT`, 4 = `TENSOR`, …).
    #[prost(int32, tag = "20")]
    pub r#type: i32,
}

/// `TensorProto` without its data: shape, element type, name and where external data lives.
#[derive(Clone, PartialEq, Message)]
pub struct TensorProto {
    /// The shape.
    #[prost(int64, repeated, packed = "false", tag = "1")]
    pub dims: Vec<i64>,
    /// `TensorProto.DataType` (1 = float, 7 = int64, …; see [`data_type`]).
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    /// The tensor's name (an initializer's is the value name nodes use).
    #[prost(string, tag = "8")]
    pub name: String,
    /// `location`, `offset`, `length`, `checksum` of data stored in another file.
    #[prost(message, repeated, tag = "13")]
    pub external_data: Vec<StringStringEntryProto>,
}

/// `StringStringEntryProto`: one key and value.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct StringStringEntryProto {
    /// The key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// The value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `ValueInfoProto`: a named, typed value (a graph input or output).
#[derive(Clone, PartialEq, Message)]
pub struct ValueInfoProto {
    /// The value's name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its type.
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
}

impl ValueInfoProto {
    /// The element type (`TensorProto.DataType`) when the value is a tensor.
    #[must_use]
    pub fn elem_type(&self) -> Option<i32> {
        match self.r#type.as_ref()?.value.as_ref()? {
            TypeValue::TensorType(t) => Some(t.elem_type),
        }
    }
}

/// `TypeProto`, where only tensors are read (sequences, maps, … decode as no type).
#[derive(Clone, PartialEq, Message)]
pub struct TypeProto {
    /// The kind of value.
    #[prost(oneof = "TypeValue", tags = "1")]
    pub value: Option<TypeValue>,
}

/// `TypeProto.value`.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum TypeValue {
    /// A tensor.
    #[prost(message, tag = "1")]
    TensorType(TypeTensor),
}

/// `TypeProto.Tensor`: element type and shape.
#[derive(Clone, PartialEq, Message)]
pub struct TypeTensor {
    /// `TensorProto.DataType` of the elements.
    #[prost(int32, tag = "1")]
    pub elem_type: i32,
    /// The shape, where known.
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
}

/// `TensorShapeProto`.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct TensorShapeProto {
    /// The dimensions, outermost first.
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<Dimension>,
}

/// `TensorShapeProto.Dimension`: a size, a symbol, or unknown.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct Dimension {
    /// The size or the symbol; `None` for an unknown dimension.
    #[prost(oneof = "DimensionValue", tags = "1, 2")]
    pub value: Option<DimensionValue>,
}

/// `TensorShapeProto.Dimension.value`.
#[derive(Clone, PartialEq, Eq, prost::Oneof)]
pub enum DimensionValue {
    /// A fixed size.
    #[prost(int64, tag = "1")]
    DimValue(i64),
    /// A symbolic size (`batch`, `sequence`).
    #[prost(string, tag = "2")]
    DimParam(String),
}

/// The `TensorProto.DataType` values infer names.
pub mod data_type {
    /// `float`.
    pub const FLOAT: i32 = 1;
    /// `uint8`.
    pub const UINT8: i32 = 2;
    /// `int8`.
    pub const INT8: i32 = 3;
    /// `uint16`.
    pub const UINT16: i32 = 4;
    /// `int16`.
    pub const INT16: i32 = 5;
    /// `int32`.
    pub const INT32: i32 = 6;
    /// `int64`.
    pub const INT64: i32 = 7;
    /// `string`.
    pub const STRING: i32 = 8;
    /// `bool`.
    pub const BOOL: i32 = 9;
    /// `uint32`.
    pub const UINT32: i32 = 12;
    /// `uint64`.
    pub const UINT64: i32 = 13;

    /// Whether elements of this type are integers (signed or not; not `bool`).
    #[must_use]
    pub fn is_integer(data_type: i32) -> bool {
        matches!(data_type, UINT8 | INT8 | UINT16 | INT16 | INT32 | INT64 | UINT32 | UINT64)
    }

    /// Bytes per element (1 for 1-byte, sub-byte and unknown types).
    #[must_use]
    pub fn element_size(data_type: i32) -> u64 {
        match data_type {
            11 | 7 | 13 | 14 => 8, // double, int64, uint64, complex64
            1 | 6 | 12 => 4,       // float, int32, uint32
            10 | 16 | 5 | 4 => 2,  // float16, bfloat16, int16, uint16
            15 => 16,              // complex128
            _ => 1,                // int8, uint8, bool, float8 and unknown
        }
    }
}

/// Decodes an ONNX model and checks that it is one (an IR version and a graph).
///
/// # Errors
/// A one-line description starting `not an ONNX model: `: truncated (a field needs more bytes
/// than remain), not protobuf of `ModelProto`'s shape (with the message and field where decoding
/// stopped), or no graph or IR version.
pub fn decode(bytes: &[u8]) -> Result<ModelProto, String> {
    let model = ModelProto::decode(bytes).map_err(|e| {
        let text = e.to_string();
        let detail = text.strip_prefix("failed to decode Protobuf message: ").unwrap_or(&text);
        if detail.ends_with("buffer underflow") {
            format!("not an ONNX model: truncated protobuf: a field needs more bytes than remain ({detail})")
        } else {
            format!("not an ONNX model: invalid protobuf ({detail})")
        }
    })?;
    if model.graph.is_none() || model.ir_version <= 0 {
        return Err("not an ONNX model: no graph or IR version found in the protobuf".into());
    }
    Ok(model)
}
