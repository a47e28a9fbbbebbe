//! Timing a session: warm-up, then timed iterations by count or duration, with the device
//! synchronized before every clock read.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use infer_core::{Result, Session, Tensor, stats::Sample};
use serde::{Deserialize, Serialize};

/// When to stop the timed phase.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// After this many timed iterations.
    Iterations(usize),
    /// After this much time (at least [`MIN_ITERATIONS`] iterations).
    Duration(Duration),
}

/// The fewest iterations a duration-bounded run takes, so that statistics exist.
pub const MIN_ITERATIONS: usize = 5;

/// How to time one (session, batch size).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BenchConfig {
    /// Untimed iterations first.
    pub warmup: usize,
    /// When to stop timing.
    pub stop: Stop,
}

impl Default for BenchConfig {
    fn default() -> Self {
        Self { warmup: 10, stop: Stop::Iterations(50) }
    }
}

/// Raw latencies of one timed run, in milliseconds, in the order measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// Milliseconds per iteration.
    pub samples_ms: Vec<f64>,
    /// Wall-clock time of the timed phase.
    pub total: Duration,
}

impl Timing {
    /// The validated sample.
    ///
    /// # Errors
    /// When no iteration ran.
    pub fn sample(&self) -> Result<Sample> {
        Sample::new(self.samples_ms.clone())
    }
}

/// Runs `inputs` through `session` as `config` says and returns the latencies. Each iteration
/// is `run` + `synchronize`, so a GPU's queued work is inside the measured time.
///
/// # Errors
/// The first run or synchronize error.
pub fn time_session(
    session: &mut dyn Session,
    inputs: &[Tensor],
    config: &BenchConfig,
    progress: &ProgressBar,
) -> Result<Timing> {
    for _ in 0..config.warmup {
        session.run(inputs)?;
        session.synchronize()?;
    }
    let mut samples_ms = Vec::new();
    let start = Instant::now();
    loop {
        let done = match config.stop {
            Stop::Iterations(n) => samples_ms.len() >= n,
            Stop::Duration(d) => samples_ms.len() >= MIN_ITERATIONS && start.elapsed() >= d,
        };
        if done {
            break;
        }
        let t = Instant::now();
        session.run(inputs)?;
        session.synchronize()?;
        samples_ms.push(t.elapsed().as_secs_f64() * 1e3);
        progress.set_position(match config.stop {
            Stop::Iterations(_) => samples_ms.len() as u64,
            Stop::Duration(_) => u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
        });
    }
    Ok(Timing { samples_ms, total: start.elapsed() })
}

/// A progress bar on stderr for one timed run (hidden when stderr is not a terminal).
#[must_use]
pub fn progress_bar(label: &str, config: &BenchConfig) -> ProgressBar {
    let len = match config.stop {
        Stop::Iterations(n) => n as u64,
        Stop::Duration(d) => u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
    };
    let pb = ProgressBar::new(len);
    let unit = match config.stop {
        Stop::Iterations(_) => "it",
        Stop::Duration(_) => "ms",
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
    use super::*;

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").unwrap_err().contains("soon"));
    }
}
