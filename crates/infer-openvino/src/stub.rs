//! The binding's stand-in when feature `runtime` is off: the same functions, each saying that
//! the binding is not compiled in (swapped for `runtime.rs` at module level, so the backend's
//! code has no `#[cfg]` inside its methods).

use infer_core::{BackendInfo, LoadOptions, Result, Session, kit::not_compiled};

use crate::{BACKEND, ModelFiles, Settings};

/// Always `NotCompiled`.
pub(crate) fn probe() -> Result<BackendInfo> {
    Err(not_compiled(BACKEND, "infer-openvino", "runtime"))
}

/// Always `NotCompiled`.
pub(crate) fn load(_: &ModelFiles, _: &LoadOptions, _: &Settings) -> Result<Box<dyn Session>> {
    Err(not_compiled(BACKEND, "infer-openvino", "runtime"))
}
