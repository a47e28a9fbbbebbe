//! Each process maps the runtime it uses and no other: `infer info` on an ONNX model maps ONNX
//! Runtime and no other backend's runtime (each backend's declared library); a command on a TorchScript model
//! runs in `infer-torch-worker`, which maps libtorch; a SavedModel maps TensorFlow only when it is
//! used; every child of `infer compare` maps only its row's runtime. Read from each process's own
//! `/proc/self/maps`, written when its command ends (the hidden `INFER_TEST_MAPS` hook of debug
//! builds), so a library opened late is seen too.
#![cfg(installed_onnx)]
#![allow(clippy::unwrap_used)]

mod support;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use support::{p, root, text, tiny, tiny_fixture};

/// The libraries each runtime maps (a name part of the file).
const ONNX: &str = "libonnxruntime";
const TORCH: &str = "libtorch_cpu";
const TF: &str = "libtensorflow";

/// The library of every registered backend that declares a native runtime, by backend name: the
/// file name of its declared library without `.so` (`libonnxruntime`, `libopenvino_c`).
fn libraries() -> Vec<(&'static str, String)> {
    support::registry()
        .iter()
        .filter_map(|b| {
            let lib = b.runtime()?.library;
            let file = lib.rsplit('/').next().unwrap_or(lib);
            Some((b.name(), file.trim_end_matches(".so").to_string()))
        })
        .collect()
}

/// Every declared library but those of `backends`.
fn others(backends: &[&str]) -> Vec<String> {
    libraries().into_iter().filter(|(b, _)| !backends.contains(b)).map(|(_, l)| l).collect()
}

/// Runs `infer ARGS` with the maps hook writing into `dir`; returns the output and the pid.
fn infer_mapped_pid(dir: &Path, args: &[&str]) -> (Output, u32) {
    let child = Command::new(env!("CARGO_BIN_EXE_infer"))
        .args(args)
        .env("INFER_TEST_MAPS", dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    (child.wait_with_output().unwrap(), pid)
}

/// Runs `infer ARGS` with the maps hook writing into `dir`; returns the output.
fn infer_mapped(dir: &Path, args: &[&str]) -> Output {
    infer_mapped_pid(dir, args).0
}

/// Every maps file written into `dir`: (file name, content).
fn maps(dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "maps"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    out.sort();
    out
}

/// The one process's maps written into `dir`, which must come from `exe`.
fn only_maps(dir: &Path, exe: &str) -> String {
    let all = maps(dir);
    assert_eq!(all.len(), 1, "one process expected: {:?}", all.iter().map(|m| &m.0).collect::<Vec<_>>());
    let (name, content) = all.into_iter().next().unwrap();
    assert!(name.starts_with(&format!("{exe}-")), "{name} is not from {exe}");
    content
}

fn assert_maps<S: AsRef<str>>(what: &str, content: &str, present: &[&str], absent: &[S]) {
    for lib in present {
        assert!(content.contains(lib), "{what} did not map {lib}");
    }
    for lib in absent.iter().map(AsRef::as_ref) {
        let line = content.lines().find(|l| l.contains(lib));
        assert!(line.is_none(), "{what} mapped {lib}: {}", line.unwrap_or_default());
    }
}

fn ok(out: &Output, what: &str) {
    let (stdout, stderr) = text(out);
    assert!(out.status.success(), "{what} failed:\n{stdout}\n{stderr}");
}

#[test]
fn info_on_an_onnx_model_maps_onnx_runtime_only() {
    let dir = tempfile::tempdir().unwrap();
    let out = infer_mapped(dir.path(), &["info", p(&tiny("tiny_cnn.onnx"))]);
    ok(&out, "infer info tiny_cnn.onnx");
    assert!(text(&out).0.contains("parameters: 162"), "{}", text(&out).0);
    let content = only_maps(dir.path(), "infer");
    assert_maps("`infer info tiny_cnn.onnx`", &content, &[ONNX], &[others(&["onnx"]), vec!["libc10".into()]].concat());
}

/// `infer backends` asks the torch worker in a process of its own: `infer` still maps no libtorch.
#[test]
fn backends_maps_no_libtorch_in_infer() {
    let dir = tempfile::tempdir().unwrap();
    let out = infer_mapped(dir.path(), &["backends"]);
    ok(&out, "infer backends");
    let infer_maps: Vec<_> = maps(dir.path()).into_iter().filter(|(n, _)| n.starts_with("infer-")).collect();
    let infer_maps: Vec<_> = infer_maps.into_iter().filter(|(n, _)| !n.starts_with("infer-torch-worker")).collect();
    assert_eq!(infer_maps.len(), 1, "{:?}", infer_maps.iter().map(|m| &m.0).collect::<Vec<_>>());
    assert_maps("`infer backends`", &infer_maps[0].1, &[], &[TORCH, "libc10"]);
}

#[cfg(installed_torch)]
#[test]
fn torch_commands_run_in_the_worker_which_maps_libtorch_only() {
    let model = tiny("tiny_two_args.pt");
    let dir = tempfile::tempdir().unwrap();
    let out = infer_mapped(dir.path(), &["info", p(&model)]);
    ok(&out, "infer info tiny_two_args.pt");
    assert!(text(&out).0.contains("backend:  torch 2.11.0"), "{}", text(&out).0);
    // `infer` replaced itself with the worker (same process): one maps file, the worker's.
    let content = only_maps(dir.path(), "infer-torch-worker");
    assert_maps("`infer info tiny_two_args.pt`", &content, &[TORCH], &others(&["torch"]));

    // run and bench from the same plain `infer`, on the committed inputs and output.
    let tmp = tempfile::tempdir().unwrap();
    let (x, y) = (tiny("tiny_two_args.input_x.npy"), tiny("tiny_two_args.input_y.npy"));
    let got = tmp.path().join("out.npy");
    ok(&support::infer(&["run", p(&model), "-i", p(&x), "-i", p(&y), "-o", p(&got)]), "infer run tiny_two_args.pt");
    let expected = infer_core::npy::read_npy(&tiny("tiny_two_args.output_0.npy")).unwrap();
    let written: Vec<PathBuf> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().path()).collect();
    let first =
        written.iter().find(|w| p(w).contains("output_0") || **w == got).unwrap_or_else(|| panic!("{written:?}"));
    let diff = infer_core::npy::read_npy(first).unwrap().max_abs_diff(&expected).unwrap();
    assert!(diff < 1e-6, "max abs diff {diff}");
    let json = tmp.path().join("bench.json");
    let args = ["bench", p(&model), "-i", p(&x), "-i", p(&y), "--batch-sizes", "1", "--iterations", "3"];
    let out = support::infer(&[&args[..], &["--quiet", "--json", p(&json)]].concat());
    ok(&out, "infer bench tiny_two_args.pt");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["backend"], "torch", "{v}");
}

/// TensorFlow is opened when a SavedModel is loaded, not before.
#[cfg(installed_tf)]
#[test]
fn a_savedmodel_maps_tensorflow_and_no_libtorch() {
    let model = root().join("fixtures/generated/resnet18/saved_model");
    assert!(model.is_dir(), "{} missing: run `cargo xtask fixtures`", model.display());
    let dir = tempfile::tempdir().unwrap();
    let out = infer_mapped(dir.path(), &["info", p(&model)]);
    ok(&out, "infer info saved_model");
    let content = only_maps(dir.path(), "infer");
    assert_maps("`infer info saved_model`", &content, &[TF], &others(&["tf"]));
}

/// Every measurement child of `infer compare` maps its own runtime only (the parent, which
/// probes every backend to plan the rows, measures nothing).
#[test]
fn compare_children_map_their_own_runtime_only() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = tiny_fixture(dir.path());
    let maps_dir = dir.path().join("maps");
    std::fs::create_dir(&maps_dir).unwrap();
    let out_dir: PathBuf = dir.path().join("out");
    let args = ["compare", p(&fixture), "-d", "cpu", "--batch-sizes", "1", "--iterations", "3", "--rounds", "1"];
    let (out, parent) =
        infer_mapped_pid(&maps_dir, &[&args[..], &["--profile-runs", "0", "--out", p(&out_dir)]].concat());
    ok(&out, "infer compare");
    let parent = format!("infer-{parent}.maps");
    let all: Vec<_> = maps(&maps_dir).into_iter().filter(|(n, _)| *n != parent).collect();
    // A child per backend that reads ONNX, each mapping its own runtime's library and no other.
    let with = |lib: &str| all.iter().filter(|(_, c)| c.contains(lib)).count();
    assert!(with(ONNX) >= 1, "no child mapped ONNX Runtime: {:?}", all.iter().map(|m| &m.0).collect::<Vec<_>>());
    let libs = libraries();
    for backend in support::readers_of("onnx") {
        if let Some((_, lib)) = libs.iter().find(|(b, _)| *b == backend) {
            assert!(with(lib) >= 1, "no child mapped {lib} ({backend})");
        }
    }
    for (name, content) in &all {
        assert_maps(name, content, &[], &[TORCH, "libc10", TF]);
        let mapped: Vec<&String> = libs.iter().map(|(_, l)| l).filter(|l| content.contains(l.as_str())).collect();
        assert!(mapped.len() <= 1, "{name} mapped several runtimes: {mapped:?}");
    }
}

/// A torch row of `infer compare` is measured by `infer-torch-worker` children, which map
/// libtorch and no other runtime; the parent `infer` maps no libtorch.
#[cfg(installed_torch)]
#[test]
fn compare_measures_torch_rows_in_the_worker() {
    let generated = root().join("fixtures/generated/resnet18");
    assert!(
        generated.join("model.torchscript.pt").is_file(),
        "{} missing: run `cargo xtask fixtures`",
        generated.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let fixture = dir.path().join("fixture");
    std::fs::create_dir(&fixture).unwrap();
    for f in ["model.torchscript.pt", "model.torchscript.json", "input.npy", "reference_torch.npy"] {
        std::os::unix::fs::symlink(generated.join(f), fixture.join(f)).unwrap();
    }
    std::fs::write(
        fixture.join("meta.json"),
        r#"{"model": "resnet18", "input": {"file": "input.npy"},
            "formats": {"torchscript": {"file": "model.torchscript.pt", "reference": "reference_torch.npy"}}}"#,
    )
    .unwrap();
    let maps_dir = dir.path().join("maps");
    std::fs::create_dir(&maps_dir).unwrap();
    let out_dir = dir.path().join("out");
    let args = ["compare", p(&fixture), "-d", "cpu", "--batch-sizes", "1", "--iterations", "3", "--warmup", "1"];
    let (out, parent) = infer_mapped_pid(
        &maps_dir,
        &[&args[..], &["--rounds", "1", "--profile-runs", "0", "--out", p(&out_dir)]].concat(),
    );
    ok(&out, "infer compare (torchscript)");
    let torch_rows: Vec<String> =
        text(&out).0.lines().filter(|l| support::row_of(l, "torch", "cpu").is_some()).map(String::from).collect();
    assert!(torch_rows.len() == 1 && support::ends_ok(&torch_rows[0]), "{}", text(&out).0);
    let all = maps(&maps_dir);
    let parent = format!("infer-{parent}.maps");
    let (parents, children): (Vec<_>, Vec<_>) = all.into_iter().partition(|(n, _)| *n == parent);
    assert_eq!(parents.len(), 1, "the parent wrote no maps");
    assert_maps("the parent `infer compare`", &parents[0].1, &[], &[TORCH, "libc10"]);
    assert!(!children.is_empty(), "no child wrote its maps");
    for (name, content) in &children {
        assert!(name.starts_with("infer-torch-worker-"), "{name}: a torch row measured outside the worker");
        assert_maps(name, content, &[TORCH], &others(&["torch"]));
    }
}
