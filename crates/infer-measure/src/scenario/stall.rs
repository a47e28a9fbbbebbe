//! A session that stalls once: the first call that starts at least `after` since the wrapper was
//! made sleeps `stall` before running. The command line's hidden test hook (`INFER_TEST_STALL`,
//! see `infer bench`) wraps the loaded session in it, to prove that requests queued behind a
//! stall carry it in their latency.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use infer_core::{
    DeviceMemory, Result, Session, SessionInfo, Tensor,
    profile::{OpProfile, RunStages},
};

/// Wraps a session; see the [module docs](self).
pub struct StallOnce {
    inner: Box<dyn Session>,
    stall: Duration,
    not_before: Instant,
    done: bool,
}

impl StallOnce {
    /// Stalls `inner` once for `stall`, at the first call starting `after` from now or later.
    #[must_use]
    pub fn new(inner: Box<dyn Session>, stall: Duration, after: Duration) -> Self {
        Self { inner, stall, not_before: Instant::now() + after, done: false }
    }

    fn maybe_stall(&mut self) {
        if !self.done && Instant::now() >= self.not_before {
            self.done = true;
            std::thread::sleep(self.stall);
        }
    }
}

impl Session for StallOnce {
    fn info(&self) -> &SessionInfo {
        self.inner.info()
    }
    fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        self.maybe_stall();
        self.inner.run(inputs)
    }
    fn synchronize(&mut self) -> Result<()> {
        self.inner.synchronize()
    }
    fn device_time(&mut self) -> Result<Option<f64>> {
        self.inner.device_time()
    }
    fn end_profiling(&mut self) -> Result<PathBuf> {
        self.inner.end_profiling()
    }
    fn op_profile(&mut self) -> Result<OpProfile> {
        self.inner.op_profile()
    }
    fn run_staged(&mut self, inputs: &[Tensor]) -> Result<(Vec<Tensor>, Option<RunStages>)> {
        self.maybe_stall();
        self.inner.run_staged(inputs)
    }
    fn device_memory(&self) -> Option<DeviceMemory> {
        self.inner.device_memory()
    }
}
