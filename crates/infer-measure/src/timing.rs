//! Timing a session: warm-up, then timed iterations by count or duration, with the device
//! synchronized before every clock read, and the device's own time beside the wall clock where
//! the session measures it ([`crate::device_time`]).

use std::{
    borrow::Cow,
    time::{Duration, Instant},
};

use crate::{
    confidence::{CheckSchedule, CiTarget, Convergence},
    device_time::{WindowMedians, unix_now, window_settled},
    feedback::Feedback,
    stats::{Sample, Summary},
};
use indicatif::{ProgressBar, ProgressStyle};
use infer_core::{Result, Session, Tensor, profile::RunStages};
use serde::{Deserialize, Serialize};

/// When to stop the timed phase.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// After this many timed iterations.
    Iterations(usize),
    /// After this much time (at least [`MIN_ITERATIONS`] iterations).
    Duration(Duration),
    /// When the 95% interval of the median (and of p99 where asked) is within the target, or
    /// after the target's time budget (at least [`MIN_ITERATIONS`] iterations); see
    /// [`crate::confidence`].
    Confidence(CiTarget),
}

/// The fewest iterations a duration-bounded run takes, so that statistics exist.
pub const MIN_ITERATIONS: usize = 5;

/// How much to warm up before timing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Warmup {
    /// Exactly this many untimed iterations.
    Count(usize),
    /// Untimed windows of `window` iterations until the median of a window differs from the
    /// previous window's by less than `tolerance` (relative), at most `max` iterations and no
    /// window started after `max_time`.
    UntilStable {
        /// Iterations per window.
        window: usize,
        /// Relative change of the window median under which the run counts as settled (0.02 = 2%).
        tolerance: f64,
        /// Cap on warm-up iterations.
        max: usize,
        /// Cap on warm-up time: no new window starts after it.
        max_time: Duration,
    },
}

impl Warmup {
    /// `--warmup auto`, the default: windows of 5, settled below a 3% change of the window
    /// median, at most 100 iterations or 20 s. Libtorch's profiling executor and TensorFlow's
    /// first runs keep getting faster for seconds, which a fixed count of 5 missed.
    pub const AUTO: Warmup =
        Warmup::UntilStable { window: 5, tolerance: 0.03, max: 100, max_time: Duration::from_secs(20) };
}

impl Default for Warmup {
    fn default() -> Self {
        Warmup::AUTO
    }
}

impl From<usize> for Warmup {
    fn from(n: usize) -> Self {
        Warmup::Count(n)
    }
}

impl std::fmt::Display for Warmup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warmup::Count(n) => write!(f, "{n}"),
            Warmup::UntilStable { .. } if *self == Warmup::AUTO => f.write_str("auto"),
            Warmup::UntilStable { window, tolerance, max, max_time } => {
                write!(f, "until-stable(window {window}, {:.1}%, max {max} or {max_time:?})", tolerance * 100.0)
            }
        }
    }
}

impl std::str::FromStr for Warmup {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("auto") {
            return Ok(Warmup::AUTO);
        }
        t.parse::<usize>()
            .map(Warmup::Count)
            .map_err(|_| format!("invalid warm-up `{s}`: expected a number of iterations or `auto`"))
    }
}

/// How to time one (session, batch size).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BenchConfig {
    /// Untimed iterations first.
    pub warmup: Warmup,
    /// When to stop timing.
    pub stop: Stop,
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self { warmup: Warmup::AUTO, stop: Stop::Iterations(50) }
    }
}

/// Raw latencies of one timed run, in milliseconds, in the order measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// Milliseconds per iteration.
    pub samples_ms: Vec<f64>,
    /// Wall-clock time of the timed phase.
    pub total: Duration,
    /// Warm-up iterations actually run.
    pub warmup_iterations: usize,
    /// For [`Warmup::UntilStable`]: whether the window median settled before the cap.
    pub warmup_settled: Option<bool>,
    /// Per-iteration stage split, when the backend separates stages (empty otherwise).
    pub stages: Vec<RunStages>,
    /// With [`Stop::Confidence`]: whether the interval reached its target, and when.
    pub convergence: Option<Convergence>,
    /// The device's own time per timed iteration, milliseconds, in the order of `samples_ms`,
    /// where the session measures it ([`Session::device_time`]; empty otherwise).
    pub device_ms: Vec<f64>,
    /// Unix time, seconds, at the start and the end of the timed phase: what an outside monitor's
    /// samples (the GPU's power and energy) are matched to.
    pub unix_span_s: [f64; 2],
}

impl Timing {
    /// The validated sample.
    ///
    /// # Errors
    /// When fewer than two iterations ran.
    pub fn sample(&self) -> Result<Sample> {
        Sample::new(self.samples_ms.clone())
    }
}

/// Something that watches a timed phase from outside its samples: the host's evidence and energy
/// ([`crate::host::HostWatch`]). Every call happens between two samples' clock reads, never
/// inside one.
pub trait PhaseWatch {
    /// The warm-up is over and the device synchronized: the first timed call comes next.
    fn begin(&mut self) {}
    /// A timed call is done (`calls` so far), its clock read; the next has not started.
    fn after_call(&mut self, calls: usize) {
        let _ = calls;
    }
    /// The timed phase ended after `calls` calls.
    fn end(&mut self, calls: usize) {
        let _ = calls;
    }
}

/// A [`PhaseWatch`] that does nothing: what [`time_session`] uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoWatch;

impl PhaseWatch for NoWatch {}

/// Runs `inputs` through `session` as `config` says and returns the latencies. Each iteration
/// is `run` + `synchronize`, so a GPU's queued work is inside the measured time, and the device
/// is synchronized once more before the timed phase's first clock read. Timed
/// iterations go through [`Session::run_staged`], so backends that can split a call into
/// input binding, compute and output fetch report it at the cost of three clock reads. After
/// each sample's clock read, [`Session::device_time`] is asked for the device's own time of the
/// call (kept only when every timed call has one).
///
/// # Errors
/// The first run or synchronize error.
pub fn time_session(
    session: &mut dyn Session,
    inputs: &[Tensor],
    config: &BenchConfig,
    progress: &ProgressBar,
) -> Result<Timing> {
    time_session_watched(session, inputs, config, progress, &mut NoWatch)
}

/// As [`time_session`], with `watch` told when the timed phase begins, after each timed call
/// (outside its sample) and when it ends.
///
/// # Errors
/// As [`time_session`].
pub fn time_session_watched(
    session: &mut dyn Session,
    inputs: &[Tensor],
    config: &BenchConfig,
    progress: &ProgressBar,
    watch: &mut dyn PhaseWatch,
) -> Result<Timing> {
    time_carried(session, &mut Cow::Borrowed(inputs), None, config, progress, watch)
}

/// As [`time_session_watched`], with the state carried (`--feedback`): after every call, warm-up
/// included, `feedback`'s outputs are moved into `inputs` for the next call, outside the timed
/// sample (after its clock read). `inputs` ends holding the last call's state.
///
/// # Errors
/// As [`time_session`], and an output whose shape or dtype differs from the input it feeds
/// ([`Feedback::feed`]).
pub fn time_session_fed(
    session: &mut dyn Session,
    inputs: &mut Vec<Tensor>,
    feedback: &Feedback,
    config: &BenchConfig,
    progress: &ProgressBar,
    watch: &mut dyn PhaseWatch,
) -> Result<Timing> {
    let mut carried = Cow::Owned(std::mem::take(inputs));
    let timing = time_carried(session, &mut carried, Some(feedback), config, progress, watch);
    *inputs = carried.into_owned();
    timing
}

/// The timed phase of [`time_session_watched`] and [`time_session_fed`].
fn time_carried(
    session: &mut dyn Session,
    inputs: &mut Cow<'_, [Tensor]>,
    feedback: Option<&Feedback>,
    config: &BenchConfig,
    progress: &ProgressBar,
    watch: &mut dyn PhaseWatch,
) -> Result<Timing> {
    let (warmup_iterations, warmup_settled) = warm_up(session, inputs, feedback, config.warmup)?;
    let mut samples_ms = Vec::new();
    let mut stages = Vec::new();
    let mut stopper = Stopper::new(config.stop);
    let mut device_ms = Vec::new();
    // Nothing of the warm-up may still be queued when the first clock is read.
    session.synchronize()?;
    watch.begin();
    let unix_start = unix_now();
    let start = Instant::now();
    while !stopper.done(&samples_ms, start.elapsed())? {
        let t = Instant::now();
        let (outputs, staged) = session.run_staged(inputs)?;
        // Without feedback the outputs go at once, as they always did; fed back, they are
        // moved into the next call's inputs after the clock read.
        let fed = feedback.map(|f| (f, outputs));
        session.synchronize()?;
        samples_ms.push(t.elapsed().as_secs_f64() * 1e3);
        if let Some((f, outputs)) = fed {
            f.feed(outputs, inputs.to_mut())?;
        }
        // Outside the sample: the device is done, its timer can be read without waiting.
        if let Some(device_s) = session.device_time()? {
            device_ms.push(device_s * 1e3);
        }
        stages.extend(staged);
        watch.after_call(samples_ms.len());
        progress.set_position(match config.stop {
            Stop::Iterations(_) => samples_ms.len() as u64,
            Stop::Duration(_) | Stop::Confidence(_) => u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
        });
    }
    // Stages only mean something when every iteration reported them.
    if stages.len() != samples_ms.len() {
        stages.clear();
    }
    if device_ms.len() != samples_ms.len() {
        device_ms.clear();
    }
    let total = start.elapsed();
    watch.end(samples_ms.len());
    let unix_span_s = [unix_start, unix_now()];
    let convergence = stopper.convergence(&samples_ms, total)?;
    Ok(Timing { samples_ms, total, warmup_iterations, warmup_settled, stages, device_ms, unix_span_s, convergence })
}

/// The stop rule of a timed phase, with the state of a stop on confidence.
struct Stopper {
    stop: Stop,
    schedule: Option<CheckSchedule>,
    /// The check that met the target.
    reached: Option<Convergence>,
}

impl Stopper {
    fn new(stop: Stop) -> Self {
        let schedule = match &stop {
            Stop::Confidence(t) => Some(CheckSchedule::new(t)),
            _ => None,
        };
        Self { stop, schedule, reached: None }
    }

    /// Whether to stop with `samples` measured after `elapsed`; a due interval check runs here,
    /// between two timed calls.
    fn done(&mut self, samples: &[f64], elapsed: Duration) -> Result<bool> {
        Ok(match self.stop {
            Stop::Iterations(n) => samples.len() >= n,
            Stop::Duration(d) => samples.len() >= MIN_ITERATIONS && elapsed >= d,
            Stop::Confidence(target) => {
                if samples.len() < MIN_ITERATIONS.max(target.min_samples) {
                    return Ok(false);
                }
                if elapsed >= target.max_time {
                    return Ok(true);
                }
                let Some(schedule) = self.schedule.as_mut().filter(|s| s.due(samples.len(), elapsed)) else {
                    return Ok(false);
                };
                let t = Instant::now();
                let precision = target.check(&Sample::new(samples.to_vec())?)?;
                schedule.checked(samples.len(), elapsed + t.elapsed(), t.elapsed());
                let met = target.met(&precision);
                if met {
                    let time = (elapsed + t.elapsed()).as_secs_f64();
                    self.reached = Some(Convergence::new(&target, &precision, samples.len(), time));
                }
                met
            }
        })
    }

    /// The convergence record of a stop on confidence: the check that met the target, or a last
    /// check of every sample when the budget ran out.
    fn convergence(self, samples: &[f64], total: Duration) -> Result<Option<Convergence>> {
        let Stop::Confidence(target) = self.stop else { return Ok(None) };
        if let Some(c) = self.reached {
            return Ok(Some(c));
        }
        let precision = target.check(&Sample::new(samples.to_vec())?)?;
        Ok(Some(Convergence::new(&target, &precision, samples.len(), total.as_secs_f64())))
    }
}

/// Runs the warm-up; returns the iterations run and, for [`Warmup::UntilStable`], whether it
/// settled: the window medians of the wall clock and, where the session times the device, of the
/// device's time ([`window_settled`]).
fn warm_up(
    session: &mut dyn Session,
    inputs: &mut Cow<'_, [Tensor]>,
    feedback: Option<&Feedback>,
    warmup: Warmup,
) -> Result<(usize, Option<bool>)> {
    let mut once = || -> Result<(f64, Option<f64>)> {
        let t = Instant::now();
        let outputs = session.run(inputs)?;
        let fed = feedback.map(|f| (f, outputs));
        session.synchronize()?;
        let wall = t.elapsed().as_secs_f64();
        if let Some((f, outputs)) = fed {
            f.feed(outputs, inputs.to_mut())?;
        }
        Ok((wall, session.device_time()?))
    };
    match warmup {
        Warmup::Count(n) => {
            for _ in 0..n {
                once()?;
            }
            Ok((n, None))
        }
        Warmup::UntilStable { window, tolerance, max, max_time } => {
            let window = window.max(1);
            let mut run = 0;
            let mut previous: Option<WindowMedians> = None;
            let start = Instant::now();
            while run + window <= max.max(window) && (run == 0 || start.elapsed() < max_time) {
                let times = (0..window).map(|_| once()).collect::<Result<Vec<(f64, Option<f64>)>>>()?;
                run += window;
                let wall: Vec<f64> = times.iter().map(|t| t.0).collect();
                let device: Option<Vec<f64>> = times.iter().map(|t| t.1).collect();
                let medians = WindowMedians {
                    wall: Summary::new(&wall)?.median,
                    device: device.map(|d| Summary::new(&d)).transpose()?.map(|s| s.median),
                };
                if previous.is_some_and(|p| window_settled(&p, &medians, tolerance)) {
                    return Ok((run, Some(true)));
                }
                previous = Some(medians);
            }
            Ok((run, Some(false)))
        }
    }
}

/// Medians of the per-call stages, in milliseconds, with what each covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageSummary {
    /// Median time handing the inputs to the runtime, ms.
    pub bind_ms: f64,
    /// Median time in the runtime's run call, ms.
    pub compute_ms: f64,
    /// Median time copying the outputs out, ms.
    pub fetch_ms: f64,
    /// What the figures cover.
    pub covers: String,
}

/// What [`StageSummary`]'s figures cover, as written into reports.
pub const STAGES_COVER: &str = "medians over the timed iterations of Session::run_staged: bind = input checks and \
     handing the tensors to the runtime (zero-copy views on the CPU), compute = the runtime's run call, \
     fetch = copying the outputs into infer tensors";

/// Summarizes per-iteration stages; `None` when there are none.
#[must_use]
pub fn summarize_stages(stages: &[RunStages]) -> Option<StageSummary> {
    let median = |f: fn(&RunStages) -> f64| {
        Summary::new(&stages.iter().map(|s| f(s) * 1e3).collect::<Vec<_>>()).ok().map(|s| s.median)
    };
    Some(StageSummary {
        bind_ms: median(|s| s.bind_s)?,
        compute_ms: median(|s| s.compute_s)?,
        fetch_ms: median(|s| s.fetch_s)?,
        covers: STAGES_COVER.into(),
    })
}

/// A progress bar on stderr for one timed run (hidden when stderr is not a terminal).
#[must_use]
pub fn progress_bar(label: &str, config: &BenchConfig) -> ProgressBar {
    let len = match config.stop {
        Stop::Iterations(n) => n as u64,
        Stop::Duration(d) => u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
        Stop::Confidence(t) => u64::try_from(t.max_time.as_millis()).unwrap_or(u64::MAX),
    };
    let pb = ProgressBar::new(len);
    let unit = match config.stop {
        Stop::Iterations(_) => "it",
        Stop::Duration(_) | Stop::Confidence(_) => "ms",
    };
    let template = format!("{{prefix}} [{{bar:30}}] {{pos}}/{{len}} {unit} ({{elapsed}})");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_prefix(label.to_string());
    pb
}

/// Parses durations such as `10s`, `500ms`, `2m`, `1.5s`.
///
/// # Errors
/// A message naming the text and the accepted forms.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let t = text.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    let v: f64 =
        num.trim().parse().map_err(|_| format!("invalid duration `{text}`: expected e.g. 10s, 500ms or 2m"))?;
    if !v.is_finite() || v <= 0.0 || v * scale > 86_400.0 {
        return Err(format!("invalid duration `{text}`: must be positive and at most a day"));
    }
    Ok(Duration::from_secs_f64(v * scale))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use infer_core::{Device, SessionInfo};

    use super::*;
    use crate::device_time::settled;

    /// A session that counts its calls and returns its input; stages only when asked to.
    struct Counting {
        info: SessionInfo,
        runs: usize,
        staged: bool,
    }

    impl Session for Counting {
        fn info(&self) -> &SessionInfo {
            &self.info
        }
        fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
            self.runs += 1;
            Ok(inputs.to_vec())
        }
        fn run_staged(&mut self, inputs: &[Tensor]) -> Result<(Vec<Tensor>, Option<RunStages>)> {
            let out = self.run(inputs)?;
            Ok((out, self.staged.then_some(RunStages { bind_s: 1e-6, compute_s: 2e-6, fetch_s: 3e-6 })))
        }
    }

    /// A session whose work is queued like a GPU's: `run` returns at once and the work is done
    /// only when `synchronize` returns, [`QUEUED_WORK`] later. Every call is logged in order.
    struct Queued {
        info: SessionInfo,
        log: Vec<&'static str>,
    }

    const QUEUED_WORK: Duration = Duration::from_millis(20);

    impl Session for Queued {
        fn info(&self) -> &SessionInfo {
            &self.info
        }
        fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
            self.log.push("run");
            Ok(inputs.to_vec())
        }
        fn synchronize(&mut self) -> Result<()> {
            self.log.push("synchronize");
            std::thread::sleep(QUEUED_WORK);
            Ok(())
        }
    }

    /// The clock must not stop before the device is done: each timed iteration is its run and
    /// then its synchronize, both inside the measured time. (Not a speed assertion: `sleep`
    /// guarantees the lower bound.)
    #[test]
    fn every_timed_iteration_waits_for_the_device() {
        let x = Tensor::from_vec(vec![1], vec![1.0f32]).unwrap();
        for stop in [Stop::Iterations(4), Stop::Duration(Duration::from_millis(1))] {
            let mut s = Queued { info: SessionInfo::new(Vec::new(), Vec::new(), Device::Cuda(0)), log: Vec::new() };
            let config = BenchConfig { warmup: Warmup::Count(2), stop };
            let t = time_session(&mut s, std::slice::from_ref(&x), &config, &ProgressBar::hidden()).unwrap();
            assert_eq!(t.samples_ms.len(), if stop == Stop::Iterations(4) { 4 } else { MIN_ITERATIONS }, "{stop:?}");
            // The warm-up's runs, one more synchronize before the first clock read, the timed runs.
            let mut expected = ["run", "synchronize"].repeat(2);
            expected.push("synchronize");
            expected.extend(["run", "synchronize"].repeat(t.samples_ms.len()));
            assert_eq!(s.log, expected, "{stop:?}: each run is synchronized");
            assert!(t.device_ms.is_empty(), "the session has no device timer");
            assert!(t.unix_span_s[0] > 0.0 && t.unix_span_s[1] >= t.unix_span_s[0], "{:?}", t.unix_span_s);
            let waited = QUEUED_WORK.as_secs_f64() * 1e3;
            assert!(
                t.samples_ms.iter().all(|&ms| ms >= waited),
                "{stop:?}: a sample shorter than the device's {waited} ms of work: {:?}",
                t.samples_ms
            );
        }
    }

    /// A GPU-like session whose wall time is steady from the start while its device time
    /// (reported by `device_time`) keeps falling for the first `ramp` calls, as a GPU whose
    /// clocks are still rising behind a host-bound call does.
    struct Ramping {
        info: SessionInfo,
        calls: usize,
        ramp: usize,
    }

    impl Session for Ramping {
        fn info(&self) -> &SessionInfo {
            &self.info
        }
        fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
            self.calls += 1;
            Ok(inputs.to_vec())
        }
        fn device_time(&mut self) -> Result<Option<f64>> {
            let left = self.ramp.saturating_sub(self.calls);
            #[allow(clippy::cast_precision_loss)]
            Ok(Some(1e-3 * (1.0 + left as f64)))
        }
    }

    /// The warm-up waits for the device's time to settle, not only the wall clock's, and every
    /// timed call's device time is kept.
    #[test]
    fn warm_up_waits_for_the_device_and_device_times_are_kept() {
        let x = Tensor::from_vec(vec![1], vec![1.0f32]).unwrap();
        let auto = Warmup::UntilStable { window: 5, tolerance: 0.03, max: 100, max_time: Duration::from_secs(60) };
        let config = BenchConfig { warmup: auto, stop: Stop::Iterations(6) };
        let mut s = Ramping { info: SessionInfo::new(Vec::new(), Vec::new(), Device::Cuda(0)), calls: 0, ramp: 30 };
        let t = time_session(&mut s, std::slice::from_ref(&x), &config, &ProgressBar::hidden()).unwrap();
        // Wall times of a no-op are noise-level but settle or not at random; the device's fall
        // until call 30, so no window before the one after call 30 can have settled.
        assert!(t.warmup_iterations >= 35, "settled at {} while the device was still ramping", t.warmup_iterations);
        assert_eq!(t.device_ms.len(), 6);
        assert!(t.device_ms.iter().all(|&ms| (ms - 1.0).abs() < 1e-9), "{:?}", t.device_ms);
    }

    #[test]
    fn time_session_counts_warmup_and_iterations() {
        let x = Tensor::from_vec(vec![1], vec![1.0f32]).unwrap();
        let mut s = Counting { info: SessionInfo::new(Vec::new(), Vec::new(), Device::Cpu), runs: 0, staged: false };
        let config = BenchConfig { warmup: Warmup::Count(3), stop: Stop::Iterations(7) };
        let t = time_session(&mut s, std::slice::from_ref(&x), &config, &ProgressBar::hidden()).unwrap();
        assert_eq!((s.runs, t.samples_ms.len(), t.warmup_iterations, t.warmup_settled), (10, 7, 3, None));
        assert!(t.stages.is_empty(), "the session did not separate stages");

        let mut s = Counting { info: SessionInfo::new(Vec::new(), Vec::new(), Device::Cpu), runs: 0, staged: true };
        let auto = Warmup::UntilStable { window: 4, tolerance: 1e9, max: 40, max_time: Duration::from_secs(60) };
        let config = BenchConfig { warmup: auto, stop: Stop::Iterations(5) };
        let t = time_session(&mut s, std::slice::from_ref(&x), &config, &ProgressBar::hidden()).unwrap();
        // Any change is below an absurd tolerance: settled after the second window.
        assert_eq!((t.warmup_iterations, t.warmup_settled), (8, Some(true)));
        assert_eq!(s.runs, 8 + 5);
        assert_eq!(t.stages.len(), 5);
        let summary = summarize_stages(&t.stages).unwrap();
        assert!((summary.compute_ms - 2e-3).abs() < 1e-12);

        let mut s = Counting { info: SessionInfo::new(Vec::new(), Vec::new(), Device::Cpu), runs: 0, staged: false };
        let never = Warmup::UntilStable { window: 5, tolerance: 0.0, max: 23, max_time: Duration::from_secs(60) };
        let config = BenchConfig { warmup: never, stop: Stop::Iterations(1) };
        let t = time_session(&mut s, std::slice::from_ref(&x), &config, &ProgressBar::hidden()).unwrap();
        // A zero tolerance never settles: whole windows up to the cap.
        assert_eq!((t.warmup_iterations, t.warmup_settled), (20, Some(false)));

        let mut s = Counting { info: SessionInfo::new(Vec::new(), Vec::new(), Device::Cpu), runs: 0, staged: false };
        let hurried = Warmup::UntilStable { window: 5, tolerance: 0.0, max: 100, max_time: Duration::ZERO };
        let config = BenchConfig { warmup: hurried, stop: Stop::Iterations(1) };
        let t = time_session(&mut s, std::slice::from_ref(&x), &config, &ProgressBar::hidden()).unwrap();
        // The time cap stops the warm-up after the first window, unsettled.
        assert_eq!((t.warmup_iterations, t.warmup_settled), (5, Some(false)));
    }

    /// The stop on confidence, without clocks: samples and elapsed times are given.
    #[test]
    fn a_stop_on_confidence_ends_when_the_interval_is_reached_or_the_budget_is_spent() {
        use crate::confidence::CiTarget;
        let target = CiTarget::median(0.02, Duration::from_secs(30));
        let tight: Vec<f64> = (0..40).map(|i| 10.0 + f64::from(i % 5) * 0.01).collect();
        let mut s = Stopper::new(Stop::Confidence(target));
        assert!(!s.done(&tight[..9], Duration::from_secs(1)).unwrap(), "fewer than the minimum: no check");
        assert!(s.done(&tight[..10], Duration::from_secs(2)).unwrap(), "±0.1% at the first check");
        let c = s.convergence(&tight[..10], Duration::from_secs(3)).unwrap().unwrap();
        assert!(c.reached && c.samples == 10 && c.median_half_width <= 0.02, "{c:?}");
        assert!(c.time_to_interval_s >= 2.0 && c.time_to_interval_s < 3.0, "the time of the check that met it: {c:?}");

        // Two modes 50% apart, alternating: the median's interval stays wide.
        let loose: Vec<f64> = (0..400).map(|i| if i % 2 == 0 { 10.0 } else { 15.0 }).collect();
        let mut s = Stopper::new(Stop::Confidence(target));
        for n in 10..400 {
            assert!(!s.done(&loose[..n], Duration::from_secs(1)).unwrap(), "{n}");
        }
        assert!(s.done(&loose, Duration::from_secs(30)).unwrap(), "the budget is spent");
        let c = s.convergence(&loose, Duration::from_millis(30_050)).unwrap().unwrap();
        assert!(!c.reached && c.median_half_width > 0.02, "{c:?}");
        assert!((c.time_to_interval_s - 30.05).abs() < 1e-9 && c.samples == 400);
        assert!(c.label().starts_with("not reached: ±"), "{}", c.label());
        assert!(c.warning().unwrap().contains("after 30.1 s of measuring (400 samples)"), "{:?}", c.warning());

        // Other stops record nothing.
        let s = Stopper::new(Stop::Iterations(3));
        assert!(s.convergence(&tight, Duration::from_secs(1)).unwrap().is_none());
    }

    #[test]
    fn warmup_parses_and_prints() {
        assert_eq!("auto".parse::<Warmup>().unwrap(), Warmup::AUTO);
        assert_eq!("7".parse::<Warmup>().unwrap(), Warmup::Count(7));
        assert!("soon".parse::<Warmup>().unwrap_err().contains("`auto`"));
        assert_eq!(Warmup::AUTO.to_string(), "auto");
        assert_eq!(Warmup::Count(3).to_string(), "3");
    }

    #[test]
    fn settling_is_relative() {
        assert!(settled(10.0, 10.1, 0.02));
        assert!(!settled(10.0, 10.3, 0.02));
        assert!(!settled(10.0, 9.7, 0.02));
        assert!(!settled(0.0, 0.0, 0.02));
    }

    #[test]
    fn stage_medians() {
        let st = |b: f64, c: f64, f: f64| RunStages { bind_s: b, compute_s: c, fetch_s: f };
        let s = summarize_stages(&[st(0.001, 0.010, 0.002), st(0.003, 0.030, 0.004), st(0.002, 0.020, 0.003)]).unwrap();
        assert!(
            (s.bind_ms - 2.0).abs() < 1e-9 && (s.compute_ms - 20.0).abs() < 1e-9 && (s.fetch_ms - 3.0).abs() < 1e-9
        );
        assert!(summarize_stages(&[]).is_none());
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").unwrap_err().contains("soon"));
    }

    /// `state_out = state + 1`.
    struct Increment(SessionInfo);

    impl Session for Increment {
        fn info(&self) -> &SessionInfo {
            &self.0
        }
        fn run(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
            let v = inputs[0].as_slice::<f32>()?[0];
            Ok(vec![Tensor::from_vec(vec![1], vec![v + 1.0])?])
        }
    }

    /// Fed back, every call takes the state the last one returned: the warm-up's calls and the
    /// timed ones; the inputs end holding the last state.
    #[test]
    fn the_state_is_carried_through_warm_up_and_timed_calls() {
        let spec =
            |name: &str| infer_core::TensorSpec::new(name, infer_core::DType::F32, vec![infer_core::Dim::Fixed(1)]);
        let mut session = Increment(SessionInfo::new(vec![spec("state")], vec![spec("state_out")], Device::Cpu));
        let pairs = vec![crate::workload::args::parse_feedback("state_out=state").unwrap()];
        let feedback = Feedback::resolve(&pairs, session.info()).unwrap();
        let mut inputs = vec![Tensor::from_vec(vec![1], vec![0.0f32]).unwrap()];
        let config = BenchConfig { warmup: Warmup::Count(3), stop: Stop::Iterations(4) };
        let timing =
            time_session_fed(&mut session, &mut inputs, &feedback, &config, &ProgressBar::hidden(), &mut NoWatch)
                .unwrap();
        assert_eq!((timing.warmup_iterations, timing.samples_ms.len()), (3, 4));
        assert_eq!(inputs[0].as_slice::<f32>().unwrap(), [7.0]);
        // Not fed back: every call on the same inputs.
        let mut plain = vec![Tensor::from_vec(vec![1], vec![0.0f32]).unwrap()];
        time_session(&mut session, &plain, &config, &ProgressBar::hidden()).unwrap();
        assert_eq!(plain.remove(0).as_slice::<f32>().unwrap(), [0.0]);
    }
}
