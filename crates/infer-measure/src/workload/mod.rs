//! Building model inputs: from `.npy` / `.npz` files, from images, or synthetic for benchmarks.
//!
//! A [`Workload`] is what `bench`, `compare`, `profile` and `optimize-batch` are told about the
//! inputs (`--shape`, `--dim`, `--dims`, `--input`, `--int-range`, `--arg`, `--batch-dim`);
//! [`Workload::plan`] checks it against a loaded model once, and [`Plan::build`] makes the tensors
//! of each (batch size, dimension sizes) row, batched along each input's own batch axis
//! ([`batch`]) and only once they fit in memory ([`fits`]).

pub mod args;
pub mod batch;
pub mod files;
pub mod fits;
pub mod images;
pub mod lengths;
pub mod plan;
mod resample;
mod scalars;
mod synthetic;
pub mod values;

pub use batch::BatchAxes;
use files::split_input;
pub use files::{
    encode_npz, inputs_from, is_npz, npy_inputs, npy_inputs_from, read_inputs, read_inputs_into, read_npz,
};
pub use images::{images_in, is_image_path, preprocess_for};
use plan::PlannedInput;
pub use plan::{Batch, InputUsed, Plan};
pub use scalars::scalar_inputs;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use infer_core::{ArgMap, Argument, Dim, Error, Result, Session, TensorSpec};

use crate::{
    workload::args::{DimArg, FeedbackPair, IntRangeArg, ShapeArg},
    workload::values::int_ranges,
};

/// What the inputs of a measurement are made of, as the command line gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workload {
    /// `--shape NAME=DIMS[:DTYPE]`: an input's shape (and dtype); the size at its batch axis
    /// follows the batch size.
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
    /// `--arg NAME=VALUE`: a value for every call, of an argument that is not a tensor (taken by
    /// the backend at load, from [`infer_core::LoadOptions::args`]) or of a scalar input (a 0-d
    /// tensor of its dtype; see [`scalar_inputs`]).
    pub args: ArgMap,
    /// `--batch-dim SYMBOL`: the dimension that is the batch (default: see [`BatchAxes::of`]).
    pub batch_dim: Option<String>,
    /// `--feedback OUTPUT=INPUT`: outputs fed as inputs of the next call, the state carried from
    /// call to call ([`crate::feedback`]); the state starts as zeros, or as the `--input` data.
    pub feedback: Vec<FeedbackPair>,
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
        for (i, f) in self.feedback.iter().enumerate() {
            if let Some(e) = self.feedback[..i].iter().find(|e| e.input == f.input) {
                return Err(Error::InvalidInput(format!(
                    "--feedback {e} and --feedback {f} both feed input `{}`: give one output per input",
                    f.input
                )));
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
        for (name, value) in &self.args {
            args.extend(["--arg".to_string(), format!("{name}={value}")]);
        }
        if let Some(symbol) = &self.batch_dim {
            args.extend(["--batch-dim".to_string(), symbol.clone()]);
        }
        for f in &self.feedback {
            args.extend(["--feedback".to_string(), f.to_string()]);
        }
        args
    }

    /// Checks this workload against the model's inputs and reads the input files: every name
    /// given exists, `--shape` agrees with the model's rank and fixed sizes, every `--dim` names
    /// a dynamic dimension, every `--arg` an argument or a scalar input (every argument without
    /// a default has one), and the integer ranges are chosen (the model's own evidence from
    /// [`infer_core::SessionInfo::integer_ranges`], then names; see [`crate::workload::values`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] or [`Error::File`] naming the option or file and the model.
    pub fn plan(&self, model: &Path, session: &dyn Session) -> Result<Plan> {
        let info = session.info();
        self.plan_described(model, &info.inputs, info.integer_ranges.as_ref(), &info.arguments)
    }

    /// As [`Workload::plan`], for a model described by its input `specs` and the integer
    /// `ranges` it proves, with no argument that is not a tensor.
    ///
    /// # Errors
    /// As [`Workload::plan`].
    pub fn plan_specs(
        &self,
        model: &Path,
        specs: &[TensorSpec],
        ranges: Option<&BTreeMap<String, infer_core::IntRange>>,
    ) -> Result<Plan> {
        self.plan_described(model, specs, ranges, &[])
    }

    /// As [`Workload::plan`], for a model described by its input `specs`, the integer `ranges`
    /// it proves and its `arguments` that are not tensors ([`infer_core::SessionInfo`]'s).
    ///
    /// # Errors
    /// As [`Workload::plan`].
    pub fn plan_described(
        &self,
        model: &Path,
        specs: &[TensorSpec],
        ranges: Option<&BTreeMap<String, infer_core::IntRange>>,
        arguments: &[Argument],
    ) -> Result<Plan> {
        self.check()?;
        let batch = BatchAxes::of(specs, self.batch_dim.as_deref())?;
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
        infer_core::args::missing(arguments)?;
        let scalars = scalar_inputs(specs, arguments, &self.args)?;
        for (slot, (tensor, source)) in read_inputs_into(&effective, &self.files, scalars)?.into_iter().enumerate() {
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
            check_dim_arg(specs, &batch, d)?;
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
        Ok(Plan { model: model.to_path_buf(), inputs, positional: self.positional.clone(), batch })
    }
}

/// `--shape` against the model's description: the same rank, the same fixed sizes (the batch
/// axis is dynamic, and follows the batch size).
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
fn check_dim_arg(specs: &[TensorSpec], batch: &BatchAxes, d: &DimArg) -> Result<()> {
    // Where the symbol is, and whether there it is the batch.
    let at: Vec<bool> = specs
        .iter()
        .enumerate()
        .flat_map(|(k, s)| {
            s.dims
                .iter()
                .flatten()
                .enumerate()
                .filter(|(_, dim)| matches!(dim, Dim::Dynamic(Some(sym)) if *sym == d.symbol))
                .map(move |(axis, _)| batch.is_batch(k, s, axis))
        })
        .collect();
    if at.iter().any(|is_batch| !is_batch) {
        return Ok(());
    }
    if !at.is_empty() {
        return Err(Error::InvalidInput(format!(
            "--dim {d}: `{}` is the batch dimension: set it with --batch-sizes",
            d.symbol
        )));
    }
    let listing = dims_listing(specs, batch);
    let known = if listing.is_empty() { "the model has none".to_string() } else { listing.join("; ") };
    Err(Error::InvalidInput(format!("--dim {d}: no input has a dimension `{}`; dynamic dimensions: {known}", d.symbol)))
}

/// Every dynamic dimension of the model with the inputs that have it and the option that sets it.
fn dims_listing(specs: &[TensorSpec], batch: &BatchAxes) -> Vec<String> {
    let mut batched: Vec<String> = Vec::new();
    let mut named: Vec<(String, Vec<String>)> = Vec::new();
    let mut other = Vec::new();
    for (k, s) in specs.iter().enumerate() {
        let Some(dims) = &s.dims else {
            other.push(format!("`{}` has no shape in the model: --shape {}=DIMS[:DTYPE]", s.name, s.name));
            continue;
        };
        for (axis, d) in dims.iter().enumerate() {
            match d {
                Dim::Fixed(_) => {}
                Dim::Dynamic(_) if batch.is_batch(k, s, axis) => batched.push(format!("{} axis {axis}", s.name)),
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
    if !batched.is_empty() {
        let symbol = batch.symbol.as_ref().map(|s| format!(" `{s}`")).unwrap_or_default();
        out.push(format!("the batch{symbol} ({}): --batch-sizes", batched.join(", ")));
    }
    for (sym, at) in named {
        out.push(format!("`{sym}` ({}): --dim {sym}=N", at.join(", ")));
    }
    out.extend(other);
    out
}
#[cfg(test)]
mod tests {
    use infer_core::Dim;

    use super::*;
    use infer_core::{DType, SessionInfo, Tensor};

    /// A session that only describes its inputs.
    struct Described(SessionInfo);

    impl Described {
        fn new(inputs: Vec<TensorSpec>, ranges: Option<BTreeMap<String, infer_core::IntRange>>) -> Self {
            let mut info = SessionInfo::new(inputs, Vec::new(), infer_core::Device::Cpu);
            info.integer_ranges = ranges;
            Self(info)
        }
    }

    impl Session for Described {
        fn info(&self) -> &SessionInfo {
            &self.0
        }
        fn run(&mut self, _: &[Tensor]) -> Result<Vec<Tensor>> {
            Ok(Vec::new())
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
        Described::new(vec![ids("input_ids"), ids("attention_mask"), ids("token_type_ids")], Some(graph))
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
            args: [("text".to_string(), "\"a b\"".to_string())].into(),
            batch_dim: Some("N".into()),
            feedback: vec![crate::workload::args::parse_feedback("state_out=state").unwrap()],
        };
        let args = w.child_args();
        assert_eq!(
            args,
            [
                "--shape",
                "ids=2x16:i32",
                "--dim",
                "sequence=8,16",
                "--input",
                "x=a b.npy",
                "--int-range",
                "ids=-2:5",
                "--arg",
                "text=\"a b\"",
                "--batch-dim",
                "N",
                "--feedback",
                "state_out=state"
            ]
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
        let s = Described::new(
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
             dimensions: the batch `batch` (ids axis 0, x axis 0): --batch-sizes; `sequence` (ids axis 1): --dim sequence=N; \
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
        let fixed = Described::new(vec![TensorSpec::new("x", DType::F32, vec![Dim::Fixed(1), Dim::Fixed(4)])], None);
        let e = plan(&Workload::default(), &fixed).unwrap().check(&[1, 2], &[Vec::new()]).unwrap_err().to_string();
        assert!(e.contains("fixed batch dimension of 1; batch size 2"), "{e}");
    }

    /// A model exported with a static batch runs it when no batch size is asked; a wholly static
    /// input whose first axis differs (a `[4]` bias beside `[3, 4]`) runs as it is at that batch.
    #[test]
    fn a_static_model_runs_its_own_batch() {
        let fixed = |dims: &[usize]| dims.iter().map(|&n| Dim::Fixed(n)).collect::<Vec<_>>();
        let s = Described::new(
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
        let unknown = Described::new(vec![TensorSpec { name: "t".into(), dtype: DType::F32, dims: None }], None);
        assert_eq!(plan(&Workload::default(), &unknown).unwrap().default_batch(), 1);
    }

    /// `--arg` sets a scalar input (rank 0) as a 0-d tensor of its dtype in every row, whatever
    /// the batch; an argument that is not a tensor is the session's, checked for a value.
    #[test]
    fn arg_sets_scalar_inputs_in_every_row() {
        let s = Described::new(
            vec![
                TensorSpec::new("x", DType::F32, vec![dynamic("batch"), Dim::Fixed(4)]),
                TensorSpec::new("scale", DType::F32, vec![]),
            ],
            None,
        );
        let w = Workload { args: [("scale".to_string(), "0.5".to_string())].into(), ..Workload::default() };
        let p = plan(&w, &s).unwrap();
        assert_eq!(p.describe()[1], "scale: --arg scale=0.5");
        for batch in [1, 3] {
            let b = p.build(batch, &Vec::new()).unwrap();
            assert_eq!(b.tensors[0].shape(), [batch, 4]);
            assert_eq!((b.tensors[1].shape(), b.tensors[1].as_slice::<f32>().unwrap()), (&[][..], &[0.5f32][..]));
            assert_eq!(b.used[1].source, "--arg scale=0.5");
        }
        let bad = Workload { args: [("scale".to_string(), "half".to_string())].into(), ..Workload::default() };
        assert!(plan(&bad, &s).unwrap_err().to_string().contains("--arg scale=half: input `scale` is a 0-d f32"));
        // Given by a file too: twice.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.npy");
        infer_core::npy::write_npy(&path, &Tensor::from_vec(vec![], vec![2.0f32]).unwrap()).unwrap();
        let twice = Workload { files: vec![format!("scale={}", path.display())], ..w.clone() };
        let e = plan(&twice, &s).unwrap_err().to_string();
        assert!(e.contains("input `scale` is given twice: by --arg scale=0.5 and by"), "{e}");
        // A positional file skips the input --arg gives.
        let x = dir.path().join("x.npy");
        infer_core::npy::write_npy(&x, &Tensor::from_vec(vec![1, 4], vec![1.0f32; 4]).unwrap()).unwrap();
        let both = Workload { files: vec![x.display().to_string()], ..w.clone() };
        assert!(plan(&both, &s).unwrap().build(2, &Vec::new()).is_ok());
        // A session's argument without a value stops the plan, naming the option.
        let mut torch = Described::new(vec![TensorSpec { name: "x".into(), dtype: DType::F32, dims: None }], None);
        torch.0.arguments = vec![infer_core::Argument {
            name: "n".into(),
            of: "forward".into(),
            ty: "int".into(),
            default: None,
            value: None,
        }];
        let e = plan(&Workload::default(), &torch).unwrap_err().to_string();
        assert!(e.contains("give it with --arg n=VALUE"), "{e}");
        torch.0.arguments[0].value = Some("3".into());
        let w = Workload { args: [("n".to_string(), "3".to_string())].into(), ..Workload::default() };
        assert!(plan(&w, &torch).is_ok());
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
}
