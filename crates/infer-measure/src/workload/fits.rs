//! The one check between sizes and tensors: the bytes the inputs of a call need (every input of
//! the largest batch and dimension sizes asked, and of every tensor held beside it), against the
//! memory available ([`crate::memory::available`]: `MemAvailable`, or what is left under
//! `--memory-limit`), before anything is allocated. [`Plan::build`] makes every row through it,
//! the scenarios' sample pools and assembled batches ([`crate::scenario::samples`]) ask it first,
//! and `infer optimize-batch` asks it before starting a probe. Sizes come from the command line
//! and from files, so every product saturates instead of overflowing.

use infer_core::{DType, Error, Result};

use super::{DimPoint, plan::Plan};
use crate::memory::{Available, available, human_bytes};

/// The bytes of a tensor of `dtype` and `shape`, saturating at `u64::MAX`.
#[must_use]
pub fn tensor_bytes(dtype: DType, shape: &[usize]) -> u64 {
    let item = u64::try_from(dtype.size_of()).unwrap_or(u64::MAX);
    shape.iter().fold(item, |acc, &d| acc.saturating_mul(u64::try_from(d).unwrap_or(u64::MAX)))
}

/// The concrete shapes of one row's inputs, with its batch size and dimension sizes.
pub(crate) type Row<'a> = (usize, &'a DimPoint, &'a [Vec<usize>]);

impl Plan {
    /// The element type input `k` is fed: the file's where it is read from one.
    fn fed_dtype(&self, k: usize) -> DType {
        let i = &self.inputs[k];
        i.real.as_ref().map_or(i.dtype, |(t, _)| t.dtype())
    }

    /// The bytes every input of a row takes, in all (saturating).
    ///
    /// # Errors
    /// The errors of [`Plan::check`] (a size missing, a fixed batch other than `batch`).
    pub fn row_bytes(&self, batch: usize, point: &DimPoint) -> Result<u64> {
        let (shapes, _) = self.shapes(batch, point)?;
        Ok(self.bytes_of(&shapes))
    }

    fn bytes_of(&self, shapes: &[Vec<usize>]) -> u64 {
        shapes.iter().enumerate().map(|(k, s)| tensor_bytes(self.fed_dtype(k), s)).fold(0, u64::saturating_add)
    }

    /// Checks, before anything is allocated, that the inputs of the rows of batch sizes
    /// `batches` at `point`, held at once (a scenario's pool of samples and the largest batch
    /// assembled from it; one row for [`Plan::build`]), fit in the memory available.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the largest input, its shape and dtype, the bytes it and
    /// all the inputs need, the bytes available and how to ask for less; the errors of
    /// [`Plan::check`].
    pub fn fits(&self, batches: &[usize], point: &DimPoint) -> Result<()> {
        let shapes = batches.iter().map(|&b| self.shapes(b, point).map(|s| s.0)).collect::<Result<Vec<_>>>()?;
        let rows: Vec<Row<'_>> = batches.iter().zip(&shapes).map(|(&b, s)| (b, point, s.as_slice())).collect();
        self.fits_shapes(&rows)
    }

    /// [`Plan::fits`] for rows whose shapes are known, against [`available`] memory.
    pub(crate) fn fits_shapes(&self, rows: &[Row<'_>]) -> Result<()> {
        match available() {
            Some(memory) => self.fits_within(rows, &memory),
            None => Ok(()),
        }
    }

    /// [`Plan::fits`] against `memory`.
    pub(crate) fn fits_within(&self, rows: &[Row<'_>], memory: &Available) -> Result<()> {
        let total = rows.iter().map(|(_, _, shapes)| self.bytes_of(shapes)).fold(0, u64::saturating_add);
        if total <= memory.bytes {
            return Ok(());
        }
        // The largest input of the row that needs the most names what to ask less of.
        let Some(&(batch, point, shapes)) = rows.iter().max_by_key(|(_, _, s)| self.bytes_of(s)) else {
            return Ok(());
        };
        let Some((k, shape, bytes)) = shapes
            .iter()
            .enumerate()
            .map(|(k, s)| (k, s, tensor_bytes(self.fed_dtype(k), s)))
            .max_by_key(|&(_, _, b)| b)
        else {
            return Ok(());
        };
        let held = match rows {
            [_] => "the inputs of this call".to_string(),
            _ => {
                let sizes: Vec<String> = rows.iter().map(|(b, _, _)| b.to_string()).collect();
                format!("the inputs held at once (batches of {})", sizes.join(" and "))
            }
        };
        let name = &self.inputs[k].spec.name;
        let ask = match self.ask_less(k, batch, point) {
            Some(ways) => format!("ask for less: {ways}"),
            None => "the model's own sizes are more than this machine has".into(),
        };
        Err(Error::InvalidInput(format!(
            "input `{name}` {} {shape:?} does not fit in memory: it needs {} ({held}: {} in all), more than the {} \
             available ({}); {ask}",
            self.fed_dtype(k),
            human_bytes(bytes),
            human_bytes(total),
            human_bytes(memory.bytes),
            memory.bound,
        )))
    }

    /// The options that would make input `k` of a row of `batch` at `point` smaller, if any.
    fn ask_less(&self, k: usize, batch: usize, point: &DimPoint) -> Option<String> {
        let i = &self.inputs[k];
        let mut ways = Vec::new();
        let rank = i.real.as_ref().map(|(t, _)| t.shape().len()).or(i.shape.as_ref().map(Vec::len));
        let rank = rank.or(i.spec.dims.as_ref().map(Vec::len)).unwrap_or(0);
        if batch > 1 && !self.batch.carriers(k, &i.spec, rank).is_empty() {
            ways.push(format!("a smaller batch than {batch} (--batch-sizes)"));
        }
        if let Some((_, source)) = &i.real {
            ways.push(format!("less data in {source}"));
        } else if i.shape.is_some() {
            ways.push(format!("a smaller --shape {}", i.spec.name));
        } else {
            for d in i.spec.dims.iter().flatten() {
                if let infer_core::Dim::Dynamic(Some(sym)) = d
                    && let Some((_, v)) = point.iter().find(|(s, _)| s == sym)
                {
                    ways.push(format!("--dim {sym} below {v}"));
                }
            }
            if ways.is_empty() && !self.positional.is_empty() {
                ways.push("smaller --dims".into());
            }
        }
        (!ways.is_empty()).then(|| ways.join(", or "))
    }
}
