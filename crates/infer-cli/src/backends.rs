//! The registry of every backend in this build, and choosing one for a model.
//!
//! Adding a backend is one line in [`registry`]: the backend crate declares its formats, how it
//! recognises them and its options ([`infer_core::Backend`]). Registration order decides the
//! default where several backends read one format.

use std::{
    path::Path,
    sync::atomic::{AtomicBool, Ordering},
};

use infer_core::{Backend, Registry, Result};

/// Whether the runtimes' own logs are shown (`--verbose`).
static VERBOSE: AtomicBool = AtomicBool::new(false);

/// Shows the runtimes' own logs when `verbose` (ONNX Runtime's warnings and errors as it prints
/// them); by default they are silenced and a native error reaches the user once, as the error of
/// the call that failed. TensorFlow's log is decided before `main` from the process's arguments
/// (`--verbose`) and `TF_CPP_MIN_LOG_LEVEL` (see `infer_tf`).
pub fn set_verbose(verbose: bool) {
    VERBOSE.store(verbose, Ordering::Relaxed);
    infer_onnx::set_verbose(verbose);
}

/// Whether [`set_verbose`] turned the runtimes' logs on (child processes get `--verbose` then).
#[must_use]
pub fn verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

/// All backends, compiled in or not, in a fixed order, as the `infer` process has them: torch
/// as the stand-in for its worker process ([`crate::worker`]), so that nothing here links
/// libtorch.
#[must_use]
pub fn registry() -> Registry {
    registry_with(Box::new(crate::worker::Delegated::torch()))
}

/// All backends with `torch` as given: the stand-in in `infer`, `infer_torch::TorchBackend` in
/// `infer-torch-worker` (the only executable that names it, so the only one that maps libtorch).
#[must_use]
pub fn registry_with(torch: Box<dyn Backend>) -> Registry {
    let mut r = Registry::new();
    r.register(Box::new(infer_onnx::OnnxBackend));
    r.register(torch);
    r.register(Box::new(infer_tf::TfBackend));
    r.register(Box::new(infer_openvino::OpenVinoBackend));
    r.register(Box::new(infer_tract::TractBackend));
    r
}

/// The backend named `name`, or the default one for the model's format.
///
/// # Errors
/// [`infer_core::Error::InvalidInput`] for an unknown name; [`infer_core::Error::Load`] naming
/// the model when it cannot be read or no backend reads it.
pub fn choose<'r>(registry: &'r Registry, model: &Path, name: Option<&str>) -> Result<&'r dyn Backend> {
    registry.choose(model, name).map(|(b, _)| b)
}
