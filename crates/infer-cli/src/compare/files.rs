//! `infer compare MODEL [MODEL …]` on the user's own files: a row per (file, backend that reads
//! it, device), every file fed the same inputs and checked against the first file's output.
//!
//! Before the rounds, in child processes: each file is described (`infer info --json`, by the
//! first backend that reads it and can run); the inputs of every file are matched to the first
//! file's, by name when every name is found, else by position, a 4-d input in the other one's
//! NCHW/NHWC layout transposed; the reference inputs are made once (`--input` data, else synthetic
//! from the workload's fixed seed, at the first batch size and `--dim` sizes) and written for
//! each file in its own names and layout; the first file is run once on them (`infer run -o
//! ref.npz`). Every row's bench child then checks its file's inputs against `ref.npz`, outputs
//! matched by name, else by position ([`infer_measure::reference`]).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

use infer_core::{
    ArgMap, Argument, Backend, Dim, Error, IntRange, Registry, Result, Tensor, TensorData, TensorSpec,
    registry::availability, with_tensor_data,
};
use serde::{Deserialize, Serialize};

use super::plan::{Slot, Target, unavailable};
use crate::runner;
use infer_measure::{
    results::comparison::{CompareEntry, RowStatus},
    workload::args::ShapeArg,
    workload::{Workload, encode_npz},
};

/// What `infer info --json` writes: how a model file looks to the backend that read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelDescription {
    /// The backend that read it.
    pub backend: String,
    /// Its inputs, in order.
    pub inputs: Vec<TensorSpec>,
    /// Its outputs, in order.
    pub outputs: Vec<TensorSpec>,
    /// The integer ranges it proves (an embedding's rows), by input name.
    #[serde(default)]
    pub integer_ranges: Option<BTreeMap<String, IntRange>>,
    /// Its arguments that are not tensors (a TorchScript `sr: int`), with their values.
    #[serde(default)]
    pub arguments: Vec<Argument>,
}

/// How one input of a file is made from an input of the first file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Feed {
    /// The first file's input.
    pub from: usize,
    /// The layout change.
    pub relayout: Relayout,
}

/// A layout change between two 4-d image inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Relayout {
    /// The same layout.
    Same,
    /// `[N,C,H,W]` to `[N,H,W,C]`.
    ToNhwc,
    /// `[N,H,W,C]` to `[N,C,H,W]`.
    ToNchw,
}

impl Relayout {
    /// The axes of the result, as axes of the source.
    fn axes(self) -> [usize; 4] {
        match self {
            Relayout::Same => [0, 1, 2, 3],
            Relayout::ToNhwc => [0, 2, 3, 1],
            Relayout::ToNchw => [0, 3, 1, 2],
        }
    }

    /// `dims` (of the source) in the result's order.
    fn apply<T: Clone>(self, dims: &[T]) -> Vec<T> {
        if self == Relayout::Same || dims.len() != 4 {
            return dims.to_vec();
        }
        self.axes().iter().map(|&a| dims[a].clone()).collect()
    }

    /// `t` transposed.
    fn tensor(self, t: &Tensor) -> Result<Tensor> {
        let shape = t.shape();
        if self == Relayout::Same || shape.len() != 4 {
            return Ok(t.clone());
        }
        let axes = self.axes();
        let out_shape = self.apply(shape);
        let strides = [shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3], 1];
        let mut index = Vec::with_capacity(t.len());
        for a in 0..out_shape[0] {
            for b in 0..out_shape[1] {
                for c in 0..out_shape[2] {
                    for d in 0..out_shape[3] {
                        let at = [a, b, c, d];
                        index.push((0..4).map(|k| at[k] * strides[axes[k]]).sum::<usize>());
                    }
                }
            }
        }
        let data: TensorData =
            with_tensor_data!(t.data(), v => infer_core::Element::wrap(index.iter().map(|&i| v[i]).collect()));
        Tensor::new(out_shape, data)
    }
}

/// The rows of a comparison of model files, and what it is called.
pub(super) struct Prepared {
    /// The files' names, joined.
    pub name: String,
    /// One slot per (file, backend that reads it, device).
    pub slots: Vec<Slot>,
    /// The batch sizes asked, else the first file's fixed batch, else
    /// [`super::DEFAULT_BATCH_SIZES`].
    pub batch_sizes: Vec<usize>,
}

/// Describes every file as each backend that reads it sees it, matches their inputs, writes the
/// reference inputs and output into `scratch`, and lays out the slots.
///
/// # Errors
/// A file that does not exist or that no backend reads; a first file that cannot be described or
/// run (no reference); files whose inputs cannot be matched to the first's (both files, the
/// expected and the actual inputs named); the workload's errors on the first file.
pub(super) fn prepare(registry: &Registry, exe: &Path, spec: &super::CompareSpec, scratch: &Path) -> Result<Prepared> {
    let mut readers: Vec<Vec<&dyn Backend>> = Vec::new();
    for path in &spec.models {
        let found: Vec<&dyn Backend> = registry.readers(path)?.into_iter().map(|(b, _)| b).collect();
        if found.is_empty() {
            return Err(Error::load(path, format!("no backend reads this file: expected {}", registry.format_hints())));
        }
        readers.push(found);
    }
    let labels = labels(&spec.models);
    // Every (file, backend that reads it and can run): how it describes the file. Two backends
    // may see one file differently (OpenVINO names no dimension of an ONNX file).
    let mut units: Vec<Unit<'_>> = Vec::new();
    for (k, (path, found)) in spec.models.iter().zip(&readers).enumerate() {
        for (r, &backend) in found.iter().enumerate() {
            let described = if matches!(availability(backend), infer_core::Availability::Available(_)) {
                let json = scratch.join(format!("describe-{k}-{r}.json"));
                Some(describe(exe, path, backend, &spec.workload.args, &json))
            } else {
                None
            };
            units.push(Unit { file: k, backend, described, feed: None, inputs_file: None, tensors: None });
        }
    }
    let first = &spec.models[0];
    let d0 = match units.iter().find(|u| u.file == 0 && u.described.is_some()).and_then(|u| u.described.clone()) {
        Some(Ok(d)) => d,
        Some(Err(e)) => {
            return Err(Error::load(first, format!("cannot read the first model, the reference of the others: {e}")));
        }
        None => {
            return Err(Error::load(
                first,
                "no backend that reads the first model, the reference of the others, can run here".to_string(),
            ));
        }
    };
    // The matches first: a pair that cannot be matched stops the comparison before any run.
    for u in &mut units {
        if let Some(Ok(d)) = &u.described {
            u.feed = Some(match_inputs(first, &d0.inputs, &spec.models[u.file], &d.inputs)?);
        }
    }
    // The reference inputs, made once for the first file, then written for every unit.
    let plan = spec.workload.plan_described(first, &d0.inputs, d0.integer_ranges.as_ref(), &d0.arguments)?;
    let point = spec.workload.points().swap_remove(0);
    let batch_sizes = match spec.batch_sizes.as_slice() {
        [] if plan.batch_is_fixed() => vec![plan.default_batch()],
        [] => super::DEFAULT_BATCH_SIZES.to_vec(),
        asked => asked.to_vec(),
    };
    let batch = batch_sizes[0];
    let inputs = plan.build(batch, &point)?.tensors;
    let reference = scratch.join("reference.npz");
    let mut reference_input = None;
    for (n, u) in units.iter_mut().enumerate() {
        let (Some(Ok(d)), Some(feed)) = (&u.described, &u.feed) else { continue };
        let tensors = feed.iter().map(|f| f.relayout.tensor(&inputs[f.from])).collect::<Result<Vec<_>>>()?;
        let file = scratch.join(format!("inputs-{n}.npz"));
        infer_core::fsutil::write_atomic(&file, &encode_npz(d.inputs.iter().map(|s| s.name.as_str()).zip(&tensors))?)?;
        if u.file == 0 && reference_input.is_none() {
            reference_input = Some((u.backend.name(), file.clone()));
        }
        u.inputs_file = Some(file);
        u.tensors = Some(tensors);
    }
    let Some((backend0, input0)) = reference_input else {
        return Err(Error::load(first, "no backend could describe the first model".to_string()));
    };
    let mut cmd = Command::new(crate::worker::executable_for(exe, backend0));
    cmd.arg("run").arg(first).args(["--backend", backend0]).arg("--input").arg(&input0);
    // The scalar inputs `--arg` sets are in the inputs file; the arguments that are not tensors
    // are the session's.
    cmd.args(arg_flags(&own_args(&spec.workload.args, &d0.arguments)));
    cmd.arg("--output").arg(&reference);
    runner::run_logged(cmd, &scratch.join("reference.stderr.txt"))
        .map_err(|e| Error::load(first, format!("cannot compute the reference output: {e}")))?;

    let mut slots = Vec::new();
    for u in &units {
        let path = &spec.models[u.file];
        let avail = availability(u.backend);
        let label = format!("{} ({})", u.backend.name(), labels[u.file]);
        let ready = match (&u.described, &u.feed, &u.tensors, &u.inputs_file) {
            (Some(Ok(d)), Some(feed), Some(tensors), Some(file)) => {
                let workload = if u.file == 0 && d.inputs == d0.inputs {
                    Ok(spec.workload.clone())
                } else {
                    workload_for(&spec.workload, &d0.inputs, &d.inputs, feed, tensors, file).map(|mut w| {
                        w.args.extend(own_args(&spec.workload.args, &d.arguments));
                        w
                    })
                };
                workload.map(|w| (w, file.clone(), dim_names(&d0.inputs, &d.inputs, feed)))
            }
            (Some(Err(e)), ..) => Err(format!("cannot read its inputs: {e}")),
            _ => Err("cannot read its inputs".into()),
        };
        for &device in &spec.devices {
            let (status, target) = match (unavailable(u.backend, &avail, device), &ready) {
                (Some(status), _) => (status, None),
                (None, Err(message)) => (RowStatus::Error { message: message.clone() }, None),
                (None, Ok((workload, file, names))) => (
                    RowStatus::Pending,
                    Some(Target {
                        model: path.clone(),
                        backend: u.backend.name().into(),
                        reference: Some((file.clone(), reference.clone())),
                        workload: workload.clone(),
                        dim_names: names.clone(),
                    }),
                ),
            };
            slots.push(Slot { entry: CompareEntry::new(&label, device, status, None), target });
        }
    }
    Ok(Prepared { name: labels.join(", "), slots, batch_sizes })
}

/// One file as one backend that reads it sees it.
struct Unit<'r> {
    /// Index of the file.
    file: usize,
    /// The backend.
    backend: &'r dyn Backend,
    /// Its description; `None` where the backend cannot run here.
    described: Option<std::result::Result<ModelDescription, String>>,
    /// How its inputs are made from the first file's.
    feed: Option<Vec<Feed>>,
    /// The reference inputs in its names and layout, and the file that holds them.
    inputs_file: Option<PathBuf>,
    tensors: Option<Vec<Tensor>>,
}

/// The row dimension key of each unnamed dynamic axis of `b` (`input_ids[1]`) whose axis in `a`,
/// the input it is made from, has a symbol, with that symbol.
fn dim_names(a: &[TensorSpec], b: &[TensorSpec], feed: &[Feed]) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for (sb, f) in b.iter().zip(feed) {
        let (Some(db), Some(da)) = (&sb.dims, &a[f.from].dims) else { continue };
        for (axis, d) in db.iter().enumerate().skip(1) {
            let from = if db.len() == 4 { f.relayout.axes()[axis] } else { axis };
            if let (Dim::Dynamic(None), Some(Dim::Dynamic(Some(symbol)))) = (d, da.get(from)) {
                names.insert(format!("{}[{axis}]", sb.name), symbol.clone());
            }
        }
    }
    names
}

/// Each file's name as its rows show it: the file name, or the path as given where two files
/// share a name.
fn labels(models: &[PathBuf]) -> Vec<String> {
    let name =
        |p: &PathBuf| p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned());
    let names: Vec<String> = models.iter().map(name).collect();
    models
        .iter()
        .zip(&names)
        .map(|(p, n)| if names.iter().filter(|m| *m == n).count() > 1 { p.display().to_string() } else { n.clone() })
        .collect()
}

/// The `--arg` values of `args` that name one of `arguments` (those the session takes itself).
fn own_args(args: &ArgMap, arguments: &[Argument]) -> ArgMap {
    args.iter()
        .filter(|(name, _)| arguments.iter().any(|a| a.name == **name))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// `--arg NAME=VALUE` for each of `args`.
fn arg_flags(args: &ArgMap) -> Vec<String> {
    args.iter().flat_map(|(k, v)| ["--arg".to_string(), format!("{k}={v}")]).collect()
}

/// `infer info --json` of `path` by `backend`, with the `--arg` values `args`.
fn describe(
    exe: &Path,
    path: &Path,
    backend: &dyn Backend,
    args: &ArgMap,
    json: &Path,
) -> std::result::Result<ModelDescription, String> {
    let mut cmd = Command::new(crate::worker::executable_for(exe, backend.name()));
    cmd.arg("info").arg(path).args(["--backend", backend.name()]).args(arg_flags(args)).arg("--json").arg(json);
    runner::run(cmd, json).map_err(|e| e.to_string())
}

/// How each input of `b` (the file `pb`) is made from the inputs of `a` (the first file, `pa`):
/// by name when every name of `b` is one of `a`'s, else by position; each pair of the same dtype
/// (unless `b`'s input has an unknown rank, which says nothing of its dtype either) and of
/// compatible shapes, or the NCHW/NHWC transpose of each other.
///
/// # Errors
/// [`Error::InvalidInput`] naming both files with what each takes.
pub(super) fn match_inputs(pa: &Path, a: &[TensorSpec], pb: &Path, b: &[TensorSpec]) -> Result<Vec<Feed>> {
    let list = |specs: &[TensorSpec]| specs.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
    let fail = |why: String| {
        Error::InvalidInput(format!(
            "{} and {}: the inputs cannot be matched ({why}): the first takes {}; the other takes {}",
            pa.display(),
            pb.display(),
            list(a),
            list(b)
        ))
    };
    if a.len() != b.len() {
        return Err(fail(format!("{} inputs against {}", a.len(), b.len())));
    }
    let by_name: Option<Vec<usize>> = b.iter().map(|s| a.iter().position(|t| t.name == s.name)).collect();
    let from = by_name.unwrap_or_else(|| (0..b.len()).collect());
    from.iter()
        .zip(b)
        .map(|(&j, sb)| {
            let sa = &a[j];
            // An input of unknown rank is described by its name alone (a TorchScript argument
            // the schema calls `Tensor`): its dtype is a default, not a fact, so it takes `a`'s.
            if sa.dtype != sb.dtype && sb.dims.is_some() {
                return Err(fail(format!("`{}` is {}, `{}` is {}", sa.name, sa.dtype, sb.name, sb.dtype)));
            }
            let relayout = [Relayout::Same, Relayout::ToNhwc, Relayout::ToNchw]
                .into_iter()
                .find(|r| compatible(sa, sb, *r))
                .ok_or_else(|| {
                    fail(format!(
                        "`{}` {} and `{}` {} differ, also as NCHW/NHWC",
                        sa.name,
                        sa.shape_string(),
                        sb.name,
                        sb.shape_string()
                    ))
                })?;
            Ok(Feed { from: j, relayout })
        })
        .collect()
}

/// Whether `a`, relaid out, fits `b`: the same rank and the same size wherever both are fixed
/// (an unknown rank fits anything; a change of layout needs rank 4).
fn compatible(a: &TensorSpec, b: &TensorSpec, relayout: Relayout) -> bool {
    let (Some(da), Some(db)) = (&a.dims, &b.dims) else { return relayout == Relayout::Same };
    if da.len() != db.len() || (relayout != Relayout::Same && da.len() != 4) {
        return false;
    }
    relayout.apply(da).iter().zip(db).all(|(x, y)| match (x, y) {
        (Dim::Fixed(m), Dim::Fixed(n)) => m == n,
        _ => true,
    })
}

/// The workload of the timed runs of a file other than the first (`b`, its inputs made from `a`'s
/// by `feed`): the user's `--input` data as `prepared` (the reference inputs in `b`'s names and
/// layout); else `--shape` and `--int-range` renamed (and relaid out), and `--dim` kept where `b`
/// names the dimension, else turned into `--shape` of `b`'s inputs from the reference inputs'
/// shapes (`tensors`), which needs a single size.
///
/// # Errors
/// The row's message when a `--dim` list cannot be given to `b`.
fn workload_for(
    w: &Workload,
    a: &[TensorSpec],
    b: &[TensorSpec],
    feed: &[Feed],
    tensors: &[Tensor],
    prepared: &Path,
) -> std::result::Result<Workload, String> {
    // `--batch-dim` goes on where `b` has that dimension (else `b`'s own default).
    let batch_dim = w.batch_dim.clone().filter(|symbol| {
        b.iter().any(|s| s.dims.iter().flatten().any(|d| matches!(d, Dim::Dynamic(Some(x)) if x == symbol)))
    });
    if !w.files.is_empty() {
        return Ok(Workload { files: vec![prepared.display().to_string()], batch_dim, ..Workload::default() });
    }
    let target_of = |name: &str| {
        let j = a.iter().position(|s| s.name == name)?;
        feed.iter().position(|f| f.from == j)
    };
    let mut out = Workload { positional: w.positional.clone(), batch_dim, ..Workload::default() };
    // A scalar input `--arg` sets, under its name in this file.
    for (name, value) in &w.args {
        if let Some(i) = target_of(name) {
            out.args.insert(b[i].name.clone(), value.clone());
        }
    }
    for s in &w.shapes {
        let Some(i) = target_of(&s.input) else { continue };
        out.shapes.push(ShapeArg { input: b[i].name.clone(), dims: feed[i].relayout.apply(&s.dims), dtype: s.dtype });
    }
    for r in &w.int_ranges {
        let Some(i) = target_of(&r.input) else { continue };
        let mut r = r.clone();
        r.input.clone_from(&b[i].name);
        out.int_ranges.push(r);
    }
    let names = |symbol: &str| {
        b.iter().any(|s| s.dims.iter().flatten().skip(1).any(|d| matches!(d, Dim::Dynamic(Some(x)) if x == symbol)))
    };
    // An input whose shape the file does not fully say (a TorchScript argument, an unnamed
    // dynamic axis) takes the shape of the reference tensor made for it; its batch follows
    // --batch-sizes as any --shape does.
    let unsaid = |spec: &TensorSpec| {
        spec.dims.as_ref().is_none_or(|d| d.iter().skip(1).any(|x| matches!(x, Dim::Dynamic(None))))
    };
    let named = w.dims.iter().all(|d| names(&d.symbol));
    if named {
        out.dims.clone_from(&w.dims);
    }
    if let Some(d) = w.dims.iter().find(|d| d.values.len() > 1)
        && (!named || b.iter().any(unsaid))
    {
        return Err(format!(
            "its inputs do not name the dimension `{}` ({}): measure one size at a time (--dim {}=N)",
            w.dims.iter().find(|d| !names(&d.symbol)).map_or(d.symbol.as_str(), |d| d.symbol.as_str()),
            b.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
            d.symbol
        ));
    }
    for (spec, t) in b.iter().zip(tensors) {
        if (!named || unsaid(spec)) && !out.shapes.iter().any(|s| s.input == spec.name) {
            out.shapes.push(ShapeArg { input: spec.name.clone(), dims: t.shape().to_vec(), dtype: Some(t.dtype()) });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use infer_core::DType;

    use super::*;
    use infer_measure::workload::args::DimArg;

    fn spec(name: &str, dtype: DType, dims: &[Dim]) -> TensorSpec {
        TensorSpec { name: name.into(), dtype, dims: Some(dims.to_vec()) }
    }

    fn dynamic(s: &str) -> Dim {
        Dim::Dynamic(Some(s.into()))
    }

    #[test]
    fn image_inputs_match_across_layouts() {
        let nchw = [spec("input", DType::F32, &[dynamic("batch"), Dim::Fixed(3), Dim::Fixed(224), Dim::Fixed(224)])];
        let nhwc = [spec("x", DType::F32, &[Dim::Dynamic(None), Dim::Fixed(224), Dim::Fixed(224), Dim::Fixed(3)])];
        let f = match_inputs(Path::new("a.onnx"), &nchw, Path::new("b"), &nhwc).unwrap();
        assert_eq!(f, [Feed { from: 0, relayout: Relayout::ToNhwc }]);
        let f = match_inputs(Path::new("b"), &nhwc, Path::new("a.onnx"), &nchw).unwrap();
        assert_eq!(f, [Feed { from: 0, relayout: Relayout::ToNchw }]);
        let f = match_inputs(Path::new("a.onnx"), &nchw, Path::new("c.onnx"), &nchw).unwrap();
        assert_eq!(f, [Feed { from: 0, relayout: Relayout::Same }]);
        // The transpose itself: element [n, c, h, w] lands at [n, h, w, c] and back.
        let t = Tensor::new(vec![1, 2, 2, 3], TensorData::F32((0..12u8).map(f32::from).collect())).unwrap();
        let nhwc_t = Relayout::ToNhwc.tensor(&t).unwrap();
        assert_eq!(nhwc_t.shape(), [1, 2, 3, 2]);
        assert_eq!(nhwc_t.as_slice::<f32>().unwrap()[..4], [0.0, 6.0, 1.0, 7.0]);
        assert_eq!(Relayout::ToNchw.tensor(&nhwc_t).unwrap(), t);
    }

    #[test]
    fn inputs_match_by_name_else_position_else_fail_naming_both_files() {
        let ids = |n: &str| spec(n, DType::I64, &[dynamic("batch"), dynamic("sequence")]);
        let a = [ids("input_ids"), ids("attention_mask")];
        let b = [ids("attention_mask"), ids("input_ids")];
        let f = match_inputs(Path::new("a"), &a, Path::new("b"), &b).unwrap();
        assert_eq!(f.iter().map(|f| f.from).collect::<Vec<_>>(), [1, 0]);
        let c = [ids("x"), ids("y")];
        let f = match_inputs(Path::new("a"), &a, Path::new("c"), &c).unwrap();
        assert_eq!(f.iter().map(|f| f.from).collect::<Vec<_>>(), [0, 1]);
        let err = match_inputs(Path::new("m.onnx"), &a, Path::new("m.pt"), &c[..1]).unwrap_err().to_string();
        assert!(
            err.contains("m.onnx and m.pt: the inputs cannot be matched (2 inputs against 1)")
                && err.contains("input_ids: i64 [batch, sequence]")
                && err.contains("the other takes x: i64"),
            "{err}"
        );
        let image = [spec("img", DType::F32, &[dynamic("batch"), Dim::Fixed(3), Dim::Fixed(32), Dim::Fixed(32)])];
        let other = [spec("img", DType::F32, &[dynamic("batch"), Dim::Fixed(1), Dim::Fixed(28), Dim::Fixed(28)])];
        let err = match_inputs(Path::new("a"), &image, Path::new("b"), &other).unwrap_err().to_string();
        assert!(err.contains("differ, also as NCHW/NHWC"), "{err}");
        let err = match_inputs(Path::new("a"), &a[..1], Path::new("b"), &image).unwrap_err().to_string();
        assert!(err.contains("`input_ids` is i64, `img` is f32"), "{err}");
        // An input of unknown rank (a TorchScript argument) has no dtype of its own to refuse.
        let script = [TensorSpec { name: "input_ids".into(), dtype: DType::F32, dims: None }];
        let f = match_inputs(Path::new("a"), &a[..1], Path::new("m.pt"), &script).unwrap();
        assert_eq!(f, [Feed { from: 0, relayout: Relayout::Same }]);
    }

    #[test]
    fn a_dimension_the_other_file_does_not_name_becomes_its_shape() {
        let a = [spec("ids", DType::I64, &[dynamic("batch"), dynamic("sequence")])];
        let b = [spec("ids", DType::I64, &[Dim::Dynamic(None), Dim::Dynamic(None)])];
        let feed = [Feed { from: 0, relayout: Relayout::Same }];
        let t = [Tensor::zeros(DType::I64, vec![1, 16]).unwrap()];
        let w = Workload { dims: vec![DimArg { symbol: "sequence".into(), values: vec![16] }], ..Workload::default() };
        let got = workload_for(&w, &a, &b, &feed, &t, Path::new("in.npz")).unwrap();
        assert_eq!(got.child_args(), ["--shape", "ids=1x16:i64"]);
        // Where the other file names it, the --dim list stays.
        let got = workload_for(&w, &a, &a, &feed, &t, Path::new("in.npz")).unwrap();
        assert_eq!(got.child_args(), ["--dim", "sequence=16"]);
        let w =
            Workload { dims: vec![DimArg { symbol: "sequence".into(), values: vec![16, 32] }], ..Workload::default() };
        let err = workload_for(&w, &a, &b, &feed, &t, Path::new("in.npz")).unwrap_err();
        assert!(err.contains("do not name the dimension `sequence`"), "{err}");
        let w = Workload { files: vec!["x.npz".into()], ..Workload::default() };
        let got = workload_for(&w, &a, &b, &feed, &t, Path::new("in.npz")).unwrap();
        assert_eq!(got.child_args(), ["--input", "in.npz"]);
    }
}
