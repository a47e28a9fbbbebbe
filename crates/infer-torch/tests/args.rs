//! Arguments that are not tensors (`--arg NAME=VALUE`), methods other than `forward`
//! (`--method`), and TorchScript recognised by its content whatever its name, on the committed
//! fixtures of `fixtures/tiny/make_tiny_args.py` (references computed in numpy).
#![cfg(any(feature = "runtime", infer_libtorch))]
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use infer_core::{Backend, LoadOptions, Probe, Session, Sniff, Tensor, npy::read_npy};
use infer_torch::{TORCHSCRIPT, TorchBackend};

fn tiny(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/tiny").join(name)
}

fn with_args(pairs: &[(&str, &str)]) -> LoadOptions {
    LoadOptions {
        args: pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect(),
        ..LoadOptions::default()
    }
}

fn load(path: &Path, opts: &LoadOptions) -> Box<dyn Session> {
    TorchBackend.load(path, opts).unwrap()
}

fn load_err(path: &Path, opts: &LoadOptions) -> String {
    let err = TorchBackend.load(path, opts).err().unwrap().to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

fn diff(got: &Tensor, reference: &str) -> f64 {
    let expected = read_npy(&tiny(reference)).unwrap();
    assert_eq!(got.shape(), expected.shape(), "{reference}");
    got.max_abs_diff(&expected).unwrap()
}

/// `forward(x, n: int, scale: float = 0.5, mode: str = "add", repeats: Optional[List[int]] = None)`.
#[test]
fn int_float_str_and_list_arguments_are_passed_on_every_call() {
    let model = tiny("tiny_args.pt");
    let x = read_npy(&tiny("tiny_args.input_x.npy")).unwrap();
    let mut s = load(&model, &with_args(&[("n", "3")]));
    assert_eq!(s.inputs().iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["x"]);
    let shown: Vec<String> = s.info().arguments.iter().map(infer_core::Argument::describe).collect();
    assert_eq!(
        shown,
        [
            "n: int = 3  (--arg)",
            "scale: float = 0.5  (default)",
            "mode: str = \"add\"  (default)",
            "repeats: Optional[List[int]] = None  (default)"
        ]
    );
    for _ in 0..2 {
        assert!(diff(&s.run(std::slice::from_ref(&x)).unwrap()[0], "tiny_args.output_0.npy") < 1e-6);
    }
    let opts = with_args(&[("n", "3"), ("scale", "2"), ("mode", "sub"), ("repeats", "[2, 1]")]);
    let mut s = load(&model, &opts);
    assert!(diff(&s.run(std::slice::from_ref(&x)).unwrap()[0], "tiny_args.output_sub.npy") < 1e-6);
    // A value the module itself refuses is its one-line error.
    let mut s = load(&model, &with_args(&[("n", "3"), ("mode", "\"mul\"")]));
    let err = s.run(std::slice::from_ref(&x)).unwrap_err().to_string();
    assert!(err.starts_with("torch: ") && err.contains("mode must be add or sub"), "{err}");
}

#[test]
fn missing_and_ill_typed_arguments_are_one_line() {
    let model = tiny("tiny_args.pt");
    let err = load_err(&model, &with_args(&[("n", "abc")]));
    assert!(err.ends_with("tiny_args.pt: --arg n=abc: forward's argument `n` is an int, got `abc`"), "{err}");
    let err = load_err(&model, &with_args(&[("n", "1"), ("repeats", "[2, x]")]));
    assert!(
        err.contains("--arg repeats=[2, x]: forward's argument `repeats` is an Optional[List[int]], got `[2, x]` (`x` is not an int)"),
        "{err}"
    );
    // Missing: loading works (info lists it); running says which --arg.
    let mut s = load(&model, &LoadOptions::default());
    assert!(s.info().arguments[0].missing());
    let x = read_npy(&tiny("tiny_args.input_x.npy")).unwrap();
    let err = s.run(&[x]).unwrap_err().to_string();
    assert_eq!(
        err,
        "invalid input: forward's argument `n` (int) has no value and no default: give it with --arg n=VALUE"
    );
}

/// `encode(x, temperature: float = 1.0)`, an exported method, run instead of `forward`.
#[test]
fn another_method_runs_with_its_own_schema() {
    let model = tiny("tiny_method.pt");
    let x = read_npy(&tiny("tiny_method.input_x.npy")).unwrap();
    let mut s = load(&model, &LoadOptions::default().with_option("method", "encode"));
    assert_eq!(s.info().arguments[0].of, "encode");
    assert!(s.info().input_sources[0].starts_with("unknown: encode's schema says only `Tensor`"));
    assert!(diff(&s.run(std::slice::from_ref(&x)).unwrap()[0], "tiny_method.output_encode.npy") < 1e-6);
    let opts = with_args(&[("temperature", "2.0")]).with_option("method", "encode");
    let half = load(&model, &opts).run(std::slice::from_ref(&x)).unwrap();
    let full = read_npy(&tiny("tiny_method.output_encode.npy")).unwrap();
    let halved: Vec<f32> = full.as_slice::<f32>().unwrap().iter().map(|v| v / 2.0).collect();
    assert!(half[0].max_abs_diff(&Tensor::from_vec(full.shape().to_vec(), halved).unwrap()).unwrap() < 1e-6);
    // forward is decode(encode(x)): [2, 3] back to [2, 3].
    let out = load(&model, &LoadOptions::default()).run(&[x]).unwrap();
    assert_eq!(out[0].shape(), [2, 3]);
    let err = load_err(&model, &LoadOptions::default().with_option("method", "generate"));
    assert!(err.contains("has no `generate` method (its methods: forward, decode, encode;"), "{err}");
}

/// A TorchScript archive named `.jit`, or with no extension at all, is TorchScript by content.
#[test]
fn torchscript_is_recognised_whatever_its_name() {
    let jit = tiny("tiny_cnn.jit");
    assert_eq!(TorchBackend.sniff(&Probe::new(&jit).unwrap()), Sniff::Content(TORCHSCRIPT));
    // Its sidecar is tiny_cnn.json, as tiny_cnn.pt's.
    let mut s = load(&jit, &LoadOptions::default());
    assert_eq!(s.inputs()[0].name, "image");
    let out = s.run(&[read_npy(&tiny("tiny_cnn.input.npy")).unwrap()]).unwrap();
    assert!(diff(&out[0], "tiny_cnn.output.npy") < 1e-4);
    let dir = tempfile::tempdir().unwrap();
    for name in ["model", "model.bin", "model.ptl"] {
        let copy = dir.path().join(name);
        std::fs::copy(&jit, &copy).unwrap();
        assert_eq!(TorchBackend.sniff(&Probe::new(&copy).unwrap()), Sniff::Content(TORCHSCRIPT), "{name}");
        let mut s = load(&copy, &LoadOptions::default());
        let out = s.run(&[read_npy(&tiny("tiny_cnn.input.npy")).unwrap()]).unwrap();
        assert!(diff(&out[0], "tiny_cnn.output.npy") < 1e-4, "{name}");
    }
}

/// `forward(x, norms: bool = True) -> Tuple[Tensor, Optional[Tensor]]`: a bool argument, and a
/// result whose `Optional[Tensor]` is None without norms, which gives no output.
#[test]
fn a_bool_argument_and_a_none_in_the_result() {
    let model = tiny("tiny_optional_out.pt");
    let x = read_npy(&tiny("tiny_optional_out.input_x.npy")).unwrap();
    let mut s = load(&model, &LoadOptions::default());
    assert_eq!(s.outputs().len(), 2);
    let out = s.run(std::slice::from_ref(&x)).unwrap();
    assert!(diff(&out[0], "tiny_optional_out.output_0.npy") < 1e-6);
    assert!(diff(&out[1], "tiny_optional_out.output_1.npy") < 1e-6);
    let mut s = load(&model, &with_args(&[("norms", "false")]));
    let out = s.run(std::slice::from_ref(&x)).unwrap();
    assert_eq!(out.len(), 1);
    assert!(diff(&out[0], "tiny_optional_out.output_0.npy") < 1e-6);
    assert_eq!(s.outputs().len(), 1, "the outputs are those of the last run");
    let err = load_err(&model, &with_args(&[("norms", "yes")]));
    assert!(
        err.contains(
            "--arg norms=yes: forward's argument `norms` is a bool, got `yes` (`yes` is not a bool (true or false))"
        ),
        "{err}"
    );
}
