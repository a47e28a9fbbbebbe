//! Descriptions of a model's inputs and outputs.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{DType, Error, Result, Tensor};

/// One dimension of a tensor description.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Dim {
    /// A fixed size.
    Fixed(usize),
    /// A size known only at run time, with its symbolic name when the model gives one.
    Dynamic(Option<String>),
}

impl Dim {
    /// The fixed size, if any.
    #[must_use]
    pub fn fixed(&self) -> Option<usize> {
        match self {
            Dim::Fixed(n) => Some(*n),
            Dim::Dynamic(_) => None,
        }
    }

    /// Whether the dimension is dynamic.
    #[must_use]
    pub fn is_dynamic(&self) -> bool {
        matches!(self, Dim::Dynamic(_))
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Dynamic(Some(name)) => f.write_str(name),
            Dim::Dynamic(None) => f.write_str("?"),
        }
    }
}

/// Name, dtype and shape of one model input or output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    /// Name in the model.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Dimensions; empty for a scalar, `None` when the rank itself is unknown.
    pub dims: Option<Vec<Dim>>,
}

impl TensorSpec {
    /// A spec with known rank.
    pub fn new(name: impl Into<String>, dtype: DType, dims: Vec<Dim>) -> Self {
        Self { name: name.into(), dtype, dims: Some(dims) }
    }

    /// The shape as text, e.g. `[batch, 3, 224, 224]`.
    #[must_use]
    pub fn shape_string(&self) -> String {
        match &self.dims {
            None => "[unknown rank]".into(),
            Some(dims) => {
                let parts: Vec<String> = dims.iter().map(ToString::to_string).collect();
                format!("[{}]", parts.join(", "))
            }
        }
    }

    /// Whether the first dimension is dynamic (the model accepts any batch size).
    #[must_use]
    pub fn has_dynamic_batch(&self) -> bool {
        self.dims.as_ref().and_then(|d| d.first()).is_some_and(Dim::is_dynamic)
    }

    /// A concrete shape for this spec: dynamic first dimension set to `batch`, other dynamic
    /// dimensions taken from `fill` (in order).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the rank is unknown, a dynamic non-batch dimension has no
    /// value in `fill`, or a fixed batch dimension differs from `batch`.
    pub fn concrete_shape(&self, batch: usize, fill: &[usize]) -> Result<Vec<usize>> {
        let dims = self.dims.as_ref().ok_or_else(|| {
            Error::InvalidInput(format!("input `{}` has unknown rank: give its shape explicitly", self.name))
        })?;
        let mut fill = fill.iter();
        let mut shape = Vec::with_capacity(dims.len());
        for (i, d) in dims.iter().enumerate() {
            let v = match (i, d) {
                (0, Dim::Dynamic(_)) => batch,
                (0, Dim::Fixed(n)) if *n != batch => {
                    return Err(Error::InvalidInput(format!(
                        "input `{}` has a fixed batch dimension of {n}; batch size {batch} is not possible",
                        self.name
                    )));
                }
                (_, Dim::Fixed(n)) => *n,
                (_, Dim::Dynamic(_)) => *fill.next().ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "input `{}` {} has a dynamic dimension {i}: give its size explicitly",
                        self.name,
                        self.shape_string()
                    ))
                })?,
            };
            shape.push(v);
        }
        Ok(shape)
    }

    /// Checks that `tensor` can be fed to this input.
    ///
    /// # Errors
    /// [`Error::DtypeMismatch`] or [`Error::ShapeMismatch`] naming this input.
    pub fn check(&self, tensor: &Tensor) -> Result<()> {
        if tensor.dtype() != self.dtype {
            return Err(Error::DtypeMismatch { name: self.name.clone(), expected: self.dtype, actual: tensor.dtype() });
        }
        if let Some(dims) = &self.dims {
            let shape = tensor.shape();
            let ok =
                dims.len() == shape.len() && dims.iter().zip(shape).all(|(d, &s)| d.fixed().is_none_or(|n| n == s));
            if !ok {
                return Err(Error::ShapeMismatch {
                    name: self.name.clone(),
                    expected: self.shape_string(),
                    actual: shape.to_vec(),
                });
            }
        }
        Ok(())
    }
}

impl fmt::Display for TensorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} {}", self.name, self.dtype, self.shape_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_spec() -> TensorSpec {
        TensorSpec::new("input", DType::F32, vec![Dim::Dynamic(Some("batch".into())), Dim::Fixed(3), Dim::Fixed(4)])
    }

    #[test]
    fn shape_string_and_dynamic_batch() {
        let s = image_spec();
        assert_eq!(s.shape_string(), "[batch, 3, 4]");
        assert!(s.has_dynamic_batch());
        assert_eq!(s.concrete_shape(8, &[]).unwrap(), vec![8, 3, 4]);
    }

    #[test]
    fn check_reports_expected_and_actual() {
        let s = image_spec();
        assert!(s.check(&Tensor::zeros(DType::F32, vec![2, 3, 4]).unwrap()).is_ok());
        let err = s.check(&Tensor::zeros(DType::F32, vec![2, 4, 3]).unwrap()).unwrap_err();
        assert_eq!(err.to_string(), "shape mismatch for `input`: expected [batch, 3, 4], got [2, 4, 3]");
        let err = s.check(&Tensor::zeros(DType::I64, vec![2, 3, 4]).unwrap()).unwrap_err();
        assert_eq!(err.to_string(), "dtype mismatch for `input`: expected f32, got i64");
    }

    #[test]
    fn fixed_batch_rejects_other_sizes() {
        let s = TensorSpec::new("x", DType::F32, vec![Dim::Fixed(1), Dim::Dynamic(None)]);
        assert!(s.concrete_shape(2, &[5]).is_err());
        assert_eq!(s.concrete_shape(1, &[5]).unwrap(), vec![1, 5]);
        assert!(s.concrete_shape(1, &[]).unwrap_err().to_string().contains("dynamic dimension 1"));
    }
}
