//! The object-safe traits every framework backend implements.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{
    Device, Error, Result, Tensor, TensorSpec,
    profile::{OpProfile, RunStages},
};

/// The on-disk format of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelFormat {
    /// An ONNX protobuf file (`.onnx`).
    Onnx,
    /// A TorchScript archive (`.pt`, `.pth`, `.torchscript`).
    TorchScript,
    /// A TensorFlow SavedModel folder.
    SavedModel,
    /// A Keras file (`.keras`, `.h5`).
    Keras,
    /// A weights-only checkpoint (`.safetensors`, or a `torch.save` file given with an architecture).
    Checkpoint,
}

impl ModelFormat {
    /// Guesses the format from a path: a folder is a SavedModel, otherwise the extension decides.
    ///
    /// # Errors
    /// [`Error::Load`] when the path does not exist or its extension is not a known model format.
    pub fn detect(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| Error::load(path, format!("cannot read: {e}")))?;
        if meta.is_dir() {
            if !path.join("saved_model.pb").is_file() {
                return Err(Error::load(
                    path,
                    "not a SavedModel: expected a folder with saved_model.pb (and variables/), found none",
                ));
            }
            return Ok(ModelFormat::SavedModel);
        }
        let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
        match ext.as_str() {
            "onnx" => Ok(ModelFormat::Onnx),
            "pt" | "pth" | "torchscript" | "ts" => Ok(ModelFormat::TorchScript),
            "keras" | "h5" => Ok(ModelFormat::Keras),
            "safetensors" | "ckpt" | "bin" => Ok(ModelFormat::Checkpoint),
            _ => Err(Error::load(
                path,
                format!(
                    "unknown model format (extension `{ext}`): expected .onnx, .pt/.pth (TorchScript), \
                     .safetensors (checkpoint), .keras/.h5 or a SavedModel folder; pass --backend to choose explicitly"
                ),
            )),
        }
    }

    /// The backend that reads this format by default.
    #[must_use]
    pub fn default_backend(self) -> &'static str {
        match self {
            ModelFormat::Onnx => "onnx",
            ModelFormat::TorchScript | ModelFormat::Checkpoint => "torch",
            ModelFormat::SavedModel | ModelFormat::Keras => "tf",
        }
    }
}

impl std::fmt::Display for ModelFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ModelFormat::Onnx => "ONNX",
            ModelFormat::TorchScript => "TorchScript",
            ModelFormat::SavedModel => "SavedModel",
            ModelFormat::Keras => "Keras",
            ModelFormat::Checkpoint => "checkpoint",
        })
    }
}

/// How a backend should create a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadOptions {
    /// Device to run on.
    pub device: Device,
    /// Threads used inside one operator (0 = the runtime's default).
    pub intra_threads: usize,
    /// Threads used across operators (0 = the runtime's default).
    pub inter_threads: usize,
    /// Graph optimization level, for runtimes that have one.
    pub optimization: OptLevel,
    /// Fall back to the CPU, with a warning, when the device is unavailable.
    pub fallback_to_cpu: bool,
    /// Write a runtime profile with this path prefix, for runtimes that can.
    pub profile_prefix: Option<PathBuf>,
    /// The SavedModel signature to run (default `serving_default`), for backends that have signatures.
    pub signature: Option<String>,
    /// The architecture a weights-only checkpoint is loaded into (e.g. `resnet18`), for backends that
    /// build models by name.
    pub architecture: Option<String>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            device: Device::Cpu,
            intra_threads: 0,
            inter_threads: 0,
            optimization: OptLevel::All,
            fallback_to_cpu: false,
            profile_prefix: None,
            signature: None,
            architecture: None,
        }
    }
}

/// Graph optimization level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OptLevel {
    /// No graph optimization.
    None,
    /// Constant folding and redundant-node elimination.
    Basic,
    /// Adds node fusions.
    Extended,
    /// Everything, layout optimizations included.
    #[default]
    All,
}

impl std::str::FromStr for OptLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" | "disable" | "0" => Ok(OptLevel::None),
            "basic" | "1" => Ok(OptLevel::Basic),
            "extended" | "2" => Ok(OptLevel::Extended),
            "all" | "3" => Ok(OptLevel::All),
            _ => Err(format!("invalid optimization level `{s}`: expected none, basic, extended or all")),
        }
    }
}

impl std::fmt::Display for OptLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OptLevel::None => "none",
            OptLevel::Basic => "basic",
            OptLevel::Extended => "extended",
            OptLevel::All => "all",
        })
    }
}

/// What a backend says about itself when it is usable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendInfo {
    /// Backend name (`onnx`, `torch`, `tf`).
    pub name: String,
    /// Version of the native runtime in use.
    pub runtime_version: String,
    /// Where the native library was found.
    pub library: Option<PathBuf>,
    /// Devices this backend can run on here.
    pub devices: Vec<Device>,
}

/// A framework runtime that can load models.
pub trait Backend: Send + Sync {
    /// Short name: `onnx`, `torch`, `tf`.
    fn name(&self) -> &'static str;

    /// The model formats this backend reads.
    fn formats(&self) -> &'static [ModelFormat];

    /// Checks that the runtime is compiled in and its native library loads.
    ///
    /// # Errors
    /// [`Error::NotCompiled`] or [`Error::Unavailable`] with the reason.
    fn probe(&self) -> Result<BackendInfo>;

    /// Loads a model and creates a session on `opts.device`.
    ///
    /// # Errors
    /// [`Error::Load`] naming the file for unreadable models; [`Error::DeviceUnavailable`] when the
    /// device cannot be used and `opts.fallback_to_cpu` is off; the probe's errors.
    fn load(&self, path: &Path, opts: &LoadOptions) -> Result<Box<dyn Session>>;
}

/// A loaded model ready to run.
pub trait Session: Send {
    /// The model's inputs.
    fn inputs(&self) -> &[TensorSpec];

    /// The model's outputs.
    fn outputs(&self) -> &[TensorSpec];

    /// The device the session actually runs on (after any fallback).
    fn device(&self) -> Device;

    /// Runs the model on inputs given in the order of [`Session::inputs`].
    ///
    /// # Errors
    /// Dtype, shape or count mismatches of the inputs, and runtime failures.
    fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>>;

    /// Waits until the device has finished all queued work, so a clock read afterwards is honest.
    ///
    /// # Errors
    /// Runtime failures while synchronizing.
    fn synchronize(&mut self) -> Result<()> {
        Ok(())
    }

    /// Number of parameters and their size in bytes, where the runtime can tell.
    fn parameters(&self) -> Option<ParameterCount> {
        None
    }

    /// Ends a profiling run started through [`LoadOptions::profile_prefix`] and returns the file written.
    ///
    /// # Errors
    /// Runtime failures; [`Error::InvalidInput`] when profiling was not enabled.
    fn end_profiling(&mut self) -> Result<PathBuf> {
        Err(Error::InvalidInput("profiling is not supported by this backend".into()))
    }

    /// The model's named entry points (a SavedModel's signatures), for formats that have them;
    /// empty otherwise. Exactly one has [`Signature::in_use`] set when the list is not empty.
    fn signatures(&self) -> &[Signature] {
        &[]
    }

    /// Ends a profiling run started through [`LoadOptions::profile_prefix`] and returns the
    /// operator-level events, backend-neutral.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] saying "not supported by this backend" by default; the backend's
    /// profiler and parser errors otherwise, naming the file read.
    fn op_profile(&mut self) -> Result<OpProfile> {
        Err(Error::InvalidInput("an operator-level profile is not supported by this backend".into()))
    }

    /// Runs like [`Session::run`] and, where the backend can separate them, reports how long
    /// handing over the inputs, computing and fetching the outputs took. The default does not
    /// separate the stages and returns `None` beside the outputs.
    ///
    /// # Errors
    /// The errors of [`Session::run`].
    fn run_staged(&mut self, inputs: &[Tensor]) -> Result<(Vec<Tensor>, Option<RunStages>)> {
        Ok((self.run(inputs)?, None))
    }

    /// The device allocator's own figures (allocated / reserved / peak), where the backend exposes
    /// them (e.g. libtorch's CUDA caching allocator). `None` by default and on the CPU.
    fn device_memory(&self) -> Option<DeviceMemory> {
        None
    }
}

/// One named entry point of a model, such as a SavedModel signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// Its name (`serving_default`).
    pub name: String,
    /// Inputs, by key.
    pub inputs: Vec<TensorSpec>,
    /// Outputs, by key.
    pub outputs: Vec<TensorSpec>,
    /// Whether the session runs this one.
    pub in_use: bool,
}

/// Device memory as a backend's allocator reports it, in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceMemory {
    /// Bytes currently allocated to tensors.
    pub allocated: Option<u64>,
    /// Bytes reserved by the allocator (allocated plus its cache).
    pub reserved: Option<u64>,
    /// Peak of `allocated` since the session started (or its statistics were reset).
    pub peak_allocated: Option<u64>,
    /// Where the figures come from (e.g. `torch.cuda.memory_stats`).
    pub source: String,
}

/// Parameter statistics of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParameterCount {
    /// Number of scalar parameters.
    pub count: u64,
    /// Bytes they occupy.
    pub bytes: u64,
}

/// Checks inputs against specs: count, dtypes and shapes.
///
/// # Errors
/// [`Error::InvalidInput`] for a wrong count, else the first mismatch found.
pub fn check_inputs(specs: &[TensorSpec], inputs: &[Tensor]) -> Result<()> {
    if specs.len() != inputs.len() {
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        return Err(Error::InvalidInput(format!(
            "the model takes {} input(s) ({}), got {}",
            specs.len(),
            names.join(", "),
            inputs.len()
        )));
    }
    specs.iter().zip(inputs).try_for_each(|(s, t)| s.check(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats() {
        let dir = tempfile::tempdir().unwrap();
        let err = ModelFormat::detect(dir.path()).unwrap_err().to_string();
        assert!(err.contains("saved_model.pb"), "{err}");
        std::fs::write(dir.path().join("saved_model.pb"), b"x").unwrap();
        assert_eq!(ModelFormat::detect(dir.path()).unwrap(), ModelFormat::SavedModel);
        for (name, fmt) in
            [("m.onnx", ModelFormat::Onnx), ("m.PT", ModelFormat::TorchScript), ("m.keras", ModelFormat::Keras)]
        {
            let p = dir.path().join(name);
            std::fs::write(&p, b"x").unwrap();
            assert_eq!(ModelFormat::detect(&p).unwrap(), fmt);
        }
        let p = dir.path().join("m.txt");
        std::fs::write(&p, b"x").unwrap();
        let err = ModelFormat::detect(&p).unwrap_err().to_string();
        assert!(err.contains("m.txt") && err.contains("expected .onnx"), "{err}");
        let err = ModelFormat::detect(&dir.path().join("missing.onnx")).unwrap_err().to_string();
        assert!(err.contains("missing.onnx"), "{err}");
    }

    /// A session that implements only the required methods.
    struct Minimal(Vec<TensorSpec>);

    impl Session for Minimal {
        fn inputs(&self) -> &[TensorSpec] {
            &self.0
        }
        fn outputs(&self) -> &[TensorSpec] {
            &self.0
        }
        fn device(&self) -> Device {
            Device::Cpu
        }
        fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
            Ok(inputs.to_vec())
        }
    }

    #[test]
    fn optional_hooks_say_what_they_do_not_support() {
        let mut s = Minimal(Vec::new());
        let x = Tensor::from_vec(vec![2], vec![1.0f32, 2.0]).unwrap();
        let (y, stages) = s.run_staged(std::slice::from_ref(&x)).unwrap();
        assert_eq!((y, stages), (vec![x], None));
        assert_eq!(s.device_memory(), None);
        let err = s.op_profile().unwrap_err().to_string();
        assert!(err.contains("not supported by this backend"), "{err}");
        assert!(s.end_profiling().unwrap_err().to_string().contains("not supported by this backend"));
    }

    #[test]
    fn opt_levels_parse() {
        assert_eq!("ALL".parse::<OptLevel>().unwrap(), OptLevel::All);
        assert_eq!("none".parse::<OptLevel>().unwrap(), OptLevel::None);
        assert!("fast".parse::<OptLevel>().is_err());
    }
}
