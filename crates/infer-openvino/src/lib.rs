//! OpenVINO backend for **infer**, through the `openvino` crate with the C library opened at run
//! time (feature `runtime`; the library is found from [`RUNTIME`]: the project's `.runtimes/`
//! written by `cargo xtask setup`, or `INFER_OPENVINO_LIB`).
//!
//! It reads ONNX files (the same [`infer_onnx_proto::ONNX`] format as ONNX Runtime, which stays the
//! default reader of `.onnx`: choose this backend with `--backend openvino`) and OpenVINO IR
//! ([`OPENVINO_IR`]: `model.xml` with its weights `model.bin` beside it). Its own options
//! ([`OPTIONS`]): `hint` (`latency` or `throughput`) and `precision` (`f32`, `bf16`, `f16`);
//! threads come from [`LoadOptions::intra_threads`](infer_core::LoadOptions::intra_threads).
//!
//! Without the `runtime` feature the backend still exists and reports itself as not compiled,
//! so every build lists it. Running the committed tiny IR:
//!
//! ```
//! use infer_core::{Backend, Error, LoadOptions, npy::read_npy};
//!
//! let ir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny_cnn.xml");
//! let tiny = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/tiny");
//! let options = LoadOptions::default().with_option("precision", "f32");
//! match infer_openvino::OpenVinoBackend.load(&ir, &options) {
//!     Ok(mut session) => {
//!         let x = read_npy(&tiny.join("tiny_cnn.input.npy"))?;
//!         let y = session.run(&[x])?;
//!         assert!(y[0].max_abs_diff(&read_npy(&tiny.join("tiny_cnn.output.npy"))?)? < 1e-4);
//!     }
//!     // Built without feature `runtime`, or without the library (`cargo xtask setup`).
//!     Err(e @ (Error::NotCompiled { .. } | Error::Unavailable { .. })) => eprintln!("{e}"),
//!     Err(e) => return Err(e),
//! }
//! # Ok::<(), infer_core::Error>(())
//! ```

pub mod errors;
pub mod ir;
pub mod profile;
#[cfg(feature = "runtime")]
mod runtime;
#[cfg(not(feature = "runtime"))]
#[path = "stub.rs"]
mod runtime;
pub mod settings;
#[cfg(feature = "runtime")]
mod sys;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use infer_core::{
    Backend, BackendInfo, Error, LoadOptions, ModelFormat, OptionSpec, ParameterCount, Probe, Result, Session, Sniff,
};
use infer_onnx_proto::ONNX;

pub use settings::{Hint, Precision, Settings};

/// Backend name used in reports and on the command line.
pub const BACKEND: &str = "openvino";
include!(concat!(env!("OUT_DIR"), "/runtime.rs"));

/// OpenVINO's own format: an XML graph (`<net>`) with its weights in a `.bin` file beside it.
pub const OPENVINO_IR: ModelFormat =
    ModelFormat { id: "openvino_ir", name: "OpenVINO IR", hint: ".xml (OpenVINO IR, its .bin beside it)" };

/// The options of this backend (`--option KEY=VALUE`).
pub const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        key: "hint",
        help: "performance hint: latency (default: one request as fast as possible) or throughput \
               (several streams; pays off with concurrent requests)",
        values: Some(&["latency", "throughput"]),
    },
    OptionSpec {
        key: "precision",
        help: "inference precision: f32 (default, as the other backends), or bf16 / f16 where the CPU has them",
        values: Some(&["f32", "bf16", "f16"]),
    },
];

/// The OpenVINO backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct OpenVinoBackend;

/// Recognises the files OpenVINO reads: an OpenVINO IR (`.xml` whose root element is `<net>`)
/// and ONNX ([`infer_onnx_proto::sniff`]). A `.bin` alone is an IR's weights, not a model: not claimed.
#[must_use]
pub fn sniff(probe: &Probe) -> Sniff {
    if probe.has_extension(&["xml"]) {
        return if ir::looks_like_ir(&probe.head) { Sniff::Content(OPENVINO_IR) } else { Sniff::Name(OPENVINO_IR) };
    }
    infer_onnx_proto::sniff(probe)
}

/// A model file checked before OpenVINO reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    /// The file OpenVINO reads (`.onnx` or `.xml`).
    pub model: PathBuf,
    /// An IR's weights file, when it has one.
    pub weights: Option<PathBuf>,
    /// The format.
    pub format: ModelFormat,
    /// Parameters counted from the file.
    pub parameters: ParameterCount,
    /// The symbol of each axis of each input, by input name, from an ONNX file (OpenVINO drops
    /// the names of dynamic dimensions); empty for an IR.
    pub input_symbols: BTreeMap<String, Vec<Option<String>>>,
    /// The range each integer input must stay in, from an ONNX file's graph; empty for an IR.
    pub integer_ranges: BTreeMap<String, infer_core::IntRange>,
}

/// Reads and validates a model without OpenVINO: an ONNX file through [`infer_onnx_proto::inspect`]
/// (a protobuf check, parameters, external data confined to the model's folder), an IR through
/// [`ir::inspect`] (the XML, and a `.bin` long enough for every constant).
///
/// # Errors
/// [`Error::Load`] naming the file when it cannot be read, is not one of the formats or is
/// truncated.
pub fn inspect(path: &Path) -> Result<ModelFiles> {
    let probe = Probe::new(path)?;
    match sniff(&probe).format() {
        Some(f) if f == OPENVINO_IR => {
            let s = ir::inspect(path)?;
            Ok(ModelFiles {
                model: path.to_path_buf(),
                weights: s.weights,
                format: OPENVINO_IR,
                parameters: ParameterCount { count: s.parameters, bytes: s.parameter_bytes },
                input_symbols: BTreeMap::new(),
                integer_ranges: BTreeMap::new(),
            })
        }
        Some(f) if f == ONNX => {
            let s = infer_onnx_proto::inspect(path)?;
            Ok(ModelFiles {
                model: path.to_path_buf(),
                weights: None,
                format: ONNX,
                parameters: ParameterCount { count: s.parameters, bytes: s.parameter_bytes },
                input_symbols: s.input_symbols,
                integer_ranges: s.integer_ranges,
            })
        }
        _ => Err(Error::load(
            path,
            format!("not a model OpenVINO reads here: expected {} or {}", ONNX.hint, OPENVINO_IR.hint),
        )),
    }
}

impl Backend for OpenVinoBackend {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn formats(&self) -> &'static [ModelFormat] {
        &[ONNX, OPENVINO_IR]
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
        let settings = Settings::from_options(opts)?;
        let files = inspect(path)?;
        runtime::load(&files, opts, &settings)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn tiny(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/tiny").join(name)
    }

    /// This crate's own fixture (the IR of `tiny_cnn`).
    fn own(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
    }

    #[test]
    fn sniffs_ir_and_onnx_but_not_weights_alone() {
        let sniffed = |p: &Path| sniff(&Probe::new(p).unwrap());
        assert_eq!(sniffed(&own("tiny_cnn.xml")), Sniff::Content(OPENVINO_IR));
        assert_eq!(sniffed(&tiny("tiny_cnn.onnx")), Sniff::Content(ONNX));
        assert_eq!(sniffed(&own("tiny_cnn.bin")), Sniff::No);
        assert_eq!(sniffed(&tiny("tiny_cnn.input.npy")), Sniff::No);
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("config.xml");
        std::fs::write(&other, "<?xml version=\"1.0\"?>\n<config/>").unwrap();
        assert_eq!(sniffed(&other), Sniff::Name(OPENVINO_IR));
        assert_eq!(sniffed(dir.path()), Sniff::No);
    }

    #[test]
    fn inspect_counts_parameters_of_both_formats() {
        let ir = inspect(&own("tiny_cnn.xml")).unwrap();
        assert_eq!((ir.format, ir.parameters.count, ir.parameters.bytes), (OPENVINO_IR, 162, 648));
        assert_eq!(ir.weights.unwrap(), own("tiny_cnn.bin"));
        let onnx = inspect(&tiny("tiny_cnn.onnx")).unwrap();
        assert_eq!((onnx.format, onnx.parameters.count, onnx.weights), (ONNX, 162, None));
        let err = inspect(&own("tiny_cnn.bin")).unwrap_err().to_string();
        assert!(err.contains("tiny_cnn.bin") && err.contains("expected .onnx or .xml"), "{err}");
    }

    #[test]
    fn unknown_options_are_refused_before_any_file_is_read() {
        let opts = LoadOptions::default().with_option("hint", "fastest");
        let err = OpenVinoBackend.load(Path::new("/nonexistent.xml"), &opts).err().unwrap().to_string();
        assert!(err.contains("`hint` is `fastest`") && err.contains("latency, throughput"), "{err}");
        let opts = LoadOptions::default().with_option("signature", "x");
        let err = OpenVinoBackend.load(Path::new("/nonexistent.xml"), &opts).err().unwrap().to_string();
        assert!(err.contains("no option `signature`") && err.contains("hint, precision"), "{err}");
    }
}
