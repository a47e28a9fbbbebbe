//! The few `tensorflow.ConfigProto` fields infer sets, encoded by hand (no protobuf dependency).
//!
//! Field numbers from `tensorflow/core/protobuf/config.proto`: `ConfigProto.intra_op_parallelism_threads`
//! = 2, `inter_op_parallelism_threads` = 5, `gpu_options` = 6; `GPUOptions.allow_growth` = 4.

/// Session settings that map onto `ConfigProto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionConfig {
    /// Threads inside one operator (0 = TensorFlow's default).
    pub intra_op_threads: u32,
    /// Threads across operators (0 = TensorFlow's default).
    pub inter_op_threads: u32,
    /// Let GPU memory grow on demand instead of reserving all of it up front.
    pub gpu_allow_growth: bool,
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        // Truncation is the point: the low seven bits with the continuation bit.
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_field(out: &mut Vec<u8>, field: u64, value: u64) {
    varint(out, field << 3);
    varint(out, value);
}

impl SessionConfig {
    /// The serialized `ConfigProto`, as `SessionOptions::set_config` takes it. Fields at their
    /// default value are left out, as protobuf serializers do, so the bytes equal Python's
    /// `ConfigProto(...).SerializeToString()`.
    #[must_use]
    pub fn to_proto(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.intra_op_threads > 0 {
            varint_field(&mut out, 2, u64::from(self.intra_op_threads));
        }
        if self.inter_op_threads > 0 {
            varint_field(&mut out, 5, u64::from(self.inter_op_threads));
        }
        if self.gpu_allow_growth {
            let mut gpu = Vec::new();
            varint_field(&mut gpu, 4, 1);
            varint(&mut out, (6 << 3) | 2);
            varint(&mut out, gpu.len() as u64);
            out.extend(gpu);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected bytes computed once with the venv's TensorFlow 2.21.0:
    /// `from tensorflow.core.protobuf import config_pb2`, then
    /// `config_pb2.ConfigProto(intra_op_parallelism_threads=..., inter_op_parallelism_threads=...,
    /// gpu_options=config_pb2.GPUOptions(allow_growth=...)).SerializeToString()`.
    #[test]
    fn matches_python_config_proto_bytes() {
        let c = |intra, inter, growth| {
            SessionConfig { intra_op_threads: intra, inter_op_threads: inter, gpu_allow_growth: growth }.to_proto()
        };
        // ConfigProto() -> b''
        assert_eq!(c(0, 0, false), b"");
        // ConfigProto(intra_op_parallelism_threads=2, inter_op_parallelism_threads=1) -> b'\x10\x02(\x01'
        assert_eq!(c(2, 1, false), b"\x10\x02(\x01");
        // ConfigProto(intra_op_parallelism_threads=300, gpu_options=GPUOptions(allow_growth=True))
        //   -> b'\x10\xac\x022\x02 \x01'
        assert_eq!(c(300, 0, true), b"\x10\xac\x022\x02 \x01");
        // ConfigProto(intra_op_parallelism_threads=4, inter_op_parallelism_threads=2,
        //             gpu_options=GPUOptions(allow_growth=True)) -> b'\x10\x04(\x022\x02 \x01'
        assert_eq!(c(4, 2, true), b"\x10\x04(\x022\x02 \x01");
    }
}
