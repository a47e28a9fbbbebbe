//! The libtorch binding (feature `runtime`): devices, threads, TorchScript and architecture
//! sessions, tensor conversion.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::OnceLock,
};

use infer_core::{
    BackendInfo, DType, Device, DeviceMemory, Dim, Error, LoadOptions, ParameterCount, Result, Session, SessionInfo,
    Tensor, TensorSpec, check_inputs, profile::OpProfile, with_dtype, with_tensor_data,
};
use tch::{Kind, nn, nn::ModuleT};

use crate::{
    ARCHITECTURES, BACKEND, EmbeddingTable, Plan, checkpoint,
    profile::RUN_SCOPE,
    schema::{self, Description},
    shim::{
        context,
        cuda::{self, CudaTimer},
        profiler::{Profiler, trace_path},
        script::Script,
    },
};

/// The folder libtorch was linked from at build time (also the binaries' rpath).
const BUILD_LIBTORCH_LIB: Option<&str> = option_env!("INFER_TORCH_LIBTORCH_LIB");

fn tch_err(e: tch::TchError) -> Error {
    let message = crate::schema::native_message(&e.to_string());
    Error::wrap_as(BACKEND, e, message)
}

/// The `libtorch_cpu.so` this process actually loaded (from `/proc/self/maps`), else the build's.
fn library() -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.ends_with("/libtorch_cpu.so"))
        .map(PathBuf::from)
        .or_else(|| BUILD_LIBTORCH_LIB.map(|d| Path::new(d).join("libtorch_cpu.so")))
}

/// `__version__` from the torch package's `version.py` next to the loaded library.
fn version(library: Option<&Path>) -> String {
    let from_file = library.and_then(Path::parent).and_then(Path::parent).and_then(|torch| {
        let text = std::fs::read_to_string(torch.join("version.py")).ok()?;
        text.lines().find_map(|l| {
            let v = l.strip_prefix("__version__")?.trim_start().strip_prefix('=')?.trim();
            Some(v.trim_matches(|c| c == '\'' || c == '"').to_string())
        })
    });
    from_file.unwrap_or_else(|| crate::RUNTIME.version().to_string())
}

pub(crate) fn probe() -> Result<BackendInfo> {
    let library = library();
    let mut devices = vec![Device::Cpu];
    if tch::Cuda::is_available() {
        let n = usize::try_from(tch::Cuda::device_count()).unwrap_or(0);
        devices.extend((0..n).map(Device::Cuda));
    }
    Ok(BackendInfo { name: BACKEND.into(), runtime_version: version(library.as_deref()), library, devices })
}

/// Sets libtorch's thread pools. Inter-op threads can be set once per process, before any
/// parallel work; later different requests are reported and ignored.
fn configure_threads(opts: &LoadOptions) {
    if opts.intra_threads > 0 {
        tch::set_num_threads(i32::try_from(opts.intra_threads).unwrap_or(i32::MAX));
    }
    if opts.inter_threads > 0 {
        static INTEROP: OnceLock<std::result::Result<usize, String>> = OnceLock::new();
        let n = opts.inter_threads;
        let set = INTEROP.get_or_init(|| {
            std::panic::catch_unwind(|| tch::set_num_interop_threads(i32::try_from(n).unwrap_or(i32::MAX)))
                .map(|()| n)
                .map_err(|_| "libtorch refused to change its inter-op thread count".to_string())
        });
        match set {
            Ok(m) if *m == n => {}
            Ok(m) => eprintln!("warning: torch: inter-op threads are already {m} in this process; {n} ignored"),
            Err(e) => eprintln!("warning: torch: {e}"),
        }
    }
}

/// The tch device for `opts.device`, or the CPU with a warning when allowed.
fn device(opts: &LoadOptions) -> Result<(tch::Device, Device)> {
    let device = infer_core::kit::resolve_device(BACKEND, opts.device, opts.fallback_to_cpu, |device| {
        let Device::Cuda(ordinal) = device else {
            return Err(format!("libtorch has no {device} device in infer"));
        };
        let count = usize::try_from(tch::Cuda::device_count()).unwrap_or(0);
        if !tch::Cuda::is_available() || count == 0 {
            let lib = library().map(|p| p.display().to_string()).unwrap_or_else(|| "libtorch".into());
            Err(format!("CUDA not available: {lib} finds no CUDA device (no GPU, no driver, or a CPU-only libtorch)"))
        } else if ordinal >= count {
            Err(format!("CUDA not available: cuda:{ordinal} requested but only {count} CUDA device(s) are present"))
        } else {
            Ok(())
        }
    })?;
    Ok(match device {
        Device::Cuda(ordinal) => (tch::Device::Cuda(ordinal), device),
        _ => (tch::Device::Cpu, Device::Cpu),
    })
}

pub(crate) fn load(path: &Path, opts: &LoadOptions) -> Result<Box<dyn Session>> {
    let plan = crate::plan(path, opts)?;
    let (tdev, dev) = device(opts)?;
    configure_threads(opts);
    // Process-wide, set at every load and on every device (the CPU ignores them): off unless
    // `--option tf32=on`, where libtorch's own default allows TF32 for cuDNN convolutions.
    context::set_tf32(crate::tf32_allowed(opts))?;
    let mut session = match plan {
        Plan::TorchScript => script_session(path, tdev, dev)?,
        Plan::Checkpoint { arch } => load_checkpoint(path, &arch, tdev, dev)?,
    };
    let tf32 = context::tf32()?;
    let on_off = |b: bool| if b { "on" } else { "off" }.to_string();
    session.info.settings =
        vec![("tf32_matmul".into(), on_off(tf32.matmul)), ("tf32_cudnn".into(), on_off(tf32.cudnn))];
    if let tch::Device::Cuda(ordinal) = tdev {
        session.timer = Some(CudaTimer::new(ordinal)?);
    }
    if let Some(prefix) = &opts.profile_prefix {
        // Started after loading, so the profile holds the runs only.
        session.profiling = Some(Profiling { profiler: Profiler::start()?, prefix: prefix.clone(), runs: 0 });
    }
    Ok(Box::new(session))
}

fn parameters(tensors: impl IntoIterator<Item = tch::Tensor>) -> ParameterCount {
    tensors.into_iter().fold(ParameterCount { count: 0, bytes: 0 }, |acc, t| {
        let n = t.numel() as u64;
        let size = t.f_kind().map(Kind::elt_size_in_bytes).unwrap_or(4) as u64;
        ParameterCount { count: acc.count + n, bytes: acc.bytes + n * size }
    })
}

/// Loads a TorchScript module with the shim and describes it from its schema, graph and sidecar.
fn load_script(path: &Path, tdev: tch::Device) -> Result<(Script, Description)> {
    let sidecar = crate::read_sidecar(path)?;
    let cuda = match tdev {
        tch::Device::Cuda(n) => Some(n),
        _ => None,
    };
    let script = Script::load(path, cuda)?;
    let raw = schema::parse(path, &script.describe()?)?;
    let sidecar_path = crate::sidecar_path(path);
    let description = schema::describe(path, &raw, sidecar.as_ref().map(|s| (sidecar_path.as_path(), s)))?;
    Ok((script, description))
}

/// The embedding tables that each input of a TorchScript module indexes (see [`EmbeddingTable`]),
/// the module loaded on the CPU for the purpose.
pub(crate) fn embedding_tables(path: &Path) -> Result<Vec<EmbeddingTable>> {
    if crate::plan(path, &LoadOptions::default())? != Plan::TorchScript {
        return Ok(Vec::new());
    }
    load_script(path, tch::Device::Cpu).map(|(_, d)| d.tables)
}

fn script_session(path: &Path, tdev: tch::Device, dev: Device) -> Result<TorchSession> {
    let (script, d) = load_script(path, tdev)?;
    let mut info = SessionInfo::new(d.inputs, d.outputs, dev);
    info.optional_inputs = info.inputs.len().saturating_sub(d.required);
    info.input_sources = d.input_sources;
    info.output_sources = d.output_sources;
    info.integer_ranges = Some(schema::ranges_of(&d.tables));
    info.parameters = Some(d.parameters);
    Ok(TorchSession { model: Model::Script(script), tdev, info, checked: d.checked, profiling: None, timer: None })
}

fn load_checkpoint(path: &Path, arch: &str, tdev: tch::Device, dev: Device) -> Result<TorchSession> {
    let ckpt = checkpoint::read(path)?;
    let nclasses = ckpt
        .tensors
        .iter()
        .find(|(n, _)| n == "fc.weight")
        .and_then(|(_, t)| t.shape().first().copied())
        .unwrap_or(1000);
    let vs = nn::VarStore::new(tdev);
    let n = i64::try_from(nclasses).map_err(|e| Error::load(path, e.to_string()))?;
    let net: Box<dyn ModuleT> = match arch {
        "resnet18" => Box::new(tch::vision::resnet::resnet18(&vs.root(), n)),
        "resnet50" => Box::new(tch::vision::resnet::resnet50(&vs.root(), n)),
        other => {
            return Err(Error::load(
                path,
                format!("unknown architecture `{other}`: expected {}", ARCHITECTURES.join(", ")),
            ));
        }
    };
    let vars = vs.variables();
    let mut expected: Vec<(String, Vec<usize>)> = vars
        .iter()
        .map(|(name, t)| (name.clone(), t.size().iter().map(|&d| usize::try_from(d).unwrap_or(0)).collect()))
        .collect();
    expected.sort();
    let matched = checkpoint::match_keys(&expected, ckpt.tensors)
        .map_err(|e| Error::load(path, format!("{e} (architecture {arch}, {nclasses} classes)")))?;
    tch::no_grad(|| -> Result<()> {
        for (name, value) in matched {
            let mut var = vars.get(&name).map(tch::Tensor::shallow_clone).ok_or_else(|| {
                Error::load(path, format!("internal: variable {name} vanished from the architecture"))
            })?;
            let src = to_tch(&value, tch::Device::Cpu)?;
            var.f_copy_(&src).map_err(|e| {
                Error::load(path, format!("copying {name}: {}", infer_core::error::first_line(&e.to_string())))
            })?;
        }
        Ok(())
    })?;
    let parameters = parameters(vs.trainable_variables());
    let inputs = vec![TensorSpec::new(
        "input",
        DType::F32,
        vec![Dim::Dynamic(Some("batch".into())), Dim::Fixed(3), Dim::Fixed(224), Dim::Fixed(224)],
    )];
    let outputs =
        vec![TensorSpec::new("logits", DType::F32, vec![Dim::Dynamic(Some("batch".into())), Dim::Fixed(nclasses)])];
    let mut info = SessionInfo::new(inputs, outputs, dev);
    info.integer_ranges = Some(BTreeMap::new());
    info.parameters = Some(parameters);
    Ok(TorchSession { model: Model::Arch { net, _vs: vs }, tdev, info, checked: true, profiling: None, timer: None })
}

enum Model {
    Script(Script),
    Arch { net: Box<dyn ModuleT>, _vs: nn::VarStore },
}

struct TorchSession {
    model: Model,
    tdev: tch::Device,
    /// Inputs (the trailing ones with defaults in `forward` optional) and outputs, each with where
    /// its description came from (empty for an architecture, described in full), the device, the
    /// range each input that indexes an embedding table must stay in, the parameters, and the
    /// TF32 flags read back after loading (process-wide; see [`load`]).
    info: SessionInfo,
    /// Whether the inputs' dtypes and shapes are known (sidecar, architecture) and checked before
    /// a run; inputs known only from `forward`'s schema accept any tensor.
    checked: bool,
    /// libtorch's profiler, when the session was loaded with `LoadOptions::profile_prefix`.
    profiling: Option<Profiling>,
    /// On CUDA: the events recorded around each call ([`Session::device_time`]).
    timer: Option<CudaTimer>,
}

/// A profile in progress: each run is a user scope named [`RUN_SCOPE`] + its index.
struct Profiling {
    profiler: Profiler,
    prefix: PathBuf,
    runs: u64,
}

impl TorchSession {
    /// Records the start (or end) event of a call on CUDA. The device's time is an extra figure:
    /// a failure drops the timer, says so once, and the rows go on without it.
    fn mark(&mut self, stop: bool) {
        let Some(timer) = &mut self.timer else { return };
        if let Err(e) = if stop { timer.stop() } else { timer.start() } {
            self.drop_timer(&e);
        }
    }

    fn drop_timer(&mut self, e: &Error) {
        eprintln!("warning: {e}: the rows of this session have no device time");
        self.timer = None;
    }

    /// Names the outputs from a run's result where `forward`'s schema could not (a list, a dict
    /// whose keys are the names, or a dict inside a tuple): every output then has its name and
    /// dtype, its shape still unknown. Outputs a sidecar describes are kept.
    fn learn_outputs(&mut self, names: &[String], got: &[Tensor]) {
        // Called on every run: what is already known is checked without allocating.
        if self.info.outputs.len() == got.len() {
            let from_sidecar = self.info.output_sources.first().is_some_and(|s| s.starts_with("sidecar"));
            let named = names.iter().any(|n| !n.is_empty());
            let known = self
                .info
                .outputs
                .iter()
                .zip(names)
                .zip(got)
                .all(|((s, n), t)| (n.is_empty() || s.name == *n) && s.dtype == t.dtype() && s.dims.is_none());
            if from_sidecar || !named || known {
                return;
            }
        }
        let learned: Vec<TensorSpec> = got
            .iter()
            .enumerate()
            .map(|(i, t)| TensorSpec {
                name: names.get(i).filter(|n| !n.is_empty()).cloned().unwrap_or_else(|| format!("output_{i}")),
                dtype: t.dtype(),
                dims: None,
            })
            .collect();
        if learned != self.info.outputs {
            self.info.output_sources = vec!["from the last run: forward's result names it".into(); learned.len()];
            self.info.outputs = learned;
        }
    }
}

/// Copies one of our tensors into a libtorch tensor on `device`.
fn to_tch(t: &Tensor, device: tch::Device) -> Result<tch::Tensor> {
    let shape: Vec<i64> = t.shape().iter().map(|&d| i64::try_from(d).unwrap_or(i64::MAX)).collect();
    let flat = with_tensor_data!(t.data(), v => tch::Tensor::f_from_slice(v)).map_err(tch_err)?;
    let t = flat.f_reshape(shape.as_slice()).map_err(tch_err)?;
    if device == tch::Device::Cpu { Ok(t) } else { t.f_to(device).map_err(tch_err) }
}

/// Our dtype of a libtorch kind, where we have one.
fn dtype(kind: Kind) -> Option<DType> {
    Some(match kind {
        Kind::Float => DType::F32,
        Kind::Half => DType::F16,
        Kind::BFloat16 => DType::BF16,
        Kind::Double => DType::F64,
        Kind::Int64 => DType::I64,
        Kind::Int => DType::I32,
        Kind::Int8 => DType::I8,
        Kind::Uint8 => DType::U8,
        Kind::Bool => DType::Bool,
        _ => return None,
    })
}

/// Copies a libtorch tensor (any device, any layout) into one of ours.
fn from_tch(name: &str, t: &tch::Tensor) -> Result<Tensor> {
    let t = t.f_to(tch::Device::Cpu).and_then(|t| t.f_contiguous()).map_err(tch_err)?;
    let shape: Vec<usize> = t.size().iter().map(|&d| usize::try_from(d).unwrap_or(0)).collect();
    let n = t.numel();
    let kind = t.f_kind().map_err(tch_err)?;
    let dtype = dtype(kind).ok_or_else(|| {
        Error::InvalidInput(format!("output `{name}` has element type {kind:?}, which infer does not support"))
    })?;
    with_dtype!(dtype, T => {
        let mut v: Vec<T> = vec![T::default(); n];
        t.f_copy_data(&mut v, n).map_err(tch_err)?;
        Tensor::from_vec(shape, v)
    })
}

impl Session for TorchSession {
    fn info(&self) -> &SessionInfo {
        &self.info
    }

    fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        // Trailing arguments with defaults may be left out: forward fills them in.
        let (required, all) = (self.info.required_inputs(), self.info.inputs.len());
        let given = if (required..all).contains(&inputs.len()) { inputs.len() } else { all };
        if self.checked {
            check_inputs(&self.info.inputs[..given], inputs)?;
        } else if inputs.len() != given {
            // Inputs known from forward's schema only take any tensor: the count is checked.
            let names: Vec<&str> = self.info.inputs.iter().map(|s| s.name.as_str()).collect();
            let optional = if required < names.len() {
                format!(", the last {} optional", names.len() - required)
            } else {
                String::new()
            };
            return Err(Error::InvalidInput(format!(
                "the model takes {} input(s) ({}{optional}), got {}",
                names.len(),
                names.join(", "),
                inputs.len()
            )));
        }
        let _guard = tch::no_grad_guard();
        // On CUDA the device's time spans the same work as the wall clock's: inputs' upload,
        // forward, outputs' download.
        self.mark(false);
        let xs = inputs.iter().map(|t| to_tch(t, self.tdev)).collect::<Result<Vec<_>>>()?;
        let mut ys = Vec::new();
        // The run's scope holds the model's ops only, not the copies of inputs and outputs.
        let scope = match &mut self.profiling {
            Some(p) => {
                let scope = p.profiler.scope(&format!("{RUN_SCOPE}{}", p.runs))?;
                p.runs += 1;
                Some(scope)
            }
            None => None,
        };
        let mut names = Vec::new();
        match &mut self.model {
            Model::Script(m) => (ys, names) = m.forward(&xs)?,
            Model::Arch { net, .. } => {
                let x = xs.into_iter().next().ok_or_else(|| Error::InvalidInput("no input".into()))?;
                // tch's nn layers panic on failures (e.g. out of device memory): make that an error.
                let y = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| net.forward_t(&x, false)))
                    .map_err(|_| Error::backend(BACKEND, "libtorch failed while running the architecture"))?;
                ys.push(y);
            }
        }
        drop(scope);
        let out = ys
            .iter()
            .enumerate()
            .map(|(i, y)| {
                let name = self.info.outputs.get(i).map_or_else(|| format!("output_{i}"), |s| s.name.clone());
                from_tch(&name, y)
            })
            .collect::<Result<Vec<Tensor>>>()?;
        self.mark(true);
        self.learn_outputs(&names, &out);
        Ok(out)
    }

    fn device_time(&mut self) -> Result<Option<f64>> {
        match self.timer.as_mut().map_or(Ok(None), CudaTimer::elapsed) {
            Ok(t) => Ok(t),
            Err(e) => {
                self.drop_timer(&e);
                Ok(None)
            }
        }
    }

    fn device_memory(&self) -> Option<DeviceMemory> {
        let tch::Device::Cuda(ordinal) = self.tdev else { return None };
        match cuda::memory(ordinal) {
            Ok(memory) => memory,
            Err(e) => Some(DeviceMemory {
                allocated: None,
                reserved: None,
                peak_allocated: None,
                source: format!("unavailable: {e}"),
            }),
        }
    }

    fn synchronize(&mut self) -> Result<()> {
        if let tch::Device::Cuda(i) = self.tdev {
            tch::Cuda::synchronize(i64::try_from(i).unwrap_or(0));
        }
        Ok(())
    }

    fn op_profile(&mut self) -> Result<OpProfile> {
        let p = self.profiling.as_mut().ok_or_else(|| {
            Error::InvalidInput(
                "no profile in progress: load the model with LoadOptions::profile_prefix (a profile is returned once)"
                    .into(),
            )
        })?;
        let trace = trace_path(&p.prefix);
        let stopped = p.profiler.stop(Some(&trace))?;
        self.profiling = None;
        let trace_note = match &stopped.trace_error {
            None => format!("; libtorch's trace: {}", trace.display()),
            Some(e) => {
                eprintln!("warning: torch: libtorch could not save its trace to {}: {e}", trace.display());
                String::new()
            }
        };
        let device_note = if self.info.device.is_gpu() {
            ", host side: CUDA kernels run asynchronously and are not timed"
        } else {
            ""
        };
        let events = crate::profile::parse(&stopped.events)?;
        let source = format!(
            "libtorch {} Kineto profiler through infer's C++ shim (CPU ops, self time{device_note}){trace_note}",
            version(library().as_deref())
        );
        Ok(crate::profile::op_profile(&events, source))
    }
}
