//! The ONNX protobuf decoder (`prost` messages, run before ONNX Runtime sees a file) and the graph
//! analyses over what it decodes, on arbitrary bytes: an error, or a summary and input ranges
//! that hold together, never a panic, a hang or an unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = infer_onnx_proto::proto::decode(data) {
        let summary = infer_onnx_proto::ModelSummary::of(&model);
        assert!(summary.ir_version > 0);
        assert!(summary.external_data.len() <= data.len());
        assert_eq!(infer_onnx_proto::summary::summarize(data).as_ref(), Ok(&summary));
        let inputs = model.graph.as_ref().map_or(0, |g| g.input.len());
        let ranges = infer_onnx_proto::ranges::integer_input_ranges_of(&model);
        assert!(ranges.len() <= inputs);
        for range in ranges.values() {
            assert!(range.lo < range.hi, "{range:?}");
            assert!(range.evidence.starts_with("Gather on "), "{range:?}");
        }
    } else {
        assert!(infer_onnx_proto::summary::summarize(data).is_err());
    }
});
