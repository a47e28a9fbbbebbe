//! The server scenario: an open-loop generator thread ([`super::generator`]) sends requests at
//! their scheduled arrival times whatever the model is doing; the model's worker (the calling
//! thread, which owns the session: `worker`) takes them in order, one per call or in
//! dynamic batches.
//!
//! Every time is read from one clock whose zero is the start of the run. A request's latency runs
//! from its *scheduled* arrival to its output, so a generator that wakes late or a queue that
//! fills shows as latency, never hides. The generator never sends a request before its scheduled
//! time, never skips one, and sends overdue ones at once.
//!
//! No verdict comes before [`ServerConfig::min_time`] of schedule (`--min-probe-time`, default
//! [`MIN_PROBE_TIME`]) *and* the early-stopping minimum (the requests a pass needs with none over
//! the bound): a run of a few milliseconds measures a burst, not a steady state (see
//! `docs/scenarios.md`).

use std::{
    sync::{atomic::AtomicBool, mpsc},
    time::Instant,
};

use indicatif::ProgressBar;
use infer_core::{Error, Result, Session};

use super::{arrivals::Schedule, generator::generate, samples::Samples, streams::Streams, worker::Run};
pub use super::{
    server_config::{DEFAULT_SEED, MIN_PROBE_TIME, ServerConfig, ServerStop, fmt_num, fmt_pct},
    server_report::{EarlyStoppingReport, ServerReport},
};
use crate::{
    timing::{BenchConfig, Stop, Warmup, time_session},
    workload::lengths::{Padding, PaddingFigures},
};

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
/// rate, a confidence target out of range), and the first run error (the generator is stopped
/// first).
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
    if let ServerStop::Confidence(t) = &config.stop
        && !t.is_valid()
    {
        return Err(Error::InvalidInput(format!("invalid confidence target {t:?}: fractions must be in (0, 1)")));
    }
    let schedule = Schedule::new(config.arrivals.gaps(config.rate, config.seed)?);
    let warmup_iterations = warm_up(session, samples, config.warmup, policy.max_batch)?;
    let halt = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel();
    let origin = Instant::now();
    let streams = Streams::new(&config.feedback, config.streams, session.info())?;
    if let Some(s) = &streams
        && policy.max_batch > s.count()
    {
        return Err(Error::InvalidInput(format!(
            "dynamic batching of up to {} with {} stream(s) carrying their state: a call could hold two \
             requests of one stream: batch at most {}",
            policy.max_batch,
            s.count(),
            s.count()
        )));
    }
    let mut run = Run::new(config, origin, rx, streams);
    let outcome = std::thread::scope(|scope| {
        let halt = &halt;
        let stop = (config.stop, config.min_time);
        let generator = scope.spawn(move || generate(tx, halt, schedule, stop, origin));
        let served = run.serve(session, samples, halt, policy);
        // Whatever happened, the generator stops before the scope ends.
        halt.store(true, std::sync::atomic::Ordering::SeqCst);
        let joined = generator.join().map_err(|_| Error::InvalidInput("the request generator panicked".into()));
        served.and(joined)
    });
    outcome?;
    let mut report = run.finish(warmup_iterations)?;
    report.padding = padding(samples, &report)?;
    Ok(report)
}

/// With `--lengths`, the padding of the calls a run made (each call's requests are consecutive).
fn padding(samples: &Samples, report: &ServerReport) -> Result<Option<PaddingFigures>> {
    if samples.lengths().is_none() || report.records.is_empty() {
        return Ok(None);
    }
    let mut firsts = vec![usize::MAX; report.batches.len()];
    for r in &report.records {
        if let Some(f) = firsts.get_mut(r.batch) {
            *f = (*f).min(r.id);
        }
    }
    let mut total = Padding::default();
    for (b, &first) in report.batches.iter().zip(&firsts) {
        if first != usize::MAX {
            total.add(samples.padding(first, b.size)?.unwrap_or_default());
        }
    }
    let start = report.records.iter().map(|r| r.scheduled_ms).fold(f64::INFINITY, f64::min);
    let end = report.records.iter().map(|r| r.end_ms).fold(0.0, f64::max);
    Ok(Some(total.figures(report.records.len(), (end - start).max(0.0) / 1e3)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::cast_precision_loss)]
    use std::time::Duration;

    use infer_core::{DType, Device, Dim, SessionInfo, Tensor, TensorSpec};

    use super::*;
    use crate::{
        confidence::CiTarget,
        scenario::{
            arrivals::Arrivals,
            batcher::BatchPolicy,
            early_stopping::{Rule, Verdict},
        },
    };

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
            min_time: Duration::ZERO,
            feedback: Vec::new(),
            streams: 1,
        }
    }

    /// The benchmark's null session (`benches/server_loop.rs`): no work, no output.
    struct Null(SessionInfo);

    impl Null {
        fn new() -> Self {
            let specs = vec![TensorSpec::new("x", DType::F32, vec![Dim::Dynamic(None), Dim::Fixed(2)])];
            Self(SessionInfo::new(specs, Vec::new(), Device::Cpu))
        }
    }

    impl Session for Null {
        fn info(&self) -> &SessionInfo {
            &self.0
        }
        fn run(&mut self, _inputs: &[Tensor]) -> Result<Vec<Tensor>> {
            Ok(Vec::new())
        }
    }

    /// Every request sent is answered once or counted unserved; ids, batches and times agree.
    fn assert_accounting(r: &ServerReport, expected: usize) {
        assert_eq!(r.sent, expected, "requests sent");
        assert_eq!(r.records.len() + r.unserved, r.sent, "answered + unserved = sent");
        assert_eq!(r.analysis.requests, r.records.len());
        let mut ids: Vec<usize> = r.records.iter().map(|x| x.id).collect();
        ids.sort_unstable();
        assert!(ids.iter().enumerate().all(|(k, &id)| k == id), "every id answered once, none skipped");
        assert_eq!(r.batches.iter().map(|b| b.size).sum::<usize>(), r.records.len(), "batch sizes add up");
        for x in &r.records {
            let b = &r.batches[x.batch];
            assert!(b.size >= 1 && b.size <= r.max_batch, "{b:?}");
            assert!(x.start_ms == b.start_ms && x.end_ms == b.end_ms, "{x:?} in {b:?}");
            assert!(x.sent_ms >= x.scheduled_ms && x.start_ms >= x.sent_ms && x.end_ms >= x.start_ms, "{x:?}");
        }
    }

    /// The load generator against a session that does nothing, at 100,000 requests per second
    /// (0.5 s of schedule), without and with the dynamic batcher: the accounting is exact
    /// whatever the machine's speed. (The rate it sustains is the benchmark's business.)
    #[test]
    fn the_accounting_is_exact_at_a_high_rate_against_a_null_session() {
        let mut s = Null::new();
        let samples = Samples::synthetic(&s.0.inputs.clone(), 4, &[]).unwrap();
        for batching in [BatchPolicy::NONE, BatchPolicy { max_batch: 8, timeout: Duration::from_micros(20) }] {
            let mut c = config(100_000.0, batching, ServerStop::Requests(50_000));
            c.arrivals = Arrivals::Poisson;
            let r = run_server(&mut s, &samples, &c).unwrap();
            assert_accounting(&r, 50_000);
            assert_eq!(r.unserved, 0, "a run stopped by its count answers everything");
            // The schedule is the seeded Poisson process, to the request.
            let expected: Vec<f64> = Schedule::new(Arrivals::Poisson.gaps(Some(100_000.0), 1).unwrap())
                .take(50_000)
                .map(|at| at * 1e3)
                .collect();
            let mut by_id = r.records.clone();
            by_id.sort_by_key(|x| x.id);
            assert!(by_id.iter().zip(&expected).all(|(x, &at)| (x.scheduled_ms - at).abs() < 1e-9));
            assert!((r.duration_s - expected[49_999] / 1e3).abs() < 1e-12, "{}", r.duration_s);
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
        // Under a 1 ms bound every request is over: fails as soon as a verdict is allowed, with
        // h(0) = 44 requests judged (not on the first few).
        let r = run_server(&mut s, &samples, &config(200.0, BatchPolicy::NONE, stop(1))).unwrap();
        let es = r.early_stopping.unwrap();
        assert_eq!(es.verdict, Verdict::Fail, "{es:?}");
        assert!((44..=46).contains(&es.judged), "{es:?}");
    }

    /// No verdict before the minimum schedule and count: a bound every request misses fails, but
    /// only once a request scheduled after the minimum time was sent and h(0) were judged (it used
    /// to fail on a handful); a loose bound passes at the same point. Schedule-based: whatever the
    /// machine's speed, the requests scheduled before the minimum were all sent.
    #[test]
    fn verdicts_wait_for_the_minimum_time_and_count() {
        let rule = Rule::loadgen(0.90);
        let stop = |bound_us| ServerStop::EarlyStopping {
            bound: Duration::from_micros(bound_us),
            rule,
            max_requests: 20,
            max_time: Duration::from_secs(30),
        };
        let mut s = Sleepy::new(1, 0);
        let samples = Samples::synthetic(&s.info.inputs.clone(), 4, &[]).unwrap();
        let min = Duration::from_millis(400);
        for (bound_us, verdict) in [(500, Verdict::Fail), (5_000_000, Verdict::Pass)] {
            let mut c = config(200.0, BatchPolicy::NONE, stop(bound_us));
            c.min_time = min;
            let r = run_server(&mut s, &samples, &c).unwrap();
            let es = r.early_stopping.clone().unwrap();
            assert_eq!(es.verdict, verdict, "{es:?}");
            assert_eq!(es.min_requests, 44);
            assert!(es.judged >= 44, "{es:?}");
            // Every 5 ms: the 79 requests scheduled before 400 ms were all sent before the
            // verdict, the cap of 20 requests notwithstanding.
            assert!(
                r.sent >= 79 && r.duration_s >= 0.395 && r.min_time_s == 0.4,
                "{} sent over {} s",
                r.sent,
                r.duration_s
            );
            assert_accounting(&r, r.sent);
            assert!(r.warnings.iter().all(|w| !w.starts_with("short run")), "{:?}", r.warnings);
        }
        // A run stopped by a count shorter than the minimum says it measured a burst.
        let mut c = config(200.0, BatchPolicy::NONE, ServerStop::Requests(10));
        c.min_time = min;
        let r = run_server(&mut s, &samples, &c).unwrap();
        assert!(r.warnings.iter().any(|w| w.starts_with("short run: 10 requests over 0.050 s")), "{:?}", r.warnings);
    }

    /// A confidence target on the latency: a loose one is reached after the minimum schedule and
    /// the generator halted well before the budget; an impossible one runs to the budget and
    /// says how close it came.
    #[test]
    fn a_confidence_target_stops_the_run_or_says_it_was_not_reached() {
        let mut s = Sleepy::new(1, 0);
        let samples = Samples::synthetic(&s.info.inputs.clone(), 4, &[]).unwrap();
        let loose = CiTarget::median(0.5, Duration::from_secs(20));
        let mut c = config(300.0, BatchPolicy::NONE, ServerStop::Confidence(loose));
        c.min_time = Duration::from_millis(300);
        let r = run_server(&mut s, &samples, &c).unwrap();
        let conv = r.convergence.clone().unwrap();
        assert!(conv.reached, "{conv:?}");
        assert!(conv.time_to_interval_s >= 0.3 && r.duration_s < 20.0, "{conv:?} over {} s", r.duration_s);
        assert_accounting(&r, r.sent);
        assert_eq!(r.unserved, 0, "the requests sent before the target was met are answered");

        let tight = CiTarget::median(1e-6, Duration::from_millis(400));
        let mut c = config(300.0, BatchPolicy::NONE, ServerStop::Confidence(tight));
        c.min_time = Duration::from_millis(100);
        let r = run_server(&mut s, &samples, &c).unwrap();
        let conv = r.convergence.clone().unwrap();
        assert!(!conv.reached && (conv.time_to_interval_s - r.duration_s).abs() < 1e-12, "{conv:?}");
        assert!(r.sent >= 119, "the 120 requests scheduled within the 400 ms budget: {}", r.sent);
        assert!(r.warnings.iter().any(|w| w.starts_with("target not reached")), "{:?}", r.warnings);
        assert!(
            r.stop.starts_with("until the 95% interval of the latency is within ±0.0% of the median"),
            "{}",
            r.stop
        );
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
