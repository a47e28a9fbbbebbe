//! The committed tiny fixtures (`fixtures/tiny/`), each with what a backend that reads its format
//! must report and compute.
//!
//! A backend is given every fixture whose format id is one of its [`Backend::formats`]: a new
//! backend that reads ONNX gets the ONNX fixtures without naming them. A backend of a new format
//! brings its own tiny fixture in its crate (with the script that made it) and adds it to the
//! suite ([`tiny_cnn_as`], [`for_backend`], `suite!(…, fixtures = …)`), so nothing outside its
//! crate changes.

use std::path::{Path, PathBuf};

use infer_core::{Backend, DType};

/// The committed tiny fixtures folder (`fixtures/tiny/` of the workspace).
#[must_use]
pub fn tiny_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/tiny")
}

/// What a model must say about one input or output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    /// Its name.
    pub name: &'static str,
    /// Its element type, `None` when the format does not record it (a TorchScript argument
    /// without a sidecar): the backend then accepts any tensor and leaves the check to its runtime.
    pub dtype: Option<DType>,
    /// Its dimensions, `None` for a dynamic one (any symbol); `None` as a whole when the format
    /// does not record the shape.
    pub dims: Option<Vec<Option<usize>>>,
}

impl Expect {
    /// An input or output whose dtype and dimensions the model records.
    #[must_use]
    pub fn known(name: &'static str, dtype: DType, dims: &[Option<usize>]) -> Self {
        Self { name, dtype: Some(dtype), dims: Some(dims.to_vec()) }
    }

    /// An input or output known by name only.
    #[must_use]
    pub fn named(name: &'static str) -> Self {
        Self { name, dtype: None, dims: None }
    }

    /// Whether the model describes it (dtype and shape), so a backend checks tensors against it.
    #[must_use]
    pub fn is_described(&self) -> bool {
        self.dtype.is_some() && self.dims.is_some()
    }
}

/// One committed model, its reference data and what every backend reading it must report.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// A short name for messages (`tiny_cnn.onnx`).
    pub name: &'static str,
    /// The file or folder given to [`Backend::load`].
    pub model: PathBuf,
    /// The id of its [`infer_core::ModelFormat`] (`onnx`, `torchscript`, `savedmodel`, or a
    /// backend's own format for a fixture its crate brings).
    pub format: &'static str,
    /// Files beside the model that belong to it (an IR's `.bin`, a TorchScript sidecar), copied
    /// with it.
    pub companions: Vec<PathBuf>,
    /// The file cut short by the truncated-file case: `None` for the model file itself, or a
    /// path inside a model folder (`saved_model.pb`).
    pub truncate: Option<&'static str>,
    /// The inputs, in order.
    pub inputs: Vec<Expect>,
    /// The outputs, in order.
    pub outputs: Vec<Expect>,
    /// One `.npy` per input, in order.
    pub reference_inputs: Vec<PathBuf>,
    /// One `.npy` per output, in order: what the model computes on the reference inputs.
    pub reference_outputs: Vec<PathBuf>,
    /// The largest absolute difference to the reference allowed.
    pub tolerance: f64,
    /// The number of parameters, checked where the backend reports one.
    pub parameters: Option<u64>,
    /// Whether each batch row is computed alone (no op mixes rows), so that a row run alone, or
    /// beside a row of NaN, gives its reference row.
    pub rows_independent: bool,
}

impl Fixture {
    /// The files of the model, the model itself first.
    #[must_use]
    pub fn files(&self) -> Vec<PathBuf> {
        std::iter::once(self.model.clone()).chain(self.companions.iter().cloned()).collect()
    }
}

const BATCH: Option<usize> = None;

/// `tiny_cnn` converted to a backend's own format by a fixture of that backend's crate (an
/// OpenVINO IR, say): `image` f32 `[batch, 3, 8, 8]` → `logits` f32 `[batch, 10]`, 162
/// parameters, the numpy reference `tiny_cnn.output.npy`. Add its companions with struct update
/// syntax and hand it to [`crate::suite!`] with the backend's catalogue fixtures ([`for_backend`]).
#[must_use]
pub fn tiny_cnn_as(name: &'static str, model: PathBuf, format: &'static str) -> Fixture {
    Fixture { model, ..tiny_cnn(name, "", format, "tiny_cnn.output.npy") }
}

/// `tiny_cnn` in a given format: `image` f32 `[batch, 3, 8, 8]` → `logits` f32 `[batch, 10]`,
/// 162 parameters, the numpy reference `tiny_cnn.output.npy` unless `output` names another.
fn tiny_cnn(name: &'static str, model: &str, format: &'static str, output: &str) -> Fixture {
    let tiny = tiny_dir();
    Fixture {
        name,
        model: tiny.join(model),
        format,
        companions: Vec::new(),
        truncate: None,
        inputs: vec![Expect::known("image", DType::F32, &[BATCH, Some(3), Some(8), Some(8)])],
        outputs: vec![Expect::known("logits", DType::F32, &[BATCH, Some(10)])],
        reference_inputs: vec![tiny.join("tiny_cnn.input.npy")],
        reference_outputs: vec![tiny.join(output)],
        tolerance: 1e-4,
        parameters: Some(162),
        rows_independent: true,
    }
}

/// Every committed tiny fixture (see `fixtures/tiny/README.md`).
#[must_use]
pub fn catalogue() -> Vec<Fixture> {
    let tiny = tiny_dir();
    vec![
        tiny_cnn("tiny_cnn.onnx", "tiny_cnn.onnx", "onnx", "tiny_cnn.output.npy"),
        Fixture {
            name: "two_inputs.onnx",
            model: tiny.join("two_inputs.onnx"),
            format: "onnx",
            companions: Vec::new(),
            truncate: None,
            inputs: vec![
                Expect::known("a", DType::F32, &[BATCH, Some(4)]),
                Expect::known("b", DType::I64, &[BATCH, Some(4)]),
            ],
            outputs: vec![Expect::known("sum", DType::F32, &[BATCH, Some(4)])],
            reference_inputs: vec![tiny.join("two_inputs.input_a.npy"), tiny.join("two_inputs.input_b.npy")],
            reference_outputs: vec![tiny.join("two_inputs.output_sum.npy")],
            tolerance: 0.0,
            parameters: Some(0),
            rows_independent: true,
        },
        Fixture {
            name: "fixed_batch.onnx",
            model: tiny.join("fixed_batch.onnx"),
            format: "onnx",
            companions: Vec::new(),
            truncate: None,
            inputs: vec![Expect::known("x", DType::F32, &[Some(1), Some(4)])],
            outputs: vec![Expect::known("y", DType::F32, &[Some(1), Some(4)])],
            reference_inputs: vec![tiny.join("fixed_batch.input.npy")],
            reference_outputs: vec![tiny.join("fixed_batch.output.npy")],
            tolerance: 0.0,
            parameters: Some(0),
            rows_independent: true,
        },
        Fixture {
            companions: vec![tiny.join("tiny_cnn.json")],
            ..tiny_cnn("tiny_cnn.pt", "tiny_cnn.pt", "torchscript", "tiny_cnn.output.npy")
        },
        Fixture {
            name: "tiny_two_args.pt",
            model: tiny.join("tiny_two_args.pt"),
            format: "torchscript",
            companions: Vec::new(),
            truncate: None,
            // No sidecar: TorchScript records the argument names only.
            inputs: vec![Expect::named("x"), Expect::named("y")],
            outputs: vec![Expect::named("output_0"), Expect::named("output_1")],
            reference_inputs: vec![tiny.join("tiny_two_args.input_x.npy"), tiny.join("tiny_two_args.input_y.npy")],
            reference_outputs: vec![tiny.join("tiny_two_args.output_0.npy"), tiny.join("tiny_two_args.output_1.npy")],
            tolerance: 1e-5,
            parameters: Some(12),
            rows_independent: true,
        },
        Fixture {
            truncate: Some("saved_model.pb"),
            ..tiny_cnn("tf/tiny_cnn (SavedModel)", "tf/tiny_cnn", "savedmodel", "tf/tiny_cnn.output.npy")
        },
    ]
}

/// The fixtures of [`catalogue`] that `backend` reads: those whose format id is one of its
/// [`Backend::formats`].
#[must_use]
pub fn for_backend(backend: &dyn Backend) -> Vec<Fixture> {
    let ids: Vec<&str> = backend.formats().iter().map(|f| f.id).collect();
    catalogue().into_iter().filter(|f| ids.contains(&f.format)).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Every file of the catalogue is committed, under the 100 KB budget, and every reference
    /// file is a readable `.npy` of the declared dtype and rank.
    #[test]
    fn every_fixture_is_committed_small_and_readable() {
        for f in catalogue() {
            let mut files = f.files();
            files.extend(f.reference_inputs.iter().chain(&f.reference_outputs).cloned());
            for file in files {
                let size = if file.is_dir() {
                    std::fs::read_dir(&file).unwrap().count() as u64
                } else {
                    std::fs::metadata(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())).len()
                };
                assert!(size > 0 && size < 100_000, "{}: {size} bytes", file.display());
            }
            assert_eq!(f.reference_inputs.len(), f.inputs.len(), "{}", f.name);
            assert_eq!(f.reference_outputs.len(), f.outputs.len(), "{}", f.name);
            for (path, expect) in
                f.reference_inputs.iter().zip(&f.inputs).chain(f.reference_outputs.iter().zip(&f.outputs))
            {
                let t = infer_core::npy::read_npy(path).unwrap();
                if let Some(dtype) = expect.dtype {
                    assert_eq!(t.dtype(), dtype, "{}", path.display());
                }
                if let Some(dims) = &expect.dims {
                    assert_eq!(t.shape().len(), dims.len(), "{}", path.display());
                    for (n, d) in t.shape().iter().zip(dims) {
                        assert!(d.is_none_or(|d| d == *n), "{}: {:?} against {dims:?}", path.display(), t.shape());
                    }
                }
            }
            if let Some(inner) = f.truncate {
                assert!(f.model.join(inner).is_file(), "{}: no {inner}", f.name);
            }
        }
    }
}
