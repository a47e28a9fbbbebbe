//! The binding to `cpp/cuda.cpp`: the device's own time of each call on CUDA (two CUDA events
//! recorded on the device's current stream, as `torch.cuda.Event(enable_timing=True)` does), and
//! the CUDA caching allocator's figures (`torch.cuda.memory_allocated`, `memory_reserved`,
//! `max_memory_allocated`).
//!
//! Both go through c10's device-generic interfaces (`c10::Event`, `c10::DeviceAllocator`), so
//! the shim is compiled without CUDA's headers and links no CUDA library itself: the libtorch
//! found at run time does the CUDA work. On a machine without a CUDA device these calls fail
//! with libtorch's message (or report nothing), they never crash.

use std::ffi::{c_char, c_int, c_void};

use infer_core::{DeviceMemory, Error, Result};

use super::take;
use crate::BACKEND;

mod ffi {
    use std::ffi::{c_char, c_int, c_void};

    unsafe extern "C" {
        pub fn infer_torch_cuda_timer_new(device: c_int, err: *mut *mut c_char) -> *mut c_void;
        pub fn infer_torch_cuda_timer_free(timer: *mut c_void);
        pub fn infer_torch_cuda_timer_record(timer: *mut c_void, stop: c_int, err: *mut *mut c_char) -> c_int;
        pub fn infer_torch_cuda_timer_elapsed(timer: *mut c_void, ms: *mut f64, err: *mut *mut c_char) -> c_int;
        pub fn infer_torch_cuda_memory(
            device: c_int,
            known: *mut c_int,
            allocated: *mut i64,
            reserved: *mut i64,
            peak: *mut i64,
            err: *mut *mut c_char,
        ) -> c_int;
    }
}

/// Where [`memory`]'s figures come from, as written into reports.
pub(crate) const MEMORY_SOURCE: &str = "libtorch's CUDA caching allocator (c10 DeviceAllocator::getDeviceStats: \
     allocated = torch.cuda.memory_allocated, reserved = torch.cuda.memory_reserved, peak = max_memory_allocated \
     since the process started)";

fn shim_err(what: &str, err: *mut c_char) -> Error {
    let msg = take(err);
    let msg = if msg.is_empty() { "no message from libtorch".to_string() } else { msg };
    Error::backend(BACKEND, format!("CUDA {what}: {msg}"))
}

fn device_index(ordinal: usize) -> Result<c_int> {
    c_int::try_from(ordinal).map_err(|_| Error::backend(BACKEND, format!("CUDA device {ordinal} is out of range")))
}

/// Two timing events of one CUDA device, recorded around each call ([`CudaTimer::start`],
/// [`CudaTimer::stop`]) and read once the device is done ([`CudaTimer::elapsed`]).
pub(crate) struct CudaTimer {
    ptr: *mut c_void,
    /// Whether both events were recorded since the last [`CudaTimer::elapsed`].
    stopped: bool,
}

// SAFETY: the timer is owned by one session, which is `Send` but never shared (`&mut self` for
// every use); the CUDA events inside may be recorded and read from any host thread.
unsafe impl Send for CudaTimer {}

impl CudaTimer {
    /// A timer of CUDA device `ordinal` (no CUDA call is made until [`CudaTimer::start`]).
    ///
    /// # Errors
    /// [`Error::Backend`] with libtorch's message.
    pub(crate) fn new(ordinal: usize) -> Result<Self> {
        let mut err = std::ptr::null_mut();
        // SAFETY: `err` is a valid out-pointer; the shim catches every C++ exception.
        let ptr = unsafe { ffi::infer_torch_cuda_timer_new(device_index(ordinal)?, &raw mut err) };
        if ptr.is_null() {
            return Err(shim_err("timer", err));
        }
        Ok(Self { ptr, stopped: false })
    }

    fn record(&mut self, stop: bool) -> Result<()> {
        let mut err = std::ptr::null_mut();
        // SAFETY: `self.ptr` is a live timer of the shim (freed only in `drop`); `err` is a valid
        // out-pointer; the shim catches every C++ exception.
        let rc = unsafe { ffi::infer_torch_cuda_timer_record(self.ptr, c_int::from(stop), &raw mut err) };
        if rc != 0 {
            return Err(shim_err(if stop { "event record (end)" } else { "event record (start)" }, err));
        }
        Ok(())
    }

    /// Records the start event on the device's current stream, before the call's first work.
    ///
    /// # Errors
    /// [`Error::Backend`] with libtorch's message (no CUDA device, say).
    pub(crate) fn start(&mut self) -> Result<()> {
        self.stopped = false;
        self.record(false)
    }

    /// Records the end event on the device's current stream, after the call's last work.
    ///
    /// # Errors
    /// [`Error::Backend`] with libtorch's message.
    pub(crate) fn stop(&mut self) -> Result<()> {
        self.record(true)?;
        self.stopped = true;
        Ok(())
    }

    /// The time between the two events of the last call, in seconds, once the end event is
    /// reached (waited for); `None` when no call was timed since the last reading.
    ///
    /// # Errors
    /// [`Error::Backend`] with libtorch's message.
    pub(crate) fn elapsed(&mut self) -> Result<Option<f64>> {
        if !self.stopped {
            return Ok(None);
        }
        self.stopped = false;
        let (mut ms, mut err) = (0.0, std::ptr::null_mut());
        // SAFETY: `self.ptr` is a live timer; the out-pointers are valid for the call; the shim
        // catches every C++ exception.
        let rc = unsafe { ffi::infer_torch_cuda_timer_elapsed(self.ptr, &raw mut ms, &raw mut err) };
        if rc != 0 {
            return Err(shim_err("event elapsed time", err));
        }
        Ok(Some(ms / 1e3))
    }
}

impl Drop for CudaTimer {
    fn drop(&mut self) {
        // SAFETY: `self.ptr` came from `infer_torch_cuda_timer_new` and is freed once, here.
        unsafe { ffi::infer_torch_cuda_timer_free(self.ptr) }
    }
}

/// The CUDA caching allocator's figures for device `ordinal`; `None` while the allocator has not
/// been initialized (no CUDA tensor allocated in this process yet).
///
/// # Errors
/// [`Error::Backend`] with libtorch's message (no CUDA allocator in this libtorch, say).
pub(crate) fn memory(ordinal: usize) -> Result<Option<DeviceMemory>> {
    let (mut known, mut allocated, mut reserved, mut peak): (c_int, i64, i64, i64) = (0, 0, 0, 0);
    let mut err = std::ptr::null_mut();
    // SAFETY: every out-pointer is valid for the call; the shim catches every C++ exception.
    let rc = unsafe {
        ffi::infer_torch_cuda_memory(
            device_index(ordinal)?,
            &raw mut known,
            &raw mut allocated,
            &raw mut reserved,
            &raw mut peak,
            &raw mut err,
        )
    };
    if rc != 0 {
        return Err(shim_err("allocator statistics", err));
    }
    let bytes = |v: i64| u64::try_from(v).ok();
    Ok((known != 0).then(|| DeviceMemory {
        allocated: bytes(allocated),
        reserved: bytes(reserved),
        peak_allocated: bytes(peak),
        source: MEMORY_SOURCE.into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The timer has nothing to report before a call was timed, on any machine; without a CUDA
    /// device, starting it is an error with libtorch's message, never a crash. (On a GPU the
    /// event path runs in `tests/runtime.rs`'s CUDA test, `--ignored`.)
    #[test]
    fn timer_without_a_call_reports_nothing_and_fails_cleanly_without_a_device() {
        let Ok(mut timer) = CudaTimer::new(0) else { return };
        assert_eq!(timer.elapsed().ok().flatten(), None, "nothing timed yet");
        if tch::Cuda::is_available() {
            return;
        }
        let e = timer.start().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.starts_with("torch: CUDA event record (start): "), "{e}");
        assert_eq!(timer.elapsed().ok().flatten(), None, "a failed start times nothing");
    }

    /// Without a CUDA device the allocator was never initialized (or libtorch has none):
    /// nothing to report, or an error, never figures.
    #[test]
    fn allocator_figures_need_a_cuda_allocation() {
        if tch::Cuda::is_available() {
            return;
        }
        assert!(matches!(memory(0), Ok(None) | Err(_)));
    }
}
