//! The registry of every backend in this build, and choosing one for a model.
//!
//! Adding a backend is one line in [`registry`]: the backend crate declares its formats, how it
//! recognises them and its options ([`infer_core::Backend`]). Registration order decides the
//! default where several backends read one format.

use std::path::Path;

use infer_core::{Backend, Registry, Result};

/// All backends, compiled in or not, in a fixed order.
#[must_use]
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Box::new(infer_onnx::OnnxBackend));
    r.register(Box::new(infer_torch::TorchBackend));
    r.register(Box::new(infer_tf::TfBackend));
    r.register(Box::new(infer_openvino::OpenVinoBackend));
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
