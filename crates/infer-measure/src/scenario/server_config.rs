//! What a server run is asked: when it stops ([`ServerStop`]), its arrivals, batching, warm-up
//! and the least schedule before a verdict ([`ServerConfig`]), and the defaults of those.
//! [`super::server`] runs it; the generator and the worker read it.

use std::time::Duration;

use super::{arrivals::Arrivals, batcher::BatchPolicy, early_stopping::Rule};
use crate::{confidence::CiTarget, timing::Warmup, workload::args::FeedbackPair};

/// When a server run stops sending.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ServerStop {
    /// After this many requests.
    Requests(usize),
    /// Requests scheduled within this time from the start (at least one).
    Duration(Duration),
    /// As soon as the early-stopping rule decides whether `rule.percentile` of the latency is
    /// within `bound`; at the latest after `max_requests` or `max_time` of schedule (then the
    /// verdict is [`Undecided`](super::early_stopping::Verdict::Undecided)).
    EarlyStopping {
        /// The latency bound.
        bound: Duration,
        /// Percentile and confidence.
        rule: Rule,
        /// Cap on requests.
        max_requests: usize,
        /// Cap on the scheduled span.
        max_time: Duration,
    },
    /// Once the 95% interval of the latency's median (and p99 where asked) is within the target,
    /// after the minimum time of schedule; at the latest after the target's `max_time` of
    /// schedule. The requests already sent are answered.
    Confidence(CiTarget),
}

impl ServerStop {
    /// How reports describe it.
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            ServerStop::Requests(n) => format!("{n} requests"),
            ServerStop::Duration(d) => format!("requests scheduled within {} s", fmt_num(d.as_secs_f64())),
            ServerStop::EarlyStopping { bound, rule, max_requests, max_time } => {
                let requests =
                    if *max_requests == usize::MAX { String::new() } else { format!("{max_requests} requests or ") };
                format!(
                    "early stopping on p{} ≤ {} ms at {}% confidence (at most {requests}{} s of schedule)",
                    fmt_pct(rule.percentile),
                    fmt_num(bound.as_secs_f64() * 1e3),
                    fmt_pct(rule.confidence),
                    fmt_num(max_time.as_secs_f64())
                )
            }
            ServerStop::Confidence(t) => format!(
                "until the 95% interval of the latency is within {} (at most {} s of schedule)",
                t.label(),
                fmt_num(t.max_time.as_secs_f64())
            ),
        }
    }
}

/// A fraction as a percentage without trailing zeros (0.99 → 99, 0.995 → 99.5).
#[must_use]
pub fn fmt_pct(fraction: f64) -> String {
    fmt_num(fraction * 100.0)
}

/// A number with at most three decimals and no trailing zeros (500.0 → 500, 2.5 → 2.5).
#[must_use]
pub fn fmt_num(v: f64) -> String {
    let s = format!("{v:.3}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

/// How to run the server scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Requests per second asked (`None`: a trace replayed as recorded).
    pub rate: Option<f64>,
    /// The arrival process.
    pub arrivals: Arrivals,
    /// Seed of the Poisson process.
    pub seed: u64,
    /// Dynamic batching.
    pub batching: BatchPolicy,
    /// When to stop.
    pub stop: ServerStop,
    /// Warm-up before the run, at batch 1 (then one call at each batch size up to the maximum).
    pub warmup: Warmup,
    /// The least schedule before a verdict (early stopping, a confidence target): the run goes on
    /// until a request scheduled this late or later was sent. A run stopped after a count or a
    /// duration shorter than this is flagged as a burst.
    pub min_time: Duration,
    /// The state fed back from request to request (`--feedback`; empty: independent requests).
    /// [`super::run`] sets it from the workload.
    pub feedback: Vec<FeedbackPair>,
    /// With `feedback`: the client streams, each carrying its own state (request `k` is stream
    /// `k mod streams`'s; see `streams`).
    pub streams: usize,
}

/// The seed of the Poisson arrivals unless told otherwise.
pub const DEFAULT_SEED: u64 = 0x5eed_2026;

/// The least schedule of a run before a verdict unless told otherwise (`--min-probe-time`).
pub const MIN_PROBE_TIME: Duration = Duration::from_secs(2);
