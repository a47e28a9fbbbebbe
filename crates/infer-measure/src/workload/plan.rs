//! A workload checked against a loaded model ([`crate::workload::Workload::plan`]): what each input is
//! made of, and the tensors of each (batch size, dimension sizes) row ([`Plan::build`]).

use std::{collections::BTreeMap, path::PathBuf};

use infer_core::{DType, Dim, Error, Result, Tensor, TensorSpec};
use serde::{Deserialize, Serialize};

use super::{
    DimPoint,
    batch::{BatchAxes, fit_axis},
    dims_listing,
    synthetic::{SplitMix, fill},
};
use crate::rng::SplitMix64;
use crate::workload::values::ValueRange;

/// One model input and what it will be made of.
#[derive(Debug, Clone)]
pub(crate) struct PlannedInput {
    /// As the model describes it.
    pub(crate) spec: TensorSpec,
    /// The element type it is fed (`--shape …:DTYPE` or the model's).
    pub(crate) dtype: DType,
    /// `--shape`, the size at its batch axis replaced by each batch size.
    pub(crate) shape: Option<Vec<usize>>,
    /// Real data, and the file it came from.
    pub(crate) real: Option<(Tensor, String)>,
    /// For synthetic integers (and masks): the values drawn.
    pub(crate) values: Option<ValueRange>,
}

impl PlannedInput {
    /// The spec with `--shape` applied (for reading files and choosing ranges).
    pub(crate) fn effective_spec(&self) -> TensorSpec {
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
}

/// A workload checked against a model: builds each row's input tensors.
#[derive(Debug, Clone)]
pub struct Plan {
    pub(crate) model: PathBuf,
    pub(crate) inputs: Vec<PlannedInput>,
    pub(crate) positional: Vec<usize>,
    /// Which axis of each input carries the batch.
    pub(crate) batch: BatchAxes,
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
    /// Whether some input carries the batch, so that rows of several requests can be stacked
    /// into one call along each input's batch axis.
    #[must_use]
    pub fn batchable(&self) -> bool {
        !self.batch_is_fixed()
    }

    /// Which axis of each input carries the batch ([`BatchAxes`]).
    #[must_use]
    pub fn batch_axes(&self) -> &BatchAxes {
        &self.batch
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

    /// The batch size of a command that is given none: where the batch is fixed, the model's own
    /// (the fixed first dimension of its first input that has one: a model exported with a
    /// static batch runs as exported); else the size `--shape` gives at the batch axis, where
    /// every `--shape` of an input with one agrees; else 1.
    #[must_use]
    pub fn default_batch(&self) -> usize {
        if self.batch_is_fixed() {
            return self
                .inputs
                .iter()
                .find_map(|i| match i.spec.dims.as_ref()?.first()? {
                    Dim::Fixed(n) if *n > 0 => Some(*n),
                    _ => None,
                })
                .unwrap_or(1);
        }
        let asked: Vec<usize> = self
            .inputs
            .iter()
            .enumerate()
            .filter_map(|(k, i)| {
                let shape = i.shape.as_ref()?;
                let axis = *self.batch.carriers(k, &i.spec, shape.len()).first()?;
                Some(shape[axis])
            })
            .collect();
        match asked.split_first() {
            Some((&first, rest)) if rest.iter().all(|&v| v == first) => first,
            _ => 1,
        }
    }

    /// Whether no input carries a batch (every input's dimensions are fixed, or none has the
    /// batch symbol): the model runs its [`Plan::default_batch`] only.
    #[must_use]
    pub fn batch_is_fixed(&self) -> bool {
        !self.inputs.is_empty() && self.batch.is_fixed()
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

    /// The sizes of the named dimensions other than the batch: from `--dim`, else from the real
    /// data and `--shape` that have them, each with where it came from.
    fn bound_symbols(&self, point: &DimPoint) -> Result<BTreeMap<String, (usize, String)>> {
        let mut bound: BTreeMap<String, (usize, String)> =
            point.iter().map(|(s, v)| (s.clone(), (*v, format!("--dim {s}={v}")))).collect();
        for (k, i) in self.inputs.iter().enumerate() {
            let (given, how) = match (&i.real, &i.shape) {
                (Some((t, source)), _) => (t.shape(), format!("input `{}` from {source}", i.spec.name)),
                (None, Some(shape)) => (shape.as_slice(), format!("--shape {}", i.spec.name)),
                (None, None) => continue,
            };
            let Some(dims) = i.spec.dims.as_ref().filter(|d| d.len() == given.len()) else { continue };
            for (axis, d) in dims.iter().enumerate() {
                let Dim::Dynamic(Some(sym)) = d else { continue };
                if self.batch.is_batch(k, &i.spec, axis) {
                    continue;
                }
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
        Ok(bound)
    }

    /// The concrete shapes of a row, and the sizes of the dynamic dimensions other than the batch.
    pub(crate) fn shapes(&self, batch: usize, point: &DimPoint) -> Result<RowShapes> {
        if self.batch_is_fixed() && batch != self.default_batch() {
            let own = self.default_batch();
            let why = match self
                .inputs
                .iter()
                .find(|i| i.spec.dims.as_ref().and_then(|d| d.first()) == Some(&Dim::Fixed(own)))
            {
                Some(i) => format!("input `{}` has a fixed batch dimension of {own}", i.spec.name),
                None => "the model's inputs carry no batch".to_string(),
            };
            return Err(Error::InvalidInput(format!(
                "{why}; batch size {batch} is not possible (leave --batch-sizes out to run the model's own batch, {own})"
            )));
        }
        let bound = self.bound_symbols(point)?;
        let mut shapes = Vec::with_capacity(self.inputs.len());
        let mut sizes = BTreeMap::new();
        let mut missing = Vec::new();
        for (k, i) in self.inputs.iter().enumerate() {
            let name = &i.spec.name;
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
                            Dim::Dynamic(_) if self.batch.is_batch(k, &i.spec, axis) => Some(batch),
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
            for axis in self.batch.carriers(k, &i.spec, shape.len()) {
                shape[axis] = batch;
            }
            if let Some(dims) = &i.spec.dims {
                for (axis, d) in dims.iter().enumerate() {
                    if let (Dim::Dynamic(sym), Some(&v)) = (d, shape.get(axis))
                        && !self.batch.is_batch(k, &i.spec, axis)
                    {
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
        Err(self.unset(missing))
    }

    /// The error of a row with sizes or shapes missing, listing every dynamic dimension and the
    /// option that sets it.
    fn unset(&self, missing: Vec<Missing>) -> Error {
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
        Error::InvalidInput(format!(
            "{}: {}; the model's dynamic dimensions: {}",
            self.model.display(),
            unset.join("; "),
            dims_listing(&specs, &self.batch).join("; ")
        ))
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

    /// The sizes of the dynamic dimensions other than the batch of a row, as [`Batch::dims`].
    ///
    /// # Errors
    /// As [`Plan::check`].
    pub fn row_dims(&self, batch: usize, point: &DimPoint) -> Result<BTreeMap<String, usize>> {
        Ok(self.shapes(batch, point)?.1)
    }

    /// The inputs of one row: real data cut or repeated along each input's batch axis to
    /// `batch` entries (an input without one as it is), synthetic tensors (the same for the same
    /// row, from a fixed seed) otherwise. Checked against the memory available before anything
    /// is allocated ([`Plan::fits`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] listing every dynamic dimension and the option that sets it when a
    /// size is missing; a fixed batch dimension other than `batch`; sizes that conflict; inputs
    /// larger than the memory available.
    pub fn build(&self, batch: usize, point: &DimPoint) -> Result<Batch> {
        let (shapes, dims) = self.shapes(batch, point)?;
        self.fits_shapes(&[(batch, point, &shapes)])?;
        let mut rng = SplitMix(SplitMix64::new(0x5eed));
        let mut tensors = Vec::with_capacity(shapes.len());
        let mut used = Vec::with_capacity(shapes.len());
        for (k, (i, shape)) in self.inputs.iter().zip(shapes).enumerate() {
            let (tensor, source) = match &i.real {
                Some((t, source)) => {
                    let mut t = t.clone();
                    for axis in self.batch.carriers(k, &i.spec, t.shape().len()) {
                        t = fit_axis(&t, axis, batch, source)?;
                    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::path::Path;

    use infer_core::Dim;

    use super::*;
    use crate::{
        memory::Available,
        testing::{tiny_npy, tiny_onnx_specs},
        workload::{Workload, args::DimArg, args::parse_shape_arg},
    };

    fn plan(model: &str, w: &Workload) -> Result<Plan> {
        w.plan_specs(Path::new(model), &tiny_onnx_specs(model).0, None)
    }

    fn dim(symbol: &str, v: usize) -> Workload {
        Workload { dims: vec![DimArg { symbol: symbol.into(), values: vec![v] }], ..Workload::default() }
    }

    fn shapes(b: &Batch) -> Vec<&[usize]> {
        b.tensors.iter().map(Tensor::shape).collect()
    }

    fn tiny(file: &str) -> String {
        format!("{}/../../fixtures/tiny/{file}", env!("CARGO_MANIFEST_DIR"))
    }

    /// `recurrent`: `input [batch, samples]`, `state [2, batch, 8]`, `gain []`. The state's fixed
    /// 2 is no static batch: each batch size goes to axis 1 of the state, the scalar stays one.
    #[test]
    fn a_recurrent_state_is_batched_along_its_own_axis() {
        let w = dim("samples", 5);
        let p = plan("recurrent", &w).unwrap();
        assert_eq!(p.batch_axes().axes, [Some(0), Some(1), None]);
        assert!(!p.batch_is_fixed() && p.batchable());
        assert_eq!(p.default_batch(), 1);
        for batch in [1, 3] {
            let b = p.build(batch, &w.points()[0]).unwrap();
            assert_eq!(shapes(&b), [&[batch, 5][..], &[2, batch, 8], &[]]);
            assert_eq!(b.dims.into_iter().collect::<Vec<_>>(), [("samples".to_string(), 5)]);
        }
        // --shape gives the batch at the state's batch axis.
        let w = Workload { shapes: vec![parse_shape_arg("state=2x4x8").unwrap()], ..dim("samples", 5) };
        assert_eq!(plan("recurrent", &w).unwrap().default_batch(), 4);
        // The batch is set with --batch-sizes, not --dim.
        let e = plan("recurrent", &dim("batch", 2)).unwrap_err().to_string();
        assert!(e.contains("`batch` is the batch dimension: set it with --batch-sizes"), "{e}");
    }

    /// Real inputs are cut or repeated along each input's batch axis: the state along axis 1.
    #[test]
    fn real_inputs_are_cut_or_repeated_along_their_batch_axis() {
        let files = ["input", "state", "gain"].map(|n| format!("{n}={}", tiny(&format!("recurrent.input_{n}.npy"))));
        let w = Workload { files: files.to_vec(), ..Workload::default() };
        let p = plan("recurrent", &w).unwrap();
        let state = tiny_npy("recurrent.input_state.npy");
        assert_eq!(state.shape(), [2, 2, 8]);
        let entry = |t: &Tensor, direction: usize, b: usize| {
            let batch = t.shape()[1];
            t.as_slice::<f32>().unwrap()[(direction * batch + b) * 8..(direction * batch + b + 1) * 8].to_vec()
        };
        let three = p.build(3, &Vec::new()).unwrap();
        assert_eq!(shapes(&three), [&[3, 5][..], &[2, 3, 8], &[]]);
        for direction in 0..2 {
            assert_eq!(entry(&three.tensors[1], direction, 0), entry(&state, direction, 0));
            assert_eq!(entry(&three.tensors[1], direction, 1), entry(&state, direction, 1));
            assert_eq!(entry(&three.tensors[1], direction, 2), entry(&state, direction, 0), "repeated");
        }
        let one = p.build(1, &Vec::new()).unwrap();
        assert_eq!(entry(&one.tensors[1], 1, 0), entry(&state, 1, 0), "cut");
        assert_eq!(one.tensors[2], tiny_npy("recurrent.input_gain.npy"), "the scalar as given");
        assert_eq!(p.default_batch(), 1);
    }

    /// `time_major`: `x [sequence, batch, 4]`, `bias [batch, 4]`: the batch is named, axis 1 of
    /// `x`; the sequence, axis 0, is a dimension like any other.
    #[test]
    fn a_time_major_input_is_batched_along_axis_one() {
        let w = dim("sequence", 7);
        let p = plan("time_major", &w).unwrap();
        assert_eq!(p.batch_axes().axes, [Some(1), Some(0)]);
        let b = p.build(3, &w.points()[0]).unwrap();
        assert_eq!(shapes(&b), [&[7, 3, 4][..], &[3, 4]]);
        assert_eq!(b.dims.into_iter().collect::<Vec<_>>(), [("sequence".to_string(), 7)]);
        let x = tiny_npy("time_major.input_x.npy");
        let w = Workload { files: vec![format!("x={}", tiny("time_major.input_x.npy"))], ..Workload::default() };
        let b = plan("time_major", &w).unwrap().build(3, &Vec::new()).unwrap();
        assert_eq!(shapes(&b), [&[3, 3, 4][..], &[3, 4]]);
        let got = b.tensors[0].as_slice::<f32>().unwrap();
        let given = x.as_slice::<f32>().unwrap();
        for step in 0..3 {
            assert_eq!(got[step * 12 + 8..step * 12 + 12], given[step * 8..step * 8 + 4], "entry 2 repeats entry 0");
        }
        // --batch-dim makes the sequence the batch.
        let w = Workload { batch_dim: Some("sequence".into()), ..dim("batch", 2) };
        let p = plan("time_major", &w).unwrap();
        assert_eq!(p.batch_axes().axes, [Some(0), None]);
        assert_eq!(shapes(&p.build(5, &w.points()[0]).unwrap()), [&[5, 2, 4][..], &[2, 4]]);
    }

    /// The inputs of a row are checked against the memory available before anything is made;
    /// a hostile size saturates instead of overflowing.
    #[test]
    fn inputs_over_the_memory_available_are_refused_before_they_are_made() {
        let w = dim("samples", 1000);
        let p = plan("recurrent", &w).unwrap();
        let point = &w.points()[0];
        // input [1000, 1000] f32: 3.8 MiB; state [2, 1000, 8]: 62.5 KiB; gain: 4 bytes.
        assert_eq!(p.row_bytes(1000, point).unwrap(), 4_000_000 + 64_000 + 4);
        let (shapes, _) = p.shapes(1000, point).unwrap();
        let small = Available { bytes: 1 << 20, bound: "MemAvailable" };
        let e = p.fits_within(&[(1000, point, &shapes)], &small).unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid input: input `input` f32 [1000, 1000] does not fit in memory: it needs 3.8 MiB (the inputs of \
             this call: 3.9 MiB in all), more than the 1.0 MiB available (MemAvailable); ask for less: a smaller \
             batch than 1000 (--batch-sizes), or --dim samples below 1000"
        );
        assert!(p.fits_within(&[(1000, point, &shapes)], &Available { bytes: 5 << 20, bound: "x" }).is_ok());
        let (one, _) = p.shapes(1, point).unwrap();
        let held = p.fits_within(&[(1000, point, &shapes), (1, point, &one)], &small).unwrap_err().to_string();
        assert!(held.contains("(the inputs held at once (batches of 1000 and 1): 3.9 MiB in all)"), "{held}");
        // A batch whose byte count overflows: refused, nothing allocated.
        let e = p.build(usize::MAX / 2, point).unwrap_err().to_string();
        assert!(e.contains("does not fit in memory: it needs 16.0 EiB"), "{e}");
        assert_eq!(super::super::fits::tensor_bytes(DType::F32, &[usize::MAX, 2]), u64::MAX);
        assert_eq!(super::super::fits::tensor_bytes(DType::F32, &[usize::MAX, 0]), 0);
    }

    /// Models that name no dimension batch axis 0 of each input whose leading dimension is
    /// dynamic; a wholly static model its own batch.
    #[test]
    fn unnamed_and_static_models_batch_as_before() {
        let specs = [
            TensorSpec::new("x", DType::F32, vec![Dim::Dynamic(None), Dim::Fixed(3)]),
            TensorSpec::new("y", DType::F32, vec![Dim::Fixed(4), Dim::Fixed(3)]),
        ];
        let p = Workload::default().plan_specs(Path::new("m"), &specs, None).unwrap();
        assert_eq!((p.default_batch(), p.batch_is_fixed()), (1, false));
        assert_eq!(
            p.build(2, &Vec::new()).unwrap().tensors.iter().map(Tensor::shape).collect::<Vec<_>>(),
            [&[2, 3][..], &[4, 3]]
        );
        let p = plan("fixed_batch", &Workload::default()).unwrap();
        assert_eq!((p.default_batch(), p.batch_is_fixed()), (1, true));
        let e = p.build(2, &Vec::new()).unwrap_err().to_string();
        assert!(e.contains("input `x` has a fixed batch dimension of 1; batch size 2 is not possible"), "{e}");
    }
}
