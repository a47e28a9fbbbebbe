//! The ONNX protobuf walker (run before ONNX Runtime sees a file) on arbitrary bytes: an error or
//! a summary, never a panic or an unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(summary) = infer_onnx::proto::summarize(data) {
        assert!(summary.ir_version > 0);
        assert!(summary.external_data.len() <= data.len());
    }
});
