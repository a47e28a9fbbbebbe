//! Watching a run whose calls are not on one loop (the serving scenarios, the load test): a
//! session wrapper counts the calls that ended ([`Counted`]), and a thread of its own reads the
//! energy counters at window boundaries ([`BackgroundWatch`]). A call that straddles a boundary
//! counts in the window it ends in.

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc::{self, RecvTimeoutError},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use infer_core::{
    DeviceMemory, Result, Session, SessionInfo, Tensor,
    profile::{OpProfile, RunStages},
};

use super::{HostWatch, Observed};
use crate::timing::PhaseWatch;

/// A session that counts its calls as they end (`run` and `run_staged`), into a counter shared
/// with whoever watches.
pub struct Counted {
    inner: Box<dyn Session>,
    calls: Arc<AtomicU64>,
}

impl Counted {
    /// Counts `inner`'s calls into `calls`.
    #[must_use]
    pub fn new(inner: Box<dyn Session>, calls: Arc<AtomicU64>) -> Self {
        Self { inner, calls }
    }

    fn count(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

impl Session for Counted {
    fn info(&self) -> &SessionInfo {
        self.inner.info()
    }
    fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let out = self.inner.run(inputs);
        self.count();
        out
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
        let out = self.inner.run_staged(inputs);
        self.count();
        out
    }
    fn device_memory(&self) -> Option<DeviceMemory> {
        self.inner.device_memory()
    }
}

/// A [`HostWatch`] on a thread of its own: begun on [`BackgroundWatch::start`], the counters read
/// when each window is due with the calls counted so far, ended by [`BackgroundWatch::finish`].
#[derive(Debug)]
pub struct BackgroundWatch {
    stop: mpsc::Sender<()>,
    thread: Option<JoinHandle<HostWatch>>,
    calls: Arc<AtomicU64>,
}

/// How long the thread sleeps when no counter is due (it wakes at once when stopped).
const IDLE: Duration = Duration::from_secs(3600);

impl BackgroundWatch {
    /// Begins `watch` (on this thread: the sampler starts here) and reads the counters on a
    /// thread of its own from now on, with the calls in `calls`.
    #[must_use]
    pub fn start(mut watch: HostWatch, calls: Arc<AtomicU64>) -> Self {
        watch.begin();
        let (stop, stopped) = mpsc::channel::<()>();
        let counter = Arc::clone(&calls);
        let thread = std::thread::Builder::new()
            .name("infer-energy-windows".into())
            .spawn(move || {
                let done = || usize::try_from(counter.load(Ordering::Relaxed)).unwrap_or(usize::MAX);
                loop {
                    let wait = watch.next_due().map_or(IDLE, |t| t.saturating_duration_since(Instant::now()));
                    match stopped.recv_timeout(wait) {
                        Err(RecvTimeoutError::Timeout) => watch.after_call(done()),
                        _ => break,
                    }
                }
                watch.end(done());
                watch
            })
            .ok();
        Self { stop, thread, calls }
    }

    /// The calls counted so far.
    #[must_use]
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Ends the watch and gives what it saw.
    #[must_use]
    pub fn finish(self) -> Observed {
        let _ = self.stop.send(());
        match self.thread.map(JoinHandle::join) {
            Some(Ok(watch)) => watch.finish(),
            Some(Err(_)) => {
                Observed { problems: vec!["the energy window thread panicked".into()], ..Observed::default() }
            }
            None => {
                Observed { problems: vec!["the energy window thread could not start".into()], ..Observed::default() }
            }
        }
    }
}
