//! The binding to `cpp/context.cpp`: libtorch's process-wide TF32 flags for float32 matmuls
//! (cuBLAS) and convolutions (cuDNN) on CUDA.

use std::ffi::{c_char, c_int};

use infer_core::{Error, Result};

use super::take;
use crate::BACKEND;

mod ffi {
    use std::ffi::{c_char, c_int};

    unsafe extern "C" {
        pub fn infer_torch_set_tf32(allow: c_int, err: *mut *mut c_char) -> c_int;
        pub fn infer_torch_tf32(cublas: *mut c_int, cudnn: *mut c_int, err: *mut *mut c_char) -> c_int;
    }
}

/// Where TF32 tensor cores may be used for float32 work on CUDA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tf32 {
    /// Matrix multiplications (cuBLAS): `torch.backends.cuda.matmul.allow_tf32`.
    pub matmul: bool,
    /// Convolutions (cuDNN): `torch.backends.cudnn.allow_tf32`.
    pub cudnn: bool,
}

fn failed(status: c_int, err: *mut c_char, what: &str) -> Result<()> {
    if status == 0 {
        return Ok(());
    }
    let msg = take(err);
    Err(Error::backend(BACKEND, format!("{what}: {}", if msg.is_empty() { "no message from libtorch" } else { &msg })))
}

/// Allows or forbids TF32 for both matmuls and convolutions, for the whole process.
///
/// # Errors
/// [`Error::Backend`] with libtorch's message.
pub(crate) fn set_tf32(allow: bool) -> Result<()> {
    let mut err = std::ptr::null_mut();
    // SAFETY: `err` is a valid out-pointer; the shim catches every C++ exception.
    let status = unsafe { ffi::infer_torch_set_tf32(c_int::from(allow), &raw mut err) };
    failed(status, err, "cannot set the TF32 flags")
}

/// The TF32 flags in effect, read back from libtorch.
///
/// # Errors
/// [`Error::Backend`] with libtorch's message.
pub(crate) fn tf32() -> Result<Tf32> {
    let (mut cublas, mut cudnn, mut err): (c_int, c_int, *mut c_char) = (0, 0, std::ptr::null_mut());
    // SAFETY: the three out-pointers are valid for the call; the shim catches every C++ exception.
    let status = unsafe { ffi::infer_torch_tf32(&raw mut cublas, &raw mut cudnn, &raw mut err) };
    failed(status, err, "cannot read the TF32 flags")?;
    Ok(Tf32 { matmul: cublas != 0, cudnn: cudnn != 0 })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The flags are set and read back on any machine (the CPU has no use for them); this is
    /// the only test of this binary that touches them, so no other test races it.
    #[test]
    fn tf32_flags_read_back_as_set() {
        set_tf32(true).unwrap();
        assert_eq!(tf32().unwrap(), Tf32 { matmul: true, cudnn: true });
        set_tf32(false).unwrap();
        assert_eq!(tf32().unwrap(), Tf32 { matmul: false, cudnn: false });
    }
}
