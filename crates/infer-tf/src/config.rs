//! The few `tensorflow.ConfigProto` and `RunOptions` fields infer sets, declared by hand for
//! `prost` (no `protoc`, nothing generated at build time).
//!
//! Field numbers from `tensorflow/core/protobuf/config.proto` (checked against the descriptors of
//! the venv's TensorFlow 2.21.0): `ConfigProto.intra_op_parallelism_threads` = 2 (int32),
//! `inter_op_parallelism_threads` = 5 (int32), `gpu_options` = 6; `GPUOptions.allow_growth` = 4
//! (bool); `RunOptions.trace_level` = 1 (enum, `FULL_TRACE` = 3).

use prost::Message;

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

/// `ConfigProto`, fields declared in field-number order (the order protobuf serializers write).
#[derive(Clone, PartialEq, Message)]
struct ConfigProto {
    #[prost(int32, tag = "2")]
    intra_op_parallelism_threads: i32,
    #[prost(int32, tag = "5")]
    inter_op_parallelism_threads: i32,
    #[prost(message, optional, tag = "6")]
    gpu_options: Option<GpuOptions>,
}

/// `GPUOptions`.
#[derive(Clone, PartialEq, Message)]
struct GpuOptions {
    #[prost(bool, tag = "4")]
    allow_growth: bool,
}

/// `RunOptions`.
#[derive(Clone, PartialEq, Message)]
struct RunOptions {
    /// `RunOptions.TraceLevel`.
    #[prost(int32, tag = "1")]
    trace_level: i32,
}

/// `RunOptions.TraceLevel.FULL_TRACE`: per-node step stats, with hardware traces where a GPU
/// tracer is present.
const FULL_TRACE: i32 = 3;

/// The serialized `RunOptions` with `trace_level = FULL_TRACE`, as `SessionRunArgs::set_run_options`
/// takes it: a run that returns per-node step stats in its `RunMetadata`.
#[must_use]
pub fn full_trace_run_options() -> Vec<u8> {
    RunOptions { trace_level: FULL_TRACE }.encode_to_vec()
}

impl SessionConfig {
    /// The serialized `ConfigProto`, as `SessionOptions::set_config` takes it. Fields at their
    /// default value are left out, as protobuf serializers do, so the bytes equal Python's
    /// `ConfigProto(...).SerializeToString()`.
    #[must_use]
    pub fn to_proto(&self) -> Vec<u8> {
        ConfigProto {
            // Thread counts beyond i32 are meaningless: saturate rather than wrap.
            intra_op_parallelism_threads: i32::try_from(self.intra_op_threads).unwrap_or(i32::MAX),
            inter_op_parallelism_threads: i32::try_from(self.inter_op_threads).unwrap_or(i32::MAX),
            gpu_options: self.gpu_allow_growth.then_some(GpuOptions { allow_growth: true }),
        }
        .encode_to_vec()
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

    /// `config_pb2.RunOptions(trace_level=config_pb2.RunOptions.FULL_TRACE).SerializeToString()`
    /// with the venv's TensorFlow 2.21.0 -> b'\x08\x03'.
    #[test]
    fn matches_python_run_options_bytes() {
        assert_eq!(full_trace_run_options(), b"\x08\x03");
    }
}
