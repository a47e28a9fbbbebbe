//! The HTML report in a real browser: headless Chromium loads it from disk (no network), the
//! DOM must hold every plot with its data marks, and a screenshot must show something.
//! Chromium is installed by `cargo xtask setup`; without it these tests fail and say so.
#![allow(clippy::unwrap_used)]

mod support;

use infer_measure::results::write_json;
use support::browser::{dom, screenshot};

fn count(dom: &str, needle: &str) -> usize {
    dom.matches(needle).count()
}

/// `infer report` rebuilds the HTML from a saved comparison; Chromium draws every plot: a box plot
/// per batch size (3), throughput and per-item latency against batch size, CPU against GPU.
#[test]
fn report_from_a_saved_comparison_renders_every_plot() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("compare.json");
    write_json(&json, &support::comparison()).unwrap();
    let html = dir.path().join("report.html");
    support::ok(&support::infer(&["report", support::p(&json), "-o", support::p(&html)]));

    let dom = dom(&html);
    assert_eq!(count(&dom, "<svg"), 6, "3 distributions, throughput, per-item latency, CPU vs GPU");
    // 4 backend×device series at 3 batch sizes: a box per series and size, 60 dots each.
    assert_eq!(count(&dom, "class=\"mark box\""), 12);
    assert_eq!(count(&dom, "class=\"mark sample\""), 12 * 60);
    // Two line charts, 4 lines of 3 points each.
    assert_eq!(count(&dom, "class=\"mark line\""), 8);
    assert_eq!(count(&dom, "class=\"mark point\""), 24);
    // CPU against GPU: 2 backends × 3 batch sizes, a pair of bars each.
    assert_eq!(count(&dom, "class=\"mark bar\""), 12);
    // The failed row's message is text, not markup.
    assert!(dom.contains("&lt;script&gt;alert('pwned')&lt;/script&gt;"), "escaped message missing");
    assert!(!dom.contains("<script"), "no script may reach the DOM");
    assert!(dom.contains(">10.8×</text>") && dom.contains("10.84×"), "onnx batch 1 speed-up");

    let png =
        std::env::var_os("INFER_SCREENSHOT").map_or_else(|| dir.path().join("report.png"), std::path::PathBuf::from);
    screenshot(&html, &png);
}

/// The same for a single `infer bench --json` report: its rows make the plots, no GPU bars.
#[test]
fn report_from_a_bench_report_renders() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    write_json(&json, &support::report("onnx", infer_core::Device::Cpu, &[(1, 20.0), (4, 70.0)])).unwrap();
    let html = dir.path().join("bench.html");
    support::ok(&support::infer(&["report", support::p(&json), "-o", support::p(&html)]));
    let dom = dom(&html);
    assert_eq!(count(&dom, "<svg"), 4, "2 distributions, throughput, per-item latency");
    assert_eq!(count(&dom, "class=\"mark box\""), 2);
    assert_eq!(count(&dom, "class=\"mark point\""), 4);
    assert!(dom.contains("No backend was measured on both the CPU and a GPU"));
}

/// A real comparison of the tiny committed CNN on ONNX Runtime, written by `infer compare`.
#[cfg(installed_onnx)]
#[test]
fn compare_writes_an_html_report_that_renders() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = support::tiny_fixture(dir.path());
    let out_dir = dir.path().join("out");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_infer"))
        .args(["compare", fixture.to_str().unwrap(), "--batch-sizes", "1,4", "--iterations", "20", "--warmup", "2"])
        .args(["--rounds", "2"])
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let html = out_dir.join("compare.html");
    let dom = dom(&html);
    assert_eq!(count(&dom, "<svg"), 4, "2 distributions, throughput, per-item latency (no GPU here)");
    // Every backend that reads ONNX and can run here reads the fixture's model.onnx.
    let measured = support::readers_of("onnx").len();
    // Two batch sizes, two rounds of 20 pooled: every sample is a dot.
    assert_eq!(count(&dom, "class=\"mark sample\""), measured * 2 * 2 * 20);
    assert!(dom.contains("40 (2 rounds, medians "), "the pooled rows say so");
    assert!(dom.contains("Where the time goes") && dom.contains(">Conv<"), "ONNX Runtime's profile is in the report");
    assert_eq!(count(&dom, "class=\"mark point\""), measured * 4);
    // The backends that read no ONNX have no model in this fixture: a status row each (why it
    // was not measured), not a silent gap.
    for b in support::registry().iter().filter(|b| !b.formats().iter().any(|f| f.id == "onnx")) {
        let status = support::compare_status(b, &["onnx"]);
        assert!(dom.contains(&status), "{}: `{status}` missing", b.name());
    }
    assert!(dom.contains("tiny_cnn — backend comparison"));
    screenshot(&html, &dir.path().join("compare.png"));
}
