//! Building model inputs: from `.npy` / `.npz` files, from images, or synthetic for benchmarks.
//!
//! A [`Workload`] is what `bench`, `compare`, `profile` and `optimize-batch` are told about the
//! inputs (`--shape`, `--dim`, `--dims`, `--input`, `--int-range`); [`Workload::plan`] checks it
//! against a loaded model once, and [`Plan::build`] makes the tensors of each (batch size,
//! dimension sizes) row.

pub mod args;
pub mod images;
pub mod values;

use std::{
    collections::BTreeMap,
    io::Read,
    path::{Path, PathBuf},
};

use crate::{
    rng::SplitMix64,
    workload::images::{Layout, Preprocess, Resize},
};
use infer_core::{
    DType, Dim, Error, Result, Session, Tensor, TensorData, TensorSpec,
    npy::{parse_npy, read_npy},
};
use infer_onnx_proto::tensor_file;
use serde::{Deserialize, Serialize};

use crate::{
    workload::args::{DimArg, IntRangeArg, ShapeArg},
    workload::values::{ValueRange, int_ranges},
};

/// What the inputs of a measurement are made of, as the command line gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workload {
    /// `--shape NAME=DIMS[:DTYPE]`: an input's shape (and dtype); the leading size follows the
    /// batch size where it is the batch dimension.
    pub shapes: Vec<ShapeArg>,
    /// `--dim SYMBOL=N[,N...]`: sizes of a symbolic dimension; a list measures one row per value,
    /// several lists their product.
    pub dims: Vec<DimArg>,
    /// `--dims N,...`: sizes of each input's dynamic non-batch dimensions, in order (the
    /// positional shorthand; not with `dims`).
    pub positional: Vec<usize>,
    /// `--input [NAME=]PATH`: real data, `.npy`, or `.npz` holding several arrays by input name.
    pub files: Vec<String>,
    /// `--int-range NAME=LO:HI`: synthetic integers of an input from `[LO, HI)`.
    pub int_ranges: Vec<IntRangeArg>,
}

/// One combination of `--dim` sizes, symbol and size, in the order the options were given.
pub type DimPoint = Vec<(String, usize)>;

impl Workload {
    /// A workload of positional `--dims` sizes only (what the commands took before `--dim`).
    #[must_use]
    pub fn positional(sizes: Vec<usize>) -> Self {
        Self { positional: sizes, ..Self::default() }
    }

    /// Checks what can be checked without the model: `--dims` with `--dim`, and an option given
    /// twice for one name.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the options.
    pub fn check(&self) -> Result<()> {
        if !self.positional.is_empty() && !self.dims.is_empty() {
            return Err(Error::InvalidInput(
                "--dims (positional sizes) and --dim SYMBOL=N cannot be combined: use --dim for every dimension".into(),
            ));
        }
        for (i, d) in self.dims.iter().enumerate() {
            if self.dims[..i].iter().any(|e| e.symbol == d.symbol) {
                return Err(Error::InvalidInput(format!(
                    "--dim {} is given twice: give every size of `{}` in one list, e.g. --dim {}=32,128",
                    d.symbol, d.symbol, d.symbol
                )));
            }
        }
        for (i, s) in self.shapes.iter().enumerate() {
            if self.shapes[..i].iter().any(|e| e.input == s.input) {
                return Err(Error::InvalidInput(format!("--shape is given twice for input `{}`", s.input)));
            }
        }
        Ok(())
    }

    /// Every combination of the `--dim` lists, the first list varying slowest; one empty point
    /// when there is no `--dim`.
    #[must_use]
    pub fn points(&self) -> Vec<DimPoint> {
        let mut points: Vec<DimPoint> = vec![Vec::new()];
        for d in &self.dims {
            points = points
                .into_iter()
                .flat_map(|p| {
                    d.values.iter().map(move |&v| {
                        let mut q = p.clone();
                        q.push((d.symbol.clone(), v));
                        q
                    })
                })
                .collect();
        }
        points
    }

    /// The only point, for commands that measure one shape (`profile`, `optimize-batch`,
    /// `bench --concurrency`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `command` when a `--dim` has several values.
    pub fn single_point(&self, command: &str) -> Result<DimPoint> {
        match self.dims.iter().find(|d| d.values.len() > 1) {
            Some(d) => Err(Error::InvalidInput(format!(
                "{command} measures one shape: give one size in --dim {d} (e.g. --dim {}={})",
                d.symbol, d.values[0]
            ))),
            None => Ok(self.points().swap_remove(0)),
        }
    }

    /// This workload with each `--dim` set to its value in `point`.
    #[must_use]
    pub fn at(&self, point: &DimPoint) -> Self {
        let dims = point.iter().map(|(symbol, v)| DimArg { symbol: symbol.clone(), values: vec![*v] }).collect();
        Self { dims, ..self.clone() }
    }

    /// The batch size that the leading sizes of `--shape` ask for, when they agree: the default
    /// where no batch size is given.
    #[must_use]
    pub fn shape_batch(&self) -> Option<usize> {
        let first = self.shapes.first()?.dims[0];
        self.shapes.iter().all(|s| s.dims[0] == first).then_some(first)
    }

    /// The files of `--input`, as [`read_inputs`] reads them (`NAME=PATH` or `PATH`).
    #[must_use]
    pub fn input_paths(&self) -> Vec<PathBuf> {
        self.files.iter().map(|arg| split_input(arg).1).collect()
    }

    /// The command-line arguments that give a child `infer` process this workload.
    #[must_use]
    pub fn child_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        for s in &self.shapes {
            args.extend(["--shape".to_string(), s.to_string()]);
        }
        for d in &self.dims {
            args.extend(["--dim".to_string(), d.to_string()]);
        }
        if !self.positional.is_empty() {
            let sizes: Vec<String> = self.positional.iter().map(ToString::to_string).collect();
            args.extend(["--dims".to_string(), sizes.join(",")]);
        }
        for f in &self.files {
            args.extend(["--input".to_string(), f.clone()]);
        }
        for r in &self.int_ranges {
            args.extend(["--int-range".to_string(), r.to_string()]);
        }
        args
    }

    /// Checks this workload against the model's inputs and reads the input files: every name
    /// given exists, `--shape` agrees with the model's rank and fixed sizes, every `--dim` names
    /// a dynamic dimension, and the integer ranges are chosen (the model's own evidence from
    /// [`Session::integer_ranges`], then names; see [`crate::workload::values`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] or [`Error::File`] naming the option or file and the model.
    pub fn plan(&self, model: &Path, session: &dyn Session) -> Result<Plan> {
        self.plan_specs(model, session.inputs(), session.integer_ranges().as_ref())
    }

    /// As [`Workload::plan`], for a model described by its input `specs` and the integer
    /// `ranges` it proves.
    ///
    /// # Errors
    /// As [`Workload::plan`].
    pub fn plan_specs(
        &self,
        model: &Path,
        specs: &[TensorSpec],
        ranges: Option<&BTreeMap<String, infer_core::IntRange>>,
    ) -> Result<Plan> {
        self.check()?;
        let names = || specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ");
        let mut inputs: Vec<PlannedInput> = specs
            .iter()
            .map(|spec| PlannedInput { spec: spec.clone(), dtype: spec.dtype, shape: None, real: None, values: None })
            .collect();
        for s in &self.shapes {
            let input = inputs.iter_mut().find(|i| i.spec.name == s.input).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "--shape {s}: the model has no input `{}`: its inputs are {}",
                    s.input,
                    names()
                ))
            })?;
            check_shape_arg(&input.spec, s)?;
            input.shape = Some(s.dims.clone());
            input.dtype = s.dtype.unwrap_or(input.spec.dtype);
        }
        let effective: Vec<TensorSpec> = inputs.iter().map(PlannedInput::effective_spec).collect();
        for (slot, (tensor, source)) in read_inputs(&effective, &self.files)?.into_iter().enumerate() {
            if let Some(t) = tensor {
                if inputs[slot].shape.is_some() {
                    return Err(Error::InvalidInput(format!(
                        "input `{}` is read from {source}: its shape comes from the file, drop --shape {}",
                        inputs[slot].spec.name, inputs[slot].spec.name
                    )));
                }
                inputs[slot].real = Some((t, source));
            }
        }
        for d in &self.dims {
            check_dim_arg(specs, d)?;
        }
        let ranges = int_ranges(ranges, &effective, &self.int_ranges)?;
        for (input, range) in inputs.iter_mut().zip(ranges) {
            match (&input.real, range) {
                (Some((_, source)), Some(r)) if r.found == crate::workload::values::Found::Option => {
                    return Err(Error::InvalidInput(format!(
                        "input `{}` is read from {source}: --int-range does not apply to it",
                        input.spec.name
                    )));
                }
                (Some(_), _) => {}
                (None, range) => input.values = range,
            }
        }
        Ok(Plan { model: model.to_path_buf(), inputs, positional: self.positional.clone() })
    }
}

/// `--shape` against the model's description: the same rank, the same fixed sizes (the batch
/// dimension aside, which follows the batch size when it is dynamic).
fn check_shape_arg(spec: &TensorSpec, s: &ShapeArg) -> Result<()> {
    let Some(dims) = &spec.dims else { return Ok(()) };
    if dims.len() != s.dims.len() {
        return Err(Error::InvalidInput(format!(
            "--shape {s}: input `{}` has {} dimensions {}, the shape given has {}",
            spec.name,
            dims.len(),
            spec.shape_string(),
            s.dims.len()
        )));
    }
    for (axis, (d, &v)) in dims.iter().zip(&s.dims).enumerate() {
        if let Dim::Fixed(n) = d
            && *n != v
        {
            return Err(Error::InvalidInput(format!(
                "--shape {s}: axis {axis} of input `{}` {} is fixed at {n}, not {v}",
                spec.name,
                spec.shape_string()
            )));
        }
    }
    Ok(())
}

/// `--dim SYMBOL=…` names a dynamic dimension other than the batch.
fn check_dim_arg(specs: &[TensorSpec], d: &DimArg) -> Result<()> {
    let uses = |pred: &dyn Fn(usize) -> bool| {
        specs.iter().any(|s| {
            s.dims
                .iter()
                .flatten()
                .enumerate()
                .any(|(axis, dim)| pred(axis) && matches!(dim, Dim::Dynamic(Some(sym)) if *sym == d.symbol))
        })
    };
    if uses(&|axis| axis > 0) {
        return Ok(());
    }
    if uses(&|axis| axis == 0) {
        return Err(Error::InvalidInput(format!(
            "--dim {d}: `{}` is the batch dimension: set it with --batch-sizes",
            d.symbol
        )));
    }
    let listing = dims_listing(specs);
    let known = if listing.is_empty() { "the model has none".to_string() } else { listing.join("; ") };
    Err(Error::InvalidInput(format!("--dim {d}: no input has a dimension `{}`; dynamic dimensions: {known}", d.symbol)))
}

/// Every dynamic dimension of the model with the inputs that have it and the option that sets it.
fn dims_listing(specs: &[TensorSpec]) -> Vec<String> {
    let mut batch: Vec<&str> = Vec::new();
    let mut named: Vec<(String, Vec<String>)> = Vec::new();
    let mut other = Vec::new();
    for s in specs {
        let Some(dims) = &s.dims else {
            other.push(format!("`{}` has no shape in the model: --shape {}=DIMS[:DTYPE]", s.name, s.name));
            continue;
        };
        for (axis, d) in dims.iter().enumerate() {
            match d {
                Dim::Fixed(_) => {}
                Dim::Dynamic(_) if axis == 0 => batch.push(&s.name),
                Dim::Dynamic(Some(sym)) => {
                    let at = format!("{} axis {axis}", s.name);
                    match named.iter_mut().find(|(n, _)| n == sym) {
                        Some((_, list)) => list.push(at),
                        None => named.push((sym.clone(), vec![at])),
                    }
                }
                Dim::Dynamic(None) => other.push(format!(
                    "axis {axis} of `{}` {} (unnamed): --dims or --shape {}=…",
                    s.name,
                    s.shape_string(),
                    s.name
                )),
            }
        }
    }
    let mut out = Vec::new();
    if !batch.is_empty() {
        out.push(format!("the batch (axis 0 of {}): --batch-sizes", batch.join(", ")));
    }
    for (sym, at) in named {
        out.push(format!("`{sym}` ({}): --dim {sym}=N", at.join(", ")));
    }
    out.extend(other);
    out
}

/// One model input and what it will be made of.
#[derive(Debug, Clone)]
struct PlannedInput {
    /// As the model describes it.
    spec: TensorSpec,
    /// The element type it is fed (`--shape …:DTYPE` or the model's).
    dtype: DType,
    /// `--shape`, the leading size replaced by the batch size where it follows it.
    shape: Option<Vec<usize>>,
    /// Real data, and the file it came from.
    real: Option<(Tensor, String)>,
    /// For synthetic integers (and masks): the values drawn.
    values: Option<ValueRange>,
}

impl PlannedInput {
    /// The spec with `--shape` applied (for reading files and choosing ranges).
    fn effective_spec(&self) -> TensorSpec {
        let dims = match (&self.shape, &self.spec.dims) {
            (Some(shape), None) => Some(
                shape
                    .iter()
                    .enumerate()
                    .map(|(i, &n)| if i == 0 { Dim::Dynamic(None) } else { Dim::Fixed(n) })
                    .collect(),
            ),
            (_, dims) => dims.clone(),
        };
        TensorSpec { name: self.spec.name.clone(), dtype: self.dtype, dims }
    }

    /// Whether the first axis is the batch dimension (dynamic, or the rank is unknown).
    fn follows_batch(&self) -> bool {
        self.spec.dims.as_ref().is_none_or(|d| d.first().is_some_and(Dim::is_dynamic))
    }
}

/// A workload checked against a model: builds each row's input tensors.
#[derive(Debug, Clone)]
pub struct Plan {
    model: PathBuf,
    inputs: Vec<PlannedInput>,
    positional: Vec<usize>,
}

/// What one input of a row was made of, as reports keep it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputUsed {
    /// Input name.
    pub name: String,
    /// Element type fed.
    pub dtype: DType,
    /// Shape fed.
    pub shape: Vec<usize>,
    /// `synthetic`, or the file the data was read from.
    pub source: String,
    /// For synthetic integers (and masks): the values drawn and how that range was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<ValueRange>,
}

/// The inputs of one row.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The tensors, in the model's input order.
    pub tensors: Vec<Tensor>,
    /// The size of every dynamic dimension other than the batch: by symbol, or `INPUT[AXIS]`
    /// for an unnamed one.
    pub dims: BTreeMap<String, usize>,
    /// What each input was made of.
    pub used: Vec<InputUsed>,
}

/// The concrete shape of every input of a row, and the sizes of its dynamic dimensions.
type RowShapes = (Vec<Vec<usize>>, BTreeMap<String, usize>);

/// Why an input has no concrete shape.
enum Missing {
    Symbol(String),
    Unnamed { input: String, axis: usize },
    NoShape(String),
}

impl Plan {
    /// Whether every input's first axis follows the batch size (dynamic, or of unknown rank), so
    /// that rows of several requests can be stacked into one call.
    #[must_use]
    pub fn batchable(&self) -> bool {
        !self.inputs.is_empty() && self.inputs.iter().all(PlannedInput::follows_batch)
    }

    /// One line per input saying what it is made of: the file, or the synthetic values.
    #[must_use]
    pub fn describe(&self) -> Vec<String> {
        self.inputs
            .iter()
            .map(|i| match (&i.real, &i.values) {
                (Some((_, source)), _) => format!("{}: {}", i.spec.name, source),
                (None, Some(v)) => format!("{}: {} {v}", i.spec.name, i.dtype),
                (None, None) => format!("{}: {} synthetic, normal-distributed", i.spec.name, i.dtype),
            })
            .collect()
    }

    /// The batch size of a command that is given none: the fixed first dimension of the model's
    /// first input that has one (a model exported with a static batch runs as exported), else 1.
    #[must_use]
    pub fn default_batch(&self) -> usize {
        self.inputs
            .iter()
            .find_map(|i| match i.spec.dims.as_ref()?.first()? {
                Dim::Fixed(n) if *n > 0 => Some(*n),
                _ => None,
            })
            .unwrap_or(1)
    }

    /// Whether no input's first dimension can change (each is known and fixed): the model runs
    /// its [`Plan::default_batch`] only.
    #[must_use]
    pub fn batch_is_fixed(&self) -> bool {
        !self.inputs.is_empty() && self.inputs.iter().all(|i| !i.follows_batch())
    }

    /// `err`, a failed run, with the ranges its synthetic integer inputs were drawn from: an index
    /// out of a table's bounds is the usual reason, and `--int-range` the fix.
    #[must_use]
    pub fn context(&self, err: Error) -> Error {
        let ranges: Vec<String> = self
            .inputs
            .iter()
            .filter(|i| i.real.is_none())
            .filter_map(|i| Some(format!("{} {}", i.spec.name, i.values.as_ref()?)))
            .collect();
        if ranges.is_empty() {
            return err;
        }
        err.context(format!(
            "running on synthetic integer inputs {} (set a range with --int-range NAME=LO:HI)",
            ranges.join("; ")
        ))
    }

    /// The concrete shapes of a row, and the sizes of the dynamic dimensions.
    fn shapes(&self, batch: usize, point: &DimPoint) -> Result<RowShapes> {
        // Symbols take their size from --dim, else from the real data and --shape that have them.
        let mut bound: BTreeMap<String, (usize, String)> =
            point.iter().map(|(s, v)| (s.clone(), (*v, format!("--dim {s}={v}")))).collect();
        for i in &self.inputs {
            let (given, how) = match (&i.real, &i.shape) {
                (Some((t, source)), _) => (t.shape(), format!("input `{}` from {source}", i.spec.name)),
                (None, Some(shape)) => (shape.as_slice(), format!("--shape {}", i.spec.name)),
                (None, None) => continue,
            };
            let Some(dims) = i.spec.dims.as_ref().filter(|d| d.len() == given.len()) else { continue };
            for (axis, d) in dims.iter().enumerate().skip(1) {
                let Dim::Dynamic(Some(sym)) = d else { continue };
                match bound.get(sym) {
                    Some((v, other)) if *v != given[axis] => {
                        return Err(Error::InvalidInput(format!(
                            "{}: `{sym}` is {} in {how} but {v} by {other}",
                            self.model.display(),
                            given[axis]
                        )));
                    }
                    Some(_) => {}
                    None => {
                        bound.insert(sym.clone(), (given[axis], how.clone()));
                    }
                }
            }
        }
        let mut shapes = Vec::with_capacity(self.inputs.len());
        let mut sizes = BTreeMap::new();
        let mut missing = Vec::new();
        for i in &self.inputs {
            let name = &i.spec.name;
            if let Some(dims) = &i.spec.dims
                && let Some(Dim::Fixed(n)) = dims.first()
                && *n != batch
                // A wholly static input runs as exported at the model's own batch: its first
                // axis need not be a batch at all (a bias `[4]` beside an input `[3, 4]`).
                && !(dims.iter().all(|d| !d.is_dynamic()) && batch == self.default_batch())
            {
                return Err(Error::InvalidInput(format!(
                    "input `{name}` has a fixed batch dimension of {n}; batch size {batch} is not possible \
                     (leave --batch-sizes out to run the model's own batch, {})",
                    self.default_batch()
                )));
            }
            let mut shape = match (&i.real, &i.shape) {
                (Some((t, _)), _) => t.shape().to_vec(),
                (None, Some(s)) => s.clone(),
                (None, None) => {
                    let Some(dims) = &i.spec.dims else {
                        missing.push(Missing::NoShape(name.clone()));
                        continue;
                    };
                    let mut positional = self.positional.iter();
                    let mut shape = Vec::with_capacity(dims.len());
                    for (axis, d) in dims.iter().enumerate() {
                        let v = match d {
                            Dim::Fixed(n) => Some(*n),
                            Dim::Dynamic(_) if axis == 0 => Some(batch),
                            Dim::Dynamic(Some(sym)) => {
                                let v = bound.get(sym).map(|b| b.0).or_else(|| positional.next().copied());
                                if v.is_none() {
                                    missing.push(Missing::Symbol(sym.clone()));
                                }
                                v
                            }
                            Dim::Dynamic(None) => {
                                let v = positional.next().copied();
                                if v.is_none() {
                                    missing.push(Missing::Unnamed { input: name.clone(), axis });
                                }
                                v
                            }
                        };
                        shape.push(v.unwrap_or(0));
                    }
                    shape
                }
            };
            if i.follows_batch() && !shape.is_empty() {
                shape[0] = batch;
            }
            if let Some(dims) = &i.spec.dims {
                for (axis, d) in dims.iter().enumerate().skip(1) {
                    if let (Dim::Dynamic(sym), Some(&v)) = (d, shape.get(axis)) {
                        let key = sym.clone().unwrap_or_else(|| format!("{name}[{axis}]"));
                        sizes.entry(key).or_insert(v);
                    }
                }
            }
            shapes.push(shape);
        }
        if missing.is_empty() {
            return Ok((shapes, sizes));
        }
        let (mut sizes_unset, mut shapes_unset): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
        for m in missing {
            let (list, text) = match m {
                Missing::Symbol(s) => (&mut sizes_unset, format!("`{s}`")),
                Missing::Unnamed { input, axis } => (&mut sizes_unset, format!("axis {axis} of `{input}`")),
                Missing::NoShape(input) => (&mut shapes_unset, format!("`{input}`")),
            };
            if !list.contains(&text) {
                list.push(text);
            }
        }
        let mut unset = Vec::new();
        if !sizes_unset.is_empty() {
            unset.push(format!("no size for {}", sizes_unset.join(", ")));
        }
        if !shapes_unset.is_empty() {
            unset.push(format!("no shape for {}", shapes_unset.join(", ")));
        }
        let specs: Vec<TensorSpec> = self.inputs.iter().map(|i| i.spec.clone()).collect();
        Err(Error::InvalidInput(format!(
            "{}: {}; the model's dynamic dimensions: {}",
            self.model.display(),
            unset.join("; "),
            dims_listing(&specs).join("; ")
        )))
    }

    /// Checks that every (batch size, point) has concrete shapes, before anything is timed.
    ///
    /// # Errors
    /// As [`Plan::build`], without allocating any tensor.
    pub fn check(&self, batch_sizes: &[usize], points: &[DimPoint]) -> Result<()> {
        for point in points {
            for &batch in batch_sizes {
                self.shapes(batch, point)?;
            }
        }
        Ok(())
    }

    /// The inputs of one row: real data cut or repeated along the batch dimension to `batch`
    /// rows, synthetic tensors (the same for the same row, from a fixed seed) otherwise.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] listing every dynamic dimension and the option that sets it when a
    /// size is missing; a fixed batch dimension other than `batch`; sizes that conflict.
    pub fn build(&self, batch: usize, point: &DimPoint) -> Result<Batch> {
        let (shapes, dims) = self.shapes(batch, point)?;
        let mut rng = SplitMix(SplitMix64::new(0x5eed));
        let mut tensors = Vec::with_capacity(shapes.len());
        let mut used = Vec::with_capacity(shapes.len());
        for (i, shape) in self.inputs.iter().zip(shapes) {
            let (tensor, source) = match &i.real {
                Some((t, source)) => {
                    let t = if i.follows_batch() && !t.shape().is_empty() {
                        fit_rows(t, batch, source)?
                    } else {
                        t.clone()
                    };
                    (t, source.clone())
                }
                None => {
                    let (shape, mut data) = Tensor::zeros(i.dtype, shape)?.into_parts();
                    fill(&mut data, i.values.as_ref(), &mut rng);
                    (Tensor::new(shape, data)?, "synthetic".to_string())
                }
            };
            used.push(InputUsed {
                name: i.spec.name.clone(),
                dtype: tensor.dtype(),
                shape: tensor.shape().to_vec(),
                source,
                values: if i.real.is_none() { i.values.clone() } else { None },
            });
            tensors.push(tensor);
        }
        Ok(Batch { tensors, dims, used })
    }
}

/// `t` with `rows` rows: its first rows, or its rows repeated.
fn fit_rows(t: &Tensor, rows: usize, source: &str) -> Result<Tensor> {
    let have = t.shape()[0];
    if have == rows {
        return Ok(t.clone());
    }
    if have == 0 {
        return Err(Error::InvalidInput(format!("{source} has no rows to make a batch of {rows} from")));
    }
    let copies = vec![t.clone(); rows.div_ceil(have)];
    Tensor::concat_rows(&copies)?.slice_rows(0, rows)
}

/// Fills `data` from `range` where there is one, else as [`fill_random`].
fn fill(data: &mut TensorData, range: Option<&ValueRange>, rng: &mut SplitMix) {
    let Some(r) = range else {
        fill_random(data, rng);
        return;
    };
    let mut draw = || rng.between(r.lo, r.hi);
    // The range was checked against the dtype (see `values`): the conversions cannot fail.
    match data {
        TensorData::I64(v) => v.iter_mut().for_each(|x| *x = draw()),
        TensorData::I32(v) => v.iter_mut().for_each(|x| *x = i32::try_from(draw()).unwrap_or_default()),
        TensorData::I8(v) => v.iter_mut().for_each(|x| *x = i8::try_from(draw()).unwrap_or_default()),
        TensorData::U8(v) => v.iter_mut().for_each(|x| *x = u8::try_from(draw()).unwrap_or_default()),
        TensorData::Bool(v) => v.iter_mut().for_each(|x| *x = draw() != 0),
        #[allow(clippy::cast_precision_loss)]
        TensorData::F32(v) => v.iter_mut().for_each(|x| *x = draw() as f32),
        #[allow(clippy::cast_precision_loss)]
        TensorData::F64(v) => v.iter_mut().for_each(|x| *x = draw() as f64),
        #[allow(clippy::cast_precision_loss)]
        TensorData::F16(v) => v.iter_mut().for_each(|x| *x = half::f16::from_f32(draw() as f32)),
        #[allow(clippy::cast_precision_loss)]
        TensorData::BF16(v) => v.iter_mut().for_each(|x| *x = half::bf16::from_f32(draw() as f32)),
    }
}

fn fill_random(data: &mut TensorData, rng: &mut SplitMix) {
    match data {
        TensorData::F32(v) => v.iter_mut().for_each(|x| *x = rng.normal()),
        TensorData::F16(v) => v.iter_mut().for_each(|x| *x = half::f16::from_f32(rng.normal())),
        TensorData::BF16(v) => v.iter_mut().for_each(|x| *x = half::bf16::from_f32(rng.normal())),
        TensorData::F64(v) => v.iter_mut().for_each(|x| *x = f64::from(rng.normal())),
        TensorData::I64(v) => v.iter_mut().for_each(|x| *x = i64::from(rng.small())),
        TensorData::I32(v) => v.iter_mut().for_each(|x| *x = i32::from(rng.small())),
        TensorData::I8(v) => v.iter_mut().for_each(|x| *x = i8::try_from(rng.small()).unwrap_or(0)),
        TensorData::U8(v) => v.iter_mut().for_each(|x| *x = rng.small()),
        TensorData::Bool(v) => v.iter_mut().enumerate().for_each(|(i, x)| *x = i % 2 == 0),
    }
}

/// Synthetic values from the shared deterministic generator.
struct SplitMix(SplitMix64);

impl SplitMix {
    #[allow(clippy::cast_possible_truncation)]
    fn normal(&mut self) -> f32 {
        // Sum of 4 uniforms, centred and scaled to unit variance: cheap and bounded.
        let s: f64 = (0..4).map(|_| self.0.unit()).sum();
        ((s - 2.0) * 3f64.sqrt()) as f32
    }

    fn small(&mut self) -> u8 {
        (self.0.next_u64() % 10) as u8
    }

    /// Uniform in `[lo, hi)` (`lo < hi`).
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        let span = u128::try_from(i128::from(hi) - i128::from(lo)).unwrap_or(1);
        let offset = (u128::from(self.0.next_u64()) * span) >> 64;
        i64::try_from(i128::from(lo) + i128::try_from(offset).unwrap_or(0)).unwrap_or(lo)
    }
}

/// Reads `.npy` inputs given as `path` (in input order) or `name=path`, and `.npz` archives:
/// each array goes to the input of its name (`np.savez(f, input_ids=…)`), or by position when
/// the archive names them `arr_0`, `arr_1`, … (`np.savez(f, a, b)`); `name=x.npz` takes the
/// array `name` from the archive, or its only array. ONNX `TensorProto` files (`input_0.pb`) are
/// read as `.npy` is, going to the input their own name gives when the argument names none; a
/// folder is an ONNX test data set (`test_data_set_0/` of the Model Zoo and ONNX's backend
/// tests), whose `input_0.pb`, `input_1.pb`, … are read so. Every input must be given.
///
/// # Errors
/// Unknown input names, a wrong count, an input given twice, and the file errors of
/// [`read_npy`] and [`read_npz`].
pub fn npy_inputs(specs: &[TensorSpec], args: &[String]) -> Result<Vec<Tensor>> {
    npy_inputs_from(specs, specs.len(), args)
}

/// As [`npy_inputs`], where only the first `required` inputs must be given: the inputs after
/// them may be left out, trailing, for the model's defaults ([`Session::required_inputs`]).
///
/// # Errors
/// As [`npy_inputs`]; an optional input given after one left out (the model fills in only
/// trailing ones).
pub fn npy_inputs_from(specs: &[TensorSpec], required: usize, args: &[String]) -> Result<Vec<Tensor>> {
    let mut slots = read_inputs(specs, args)?;
    let given = slots.iter().rposition(|(t, _)| t.is_some()).map_or(0, |i| i + 1);
    slots.truncate(given.max(required));
    slots
        .into_iter()
        .zip(specs)
        .enumerate()
        .map(|(i, ((t, _), s))| {
            t.ok_or_else(|| {
                let why =
                    if i < required { "" } else { " (optional inputs may be left out only after the last one given)" };
                Error::InvalidInput(format!("no value given for input `{}` {}{why}", s.name, s.shape_string()))
            })
        })
        .collect()
}

/// As [`npy_inputs`], leaving the inputs not given as `None`; each given input comes with the
/// file it was read from (`x.npz` or `x.npz[name]` for an archive).
///
/// # Errors
/// As [`npy_inputs`], apart from inputs not given.
pub fn read_inputs(specs: &[TensorSpec], args: &[String]) -> Result<Vec<(Option<Tensor>, String)>> {
    let mut slots: Vec<(Option<Tensor>, String)> = vec![(None, String::new()); specs.len()];
    let names = || specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ");
    let index_of = |name: &str| {
        specs
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| Error::InvalidInput(format!("the model has no input `{name}`: its inputs are {}", names())))
    };
    for arg in args {
        let (name, path) = split_input(arg);
        // (input, tensor, source), or (None, …) for an array that goes to the next free input.
        let mut given: Vec<(Option<usize>, Tensor, String)> = Vec::new();
        if is_npz(&path) {
            let mut arrays = read_npz(&path)?;
            let shown = path.display();
            match name {
                Some(name) => {
                    let index = index_of(name)?;
                    let at = match arrays.iter().position(|(k, _)| k == name) {
                        Some(i) => i,
                        None if arrays.len() == 1 => 0,
                        None => {
                            let keys: Vec<&str> = arrays.iter().map(|(k, _)| k.as_str()).collect();
                            return Err(Error::file(
                                &path,
                                format!("no array `{name}` in the archive: it holds {}", keys.join(", ")),
                            ));
                        }
                    };
                    let (key, t) = arrays.swap_remove(at);
                    given.push((Some(index), t, format!("{shown}[{key}]")));
                }
                None => {
                    // `np.savez(f, a, b)` names the arrays arr_0, arr_1, …: those go by position.
                    let positional = arrays.iter().enumerate().all(|(i, (k, _))| *k == format!("arr_{i}"));
                    for (key, t) in arrays {
                        let index = if positional {
                            None
                        } else {
                            Some(specs.iter().position(|s| s.name == key).ok_or_else(|| {
                                Error::file(
                                    &path,
                                    format!("array `{key}` matches no input of the model: its inputs are {}", names()),
                                )
                            })?)
                        };
                        given.push((index, t, format!("{shown}[{key}]")));
                    }
                }
            }
        } else if path.is_dir() {
            if let Some(name) = name {
                return Err(Error::file(
                    &path,
                    format!("a test data set gives every input in order: give the folder without `{name}=`"),
                ));
            }
            for file in tensor_file::set_files(&path, "input")? {
                let (key, t) = tensor_file::read(&file)?;
                let index = specs.iter().position(|s| s.name == key);
                given.push((index, t, file.display().to_string()));
            }
        } else if tensor_file::is_tensor_file(&path) {
            let (key, t) = tensor_file::read(&path)?;
            // The tensor's own name routes it when the argument names no input and it is one.
            let index = match name {
                Some(name) => Some(index_of(name)?),
                None => specs.iter().position(|s| s.name == key),
            };
            given.push((index, t, path.display().to_string()));
        } else {
            let index = name.map(index_of).transpose()?;
            given.push((index, read_npy(&path)?, path.display().to_string()));
        }
        for (index, tensor, source) in given {
            let index = match index {
                Some(i) => i,
                None => slots.iter().position(|(t, _)| t.is_none()).ok_or_else(|| {
                    Error::InvalidInput(format!("too many inputs: the model takes {} ({})", specs.len(), names()))
                })?,
            };
            if slots[index].0.is_some() {
                return Err(Error::InvalidInput(format!(
                    "input `{}` is given twice: by {} and by {source}",
                    specs[index].name, slots[index].1
                )));
            }
            // An input of unknown rank (a TorchScript argument the schema calls `Tensor`) has
            // only a default dtype: the data says what it is, and the model checks it.
            if specs[index].dims.is_some() {
                specs[index].check(&tensor).map_err(|e| Error::file(&path, e.to_string()))?;
            }
            slots[index] = (Some(tensor), source);
        }
    }
    Ok(slots)
}

/// `NAME=PATH` into the name and the path; a `PATH` (or a file whose name holds `=`) alone.
fn split_input(arg: &str) -> (Option<&str>, PathBuf) {
    match arg.split_once('=') {
        Some((name, path)) if !Path::new(arg).exists() => (Some(name), PathBuf::from(path)),
        _ => (None, PathBuf::from(arg)),
    }
}

/// Whether `path` names a `.npz` archive.
#[must_use]
pub fn is_npz(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("npz"))
}

/// An archive entry may inflate to at most this many times its compressed size (a zip bomb
/// otherwise); deflate itself cannot exceed about 1032.
const MAX_INFLATION: u64 = 1100;

/// Reads every array of a NumPy `.npz` archive (`np.savez`, `np.savez_compressed`), by name
/// (the entry name without `.npy`), in archive order.
///
/// # Errors
/// [`Error::Io`] when the file cannot be opened; [`Error::File`] naming it when it is not a zip
/// archive, an entry is not a `.npy`, or an entry's array is invalid (the array named).
pub fn read_npz(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| Error::file(path, format!("not a .npz (zip) archive: {e}")))?;
    let mut arrays = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| Error::file(path, format!("entry {i}: {e}")))?;
        if entry.is_dir() {
            continue;
        }
        let entry_name =
            entry.name().map_err(|e| Error::file(path, format!("entry {i}: invalid name: {e}")))?.to_string();
        let Some(key) = entry_name.strip_suffix(".npy") else {
            return Err(Error::file(path, format!("entry `{entry_name}` is not a .npy array")));
        };
        let size = entry.size();
        if size > entry.compressed_size().saturating_mul(MAX_INFLATION).max(1 << 20) {
            return Err(Error::file(
                path,
                format!("array `{key}` claims {size} bytes from {} compressed: refused", entry.compressed_size()),
            ));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        (&mut entry)
            .take(size.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| Error::file(path, format!("array `{key}`: {e}")))?;
        if bytes.len() as u64 != size {
            return Err(Error::file(
                path,
                format!("array `{key}`: {} bytes read, the archive says {size}", bytes.len()),
            ));
        }
        let tensor = parse_npy(&bytes).map_err(|reason| Error::file(path, format!("array `{key}`: {reason}")))?;
        arrays.push((key.to_string(), tensor));
    }
    if arrays.is_empty() {
        return Err(Error::file(path, "the archive holds no array"));
    }
    Ok(arrays)
}

/// A `.npz` archive as `np.savez` writes it (a zip of uncompressed `NAME.npy` entries), holding
/// each tensor under its name.
///
/// # Errors
/// [`Error::InvalidInput`] when the archive cannot be assembled.
pub fn encode_npz<'a>(arrays: impl IntoIterator<Item = (&'a str, &'a Tensor)>) -> Result<Vec<u8>> {
    use std::io::Write;
    let failed = |e: &dyn std::fmt::Display| Error::InvalidInput(format!("cannot write a .npz archive: {e}"));
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, t) in arrays {
        let bytes = infer_core::npy::encode_npy(t);
        zip.start_file(format!("{name}.npy"), options.large_file(u32::try_from(bytes.len()).is_err()))
            .map_err(|e| failed(&e))?;
        zip.write_all(&bytes).map_err(|e| failed(&e))?;
    }
    Ok(zip.finish().map_err(|e| failed(&e))?.into_inner())
}

/// Preprocessing that fits an image input spec: NCHW `[N,3,H,W]` or NHWC `[N,H,W,3]`, with H and W
/// from the spec (224 where they are dynamic).
///
/// # Errors
/// [`Error::InvalidInput`] when the spec is not a 4-d image input with 3 channels.
pub fn preprocess_for(spec: &TensorSpec) -> Result<Preprocess> {
    let not_image = || {
        Error::InvalidInput(format!(
            "input `{}` {} is not an image input: expected [N,3,H,W] or [N,H,W,3] of f32; pass --input x.npy instead",
            spec.name,
            spec.shape_string()
        ))
    };
    let dims = spec.dims.as_ref().ok_or_else(not_image)?;
    if dims.len() != 4 || spec.dtype != DType::F32 {
        return Err(not_image());
    }
    let d = |i: usize| dims[i].fixed();
    let (layout, h, w) = match (d(1), d(3)) {
        (Some(3), _) => (Layout::Nchw, d(2), d(3)),
        (_, Some(3)) => (Layout::Nhwc, d(1), d(2)),
        _ => return Err(not_image()),
    };
    let to_u32 = |v: Option<usize>| v.and_then(|v| u32::try_from(v).ok()).unwrap_or(224);
    let (h, w) = (to_u32(h), to_u32(w));
    let resize = if h == w {
        Resize::ShorterSideThenCenterCrop { resize: h * 8 / 7, crop: h }
    } else {
        Resize::Exact { width: w, height: h }
    };
    Ok(Preprocess { resize, layout, ..Preprocess::default() })
}

/// Whether a path looks like an image by its extension.
#[must_use]
pub fn is_image_path(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg" | "bmp" | "gif" | "webp" | "tif" | "tiff")
    })
}

/// The image files of a folder, sorted by name.
///
/// # Errors
/// [`Error::Io`] when the folder cannot be read; [`Error::InvalidInput`] when it has no image.
pub fn images_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_image_path(p))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::file(dir, "no image files (png, jpg, bmp, gif, webp, tiff) in this folder"));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use infer_core::Dim;

    use super::*;

    /// A session that only describes its inputs.
    struct Described(Vec<TensorSpec>, Option<BTreeMap<String, infer_core::IntRange>>);

    impl Session for Described {
        fn inputs(&self) -> &[TensorSpec] {
            &self.0
        }
        fn outputs(&self) -> &[TensorSpec] {
            &[]
        }
        fn device(&self) -> infer_core::Device {
            infer_core::Device::Cpu
        }
        fn run(&mut self, _: &[Tensor]) -> Result<Vec<Tensor>> {
            Ok(Vec::new())
        }
        fn integer_ranges(&self) -> Option<BTreeMap<String, infer_core::IntRange>> {
            self.1.clone()
        }
    }

    fn dynamic(name: &str) -> Dim {
        Dim::Dynamic(Some(name.into()))
    }

    fn encoder() -> Described {
        let ids = |n: &str| TensorSpec::new(n, DType::I64, vec![dynamic("batch"), dynamic("sequence")]);
        let mut graph = BTreeMap::new();
        graph.insert(
            "input_ids".into(),
            infer_core::IntRange { lo: 0, hi: 50, evidence: "Gather on word (50 rows)".into() },
        );
        Described(vec![ids("input_ids"), ids("attention_mask"), ids("token_type_ids")], Some(graph))
    }

    fn dim(symbol: &str, values: &[usize]) -> DimArg {
        DimArg { symbol: symbol.into(), values: values.to_vec() }
    }

    fn plan(w: &Workload, s: &Described) -> Result<Plan> {
        w.plan(Path::new("m.onnx"), s)
    }

    #[test]
    fn dim_lists_combine_as_a_product_in_the_order_given() {
        let w = Workload { dims: vec![dim("a", &[1, 2]), dim("b", &[7, 8, 9])], ..Workload::default() };
        let points = w.points();
        assert_eq!(points.len(), 6);
        assert_eq!(points[0], [("a".to_string(), 1), ("b".to_string(), 7)]);
        assert_eq!(points[3], [("a".to_string(), 2), ("b".to_string(), 7)]);
        assert_eq!(Workload::default().points(), [Vec::new()]);
        assert!(w.single_point("infer profile").unwrap_err().to_string().contains("--dim a=1,2"));
        assert_eq!(w.at(&points[4]).single_point("x").unwrap(), points[4]);
        let both = Workload { positional: vec![3], ..w.clone() };
        assert!(both.check().unwrap_err().to_string().contains("cannot be combined"));
        let twice = Workload { dims: vec![dim("a", &[1]), dim("a", &[2])], ..Workload::default() };
        assert!(twice.check().unwrap_err().to_string().contains("given twice"));
    }

    #[test]
    fn child_args_parse_back_to_the_same_workload() {
        let w = Workload {
            shapes: vec![crate::workload::args::parse_shape_arg("ids=2x16:i32").unwrap()],
            dims: vec![dim("sequence", &[8, 16])],
            positional: Vec::new(),
            files: vec!["x=a b.npy".into()],
            int_ranges: vec![crate::workload::args::parse_int_range("ids=-2:5").unwrap()],
        };
        let args = w.child_args();
        assert_eq!(
            args,
            ["--shape", "ids=2x16:i32", "--dim", "sequence=8,16", "--input", "x=a b.npy", "--int-range", "ids=-2:5"]
        );
        assert_eq!(crate::workload::args::parse_dim_arg(&args[3]).unwrap(), w.dims[0]);
        assert_eq!(Workload::positional(vec![4, 5]).child_args(), ["--dims", "4,5"]);
    }

    #[test]
    fn an_encoder_benches_from_one_dim_with_ranges_that_fit() {
        let s = encoder();
        let w = Workload { dims: vec![dim("sequence", &[16])], ..Workload::default() };
        let p = plan(&w, &s).unwrap();
        let b = p.build(2, &w.points()[0]).unwrap();
        assert!(b.tensors.iter().all(|t| t.shape() == [2, 16]));
        assert_eq!(b.dims.into_iter().collect::<Vec<_>>(), [("sequence".to_string(), 16)]);
        let ids = b.tensors[0].as_slice::<i64>().unwrap();
        assert!(ids.iter().all(|v| (0..50).contains(v)) && ids.iter().any(|&v| v >= 10), "graph range [0, 50)");
        assert!(b.tensors[1].as_slice::<i64>().unwrap().iter().all(|&v| v == 1), "masks are ones");
        assert!(b.tensors[2].as_slice::<i64>().unwrap().iter().all(|&v| v == 0), "type ids are zeros");
        assert_eq!(b.used[0].values.as_ref().unwrap().found, crate::workload::values::Found::Graph);
        assert_eq!(p.describe()[1], "attention_mask: i64 [1, 2) by name: `*mask*` inputs are ones");
        // The same row twice is the same data.
        assert_eq!(p.build(2, &w.points()[0]).unwrap().tensors, p.build(2, &w.points()[0]).unwrap().tensors);
        let failed = p.context(Error::InvalidInput("Gather: idx out of bounds".into())).to_string();
        assert!(failed.contains("input_ids [0, 50) from the graph") && failed.contains("--int-range"), "{failed}");
    }

    #[test]
    fn a_missing_size_lists_every_dynamic_dimension() {
        let s = Described(
            vec![
                TensorSpec::new("ids", DType::I64, vec![dynamic("batch"), dynamic("sequence")]),
                TensorSpec::new("x", DType::F32, vec![Dim::Dynamic(None), Dim::Dynamic(None), Dim::Fixed(3)]),
                TensorSpec { name: "y".into(), dtype: DType::F32, dims: None },
            ],
            None,
        );
        let p = plan(&Workload::default(), &s).unwrap();
        let err = p.check(&[1], &[Vec::new()]).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid input: m.onnx: no size for `sequence`, axis 1 of `x`; no shape for `y`; the model's dynamic \
             dimensions: the batch (axis 0 of ids, x): --batch-sizes; `sequence` (ids axis 1): --dim sequence=N; \
             axis 1 of `x` [?, ?, 3] (unnamed): --dims or --shape x=…; `y` has no shape in the model: --shape \
             y=DIMS[:DTYPE]"
        );
        // Positional sizes fill each input's dynamic dimensions in order; --shape gives y a shape
        // and a dtype, its leading size following the batch.
        let w = Workload {
            positional: vec![5],
            shapes: vec![crate::workload::args::parse_shape_arg("y=9x2:u8").unwrap()],
            ..Workload::default()
        };
        let b = plan(&w, &s).unwrap().build(3, &Vec::new()).unwrap();
        let shapes: Vec<&[usize]> = b.tensors.iter().map(Tensor::shape).collect();
        assert_eq!(shapes, [&[3, 5][..], &[3, 5, 3], &[3, 2]]);
        assert_eq!(b.tensors[2].dtype(), DType::U8);
        assert_eq!(b.dims.keys().collect::<Vec<_>>(), ["sequence", "x[1]"]);
    }

    #[test]
    fn options_are_checked_against_the_model() {
        let s = encoder();
        let err = |w: Workload| plan(&w, &s).unwrap_err().to_string();
        let shape = |t: &str| vec![crate::workload::args::parse_shape_arg(t).unwrap()];
        assert!(err(Workload { shapes: shape("ids=1x2"), ..Workload::default() }).contains("no input `ids`"));
        assert!(err(Workload { shapes: shape("input_ids=1x2x3"), ..Workload::default() }).contains("has 2 dimensions"));
        assert!(
            err(Workload { dims: vec![dim("seq", &[4])], ..Workload::default() })
                .contains("no input has a dimension `seq`; dynamic dimensions: the batch")
        );
        assert!(
            err(Workload { dims: vec![dim("batch", &[4])], ..Workload::default() })
                .contains("`batch` is the batch dimension: set it with --batch-sizes")
        );
        // Two sources disagreeing on a symbol.
        let w = Workload { shapes: shape("input_ids=1x8"), dims: vec![dim("sequence", &[4])], ..Workload::default() };
        let e = plan(&w, &s).unwrap().build(1, &w.points()[0]).unwrap_err().to_string();
        assert!(e.contains("`sequence` is 8 in --shape input_ids but 4 by --dim sequence=4"), "{e}");
        // A fixed batch dimension refuses other batch sizes.
        let fixed = Described(vec![TensorSpec::new("x", DType::F32, vec![Dim::Fixed(1), Dim::Fixed(4)])], None);
        let e = plan(&Workload::default(), &fixed).unwrap().check(&[1, 2], &[Vec::new()]).unwrap_err().to_string();
        assert!(e.contains("fixed batch dimension of 1; batch size 2"), "{e}");
    }

    /// A model exported with a static batch runs it when no batch size is asked; a wholly static
    /// input whose first axis differs (a `[4]` bias beside `[3, 4]`) runs as it is at that batch.
    #[test]
    fn a_static_model_runs_its_own_batch() {
        let fixed = |dims: &[usize]| dims.iter().map(|&n| Dim::Fixed(n)).collect::<Vec<_>>();
        let s = Described(
            vec![TensorSpec::new("x", DType::F32, fixed(&[3, 4])), TensorSpec::new("bias", DType::F32, fixed(&[4]))],
            None,
        );
        let p = plan(&Workload::default(), &s).unwrap();
        assert_eq!(p.default_batch(), 3);
        assert!(p.batch_is_fixed());
        let b = p.build(3, &Vec::new()).unwrap();
        assert_eq!(b.tensors.iter().map(Tensor::shape).collect::<Vec<_>>(), [&[3, 4][..], &[4]]);
        let e = p.build(1, &Vec::new()).unwrap_err().to_string();
        assert!(e.contains("input `x` has a fixed batch dimension of 3; batch size 1 is not possible"), "{e}");
        assert!(e.contains("leave --batch-sizes out to run the model's own batch, 3"), "{e}");
        // A dynamic batch defaults to 1; an input of unknown rank does not count.
        assert_eq!(plan(&Workload::default(), &encoder()).unwrap().default_batch(), 1);
        assert!(!plan(&Workload::default(), &encoder()).unwrap().batch_is_fixed());
        let unknown = Described(vec![TensorSpec { name: "t".into(), dtype: DType::F32, dims: None }], None);
        assert_eq!(plan(&Workload::default(), &unknown).unwrap().default_batch(), 1);
    }

    #[test]
    fn real_rows_are_cut_or_repeated() {
        let t = Tensor::from_vec(vec![3, 2], vec![0i64, 1, 2, 3, 4, 5]).unwrap();
        assert_eq!(fit_rows(&t, 2, "f").unwrap().as_slice::<i64>().unwrap(), [0, 1, 2, 3]);
        assert_eq!(fit_rows(&t, 4, "f").unwrap().as_slice::<i64>().unwrap(), [0, 1, 2, 3, 4, 5, 0, 1]);
        assert_eq!(fit_rows(&t, 3, "f").unwrap(), t);
        let empty = Tensor::from_vec(vec![0, 2], Vec::<i64>::new()).unwrap();
        assert!(fit_rows(&empty, 1, "f.npy").unwrap_err().to_string().contains("f.npy has no rows"));
    }

    /// Inputs after the required ones may be left out, trailing only.
    #[test]
    fn optional_trailing_inputs_may_be_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        infer_core::npy::write_npy(&path, &Tensor::from_vec(vec![2], vec![1.0f32, 2.0]).unwrap()).unwrap();
        let any = |name: &str| TensorSpec { name: name.into(), dtype: DType::F32, dims: None };
        let specs = [any("x"), any("mask"), any("scale")];
        let arg = |name: &str| format!("{name}={}", path.display());
        assert_eq!(npy_inputs_from(&specs, 1, &[arg("x")]).unwrap().len(), 1);
        assert_eq!(npy_inputs_from(&specs, 1, &[arg("x"), arg("mask")]).unwrap().len(), 2);
        let e = npy_inputs_from(&specs, 1, &[arg("x"), arg("scale")]).unwrap_err().to_string();
        assert!(e.contains("no value given for input `mask`") && e.contains("only after the last one given"), "{e}");
        let e = npy_inputs_from(&specs, 2, &[arg("x")]).unwrap_err().to_string();
        assert!(e.contains("no value given for input `mask`") && !e.contains("optional"), "{e}");
        assert!(npy_inputs(&specs, &[arg("x")]).is_err());
    }

    #[test]
    fn npz_archives_are_read_by_name_stored_or_deflated() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let a = Tensor::from_vec(vec![2, 2], vec![1.0f32, 2.0, 3.0, 4.0]).unwrap();
        let b = Tensor::from_vec(vec![2], vec![7i64, 8]).unwrap();
        for method in [zip::CompressionMethod::Stored, zip::CompressionMethod::Deflated] {
            let path = dir.path().join("x.npz");
            let mut z = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
            let opts = zip::write::SimpleFileOptions::default().compression_method(method);
            for (name, t) in [("b", &b), ("a", &a)] {
                z.start_file(format!("{name}.npy"), opts).unwrap();
                z.write_all(&infer_core::npy::encode_npy(t)).unwrap();
            }
            z.finish().unwrap();
            let arrays = read_npz(&path).unwrap();
            assert_eq!(arrays, [("b".to_string(), b.clone()), ("a".to_string(), a.clone())]);
            let specs = [
                TensorSpec::new("a", DType::F32, vec![Dim::Dynamic(None), Dim::Fixed(2)]),
                TensorSpec::new("b", DType::I64, vec![Dim::Dynamic(None)]),
            ];
            let got = npy_inputs(&specs, &[path.display().to_string()]).unwrap();
            assert_eq!(got, [a.clone(), b.clone()]);
            let one = read_inputs(&specs, &[format!("b={}", path.display())]).unwrap();
            assert_eq!((one[0].0.is_none(), one[1].1.ends_with("x.npz[b]")), (true, true), "{one:?}");
            let twice = npy_inputs(&specs, &[path.display().to_string(), format!("a={}", path.display())]);
            assert!(twice.unwrap_err().to_string().contains("input `a` is given twice"));
            // A known input refuses data of another dtype; one of unknown rank (a TorchScript
            // argument, whose f32 is only a default) takes what the file holds.
            let known = [TensorSpec::new("b", DType::F32, vec![Dim::Dynamic(None)])];
            let err = read_inputs(&known, &[format!("b={}", path.display())]).unwrap_err().to_string();
            assert!(err.contains("dtype mismatch for `b`: expected f32, got i64"), "{err}");
            let unknown = [TensorSpec { name: "b".into(), dtype: DType::F32, dims: None }];
            let got = read_inputs(&unknown, &[format!("b={}", path.display())]).unwrap();
            assert_eq!(got[0].0.as_ref(), Some(&b));
        }
        let junk = dir.path().join("junk.npz");
        let mut z = zip::ZipWriter::new(std::fs::File::create(&junk).unwrap());
        z.start_file("notes.txt", zip::write::SimpleFileOptions::default()).unwrap();
        z.write_all(b"hello").unwrap();
        z.finish().unwrap();
        let err = read_npz(&junk).unwrap_err().to_string();
        assert!(err.contains("junk.npz") && err.contains("entry `notes.txt` is not a .npy array"), "{err}");
    }

    #[test]
    fn preprocess_matches_layout() {
        let nchw =
            TensorSpec::new("i", DType::F32, vec![Dim::Dynamic(None), Dim::Fixed(3), Dim::Fixed(224), Dim::Fixed(224)]);
        assert_eq!(preprocess_for(&nchw).unwrap().layout, Layout::Nchw);
        let nhwc =
            TensorSpec::new("i", DType::F32, vec![Dim::Dynamic(None), Dim::Fixed(160), Dim::Fixed(160), Dim::Fixed(3)]);
        let p = preprocess_for(&nhwc).unwrap();
        assert_eq!(p.layout, Layout::Nhwc);
        assert_eq!(p.resize, Resize::ShorterSideThenCenterCrop { resize: 182, crop: 160 });
        let tokens = TensorSpec::new("t", DType::I64, vec![Dim::Dynamic(None), Dim::Fixed(16)]);
        assert!(preprocess_for(&tokens).unwrap_err().to_string().contains("not an image input"));
    }
}
