//! The tract runtime (feature `runtime`): an ONNX file read into tract's inference model, typed,
//! decluttered or optimised into one plan, and run on a state kept by the session.
//!
//! Symbolic dimensions stay symbolic: the plan is built once at load, and tract resolves each
//! symbol (`batch`, `sequence`) from the shapes of the inputs at every run, so a new batch size
//! needs no new plan and nothing is cached or compiled inside a measured call.

use std::{
    collections::BTreeMap,
    panic::{AssertUnwindSafe, catch_unwind},
    path::Path,
    sync::Arc,
    time::Instant,
};

use infer_core::{
    BackendInfo, DType, Device, Dim, Error, LoadOptions, ParameterCount, Result, Session, SessionInfo, Tensor,
    TensorSpec, check_inputs, profile::RunStages, with_dtype, with_tensor_data,
};
use infer_onnx_proto::ModelSummary;
use tract_linalg::multithread::Executor;
use tract_onnx::{
    prelude::{
        DatumType, Framework, InferenceFact, InferenceModel, InferenceModelExt, IntoTValue, RunOptions, TDim, TValue,
        TVec, Tensor as TractTensor, TractError, TypedModel, TypedSimpleState,
    },
    tract_hir::{
        infer::Factoid,
        tract_core::{
            ops::{gru_seq::GruSeq, scan::Scan},
            plan::SimplePlan,
        },
    },
};

use crate::{BACKEND, Settings, TRACT_VERSION, message::summarize};

/// tract's error as one line (see [`summarize`]).
fn one_line(e: &TractError) -> String {
    summarize(e.chain().map(ToString::to_string))
}

fn backend_err(e: &TractError) -> Error {
    Error::backend(BACKEND, one_line(e))
}

/// Always available: tract is compiled into this binary and needs no library.
pub(crate) fn probe() -> Result<BackendInfo> {
    Ok(BackendInfo {
        name: BACKEND.into(),
        runtime_version: TRACT_VERSION.into(),
        library: None,
        devices: vec![Device::Cpu],
    })
}

/// The message of a panic caught from tract.
fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| p.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)")
        .to_string()
}

/// Reads, types and plans the model at `path` (already checked to be a non-empty `.onnx`).
pub(crate) fn load(
    path: &Path,
    summary: &ModelSummary,
    opts: &LoadOptions,
    settings: Settings,
) -> Result<Box<dyn Session>> {
    let device = infer_core::kit::resolve_device(BACKEND, opts.device, opts.fallback_to_cpu, |d| {
        Err(format!("tract runs on the CPU only; it has no {d} device"))
    })?;
    let executor = executor(settings.threads)?;
    // tract may panic on a malformed graph: a bad file must give an error, never abort the caller.
    let built = catch_unwind(AssertUnwindSafe(|| build(path, settings, executor)))
        .map_err(|p| Error::load(path, format!("tract panicked while reading it: {}", panic_message(p.as_ref()))))??;
    let Built { state, mut inputs, outputs, returned, unread } = built;
    name_dims(&mut inputs, &summary.input_symbols);
    let mut info = SessionInfo::new(inputs, outputs, device);
    info.parameters = Some(ParameterCount { count: summary.parameters, bytes: summary.parameter_bytes });
    info.integer_ranges = Some(summary.integer_ranges.clone());
    info.unread_outputs = unread;
    Ok(Box::new(TractSession { state, returned, info }))
}

/// A pool of `threads` threads for tract's matrix products; `None` (tract's default: the calling
/// thread) for 0 or 1.
fn executor(threads: usize) -> Result<Option<Executor>> {
    if threads <= 1 {
        return Ok(None);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("infer-tract-{i}"))
        .num_threads(threads)
        .build()
        .map_err(|e| Error::wrap(BACKEND, e))?;
    Ok(Some(Executor::MultiThread(Arc::new(pool))))
}

struct Built {
    state: TypedSimpleState,
    inputs: Vec<TensorSpec>,
    outputs: Vec<TensorSpec>,
    returned: Vec<usize>,
    unread: Vec<(String, String)>,
}

fn build(path: &Path, settings: Settings, executor: Option<Executor>) -> Result<Built> {
    let load_err = |e: TractError| Error::load(path, one_line(&e));
    let mut model = tract_onnx::onnx()
        .model_for_path(path)
        .map_err(|e| Error::load(path, format!("tract cannot read it: {}", one_line(&e))))?;
    unsupported_operators(&model).map_err(|reason| Error::load(path, reason))?;
    let inputs = input_specs(&mut model).map_err(|reason| Error::load(path, reason))?;
    let output_names: Vec<String> = (0..model.outputs.len())
        .map(|i| {
            let outlet = model.outputs[i];
            model.outlet_label(outlet).map_or_else(|| model.node(outlet.node).name.clone(), str::to_string)
        })
        .collect();
    let mut typed = model.into_typed().map_err(load_err)?;
    reset_every_turn(&mut typed);
    let typed = if settings.optimize { typed.into_optimized() } else { typed.into_decluttered() }.map_err(load_err)?;
    let (outputs, returned, unread) =
        output_specs(&typed, &output_names).map_err(|reason| Error::load(path, reason))?;
    let options = RunOptions { executor, ..RunOptions::default() };
    let plan = SimplePlan::new_with_options(typed, &options).map_err(load_err)?;
    let state = plan.spawn().map_err(load_err)?;
    Ok(Built { state, inputs, outputs, returned, unread })
}

/// Makes every run start from its inputs alone. tract's recurrent operators (`Scan`, which
/// ONNX's GRU, LSTM, RNN and Scan become, and the fused `GruSeq` of a GRU over a known number of
/// steps) carry their hidden state from one run of a plan to the next by default, the initial
/// state input seeding only the first run (a pulsed model's contract): a session would then
/// answer the same inputs differently on every call, and a state fed back (`--feedback`) would
/// be ignored after the first. ONNX's contract, and every other backend's behaviour, is that each
/// call starts from its inputs; nested bodies included.
fn reset_every_turn(model: &mut TypedModel) {
    for node in model.nodes_mut() {
        if let Some(scan) = node.op_as_mut::<Scan>() {
            scan.reset_every_turn = true;
            reset_every_turn(&mut scan.body);
        } else if let Some(gru) = node.op_as_mut::<GruSeq>() {
            gru.reset_every_turn = true;
        }
    }
}

/// The ONNX operators tract parsed as unimplemented, each with a node using it, as one line.
fn unsupported_operators(model: &InferenceModel) -> std::result::Result<(), String> {
    let mut missing: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for node in model.nodes() {
        let name = node.op.name();
        if let Some(op) = name.strip_prefix("Unimplemented(").and_then(|s| s.strip_suffix(')')) {
            missing.entry(op.to_string()).or_insert_with(|| (node.name.clone(), 0)).1 += 1;
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = missing
        .iter()
        .map(|(op, (node, n))| {
            let more = if *n > 1 { format!(" and {} more", n - 1) } else { String::new() };
            format!("`{op}` (node `{node}`{more})")
        })
        .collect();
    let s = if missing.len() > 1 { "s" } else { "" };
    Err(format!("tract {TRACT_VERSION} does not implement the ONNX operator{s} {}", list.join(", ")))
}

/// infer's element type of a tract datum type; `TDim` (tract's symbolic integers, which it may
/// use for shapes computed inside the graph) is returned as `i64`.
fn dtype(dt: DatumType) -> Option<DType> {
    Some(match dt {
        DatumType::F32 => DType::F32,
        DatumType::F16 => DType::F16,
        DatumType::F64 => DType::F64,
        DatumType::I64 | DatumType::TDim => DType::I64,
        DatumType::I32 => DType::I32,
        DatumType::I8 => DType::I8,
        DatumType::U8 => DType::U8,
        DatumType::Bool => DType::Bool,
        _ => return None,
    })
}

/// A tract dimension as infer's: a number, a symbol by its name (the ONNX file's `dim_param`),
/// or an expression of symbols (dynamic, unnamed).
fn dim(d: &TDim) -> Dim {
    match d {
        TDim::Val(n) => usize::try_from(*n).map_or(Dim::Dynamic(None), Dim::Fixed),
        TDim::Sym(s) => Dim::Dynamic(Some(s.to_string())),
        _ => Dim::Dynamic(None),
    }
}

/// The inputs' specs; an axis the file leaves unknown (no `dim_param`, no size) gets a fresh
/// symbol in the model, so tract can type it, and is reported as dynamic without a name.
fn input_specs(model: &mut InferenceModel) -> std::result::Result<Vec<TensorSpec>, String> {
    let mut specs = Vec::new();
    for ix in 0..model.inputs.len() {
        let name = model.node(model.inputs[ix].node).name.clone();
        let mut fact: InferenceFact = model.input_fact(ix).map_err(|e| one_line(&e))?.clone();
        let dt = fact.datum_type.concretize().ok_or_else(|| format!("input `{name}` has no element type"))?;
        let dtype =
            dtype(dt).ok_or_else(|| format!("input `{name}` has element type {dt:?}, which infer does not hold"))?;
        if fact.shape.is_open() {
            return Err(format!("input `{name}` has no shape in the file, and tract needs its rank"));
        }
        let mut dims = Vec::new();
        let known: Vec<Option<TDim>> = fact.shape.dims().map(Factoid::concretize).collect();
        for (axis, d) in known.into_iter().enumerate() {
            match d {
                Some(d) => dims.push(dim(&d)),
                None => {
                    let symbol = model.symbols.new_with_prefix("unk");
                    fact.shape.set_dim(axis, TDim::Sym(symbol));
                    dims.push(Dim::Dynamic(None));
                }
            }
        }
        model.set_input_fact(ix, fact).map_err(|e| one_line(&e))?;
        specs.push(TensorSpec::new(name, dtype, dims));
    }
    Ok(specs)
}

/// Gives each dynamic input axis the symbol the file has for it, where tract keeps none (a
/// `dim_param` it reads as an expression, or one it treats as unknown such as `unk__0`), so that
/// `--dim NAME=N` names the same axis on every backend that reads the file.
fn name_dims(specs: &mut [TensorSpec], symbols: &BTreeMap<String, Vec<Option<String>>>) {
    for spec in specs {
        let (Some(dims), Some(names)) = (spec.dims.as_mut(), symbols.get(&spec.name)) else { continue };
        for (d, name) in dims.iter_mut().zip(names) {
            if let (Dim::Dynamic(slot), Some(name)) = (d, name) {
                *slot = Some(name.clone());
            }
        }
    }
}

/// The specs of the outputs infer can hold, their indices among tract's outputs, and the others
/// with the reason they are left out.
#[allow(clippy::type_complexity)]
fn output_specs(
    model: &TypedModel,
    names: &[String],
) -> std::result::Result<(Vec<TensorSpec>, Vec<usize>, Vec<(String, String)>), String> {
    let (mut specs, mut returned, mut unread) = (Vec::new(), Vec::new(), Vec::new());
    for (ix, name) in names.iter().enumerate() {
        let fact = model.output_fact(ix).map_err(|e| one_line(&e))?;
        match dtype(fact.datum_type) {
            Some(dtype) => {
                specs.push(TensorSpec::new(name.clone(), dtype, fact.shape.iter().map(dim).collect()));
                returned.push(ix);
            }
            None => {
                unread.push((name.clone(), format!("element type {:?}, which infer does not hold", fact.datum_type)))
            }
        }
    }
    Ok((specs, returned, unread))
}

/// An element type of infer as tract holds it: copied in and out of tract's tensors. `bf16`,
/// which tract does not have, is refused (no model tract reads has a bf16 input or output).
trait Element: Sized {
    fn to_tract(shape: &[usize], values: &[Self]) -> Result<TractTensor>;
    fn from_tract(t: &TractTensor) -> Result<Vec<Self>>;
}

macro_rules! element {
    ($($t:ty),*) => {$(
        impl Element for $t {
            fn to_tract(shape: &[usize], values: &[Self]) -> Result<TractTensor> {
                TractTensor::from_shape(shape, values).map_err(|e| backend_err(&e))
            }
            fn from_tract(t: &TractTensor) -> Result<Vec<Self>> {
                let t = t.cast_to::<$t>().map_err(|e| backend_err(&e))?;
                let plain = t.try_as_plain_ram().map_err(|e| backend_err(&e))?;
                Ok(plain.as_slice::<$t>().map_err(|e| backend_err(&e))?.to_vec())
            }
        }
    )*};
}

element!(f32, f64, i64, i32, i8, u8, bool, infer_core::half::f16);

impl Element for infer_core::half::bf16 {
    fn to_tract(_: &[usize], _: &[Self]) -> Result<TractTensor> {
        Err(Error::InvalidInput("tract has no bf16 tensors".into()))
    }
    fn from_tract(_: &TractTensor) -> Result<Vec<Self>> {
        Err(Error::InvalidInput("tract has no bf16 tensors".into()))
    }
}

fn to_tract(t: &Tensor) -> Result<TValue> {
    with_tensor_data!(t.data(), v => Element::to_tract(t.shape(), v.as_slice())).map(IntoTValue::into_tvalue)
}

fn from_tract(t: &TractTensor, dtype: DType) -> Result<Tensor> {
    let shape = t.shape().to_vec();
    with_dtype!(dtype, T => Tensor::from_vec(shape, <T as Element>::from_tract(t)?))
}

struct TractSession {
    /// The plan's state, reused by every run (tract resets it after each).
    state: TypedSimpleState,
    /// The index among tract's outputs of each of the session's outputs.
    returned: Vec<usize>,
    /// Parameters and integer ranges from the file (`infer_onnx_proto::inspect`), the rest from tract.
    info: SessionInfo,
}

impl TractSession {
    fn bind(&self, inputs: &[Tensor]) -> Result<TVec<TValue>> {
        check_inputs(&self.info.inputs, inputs)?;
        inputs.iter().map(to_tract).collect()
    }

    fn compute(&mut self, inputs: TVec<TValue>) -> Result<TVec<TValue>> {
        let state = &mut self.state;
        match catch_unwind(AssertUnwindSafe(|| state.run(inputs))) {
            Ok(outputs) => outputs.map_err(|e| backend_err(&e)),
            Err(p) => {
                // The state may be half-way through a turn: start the next run from a fresh one.
                if let Ok(fresh) = self.state.plan().spawn() {
                    self.state = fresh;
                }
                Err(Error::backend(BACKEND, format!("tract panicked: {}", panic_message(p.as_ref()))))
            }
        }
    }

    fn fetch(&self, outputs: &TVec<TValue>) -> Result<Vec<Tensor>> {
        self.returned
            .iter()
            .zip(&self.info.outputs)
            .map(|(&ix, spec)| {
                let t = outputs.get(ix).ok_or_else(|| Error::backend(BACKEND, format!("no output {ix}")))?;
                from_tract(t, spec.dtype)
            })
            .collect()
    }
}

impl Session for TractSession {
    fn info(&self) -> &SessionInfo {
        &self.info
    }

    fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let bound = self.bind(inputs)?;
        let outputs = self.compute(bound)?;
        self.fetch(&outputs)
    }

    /// Copying the inputs into tract's tensors (bind), running the plan (compute), copying the
    /// outputs out (fetch).
    fn run_staged(&mut self, inputs: &[Tensor]) -> Result<(Vec<Tensor>, Option<RunStages>)> {
        let t0 = Instant::now();
        let bound = self.bind(inputs)?;
        let t1 = Instant::now();
        let outputs = self.compute(bound)?;
        let t2 = Instant::now();
        let fetched = self.fetch(&outputs)?;
        let t3 = Instant::now();
        let stages = RunStages {
            bind_s: (t1 - t0).as_secs_f64(),
            compute_s: (t2 - t1).as_secs_f64(),
            fetch_s: (t3 - t2).as_secs_f64(),
        };
        Ok((fetched, Some(stages)))
    }
}
