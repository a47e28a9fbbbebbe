//! Synthetic input data: seeded, reproducible values of every element type, integers drawn from
//! the range each input allows.

use infer_core::TensorData;

use crate::{rng::SplitMix64, workload::values::ValueRange};

/// Fills `data` from `range` where there is one, else as [`fill_random`].
pub(crate) fn fill(data: &mut TensorData, range: Option<&ValueRange>, rng: &mut SplitMix) {
    let Some(r) = range else {
        fill_random(data, rng);
        return;
    };
    let mut draw = || rng.between(r.lo, r.hi);
    // The range was checked against the dtype (see `values`): the conversions cannot fail.
    match data {
        TensorData::I64(v) => v.iter_mut().for_each(|x| *x = draw()),
        TensorData::I32(v) => v.iter_mut().for_each(|x| *x = i32::try_from(draw()).unwrap_or_default()),
        TensorData::I8(v) => v.iter_mut().for_each(|x| *x = i8::try_from(draw()).unwrap_or_default()),
        TensorData::U8(v) => v.iter_mut().for_each(|x| *x = u8::try_from(draw()).unwrap_or_default()),
        TensorData::Bool(v) => v.iter_mut().for_each(|x| *x = draw() != 0),
        #[allow(clippy::cast_precision_loss)]
        TensorData::F32(v) => v.iter_mut().for_each(|x| *x = draw() as f32),
        #[allow(clippy::cast_precision_loss)]
        TensorData::F64(v) => v.iter_mut().for_each(|x| *x = draw() as f64),
        #[allow(clippy::cast_precision_loss)]
        TensorData::F16(v) => v.iter_mut().for_each(|x| *x = half::f16::from_f32(draw() as f32)),
        #[allow(clippy::cast_precision_loss)]
        TensorData::BF16(v) => v.iter_mut().for_each(|x| *x = half::bf16::from_f32(draw() as f32)),
    }
}

fn fill_random(data: &mut TensorData, rng: &mut SplitMix) {
    match data {
        TensorData::F32(v) => v.iter_mut().for_each(|x| *x = rng.normal()),
        TensorData::F16(v) => v.iter_mut().for_each(|x| *x = half::f16::from_f32(rng.normal())),
        TensorData::BF16(v) => v.iter_mut().for_each(|x| *x = half::bf16::from_f32(rng.normal())),
        TensorData::F64(v) => v.iter_mut().for_each(|x| *x = f64::from(rng.normal())),
        TensorData::I64(v) => v.iter_mut().for_each(|x| *x = i64::from(rng.small())),
        TensorData::I32(v) => v.iter_mut().for_each(|x| *x = i32::from(rng.small())),
        TensorData::I8(v) => v.iter_mut().for_each(|x| *x = i8::try_from(rng.small()).unwrap_or(0)),
        TensorData::U8(v) => v.iter_mut().for_each(|x| *x = rng.small()),
        TensorData::Bool(v) => v.iter_mut().enumerate().for_each(|(i, x)| *x = i % 2 == 0),
    }
}

/// Synthetic values from the shared deterministic generator.
pub(crate) struct SplitMix(pub(crate) SplitMix64);

impl SplitMix {
    #[allow(clippy::cast_possible_truncation)]
    fn normal(&mut self) -> f32 {
        // Sum of 4 uniforms, centred and scaled to unit variance: cheap and bounded.
        let s: f64 = (0..4).map(|_| self.0.unit()).sum();
        ((s - 2.0) * 3f64.sqrt()) as f32
    }

    fn small(&mut self) -> u8 {
        (self.0.next_u64() % 10) as u8
    }

    /// Uniform in `[lo, hi)` (`lo < hi`).
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        let span = u128::try_from(i128::from(hi) - i128::from(lo)).unwrap_or(1);
        let offset = (u128::from(self.0.next_u64()) * span) >> 64;
        i64::try_from(i128::from(lo) + i128::try_from(offset).unwrap_or(0)).unwrap_or(lo)
    }
}
