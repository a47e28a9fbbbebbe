//! The binding to `cpp/profiler.cpp`, infer's C++ bridge to libtorch's Kineto profiler (feature
//! `runtime`).
//!
//! libtorch's profiler is per thread: it records the ops of the thread that started it, and only
//! that thread can stop it. [`Profiler`] therefore remembers its thread and refuses to be used
//! from another one. Kineto underneath is one per process: a second profiler started while one
//! runs (on any thread) is refused too.

use std::{
    ffi::{CString, c_char, c_int, c_void},
    path::{Path, PathBuf},
    sync::atomic::{AtomicBool, Ordering},
    thread::ThreadId,
};

use infer_core::{Error, Result};

use super::take;
use crate::BACKEND;

mod ffi {
    use std::ffi::{c_char, c_int, c_void};

    unsafe extern "C" {
        pub fn infer_torch_profiler_start(with_modules: c_int, err: *mut *mut c_char) -> c_int;
        pub fn infer_torch_scope_begin(name: *const c_char, err: *mut *mut c_char) -> *mut c_void;
        pub fn infer_torch_scope_end(scope: *mut c_void);
        pub fn infer_torch_profiler_stop(
            trace_path: *const c_char,
            events: *mut *mut c_char,
            err: *mut *mut c_char,
        ) -> c_int;
    }
}

fn shim_err(what: &str, err: *mut c_char) -> Error {
    let msg = take(err);
    let msg = if msg.is_empty() { "no message".to_string() } else { msg };
    Error::backend(BACKEND, format!("libtorch profiler: {what}: {msg}"))
}

/// What [`Profiler::stop`] returns: the events as JSON (see [`crate::profile::RawEvent`]), and
/// why libtorch's own trace could not be saved, if it could not.
pub(crate) struct Stopped {
    /// A JSON array of raw events.
    pub events: String,
    /// The error of saving the Chrome trace, when one was asked for and failed.
    pub trace_error: Option<String>,
}

/// Whether a [`Profiler`] of this process is running.
static RUNNING: AtomicBool = AtomicBool::new(false);

/// libtorch's Kineto profiler, running on the thread that started it.
pub(crate) struct Profiler {
    thread: ThreadId,
    running: bool,
}

impl Profiler {
    /// Starts the profiler on the calling thread (CPU activities, with the TorchScript module
    /// hierarchy of each op).
    pub fn start() -> Result<Self> {
        if RUNNING.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_err() {
            return Err(Error::backend(
                BACKEND,
                "libtorch profiler: cannot start: another session of this process is being profiled \
                 (libtorch's Kineto profiler profiles one at a time)",
            ));
        }
        let mut err = std::ptr::null_mut();
        // SAFETY: `err` is a valid out-pointer; the shim catches every C++ exception.
        let rc = unsafe { ffi::infer_torch_profiler_start(1, &raw mut err) };
        if rc != 0 {
            RUNNING.store(false, Ordering::Release);
            return Err(shim_err("cannot start", err));
        }
        Ok(Self { thread: std::thread::current().id(), running: true })
    }

    fn check_thread(&self, what: &str) -> Result<()> {
        if !self.running {
            return Err(Error::InvalidInput(format!("cannot {what}: the libtorch profiler was already stopped")));
        }
        if std::thread::current().id() != self.thread {
            return Err(Error::InvalidInput(format!(
                "cannot {what}: libtorch's profiler runs per thread, and this session was loaded on another one"
            )));
        }
        Ok(())
    }

    /// Opens a user scope named `name` around what follows, closed when the guard is dropped.
    pub fn scope(&self, name: &str) -> Result<Scope> {
        self.check_thread("profile a run")?;
        let name = CString::new(name).map_err(|e| Error::InvalidInput(e.to_string()))?;
        let mut err = std::ptr::null_mut();
        // SAFETY: `name` is a valid C string (the shim copies it); `err` is a valid out-pointer.
        let handle = unsafe { ffi::infer_torch_scope_begin(name.as_ptr(), &raw mut err) };
        if handle.is_null() {
            return Err(shim_err("cannot open a scope", err));
        }
        Ok(Scope { handle })
    }

    /// Stops the profiler and returns its events; with `trace`, libtorch also saves its Chrome
    /// trace there.
    pub fn stop(&mut self, trace: Option<&Path>) -> Result<Stopped> {
        self.check_thread("stop the profiler")?;
        self.running = false;
        let trace = trace
            .map(|p| CString::new(p.as_os_str().as_encoded_bytes()).map_err(|e| Error::InvalidInput(e.to_string())))
            .transpose()?;
        let (mut events, mut err) = (std::ptr::null_mut(), std::ptr::null_mut());
        let path = trace.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        // SAFETY: `path` is null or a valid C string that outlives the call; `events` and `err`
        // are valid out-pointers; the shim catches every C++ exception.
        let rc: c_int = unsafe { ffi::infer_torch_profiler_stop(path, &raw mut events, &raw mut err) };
        RUNNING.store(false, Ordering::Release);
        match rc {
            0 => Ok(Stopped { events: take(events), trace_error: None }),
            2 => Ok(Stopped { events: take(events), trace_error: Some(take(err)) }),
            _ => {
                let _ = take(events);
                Err(shim_err("cannot stop", err))
            }
        }
    }
}

impl Drop for Profiler {
    fn drop(&mut self) {
        // A profiler left running would refuse the next one on this thread: stop it, results unused.
        if self.running && std::thread::current().id() == self.thread {
            let _ = self.stop(None);
        }
    }
}

/// A user scope in the profile, closed on drop; it stays on its thread.
pub(crate) struct Scope {
    handle: *mut c_void,
}

impl Drop for Scope {
    fn drop(&mut self) {
        // SAFETY: `handle` came from `infer_torch_scope_begin` on this thread (`Scope` is not
        // `Send`) and is ended exactly once.
        unsafe { ffi::infer_torch_scope_end(self.handle) };
    }
}

/// Where the Chrome trace of a profile with `prefix` is written.
pub(crate) fn trace_path(prefix: &Path) -> PathBuf {
    let mut name = prefix.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
    name.push("_libtorch_trace.json");
    prefix.with_file_name(name)
}
