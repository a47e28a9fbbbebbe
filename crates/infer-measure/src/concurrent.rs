//! Load testing: several workers, each with its own session of one model (the `Session` trait
//! is `Send`, not `Sync`), issue requests in a loop at the same time. Reports per-request latency
//! percentiles across all workers, total throughput, and the process's resident memory sampled
//! over time, with a warning when it keeps growing (a leak under load).

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use crate::{confidence::CiTarget, stats::Summary};
use infer_core::{Backend, Error, LoadOptions, Result, Session, Tensor};
use serde::{Deserialize, Serialize};

use crate::{
    environment::Environment,
    host::{
        Host, HostEvidence, HostOptions, RowEnergy,
        background::{BackgroundWatch, Counted},
        disturbed_warnings,
    },
    memory,
    timing::Stop,
    workload::Workload,
};

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// Model file or folder.
    pub model: PathBuf,
    /// Session options (device, threads, ...), the same for every worker.
    pub options: LoadOptions,
    /// Items per request; none: the model's own ([`crate::workload::Plan::default_batch`]).
    pub batch_size: Option<usize>,
    /// What the inputs are made of (one shape: a `--dim` list is refused).
    pub workload: Workload,
    /// Workers, each with its own session and thread.
    pub concurrency: usize,
    /// Untimed requests per worker before the timed phase.
    pub warmup: usize,
    /// `Iterations(n)`: n requests per worker; `Duration(d)`: every worker until d has passed
    /// since the sessions were loaded (warm-up included).
    pub stop: Stop,
    /// How often the resident memory is sampled.
    pub rss_interval: Duration,
    /// How the host is watched during the run (evidence and energy, [`crate::host`]).
    pub host: HostOptions,
}

/// Resident memory at one moment of the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RssPoint {
    /// Seconds since the timed phase started.
    pub t_s: f64,
    /// Resident set size, bytes.
    pub rss: u64,
}

/// The outcome of a load run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// Model file.
    pub model: String,
    /// Backend name.
    pub backend: String,
    /// Device of the sessions.
    pub device: infer_core::Device,
    /// Workers.
    pub concurrency: usize,
    /// Items per request.
    pub batch_size: usize,
    /// Wall-clock time of the timed phase, seconds.
    pub elapsed_s: f64,
    /// Requests completed, all workers together.
    pub requests: usize,
    /// Requests completed by each worker.
    pub requests_per_worker: Vec<usize>,
    /// Latency of one request across all workers, milliseconds.
    pub latency_ms: Summary,
    /// Requests per second, all workers together.
    pub requests_per_s: f64,
    /// Items per second, all workers together.
    pub items_per_s: f64,
    /// Resident memory over time.
    pub rss: Vec<RssPoint>,
    /// Mean RSS of the last quarter of the samples minus that of the first quarter, bytes.
    pub rss_growth: Option<i64>,
    /// Problems worth knowing (memory growth).
    pub warnings: Vec<String>,
    /// The fingerprint of the machine and runtimes.
    pub environment: Environment,
    /// What the host did during the run (from the workers' start, warm-up included, to the last
    /// request); absent when it was not watched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostEvidence>,
    /// Why the host's evidence marks the run disturbed; empty when it does not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disturbed: Vec<String>,
    /// Joules per request (one call, all workers together) over the run, or why there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy: Option<RowEnergy>,
}

/// Growth of the RSS between the first and last quarter above which a run is flagged: both this
/// fraction of the first quarter's RSS and [`GROWTH_MIN_BYTES`].
pub const GROWTH_WARN_FRACTION: f64 = 0.05;
/// See [`GROWTH_WARN_FRACTION`].
pub const GROWTH_MIN_BYTES: i64 = 16 << 20;

/// Loads `spec.concurrency` sessions, then runs them together and measures.
///
/// # Errors
/// Invalid settings, the first load error, and the first error of any worker (the others stop).
pub fn run_load(backend: &dyn Backend, spec: &LoadSpec) -> Result<LoadReport> {
    if spec.concurrency == 0 || spec.batch_size == Some(0) {
        return Err(Error::InvalidInput("concurrency and batch size must be at least 1".into()));
    }
    let mut environment = Environment::capture(spec.options.intra_threads);
    if let Ok(info) = backend.probe() {
        environment.versions.insert(backend.name().into(), info.runtime_version);
    }
    let calls = Arc::new(AtomicU64::new(0));
    let mut sessions: Vec<Box<dyn Session>> = Vec::with_capacity(spec.concurrency);
    for _ in 0..spec.concurrency {
        sessions.push(Box::new(Counted::new(backend.load(&spec.model, &spec.options)?, Arc::clone(&calls))));
    }
    let device = sessions[0].device();
    environment.settings = sessions[0].info().settings.clone().into_iter().collect();
    let point = spec.workload.single_point("--concurrency")?;
    let plan = spec.workload.plan(&spec.model, sessions[0].as_ref())?;
    let batch_size = spec.batch_size.unwrap_or_else(|| plan.default_batch());
    let inputs = plan.build(batch_size, &point)?.tensors;
    let stop = AtomicBool::new(false);
    let mut rss = Vec::new();
    let host = Host::open(spec.host.clone());
    let watch = BackgroundWatch::start(host.watch(device), calls);
    let start = Instant::now();
    let results: Vec<Result<Timed>> = std::thread::scope(|scope| {
        let handles: Vec<_> = sessions
            .into_iter()
            .map(|session| {
                let (inputs, stop) = (&inputs, &stop);
                scope.spawn(move || worker(session, inputs, spec, stop, start))
            })
            .collect();
        // Sample memory every `rss_interval` until every worker has finished, and once more at
        // the end (a short run may finish before the first sample); end a timed run.
        let mut next_sample = Duration::ZERO;
        let sample = |rss: &mut Vec<RssPoint>| {
            if let Some(r) = memory::rss() {
                rss.push(RssPoint { t_s: start.elapsed().as_secs_f64(), rss: r.current });
            }
        };
        while !handles.iter().all(std::thread::ScopedJoinHandle::is_finished) {
            let t = start.elapsed();
            if t >= next_sample {
                sample(&mut rss);
                next_sample = t + spec.rss_interval;
            }
            if let Stop::Duration(d) | Stop::Confidence(CiTarget { max_time: d, .. }) = spec.stop
                && t >= d
            {
                stop.store(true, Ordering::SeqCst);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        sample(&mut rss);
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(Error::InvalidInput("a load worker panicked".into()))))
            .collect()
    });
    let seen = watch.finish();
    let mut per_worker = Vec::new();
    let mut all = Vec::new();
    let (mut first, mut last) = (None::<Instant>, None::<Instant>);
    for r in results {
        let timed = r?;
        per_worker.push(timed.samples.len());
        all.extend(timed.samples);
        first = Some(first.map_or(timed.start, |f| f.min(timed.start)));
        last = Some(last.map_or(timed.end, |l| l.max(timed.end)));
    }
    // The timed phase: from the first worker done with its warm-up to the last request's end.
    let elapsed = match (first, last) {
        (Some(f), Some(l)) => l.duration_since(f).as_secs_f64().max(1e-9),
        _ => start.elapsed().as_secs_f64(),
    };
    let requests = all.len();
    let latency_ms = Summary::new(&all)?;
    let rss_growth = growth(&rss);
    let disturbed = seen.host.as_ref().map(|h| h.disturbed.clone()).unwrap_or_default();
    let mut warnings = disturbed_warnings(&disturbed);
    warnings.extend(seen.problems);
    if let (Some(g), Some(first)) = (rss_growth, rss.first())
        && g > GROWTH_MIN_BYTES
        && f64_of(g) > GROWTH_WARN_FRACTION * f64_of(first.rss)
    {
        warnings.push(format!(
            "memory kept growing: RSS +{} between the first and last quarter of the run (possible leak)",
            memory::mib(g.unsigned_abs())
        ));
    }
    #[allow(clippy::cast_precision_loss)]
    let (requests_f, batch_f) = (requests as f64, batch_size as f64);
    Ok(LoadReport {
        model: spec.model.display().to_string(),
        backend: backend.name().into(),
        device,
        concurrency: spec.concurrency,
        batch_size,
        elapsed_s: elapsed,
        requests,
        requests_per_worker: per_worker,
        latency_ms,
        requests_per_s: requests_f / elapsed,
        items_per_s: requests_f * batch_f / elapsed,
        rss,
        rss_growth,
        warnings,
        environment,
        host: seen.host,
        disturbed,
        energy: seen.energy,
    })
}

/// One worker's timed requests.
struct Timed {
    samples: Vec<f64>,
    start: Instant,
    end: Instant,
}

fn worker(
    mut session: Box<dyn Session>,
    inputs: &[Tensor],
    spec: &LoadSpec,
    stop: &AtomicBool,
    start: Instant,
) -> Result<Timed> {
    let result = (|| {
        for _ in 0..spec.warmup {
            session.run(inputs)?;
            session.synchronize()?;
        }
        let mut samples = Vec::new();
        let timed_start = Instant::now();
        loop {
            let done = match spec.stop {
                Stop::Iterations(n) => samples.len() >= n,
                // A load test has no interval to hold to a target: its budget is its duration.
                Stop::Duration(d) | Stop::Confidence(CiTarget { max_time: d, .. }) => {
                    !samples.is_empty() && (stop.load(Ordering::SeqCst) || start.elapsed() >= d)
                }
            };
            if done || (samples.is_empty() && stop.load(Ordering::SeqCst)) {
                break;
            }
            let t = Instant::now();
            session.run(inputs)?;
            session.synchronize()?;
            samples.push(t.elapsed().as_secs_f64() * 1e3);
        }
        Ok(Timed { samples, start: timed_start, end: Instant::now() })
    })();
    if result.is_err() {
        // One failed worker stops the others instead of leaving them running.
        stop.store(true, Ordering::SeqCst);
    }
    result
}

/// Mean RSS of the last quarter of `points` minus that of the first quarter (at least 4 points).
#[must_use]
pub fn growth(points: &[RssPoint]) -> Option<i64> {
    if points.len() < 4 {
        return None;
    }
    let q = points.len() / 4;
    let mean = |p: &[RssPoint]| -> i64 {
        let sum: u128 = p.iter().map(|x| u128::from(x.rss)).sum();
        i64::try_from(sum / p.len() as u128).unwrap_or(i64::MAX)
    };
    Some(mean(&points[points.len() - q..]) - mean(&points[..q]))
}

#[allow(clippy::cast_precision_loss)]
fn f64_of<T: Into<i128>>(v: T) -> f64 {
    v.into() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points(values: &[u64]) -> Vec<RssPoint> {
        values.iter().enumerate().map(|(i, &rss)| RssPoint { t_s: i as f64, rss }).collect()
    }

    #[test]
    fn growth_compares_first_and_last_quarter() {
        assert_eq!(growth(&points(&[1, 2, 3])), None);
        assert_eq!(growth(&points(&[10, 10, 10, 10, 50, 50, 30, 30])), Some(20));
        assert_eq!(growth(&points(&[100, 100, 90, 90])), Some(-10));
    }
}
