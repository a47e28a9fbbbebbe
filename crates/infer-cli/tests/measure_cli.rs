//! `infer bench --sweep`, `infer profile` and `infer optimize-batch` end to end on real models:
//! the structure and consistency of what they report (no timing assertions).
#![cfg(installed_onnx)]
#![allow(clippy::unwrap_used)]

mod support;

use support::{check_profile_structure, infer, ok, p, profile_rows, root, tiny};

use std::path::Path;

use serde_json::Value;

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn sweep_reports_speedups_stages_warmup_and_memory() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep.json");
    let stdout = ok(&infer(&[
        "bench",
        p(&tiny("tiny_cnn.onnx")),
        "--sweep",
        "--duration",
        "40ms",
        "--warmup",
        "auto",
        "--json",
        p(&out),
    ]));
    assert!(stdout.contains("speed-up") && stdout.contains("ms/item"), "{stdout}");
    assert!(stdout.contains("per call: bind"), "{stdout}");
    let v = json(&out);
    let rows = v["rows"].as_array().unwrap();
    let sizes: Vec<u64> = rows.iter().map(|r| r["batch_size"].as_u64().unwrap()).collect();
    assert_eq!(sizes, [1, 2, 4, 8, 16, 32]);
    let base = rows[0]["throughput_per_s"].as_f64().unwrap();
    for r in rows {
        let batch = r["batch_size"].as_f64().unwrap();
        let tput = r["throughput_per_s"].as_f64().unwrap();
        let median = r["latency_ms"]["median"].as_f64().unwrap();
        assert!((r["speedup_vs_batch1"].as_f64().unwrap() - tput / base).abs() < 1e-9 * tput / base);
        assert!((r["per_item_ms"].as_f64().unwrap() - median / batch).abs() < 1e-12 * median);
        assert!((tput - batch * 1e3 / median).abs() < 1e-9 * tput);
        // Auto warm-up runs whole windows of 5, at least two of them, at most 100 iterations.
        let w = r["warmup_iterations"].as_u64().unwrap();
        assert!((10..=100).contains(&w) && w.is_multiple_of(5), "warm-up {w}");
        assert!(r["warmup_settled"].is_boolean());
        assert!(r["input_prep_ms"].as_f64().unwrap() > 0.0, "building the inputs takes time");
        // Each stage is part of its timed call, so each stage's median is at most the calls'.
        let st = &r["stages_ms"];
        assert!(st["compute_ms"].as_f64().unwrap() > 0.0, "{st}");
        for k in ["bind_ms", "compute_ms", "fetch_ms"] {
            let stage = st[k].as_f64().unwrap();
            assert!((0.0..=median).contains(&stage), "{k} {stage} outside 0..={median}: {st}");
        }
        assert!(st["covers"].as_str().unwrap().contains("run_staged"));
    }
    assert_eq!(rows[0]["speedup_vs_batch1"].as_f64(), Some(1.0));
    // The increases are the differences of the figures beside them, as the method says.
    let bytes = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k}: {}", v[k]));
    let (before, after, peak) = (bytes("rss_before_load"), bytes("rss_after_load"), bytes("peak_rss"));
    assert!(before > 0 && peak >= after, "{before} {after} {peak}");
    assert_eq!(bytes("rss_load_increase"), after.saturating_sub(before));
    assert_eq!(bytes("rss_inference_increase"), peak - after);
    assert!(v["memory_method"].as_str().unwrap().contains("VmHWM"));
    assert_eq!(v["parameter_bytes"], 648);
    assert!(v["cuda_memory"].is_null(), "no CUDA figures on the CPU");
}

/// `bench --device cuda:N --fallback` for a device this machine does not have (none has 4097
/// GPUs): the run falls back to the CPU and the report says why it has no device-memory
/// figures, on every machine, with a driver or without.
#[test]
fn bench_on_an_absent_cuda_device_says_why_there_are_no_memory_figures() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cuda.json");
    let stdout = ok(&infer(&[
        "bench",
        p(&tiny("tiny_cnn.onnx")),
        "--device",
        "cuda:4096",
        "--fallback",
        "--iterations",
        "3",
        "--json",
        p(&out),
    ]));
    assert!(stdout.contains("cuda memory (whole device)"), "{stdout}");
    let c = &json(&out)["cuda_memory"];
    let method = c["method"].as_str().unwrap();
    // No driver: libcuda cannot be loaded; a driver: it has no device 4096.
    assert!(
        method.starts_with("unavailable: no CUDA driver")
            || method.starts_with("unavailable: CUDA driver error on cuda:4096"),
        "{method}"
    );
    for k in ["total", "used_before_load", "used_after_load", "used_after_inference"] {
        assert!(c[k].is_null(), "{k}: {c}");
    }
}

/// `bench --device cuda` on a GPU: the device each session actually ran on is the one recorded
/// (a CPU fallback cannot pass for a GPU run), and the driver's figures are consistent with each
/// other. Run on the GPU machine with `cargo test -- --ignored`.
#[test]
#[ignore = "needs a CUDA device"]
fn bench_on_cuda_reports_the_device_it_ran_on_and_the_drivers_memory() {
    let dir = tempfile::tempdir().unwrap();
    // libtorch's CUDA build runs the committed TorchScript CNN on the GPU itself, without a
    // fallback: the report says cuda:0, and the device's own time (CUDA events) is there.
    let torch = dir.path().join("torch.json");
    ok(&infer(&["bench", p(&tiny("tiny_cnn.pt")), "--device", "cuda:0", "--iterations", "5", "--json", p(&torch)]));
    let t = json(&torch);
    assert_eq!(t["device"], "cuda:0", "{t}");
    assert!(t["rows"][0]["device_time"].is_object(), "no CUDA-event time on a GPU row: {t}");
    // The pinned onnxruntime wheel is CPU-only: with --fallback the session runs on the CPU and
    // the report says so, while the driver's figures are still the device's.
    let out = dir.path().join("cuda.json");
    ok(&infer(&[
        "bench",
        p(&tiny("tiny_cnn.onnx")),
        "--device",
        "cuda",
        "--fallback",
        "--iterations",
        "3",
        "--json",
        p(&out),
    ]));
    let report = json(&out);
    assert_eq!(report["device"], "cpu", "a fallback must be recorded as the CPU: {report}");
    let c = &report["cuda_memory"];
    assert!(c["method"].as_str().unwrap().starts_with("cuMemGetInfo"), "{c}");
    let total = c["total"].as_u64().unwrap();
    for k in ["used_before_load", "used_after_load", "used_after_inference"] {
        let used = c[k].as_u64().unwrap_or_else(|| panic!("{k}: {c}"));
        assert!(used > 0 && used <= total, "{k}: {c}");
    }
}

#[test]
fn bad_warmup_is_a_clear_error() {
    let out = infer(&["bench", p(&tiny("tiny_cnn.onnx")), "--warmup", "soon"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected a number of iterations or `auto`"));
}

#[test]
fn profile_of_the_tiny_cnn_sums_to_the_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("profile.json");
    let traces = dir.path().join("traces");
    let stdout = ok(&infer(&[
        "profile",
        p(&tiny("tiny_cnn.onnx")),
        "--iterations",
        "4",
        "--warmup",
        "2",
        "--top",
        "2",
        "--batch-size",
        "3",
        "--json",
        p(&out),
        "--keep-trace",
        p(&traces),
    ]));
    assert!(stdout.contains("top operator types by total time"), "{stdout}");
    let v = json(&out);
    assert_eq!((v["runs"].as_u64(), v["warmup_runs"].as_u64(), v["batch_size"].as_u64()), (Some(4), Some(2), Some(3)));
    let types = v["by_type"].as_array().unwrap();
    // The tiny CNN's five nodes, fused or not, keep Conv and Gemm.
    let names: Vec<&str> = types.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"Conv") && names.contains(&"Gemm"), "{names:?}");
    check_profile_structure(&v);
    // Every node ran once per summarized run.
    assert!(v["by_node"].as_array().unwrap().iter().all(|n| n["calls"] == 4));
    // --top 2 shows two lines per table.
    let type_table = stdout.split("top nodes").next().unwrap();
    assert_eq!(type_table.lines().filter(|l| names.iter().any(|n| l.starts_with(n))).count(), 2, "{stdout}");
    // The raw trace was kept.
    assert_eq!(std::fs::read_dir(&traces).unwrap().count(), 1);
}

/// ResNet-18's 20 convolutions are each there once per run (whatever share of the time they take
/// on this machine), and the summary has the structure of a whole.
#[test]
fn profile_of_resnet18_accounts_for_every_convolution() {
    let fixture = root().join("fixtures/generated/resnet18");
    assert!(fixture.join("meta.json").is_file(), "{} missing: run `cargo xtask fixtures`", fixture.display());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("profile.json");
    ok(&infer(&["profile", p(&fixture.join("model.onnx")), "--iterations", "2", "--warmup", "1", "--json", p(&out)]));
    let v = json(&out);
    assert_eq!((v["runs"].as_u64(), v["warmup_runs"].as_u64()), (Some(2), Some(1)));
    check_profile_structure(&v);
    let conv_nodes = profile_rows(&v, "by_node", "op_type", "Conv");
    assert_eq!(conv_nodes.len(), 20, "{}", v["by_node"]);
    assert!(conv_nodes.iter().all(|n| n["calls"] == 2), "one call per run: {conv_nodes:?}");
    assert_eq!(profile_rows(&v, "by_type", "name", "Conv")[0]["calls"], 40);
}

#[test]
fn profile_errors_are_clear() {
    let out = infer(&["profile", p(&tiny("tiny_cnn.onnx")), "--iterations", "0"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--iterations") && !stderr.contains("panicked"), "{stderr}");
    let out = infer(&["profile", p(&tiny("tiny_cnn.onnx")), "--backend", "torch"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Built without libtorch the backend says so and how to fix it; with it, libtorch (in the
    // torch worker) refuses the ONNX file by name.
    let expected: &[&str] = if cfg!(installed_torch) {
        &["tiny_cnn.onnx", "not a TorchScript archive"]
    } else {
        &["libtorch was not installed", "cargo xtask setup"]
    };
    assert!(expected.iter().all(|e| stderr.contains(e)), "expected {expected:?}:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// With a small address-space limit the search stops below the cap, reports the failed
/// probes as "did not fit: <reason>", and still exits 0.
#[test]
fn optimize_batch_survives_out_of_memory_probes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("opt.json");
    // dynamic_dims doubles a [batch, seq] tensor: 4 MB per item with seq = 1,000,000.
    let stdout = ok(&infer(&[
        "optimize-batch",
        p(&tiny("dynamic_dims.onnx")),
        "--dims",
        "1000000",
        "--max-batch",
        "256",
        "--memory-limit",
        "200M",
        "--iterations",
        "1",
        "--warmup",
        "0",
        "--json",
        p(&out),
    ]));
    assert!(stdout.contains("did not fit: "), "{stdout}");
    let v = json(&out);
    let largest = v["largest_fit"].as_u64().unwrap();
    assert!((1..256).contains(&largest), "{largest}");
    assert_eq!(v["smallest_failure"].as_u64().unwrap(), largest + 1);
    assert_eq!(v["memory_limit"].as_u64().unwrap(), 200 << 20);
    let failed: Vec<&Value> =
        v["probes"].as_array().unwrap().iter().filter(|p| p["outcome"] == "did_not_fit").collect();
    assert!(!failed.is_empty());
    // ONNX Runtime's allocation failure under the limit is recognised as running out of memory.
    assert!(failed.iter().all(|p| p["reason"].as_str().unwrap().starts_with("out of memory: ")), "{v}");
    let best = v["best_batch"].as_u64().unwrap();
    assert!(best <= largest);
}

/// On a CUDA device the probes get no address-space limit (it makes CUDA fail to start): one
/// asked for is not applied, with a warning. The pinned onnxruntime wheel has no CUDA, so the
/// probe fails, and that failure is not taken for running out of memory.
#[test]
fn optimize_batch_on_cuda_sets_no_address_space_limit() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("opt.json");
    let run = infer(&[
        "optimize-batch",
        p(&tiny("tiny_cnn.onnx")),
        "--device",
        "cuda:0",
        "--memory-limit",
        "2G",
        "--max-batch",
        "2",
        "--iterations",
        "1",
        "--warmup",
        "0",
        "--json",
        p(&out),
    ]);
    let (stdout, stderr) = (String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("warning: --memory-limit 2048.0 MiB is not applied on cuda:0"), "{stderr}");
    assert!(stdout.contains("address space limit none on a GPU"), "{stdout}");
    let v = json(&out);
    assert!(v["memory_limit"].is_null(), "{v}");
    let reason = v["probes"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("CUDA not available") && !reason.starts_with("out of memory"), "{reason}");
}

#[test]
fn optimize_batch_reaches_the_cap_and_respects_a_latency_bound() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("opt.json");
    ok(&infer(&[
        "optimize-batch",
        p(&tiny("tiny_cnn.onnx")),
        "--max-batch",
        "6",
        "--iterations",
        "3",
        "--warmup",
        "1",
        "--max-latency-ms",
        "100000",
        "--json",
        p(&out),
    ]));
    let v = json(&out);
    let order: Vec<u64> = v["probes"].as_array().unwrap().iter().map(|p| p["batch_size"].as_u64().unwrap()).collect();
    assert_eq!(order, [1, 2, 4, 6]);
    assert_eq!((v["largest_fit"].as_u64(), v["smallest_failure"].as_u64()), (Some(6), None));
    // The best batch is the fastest among the probes (all within a 100 s bound).
    let best = v["best_batch"].as_u64().unwrap();
    let tput = |b: u64| {
        v["probes"].as_array().unwrap().iter().find(|p| p["batch_size"] == b).unwrap()["throughput_per_s"]
            .as_f64()
            .unwrap()
    };
    assert!(order.iter().all(|&b| tput(b) <= tput(best)));
    // A bound no run can meet (a nanosecond): every batch still fits, none is chosen, and the
    // table says why.
    let stdout = ok(&infer(&[
        "optimize-batch",
        p(&tiny("tiny_cnn.onnx")),
        "--max-batch",
        "2",
        "--iterations",
        "2",
        "--warmup",
        "0",
        "--max-latency-ms",
        "0.000001",
        "--json",
        p(&out),
    ]));
    let v = json(&out);
    assert_eq!((v["largest_fit"].as_u64(), v["best_batch"].as_u64()), (Some(2), None), "{v}");
    assert!(v["best_batch"].is_null() && v["max_latency_ms"].as_f64() == Some(1e-6), "{v}");
    assert!(stdout.contains("no batch meets the latency bound of 0.000001 ms"), "{stdout}");
    assert_eq!(stdout.matches("fits, over the latency bound").count(), 2, "{stdout}");
    // A bound that is not positive is refused by name (`=` so that `-3` is a value, not a flag).
    for bound in ["--max-latency-ms=-3", "--max-latency-ms=0"] {
        let bad = infer(&["optimize-batch", p(&tiny("tiny_cnn.onnx")), bound]);
        let stderr = String::from_utf8_lossy(&bad.stderr);
        assert_eq!(bad.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("must be a positive number of milliseconds"), "{bound}: {stderr}");
    }
}

/// A model whose batch is fixed (`x: [1, 4]`) has no batch size to search: said at once, in one
/// line naming the input, instead of probes that all fail (each probe's own failure reason is
/// checked by `optimize_batch_survives_out_of_memory_probes`).
#[test]
fn optimize_batch_refuses_a_model_whose_batch_is_fixed() {
    let run = infer(&["optimize-batch", p(&tiny("fixed_batch.onnx")), "--max-batch", "8", "--iterations", "2"]);
    let (stdout, stderr) = (String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert_eq!(run.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.is_empty(), "no probe ran: {stdout}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("fixed_batch.onnx: the batch is fixed by the model (x: f32 [1, 4])"), "{stderr}");
}
