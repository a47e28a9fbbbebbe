//! The binding to `cpp/script.cpp`: a TorchScript module loaded, described and run by our shim,
//! because tch's `CModule` exposes neither a method's schema nor its graph, nor runs a method
//! other than `forward` with arguments that are not tensors.
//!
//! Tensors cross as tch's own (`at::Tensor*` underneath): inputs are borrowed for the call,
//! outputs come back as new tensors that tch owns and frees.

use std::{
    ffi::{CString, c_char, c_int, c_void},
    path::Path,
    ptr::NonNull,
};

use infer_core::{Error, Result};

use super::take;
use crate::BACKEND;

mod ffi {
    use std::ffi::{c_char, c_int, c_void};

    unsafe extern "C" {
        pub fn infer_torch_script_load(path: *const c_char, device: c_int, err: *mut *mut c_char) -> *mut c_void;
        pub fn infer_torch_script_free(script: *mut c_void);
        pub fn infer_torch_script_describe(
            script: *mut c_void,
            method: *const c_char,
            json: *mut *mut c_char,
            err: *mut *mut c_char,
        ) -> c_int;
        pub fn infer_torch_script_bind(
            script: *mut c_void,
            method: *const c_char,
            names: *const *const c_char,
            values: *const *const c_char,
            n: c_int,
            err: *mut *mut c_char,
        ) -> c_int;
        pub fn infer_torch_script_forward(
            script: *mut c_void,
            inputs: *const *const c_void,
            n: c_int,
            outputs: *mut *mut *mut c_void,
            n_outputs: *mut c_int,
            names: *mut *mut c_char,
            err: *mut *mut c_char,
        ) -> c_int;
        pub fn infer_torch_pointers_free(pointers: *mut *mut c_void);
    }
}

/// The message of a failed shim call (never empty).
fn message(err: *mut c_char) -> String {
    let msg = take(err);
    if msg.is_empty() { "no message from libtorch".into() } else { msg }
}

/// A TorchScript module (`torch::jit::Module`) in eval mode, owned by the shim.
pub(crate) struct Script {
    handle: NonNull<c_void>,
}

// SAFETY: a `torch::jit::Module` is not tied to the thread that loaded it (tch's `CModule` is
// `Send` for the same reason); `Script` hands out no references to it and `forward` is only
// called through `&mut self` by the session that owns it.
unsafe impl Send for Script {}

impl Script {
    /// Loads a TorchScript archive onto the CPU (`None`) or a CUDA device, in eval mode.
    ///
    /// # Errors
    /// [`Error::Load`] naming `path`, with libtorch's message (no C++ backtrace).
    pub fn load(path: &Path, cuda: Option<usize>) -> Result<Self> {
        let c_path = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| Error::load(path, "the path holds a NUL byte"))?;
        let device = match cuda {
            None => -1,
            Some(n) => c_int::try_from(n).map_err(|_| Error::load(path, format!("no CUDA device {n}")))?,
        };
        let mut err = std::ptr::null_mut();
        // SAFETY: `c_path` is a valid C string for the call; `err` is a valid out-pointer; the
        // shim catches every C++ exception.
        let handle = unsafe { ffi::infer_torch_script_load(c_path.as_ptr(), device, &raw mut err) };
        NonNull::new(handle)
            .map(|handle| Self { handle })
            .ok_or_else(|| Error::load(path, crate::schema::native_message(&message(err))))
    }

    /// What the shim reads from the module and its method `method`, as JSON (see
    /// `crate::schema::RawModule`).
    ///
    /// # Errors
    /// [`Error::Backend`] with libtorch's message.
    pub fn describe(&self, method: &str) -> Result<String> {
        let method = CString::new(method).map_err(|_| Error::InvalidInput("a method name holds a NUL byte".into()))?;
        let (mut json, mut err) = (std::ptr::null_mut(), std::ptr::null_mut());
        // SAFETY: `handle` is a live module from `infer_torch_script_load`; `method` is a valid C
        // string for the call; `json` and `err` are valid out-pointers; the shim catches every
        // C++ exception.
        let rc = unsafe {
            ffi::infer_torch_script_describe(self.handle.as_ptr(), method.as_ptr(), &raw mut json, &raw mut err)
        };
        if rc != 0 {
            return Err(Error::backend(BACKEND, format!("cannot read the module's schema: {}", message(err))));
        }
        Ok(take(json))
    }

    /// Makes [`Script::forward`] run `method`, passing on every call the values given for its
    /// arguments that are not tensors (by name, each as `crate::args::Value::encode` writes it)
    /// and the schema's defaults for the others.
    ///
    /// # Errors
    /// [`Error::Backend`] with libtorch's message (no such method, a value that does not fit).
    pub fn bind(&mut self, method: &str, values: &[(String, String)]) -> Result<()> {
        let nul = |_| Error::InvalidInput("an argument name or value holds a NUL byte".into());
        let method = CString::new(method).map_err(nul)?;
        let names = values.iter().map(|(n, _)| CString::new(n.as_str())).collect::<std::result::Result<Vec<_>, _>>();
        let texts = values.iter().map(|(_, v)| CString::new(v.as_str())).collect::<std::result::Result<Vec<_>, _>>();
        let (names, texts) = (names.map_err(nul)?, texts.map_err(nul)?);
        let name_ptrs: Vec<*const c_char> = names.iter().map(|c| c.as_ptr()).collect();
        let text_ptrs: Vec<*const c_char> = texts.iter().map(|c| c.as_ptr()).collect();
        let n = c_int::try_from(values.len()).map_err(|_| Error::InvalidInput("too many arguments".into()))?;
        let mut err = std::ptr::null_mut();
        // SAFETY: `handle` is a live module; `method` and the `n` names and values are valid C
        // strings that outlive the call (the shim copies what it keeps); `err` is a valid
        // out-pointer; the shim catches every C++ exception.
        let rc = unsafe {
            ffi::infer_torch_script_bind(
                self.handle.as_ptr(),
                method.as_ptr(),
                name_ptrs.as_ptr(),
                text_ptrs.as_ptr(),
                n,
                &raw mut err,
            )
        };
        if rc != 0 {
            return Err(Error::backend(BACKEND, crate::schema::native_message(&message(err))));
        }
        Ok(())
    }

    /// Runs the bound method (`forward` until [`Script::bind`]) on `inputs` without gradients
    /// and returns every tensor of its result (a
    /// tensor, or tuples, lists and string-keyed dicts of them), in order, with the name each has
    /// in the result (a dict key, `key.N` inside a tuple under one; empty where none).
    ///
    /// # Errors
    /// [`Error::Backend`] with the one line of libtorch's message that says what went wrong.
    pub fn forward(&mut self, inputs: &[tch::Tensor]) -> Result<(Vec<tch::Tensor>, Vec<String>)> {
        let pointers: Vec<*const c_void> = inputs.iter().map(|t| t.as_ptr().cast::<c_void>()).collect();
        let n = c_int::try_from(pointers.len()).map_err(|_| Error::InvalidInput("too many inputs".into()))?;
        let (mut outputs, mut n_outputs, mut names, mut err) =
            (std::ptr::null_mut(), 0, std::ptr::null_mut(), std::ptr::null_mut());
        // SAFETY: `handle` is a live module; `pointers` holds `n` pointers to tch tensors
        // (`at::Tensor*`) that `inputs` keeps alive for the call; the out-pointers are valid;
        // the shim catches every C++ exception.
        let rc = unsafe {
            ffi::infer_torch_script_forward(
                self.handle.as_ptr(),
                pointers.as_ptr(),
                n,
                &raw mut outputs,
                &raw mut n_outputs,
                &raw mut names,
                &raw mut err,
            )
        };
        if rc != 0 {
            return Err(Error::backend(BACKEND, crate::schema::native_message(&message(err))));
        }
        let count = usize::try_from(n_outputs).unwrap_or(0);
        // SAFETY: on success `outputs` is a malloc'ed array of `count` pointers, each a
        // `at::Tensor*` created with `new` for us alone: `Tensor::from_ptr` takes each one over
        // (tch frees it with torch-sys's `at_free`, `delete`), and the array itself is freed by
        // the shim's `free` once read.
        let tensors = unsafe {
            let tensors: Vec<tch::Tensor> =
                (0..count).map(|i| tch::Tensor::from_ptr((*outputs.add(i)).cast::<torch_sys::C_tensor>())).collect();
            ffi::infer_torch_pointers_free(outputs);
            tensors
        };
        // Null when the result names nothing (a tensor, a tuple): every name is then empty.
        let names: Vec<String> = if names.is_null() {
            vec![String::new(); tensors.len()]
        } else {
            serde_json::from_str(&take(names)).map_err(|e| {
                Error::backend(BACKEND, format!("internal: the C++ shim's output names are invalid: {e}"))
            })?
        };
        if names.len() != tensors.len() {
            return Err(Error::backend(
                BACKEND,
                format!("internal: the C++ shim named {} of {} outputs", names.len(), tensors.len()),
            ));
        }
        Ok((tensors, names))
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        // SAFETY: `handle` came from `infer_torch_script_load` and is freed exactly once, here.
        unsafe { ffi::infer_torch_script_free(self.handle.as_ptr()) };
    }
}
