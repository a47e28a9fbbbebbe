//! A framework-neutral, contiguous, row-major tensor.

use half::{bf16, f16};
use ndarray::{ArrayD, IxDyn};

use crate::{DType, Error, Result};

/// The typed element buffer of a [`Tensor`].
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum TensorData {
    F32(Vec<f32>),
    F16(Vec<f16>),
    BF16(Vec<bf16>),
    F64(Vec<f64>),
    I64(Vec<i64>),
    I32(Vec<i32>),
    I8(Vec<i8>),
    U8(Vec<u8>),
    Bool(Vec<bool>),
}

/// Applies `$body` to the vector inside any [`TensorData`] variant.
macro_rules! with_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            TensorData::F32($v) => $body,
            TensorData::F16($v) => $body,
            TensorData::BF16($v) => $body,
            TensorData::F64($v) => $body,
            TensorData::I64($v) => $body,
            TensorData::I32($v) => $body,
            TensorData::I8($v) => $body,
            TensorData::U8($v) => $body,
            TensorData::Bool($v) => $body,
        }
    };
}

impl TensorData {
    /// The dtype of the elements.
    #[must_use]
    pub fn dtype(&self) -> DType {
        match self {
            TensorData::F32(_) => DType::F32,
            TensorData::F16(_) => DType::F16,
            TensorData::BF16(_) => DType::BF16,
            TensorData::F64(_) => DType::F64,
            TensorData::I64(_) => DType::I64,
            TensorData::I32(_) => DType::I32,
            TensorData::I8(_) => DType::I8,
            TensorData::U8(_) => DType::U8,
            TensorData::Bool(_) => DType::Bool,
        }
    }

    /// Number of elements.
    #[must_use]
    pub fn len(&self) -> usize {
        with_data!(self, v => v.len())
    }

    /// Whether there are no elements.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Decodes little-endian elements of `dtype` (booleans one byte each, 0 or 1), as `.npy`
    /// bodies and ONNX `raw_data` store them; trailing bytes short of one element are ignored
    /// (callers check the count against the shape).
    ///
    /// # Errors
    /// A boolean byte other than 0 or 1, as a message.
    pub fn from_le_bytes(dtype: DType, bytes: &[u8]) -> std::result::Result<Self, String> {
        fn chunks<const N: usize, T>(bytes: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
            bytes.chunks_exact(N).map(|c| f(c.try_into().unwrap_or([0; N]))).collect()
        }
        Ok(match dtype {
            DType::F32 => TensorData::F32(chunks(bytes, f32::from_le_bytes)),
            DType::F16 => TensorData::F16(chunks(bytes, f16::from_le_bytes)),
            DType::BF16 => TensorData::BF16(chunks(bytes, bf16::from_le_bytes)),
            DType::F64 => TensorData::F64(chunks(bytes, f64::from_le_bytes)),
            DType::I64 => TensorData::I64(chunks(bytes, i64::from_le_bytes)),
            DType::I32 => TensorData::I32(chunks(bytes, i32::from_le_bytes)),
            DType::I8 => TensorData::I8(chunks(bytes, i8::from_le_bytes)),
            DType::U8 => TensorData::U8(bytes.to_vec()),
            DType::Bool => TensorData::Bool(
                bytes
                    .iter()
                    .map(|&b| match b {
                        0 => Ok(false),
                        1 => Ok(true),
                        other => Err(format!("invalid boolean byte {other}: expected 0 or 1")),
                    })
                    .collect::<std::result::Result<_, _>>()?,
            ),
        })
    }
}

/// A Rust element type that a [`Tensor`] can hold.
pub trait Element: Copy + Send + Sync + 'static {
    /// The matching dtype.
    const DTYPE: DType;
    /// Wraps a vector of this type.
    fn wrap(values: Vec<Self>) -> TensorData;
    /// Borrows the vector if `data` holds this type.
    fn view(data: &TensorData) -> Option<&[Self]>;
}

macro_rules! element {
    ($ty:ty, $variant:ident) => {
        impl Element for $ty {
            const DTYPE: DType = DType::$variant;
            fn wrap(values: Vec<Self>) -> TensorData {
                TensorData::$variant(values)
            }
            fn view(data: &TensorData) -> Option<&[Self]> {
                match data {
                    TensorData::$variant(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}

element!(f32, F32);
element!(f16, F16);
element!(bf16, BF16);
element!(f64, F64);
element!(i64, I64);
element!(i32, I32);
element!(i8, I8);
element!(u8, U8);
element!(bool, Bool);

/// A dense row-major tensor on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: TensorData,
}

impl Tensor {
    /// Builds a tensor, checking that the element count matches the shape.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `shape` does not hold exactly `data.len()` elements.
    pub fn new(shape: Vec<usize>, data: TensorData) -> Result<Self> {
        let expected = element_count(&shape)
            .ok_or_else(|| Error::InvalidInput(format!("shape {shape:?} has too many elements")))?;
        if expected != data.len() {
            return Err(Error::InvalidInput(format!("shape {shape:?} needs {expected} elements, got {}", data.len())));
        }
        Ok(Self { shape, data })
    }

    /// Builds a tensor from a typed vector.
    ///
    /// # Errors
    /// As [`Tensor::new`].
    pub fn from_vec<T: Element>(shape: Vec<usize>, values: Vec<T>) -> Result<Self> {
        Self::new(shape, T::wrap(values))
    }

    /// A tensor of zeros (false for bool) of the given dtype and shape.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the shape's element count overflows.
    pub fn zeros(dtype: DType, shape: Vec<usize>) -> Result<Self> {
        let n = element_count(&shape)
            .ok_or_else(|| Error::InvalidInput(format!("shape {shape:?} has too many elements")))?;
        let data = match dtype {
            DType::F32 => TensorData::F32(vec![0.0; n]),
            DType::F16 => TensorData::F16(vec![f16::ZERO; n]),
            DType::BF16 => TensorData::BF16(vec![bf16::ZERO; n]),
            DType::F64 => TensorData::F64(vec![0.0; n]),
            DType::I64 => TensorData::I64(vec![0; n]),
            DType::I32 => TensorData::I32(vec![0; n]),
            DType::I8 => TensorData::I8(vec![0; n]),
            DType::U8 => TensorData::U8(vec![0; n]),
            DType::Bool => TensorData::Bool(vec![false; n]),
        };
        Ok(Self { shape, data })
    }

    /// The element type.
    #[must_use]
    pub fn dtype(&self) -> DType {
        self.data.dtype()
    }

    /// The shape.
    #[must_use]
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of elements.
    #[must_use]
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor has no elements.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Size of the data in bytes.
    #[must_use]
    pub fn size_in_bytes(&self) -> usize {
        self.len() * self.dtype().size_of()
    }

    /// The typed element buffer.
    #[must_use]
    pub fn data(&self) -> &TensorData {
        &self.data
    }

    /// Consumes the tensor into shape and data.
    #[must_use]
    pub fn into_parts(self) -> (Vec<usize>, TensorData) {
        (self.shape, self.data)
    }

    /// Borrows the elements as `T`.
    ///
    /// # Errors
    /// [`Error::DtypeMismatch`] when the tensor does not hold `T`.
    pub fn as_slice<T: Element>(&self) -> Result<&[T]> {
        T::view(&self.data).ok_or_else(|| Error::DtypeMismatch {
            name: "tensor".into(),
            expected: T::DTYPE,
            actual: self.dtype(),
        })
    }

    /// Copies the tensor into an `ndarray` array of `T`.
    ///
    /// # Errors
    /// [`Error::DtypeMismatch`] when the tensor does not hold `T`.
    pub fn to_array<T: Element>(&self) -> Result<ArrayD<T>> {
        let values = self.as_slice::<T>()?.to_vec();
        ArrayD::from_shape_vec(IxDyn(&self.shape), values).map_err(|e| Error::InvalidInput(e.to_string()))
    }

    /// Builds a tensor from any `ndarray` array (copied into row-major order).
    #[must_use]
    pub fn from_array<T: Element, D: ndarray::Dimension>(array: &ndarray::Array<T, D>) -> Self {
        let shape = array.shape().to_vec();
        let values: Vec<T> = array.iter().copied().collect();
        Self { shape, data: T::wrap(values) }
    }

    /// The elements widened to `f64` (booleans as 0/1), for comparisons and statistics.
    #[must_use]
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match &self.data {
            TensorData::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            TensorData::F16(v) => v.iter().map(|&x| f64::from(x)).collect(),
            TensorData::BF16(v) => v.iter().map(|&x| f64::from(x)).collect(),
            TensorData::F64(v) => v.clone(),
            #[allow(clippy::cast_precision_loss)]
            TensorData::I64(v) => v.iter().map(|&x| x as f64).collect(),
            TensorData::I32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            TensorData::I8(v) => v.iter().map(|&x| f64::from(x)).collect(),
            TensorData::U8(v) => v.iter().map(|&x| f64::from(x)).collect(),
            TensorData::Bool(v) => v.iter().map(|&x| f64::from(u8::from(x))).collect(),
        }
    }

    /// Returns a tensor with the same data and a new shape.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the element counts differ.
    pub fn reshape(self, shape: Vec<usize>) -> Result<Self> {
        Self::new(shape, self.data)
    }

    /// Splits off rows `start..end` along the first dimension.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a scalar tensor or a range outside the first dimension.
    pub fn slice_rows(&self, start: usize, end: usize) -> Result<Self> {
        let rows = *self.shape.first().ok_or_else(|| Error::InvalidInput("cannot slice a scalar tensor".into()))?;
        if start > end || end > rows {
            return Err(Error::InvalidInput(format!("rows {start}..{end} out of range for {rows} rows")));
        }
        let row = self.shape[1..].iter().product::<usize>();
        let mut shape = self.shape.clone();
        shape[0] = end - start;
        let data = with_data!(&self.data, v => Element::wrap(v[start * row..end * row].to_vec()));
        Ok(Self { shape, data })
    }

    /// Concatenates tensors of the same dtype and trailing shape along the first dimension.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the list is empty or the tensors differ in dtype or trailing shape.
    pub fn concat_rows(parts: &[Tensor]) -> Result<Self> {
        let first = parts.first().ok_or_else(|| Error::InvalidInput("nothing to concatenate".into()))?;
        if first.shape.is_empty() {
            return Err(Error::InvalidInput("cannot concatenate scalar tensors".into()));
        }
        let mut rows = 0;
        for p in parts {
            if p.dtype() != first.dtype() || p.shape.len() != first.shape.len() || p.shape[1..] != first.shape[1..] {
                return Err(Error::InvalidInput(format!(
                    "cannot stack a {} tensor of shape {:?} onto a {} tensor of shape {:?}",
                    p.dtype(),
                    p.shape,
                    first.dtype(),
                    first.shape
                )));
            }
            rows += p.shape[0];
        }
        let mut data = first.data.clone();
        for p in &parts[1..] {
            append(&mut data, &p.data);
        }
        let mut shape = first.shape.clone();
        shape[0] = rows;
        Ok(Self { shape, data })
    }

    /// The largest absolute element-wise difference to `other` ([`element_diff`]: NaN if either
    /// holds NaN where the other does not).
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] when the shapes differ.
    pub fn max_abs_diff(&self, other: &Tensor) -> Result<f64> {
        if self.shape != other.shape {
            return Err(Error::ShapeMismatch {
                name: "reference".into(),
                expected: format!("{:?}", other.shape),
                actual: self.shape.clone(),
            });
        }
        let a = self.to_f64_vec();
        let b = other.to_f64_vec();
        let mut max = 0.0_f64;
        for (&x, &y) in a.iter().zip(&b) {
            let d = element_diff(x, y);
            if d.is_nan() {
                return Ok(f64::NAN);
            }
            max = max.max(d);
        }
        Ok(max)
    }
}

/// The absolute difference of two elements, where a NaN facing a NaN and an infinity facing the
/// same infinity agree (0, as numpy's `assert_allclose` takes them); NaN when only one is NaN,
/// infinite when only one is infinite.
#[must_use]
pub fn element_diff(x: f64, y: f64) -> f64 {
    if x == y || (x.is_nan() && y.is_nan()) { 0.0 } else { (x - y).abs() }
}

fn append(dst: &mut TensorData, src: &TensorData) {
    match (dst, src) {
        (TensorData::F32(a), TensorData::F32(b)) => a.extend_from_slice(b),
        (TensorData::F16(a), TensorData::F16(b)) => a.extend_from_slice(b),
        (TensorData::BF16(a), TensorData::BF16(b)) => a.extend_from_slice(b),
        (TensorData::F64(a), TensorData::F64(b)) => a.extend_from_slice(b),
        (TensorData::I64(a), TensorData::I64(b)) => a.extend_from_slice(b),
        (TensorData::I32(a), TensorData::I32(b)) => a.extend_from_slice(b),
        (TensorData::I8(a), TensorData::I8(b)) => a.extend_from_slice(b),
        (TensorData::U8(a), TensorData::U8(b)) => a.extend_from_slice(b),
        (TensorData::Bool(a), TensorData::Bool(b)) => a.extend_from_slice(b),
        _ => unreachable!("dtypes checked by the caller"),
    }
}

/// Number of elements of `shape`, `None` on overflow.
#[must_use]
pub fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_checks_element_count() {
        assert!(Tensor::from_vec(vec![2, 3], vec![0f32; 6]).is_ok());
        let err = Tensor::from_vec(vec![2, 3], vec![0f32; 5]).unwrap_err();
        assert!(err.to_string().contains("needs 6 elements, got 5"), "{err}");
        assert!(Tensor::zeros(DType::F32, vec![usize::MAX, 2]).is_err());
    }

    #[test]
    fn ndarray_round_trip() {
        let a = ndarray::Array::from_shape_fn((2, 3), |(i, j)| (i * 3 + j) as i64);
        let t = Tensor::from_array(&a);
        assert_eq!(t.shape(), &[2, 3]);
        assert_eq!(t.as_slice::<i64>().unwrap(), &[0, 1, 2, 3, 4, 5]);
        assert_eq!(t.to_array::<i64>().unwrap(), a.into_dyn());
        assert!(matches!(t.as_slice::<f32>(), Err(Error::DtypeMismatch { .. })));
        // non-standard layout is copied in logical order
        let tr = ndarray::Array::from_shape_vec((2, 2), vec![1f32, 2., 3., 4.]).unwrap().reversed_axes().to_owned();
        assert_eq!(Tensor::from_array(&tr).as_slice::<f32>().unwrap(), &[1., 3., 2., 4.]);
    }

    #[test]
    fn slice_and_concat_rows() {
        let t = Tensor::from_vec(vec![3, 2], vec![1i32, 2, 3, 4, 5, 6]).unwrap();
        let a = t.slice_rows(0, 1).unwrap();
        let b = t.slice_rows(1, 3).unwrap();
        assert_eq!(b.as_slice::<i32>().unwrap(), &[3, 4, 5, 6]);
        assert_eq!(Tensor::concat_rows(&[a, b]).unwrap(), t);
        assert!(t.slice_rows(2, 4).is_err());
        let other = Tensor::from_vec(vec![1, 3], vec![1i32, 2, 3]).unwrap();
        assert!(Tensor::concat_rows(&[t, other]).is_err());
    }

    #[test]
    fn max_abs_diff_detects_difference_and_nan() {
        let a = Tensor::from_vec(vec![3], vec![1f32, 2., 3.]).unwrap();
        let b = Tensor::from_vec(vec![3], vec![1f32, 2.5, 3.]).unwrap();
        assert!((a.max_abs_diff(&b).unwrap() - 0.5).abs() < 1e-12);
        let n = Tensor::from_vec(vec![3], vec![1f32, f32::NAN, 3.]).unwrap();
        assert!(a.max_abs_diff(&n).unwrap().is_nan());
        assert!(n.max_abs_diff(&a).unwrap().is_nan());
        // NaN where the other is NaN too, and the same infinity, agree.
        assert_eq!(n.max_abs_diff(&n).unwrap(), 0.0);
        let inf = Tensor::from_vec(vec![3], vec![f32::INFINITY, f32::NEG_INFINITY, 3.]).unwrap();
        assert_eq!(inf.max_abs_diff(&inf).unwrap(), 0.0);
        let finite = Tensor::from_vec(vec![3], vec![1f32, f32::NEG_INFINITY, 3.]).unwrap();
        assert_eq!(inf.max_abs_diff(&finite).unwrap(), f64::INFINITY);
        let c = Tensor::from_vec(vec![1, 3], vec![1f32, 2., 3.]).unwrap();
        assert!(a.max_abs_diff(&c).is_err());
    }
}
