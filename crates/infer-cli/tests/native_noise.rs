//! What the native runtimes print reaches the user only as our one-line errors: no C++ stack
//! trace (`frame #`), no TensorFlow start-up notices (absl's banner, oneDNN, `cpu_feature_guard`,
//! the SavedModel loader), no duplicated, colour-coded ONNX Runtime log line, for `info`, `run`
//! (loading and running, good and bad), `bench` and `compare` (whose children are processes of
//! their own) on every backend, started as a user would, without `TF_CPP_MIN_LOG_LEVEL`.
//! `--verbose` brings the runtimes' own logs back (which shows that the checks can fail).
#![cfg(all(installed_onnx, installed_torch, installed_tf))]
#![allow(clippy::unwrap_used)]

mod support;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use infer_core::{Tensor, npy::write_npy};
use support::{p, text, tiny, tiny_fixture};

/// What must never reach stderr by default.
const NOISE: &[&str] = &[
    "frame #",
    "Exception raised from",
    "Traceback",
    "absl::InitializeLog",
    "oneDNN custom operations",
    "cpu_feature_guard",
    "Reading SavedModel",
    "[E:onnxruntime",
    "\u{1b}[",
];

fn generated(path: &str) -> PathBuf {
    let file = support::root().join("fixtures/generated").join(path);
    assert!(file.exists(), "{} missing: run `cargo xtask fixtures`", file.display());
    file
}

/// Runs `infer` as a user would start it: without TensorFlow's log level in its environment.
fn infer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_infer")).args(args).env_remove("TF_CPP_MIN_LOG_LEVEL").output().unwrap()
}

fn assert_quiet(args: &[&str], out: &Output) {
    let (_, stderr) = text(out);
    for noise in NOISE {
        assert!(!stderr.contains(noise), "`infer {}` printed {noise:?}:\n{stderr}", args.join(" "));
    }
}

/// Runs a command that must succeed, quietly.
fn quiet_ok(args: &[&str]) {
    let out = infer(args);
    assert!(out.status.success(), "`infer {}` failed:\n{}", args.join(" "), text(&out).1);
    assert_quiet(args, &out);
}

/// Runs a command that must fail with one line of error naming `what`; returns that line.
fn quiet_error(args: &[&str], what: &str) -> String {
    let out = infer(args);
    assert!(!out.status.success(), "`infer {}` succeeded", args.join(" "));
    assert_quiet(args, &out);
    let (_, stderr) = text(&out);
    assert_eq!(stderr.lines().count(), 1, "`infer {}`:\n{stderr}", args.join(" "));
    assert!(stderr.starts_with("error: ") && stderr.contains(what), "`infer {}`:\n{stderr}", args.join(" "));
    stderr
}

/// The tiny encoder's inputs, with `token_type_ids` set to `token_type` (its table has 2 rows).
fn encoder_inputs(dir: &Path, token_type: i64) -> Vec<String> {
    let types = dir.join("token_type_ids.npy");
    write_npy(&types, &Tensor::from_vec(vec![2, 6], vec![token_type; 12]).unwrap()).unwrap();
    let input = |name: &str| tiny(&format!("tiny_encoder.input_{name}.npy"));
    vec![
        format!("input_ids={}", p(&input("input_ids"))),
        format!("attention_mask={}", p(&input("attention_mask"))),
        format!("token_type_ids={}", p(&types)),
    ]
}

#[test]
fn info_run_bench_and_compare_print_no_native_noise() {
    let dir = tempfile::tempdir().unwrap();
    let keras = generated("tiny_keras/saved_model");
    let bert = generated("bert");
    for model in [tiny("tiny_two_args.pt"), tiny("tiny_encoder.onnx"), keras.clone()] {
        quiet_ok(&["info", p(&model)]);
    }
    let inputs = encoder_inputs(dir.path(), 1);
    let out = dir.path().join("out.npz");
    let encoder = tiny("tiny_encoder.onnx");
    let mut run = vec!["run", p(&encoder), "-o", p(&out)];
    for i in &inputs {
        run.extend(["-i", i.as_str()]);
    }
    quiet_ok(&run);
    let keras_input = generated("tiny_keras/input.npy");
    quiet_ok(&["run", p(&keras), "-i", p(&keras_input)]);
    for model in [tiny("tiny_cnn.onnx"), keras] {
        quiet_ok(&["bench", p(&model), "--batch-sizes", "1", "--warmup", "1", "--iterations", "2"]);
    }
    let fixture = tiny_fixture(dir.path());
    let results = dir.path().join("results");
    quiet_ok(&["compare", p(&fixture), "-d", "cpu", "--batch-sizes", "1", "--iterations", "2", "--out", p(&results)]);

    // Failing loads.
    let broken = dir.path().join("broken.pt");
    std::fs::copy(tiny("tiny_two_args.pt"), &broken).unwrap();
    let mut bytes = std::fs::read(&broken).unwrap();
    let end = bytes.len();
    bytes[end - 200..].fill(0);
    std::fs::write(&broken, bytes).unwrap();
    quiet_error(&["info", p(&broken)], "broken.pt");
    let empty_savedmodel = dir.path().join("saved_model");
    std::fs::create_dir(&empty_savedmodel).unwrap();
    std::fs::write(empty_savedmodel.join("saved_model.pb"), b"not a protobuf").unwrap();
    quiet_error(&["info", p(&empty_savedmodel)], "TensorFlow cannot load the SavedModel");
    quiet_error(&["run", p(&tiny("tiny_list_str.pt"))], "give it with --arg words=VALUE");
    quiet_error(&["info", p(&tiny("tiny_list_str.pt")), "--arg", "words=[1"], "--arg words=[1: forward's argument");

    // Failing runs, inside each runtime.
    let y = tiny("tiny_two_args.input_y.npy");
    let line = quiet_error(&["run", p(&tiny("tiny_two_args.pt")), "-i", p(&y), "-i", p(&y)], "torch: ");
    assert!(line.contains("mat1 and mat2 shapes cannot be multiplied"), "{line}");
    let mut run = vec!["run", p(&encoder)];
    let bad = encoder_inputs(dir.path(), 5);
    for i in &bad {
        run.extend(["-i", i.as_str()]);
    }
    let line = quiet_error(&run, "onnx: ");
    assert!(line.contains("idx=5 must be within the inclusive range [-2,1]"), "{line}");
    let (ids_file, zeros_file) = (dir.path().join("ids.npy"), dir.path().join("zeros.npy"));
    write_npy(&ids_file, &Tensor::from_vec(vec![1, 4], vec![101i64, 40_000, 7, 102]).unwrap()).unwrap();
    write_npy(&zeros_file, &Tensor::from_vec(vec![1, 4], vec![0i64; 4]).unwrap()).unwrap();
    let ids = format!("input_ids={}", p(&ids_file));
    let (mask, types) = (format!("attention_mask={}", p(&zeros_file)), format!("token_type_ids={}", p(&zeros_file)));
    let saved_model = bert.join("saved_model");
    let line = quiet_error(&["run", p(&saved_model), "-i", &ids, "-i", &mask, "-i", &types], "tf: ");
    assert!(line.contains("indices[0,1] = 40000 is not in [0, 30522)"), "{line}");
}

#[test]
fn verbose_brings_the_runtimes_logs_back() {
    let dir = tempfile::tempdir().unwrap();
    let encoder = tiny("tiny_encoder.onnx");
    let inputs = encoder_inputs(dir.path(), 5);
    let mut args = vec!["--verbose", "run", p(&encoder)];
    for i in &inputs {
        args.extend(["-i", i.as_str()]);
    }
    let out = infer(&args);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("[E:onnxruntime:"), "ONNX Runtime's own line: {stderr}");
    assert!(stderr.lines().last().unwrap().starts_with("error: onnx: "), "{stderr}");
    // TensorFlow is opened only when used (an ONNX run never maps it): its banner comes with a
    // SavedModel, printed as the library opens.
    assert!(!stderr.contains("absl::InitializeLog"), "TensorFlow opened for an ONNX model: {stderr}");
    let saved_model = generated("resnet18/saved_model");
    let out = infer(&["--verbose", "info", p(&saved_model)]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("absl::InitializeLog"), "TensorFlow's banner: {stderr}");
}
