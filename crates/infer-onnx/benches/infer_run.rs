//! infer's `Session::run` on the same models and inputs as the `bare_ort` bench: input checks,
//! zero-copy views, the run, outputs copied into infer tensors.
//!
//! `cargo bench -p infer-onnx --features runtime` (or `cargo xtask bench`).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use infer_core::{Backend, LoadOptions, Tensor};
use infer_onnx::OnnxBackend;

fn infer_run(c: &mut Criterion) {
    let mut group = c.benchmark_group("onnx_run");
    for model in common::models() {
        let mut session = OnnxBackend.load(&model.path, &LoadOptions::default()).unwrap();
        let x = Tensor::from_vec(model.shape.clone(), model.data()).unwrap();
        group.bench_function(format!("infer/{}", model.name), |b| {
            b.iter(|| black_box(session.run(std::slice::from_ref(&x)).unwrap()));
        });
    }
    group.finish();
}

criterion_group! { name = benches; config = common::criterion(); targets = infer_run }
criterion_main!(benches);
