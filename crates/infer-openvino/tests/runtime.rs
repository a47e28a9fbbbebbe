//! OpenVINO backend against real models: the committed tiny fixtures (ONNX, and the IR converted
//! from `tiny_cnn.onnx` by `tests/fixtures/make_ir.py`) and the generated ResNet-18
//! (`cargo xtask fixtures`), compared with the outputs their generators computed.
#![cfg(runtime_installed)]
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use infer_core::{Backend, DType, Device, Dim, Error, LoadOptions, Tensor, npy::read_npy};
use infer_openvino::OpenVinoBackend;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tiny(name: &str) -> PathBuf {
    root().join("fixtures/tiny").join(name)
}

/// This crate's own fixture (the IR of `tiny_cnn`).
fn own(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn load(path: &Path) -> Box<dyn infer_core::Session> {
    OpenVinoBackend.load(path, &LoadOptions::default()).unwrap()
}

#[test]
fn probe_finds_the_pinned_runtime() {
    let info = OpenVinoBackend.probe().unwrap();
    assert_eq!(info.runtime_version, infer_openvino::RUNTIME.version());
    assert_eq!(info.devices[0], Device::Cpu);
    let library = info.library.unwrap();
    assert!(library.is_file() && library.file_name().unwrap().to_str().unwrap().starts_with("libopenvino_c.so"));
}

#[test]
fn tiny_cnn_from_onnx_and_from_ir_matches_the_reference() {
    let x = read_npy(&tiny("tiny_cnn.input.npy")).unwrap();
    let expected = read_npy(&tiny("tiny_cnn.output.npy")).unwrap();
    for model in [tiny("tiny_cnn.onnx"), own("tiny_cnn.xml")] {
        let mut s = load(&model);
        let model = model.file_name().unwrap().to_string_lossy().into_owned();
        let input = &s.inputs()[0];
        assert_eq!((input.name.as_str(), input.dtype), ("image", DType::F32), "{model}");
        // OpenVINO keeps no names for dynamic dimensions: the ONNX file's are read from the file
        // (`--dim NAME=N` means the same axis on every backend); the IR has none.
        let shape = if model.ends_with(".onnx") { "[batch, 3, 8, 8]" } else { "[?, 3, 8, 8]" };
        assert_eq!(input.shape_string(), shape, "{model}");
        assert!(input.has_dynamic_batch());
        assert_eq!((s.outputs()[0].name.as_str(), s.outputs()[0].shape_string()), ("logits", "[?, 10]".into()));
        assert_eq!(s.info().parameters.unwrap().count, 162, "{model}");
        assert_eq!(s.device(), Device::Cpu);
        let y = s.run(std::slice::from_ref(&x)).unwrap();
        let diff = y[0].max_abs_diff(&expected).unwrap();
        assert!(diff < 1e-4, "{model}: max abs diff {diff}");
        // Any batch size, in any order: each row equals the row computed alone.
        let one = x.slice_rows(1, 2).unwrap();
        let y1 = s.run(&[one]).unwrap();
        assert!(y1[0].max_abs_diff(&expected.slice_rows(1, 2).unwrap()).unwrap() < 1e-4, "{model}");
        let five = Tensor::concat_rows(&[x.clone(), x.clone(), x.slice_rows(0, 1).unwrap()]).unwrap();
        let y5 = s.run(&[five]).unwrap();
        assert_eq!(y5[0].shape(), &[5, 10]);
        assert!(y5[0].slice_rows(2, 4).unwrap().max_abs_diff(&expected).unwrap() < 1e-4, "{model}");
    }
}

#[test]
fn two_inputs_of_different_dtypes() {
    let mut s = load(&tiny("two_inputs.onnx"));
    let names: Vec<_> = s.inputs().iter().map(|i| (i.name.as_str(), i.dtype)).collect();
    assert_eq!(names, [("a", DType::F32), ("b", DType::I64)]);
    let a = read_npy(&tiny("two_inputs.input_a.npy")).unwrap();
    let b = read_npy(&tiny("two_inputs.input_b.npy")).unwrap();
    let expected = read_npy(&tiny("two_inputs.output_sum.npy")).unwrap();
    let y = s.run(&[a.clone(), b.clone()]).unwrap();
    assert_eq!(y[0].max_abs_diff(&expected).unwrap(), 0.0);
    // Swapped inputs are a dtype error naming the input, not a crash.
    let err = s.run(&[b, a]).unwrap_err();
    assert_eq!(err.to_string(), "dtype mismatch for `a`: expected f32, got i64");
}

#[test]
fn fixed_and_dynamic_dims() {
    let mut s = load(&tiny("fixed_batch.onnx"));
    assert_eq!(s.inputs()[0].dims.as_deref().unwrap(), [Dim::Fixed(1), Dim::Fixed(4)]);
    let x = read_npy(&tiny("fixed_batch.input.npy")).unwrap();
    let expected = read_npy(&tiny("fixed_batch.output.npy")).unwrap();
    assert_eq!(s.run(std::slice::from_ref(&x)).unwrap()[0].max_abs_diff(&expected).unwrap(), 0.0);
    let two = Tensor::concat_rows(&[x.clone(), x]).unwrap();
    let err = s.run(&[two]).unwrap_err().to_string();
    assert_eq!(err, "shape mismatch for `x`: expected [1, 4], got [2, 4]");
    let mut s = load(&tiny("dynamic_dims.onnx"));
    let named = |n: &str| Dim::Dynamic(Some(n.into()));
    assert_eq!(s.inputs()[0].dims.as_deref().unwrap(), [named("batch"), named("seq")]);
    let x = read_npy(&tiny("dynamic_dims.input.npy")).unwrap();
    let expected = read_npy(&tiny("dynamic_dims.output.npy")).unwrap();
    assert_eq!(s.run(&[x]).unwrap()[0].max_abs_diff(&expected).unwrap(), 0.0);
    // Another sequence length in the same session.
    let y = s.run(&[Tensor::from_vec(vec![1, 3], vec![1.0f32, -2.0, 0.5]).unwrap()]).unwrap();
    assert_eq!(y[0].as_slice::<f32>().unwrap(), [2.0, -4.0, 1.0]);
}

#[test]
fn wrong_shape_count_and_dtype_are_clear_errors() {
    let mut s = load(&own("tiny_cnn.xml"));
    let err = s.run(&[Tensor::zeros(DType::F32, vec![1, 3, 9, 8]).unwrap()]).unwrap_err();
    assert_eq!(err.to_string(), "shape mismatch for `image`: expected [?, 3, 8, 8], got [1, 3, 9, 8]");
    let err = s.run(&[Tensor::zeros(DType::F64, vec![1, 3, 8, 8]).unwrap()]).unwrap_err();
    assert!(matches!(err, Error::DtypeMismatch { expected: DType::F32, actual: DType::F64, .. }), "{err}");
    assert!(err.to_string().contains("`image`"), "{err}");
    let err = s.run(&[]).unwrap_err();
    assert!(err.to_string().contains("takes 1 input(s) (image), got 0"), "{err}");
}

#[test]
fn hints_threads_and_precisions() {
    let x = read_npy(&tiny("tiny_cnn.input.npy")).unwrap();
    let expected = read_npy(&tiny("tiny_cnn.output.npy")).unwrap();
    for hint in ["latency", "throughput"] {
        let opts = LoadOptions { intra_threads: 1, ..LoadOptions::default() }.with_option("hint", hint);
        let mut s = OpenVinoBackend.load(&tiny("tiny_cnn.onnx"), &opts).unwrap();
        assert!(s.run(std::slice::from_ref(&x)).unwrap()[0].max_abs_diff(&expected).unwrap() < 1e-4, "{hint}");
    }
    // bf16 and f16 run where the CPU has them, and are a clear error where it does not.
    for precision in ["bf16", "f16"] {
        let opts = LoadOptions::default().with_option("precision", precision);
        match OpenVinoBackend.load(&tiny("tiny_cnn.onnx"), &opts) {
            Ok(mut s) => {
                let diff = s.run(std::slice::from_ref(&x)).unwrap()[0].max_abs_diff(&expected).unwrap();
                assert!(diff < 0.1, "{precision}: max abs diff {diff}");
            }
            Err(e) => {
                let e = e.to_string();
                assert!(e.contains(&format!("precision {precision} is not available on this CPU")), "{e}");
                assert!(e.contains("use precision=f32"), "{e}");
            }
        }
    }
}

#[test]
fn gpu_is_a_clear_error_unless_fallback() {
    // The first GPU index OpenVINO does not list (0 on a machine without one): always absent.
    let listed = OpenVinoBackend.probe().unwrap().devices.iter().filter(|d| d.is_gpu()).count();
    let opts = LoadOptions { device: Device::Cuda(listed), ..LoadOptions::default() };
    let err = OpenVinoBackend.load(&tiny("tiny_cnn.onnx"), &opts).err().unwrap();
    assert!(matches!(err, Error::DeviceUnavailable { .. }), "{err}");
    assert!(err.to_string().contains(&format!("OpenVINO lists no GPU {listed} here (devices: CPU")), "{err}");
    let s = OpenVinoBackend.load(&tiny("tiny_cnn.onnx"), &LoadOptions { fallback_to_cpu: true, ..opts }).unwrap();
    assert_eq!(s.device(), Device::Cpu);
}

#[test]
fn bad_model_files_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let load_err = |p: &Path| OpenVinoBackend.load(p, &LoadOptions::default()).err().unwrap().to_string();
    let err = load_err(&dir.path().join("missing.onnx"));
    assert!(err.contains("missing.onnx") && err.contains("cannot read"), "{err}");
    // Truncated files: the IR's XML and its weights, with OpenVINO's reasons (a truncated ONNX
    // file and IR, named: the conformance suite, tests/conformance.rs).
    let xml = std::fs::read_to_string(own("tiny_cnn.xml")).unwrap();
    let bin = std::fs::read(own("tiny_cnn.bin")).unwrap();
    let cut_xml = dir.path().join("cut.xml");
    std::fs::write(&cut_xml, &xml[..xml.len() / 2]).unwrap();
    std::fs::write(dir.path().join("cut.bin"), &bin).unwrap();
    let err = load_err(&cut_xml);
    assert!(err.contains("cut.xml") && err.contains("not an OpenVINO IR (invalid XML"), "{err}");
    let short = dir.path().join("short.xml");
    std::fs::write(&short, &xml).unwrap();
    std::fs::write(dir.path().join("short.bin"), &bin[..100]).unwrap();
    let err = load_err(&short);
    assert!(err.contains("short.bin") && err.contains("need 680 bytes, the file has 100"), "{err}");
    // Not a model at all, under a model's name.
    let text = dir.path().join("notes.onnx");
    std::fs::write(&text, "hello").unwrap();
    assert!(load_err(&text).contains("notes.onnx"));
}

#[test]
fn op_profile_places_every_executed_node_in_its_run() {
    let opts = LoadOptions { profile_prefix: Some(std::env::temp_dir().join("unused")), ..LoadOptions::default() };
    let mut s = OpenVinoBackend.load(&tiny("tiny_cnn.onnx"), &opts).unwrap();
    let x = read_npy(&tiny("tiny_cnn.input.npy")).unwrap();
    let t = std::time::Instant::now();
    for _ in 0..4 {
        s.run(std::slice::from_ref(&x)).unwrap();
    }
    let wall_us = t.elapsed().as_secs_f64() * 1e6;
    let p = s.op_profile().unwrap();
    assert_eq!((p.backend.as_str(), p.runs), ("openvino", 4));
    assert!(p.source.contains("performance counters"), "{}", p.source);
    let types: std::collections::BTreeSet<&str> = p.events.iter().map(|e| e.op_type.as_str()).collect();
    assert!(types.contains("Convolution"), "{types:?}");
    for run in 0..4 {
        assert!(p.events.iter().any(|e| e.run == Some(run) && e.op_type == "Convolution"), "run {run}");
    }
    // The counters' microseconds are the runs' own: no node outlasts the four runs together.
    assert!(p.total_us() > 0.0 && p.events.iter().all(|e| e.duration_us.is_finite() && e.duration_us <= wall_us));
    // Read once: a second call says profiling is over; a session without it says so too.
    assert!(s.op_profile().unwrap_err().to_string().contains("profiling was not enabled"));
    let mut plain = load(&tiny("tiny_cnn.onnx"));
    assert!(plain.op_profile().unwrap_err().to_string().contains("profiling was not enabled"));
}

#[test]
fn run_staged_reports_the_three_stages() {
    let mut s = load(&tiny("tiny_cnn.onnx"));
    let x = read_npy(&tiny("tiny_cnn.input.npy")).unwrap();
    let t = std::time::Instant::now();
    let (y, stages) = s.run_staged(&[x]).unwrap();
    let wall = t.elapsed().as_secs_f64();
    assert!(y[0].max_abs_diff(&read_npy(&tiny("tiny_cnn.output.npy")).unwrap()).unwrap() < 1e-4);
    let st = stages.unwrap();
    assert!(st.compute_s > 0.0 && st.bind_s + st.compute_s + st.fetch_s <= wall, "{st:?} in {wall} s");
}

/// The generated ResNet-18 (`cargo xtask fixtures`) at f32: parity with the PyTorch reference.
#[test]
fn resnet18_onnx_matches_the_reference() {
    let dir = root().join("fixtures/generated/resnet18");
    assert!(dir.join("model.onnx").is_file(), "{} missing: run `cargo xtask fixtures`", dir.display());
    let mut s = load(&dir.join("model.onnx"));
    // The ONNX export folds the batch norms into the convolutions: fewer than torch's 11 689 512.
    assert_eq!(s.info().parameters.unwrap().count, 11_684_712);
    let x = read_npy(&dir.join("input.npy")).unwrap();
    let expected = read_npy(&dir.join("reference_torch.npy")).unwrap();
    let y = s.run(&[x]).unwrap();
    assert_eq!(y[0].shape(), expected.shape());
    let diff = y[0].max_abs_diff(&expected).unwrap();
    assert!(diff < 1e-4, "max abs diff {diff}");
}
