//! What a server run's raw records say: latency from the scheduled arrival split into queue and
//! compute time, whether the generator kept to its schedule, whether queueing grows, and the
//! batch sizes formed. Pure functions of the records, so each rule is tested on made-up runs.

use std::collections::BTreeMap;

use crate::stats::{Sample, Summary};
use infer_core::Result;
use serde::{Deserialize, Serialize};

/// One request, times in milliseconds since the start of the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Its place in the schedule, from 0.
    pub id: usize,
    /// When the arrival process scheduled it.
    pub scheduled_ms: f64,
    /// When the generator put it in the queue (never before `scheduled_ms`).
    pub sent_ms: f64,
    /// When the batch carrying it started (input assembly included).
    pub start_ms: f64,
    /// When its output was ready (device synchronized, outputs split per request).
    pub end_ms: f64,
    /// The batch that carried it ([`BatchRecord::id`]).
    pub batch: usize,
}

impl RequestRecord {
    /// Latency from the scheduled arrival: queueing and any generator lag included.
    #[must_use]
    pub fn latency_ms(&self) -> f64 {
        self.end_ms - self.scheduled_ms
    }

    /// Time from the scheduled arrival to the start of its batch.
    #[must_use]
    pub fn queue_ms(&self) -> f64 {
        self.start_ms - self.scheduled_ms
    }

    /// Time from the start of its batch to its output.
    #[must_use]
    pub fn compute_ms(&self) -> f64 {
        self.end_ms - self.start_ms
    }

    /// How late the generator sent it.
    #[must_use]
    pub fn lag_ms(&self) -> f64 {
        self.sent_ms - self.scheduled_ms
    }
}

/// One model call, times in milliseconds since the start of the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BatchRecord {
    /// From 0, in the order run.
    pub id: usize,
    /// Requests it carried.
    pub size: usize,
    /// When it started (the requests were taken off the queue).
    pub start_ms: f64,
    /// When the outputs were split per request.
    pub end_ms: f64,
    /// Time spent stacking the requests' inputs into the batch.
    pub assemble_ms: f64,
}

/// The generator's fidelity to its schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratorReport {
    /// How late each request was sent after its scheduled time, ms.
    pub lag_ms: Summary,
    /// Requests sent more than 1 ms late.
    pub late_over_1ms: usize,
    /// The schedule's own rate over the run (requests − 1 over the first-to-last span), per s.
    pub schedule_rate: Option<f64>,
    /// The rate the requests were actually sent at, over the same requests, per s.
    pub send_rate: Option<f64>,
    /// `1 − send_rate / schedule_rate`: how far the generator fell behind its schedule.
    pub shortfall: f64,
    /// The largest shortfall for a valid run ([`RATE_MARGIN`]).
    pub margin: f64,
    /// Whether the shortfall is within the margin.
    pub kept_up: bool,
}

/// Whether queueing grows over the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueingReport {
    /// Median queue time of the first quarter of the requests (in schedule order), ms.
    pub first_quarter_queue_ms: f64,
    /// Median queue time of the last quarter, ms.
    pub last_quarter_queue_ms: f64,
    /// Last minus first.
    pub growth_ms: f64,
    /// The growth above which queueing counts as growing: [`GROWTH_COMPUTES`] times the median
    /// compute time, at least 1 ms.
    pub growth_threshold_ms: f64,
    /// Completed requests per second (first-to-last completion).
    pub completed_rate: Option<f64>,
    /// `completed_rate` over the schedule's rate: below 1 when the model falls behind the arrivals.
    pub served_fraction: Option<f64>,
    /// The most requests scheduled but not yet answered at any request's scheduled time.
    pub max_outstanding: usize,
    /// Both signs of a backlog that keeps growing: the queue time grew by more than the threshold
    /// and fewer than [`SERVED_MARGIN`] short of all offered requests per second were served.
    pub growing: bool,
}

/// How many requests of each batch size were formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchCount {
    /// Requests in the batch.
    pub size: usize,
    /// Batches of that size.
    pub batches: usize,
}

/// The summary of a server run's records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Requests answered.
    pub requests: usize,
    /// Latency from the scheduled arrival, ms.
    pub latency_ms: Summary,
    /// Queue time (scheduled arrival to batch start), ms.
    pub queue_ms: Summary,
    /// Compute time (batch start to output), ms.
    pub compute_ms: Summary,
    /// Batch sizes formed, ascending.
    pub batch_sizes: Vec<BatchCount>,
    /// Mean requests per batch.
    pub mean_batch: f64,
    /// Generator fidelity.
    pub generator: GeneratorReport,
    /// Queue growth.
    pub queueing: QueueingReport,
}

/// The largest generator shortfall for a valid run: sending 2% slower than scheduled.
pub const RATE_MARGIN: f64 = 0.02;
/// Queue-time growth above this many median compute times (and [`SERVED_MARGIN`]) is growth.
pub const GROWTH_COMPUTES: f64 = 1.0;
/// Serving fewer than `1 − SERVED_MARGIN` of the offered requests per second (and a growing queue
/// time) is a growing backlog.
pub const SERVED_MARGIN: f64 = 0.05;
/// Runs with fewer requests than this are too short to judge queue growth.
pub const MIN_FOR_GROWTH: usize = 8;

/// Summarizes the records of a run (requests in any order; sorted by schedule here).
///
/// # Errors
/// [`infer_core::Error::InvalidInput`] when there is no record or a time is not finite.
pub fn analyze(records: &[RequestRecord], batches: &[BatchRecord]) -> Result<Analysis> {
    let mut r = records.to_vec();
    r.sort_by(|a, b| a.scheduled_ms.total_cmp(&b.scheduled_ms).then(a.id.cmp(&b.id)));
    let summary = |f: fn(&RequestRecord) -> f64| Summary::new(&r.iter().map(f).collect::<Vec<_>>());
    let latency_ms = summary(RequestRecord::latency_ms)?;
    let queue_ms = summary(RequestRecord::queue_ms)?;
    let compute_ms = summary(RequestRecord::compute_ms)?;
    let lag_ms = summary(RequestRecord::lag_ms)?;

    let mut sizes: BTreeMap<usize, usize> = BTreeMap::new();
    for b in batches {
        *sizes.entry(b.size).or_default() += 1;
    }
    let batch_sizes = sizes.into_iter().map(|(size, batches)| BatchCount { size, batches }).collect();
    #[allow(clippy::cast_precision_loss)]
    let mean_batch = if batches.is_empty() {
        1.0
    } else {
        batches.iter().map(|b| b.size).sum::<usize>() as f64 / batches.len() as f64
    };

    let rate_over = |first: f64, last: f64| {
        #[allow(clippy::cast_precision_loss)]
        let n = r.len() as f64 - 1.0;
        (r.len() >= 2 && last > first).then(|| n * 1e3 / (last - first))
    };
    let (first, last) = (&r[0], &r[r.len() - 1]);
    let schedule_rate = rate_over(first.scheduled_ms, last.scheduled_ms);
    let send_rate = rate_over(first.sent_ms, last.sent_ms);
    let shortfall = match (schedule_rate, send_rate) {
        (Some(s), Some(a)) => (1.0 - a / s).max(0.0),
        _ => 0.0,
    };
    let generator = GeneratorReport {
        lag_ms,
        late_over_1ms: r.iter().filter(|x| x.lag_ms() > 1.0).count(),
        schedule_rate,
        send_rate,
        shortfall,
        margin: RATE_MARGIN,
        kept_up: shortfall <= RATE_MARGIN,
    };

    let queueing = queueing(&r, schedule_rate, compute_ms.median);
    Ok(Analysis { requests: r.len(), latency_ms, queue_ms, compute_ms, batch_sizes, mean_batch, generator, queueing })
}

/// Queue growth of requests sorted by schedule.
fn queueing(r: &[RequestRecord], schedule_rate: Option<f64>, median_compute_ms: f64) -> QueueingReport {
    let quarter = r.len() / 4;
    let median_queue = |part: &[RequestRecord]| {
        Sample::new(part.iter().map(RequestRecord::queue_ms).collect()).map_or(0.0, |s| s.median())
    };
    let (first_q, last_q) =
        if quarter > 0 { (median_queue(&r[..quarter]), median_queue(&r[r.len() - quarter..])) } else { (0.0, 0.0) };
    let mut ends: Vec<f64> = r.iter().map(|x| x.end_ms).collect();
    ends.sort_by(f64::total_cmp);
    #[allow(clippy::cast_precision_loss)]
    let completed_rate = (r.len() >= 2 && ends[ends.len() - 1] > ends[0])
        .then(|| (r.len() as f64 - 1.0) * 1e3 / (ends[ends.len() - 1] - ends[0]));
    let served_fraction = completed_rate.zip(schedule_rate).map(|(c, s)| c / s);
    // Outstanding at request i's arrival: requests scheduled before it and answered after it.
    let mut max_outstanding = 0;
    let mut done_before = 0;
    for (i, x) in r.iter().enumerate() {
        while done_before < ends.len() && ends[done_before] <= x.scheduled_ms {
            done_before += 1;
        }
        max_outstanding = max_outstanding.max(i.saturating_sub(done_before));
    }
    let growth_ms = last_q - first_q;
    let growth_threshold_ms = (GROWTH_COMPUTES * median_compute_ms).max(1.0);
    let growing = r.len() >= MIN_FOR_GROWTH
        && growth_ms > growth_threshold_ms
        && served_fraction.is_some_and(|f| f < 1.0 - SERVED_MARGIN);
    QueueingReport {
        first_quarter_queue_ms: first_q,
        last_quarter_queue_ms: last_q,
        growth_ms,
        growth_threshold_ms,
        completed_rate,
        served_fraction,
        max_outstanding,
        growing,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::cast_precision_loss)]
    use super::*;

    /// A single-server FIFO queue fed every `gap` ms with requests of `service` ms each; the
    /// generator sends each request `lag(i)` ms late.
    fn simulate(
        n: usize,
        gap: f64,
        service: f64,
        lag: impl Fn(usize) -> f64,
    ) -> (Vec<RequestRecord>, Vec<BatchRecord>) {
        let mut free = 0.0f64;
        let mut records = Vec::new();
        let mut batches = Vec::new();
        for i in 0..n {
            let scheduled = 10.0 + i as f64 * gap;
            let sent = scheduled + lag(i);
            let start = free.max(sent);
            let end = start + service;
            free = end;
            records.push(RequestRecord {
                id: i,
                scheduled_ms: scheduled,
                sent_ms: sent,
                start_ms: start,
                end_ms: end,
                batch: i,
            });
            batches.push(BatchRecord { id: i, size: 1, start_ms: start, end_ms: end, assemble_ms: 0.0 });
        }
        (records, batches)
    }

    #[test]
    fn a_stable_queue_is_not_growing_and_an_overloaded_one_is() {
        // 30% load: no queueing at all.
        let (r, b) = simulate(200, 20.0, 6.0, |_| 0.0);
        let a = analyze(&r, &b).unwrap();
        assert!(!a.queueing.growing && a.queueing.growth_ms.abs() < 1e-9, "{:?}", a.queueing);
        assert!((a.queueing.served_fraction.unwrap() - 1.0).abs() < 1e-9);
        assert!((a.latency_ms.median - 6.0).abs() < 1e-9 && a.queue_ms.max.abs() < 1e-9);
        assert_eq!(a.queueing.max_outstanding, 0);
        assert!(a.generator.kept_up && a.generator.late_over_1ms == 0);
        assert_eq!(a.batch_sizes, [BatchCount { size: 1, batches: 200 }]);

        // 150% load: each request waits 3 ms longer than the one before.
        let (r, b) = simulate(200, 4.0, 6.0, |_| 0.0);
        let a = analyze(&r, &b).unwrap();
        assert!(a.queueing.growing, "{:?}", a.queueing);
        assert!((a.queueing.served_fraction.unwrap() - 4.0 / 6.0).abs() < 0.01);
        assert!(a.queueing.last_quarter_queue_ms > 300.0, "{:?}", a.queueing);
        assert!(a.queueing.max_outstanding > 60, "{:?}", a.queueing);
        // Latency counts from the scheduled time: the last request waited for all before it.
        assert!((a.latency_ms.max - (199.0 * 6.0 + 6.0 - 199.0 * 4.0)).abs() < 1e-9);
    }

    #[test]
    fn a_transient_stall_is_not_growth() {
        // One 400 ms stall in the middle of a light run: a spike of queueing that drains.
        let mut free = 0.0f64;
        let mut r = Vec::new();
        for i in 0..200 {
            let scheduled = i as f64 * 20.0;
            let service = if i == 100 { 400.0 } else { 5.0 };
            let start = free.max(scheduled);
            free = start + service;
            r.push(RequestRecord {
                id: i,
                scheduled_ms: scheduled,
                sent_ms: scheduled,
                start_ms: start,
                end_ms: free,
                batch: i,
            });
        }
        let a = analyze(&r, &[]).unwrap();
        assert!(!a.queueing.growing, "{:?}", a.queueing);
        assert!(a.latency_ms.max >= 400.0);
    }

    #[test]
    fn a_generator_that_falls_behind_is_flagged() {
        // Each request sent 0.1 ms later than the one before it: 5% slower than scheduled at a 2 ms gap.
        let (r, b) = simulate(300, 2.0, 0.5, |i| i as f64 * 0.1);
        let a = analyze(&r, &b).unwrap();
        assert!(!a.generator.kept_up, "{:?}", a.generator);
        assert!((a.generator.shortfall - (1.0 - 2.0 / 2.1)).abs() < 1e-9, "{}", a.generator.shortfall);
        assert!(a.generator.late_over_1ms > 280);
        // A constant delay is no shortfall: the rate is kept, and the delay counts in the latency.
        let (r, b) = simulate(300, 2.0, 0.5, |_| 3.0);
        let a = analyze(&r, &b).unwrap();
        assert!(a.generator.kept_up && a.generator.shortfall < 1e-9);
        assert!((a.latency_ms.min - 3.5).abs() < 1e-9);
    }

    #[test]
    fn batch_sizes_are_counted() {
        let batch = |id, size| BatchRecord { id, size, start_ms: 0.0, end_ms: 1.0, assemble_ms: 0.1 };
        let (r, _) = simulate(10, 1.0, 1.0, |_| 0.0);
        let a = analyze(&r, &[batch(0, 4), batch(1, 1), batch(2, 4), batch(3, 1)]).unwrap();
        assert_eq!(a.batch_sizes, [BatchCount { size: 1, batches: 2 }, BatchCount { size: 4, batches: 2 }]);
        assert!((a.mean_batch - 2.5).abs() < 1e-12);
        assert!(analyze(&[], &[]).is_err());
    }
}
