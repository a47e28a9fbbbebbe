//! Client streams of the server scenario with the state fed back (`--scenario server --streams N
//! --feedback OUTPUT=INPUT`): request `k` belongs to stream `k mod N`, and is fed the state its
//! stream's previous request returned (its first, the pool's: zeros, or the `--input` data).
//!
//! The worker serves requests in arrival order, one call after the other, so a stream's request
//! runs after its previous one has returned; a call of the dynamic batcher holds consecutive
//! requests, so with at most `N` of them no two are of one stream (the command line refuses a
//! larger batch). The states of a call's requests are stacked along each fed input's batch axis
//! as the requests' other inputs are (counted in the call's assembly), and each request's fed
//! outputs, split along their batch axis as every answer is, become its stream's state.

use infer_core::{Error, Result, SessionInfo, Tensor};

use super::samples::Samples;
use crate::{
    feedback::{Feedback, concat_axis},
    workload::{args::FeedbackPair, batch::gather_axis},
};

/// Every stream's state.
#[derive(Debug)]
pub(super) struct Streams {
    feedback: Feedback,
    /// Per stream: its state, one tensor per pair, one request's worth; `None` before its first
    /// request has returned.
    states: Vec<Option<Vec<Tensor>>>,
}

impl Streams {
    /// `count` streams carrying `pairs`, resolved against the model's `info`; `None` when no
    /// state is fed back.
    ///
    /// # Errors
    /// The errors of [`Feedback::resolve`]; no stream.
    pub(super) fn new(pairs: &[FeedbackPair], count: usize, info: &SessionInfo) -> Result<Option<Self>> {
        if pairs.is_empty() {
            return Ok(None);
        }
        if count == 0 {
            return Err(Error::InvalidInput("--streams must be at least 1".into()));
        }
        let feedback = Feedback::resolve(pairs, info)?;
        Ok(Some(Self { feedback, states: vec![None; count] }))
    }

    /// How many streams there are.
    pub(super) fn count(&self) -> usize {
        self.states.len()
    }

    /// Replaces the fed inputs of `inputs`, the call of requests `first..first + count`, with
    /// their streams' states.
    ///
    /// # Errors
    /// A fed input without a batch axis in a call of several requests; slicing errors.
    pub(super) fn apply(&self, inputs: &mut [Tensor], first: usize, count: usize, samples: &Samples) -> Result<()> {
        let n = self.states.len();
        let stream = |j: usize| (first + j) % n;
        if (0..count).all(|j| self.states[stream(j)].is_none()) {
            return Ok(());
        }
        for (p, input) in self.feedback.inputs().enumerate() {
            let Some(slot) = inputs.get_mut(input) else { continue };
            if count == 1 {
                if let Some(state) = &self.states[stream(0)] {
                    *slot = state[p].clone();
                }
                continue;
            }
            let Some(&axis) = samples.carriers(input).first() else {
                return Err(Error::InvalidInput(format!(
                    "--feedback {}: input `{}` has no batch axis, so the states of several streams cannot be \
                     stacked into one call: leave --dynamic-batch out",
                    self.feedback.pairs()[p],
                    self.feedback.pairs()[p].input
                )));
            };
            let parts = (0..count)
                .map(|j| match &self.states[stream(j)] {
                    Some(state) => Ok(state[p].clone()),
                    None => gather_axis(slot, axis, &[j]),
                })
                .collect::<Result<Vec<Tensor>>>()?;
            *slot = concat_axis(&parts, axis)?;
        }
        Ok(())
    }

    /// Keeps each request's fed outputs as its stream's state: `answers`, the call's outputs split
    /// per request, of requests `first..`; `outputs` and `inputs` are the whole call's, checked
    /// first ([`Feedback::check`]).
    ///
    /// # Errors
    /// A fed output whose shape or dtype differs from the input it feeds.
    pub(super) fn keep(
        &mut self,
        outputs: &[Tensor],
        inputs: &[Tensor],
        answers: Vec<Vec<Tensor>>,
        first: usize,
    ) -> Result<()> {
        self.feedback.check(outputs, inputs)?;
        let n = self.states.len();
        for (j, answer) in answers.into_iter().enumerate() {
            let state: Vec<Tensor> = self.feedback.outputs().filter_map(|o| answer.get(o).cloned()).collect();
            self.states[(first + j) % n] = Some(state);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::cast_precision_loss)]
    use std::time::Duration;

    use infer_core::{DType, Device, Dim, Session, TensorSpec};

    use super::*;
    use crate::{
        scenario::{
            arrivals::Arrivals,
            batcher::BatchPolicy,
            server::{ServerConfig, ServerStop, run_server},
        },
        timing::Warmup,
        workload::args::parse_feedback,
    };

    /// `state_out = state + 1`, recording every call's state rows.
    struct Counter {
        info: SessionInfo,
        seen: Vec<Vec<f32>>,
    }

    impl Session for Counter {
        fn info(&self) -> &SessionInfo {
            &self.info
        }
        fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
            let state = inputs[1].as_slice::<f32>()?.to_vec();
            self.seen.push(state.clone());
            let next = Tensor::from_vec(inputs[1].shape().to_vec(), state.iter().map(|v| v + 1.0).collect())?;
            Ok(vec![inputs[0].clone(), next])
        }
    }

    fn counter() -> Counter {
        let spec = |name: &str, n: usize| TensorSpec::new(name, DType::F32, vec![Dim::Dynamic(None), Dim::Fixed(n)]);
        Counter {
            info: SessionInfo::new(
                vec![spec("x", 2), spec("state", 1)],
                vec![spec("y", 2), spec("state_out", 1)],
                Device::Cpu,
            ),
            seen: Vec::new(),
        }
    }

    /// Each request is fed its stream's previous answer: request `k`'s state is request
    /// `k - streams`'s plus one, batched or not; the first of each stream gets the pool's.
    #[test]
    fn each_stream_carries_its_own_state() {
        for max_batch in [1, 3] {
            let mut session = counter();
            let mut samples = Samples::synthetic(session.inputs(), 4, &[]).unwrap();
            let info = session.info().clone();
            let pairs = vec![parse_feedback("state_out=state").unwrap()];
            let plan =
                crate::workload::Workload::default().plan_specs(std::path::Path::new("m"), &info.inputs, None).unwrap();
            samples.start_state(&plan, &Feedback::resolve(&pairs, &info).unwrap()).unwrap();
            let config = ServerConfig {
                rate: Some(2000.0),
                arrivals: Arrivals::Constant,
                seed: 1,
                batching: BatchPolicy { max_batch, timeout: Duration::from_millis(2) },
                stop: ServerStop::Requests(30),
                warmup: Warmup::Count(1),
                min_time: Duration::ZERO,
                feedback: pairs,
                streams: 3,
            };
            let report = run_server(&mut session, &samples, &config).unwrap();
            assert_eq!(report.streams, Some(3));
            // Warm-up: one call at batch 1, then one at each size up to the largest.
            let states: Vec<f32> = session.seen[max_batch..].iter().flatten().copied().collect();
            assert_eq!(states.len(), 30, "{:?}", session.seen);
            for (k, &s) in states.iter().enumerate() {
                assert_eq!(s, (k / 3) as f32, "request {k} (batch up to {max_batch}): {states:?}");
            }
        }
    }
}
