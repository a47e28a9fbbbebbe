//! The ONNX Runtime binding (feature `runtime`): environment, sessions and tensor conversion.

use std::{
    path::{Path, PathBuf},
    sync::{
        OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use infer_core::{
    BackendInfo, DType, Device, Dim, Error, LoadOptions, OptLevel, ParameterCount, Result, Session, SessionInfo,
    Tensor, TensorSpec, check_inputs,
    profile::{OpProfile, RunStages},
};
use ort::{
    environment::Environment,
    ep::{self, ExecutionProvider},
    logging::LogLevel,
    session::{SessionInputValue, builder::GraphOptimizationLevel},
    value::{DynValue, TensorElementType, TensorRef, ValueType},
};

use crate::BACKEND;
use infer_core::{with_dtype, with_tensor_data};

struct Loaded {
    env: Environment,
    library: PathBuf,
    version: String,
}

static LOADED: OnceLock<std::result::Result<Loaded, String>> = OnceLock::new();

fn unavailable(reason: impl Into<String>) -> Error {
    Error::Unavailable { backend: BACKEND.into(), reason: reason.into() }
}

fn ort_err(e: ort::Error) -> Error {
    Error::wrap(BACKEND, e)
}

/// Loads the library once per process; later calls return the same answer.
fn runtime() -> Result<&'static Loaded> {
    LOADED.get_or_init(load_library).as_ref().map_err(|r| unavailable(r.clone()))
}

fn load_library() -> std::result::Result<Loaded, String> {
    // Through its real path: the file name carries the full version (`libonnxruntime.so.1.31.1`).
    let library = infer_core::runtime::locate(&crate::RUNTIME).map(|p| p.canonicalize().unwrap_or(p))?;
    let minor = ort::util::probe(&library)
        .ok_or_else(|| format!("{} is not a loadable ONNX Runtime 1.x library", library.display()))?;
    if minor < crate::REQUIRED_MINOR {
        return Err(format!(
            "{} is ONNX Runtime 1.{minor}; this build needs 1.{} or newer (run `cargo xtask setup`)",
            library.display(),
            crate::REQUIRED_MINOR
        ));
    }
    let lib = library.clone();
    let env = std::panic::catch_unwind(move || -> std::result::Result<Environment, String> {
        ort::init_from(&lib).map_err(|e| e.to_string())?.with_name("infer").build().map_err(|e| e.to_string())
    })
    .map_err(|_| format!("loading {} panicked inside ort", library.display()))??;
    env.set_log_level(log_level());
    // The file name carries the full version (libonnxruntime.so.1.31.1); the build info may too.
    let version = library
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("libonnxruntime.so."))
        .filter(|v| v.starts_with("1."))
        .map(str::to_string)
        .or_else(|| {
            ort::info().split(',').find_map(|part| part.trim().strip_prefix("git-branch=rel-").map(str::to_string))
        })
        .unwrap_or_else(|| format!("1.{minor}"));
    Ok(Loaded { env, library, version })
}

/// Whether ONNX Runtime's own log is shown (`crate::set_verbose`).
static VERBOSE: AtomicBool = AtomicBool::new(false);

/// ONNX Runtime's log level: its warnings with `--verbose`, else fatal messages only (its errors
/// reach the user as our error, once).
fn log_level() -> LogLevel {
    if VERBOSE.load(Ordering::Relaxed) { LogLevel::Warning } else { LogLevel::Fatal }
}

/// Sets the log level, of the library loaded already or of the one loaded later.
pub(crate) fn set_verbose(verbose: bool) {
    VERBOSE.store(verbose, Ordering::Relaxed);
    if let Some(Ok(rt)) = LOADED.get() {
        rt.env.set_log_level(log_level());
    }
}

/// Probes the runtime: library found, loaded and recent enough.
pub(crate) fn probe() -> Result<BackendInfo> {
    let rt = runtime()?;
    let mut devices = vec![Device::Cpu];
    if ep::CUDA::is_available().unwrap_or(false) {
        devices.push(Device::Cuda(0));
    }
    Ok(BackendInfo {
        name: BACKEND.into(),
        runtime_version: rt.version.clone(),
        library: Some(rt.library.clone()),
        devices,
    })
}

/// Creates a session for `path` (already validated as an ONNX file).
pub(crate) fn load(
    path: &Path,
    opts: &LoadOptions,
    parameters: ParameterCount,
    ranges: std::collections::BTreeMap<String, infer_core::IntRange>,
    unranked: &std::collections::BTreeSet<String>,
) -> Result<Box<dyn Session>> {
    let rt = runtime()?;
    let load_err = |e: ort::Error| Error::load(path, infer_core::error::first_line(&e.to_string()));
    let level = match opts.optimization {
        OptLevel::None => GraphOptimizationLevel::Disable,
        OptLevel::Basic => GraphOptimizationLevel::Level1,
        OptLevel::Extended => GraphOptimizationLevel::Level2,
        OptLevel::All => GraphOptimizationLevel::All,
    };
    let mut builder = ort::session::Session::builder(&rt.env)
        .map_err(load_err)?
        .with_optimization_level(level)
        .map_err(|e| load_err(e.into()))?;
    if opts.intra_threads > 0 {
        builder = builder.with_intra_threads(opts.intra_threads).map_err(|e| load_err(e.into()))?;
    }
    if opts.inter_threads > 0 {
        builder = builder.with_inter_threads(opts.inter_threads).map_err(|e| load_err(e.into()))?;
    }
    if let Some(prefix) = &opts.profile_prefix {
        builder = builder.with_profiling(prefix).map_err(|e| load_err(e.into()))?;
    }
    let device = infer_core::kit::resolve_device(BACKEND, opts.device, opts.fallback_to_cpu, |device| {
        let Device::Cuda(ordinal) = device else {
            return Err(format!("ONNX Runtime has no {device} execution provider in infer"));
        };
        let cuda = ep::CUDA::default().with_device_id(i32::try_from(ordinal).unwrap_or(i32::MAX));
        match ep::CUDA::is_available() {
            Ok(true) => {
                cuda.register(&mut builder).map_err(|e| format!("the CUDA execution provider failed to start: {e}"))
            }
            Ok(false) => Err(format!(
                "CUDA not available: the ONNX Runtime at {} was built without the CUDA execution provider \
                 (install onnxruntime-gpu)",
                rt.library.display()
            )),
            Err(e) => Err(format!("CUDA not available: {e}")),
        }
    })?;
    let session = builder.commit_from_file(path).map_err(load_err)?;
    // A value the file gives no shape is of unknown rank, not the scalar ONNX Runtime reports.
    let ranked = |mut s: TensorSpec| {
        if unranked.contains(&s.name) && s.dims.as_ref().is_some_and(Vec::is_empty) {
            s.dims = None;
        }
        s
    };
    let inputs = session
        .inputs()
        .iter()
        .map(|o| spec(o.name(), o.dtype()).map(ranked).map_err(|why| Error::load(path, format!("input {why}"))))
        .collect::<Result<Vec<_>>>()?;
    // An output that is not a tensor of a type infer holds (scikit-learn's ZipMap
    // `Sequence<Map<i64, f32>>`, a string label) is computed by the graph but not read.
    let mut outputs = Vec::new();
    let mut unread = Vec::new();
    for o in session.outputs() {
        match spec(o.name(), o.dtype()) {
            Ok(s) => outputs.push(ranked(s)),
            Err(why) => unread.push((o.name().to_string(), why)),
        }
    }
    let mut info = SessionInfo::new(inputs, outputs, device);
    info.unread_outputs = unread;
    info.parameters = Some(parameters);
    info.integer_ranges = Some(ranges);
    Ok(Box::new(OnnxSession { session, info, profiling: opts.profile_prefix.is_some() }))
}

fn dtype(ty: TensorElementType) -> Option<DType> {
    Some(match ty {
        TensorElementType::Float32 => DType::F32,
        TensorElementType::Float16 => DType::F16,
        TensorElementType::Bfloat16 => DType::BF16,
        TensorElementType::Float64 => DType::F64,
        TensorElementType::Int64 => DType::I64,
        TensorElementType::Int32 => DType::I32,
        TensorElementType::Int8 => DType::I8,
        TensorElementType::Uint8 => DType::U8,
        TensorElementType::Bool => DType::Bool,
        _ => return None,
    })
}

/// The description of a graph input or output, or why infer cannot hold it.
fn spec(name: &str, ty: &ValueType) -> std::result::Result<TensorSpec, String> {
    let ValueType::Tensor { ty, shape, dimension_symbols } = ty else {
        return Err(format!("`{name}` is a {ty}, not a tensor: infer feeds and reads tensors only"));
    };
    let dtype = dtype(*ty).ok_or_else(|| {
        format!(
            "`{name}` has element type {ty}, which infer does not hold (f32, f16, bf16, f64, i64, i32, i8, u8, bool)"
        )
    })?;
    let dims = shape
        .iter()
        .zip(dimension_symbols.iter().map(Some).chain(std::iter::repeat(None)))
        .map(|(&d, sym)| match usize::try_from(d) {
            Ok(n) => Dim::Fixed(n),
            Err(_) => Dim::Dynamic(sym.filter(|s| !s.is_empty()).cloned()),
        })
        .collect();
    Ok(TensorSpec::new(name, dtype, dims))
}

struct OnnxSession {
    session: ort::session::Session,
    /// The model's inputs, outputs (and those not read), device, parameters and the integer
    /// range of each input that reaches an embedding lookup.
    info: SessionInfo,
    /// Whether ORT's profiler is on (it is turned off by `end_profiling`).
    profiling: bool,
}

fn view(t: &Tensor) -> Result<SessionInputValue<'_>> {
    let shape: Vec<i64> = t.shape().iter().map(|&d| i64::try_from(d).unwrap_or(i64::MAX)).collect();
    with_tensor_data!(t.data(), v => {
        TensorRef::from_array_view((shape, v.as_slice())).map(SessionInputValue::from).map_err(ort_err)
    })
}

fn to_tensor(name: &str, value: &DynValue) -> Result<Tensor> {
    let ValueType::Tensor { ty, .. } = value.dtype() else {
        return Err(Error::InvalidInput(format!("output `{name}` is not a tensor")));
    };
    let dtype = dtype(*ty)
        .ok_or_else(|| Error::InvalidInput(format!("output `{name}` has unsupported element type {ty:?}")))?;
    with_dtype!(dtype, T => {
        let (shape, data) = value.try_extract_tensor::<T>().map_err(ort_err)?;
        let shape = shape.iter().map(|&d| usize::try_from(d).unwrap_or(0)).collect();
        Tensor::from_vec(shape, data.to_vec())
    })
}

impl Session for OnnxSession {
    fn info(&self) -> &SessionInfo {
        &self.info
    }

    fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        check_inputs(&self.info.inputs, inputs)?;
        let values = inputs.iter().map(view).collect::<Result<Vec<_>>>()?;
        let named: Vec<(&str, SessionInputValue<'_>)> =
            self.info.inputs.iter().map(|s| s.name.as_str()).zip(values).collect();
        let outputs = self.session.run(named).map_err(ort_err)?;
        self.info.outputs.iter().map(|spec| to_tensor(&spec.name, &outputs[spec.name.as_str()])).collect()
    }

    /// The same steps as [`Session::run`], with a clock read between them: input checks and
    /// `TensorRef` views (bind), `ort::Session::run` (compute; synchronous, so on CUDA it
    /// includes the device work), copying the outputs out (fetch).
    fn run_staged(&mut self, inputs: &[Tensor]) -> Result<(Vec<Tensor>, Option<RunStages>)> {
        let t0 = Instant::now();
        check_inputs(&self.info.inputs, inputs)?;
        let values = inputs.iter().map(view).collect::<Result<Vec<_>>>()?;
        let named: Vec<(&str, SessionInputValue<'_>)> =
            self.info.inputs.iter().map(|s| s.name.as_str()).zip(values).collect();
        let t1 = Instant::now();
        let outputs = self.session.run(named).map_err(ort_err)?;
        let t2 = Instant::now();
        let tensors = self
            .info
            .outputs
            .iter()
            .map(|spec| to_tensor(&spec.name, &outputs[spec.name.as_str()]))
            .collect::<Result<_>>()?;
        let t3 = Instant::now();
        let stages = RunStages {
            bind_s: (t1 - t0).as_secs_f64(),
            compute_s: (t2 - t1).as_secs_f64(),
            fetch_s: (t3 - t2).as_secs_f64(),
        };
        Ok((tensors, Some(stages)))
    }

    fn end_profiling(&mut self) -> Result<PathBuf> {
        if !self.profiling {
            return Err(Error::InvalidInput(
                "profiling was not enabled: load the model with LoadOptions::profile_prefix".into(),
            ));
        }
        self.profiling = false;
        self.session.end_profiling().map(PathBuf::from).map_err(ort_err)
    }

    fn op_profile(&mut self) -> Result<OpProfile> {
        let path = self.end_profiling()?;
        crate::profile::read(&path)
    }
}
