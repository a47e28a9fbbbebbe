//! Reading and writing NumPy `.npy` files (format versions 1.0, 2.0 and 3.0, little-endian,
//! C order). `bfloat16` has no NumPy dtype: it is written widened to `f32`.

use std::path::Path;

use crate::{DType, Error, Result, Tensor, TensorData, tensor::element_count};

const MAGIC: &[u8] = b"\x93NUMPY";
/// Headers larger than this are refused as corrupt.
const MAX_HEADER: usize = 1 << 20;

/// Reads a `.npy` file into a tensor.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read; [`Error::File`] naming the file, with what was
/// expected and what was found, when it is not a valid `.npy` of a supported dtype.
pub fn read_npy(path: &Path) -> Result<Tensor> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_npy(&bytes).map_err(|reason| Error::file(path, reason))
}

/// Writes a tensor as a `.npy` file (version 1.0), atomically: a temporary file beside the target
/// is renamed over it, so a crash never leaves a half-written file.
///
/// # Errors
/// [`Error::Io`] when the file cannot be written.
pub fn write_npy(path: &Path, tensor: &Tensor) -> Result<()> {
    crate::fsutil::write_atomic(path, &encode_npy(tensor))
}

/// Encodes a tensor in `.npy` format (version 1.0).
#[must_use]
pub fn encode_npy(tensor: &Tensor) -> Vec<u8> {
    let (descr, body): (&str, Vec<u8>) = match tensor.data() {
        TensorData::F32(v) => ("<f4", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        TensorData::F16(v) => ("<f2", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        TensorData::BF16(v) => ("<f4", v.iter().flat_map(|x| x.to_f32().to_le_bytes()).collect()),
        TensorData::F64(v) => ("<f8", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        TensorData::I64(v) => ("<i8", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        TensorData::I32(v) => ("<i4", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        TensorData::I8(v) => ("|i1", v.iter().flat_map(|x| x.to_le_bytes()).collect()),
        TensorData::U8(v) => ("|u1", v.clone()),
        TensorData::Bool(v) => ("|b1", v.iter().map(|&b| u8::from(b)).collect()),
    };
    let shape = match tensor.shape() {
        [] => "()".to_string(),
        [n] => format!("({n},)"),
        dims => format!("({})", dims.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // magic(6) + version(2) + len(2) + header + '\n' is padded to a multiple of 64.
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + header.len() + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&u16::try_from(header.len()).unwrap_or(u16::MAX).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&body);
    out
}

/// Parses the bytes of a `.npy` file. The error text says what was expected and what was found.
///
/// # Errors
/// A description of the first problem found.
pub fn parse_npy(bytes: &[u8]) -> std::result::Result<Tensor, String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not a .npy file: expected the magic bytes \\x93NUMPY at the start".into());
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (header_len, start) = match major {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 => {
            let raw = bytes.get(8..12).ok_or("truncated .npy header")?;
            let len = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
            (usize::try_from(len).map_err(|_| "header length too large")?, 12)
        }
        _ => return Err(format!("unsupported .npy version {major}.{minor}: expected 1.0, 2.0 or 3.0")),
    };
    if header_len > MAX_HEADER {
        return Err(format!("header of {header_len} bytes is larger than the {MAX_HEADER} allowed"));
    }
    let header_bytes = bytes
        .get(start..start + header_len)
        .ok_or_else(|| format!("truncated: header needs {header_len} bytes, file has {}", bytes.len() - start))?;
    let header = std::str::from_utf8(header_bytes).map_err(|_| "header is not valid text")?;
    let descr = dict_value(header, "descr").ok_or("header has no 'descr' entry")?;
    let descr = descr.trim_matches(|c| c == '\'' || c == '"');
    let fortran = dict_value(header, "fortran_order").ok_or("header has no 'fortran_order' entry")?;
    if fortran != "False" {
        return Err(format!("fortran_order is {fortran}: only C-ordered arrays are supported"));
    }
    let shape = parse_shape(dict_value(header, "shape").ok_or("header has no 'shape' entry")?)?;
    let dtype = descr_dtype(descr)?;
    let count = element_count(&shape).ok_or_else(|| format!("shape {shape:?} has too many elements"))?;
    let body = &bytes[start + header_len..];
    let expected = count.checked_mul(dtype.size_of()).ok_or("data size overflows")?;
    if body.len() != expected {
        return Err(format!(
            "data size mismatch: shape {shape:?} of {dtype} needs {expected} bytes, file has {}",
            body.len()
        ));
    }
    let data = TensorData::from_le_bytes(dtype, body)?;
    Tensor::new(shape, data).map_err(|e| e.to_string())
}

fn descr_dtype(descr: &str) -> std::result::Result<DType, String> {
    let dtype = match descr {
        "<f4" => DType::F32,
        "<f2" => DType::F16,
        "<f8" => DType::F64,
        "<i8" => DType::I64,
        "<i4" => DType::I32,
        "|i1" | "<i1" | "i1" => DType::I8,
        "|u1" | "<u1" | "u1" => DType::U8,
        "|b1" | "<b1" | "b1" => DType::Bool,
        d if d.starts_with('>') => {
            return Err(format!("big-endian dtype `{d}` is not supported: expected little-endian (`<`)"));
        }
        d => {
            return Err(format!("unsupported dtype `{d}`: expected one of <f4, <f2, <f8, <i8, <i4, |i1, |u1, |b1"));
        }
    };
    Ok(dtype)
}

/// Finds the raw text of `key`'s value in a Python dict literal.
fn dict_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let quoted = [format!("'{key}'"), format!("\"{key}\"")];
    let pos = quoted.iter().find_map(|q| header.find(q.as_str()).map(|p| p + q.len()))?;
    let rest = header[pos..].trim_start().strip_prefix(':')?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else if let Some(q @ ('\'' | '"')) = rest.chars().next() {
        rest[1..].find(q)? + 2
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    Some(rest[..end].trim())
}

fn parse_shape(text: &str) -> std::result::Result<Vec<usize>, String> {
    let inner = text
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| format!("shape `{text}` is not a tuple"))?;
    inner
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.trim_end_matches('L').parse::<usize>().map_err(|_| format!("invalid dimension `{p}` in shape {text}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use half::{bf16, f16};

    use super::*;

    #[test]
    fn round_trips_every_dtype() {
        let tensors = [
            Tensor::from_vec(vec![2, 3], vec![1.5f32, -2., 3., 4., 5., 6.]).unwrap(),
            Tensor::from_vec(vec![2], vec![f16::from_f32(1.5), f16::from_f32(-0.25)]).unwrap(),
            Tensor::from_vec(vec![1, 1, 2], vec![1e300f64, -1.0]).unwrap(),
            Tensor::from_vec(vec![3], vec![i64::MIN, 0, i64::MAX]).unwrap(),
            Tensor::from_vec(vec![2], vec![-7i32, 7]).unwrap(),
            Tensor::from_vec(vec![2], vec![-128i8, 127]).unwrap(),
            Tensor::from_vec(vec![2, 2], vec![0u8, 1, 254, 255]).unwrap(),
            Tensor::from_vec(vec![3], vec![true, false, true]).unwrap(),
            Tensor::from_vec(vec![], vec![42f32]).unwrap(),
            Tensor::from_vec(vec![0, 4], Vec::<f32>::new()).unwrap(),
        ];
        for t in tensors {
            let bytes = encode_npy(&t);
            assert_eq!((bytes.len() - t.size_in_bytes()) % 64, 0, "header must be 64-aligned");
            assert_eq!(parse_npy(&bytes).unwrap(), t);
        }
    }

    #[test]
    fn bf16_is_widened_to_f32() {
        let t = Tensor::from_vec(vec![2], vec![bf16::from_f32(1.0), bf16::from_f32(-3.0)]).unwrap();
        let back = parse_npy(&encode_npy(&t)).unwrap();
        assert_eq!(back.as_slice::<f32>().unwrap(), &[1.0, -3.0]);
    }

    #[test]
    fn reads_numpy_written_header() {
        // Header exactly as numpy 1.26 writes it for np.arange(6, dtype='<i4').reshape(2, 3).
        let mut bytes = b"\x93NUMPY\x01\x00v\x00".to_vec();
        let mut header = "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }".to_string();
        while !(10 + header.len() + 1).is_multiple_of(64) {
            header.push(' ');
        }
        header.push('\n');
        bytes[8] = u8::try_from(header.len()).unwrap();
        bytes.extend_from_slice(header.as_bytes());
        for i in 0..6i32 {
            bytes.extend_from_slice(&i.to_le_bytes());
        }
        let t = parse_npy(&bytes).unwrap();
        assert_eq!(t.shape(), &[2, 3]);
        assert_eq!(t.as_slice::<i32>().unwrap(), &[0, 1, 2, 3, 4, 5]);
    }

    /// Replaces the first occurrence of `from` by `to` (same length) in raw bytes.
    fn patch(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
        assert_eq!(from.len(), to.len());
        let mut out = bytes.to_vec();
        let pos = out.windows(from.len()).position(|w| w == from.as_bytes()).unwrap();
        out[pos..pos + to.len()].copy_from_slice(to.as_bytes());
        out
    }

    #[test]
    fn rejects_bad_files_with_reasons() {
        let good = encode_npy(&Tensor::from_vec(vec![4], vec![1f32, 2., 3., 4.]).unwrap());
        assert!(parse_npy(b"hello world").unwrap_err().contains("magic"));
        let truncated = &good[..good.len() - 3];
        let err = parse_npy(truncated).unwrap_err();
        assert!(err.contains("needs 16 bytes, file has 13"), "{err}");
        let fortran = patch(&good, "False", "True ");
        assert!(parse_npy(&fortran).unwrap_err().contains("fortran_order"));
        let complex = patch(&good, "<f4", "<c8");
        assert!(parse_npy(&complex).unwrap_err().contains("unsupported dtype `<c8`"));
        let big = patch(&good, "<f4", ">f4");
        assert!(parse_npy(&big).unwrap_err().contains("big-endian"));
        let mut bad_bool = encode_npy(&Tensor::from_vec(vec![1], vec![true]).unwrap());
        *bad_bool.last_mut().unwrap() = 7;
        assert!(parse_npy(&bad_bool).unwrap_err().contains("invalid boolean"));
    }

    #[test]
    fn file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.npy");
        std::fs::write(&p, b"garbage").unwrap();
        let err = read_npy(&p).unwrap_err().to_string();
        assert!(err.contains("x.npy") && err.contains("magic"), "{err}");
        let t = Tensor::from_vec(vec![2], vec![1i64, 2]).unwrap();
        write_npy(&p, &t).unwrap();
        assert_eq!(read_npy(&p).unwrap(), t);
        assert!(read_npy(&dir.path().join("none.npy")).unwrap_err().to_string().contains("none.npy"));
    }
}
