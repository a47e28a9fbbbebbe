//! Synthetic results shared by the report tests: rows with known medians and raw samples.
#![allow(clippy::unwrap_used, dead_code)]

pub mod browser;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use infer_core::Device;
use infer_measure::{
    environment::Environment,
    results::comparison::{CompareEntry, Comparison, RowStatus},
    results::{BenchReport, BenchRow, RowSource, SCHEMA_VERSION},
};

/// Raw samples: `n` values within ±`spread` (relative) of `median`, in a fixed pattern.
pub fn samples(median: f64, spread: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| median * (1.0 + spread * (((i * 37) % 11) as f64 / 5.0 - 1.0))).collect()
}

/// One measured row.
pub fn row(backend: &str, device: Device, batch: usize, samples_ms: Vec<f64>) -> BenchRow {
    let env = Environment::capture(0);
    let src = RowSource {
        model: "/somewhere/model.onnx",
        backend,
        device,
        batch_size: batch,
        environment: &env,
        resamples: 500,
        seed: 1,
    };
    BenchRow::from_samples(&src, samples_ms).unwrap()
}

/// A report of `backend` on `device` with one row per (batch size, median ms).
pub fn report(backend: &str, device: Device, medians: &[(usize, f64)]) -> BenchReport {
    BenchReport {
        schema_version: SCHEMA_VERSION,
        model: "/somewhere/model.onnx".into(),
        backend: backend.into(),
        device,
        environment: Environment::capture(0),
        load_ms: 40.0,
        first_inference_ms: 55.0,
        parameters: Some(11_689_512),
        parameter_bytes: Some(46_758_048),
        rss_before_load: Some(20 << 20),
        rss_after_load: Some(80 << 20),
        peak_rss: Some(200 << 20),
        max_abs_diff: Some(8e-6),
        reference: Some("reference_torch.npy".into()),
        max_rel_diff: None,
        top1_agreement: None,
        rows: medians.iter().map(|&(b, m)| row(backend, device, b, samples(m, 0.05, 60))).collect(),
        failed_rows: Vec::new(),
        rss_load_increase: Some(60 << 20),
        rss_inference_increase: Some(120 << 20),
        memory_method: Some("VmRSS/VmHWM from /proc/self/status".into()),
        cuda_memory: None,
        device_memory: None,
    }
}

/// onnx and torch on CPU and GPU at batch sizes 1, 8 and 32, tf failed with markup in its
/// message.
pub fn comparison() -> Comparison {
    let ok = |r: BenchReport| CompareEntry::new(&r.backend.clone(), r.device, RowStatus::Ok, Some(r));
    Comparison {
        model: "resnet18".into(),
        environment: Environment::capture(0),
        tolerance: 1e-4,
        entries: vec![
            ok(report("onnx", Device::Cpu, &[(1, 20.6), (8, 158.0), (32, 610.0)])),
            ok(report("onnx", Device::Cuda(0), &[(1, 1.9), (8, 4.1), (32, 12.5)])),
            ok(report("torch", Device::Cpu, &[(1, 24.0), (8, 170.0), (32, 650.0)])),
            ok(report("torch", Device::Cuda(0), &[(1, 2.4), (8, 4.6), (32, 13.9)])),
            CompareEntry::new(
                "tf",
                Device::Cpu,
                RowStatus::Error { message: "exit code 134: <script>alert('pwned')</script>".into() },
                None,
            ),
            CompareEntry::new("tf", Device::Cuda(0), RowStatus::NotCompiled, None),
        ],
    }
}

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A committed tiny fixture.
pub fn tiny(name: &str) -> PathBuf {
    root().join("fixtures/tiny").join(name)
}

/// Runs the `infer` binary built for these tests.
pub fn infer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_infer")).args(args).output().unwrap()
}

/// stdout and stderr as text.
pub fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// The stdout of a run that must succeed without a panic (stderr shown otherwise).
pub fn ok(out: &Output) -> String {
    let (stdout, stderr) = text(out);
    assert!(out.status.success(), "failed:\n{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stdout
}

/// A path as a command-line argument.
pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A fixture folder (meta.json + model + reference) around the tiny CNN.
pub fn tiny_fixture(dir: &Path) -> PathBuf {
    let fixture = dir.join("fixture");
    std::fs::create_dir_all(&fixture).unwrap();
    for f in ["tiny_cnn.onnx", "tiny_cnn.input.npy", "tiny_cnn.output.npy"] {
        std::fs::copy(tiny(f), fixture.join(f)).unwrap();
    }
    std::fs::write(
        fixture.join("meta.json"),
        r#"{"model": "tiny_cnn", "input": {"file": "tiny_cnn.input.npy"},
            "formats": {"onnx": {"file": "tiny_cnn.onnx", "reference": "tiny_cnn.output.npy"}}}"#,
    )
    .unwrap();
    fixture
}

/// The structure every operator-profile summary (`infer profile --json`) must have, whatever
/// the machine's load: runs counted; every share within 0..=100 % and all of them summing to
/// 100 % (of the same total); each row's time at most the total and the rows adding up to it;
/// each share and per-run figure what its total implies; rows largest first; and each operator
/// type the sum of its nodes. Nothing here compares one operator's time with another's.
pub fn check_profile_structure(v: &serde_json::Value) {
    let runs = v["runs"].as_u64().unwrap();
    let total = v["total_us"].as_f64().unwrap();
    assert!(runs > 0 && total > 0.0, "{v}");
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
    for table in ["by_type", "by_node"] {
        let rows = v[table].as_array().unwrap();
        assert!(!rows.is_empty(), "{table} is empty");
        let mut shares = 0.0;
        let mut sum = 0.0;
        for r in rows {
            let (t, share) = (r["total_us"].as_f64().unwrap(), r["share_pct"].as_f64().unwrap());
            assert!(t >= 0.0 && t <= total * (1.0 + 1e-12), "{table}: {r} beyond the total {total}");
            assert!((0.0..=100.0).contains(&share), "{table}: {r}");
            assert!(close(share, t / total * 100.0), "{table}: {r}");
            assert!(close(r["per_run_us"].as_f64().unwrap(), t / runs as f64), "{table}: {r}");
            assert!(r["calls"].as_u64().unwrap() >= 1, "{table}: {r}");
            shares += share;
            sum += t;
        }
        assert!(shares <= 100.0 + 1e-6 && (shares - 100.0).abs() < 1e-6, "{table}: shares sum to {shares}");
        assert!(close(sum, total), "{table}: rows sum to {sum}, total {total}");
        let totals: Vec<f64> = rows.iter().map(|r| r["total_us"].as_f64().unwrap()).collect();
        assert!(totals.windows(2).all(|w| w[0] >= w[1]), "{table} not largest first: {totals:?}");
    }
    for t in v["by_type"].as_array().unwrap() {
        let nodes: Vec<&serde_json::Value> =
            v["by_node"].as_array().unwrap().iter().filter(|n| n["op_type"] == t["name"]).collect();
        let calls: u64 = nodes.iter().map(|n| n["calls"].as_u64().unwrap()).sum();
        let us: f64 = nodes.iter().map(|n| n["total_us"].as_f64().unwrap()).sum();
        assert_eq!(t["calls"].as_u64(), Some(calls), "{t}: its nodes were called {calls} times");
        assert!(close(t["total_us"].as_f64().unwrap(), us), "{t}: its nodes add up to {us} us");
    }
}

/// The rows of `table` (`by_type` or `by_node`) of a profile summary whose `key` is `value`.
pub fn profile_rows<'a>(v: &'a serde_json::Value, table: &str, key: &str, value: &str) -> Vec<&'a serde_json::Value> {
    v[table].as_array().unwrap().iter().filter(|r| r[key] == value).collect()
}

/// Every backend of this build, as the `infer` these tests run registers them (torch through
/// the worker beside it).
pub fn registry() -> infer_core::Registry {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_infer"));
    infer_cli::backends::registry_with(Box::new(infer_cli::worker::Delegated::torch().beside(exe)))
}

/// Whether `backend` can run here (its probe says available).
pub fn available(backend: &dyn infer_core::Backend) -> bool {
    matches!(infer_core::registry::availability(backend), infer_core::Availability::Available(_))
}

/// The backends that read the format `id` and can run here, in registration order.
pub fn readers_of(id: &str) -> Vec<&'static str> {
    registry().iter().filter(|b| available(*b) && b.formats().iter().any(|f| f.id == id)).map(|b| b.name()).collect()
}

/// What the cpu row of `backend` says in `infer compare` on a fixture that holds only the
/// formats `ids`: `ok` when it can run and reads one of them; else why not, as the row says it.
pub fn compare_status(backend: &dyn infer_core::Backend, ids: &[&str]) -> String {
    match infer_core::registry::availability(backend) {
        infer_core::Availability::Available(_) => match backend.formats().iter().find(|f| ids.contains(&f.id)) {
            Some(_) => "ok".into(),
            None => format!("the fixture has no {} model", backend.formats()[0].id),
        },
        infer_core::Availability::NotCompiled { .. } => "not compiled".into(),
        infer_core::Availability::Unavailable { reason } => reason.lines().next().unwrap_or_default().to_string(),
    }
}

/// The line of `table` (text) whose first word is `backend`, on `device`.
pub fn row_of<'t>(table: &'t str, backend: &str, device: &str) -> Option<&'t str> {
    table.lines().find(|l| {
        let mut words = l.split_whitespace();
        words.next() == Some(backend) && words.next() == Some(device)
    })
}

/// Whether a line of `compare`'s terminal table ends in the status `ok`: measured, with or without
/// the host's `(disturbed)` mark (a shared test host is often busy).
pub fn ends_ok(line: &str) -> bool {
    let line = line.trim_end();
    line.ends_with(" ok") || line.ends_with(" ok (disturbed)")
}
