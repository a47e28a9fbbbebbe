//! The TensorFlow C API binding (feature `runtime`): SavedModel sessions and tensor conversion.
//!
//! The crate's one module with `unsafe` code, in [`startup`]: opening the library on first use
//! (runtime linking: nothing of TensorFlow is mapped before) with its start-up notices kept off
//! stderr.
#![allow(unsafe_code)]

mod startup;

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    sync::OnceLock,
};

use infer_core::{
    BackendInfo, DType, Device, Dim, Error, LoadOptions, ParameterCount, Result, Session, SessionInfo, Signature,
    Tensor, TensorData, TensorSpec, check_inputs, profile::OpProfile,
};
use tensorflow::{
    DataType, FetchToken, Graph, Operation, SavedModelBundle, SessionOptions, SessionRunArgs, Shape, TensorInfo,
};

use crate::{BACKEND, DEFAULT_SIGNATURE, SERVE_TAG, config::SessionConfig, stepstats};

/// Operations that own a variable's storage: resource variables (TF2, Keras) and reference
/// variables (TF1 graphs).
const VARIABLE_OPS: [&str; 3] = ["VarHandleOp", "VariableV2", "Variable"];

fn tf_err(e: impl std::fmt::Display) -> Error {
    Error::backend(BACKEND, e)
}

/// The library's version and the GPUs it sees, found once per process.
struct Runtime {
    /// The folder the library was opened from.
    dir: PathBuf,
    version: String,
    gpus: Vec<usize>,
}

static RUNTIME: OnceLock<std::result::Result<Runtime, String>> = OnceLock::new();

fn runtime() -> Result<&'static Runtime> {
    RUNTIME
        .get_or_init(|| {
            let dir = startup::open()?;
            let version = tensorflow::version().map_err(|e| format!("the library's version is not text: {e}"))?;
            // An empty graph's session lists the devices the library can place work on.
            let session = tensorflow::Session::new(&SessionOptions::new(), &Graph::new())
                .map_err(|e| format!("cannot create a session: {e}"))?;
            let devices = session.device_list().map_err(|e| format!("cannot list devices: {e}"))?;
            let gpus = devices
                .iter()
                .filter(|d| d.device_type == "GPU")
                .filter_map(|d| d.name.rsplit(':').next().and_then(|n| n.parse().ok()))
                .collect();
            Ok(Runtime { dir, version, gpus })
        })
        .as_ref()
        .map_err(|reason| Error::Unavailable { backend: BACKEND.into(), reason: reason.clone() })
}

/// The library file that was opened.
fn library(rt: &Runtime) -> PathBuf {
    let p = rt.dir.join(crate::RUNTIME.library);
    p.canonicalize().unwrap_or(p)
}

/// Probes the runtime: version and devices.
pub(crate) fn probe() -> Result<BackendInfo> {
    let rt = runtime()?;
    let mut devices = vec![Device::Cpu];
    devices.extend(rt.gpus.iter().map(|&n| Device::Cuda(n)));
    Ok(BackendInfo { name: BACKEND.into(), runtime_version: rt.version.clone(), library: Some(library(rt)), devices })
}

fn dtype(ty: DataType) -> Option<DType> {
    Some(match ty {
        DataType::Float => DType::F32,
        DataType::Half => DType::F16,
        DataType::Double => DType::F64,
        DataType::Int64 => DType::I64,
        DataType::Int32 => DType::I32,
        DataType::Int8 => DType::I8,
        DataType::UInt8 => DType::U8,
        DataType::Bool => DType::Bool,
        _ => return None,
    })
}

fn dims(shape: &Shape) -> Option<Vec<Dim>> {
    let rank = shape.dims()?;
    Some(
        (0..rank)
            .map(|i| match shape[i].and_then(|d| usize::try_from(d).ok()) {
                Some(n) => Dim::Fixed(n),
                None => Dim::Dynamic(None),
            })
            .collect(),
    )
}

fn spec(model: &Path, signature: &str, key: &str, info: &TensorInfo) -> Result<TensorSpec> {
    let dt = dtype(info.dtype()).ok_or_else(|| {
        Error::load(
            model,
            format!("signature `{signature}`: `{key}` has dtype {}, which infer does not support", info.dtype()),
        )
    })?;
    Ok(TensorSpec { name: key.to_string(), dtype: dt, dims: dims(info.shape()) })
}

/// The specs of a signature's inputs or outputs, sorted by key.
fn specs<'a>(
    model: &Path,
    signature: &str,
    map: impl IntoIterator<Item = (&'a String, &'a TensorInfo)>,
) -> Result<Vec<(TensorSpec, &'a TensorInfo)>> {
    let mut all: Vec<_> = map.into_iter().collect();
    all.sort_by(|a, b| a.0.cmp(b.0));
    all.into_iter().map(|(key, info)| Ok((spec(model, signature, key, info)?, info))).collect()
}

/// Bytes of one element of a variable's dtype, for the dtypes that have a fixed size.
fn element_bytes(ty: DataType) -> Option<u64> {
    Some(match ty {
        DataType::Bool | DataType::Int8 | DataType::UInt8 | DataType::QInt8 | DataType::QUInt8 => 1,
        DataType::Half
        | DataType::BFloat16
        | DataType::Int16
        | DataType::UInt16
        | DataType::QInt16
        | DataType::QUInt16 => 2,
        DataType::Float | DataType::Int32 | DataType::UInt32 | DataType::QInt32 => 4,
        DataType::Double | DataType::Int64 | DataType::UInt64 | DataType::Complex64 => 8,
        DataType::Complex128 => 16,
        _ => return None,
    })
}

/// The variables the `fetches` depend on, each counted once, with their bytes.
///
/// Counting every variable op in the graph over-counts a Keras export three times: besides the
/// handles the signature functions capture (`conv1/kernel_1`), the graph holds the object graph's
/// own handles (`conv1/kernel`) and the restore function's (`Variable_N`), each with a
/// `shared_name` of its own, so de-duplicating by `shared_name` does not help either; the
/// checkpoint (`variables/variables.index`) also holds every value twice (`variables/N` and
/// `_all_variables/N`). Walking back from the signature's outputs reaches exactly the variable
/// handles its call consumes. `None` when no variable is reached (weights frozen into constants
/// are not counted) or a variable has an unknown shape or a dtype without a fixed size.
fn parameters(fetches: &[(Operation, i32)]) -> Option<ParameterCount> {
    let mut seen = HashSet::new();
    let mut stack: Vec<Operation> = fetches.iter().map(|(op, _)| op.clone()).collect();
    let mut total = ParameterCount { count: 0, bytes: 0 };
    let mut variables = 0;
    while let Some(op) = stack.pop() {
        if !seen.insert(op.name().ok()?) {
            continue;
        }
        if VARIABLE_OPS.contains(&op.op_type().ok()?.as_str()) {
            let shape = op.get_attr_shape("shape").ok()?;
            let count = (0..shape.dims()?).try_fold(1u64, |n, i| n.checked_mul(u64::try_from(shape[i]?).ok()?))?;
            let bytes = element_bytes(op.get_attr_type("dtype").ok()?)?;
            total.count += count;
            total.bytes += count * bytes;
            variables += 1;
            continue;
        }
        stack.extend((0..op.num_inputs()).map(|i| op.input(i).0));
        stack.extend(op.control_inputs());
    }
    (variables > 0).then_some(total)
}

fn operation(model: &Path, graph: &Graph, info: &TensorInfo) -> Result<(Operation, i32)> {
    let op = graph.operation_by_name_required(&info.name().name).map_err(|e| {
        Error::load(model, format!("the graph has no operation `{}` named by the signature: {e}", info.name().name))
    })?;
    Ok((op, info.name().index))
}

/// Loads the SavedModel in `dir` (`model` is what the user named, for messages).
pub(crate) fn load(model: &Path, dir: &Path, opts: &LoadOptions) -> Result<Box<dyn Session>> {
    let rt = runtime()?;
    let device = infer_core::kit::resolve_device(BACKEND, opts.device, opts.fallback_to_cpu, |device| match device {
        Device::Cuda(n) if rt.gpus.contains(&n) => Ok(()),
        _ => Err(format!(
            "CUDA not available: TensorFlow {} here sees no such GPU (the tensorflow-cpu wheel has no GPU support)",
            rt.version
        )),
    })?;
    let threads = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let config = SessionConfig {
        intra_op_threads: threads(opts.intra_threads),
        inter_op_threads: threads(opts.inter_threads),
        gpu_allow_growth: matches!(device, Device::Cuda(_)),
    };
    let mut options = SessionOptions::new();
    options.set_config(&config.to_proto()).map_err(tf_err)?;
    let mut graph = Graph::new();
    let bundle = SavedModelBundle::load(&options, [SERVE_TAG], &mut graph, dir).map_err(|e| {
        Error::load(
            model,
            format!(
                "TensorFlow cannot load the SavedModel in {} (tag `{SERVE_TAG}`): {}",
                dir.display(),
                infer_core::error::first_line(&e.to_string())
            ),
        )
    })?;
    let meta = bundle.meta_graph_def();
    // `__saved_model_init_op` and the like are TensorFlow's own, not entry points.
    let mut names: Vec<&String> = meta.signatures().keys().filter(|k| !k.starts_with("__")).collect();
    names.sort();
    // Without --signature: `serving_default`, or the only signature a model without it has (a
    // `tf.saved_model.save(m, dir, signatures={"predict": …})`); `infer info` marks it in use.
    let wanted = match opts.option("signature") {
        Some(name) => name,
        None if !meta.signatures().contains_key(DEFAULT_SIGNATURE) && names.len() == 1 => names[0].as_str(),
        None => DEFAULT_SIGNATURE,
    };
    let Some(sig) = meta.signatures().get(wanted) else {
        let have: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
        return Err(Error::load(
            model,
            format!(
                "the SavedModel has no signature `{wanted}`; its signatures are: {} (choose one with --signature)",
                if have.is_empty() { "none".to_string() } else { have.join(", ") }
            ),
        ));
    };
    let mut signatures = Vec::new();
    for name in &names {
        let s = &meta.signatures()[*name];
        // A signature infer cannot describe (an unsupported dtype) is still listed, without its tensors.
        let inputs = specs(model, name, s.inputs()).map(|v| v.into_iter().map(|(s, _)| s).collect());
        let outputs = specs(model, name, s.outputs()).map(|v| v.into_iter().map(|(s, _)| s).collect());
        signatures.push(Signature {
            name: (*name).clone(),
            inputs: inputs.unwrap_or_default(),
            outputs: outputs.unwrap_or_default(),
            in_use: name.as_str() == wanted,
        });
    }
    let (mut inputs, mut feeds) = (Vec::new(), Vec::new());
    for (spec, info) in specs(model, wanted, sig.inputs())? {
        feeds.push(operation(model, &graph, info)?);
        inputs.push(spec);
    }
    // An output of a dtype infer does not hold (a string `classes`) is not fetched, so not run
    // unless another output needs it; it is listed as not read.
    let (mut outputs, mut fetches, mut unread) = (Vec::new(), Vec::new(), Vec::new());
    let mut keyed: Vec<(&String, &TensorInfo)> = sig.outputs().iter().collect();
    keyed.sort_by(|a, b| a.0.cmp(b.0));
    for (key, info) in keyed {
        match spec(model, wanted, key, info) {
            Ok(spec) => {
                fetches.push(operation(model, &graph, info)?);
                outputs.push(spec);
            }
            Err(_) => unread.push((
                key.clone(),
                format!("`{key}` has dtype {}, which infer does not hold: not fetched", info.dtype()),
            )),
        }
    }
    let parameters = parameters(&fetches);
    let profile = opts.profile_prefix.clone().map(|prefix| Profiling { prefix, runs: Vec::new() });
    let mut info = SessionInfo::new(inputs, outputs, device);
    info.unread_outputs = unread;
    info.signatures = signatures;
    info.parameters = parameters;
    Ok(Box::new(TfSession { session: bundle.session, graph, info, feeds, fetches, profile }))
}

struct TfSession {
    session: tensorflow::Session,
    graph: Graph,
    /// The signature's inputs and outputs (those not fetched listed with why), every signature,
    /// the device and the parameters reached from the outputs.
    info: SessionInfo,
    feeds: Vec<(Operation, i32)>,
    fetches: Vec<(Operation, i32)>,
    /// Set while runs are traced (`LoadOptions::profile_prefix`); taken by `end_profiling`.
    profile: Option<Profiling>,
}

/// The step stats collected while profiling.
struct Profiling {
    /// Where the raw `RunMetadata` goes (`<prefix>.run_metadata.pb`).
    prefix: PathBuf,
    /// One serialized `RunMetadata` per run, in run order.
    runs: Vec<Vec<u8>>,
}

impl TfSession {
    /// Stops tracing and writes every run's `RunMetadata`, concatenated, to
    /// `<prefix>.run_metadata.pb`; protobuf merges concatenated messages, so Python's
    /// `RunMetadata.FromString` reads it as one whose `step_stats.dev_stats` lists every run's
    /// devices in order.
    fn finish_profiling(&mut self) -> Result<(PathBuf, Vec<Vec<u8>>)> {
        let Some(Profiling { prefix, runs }) = self.profile.take() else {
            return Err(Error::InvalidInput(
                "profiling was not enabled: load the model with LoadOptions::profile_prefix".into(),
            ));
        };
        let mut name = prefix.into_os_string();
        name.push(".run_metadata.pb");
        let path = PathBuf::from(name);
        std::fs::write(&path, runs.concat()).map_err(|e| Error::io(&path, e))?;
        Ok((path, runs))
    }
}

/// An input copied into a TensorFlow tensor.
enum Feed {
    F32(tensorflow::Tensor<f32>),
    F16(tensorflow::Tensor<half::f16>),
    F64(tensorflow::Tensor<f64>),
    I64(tensorflow::Tensor<i64>),
    I32(tensorflow::Tensor<i32>),
    I8(tensorflow::Tensor<i8>),
    U8(tensorflow::Tensor<u8>),
    Bool(tensorflow::Tensor<bool>),
}

fn feed(name: &str, t: &Tensor) -> Result<Feed> {
    let dims: Vec<u64> = t.shape().iter().map(|&d| d as u64).collect();
    macro_rules! f {
        ($variant:ident, $v:expr) => {
            tensorflow::Tensor::new(&dims).with_values($v).map(Feed::$variant).map_err(tf_err)
        };
    }
    match t.data() {
        TensorData::F32(v) => f!(F32, v),
        TensorData::F16(v) => f!(F16, v),
        TensorData::F64(v) => f!(F64, v),
        TensorData::I64(v) => f!(I64, v),
        TensorData::I32(v) => f!(I32, v),
        TensorData::I8(v) => f!(I8, v),
        TensorData::U8(v) => f!(U8, v),
        TensorData::Bool(v) => f!(Bool, v),
        TensorData::BF16(_) => {
            Err(Error::InvalidInput(format!("input `{name}`: bf16 tensors are not supported by the tf backend")))
        }
    }
}

fn fetch(args: &mut SessionRunArgs<'_>, token: FetchToken, spec: &TensorSpec) -> Result<Tensor> {
    macro_rules! x {
        ($t:ty) => {{
            let t = args.fetch::<$t>(token).map_err(|e| tf_err(format!("output `{}`: {e}", spec.name)))?;
            let shape = t.dims().iter().map(|&d| usize::try_from(d).unwrap_or(usize::MAX)).collect();
            Tensor::from_vec(shape, t.to_vec())
        }};
    }
    match spec.dtype {
        DType::F32 => x!(f32),
        DType::F16 => x!(half::f16),
        DType::F64 => x!(f64),
        DType::I64 => x!(i64),
        DType::I32 => x!(i32),
        DType::I8 => x!(i8),
        DType::U8 => x!(u8),
        DType::Bool => x!(bool),
        other => Err(Error::InvalidInput(format!("output `{}` has dtype {other}, not supported by tf", spec.name))),
    }
}

impl Session for TfSession {
    fn info(&self) -> &SessionInfo {
        &self.info
    }

    fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        check_inputs(&self.info.inputs, inputs)?;
        let tensors = self.info.inputs.iter().zip(inputs).map(|(s, t)| feed(&s.name, t)).collect::<Result<Vec<_>>>()?;
        let mut args = SessionRunArgs::new();
        for ((op, index), t) in self.feeds.iter().zip(&tensors) {
            match t {
                Feed::F32(t) => args.add_feed(op, *index, t),
                Feed::F16(t) => args.add_feed(op, *index, t),
                Feed::F64(t) => args.add_feed(op, *index, t),
                Feed::I64(t) => args.add_feed(op, *index, t),
                Feed::I32(t) => args.add_feed(op, *index, t),
                Feed::I8(t) => args.add_feed(op, *index, t),
                Feed::U8(t) => args.add_feed(op, *index, t),
                Feed::Bool(t) => args.add_feed(op, *index, t),
            }
        }
        let tokens: Vec<FetchToken> = self.fetches.iter().map(|(op, index)| args.request_fetch(op, *index)).collect();
        if self.profile.is_some() {
            args.set_run_options(&crate::config::full_trace_run_options());
            args.set_request_metadata(true);
        }
        self.session.run(&mut args).map_err(tf_err)?;
        if let Some(profile) = &mut self.profile {
            let meta = args.get_metadata().ok_or_else(|| tf_err("a traced run returned no RunMetadata"))?;
            profile.runs.push(meta.to_vec());
        }
        tokens.into_iter().zip(&self.info.outputs).map(|(token, spec)| fetch(&mut args, token, spec)).collect()
    }

    fn end_profiling(&mut self) -> Result<PathBuf> {
        self.finish_profiling().map(|(path, _)| path)
    }

    fn op_profile(&mut self) -> Result<OpProfile> {
        let (path, runs) = self.finish_profiling()?;
        let graph = &self.graph;
        // Nodes of inlined function bodies are not in the loaded graph; their labels name them.
        let op_type_of = |name: &str| graph.operation_by_name(name).ok().flatten().and_then(|op| op.op_type().ok());
        let mut events = Vec::new();
        let mut devices: Vec<String> = Vec::new();
        for (i, bytes) in runs.iter().enumerate() {
            let stats =
                stepstats::parse_run_metadata(bytes).map_err(|e| Error::file(&path, format!("run {i}: {e}")))?;
            for d in stats.iter().filter(|d| !stepstats::is_tracer_pseudo_device(&d.device)) {
                if !devices.contains(&d.device) {
                    devices.push(d.device.clone());
                }
            }
            events.extend(stepstats::events(&stats, i as u64, op_type_of));
        }
        Ok(OpProfile {
            backend: BACKEND.into(),
            source: format!(
                "TensorFlow step stats (RunOptions trace_level FULL_TRACE, kernel time op_end - op_start per node) \
                 on {}, RunMetadata of {} runs in {}",
                if devices.is_empty() { "no device".to_string() } else { devices.join(", ") },
                runs.len(),
                path.display()
            ),
            runs: runs.len() as u64,
            events,
        })
    }
}
