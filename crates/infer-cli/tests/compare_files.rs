//! `infer compare` on model files (issue 12, item 4): every backend that reads each file measures
//! it on the same inputs, checked against the first file's output; NCHW ↔ NHWC; the errors. And
//! the fixture form on the multi-input, multi-output bert fixture. On the generated ResNet-18 and
//! bert (`cargo xtask fixtures --model resnet18,bert`) with every runtime.
#![cfg(all(installed_onnx, installed_torch, installed_tf))]
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;

use serde_json::Value;
use support::{infer, p, root, text};

/// A generated fixture's file, which must exist.
fn generated(path: &str) -> PathBuf {
    let file = root().join("fixtures/generated").join(path);
    assert!(file.exists(), "{} missing: run `cargo xtask fixtures --model resnet18,bert`", file.display());
    file
}

/// The rows `infer compare FILES` makes: for each file, every backend that reads it, in the
/// registry's order (content matches first), labelled `backend (file name)`.
fn labels_of(files: &[&std::path::Path]) -> Vec<String> {
    let registry = support::registry();
    files
        .iter()
        .flat_map(|f| {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            registry.readers(f).unwrap().into_iter().map(move |(b, _)| format!("{} ({name})", b.name()))
        })
        .collect()
}

/// The quickest measurement that still gives every column.
const FAST: [&str; 12] = [
    "--device",
    "cpu",
    "--iterations",
    "3",
    "--rounds",
    "1",
    "--profile-runs",
    "0",
    "--batch-sizes",
    "1",
    "--warmup",
    "1",
];

/// Runs `infer compare ARGS FAST --out DIR`, which must succeed; its stdout and compare.json.
fn compare(args: &[&str]) -> (String, Value) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut all: Vec<&str> = vec!["compare"];
    all.extend(args);
    // FAST's batch size unless the test gives its own.
    let own_batches = args.contains(&"--batch-sizes");
    all.extend(FAST.chunks(2).filter(|o| !(own_batches && o[0] == "--batch-sizes")).flatten());
    all.extend(["--out", p(&out)]);
    let o = infer(&all);
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "`infer {}` failed:\n{stdout}\n{stderr}", all.join(" "));
    assert!(!stderr.contains("panicked"), "{stderr}");
    let json: Value = serde_json::from_slice(&std::fs::read(out.join("compare.json")).unwrap()).unwrap();
    for f in ["compare.csv", "compare.md", "compare.html"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    (stdout, json)
}

/// One entry: backend label, status, max abs diff, max rel diff, top-1 agreement.
type Row = (String, String, Option<f64>, Option<f64>, Option<f64>);

/// Each entry of compare.json.
fn rows(json: &Value) -> Vec<Row> {
    json["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let r = &e["report"];
            (
                e["backend"].as_str().unwrap().to_string(),
                e["status"].as_str().unwrap().to_string(),
                r["max_abs_diff"].as_f64(),
                r["max_rel_diff"].as_f64(),
                r["top1_agreement"].as_f64(),
            )
        })
        .collect()
}

#[test]
fn resnet18_onnx_torchscript_and_the_nhwc_saved_model_agree_with_the_first_file() {
    let onnx = generated("resnet18/model.onnx");
    let script = generated("resnet18/model.torchscript.pt");
    // The SavedModel takes NHWC [N,224,224,3]; the ONNX file NCHW [N,3,224,224].
    let saved = generated("resnet18/saved_model");
    let (stdout, json) = compare(&[p(&onnx), p(&script), p(&saved)]);
    let rows = rows(&json);
    let labels: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(labels, labels_of(&[&onnx, &script, &saved]), "{rows:?}");
    assert!(labels.len() >= 3, "{labels:?}");
    for (label, status, abs, rel, top1) in &rows {
        assert_eq!(status, "ok", "{label}");
        let (abs, rel) = (abs.unwrap(), rel.unwrap());
        assert!(abs <= 1e-4 && rel <= 1e-4, "{label}: max abs {abs:e}, relative {rel:e}");
        // Logits [1, 1000]: a score vector, so top-1 agreement is measured.
        assert_eq!(*top1, Some(1.0), "{label}");
    }
    // The first file's own runtime against the output it computed itself: the same numbers.
    assert!(rows[0].2.unwrap() < 1e-6, "{rows:?}");
    // Had the NHWC model been fed NCHW data, it could not even run; fed the same batch, it
    // agrees within 1e-4 with ONNX Runtime, as the generator measured against PyTorch.
    for column in ["max |diff|", "max rel diff", "top-1 agree"] {
        assert!(stdout.contains(column), "no `{column}` column:\n{stdout}");
    }
    assert!(stdout.contains("tf (saved_model)") && stdout.contains("100%"), "{stdout}");
    assert_eq!(json["model"], "model.onnx, model.torchscript.pt, saved_model");
}

#[test]
fn bert_in_three_frameworks_gives_a_row_each_with_the_parity_column() {
    let onnx = generated("bert/model.onnx");
    let script = generated("bert/model.torchscript.pt");
    let saved = generated("bert/saved_model");
    let (stdout, json) = compare(&[p(&onnx), p(&script), p(&saved), "--dim", "sequence=128"]);
    let rows = rows(&json);
    let labels: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(labels, labels_of(&[&onnx, &script, &saved]), "{rows:?}");
    assert!(labels.len() >= 3, "{labels:?}");
    for (label, status, abs, rel, top1) in &rows {
        assert_eq!(status, "ok", "{label}");
        let (abs, rel) = (abs.unwrap(), rel.unwrap());
        // Both outputs (last_hidden_state [1,128,256], pooler_output [1,256]) by name.
        assert!(abs <= 1e-4 && rel <= 1e-4, "{label}: max abs {abs:e}, relative {rel:e}");
        assert_eq!(*top1, None, "{label}: the first output is not a score vector");
    }
    // Every row measured at sequence 128, with in-range token ids (an out-of-range id aborts ONNX
    // Runtime's Gather, so a measured row proves it).
    for e in json["entries"].as_array().unwrap() {
        let inputs = e["report"]["rows"][0]["inputs"].as_array().unwrap();
        let shapes: Vec<&Value> = inputs.iter().map(|i| &i["shape"]).collect();
        assert!(shapes.iter().all(|s| **s == serde_json::json!([1, 128])), "{}: {shapes:?}", e["backend"]);
    }
    assert!(stdout.contains("max |diff|") && stdout.contains("max rel diff"), "{stdout}");
    for label in labels {
        assert!(stdout.contains(label), "{label} not in\n{stdout}");
    }
}

#[test]
fn the_bert_fixture_folder_checks_every_output_against_pytorch() {
    // The fixture form: input.npz (three inputs) and reference_torch.npz (two outputs) by name,
    // and meta.json's `"dims": {"sequence": 128}` for the timed synthetic inputs.
    let (_, json) = compare(&[p(&generated("bert"))]);
    let rows = rows(&json);
    let measured: Vec<&str> = rows.iter().filter(|r| r.1 == "ok").map(|r| r.0.as_str()).collect();
    // Every backend that reads one of the fixture's formats and can run here.
    let expected: Vec<&str> = support::registry()
        .iter()
        .filter(|b| support::available(*b))
        .filter(|b| b.formats().iter().any(|f| ["onnx", "torchscript", "savedmodel"].contains(&f.id)))
        .map(|b| b.name())
        .collect();
    assert_eq!(measured, expected, "{rows:?}");
    for (label, _, abs, rel, _) in rows.iter().filter(|r| r.1 == "ok") {
        let (abs, rel) = (abs.unwrap(), rel.unwrap());
        assert!(abs <= 1e-4 && rel <= 1e-4, "{label}: max abs {abs:e}, relative {rel:e}");
    }
    let dims = &json["entries"][0]["report"]["rows"][0]["dims"];
    assert_eq!(*dims, serde_json::json!({"sequence": 128}));
}

/// Runs `infer compare ARGS FAST` that must fail with one line of error; returns it.
fn compare_error(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mut all: Vec<&str> = vec!["compare"];
    all.extend(args);
    // FAST's batch size unless the test gives its own.
    let own_batches = args.contains(&"--batch-sizes");
    all.extend(FAST.chunks(2).filter(|o| !(own_batches && o[0] == "--batch-sizes")).flatten());
    all.extend(["--out", p(&out)]);
    let o = infer(&all);
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line of error:\n{stderr}");
    lines[0].to_string()
}

#[test]
fn a_file_no_backend_reads_and_inputs_that_cannot_be_matched_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "not a model").unwrap();
    let onnx = generated("resnet18/model.onnx");
    let err = compare_error(&[p(&onnx), p(&notes)]);
    assert!(err.contains("notes.txt") && err.contains("no backend reads this file: expected"), "{err}");
    assert!(err.contains(".onnx (onnx)"), "the formats that are read: {err}");

    // An image classifier against a text encoder: one input against three.
    let bert = generated("bert/model.onnx");
    let err = compare_error(&[p(&onnx), p(&bert), "--dim", "sequence=16"]);
    assert!(
        err.contains(&format!("{} and {}: the inputs cannot be matched (1 inputs against 3)", p(&onnx), p(&bert))),
        "{err}"
    );
    assert!(err.contains("input: f32 [batch, 3, 224, 224]") && err.contains("input_ids: i64"), "{err}");
}

/// A TorchScript file without a sidecar says nothing of its input's shape: compared with an ONNX
/// file, it is fed the ONNX input's data and shape (matched by position), at every batch size.
#[test]
fn a_torchscript_file_without_a_sidecar_takes_the_first_files_input_shape() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("net.pt");
    std::fs::copy(support::tiny("tiny_cnn.pt"), &script).unwrap();
    let onnx = support::tiny("tiny_cnn.onnx");
    let (stdout, json) = compare(&[p(&onnx), p(&script), "--batch-sizes", "1,4"]);
    let torch = json["entries"].as_array().unwrap().iter().find(|e| e["backend"] == "torch (net.pt)").unwrap();
    assert_eq!(torch["status"], "ok", "{stdout}");
    let batches: Vec<u64> =
        torch["report"]["rows"].as_array().unwrap().iter().map(|r| r["batch_size"].as_u64().unwrap()).collect();
    assert_eq!(batches, [1, 4], "{stdout}");
    assert!(torch["report"]["max_abs_diff"].as_f64().unwrap() < 1e-4, "{stdout}");
}
