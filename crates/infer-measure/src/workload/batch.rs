//! The batch axis, a named dimension: which symbol is the batch, which axis of each input carries
//! it, and tensors cut, repeated and split along it.
//!
//! The batch symbol is `--batch-dim SYMBOL` where given; else a symbol named as a batch
//! (`batch`, `batch_size`) where an input has one; else the symbol of the leading dynamic
//! dimension of the first input that has one. A batch size applies to every axis of every input
//! that carries the symbol: `state [2, batch, 128]` is batched along axis 1, and its fixed `2` is
//! no static batch; an input without the symbol (a scalar `sr []`) is fed as given, the same for
//! every batch. A model that names no batch symbol (TorchScript without a sidecar: unknown rank;
//! ONNX whose leading dimensions are unnamed) batches axis 0 of each input whose leading
//! dimension is dynamic or unknown.

use infer_core::{Dim, Error, Result, Tensor, TensorData, TensorSpec, tensor::element_count};

/// Which axis of each input carries the batch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchAxes {
    /// The batch dimension's symbol; `None` when the model names none.
    pub symbol: Option<String>,
    /// Per input (in the model's order): the axis that carries the batch, `None` for an input fed
    /// as given.
    pub axes: Vec<Option<usize>>,
}

/// Whether a symbol's name says that it is the batch: `batch`, `batch_size`, `Batch-Size`.
fn names_a_batch(symbol: &str) -> bool {
    let s: String = symbol.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase();
    s == "batch" || s == "batchsize"
}

/// Whether `d` is the dynamic dimension `symbol`.
fn is_symbol(d: &Dim, symbol: &str) -> bool {
    matches!(d, Dim::Dynamic(Some(s)) if s == symbol)
}

impl BatchAxes {
    /// The batch axes of a model with inputs `specs`; `batch_dim` is `--batch-dim`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `batch_dim` names no dimension of any input, listing the
    /// symbols the model has.
    pub fn of(specs: &[TensorSpec], batch_dim: Option<&str>) -> Result<Self> {
        // The model's named dimensions, each once, in input order.
        let mut symbols: Vec<&str> = Vec::new();
        for d in specs.iter().flat_map(|s| s.dims.iter().flatten()) {
            if let Dim::Dynamic(Some(s)) = d
                && !symbols.contains(&s.as_str())
            {
                symbols.push(s);
            }
        }
        let symbol = match batch_dim {
            Some(given) if !symbols.contains(&given) => {
                let known = if symbols.is_empty() { "it names none".to_string() } else { symbols.join(", ") };
                return Err(Error::InvalidInput(format!(
                    "--batch-dim {given}: no input has a dimension `{given}`; the model's named dimensions: {known}"
                )));
            }
            Some(given) => Some(given.to_string()),
            // The leading dimension of the first input whose leading dimension is dynamic, where
            // it is named (unnamed: the model names no batch).
            None => symbols.iter().find(|s| names_a_batch(s)).map(|s| (*s).to_string()).or_else(|| {
                specs
                    .iter()
                    .find_map(|s| match s.dims.as_ref()?.first()? {
                        Dim::Dynamic(name) => Some(name.clone()),
                        Dim::Fixed(_) => None,
                    })
                    .flatten()
            }),
        };
        let axes = specs
            .iter()
            .map(|s| match &s.dims {
                // Unknown rank: the data (or --shape) says; its first axis follows the batch.
                None => Some(0),
                Some(dims) => symbol
                    .as_deref()
                    .and_then(|sym| dims.iter().position(|d| is_symbol(d, sym)))
                    // An unnamed dynamic leading dimension may be the batch, as before names.
                    .or_else(|| matches!(dims.first(), Some(Dim::Dynamic(None))).then_some(0)),
            })
            .collect();
        Ok(Self { symbol, axes })
    }

    /// Whether no input carries a batch: the model runs its own batch only.
    #[must_use]
    pub fn is_fixed(&self) -> bool {
        self.axes.iter().all(Option::is_none)
    }

    /// The axes of input `index` (of rank `rank`, description `spec`) that take the batch size:
    /// every axis with the batch symbol, and the batch axis.
    #[must_use]
    pub fn carriers(&self, index: usize, spec: &TensorSpec, rank: usize) -> Vec<usize> {
        let mut axes: Vec<usize> = match (&self.symbol, &spec.dims) {
            (Some(sym), Some(dims)) if dims.len() == rank => {
                dims.iter().enumerate().filter(|(_, d)| is_symbol(d, sym)).map(|(a, _)| a).collect()
            }
            _ => Vec::new(),
        };
        if let Some(a) = self.axes.get(index).copied().flatten()
            && a < rank
            && !axes.contains(&a)
        {
            axes.push(a);
        }
        axes.sort_unstable();
        axes
    }

    /// Whether axis `axis` of input `index` carries the batch (see [`BatchAxes::carriers`]).
    #[must_use]
    pub fn is_batch(&self, index: usize, spec: &TensorSpec, axis: usize) -> bool {
        let named = self
            .symbol
            .as_deref()
            .is_some_and(|sym| spec.dims.as_ref().and_then(|d| d.get(axis)).is_some_and(|d| is_symbol(d, sym)));
        named || self.axes.get(index).copied().flatten() == Some(axis)
    }

    /// The axis along which an output of a batch of `count` is split per request: the axis with
    /// the batch symbol where its description has one, else axis 0 where its size is `count`;
    /// `None`: the output is the same for every request.
    #[must_use]
    pub fn output_axis(&self, spec: Option<&TensorSpec>, shape: &[usize], count: usize) -> Option<usize> {
        let named = self.symbol.as_deref().and_then(|sym| {
            let dims = spec?.dims.as_ref().filter(|d| d.len() == shape.len())?;
            dims.iter().position(|d| is_symbol(d, sym))
        });
        match named {
            Some(a) => (shape[a] == count).then_some(a),
            None => (shape.first() == Some(&count)).then_some(0),
        }
    }

    /// How `infer info` marks input `index`: `batch axis 1`, or that it has none.
    #[must_use]
    pub fn mark(&self, index: usize) -> String {
        match self.axes.get(index).copied().flatten() {
            Some(a) => format!("batch axis {a}"),
            None if self.is_fixed() => "no batch axis: the model's batch is fixed".into(),
            None => "no batch axis: fed as given at every batch size".into(),
        }
    }

    /// What the batch is, as `infer info` says it.
    #[must_use]
    pub fn describe(&self) -> String {
        match &self.symbol {
            _ if self.is_fixed() => "fixed by the model".into(),
            Some(sym) => format!("the dimension `{sym}` (--batch-dim SYMBOL chooses another)"),
            None => "axis 0 of each input whose leading dimension is dynamic (the model names none)".into(),
        }
    }
}

/// The entries of `t` at positions `indices` along `axis`, in that order (a position may repeat):
/// the cut, repetition and wrap-around of a batch along its own axis, copied run by run.
///
/// # Errors
/// [`Error::InvalidInput`] for an axis beyond the tensor's rank, a position beyond the axis, or a
/// result too large to count.
pub fn gather_axis(t: &Tensor, axis: usize, indices: &[usize]) -> Result<Tensor> {
    let shape = t.shape();
    let Some(&n) = shape.get(axis) else {
        return Err(Error::InvalidInput(format!("axis {axis} is out of range for shape {shape:?}")));
    };
    if let Some(bad) = indices.iter().find(|&&i| i >= n) {
        return Err(Error::InvalidInput(format!("position {bad} is out of range for axis {axis} of {shape:?}")));
    }
    let mut out_shape = shape.to_vec();
    out_shape[axis] = indices.len();
    element_count(&out_shape)
        .ok_or_else(|| Error::InvalidInput(format!("shape {out_shape:?} has too many elements")))?;
    let outer: usize = shape[..axis].iter().product();
    let inner: usize = shape[axis + 1..].iter().product();
    // Consecutive positions are copied as one run.
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for &i in indices {
        match runs.last_mut() {
            Some((start, len)) if *start + *len == i => *len += 1,
            _ => runs.push((i, 1)),
        }
    }
    fn pick<T: Copy>(v: &[T], outer: usize, n: usize, inner: usize, runs: &[(usize, usize)], total: usize) -> Vec<T> {
        let mut out = Vec::with_capacity(total);
        for o in 0..outer {
            for &(start, len) in runs {
                let from = (o * n + start) * inner;
                out.extend_from_slice(&v[from..from + len * inner]);
            }
        }
        out
    }
    let total = outer * indices.len() * inner;
    let data = match t.data() {
        TensorData::F32(v) => TensorData::F32(pick(v, outer, n, inner, &runs, total)),
        TensorData::F16(v) => TensorData::F16(pick(v, outer, n, inner, &runs, total)),
        TensorData::BF16(v) => TensorData::BF16(pick(v, outer, n, inner, &runs, total)),
        TensorData::F64(v) => TensorData::F64(pick(v, outer, n, inner, &runs, total)),
        TensorData::I64(v) => TensorData::I64(pick(v, outer, n, inner, &runs, total)),
        TensorData::I32(v) => TensorData::I32(pick(v, outer, n, inner, &runs, total)),
        TensorData::I8(v) => TensorData::I8(pick(v, outer, n, inner, &runs, total)),
        TensorData::U8(v) => TensorData::U8(pick(v, outer, n, inner, &runs, total)),
        TensorData::Bool(v) => TensorData::Bool(pick(v, outer, n, inner, &runs, total)),
    };
    Tensor::new(out_shape, data)
}

/// `t` with `rows` entries along `axis`: its first ones, or its entries repeated in order.
///
/// # Errors
/// [`Error::InvalidInput`] naming `source` when the axis is empty; those of [`gather_axis`].
pub fn fit_axis(t: &Tensor, axis: usize, rows: usize, source: &str) -> Result<Tensor> {
    let have = t.shape().get(axis).copied().unwrap_or(0);
    if have == rows {
        return Ok(t.clone());
    }
    if have == 0 {
        return Err(Error::InvalidInput(format!(
            "{source} has no entries along its batch axis {axis} to make a batch of {rows} from"
        )));
    }
    let indices: Vec<usize> = (0..rows).map(|i| i % have).collect();
    gather_axis(t, axis, &indices)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use infer_core::DType;

    use super::*;

    fn dynamic(s: &str) -> Dim {
        Dim::Dynamic(Some(s.into()))
    }

    fn recurrent() -> Vec<TensorSpec> {
        vec![
            TensorSpec::new("input", DType::F32, vec![dynamic("batch"), dynamic("samples")]),
            TensorSpec::new("state", DType::F32, vec![Dim::Fixed(2), dynamic("batch"), Dim::Fixed(8)]),
            TensorSpec::new("gain", DType::F32, vec![]),
        ]
    }

    #[test]
    fn the_batch_is_a_symbol_carried_on_each_inputs_own_axis() {
        let b = BatchAxes::of(&recurrent(), None).unwrap();
        assert_eq!(b.symbol.as_deref(), Some("batch"));
        assert_eq!(b.axes, [Some(0), Some(1), None]);
        assert!(!b.is_fixed());
        assert_eq!(b.mark(1), "batch axis 1");
        assert_eq!(b.describe(), "the dimension `batch` (--batch-dim SYMBOL chooses another)");
        assert_eq!(b.mark(2), "no batch axis: fed as given at every batch size");
        // Time-major: the name wins over the leading axis.
        let tm = [TensorSpec::new("x", DType::F32, vec![dynamic("sequence"), dynamic("batch"), Dim::Fixed(4)])];
        assert_eq!(BatchAxes::of(&tm, None).unwrap().axes, [Some(1)]);
        // Otherwise the first input's leading dynamic dimension, or --batch-dim.
        let other = [
            TensorSpec::new("x", DType::F32, vec![dynamic("T"), dynamic("N")]),
            TensorSpec::new("h", DType::F32, vec![Dim::Fixed(1), dynamic("N")]),
        ];
        assert_eq!(BatchAxes::of(&other, None).unwrap().axes, [Some(0), None]);
        let n = BatchAxes::of(&other, Some("N")).unwrap();
        assert_eq!((n.symbol.as_deref(), n.axes.clone()), (Some("N"), vec![Some(1), Some(1)]));
        assert!(n.is_batch(0, &other[0], 1) && !n.is_batch(0, &other[0], 0));
        let e = BatchAxes::of(&other, Some("B")).unwrap_err().to_string();
        assert!(e.contains("--batch-dim B: no input has a dimension `B`; the model's named dimensions: T, N"), "{e}");
    }

    #[test]
    fn models_without_symbols_batch_each_dynamic_leading_axis() {
        let specs = [
            TensorSpec { name: "t".into(), dtype: DType::F32, dims: None },
            TensorSpec::new("x", DType::F32, vec![Dim::Dynamic(None), Dim::Fixed(3)]),
            TensorSpec::new("bias", DType::F32, vec![Dim::Fixed(3)]),
        ];
        let b = BatchAxes::of(&specs, None).unwrap();
        assert_eq!((b.symbol.clone(), b.axes.clone()), (None, vec![Some(0), Some(0), None]));
        let fixed = [TensorSpec::new("x", DType::F32, vec![Dim::Fixed(3), Dim::Fixed(4)])];
        assert!(BatchAxes::of(&fixed, None).unwrap().is_fixed());
    }

    #[test]
    fn outputs_split_along_their_own_batch_axis() {
        let b = BatchAxes::of(&recurrent(), None).unwrap();
        let state_out = TensorSpec::new("state_out", DType::F32, vec![Dim::Fixed(2), dynamic("batch"), Dim::Fixed(8)]);
        assert_eq!(b.output_axis(Some(&state_out), &[2, 3, 8], 3), Some(1));
        assert_eq!(b.output_axis(None, &[3, 5], 3), Some(0), "no description: axis 0 where it matches");
        assert_eq!(b.output_axis(None, &[2, 5], 3), None, "the same for every request");
    }

    #[test]
    fn entries_are_cut_repeated_and_wrapped_along_any_axis() {
        // [2, 3, 2]: along axis 1, entry k holds 10*k (+ the outer index * 100, + the inner index).
        let v: Vec<i64> =
            (0..2).flat_map(|o| (0..3).flat_map(move |k| (0..2).map(move |i| o * 100 + k * 10 + i))).collect();
        let t = Tensor::from_vec(vec![2, 3, 2], v).unwrap();
        let g = gather_axis(&t, 1, &[2, 0]).unwrap();
        assert_eq!(g.shape(), [2, 2, 2]);
        assert_eq!(g.as_slice::<i64>().unwrap(), [20, 21, 0, 1, 120, 121, 100, 101]);
        let cut = fit_axis(&t, 1, 1, "f").unwrap();
        assert_eq!(cut.as_slice::<i64>().unwrap(), [0, 1, 100, 101]);
        let repeated = fit_axis(&t, 1, 4, "f").unwrap();
        assert_eq!(repeated.shape(), [2, 4, 2]);
        assert_eq!(&repeated.as_slice::<i64>().unwrap()[..8], [0, 1, 10, 11, 20, 21, 0, 1]);
        assert_eq!(fit_axis(&t, 1, 3, "f").unwrap(), t);
        assert!(gather_axis(&t, 3, &[0]).unwrap_err().to_string().contains("axis 3 is out of range"));
        assert!(gather_axis(&t, 1, &[3]).unwrap_err().to_string().contains("position 3"));
        let empty = Tensor::from_vec(vec![2, 0], Vec::<f32>::new()).unwrap();
        assert!(fit_axis(&empty, 1, 2, "e.npy").unwrap_err().to_string().contains("e.npy has no entries"));
    }
}
