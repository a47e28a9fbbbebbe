//! The dynamic batcher's decision, with Triton Inference Server's semantics
//! (`dynamic_batching { max_queue_delay_microseconds }`, no preferred sizes): a batch runs as soon
//! as `max_batch` requests are queued; otherwise it runs with the requests queued once the oldest
//! of them has waited `timeout` since it entered the queue. A timeout of zero runs whatever is
//! queued whenever the model is free. Kept free of threads and clocks so the rule is tested alone.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How requests are grouped into model calls.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BatchPolicy {
    /// The most requests one call takes (1: no batching, each request its own call).
    pub max_batch: usize,
    /// How long the oldest queued request may wait for a fuller batch.
    pub timeout: Duration,
}

impl BatchPolicy {
    /// One request per call, never waiting.
    pub const NONE: BatchPolicy = BatchPolicy { max_batch: 1, timeout: Duration::ZERO };

    /// Whether requests are grouped at all.
    #[must_use]
    pub fn is_batching(&self) -> bool {
        self.max_batch > 1
    }

    /// How reports name it: `none`, or `dynamic 8 / 2 ms`.
    #[must_use]
    pub fn label(&self) -> String {
        if self.is_batching() {
            format!("dynamic {} / {} ms", self.max_batch, fmt_ms(self.timeout))
        } else {
            "none".into()
        }
    }
}

impl Default for BatchPolicy {
    fn default() -> Self {
        Self::NONE
    }
}

fn fmt_ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if (ms - ms.round()).abs() < 1e-9 { format!("{ms:.0}") } else { format!("{ms}") }
}

/// What the model's worker does next.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    /// Nothing is queued: wait for a request.
    Idle,
    /// Run the oldest `n` queued requests now.
    Run(usize),
    /// Wait for more requests until this time (seconds, the caller's clock), then decide again.
    WaitUntil(f64),
}

/// The decision for a queue of `queued` requests whose oldest entered it at `oldest` (seconds),
/// at time `now`.
#[must_use]
pub fn decide(policy: &BatchPolicy, queued: usize, oldest: Option<f64>, now: f64) -> Decision {
    let Some(oldest) = oldest.filter(|_| queued > 0) else { return Decision::Idle };
    let max = policy.max_batch.max(1);
    if queued >= max {
        return Decision::Run(max);
    }
    let deadline = oldest + policy.timeout.as_secs_f64();
    if now >= deadline { Decision::Run(queued) } else { Decision::WaitUntil(deadline) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_batch: usize, ms: u64) -> BatchPolicy {
        BatchPolicy { max_batch, timeout: Duration::from_millis(ms) }
    }

    #[test]
    fn runs_a_full_batch_at_once_and_a_partial_one_at_the_oldest_timeout() {
        let p = policy(4, 2);
        assert_eq!(decide(&p, 0, None, 1.0), Decision::Idle);
        assert_eq!(decide(&p, 0, Some(0.5), 1.0), Decision::Idle, "an empty queue has no oldest");
        assert_eq!(decide(&p, 4, Some(1.0), 1.0), Decision::Run(4), "full: no waiting");
        assert_eq!(decide(&p, 9, Some(1.0), 1.0), Decision::Run(4), "never more than the maximum");
        match decide(&p, 3, Some(1.0), 1.0005) {
            Decision::WaitUntil(t) => assert!((t - 1.002).abs() < 1e-12, "{t}"),
            d => panic!("{d:?}"),
        }
        assert_eq!(decide(&p, 3, Some(1.0), 1.002), Decision::Run(3), "the oldest waited the timeout");
        assert_eq!(decide(&p, 1, Some(1.0), 5.0), Decision::Run(1));
    }

    #[test]
    fn without_batching_or_timeout_each_request_runs_when_the_model_is_free() {
        assert_eq!(decide(&BatchPolicy::NONE, 5, Some(0.0), 0.0), Decision::Run(1));
        assert_eq!(decide(&policy(8, 0), 3, Some(0.0), 0.0), Decision::Run(3));
        assert_eq!(BatchPolicy::NONE.label(), "none");
        assert_eq!(policy(8, 2).label(), "dynamic 8 / 2 ms");
        assert_eq!(BatchPolicy { max_batch: 4, timeout: Duration::from_micros(500) }.label(), "dynamic 4 / 0.5 ms");
    }
}
