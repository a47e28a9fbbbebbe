//! tract backend for **infer**: ONNX models run by [tract](https://github.com/sonos/tract)
//! (`tract-onnx`, feature `runtime`), a runtime written in Rust: no native library, nothing to
//! install, the same binary on every machine.
//!
//! It reads ONNX files, the same [`infer_onnx_proto::ONNX`] format (id `onnx`) as ONNX Runtime,
//! which stays the default reader of `.onnx`: choose this backend with `--backend tract`. Files are
//! checked first without tract ([`inspect`]), which also gives the parameter count, the names of
//! the input axes and the integer ranges of embedding inputs. Its option
//! ([`OPTIONS`]): `optimize` (`on`, the default, or `off`). Threads: tract computes on the calling
//! thread unless [`LoadOptions::intra_threads`](infer_core::LoadOptions::intra_threads) asks for
//! more (then its matrix products use a pool of that many threads); CPU only.
//!
//! Without the `runtime` feature the backend still exists and reports itself as not compiled,
//! so every build lists it. Running the committed tiny CNN:
//!
//! ```
//! use infer_core::{Backend, DType, Error, LoadOptions, Tensor};
//!
//! let model = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/tiny/tiny_cnn.onnx");
//! match infer_tract::TractBackend.load(model.as_ref(), &LoadOptions::default()) {
//!     Ok(mut session) => {
//!         let y = session.run(&[Tensor::zeros(DType::F32, vec![2, 3, 8, 8])?])?;
//!         eprintln!("logits: {:?}", y[0].shape());
//!         assert_eq!(y[0].shape(), [2, 10]);
//!     }
//!     // Built without feature `runtime`.
//!     Err(e @ Error::NotCompiled { .. }) => eprintln!("{e}"),
//!     Err(e) => return Err(e),
//! }
//! # Ok::<(), infer_core::Error>(())
//! ```

// Used by runtime.rs; compiled in every build so that its tests run without tract.
#[cfg_attr(not(feature = "runtime"), allow(dead_code))]
mod message;
#[cfg(feature = "runtime")]
mod runtime;
#[cfg(not(feature = "runtime"))]
#[path = "stub.rs"]
mod runtime;
pub mod settings;

use std::path::Path;

use infer_core::{Backend, BackendInfo, Error, LoadOptions, ModelFormat, OptionSpec, Probe, Result, Session, Sniff};
use infer_onnx_proto::{ModelSummary, ONNX};

pub use settings::Settings;

/// Backend name used in reports and on the command line.
pub const BACKEND: &str = "tract";

/// The version of `tract-onnx` this crate is built against (pinned in the workspace's
/// `Cargo.toml`; a test checks `Cargo.lock` agrees).
pub const TRACT_VERSION: &str = "0.23.9";

/// The options of this backend (`--option KEY=VALUE`).
pub const OPTIONS: &[OptionSpec] = &[OptionSpec {
    key: "optimize",
    help: "on (default): tract's optimised plan (operators lowered to its own kernels and fused); \
           off: the decluttered model as it is. Without it, --optimization none means off",
    values: Some(&["on", "off"]),
}];

/// The tract backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct TractBackend;

/// Reads and validates a model without tract: an `.onnx` file (by name; any other file or a
/// folder is refused), then [`infer_onnx_proto::inspect`] (a protobuf check, parameters, external
/// data confined to the model's folder, input axis names, integer input ranges).
///
/// # Errors
/// [`Error::Load`] naming the file when it cannot be read, is not named `.onnx`, is empty or is
/// not an ONNX protobuf.
pub fn inspect(path: &Path) -> Result<ModelSummary> {
    let probe = Probe::new(path)?;
    if probe.is_dir || infer_onnx_proto::sniff(&probe) == Sniff::No {
        return Err(Error::load(path, format!("not a model tract reads here: expected {}", ONNX.hint)));
    }
    infer_onnx_proto::inspect(path)
}

impl Backend for TractBackend {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn formats(&self) -> &'static [ModelFormat] {
        &[ONNX]
    }

    fn sniff(&self, probe: &Probe) -> Sniff {
        infer_onnx_proto::sniff(probe)
    }

    fn options(&self) -> &'static [OptionSpec] {
        OPTIONS
    }

    fn probe(&self) -> Result<BackendInfo> {
        runtime::probe()
    }

    fn load(&self, path: &Path, opts: &LoadOptions) -> Result<Box<dyn Session>> {
        let settings = Settings::from_options(opts)?;
        let summary = inspect(path)?;
        runtime::load(path, &summary, opts, settings)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::path::PathBuf;

    use super::*;

    fn tiny(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/tiny").join(name)
    }

    #[test]
    fn files_are_checked_before_tract_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.onnx");
        std::fs::write(&empty, b"").unwrap();
        let err = inspect(&empty).unwrap_err().to_string();
        assert!(err.contains("empty.onnx") && err.contains("the file is empty"), "{err}");
        let err = inspect(&tiny("tiny_cnn.pt")).unwrap_err().to_string();
        assert!(err.contains("tiny_cnn.pt") && err.contains("expected .onnx"), "{err}");
        let err = inspect(dir.path()).unwrap_err().to_string();
        assert!(err.contains("expected .onnx"), "{err}");
        let err = inspect(&dir.path().join("gone.onnx")).unwrap_err().to_string();
        assert!(err.contains("gone.onnx") && err.contains("cannot read"), "{err}");
        let s = inspect(&tiny("tiny_cnn.onnx")).unwrap();
        assert_eq!((s.parameters, s.input_symbols["image"][0].as_deref()), (162, Some("batch")));
    }

    #[test]
    fn options_are_refused_before_any_file_is_read() {
        let opts = LoadOptions::default().with_option("optimize", "max");
        let err = TractBackend.load(Path::new("/nonexistent.onnx"), &opts).err().unwrap().to_string();
        assert!(err.contains("`optimize` is `max`") && err.contains("on, off"), "{err}");
    }

    /// [`TRACT_VERSION`] is the version `Cargo.lock` resolved for `tract-onnx`.
    #[test]
    fn tract_version_matches_the_lock_file() {
        let lock = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.lock")).unwrap();
        let entry = lock.split("[[package]]").find(|p| p.contains("name = \"tract-onnx\"")).unwrap();
        assert!(entry.contains(&format!("version = \"{TRACT_VERSION}\"")), "{entry}");
    }
}
