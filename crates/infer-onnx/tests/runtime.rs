//! ONNX Runtime backend against real models: the committed tiny fixtures and the generated
//! ResNet-18 (`cargo xtask fixtures`), compared with the outputs their generators computed.
#![cfg(runtime_installed)]
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use infer_core::{Backend, DType, Device, Dim, Error, LoadOptions, Tensor, npy::read_npy};
use infer_onnx::OnnxBackend;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tiny(name: &str) -> PathBuf {
    root().join("fixtures/tiny").join(name)
}

fn load(path: &Path) -> Box<dyn infer_core::Session> {
    OnnxBackend.load(path, &LoadOptions::default()).unwrap()
}

#[test]
fn probe_finds_the_pinned_runtime() {
    let info = OnnxBackend.probe().unwrap();
    assert_eq!(info.runtime_version, infer_onnx::RUNTIME.version());
    assert!(info.devices.contains(&Device::Cpu));
    assert!(info.library.unwrap().is_file());
}

#[test]
fn tiny_cnn_matches_reference_and_reports_dynamic_batch() {
    let mut s = load(&tiny("tiny_cnn.onnx"));
    let input = &s.inputs()[0];
    assert_eq!(input.name, "image");
    assert_eq!(input.dtype, DType::F32);
    assert_eq!(input.dims.as_deref().unwrap()[0], Dim::Dynamic(Some("batch".into())));
    assert_eq!(input.shape_string(), "[batch, 3, 8, 8]");
    assert_eq!(s.outputs()[0].name, "logits");
    assert_eq!(s.info().parameters.unwrap().count, 162);
    let x = read_npy(&tiny("tiny_cnn.input.npy")).unwrap();
    let expected = read_npy(&tiny("tiny_cnn.output.npy")).unwrap();
    let y = s.run(std::slice::from_ref(&x)).unwrap();
    assert!(y[0].max_abs_diff(&expected).unwrap() < 1e-5);
    // Batches of any size: each row equals the row computed alone.
    let one = x.slice_rows(1, 2).unwrap();
    let y1 = s.run(&[one]).unwrap();
    assert!(y1[0].max_abs_diff(&expected.slice_rows(1, 2).unwrap()).unwrap() < 1e-5);
    let five = Tensor::concat_rows(&[x.clone(), x.clone(), x.slice_rows(0, 1).unwrap()]).unwrap();
    assert_eq!(s.run(&[five]).unwrap()[0].shape(), &[5, 10]);
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
fn wrong_shape_count_and_dtype_are_clear_errors() {
    let mut s = load(&tiny("tiny_cnn.onnx"));
    let err = s.run(&[Tensor::zeros(DType::F32, vec![1, 3, 9, 8]).unwrap()]).unwrap_err();
    assert_eq!(err.to_string(), "shape mismatch for `image`: expected [batch, 3, 8, 8], got [1, 3, 9, 8]");
    let err = s.run(&[Tensor::zeros(DType::F64, vec![1, 3, 8, 8]).unwrap()]).unwrap_err();
    assert!(matches!(err, Error::DtypeMismatch { expected: DType::F32, actual: DType::F64, .. }));
    let err = s.run(&[]).unwrap_err();
    assert!(err.to_string().contains("takes 1 input(s) (image), got 0"), "{err}");
}

#[test]
fn fixed_and_symbolic_dims() {
    let s = load(&tiny("fixed_batch.onnx"));
    assert_eq!(s.inputs()[0].dims.as_deref().unwrap(), [Dim::Fixed(1), Dim::Fixed(4)]);
    assert!(!s.inputs()[0].has_dynamic_batch());
    let mut s = load(&tiny("dynamic_dims.onnx"));
    assert_eq!(s.inputs()[0].shape_string(), "[batch, seq]");
    let x = read_npy(&tiny("dynamic_dims.input.npy")).unwrap();
    let expected = read_npy(&tiny("dynamic_dims.output.npy")).unwrap();
    assert_eq!(s.run(&[x]).unwrap()[0].max_abs_diff(&expected).unwrap(), 0.0);
}

#[test]
fn optimization_levels_and_threads_give_the_same_answer() {
    let x = read_npy(&tiny("tiny_cnn.input.npy")).unwrap();
    let expected = read_npy(&tiny("tiny_cnn.output.npy")).unwrap();
    for level in ["none", "basic", "extended", "all"] {
        let opts = LoadOptions { optimization: level.parse().unwrap(), intra_threads: 1, ..LoadOptions::default() };
        let mut s = OnnxBackend.load(&tiny("tiny_cnn.onnx"), &opts).unwrap();
        assert!(s.run(std::slice::from_ref(&x)).unwrap()[0].max_abs_diff(&expected).unwrap() < 1e-5, "{level}");
    }
}

#[test]
fn cuda_is_a_clear_error_unless_fallback() {
    let opts = LoadOptions { device: Device::Cuda(0), ..LoadOptions::default() };
    let err = OnnxBackend.load(&tiny("tiny_cnn.onnx"), &opts).err().expect("no CUDA EP in the CPU wheel");
    assert!(matches!(err, Error::DeviceUnavailable { .. }), "{err}");
    assert!(err.to_string().contains("CUDA not available"), "{err}");
    let opts = LoadOptions { fallback_to_cpu: true, ..opts };
    let s = OnnxBackend.load(&tiny("tiny_cnn.onnx"), &opts).unwrap();
    assert_eq!(s.device(), Device::Cpu);
}

#[test]
fn bad_model_files_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.onnx");
    let err = OnnxBackend.load(&missing, &LoadOptions::default()).err().unwrap().to_string();
    assert!(err.contains("missing.onnx") && err.contains("cannot read"), "{err}");
    let empty = dir.path().join("empty.onnx");
    std::fs::write(&empty, b"").unwrap();
    let err = OnnxBackend.load(&empty, &LoadOptions::default()).err().unwrap().to_string();
    assert!(err.contains("empty.onnx") && err.contains("empty"), "{err}");
    let noise = dir.path().join("noise.onnx");
    std::fs::write(&noise, (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<_>>())
        .unwrap();
    let err = OnnxBackend.load(&noise, &LoadOptions::default()).err().unwrap().to_string();
    assert!(err.contains("noise.onnx") && err.contains("not an ONNX model"), "{err}");
    // A truncated file: the conformance suite (tests/conformance.rs, `truncated_file`).
}

/// The generated ResNet-18 (random weights) reproduces PyTorch's output within 1e-4.
#[test]
fn resnet18_matches_the_pytorch_reference() {
    let dir = root().join("fixtures/generated/resnet18");
    assert!(dir.join("meta.json").is_file(), "{} missing: run `cargo xtask fixtures`", dir.display());
    let mut s = load(&dir.join("model.onnx"));
    assert_eq!(s.inputs()[0].shape_string(), "[batch, 3, 224, 224]");
    assert_eq!(s.outputs()[0].shape_string(), "[batch, 1000]");
    // torchvision counts 11,689,512; the exporter folds each of the 4,800 BatchNorm channels'
    // scale and shift into its convolution's weight and a new bias: one parameter fewer each.
    assert_eq!(s.info().parameters.unwrap().count, 11_689_512 - 4_800);
    let x = read_npy(&dir.join("input.npy")).unwrap();
    let expected = read_npy(&dir.join("reference_torch.npy")).unwrap();
    let y = s.run(&[x]).unwrap();
    let diff = y[0].max_abs_diff(&expected).unwrap();
    assert!(diff < 1e-4, "max abs diff {diff}");
    // The reference is not degenerate: the two images get different logits.
    let rows = expected.to_f64_vec();
    assert!(rows[..1000].iter().zip(&rows[1000..]).any(|(a, b)| (a - b).abs() > 1e-3));
}

fn profiled(path: &Path, prefix: &Path) -> Box<dyn infer_core::Session> {
    let opts = LoadOptions { profile_prefix: Some(prefix.to_path_buf()), ..LoadOptions::default() };
    OnnxBackend.load(path, &opts).unwrap()
}

#[test]
fn op_profile_of_the_tiny_cnn_covers_every_run_and_node() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = profiled(&tiny("tiny_cnn.onnx"), &dir.path().join("tiny"));
    let x = read_npy(&tiny("tiny_cnn.input.npy")).unwrap();
    let t = std::time::Instant::now();
    for _ in 0..3 {
        s.run(std::slice::from_ref(&x)).unwrap();
    }
    let wall_us = t.elapsed().as_secs_f64() * 1e6;
    let p = s.op_profile().unwrap();
    assert_eq!(p.backend, "onnx");
    assert_eq!(p.runs, 3);
    assert!(p.source.contains(dir.path().to_str().unwrap()), "{}", p.source);
    // Every node runs once per call, so the event count is a multiple of the run count.
    assert!(!p.events.is_empty() && p.events.len().is_multiple_of(3), "{} events", p.events.len());
    assert!(p.events.iter().any(|e| e.op_type == "Conv"), "{:?}", p.events);
    assert!(p.events.iter().all(|e| e.calls == 1 && !e.node.is_empty()));
    // The profiler's microseconds are the calls' own: no event outlasts the three runs, and the
    // sequential executor's events add up to less than them (a unit mix-up would not).
    assert!(p.events.iter().all(|e| e.duration_us.is_finite() && e.duration_us <= wall_us), "{:?}", p.events);
    assert!(p.total_us() > 0.0 && p.total_us() <= wall_us, "{} us of ops in {wall_us} us", p.total_us());
    // Each event is placed in its run, and each run has the same nodes.
    for run in 0..3 {
        assert_eq!(p.events.iter().filter(|e| e.run == Some(run)).count(), p.events.len() / 3, "run {run}");
    }
    // The profiler is off now: a second end is an error, not a crash.
    assert!(s.op_profile().unwrap_err().to_string().contains("profiling was not enabled"));
}

#[test]
fn op_profile_needs_profiling_enabled() {
    let mut s = load(&tiny("tiny_cnn.onnx"));
    let err = s.op_profile().unwrap_err().to_string();
    assert!(err.contains("profiling was not enabled"), "{err}");
}

#[test]
fn staged_run_returns_the_same_outputs_and_its_stages() {
    let mut s = load(&tiny("tiny_cnn.onnx"));
    let x = read_npy(&tiny("tiny_cnn.input.npy")).unwrap();
    let expected = read_npy(&tiny("tiny_cnn.output.npy")).unwrap();
    let t = std::time::Instant::now();
    let (y, stages) = s.run_staged(std::slice::from_ref(&x)).unwrap();
    let wall = t.elapsed().as_secs_f64();
    assert!(y[0].max_abs_diff(&expected).unwrap() < 1e-5);
    let st = stages.expect("the onnx backend separates its stages");
    let sum = st.bind_s + st.compute_s + st.fetch_s;
    // Computing is most of the call, and the three stages are parts of it.
    assert!(st.compute_s > 0.0 && st.compute_s >= st.bind_s.max(st.fetch_s), "{st:?}");
    assert!(sum <= wall, "stages {sum} s exceed the call's wall time {wall} s");
    // Bad inputs fail in the same way as run.
    let err = s.run_staged(&[]).unwrap_err().to_string();
    assert!(err.contains("takes 1 input(s)"), "{err}");
}

/// On ResNet-18 every one of the 20 convolutions is in every run, and the operator times are
/// a whole: none negative, each run's events the same nodes.
#[test]
fn resnet18_profile_has_every_convolution_in_every_run() {
    let fixture = root().join("fixtures/generated/resnet18");
    assert!(fixture.join("meta.json").is_file(), "{} missing: run `cargo xtask fixtures`", fixture.display());
    let dir = tempfile::tempdir().unwrap();
    let mut s = profiled(&fixture.join("model.onnx"), &dir.path().join("r18"));
    let x = Tensor::zeros(DType::F32, vec![1, 3, 224, 224]).unwrap();
    let t = std::time::Instant::now();
    for _ in 0..2 {
        s.run(std::slice::from_ref(&x)).unwrap();
    }
    let wall_us = t.elapsed().as_secs_f64() * 1e6;
    let p = s.op_profile().unwrap();
    assert_eq!(p.runs, 2);
    assert!(p.events.iter().all(|e| e.calls == 1 && e.run.is_some_and(|r| r < 2)));
    assert!(p.total_us() > 0.0 && p.total_us() <= wall_us, "{} us of ops in {wall_us} us", p.total_us());
    for run in 0..2 {
        let convs = p.events.iter().filter(|e| e.run == Some(run) && e.op_type.contains("Conv")).count();
        assert_eq!(convs, 20, "run {run}");
    }
    let nodes = |run| {
        let mut n: Vec<&str> = p.events.iter().filter(|e| e.run == Some(run)).map(|e| e.node.as_str()).collect();
        n.sort_unstable();
        n
    };
    assert_eq!(nodes(0), nodes(1));
}

/// A graph input or output that the file gives no shape (no `shape` field, not even a rank) is of
/// unknown rank: ONNX Runtime reports it as a scalar `[]`, which would refuse every real input.
#[test]
fn a_value_without_a_shape_is_of_unknown_rank_not_a_scalar() {
    use infer_onnx_proto::proto::{
        GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TypeProto, TypeTensor, TypeValue, ValueInfoProto,
    };
    use prost::Message;
    let value = |name: &str, shape| ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto { value: Some(TypeValue::TensorType(TypeTensor { elem_type: 1, shape })) }),
    };
    let relu = |shape: Option<infer_onnx_proto::proto::TensorShapeProto>| ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
        graph: Some(GraphProto {
            node: vec![NodeProto {
                op_type: "Relu".into(),
                input: vec!["x".into()],
                output: vec!["y".into()],
                ..Default::default()
            }],
            input: vec![value("x", shape.clone())],
            output: vec![value("y", shape)],
            ..Default::default()
        }),
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("unranked.onnx");
    std::fs::write(&path, relu(None).encode_to_vec()).unwrap();
    let mut s = load(&path);
    assert_eq!((s.inputs()[0].dims.clone(), s.outputs()[0].dims.clone()), (None, None));
    let x = Tensor::from_vec(vec![2, 3], vec![-1.0f32, 2.0, -3.0, 4.0, -5.0, 6.0]).unwrap();
    let y = s.run(std::slice::from_ref(&x)).unwrap();
    assert_eq!(y[0].as_slice::<f32>().unwrap(), [0.0, 2.0, 0.0, 4.0, 0.0, 6.0]);
    // A real scalar (a shape with no dimensions) stays one.
    let scalar = dir.path().join("scalar.onnx");
    std::fs::write(&scalar, relu(Some(infer_onnx_proto::proto::TensorShapeProto::default())).encode_to_vec()).unwrap();
    assert_eq!(load(&scalar).inputs()[0].dims, Some(Vec::new()));
}
