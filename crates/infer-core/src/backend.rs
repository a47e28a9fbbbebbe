//! The object-safe traits every framework backend implements.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};

use crate::{
    Device, Error, IntRange, Result, Tensor, TensorSpec,
    format::{ModelFormat, Probe, Sniff},
    options::{OptionMap, OptionSpec},
    profile::{OpProfile, RunStages},
};

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
    /// Options of the backend's own, by key, as it declares them in [`Backend::options`]
    /// (a SavedModel `signature`, a checkpoint's `arch`, a performance `hint`, ...).
    pub options: OptionMap,
}

impl LoadOptions {
    /// The backend option `key`, if given.
    #[must_use]
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }

    /// These options with `key` set to `value`.
    #[must_use]
    pub fn with_option(mut self, key: &str, value: impl Into<String>) -> Self {
        self.options.insert(key.into(), value.into());
        self
    }
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
            options: OptionMap::new(),
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
///
/// A backend owns its formats ([`Backend::formats`], [`Backend::sniff`]) and its options
/// ([`Backend::options`]); the registry asks each one which files it reads.
pub trait Backend: Send + Sync {
    /// Short name used on the command line and in reports (`onnx`).
    fn name(&self) -> &'static str;

    /// The model formats this backend reads.
    fn formats(&self) -> &'static [ModelFormat];

    /// Whether `probe`'s path is one of this backend's formats, from its name *and* content.
    /// Must not load a native library: it runs for every backend on every model given.
    fn sniff(&self, probe: &Probe) -> Sniff;

    /// The options of this backend's own, read from [`LoadOptions::options`].
    fn options(&self) -> &'static [OptionSpec] {
        &[]
    }

    /// The native runtime this backend needs installed, as its crate declares it
    /// ([`crate::runtime`]); `None` for a backend with nothing to install.
    fn runtime(&self) -> Option<&'static crate::NativeRuntime> {
        None
    }

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

/// What a loaded model is: the facts a session knows once it is loaded, as one value
/// ([`Session::info`]). A backend fills it in `load`; a few facts a format only reveals by
/// running (the outputs of a TorchScript `forward` that returns a dict) are completed after the
/// first run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// The model's inputs, in the order [`Session::run`] takes them.
    pub inputs: Vec<TensorSpec>,
    /// The model's outputs, in the order [`Session::run`] returns them.
    pub outputs: Vec<TensorSpec>,
    /// The device the session actually runs on (after any fallback).
    pub device: Device,
    /// Number of parameters and their size in bytes, where the runtime can tell.
    pub parameters: Option<ParameterCount>,
    /// The model's named entry points (a SavedModel's signatures), for formats that have them;
    /// empty otherwise. Exactly one has [`Signature::in_use`] set when the list is not empty.
    pub signatures: Vec<Signature>,
    /// The range each integer input's values must stay in, by input name, where the model proves
    /// one (an input that reaches an embedding lookup must stay inside the table); `None` when
    /// this backend cannot tell. Synthetic inputs are drawn from these ranges.
    pub integer_ranges: Option<BTreeMap<String, IntRange>>,
    /// The model's outputs that the session computes but does not return, each with the reason
    /// (an ONNX `Sequence<Map<…>>` of scikit-learn's ZipMap, a string tensor).
    pub unread_outputs: Vec<(String, String)>,
    /// How many trailing inputs may be left out for the model's own defaults (a TorchScript
    /// argument `mask: Optional[Tensor] = None`); see [`SessionInfo::required_inputs`].
    pub optional_inputs: usize,
    /// Runtime settings in effect that change the numbers a session computes, as (name, value)
    /// read back from the runtime after loading (torch: whether TF32 is allowed on CUDA).
    pub settings: Vec<(String, String)>,
    /// Where the description of each input came from, in the order of `inputs`, for formats whose
    /// files do not record it (a TorchScript `forward` says only `Tensor`): a sidecar file, what
    /// the graph proves, or "unknown". Empty when the model file describes its inputs itself.
    pub input_sources: Vec<String>,
    /// Where the description of each output came from, as `input_sources`.
    pub output_sources: Vec<String>,
}

impl SessionInfo {
    /// A session's facts with these inputs, outputs and device, and nothing else known.
    #[must_use]
    pub fn new(inputs: Vec<TensorSpec>, outputs: Vec<TensorSpec>, device: Device) -> Self {
        Self {
            inputs,
            outputs,
            device,
            parameters: None,
            signatures: Vec::new(),
            integer_ranges: None,
            unread_outputs: Vec::new(),
            optional_inputs: 0,
            settings: Vec::new(),
            input_sources: Vec::new(),
            output_sources: Vec::new(),
        }
    }

    /// How many leading inputs must be given; the ones after them may be left out, trailing.
    #[must_use]
    pub fn required_inputs(&self) -> usize {
        self.inputs.len().saturating_sub(self.optional_inputs)
    }
}

/// A loaded model ready to run: what it is ([`Session::info`]) and what it does.
pub trait Session: Send {
    /// The facts of the loaded model.
    fn info(&self) -> &SessionInfo;

    /// Runs the model on inputs given in the order of [`SessionInfo::inputs`].
    ///
    /// # Errors
    /// Dtype, shape or count mismatches of the inputs, and runtime failures.
    fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>>;

    /// Runs like [`Session::run`] and, where the backend can separate them, reports how long
    /// handing over the inputs, computing and fetching the outputs took. The default does not
    /// separate the stages and returns `None` beside the outputs.
    ///
    /// # Errors
    /// The errors of [`Session::run`].
    fn run_staged(&mut self, inputs: &[Tensor]) -> Result<(Vec<Tensor>, Option<RunStages>)> {
        Ok((self.run(inputs)?, None))
    }

    /// Waits until the device has finished all queued work, so a clock read afterwards is honest.
    ///
    /// # Errors
    /// Runtime failures while synchronizing.
    fn synchronize(&mut self) -> Result<()> {
        Ok(())
    }

    /// The device's own time for the last [`Session::run`] or [`Session::run_staged`], in
    /// seconds, where the backend measures it (torch on CUDA: two CUDA events recorded on the
    /// current stream around the call, the inputs' upload and the outputs' download included).
    /// `None` by default and on the CPU. Meant to be read after [`Session::synchronize`], outside
    /// the timed span: reading it costs the wall-clock figure nothing.
    ///
    /// # Errors
    /// Runtime failures while reading the device's timer.
    fn device_time(&mut self) -> Result<Option<f64>> {
        Ok(None)
    }

    /// Ends a profiling run started through [`LoadOptions::profile_prefix`] and returns the file written.
    ///
    /// # Errors
    /// Runtime failures; [`Error::InvalidInput`] when profiling was not enabled.
    fn end_profiling(&mut self) -> Result<PathBuf> {
        Err(Error::InvalidInput("profiling is not supported by this backend".into()))
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

    /// The device allocator's own figures (allocated / reserved / peak), where the backend exposes
    /// them (e.g. libtorch's CUDA caching allocator). `None` by default and on the CPU.
    fn device_memory(&self) -> Option<DeviceMemory> {
        None
    }

    /// Shorthand for [`SessionInfo::inputs`].
    fn inputs(&self) -> &[TensorSpec] {
        &self.info().inputs
    }

    /// Shorthand for [`SessionInfo::outputs`].
    fn outputs(&self) -> &[TensorSpec] {
        &self.info().outputs
    }

    /// Shorthand for [`SessionInfo::device`].
    fn device(&self) -> Device {
        self.info().device
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

    /// A session that implements only the required methods.
    struct Minimal(SessionInfo);

    impl Session for Minimal {
        fn info(&self) -> &SessionInfo {
            &self.0
        }
        fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
            Ok(inputs.to_vec())
        }
    }

    #[test]
    fn optional_hooks_say_what_they_do_not_support() {
        let mut s = Minimal(SessionInfo::new(Vec::new(), Vec::new(), Device::Cpu));
        let x = Tensor::from_vec(vec![2], vec![1.0f32, 2.0]).unwrap();
        let (y, stages) = s.run_staged(std::slice::from_ref(&x)).unwrap();
        assert_eq!((y, stages), (vec![x], None));
        assert_eq!(s.device_memory(), None);
        assert_eq!(s.device_time().unwrap(), None, "no device time on the CPU");
        assert!(s.info().settings.is_empty() && s.info().unread_outputs.is_empty());
        assert_eq!((s.inputs(), s.outputs(), s.device()), (&[][..], &[][..], Device::Cpu));
        let mut info =
            SessionInfo::new(vec![TensorSpec::new("x", crate::DType::F32, vec![]); 3], Vec::new(), Device::Cpu);
        assert_eq!(info.required_inputs(), 3);
        info.optional_inputs = 1;
        assert_eq!(info.required_inputs(), 2);
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
