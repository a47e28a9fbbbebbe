//! `infer` with the OpenVINO backend on the committed tiny models: the IR read by OpenVINO alone,
//! `.onnx` read by ONNX Runtime unless `--backend openvino` says otherwise, its options, and
//! `infer profile` from OpenVINO's per-layer performance counters.
#![cfg(installed_openvino)]
#![allow(clippy::unwrap_used)]

mod support;

use support::{infer, ok, p, text, tiny};

#[test]
fn info_reads_the_ir_and_onnx_through_openvino_when_asked() {
    let ir = ok(&infer(&["info", p(&tiny("openvino/tiny_cnn.xml"))]));
    let onnx = ok(&infer(&["info", p(&tiny("tiny_cnn.onnx")), "--backend", "openvino"]));
    // The IR keeps no name for the dynamic batch axis; the ONNX file's (`batch`) is kept.
    for (out, format, batch) in [(&ir, "OpenVINO IR", "?"), (&onnx, "ONNX", "batch")] {
        assert!(out.contains(&format!("format:   {format}")), "{out}");
        assert!(out.contains("backend:  openvino 2026.4.1"), "{out}");
        assert!(out.contains(&format!("image: f32 [{batch}, 3, 8, 8]  (dynamic dims)")), "{out}");
        assert!(out.contains("logits: f32 [?, 10]"), "{out}");
        assert!(out.contains("parameters: 162"), "{out}");
    }
    // ONNX Runtime stays the default reader of `.onnx` (registered first).
    if cfg!(installed_onnx) {
        let default = ok(&infer(&["info", p(&tiny("tiny_cnn.onnx"))]));
        assert!(default.contains("backend:  onnx "), "{default}");
    }
    // The weights alone are not a model.
    let out = infer(&["info", p(&tiny("openvino/tiny_cnn.bin"))]);
    let (_, stderr) = text(&out);
    assert!(
        !out.status.success() && stderr.contains("tiny_cnn.bin") && stderr.contains("unknown model format"),
        "{stderr}"
    );
}

#[test]
fn run_with_options_matches_the_reference_and_refuses_unknown_ones() {
    let dir = tempfile::tempdir().unwrap();
    let y = dir.path().join("y.npy");
    let input = tiny("tiny_cnn.input.npy");
    let model = tiny("openvino/tiny_cnn.xml");
    let args = ["run", p(&model), "--input", p(&input), "-o", p(&y), "-O", "hint=throughput", "-O", "precision=f32"];
    ok(&infer(&[&args[..], &["--threads", "1"]].concat()));
    let got = infer_core::npy::read_npy(&y).unwrap();
    let expected = infer_core::npy::read_npy(&tiny("tiny_cnn.output.npy")).unwrap();
    assert!(got.max_abs_diff(&expected).unwrap() < 1e-4);
    let out = infer(&["run", p(&model), "--input", p(&input), "-O", "hint=fast"]);
    let (_, stderr) = text(&out);
    assert!(
        !out.status.success() && stderr.contains("`hint` is `fast`: expected one of latency, throughput"),
        "{stderr}"
    );
    let listed = ok(&infer(&["backends", "--options"]));
    assert!(listed.lines().any(|l| l.contains("openvino") && l.contains("precision [f32|bf16|f16]")), "{listed}");
}

#[test]
fn profile_sums_the_performance_counters() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("profile.json");
    let model = tiny("tiny_cnn.onnx");
    let args = ["profile", p(&model), "--backend", "openvino", "--iterations", "6", "--warmup", "2"];
    let out = ok(&infer(&[&args[..], &["--batch-size", "2", "--json", p(&json)]].concat()));
    assert!(out.contains("on openvino: 6 profiled runs at batch 2 (2 warm-up runs left out)"), "{out}");
    assert!(out.contains("top operator types by total time:") && out.contains("top nodes by total time:"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("Convolution")), "{out}");
    assert!(out.contains("source: OpenVINO performance counters"), "{out}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(
        (v["backend"].as_str(), v["runs"].as_u64(), v["warmup_runs"].as_u64()),
        (Some("openvino"), Some(6), Some(2))
    );
    let by_type = v["by_type"].as_array().unwrap();
    assert!(by_type.iter().any(|t| t["name"] == "Convolution" && t["calls"] == 6), "{by_type:?}");
    let share: f64 = by_type.iter().map(|t| t["share_pct"].as_f64().unwrap()).sum();
    assert!((share - 100.0).abs() < 1e-6, "{share}");
    assert!(!v["by_node"].as_array().unwrap().is_empty());
}

/// OpenVINO reading an ONNX encoder keeps what the file says beyond OpenVINO's own description:
/// the dynamic axes' names (`sequence`, which OpenVINO drops) and the ranges the graph proves for
/// the token ids, so `--dim sequence=N` and the synthetic ids are the same as ONNX Runtime's.
#[test]
fn an_onnx_encoder_on_openvino_keeps_its_dimension_names_and_id_ranges() {
    let encoder = tiny("tiny_encoder.onnx");
    let info = ok(&infer(&["info", p(&encoder), "--backend", "openvino"]));
    assert!(info.contains("input_ids: i64 [batch, sequence]"), "{info}");
    let out = ok(&infer(&[
        "bench",
        p(&encoder),
        "--backend",
        "openvino",
        "--dim",
        "sequence=8",
        "--iterations",
        "3",
        "--warmup",
        "0",
    ]));
    for line in [
        "input input_ids: i64 [0, 50) from the graph: Gather on initializer `word_embeddings` (50 rows), through Cast",
        "input attention_mask: i64 [1, 2) by name",
        "input token_type_ids: i64 [0, 2) from the graph: Gather on initializer `token_type_embeddings` (2 rows)",
    ] {
        assert!(out.contains(line), "{line}\n{out}");
    }
}

/// OpenVINO's exceptions put where it threw first (`Exception from src/…/core.cpp:84:`, `Check
/// 'false' failed at …:`): the one-line error keeps what it was doing and why instead.
#[test]
fn a_model_openvino_cannot_read_says_why_in_one_line() {
    let out = infer(&["info", p(&tiny("tiny_classifier.onnx")), "--backend", "openvino"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success(), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("tiny_classifier.onnx"), "{stderr}");
    assert!(stderr.contains("Unsupported value_info type: output_probability"), "{stderr}");
    assert!(!stderr.contains("Exception from") && !stderr.contains(".cpp"), "{stderr}");
}
