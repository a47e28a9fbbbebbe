//! TensorFlow backend for **infer**, on the TensorFlow C API (the `tensorflow` crate).
//!
//! It reads SavedModel folders (tag `serve`, signature `serving_default` unless
//! the `signature` option names another) and Keras files (`.keras`, `.h5`), which the C API
//! cannot read: those are converted once to a SavedModel by the project venv's TensorFlow and
//! cached beside the model (see [`keras`]).
//!
//! TensorFlow's own log (its start-up notices, warnings and errors) is silenced for the whole
//! process unless `TF_CPP_MIN_LOG_LEVEL` is set or the process's arguments hold `--verbose`: its
//! errors reach the user once, as the error of the call that failed.
//!
//! Without the `runtime` feature the backend still exists and reports itself as not compiled, so
//! every build and every report lists it. With it, nothing is linked at build time: the C API
//! exported by the `tensorflow-cpu` wheel is opened on first use (the `tensorflow` crate's runtime
//! linking) from where `cargo xtask setup` links it, `.runtimes/tensorflow/lib` (declared as [`RUNTIME`]); a
//! missing library makes the backend "unavailable: … (run `cargo xtask setup`)".
//!
//! Running the committed tiny SavedModel (the same CNN, transposing to NHWC inside) against its
//! reference output:
//!
//! ```
//! use infer_core::{Backend, Error, LoadOptions, npy::read_npy};
//!
//! let tiny = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/tiny");
//! match infer_tf::TfBackend.load(&tiny.join("tf/tiny_cnn"), &LoadOptions::default()) {
//!     Ok(mut session) => {
//!         let y = session.run(&[read_npy(&tiny.join("tiny_cnn.input.npy"))?])?;
//!         assert!(y[0].max_abs_diff(&read_npy(&tiny.join("tf/tiny_cnn.output.npy"))?)? < 1e-4);
//!     }
//!     // Built without feature `runtime`, or without the library (`cargo xtask setup`).
//!     Err(e @ (Error::NotCompiled { .. } | Error::Unavailable { .. })) => eprintln!("{e}"),
//!     Err(e) => return Err(e),
//! }
//! # Ok::<(), infer_core::Error>(())
//! ```
//!
//! The probe says which of the two it is:
//!
//! ```
//! use infer_core::{Backend, Error};
//! let backend = infer_tf::TfBackend;
//! assert_eq!(backend.name(), "tf");
//! let probe = backend.probe();
//! // Without the `runtime` feature: not compiled.
//! #[cfg(not(feature = "runtime"))]
//! assert!(matches!(probe, Err(Error::NotCompiled { ref backend, .. }) if backend == "tf"), "{probe:?}");
//! // With it: the wheel's TensorFlow on the CPU once `cargo xtask setup` has installed it,
//! // else unavailable, saying how to install it.
//! #[cfg(feature = "runtime")]
//! match probe {
//!     Ok(info) => assert!(info.runtime_version.starts_with("2.") && info.devices.contains(&infer_core::Device::Cpu)),
//!     Err(e) => assert!(e.to_string().contains("cargo xtask setup"), "{e}"),
//! }
//! ```

pub mod config;
pub mod keras;
#[cfg(feature = "runtime")]
mod runtime;
#[cfg(not(feature = "runtime"))]
#[path = "stub.rs"]
mod runtime;
pub mod stepstats;

use std::path::{Path, PathBuf};

use infer_core::{Backend, BackendInfo, Error, LoadOptions, ModelFormat, OptionSpec, Probe, Result, Session, Sniff};

/// Backend name used in reports and on the command line.
pub const BACKEND: &str = "tf";
include!(concat!(env!("OUT_DIR"), "/runtime.rs"));
/// The signature run unless the `signature` option names another.
pub const DEFAULT_SIGNATURE: &str = "serving_default";
/// The SavedModel tag loaded.
pub const SERVE_TAG: &str = "serve";

/// The TensorFlow backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct TfBackend;

/// A TensorFlow SavedModel folder.
pub const SAVED_MODEL: ModelFormat = ModelFormat { id: "savedmodel", name: "SavedModel", hint: "a SavedModel folder" };
/// A Keras file, converted once to a SavedModel.
pub const KERAS: ModelFormat = ModelFormat { id: "keras", name: "Keras", hint: ".keras/.h5" };

/// The options of the tf backend.
pub const OPTIONS: &[OptionSpec] = &[OptionSpec {
    key: "signature",
    help: "the SavedModel signature to run (default serving_default; CLI shorthand: --signature)",
    values: None,
}];

/// Recognises the tf backend's inputs: a folder is a SavedModel when it holds `saved_model.pb`
/// (any other folder is claimed by name only, so that loading it says what is missing); a
/// `.keras` file is a zip archive, an `.h5` file starts with the HDF5 signature.
#[must_use]
pub fn sniff(probe: &Probe) -> Sniff {
    if probe.is_dir {
        return if probe.path.join("saved_model.pb").is_file() {
            Sniff::Content(SAVED_MODEL)
        } else {
            Sniff::Name(SAVED_MODEL)
        };
    }
    let content = match probe.extension.as_str() {
        "keras" => probe.is_zip(),
        "h5" | "hdf5" => probe.head.starts_with(b"\x89HDF\r\n\x1a\n"),
        _ => return Sniff::No,
    };
    if content { Sniff::Content(KERAS) } else { Sniff::Name(KERAS) }
}

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
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    match ext.as_str() {
        "keras" | "h5" | "hdf5" => keras::ensure_saved_model(path).map(|c| c.dir),
        _ => Err(Error::load(
            path,
            format!("the tf backend reads SavedModel folders and .keras/.h5 files, not `.{ext}` files"),
        )),
    }
}

impl Backend for TfBackend {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn formats(&self) -> &'static [ModelFormat] {
        &[SAVED_MODEL, KERAS]
    }

    fn sniff(&self, probe: &Probe) -> Sniff {
        sniff(probe)
    }

    fn options(&self) -> &'static [OptionSpec] {
        OPTIONS
    }

    fn runtime(&self) -> Option<&'static infer_core::NativeRuntime> {
        Some(&RUNTIME)
    }

    fn probe(&self) -> Result<BackendInfo> {
        runtime::probe()
    }

    fn load(&self, path: &Path, opts: &LoadOptions) -> Result<Box<dyn Session>> {
        infer_core::options::check(BACKEND, OPTIONS, &opts.options)?;
        runtime::probe()?;
        let dir = saved_model_dir(path)?;
        runtime::load(path, &dir, opts)
    }
}
