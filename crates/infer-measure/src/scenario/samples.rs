//! The requests' inputs: a pool of distinct one-item samples, and the batches a server assembles
//! from them by copying each request's rows along the batch dimension (as a server copies request
//! buffers into one batch tensor).

use std::path::Path;

use infer_core::{Error, Result, Tensor, TensorSpec};

use crate::workload::{DimPoint, Plan, Workload};

/// Distinct samples a run's requests cycle through (request `k` carries sample `k % len`).
pub const POOL: usize = 16;

/// One-item samples of every model input, held as one tensor per input with a row per sample.
#[derive(Debug, Clone)]
pub struct Samples {
    /// Per model input: `len` rows.
    pool: Vec<Tensor>,
    len: usize,
    dynamic_batch: bool,
}

impl Samples {
    /// `count` distinct samples of a workload's inputs at the dimension sizes `point`: synthetic
    /// (deterministic values, integers in the plan's ranges) or the rows of its `--input` files,
    /// repeated as needed; a model whose batch dimension is fixed gets one sample, used by every
    /// request.
    ///
    /// # Errors
    /// The errors of [`Plan::build`] (a dynamic dimension without a size, a fixed batch dimension
    /// other than 1, a shape too large).
    pub fn from_plan(plan: &Plan, point: &DimPoint, count: usize) -> Result<Self> {
        let dynamic_batch = plan.batchable();
        let len = if dynamic_batch { count.max(1) } else { 1 };
        let pool = plan.build(len, point)?.tensors;
        Ok(Self { pool, len, dynamic_batch })
    }

    /// `count` distinct synthetic samples for inputs `specs`, their dynamic non-batch dimensions
    /// sized by `fill` in order (as `--dims`).
    ///
    /// # Errors
    /// As [`Samples::from_plan`].
    pub fn synthetic(specs: &[TensorSpec], count: usize, fill: &[usize]) -> Result<Self> {
        let plan = Workload::positional(fill.to_vec()).plan_specs(Path::new("model"), specs, None)?;
        Self::from_plan(&plan, &DimPoint::new(), count)
    }

    /// Distinct samples in the pool.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the pool is empty (never: at least one sample).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether every input has a dynamic batch dimension, so requests can be batched.
    #[must_use]
    pub fn batchable(&self) -> bool {
        self.dynamic_batch
    }

    /// The inputs of requests `first..first + count` stacked along the batch dimension (each
    /// request's rows copied once).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `count` is 0, or above 1 for a model without a dynamic batch.
    pub fn batch(&self, first: usize, count: usize) -> Result<Vec<Tensor>> {
        if count == 0 || (count > 1 && !self.dynamic_batch) {
            return Err(Error::InvalidInput(format!(
                "cannot form a batch of {count}: {}",
                if count == 0 { "a batch needs a request" } else { "the model's batch dimension is fixed" }
            )));
        }
        let start = first % self.len;
        self.pool
            .iter()
            .map(|t| {
                if start + count <= self.len {
                    return t.slice_rows(start, start + count);
                }
                // Wrapping around the pool: whole passes, then the rest.
                let mut parts = Vec::new();
                let (mut at, mut left) = (start, count);
                while left > 0 {
                    let take = left.min(self.len - at);
                    parts.push(t.slice_rows(at, at + take)?);
                    left -= take;
                    at = 0;
                }
                Tensor::concat_rows(&parts)
            })
            .collect()
    }
}

/// Splits a batch's outputs back into one set per request (the copy a server makes to answer each
/// request). Outputs without a leading batch dimension of `count` are left whole.
///
/// # Errors
/// [`Error::InvalidInput`] from slicing.
pub fn split_outputs(outputs: &[Tensor], count: usize) -> Result<Vec<Vec<Tensor>>> {
    if count <= 1 {
        return Ok(vec![outputs.to_vec()]);
    }
    (0..count)
        .map(|k| {
            outputs
                .iter()
                .map(|o| if o.shape().first() == Some(&count) { o.slice_rows(k, k + 1) } else { Ok(o.clone()) })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use infer_core::{DType, Dim};

    use super::*;

    fn spec(batch: Dim) -> TensorSpec {
        TensorSpec::new("x", DType::F32, vec![batch, Dim::Fixed(3)])
    }

    #[test]
    fn batches_are_the_requests_rows_in_order_wrapping_the_pool() {
        let s = Samples::synthetic(&[spec(Dim::Dynamic(None))], 4, &[]).unwrap();
        assert_eq!((s.len(), s.batchable()), (4, true));
        let rows: Vec<Vec<f32>> =
            (0..4).map(|k| s.batch(k, 1).unwrap()[0].as_slice::<f32>().unwrap().to_vec()).collect();
        assert_ne!(rows[0], rows[1], "distinct samples");
        let b = s.batch(3, 6).unwrap();
        assert_eq!(b[0].shape(), &[6, 3]);
        let got = b[0].as_slice::<f32>().unwrap();
        for (i, k) in [3, 0, 1, 2, 3, 0].into_iter().enumerate() {
            assert_eq!(&got[i * 3..i * 3 + 3], rows[k].as_slice(), "row {i} is sample {k}");
        }
        assert_eq!(s.batch(9, 1).unwrap()[0].as_slice::<f32>().unwrap(), rows[1].as_slice());
        assert!(s.batch(0, 0).is_err());

        let parts = split_outputs(&b, 6).unwrap();
        assert_eq!(parts.len(), 6);
        assert_eq!(parts[1][0].as_slice::<f32>().unwrap(), rows[0].as_slice());
    }

    #[test]
    fn a_fixed_batch_model_has_one_sample_and_no_batches() {
        let s = Samples::synthetic(&[spec(Dim::Fixed(1))], 16, &[]).unwrap();
        assert_eq!((s.len(), s.batchable()), (1, false));
        assert_eq!(s.batch(5, 1).unwrap()[0].shape(), &[1, 3]);
        assert!(s.batch(0, 2).unwrap_err().to_string().contains("fixed"));
    }
}
