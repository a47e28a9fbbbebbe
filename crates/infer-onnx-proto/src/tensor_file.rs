//! Tensors stored as serialized ONNX `TensorProto`s (`.pb` files), and the test-data-set folders
//! that hold them: the ONNX Model Zoo and ONNX's backend test suite ship each model with
//! `test_data_set_0/input_0.pb, input_1.pb, …, output_0.pb, …`, one tensor a file, in the order of
//! the graph's inputs and outputs (each usually named after its value).
//!
//! Pure Rust (no ONNX Runtime): the harness reads these files as it reads `.npy`, for any backend.
//! Data is read from `raw_data` (little-endian) or from the typed fields (`float_data`,
//! `int32_data` for every type of 32 bits or fewer, `int64_data`, `double_data`); data stored in
//! another file, strings and the unsigned types wider than a byte are refused with the reason.
//!
//! ```
//! use infer_onnx_proto::tensor_file::{TensorData, decode};
//! use prost::Message;
//!
//! let proto = TensorData { dims: vec![2], data_type: 7, name: "ids".into(), int64_data: vec![3, 4], ..Default::default() };
//! let (name, tensor) = decode(&proto.encode_to_vec())?;
//! assert_eq!((name.as_str(), tensor.shape(), tensor.as_slice::<i64>().unwrap()), ("ids", &[2][..], &[3, 4][..]));
//! # Ok::<(), String>(())
//! ```

use std::path::{Path, PathBuf};

use half::{bf16, f16};
use infer_core::{DType, Error, Result, Tensor};
use prost::Message;

use crate::proto::data_type;

/// `TensorProto` with its data fields (field numbers of `onnx/onnx.proto`). Kept apart from
/// [`crate::proto::TensorProto`], which skips the data so that reading a model's initializers does
/// not copy its weights.
#[derive(Clone, PartialEq, Message)]
pub struct TensorData {
    /// The shape.
    #[prost(int64, repeated, packed = "false", tag = "1")]
    pub dims: Vec<i64>,
    /// `TensorProto.DataType`.
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    /// `float` elements.
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    /// Elements of `int32`, `int16`, `int8`, `uint16`, `uint8`, `bool`, and the bit patterns of
    /// `float16` and `bfloat16`.
    #[prost(int32, repeated, tag = "5")]
    pub int32_data: Vec<i32>,
    /// `string` elements (refused).
    #[prost(bytes = "vec", repeated, tag = "6")]
    pub string_data: Vec<Vec<u8>>,
    /// `int64` elements.
    #[prost(int64, repeated, tag = "7")]
    pub int64_data: Vec<i64>,
    /// The tensor's name.
    #[prost(string, tag = "8")]
    pub name: String,
    /// Every element, little-endian, when the typed fields are not used.
    #[prost(bytes = "vec", tag = "9")]
    pub raw_data: Vec<u8>,
    /// `double` elements.
    #[prost(double, repeated, tag = "10")]
    pub double_data: Vec<f64>,
    /// `uint64` and `uint32` elements.
    #[prost(uint64, repeated, tag = "11")]
    pub uint64_data: Vec<u64>,
    /// `location`, `offset`, … of data stored in another file.
    #[prost(message, repeated, tag = "13")]
    pub external_data: Vec<crate::proto::StringStringEntryProto>,
    /// 1 when the data lies in another file.
    #[prost(int32, tag = "14")]
    pub data_location: i32,
}

/// `float16`.
const FLOAT16: i32 = 10;
/// `double`.
const DOUBLE: i32 = 11;
/// `bfloat16`.
const BFLOAT16: i32 = 16;

/// Whether `path` names a serialized tensor (`.pb`).
#[must_use]
pub fn is_tensor_file(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("pb"))
}

/// Reads one `TensorProto` file: the tensor's name (empty when the file gives none) and the tensor.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::File`] naming it when it is not a
/// `TensorProto`, its type is one infer cannot hold, or its data does not fill its shape.
pub fn read(path: &Path) -> Result<(String, Tensor)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode(&bytes).map_err(|reason| Error::file(path, reason))
}

/// Decodes a serialized `TensorProto` (see [`read`]).
///
/// # Errors
/// The reason, as a message.
pub fn decode(bytes: &[u8]) -> std::result::Result<(String, Tensor), String> {
    let t = TensorData::decode(bytes).map_err(|e| format!("not an ONNX TensorProto: {e}"))?;
    if t.data_type == 0 {
        return Err("not an ONNX TensorProto: it has no data type".into());
    }
    if t.data_location == 1 || !t.external_data.is_empty() {
        return Err("the tensor's data is stored in another file (external data), which is not read here".into());
    }
    let dtype = dtype_of(t.data_type)?;
    let shape = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("invalid dimension {d} in shape {:?}", t.dims)))
        .collect::<std::result::Result<Vec<usize>, String>>()?;
    let count = infer_core::tensor::element_count(&shape)
        .ok_or_else(|| format!("shape {:?} holds more elements than memory can", t.dims))?;
    let data = if t.raw_data.is_empty() {
        typed(&t, dtype)?
    } else {
        let width = dtype.size_of();
        if t.raw_data.len() != count.saturating_mul(width) {
            return Err(format!(
                "shape {shape:?} of {dtype} needs {} bytes of raw data, the file holds {}",
                count.saturating_mul(width),
                t.raw_data.len()
            ));
        }
        infer_core::TensorData::from_le_bytes(dtype, &t.raw_data)?
    };
    if data.len() != count {
        return Err(format!("shape {shape:?} needs {count} elements, the file holds {}", data.len()));
    }
    let tensor = Tensor::new(shape, data).map_err(|e| e.to_string())?;
    Ok((t.name, tensor))
}

/// The dtype infer holds `data_type` in.
fn dtype_of(data_type: i32) -> std::result::Result<DType, String> {
    Ok(match data_type {
        data_type::FLOAT => DType::F32,
        FLOAT16 => DType::F16,
        BFLOAT16 => DType::BF16,
        DOUBLE => DType::F64,
        data_type::INT64 => DType::I64,
        data_type::INT32 => DType::I32,
        data_type::INT8 => DType::I8,
        data_type::UINT8 => DType::U8,
        data_type::BOOL => DType::Bool,
        other => {
            let name = match other {
                data_type::UINT16 => "uint16".to_string(),
                data_type::INT16 => "int16".to_string(),
                data_type::UINT32 => "uint32".to_string(),
                data_type::UINT64 => "uint64".to_string(),
                data_type::STRING => "string".to_string(),
                n => format!("data type {n}"),
            };
            return Err(format!(
                "unsupported element type {name}: expected float, float16, bfloat16, double, int64, int32, int8, \
                 uint8 or bool"
            ));
        }
    })
}

/// The elements of the typed field that holds `dtype`.
fn typed(t: &TensorData, dtype: DType) -> std::result::Result<infer_core::TensorData, String> {
    use infer_core::TensorData as D;
    // Values of int32_data outside the element type's range are not what a writer produces.
    let narrow = |what: &str| format!("an element of int32_data does not fit {what}");
    Ok(match dtype {
        DType::F32 => D::F32(t.float_data.clone()),
        DType::F64 => D::F64(t.double_data.clone()),
        DType::I64 => D::I64(t.int64_data.clone()),
        DType::I32 => D::I32(t.int32_data.clone()),
        DType::I8 => D::I8(
            t.int32_data
                .iter()
                .map(|&v| i8::try_from(v).map_err(|_| narrow("int8")))
                .collect::<std::result::Result<_, _>>()?,
        ),
        DType::U8 => D::U8(
            t.int32_data
                .iter()
                .map(|&v| u8::try_from(v).map_err(|_| narrow("uint8")))
                .collect::<std::result::Result<_, _>>()?,
        ),
        DType::Bool => D::Bool(t.int32_data.iter().map(|&v| v != 0).collect()),
        DType::F16 => D::F16(
            t.int32_data
                .iter()
                .map(|&v| u16::try_from(v).map(f16::from_bits).map_err(|_| narrow("float16")))
                .collect::<std::result::Result<_, _>>()?,
        ),
        DType::BF16 => D::BF16(
            t.int32_data
                .iter()
                .map(|&v| u16::try_from(v).map(bf16::from_bits).map_err(|_| narrow("bfloat16")))
                .collect::<std::result::Result<_, _>>()?,
        ),
    })
}

/// The files `{prefix}_0.pb`, `{prefix}_1.pb`, … of a test-data-set folder, in index order.
///
/// # Errors
/// [`Error::Io`] when the folder cannot be read; [`Error::File`] naming it when it holds no such
/// file, or when an index is missing (the missing file named).
pub fn set_files(dir: &Path, prefix: &str) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut indexed: Vec<(usize, PathBuf)> = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let index = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(prefix)?.strip_prefix('_')?.strip_suffix(".pb")?.parse::<usize>().ok());
        if let Some(i) = index {
            indexed.push((i, path));
        }
    }
    if indexed.is_empty() {
        return Err(Error::file(
            dir,
            format!("no {prefix}_*.pb in the folder: expected an ONNX test data set ({prefix}_0.pb, {prefix}_1.pb, …)"),
        ));
    }
    indexed.sort();
    if let Some(gap) = indexed.iter().enumerate().find(|(i, (n, _))| i != n).map(|(i, _)| i) {
        return Err(Error::file(dir, format!("{prefix}_{gap}.pb is missing: the files must be numbered from 0")));
    }
    Ok(indexed.into_iter().map(|(_, p)| p).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proto(data_type: i32, dims: &[i64]) -> TensorData {
        TensorData { data_type, dims: dims.to_vec(), ..Default::default() }
    }

    #[test]
    fn raw_and_typed_data_of_every_type() {
        let raw = |dt, dims: &[i64], raw_data: Vec<u8>| TensorData { raw_data, ..proto(dt, dims) }.encode_to_vec();
        let f: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
        let (_, t) = decode(&raw(data_type::FLOAT, &[2, 1], f)).unwrap();
        assert_eq!((t.shape(), t.as_slice::<f32>().unwrap()), (&[2, 1][..], &[1.5, -2.0][..]));
        let (_, t) = decode(&raw(data_type::BOOL, &[3], vec![1, 0, 1])).unwrap();
        assert_eq!(t.as_slice::<bool>().unwrap(), &[true, false, true]);
        let (_, t) = decode(&raw(FLOAT16, &[1], f16::from_f32(0.5).to_le_bytes().to_vec())).unwrap();
        assert_eq!(t.as_slice::<f16>().unwrap(), &[f16::from_f32(0.5)]);

        let typed = |t: TensorData| decode(&t.encode_to_vec()).map(|(_, t)| t);
        let t = typed(TensorData { float_data: vec![1.0, 2.0, 3.0], ..proto(data_type::FLOAT, &[3]) }).unwrap();
        assert_eq!(t.as_slice::<f32>().unwrap(), &[1.0, 2.0, 3.0]);
        let t = typed(TensorData { double_data: vec![0.25], ..proto(DOUBLE, &[]) }).unwrap();
        assert_eq!((t.shape(), t.as_slice::<f64>().unwrap()), (&[][..], &[0.25][..]));
        let t = typed(TensorData { int32_data: vec![-3, 3], ..proto(data_type::INT8, &[2]) }).unwrap();
        assert_eq!(t.as_slice::<i8>().unwrap(), &[-3, 3]);
        let t = typed(TensorData { int32_data: vec![255], ..proto(data_type::UINT8, &[1]) }).unwrap();
        assert_eq!(t.as_slice::<u8>().unwrap(), &[255]);
        let bits = i32::from(bf16::from_f32(-1.0).to_bits());
        let t = typed(TensorData { int32_data: vec![bits], ..proto(BFLOAT16, &[1]) }).unwrap();
        assert_eq!(t.as_slice::<bf16>().unwrap(), &[bf16::from_f32(-1.0)]);
        let t = typed(TensorData { int64_data: vec![7, 8, 9, 10], ..proto(data_type::INT64, &[2, 2]) }).unwrap();
        assert_eq!(t.as_slice::<i64>().unwrap(), &[7, 8, 9, 10]);
        let t = typed(TensorData { int32_data: vec![0, 2], ..proto(data_type::BOOL, &[2]) }).unwrap();
        assert_eq!(t.as_slice::<bool>().unwrap(), &[false, true]);
        // An empty tensor.
        let t = typed(proto(data_type::FLOAT, &[0, 4])).unwrap();
        assert_eq!((t.shape(), t.len()), (&[0, 4][..], 0));
    }

    #[test]
    fn what_cannot_be_read_is_said() {
        let err = |t: TensorData| decode(&t.encode_to_vec()).unwrap_err();
        let e = err(TensorData { float_data: vec![1.0], ..proto(data_type::FLOAT, &[2]) });
        assert_eq!(e, "shape [2] needs 2 elements, the file holds 1");
        let e = err(TensorData { raw_data: vec![0; 7], ..proto(data_type::FLOAT, &[2]) });
        assert_eq!(e, "shape [2] of f32 needs 8 bytes of raw data, the file holds 7");
        let e = err(TensorData { int32_data: vec![1], ..proto(data_type::UINT16, &[1]) });
        assert!(e.starts_with("unsupported element type uint16: expected float, "), "{e}");
        assert!(err(proto(data_type::STRING, &[1])).starts_with("unsupported element type string"));
        let e = err(TensorData { int32_data: vec![300], ..proto(data_type::INT8, &[1]) });
        assert_eq!(e, "an element of int32_data does not fit int8");
        assert_eq!(err(proto(data_type::FLOAT, &[-1])), "invalid dimension -1 in shape [-1]");
        assert!(err(TensorData { data_location: 1, ..proto(data_type::FLOAT, &[1]) }).contains("external data"));
        assert!(err(TensorData::default()).contains("no data type"));
        assert!(decode(b"\xff\xff\xff").unwrap_err().starts_with("not an ONNX TensorProto"));
        let huge = proto(data_type::FLOAT, &[i64::MAX, i64::MAX]);
        assert!(err(huge).contains("more elements than memory can"));
    }

    #[test]
    fn a_test_data_set_in_index_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["input_1.pb", "input_0.pb", "input_10.pb", "output_0.pb", "notes.txt"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let e = set_files(dir.path(), "input").unwrap_err().to_string();
        assert!(e.contains("input_2.pb is missing"), "{e}");
        std::fs::remove_file(dir.path().join("input_10.pb")).unwrap();
        let files = set_files(dir.path(), "input").unwrap();
        let names: Vec<_> = files.iter().map(|p| p.file_name().unwrap().to_str().unwrap()).collect();
        assert_eq!(names, ["input_0.pb", "input_1.pb"]);
        assert_eq!(set_files(dir.path(), "output").unwrap().len(), 1);
        let e = set_files(dir.path(), "label").unwrap_err().to_string();
        assert!(e.contains("no label_*.pb in the folder"), "{e}");
    }

    #[test]
    fn a_file_error_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("input_0.pb");
        std::fs::write(&path, proto(data_type::STRING, &[1]).encode_to_vec()).unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.contains("input_0.pb") && e.contains("unsupported element type string"), "{e}");
        assert!(read(&dir.path().join("absent.pb")).is_err());
    }
}
