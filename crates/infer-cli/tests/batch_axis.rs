//! The batch axis is a named dimension, end to end on ONNX Runtime with the committed
//! `recurrent` (`input [batch, samples]`, `state [2, batch, 8]`, `gain []`) and `time_major`
//! (`x [sequence, batch, 4]`, `bias [batch, 4]`) models: `infer info` marks each input's batch
//! axis, `infer bench` feeds every batch size along it (ONNX Runtime checks that the state's
//! batch is the input's), real inputs are cut or repeated along it, and the offline scenario
//! batches along it.
#![cfg(installed_onnx)]
#![allow(clippy::unwrap_used)]

mod support;

use infer_core::npy::read_npy;
use infer_measure::workload::encode_npz;
use serde_json::Value;
use support::{infer, ok, p, text, tiny};

/// `infer bench MODEL ARGS --iterations 2 --warmup 0 --json OUT`, the JSON report read back.
fn bench_json(model: &str, args: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let model = tiny(model);
    let mut all = vec!["bench", p(&model), "--iterations", "2", "--warmup", "0", "--quiet", "--json", p(&json)];
    all.extend_from_slice(args);
    ok(&infer(&all));
    serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap()
}

/// What one input of a row was fed: its name, shape and source.
type Fed = (String, Vec<u64>, String);

/// `(batch, [(input, shape, source)])` of every row.
fn fed(report: &Value) -> Vec<(u64, Vec<Fed>)> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let inputs = r["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| {
                    let shape = i["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
                    (i["name"].as_str().unwrap().to_string(), shape, i["source"].as_str().unwrap().to_string())
                })
                .collect();
            (r["batch_size"].as_u64().unwrap(), inputs)
        })
        .collect()
}

/// The shapes of every row's inputs.
fn shapes(report: &Value) -> Vec<(u64, Vec<Vec<u64>>)> {
    fed(report).into_iter().map(|(b, inputs)| (b, inputs.into_iter().map(|i| i.1).collect())).collect()
}

#[test]
fn info_marks_each_inputs_batch_axis() {
    let out = ok(&infer(&["info", p(&tiny("recurrent.onnx"))]));
    assert!(out.contains("batch:    the dimension `batch`"), "{out}");
    assert!(out.contains("input: f32 [batch, samples]  (dynamic dims)  (batch axis 0)"), "{out}");
    assert!(out.contains("state: f32 [2, batch, 8]  (dynamic dims)  (batch axis 1)"), "{out}");
    assert!(out.contains("gain: f32 []  (no batch axis: fed as given at every batch size)"), "{out}");
    let out = ok(&infer(&["info", p(&tiny("time_major.onnx"))]));
    assert!(out.contains("x: f32 [sequence, batch, 4]  (dynamic dims)  (batch axis 1)"), "{out}");
    assert!(out.contains("bias: f32 [batch, 4]  (dynamic dims)  (batch axis 0)"), "{out}");
    // --batch-dim chooses another; one the model lacks is a one-line error naming those it has.
    let out = ok(&infer(&["info", p(&tiny("time_major.onnx")), "--batch-dim", "sequence"]));
    assert!(out.contains("x: f32 [sequence, batch, 4]  (dynamic dims)  (batch axis 0)"), "{out}");
    assert!(out.contains("bias: f32 [batch, 4]  (dynamic dims)  (no batch axis: fed as given"), "{out}");
    let run = infer(&["info", p(&tiny("time_major.onnx")), "--batch-dim", "time"]);
    let (_, stderr) = text(&run);
    assert!(!run.status.success());
    assert!(
        stderr.contains(
            "error: invalid input: --batch-dim time: no input has a dimension `time`; the model's named \
             dimensions: sequence, batch"
        ),
        "{stderr}"
    );
}

/// Every batch size goes to each input's own batch axis, so ONNX Runtime accepts every call:
/// before, the state's fixed 2 was taken for a static batch and the run stopped.
#[test]
fn bench_feeds_each_batch_along_each_inputs_axis() {
    let r = bench_json("recurrent.onnx", &["--dim", "samples=16", "--batch-sizes", "1,3"]);
    assert_eq!(
        shapes(&r),
        [(1, vec![vec![1, 16], vec![2, 1, 8], vec![]]), (3, vec![vec![3, 16], vec![2, 3, 8], vec![]])]
    );
    assert_eq!(r["rows"][1]["dims"]["samples"], 16);
    let r = bench_json("time_major.onnx", &["--dim", "sequence=7", "--batch-sizes", "1,3"]);
    assert_eq!(shapes(&r), [(1, vec![vec![7, 1, 4], vec![1, 4]]), (3, vec![vec![7, 3, 4], vec![3, 4]])]);
    // Without --batch-sizes, --shape's size at the batch axis is the batch.
    let r = bench_json("recurrent.onnx", &["--dim", "samples=4", "--shape", "state=2x5x8"]);
    assert_eq!(shapes(&r), [(5, vec![vec![5, 4], vec![2, 5, 8], vec![]])]);
    // --batch-dim chooses another batch.
    let other = bench_json("time_major.onnx", &["--dim", "batch=3", "--batch-sizes", "7", "--batch-dim", "sequence"]);
    assert_eq!(shapes(&other), [(7, vec![vec![7, 3, 4], vec![3, 4]])]);
}

/// `-i inputs.npz`: each array cut or repeated along its input's batch axis (the state along
/// axis 1), the scalar as given.
#[test]
fn real_inputs_are_cut_or_repeated_along_their_batch_axis() {
    let dir = tempfile::tempdir().unwrap();
    let npz = |model: &str, names: &[&str]| {
        let arrays: Vec<(String, infer_core::Tensor)> = names
            .iter()
            .map(|n| (n.to_string(), read_npy(&tiny(&format!("{model}.input_{n}.npy"))).unwrap()))
            .collect();
        let path = dir.path().join(format!("{model}.npz"));
        std::fs::write(&path, encode_npz(arrays.iter().map(|(n, t)| (n.as_str(), t))).unwrap()).unwrap();
        path
    };
    let recurrent = npz("recurrent", &["input", "state", "gain"]);
    let r = bench_json("recurrent.onnx", &["-i", p(&recurrent), "--batch-sizes", "1,3"]);
    let rows = fed(&r);
    assert_eq!(
        shapes(&r),
        [(1, vec![vec![1, 5], vec![2, 1, 8], vec![]]), (3, vec![vec![3, 5], vec![2, 3, 8], vec![]])]
    );
    assert!(rows[1].1[1].2.ends_with("recurrent.npz[state]"), "{rows:?}");
    let time_major = npz("time_major", &["x", "bias"]);
    let r = bench_json("time_major.onnx", &["-i", p(&time_major), "--batch-sizes", "1,3"]);
    assert_eq!(shapes(&r), [(1, vec![vec![3, 1, 4], vec![1, 4]]), (3, vec![vec![3, 3, 4], vec![3, 4]])]);
}

/// The offline scenario assembles each batch along each input's batch axis and splits the
/// outputs along theirs; ONNX Runtime accepts every call at every size.
#[test]
fn offline_scenario_batches_a_recurrent_model() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("offline.json");
    ok(&infer(&[
        "bench",
        p(&tiny("recurrent.onnx")),
        "--dim",
        "samples=8",
        "--scenario",
        "offline",
        "--samples",
        "20",
        "--batch-sizes",
        "1,3,8",
        "--warmup",
        "0",
        "--quiet",
        "--json",
        p(&json),
    ]));
    let v: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["scenario"], "offline");
    let rows = v["result"]["rows"].as_array().unwrap();
    let runs: Vec<(u64, u64)> =
        rows.iter().map(|r| (r["batch_size"].as_u64().unwrap(), r["calls"].as_u64().unwrap())).collect();
    assert_eq!(runs, [(1, 20), (3, 7), (8, 3)]);
    assert!(v["result"]["warnings"].as_array().unwrap().is_empty(), "{v}");
}

/// A model that names no dimension keeps batching axis 0 of each input (`dynamic_dims`'s
/// `tokens [batch, seq]` names its axes; `tiny_cnn` its batch only): unchanged behaviour.
#[test]
fn models_whose_batch_leads_are_batched_as_before() {
    let r = bench_json("tiny_cnn.onnx", &["--batch-sizes", "2"]);
    assert_eq!(shapes(&r), [(2, vec![vec![2, 3, 8, 8]])]);
    let fixed = infer(&["bench", p(&tiny("fixed_batch.onnx")), "--batch-sizes", "2", "--iterations", "1"]);
    let (_, stderr) = text(&fixed);
    assert!(stderr.contains("input `x` has a fixed batch dimension of 1; batch size 2 is not possible"), "{stderr}");
}
