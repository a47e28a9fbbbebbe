//! ONNX test data sets (`test_data_set_0/input_N.pb`, `output_N.pb`: the layout of the ONNX Model
//! Zoo and of ONNX's own backend tests) as inputs and references of `infer run` and `infer bench`,
//! on the committed tiny fixtures and on the backend test suite that the `onnx` wheel installs.
#![cfg(installed_onnx)]
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};

use infer_core::{Tensor, npy::read_npy, npy::write_npy};
use support::{infer, ok, p, root, text, tiny};

/// The committed test data set of a tiny fixture (`fixtures/tiny/test_data/make_test_data.py`).
fn set(model: &str) -> PathBuf {
    tiny("test_data").join(model).join("test_data_set_0")
}

/// The arrays of a `.npz` archive by name.
fn read_npz(path: &Path) -> Vec<(String, Tensor)> {
    infer_measure::workload::read_npz(path).unwrap()
}

/// `input_N.pb` from the folder, every output checked against `output_N.pb`, and `-o x.npz`
/// writes what the model returned: the numpy references of the fixture, within ONNX Runtime's
/// rounding. One input of the set is stored in `int64_data` rather than `raw_data`.
#[test]
fn a_test_data_set_gives_every_input_and_checks_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.npz");
    let data = set("tiny_encoder");
    let run =
        infer(&["run", p(&tiny("tiny_encoder.onnx")), "-i", p(&data), "--reference-output", p(&data), "-o", p(&out)]);
    let (_, stderr) = text(&run);
    assert!(run.status.success(), "{stderr}");
    let line = stderr.lines().find(|l| l.starts_with("reference ")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.ends_with(": within 1e-4"), "{line}");
    let outputs = read_npz(&out);
    assert_eq!(outputs.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["hidden", "pooled"]);
    for (name, got) in &outputs {
        let want = read_npy(&tiny(&format!("tiny_encoder.output_{name}.npy"))).unwrap();
        assert!(got.max_abs_diff(&want).unwrap() < 1e-5, "{name}");
    }
}

/// A `.pb` given without `NAME=` goes to the input its tensor names; here in the reverse order of
/// the model's inputs, with the same outputs as the folder in order.
#[test]
fn a_tensor_file_goes_to_the_input_its_name_gives() {
    let data = set("tiny_encoder");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hidden.npy");
    let mut args = vec!["run".to_string(), p(&tiny("tiny_encoder.onnx")).to_string()];
    for i in [2, 1, 0] {
        args.extend(["-i".into(), data.join(format!("input_{i}.pb")).display().to_string()]);
    }
    args.extend(["-o".into(), p(&out).to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ok(&infer(&args));
    let want = read_npy(&tiny("tiny_encoder.output_hidden.npy")).unwrap();
    assert!(read_npy(&out).unwrap().max_abs_diff(&want).unwrap() < 1e-5);

    // An unnamed tensor (tiny_cnn's set) goes by position; NAME=folder is refused.
    let cnn = set("tiny_cnn");
    let stderr = {
        let run = infer(&[
            "run",
            p(&tiny("tiny_cnn.onnx")),
            "-i",
            p(&cnn.join("input_0.pb")),
            "--reference-output",
            p(&cnn.join("output_0.pb")),
        ]);
        assert!(run.status.success(), "{}", text(&run).1);
        text(&run).1
    };
    assert!(stderr.contains("top-1 agreement 100%: within 1e-4"), "{stderr}");
    let run = infer(&["run", p(&tiny("tiny_encoder.onnx")), "-i", &format!("input_ids={}", p(&data))]);
    let (_, stderr) = text(&run);
    assert!(!run.status.success() && stderr.contains("give the folder without `input_ids=`"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

/// A reference the outputs do not match: the command fails, naming the file and the differences.
#[test]
fn outputs_beyond_the_tolerance_fail_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong.npy");
    let want = read_npy(&tiny("tiny_cnn.output.npy")).unwrap();
    let shifted: Vec<f32> = want.as_slice::<f32>().unwrap().iter().map(|x| x + 0.5).collect();
    write_npy(&wrong, &Tensor::from_vec(want.shape().to_vec(), shifted).unwrap()).unwrap();
    let input = set("tiny_cnn").join("input_0.pb");
    let model = tiny("tiny_cnn.onnx");
    let run = infer(&["run", p(&model), "-i", p(&input), "--reference-output", p(&wrong)]);
    let (_, stderr) = text(&run);
    assert!(!run.status.success(), "{stderr}");
    let line = stderr.trim().lines().last().unwrap();
    assert!(line.starts_with("error: the outputs differ from the reference "), "{line}");
    assert!(line.contains("wrong.npy: max |diff| 5.000e-1") && line.ends_with("(tolerance 1e-4)"), "{line}");
    // A tolerance that the difference fits.
    ok(&infer(&["run", p(&model), "-i", p(&input), "--reference-output", p(&wrong), "--tolerance", "0.6"]));
}

/// `bench --reference-input DIR --reference-output DIR`: the check before timing, in the JSON.
#[test]
fn bench_checks_against_a_test_data_set() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let data = set("tiny_encoder");
    ok(&infer(&[
        "bench",
        p(&tiny("tiny_encoder.onnx")),
        "--dim",
        "sequence=6",
        "--batch-sizes",
        "2",
        "--iterations",
        "2",
        "--warmup",
        "1",
        "--reference-input",
        p(&data),
        "--reference-output",
        p(&data),
        "--json",
        p(&json),
    ]));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let diff = v["max_abs_diff"].as_f64().unwrap();
    assert!(diff < 1e-5, "{v}");
    assert_eq!(v["reference"], p(&data));
}

/// The backend test data of the `onnx` wheel that `cargo xtask setup` installs (real exporter
/// output: PyTorch-converted layers and operators, ONNX's "simple" models). Every case either
/// agrees with its `output_N.pb` or fails with one line naming the model (an operator version
/// ONNX Runtime does not implement, a training operator, strings): never a panic or a native
/// trace. Outputs that hold NaN where the reference does (`test_operator_sqrt` of negative numbers)
/// agree.
#[test]
fn the_onnx_backend_test_data_run_or_fail_in_one_line() {
    let Some(data) = onnx_test_data() else {
        let why = "the onnx wheel's backend test data is not installed (run `cargo xtask setup`)";
        infer_conformance::skip("the_onnx_backend_test_data_run_or_fail_in_one_line", why);
        return;
    };
    let mut cases: Vec<PathBuf> = ["pytorch-converted", "pytorch-operator", "simple"]
        .iter()
        .filter_map(|suite| std::fs::read_dir(data.join(suite)).ok())
        .flatten()
        .map(|e| e.unwrap().path())
        .filter(|c| c.join("model.onnx").is_file() && c.join("test_data_set_0").is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 100, "{} cases under {}", cases.len(), data.display());
    let (mut passed, mut failed) = (Vec::new(), Vec::new());
    for case in &cases {
        let model = case.join("model.onnx");
        let set = case.join("test_data_set_0");
        let run = infer(&["run", p(&model), "-i", p(&set), "--reference-output", p(&set), "--tolerance", "1e-3"]);
        let (_, stderr) = text(&run);
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        if run.status.success() {
            passed.push(name);
            continue;
        }
        assert!(!stderr.contains("panicked") && !stderr.contains("frame #"), "{name}:\n{stderr}");
        let last = stderr.trim().lines().last().unwrap_or_default();
        assert!(last.starts_with("error: "), "{name}:\n{stderr}");
        // A failure is the runtime refusing the model, or a type infer does not hold; never a
        // difference to the reference.
        assert!(!last.contains("differ from the reference"), "{name}: {last}");
        failed.push(name);
    }
    eprintln!("{} of {} cases agree; failed to load or feed: {}", passed.len(), cases.len(), failed.join(", "));
    for expected in ["test_operator_sqrt", "test_Conv2d", "test_operator_concat2", "test_expand_shape_model1"] {
        assert!(passed.iter().any(|n| n == expected), "{expected} did not pass");
    }
    assert!(passed.len() * 3 >= cases.len() * 2, "{} of {} passed", passed.len(), cases.len());
}

/// A model exported with a static batch of 2 (`test_Conv2d`: input `[2, 3, 7, 5]`) benches,
/// profiles and compares at that batch when none is asked, and says how when another is.
#[test]
fn a_static_batch_is_the_default_batch() {
    let Some(data) = onnx_test_data() else {
        assert!(std::env::var_os("INFER_REQUIRE_ALL_BACKENDS").is_none(), "no onnx backend test data");
        return;
    };
    let model = data.join("pytorch-converted/test_Conv2d/model.onnx");
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    ok(&infer(&["bench", p(&model), "--iterations", "3", "--warmup", "1", "--json", p(&json)]));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let batches: Vec<u64> = v["rows"].as_array().unwrap().iter().map(|r| r["batch_size"].as_u64().unwrap()).collect();
    assert_eq!(batches, [2], "{v}");
    let stdout = ok(&infer(&["profile", p(&model), "--iterations", "2", "--warmup", "0"]));
    assert!(stdout.contains("profiled runs at batch 2"), "{stdout}");
    let run = infer(&["bench", p(&model), "--batch-sizes", "4", "--iterations", "1"]);
    let (_, stderr) = text(&run);
    assert!(!run.status.success(), "{stderr}");
    assert!(stderr.contains("fixed batch dimension of 2; batch size 4 is not possible"), "{stderr}");
    assert!(stderr.contains("leave --batch-sizes out to run the model's own batch, 2"), "{stderr}");
    // `compare` on the file: its rows at batch 2 (not the default 1 and 8, which it cannot run).
    let out = dir.path().join("cmp");
    ok(&infer(&[
        "compare",
        p(&model),
        "--device",
        "cpu",
        "--iterations",
        "2",
        "--rounds",
        "1",
        "--profile-runs",
        "0",
        "--out",
        p(&out),
    ]));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("compare.json")).unwrap()).unwrap();
    let entries = v["entries"].as_array().unwrap();
    assert!(entries.iter().any(|e| e["status"] == "ok"), "{v}");
    for e in entries.iter().filter(|e| e["status"] == "ok") {
        let rows = e["report"]["rows"].as_array().unwrap();
        assert_eq!(rows.iter().map(|r| r["batch_size"].as_u64().unwrap()).collect::<Vec<_>>(), [2], "{e}");
    }
}

/// `onnx/backend/test/data` inside the project's venv.
fn onnx_test_data() -> Option<PathBuf> {
    let lib = root().join(".venv/lib");
    std::fs::read_dir(lib)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join("site-packages/onnx/backend/test/data"))
        .find(|d| d.is_dir())
}
