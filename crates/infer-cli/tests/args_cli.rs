//! `--arg NAME=VALUE`, `--method NAME` and files recognised by their content whatever their
//! name, through the `infer` binary, on the committed fixtures of `fixtures/tiny/make_tiny_args.py`:
//! TorchScript arguments that are not tensors (listed by `info`, given on every call, checked in
//! one line), an exported method run instead of `forward`, a TorchScript archive named `.jit` or
//! with no extension, and an ONNX model's scalar inputs set as 0-d tensors.
#![allow(clippy::unwrap_used)]

mod support;

#[cfg(any(installed_torch, installed_onnx))]
use support::{infer, ok, p, text, tiny};

/// A failed command whose error is one line; returns it.
#[cfg(any(installed_torch, installed_onnx))]
fn one_line_error(args: &[&str]) -> String {
    let out = infer(args);
    let (_, stderr) = text(&out);
    assert!(!out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    stderr
}

#[cfg(installed_torch)]
fn max_diff(got: &std::path::Path, reference: &str) -> f64 {
    let got = infer_core::npy::read_npy(got).unwrap();
    let expected = infer_core::npy::read_npy(&tiny(reference)).unwrap();
    assert_eq!(got.shape(), expected.shape(), "{reference}");
    got.max_abs_diff(&expected).unwrap()
}

#[cfg(installed_torch)]
#[test]
fn info_lists_the_arguments_that_are_not_tensors_with_type_and_default() {
    let model = tiny("tiny_args.pt");
    let out = ok(&infer(&["info", p(&model)]));
    assert!(out.contains("arguments of forward that are not tensors (--arg NAME=VALUE):"), "{out}");
    assert!(out.contains("  n: int  (required: give it with --arg n=VALUE)"), "{out}");
    assert!(out.contains("  scale: float = 0.5  (default)"), "{out}");
    assert!(out.contains("  mode: str = \"add\"  (default)"), "{out}");
    assert!(out.contains("  repeats: Optional[List[int]] = None  (default)"), "{out}");
    let out = ok(&infer(&["info", p(&model), "--arg", "n=3", "--arg", "repeats=[2, 1]"]));
    assert!(
        out.contains("  n: int = 3  (--arg)") && out.contains("  repeats: Optional[List[int]] = [2, 1]  (--arg)"),
        "{out}"
    );
    // The JSON description (what `compare` reads) carries them too.
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("d.json");
    ok(&infer(&["info", p(&model), "--arg", "n=3", "--json", p(&json)]));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["arguments"][0]["name"], "n");
    assert_eq!(v["arguments"][0]["value"], "3");
}

#[cfg(installed_torch)]
#[test]
fn run_and_bench_pass_the_arguments_on_every_call() {
    let model = tiny("tiny_args.pt");
    let dir = tempfile::tempdir().unwrap();
    let y = dir.path().join("y.npy");
    let x = tiny("tiny_args.input_x.npy");
    ok(&infer(&["run", p(&model), "--input", p(&x), "--arg", "n=3", "-o", p(&y)]));
    assert!(max_diff(&y, "tiny_args.output_0.npy") < 1e-6);
    let args = ["--arg", "n=3", "--arg", "scale=2", "--arg", "mode=sub", "--arg", "repeats=[2, 1]"];
    let mut cmd = vec!["run", p(&model), "--input", p(&x), "-o", p(&y)];
    cmd.extend(args);
    ok(&infer(&cmd));
    assert!(max_diff(&y, "tiny_args.output_sub.npy") < 1e-6);
    // bench checks the reference on the same arguments and records them in its result.
    let json = dir.path().join("bench.json");
    let mut cmd = vec!["bench", p(&model), "--shape", "x=2x3", "--warmup", "1", "--iterations", "2"];
    cmd.extend(["--reference-input", p(&x), "--reference-output"]);
    let reference = tiny("tiny_args.output_sub.npy");
    cmd.extend([p(&reference), "--quiet", "--json", p(&json)]);
    cmd.extend(args);
    ok(&infer(&cmd));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let report = &v.as_array().map_or(&v, |a| &a[0]);
    assert_eq!(report["environment"]["arguments"]["mode"], "sub", "{report}");
    assert_eq!(report["environment"]["arguments"]["repeats"], "[2, 1]", "{report}");
    assert!(report["max_abs_diff"].as_f64().unwrap() < 1e-6, "{report}");
}

#[cfg(installed_torch)]
#[test]
fn a_missing_or_ill_typed_argument_is_one_line() {
    let model = tiny("tiny_args.pt");
    let x = tiny("tiny_args.input_x.npy");
    let err = one_line_error(&["run", p(&model), "--input", p(&x)]);
    assert!(
        err.contains("forward's argument `n` (int) has no value and no default: give it with --arg n=VALUE"),
        "{err}"
    );
    let err = one_line_error(&["bench", p(&model), "--shape", "x=2x3", "--iterations", "1"]);
    assert!(err.contains("give it with --arg n=VALUE"), "{err}");
    let err = one_line_error(&["run", p(&model), "--input", p(&x), "--arg", "n=abc"]);
    assert!(err.contains("tiny_args.pt: --arg n=abc: forward's argument `n` is an int, got `abc`"), "{err}");
    let err = one_line_error(&["info", p(&model), "--arg", "scale=[1]"]);
    assert!(err.contains("--arg scale=[1]: forward's argument `scale` is a float, got `[1]`"), "{err}");
    let err = one_line_error(&["info", p(&model), "--arg", "sr=16000"]);
    assert!(err.contains("--arg sr=16000: the model has no argument or scalar input `sr`"), "{err}");
    assert!(err.contains("n (int), scale (float), mode (str), repeats (Optional[List[int]])"), "{err}");
    // A malformed pair is clap's usage error (exit code 2).
    let out = infer(&["info", p(&model), "--arg", "novalue"]);
    let (_, err) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("invalid --arg `novalue`: expected NAME=VALUE"), "{err}");
}

/// A module whose only argument is a `List[str]` runs with no tensor at all.
#[cfg(installed_torch)]
#[test]
fn a_model_of_arguments_only_runs_without_input() {
    let dir = tempfile::tempdir().unwrap();
    let y = dir.path().join("lengths.npy");
    ok(&infer(&["run", p(&tiny("tiny_list_str.pt")), "--arg", r#"words=["a", "bcd"]"#, "-o", p(&y)]));
    assert_eq!(infer_core::npy::read_npy(&y).unwrap().as_slice::<i64>().unwrap(), [1, 3]);
}

#[cfg(installed_torch)]
#[test]
fn method_runs_an_exported_method_with_its_own_schema() {
    let model = tiny("tiny_method.pt");
    let out = ok(&infer(&["info", p(&model), "--method", "encode"]));
    assert!(out.contains("arguments of encode that are not tensors"), "{out}");
    assert!(out.contains("  temperature: float = 1.  (default)") || out.contains("temperature: float = 1"), "{out}");
    assert!(out.contains("encode's schema says only `Tensor`"), "{out}");
    let dir = tempfile::tempdir().unwrap();
    let y = dir.path().join("z.npy");
    let x = tiny("tiny_method.input_x.npy");
    ok(&infer(&["run", p(&model), "--method", "encode", "--input", p(&x), "-o", p(&y)]));
    assert!(max_diff(&y, "tiny_method.output_encode.npy") < 1e-6);
    // The same as a backend option.
    ok(&infer(&["run", p(&model), "--option", "method=encode", "--input", p(&x), "-o", p(&y)]));
    assert!(max_diff(&y, "tiny_method.output_encode.npy") < 1e-6);
    let err = one_line_error(&["info", p(&model), "--method", "generate"]);
    assert!(
        err.contains("has no `generate` method (its methods: forward, decode, encode; choose one with --method NAME)"),
        "{err}"
    );
}

/// `tiny_cnn.jit` (and a copy with no extension) is TorchScript by its content.
#[cfg(installed_torch)]
#[test]
fn torchscript_named_jit_or_nothing_is_recognised_by_content() {
    let jit = tiny("tiny_cnn.jit");
    let out = ok(&infer(&["info", p(&jit)]));
    assert!(out.contains("format:   TorchScript") && out.contains("backend:  torch"), "{out}");
    assert!(out.contains("image: f32 [batch, 3, 8, 8]"), "{out}");
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("model");
    std::fs::copy(&jit, &bare).unwrap();
    let y = dir.path().join("y.npy");
    ok(&infer(&["run", p(&bare), "--input", p(&tiny("tiny_cnn.input.npy")), "-o", p(&y)]));
    assert!(max_diff(&y, "tiny_cnn.output.npy") < 1e-4);
}

/// An ONNX file with no extension is ONNX by its content; `info` says which backend reads it
/// and which others could.
#[cfg(installed_onnx)]
#[test]
fn onnx_without_extension_is_recognised_and_the_choice_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("model");
    std::fs::copy(tiny("tiny_cnn.onnx"), &bare).unwrap();
    let out = ok(&infer(&["info", p(&bare)]));
    assert!(out.contains("format:   ONNX") && out.contains("backend:  onnx"), "{out}");
    assert!(
        out.contains("(also read by ") && out.contains("tract") && out.contains("choose one with --backend NAME)"),
        "{out}"
    );
    let out = ok(&infer(&["info", p(&bare), "--backend", "tract"]));
    assert!(out.contains("backend:  tract") && !out.contains("also read by"), "{out}");
}

/// `scalar_input.onnx`: `scale` f32 [] and `offset` i64 [] beside `x` [batch, 4].
#[cfg(installed_onnx)]
#[test]
fn arg_sets_an_onnx_scalar_input_as_a_0d_tensor_of_its_dtype() {
    let model = tiny("scalar_input.onnx");
    let dir = tempfile::tempdir().unwrap();
    let y = dir.path().join("y.npy");
    let x = tiny("scalar_input.input_x.npy");
    ok(&infer(&["run", p(&model), "--input", p(&x), "--arg", "scale=0.5", "--arg", "offset=3", "-o", p(&y)]));
    let got = infer_core::npy::read_npy(&y).unwrap();
    let expected = infer_core::npy::read_npy(&tiny("scalar_input.output.npy")).unwrap();
    assert!(got.max_abs_diff(&expected).unwrap() < 1e-6);
    // bench: every row gets them; the rows say where they came from.
    let json = dir.path().join("bench.json");
    ok(&infer(&[
        "bench",
        p(&model),
        "--batch-sizes",
        "1,3",
        "--iterations",
        "2",
        "--warmup",
        "1",
        "--arg",
        "scale=0.5",
        "--arg",
        "offset=3",
        "--quiet",
        "--json",
        p(&json),
    ]));
    let text = std::fs::read_to_string(&json).unwrap();
    assert!(text.contains("--arg offset=3") && text.contains("\"offset\": \"3\""), "{text}");
    // Every other backend that reads ONNX and can run here sets them too (OpenVINO's C API makes
    // no tensor of rank 0: the request's own is written).
    let registry = infer_cli::backends::registry();
    for b in registry.iter().filter(|b| b.name() != "onnx" && b.formats().iter().any(|f| f.id == "onnx")) {
        if !matches!(infer_core::registry::availability(b), infer_core::Availability::Available(_)) {
            continue;
        }
        let y = dir.path().join(format!("{}.npy", b.name()));
        ok(&infer(&[
            "run",
            p(&model),
            "--backend",
            b.name(),
            "--input",
            p(&x),
            "--arg",
            "scale=0.5",
            "--arg",
            "offset=3",
            "-o",
            p(&y),
        ]));
        let got = infer_core::npy::read_npy(&y).unwrap();
        assert!(got.max_abs_diff(&expected).unwrap() < 1e-6, "{}", b.name());
    }
    let err = one_line_error(&["run", p(&model), "--input", p(&x), "--arg", "scale=0.5", "--arg", "offset=1.5"]);
    assert!(err.contains("--arg offset=1.5: input `offset` is a 0-d i64 tensor, got `1.5`"), "{err}");
    let err =
        one_line_error(&["run", p(&model), "--input", p(&x), "--arg", "x=1", "--arg", "scale=1", "--arg", "offset=1"]);
    assert!(err.contains("input `x` is a tensor [batch, 4], not a scalar"), "{err}");
}
