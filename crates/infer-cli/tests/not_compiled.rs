//! What a build without a backend promises about that backend: it is still listed, and every
//! command that would use it says why it cannot (a backend without its feature: "not compiled"
//! and which feature compiles it in; torch built without libtorch: "unavailable: libtorch was not
//! installed … (run `cargo xtask setup`, …)"), with a non-zero exit and no panic; `compare` gives
//! it a row instead of leaving it out. The backends are the registry's, as the build has them.
//!
//! This file exists in every build without `all-backends`: a bare machine's `cargo test` (torch),
//! and `cargo xtask test`'s `cargo test -p infer-cli --no-default-features`.
#![cfg(not(feature = "all-backends"))]
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;

use infer_core::{Availability, registry::availability};
use support::{infer, p, text, tiny_fixture};

/// The backends this build lacks (read from the registry: not compiled, or torch's worker built
/// without libtorch). A build that lacks none says so once: there is nothing to check then.
fn missing() -> Vec<&'static str> {
    let out: Vec<&'static str> = support::registry()
        .iter()
        .filter(|b| match availability(*b) {
            Availability::NotCompiled { .. } => true,
            Availability::Unavailable { reason } => reason == infer_cli::worker::TORCH_NOT_BUILT,
            Availability::Available(_) => false,
        })
        .map(|b| b.name())
        .collect();
    if out.is_empty() {
        eprintln!("not_compiled: this build compiles every backend; nothing is missing to check");
    }
    out
}

/// A real model of one of `backend`'s formats and an input for it: its committed tiny fixture
/// from the conformance catalogue (the one every backend of that format must read).
fn model_of(backend: &str) -> (PathBuf, PathBuf) {
    let registry = support::registry();
    let b = registry.get(backend).unwrap();
    let fixture = infer_conformance::fixtures::catalogue()
        .into_iter()
        .find(|f| b.formats().iter().any(|m| m.id == f.format) && f.reference_inputs.len() == 1)
        .unwrap_or_else(|| panic!("no committed fixture of {backend}'s formats"));
    (fixture.model, fixture.reference_inputs[0].clone())
}

/// What `backend`'s row and errors say in this build: torch (its worker built without libtorch)
/// is unavailable, the others are not compiled.
fn why(backend: &str) -> &'static str {
    if backend == "torch" { "libtorch was not installed" } else { "not compiled" }
}

/// The one-line error of a command on a backend that is not compiled in.
fn assert_not_compiled(args: &[&str], backend: &str) {
    let out = infer(args);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{args:?}\n{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let said = if backend == "torch" {
        "libtorch was not installed when infer was built (run `cargo xtask setup`, then build again)".to_string()
    } else {
        format!("backend `{backend}` not compiled: rebuild with feature `infer-{backend}/runtime`")
    };
    assert!(stderr.contains(&said), "{args:?}: stderr lacks `{said}`:\n{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line:\n{stderr}");
}

#[test]
fn backends_lists_the_missing_ones_as_not_compiled() {
    let out = infer(&["backends"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    for b in missing() {
        let line = stdout.lines().find(|l| l.split_whitespace().next() == Some(b));
        let line = line.unwrap_or_else(|| panic!("no `{b}` line:\n{stdout}"));
        // Status "not compiled" (torch: "unavailable: libtorch was not installed …"), then what it
        // would read, and no devices or library to show.
        let status: &[&str] = if b == "torch" { &[b, "unavailable:", "libtorch"] } else { &[b, "not", "compiled"] };
        assert_eq!(line.split_whitespace().take(3).collect::<Vec<_>>(), status, "{stdout}");
        assert!(!line.contains("cpu") && !line.contains(".so"), "{line}");
    }
}

#[test]
fn info_on_a_model_of_a_missing_backend_says_not_compiled() {
    for b in missing() {
        let (model, _) = model_of(b);
        assert_not_compiled(&["info", p(&model)], b);
        // Asking for the backend by name gives the same answer.
        assert_not_compiled(&["info", p(&model), "--backend", b], b);
    }
}

#[test]
fn run_on_a_model_of_a_missing_backend_says_not_compiled() {
    let dir = tempfile::tempdir().unwrap();
    for b in missing() {
        let (model, input) = model_of(b);
        let y = dir.path().join(format!("{b}.npy"));
        assert_not_compiled(&["run", p(&model), "--input", p(&input), "-o", p(&y)], b);
        assert!(!y.exists(), "{b}: no output without a backend");
    }
}

/// `compare` on a fixture: each missing backend has a "not compiled" row per device in the
/// table and in every report file; with nothing measurable the command fails, saying so.
#[test]
fn compare_gives_the_missing_backends_not_compiled_rows() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = tiny_fixture(dir.path());
    let out_dir = dir.path().join("out");
    let args = ["compare", p(&fixture), "-d", "cpu,cuda", "--batch-sizes", "1", "--iterations", "3"];
    let out = infer(&[&args[..], &["--profile-runs", "0", "--out", p(&out_dir)]].concat());
    let (stdout, stderr) = text(&out);
    assert!(!stderr.contains("panicked"), "{stderr}");
    if support::readers_of("onnx").is_empty() {
        // The fixture only has an ONNX model, which no backend of this build can read.
        assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
        assert!(stderr.contains("no backend could be measured"), "{stderr}");
    }
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(out_dir.join("compare.json")).unwrap()).unwrap();
    let md = std::fs::read_to_string(out_dir.join("compare.md")).unwrap();
    let csv = std::fs::read_to_string(out_dir.join("compare.csv")).unwrap();
    for b in missing() {
        for device in ["cpu", "cuda:0"] {
            let row = stdout.lines().find(|l| l.starts_with(b) && l.contains(&format!(" {device} ")));
            let row = row.unwrap_or_else(|| panic!("no {b} {device} row:\n{stdout}"));
            assert!(row.contains(why(b)), "{row}");
            let entry = v["entries"].as_array().unwrap().iter().find(|e| e["backend"] == b && e["device"] == device);
            let entry = entry.unwrap_or_else(|| panic!("no {b} {device} entry: {v}"));
            assert!(entry["status"].as_str().unwrap().contains(why(b)), "{entry}");
            assert!(entry["report"].is_null(), "{entry}");
            assert!(md.lines().any(|l| l.starts_with(&format!("| {b} | {device} |")) && l.contains(why(b))), "{md}");
            assert!(csv.lines().any(|l| l.starts_with(&format!("{b},{device},")) && l.contains(why(b))), "{csv}");
        }
    }
}
