//! `infer bench --scenario offline|server`: the serving scenarios' options, checks and output
//! (single-stream is `infer bench`'s own closed loop).

use std::{path::Path, process::ExitCode, time::Duration};

use clap::Args;
use infer_core::{Backend, Device, Session};
use infer_measure::{
    confidence::CiTarget,
    host::HostOptions,
    scenario::{
        Scenario, ScenarioKind, ScenarioReport, ScenarioSpec,
        arrivals::{Arrivals, MAX_RATE, MIN_RATE},
        batcher::BatchPolicy,
        early_stopping::Rule,
        measure,
        offline::OfflineConfig,
        samples::POOL,
        search::SearchConfig,
        server::{DEFAULT_SEED, ServerConfig, ServerStop},
        stall::StallOnce,
    },
    timing::{Warmup, parse_duration},
    workload::{Workload, lengths::Lengths},
};
use infer_report::report::{Format, Report, save};

use crate::cli::{ModelArgs, feedback::refuse};

/// The batch sizes the offline scenario tries unless --batch-sizes says otherwise.
pub const OFFLINE_SIZES: [usize; 6] = [1, 2, 4, 8, 16, 32];
/// Samples the offline scenario issues at once unless --samples says otherwise.
pub const OFFLINE_SAMPLES: usize = 128;
/// The scheduled span of a server run unless --duration or --iterations says otherwise.
pub const SERVER_DURATION: Duration = Duration::from_secs(10);

/// The serving-scenario options of `infer bench`.
#[derive(Debug, Args)]
pub struct ScenarioArgs {
    /// Serving scenario, in MLPerf LoadGen's terms: single-stream (one request at a time, the
    /// closed loop: the default), offline (all samples at once, best throughput over
    /// --batch-sizes) or server (open-loop arrivals at --rate, latency from the scheduled
    /// arrival); see docs/scenarios.md.
    #[arg(long, default_value = "single-stream")]
    pub scenario: ScenarioKind,
    /// Server: requests per second (Poisson: the mean rate; a trace is scaled to it).
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Server: the arrival process: poisson, constant, or a trace file of inter-arrival gaps
    /// (one per line, milliseconds; see docs/scenarios.md).
    #[arg(long, default_value = "poisson")]
    pub arrivals: String,
    /// Seed of the server's Poisson arrivals and of the --lengths draws.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Server: dynamic batching, up to B requests per call (Triton's dynamic batcher).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub dynamic_batch: Option<u16>,
    /// Server: how long the oldest queued request may wait for a fuller batch, e.g. 2ms
    /// (Triton's max_queue_delay; default 0: run what is queued when the model is free).
    #[arg(long, value_parser = parse_delay, requires = "dynamic_batch")]
    pub batch_timeout: Option<Duration>,
    /// Server: a latency bound, e.g. 50ms, on the 99th percentile (or --bound-percentile): the
    /// run stops by MLPerf LoadGen's early-stopping rule as soon as it is certain (99%
    /// confidence) whether the bound holds; with --find-max-rate, the bound searched for.
    #[arg(long, value_parser = parse_duration)]
    pub p99_bound: Option<Duration>,
    /// Server: the percentile --p99-bound applies to.
    #[arg(long, default_value_t = 99.0, value_parser = parse_percentile)]
    pub bound_percentile: f64,
    /// Server: search for the highest rate whose latency percentile stays within --p99-bound.
    #[arg(long, requires = "p99_bound")]
    pub find_max_rate: bool,
    /// --find-max-rate: stop when the lowest failing rate is within this of the highest pass.
    #[arg(long, default_value = "5%", value_parser = parse_fraction)]
    pub search_precision: f64,
    /// --find-max-rate or --p99-bound: cap on the scheduled time of one run (undecided then).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub probe_time: Duration,
    /// Server: the least schedule of a run, and of every probe of --find-max-rate, before a
    /// verdict (early stopping or --target-ci); the early-stopping minimum of requests applies
    /// too. A run stopped sooner by --iterations or --duration is flagged as a burst.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub min_probe_time: Duration,
    /// Server with --feedback: N client streams, each carrying its own state (request k is stream
    /// k mod N's, fed its stream's last state; the first of each stream zeros or the --input
    /// data); default 1.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub streams: Option<u16>,
    /// Offline: samples issued at once.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub samples: Option<u32>,
}

/// The rest of `infer bench`'s arguments that a scenario uses.
pub struct Plan<'a> {
    /// Model and load options.
    pub model: &'a ModelArgs,
    /// Devices, each measured in turn.
    pub devices: &'a [Device],
    /// Warm-up before the run.
    pub warmup: Warmup,
    /// Server: requests.
    pub iterations: Option<u64>,
    /// Server: scheduled span.
    pub duration: Option<Duration>,
    /// Offline: the batch sizes.
    pub batch_sizes: Option<Vec<usize>>,
    /// What the requests' inputs are made of.
    pub workload: Workload,
    /// Where to write the report.
    pub json: Option<&'a Path>,
    /// No terminal output.
    pub quiet: bool,
    /// Server: stop on confidence (`--target-ci`).
    pub target: Option<CiTarget>,
    /// `--lengths`: a length per sample or request.
    pub lengths: Option<Lengths>,
}

impl ScenarioArgs {
    /// `infer bench`'s checks: `--feedback` with a load test, the offline scenario or the search for
    /// the highest rate is refused; `--streams` needs `--feedback` and the server scenario, and a
    /// dynamic batch of at most that many streams (a call never holds two requests of one stream,
    /// each of which needs the other's state).
    ///
    /// # Errors
    /// One line naming the options.
    pub(crate) fn check_feedback(&self, workload: &Workload, concurrency: bool) -> anyhow::Result<()> {
        if let Some(streams) = self.streams {
            if self.scenario != ScenarioKind::Server {
                anyhow::bail!("--streams applies to --scenario server, not {}", self.scenario);
            }
            if workload.feedback.is_empty() {
                anyhow::bail!(
                    "--streams {streams}: client streams differ only by the state each carries: give --feedback OUTPUT=INPUT"
                );
            }
            if let Some(batch) = self.dynamic_batch.filter(|&b| b > streams) {
                anyhow::bail!(
                    "--dynamic-batch {batch} with --streams {streams}: a call could hold two requests of one stream, \
                     the second needing the first's state: give at most {streams}"
                );
            }
        }
        if concurrency {
            refuse(workload, "--concurrency (workers of independent requests)")?;
        }
        match self.scenario {
            ScenarioKind::Offline => refuse(workload, "--scenario offline (every sample issued at once)"),
            ScenarioKind::Server if self.find_max_rate => {
                refuse(workload, "--find-max-rate (probes of independent requests)")
            }
            ScenarioKind::SingleStream | ScenarioKind::Server => Ok(()),
        }
    }

    /// Refuses options that do not apply to the scenario chosen, before any work.
    ///
    /// # Errors
    /// A one-line message naming the option and the scenario it belongs to.
    pub fn check(&self, concurrency: bool, sweep: bool) -> anyhow::Result<()> {
        let server_only = [
            ("--rate", self.rate.is_some()),
            ("--arrivals", self.arrivals != "poisson"),
            ("--dynamic-batch", self.dynamic_batch.is_some()),
            ("--p99-bound", self.p99_bound.is_some()),
            ("--find-max-rate", self.find_max_rate),
        ];
        if self.scenario != ScenarioKind::Server
            && let Some((name, _)) = server_only.iter().find(|(_, given)| *given)
        {
            anyhow::bail!("{name} applies to --scenario server, not {}", self.scenario);
        }
        if self.scenario != ScenarioKind::Offline && self.samples.is_some() {
            anyhow::bail!("--samples applies to --scenario offline, not {}", self.scenario);
        }
        if self.scenario != ScenarioKind::SingleStream {
            if concurrency {
                anyhow::bail!("--concurrency runs closed loops: it does not combine with --scenario {}", self.scenario);
            }
            if sweep {
                anyhow::bail!(
                    "--sweep is the single-stream throughput sweep: use --scenario offline --batch-sizes instead"
                );
            }
        }
        if self.find_max_rate && self.rate.is_some() {
            anyhow::bail!("--find-max-rate searches the rate: do not give --rate");
        }
        if self.probe_time < self.min_probe_time {
            anyhow::bail!(
                "--probe-time ({:?}) is shorter than --min-probe-time ({:?}): no run could reach a verdict",
                self.probe_time,
                self.min_probe_time
            );
        }
        Ok(())
    }

    /// The options of `infer bench` that repeat these for a child process of `infer compare`:
    /// `--scenario` and every server or offline option given, except the dynamic batcher's (the
    /// comparison measures each batching in turn). `duration` is compare's `--duration`, and
    /// `batch_sizes` its `--batch-sizes` (offline).
    pub fn child_options(&self, duration: Option<Duration>, batch_sizes: Option<&[usize]>) -> Vec<String> {
        let mut out = vec!["--scenario".to_string(), self.scenario.to_string()];
        let mut push = |name: &str, value: String| out.extend([name.to_string(), value]);
        if let Some(rate) = self.rate {
            push("--rate", rate.to_string());
        }
        if self.scenario == ScenarioKind::Server {
            push("--arrivals", self.arrivals.clone());
            push("--seed", self.seed.to_string());
            push("--bound-percentile", self.bound_percentile.to_string());
            push("--probe-time", format!("{}ms", self.probe_time.as_secs_f64() * 1e3));
            push("--min-probe-time", format!("{}ms", self.min_probe_time.as_secs_f64() * 1e3));
        }
        if let Some(bound) = self.p99_bound {
            push("--p99-bound", format!("{}ms", bound.as_secs_f64() * 1e3));
        }
        if self.find_max_rate {
            push("--search-precision", self.search_precision.to_string());
        }
        if let Some(n) = self.samples {
            push("--samples", n.to_string());
        }
        if let Some(n) = self.streams {
            push("--streams", n.to_string());
        }
        if let Some(d) = duration.filter(|_| self.p99_bound.is_none()) {
            push("--duration", format!("{}ms", d.as_secs_f64() * 1e3));
        }
        if let Some(sizes) = batch_sizes.filter(|_| self.scenario == ScenarioKind::Offline) {
            push("--batch-sizes", sizes.iter().map(ToString::to_string).collect::<Vec<_>>().join(","));
        }
        if self.find_max_rate {
            out.push("--find-max-rate".into());
        }
        out
    }

    /// The dynamic batcher's setting given, as (max batch, timeout).
    pub fn dynamic_batch(&self) -> Option<(u16, Duration)> {
        self.dynamic_batch.map(|b| (b, self.batch_timeout.unwrap_or(Duration::ZERO)))
    }

    fn policy(&self) -> BatchPolicy {
        match self.dynamic_batch {
            Some(b) => BatchPolicy { max_batch: usize::from(b), timeout: self.batch_timeout.unwrap_or(Duration::ZERO) },
            None => BatchPolicy::NONE,
        }
    }

    fn rule(&self) -> Rule {
        Rule::loadgen(self.bound_percentile / 100.0)
    }

    /// The scenario these options and `plan` describe.
    fn scenario(&self, plan: &Plan<'_>) -> anyhow::Result<Scenario> {
        if plan.target.is_some() && (self.scenario == ScenarioKind::Offline || self.find_max_rate) {
            anyhow::bail!(
                "--target-ci applies to single-stream and to one server run, not to {}: its rows and probes \
                 are decided by their own rules",
                if self.find_max_rate { "--find-max-rate" } else { "--scenario offline" }
            );
        }
        Ok(match self.scenario {
            ScenarioKind::SingleStream => anyhow::bail!("single-stream is infer bench's own closed loop"),
            ScenarioKind::Offline => Scenario::Offline(OfflineConfig {
                samples: self.samples.map_or(OFFLINE_SAMPLES, |n| n as usize),
                batch_sizes: plan.batch_sizes.clone().unwrap_or_else(|| OFFLINE_SIZES.to_vec()),
                warmup: plan.warmup,
            }),
            ScenarioKind::Server => {
                let arrivals = Arrivals::parse(&self.arrivals)?;
                if self.rate.is_none() && !self.find_max_rate && arrivals.natural_rate().is_none() {
                    anyhow::bail!(
                        "--scenario server needs --rate (requests per second), --find-max-rate, or --arrivals with a trace file"
                    );
                }
                let server = ServerConfig {
                    rate: self.rate,
                    arrivals,
                    seed: self.seed,
                    batching: self.policy(),
                    stop: self.stop(plan)?,
                    warmup: plan.warmup,
                    min_time: self.min_probe_time,
                    feedback: Vec::new(),
                    streams: usize::from(self.streams.unwrap_or(1)),
                };
                if self.find_max_rate {
                    let bound = self.p99_bound.ok_or_else(|| anyhow::anyhow!("--find-max-rate needs --p99-bound"))?;
                    let mut search = SearchConfig::new(server, bound, self.rule());
                    search.precision = self.search_precision;
                    search.probe_max_time = self.probe_time;
                    Scenario::FindMaxRate(search)
                } else {
                    Scenario::Server(server)
                }
            }
        })
    }

    fn stop(&self, plan: &Plan<'_>) -> anyhow::Result<ServerStop> {
        if let Some(target) = plan.target {
            if self.p99_bound.is_some() {
                anyhow::bail!("--p99-bound stops the run by early stopping: do not give --target-ci too");
            }
            return Ok(ServerStop::Confidence(target));
        }
        Ok(match (self.p99_bound, plan.iterations, plan.duration) {
            (Some(bound), None, None) => ServerStop::EarlyStopping {
                bound,
                rule: self.rule(),
                max_requests: usize::MAX,
                max_time: self.probe_time,
            },
            (Some(_), _, _) => {
                anyhow::bail!("--p99-bound stops the run by early stopping: do not give --iterations or --duration")
            }
            (None, Some(n), _) => ServerStop::Requests(usize::try_from(n)?),
            (None, None, Some(d)) => ServerStop::Duration(d),
            (None, None, None) => ServerStop::Duration(SERVER_DURATION),
        })
    }
}

/// Runs the scenario on each device, printing and saving each report as it is done.
///
/// # Errors
/// Invalid options, load and run errors, and write errors.
pub fn run(backend: &dyn Backend, args: &ScenarioArgs, plan: &Plan<'_>) -> anyhow::Result<ExitCode> {
    let scenario = args.scenario(plan)?;
    let spec = ScenarioSpec {
        scenario,
        workload: plan.workload.clone(),
        pool: POOL,
        host: HostOptions::from_env(),
        lengths: plan.lengths.clone(),
    };
    let stall = stall_hook(backend.name());
    let mut reports: Vec<ScenarioReport> = Vec::new();
    for &device in plan.devices {
        let quiet = plan.quiet;
        let report = measure(
            backend,
            &plan.model.model,
            &plan.model.options(device),
            &spec,
            |session| match stall {
                Some((stall, after)) => Box::new(StallOnce::new(session, stall, after)) as Box<dyn Session>,
                None => session,
            },
            &mut |line| {
                if !quiet {
                    eprintln!("{line}");
                }
            },
        )?;
        if !plan.quiet {
            print!("{}", report.render(Format::Terminal)?);
        }
        reports.push(report);
        if let Some(path) = plan.json {
            // One device: the report itself; several: a list.
            save(&reports, path, Format::Json)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A hidden hook for the tests of the server scenario: `INFER_TEST_STALL=DURATION` (optionally
/// `@BACKEND`, then optionally `+AFTER`, default 1s) makes the model stall once for DURATION, at
/// the first call starting AFTER the model was loaded or later. Honoured only in debug builds or
/// with the `test-hooks` feature, like `INFER_TEST_CRASH`.
fn stall_hook(backend: &str) -> Option<(Duration, Duration)> {
    if !(cfg!(debug_assertions) || cfg!(feature = "test-hooks")) {
        return None;
    }
    let value = std::env::var("INFER_TEST_STALL").ok()?;
    let (value, after) = value.split_once('+').map_or((value.as_str(), "1s"), |(v, a)| (v, a));
    let (stall, only) = value.split_once('@').map_or((value, None), |(s, b)| (s, Some(b)));
    if only.is_some_and(|b| b != backend) {
        return None;
    }
    Some((parse_duration(stall).ok()?, parse_duration(after).ok()?))
}

/// A rate in requests per second, within [`MIN_RATE`]..=[`MAX_RATE`].
fn parse_rate(text: &str) -> Result<f64, String> {
    let t = text.trim().trim_end_matches("/s");
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() && (MIN_RATE..=MAX_RATE).contains(&v) => Ok(v),
        _ => Err(format!(
            "invalid rate `{text}`: expected requests per second between {MIN_RATE:.6} and {MAX_RATE}, e.g. 25 or 12.5"
        )),
    }
}

/// A delay that may be zero (`0`, `0ms`) or any duration [`parse_duration`] takes.
fn parse_delay(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.trim_end_matches("ms").trim_end_matches('s').trim().parse::<f64>().is_ok_and(|v| v == 0.0) {
        return Ok(Duration::ZERO);
    }
    parse_duration(t)
}

/// A percentile strictly between 0 and 100.
fn parse_percentile(text: &str) -> Result<f64, String> {
    match text.trim().trim_start_matches('p').parse::<f64>() {
        Ok(v) if v > 0.0 && v < 100.0 => Ok(v),
        _ => Err(format!("invalid percentile `{text}`: expected a number between 0 and 100, e.g. 99 or 99.9")),
    }
}

/// A fraction given as `5%` or `0.05`, strictly between 0 and 1.
fn parse_fraction(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    };
    match v {
        Ok(v) if v > 0.0 && v < 1.0 => Ok(v),
        _ => Err(format!("invalid precision `{text}`: expected e.g. 5% or 0.05")),
    }
}
