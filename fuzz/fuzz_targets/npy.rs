//! `.npy` reader on arbitrary bytes: an error or a tensor, never a panic; what it reads is
//! written back and read again unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = infer_core::npy::parse_npy(data) {
        let again = infer_core::npy::parse_npy(&infer_core::npy::encode_npy(&t)).expect("re-encoded .npy must parse");
        assert_eq!(again.shape(), t.shape());
        assert_eq!(again.dtype(), t.dtype());
        assert_eq!(again.size_in_bytes(), t.size_in_bytes());
    }
});
