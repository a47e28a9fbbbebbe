//! `infer info/run/bench/profile` on the PyTorch formats of the generated ResNet-18 (`cargo xtask
//! fixtures`): the TorchScript file, and the architecture + checkpoint; and, with the onnx backend
//! too, ONNX Runtime and libtorch agreeing on the same weights. `infer info/run` on the committed
//! tiny TorchScript modules: inputs from `forward`'s arguments, every output of a tuple.
#![cfg(installed_torch)]
#![allow(clippy::unwrap_used)]

mod support;

use support::{infer, ok, p, text, tiny};

use std::path::{Path, PathBuf};

fn fixture() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/generated/resnet18");
    assert!(
        dir.join("model.torchscript.pt").is_file() && dir.join("weights.safetensors").is_file(),
        "{} has no PyTorch formats: run `cargo xtask fixtures`",
        dir.display()
    );
    dir
}

#[test]
fn info_on_torchscript_and_on_arch_plus_checkpoint() {
    let dir = fixture();
    let script = ok(&infer(&["info", p(&dir.join("model.torchscript.pt"))]));
    let ckpt = ok(&infer(&["info", p(&dir.join("weights.safetensors")), "--arch", "resnet18"]));
    for (out, format) in [(&script, "TorchScript"), (&ckpt, "checkpoint")] {
        assert!(out.contains(&format!("format:   {format}")), "{out}");
        assert!(out.contains("backend:  torch 2.11.0"), "{out}");
        assert!(out.contains("input: f32 [batch, 3, 224, 224]  (dynamic dims)"), "{out}");
        assert!(out.contains("logits: f32 [batch, 1000]"), "{out}");
        assert!(out.contains("parameters: 11689512 (44.6 MiB)"), "{out}");
    }
}

#[test]
fn run_reproduces_the_reference_from_every_torch_form() {
    let dir = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let expected = infer_core::npy::read_npy(&dir.join("reference_torch.npy")).unwrap();
    let input = dir.join("input.npy");
    let cases: [(&str, &[&str]); 4] = [
        ("model.torchscript.pt", &[]),
        ("model.trace.pt", &[]),
        ("weights.safetensors", &["--arch", "resnet18"]),
        ("state_dict.pth", &["--arch", "resnet18"]),
    ];
    for (file, extra) in cases {
        let y = tmp.path().join(format!("{file}.npy"));
        let model = dir.join(file);
        let mut args = vec!["run", p(&model), "--input", p(&input), "-o", p(&y)];
        args.extend_from_slice(extra);
        ok(&infer(&args));
        let got = infer_core::npy::read_npy(&y).unwrap();
        let diff = got.max_abs_diff(&expected).unwrap();
        assert!(diff < 1e-4, "{file}: max abs diff {diff}");
    }
}

#[test]
fn bench_on_torchscript_and_checkpoint_checks_the_reference() {
    let dir = fixture();
    let tmp = tempfile::tempdir().unwrap();
    for (file, extra) in [("model.torchscript.pt", None), ("dataparallel.pth", Some("resnet18"))] {
        let json = tmp.path().join("bench.json");
        let model = dir.join(file);
        let mut args = vec![
            "bench",
            p(&model),
            "--batch-sizes",
            "1,2",
            "--warmup",
            "1",
            "--iterations",
            "3",
            "--threads",
            "2",
            "--reference-input",
        ];
        let input = dir.join("input.npy");
        let reference = dir.join("reference_torch.npy");
        args.extend([p(&input), "--reference-output", p(&reference), "--json", p(&json)]);
        if let Some(a) = extra {
            args.extend(["--arch", a]);
        }
        ok(&infer(&args));
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        assert!(v["max_abs_diff"].as_f64().unwrap() < 1e-4, "{file}: {}", v["max_abs_diff"]);
        let rows = v["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r["backend"] == "torch" && r["samples_ms"].as_array().unwrap().len() == 3));
        // The TF32 flags libtorch had, read back after loading: off by default.
        let settings = &v["environment"]["settings"];
        assert_eq!(settings, &serde_json::json!({"tf32_matmul": "off", "tf32_cudnn": "off"}), "{file}");
    }
}

#[test]
fn profile_shows_every_level_of_the_aten_convolutions_by_self_time() {
    let dir = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let (json, traces) = (tmp.path().join("profile.json"), tmp.path().join("traces"));
    let model = dir.join("model.torchscript.pt");
    let args = [
        "--warmup",
        "1",
        "--iterations",
        "2",
        "--threads",
        "2",
        "--top",
        "1000",
        "--json",
        p(&json),
        "--keep-trace",
        p(&traces),
    ];
    let stdout = ok(&infer(&[&["profile", p(&model)][..], &args].concat()));
    assert!(stdout.contains("on torch: 2 profiled runs at batch 1 (1 warm-up runs left out)"), "{stdout}");
    assert!(stdout.contains("Kineto profiler through infer's C++ shim (CPU ops, self time)"), "{stdout}");
    // The op-type table (every type, whatever its time): the convolution kernel and the aten
    // wrappers around it, each with its calls.
    let types = stdout.split("top nodes").next().unwrap();
    let row = |op: &str| types.lines().find(|l| l.split_whitespace().next() == Some(op));
    for op in ["aten::mkldnn_convolution", "aten::conv2d"] {
        let line = row(op).unwrap_or_else(|| panic!("no {op} line:\n{stdout}"));
        assert_eq!(line.split_whitespace().nth(3), Some("40"), "20 convolutions x 2 runs: {line}");
    }
    // The node table names TorchScript modules.
    let nodes = stdout.split("top nodes").nth(1).unwrap();
    let module_conv = |l: &&str| {
        let cells: Vec<&str> = l.split_whitespace().collect();
        cells.len() > 2 && cells[0].ends_with("/aten::mkldnn_convolution") && cells[1] == "aten::mkldnn_convolution"
    };
    assert!(nodes.lines().any(|l| module_conv(&l) && l.starts_with("layer1.0.conv1/")), "{stdout}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!((v["runs"].as_u64(), v["warmup_runs"].as_u64()), (Some(2), Some(1)));
    support::check_profile_structure(&v);
    // Each level of the convolution is its own row with its own calls: self times, each op once.
    for op in ["aten::conv2d", "aten::convolution", "aten::_convolution", "aten::mkldnn_convolution"] {
        let rows = support::profile_rows(&v, "by_type", "name", op);
        assert_eq!(rows.len(), 1, "{op}: {}", v["by_type"]);
        assert_eq!(rows[0]["calls"], 40, "{op}: {}", rows[0]);
    }
    // libtorch's own Chrome trace was kept.
    assert!(traces.join("torch_libtorch_trace.json").is_file());
}

#[test]
fn a_checkpoint_without_arch_says_what_to_pass() {
    let dir = fixture();
    let out = infer(&["info", p(&dir.join("state_dict.pth"))]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && !stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains("this is a weights-only checkpoint; pass --arch resnet18|resnet50"), "{stderr}");
}

/// ONNX Runtime on the ONNX export and libtorch on the TorchScript and the checkpoint of the
/// same weights agree with each other.
#[cfg(installed_onnx)]
#[test]
fn onnx_and_torch_agree_on_the_same_weights() {
    use infer_core::LoadOptions;
    let dir = fixture();
    let x = infer_core::npy::read_npy(&dir.join("input.npy")).unwrap();
    // torch in-process: `infer`'s registry holds a stand-in that hands torch to its worker.
    let registry = infer_cli::backends::registry();
    let run = |backend: &str, file: &str, arch: Option<&str>| {
        let opts = arch.map_or_else(LoadOptions::default, |a| LoadOptions::default().with_option("arch", a));
        let b: &dyn infer_core::Backend =
            if backend == "torch" { &infer_torch::TorchBackend } else { registry.get(backend).unwrap() };
        let mut s = b.load(&dir.join(file), &opts).unwrap();
        s.run(std::slice::from_ref(&x)).unwrap().remove(0)
    };
    let onnx = run("onnx", "model.onnx", None);
    let script = run("torch", "model.torchscript.pt", None);
    let ckpt = run("torch", "checkpoint_model.pth", Some("resnet18"));
    assert!(onnx.max_abs_diff(&script).unwrap() < 1e-4);
    assert!(onnx.max_abs_diff(&ckpt).unwrap() < 1e-4);
    assert!(script.max_abs_diff(&ckpt).unwrap() < 1e-4);
}

#[test]
fn info_lists_every_argument_of_forward_and_says_what_is_unknown() {
    let stdout = ok(&infer(&["info", p(&tiny("tiny_two_args.pt"))]));
    let unknown = "[unknown rank]  (unknown: forward's schema says only `Tensor`; any dtype and shape accepted";
    assert!(stdout.contains(&format!("  x: f32 {unknown}")), "{stdout}");
    assert!(stdout.contains(&format!("  y: f32 {unknown}")), "{stdout}");
    assert!(
        stdout.contains("  output_0: f32 [unknown rank]  (unknown until run: forward returns `Tuple[Tensor, Tensor]`)")
    );
    assert!(stdout.contains("  output_1: "), "{stdout}");
    let stdout = ok(&infer(&["info", p(&tiny("tiny_embedding.pt"))]));
    assert!(
        stdout.contains("  input_ids: i64 [unknown rank]  (i64 from the graph: indices of aten::embedding on parameter `word_embeddings.weight` (50 rows); shape unknown)"),
        "{stdout}"
    );
}

/// `info` says on which device torch loaded the model and whether TF32 is allowed (read back
/// from libtorch): off by default, on with `--option tf32=on`; `--device cuda:0` loads there on
/// a GPU machine and is a one-line error naming the device elsewhere.
#[test]
fn info_shows_the_device_and_the_tf32_flags() {
    let model = tiny("tiny_two_args.pt");
    let stdout = ok(&infer(&["info", p(&model)]));
    assert!(stdout.lines().any(|l| l == "device:   cpu"), "{stdout}");
    assert!(stdout.lines().any(|l| l == "settings: tf32_matmul=off tf32_cudnn=off"), "{stdout}");
    let stdout = ok(&infer(&["info", p(&model), "--option", "tf32=on"]));
    assert!(stdout.lines().any(|l| l == "settings: tf32_matmul=on tf32_cudnn=on"), "{stdout}");
    let out = infer(&["info", p(&model), "--option", "tf32=yes"]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success() && stderr.contains("`tf32` is `yes`"), "{stderr}");
    let out = infer(&["info", p(&model), "--device", "cuda:0"]);
    let (stdout, stderr) = text(&out);
    if out.status.success() {
        assert!(stdout.lines().any(|l| l == "device:   cuda:0"), "{stdout}");
        assert!(stdout.lines().any(|l| l == "settings: tf32_matmul=off tf32_cudnn=off"), "{stdout}");
    } else {
        assert!(stderr.contains("cuda:0") && stderr.contains("CUDA not available"), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line:\n{stderr}");
    }
}

/// The arrays of a `.npz` archive by name.
fn read_npz(path: &Path) -> Vec<(String, infer_core::Tensor)> {
    use std::io::Read;
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let name = entry.name().unwrap().strip_suffix(".npy").unwrap().to_string();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            (name, infer_core::npy::parse_npy(&bytes).unwrap())
        })
        .collect()
}

#[test]
fn run_feeds_both_arguments_and_writes_every_output_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let (npz, npy) = (tmp.path().join("out.npz"), tmp.path().join("out.npy"));
    let (x, y) = (tiny("tiny_two_args.input_x.npy"), tiny("tiny_two_args.input_y.npy"));
    let (xa, ya) = (format!("x={}", p(&x)), format!("y={}", p(&y)));
    let out = infer(&["run", p(&tiny("tiny_two_args.pt")), "-i", &xa, "-i", &ya, "-o", p(&npz)]);
    ok(&out);
    let (_, stderr) = text(&out);
    assert!(stderr.contains("output output_0: f32 [2, 3]") && stderr.contains("output output_1: f32 [2]"), "{stderr}");
    let arrays = read_npz(&npz);
    assert_eq!(arrays.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["output_0", "output_1"]);
    for (name, got) in &arrays {
        let expected = infer_core::npy::read_npy(&tiny(&format!("tiny_two_args.{name}.npy"))).unwrap();
        assert_eq!(got.shape(), expected.shape(), "{name}");
        assert!(got.max_abs_diff(&expected).unwrap() < 1e-5, "{name}");
    }
    // `.npy` keeps writing the first output; inputs by position work as well.
    ok(&infer(&["run", p(&tiny("tiny_two_args.pt")), "-i", p(&x), "-i", p(&y), "-o", p(&npy)]));
    let first = infer_core::npy::read_npy(&npy).unwrap();
    assert_eq!(first, arrays[0].1);
}

/// `forward(x, mask: Optional[Tensor] = None)`: `info` says that `mask` may be left out; `run`
/// without it gets forward's default (`x * 2`), with it `x * mask`; giving too many is an error
/// that says which inputs are optional.
#[test]
fn an_argument_with_a_default_may_be_left_out() {
    let model = tiny("tiny_optional.pt");
    let stdout = ok(&infer(&["info", p(&model)]));
    let mask = stdout.lines().find(|l| l.trim_start().starts_with("mask:")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(mask.ends_with("may be left out for forward's default)  (batch axis 0)"), "{mask}");
    let x_line = stdout.lines().find(|l| l.trim_start().starts_with("x:")).unwrap();
    assert!(!x_line.contains("left out"), "{x_line}");

    let dir = tempfile::tempdir().unwrap();
    let (x, m) = (tiny("tiny_optional.input_x.npy"), tiny("tiny_optional.input_mask.npy"));
    let out = dir.path().join("y.npy");
    ok(&infer(&["run", p(&model), "-i", p(&x), "-o", p(&out)]));
    let want = infer_core::npy::read_npy(&tiny("tiny_optional.output_0.npy")).unwrap();
    assert_eq!(infer_core::npy::read_npy(&out).unwrap(), want);
    ok(&infer(&["run", p(&model), "-i", p(&x), "-i", &format!("mask={}", p(&m)), "-o", p(&out)]));
    let (xv, mv) = (infer_core::npy::read_npy(&x).unwrap(), infer_core::npy::read_npy(&m).unwrap());
    let masked: Vec<f32> =
        xv.as_slice::<f32>().unwrap().iter().zip(mv.as_slice::<f32>().unwrap()).map(|(a, b)| a * b).collect();
    assert_eq!(infer_core::npy::read_npy(&out).unwrap().as_slice::<f32>().unwrap(), masked.as_slice());
    let run = infer(&["run", p(&model), "-i", p(&x), "-i", p(&m), "-i", p(&m)]);
    let (_, stderr) = text(&run);
    assert!(!run.status.success() && stderr.contains("too many inputs: the model takes 2 (x, mask)"), "{stderr}");
}

/// `forward(x) -> Dict[str, Tensor]`: `info` says the outputs are known once it has run; `run`
/// names each output by its key and `-o out.npz` writes them under those names; `bench` checks a
/// `.npz` reference by key.
#[test]
fn a_dict_result_names_the_outputs_by_its_keys() {
    let model = tiny("tiny_dict.pt");
    let stdout = ok(&infer(&["info", p(&model)]));
    assert!(stdout.contains("outputs:\n  (unknown until run: forward returns `Dict[str, Tensor]`)"), "{stdout}");
    let dir = tempfile::tempdir().unwrap();
    let npz = dir.path().join("out.npz");
    let x = tiny("tiny_dict.input_x.npy");
    let out = infer(&["run", p(&model), "-i", p(&x), "-o", p(&npz)]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("output scaled: f32 [2, 3]") && stderr.contains("output shifted: f32 [2, 3]"), "{stderr}");
    let arrays = read_npz(&npz);
    assert_eq!(arrays.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["scaled", "shifted"]);
    for (name, got) in &arrays {
        let want = infer_core::npy::read_npy(&tiny(&format!("tiny_dict.output_{name}.npy"))).unwrap();
        assert_eq!(got, &want, "{name}");
    }
    // The run's own outputs as the reference of a bench: matched by key.
    let json = dir.path().join("bench.json");
    ok(&infer(&[
        "bench",
        p(&model),
        "--shape",
        "x=2x3",
        "--batch-sizes",
        "2",
        "--iterations",
        "2",
        "--reference-input",
        p(&x),
        "--reference-output",
        p(&npz),
        "--json",
        p(&json),
    ]));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["max_abs_diff"].as_f64(), Some(0.0), "{v}");
}

/// An argument that is not a tensor (`words: List[str]`) is listed by `info`; running without
/// its value is a one-line error naming the option (`tests/args_cli.rs` gives it).
#[test]
fn an_argument_that_is_not_a_tensor_needs_its_arg() {
    let stdout = ok(&infer(&["info", p(&tiny("tiny_list_str.pt"))]));
    assert!(stdout.contains("  words: List[str]  (required: give it with --arg words=VALUE)"), "{stdout}");
    let out = infer(&["run", p(&tiny("tiny_list_str.pt"))]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success(), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(
            "forward's argument `words` (List[str]) has no value and no default: give it with --arg words=VALUE"
        ),
        "{stderr}"
    );
}

/// A TorchScript module's token ids are drawn from the embedding table they index, as the graph
/// proves it (`aten::embedding` on a parameter), not from the small default.
#[test]
fn synthetic_ids_stay_inside_the_embedding_tables_the_graph_shows() {
    let model = tiny("tiny_embedding.pt");
    let out = infer(&[
        "bench",
        p(&model),
        "--shape",
        "input_ids=1x8",
        "--shape",
        "token_type_ids=1x8",
        "--iterations",
        "3",
        "--warmup",
        "0",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for line in [
        "input input_ids: i64 [0, 50) from the graph: aten::embedding on parameter `word_embeddings.weight` (50 rows)",
        "input token_type_ids: i64 [0, 2) from the graph: aten::embedding on parameter `token_type_embeddings.weight` (2 rows)",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
}
