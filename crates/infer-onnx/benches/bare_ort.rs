//! The bare ONNX Runtime call that infer wraps: a `TensorRef` view of the input, `ort`'s
//! `Session::run`, the output read in place. Compare with the `infer_run` bench (same group,
//! same models): the difference is what infer adds (input checks, outputs copied out).
//!
//! `cargo bench -p infer-onnx --features runtime` (or `cargo xtask bench`).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use ort::{
    session::{Session, builder::GraphOptimizationLevel},
    value::TensorRef,
};

fn bare(c: &mut Criterion) {
    let library =
        infer_core::runtime::locate(&infer_onnx::RUNTIME).expect("ONNX Runtime library (run `cargo xtask setup`)");
    let env = ort::init_from(&library).unwrap().with_name("bare").build().unwrap();
    let mut group = c.benchmark_group("onnx_run");
    for model in common::models() {
        let data = model.data();
        let mut session = Session::builder(&env)
            .unwrap()
            .with_optimization_level(GraphOptimizationLevel::All)
            .unwrap()
            .commit_from_file(&model.path)
            .unwrap();
        let input = session.inputs()[0].name().to_string();
        let shape: Vec<i64> = model.shape.iter().map(|&d| i64::try_from(d).unwrap()).collect();
        group.bench_function(format!("bare_ort/{}", model.name), |b| {
            b.iter(|| {
                let view = TensorRef::from_array_view((shape.clone(), data.as_slice())).unwrap();
                let out = session.run(ort::inputs![input.as_str() => view]).unwrap();
                let (_, y) = out[0].try_extract_tensor::<f32>().unwrap();
                black_box(y[0]);
            });
        });
    }
    group.finish();
}

criterion_group! { name = benches; config = common::criterion(); targets = bare }
criterion_main!(benches);
