//! The binding's stand-in when feature `runtime` is off: the same functions, each saying that
//! the binding is not compiled in (swapped for `runtime.rs` at module level, so the backend's
//! code has no `#[cfg]` inside its methods).

use std::path::Path;

use infer_core::{BackendInfo, LoadOptions, ParameterCount, Result, Session, kit::not_compiled};

use crate::BACKEND;

/// Always `NotCompiled`.
pub(crate) fn probe() -> Result<BackendInfo> {
    Err(not_compiled(BACKEND, "infer-onnx", "runtime"))
}

/// Always `NotCompiled`.
pub(crate) fn load(
    _: &Path,
    _: &LoadOptions,
    _: ParameterCount,
    _: std::collections::BTreeMap<String, infer_core::IntRange>,
    _: &std::collections::BTreeSet<String>,
) -> Result<Box<dyn Session>> {
    Err(not_compiled(BACKEND, "infer-onnx", "runtime"))
}

/// Nothing to do: there is no ONNX Runtime to quieten.
pub(crate) fn set_verbose(_: bool) {}
