//! Scenario results as terminal text: the lines and tables `infer bench --scenario` prints.

use crate::table::Table;
use std::fmt::Write as _;

use infer_measure::scenario::{
    ScenarioReport, ScenarioResult, SingleStreamReport,
    early_stopping::Verdict,
    offline::OfflineReport,
    search::SearchReport,
    server::{ServerReport, fmt_num, fmt_pct},
};

/// The whole text of a scenario report.
#[must_use]
pub fn report_text(report: &ScenarioReport) -> String {
    let head = format!("{} {} {}", report.backend, report.device, report.model);
    match &report.result {
        ScenarioResult::SingleStream(s) => format!("single-stream: {head}\n{}", single_stream_text(s)),
        ScenarioResult::Offline(o) => format!("offline: {head}\n{}", offline_text(o)),
        ScenarioResult::Server(s) => format!("server: {head}\n{}", server_text(s)),
        ScenarioResult::FindMaxRate(s) => search_text(s, &report.backend, &report.device.to_string()),
    }
}

/// Single-stream latency lines.
#[must_use]
pub fn single_stream_text(s: &SingleStreamReport) -> String {
    let l = &s.latency_ms;
    let est = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.3} ms"));
    format!(
        "{} requests: p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms; {:.1} req/s\n\
         early-stopping estimates (LoadGen, 99% confidence): p90 {}, p99 {}\n",
        l.count,
        l.p50,
        percentile(&s.samples_ms, 90.0),
        l.p99,
        l.max,
        s.throughput_per_s,
        est(s.p90_estimate_ms),
        est(s.p99_estimate_ms)
    )
}

fn percentile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    infer_measure::stats::percentile_sorted(&v, q)
}

/// The offline table: one row per batch size, the best marked.
#[must_use]
pub fn offline_text(o: &OfflineReport) -> String {
    let mut t = Table::new(&["batch", "calls", "seconds", "samples/s", "median call ms", ""]);
    for r in &o.rows {
        t.rows.push(vec![
            r.batch_size.to_string(),
            r.calls.to_string(),
            format!("{:.3}", r.elapsed_s),
            format!("{:.1}", r.throughput_per_s),
            format!("{:.3}", r.call_ms.median),
            if r.batch_size == o.best_batch { "best".into() } else { String::new() },
        ]);
    }
    let mut s = format!("{} samples issued at once\n{}", o.samples, t.to_text());
    let _ = writeln!(s, "best: {:.1} samples/s at batch {}", o.best_throughput_per_s, o.best_batch);
    for w in &o.warnings {
        let _ = writeln!(s, "note: {w}");
    }
    s
}

/// The server run in a few lines: load, latency, its split, batches, generator, queueing, verdict.
#[must_use]
pub fn server_text(r: &ServerReport) -> String {
    let a = &r.analysis;
    let mut s = String::new();
    let asked = r.asked_rate.map_or_else(|| "as recorded".into(), |v| format!("{v:.2} req/s asked"));
    let schedule = a.generator.schedule_rate.map_or_else(|| "-".into(), |v| format!("{v:.2}"));
    let batching = if r.max_batch > 1 {
        format!("dynamic batching up to {} / {} ms timeout", r.max_batch, trim(r.batch_timeout_ms))
    } else {
        "no batching".into()
    };
    let _ = writeln!(s, "{} arrivals, {asked} (schedule {schedule} req/s), {batching}; stop: {}", r.arrivals, r.stop);
    let l = &a.latency_ms;
    let _ = writeln!(
        s,
        "{} requests over {:.3} s of schedule (minimum before a verdict {} s); latency from the scheduled arrival: \
         p50 {:.3} ms, p95 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        a.requests,
        r.duration_s,
        trim(r.min_time_s),
        l.p50,
        l.p95,
        l.p99,
        l.max
    );
    let _ = writeln!(
        s,
        "per request: queue p50 {:.3} ms / p99 {:.3} ms, compute p50 {:.3} ms / p99 {:.3} ms",
        a.queue_ms.p50, a.queue_ms.p99, a.compute_ms.p50, a.compute_ms.p99
    );
    if r.max_batch > 1 {
        let sizes: Vec<String> = a.batch_sizes.iter().map(|b| format!("{}×{}", b.size, b.batches)).collect();
        let _ = writeln!(s, "batch sizes formed (size×batches): {}; mean {:.2}", sizes.join(", "), a.mean_batch);
    }
    let g = &a.generator;
    let _ = writeln!(
        s,
        "generator: lag p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; {} sent over 1 ms late; {:.2}% behind its schedule (margin {:.0}%): {}",
        g.lag_ms.p50,
        g.lag_ms.p99,
        g.lag_ms.max,
        g.late_over_1ms,
        g.shortfall * 100.0,
        g.margin * 100.0,
        if g.kept_up { "valid" } else { "INVALID" }
    );
    let q = &a.queueing;
    let _ = writeln!(
        s,
        "queueing: median queue {:.3} ms in the first quarter, {:.3} ms in the last; served {} of the offered rate; \
         at most {} outstanding: {}",
        q.first_quarter_queue_ms,
        q.last_quarter_queue_ms,
        q.served_fraction.map_or_else(|| "-".into(), |f| format!("{:.1}%", f * 100.0)),
        q.max_outstanding,
        if q.growing { "GROWING" } else { "stable" }
    );
    if let Some(es) = &r.early_stopping {
        let _ = writeln!(
            s,
            "early stopping: p{} {} {} ms ({} of {} judged requests over; estimate {}); {} unserved",
            fmt_pct(es.percentile),
            match es.verdict {
                Verdict::Pass => "within",
                Verdict::Fail => "over",
                Verdict::Undecided => "undecided against",
            },
            fmt_num(es.bound_ms),
            es.over,
            es.judged,
            es.estimate_ms.map_or_else(|| "-".into(), |v| format!("{v:.3} ms")),
            r.unserved
        );
    }
    if let Some(c) = &r.convergence {
        let _ = writeln!(s, "95% interval of the latency: {} of schedule", c.label());
    }
    let _ = writeln!(
        s,
        "verdict: {}, {}",
        if r.valid { "valid" } else { "invalid" },
        if r.sustainable { "sustainable" } else { "NOT sustainable" }
    );
    s
}

/// The search: the deployment line (backend, device, batching, max sustainable rate, p50/p99 at
/// it), then every probe.
#[must_use]
pub fn search_text(r: &SearchReport, backend: &str, device: &str) -> String {
    let pct = fmt_pct(r.percentile);
    let batching = if r.max_batch > 1 {
        format!("dynamic {} / {} ms", r.max_batch, trim(r.batch_timeout_ms))
    } else {
        "none".into()
    };
    let mut t = Table::new(&["backend", "device", "batching", "max req/s", "p50 ms", "p99 ms", "closed loop/s"]);
    let (rate, p50, p99) = match &r.at_max {
        Some(p) => (format!("{:.1}", p.rate), format!("{:.2}", p.p50_ms), format!("{:.2}", p.p99_ms)),
        None => ("none".into(), "-".into(), "-".into()),
    };
    t.rows.push(vec![backend.into(), device.into(), batching, rate, p50, p99, format!("{:.1}", r.closed_loop_per_s)]);
    let mut s = format!(
        "max sustainable rate with p{pct} ≤ {} ms ({} arrivals; each probe stopped by LoadGen early stopping at {}% confidence)\n{}",
        trim(r.bound_ms),
        r.arrivals,
        fmt_pct(r.confidence),
        t.to_text()
    );
    let mut probes = Table::new(&["probe", "req/s", "result", "requests", "schedule s", "p50 ms", "p99 ms", "why"]);
    for (i, p) in r.probes.iter().enumerate() {
        probes.rows.push(vec![
            (i + 1).to_string(),
            format!("{:.2}", p.rate),
            infer_measure::scenario::search::outcome_word(p.outcome).into(),
            p.requests.to_string(),
            format!("{:.2}", p.duration_s),
            format!("{:.2}", p.p50_ms),
            format!("{:.2}", p.p99_ms),
            p.reason.clone(),
        ]);
    }
    s.push_str(&probes.to_text());
    if let Some(note) = &r.note {
        let _ = writeln!(s, "note: {note}");
    }
    s
}

fn trim(v: f64) -> String {
    fmt_num(v)
}
