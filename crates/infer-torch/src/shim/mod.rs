//! The bindings to infer's C++ shims (feature `runtime`), compiled by `build.rs`: `cpp/context.cpp`
//! (libtorch's global TF32 flags, [`context`]), `cpp/cuda.cpp` (CUDA event timing and the CUDA
//! allocator's figures, [`cuda`]), `cpp/profiler.cpp` (libtorch's Kineto profiler,
//! [`profiler`]) and `cpp/script.cpp` (a TorchScript module's schema,
//! graph and `forward`, [`script`]). The only module of the workspace with `unsafe` code: calls
//! into the shims' `extern "C"` API, each with its `SAFETY` reasoning.
#![allow(unsafe_code)]

pub(crate) mod context;
pub(crate) mod cuda;
pub(crate) mod profiler;
pub(crate) mod script;

use std::ffi::{CStr, c_char};

mod ffi {
    use std::ffi::c_char;

    unsafe extern "C" {
        pub fn infer_torch_string_free(s: *mut c_char);
    }
}

/// Takes ownership of a string a shim allocated (null gives an empty string).
fn take(s: *mut c_char) -> String {
    if s.is_null() {
        return String::new();
    }
    // SAFETY: a non-null string from a shim is NUL-terminated and allocated by `copy_string`
    // (common.h); it is read once here, then freed by the shim's own `free` and never used again.
    unsafe {
        let text = CStr::from_ptr(s).to_string_lossy().into_owned();
        ffi::infer_torch_string_free(s);
        text
    }
}
