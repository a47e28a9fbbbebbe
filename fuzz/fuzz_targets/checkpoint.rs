//! Tensor-only checkpoint reader (safetensors, `torch.save` zip + pickle) on arbitrary bytes:
//! an error or tensors whose buffers hold exactly what their shapes and dtypes say, never a
//! panic, never anything executed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = infer_torch::checkpoint::read_bytes(data) {
        for (name, t) in &c.tensors {
            let elements: usize = t.shape().iter().product();
            assert_eq!(t.size_in_bytes(), elements * t.dtype().size_of(), "tensor {name}");
        }
    }
});
