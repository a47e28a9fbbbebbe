//! The OpenVINO binding (feature `runtime`): the library, compiled models, tensors in and out,
//! and the performance counters (read through [`crate::sys`], the one place the safe `openvino`
//! API falls short).

use std::{borrow::Cow, path::Path, sync::OnceLock, time::Instant};

use infer_core::{
    BackendInfo, DType, Device, Dim, Error, LoadOptions, Result, Session, SessionInfo, Tensor, TensorSpec,
    check_inputs,
    profile::{OpProfile, RunStages},
    with_dtype, with_tensor_data,
};
use openvino::{
    CompiledModel, Core, DeviceType, ElementType, InferRequest, Node, PropertyKey, RwPropertyKey, Shape,
    Tensor as OvTensor,
};

use crate::{BACKEND, ModelFiles, Settings, profile::Counter};

/// What loading the library found, once per process.
struct Loaded {
    library: std::path::PathBuf,
    version: String,
    /// Devices OpenVINO lists (`CPU`, `GPU.0`, ...).
    devices: Vec<String>,
}

static LOADED: OnceLock<std::result::Result<Loaded, String>> = OnceLock::new();

fn unavailable(reason: impl Into<String>) -> Error {
    Error::Unavailable { backend: BACKEND.into(), reason: reason.into() }
}

fn ov_err(e: impl std::error::Error + Send + Sync + 'static) -> Error {
    let message = crate::errors::clean(&e.to_string());
    Error::wrap_as(BACKEND, e, message)
}

fn runtime() -> Result<&'static Loaded> {
    LOADED.get_or_init(load_library).as_ref().map_err(|r| unavailable(r.clone()))
}

fn load_library() -> std::result::Result<Loaded, String> {
    // The project's pinned copy first; else wherever the `openvino` crate itself would look.
    // Opened through its real path: it finds `libopenvino.so` and the plugins beside itself.
    let library = infer_core::runtime::locate(&crate::RUNTIME)
        .map(|p| p.canonicalize().unwrap_or(p))
        .or_else(|ours| openvino_sys::library::find().filter(|p| p.is_file()).ok_or(ours))?;
    let lib = library.clone();
    // openvino-sys parses the library's version with `unwrap`: a surprising library must not abort us.
    std::panic::catch_unwind(move || openvino_sys::library::load_from(lib))
        .map_err(|_| format!("loading {} panicked inside openvino-sys", library.display()))?
        .map_err(|e| format!("{}: {e} (run `cargo xtask setup`)", library.display()))?;
    let version = openvino::version().build_number.split('-').next().unwrap_or_default().to_string();
    let core = Core::new().map_err(|e| format!("{}: cannot create an OpenVINO core: {e}", library.display()))?;
    let devices = core
        .available_devices()
        .map_err(|e| format!("OpenVINO cannot list its devices: {e}"))?
        .iter()
        .map(|d| d.as_ref().to_string())
        .collect();
    Ok(Loaded { library, version, devices })
}

/// The OpenVINO device name for a GPU ordinal, when OpenVINO lists that GPU (`GPU` stands for
/// `GPU.0` when there is one).
fn gpu_name(rt: &Loaded, ordinal: usize) -> Option<String> {
    let numbered = format!("GPU.{ordinal}");
    if rt.devices.contains(&numbered) {
        return Some(numbered);
    }
    (ordinal == 0 && rt.devices.iter().any(|d| d == "GPU")).then(|| "GPU".to_string())
}

/// Probes the runtime: library found and loaded; the devices OpenVINO lists.
///
/// infer's [`Device`] knows the CPU and numbered GPUs (named `cuda:N`); an OpenVINO GPU (an
/// Intel GPU through its GPU plugin) is offered under its number.
pub(crate) fn probe() -> Result<BackendInfo> {
    let rt = runtime()?;
    let mut devices = vec![Device::Cpu];
    devices.extend((0..8).filter(|&n| gpu_name(rt, n).is_some()).map(Device::Cuda));
    Ok(BackendInfo {
        name: BACKEND.into(),
        runtime_version: rt.version.clone(),
        library: Some(rt.library.clone()),
        devices,
    })
}

fn utf8(path: &Path) -> Result<&str> {
    path.to_str().ok_or_else(|| Error::load(path, "the path is not valid UTF-8, which OpenVINO's C API needs"))
}

/// Reads, compiles and prepares `files` for one synchronous request at a time.
pub(crate) fn load(files: &ModelFiles, opts: &LoadOptions, settings: &Settings) -> Result<Box<dyn Session>> {
    let rt = runtime()?;
    let path = files.model.as_path();
    let load_err = |e: openvino::InferenceError| {
        Error::load(path, infer_core::error::first_line(&crate::errors::clean(&e.to_string())))
    };
    let mut core = Core::new().map_err(ov_err)?;
    let device = infer_core::kit::resolve_device(BACKEND, opts.device, opts.fallback_to_cpu, |device| match device {
        Device::Cuda(n) => gpu_name(rt, n).map(|_| ()).ok_or_else(|| {
            format!(
                "OpenVINO lists no GPU {n} here (devices: {}); its GPU plugin drives Intel GPUs, not CUDA",
                rt.devices.join(", ")
            )
        }),
        other => Err(format!("OpenVINO has no {other} device in infer")),
    })?;
    let ov_device = match device {
        Device::Cuda(n) => DeviceType::Other(Cow::Owned(gpu_name(rt, n).unwrap_or_else(|| "GPU".into()))),
        _ => DeviceType::CPU,
    };
    check_precision(&core, &ov_device, settings)?;
    for (key, value) in settings.properties() {
        if key == "INFERENCE_NUM_THREADS" && device != Device::Cpu {
            continue;
        }
        core.set_property(&ov_device, &RwPropertyKey::Other(Cow::Borrowed(key)), &value).map_err(|e| {
            Error::InvalidInput(format!("OpenVINO refused {key}={value} on {}: {e}", ov_device.as_ref()))
        })?;
    }
    let profiling = opts.profile_prefix.is_some();
    core.set_property(&ov_device, &RwPropertyKey::EnableProfiling, if profiling { "YES" } else { "NO" })
        .map_err(ov_err)?;
    let weights = files.weights.as_deref().map(utf8).transpose()?.unwrap_or("");
    let model = core.read_model_from_file(utf8(path)?, weights).map_err(load_err)?;
    let mut compiled = core.compile_model(&model, ov_device).map_err(load_err)?;
    let mut inputs = (0..compiled.get_input_size().map_err(ov_err)?)
        .map(|i| spec(&compiled.get_input_by_index(i).map_err(ov_err)?, "input", i))
        .collect::<Result<Vec<_>>>()?;
    name_dims(&mut inputs, &files.input_symbols);
    let outputs = (0..compiled.get_output_size().map_err(ov_err)?)
        .map(|i| spec(&compiled.get_output_by_index(i).map_err(ov_err)?, "output", i))
        .collect::<Result<Vec<_>>>()?;
    let request = compiled.create_infer_request().map_err(ov_err)?;
    let bound = inputs.iter().map(|_| None).collect();
    let mut info = SessionInfo::new(inputs, outputs, device);
    info.parameters = Some(files.parameters);
    info.integer_ranges = Some(files.integer_ranges.clone());
    Ok(Box::new(OpenVinoSession {
        request,
        _compiled: compiled,
        _core: core,
        info,
        bound,
        counters: profiling.then(Vec::new),
    }))
}

/// Refuses a precision the device cannot compute in, instead of OpenVINO's silent f32.
fn check_precision(core: &Core, device: &DeviceType, settings: &Settings) -> Result<()> {
    let precision = settings.precision;
    if precision == crate::Precision::F32 {
        return Ok(());
    }
    let caps = core.get_property(device, &PropertyKey::DeviceCapabilities).map_err(ov_err)?;
    if caps.split([' ', ',']).any(|c| c == precision.capability()) {
        return Ok(());
    }
    Err(Error::InvalidInput(format!(
        "precision {} is not available on this {} (OpenVINO lists {}): it needs {}; use precision=f32",
        precision.as_str(),
        device.as_ref(),
        caps.split([' ', ',']).filter(|c| !c.is_empty()).collect::<Vec<_>>().join(", "),
        match precision {
            crate::Precision::Bf16 => "AVX-512 BF16 or AMX",
            _ => "AVX-512 FP16 or AMX-FP16",
        }
    )))
}

fn dtype(t: ElementType) -> Option<DType> {
    Some(match t {
        ElementType::F32 => DType::F32,
        ElementType::F16 => DType::F16,
        ElementType::Bf16 => DType::BF16,
        ElementType::F64 => DType::F64,
        ElementType::I64 => DType::I64,
        ElementType::I32 => DType::I32,
        ElementType::I8 => DType::I8,
        ElementType::U8 => DType::U8,
        ElementType::Boolean => DType::Bool,
        _ => return None,
    })
}

fn element_type(d: DType) -> ElementType {
    match d {
        DType::F32 => ElementType::F32,
        DType::F16 => ElementType::F16,
        DType::BF16 => ElementType::Bf16,
        DType::F64 => ElementType::F64,
        DType::I64 => ElementType::I64,
        DType::I32 => ElementType::I32,
        DType::I8 => ElementType::I8,
        DType::U8 => ElementType::U8,
        DType::Bool => ElementType::Boolean,
    }
}

/// A port's name, element type and shape; OpenVINO keeps no names for dynamic dimensions.
fn spec(node: &Node, kind: &str, index: usize) -> Result<TensorSpec> {
    let name = node.get_name().unwrap_or_else(|_| format!("{kind}_{index}"));
    let et = node.get_element_type().map_err(ov_err)?;
    let dtype = dtype(et).ok_or_else(|| {
        Error::InvalidInput(format!("{kind} `{name}` has element type {et}, which infer does not support"))
    })?;
    let shape = node.get_partial_shape().map_err(ov_err)?;
    if shape.get_rank().is_dynamic() {
        return Ok(TensorSpec { name, dtype, dims: None });
    }
    let dims = shape
        .get_dimensions()
        .iter()
        .map(|d| match usize::try_from(d.get_min()) {
            Ok(n) if !d.is_dynamic() => Dim::Fixed(n),
            _ => Dim::Dynamic(None),
        })
        .collect();
    Ok(TensorSpec::new(name, dtype, dims))
}

/// Gives each unnamed dynamic axis the symbol the model file has for it (`sequence`), so that
/// `--dim sequence=N` and a comparison's rows name the same dimensions on every backend.
fn name_dims(specs: &mut [TensorSpec], symbols: &std::collections::BTreeMap<String, Vec<Option<String>>>) {
    for spec in specs {
        let (Some(dims), Some(names)) = (spec.dims.as_mut(), symbols.get(&spec.name)) else { continue };
        for (d, name) in dims.iter_mut().zip(names) {
            if let (Dim::Dynamic(slot @ None), Some(name)) = (d, name) {
                *slot = Some(name.clone());
            }
        }
    }
}

struct OpenVinoSession {
    // Dropped in this order: the request before the compiled model before the core.
    request: InferRequest,
    _compiled: CompiledModel,
    _core: Core,
    /// Inputs, outputs, device, parameters and the range each integer input must stay in (from
    /// an ONNX file's graph).
    info: SessionInfo,
    /// The tensor set on each input port, reused while its shape stays the same.
    bound: Vec<Option<(Vec<usize>, OvTensor)>>,
    /// The performance counters read after each run, when profiling.
    counters: Option<Vec<Vec<Counter>>>,
}

impl OpenVinoSession {
    /// Copies the inputs into the request's input tensors (new ones when a shape changed).
    fn bind(&mut self, inputs: &[Tensor]) -> Result<()> {
        check_inputs(&self.info.inputs, inputs)?;
        for (i, t) in inputs.iter().enumerate() {
            if self.bound[i].as_ref().is_none_or(|(shape, _)| shape.as_slice() != t.shape()) {
                let dims: Vec<i64> = t.shape().iter().map(|&d| i64::try_from(d).unwrap_or(i64::MAX)).collect();
                let tensor =
                    OvTensor::new(element_type(t.dtype()), &Shape::new(&dims).map_err(ov_err)?).map_err(ov_err)?;
                self.request.set_input_tensor_by_index(i, &tensor).map_err(ov_err)?;
                self.bound[i] = Some((t.shape().to_vec(), tensor));
            }
            let Some((_, tensor)) = self.bound[i].as_mut() else { unreachable!("bound above") };
            with_tensor_data!(t.data(), v => tensor.get_data_mut().map_err(ov_err)?.copy_from_slice(v));
        }
        Ok(())
    }

    fn fetch(&self) -> Result<Vec<Tensor>> {
        (0..self.info.outputs.len())
            .map(|i| {
                let t = self.request.get_output_tensor_by_index(i).map_err(ov_err)?;
                let name = &self.info.outputs[i].name;
                let et = t.get_element_type().map_err(ov_err)?;
                let dtype = dtype(et).ok_or_else(|| {
                    Error::InvalidInput(format!("output `{name}` has element type {et}, which infer does not support"))
                })?;
                let shape: Vec<usize> = t
                    .get_shape()
                    .map_err(ov_err)?
                    .get_dimensions()
                    .iter()
                    .map(|&d| usize::try_from(d).unwrap_or(0))
                    .collect();
                if dtype == DType::Bool {
                    // OpenVINO stores a boolean as one byte; read bytes, never assume 0/1.
                    let bytes = t.get_data::<u8>().map_err(ov_err)?;
                    return Tensor::from_vec(shape, bytes.iter().map(|&b| b != 0).collect::<Vec<bool>>());
                }
                with_dtype!(dtype, T => Tensor::from_vec(shape, t.get_data::<T>().map_err(ov_err)?.to_vec()))
            })
            .collect()
    }

    fn infer(&mut self) -> Result<()> {
        self.request.infer().map_err(ov_err)?;
        if let Some(runs) = self.counters.as_mut() {
            runs.push(crate::sys::counters(&self.request)?);
        }
        Ok(())
    }
}

impl Session for OpenVinoSession {
    fn info(&self) -> &SessionInfo {
        &self.info
    }

    fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        self.bind(inputs)?;
        self.infer()?;
        self.fetch()
    }

    /// Copying the inputs into OpenVINO's tensors (bind), the synchronous `infer` (compute),
    /// copying the outputs out (fetch).
    fn run_staged(&mut self, inputs: &[Tensor]) -> Result<(Vec<Tensor>, Option<RunStages>)> {
        let t0 = Instant::now();
        self.bind(inputs)?;
        let t1 = Instant::now();
        self.request.infer().map_err(ov_err)?;
        let t2 = Instant::now();
        let outputs = self.fetch()?;
        let t3 = Instant::now();
        if let Some(runs) = self.counters.as_mut() {
            runs.push(crate::sys::counters(&self.request)?);
        }
        let stages = RunStages {
            bind_s: (t1 - t0).as_secs_f64(),
            compute_s: (t2 - t1).as_secs_f64(),
            fetch_s: (t3 - t2).as_secs_f64(),
        };
        Ok((outputs, Some(stages)))
    }

    fn op_profile(&mut self) -> Result<OpProfile> {
        let runs = self.counters.take().ok_or_else(|| {
            Error::InvalidInput("profiling was not enabled: load the model with LoadOptions::profile_prefix".into())
        })?;
        Ok(crate::profile::from_counters(&runs))
    }
}
