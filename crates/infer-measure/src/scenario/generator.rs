//! The server scenario's load generator: a thread of its own that sends each request at its
//! scheduled arrival, whatever the model is doing (open loop), into an unbounded lock-free channel
//! to the model's worker.
//!
//! It is built so that it is never the bottleneck: no lock and no allocation per request (the
//! channel allocates a block per 31 messages and wakes the worker only when it is blocked), one
//! clock read per request, and a wait that sleeps until [`SPIN`] before the scheduled time and
//! spins the rest, because a sleep overshoots by the kernel's timer slack (50 µs by default on
//! Linux) and more. It never sends a request before its scheduled time, never skips one, and sends
//! overdue ones at once, each stamped with the clock read that found it due.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc::Sender,
    },
    time::{Duration, Instant},
};

use super::{arrivals::Schedule, server_config::ServerStop};

/// How long before a scheduled time the generator stops sleeping and spins.
pub const SPIN: Duration = Duration::from_micros(100);

/// How long the generator sleeps at most before checking whether to stop.
pub const POLL: Duration = Duration::from_millis(20);

/// A request on its way to the worker (seconds since the start of the run).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pending {
    /// Its place in the schedule, from 0.
    pub id: usize,
    /// Its scheduled arrival.
    pub scheduled: f64,
    /// When the generator sent it (never before `scheduled`).
    pub sent: f64,
}

/// Whether request `id`, scheduled at `at` seconds, is within the run that `stop` describes (the
/// first request always is). A cap on requests never ends a run before `min_time` of schedule.
#[must_use]
pub fn within(stop: &ServerStop, min_time: Duration, id: usize, at: f64) -> bool {
    id == 0
        || match stop {
            ServerStop::Requests(n) => id < *n,
            ServerStop::Duration(d) => at < d.as_secs_f64(),
            ServerStop::EarlyStopping { max_requests, max_time, .. } => {
                (id < *max_requests || at < min_time.as_secs_f64()) && at < max_time.as_secs_f64()
            }
            ServerStop::Confidence(target) => at < target.max_time.as_secs_f64(),
        }
}

/// Sends every request of `schedule` within `stop` (see [`within`]) at its time, until `halt` is set or the worker
/// is gone. Dropping `tx` at the end tells the worker that the generator is done.
pub fn generate(
    tx: Sender<Pending>,
    halt: &AtomicBool,
    schedule: Schedule,
    (stop, min_time): (ServerStop, Duration),
    origin: Instant,
) {
    for (id, at) in schedule.enumerate() {
        if halt.load(Ordering::Relaxed) || !within(&stop, min_time, id, at) {
            break;
        }
        let Some(sent) = wait_until(origin, at, halt) else { break };
        if tx.send(Pending { id, scheduled: at, sent }).is_err() {
            break;
        }
    }
}

/// Waits until `at` seconds after `origin`: sleeps while more than [`SPIN`] is left (at most
/// [`POLL`] at a time, then checks `halt`), spins the rest. Returns the clock read (seconds since
/// `origin`) that found the time reached, or `None` when halted first.
fn wait_until(origin: Instant, at: f64, halt: &AtomicBool) -> Option<f64> {
    let spin = SPIN.as_secs_f64();
    loop {
        let now = origin.elapsed().as_secs_f64();
        let left = at - now;
        if left <= 0.0 {
            return Some(now);
        }
        if left > spin {
            if halt.load(Ordering::Relaxed) {
                return None;
            }
            std::thread::sleep(Duration::from_secs_f64(left - spin).min(POLL));
        } else {
            std::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::cast_precision_loss)]
    use std::time::Duration;

    use super::*;
    use crate::{
        confidence::CiTarget,
        scenario::{arrivals::Arrivals, early_stopping::Rule},
    };

    #[test]
    fn the_run_holds_the_requests_its_stop_allows() {
        let early = ServerStop::EarlyStopping {
            bound: Duration::from_millis(5),
            rule: Rule::loadgen(0.99),
            max_requests: 10,
            max_time: Duration::from_secs(2),
        };
        let none = Duration::ZERO;
        assert!(within(&early, none, 9, 1.9) && !within(&early, none, 10, 0.1) && !within(&early, none, 3, 2.0));
        // The cap on requests waits for the minimum time; the cap on time does not.
        let min = Duration::from_secs(1);
        assert!(within(&early, min, 10_000, 0.99) && !within(&early, min, 10_000, 1.0));
        assert!(!within(&early, Duration::from_secs(5), 3, 2.0));
        let one = ServerStop::Requests(1);
        assert!(within(&one, min, 0, 5.0) && !within(&one, min, 1, 0.0), "a count asked is a count");
        assert!(within(&ServerStop::Duration(Duration::from_secs(1)), none, 0, 7.0), "the first request always is");
        let target = ServerStop::Confidence(CiTarget::median(0.02, Duration::from_secs(3)));
        assert!(within(&target, min, 5000, 2.99) && !within(&target, min, 5, 3.0));
    }

    /// Every request is sent once, in order, never before its time; dropping the sender ends the
    /// channel. (The lag is a benchmark's business: `benches/server_loop.rs`.)
    #[test]
    fn every_request_is_sent_once_in_order_and_never_early() {
        let (tx, rx) = std::sync::mpsc::channel();
        let halt = AtomicBool::new(false);
        let schedule = Schedule::new(Arrivals::Constant.gaps(Some(20_000.0), 1).unwrap());
        let origin = Instant::now();
        generate(tx, &halt, schedule, (ServerStop::Requests(500), Duration::ZERO), origin);
        let sent: Vec<Pending> = rx.iter().collect();
        assert_eq!(sent.len(), 500);
        for (k, p) in sent.iter().enumerate() {
            assert_eq!(p.id, k);
            assert!((p.scheduled - (k + 1) as f64 / 20_000.0).abs() < 1e-12, "{p:?}");
            assert!(p.sent >= p.scheduled, "sent early: {p:?}");
        }
        // Halted: nothing more is sent.
        let (tx, rx) = std::sync::mpsc::channel();
        halt.store(true, Ordering::Relaxed);
        let schedule = Schedule::new(Arrivals::Constant.gaps(Some(10.0), 1).unwrap());
        generate(tx, &halt, schedule, (ServerStop::Requests(5), Duration::ZERO), Instant::now());
        assert_eq!(rx.iter().count(), 0);
    }
}
