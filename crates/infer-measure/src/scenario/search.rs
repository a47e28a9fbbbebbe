//! The highest request rate a configuration sustains with a latency percentile within a bound: a
//! search on the rate whose every probe is a server run stopped by the early-stopping rule
//! ([`super::early_stopping`]), not after a fixed count.
//!
//! The search starts at half the closed-loop throughput measured at the largest batch, doubles
//! the rate while probes pass and halves it while they fail, then bisects between the highest
//! pass and the lowest failure until they are within the precision asked. A probe passes when
//! the rule says, at its confidence, that the percentile is within the bound, the generator kept
//! to its schedule, and queueing did not grow; it fails when the rule says the percentile is over
//! the bound, the generator fell behind, or queueing grew. A probe that reaches its caps
//! undecided although it had the requests a pass needs (the percentile is close to the bound)
//! fails. One whose caps left it fewer requests than a pass needs has too few: it counts as a
//! failure above a pass, and with no pass yet it ends the search, since a lower rate gives even
//! fewer requests in the same time.
//!
//! No probe is judged before it has lasted the server's minimum time of schedule (`--min-probe-time`)
//! and judged the requests a pass needs: a verdict on a few milliseconds of arrivals (or on a
//! single request) would measure a burst, not a steady state.

use std::time::{Duration, Instant};

use infer_core::{Error, Result, Session};
use serde::{Deserialize, Serialize};

use super::{
    arrivals::MAX_RATE,
    early_stopping::{EarlyStopping, Rule, Verdict},
    samples::Samples,
    server::{ServerConfig, ServerReport, ServerStop, fmt_num, fmt_pct, run_server, warm_up},
};

/// How to search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchConfig {
    /// Arrivals, seed, batching and warm-up of every probe (its rate and stop are the search's).
    pub server: ServerConfig,
    /// The latency bound.
    pub bound: Duration,
    /// The percentile held to the bound and the confidence of each verdict.
    pub rule: Rule,
    /// Stop when the lowest failing rate is within this fraction above the highest passing one.
    pub precision: f64,
    /// The most probes.
    pub max_probes: usize,
    /// Cap on the requests of one probe.
    pub probe_max_requests: usize,
    /// Cap on the scheduled span of one probe.
    pub probe_max_time: Duration,
    /// How long the closed-loop throughput that starts the search is measured.
    pub capacity_time: Duration,
}

/// Defaults: 5% precision, 12 probes, 60 s or 20,000 requests per probe, 2 s of closed loop.
impl SearchConfig {
    /// The default search for `bound` on `rule` with the server settings of `server`.
    #[must_use]
    pub fn new(server: ServerConfig, bound: Duration, rule: Rule) -> Self {
        Self {
            server,
            bound,
            rule,
            precision: 0.05,
            max_probes: 12,
            probe_max_requests: 20_000,
            probe_max_time: Duration::from_secs(60),
            capacity_time: Duration::from_secs(2),
        }
    }
}

/// A probe's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Sustained within the bound.
    Pass,
    /// Over the bound, not sustained, or not offered (generator behind).
    Fail,
    /// Undecided because the probe's caps left fewer requests than a pass needs.
    TooFew,
}

/// One probe of the search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// Requests per second offered.
    pub rate: f64,
    /// Whether the probe passed (verdict pass, valid, sustainable).
    pub passed: bool,
    /// Pass, fail, or too few requests to tell.
    pub outcome: Outcome,
    /// The early-stopping verdict.
    pub verdict: Verdict,
    /// The generator kept to the schedule.
    pub valid: bool,
    /// Queueing did not grow.
    pub sustainable: bool,
    /// Requests answered.
    pub requests: usize,
    /// The probe's span of schedule, seconds: at least the minimum (`--min-probe-time`) unless
    /// its caps came first.
    #[serde(default)]
    pub duration_s: f64,
    /// Median latency from the scheduled arrival, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// LoadGen's early-stopping estimate of the bounded percentile, ms.
    pub estimate_ms: Option<f64>,
    /// Why it passed or failed, in words.
    pub reason: String,
}

/// The outcome of a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchReport {
    /// The latency bound, ms.
    pub bound_ms: f64,
    /// The percentile held to it, as a fraction.
    pub percentile: f64,
    /// Confidence of each probe's verdict.
    pub confidence: f64,
    /// The precision asked.
    pub precision: f64,
    /// The arrival process of the probes.
    pub arrivals: String,
    /// The most requests per call (1: no batching).
    pub max_batch: usize,
    /// The dynamic batcher's timeout, ms.
    pub batch_timeout_ms: f64,
    /// Closed-loop throughput at the largest batch, items per second: where the search starts from.
    pub closed_loop_per_s: f64,
    /// The highest rate that passed, requests per second; `None` when none did.
    pub max_rate: Option<f64>,
    /// The probe at that rate.
    pub at_max: Option<Probe>,
    /// Whether the highest pass and lowest failure came within the precision.
    pub converged: bool,
    /// Why the search ended early, if it did.
    pub note: Option<String>,
    /// Every probe, in order.
    pub probes: Vec<Probe>,
    /// Every probe's full run, raw records included, in the same order.
    pub runs: Vec<ServerReport>,
}

/// The rates tried by [`bisect`] and what it found.
#[derive(Debug, Clone, PartialEq)]
pub struct Bisection {
    /// The highest rate that passed.
    pub max_rate: Option<f64>,
    /// Every (rate, outcome), in order.
    pub tried: Vec<(f64, Outcome)>,
    /// Whether the bracket came within the precision.
    pub converged: bool,
    /// Why the search ended early, if it did.
    pub note: Option<String>,
}

/// Searches for the highest passing rate from `start`: doubling while probes pass, halving while
/// they fail (giving up below `min_rate`), then bisecting until the lowest failure is within
/// `precision` above the highest pass, at most `max_probes` probes. A probe with too few requests
/// is a failure above a pass, and ends the search when nothing passed yet.
///
/// # Errors
/// Invalid settings and the first error of `probe`.
pub fn bisect(
    start: f64,
    min_rate: f64,
    precision: f64,
    max_probes: usize,
    probe: &mut dyn FnMut(f64) -> Result<Outcome>,
) -> Result<Bisection> {
    if !(start.is_finite() && start > 0.0 && precision > 0.0 && min_rate >= 0.0) {
        return Err(Error::InvalidInput(format!(
            "invalid search: start rate {start}, precision {precision}: both must be positive"
        )));
    }
    let (mut lo, mut hi): (Option<f64>, Option<f64>) = (None, None);
    let mut tried = Vec::new();
    let mut rate = start;
    let mut converged = false;
    let mut note = None;
    while tried.len() < max_probes {
        let outcome = probe(rate)?;
        tried.push((rate, outcome));
        // Every probe lies above the highest pass and below the lowest failure.
        match outcome {
            Outcome::Pass => lo = Some(rate),
            Outcome::TooFew if lo.is_none() => {
                note = Some(format!(
                    "too few requests at {rate:.3} req/s within the probe's time to decide, with nothing passed yet: \
                     lower rates would give even fewer (raise --probe-time)"
                ));
                break;
            }
            Outcome::Fail | Outcome::TooFew => hi = Some(rate),
        }
        rate = match (lo, hi) {
            (Some(l), Some(h)) if h <= l * (1.0 + precision) => {
                converged = true;
                break;
            }
            (Some(l), Some(h)) => (l + h) / 2.0,
            (Some(l), None) => l * 2.0,
            (None, Some(h)) if h / 2.0 < min_rate => {
                note = Some(format!("nothing passed down to {h:.3} req/s"));
                break;
            }
            (None, Some(h)) => h / 2.0,
            (None, None) => break,
        };
    }
    if !converged && note.is_none() && tried.len() >= max_probes {
        note = Some(format!("stopped at the limit of {max_probes} probes before the precision was reached"));
    }
    Ok(Bisection { max_rate: lo, tried, converged, note })
}

/// Searches on a loaded session; `log` receives a line per probe.
///
/// # Errors
/// Invalid settings and run errors.
pub fn find_max_rate(
    session: &mut dyn Session,
    samples: &Samples,
    config: &SearchConfig,
    log: &mut dyn FnMut(&str),
) -> Result<SearchReport> {
    if !config.rule.is_valid() || config.bound.is_zero() {
        return Err(Error::InvalidInput(
            "invalid latency bound or percentile: the bound must be positive and the percentile between 0 and 100"
                .into(),
        ));
    }
    let batching = config.server.batching;
    warm_up(session, samples, config.server.warmup, batching.max_batch)?;
    let closed_loop_per_s = closed_loop(session, samples, batching.max_batch, config.capacity_time)?;
    log(&format!("closed loop at batch {}: {closed_loop_per_s:.1} items/s", batching.max_batch));
    let stop = ServerStop::EarlyStopping {
        bound: config.bound,
        rule: config.rule,
        max_requests: config.probe_max_requests,
        max_time: config.probe_max_time,
    };
    let mut runs: Vec<ServerReport> = Vec::new();
    let mut probes: Vec<Probe> = Vec::new();
    let pct = fmt_pct(config.rule.percentile);
    let needed = EarlyStopping::new(config.rule).min_passing(0);
    let bisection =
        bisect(closed_loop_per_s / 2.0, closed_loop_per_s / 64.0, config.precision, config.max_probes, &mut |rate| {
            if rate > MAX_RATE {
                log(&format!(
                    "{rate:.0} req/s is above the highest rate a run accepts ({MAX_RATE}): counted as a failure"
                ));
                return Ok(Outcome::Fail);
            }
            let probe_config = ServerConfig {
                rate: Some(rate),
                stop,
                warmup: crate::timing::Warmup::Count(0),
                ..config.server.clone()
            };
            let run = run_server(session, samples, &probe_config)?;
            let probe = judge(rate, &run, &pct, needed);
            log(&format!(
                "probe {}: {rate:.2} req/s, {} requests over {:.2} s: {} ({})",
                probes.len() + 1,
                probe.requests,
                probe.duration_s,
                outcome_word(probe.outcome),
                probe.reason
            ));
            let outcome = probe.outcome;
            probes.push(probe);
            runs.push(run);
            Ok(outcome)
        })?;
    let at_max =
        bisection.max_rate.and_then(|m| probes.iter().find(|p| p.passed && (p.rate - m).abs() <= 1e-12 * m)).cloned();
    Ok(SearchReport {
        bound_ms: config.bound.as_secs_f64() * 1e3,
        percentile: config.rule.percentile,
        confidence: config.rule.confidence,
        precision: config.precision,
        arrivals: config.server.arrivals.label(),
        max_batch: batching.max_batch,
        batch_timeout_ms: batching.timeout.as_secs_f64() * 1e3,
        closed_loop_per_s,
        max_rate: bisection.max_rate,
        at_max,
        converged: bisection.converged,
        note: bisection.note,
        probes,
        runs,
    })
}

/// A probe's outcome from its run; `needed` is the fewest requests a pass takes (`h(0)`).
fn judge(rate: f64, run: &ServerReport, pct: &str, needed: u64) -> Probe {
    let es = run.early_stopping.as_ref();
    let verdict = es.map_or(Verdict::Undecided, |e| e.verdict);
    let (judged, over) = es.map_or((0, 0), |e| (e.judged, e.over));
    let bound = fmt_num(es.map_or(f64::NAN, |e| e.bound_ms));
    let too_few = (judged as u64) < needed;
    let reason = if !run.valid {
        format!("invalid: the generator sent {:.1}% slower than scheduled", run.analysis.generator.shortfall * 100.0)
    } else if verdict == Verdict::Fail {
        format!("p{pct} over {bound} ms: {over} of {judged} requests over the bound")
    } else if !run.sustainable {
        "not sustainable: queueing grows".to_string()
    } else if verdict == Verdict::Pass {
        format!("p{pct} within {bound} ms: {over} of {judged} requests over the bound")
    } else if too_few {
        format!("too few requests to decide: {judged} within the probe's time, a pass needs {needed}")
    } else {
        format!("undecided after {judged} requests ({over} over the bound): p{pct} is close to the bound")
    };
    let l = &run.analysis.latency_ms;
    let outcome = if !run.valid || !run.sustainable || verdict == Verdict::Fail {
        Outcome::Fail
    } else if verdict == Verdict::Pass {
        Outcome::Pass
    } else if too_few {
        Outcome::TooFew
    } else {
        Outcome::Fail
    };
    Probe {
        rate,
        passed: outcome == Outcome::Pass,
        outcome,
        verdict,
        valid: run.valid,
        sustainable: run.sustainable,
        requests: run.analysis.requests,
        duration_s: run.duration_s,
        p50_ms: l.p50,
        p99_ms: l.p99,
        estimate_ms: es.and_then(|e| e.estimate_ms),
        reason,
    }
}

/// How the terminal names an outcome.
#[must_use]
pub fn outcome_word(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "pass",
        Outcome::Fail => "fail",
        Outcome::TooFew => "too few",
    }
}

/// Closed-loop items per second at `batch`: calls back to back for `time` (at least 5 calls).
fn closed_loop(session: &mut dyn Session, samples: &Samples, batch: usize, time: Duration) -> Result<f64> {
    let inputs = samples.batch(0, batch)?;
    let start = Instant::now();
    let mut calls = 0u32;
    while calls < 5 || start.elapsed() < time {
        session.run(&inputs)?;
        session.synchronize()?;
        calls += 1;
    }
    #[allow(clippy::cast_precision_loss)]
    Ok(f64::from(calls) * batch as f64 / start.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A configuration that sustains exactly `limit` requests per second.
    fn search(limit: f64, start: f64, precision: f64, max: usize) -> Bisection {
        bisect(start, start / 64.0, precision, max, &mut |r| Ok(if r <= limit { Outcome::Pass } else { Outcome::Fail }))
            .unwrap()
    }

    #[test]
    fn finds_the_limit_within_the_precision() {
        for (limit, start) in [(37.0, 25.0), (37.0, 200.0), (1000.0, 3.0), (5.0, 5.0)] {
            let b = search(limit, start, 0.05, 40);
            let m = b.max_rate.unwrap();
            assert!(b.converged, "{limit} from {start}: {b:?}");
            assert!(m <= limit && m >= limit / 1.05, "{limit} from {start}: found {m}");
            let lowest_fail =
                b.tried.iter().filter(|t| t.1 == Outcome::Fail).map(|t| t.0).fold(f64::INFINITY, f64::min);
            assert!(lowest_fail <= m * 1.05 && lowest_fail > limit, "{b:?}");
        }
    }

    #[test]
    fn gives_up_below_the_minimum_and_stops_at_the_probe_cap() {
        let b = search(0.01, 50.0, 0.05, 40);
        assert_eq!(b.max_rate, None);
        assert!(b.tried.iter().all(|t| t.1 == Outcome::Fail) && b.tried.last().unwrap().0 >= 50.0 / 64.0, "{b:?}");
        assert!(b.note.unwrap().starts_with("nothing passed down to"));
        let b = search(37.0, 25.0, 0.0001, 4);
        assert_eq!(b.tried.len(), 4);
        assert!(!b.converged && b.note.unwrap().contains("limit of 4 probes"));
        assert!(bisect(0.0, 0.0, 0.05, 3, &mut |_| Ok(Outcome::Pass)).is_err());
    }

    #[test]
    fn the_bracket_follows_the_answers() {
        use Outcome::{Fail, Pass, TooFew};
        let mut answers = [Pass, Fail, Pass, TooFew, Fail, Pass].into_iter();
        let b = bisect(50.0, 1.0, 0.05, 6, &mut |_| Ok(answers.next().unwrap())).unwrap();
        let rates: Vec<f64> = b.tried.iter().map(|t| t.0).collect();
        assert_eq!(rates, [50.0, 100.0, 75.0, 87.5, 81.25, 78.125], "too few above a pass is a failure");
        assert_eq!(b.max_rate, Some(78.125));
        assert!(b.converged && b.note.is_none(), "81.25 is within 5% of 78.125");
        // Too few with nothing passed: lower rates cannot decide sooner, the search ends.
        let mut answers = [Fail, TooFew].into_iter();
        let b = bisect(50.0, 1.0, 0.05, 6, &mut |_| Ok(answers.next().unwrap())).unwrap();
        assert_eq!((b.tried.len(), b.max_rate), (2, None));
        assert!(b.note.unwrap().starts_with("too few requests at 25.000 req/s"));
    }
}
