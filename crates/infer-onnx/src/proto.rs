//! A minimal reader of the ONNX protobuf wire format: enough to validate that a file is an ONNX
//! model, count its parameters and list the external-data files it refers to, without ONNX
//! Runtime and without executing anything. Hostile bytes give an error, never a panic.

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
}

/// Parses an ONNX model.
///
/// # Errors
/// A description of what is wrong: not protobuf, truncated, or no graph.
pub fn summarize(bytes: &[u8]) -> Result<ModelSummary, String> {
    let mut summary = ModelSummary::default();
    let mut saw_graph = false;
    for field in Fields::new(bytes) {
        let (number, value) = field?;
        match (number, value) {
            (1, Value::Varint(v)) => summary.ir_version = v,
            (2, Value::Bytes(b)) => summary.producer = String::from_utf8_lossy(b).into_owned(),
            (7, Value::Bytes(b)) => {
                saw_graph = true;
                read_graph(b, &mut summary)?;
            }
            (8, Value::Bytes(b)) => summary.opsets.push(read_opset(b)?),
            _ => {}
        }
    }
    if !saw_graph || summary.ir_version == 0 {
        return Err("not an ONNX model: no graph or IR version found in the protobuf".into());
    }
    Ok(summary)
}

fn read_opset(bytes: &[u8]) -> Result<(String, u64), String> {
    let mut domain = String::new();
    let mut version = 0;
    for field in Fields::new(bytes) {
        match field? {
            (1, Value::Bytes(b)) => domain = String::from_utf8_lossy(b).into_owned(),
            (2, Value::Varint(v)) => version = v,
            _ => {}
        }
    }
    Ok((domain, version))
}

fn read_graph(bytes: &[u8], summary: &mut ModelSummary) -> Result<(), String> {
    for field in Fields::new(bytes) {
        match field? {
            (1, Value::Bytes(_)) => summary.nodes += 1,
            (5, Value::Bytes(b)) => read_initializer(b, summary)?,
            _ => {}
        }
    }
    Ok(())
}

fn read_initializer(bytes: &[u8], summary: &mut ModelSummary) -> Result<(), String> {
    let mut count: u64 = 1;
    let mut data_type = 0;
    for field in Fields::new(bytes) {
        match field? {
            (1, Value::Varint(d)) => count = count.saturating_mul(d),
            (1, Value::Bytes(packed)) => {
                let mut rest = packed;
                while !rest.is_empty() {
                    let (d, used) = varint(rest)?;
                    count = count.saturating_mul(d);
                    rest = &rest[used..];
                }
            }
            (2, Value::Varint(t)) => data_type = t,
            (13, Value::Bytes(entry)) => {
                let mut key = "";
                let mut value = String::new();
                for f in Fields::new(entry) {
                    match f? {
                        (1, Value::Bytes(k)) => key = std::str::from_utf8(k).unwrap_or(""),
                        (2, Value::Bytes(v)) => value = String::from_utf8_lossy(v).into_owned(),
                        _ => {}
                    }
                }
                if key == "location" {
                    summary.external_data.push(value);
                }
            }
            _ => {}
        }
    }
    summary.parameters = summary.parameters.saturating_add(count);
    summary.parameter_bytes = summary.parameter_bytes.saturating_add(count.saturating_mul(element_size(data_type)));
    Ok(())
}

/// Bytes per element of an ONNX `TensorProto.DataType`.
fn element_size(data_type: u64) -> u64 {
    match data_type {
        11 | 7 | 13 | 14 => 8, // double, int64, uint64, complex64
        1 | 6 | 12 => 4,       // float, int32, uint32
        10 | 16 | 5 | 4 => 2,  // float16, bfloat16, int16, uint16
        15 => 16,              // complex128
        _ => 1,                // int8, uint8, bool, float8 and unknown
    }
}

enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

struct Fields<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes, failed: false }
    }

    fn next_field(&mut self) -> Result<(u64, Value<'a>), String> {
        let (key, used) = varint(self.rest)?;
        self.rest = &self.rest[used..];
        let number = key >> 3;
        let value = match key & 7 {
            0 => {
                let (v, used) = varint(self.rest)?;
                self.rest = &self.rest[used..];
                Value::Varint(v)
            }
            1 => {
                self.rest = self.rest.get(8..).ok_or("truncated protobuf: 64-bit field")?;
                Value::Fixed
            }
            2 => {
                let (len, used) = varint(self.rest)?;
                let len = usize::try_from(len).map_err(|_| "protobuf length too large")?;
                let end = used.checked_add(len).ok_or("protobuf length too large")?;
                let b = self.rest.get(used..end).ok_or_else(|| {
                    format!("truncated protobuf: a field needs {len} bytes, {} remain", self.rest.len() - used)
                })?;
                self.rest = &self.rest[end..];
                Value::Bytes(b)
            }
            5 => {
                self.rest = self.rest.get(4..).ok_or("truncated protobuf: 32-bit field")?;
                Value::Fixed
            }
            w => return Err(format!("not an ONNX model: invalid protobuf wire type {w}")),
        };
        if number == 0 {
            return Err("not an ONNX model: protobuf field number 0".into());
        }
        Ok((number, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Value<'a>), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() || self.failed {
            return None;
        }
        let item = self.next_field();
        self.failed = item.is_err();
        Some(item)
    }
}

fn varint(bytes: &[u8]) -> Result<(u64, usize), String> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    Err("not an ONNX model: truncated or overlong protobuf varint".into())
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn rejects_garbage_and_truncation_without_panicking() {
        assert!(summarize(b"").is_err());
        assert!(summarize(b"hello, this is not a model").is_err());
        let bytes = tiny();
        for cut in [1, 7, bytes.len() / 3, bytes.len() - 1] {
            assert!(summarize(&bytes[..cut]).is_err(), "cut at {cut} accepted");
        }
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
            let _ = summarize(&noise);
        }
    }
}
