//! ONNX `TensorProto` files (`input_0.pb` of a test data set) on arbitrary bytes: an error, or a
//! tensor whose elements fill its shape exactly, never a panic, a hang or an allocation the bytes
//! do not pay for.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((name, tensor)) = infer_onnx_proto::tensor_file::decode(data) {
        assert!(name.len() <= data.len());
        let count: usize = tensor.shape().iter().product();
        assert_eq!(tensor.len(), count);
        // Every element came from the bytes: at least one byte an element (a packed varint or
        // a raw byte), but for an empty tensor.
        assert!(count <= data.len(), "{count} elements from {} bytes", data.len());
    }
});
