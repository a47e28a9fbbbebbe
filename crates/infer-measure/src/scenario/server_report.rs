//! What a server run answers ([`ServerReport`]): the settings it ran with, the accounting, the
//! analysis of every request and call, the early-stopping verdict ([`EarlyStoppingReport`]) and the
//! confidence reached.

use serde::{Deserialize, Serialize};

use super::{
    analysis::{Analysis, BatchRecord, RequestRecord},
    early_stopping::Verdict,
};
use crate::{confidence::Convergence, workload::lengths::PaddingFigures};

/// The early-stopping outcome of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EarlyStoppingReport {
    /// The latency bound, ms.
    pub bound_ms: f64,
    /// The percentile, as a fraction.
    pub percentile: f64,
    /// Confidence of the verdict.
    pub confidence: f64,
    /// Pass, fail or undecided.
    pub verdict: Verdict,
    /// Requests judged: those answered, and those still queued but already past the bound.
    pub judged: usize,
    /// Of them, over the bound.
    pub over: usize,
    /// LoadGen's early-stopping estimate of the percentile from the answered requests, ms.
    pub estimate_ms: Option<f64>,
    /// The fewest requests judged before any verdict: those a pass needs with none over the bound.
    #[serde(default)]
    pub min_requests: u64,
}

/// The outcome of a server run, raw records included.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerReport {
    /// The arrival process (`poisson`, `constant`, `replay FILE`).
    pub arrivals: String,
    /// Seed of the Poisson process.
    pub seed: u64,
    /// Requests per second asked (`None`: a trace as recorded).
    pub asked_rate: Option<f64>,
    /// The most requests per call (1: no batching).
    pub max_batch: usize,
    /// The dynamic batcher's timeout, ms.
    pub batch_timeout_ms: f64,
    /// What ended the run.
    pub stop: String,
    /// Warm-up calls at batch 1 before the run.
    pub warmup_iterations: usize,
    /// For a replayed trace: passes over it.
    pub trace_passes: Option<usize>,
    /// Requests sent but not answered because the early-stopping verdict came first.
    pub unserved: usize,
    /// Requests the generator sent: the requests answered plus the unserved ones.
    #[serde(default)]
    pub sent: usize,
    /// The run's span of schedule: the scheduled arrival of the last request sent, seconds from
    /// the start of the run.
    #[serde(default)]
    pub duration_s: f64,
    /// The least schedule before a verdict ([`ServerConfig::min_time`](super::server_config::ServerConfig::min_time)), seconds.
    #[serde(default)]
    pub min_time_s: f64,
    /// Latency, queue, compute, batches, generator and queueing figures.
    #[serde(flatten)]
    pub analysis: Analysis,
    /// The early-stopping outcome, when the run stopped by it.
    pub early_stopping: Option<EarlyStoppingReport>,
    /// With a confidence target: whether the latency's interval reached it, and the schedule time
    /// it took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convergence: Option<Convergence>,
    /// The generator kept to the schedule within the margin: the run measured the load asked.
    pub valid: bool,
    /// Queueing did not grow: the model keeps up with this load.
    pub sustainable: bool,
    /// Why the run is invalid or not sustainable, in words.
    pub warnings: Vec<String>,
    /// With the state fed back (`--feedback`): the client streams, each carrying its own state
    /// from request to request; absent when every request was independent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streams: Option<usize>,
    /// Every request (ms since the start of the run).
    pub records: Vec<RequestRecord>,
    /// Every model call.
    pub batches: Vec<BatchRecord>,
    /// With `--lengths`: the padding waste, useful tokens/s and items/s of the answered requests
    /// (per second from the first scheduled arrival to the last answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub padding: Option<PaddingFigures>,
}
