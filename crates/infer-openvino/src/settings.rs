//! This backend's options, checked and typed: the performance hint, the inference precision and
//! the thread count, as OpenVINO's CPU plugin properties.
//!
//! ```
//! use infer_core::LoadOptions;
//! use infer_openvino::{Hint, Precision, Settings};
//!
//! let opts = LoadOptions { intra_threads: 2, ..LoadOptions::default() }.with_option("hint", "THROUGHPUT");
//! let s = Settings::from_options(&opts)?;
//! assert_eq!((s.hint, s.precision, s.threads), (Hint::Throughput, Precision::F32, 2));
//! assert_eq!(s.properties(), [("PERFORMANCE_HINT", "THROUGHPUT"), ("INFERENCE_PRECISION_HINT", "f32"), ("INFERENCE_NUM_THREADS", "2")]
//!     .map(|(k, v)| (k, v.to_string())));
//! # Ok::<(), infer_core::Error>(())
//! ```

use infer_core::{LoadOptions, Result};

use crate::{BACKEND, OPTIONS};

/// OpenVINO's performance hint (`PERFORMANCE_HINT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Hint {
    /// One request as fast as possible: one stream using every thread.
    #[default]
    Latency,
    /// Several streams sharing the cores: more inferences per second from concurrent requests,
    /// each one slower.
    Throughput,
}

/// The precision OpenVINO computes in (`INFERENCE_PRECISION_HINT`). Inputs and outputs keep the
/// model's element types whatever it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// 32-bit floats, as every other backend computes: the default, for a fair comparison
    /// (OpenVINO's own default is bf16 on CPUs that have it).
    #[default]
    F32,
    /// bfloat16, where the CPU has it (AVX-512 BF16 or AMX).
    Bf16,
    /// IEEE half precision, where the CPU has it (AVX-512 FP16 or AMX-FP16).
    F16,
}

impl Precision {
    /// The property value (`f32`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "f16",
        }
    }

    /// The capability the CPU plugin lists in `OPTIMIZATION_CAPABILITIES` when it can compute in
    /// this precision.
    #[must_use]
    pub fn capability(self) -> &'static str {
        match self {
            Precision::F32 => "FP32",
            Precision::Bf16 => "BF16",
            Precision::F16 => "FP16",
        }
    }
}

/// Everything this backend takes from [`LoadOptions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Settings {
    /// `--option hint=…`.
    pub hint: Hint,
    /// `--option precision=…`.
    pub precision: Precision,
    /// Inference threads (`INFERENCE_NUM_THREADS`); 0 leaves OpenVINO's default (every core).
    pub threads: usize,
}

impl Settings {
    /// Reads and checks this backend's options.
    ///
    /// # Errors
    /// [`infer_core::Error::InvalidInput`] for an unknown key or value, naming it and what is
    /// accepted.
    pub fn from_options(opts: &LoadOptions) -> Result<Self> {
        infer_core::options::check(BACKEND, OPTIONS, &opts.options)?;
        let value = |key: &str| opts.option(key).map(str::to_ascii_lowercase);
        let hint = match value("hint").as_deref() {
            Some("throughput") => Hint::Throughput,
            _ => Hint::Latency,
        };
        let precision = match value("precision").as_deref() {
            Some("bf16") => Precision::Bf16,
            Some("f16") => Precision::F16,
            _ => Precision::F32,
        };
        Ok(Self { hint, precision, threads: opts.intra_threads })
    }

    /// The CPU plugin properties these settings set, in the order they are set.
    #[must_use]
    pub fn properties(&self) -> Vec<(&'static str, String)> {
        let hint = match self.hint {
            Hint::Latency => "LATENCY",
            Hint::Throughput => "THROUGHPUT",
        };
        let mut out = vec![
            ("PERFORMANCE_HINT", hint.to_string()),
            ("INFERENCE_PRECISION_HINT", self.precision.as_str().to_string()),
        ];
        if self.threads > 0 {
            out.push(("INFERENCE_NUM_THREADS", self.threads.to_string()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_are_latency_f32_and_the_runtimes_threads() {
        let s = Settings::from_options(&LoadOptions::default()).unwrap();
        assert_eq!(s, Settings { hint: Hint::Latency, precision: Precision::F32, threads: 0 });
        assert_eq!(s.properties().len(), 2);
        let s = Settings::from_options(&LoadOptions::default().with_option("precision", "BF16")).unwrap();
        assert_eq!((s.precision, s.precision.capability()), (Precision::Bf16, "BF16"));
        let err = Settings::from_options(&LoadOptions::default().with_option("precision", "int8")).unwrap_err();
        assert!(err.to_string().contains("expected one of f32, bf16, f16"), "{err}");
    }
}
