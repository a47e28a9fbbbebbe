//! What a build without a backend's feature promises about that backend: it is still listed, and
//! every command that would use it says "not compiled" and which feature compiles it in, with
//! a non-zero exit and no panic; `compare` gives it a row instead of leaving it out.
//!
//! This file exists in every build that lacks at least one backend. `cargo xtask test` runs it
//! in the bare build (`cargo test --workspace`, no feature), where it checks all four.
#![cfg(not(all(feature = "onnx", feature = "torch", feature = "tf", feature = "openvino")))]
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;

use support::{infer, p, root, text, tiny, tiny_fixture};

/// The backends this build lacks, each with the feature that compiles it in.
fn missing() -> Vec<&'static str> {
    [
        ("onnx", cfg!(feature = "onnx")),
        ("torch", cfg!(feature = "torch")),
        ("tf", cfg!(feature = "tf")),
        ("openvino", cfg!(feature = "openvino")),
    ]
    .into_iter()
    .filter(|&(_, compiled)| !compiled)
    .map(|(b, _)| b)
    .collect()
}

/// A real model of `backend`'s format and an input for it: the committed tiny CNN for onnx and
/// (as OpenVINO IR) openvino, the generated ResNet-18 (`cargo xtask fixtures`) for torch and tf.
fn model_of(backend: &str) -> (PathBuf, PathBuf) {
    match backend {
        "onnx" => return (tiny("tiny_cnn.onnx"), tiny("tiny_cnn.input.npy")),
        "openvino" => return (tiny("openvino/tiny_cnn.xml"), tiny("tiny_cnn.input.npy")),
        _ => {}
    }
    let dir = root().join("fixtures/generated/resnet18");
    assert!(dir.join("meta.json").is_file(), "{} missing: run `cargo xtask fixtures`", dir.display());
    match backend {
        "torch" => (dir.join("model.torchscript.pt"), dir.join("input.npy")),
        _ => (dir.join("saved_model"), dir.join("input_nhwc.npy")),
    }
}

/// The one-line error of a command on a backend that is not compiled in.
fn assert_not_compiled(args: &[&str], backend: &str) {
    let out = infer(args);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{args:?}\n{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let said = format!("backend `{backend}` not compiled: rebuild with feature `infer-{backend}/runtime`");
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
        // Status "not compiled", then what it would read, and no devices or library to show.
        assert_eq!(line.split_whitespace().take(3).collect::<Vec<_>>(), [b, "not", "compiled"], "{stdout}");
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
    if missing().contains(&"onnx") && missing().contains(&"openvino") {
        // The fixture only has an ONNX model, which only these two read: nothing can be measured.
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
            assert!(row.trim_end().ends_with("not compiled"), "{row}");
            let entry = v["entries"].as_array().unwrap().iter().find(|e| e["backend"] == b && e["device"] == device);
            let entry = entry.unwrap_or_else(|| panic!("no {b} {device} entry: {v}"));
            assert_eq!(entry["status"], "not compiled", "{entry}");
            assert!(entry["report"].is_null(), "{entry}");
            assert!(
                md.lines().any(|l| l.starts_with(&format!("| {b} | {device} |")) && l.contains("not compiled")),
                "{md}"
            );
            assert!(
                csv.lines().any(|l| l.starts_with(&format!("{b},{device},")) && l.contains("not compiled")),
                "{csv}"
            );
        }
    }
}
