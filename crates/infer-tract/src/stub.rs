//! The runtime's stand-in when feature `runtime` is off: the same functions, each saying that
//! tract is not compiled in (swapped for `runtime.rs` at module level, so the backend's code has
//! no `#[cfg]` inside its methods).

use std::path::Path;

use infer_core::{BackendInfo, LoadOptions, Result, Session, kit::not_compiled};

use infer_onnx_proto::ModelSummary;

use crate::{BACKEND, Settings};

/// Always `NotCompiled`.
pub(crate) fn probe() -> Result<BackendInfo> {
    Err(not_compiled(BACKEND, "infer-tract", "runtime"))
}

/// Always `NotCompiled`.
pub(crate) fn load(_: &Path, _: &ModelSummary, _: &LoadOptions, _: Settings) -> Result<Box<dyn Session>> {
    Err(not_compiled(BACKEND, "infer-tract", "runtime"))
}
