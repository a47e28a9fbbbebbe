//! The registry of every backend in this build, and choosing one for a model.

use std::path::Path;

use infer_core::{Backend, Error, ModelFormat, Registry, Result};

/// All backends, compiled in or not, in a fixed order.
#[must_use]
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Box::new(infer_onnx::OnnxBackend));
    r.register(Box::new(infer_torch::TorchBackend));
    r.register(Box::new(infer_tf::TfBackend));
    r
}

/// The backend named `name`, or the default one for the model's format.
///
/// # Errors
/// [`Error::InvalidInput`] for an unknown name; [`Error::Load`] when the format cannot be detected.
pub fn choose<'r>(registry: &'r Registry, model: &Path, name: Option<&str>) -> Result<&'r dyn Backend> {
    let name = match name {
        Some(n) => {
            // A missing model is named as such, whichever backend was asked for.
            std::fs::metadata(model).map_err(|e| Error::load(model, format!("cannot read: {e}")))?;
            n.to_string()
        }
        None => ModelFormat::detect(model)?.default_backend().to_string(),
    };
    registry.get(&name).ok_or_else(|| {
        let known: Vec<&str> = registry.iter().map(Backend::name).collect();
        Error::InvalidInput(format!("unknown backend `{name}`: expected one of {}", known.join(", ")))
    })
}
