//! The server scenario's own ceiling: its load generator and worker against a session that does
//! nothing (a benchmark-only null session, not a registered backend), so that what is measured is
//! the harness alone. A GPU serving ResNet-50 at MLPerf's ~90,000 samples/s must be measurable
//! without the harness saturating first; the target is 200,000 requests/s on a 2-core machine with
//! the generator's lag p99 within 50 µs and the accounting exact.
//!
//! Two benchmarks, Poisson arrivals, no batching:
//! - `null_session_200k_per_s`: 100,000 requests at 200,000 requests/s (0.5 s of schedule);
//! - `null_session_ceiling`: 500,000 requests scheduled a nanosecond apart, far more than the
//!   loop can take (such a run is invalid by design: the generator cannot keep up): the rate it
//!   completes is the ceiling of the generator and the worker together.
//!
//! After each run the bench rests as long as the run took (not measured). On a shared machine
//! the other tenants' threads preempt the generator for milliseconds at a time, which no code of
//! ours can prevent; `INFER_BENCH_REALTIME=1` (`cargo xtask bench --realtime`) re-runs the
//! bench under `chrt -f 1` (SCHED_FIFO, where permitted) so that the figures are the harness's
//! own, and the rest keeps its two busy threads below the kernel's real-time throttle (95% of
//! each second). `figures.json` says which it was.
//!
//! criterion's time per iteration is the span the loop took to serve the requests, from the
//! first scheduled arrival to the last answer (warm-up and the analysis after the run left out),
//! so its throughput is the rate completed. Each run's figures — rates, the generator's lag, the
//! accounting — go to stderr and, as medians and worst cases over the runs, to
//! `target/criterion/server_loop/<bench>/figures.json`, which `cargo xtask bench` reads.
//!
//! `cargo bench -p infer-measure --bench server_loop` (or `cargo xtask bench`).
#![allow(clippy::unwrap_used, clippy::cast_precision_loss, missing_docs)]

use std::{path::PathBuf, sync::Mutex, time::Duration};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group};
use infer_core::{DType, Device, Dim, Result, Session, SessionInfo, Tensor, TensorSpec};
use infer_measure::{
    scenario::{
        arrivals::{Arrivals, Trace},
        batcher::BatchPolicy,
        samples::Samples,
        server::{ServerConfig, ServerReport, ServerStop, run_server},
    },
    timing::Warmup,
};
use serde_json::json;

/// Does nothing and returns nothing: the harness alone is measured.
struct Null(SessionInfo);

impl Session for Null {
    fn info(&self) -> &SessionInfo {
        &self.0
    }
    fn run(&mut self, _inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        Ok(Vec::new())
    }
}

/// The environment variable asking for a real-time run, and its value once re-executed.
const REALTIME: &str = "INFER_BENCH_REALTIME";

/// What one run says.
#[derive(Debug, Clone, Copy)]
struct Figures {
    schedule_rate: f64,
    send_rate: f64,
    completed_rate: f64,
    lag_p50_us: f64,
    lag_p99_us: f64,
    lag_max_us: f64,
    shortfall: f64,
    valid: bool,
    sustainable: bool,
    accounting: bool,
}

impl Figures {
    fn of(r: &ServerReport, requests: usize) -> Self {
        let g = &r.analysis.generator;
        let mut ids: Vec<usize> = r.records.iter().map(|x| x.id).collect();
        ids.sort_unstable();
        let accounting = r.sent == requests
            && r.records.len() + r.unserved == r.sent
            && ids.iter().enumerate().all(|(k, &id)| k == id)
            && r.batches.iter().map(|b| b.size).sum::<usize>() == r.records.len();
        Self {
            schedule_rate: g.schedule_rate.unwrap_or(f64::NAN),
            send_rate: g.send_rate.unwrap_or(f64::NAN),
            completed_rate: r.analysis.queueing.completed_rate.unwrap_or(f64::NAN),
            lag_p50_us: g.lag_ms.p50 * 1e3,
            lag_p99_us: g.lag_ms.p99 * 1e3,
            lag_max_us: g.lag_ms.max * 1e3,
            shortfall: g.shortfall,
            valid: r.valid,
            sustainable: r.sustainable,
            accounting,
        }
    }
}

/// Runs `requests` arriving at `rate` (Poisson), or a nanosecond apart for `None`.
fn run(rate: Option<f64>, requests: usize) -> (Duration, Figures) {
    let specs = vec![TensorSpec::new("x", DType::F32, vec![Dim::Dynamic(None), Dim::Fixed(2)])];
    let mut session = Null(SessionInfo::new(specs.clone(), Vec::new(), Device::Cpu));
    let samples = Samples::synthetic(&specs, 16, &[]).unwrap();
    let arrivals = match rate {
        Some(_) => Arrivals::Poisson,
        None => Arrivals::Replay(Trace { path: "1 ns gaps".into(), gaps_s: vec![1e-9] }),
    };
    let config = ServerConfig {
        rate,
        arrivals,
        seed: 7,
        batching: BatchPolicy::NONE,
        stop: ServerStop::Requests(requests),
        warmup: Warmup::Count(0),
        min_time: Duration::ZERO,
        feedback: Vec::new(),
        streams: 1,
    };
    let r = run_server(&mut session, &samples, &config).unwrap();
    let first = r.records.iter().map(|x| x.scheduled_ms).fold(f64::INFINITY, f64::min);
    let last = r.records.iter().map(|x| x.end_ms).fold(0.0, f64::max);
    (Duration::from_secs_f64((last - first) / 1e3), Figures::of(&r, requests))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The medians and worst cases of the runs, written where `cargo xtask bench` reads them.
fn save(name: &str, (rate, requests): (Option<f64>, usize), runs: &[Figures]) {
    if runs.is_empty() {
        return; // filtered out
    }
    let col = |f: fn(&Figures) -> f64| runs.iter().map(f).collect::<Vec<_>>();
    let worst = |f: fn(&Figures) -> f64| col(f).into_iter().fold(f64::NEG_INFINITY, f64::max);
    let summary = json!({
        "bench": name,
        "asked_rate": rate,
        "requests_per_run": requests,
        "realtime": std::env::var(REALTIME).is_ok_and(|v| v == "active"),
        "runs": runs.len(),
        "completed_rate_median": median(col(|f| f.completed_rate)),
        "send_rate_median": median(col(|f| f.send_rate)),
        "schedule_rate_median": median(col(|f| f.schedule_rate)),
        "lag_p50_us_median": median(col(|f| f.lag_p50_us)),
        "lag_p99_us_median": median(col(|f| f.lag_p99_us)),
        "lag_p99_us_worst": worst(|f| f.lag_p99_us),
        "lag_max_us_worst": worst(|f| f.lag_max_us),
        "shortfall_median": median(col(|f| f.shortfall)),
        "valid_runs": runs.iter().filter(|f| f.valid).count(),
        "sustainable_runs": runs.iter().filter(|f| f.sustainable).count(),
        "accounting_exact_runs": runs.iter().filter(|f| f.accounting).count(),
    });
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/criterion/server_loop").join(name);
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join("figures.json"), serde_json::to_vec_pretty(&summary).unwrap());
    }
    eprintln!("{name}: {summary}");
}

fn bench_rate(c: &mut Criterion, name: &str, rate: Option<f64>, requests: usize) {
    let mut group = c.benchmark_group("server_loop");
    group.sampling_mode(SamplingMode::Flat).sample_size(10).warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(12));
    group.throughput(Throughput::Elements(requests as u64));
    let runs = Mutex::new(Vec::new());
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (span, figures) = run(rate, requests);
                eprintln!(
                    "{name}: completed {:.0}/s, sent {:.0}/s, lag p99 {:.1} µs, max {:.0} µs, accounting {}",
                    figures.completed_rate,
                    figures.send_rate,
                    figures.lag_p99_us,
                    figures.lag_max_us,
                    if figures.accounting { "exact" } else { "BROKEN" }
                );
                runs.lock().unwrap().push(figures);
                total += span;
                std::thread::sleep(span);
            }
            total
        });
    });
    group.finish();
    save(name, (rate, requests), &runs.into_inner().unwrap());
}

fn server_loop(c: &mut Criterion) {
    bench_rate(c, "null_session_200k_per_s", Some(200_000.0), 100_000);
    bench_rate(c, "null_session_ceiling", None, 500_000);
}

/// With `INFER_BENCH_REALTIME=1`, runs this bench again under `chrt -f 1` and exits with its
/// status; goes on at normal priority when `chrt` cannot start it.
fn realtime() {
    if std::env::var(REALTIME).ok().as_deref() != Some("1") {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    let status = std::process::Command::new("chrt")
        .args(["-f", "1"])
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env(REALTIME, "active")
        .status();
    match status {
        Ok(s) if s.success() => std::process::exit(0),
        Ok(s) => eprintln!("server_loop: under chrt -f 1 the bench failed ({s}); running at normal priority"),
        Err(e) => eprintln!("server_loop: cannot run chrt ({e}); running at normal priority"),
    }
}

criterion_group!(benches, server_loop);

fn main() {
    realtime();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
