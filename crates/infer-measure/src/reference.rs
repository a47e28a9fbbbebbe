//! The reference check of `infer bench --reference-input X --reference-output Y`: the model's
//! outputs on a known input against the expected outputs.
//!
//! Either file is a `.npy` (one input, or the first output), an ONNX `TensorProto` (`.pb`), a
//! folder holding an ONNX test data set (`input_N.pb`, `output_N.pb`) or a `.npz` holding several
//! arrays:
//! inputs go to the model's inputs by name (or by position for `arr_0`, `arr_1`, … as
//! [`crate::workload::npy_inputs`] reads them); each expected output is matched to the model's
//! output of its name, else to the output at its position in the archive. For every matched
//! output: the largest absolute difference, and that difference over the largest magnitude of the
//! expected output (the relative difference); the largest of the outputs is reported. Where the
//! first matched output is a score vector `[batch, classes]`, the share of rows whose top-1 class
//! agrees with the expected one.

use std::path::Path;

use infer_core::{Error, Result, Tensor, TensorSpec, npy::read_npy, tensor::element_diff};
use infer_onnx_proto::tensor_file;

use crate::workload::{is_npz, npy_inputs, read_npz};

/// How the outputs compared with the expected ones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReferenceCheck {
    /// Largest absolute element-wise difference over every matched output (NaN when an output
    /// holds NaN where the expected one does not).
    pub max_abs_diff: f64,
    /// Largest, over the outputs, of the output's max abs difference divided by the largest
    /// magnitude of its expected values.
    pub max_rel_diff: f64,
    /// Share (0–1) of rows whose arg-max agrees, where the first matched output is
    /// `[batch, classes]` with at least 2 classes.
    pub top1_agreement: Option<f64>,
}

/// The reference input's tensors, in the order of `specs` (a `.npy` for the first input, or a
/// `.npz` by input name).
///
/// # Errors
/// The file errors of [`npy_inputs`] (a missing input, an unknown name, a shape that does not fit).
pub fn read_input(specs: &[TensorSpec], path: &Path) -> Result<Vec<Tensor>> {
    npy_inputs(specs, &[path.display().to_string()])
}

/// The expected outputs: `(None, tensor)` for a `.npy`, every array by name for a `.npz`, the
/// tensor of an ONNX `TensorProto` file (`output_0.pb`) under its own name when it has one, and
/// for a folder (an ONNX test data set) its `output_0.pb`, `output_1.pb`, … so.
///
/// # Errors
/// The file errors of [`read_npy`] and [`read_npz`].
pub fn read_expected(path: &Path) -> Result<Vec<(Option<String>, Tensor)>> {
    // A TensorProto's name, where it has one, matches it to the output of that name.
    let named = |(key, t): (String, Tensor)| (Some(key).filter(|k| !k.is_empty()), t);
    if is_npz(path) {
        Ok(read_npz(path)?.into_iter().map(|(k, t)| (Some(k), t)).collect())
    } else if path.is_dir() {
        tensor_file::set_files(path, "output")?.iter().map(|f| tensor_file::read(f).map(named)).collect()
    } else if tensor_file::is_tensor_file(path) {
        Ok(vec![named(tensor_file::read(path)?)])
    } else {
        Ok(vec![(None, read_npy(path)?)])
    }
}

/// Compares `got` (the model's outputs, described by `specs`) with `expected`, read from `path`.
///
/// # Errors
/// [`Error::File`] naming `path` when an expected output matches no output of the model, or
/// when its shape differs from the output's (expected and actual shown).
pub fn check(
    specs: &[TensorSpec],
    got: &[Tensor],
    expected: &[(Option<String>, Tensor)],
    path: &Path,
) -> Result<ReferenceCheck> {
    if got.is_empty() {
        return Err(Error::InvalidInput("the model returned no output".into()));
    }
    let names = || {
        let n: Vec<&str> = specs.iter().take(got.len()).map(|s| s.name.as_str()).collect();
        if n.is_empty() { format!("{} outputs", got.len()) } else { n.join(", ") }
    };
    let mut out = ReferenceCheck { max_abs_diff: 0.0, max_rel_diff: 0.0, top1_agreement: None };
    for (position, (name, want)) in expected.iter().enumerate() {
        let by_name = name.as_ref().and_then(|n| specs.iter().position(|s| s.name == *n)).filter(|&i| i < got.len());
        let index = by_name.or((position < got.len()).then_some(position)).ok_or_else(|| {
            Error::file(
                path,
                format!(
                    "reference output `{}` matches no output of the model: it returns {}",
                    name.as_deref().unwrap_or("0"),
                    names()
                ),
            )
        })?;
        let label = specs.get(index).map_or_else(|| format!("output {index}"), |s| format!("output `{}`", s.name));
        let actual = &got[index];
        if actual.shape() != want.shape() {
            return Err(Error::file(
                path,
                format!("{label}: the reference has shape {:?}, the model returned {:?}", want.shape(), actual.shape()),
            ));
        }
        let (abs, rel) = differences(actual, want);
        out.max_abs_diff = worst(out.max_abs_diff, abs);
        out.max_rel_diff = worst(out.max_rel_diff, rel);
        if position == 0 {
            out.top1_agreement = top1(actual, want);
        }
    }
    Ok(out)
}

/// The larger of two differences, NaN winning.
fn worst(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }
}

/// Max abs difference ([`element_diff`]: matching NaNs and infinities agree) and that over the
/// largest finite magnitude of `want` (0 where both are 0).
fn differences(got: &Tensor, want: &Tensor) -> (f64, f64) {
    let a = got.to_f64_vec();
    let b = want.to_f64_vec();
    let mut max = 0.0_f64;
    let mut scale = 0.0_f64;
    for (&x, &y) in a.iter().zip(&b) {
        let d = element_diff(x, y);
        if d.is_nan() {
            return (f64::NAN, f64::NAN);
        }
        max = max.max(d);
        if y.is_finite() {
            scale = scale.max(y.abs());
        }
    }
    let rel = if max == 0.0 {
        0.0
    } else if scale > 0.0 {
        max / scale
    } else {
        f64::INFINITY
    };
    (max, rel)
}

/// Share of rows whose arg-max agrees, for `[batch, classes]` outputs with at least 2 classes.
fn top1(got: &Tensor, want: &Tensor) -> Option<f64> {
    let &[rows, classes] = got.shape() else { return None };
    if rows == 0 || classes < 2 {
        return None;
    }
    let argmax = |v: &[f64]| {
        v.iter().enumerate().fold((0, f64::NEG_INFINITY), |(bi, bv), (i, &x)| if x > bv { (i, x) } else { (bi, bv) }).0
    };
    let (a, b) = (got.to_f64_vec(), want.to_f64_vec());
    let agree = a.chunks(classes).zip(b.chunks(classes)).filter(|(x, y)| argmax(x) == argmax(y)).count();
    #[allow(clippy::cast_precision_loss)]
    Some(agree as f64 / rows as f64)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use infer_core::{DType, Dim, TensorData};

    use super::*;

    fn f32s(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::new(shape.to_vec(), TensorData::F32(v.to_vec())).unwrap()
    }

    fn spec(name: &str) -> TensorSpec {
        TensorSpec { name: name.into(), dtype: DType::F32, dims: Some(vec![Dim::Dynamic(None), Dim::Fixed(2)]) }
    }

    #[test]
    fn outputs_match_by_name_then_position() {
        let specs = [spec("logits"), spec("probs")];
        let got = [f32s(&[2, 2], &[1.0, 2.0, 3.0, 4.0]), f32s(&[2, 2], &[0.0, 0.0, 0.0, 8.0])];
        // Named in the other order: matched by name.
        let expected = vec![
            (Some("probs".to_string()), f32s(&[2, 2], &[0.0, 0.0, 0.0, 7.0])),
            (Some("logits".to_string()), f32s(&[2, 2], &[1.0, 2.0, 3.0, 4.5])),
        ];
        let c = check(&specs, &got, &expected, Path::new("r.npz")).unwrap();
        assert_eq!(c.max_abs_diff, 1.0);
        assert!((c.max_rel_diff - 1.0 / 7.0).abs() < 1e-12, "{c:?}");
        // probs is first: row 0 ties at 0 (both take class 0), row 1 agrees.
        assert_eq!(c.top1_agreement, Some(1.0));
        // Unknown names go by position.
        let expected = vec![(Some("out".to_string()), f32s(&[2, 2], &[2.0, 1.0, 3.0, 4.0]))];
        let c = check(&specs, &got, &expected, Path::new("r.npz")).unwrap();
        assert_eq!((c.max_abs_diff, c.top1_agreement), (1.0, Some(0.5)));
    }

    #[test]
    fn a_reference_that_does_not_fit_is_an_error_naming_the_file() {
        let specs = [spec("logits")];
        let got = [f32s(&[1, 2], &[1.0, 2.0])];
        let expected = vec![(None, f32s(&[1, 2], &[1.0, 2.0])), (Some("x".into()), f32s(&[1, 2], &[1.0, 2.0]))];
        let err = check(&specs, &got, &expected, Path::new("ref.npz")).unwrap_err().to_string();
        assert!(err.contains("ref.npz") && err.contains("`x` matches no output") && err.contains("logits"), "{err}");
        let expected = vec![(None, f32s(&[2, 1], &[1.0, 2.0]))];
        let err = check(&specs, &got, &expected, Path::new("ref.npy")).unwrap_err().to_string();
        assert!(err.contains("reference has shape [2, 1], the model returned [1, 2]"), "{err}");
    }

    #[test]
    fn nan_wins_and_a_zero_reference_has_no_scale() {
        let specs = [spec("y")];
        let got = [f32s(&[1, 2], &[f32::NAN, 1.0])];
        let c = check(&specs, &got, &[(None, f32s(&[1, 2], &[0.0, 1.0]))], Path::new("r.npy")).unwrap();
        assert!(c.max_abs_diff.is_nan() && c.max_rel_diff.is_nan());
        // A NaN where the reference has one too agrees (sqrt of a negative number, say); the
        // difference of the others is scaled by the reference's finite values.
        let got = [f32s(&[1, 3], &[f32::NAN, 1.5, f32::INFINITY])];
        let want = f32s(&[1, 3], &[f32::NAN, 2.0, f32::INFINITY]);
        let c = check(&specs, &got, &[(None, want)], Path::new("r.npy")).unwrap();
        assert_eq!((c.max_abs_diff, c.max_rel_diff), (0.5, 0.25));
        let got = [f32s(&[1, 2], &[0.5, 0.0])];
        let c = check(&specs, &got, &[(None, f32s(&[1, 2], &[0.0, 0.0]))], Path::new("r.npy")).unwrap();
        assert_eq!((c.max_abs_diff, c.max_rel_diff), (0.5, f64::INFINITY));
    }
}
