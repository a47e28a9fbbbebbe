//! TensorFlow backend for **infer**, on the TensorFlow C API (the `tensorflow` crate).
//!
//! It reads SavedModel folders (tag `serve`, signature `serving_default` unless
//! [`LoadOptions::signature`] names another) and Keras files (`.keras`, `.h5`), which the C API
//! cannot read: those are converted once to a SavedModel by the project venv's TensorFlow and
//! cached beside the model (see [`keras`]).
//!
//! Without the `runtime` feature the backend still exists and reports itself as not compiled, so
//! every build and every report lists it. With it, the C API exported by the `tensorflow-cpu`
//! wheel is linked through the `tensorflow.pc` that `cargo xtask setup` writes into
//! `.runtimes/tensorflow/`, and found at run time through an rpath.
//!
//! ```
//! use infer_core::Backend;
//! let backend = infer_tf::TfBackend;
//! assert_eq!(backend.name(), "tf");
//! // Err(NotCompiled) without the `runtime` feature.
//! let _ = backend.probe();
//! ```

pub mod config;
pub mod keras;
#[cfg(feature = "runtime")]
mod runtime;
pub mod stepstats;

use std::path::{Path, PathBuf};

use infer_core::{Backend, BackendInfo, Error, LoadOptions, ModelFormat, Result, Session};

/// Backend name used in reports and on the command line.
pub const BACKEND: &str = "tf";
/// The signature run unless [`LoadOptions::signature`] names another.
pub const DEFAULT_SIGNATURE: &str = "serving_default";
/// The SavedModel tag loaded.
pub const SERVE_TAG: &str = "serve";

/// The TensorFlow backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct TfBackend;

/// The SavedModel folder for `path`: the folder itself when it holds a `saved_model.pb`, or the
/// SavedModel converted from a `.keras`/`.h5` file (cached beside it; see [`keras`]).
///
/// # Errors
/// [`Error::Load`] naming the path when it cannot be read, is a folder without
/// `saved_model.pb`, is another kind of file, or its Keras conversion fails.
pub fn saved_model_dir(path: &Path) -> Result<PathBuf> {
    let meta = std::fs::metadata(path).map_err(|e| Error::load(path, format!("cannot read: {e}")))?;
    if meta.is_dir() {
        return if path.join("saved_model.pb").is_file() {
            Ok(path.to_path_buf())
        } else {
            Err(Error::load(
                path,
                "not a SavedModel: the folder has no saved_model.pb (expected a folder written by \
                 tf.saved_model.save or Keras model.export, or a .keras/.h5 file)",
            ))
        };
    }
    match ModelFormat::detect(path)? {
        ModelFormat::Keras => keras::ensure_saved_model(path).map(|c| c.dir),
        other => Err(Error::load(
            path,
            format!("the tf backend reads SavedModel folders and .keras/.h5 files, not {other} files"),
        )),
    }
}

impl Backend for TfBackend {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn formats(&self) -> &'static [ModelFormat] {
        &[ModelFormat::SavedModel, ModelFormat::Keras]
    }

    fn probe(&self) -> Result<BackendInfo> {
        #[cfg(feature = "runtime")]
        return runtime::probe();
        #[cfg(not(feature = "runtime"))]
        Err(Error::NotCompiled { backend: BACKEND.into(), feature: "tf".into() })
    }

    fn load(&self, path: &Path, opts: &LoadOptions) -> Result<Box<dyn Session>> {
        #[cfg(feature = "runtime")]
        {
            runtime::probe()?;
            let dir = saved_model_dir(path)?;
            runtime::load(path, &dir, opts)
        }
        #[cfg(not(feature = "runtime"))]
        {
            let _ = (path, opts);
            Err(Error::NotCompiled { backend: BACKEND.into(), feature: "tf".into() })
        }
    }
}
