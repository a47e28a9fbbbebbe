//! What the `openvino` crate's safe API lacks, through `openvino-sys` (feature `runtime`): an
//! infer request's per-layer performance counters (`ov_infer_request_get_profiling_info`).
//! The only module of this crate allowed `unsafe` code.
#![allow(unsafe_code)]

use std::ffi::{CStr, c_char};

use infer_core::{Error, Result};
use openvino::InferRequest;
use openvino_sys::{
    ov_infer_request_get_profiling_info, ov_infer_request_t, ov_profiling_info_list_free, ov_profiling_info_list_t,
    ov_profiling_info_t_Status, ov_status_e,
};

use crate::{BACKEND, profile::Counter};

// `openvino::InferRequest` (0.11.1, pinned exactly in the workspace) is a struct with one field,
// the `*mut ov_infer_request_t` it owns, and no accessor for it. A struct of one field whose size
// is the field's size has that field at offset 0, so the handle can be read through a cast; the
// assertion stops the build if a new version of the crate changes the struct.
const _: () = assert!(size_of::<InferRequest>() == size_of::<*mut ov_infer_request_t>());

/// The C handle inside `request`, borrowed: it stays owned (and freed) by `request`.
fn handle(request: &InferRequest) -> *mut ov_infer_request_t {
    // SAFETY: see the assertion above: `InferRequest` is exactly its one pointer field, and the
    // reference is valid for the read.
    unsafe { *std::ptr::from_ref(request).cast::<*mut ov_infer_request_t>() }
}

fn text(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: OpenVINO fills the profiling entries with NUL-terminated strings that live until
    // `ov_profiling_info_list_free`, which is called after they are copied.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// The request's performance counters, one per node of the compiled graph in execution order
/// (the model must be compiled with `PERF_COUNT` on; otherwise OpenVINO returns an error).
///
/// # Errors
/// OpenVINO's message when the counters cannot be read.
pub(crate) fn counters(request: &InferRequest) -> Result<Vec<Counter>> {
    let mut list = ov_profiling_info_list_t { profiling_infos: std::ptr::null_mut(), size: 0 };
    // SAFETY: a live request handle and a list for OpenVINO to fill.
    let status = unsafe { ov_infer_request_get_profiling_info(handle(request), &raw mut list) };
    if status != ov_status_e::OK {
        let why = openvino::get_last_error_message().unwrap_or_else(|| format!("status {status:?}"));
        return Err(Error::backend(BACKEND, format!("cannot read the performance counters: {why}")));
    }
    let infos = if list.profiling_infos.is_null() || list.size == 0 {
        &[][..]
    } else {
        // SAFETY: OpenVINO filled `size` entries at `profiling_infos`.
        unsafe { std::slice::from_raw_parts(list.profiling_infos, list.size) }
    };
    let out = infos
        .iter()
        .map(|i| Counter {
            node: text(i.node_name),
            node_type: text(i.node_type),
            exec_type: text(i.exec_type),
            executed: i.status == ov_profiling_info_t_Status::EXECUTED,
            mean_us: u64::try_from(i.real_time).unwrap_or(0),
        })
        .collect();
    // SAFETY: the list OpenVINO allocated above, freed once.
    unsafe { ov_profiling_info_list_free(&raw mut list) };
    Ok(out)
}
