//! What `infer` adds to a bare ONNX Runtime call: the same model, the same input, once through
//! `ort::session::Session::run` directly (a `TensorRef` view in, the output read in place) and
//! once through infer's `Session::run` (input checks, views, outputs copied into infer tensors).
//! Models: the committed tiny CNN and the generated ResNet-18 (`cargo xtask fixtures`), batch 1.
//!
//! Run with `cargo bench -p infer-onnx --features runtime --bench overhead` (or `cargo xtask bench`).
#![allow(clippy::unwrap_used, missing_docs)]

use std::{
    hint::black_box,
    path::{Path, PathBuf},
};

use criterion::{Criterion, criterion_group, criterion_main};
use infer_core::{Backend, LoadOptions, Tensor};
use infer_onnx::OnnxBackend;
use ort::{
    session::{Session, builder::GraphOptimizationLevel},
    value::TensorRef,
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn models() -> Vec<(&'static str, PathBuf, Vec<usize>)> {
    let mut m = vec![("tiny_cnn", root().join("fixtures/tiny/tiny_cnn.onnx"), vec![1, 3, 8, 8])];
    let r18 = root().join("fixtures/generated/resnet18/model.onnx");
    if r18.is_file() {
        m.push(("resnet18", r18, vec![1, 3, 224, 224]));
    } else {
        eprintln!("{} missing: run `cargo xtask fixtures` to benchmark ResNet-18 too", r18.display());
    }
    m
}

fn overhead(c: &mut Criterion) {
    let library = infer_onnx::locate::find().expect("ONNX Runtime library (run `cargo xtask setup`)");
    // infer first: it loads the library; the bare session then shares it.
    let mut group = c.benchmark_group("onnx_run");
    for (name, path, shape) in models() {
        let len: usize = shape.iter().product();
        #[allow(clippy::cast_precision_loss)]
        let data: Vec<f32> = (0..len).map(|i| ((i % 97) as f32) / 97.0 - 0.5).collect();

        let mut session = OnnxBackend.load(&path, &LoadOptions::default()).unwrap();
        let x = Tensor::from_vec(shape.clone(), data.clone()).unwrap();
        group.bench_function(format!("infer/{name}"), |b| {
            b.iter(|| black_box(session.run(std::slice::from_ref(&x)).unwrap()));
        });
        drop(session);

        let env = ort::init_from(&library).unwrap().with_name("bare").build().unwrap();
        let mut bare = Session::builder(&env)
            .unwrap()
            .with_optimization_level(GraphOptimizationLevel::All)
            .unwrap()
            .commit_from_file(&path)
            .unwrap();
        let input_name = bare.inputs()[0].name().to_string();
        let ort_shape: Vec<i64> = shape.iter().map(|&d| i64::try_from(d).unwrap()).collect();
        group.bench_function(format!("bare_ort/{name}"), |b| {
            b.iter(|| {
                let view = TensorRef::from_array_view((ort_shape.clone(), data.as_slice())).unwrap();
                let out = bare.run(ort::inputs![input_name.as_str() => view]).unwrap();
                let (_, y) = out[0].try_extract_tensor::<f32>().unwrap();
                black_box(y[0]);
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_secs(1)).measurement_time(std::time::Duration::from_secs(4));
    targets = overhead
}
criterion_main!(benches);
