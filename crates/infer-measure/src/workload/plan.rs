//! A workload checked against a loaded model ([`crate::workload::Workload::plan`]): what each input is
//! made of, and the tensors of each (batch size, dimension sizes) row ([`Plan::build`]).

use std::{collections::BTreeMap, path::PathBuf};

use infer_core::{DType, Dim, Error, Result, Tensor, TensorSpec};
use serde::{Deserialize, Serialize};

use super::{
    DimPoint, dims_listing,
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
    /// `--shape`, the leading size replaced by the batch size where it follows it.
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

    /// Whether the first axis is the batch dimension (dynamic, or the rank is unknown).
    pub(crate) fn follows_batch(&self) -> bool {
        self.spec.dims.as_ref().is_none_or(|d| d.first().is_some_and(Dim::is_dynamic))
    }
}

/// A workload checked against a model: builds each row's input tensors.
#[derive(Debug, Clone)]
pub struct Plan {
    pub(crate) model: PathBuf,
    pub(crate) inputs: Vec<PlannedInput>,
    pub(crate) positional: Vec<usize>,
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn real_rows_are_cut_or_repeated() {
        let t = Tensor::from_vec(vec![3, 2], vec![0i64, 1, 2, 3, 4, 5]).unwrap();
        assert_eq!(fit_rows(&t, 2, "f").unwrap().as_slice::<i64>().unwrap(), [0, 1, 2, 3]);
        assert_eq!(fit_rows(&t, 4, "f").unwrap().as_slice::<i64>().unwrap(), [0, 1, 2, 3, 4, 5, 0, 1]);
        assert_eq!(fit_rows(&t, 3, "f").unwrap(), t);
        let empty = Tensor::from_vec(vec![0, 2], Vec::<i64>::new()).unwrap();
        assert!(fit_rows(&empty, 1, "f.npy").unwrap_err().to_string().contains("f.npy has no rows"));
    }
}
