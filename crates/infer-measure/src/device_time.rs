//! The device's own time beside the wall clock: what a session measures with its device's timer
//! ([`Session::device_time`](infer_core::Session::device_time); torch on CUDA: CUDA events
//! around each call), summarized per row ([`DeviceTime`]), and the warm-up rule that waits for
//! both clocks to settle ([`window_settled`]).
//!
//! Wall time stays the primary figure of every row: it is what a caller of the model waits. The
//! device time says how much of it the device was busy on the call's stream (the gaps between
//! kernels included, the host's work before the first and after the last enqueued operation
//! not), so that wall − device is the host's share.

use serde::{Deserialize, Serialize};

use crate::stats::Summary;
use infer_core::Result;

/// How [`DeviceTime`] figures are obtained, as written into reports.
pub const DEVICE_TIME_METHOD: &str = "the session's device timer (torch on CUDA: two CUDA events recorded on the \
     current stream around each call, the inputs' upload and the outputs' download included; elapsed time read after \
     the device was synchronized, outside the wall-clock sample)";

/// The device's own time per call of one row, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceTime {
    /// Statistics of the per-call device times.
    pub summary_ms: Summary,
    /// Every timed call's device time, in the order of the row's `samples_ms`.
    pub samples_ms: Vec<f64>,
    /// How the figures were obtained ([`DEVICE_TIME_METHOD`]).
    pub method: String,
}

impl DeviceTime {
    /// The device time of a row from its per-call samples; `None` when there are none (the
    /// session has no device timer, as on the CPU).
    ///
    /// # Errors
    /// [`infer_core::Error::InvalidInput`] when a sample is not finite.
    pub fn from_samples(samples_ms: Vec<f64>) -> Result<Option<Self>> {
        if samples_ms.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self { summary_ms: Summary::new(&samples_ms)?, samples_ms, method: DEVICE_TIME_METHOD.into() }))
    }

    /// Two rows' device times pooled (the rounds of `infer compare`); `None` unless both have one.
    ///
    /// # Errors
    /// As [`DeviceTime::from_samples`].
    pub fn pooled(a: Option<&Self>, b: Option<&Self>) -> Result<Option<Self>> {
        match (a, b) {
            (Some(a), Some(b)) => Self::from_samples(a.samples_ms.iter().chain(&b.samples_ms).copied().collect()),
            _ => Ok(None),
        }
    }
}

/// The medians of one warm-up window: the wall clock's, and the device's where every call of the
/// window reported a device time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowMedians {
    /// Median wall-clock time of the window's calls, seconds.
    pub wall: f64,
    /// Median device time of the window's calls, seconds.
    pub device: Option<f64>,
}

/// Whether a window median moved by less than `tolerance` relative to the previous one.
#[must_use]
pub fn settled(previous: f64, current: f64, tolerance: f64) -> bool {
    previous > 0.0 && ((current - previous) / previous).abs() < tolerance
}

/// Whether the warm-up has settled: the wall-clock median moved by less than `tolerance`
/// (relative) from the previous window's and, where the session times the device, so did the
/// device's median. A GPU whose clocks still ramp up, or whose libraries still pick their
/// kernels, shows it in the device's time even while the host's overhead hides it in the wall
/// clock's; a window that has device times after one that had none has not settled.
#[must_use]
pub fn window_settled(previous: &WindowMedians, current: &WindowMedians, tolerance: f64) -> bool {
    let wall = settled(previous.wall, current.wall, tolerance);
    let device = match (previous.device, current.device) {
        (Some(p), Some(c)) => settled(p, c, tolerance),
        (None, None) => true,
        _ => false,
    };
    wall && device
}

/// Seconds since the Unix epoch, for matching a timed phase to an outside monitor's samples
/// (the GPU's power and energy from NVML); 0 if the clock is before 1970.
#[must_use]
pub fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn w(wall: f64, device: Option<f64>) -> WindowMedians {
        WindowMedians { wall, device }
    }

    #[test]
    fn both_clocks_must_settle() {
        // Only the wall clock is known (the CPU): it decides alone.
        assert!(window_settled(&w(10.0, None), &w(10.1, None), 0.03));
        assert!(!window_settled(&w(10.0, None), &w(11.0, None), 0.03));
        // The host hides a device still speeding up: not settled.
        assert!(!window_settled(&w(10.0, Some(6.0)), &w(10.1, Some(5.0)), 0.03));
        // Both steady: settled.
        assert!(window_settled(&w(10.0, Some(6.0)), &w(10.1, Some(6.05)), 0.03));
        // Device steady, wall not: not settled.
        assert!(!window_settled(&w(10.0, Some(6.0)), &w(12.0, Some(6.0)), 0.03));
        // The device's time appears (or vanishes) between windows: not comparable yet.
        assert!(!window_settled(&w(10.0, None), &w(10.0, Some(6.0)), 0.03));
        assert!(!window_settled(&w(10.0, Some(6.0)), &w(10.0, None), 0.03));
    }

    #[test]
    fn no_samples_no_device_time_and_pooling_needs_both() {
        assert_eq!(DeviceTime::from_samples(Vec::new()).unwrap(), None);
        let a = DeviceTime::from_samples(vec![1.0, 2.0, 3.0]).unwrap().unwrap();
        assert!((a.summary_ms.median - 2.0).abs() < 1e-12);
        assert_eq!(a.method, DEVICE_TIME_METHOD);
        let b = DeviceTime::from_samples(vec![5.0]).unwrap();
        let pooled = DeviceTime::pooled(Some(&a), b.as_ref()).unwrap().unwrap();
        assert_eq!(pooled.samples_ms, [1.0, 2.0, 3.0, 5.0]);
        assert_eq!(DeviceTime::pooled(Some(&a), None).unwrap(), None);
        assert!(DeviceTime::from_samples(vec![f64::NAN]).is_err());
        assert!(unix_now() > 1.6e9);
    }
}
