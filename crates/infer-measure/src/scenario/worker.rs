//! The model's worker of a server run: it owns the session, takes the requests the generator
//! sent ([`super::generator`]) in arrival order, runs them one per call or as the dynamic batcher
//! decides, records every request and call, and applies the run's stop rule (early stopping, a
//! confidence target) once the minimum schedule and count are behind it.
//!
//! Its own cost per request is kept small enough that a session doing nothing is served at
//! hundreds of thousands of requests per second (`benches/server_loop.rs`): the queue is the
//! worker's own, filled from a lock-free channel; an idle worker spins [`SPIN`] before it blocks;
//! the early-stopping verdict, whose binomial sums grow with the counts, is computed at most every
//! 1/1024th of growth once a verdict is allowed.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc::{Receiver, RecvTimeoutError, TryRecvError},
    },
    time::{Duration, Instant},
};

use infer_core::{Result, Session};

use super::{
    analysis::{BatchRecord, RequestRecord, analyze},
    arrivals::Arrivals,
    batcher::{BatchPolicy, Decision, decide},
    early_stopping::{EarlyStopping, Verdict},
    generator::{POLL, Pending},
    samples::Samples,
    server_config::{ServerConfig, ServerStop},
    server_report::{EarlyStoppingReport, ServerReport},
    streams::Streams,
};
use crate::confidence::{CheckSchedule, CiTarget, Convergence};

/// How long an idle worker spins on its channel before it blocks.
pub const SPIN: Duration = Duration::from_micros(50);

/// The most records reserved ahead of a run (about 100 MB); beyond it the vector grows.
const MAX_RESERVED: usize = 1 << 21;

/// The early-stopping rule's state.
struct Early {
    rule: EarlyStopping,
    bound_ms: f64,
    /// `h(0)`: no verdict with fewer requests judged.
    min_requests: u64,
    /// Answered requests over the bound.
    over: usize,
    /// Judged requests at which the verdict is computed next.
    next_check: usize,
    /// The last verdict and the counts it was computed on.
    verdict: (Verdict, usize, usize),
}

/// A confidence target's state.
struct Target {
    target: CiTarget,
    schedule: CheckSchedule,
    /// The schedule time at which the interval was first within the target.
    reached_at: Option<f64>,
    scratch: Vec<f64>,
}

/// How the run decides to stop, beside its caps.
enum Judge {
    /// After a count or a duration: the generator decides.
    Caps,
    /// Early stopping on a latency bound.
    Early(Box<Early>),
    /// A confidence target on the latency.
    Target(Box<Target>),
}

/// The worker's side of a run: its queue, the records and the stop rule's state.
pub(super) struct Run<'c> {
    config: &'c ServerConfig,
    origin: Instant,
    rx: Receiver<Pending>,
    waiting: VecDeque<Pending>,
    generator_done: bool,
    /// Requests received from the generator.
    sent: usize,
    /// The latest scheduled arrival received, seconds.
    latest_scheduled: f64,
    records: Vec<RequestRecord>,
    batches: Vec<BatchRecord>,
    judge: Judge,
    /// The client streams' states, when the state is fed back.
    streams: Option<Streams>,
}

impl<'c> Run<'c> {
    pub(super) fn new(
        config: &'c ServerConfig,
        origin: Instant,
        rx: Receiver<Pending>,
        streams: Option<Streams>,
    ) -> Self {
        let judge = match config.stop {
            ServerStop::EarlyStopping { bound, rule, .. } => {
                let mut es = EarlyStopping::new(rule);
                let min_requests = es.min_passing(0);
                Judge::Early(Box::new(Early {
                    rule: es,
                    bound_ms: bound.as_secs_f64() * 1e3,
                    min_requests,
                    over: 0,
                    next_check: 0,
                    verdict: (Verdict::Undecided, 0, 0),
                }))
            }
            ServerStop::Confidence(target) => Judge::Target(Box::new(Target {
                target,
                schedule: CheckSchedule::new(&target),
                reached_at: None,
                scratch: Vec::new(),
            })),
            ServerStop::Requests(_) | ServerStop::Duration(_) => Judge::Caps,
        };
        let reserve = expected_requests(config).min(MAX_RESERVED);
        Self {
            config,
            origin,
            rx,
            waiting: VecDeque::with_capacity(1024),
            generator_done: false,
            sent: 0,
            latest_scheduled: 0.0,
            records: Vec::with_capacity(reserve),
            batches: Vec::with_capacity(reserve / config.batching.max_batch.max(1)),
            judge,
            streams,
        }
    }

    fn now(&self) -> f64 {
        self.origin.elapsed().as_secs_f64()
    }

    fn take(&mut self, p: Pending) {
        self.sent += 1;
        self.latest_scheduled = self.latest_scheduled.max(p.scheduled);
        self.waiting.push_back(p);
    }

    /// Moves every request already sent into the queue.
    fn receive(&mut self) {
        loop {
            match self.rx.try_recv() {
                Ok(p) => self.take(p),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    self.generator_done = true;
                    return;
                }
            }
        }
    }

    /// Waits for a request, at most until `until` (seconds, the batcher's deadline): spins
    /// [`SPIN`], then blocks (at most [`POLL`]).
    fn wait(&mut self, until: Option<f64>) {
        let start = self.now();
        let spin_until = until.map_or(start + SPIN.as_secs_f64(), |t| t.min(start + SPIN.as_secs_f64()));
        loop {
            match self.rx.try_recv() {
                Ok(p) => return self.take(p),
                Err(TryRecvError::Disconnected) => {
                    self.generator_done = true;
                    return;
                }
                Err(TryRecvError::Empty) if self.now() < spin_until => std::hint::spin_loop(),
                Err(TryRecvError::Empty) => break,
            }
        }
        let now = self.now();
        let timeout = until.map_or(POLL, |t| Duration::from_secs_f64((t - now).max(0.0)).min(POLL));
        match self.rx.recv_timeout(timeout) {
            Ok(p) => self.take(p),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => self.generator_done = true,
        }
    }

    /// Takes requests off the queue as the batcher decides and runs them, until the generator is
    /// done and the queue empty, or the early-stopping verdict is reached (the requests still
    /// queued are then unserved). A met confidence target halts the generator; the requests
    /// already sent are answered.
    pub(super) fn serve(
        &mut self,
        session: &mut dyn Session,
        samples: &Samples,
        halt: &AtomicBool,
        policy: BatchPolicy,
    ) -> Result<()> {
        let mut batch: Vec<Pending> = Vec::with_capacity(policy.max_batch);
        loop {
            self.receive();
            let now = self.now();
            match decide(&policy, self.waiting.len(), self.waiting.front().map(|p| p.sent), now) {
                Decision::Run(n) => {
                    batch.clear();
                    batch.extend(self.waiting.drain(..n));
                    self.run_batch(session, samples, &batch)?;
                    self.receive();
                    if self.judge(halt)? {
                        return Ok(());
                    }
                }
                Decision::Idle if self.generator_done => return Ok(()),
                Decision::Idle => self.wait(None),
                Decision::WaitUntil(t) => self.wait(Some(t)),
            }
        }
    }

    fn run_batch(&mut self, session: &mut dyn Session, samples: &Samples, batch: &[Pending]) -> Result<()> {
        let start = self.now();
        let mut inputs = samples.batch(batch[0].id, batch.len())?;
        if let Some(streams) = &self.streams {
            streams.apply(&mut inputs, batch[0].id, batch.len(), samples)?;
        }
        let assembled = self.now();
        let outputs = session.run(&inputs)?;
        session.synchronize()?;
        let answers = samples.split(&outputs, session.outputs(), batch.len())?;
        match &mut self.streams {
            Some(streams) => streams.keep(&outputs, &inputs, answers, batch[0].id)?,
            None => drop(answers),
        }
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
            if let Judge::Early(e) = &mut self.judge
                && record.latency_ms() > e.bound_ms
            {
                e.over += 1;
            }
            self.records.push(record);
        }
        Ok(())
    }

    /// Whether the minimum schedule is behind the run: a request scheduled at least the minimum
    /// time late was sent, or the generator is done (its caps came first).
    fn past_minimum(&self) -> bool {
        self.generator_done || self.latest_scheduled >= self.config.min_time.as_secs_f64()
    }

    /// Applies the stop rule; true when the run ends now (an early-stopping verdict). Requests
    /// still queued whose scheduled time is more than the bound ago are over it already and count
    /// as such.
    fn judge(&mut self, halt: &AtomicBool) -> Result<bool> {
        let past_minimum = self.past_minimum();
        let now = self.now();
        let (records, waiting, latest) = (&self.records, &self.waiting, self.latest_scheduled);
        match &mut self.judge {
            Judge::Caps => Ok(false),
            Judge::Early(e) => {
                let now_ms = now * 1e3;
                let late = waiting.iter().take_while(|p| now_ms - p.scheduled * 1e3 > e.bound_ms).count();
                let (judged, over) = (records.len() + late, e.over + late);
                if !past_minimum || (judged as u64) < e.min_requests || judged < e.next_check {
                    e.verdict = (e.verdict.0, judged, over);
                    return Ok(false);
                }
                e.next_check = judged + (judged / 1024).max(1);
                let verdict = e.rule.verdict(judged as u64, over as u64);
                e.verdict = (verdict, judged, over);
                if verdict == Verdict::Undecided {
                    return Ok(false);
                }
                halt.store(true, Ordering::SeqCst);
                Ok(true)
            }
            Judge::Target(t) => {
                let elapsed = Duration::from_secs_f64(now);
                if !past_minimum || t.reached_at.is_some() || !t.schedule.due(records.len(), elapsed) {
                    return Ok(false);
                }
                let clock = Instant::now();
                t.scratch.clear();
                t.scratch.extend(records.iter().map(RequestRecord::latency_ms));
                let precision = t.target.check_quantiles(&mut t.scratch)?;
                t.schedule.checked(records.len(), elapsed + clock.elapsed(), clock.elapsed());
                if t.target.met(&precision) {
                    t.reached_at = Some(latest);
                    halt.store(true, Ordering::SeqCst);
                }
                Ok(false)
            }
        }
    }

    /// The report: every request the generator sent is either answered or unserved.
    pub(super) fn finish(mut self, warmup_iterations: usize) -> Result<ServerReport> {
        // The generator has ended: whatever it sent is in the channel or the queue.
        while !self.generator_done {
            self.receive();
        }
        let unserved = self.waiting.len();
        let trace_passes = match &self.config.arrivals {
            Arrivals::Replay(t) => Some(self.sent.div_ceil(t.gaps_s.len())),
            _ => None,
        };
        let analysis = analyze(&self.records, &self.batches)?;
        let duration_s = self.latest_scheduled;
        let min_time_s = self.config.min_time.as_secs_f64();
        let early_stopping = self.early_report();
        let convergence = self.convergence()?;
        let mut warnings = Vec::new();
        // The schedule the run covered: through the mean gap after its last request (a run whose
        // caps end it just before the minimum covered it), or the duration asked.
        #[allow(clippy::cast_precision_loss)]
        let covered = duration_s * (self.sent as f64 + 1.0) / (self.sent.max(1) as f64);
        let span = match self.config.stop {
            ServerStop::Duration(d) => d.as_secs_f64().max(covered),
            _ => covered,
        };
        if span < min_time_s * (1.0 - 1e-9) {
            warnings.push(format!(
                "short run: {} requests over {duration_s:.3} s of schedule, under the {min_time_s} s minimum \
                 (--min-probe-time): it measures a burst, not a steady state",
                self.sent
            ));
        }
        warnings.extend(convergence.as_ref().and_then(Convergence::warning));
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
            sent: self.sent,
            duration_s,
            min_time_s,
            valid: analysis.generator.kept_up,
            sustainable: !analysis.queueing.growing,
            analysis,
            early_stopping,
            convergence,
            warnings,
            streams: self.streams.as_ref().map(Streams::count),
            records: self.records,
            batches: self.batches,
            padding: None,
        })
    }

    /// The early-stopping outcome; a run that ended undecided past its minimum is judged once
    /// more on its final counts.
    fn early_report(&mut self) -> Option<EarlyStoppingReport> {
        let past_minimum = self.past_minimum();
        let Judge::Early(e) = &mut self.judge else { return None };
        let (mut verdict, judged, over) = e.verdict;
        if verdict == Verdict::Undecided && past_minimum && judged as u64 >= e.min_requests {
            verdict = e.rule.verdict(judged as u64, over as u64);
        }
        let rule = e.rule.rule();
        let mut latencies: Vec<f64> = self.records.iter().map(RequestRecord::latency_ms).collect();
        latencies.sort_by(f64::total_cmp);
        Some(EarlyStoppingReport {
            bound_ms: e.bound_ms,
            percentile: rule.percentile,
            confidence: rule.confidence,
            verdict,
            judged,
            over,
            estimate_ms: e.rule.estimate(&latencies),
            min_requests: e.min_requests,
        })
    }

    /// The confidence target's record: the intervals of every answered latency, reached when they
    /// are within the target and were during the run.
    fn convergence(&mut self) -> Result<Option<Convergence>> {
        let duration_s = self.latest_scheduled;
        let Judge::Target(t) = &mut self.judge else { return Ok(None) };
        t.scratch.clear();
        t.scratch.extend(self.records.iter().map(RequestRecord::latency_ms));
        let precision = t.target.check_quantiles(&mut t.scratch)?;
        let mut c = Convergence::new(&t.target, &precision, self.records.len(), t.reached_at.unwrap_or(duration_s));
        c.reached = c.reached && t.reached_at.is_some();
        if !c.reached {
            c.time_to_interval_s = duration_s;
        }
        Ok(Some(c))
    }
}

/// About how many requests a run will send, to reserve its records.
fn expected_requests(config: &ServerConfig) -> usize {
    let rate = config.rate.or_else(|| config.arrivals.natural_rate()).unwrap_or(0.0);
    let span = |d: Duration| {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let n = (rate * d.as_secs_f64().max(config.min_time.as_secs_f64()) * 1.05) as usize;
        n + 64
    };
    match config.stop {
        ServerStop::Requests(n) => n,
        ServerStop::Duration(d) => span(d),
        ServerStop::EarlyStopping { max_requests, max_time, .. } => span(max_time).min(max_requests),
        ServerStop::Confidence(t) => span(t.max_time),
    }
}
