//! ONNX Runtime backend for **infer**, through the `ort` crate with the library loaded at run time.
//!
//! Without the `runtime` feature the backend still exists and reports itself as not compiled, so
//! every build and every report lists it. With it, the library is found from [`RUNTIME`] (the
//! project's `.runtimes/` written by `cargo xtask setup`, or `ORT_DYLIB_PATH`).
//!
//! Running the committed tiny CNN against its reference output:
//!
//! ```
//! use infer_core::{Backend, Error, LoadOptions, npy::read_npy};
//!
//! let tiny = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/tiny");
//! match infer_onnx::OnnxBackend.load(&tiny.join("tiny_cnn.onnx"), &LoadOptions::default()) {
//!     Ok(mut session) => {
//!         let y = session.run(&[read_npy(&tiny.join("tiny_cnn.input.npy"))?])?;
//!         assert!(y[0].max_abs_diff(&read_npy(&tiny.join("tiny_cnn.output.npy"))?)? < 1e-4);
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
//! let backend = infer_onnx::OnnxBackend;
//! assert_eq!(backend.name(), "onnx");
//! let probe = backend.probe();
//! // Without the `runtime` feature: not compiled.
//! #[cfg(not(feature = "runtime"))]
//! assert!(matches!(probe, Err(Error::NotCompiled { ref backend, .. }) if backend == "onnx"), "{probe:?}");
//! // With it: the pinned ONNX Runtime, or unavailable (saying why) when the library is missing.
//! #[cfg(feature = "runtime")]
//! match probe {
//!     Ok(info) => assert_eq!(info.runtime_version, infer_onnx::RUNTIME.version()),
//!     Err(e) => assert!(matches!(e, Error::Unavailable { .. }), "{e}"),
//! }
//! ```

pub mod profile;
#[cfg(feature = "runtime")]
mod runtime;
#[cfg(not(feature = "runtime"))]
#[path = "stub.rs"]
mod runtime;

use std::path::Path;

use infer_core::{Backend, BackendInfo, LoadOptions, ModelFormat, ParameterCount, Probe, Result, Session, Sniff};
/// The ONNX format and its reading without a runtime, shared with every backend that reads ONNX.
pub use infer_onnx_proto::{ONNX, inspect, sniff};

/// Backend name used in reports and on the command line.
pub const BACKEND: &str = "onnx";
include!(concat!(env!("OUT_DIR"), "/runtime.rs"));
/// The oldest ONNX Runtime minor version the `ort` binding accepts.
pub const REQUIRED_MINOR: u32 = 31;

/// The ONNX Runtime backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct OnnxBackend;

/// Shows ONNX Runtime's own log (its warnings and errors, as it prints them) when `verbose`. By
/// default only its fatal messages pass: an error already reaches the user once, as the error of
/// the call that failed, and ONNX Runtime's colour-coded log line would repeat it. Takes effect
/// at once, whether the library is loaded already or not (the CLI's `--verbose`).
pub fn set_verbose(verbose: bool) {
    runtime::set_verbose(verbose);
}

impl Backend for OnnxBackend {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn formats(&self) -> &'static [ModelFormat] {
        &[ONNX]
    }

    fn sniff(&self, probe: &Probe) -> Sniff {
        sniff(probe)
    }

    fn runtime(&self) -> Option<&'static infer_core::NativeRuntime> {
        Some(&RUNTIME)
    }

    fn probe(&self) -> Result<BackendInfo> {
        runtime::probe()
    }

    fn load(&self, path: &Path, opts: &LoadOptions) -> Result<Box<dyn Session>> {
        infer_core::options::check(BACKEND, self.options(), &opts.options)?;
        let summary = inspect(path)?;
        let parameters = ParameterCount { count: summary.parameters, bytes: summary.parameter_bytes };
        runtime::load(path, opts, parameters, summary.integer_ranges, &summary.unranked)
    }
}
