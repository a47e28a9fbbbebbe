//! TensorFlow backend against real models: the generated `tiny_keras` model and ResNet-50
//! (`cargo xtask fixtures`), compared with the outputs Python computed.
#![cfg(runtime_installed)]
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use infer_core::{Backend, DType, Device, Dim, Error, LoadOptions, Session, npy::read_npy};
use infer_tf::TfBackend;

fn generated(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/generated").join(name);
    assert!(dir.join("meta.json").is_file(), "{} missing: run `cargo xtask fixtures`", dir.display());
    dir
}

fn tiny() -> PathBuf {
    generated("tiny_keras")
}

fn load(path: &Path) -> Box<dyn Session> {
    TfBackend.load(path, &LoadOptions::default()).unwrap()
}

/// A copy of a file in a fresh folder, so the Keras cache is made from scratch.
fn copy_to_tempdir(file: &Path) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join(file.file_name().unwrap());
    std::fs::copy(file, &to).unwrap();
    (dir, to)
}

#[test]
fn probe_reports_the_wheel_version_and_cpu_only() {
    let info = TfBackend.probe().unwrap();
    assert_eq!(info.runtime_version, "2.21.0");
    assert_eq!(info.devices, [Device::Cpu]);
    assert!(info.library.unwrap().is_file());
}

#[test]
fn tiny_savedmodel_matches_keras_with_dynamic_batch() {
    let mut s = load(&tiny().join("saved_model"));
    let input = &s.inputs()[0];
    assert_eq!(input.name, "image");
    assert_eq!(input.dtype, DType::F32);
    assert_eq!(input.dims.as_deref().unwrap(), [Dim::Dynamic(None), Dim::Fixed(8), Dim::Fixed(8), Dim::Fixed(3)]);
    assert_eq!(s.outputs()[0].shape_string(), "[?, 5]");
    let x = read_npy(&tiny().join("input.npy")).unwrap();
    let expected = read_npy(&tiny().join("output.npy")).unwrap();
    let y = s.run(std::slice::from_ref(&x)).unwrap();
    assert_eq!(y[0].shape(), &[3, 5]);
    assert!(y[0].max_abs_diff(&expected).unwrap() < 1e-5);
    let one = s.run(&[x.slice_rows(2, 3).unwrap()]).unwrap();
    assert!(one[0].max_abs_diff(&expected.slice_rows(2, 3).unwrap()).unwrap() < 1e-5);
    // Wrong shape and dtype are errors naming the input, not crashes.
    let err = s.run(&[infer_core::Tensor::zeros(DType::F32, vec![1, 3, 8, 8]).unwrap()]).unwrap_err();
    assert_eq!(err.to_string(), "shape mismatch for `image`: expected [?, 8, 8, 3], got [1, 3, 8, 8]");
    let err = s.run(&[infer_core::Tensor::zeros(DType::F64, vec![1, 8, 8, 3]).unwrap()]).unwrap_err();
    assert!(matches!(err, Error::DtypeMismatch { expected: DType::F32, actual: DType::F64, .. }), "{err}");
}

#[test]
fn every_signature_is_listed_and_another_can_be_chosen() {
    let s = load(&tiny().join("saved_model"));
    let sigs: Vec<(&str, bool)> = s.info().signatures.iter().map(|g| (g.name.as_str(), g.in_use)).collect();
    assert_eq!(sigs, [("features", false), ("serving_default", true)]);
    assert_eq!(s.info().signatures[0].outputs[0].shape_string(), "[?, 4]");
    assert_eq!(s.info().signatures[0].inputs[0].name, "image");

    let opts = LoadOptions::default().with_option("signature", "features");
    let mut s = TfBackend.load(&tiny().join("saved_model"), &opts).unwrap();
    assert!(s.info().signatures.iter().any(|g| g.name == "features" && g.in_use));
    let x = read_npy(&tiny().join("input.npy")).unwrap();
    let expected = read_npy(&tiny().join("features.npy")).unwrap();
    let y = s.run(&[x]).unwrap();
    assert!(y[0].max_abs_diff(&expected).unwrap() < 1e-5);
}

#[test]
fn unknown_signature_lists_the_available_ones() {
    let opts = LoadOptions::default().with_option("signature", "predict");
    let err = TfBackend.load(&tiny().join("saved_model"), &opts).err().unwrap().to_string();
    assert!(err.contains("no signature `predict`"), "{err}");
    assert!(err.contains("features, serving_default"), "{err}");
}

#[test]
fn folder_without_saved_model_pb_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = TfBackend.load(dir.path(), &LoadOptions::default()).err().unwrap().to_string();
    assert!(err.contains(&dir.path().display().to_string()) && err.contains("no saved_model.pb"), "{err}");
    // A saved_model.pb that is not one names the folder too.
    std::fs::write(dir.path().join("saved_model.pb"), b"not a protobuf").unwrap();
    let err = TfBackend.load(dir.path(), &LoadOptions::default()).err().unwrap().to_string();
    assert!(err.contains(&dir.path().display().to_string()) && err.contains("cannot load the SavedModel"), "{err}");
}

#[test]
fn cuda_is_a_clear_error_unless_fallback() {
    let opts = LoadOptions { device: Device::Cuda(0), ..LoadOptions::default() };
    let err = TfBackend.load(&tiny().join("saved_model"), &opts).err().unwrap();
    assert!(matches!(err, Error::DeviceUnavailable { .. }), "{err}");
    let opts = LoadOptions { fallback_to_cpu: true, intra_threads: 1, inter_threads: 1, ..opts };
    let mut s = TfBackend.load(&tiny().join("saved_model"), &opts).unwrap();
    assert_eq!(s.device(), Device::Cpu);
    let x = read_npy(&tiny().join("input.npy")).unwrap();
    let expected = read_npy(&tiny().join("output.npy")).unwrap();
    assert!(s.run(&[x]).unwrap()[0].max_abs_diff(&expected).unwrap() < 1e-5);
}

#[test]
fn keras_file_is_converted_once_then_reused() {
    let (_dir, model) = copy_to_tempdir(&tiny().join("model.keras"));
    let first = infer_tf::keras::ensure_saved_model(&model).unwrap();
    assert!(!first.reused);
    assert_eq!(first.dir, infer_tf::keras::cache_dir(&model));
    let stamp = first.dir.join(infer_tf::keras::STAMP_FILE);
    let made = std::fs::metadata(&stamp).unwrap().modified().unwrap();
    // Loading through the backend reuses the cache: no new conversion, the stamp untouched.
    let mut s = load(&model);
    assert_eq!(std::fs::metadata(&stamp).unwrap().modified().unwrap(), made);
    assert!(infer_tf::keras::ensure_saved_model(&model).unwrap().reused);
    let x = read_npy(&tiny().join("input.npy")).unwrap();
    let expected = read_npy(&tiny().join("output.npy")).unwrap();
    assert!(s.run(&[x]).unwrap()[0].max_abs_diff(&expected).unwrap() < 1e-5);
    // A changed source is converted again.
    std::fs::copy(tiny().join("lambda.keras"), &model).unwrap();
    let err = infer_tf::keras::ensure_saved_model(&model).unwrap_err().to_string();
    assert!(err.contains("safe mode"), "{err}");
}

#[test]
fn keras_safe_mode_refuses_a_lambda_layer() {
    let (_dir, model) = copy_to_tempdir(&tiny().join("lambda.keras"));
    let err = TfBackend.load(&model, &LoadOptions::default()).err().unwrap();
    assert!(matches!(err, Error::Load { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("lambda.keras") && text.contains("refused by Keras safe mode"), "{text}");
    assert!(text.contains("Lambda"), "{text}");
    assert!(!infer_tf::keras::cache_dir(&model).exists());
}

#[test]
fn garbage_keras_file_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("broken.keras");
    std::fs::write(&model, b"not a zip").unwrap();
    let err = TfBackend.load(&model, &LoadOptions::default()).err().unwrap().to_string();
    assert!(err.contains("broken.keras") && err.contains("cannot load the file"), "{err}");
}

/// ResNet-50 ported from torchvision: the SavedModel reproduces PyTorch's output within 1e-4.
#[test]
fn resnet50_savedmodel_matches_the_pytorch_reference() {
    let dir = generated("resnet50");
    let mut s = load(&dir.join("saved_model"));
    assert_eq!(s.inputs()[0].shape_string(), "[?, 224, 224, 3]");
    assert_eq!(s.outputs()[0].shape_string(), "[?, 1000]");
    let x = read_npy(&dir.join("input_nhwc.npy")).unwrap();
    let expected = read_npy(&dir.join("reference_torch.npy")).unwrap();
    let y = s.run(&[x]).unwrap();
    let diff = y[0].max_abs_diff(&expected).unwrap();
    assert!(diff < 1e-4, "max abs diff {diff}");
    let rows = expected.to_f64_vec();
    assert!(rows[..1000].iter().zip(&rows[1000..]).any(|(a, b)| (a - b).abs() > 1e-3));
}

/// Keras' `model.count_params()` for the ResNet-18 port: 11,689,512 trainable weights (what
/// torch's `named_parameters` counts) plus 9,600 BatchNorm moving means and variances.
const RESNET18_KERAS_PARAMS: u64 = 11_699_112;

#[test]
fn parameters_count_each_variable_the_signature_uses_once() {
    let s = load(&generated("resnet18").join("saved_model"));
    let p = s.info().parameters.unwrap();
    assert_eq!((p.count, p.bytes), (RESNET18_KERAS_PARAMS, RESNET18_KERAS_PARAMS * 4));
    // tiny_keras: conv 3x3x3x4 + 4, BatchNorm 4 x 4 (2 of them not trainable), dense 4x5 + 5 =
    // `count_params()` 153; the `features` signature stops before the dense layer.
    assert_eq!(load(&tiny().join("saved_model")).info().parameters.unwrap().count, 153);
    let opts = LoadOptions::default().with_option("signature", "features");
    let features = TfBackend.load(&tiny().join("saved_model"), &opts).unwrap();
    assert_eq!(features.info().parameters.unwrap().count, 128);
}

#[test]
fn resnet18_op_profile_breaks_the_graph_down_per_operator() {
    let dir = generated("resnet18");
    let scratch = tempfile::tempdir().unwrap();
    let opts = LoadOptions { profile_prefix: Some(scratch.path().join("tf")), ..LoadOptions::default() };
    let mut s = TfBackend.load(&dir.join("saved_model"), &opts).unwrap();
    let x = read_npy(&dir.join("input_nhwc.npy")).unwrap().slice_rows(0, 1).unwrap();
    let runs = 3;
    let t = std::time::Instant::now();
    for _ in 0..runs {
        s.run(std::slice::from_ref(&x)).unwrap();
    }
    let wall_us = t.elapsed().as_secs_f64() * 1e6;
    let p = s.op_profile().unwrap();
    assert_eq!((p.backend.as_str(), p.runs), ("tf", runs));
    assert!(p.source.contains("FULL_TRACE") && p.source.contains("device:CPU:0"), "{}", p.source);
    let file = scratch.path().join("tf.run_metadata.pb");
    assert!(p.source.contains(&file.display().to_string()), "{}", p.source);
    assert!(std::fs::metadata(&file).unwrap().len() > 0);
    assert!(p.total_us() > 0.0);
    for run in 0..runs {
        let ops: Vec<&str> = p.events.iter().filter(|e| e.run == Some(run)).map(|e| e.op_type.as_str()).collect();
        // The function bodies are inlined into the session's graph, so every layer is a node: 20
        // convolutions (17 of the blocks and the stem, 3 1x1 downsample shortcuts), ReLUs, the
        // pooling and the classifier's matmul, never the signature's StatefulPartitionedCall.
        let convs = ops.iter().filter(|op| op.contains("Conv2D")).count();
        assert_eq!(convs, 20, "run {run}: {ops:?}");
        // With oneDNN on, some kernels are fused variants (`PadWithConv2D`, `FusedMatMul`).
        for op in ["Relu", "MaxPool"] {
            assert!(ops.iter().any(|o| o.contains(op)), "run {run}: no {op} in {ops:?}");
        }
        assert!(ops.iter().any(|op| op.contains("MatMul")), "run {run}: {ops:?}");
        assert!(!ops.iter().any(|op| op.contains("PartitionedCall")), "run {run}: {ops:?}");
        assert!(!p.events.iter().any(|e| e.node == "_SOURCE" || e.node == "_SINK"));
    }
    assert!(p.events.iter().all(|e| e.run.is_some_and(|r| r < runs) && e.calls == 1));
    // Step stats in microseconds of the runs' own: no node outlasts the three runs together.
    assert!(p.events.iter().all(|e| e.duration_us.is_finite() && e.duration_us <= wall_us), "{wall_us} us");
    let conv_us: f64 = p.events.iter().filter(|e| e.op_type.contains("Conv2D")).map(|e| e.duration_us).sum();
    assert!(conv_us > 0.0 && conv_us <= p.total_us(), "convolutions {conv_us} us of {} us", p.total_us());
    // Every run traced the same nodes.
    let nodes = |run| {
        let mut n: Vec<&str> = p.events.iter().filter(|e| e.run == Some(run)).map(|e| e.node.as_str()).collect();
        n.sort_unstable();
        n
    };
    assert!((1..runs).all(|r| nodes(r) == nodes(0)));
    // Profiling ended: a second call says so (runs are traced only while a profile is being
    // collected, so this is also what stops the tracing), and an untraced run still gives the
    // reference.
    let err = s.op_profile().unwrap_err().to_string();
    assert!(err.contains("profiling was not enabled"), "{err}");
    let y = s.run(std::slice::from_ref(&x)).unwrap();
    let expected = read_npy(&dir.join("reference_torch.npy")).unwrap().slice_rows(0, 1).unwrap();
    let diff = y[0].max_abs_diff(&expected).unwrap();
    assert!(diff < 1e-4, "max abs diff {diff} after profiling");
}

#[test]
fn op_profile_without_profile_prefix_is_an_error() {
    let mut s = load(&tiny().join("saved_model"));
    let err = s.op_profile().unwrap_err().to_string();
    assert!(err.contains("profiling was not enabled"), "{err}");
}
