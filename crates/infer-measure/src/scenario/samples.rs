//! The requests' inputs: a pool of distinct one-item samples, and the batches a server assembles
//! from them by copying each request's entries along each input's batch axis (as a server copies
//! request buffers into one batch tensor), checked against the memory available before anything
//! is allocated ([`Plan::fits`]).

use std::path::Path;

use infer_core::{Error, Result, Tensor, TensorSpec};

use crate::{
    feedback::Feedback,
    workload::{
        BatchAxes, DimPoint, Plan, Workload,
        batch::gather_axis,
        lengths::{Padding, RequestLengths},
    },
};

/// Distinct samples a run's requests cycle through (request `k` carries sample `k % len`).
pub const POOL: usize = 16;

/// One-item samples of every model input, held as one tensor per input with an entry per sample
/// along its batch axis.
#[derive(Debug, Clone)]
pub struct Samples {
    /// Per model input: `len` entries along each batch-carrying axis.
    pool: Vec<Tensor>,
    /// Per model input: the axes that carry the batch (none: the input is fed whole).
    carriers: Vec<Vec<usize>>,
    /// The batch symbol, to split outputs along their own batch axis.
    batch: BatchAxes,
    len: usize,
    dynamic_batch: bool,
    /// With `--lengths`: each request's length, and how a batch is padded and masked.
    lengths: Option<RequestLengths>,
}

impl Samples {
    /// `count` distinct samples of a workload's inputs at the dimension sizes `point`: synthetic
    /// (deterministic values, integers in the plan's ranges) or the entries of its `--input`
    /// files, repeated as needed; a model whose batch is fixed gets one sample, used by every
    /// request. The pool and the largest batch assembled from it, `max_batch`, are checked
    /// against the memory available first.
    ///
    /// # Errors
    /// The errors of [`Plan::build`] (a dynamic dimension without a size, a fixed batch dimension
    /// other than 1, inputs larger than the memory available).
    pub fn from_plan(plan: &Plan, point: &DimPoint, count: usize, max_batch: usize) -> Result<Self> {
        let dynamic_batch = plan.batchable();
        let len = if dynamic_batch { count.max(1) } else { 1 };
        let held = if dynamic_batch { vec![len, max_batch.max(1)] } else { vec![len] };
        plan.fits(&held, point)?;
        let pool = plan.build(len, point)?.tensors;
        let batch = plan.batch_axes().clone();
        let carriers = plan
            .inputs
            .iter()
            .zip(&pool)
            .enumerate()
            .map(|(k, (i, t))| batch.carriers(k, &i.spec, t.shape().len()))
            .collect();
        Ok(Self { pool, carriers, batch, len, dynamic_batch, lengths: None })
    }

    /// `count` distinct synthetic samples for inputs `specs`, their dynamic non-batch dimensions
    /// sized by `fill` in order (as `--dims`).
    ///
    /// # Errors
    /// As [`Samples::from_plan`].
    pub fn synthetic(specs: &[TensorSpec], count: usize, fill: &[usize]) -> Result<Self> {
        let plan = Workload::positional(fill.to_vec()).plan_specs(Path::new("model"), specs, None)?;
        Self::from_plan(&plan, &DimPoint::new(), count, count)
    }

    /// These samples with requests of the lengths `lengths` drew (the pool built at its
    /// [`RequestLengths::point`]): each batch is cut to its padded length and its attention masks
    /// zero the padding ([`RequestLengths::cut`]).
    #[must_use]
    pub fn with_lengths(mut self, lengths: RequestLengths) -> Self {
        self.lengths = Some(lengths);
        self
    }

    /// The requests' lengths, with `--lengths`.
    #[must_use]
    pub fn lengths(&self) -> Option<&RequestLengths> {
        self.lengths.as_ref()
    }

    /// The padding of requests `first..first + count` in one call, with `--lengths`.
    ///
    /// # Errors
    /// As [`RequestLengths::padding`].
    pub fn padding(&self, first: usize, count: usize) -> Result<Option<Padding>> {
        self.lengths.as_ref().map(|l| l.padding(first, count)).transpose()
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

    /// The axes of input `input` that carry the batch (none: it is fed whole).
    #[must_use]
    pub fn carriers(&self, input: usize) -> &[usize] {
        self.carriers.get(input).map_or(&[], Vec::as_slice)
    }

    /// The state fed back (`--feedback`) starts as zeros: every fed input of `plan` that is not
    /// read from a file is zeroed in the pool.
    ///
    /// # Errors
    /// None in practice (zero tensors of shapes already allocated).
    pub(crate) fn start_state(&mut self, plan: &Plan, feedback: &Feedback) -> Result<()> {
        for k in feedback.inputs() {
            if plan.inputs.get(k).is_some_and(|i| i.real.is_none())
                && let Some(t) = self.pool.get_mut(k)
            {
                *t = Tensor::zeros(t.dtype(), t.shape().to_vec())?;
            }
        }
        Ok(())
    }

    /// Whether some input carries the batch, so requests can be batched.
    #[must_use]
    pub fn batchable(&self) -> bool {
        self.dynamic_batch
    }

    /// The inputs of requests `first..first + count` stacked along each input's batch axis (each
    /// request's entries copied once); an input without one as it is. With
    /// [`Samples::with_lengths`], cut to the batch's padded length and masked.
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
        // Wrapping around the pool: request k carries sample k % len.
        let indices: Vec<usize> = (first..first + count).map(|k| k % self.len).collect();
        let batch = self
            .pool
            .iter()
            .zip(&self.carriers)
            .map(|(t, axes)| match axes.split_first() {
                None => Ok(t.clone()),
                Some((&axis, rest)) => {
                    let mut out = gather_axis(t, axis, &indices)?;
                    for &axis in rest {
                        out = gather_axis(&out, axis, &indices)?;
                    }
                    Ok(out)
                }
            })
            .collect::<Result<Vec<Tensor>>>()?;
        match &self.lengths {
            Some(l) => l.cut(batch, first, count),
            None => Ok(batch),
        }
    }

    /// Splits a batch's outputs back into one set per request (the copy a server makes to answer
    /// each request): along each output's batch axis, the axis with the batch symbol in its
    /// description `specs` (by position) where it has one, else axis 0 where its size is
    /// `count`; other outputs are left whole.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] from slicing.
    pub fn split(&self, outputs: &[Tensor], specs: &[TensorSpec], count: usize) -> Result<Vec<Vec<Tensor>>> {
        if count <= 1 {
            return Ok(vec![outputs.to_vec()]);
        }
        let axes: Vec<Option<usize>> =
            outputs.iter().enumerate().map(|(o, t)| self.batch.output_axis(specs.get(o), t.shape(), count)).collect();
        (0..count)
            .map(|k| {
                outputs
                    .iter()
                    .zip(&axes)
                    .map(|(o, axis)| match axis {
                        Some(a) => gather_axis(o, *a, &[k]),
                        None => Ok(o.clone()),
                    })
                    .collect()
            })
            .collect()
    }
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

        let parts = s.split(&b, &[], 6).unwrap();
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

    /// `recurrent` (`input [batch, samples]`, `state [2, batch, 8]`, `gain []`): requests are
    /// stacked along each input's batch axis, the scalar is fed whole, and the outputs split
    /// along their own: `state_out [2, batch, 8]` along axis 1.
    #[test]
    fn a_recurrent_model_batches_and_splits_along_each_batch_axis() {
        let (inputs, outputs) = crate::testing::tiny_onnx_specs("recurrent");
        let s = Samples::synthetic(&inputs, 4, &[5]).unwrap();
        assert!(s.batchable());
        let entry = |t: &Tensor, direction: usize, b: usize| {
            let batch = t.shape()[1];
            t.as_slice::<f32>().unwrap()[(direction * batch + b) * 8..(direction * batch + b + 1) * 8].to_vec()
        };
        let one: Vec<Vec<Tensor>> = (0..4).map(|k| s.batch(k, 1).unwrap()).collect();
        let b = s.batch(3, 3).unwrap();
        assert_eq!(b.iter().map(Tensor::shape).collect::<Vec<_>>(), [&[3, 5][..], &[2, 3, 8], &[]]);
        for (j, k) in [3, 0, 1].into_iter().enumerate() {
            for direction in 0..2 {
                assert_eq!(
                    entry(&b[1], direction, j),
                    entry(&one[k][1], direction, 0),
                    "state entry {j} is sample {k}"
                );
            }
        }
        assert_eq!(b[2], one[0][2], "the scalar is the same for every batch");
        // Outputs as the model gives them: output [batch, 2, 8], state_out [2, batch, 8].
        let output = Tensor::zeros(infer_core::DType::F32, vec![3, 2, 8]).unwrap();
        let parts = s.split(&[output, b[1].clone()], &outputs, 3).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!((parts[1][0].shape(), parts[1][1].shape()), (&[1, 2, 8][..], &[2, 1, 8][..]));
        assert_eq!(entry(&parts[1][1], 1, 0), entry(&one[0][1], 1, 0));
    }
}
