//! What the two overhead benches share: the models, their batch-1 inputs and criterion's settings.
//! `bare_ort` and `infer_run` are separate binaries because ONNX Runtime allows one environment
//! per process (infer owns its own).

use std::path::{Path, PathBuf};

use criterion::Criterion;

/// A model to time, with its name and batch-1 input shape.
pub struct Model {
    /// Short name used in benchmark ids.
    pub name: &'static str,
    /// The `.onnx` file.
    pub path: PathBuf,
    /// Input shape at batch 1.
    pub shape: Vec<usize>,
}

impl Model {
    /// Deterministic input values.
    #[allow(clippy::cast_precision_loss)]
    pub fn data(&self) -> Vec<f32> {
        (0..self.shape.iter().product::<usize>()).map(|i| ((i % 97) as f32) / 97.0 - 0.5).collect()
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The committed tiny CNN, and ResNet-18 when `cargo xtask fixtures` generated it.
pub fn models() -> Vec<Model> {
    let mut m =
        vec![Model { name: "tiny_cnn", path: root().join("fixtures/tiny/tiny_cnn.onnx"), shape: vec![1, 3, 8, 8] }];
    let r18 = root().join("fixtures/generated/resnet18/model.onnx");
    if r18.is_file() {
        m.push(Model { name: "resnet18", path: r18, shape: vec![1, 3, 224, 224] });
    } else {
        eprintln!("{} missing: run `cargo xtask fixtures` to benchmark ResNet-18 too", r18.display());
    }
    m
}

/// Criterion settings shared by both benches.
pub fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(4))
}
