//! The serving scenarios on real models, through the library and the `infer` binary: the server
//! scenario's schedule and accounting on the generated ResNet-18 (and an overload that cannot be
//! sustained by construction), a model that stalls once (every request queued behind it carries
//! the stall), the dynamic batcher's rule, trace replay, offline, the max-rate search and its
//! minimum probe time, and the options' checks.
//!
//! These tests assert what holds whatever the machine's speed — the schedule (seeded, replayed,
//! constant), the accounting (every request sent is answered once or counted unserved; batches,
//! ids and times agree), the rules applied to the records (the report's verdicts are those of its
//! own records) and lower bounds a sleep guarantees — never a wall-clock latency against a
//! threshold: a busy host broke those (`served_fraction 0.93 < 0.85`).
//!
//! The tests of this file take turns (one lock): they measure the machine's two cores.
#![cfg(installed_onnx)]
#![allow(clippy::unwrap_used, clippy::cast_precision_loss)]

mod support;

use support::{ok, p, root, text, tiny};

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::{Mutex, MutexGuard},
};

use infer_core::{LoadOptions, Result, Session, SessionInfo, Tensor};
use infer_measure::{
    scenario::{
        ScenarioReport, ScenarioResult, ScenarioSpec,
        analysis::analyze,
        arrivals::{Arrivals, Schedule},
        batcher::BatchPolicy,
        samples::{POOL, Samples},
        server::{ServerConfig, ServerReport, ServerStop, run_server},
        single_stream,
    },
    timing::{BenchConfig, Stop, Warmup},
};
use serde_json::Value;

static TURN: Mutex<()> = Mutex::new(());

fn turn() -> MutexGuard<'static, ()> {
    TURN.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn resnet18() -> PathBuf {
    let model = root().join("fixtures/generated/resnet18/model.onnx");
    assert!(model.is_file(), "{} missing: run `cargo xtask fixtures`", model.display());
    model
}

fn onnx_session(model: &Path) -> Box<dyn Session> {
    let registry = infer_cli::backends::registry();
    registry.get("onnx").unwrap().load(model, &LoadOptions::default()).unwrap()
}

fn infer_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_infer"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn server(rate: f64, requests: usize) -> ServerConfig {
    ServerConfig {
        rate: Some(rate),
        arrivals: Arrivals::Poisson,
        seed: 11,
        batching: BatchPolicy::NONE,
        stop: ServerStop::Requests(requests),
        warmup: Warmup::Count(3),
        min_time: std::time::Duration::ZERO,
        feedback: Vec::new(),
        streams: 1,
    }
}

/// The accounting of a server run, whatever the machine's speed: every request sent is answered
/// once or counted unserved, ids are the schedule's, batches add up and carry their requests'
/// times, nothing is sent before its time nor started before it was sent, latency is queue plus
/// compute, and the report's analysis and verdicts are those of its own records.
fn assert_accounting(r: &ServerReport) {
    assert_eq!(r.records.len() + r.unserved, r.sent, "answered + unserved = sent");
    assert_eq!(r.analysis.requests, r.records.len());
    let mut ids: Vec<usize> = r.records.iter().map(|x| x.id).collect();
    ids.sort_unstable();
    assert!(ids.iter().enumerate().all(|(k, &id)| k == id), "each id answered once, none skipped: {ids:?}");
    assert_eq!(r.batches.iter().map(|b| b.size).sum::<usize>(), r.records.len(), "batch sizes add up");
    for x in &r.records {
        let b = &r.batches[x.batch];
        assert!(b.size <= r.max_batch && x.start_ms == b.start_ms && x.end_ms == b.end_ms, "{x:?} in {b:?}");
        assert!(x.sent_ms >= x.scheduled_ms && x.start_ms >= x.sent_ms && x.end_ms >= x.start_ms, "{x:?}");
        assert!((x.latency_ms() - x.queue_ms() - x.compute_ms()).abs() < 1e-9);
    }
    // The analysis and verdicts are those of the records (read back from JSON, the figures may
    // differ in their last bit).
    let again = analyze(&r.records, &r.batches).unwrap();
    let (a, b) = (&again, &r.analysis);
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0);
    assert_eq!(
        (a.requests, &a.batch_sizes, a.generator.late_over_1ms),
        (b.requests, &b.batch_sizes, b.generator.late_over_1ms)
    );
    assert_eq!(
        (a.generator.kept_up, a.queueing.growing, a.queueing.max_outstanding),
        (b.generator.kept_up, b.queueing.growing, b.queueing.max_outstanding)
    );
    for (x, y) in [
        (a.latency_ms.p50, b.latency_ms.p50),
        (a.latency_ms.p99, b.latency_ms.p99),
        (a.queue_ms.p50, b.queue_ms.p50),
        (a.generator.shortfall, b.generator.shortfall),
        (a.queueing.growth_ms, b.queueing.growth_ms),
    ] {
        assert!(close(x, y), "the analysis is that of the records: {x} vs {y}");
    }
    assert_eq!((r.valid, r.sustainable), (again.generator.kept_up, !again.queueing.growing));
}

/// `n` requests of the seeded Poisson process at `rate`, ms: what a run's records must hold.
fn poisson_schedule_ms(rate: f64, seed: u64, n: usize) -> Vec<f64> {
    Schedule::new(Arrivals::Poisson.gaps(Some(rate), seed).unwrap()).take(n).map(|at| at * 1e3).collect()
}

/// A model that takes at least `extra` longer per call than the real one: a floor on its
/// service time that a sleep guarantees, so an overload is one by construction.
struct Slowed {
    inner: Box<dyn Session>,
    extra: std::time::Duration,
}

impl Session for Slowed {
    fn info(&self) -> &SessionInfo {
        self.inner.info()
    }
    fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        std::thread::sleep(self.extra);
        self.inner.run(inputs)
    }
    fn synchronize(&mut self) -> Result<()> {
        self.inner.synchronize()
    }
}

/// ResNet-18 on ONNX Runtime at about a third of its closed-loop rate: the run holds exactly the
/// seeded Poisson schedule and accounts for every request. Then the same model slowed by 40 ms a
/// call (so it serves at most 25 requests/s) receives 50 requests/s: whatever the machine's
/// speed, the queue grows, the run says it is not sustainable, and the generator still offered
/// the load (open loop).
#[test]
fn resnet18_server_runs_its_schedule_and_an_overload_by_construction_is_not_sustainable() {
    let _turn = turn();
    let model = resnet18();
    let mut session = onnx_session(&model);
    let samples = Samples::synthetic(session.inputs(), POOL, &[]).unwrap();
    let closed = BenchConfig { warmup: Warmup::AUTO, stop: Stop::Iterations(10) };
    let capacity = single_stream(session.as_mut(), &samples, &closed).unwrap().throughput_per_s;
    let rate = (capacity / 3.0).max(1.0);
    let light = run_server(session.as_mut(), &samples, &server(rate, 80)).unwrap();
    assert_eq!((light.sent, light.unserved), (80, 0));
    assert_accounting(&light);
    let mut by_id = light.records.clone();
    by_id.sort_by_key(|x| x.id);
    for (x, at) in by_id.iter().zip(poisson_schedule_ms(rate, 11, 80)) {
        assert!(
            (x.scheduled_ms - at).abs() < 1e-9,
            "request {}: scheduled {} ms, the process says {at}",
            x.id,
            x.scheduled_ms
        );
    }
    assert!((light.duration_s * 1e3 - by_id[79].scheduled_ms).abs() < 1e-9);

    let mut slowed = Slowed { inner: session, extra: std::time::Duration::from_millis(40) };
    let heavy =
        run_server(&mut slowed, &samples, &ServerConfig { arrivals: Arrivals::Constant, ..server(50.0, 60) }).unwrap();
    assert_accounting(&heavy);
    let q = &heavy.analysis.queueing;
    eprintln!("50 req/s against at most 25 served: {q:?}");
    assert!(q.served_fraction.unwrap() <= 0.55, "at most 25 of 50 per second: {q:?}");
    assert!(q.growing && !heavy.sustainable, "{q:?}");
    assert!(heavy.warnings.iter().any(|w| w.starts_with("not sustainable: queueing grows")), "{:?}", heavy.warnings);
    // Latency counts from the schedule: the last request waited for the 59 calls of at least
    // 40 ms before it, less its own arrival 1.2 s into the run.
    let last = heavy.records.iter().max_by(|a, b| a.end_ms.total_cmp(&b.end_ms)).unwrap();
    assert!(last.end_ms >= 60.0 * 40.0, "{last:?}");
}

/// A model that stalls once for 400 ms (the `INFER_TEST_STALL` hook) under constant arrivals every
/// 20 ms: the generator keeps sending during the stall (open loop), and every request queued
/// behind it has a latency, counted from its scheduled arrival, that includes the rest of the
/// stall after its arrival; the requests of the stalled call carry all of it. Each bound below is
/// one the 400 ms sleep and the 20 ms schedule guarantee.
#[test]
fn every_request_queued_behind_a_stall_carries_it() {
    let _turn = turn();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("server.json");
    let run = infer_env(
        &[
            "bench",
            p(&tiny("tiny_cnn.onnx")),
            "--scenario",
            "server",
            "--arrivals",
            "constant",
            "--rate",
            "50",
            "--duration",
            "3s",
            "--warmup",
            "3",
            "--json",
            p(&out),
        ],
        &[("INFER_TEST_STALL", "400ms@onnx+1s")],
    );
    let stdout = ok(&run);
    assert!(stdout.contains("latency from the scheduled arrival"), "{stdout}");
    let v = json(&out);
    assert_eq!(v["scenario"], "server");
    let r: ServerReport = serde_json::from_value(v["result"].clone()).unwrap();
    assert_accounting(&r);
    // Requests scheduled within 3 s every 20 ms: 149 or 150 (the 150th falls at 3 s, give or take
    // the rounding of the sum of the gaps), all answered.
    assert!((149..=150).contains(&r.sent) && r.unserved == 0, "{} sent, {} unserved", r.sent, r.unserved);
    for x in &r.records {
        assert!((x.scheduled_ms - (x.id + 1) as f64 * 20.0).abs() < 1e-6, "{x:?}");
    }
    let stalled: Vec<_> = r.batches.iter().filter(|b| b.end_ms - b.start_ms >= 400.0).collect();
    assert!(!stalled.is_empty(), "the stalled call: {:?}", r.batches);
    let s = stalled[0];
    let behind: Vec<_> = r.records.iter().filter(|x| x.start_ms >= s.start_ms && x.scheduled_ms < s.end_ms).collect();
    assert!(behind.len() >= 20, "20 requests are scheduled during 400 ms: {}", behind.len());
    // Open loop: the generator sent requests while the model was stalled.
    let sent_during = r.records.iter().filter(|x| x.sent_ms > s.start_ms && x.sent_ms < s.end_ms).count();
    assert!(sent_during >= 10, "the generator was held up by the stall: {sent_during} sent during it");
    for x in &behind {
        assert!(x.latency_ms() >= s.end_ms - x.scheduled_ms, "{x:?}");
        if x.scheduled_ms <= s.start_ms {
            assert!(x.latency_ms() >= 400.0, "in the stalled call: {x:?}");
        }
    }
    let first_during =
        behind.iter().filter(|x| x.scheduled_ms > s.start_ms).map(|x| x.latency_ms()).fold(0.0, f64::max);
    assert!(
        first_during >= 380.0,
        "the first request arriving during the stall waits nearly all of it: {first_during}"
    );
    // The summary is over latencies from the schedule: the stall is in its tail.
    assert!(r.analysis.latency_ms.max >= 400.0, "{:?}", r.analysis.latency_ms);
    // No hook for this backend, no stall: the run is still every request of its schedule.
    let quiet = dir.path().join("quiet.json");
    ok(&infer_env(
        &[
            "bench",
            p(&tiny("tiny_cnn.onnx")),
            "--scenario",
            "server",
            "--rate",
            "50",
            "--iterations",
            "30",
            "--warmup",
            "3",
            "--json",
            p(&quiet),
        ],
        &[("INFER_TEST_STALL", "400ms@torch")],
    ));
    let r: ServerReport = serde_json::from_value(json(&quiet)["result"].clone()).unwrap();
    assert_accounting(&r);
    assert_eq!(r.sent, 30);
    // 30 requests at 50/s are about 0.6 s of schedule: under the 2 s minimum, flagged as a burst.
    assert!(r.warnings.iter().any(|w| w.starts_with("short run: 30 requests")), "{:?}", r.warnings);
}

/// Dynamic batching on ResNet-18 with requests every 0.5 ms: Triton's rule holds in every call —
/// a call of fewer than the maximum starts only once its oldest request has waited the timeout
/// since it was sent — batches form (four requests arrive within 2 ms, well inside the 5 ms
/// timeout, and queue behind any call), every request's latency is its queue time plus its compute
/// time, and each batch's requests share its start and end.
#[test]
fn dynamic_batching_forms_batches_by_triton_s_rule() {
    let _turn = turn();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("batched.json");
    let stdout = ok(&infer_env(
        &[
            "bench",
            p(&resnet18()),
            "--scenario",
            "server",
            "--arrivals",
            "constant",
            "--rate",
            "2000",
            "--dynamic-batch",
            "4",
            "--batch-timeout",
            "5ms",
            "--iterations",
            "40",
            "--warmup",
            "3",
            "--json",
            p(&out),
        ],
        &[],
    ));
    assert!(stdout.contains("dynamic batching up to 4 / 5 ms timeout"), "{stdout}");
    assert!(stdout.contains("batch sizes formed"), "{stdout}");
    let v = json(&out);
    assert_eq!((v["backend"].as_str(), v["device"].as_str()), (Some("onnx"), Some("cpu")));
    let r: ServerReport = serde_json::from_value(v["result"].clone()).unwrap();
    assert_eq!((r.max_batch, r.batch_timeout_ms, r.sent), (4, 5.0, 40));
    assert_accounting(&r);
    assert!(r.analysis.batch_sizes.iter().all(|b| (1..=4).contains(&b.size)));
    for b in r.batches.iter().filter(|b| b.size < 4) {
        let oldest = r.records.iter().filter(|x| x.batch == b.id).map(|x| x.sent_ms).fold(f64::INFINITY, f64::min);
        assert!(b.start_ms - oldest >= 5.0 - 1e-9, "a call of {} before its oldest waited 5 ms: {b:?}", b.size);
    }
    assert!(r.analysis.mean_batch > 1.0, "{:?}", r.analysis.batch_sizes);
    // The raw records are in the JSON under their documented names.
    let rec = &v["result"]["records"][0];
    for k in ["id", "scheduled_ms", "sent_ms", "start_ms", "end_ms", "batch"] {
        assert!(rec.get(k).is_some(), "{k}: {rec}");
    }
}

/// A recorded trace replayed as recorded: requests at exactly the running sums of its gaps; a bad
/// line is an error naming the file and the line.
#[test]
fn a_trace_is_replayed_exactly_and_bad_traces_are_named() {
    let _turn = turn();
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("arrivals.txt");
    std::fs::write(&trace, "# gaps in ms\n5\n0\n12.5\n30ms\n0.002s\n").unwrap();
    let out = dir.path().join("replay.json");
    ok(&infer_env(
        &[
            "bench",
            p(&tiny("tiny_cnn.onnx")),
            "--scenario",
            "server",
            "--arrivals",
            p(&trace),
            "--iterations",
            "10",
            "--warmup",
            "2",
            "--json",
            p(&out),
        ],
        &[],
    ));
    let r: ServerReport = serde_json::from_value(json(&out)["result"].clone()).unwrap();
    let gaps = [5.0, 0.0, 12.5, 30.0, 2.0];
    let mut at = 0.0;
    for (k, x) in r.records.iter().enumerate() {
        at += gaps[k % 5];
        assert!((x.scheduled_ms - at).abs() < 1e-9, "request {k}: {} vs {at}", x.scheduled_ms);
    }
    assert_eq!((r.records.len(), r.trace_passes), (10, Some(2)));
    assert_eq!(r.asked_rate, None);
    assert!(r.arrivals.starts_with("replay ") && r.arrivals.ends_with("arrivals.txt"), "{}", r.arrivals);

    std::fs::write(&trace, "5\n5\nsoon\n").unwrap();
    let run = infer_env(&["bench", p(&tiny("tiny_cnn.onnx")), "--scenario", "server", "--arrivals", p(&trace)], &[]);
    let (_, stderr) = text(&run);
    assert!(!run.status.success() && !stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("arrivals.txt") && stderr.contains("line 3") && stderr.contains("`soon`"), "{stderr}");
}

/// Offline on ResNet-18: all samples at once, one row per batch size, the best throughput chosen
/// among them; and, through the library, the report a parent process reads back is the one written.
#[test]
fn offline_reports_the_best_throughput_over_batch_sizes() {
    let _turn = turn();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("offline.json");
    let stdout = ok(&infer_env(
        &[
            "bench",
            p(&resnet18()),
            "--scenario",
            "offline",
            "--samples",
            "24",
            "--batch-sizes",
            "1,4,8,32",
            "--warmup",
            "2",
            "--json",
            p(&out),
        ],
        &[],
    ));
    assert!(stdout.contains("24 samples issued at once") && stdout.contains("best:"), "{stdout}");
    let report: ScenarioReport = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let ScenarioResult::Offline(o) = &report.result else { panic!("{report:?}") };
    let sizes: Vec<usize> = o.rows.iter().map(|r| r.batch_size).collect();
    assert_eq!(sizes, [1, 4, 8], "32 > 24 samples is skipped");
    assert!(o.warnings.iter().any(|w| w.contains("batch 32 skipped")), "{:?}", o.warnings);
    for r in &o.rows {
        assert_eq!(r.calls, 24usize.div_ceil(r.batch_size));
        assert!((r.throughput_per_s - 24.0 / r.elapsed_s).abs() < 1e-9 * r.throughput_per_s);
        assert!(r.throughput_per_s <= o.best_throughput_per_s);
    }
    assert!(o.rows.iter().any(|r| r.batch_size == o.best_batch && r.throughput_per_s == o.best_throughput_per_s));

    // The library entry point a compare row calls: a loaded backend, a spec, a serializable result.
    let registry = infer_cli::backends::registry();
    let spec = ScenarioSpec {
        scenario: infer_measure::scenario::Scenario::SingleStream(BenchConfig {
            warmup: Warmup::Count(2),
            stop: Stop::Iterations(20),
        }),
        workload: infer_measure::workload::Workload::default(),
        pool: 4,
        host: infer_measure::host::HostOptions::default(),
        lengths: None,
    };
    let report = infer_measure::scenario::measure(
        registry.get("onnx").unwrap(),
        &tiny("tiny_cnn.onnx"),
        &LoadOptions::default(),
        &spec,
        |s| s,
        &mut |_| {},
    )
    .unwrap();
    let ScenarioResult::SingleStream(ss) = &report.result else { panic!("{report:?}") };
    assert_eq!((ss.latency_ms.count, ss.warmup_iterations), (20, 2));
    let back: ScenarioReport = serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
    assert_eq!((back.backend.as_str(), back.device, back.schema_version), ("onnx", report.device, 1));
    let ScenarioResult::SingleStream(b) = &back.result else { panic!("{back:?}") };
    assert_eq!(b.samples_ms.len(), 20);
    for (x, y) in b.samples_ms.iter().zip(&ss.samples_ms) {
        assert!((x - y).abs() <= 1e-12 * y, "{x} vs {y}");
    }
}

/// `--find-max-rate` on ResNet-18 (p90, 20% precision and a 1 s minimum per probe, to keep it
/// short; the bound is six single-stream medians measured just before): each probe lasts at least
/// the minimum schedule and judges at least h(0) = 44 requests before its verdict; the highest
/// passing rate is reported with its latencies, and no failing probe lies below it.
#[test]
fn find_max_rate_brackets_the_sustainable_rate() {
    let _turn = turn();
    let model = resnet18();
    let single = {
        let mut session = onnx_session(&model);
        let samples = Samples::synthetic(session.inputs(), 1, &[]).unwrap();
        let config = BenchConfig { warmup: Warmup::AUTO, stop: Stop::Iterations(20) };
        single_stream(session.as_mut(), &samples, &config).unwrap().latency_ms.p50
    };
    let bound = format!("{:.0}ms", (6.0 * single).ceil());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("search.json");
    let stdout = ok(&infer_env(
        &[
            "bench",
            p(&model),
            "--scenario",
            "server",
            "--find-max-rate",
            "--p99-bound",
            &bound,
            "--bound-percentile",
            "90",
            "--search-precision",
            "20%",
            "--min-probe-time",
            "1s",
            "--warmup",
            "3",
            "--json",
            p(&out),
        ],
        &[],
    ));
    let header = format!("max sustainable rate with p90 ≤ {} ms", bound.trim_end_matches("ms"));
    assert!(stdout.contains(&header), "{stdout}");
    let v = json(&out);
    assert_eq!(v["scenario"], "find-max-rate");
    let r = &v["result"];
    let probes = r["probes"].as_array().unwrap();
    let runs = r["runs"].as_array().unwrap();
    assert_eq!(probes.len(), runs.len());
    let max = r["max_rate"].as_f64().unwrap();
    for (probe, run) in probes.iter().zip(runs) {
        let rate = probe["rate"].as_f64().unwrap();
        let run: ServerReport = serde_json::from_value(run.clone()).unwrap();
        assert_accounting(&run);
        if !probe["passed"].as_bool().unwrap() {
            assert!(rate > max, "a failure at {rate} below the max {max}: {probe}");
        }
        let es = run.early_stopping.clone().unwrap();
        assert_eq!((es.min_requests, run.min_time_s), (44, 1.0));
        // No verdict before the minimum: h(0) judged, and every request scheduled within the
        // first second sent (the next one would have come at 1 s or later).
        if es.verdict != infer_measure::scenario::early_stopping::Verdict::Undecided {
            assert!(es.judged >= 44, "{es:?}");
            let next = run.duration_s + run.duration_s / run.sent as f64;
            assert!(next >= 1.0 - 1e-6, "verdict after {} requests over {} s", run.sent, run.duration_s);
        }
        assert_eq!(probe["duration_s"].as_f64(), Some(run.duration_s));
        assert_eq!(probe["requests"].as_u64(), Some(run.records.len() as u64));
        if probe["passed"].as_bool().unwrap() {
            assert_eq!(es.verdict, infer_measure::scenario::early_stopping::Verdict::Pass);
        }
    }
    let at = &r["at_max"];
    assert_eq!(at["rate"].as_f64(), Some(max));
    assert!(at["p99_ms"].as_f64().unwrap() >= at["p50_ms"].as_f64().unwrap());
    // The probe table shows each probe's span of schedule.
    assert!(stdout.contains("requests  schedule s"), "{stdout}");
}

#[test]
fn scenario_options_are_checked() {
    let tiny_cnn = tiny("tiny_cnn.onnx");
    let fails = |args: &[&str], needle: &str| {
        let run = infer_env(&[&["bench", p(&tiny_cnn)], args].concat(), &[]);
        let (_, stderr) = text(&run);
        assert!(!run.status.success() && !stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: stderr lacks `{needle}`:\n{stderr}");
    };
    fails(&["--scenario", "offline", "--rate", "5"], "--rate applies to --scenario server, not offline");
    fails(&["--scenario", "server"], "needs --rate");
    fails(&["--scenario", "server", "--rate", "0"], "invalid rate `0`");
    fails(&["--scenario", "server", "--rate", "5", "--concurrency", "2"], "--concurrency");
    fails(&["--scenario", "server", "--find-max-rate"], "--p99-bound");
    fails(&["--scenario", "server", "--rate", "5", "--batch-timeout", "2ms"], "--dynamic-batch");
    fails(&["--scenario", "server", "--rate", "5", "--p99-bound", "10ms", "--iterations", "5"], "early stopping");
    fails(&["--scenario", "streaming"], "expected single-stream, offline or server");
    fails(
        &["--scenario", "server", "--rate", "5", "--min-probe-time", "10s", "--probe-time", "5s"],
        "shorter than --min-probe-time",
    );
    fails(
        &["--scenario", "offline", "--target-ci", "2%"],
        "--target-ci applies to single-stream and to one server run",
    );
    fails(
        &["--scenario", "server", "--find-max-rate", "--p99-bound", "1s", "--target-ci", "2%"],
        "not to --find-max-rate",
    );
    fails(
        &["--scenario", "server", "--rate", "5", "--p99-bound", "1s", "--target-ci", "2%"],
        "do not give --target-ci too",
    );
    fails(
        &["--scenario", "server", "--rate", "5", "--target-ci", "2%", "--iterations", "5"],
        "do not give --iterations",
    );
    fails(&["--max-time", "3s"], "go with --target-ci P%");
    fails(&["--target-ci", "0%"], "invalid interval target `0%`");
    fails(
        &["--scenario", "server", "--rate", "5", "--bound-percentile", "100", "--p99-bound", "1s"],
        "invalid percentile",
    );
    let fixed = tiny("fixed_batch.onnx");
    let run = infer_env(
        &["bench", p(&fixed), "--scenario", "server", "--rate", "50", "--dynamic-batch", "4", "--iterations", "3"],
        &[],
    );
    let (_, stderr) = text(&run);
    assert!(!run.status.success() && stderr.contains("fixed"), "{stderr}");
}

/// The rows of a `serving.json` whose status is `ok`, as (backend, batching).
fn measured_rows(v: &Value) -> Vec<(String, String)> {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "ok")
        .map(|r| (r["backend"].as_str().unwrap().to_string(), r["batching"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn compare_finds_the_max_rate_of_every_backend_with_and_without_batching() {
    let _turn = turn();
    let dir = tempfile::tempdir().unwrap();
    let fixture = support::tiny_fixture(dir.path());
    let out = dir.path().join("out");
    let run = infer_env(
        &[
            "compare",
            p(&fixture),
            "--scenario",
            "server",
            "--find-max-rate",
            "--p99-bound",
            "20ms",
            "--search-precision",
            "20%",
            "--min-probe-time",
            "500ms",
            "--device",
            "cpu",
            "--warmup",
            "3",
            "--out",
            p(&out),
        ],
        &[],
    );
    let (stdout, stderr) = text(&run);
    assert!(run.status.success() && !stderr.contains("panicked"), "{stdout}\n{stderr}");
    // The deployment table: one line per backend and batching, the max rate and p50/p99 there.
    assert!(stdout.contains("max rate/s") && stdout.contains("p99 ms at max"), "{stdout}");
    assert!(stderr.contains("measuring onnx cpu, none") && stderr.contains("measuring onnx cpu, dynamic ≤8, 2 ms"));
    let v = json(&out.join("serving.json"));
    assert_eq!(v["scenario"], "server");
    let measured = measured_rows(&v);
    for batching in ["none", "dynamic ≤8, 2 ms"] {
        assert!(measured.contains(&("onnx".into(), batching.into())), "{measured:?}");
    }
    // A backend that cannot read the fixture has one row with the reason, not one per batching.
    let torch: Vec<&Value> = v["rows"].as_array().unwrap().iter().filter(|r| r["backend"] == "torch").collect();
    assert_eq!(torch.len(), 1, "{torch:?}");
    assert_ne!(torch[0]["status"], "ok");
    for row in v["rows"].as_array().unwrap().iter().filter(|r| r["status"] == "ok") {
        let result = &row["report"]["result"];
        assert_eq!(row["report"]["scenario"], "find-max-rate", "{row}");
        // A found rate is a probe that passed; none found (a busy shared host can fail even the
        // lowest probe's p99 bound) means every probe failed, and says so as null.
        let probes = result["probes"].as_array().unwrap();
        assert!(!probes.is_empty(), "{result}");
        if let Some(max) = result["max_rate"].as_f64() {
            let at = &result["at_max"];
            assert!(max > 0.0 && at["rate"].as_f64() == Some(max), "{result}");
            assert!(at["p99_ms"].as_f64().unwrap() <= 20.0 && at["passed"] == true, "{at}");
        } else {
            assert!(result["at_max"].is_null() && probes.iter().all(|pr| pr["passed"] == false), "{result}");
        }
        // Every probe's raw per-request records are kept (scheduled, start, end, batch).
        for run in result["runs"].as_array().unwrap() {
            let first = &run["records"][0];
            for key in ["scheduled_ms", "start_ms", "end_ms", "batch"] {
                assert!(first.get(key).is_some(), "{first}");
            }
        }
        let asked = result["max_batch"].as_u64().unwrap();
        assert_eq!(asked, if row["batching"] == "none" { 1 } else { 8 }, "{row}");
        // --min-probe-time reached the children: no probe was judged before 500 ms of schedule.
        for run in result["runs"].as_array().unwrap() {
            let run: ServerReport = serde_json::from_value(run.clone()).unwrap();
            assert_eq!(run.min_time_s, 0.5);
            assert_accounting(&run);
        }
    }
    // The HTML: the table, and latency against offered rate with a curve per configuration.
    let html = std::fs::read_to_string(out.join("serving.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 2, "{html}");
    assert_eq!(html.matches("<polyline").count(), 2 * measured.len(), "{html}");
    assert!(std::fs::read_to_string(out.join("serving.md")).unwrap().contains("| onnx | cpu | none |"));
    // Every probe with its span of schedule, its requests and its verdict.
    assert!(html.contains("<h2>Probes: onnx cpu, none</h2>") && html.contains("seconds of schedule"), "{html}");
}

#[test]
fn an_interrupted_serving_comparison_keeps_the_rows_measured() {
    let _turn = turn();
    let dir = tempfile::tempdir().unwrap();
    let fixture = support::tiny_fixture(dir.path());
    let out = dir.path().join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_infer"))
        .args(["compare", p(&fixture), "--scenario", "server", "--rate", "50", "--duration", "4s"])
        .args(["--device", "cpu", "--warmup", "2", "--out", p(&out)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // serving.json appears when the first row is done; the second takes 4 s more.
    let start = std::time::Instant::now();
    while !out.join("serving.json").is_file() {
        assert!(child.try_wait().unwrap().is_none(), "the comparison ended before it was interrupted");
        assert!(start.elapsed() < std::time::Duration::from_secs(120), "no row was written");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success();
    assert!(sent, "kill -INT failed");
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let v = json(&out.join("serving.json"));
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows[0]["status"], "ok", "{v}");
    assert_eq!(rows[0]["report"]["scenario"], "server");
    assert!(!rows[0]["report"]["result"]["records"].as_array().unwrap().is_empty());
    assert!(rows.iter().any(|r| r["status"] == "interrupted"), "{v}");
}

#[test]
fn compare_refuses_options_of_another_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = support::tiny_fixture(dir.path());
    let fails = |args: &[&str], needle: &str| {
        let run = infer_env(&[&["compare", p(&fixture), "--out", p(&dir.path().join("o"))], args].concat(), &[]);
        let (_, stderr) = text(&run);
        assert!(!run.status.success() && !stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: stderr lacks `{needle}`:\n{stderr}");
    };
    fails(&["--scenario", "server", "--rate", "5", "--rounds", "2"], "--rounds and --profile-runs apply");
    fails(&["--scenario", "offline", "--rate", "5"], "--rate applies to --scenario server, not offline");
    fails(&["--rate", "5"], "--rate applies to --scenario server, not single-stream");
}
