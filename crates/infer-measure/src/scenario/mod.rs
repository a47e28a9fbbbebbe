//! Serving scenarios in MLPerf LoadGen's vocabulary (see `docs/scenarios.md`):
//!
//! - **single-stream**: one request at a time, the next sent when the last is answered (the
//!   closed loop of `infer bench`);
//! - **offline**: every sample available at once, only the throughput counts, at the best batch;
//! - **server**: requests arrive open-loop at a rate (Poisson, constant, or a replayed trace),
//!   latency counted from each request's scheduled arrival, optionally with a dynamic batcher;
//!   and the search for the highest rate whose latency percentile stays within a bound.
//!
//! [`run`] takes a loaded session and a [`ScenarioSpec`] and returns a serializable
//! [`ScenarioResult`]; [`measure`] loads the model first and wraps the result in a
//! [`ScenarioReport`] with the environment, which is what `infer bench --scenario … --json` writes
//! (so a parent process can run each configuration in a child and read the file back).
//!
//! ```
//! use infer_measure::scenario::{arrivals::Arrivals, arrivals::Schedule};
//!
//! // A Poisson process at 50 requests per second, seeded: the same schedule on every machine.
//! let gaps = Arrivals::Poisson.gaps(Some(50.0), 7)?;
//! let first: Vec<f64> = Schedule::new(gaps).take(3).collect();
//! assert!(first[0] > 0.0 && first[0] < first[1] && first[1] < first[2]);
//! # Ok::<(), infer_core::Error>(())
//! ```

pub mod analysis;
pub mod arrivals;
pub mod batcher;
pub mod early_stopping;
pub mod generator;
pub mod offline;
pub mod samples;
pub mod search;
pub mod server;
mod server_config;
mod server_report;
pub mod stall;
mod streams;
mod worker;

use std::{
    path::Path,
    sync::{Arc, atomic::AtomicU64},
    time::Instant,
};

use crate::{stats::Sample, stats::Summary};
use indicatif::ProgressBar;
use infer_core::{Backend, Device, Error, LoadOptions, Result, Session};
use serde::{Deserialize, Serialize};

use crate::{
    environment::Environment,
    feedback::Feedback,
    host::{
        Host, HostEvidence, HostOptions, RowEnergy,
        background::{BackgroundWatch, Counted},
    },
    timing::{BenchConfig, time_session},
    workload::{
        Workload,
        lengths::{DRAWS_CYCLED, Lengths, RequestLengths},
    },
};
use early_stopping::{EarlyStopping, Rule};
use offline::{OfflineConfig, OfflineReport, run_offline};
use samples::Samples;
use search::{SearchConfig, SearchReport, find_max_rate};
use server::{ServerConfig, ServerReport, run_server};

/// The scenario names of the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScenarioKind {
    /// One request at a time, closed loop.
    SingleStream,
    /// All samples at once, throughput only.
    Offline,
    /// Open-loop arrivals at a rate.
    Server,
}

impl std::str::FromStr for ScenarioKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "single-stream" | "singlestream" => Ok(ScenarioKind::SingleStream),
            "offline" => Ok(ScenarioKind::Offline),
            "server" => Ok(ScenarioKind::Server),
            _ => Err(format!("invalid scenario `{s}`: expected single-stream, offline or server")),
        }
    }
}

impl std::fmt::Display for ScenarioKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ScenarioKind::SingleStream => "single-stream",
            ScenarioKind::Offline => "offline",
            ScenarioKind::Server => "server",
        })
    }
}

/// A scenario and its settings.
#[derive(Debug, Clone, PartialEq)]
pub enum Scenario {
    /// Closed loop at batch 1.
    SingleStream(BenchConfig),
    /// All samples at once.
    Offline(OfflineConfig),
    /// One open-loop run.
    Server(ServerConfig),
    /// The highest rate within a latency bound.
    FindMaxRate(SearchConfig),
}

impl Scenario {
    /// The largest batch the scenario assembles from its samples.
    #[must_use]
    pub fn max_batch(&self) -> usize {
        match self {
            Scenario::SingleStream(_) => 1,
            Scenario::Offline(c) => c.batch_sizes.iter().copied().filter(|&b| b <= c.samples).max().unwrap_or(1),
            Scenario::Server(c) => c.batching.max_batch,
            Scenario::FindMaxRate(c) => c.server.batching.max_batch,
        }
    }
}

/// What [`run`] does.
#[derive(Debug, Clone, PartialEq)]
pub struct ScenarioSpec {
    /// The scenario.
    pub scenario: Scenario,
    /// What the requests' inputs are made of (one shape: no `--dim` list).
    pub workload: Workload,
    /// Distinct samples the requests cycle through.
    pub pool: usize,
    /// How the host is watched during the run (evidence and energy, [`crate::host`]).
    pub host: HostOptions,
    /// `--lengths`: a length drawn per sample or request, batches padded per `--pad-to`.
    pub lengths: Option<Lengths>,
}

/// The single-stream outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SingleStreamReport {
    /// Latency of one request, ms.
    pub latency_ms: Summary,
    /// Requests per second (1000 / mean latency).
    pub throughput_per_s: f64,
    /// Warm-up calls.
    pub warmup_iterations: usize,
    /// LoadGen's early-stopping estimate of the 90th percentile (its single-stream metric), ms.
    pub p90_estimate_ms: Option<f64>,
    /// The same for the 99th percentile, ms.
    pub p99_estimate_ms: Option<f64>,
    /// Every latency, ms, in order.
    pub samples_ms: Vec<f64>,
}

/// The outcome of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "scenario", content = "result", rename_all = "kebab-case")]
pub enum ScenarioResult {
    /// Closed loop at batch 1.
    SingleStream(SingleStreamReport),
    /// All samples at once.
    Offline(OfflineReport),
    /// One open-loop run.
    Server(Box<ServerReport>),
    /// The search for the highest rate.
    FindMaxRate(Box<SearchReport>),
}

/// Version of the [`ScenarioReport`] JSON layout.
pub const SCENARIO_SCHEMA_VERSION: u32 = 1;

/// A scenario's outcome with what was measured and where: the JSON of
/// `infer bench --scenario offline|server --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioReport {
    /// Version of this layout.
    pub schema_version: u32,
    /// Model file.
    pub model: String,
    /// Backend name.
    pub backend: String,
    /// Device the session ran on.
    pub device: Device,
    /// Machine and runtimes.
    pub environment: Environment,
    /// Time to load the model, ms.
    pub load_ms: f64,
    /// `scenario` (its name) and `result`.
    #[serde(flatten)]
    pub result: ScenarioResult,
    /// What the host did during the run (from the scenario's first call to its last, warm-up
    /// included); absent when it was not watched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostEvidence>,
    /// Why the host's evidence marks the run disturbed; empty when it does not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disturbed: Vec<String>,
    /// Joules per inference (one call) over the run, or why there is none here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy: Option<RowEnergy>,
}

/// Runs a scenario on a loaded session of `model`; `log` receives progress lines (the search's
/// probes).
///
/// # Errors
/// Invalid settings, input construction and run errors.
pub fn run(
    model: &Path,
    session: &mut dyn Session,
    spec: &ScenarioSpec,
    log: &mut dyn FnMut(&str),
) -> Result<ScenarioResult> {
    let point = spec.workload.single_point("a serving scenario")?;
    let plan = spec.workload.plan(model, &*session)?;
    // Offline: a length per sample; server: the requests cycle through this many draws.
    let draws = match &spec.scenario {
        Scenario::Offline(c) => c.samples,
        _ => DRAWS_CYCLED,
    };
    let lengths = spec.lengths.as_ref().map(|l| RequestLengths::draw(&plan, &point, l, draws)).transpose()?;
    let at = lengths.as_ref().map_or_else(|| point.clone(), |l| l.point(&point));
    let mut samples = Samples::from_plan(&plan, &at, spec.pool, spec.scenario.max_batch())?;
    if let Some(l) = lengths {
        if let Some(pair) = spec.workload.feedback.first() {
            return Err(Error::InvalidInput(format!(
                "--feedback {pair} does not combine with --lengths: a stream's state has one length"
            )));
        }
        samples = samples.with_lengths(l);
    }
    if let Some(pair) = spec.workload.feedback.first() {
        let Scenario::Server(config) = &spec.scenario else {
            return Err(Error::InvalidInput(format!(
                "--feedback {pair}: only the server scenario carries a state from request to request (per stream)"
            )));
        };
        samples.start_state(&plan, &Feedback::resolve(&spec.workload.feedback, session.info())?)?;
        let config = ServerConfig { feedback: spec.workload.feedback.clone(), ..config.clone() };
        return Ok(ScenarioResult::Server(Box::new(run_server(session, &samples, &config)?)));
    }
    Ok(match &spec.scenario {
        Scenario::SingleStream(config) => ScenarioResult::SingleStream(single_stream(session, &samples, config)?),
        Scenario::Offline(config) => ScenarioResult::Offline(run_offline(session, &samples, config)?),
        Scenario::Server(config) => ScenarioResult::Server(Box::new(run_server(session, &samples, config)?)),
        Scenario::FindMaxRate(config) => {
            ScenarioResult::FindMaxRate(Box::new(find_max_rate(session, &samples, config, log)?))
        }
    })
}

/// Loads `model` on `backend`, passes the session through `wrap` (a test hook may stall it;
/// otherwise the identity), runs the scenario and reports it with the environment.
///
/// # Errors
/// Load errors and the errors of [`run`].
pub fn measure(
    backend: &dyn Backend,
    model: &Path,
    options: &LoadOptions,
    spec: &ScenarioSpec,
    wrap: impl FnOnce(Box<dyn Session>) -> Box<dyn Session>,
    log: &mut dyn FnMut(&str),
) -> Result<ScenarioReport> {
    let mut environment = Environment::capture(options.intra_threads);
    environment.state_carried = spec.workload.feedback.clone();
    if let Ok(info) = backend.probe() {
        environment.versions.insert(backend.name().into(), info.runtime_version);
    }
    let t = Instant::now();
    let session = backend.load(model, options)?;
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    environment.settings = session.info().settings.clone().into_iter().collect();
    let device = session.device();
    let host = Host::open(spec.host.clone());
    let calls = Arc::new(AtomicU64::new(0));
    let mut session: Box<dyn Session> = Box::new(Counted::new(wrap(session), Arc::clone(&calls)));
    let watch = BackgroundWatch::start(host.watch(device), calls);
    let result = run(model, session.as_mut(), spec, log);
    let seen = watch.finish();
    let result = result?;
    Ok(ScenarioReport {
        schema_version: SCENARIO_SCHEMA_VERSION,
        model: model.display().to_string(),
        backend: backend.name().into(),
        device,
        environment,
        load_ms,
        result,
        disturbed: seen.host.as_ref().map(|h| h.disturbed.clone()).unwrap_or_default(),
        host: seen.host,
        energy: seen.energy,
    })
}

/// The single-stream scenario: `infer bench`'s timed closed loop at batch 1 on one sample.
///
/// # Errors
/// Run errors.
pub fn single_stream(session: &mut dyn Session, samples: &Samples, config: &BenchConfig) -> Result<SingleStreamReport> {
    let inputs = samples.batch(0, 1)?;
    let timing = time_session(session, &inputs, config, &ProgressBar::hidden())?;
    let sample = Sample::new(timing.samples_ms.clone())?;
    let estimate = |p: f64| EarlyStopping::new(Rule::loadgen(p)).estimate(sample.sorted());
    Ok(SingleStreamReport {
        latency_ms: sample.summary(),
        throughput_per_s: 1e3 / sample.mean(),
        warmup_iterations: timing.warmup_iterations,
        p90_estimate_ms: estimate(0.90),
        p99_estimate_ms: estimate(0.99),
        samples_ms: timing.samples_ms,
    })
}
