//! The binding's stand-in when feature `runtime` is off: the same functions, each saying that
//! the binding is not compiled in (swapped for `runtime.rs` at module level).

use std::path::Path;

use infer_core::{BackendInfo, LoadOptions, Result, Session, kit::not_compiled};

use crate::{BACKEND, EmbeddingTable};

/// Always `NotCompiled`.
pub(crate) fn probe() -> Result<BackendInfo> {
    Err(not_compiled(BACKEND, "infer-torch", "runtime"))
}

/// Always `NotCompiled`.
pub(crate) fn load(_: &Path, _: &LoadOptions) -> Result<Box<dyn Session>> {
    Err(not_compiled(BACKEND, "infer-torch", "runtime"))
}

/// Always `NotCompiled`.
pub(crate) fn embedding_tables(_: &Path) -> Result<Vec<EmbeddingTable>> {
    Err(not_compiled(BACKEND, "infer-torch", "runtime"))
}
