//! The `infer` binary on TensorFlow models: a SavedModel folder and a `.keras` file
//! (`fixtures/generated/tiny_keras`, written by `cargo xtask fixtures`).
#![cfg(installed_tf)]
#![allow(clippy::unwrap_used)]

mod support;

use support::{infer, p, text};

use std::path::{Path, PathBuf};

use infer_core::npy::read_npy;

fn tiny() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/generated/tiny_keras");
    assert!(dir.join("meta.json").is_file(), "{} missing: run `cargo xtask fixtures`", dir.display());
    dir
}

/// The tiny `.keras` file copied into a fresh folder (its SavedModel cache is written beside it).
fn keras_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("tiny.keras");
    std::fs::copy(tiny().join("model.keras"), &to).unwrap();
    (dir, to)
}

#[test]
fn info_on_a_savedmodel_lists_every_signature() {
    let out = infer(&["info", p(&tiny().join("saved_model"))]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("format:   SavedModel"), "{stdout}");
    assert!(stdout.contains("backend:  tf 2.21.0"), "{stdout}");
    assert!(stdout.contains("image: f32 [?, 8, 8, 3]  (dynamic dims)"), "{stdout}");
    assert!(stdout.contains("  features\n    input   image: f32 [?, 8, 8, 3]\n    output  "), "{stdout}");
    assert!(stdout.contains("  serving_default  (in use)\n"), "{stdout}");
    // Keras' count_params(): every variable of the signature once, BatchNorm statistics included.
    assert!(stdout.contains("parameters: 153 ("), "{stdout}");
    let out = infer(&["info", p(&tiny().join("saved_model")), "--signature", "nope"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("no signature `nope`") && stderr.contains("features, serving_default"), "{stderr}");
}

#[test]
fn run_on_a_savedmodel_writes_the_reference_output() {
    let dir = tempfile::tempdir().unwrap();
    let y = dir.path().join("y.npy");
    let x = tiny().join("input.npy");
    let out = infer(&["run", p(&tiny().join("saved_model")), "--input", p(&x), "-o", p(&y)]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let expected = read_npy(&tiny().join("output.npy")).unwrap();
    assert!(read_npy(&y).unwrap().max_abs_diff(&expected).unwrap() < 1e-5);
}

/// A `.keras` file: converted on first use (said on stderr), reused afterwards; images are
/// preprocessed to the model's NHWC layout.
#[test]
fn keras_file_info_run_on_an_image_and_bench() {
    let (dir, model) = keras_copy();
    let out = infer(&["info", p(&model)]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("format:   Keras"), "{stdout}");
    assert!(stdout.contains("parameters: 153 ("), "{stdout}");
    assert!(stderr.contains("converted") && stderr.contains("tiny.keras.savedmodel"), "{stderr}");

    let img = dir.path().join("a.png");
    image::RgbImage::from_fn(12, 10, |x, y| image::Rgb([x as u8 * 20, y as u8 * 25, 90])).save(&img).unwrap();
    let out = infer(&["run", p(&model), p(&img), "--top", "2"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("cached") && !stderr.contains("converting"), "{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(v["top"].as_array().unwrap().len(), 2, "{stdout}");

    let json = dir.path().join("bench.json");
    let out = infer(&["bench", p(&model), "--batch-sizes", "1,3", "--iterations", "5", "--json", p(&json)]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["backend"], "tf");
    assert_eq!(rows[1]["batch_size"], 3);
}

#[test]
fn bench_on_a_savedmodel_checks_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let out = infer(&[
        "bench",
        p(&tiny().join("saved_model")),
        "--batch-sizes",
        "1,2",
        "--iterations",
        "5",
        "--threads",
        "1",
        "--reference-input",
        p(&tiny().join("input.npy")),
        "--reference-output",
        p(&tiny().join("output.npy")),
        "--json",
        p(&json),
    ]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(v["max_abs_diff"].as_f64().unwrap() < 1e-5, "{v}");
    assert_eq!(v["rows"][0]["environment"]["versions"]["tf"], "2.21.0");
}

/// `compare` feeds each format its own input: here the fixture's input is NCHW garbage for the
/// tf model, and the savedmodel entry names its NHWC input.
#[test]
fn compare_uses_the_format_entry_input() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = dir.path().join("fixture");
    std::fs::create_dir(&fixture).unwrap();
    let copy = |from: &Path, to: &Path| {
        if from.is_dir() {
            std::fs::create_dir_all(to).unwrap();
            for e in std::fs::read_dir(from).unwrap() {
                let e = e.unwrap();
                let target = to.join(e.file_name());
                if e.path().is_dir() {
                    std::fs::create_dir_all(&target).unwrap();
                    for f in std::fs::read_dir(e.path()).unwrap() {
                        let f = f.unwrap();
                        std::fs::copy(f.path(), target.join(f.file_name())).unwrap();
                    }
                } else {
                    std::fs::copy(e.path(), target).unwrap();
                }
            }
        } else {
            std::fs::copy(from, to).unwrap();
        }
    };
    copy(&tiny().join("saved_model"), &fixture.join("saved_model"));
    copy(&tiny().join("input.npy"), &fixture.join("input_nhwc.npy"));
    copy(&tiny().join("output.npy"), &fixture.join("output.npy"));
    let nchw = infer_core::Tensor::zeros(infer_core::DType::F32, vec![3, 3, 8, 8]).unwrap();
    infer_core::npy::write_npy(&fixture.join("input.npy"), &nchw).unwrap();
    std::fs::write(
        fixture.join("meta.json"),
        r#"{"model": "tiny", "input": {"file": "input.npy"},
            "formats": {"savedmodel": {"file": "saved_model", "reference": "output.npy", "input": "input_nhwc.npy"}}}"#,
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let out = infer(&[
        "compare",
        p(&fixture),
        "-d",
        "cpu",
        "--batch-sizes",
        "1",
        "--iterations",
        "3",
        "--warmup",
        "1",
        "--out",
        p(&out_dir),
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let (main_table, profile) = stdout.split_once("Where the time goes").unwrap_or((&stdout, ""));
    // The table row (the host's and energy lines under it start `tf cpu, batch 1:`).
    let tf: Vec<&str> = main_table.lines().filter(|l| support::row_of(l, "tf", "cpu").is_some()).collect();
    assert_eq!(tf.len(), 1, "{stdout}");
    assert!(support::ends_ok(tf[0]), "{stdout}");
    // TensorFlow's step stats give the comparison its profile rows too.
    assert!(profile.lines().any(|l| l.starts_with("tf ") && l.contains(" cpu ")), "{stdout}\n{stderr}");
}

/// `infer profile` on ResNet-18's SavedModel: TensorFlow's step stats, per operator type and node.
#[test]
fn profile_of_the_resnet18_savedmodel_shows_its_convolutions() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/generated/resnet18/saved_model");
    assert!(model.is_dir(), "{} missing: run `cargo xtask fixtures`", model.display());
    let dir = tempfile::tempdir().unwrap();
    let (json, traces) = (dir.path().join("profile.json"), dir.path().join("traces"));
    let out = infer(&[
        "profile",
        p(&model),
        "--backend",
        "tf",
        "--iterations",
        "2",
        "--warmup",
        "1",
        "--top",
        "1000",
        "--json",
        p(&json),
        "--keep-trace",
        p(&traces),
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("on tf: 2 profiled runs at batch 1 (1 warm-up runs left out)"), "{stdout}");
    // The type table (every type, whatever its time) has the convolutions' lines: 20 per run, 2
    // runs, as `Conv2D`, or also `PadWithConv2D` where a oneDNN build fuses the padding in.
    let types = stdout.split("top operator types by total time:").nth(1).unwrap().split("top nodes").next().unwrap();
    let conv_calls: u64 = types
        .lines()
        .filter(|l| l.split_whitespace().next().is_some_and(|op| op.contains("Conv2D")))
        .map(|l| l.split_whitespace().nth(3).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(conv_calls, 40, "{stdout}");
    assert!(stdout.contains("source: TensorFlow step stats (RunOptions trace_level FULL_TRACE"), "{stdout}");
    assert!(traces.join("tf.run_metadata.pb").is_file());

    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!((v["runs"].as_u64(), v["warmup_runs"].as_u64()), (Some(2), Some(1)));
    support::check_profile_structure(&v);
    let is_conv = |r: &&serde_json::Value| r["op_type"].as_str().unwrap().contains("Conv2D");
    let conv_types: Vec<&serde_json::Value> = v["by_type"].as_array().unwrap().iter().filter(is_conv).collect();
    let calls: u64 = conv_types.iter().map(|t| t["calls"].as_u64().unwrap()).sum();
    assert_eq!(calls, 2 * 20, "{conv_types:?}");
    // Nodes of the inlined serving function, one per layer, never the call itself.
    let nodes = v["by_node"].as_array().unwrap();
    assert!(nodes.iter().all(|n| !n["op_type"].as_str().unwrap().contains("PartitionedCall")));
    let conv_nodes: Vec<&serde_json::Value> = nodes.iter().filter(is_conv).collect();
    assert_eq!(conv_nodes.len(), 20, "{conv_nodes:?}");
    assert!(conv_nodes.iter().all(|n| n["calls"] == 2), "one call per run: {conv_nodes:?}");
}

/// `infer info` counts ResNet-18's variables as Keras does.
#[test]
fn info_counts_the_resnet18_variables() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/generated/resnet18/saved_model");
    let out = infer(&["info", p(&model)]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("parameters: 11699112 (44.6 MiB)"), "{stdout}");
}

/// A SavedModel saved with one signature that is not `serving_default`
/// (`signatures={"predict": …}`, the committed `fixtures/tiny/tf/tiny_cnn_predict`) runs that
/// signature without `--signature`, says so, and gives TensorFlow's reference output; asking for
/// `serving_default` is the error that lists what there is.
#[test]
fn a_savedmodel_with_one_other_signature_runs_it() {
    let model = support::tiny("tf/tiny_cnn_predict");
    let out = infer(&["info", p(&model)]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("  predict  (in use)"), "{stdout}");
    let dir = tempfile::tempdir().unwrap();
    let y = dir.path().join("y.npy");
    let out = infer(&["run", p(&model), "--input", p(&support::tiny("tiny_cnn.input.npy")), "-o", p(&y)]);
    assert!(out.status.success(), "{}", text(&out).1);
    let expected = read_npy(&support::tiny("tf/tiny_cnn.output.npy")).unwrap();
    assert!(read_npy(&y).unwrap().max_abs_diff(&expected).unwrap() < 1e-6);
    let out = infer(&["info", p(&model), "--signature", "serving_default"]);
    let (_, stderr) = text(&out);
    assert!(
        !out.status.success() && stderr.contains("no signature `serving_default`; its signatures are: predict"),
        "{stderr}"
    );
}

/// A signature that also returns a string tensor (`classes`, the top class's name, as TensorFlow
/// Serving's classifiers do): `info` and `run` list it as not read, and `logits` is run as usual.
#[test]
fn a_string_output_is_left_unread() {
    let model = support::tiny("tf/tiny_cnn_labels");
    let out = infer(&["info", p(&model)]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("  classes: not read (`classes` has dtype String, which infer does not hold: not fetched)"),
        "{stdout}"
    );
    assert!(stdout.contains("  logits: f32 [?, 10]"), "{stdout}");
    let dir = tempfile::tempdir().unwrap();
    let y = dir.path().join("y.npz");
    let out = infer(&["run", p(&model), "--input", p(&support::tiny("tiny_cnn.input.npy")), "-o", p(&y)]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("output classes: not read"), "{stderr}");
    let outputs = infer_measure::workload::read_npz(&y).unwrap();
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    let expected = read_npy(&support::tiny("tf/tiny_cnn.output.npy")).unwrap();
    assert!(outputs[0].1.max_abs_diff(&expected).unwrap() < 1e-6);
}
