//! The server scenario: an open-loop generator thread sends requests at their scheduled arrival
//! times into an unbounded queue, whatever the model is doing; the model's worker (the calling
//! thread, which owns the session) takes them in order, one per call or in dynamic batches.
//!
//! Every time is read from one clock whose zero is the start of the run. A request's latency runs
//! from its *scheduled* arrival to its output, so a generator that wakes late or a queue that
//! fills shows as latency, never hides. The generator never sends a request before its scheduled
//! time, never skips one, and sends overdue ones at once.

use std::{
    collections::VecDeque,
    sync::{
        Condvar, Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use indicatif::ProgressBar;
use infer_core::{Error, Result, Session};
use serde::{Deserialize, Serialize};

use super::{
    analysis::{Analysis, BatchRecord, RequestRecord, analyze},
    arrivals::{Arrivals, Schedule},
    batcher::{BatchPolicy, Decision, decide},
    early_stopping::{EarlyStopping, Rule, Verdict},
    samples::Samples,
};
use crate::timing::{BenchConfig, Stop, Warmup, time_session};

/// When a server run stops sending.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ServerStop {
    /// After this many requests.
    Requests(usize),
    /// Requests scheduled within this time from the start (at least one).
    Duration(Duration),
    /// As soon as the early-stopping rule decides whether `rule.percentile` of the latency is
    /// within `bound`; at the latest after `max_requests` or `max_time` of schedule (then the
    /// verdict is [`Verdict::Undecided`]).
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
}

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
    /// Latency, queue, compute, batches, generator and queueing figures.
    #[serde(flatten)]
    pub analysis: Analysis,
    /// The early-stopping outcome, when the run stopped by it.
    pub early_stopping: Option<EarlyStoppingReport>,
    /// The generator kept to the schedule within the margin: the run measured the load asked.
    pub valid: bool,
    /// Queueing did not grow: the model keeps up with this load.
    pub sustainable: bool,
    /// Why the run is invalid or not sustainable, in words.
    pub warnings: Vec<String>,
    /// Every request (ms since the start of the run).
    pub records: Vec<RequestRecord>,
    /// Every model call.
    pub batches: Vec<BatchRecord>,
}

/// The seed of the Poisson arrivals unless told otherwise.
pub const DEFAULT_SEED: u64 = 0x5eed_2026;

/// How long the generator sleeps at most before checking whether to stop.
const POLL: Duration = Duration::from_millis(20);

/// A request in the queue (seconds since the start of the run).
#[derive(Debug, Clone, Copy)]
struct Pending {
    id: usize,
    scheduled: f64,
    sent: f64,
}

#[derive(Debug, Default)]
struct Queue {
    waiting: VecDeque<Pending>,
    generator_done: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A poisoned lock only means the other thread panicked; the queue itself is consistent.
        self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Warms `session` up as `warmup` says at batch 1, then runs every batch size up to
/// `max_batch` once; returns the batch-1 warm-up calls.
///
/// # Errors
/// Run errors.
pub fn warm_up(session: &mut dyn Session, samples: &Samples, warmup: Warmup, max_batch: usize) -> Result<usize> {
    let one = samples.batch(0, 1)?;
    let config = BenchConfig { warmup, stop: Stop::Iterations(0) };
    let timing = time_session(session, &one, &config, &ProgressBar::hidden())?;
    for size in 2..=max_batch {
        session.run(&samples.batch(0, size)?)?;
        session.synchronize()?;
    }
    Ok(timing.warmup_iterations)
}

/// Runs the server scenario on a loaded session.
///
/// # Errors
/// Invalid settings (a batch larger than 1 on a model with a fixed batch dimension, a missing
/// rate), and the first run error (the generator is stopped first).
pub fn run_server(session: &mut dyn Session, samples: &Samples, config: &ServerConfig) -> Result<ServerReport> {
    let policy = config.batching;
    if policy.max_batch == 0 {
        return Err(Error::InvalidInput("the dynamic batch size must be at least 1".into()));
    }
    if policy.is_batching() && !samples.batchable() {
        return Err(Error::InvalidInput(format!(
            "dynamic batching of up to {} needs a dynamic batch dimension, and this model's is fixed",
            policy.max_batch
        )));
    }
    let schedule = Schedule::new(config.arrivals.gaps(config.rate, config.seed)?);
    let warmup_iterations = warm_up(session, samples, config.warmup, policy.max_batch)?;
    let shared = Shared { queue: Mutex::new(Queue::default()), ready: Condvar::new(), stop: AtomicBool::new(false) };
    let origin = Instant::now();
    let mut run = Run::new(config, origin);
    let outcome = std::thread::scope(|scope| {
        let generator = scope.spawn(|| generate(&shared, schedule, config.stop, origin));
        let served = run.serve(session, samples, &shared, policy);
        // Whatever happened, the generator stops before the scope ends.
        shared.stop.store(true, Ordering::SeqCst);
        shared.ready.notify_all();
        let joined = generator.join().map_err(|_| Error::InvalidInput("the request generator panicked".into()));
        served.and(joined)
    });
    outcome?;
    let queue = shared.lock();
    run.finish(queue.waiting.len(), warmup_iterations)
}

/// Tells the worker that the generator is done, however the generator ends.
struct Done<'a>(&'a Shared);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.lock().generator_done = true;
        self.0.ready.notify_all();
    }
}

/// The generator: sends each request at its scheduled time until the stop rule or the flag says so.
fn generate(shared: &Shared, schedule: Schedule, stop: ServerStop, origin: Instant) {
    let _done = Done(shared);
    for (id, at) in schedule.enumerate() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let more = match stop {
            ServerStop::Requests(n) => id < n,
            ServerStop::Duration(d) => id == 0 || at < d.as_secs_f64(),
            ServerStop::EarlyStopping { max_requests, max_time, .. } => {
                id == 0 || (id < max_requests && at < max_time.as_secs_f64())
            }
        };
        if !more {
            break;
        }
        let Some(target) = Duration::try_from_secs_f64(at).ok().and_then(|d| origin.checked_add(d)) else { break };
        loop {
            let now = Instant::now();
            if now >= target || shared.stop.load(Ordering::SeqCst) {
                break;
            }
            std::thread::sleep((target - now).min(POLL));
        }
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let sent = origin.elapsed().as_secs_f64();
        shared.lock().waiting.push_back(Pending { id, scheduled: at, sent });
        shared.ready.notify_one();
    }
}

/// The worker's side of a run: records and the early-stopping state.
struct Run<'c> {
    config: &'c ServerConfig,
    origin: Instant,
    records: Vec<RequestRecord>,
    batches: Vec<BatchRecord>,
    early: Option<(EarlyStopping, f64)>,
    over: usize,
    verdict: Option<(Verdict, usize, usize)>,
}

impl<'c> Run<'c> {
    fn new(config: &'c ServerConfig, origin: Instant) -> Self {
        let early = match config.stop {
            ServerStop::EarlyStopping { bound, rule, .. } => {
                Some((EarlyStopping::new(rule), bound.as_secs_f64() * 1e3))
            }
            _ => None,
        };
        Self { config, origin, records: Vec::new(), batches: Vec::new(), early, over: 0, verdict: None }
    }

    fn now(&self) -> f64 {
        self.origin.elapsed().as_secs_f64()
    }

    /// Takes requests off the queue as the batcher decides and runs them, until the generator is
    /// done and the queue empty, or the early-stopping verdict is reached.
    fn serve(
        &mut self,
        session: &mut dyn Session,
        samples: &Samples,
        shared: &Shared,
        policy: BatchPolicy,
    ) -> Result<()> {
        loop {
            let batch: Vec<Pending> = {
                let mut queue = shared.lock();
                loop {
                    let now = self.now();
                    match decide(&policy, queue.waiting.len(), queue.waiting.front().map(|p| p.sent), now) {
                        Decision::Run(n) => break queue.waiting.drain(..n).collect(),
                        Decision::Idle if queue.generator_done => return Ok(()),
                        Decision::Idle => {
                            queue = shared.ready.wait_timeout(queue, POLL).map_or_else(|e| e.into_inner().0, |r| r.0);
                        }
                        Decision::WaitUntil(t) => {
                            let wait = Duration::from_secs_f64((t - now).max(0.0));
                            queue = shared.ready.wait_timeout(queue, wait).map_or_else(|e| e.into_inner().0, |r| r.0);
                        }
                    }
                }
            };
            self.run_batch(session, samples, &batch)?;
            if self.judge(shared) {
                return Ok(());
            }
        }
    }

    fn run_batch(&mut self, session: &mut dyn Session, samples: &Samples, batch: &[Pending]) -> Result<()> {
        let start = self.now();
        let inputs = samples.batch(batch[0].id, batch.len())?;
        let assembled = self.now();
        let outputs = session.run(&inputs)?;
        session.synchronize()?;
        let answers = samples.split(&outputs, session.outputs(), batch.len())?;
        drop(answers);
        let end = self.now();
        let id = self.batches.len();
        self.batches.push(BatchRecord {
            id,
            size: batch.len(),
            start_ms: start * 1e3,
            end_ms: end * 1e3,
            assemble_ms: (assembled - start) * 1e3,
        });
        for p in batch {
            let record = RequestRecord {
                id: p.id,
                scheduled_ms: p.scheduled * 1e3,
                sent_ms: p.sent * 1e3,
                start_ms: start * 1e3,
                end_ms: end * 1e3,
                batch: id,
            };
            if let Some((_, bound_ms)) = &self.early
                && record.latency_ms() > *bound_ms
            {
                self.over += 1;
            }
            self.records.push(record);
        }
        Ok(())
    }

    /// Applies the early-stopping rule; true when decided. Requests still queued whose scheduled
    /// time is more than the bound ago are over it already and count as such.
    fn judge(&mut self, shared: &Shared) -> bool {
        let Some((rule, bound_ms)) = &mut self.early else { return false };
        let now_ms = self.origin.elapsed().as_secs_f64() * 1e3;
        let late = shared.lock().waiting.iter().take_while(|p| now_ms - p.scheduled * 1e3 > *bound_ms).count();
        let judged = self.records.len() + late;
        let over = self.over + late;
        let verdict = rule.verdict(judged as u64, over as u64);
        self.verdict = Some((verdict, judged, over));
        if verdict == Verdict::Undecided {
            return false;
        }
        shared.stop.store(true, Ordering::SeqCst);
        true
    }

    fn finish(self, unserved: usize, warmup_iterations: usize) -> Result<ServerReport> {
        let trace_passes = match &self.config.arrivals {
            Arrivals::Replay(t) => Some((self.records.len() + unserved).div_ceil(t.gaps_s.len())),
            _ => None,
        };
        let analysis = analyze(&self.records, &self.batches)?;
        let early_stopping = self.early.map(|(mut es, bound_ms)| {
            let rule = es.rule();
            let (verdict, judged, over) = self.verdict.unwrap_or((Verdict::Undecided, 0, 0));
            let mut latencies: Vec<f64> = self.records.iter().map(RequestRecord::latency_ms).collect();
            latencies.sort_by(f64::total_cmp);
            EarlyStoppingReport {
                bound_ms,
                percentile: rule.percentile,
                confidence: rule.confidence,
                verdict,
                judged,
                over,
                estimate_ms: es.estimate(&latencies),
            }
        });
        let mut warnings = Vec::new();
        let g = &analysis.generator;
        if !g.kept_up {
            warnings.push(format!(
                "invalid: the generator sent {:.1}% slower than its schedule (margin {:.0}%): the load asked was not offered",
                g.shortfall * 100.0,
                g.margin * 100.0
            ));
        }
        let q = &analysis.queueing;
        if q.growing {
            warnings.push(format!(
                "not sustainable: queueing grows (median queue time {:.1} ms in the first quarter, {:.1} ms in the last; \
                 {:.0}% of the offered requests per second served)",
                q.first_quarter_queue_ms,
                q.last_quarter_queue_ms,
                q.served_fraction.unwrap_or(f64::NAN) * 100.0
            ));
        }
        Ok(ServerReport {
            arrivals: self.config.arrivals.label(),
            seed: self.config.seed,
            asked_rate: self.config.rate,
            max_batch: self.config.batching.max_batch,
            batch_timeout_ms: self.config.batching.timeout.as_secs_f64() * 1e3,
            stop: self.config.stop.label(),
            warmup_iterations,
            trace_passes,
            unserved,
            valid: analysis.generator.kept_up,
            sustainable: !analysis.queueing.growing,
            analysis,
            early_stopping,
            warnings,
            records: self.records,
            batches: self.batches,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::cast_precision_loss)]
    use infer_core::{DType, Device, Dim, SessionInfo, Tensor, TensorSpec};

    use super::*;

    /// A model that takes `per_call` plus `per_item` per batch item, sleeping (no CPU), echoing its input.
    struct Sleepy {
        info: SessionInfo,
        per_call: Duration,
        per_item: Duration,
        calls: usize,
    }

    impl Sleepy {
        fn new(per_call_ms: u64, per_item_ms: u64) -> Self {
            let specs = vec![TensorSpec::new("x", DType::F32, vec![Dim::Dynamic(None), Dim::Fixed(2)])];
            Self {
                info: SessionInfo::new(specs.clone(), specs, Device::Cpu),
                per_call: Duration::from_millis(per_call_ms),
                per_item: Duration::from_millis(per_item_ms),
                calls: 0,
            }
        }
    }

    impl Session for Sleepy {
        fn info(&self) -> &SessionInfo {
            &self.info
        }
        fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
            self.calls += 1;
            let items = u32::try_from(inputs[0].shape()[0]).unwrap();
            std::thread::sleep(self.per_call + self.per_item * items);
            Ok(inputs.to_vec())
        }
    }

    fn config(rate: f64, batching: BatchPolicy, stop: ServerStop) -> ServerConfig {
        ServerConfig {
            rate: Some(rate),
            arrivals: Arrivals::Constant,
            seed: 1,
            batching,
            stop,
            warmup: Warmup::Count(1),
        }
    }

    #[test]
    fn every_request_is_answered_once_in_order_never_sent_early() {
        let mut s = Sleepy::new(1, 0);
        let samples = Samples::synthetic(&s.info.inputs.clone(), 4, &[]).unwrap();
        let r = run_server(&mut s, &samples, &config(200.0, BatchPolicy::NONE, ServerStop::Requests(40))).unwrap();
        assert_eq!((r.analysis.requests, r.records.len(), r.batches.len(), r.unserved), (40, 40, 40, 0));
        for (k, rec) in r.records.iter().enumerate() {
            assert_eq!(rec.id, k);
            assert!((rec.scheduled_ms - (k + 1) as f64 * 5.0).abs() < 1e-6, "constant 5 ms gaps: {rec:?}");
            assert!(rec.sent_ms >= rec.scheduled_ms, "sent early: {rec:?}");
            assert!(rec.start_ms >= rec.sent_ms && rec.end_ms > rec.start_ms, "{rec:?}");
            assert_eq!(rec.batch, k);
        }
        assert_eq!(s.calls, 40 + 1, "one warm-up call, one call per request");
        assert!(r.early_stopping.is_none());
    }

    /// Triton's semantics on a model of 20 ms per call: requests every 2 ms fill batches of 4
    /// long before a 1 s timeout; a single request waits out a 30 ms timeout and runs alone.
    #[test]
    fn the_dynamic_batcher_fills_batches_or_waits_out_the_timeout() {
        let mut s = Sleepy::new(20, 0);
        let samples = Samples::synthetic(&s.info.inputs.clone(), 4, &[]).unwrap();
        let policy = BatchPolicy { max_batch: 4, timeout: Duration::from_secs(1) };
        let r = run_server(&mut s, &samples, &config(500.0, policy, ServerStop::Requests(24))).unwrap();
        assert!(r.analysis.batch_sizes.iter().all(|b| b.size == 4), "{:?}", r.analysis.batch_sizes);
        assert_eq!(r.batches.len(), 6);
        for rec in &r.records {
            let b = &r.batches[rec.batch];
            assert!((rec.start_ms - b.start_ms).abs() < 1e-9 && (rec.end_ms - b.end_ms).abs() < 1e-9);
        }

        let policy = BatchPolicy { max_batch: 8, timeout: Duration::from_millis(30) };
        let r = run_server(&mut s, &samples, &config(2.0, policy, ServerStop::Requests(1))).unwrap();
        let rec = r.records[0];
        assert_eq!(r.batches[0].size, 1);
        assert!(rec.start_ms - rec.sent_ms >= 30.0, "the lone request waited the timeout: {rec:?}");
        assert!((r.batch_timeout_ms - 30.0).abs() < 1e-9 && r.max_batch == 8);
    }

    #[test]
    fn early_stopping_passes_a_loose_bound_and_fails_a_tight_one() {
        let rule = Rule::loadgen(0.90);
        let stop = |bound_ms| ServerStop::EarlyStopping {
            bound: Duration::from_millis(bound_ms),
            rule,
            max_requests: 1000,
            max_time: Duration::from_secs(30),
        };
        let mut s = Sleepy::new(2, 0);
        let samples = Samples::synthetic(&s.info.inputs.clone(), 4, &[]).unwrap();
        // 2 ms per request at 200 req/s under a 500 ms bound: passes after h(0) = 44 requests.
        let r = run_server(&mut s, &samples, &config(200.0, BatchPolicy::NONE, stop(500))).unwrap();
        let es = r.early_stopping.clone().unwrap();
        assert_eq!((es.verdict, es.judged, es.over), (Verdict::Pass, 44, 0), "{es:?}");
        assert_eq!(r.analysis.requests, 44);
        // Under a 1 ms bound every request is over: fails at once.
        let r = run_server(&mut s, &samples, &config(200.0, BatchPolicy::NONE, stop(1))).unwrap();
        let es = r.early_stopping.unwrap();
        assert_eq!(es.verdict, Verdict::Fail, "{es:?}");
        assert!(es.judged < 5, "{es:?}");
    }

    #[test]
    fn a_fixed_batch_model_cannot_batch() {
        let mut s = Sleepy::new(0, 0);
        s.info.inputs = vec![TensorSpec::new("x", DType::F32, vec![Dim::Fixed(1), Dim::Fixed(2)])];
        let samples = Samples::synthetic(&s.info.inputs.clone(), 4, &[]).unwrap();
        let policy = BatchPolicy { max_batch: 4, timeout: Duration::ZERO };
        let err = run_server(&mut s, &samples, &config(100.0, policy, ServerStop::Requests(3))).unwrap_err();
        assert!(err.to_string().contains("fixed"), "{err}");
    }
}
