//! PyTorch backend for **infer**: TorchScript modules and weights-only checkpoints on libtorch
//! (through `tch`, feature `runtime`).
//!
//! - A TorchScript file (`torch.jit.script` or `torch.jit.trace`, saved with `torch.jit.save`) is
//!   loaded onto the device in eval mode and run without gradients. Its inputs are `forward`'s
//!   tensor arguments, by name, and its outputs the tensors of its result (a tuple gives several,
//!   `output_0`, …); an argument that is not a tensor is refused by name and type. TorchScript
//!   records no dtypes or shapes: they are read from a sidecar JSON next to the model
//!   ([`sidecar_path`]: `model.pt` → `model.json`), else from what the graph proves (the indices
//!   of `aten::embedding` are `i64`, [`embedding_tables`]), else they are unknown and any tensor
//!   is accepted; `Session::input_sources` says which.
//! - A weights-only checkpoint (`.safetensors`, or a `torch.save` file of a state dict) is loaded
//!   into an architecture chosen by name ([`ARCHITECTURES`], `LoadOptions::architecture`, CLI
//!   `--arch`). The file is read by [`checkpoint`], a pure-Rust reader that never executes code
//!   from the file, and matched key by key: missing and unexpected keys and shape mismatches are
//!   reported by name.
//! - A session loaded with `LoadOptions::profile_prefix` runs libtorch's Kineto profiler
//!   (through a C++ shim of ours) and `Session::op_profile` returns each ATen op of each run by
//!   self time ([`profile`]).
//!
//! Without the `runtime` feature the backend reports itself as not compiled; [`checkpoint`] and
//! the sidecar format are always available.
//!
//! Running the committed tiny TorchScript CNN (its sidecar `tiny_cnn.json` describes the input)
//! against its reference output:
//!
//! ```
//! use infer_core::{Backend, Error, LoadOptions, npy::read_npy};
//!
//! let tiny = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/tiny");
//! match infer_torch::TorchBackend.load(&tiny.join("tiny_cnn.pt"), &LoadOptions::default()) {
//!     Ok(mut session) => {
//!         let y = session.run(&[read_npy(&tiny.join("tiny_cnn.input.npy"))?])?;
//!         assert!(y[0].max_abs_diff(&read_npy(&tiny.join("tiny_cnn.output.npy"))?)? < 1e-4);
//!     }
//!     // Built without libtorch (feature `runtime`, or `cargo xtask setup`'s `--cfg infer_libtorch`).
//!     Err(e @ (Error::NotCompiled { .. } | Error::Unavailable { .. })) => eprintln!("{e}"),
//!     Err(e) => return Err(e),
//! }
//! # Ok::<(), infer_core::Error>(())
//! ```

pub mod checkpoint;
pub mod profile;
#[cfg(any(feature = "runtime", infer_libtorch))]
mod runtime;
#[cfg(not(any(feature = "runtime", infer_libtorch)))]
#[path = "stub.rs"]
mod runtime;
// Without libtorch, only `EmbeddingTable` is used.
#[cfg_attr(not(any(feature = "runtime", infer_libtorch)), allow(dead_code))]
mod schema;
#[cfg(any(feature = "runtime", infer_libtorch))]
mod shim;

pub use schema::EmbeddingTable;

use std::path::{Path, PathBuf};

use infer_core::{
    Backend, BackendInfo, Error, LoadOptions, ModelFormat, OptionSpec, Probe, Result, Session, Sniff, TensorSpec,
};
use serde::{Deserialize, Serialize};

/// Backend name used in reports and on the command line.
pub const BACKEND: &str = "torch";
include!(concat!(env!("OUT_DIR"), "/runtime.rs"));
/// Architectures a weights-only checkpoint can be loaded into (torchvision parameter names).
pub const ARCHITECTURES: &[&str] = &["resnet18", "resnet50"];

/// The PyTorch backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct TorchBackend;

/// A TorchScript archive (`torch.jit.save`).
pub const TORCHSCRIPT: ModelFormat =
    ModelFormat { id: "torchscript", name: "TorchScript", hint: ".pt/.pth (TorchScript)" };
/// A weights-only checkpoint: safetensors, or a `torch.save` state dict, loaded into `--arch`.
pub const CHECKPOINT: ModelFormat =
    ModelFormat { id: "checkpoint", name: "checkpoint", hint: ".safetensors/.pth checkpoint with --arch" };

/// The options of the torch backend.
pub const OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        key: "arch",
        help: "the architecture a weights-only checkpoint is loaded into (CLI shorthand: --arch)",
        values: Some(ARCHITECTURES),
    },
    OptionSpec {
        key: TF32,
        help: "on: let float32 matmuls (cuBLAS) and convolutions (cuDNN) on CUDA use TF32 tensor cores, \
               faster and less precise; off (default): full float32",
        values: Some(&["on", "off"]),
    },
];

/// The option that allows TF32 on CUDA (see [`OPTIONS`]).
pub const TF32: &str = "tf32";

/// Whether `opts` allow TF32 (`--option tf32=on`); off by default, so CUDA results are full
/// float32 and comparable with the CPU's.
#[must_use]
pub fn tf32_allowed(opts: &LoadOptions) -> bool {
    opts.option(TF32).is_some_and(|v| v.eq_ignore_ascii_case("on"))
}

/// Extensions of TorchScript archives.
const TORCHSCRIPT_EXTENSIONS: &[&str] = &["pt", "pth", "torchscript", "ts"];
/// Extensions of weights-only checkpoints (content decides for `.bin`/`.ckpt`, which other
/// formats use too: an OpenVINO IR's weights are a `.bin`).
const CHECKPOINT_EXTENSIONS: &[&str] = &["safetensors", "ckpt", "bin"];

/// Recognises the torch backend's files: a zip archive is TorchScript when it holds `code/` or
/// `constants.pkl`, else a `torch.save` checkpoint; a safetensors header or a legacy pickle is a
/// checkpoint. The zip's central directory is read, not the whole file.
///
/// `#[inline]`, as [`checkpoint::sniff_bytes`]: `infer`, which recognises torch files without
/// loading them (its torch backend runs in `infer-torch-worker`), then compiles them into its
/// own code and references nothing of this crate, so that nothing of libtorch is linked into it.
#[must_use]
#[inline]
pub fn sniff(probe: &Probe) -> Sniff {
    let named = probe.has_extension(TORCHSCRIPT_EXTENSIONS) || probe.has_extension(CHECKPOINT_EXTENSIONS);
    let kind = if probe.is_zip() {
        std::fs::File::open(&probe.path)
            .ok()
            .and_then(|f| zip::ZipArchive::new(std::io::BufReader::new(f)).ok())
            .map(|archive| checkpoint::archive_kind(archive.file_names().filter_map(std::result::Result::ok)))
    } else if probe.is_dir {
        None
    } else {
        checkpoint::sniff_bytes(&probe.head).ok()
    };
    match kind {
        Some(checkpoint::Kind::TorchScript) if named || probe.extension.is_empty() => Sniff::Content(TORCHSCRIPT),
        Some(checkpoint::Kind::TorchSave | checkpoint::Kind::Safetensors | checkpoint::Kind::LegacyPickle) if named => {
            Sniff::Content(CHECKPOINT)
        }
        _ if probe.has_extension(TORCHSCRIPT_EXTENSIONS) => Sniff::Name(TORCHSCRIPT),
        _ if probe.has_extension(&["safetensors"]) => Sniff::Name(CHECKPOINT),
        _ => Sniff::No,
    }
}

/// Input and output descriptions of a TorchScript model, stored next to it as JSON.
///
/// ```json
/// {"inputs":  [{"name": "input",  "dtype": "f32", "dims": ["batch", 3, 224, 224]}],
///  "outputs": [{"name": "logits", "dtype": "f32", "dims": ["batch", 1000]}]}
/// ```
/// A dimension is a number (fixed), a string (dynamic, named) or `null` (dynamic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sidecar {
    /// The inputs of `forward`, in order.
    pub inputs: Vec<TensorSpec>,
    /// The outputs (a tuple's elements, in order).
    #[serde(default)]
    pub outputs: Vec<TensorSpec>,
}

/// Where the sidecar of a TorchScript model is looked for: the model's path with the extension
/// replaced by `.json` (`model.torchscript.pt` → `model.torchscript.json`).
#[must_use]
pub fn sidecar_path(model: &Path) -> PathBuf {
    model.with_extension("json")
}

/// Reads the sidecar of `model`, if there is one.
///
/// # Errors
/// [`Error::File`] naming the sidecar when it exists but is not valid.
pub fn read_sidecar(model: &Path) -> Result<Option<Sidecar>> {
    let path = sidecar_path(model);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let sidecar: Sidecar = serde_json::from_slice(&bytes).map_err(|e| {
        Error::file(&path, format!("invalid TorchScript sidecar ({e}): expected {{\"inputs\": [{{\"name\", \"dtype\", \"dims\"}}], \"outputs\": [...]}}"))
    })?;
    if sidecar.inputs.is_empty() {
        return Err(Error::file(&path, "the sidecar lists no inputs"));
    }
    Ok(Some(sidecar))
}

/// The embedding tables that each input of the TorchScript module at `path` indexes
/// (`aten::embedding` on a table of the module, reached from the input directly or through ops
/// that keep its values), so that synthetic ids can be drawn from `[0, rows)`. The module is
/// loaded on the CPU for this. Empty for a weights-only checkpoint.
///
/// # Errors
/// The load errors of [`TorchBackend`] (the file, its sidecar, `forward`'s arguments);
/// [`Error::NotCompiled`] without the `runtime` feature.
pub fn embedding_tables(path: &Path) -> Result<Vec<EmbeddingTable>> {
    runtime::embedding_tables(path)
}

/// How a file is to be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// A TorchScript module.
    TorchScript,
    /// A weights-only checkpoint loaded into the named architecture.
    Checkpoint {
        /// Architecture name, one of [`ARCHITECTURES`].
        arch: String,
    },
}

/// Decides how to load `path`: with an architecture, as a checkpoint (whatever the extension);
/// otherwise as TorchScript, after checking that the file is not a weights-only checkpoint.
///
/// # Errors
/// [`Error::Load`] naming the file: unknown architecture, or a checkpoint given without one
/// ("this is a weights-only checkpoint; pass --arch resnet18|resnet50").
pub fn plan(path: &Path, opts: &LoadOptions) -> Result<Plan> {
    if let Some(arch) = opts.option("arch") {
        let arch = arch.to_ascii_lowercase();
        if !ARCHITECTURES.contains(&arch.as_str()) {
            return Err(Error::load(
                path,
                format!("unknown architecture `{arch}`: expected one of {}", ARCHITECTURES.join(", ")),
            ));
        }
        return Ok(Plan::Checkpoint { arch });
    }
    let weights_only =
        || Error::load(path, format!("this is a weights-only checkpoint; pass --arch {}", ARCHITECTURES.join("|")));
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    if CHECKPOINT_EXTENSIONS.contains(&ext.as_str()) {
        return Err(weights_only());
    }
    match checkpoint::sniff(path) {
        Ok(checkpoint::Kind::TorchScript) => Ok(Plan::TorchScript),
        Ok(checkpoint::Kind::TorchSave | checkpoint::Kind::Safetensors | checkpoint::Kind::LegacyPickle) => {
            Err(weights_only())
        }
        Err(e) => Err(Error::load(
            path,
            format!("not a TorchScript archive ({}): expected a file written by torch.jit.save", reason(&e)),
        )),
    }
}

fn reason(e: &Error) -> String {
    match e {
        Error::Load { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

impl Backend for TorchBackend {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn formats(&self) -> &'static [ModelFormat] {
        &[TORCHSCRIPT, CHECKPOINT]
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
        runtime::load(path, opts)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn plan_needs_an_architecture_for_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let st = dir.path().join("w.safetensors");
        std::fs::write(&st, b"\x02\x00\x00\x00\x00\x00\x00\x00{}").unwrap();
        let err = plan(&st, &LoadOptions::default()).unwrap_err().to_string();
        assert!(err.contains("w.safetensors") && err.contains("pass --arch resnet18|resnet50"), "{err}");
        let opts = LoadOptions::default().with_option("arch", "ResNet18");
        assert_eq!(plan(&st, &opts).unwrap(), Plan::Checkpoint { arch: "resnet18".into() });
        let opts = LoadOptions::default().with_option("arch", "vgg16");
        assert!(plan(&st, &opts).unwrap_err().to_string().contains("unknown architecture `vgg16`"));
        let junk = dir.path().join("m.pt");
        std::fs::write(&junk, b"not a model").unwrap();
        let err = plan(&junk, &LoadOptions::default()).unwrap_err().to_string();
        assert!(err.contains("m.pt") && err.contains("not a TorchScript archive"), "{err}");
    }

    #[test]
    fn tf32_is_off_unless_asked() {
        assert!(!tf32_allowed(&LoadOptions::default()));
        assert!(tf32_allowed(&LoadOptions::default().with_option(TF32, "ON")));
        assert!(!tf32_allowed(&LoadOptions::default().with_option(TF32, "off")));
        let bad = LoadOptions::default().with_option(TF32, "yes");
        let e = infer_core::options::check(BACKEND, OPTIONS, &bad.options).unwrap_err().to_string();
        assert!(e.contains("`tf32` is `yes`") && e.contains("on, off"), "{e}");
    }

    #[test]
    fn sidecar_round_trip_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("m.torchscript.pt");
        assert_eq!(sidecar_path(&model), dir.path().join("m.torchscript.json"));
        assert!(read_sidecar(&model).unwrap().is_none());
        std::fs::write(
            sidecar_path(&model),
            r#"{"inputs":[{"name":"input","dtype":"f32","dims":["batch",3,224,224]}],"outputs":[{"name":"logits","dtype":"f32","dims":[null,1000]}]}"#,
        )
        .unwrap();
        let s = read_sidecar(&model).unwrap().unwrap();
        assert_eq!(s.inputs[0].shape_string(), "[batch, 3, 224, 224]");
        assert_eq!(s.outputs[0].shape_string(), "[?, 1000]");
        std::fs::write(sidecar_path(&model), r#"{"inputs":[{"name":"x"}]}"#).unwrap();
        let err = read_sidecar(&model).unwrap_err().to_string();
        assert!(err.contains("m.torchscript.json") && err.contains("invalid TorchScript sidecar"), "{err}");
    }
}
