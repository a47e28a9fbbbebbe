//! TensorFlow backend for **infer** (the TensorFlow C API).
//!
//! The TensorFlow binding has not landed yet: this backend reports itself as not compiled, so
//! every report lists it with the reason instead of silently leaving it out.
//!
//! ```
//! use infer_core::{Backend, Error};
//! let err = infer_tf::TfBackend.probe().unwrap_err();
//! assert!(matches!(err, Error::NotCompiled { .. }));
//! ```

use std::path::Path;

use infer_core::{Backend, BackendInfo, Error, LoadOptions, ModelFormat, Result, Session};

/// Backend name used in reports and on the command line.
pub const BACKEND: &str = "tf";

/// The TensorFlow backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct TfBackend;

impl Backend for TfBackend {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn formats(&self) -> &'static [ModelFormat] {
        &[ModelFormat::SavedModel, ModelFormat::Keras]
    }

    fn probe(&self) -> Result<BackendInfo> {
        Err(Error::NotCompiled { backend: BACKEND.into(), feature: "tf".into() })
    }

    fn load(&self, _path: &Path, _opts: &LoadOptions) -> Result<Box<dyn Session>> {
        Err(Error::NotCompiled { backend: BACKEND.into(), feature: "tf".into() })
    }
}
