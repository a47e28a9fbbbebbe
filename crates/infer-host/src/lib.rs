//! The host's own evidence during a measurement, and the energy it used.
//!
//! A latency figure is only as good as the machine it was taken on: another guest stealing
//! CPU time, a build running beside the benchmark, memory pressure, a CPU or GPU slowed by heat
//! or a power cap all change it without changing the model. A [`Sampler`] runs beside the
//! measured code and records what the host itself says about those, and an [`EnergyMeter`]
//! reads the energy counters the host exposes:
//!
//! - [`cpu`]: steal time and every other process's CPU (`/proc/stat` against the measured
//!   processes' `/proc/<pid>/stat`), and the load average (`/proc/loadavg`);
//! - [`memory`]: `MemAvailable` (`/proc/meminfo`);
//! - [`pressure`]: pressure stall information (`/proc/pressure/{cpu,memory,io}`), where present;
//! - [`cpufreq`]: each CPU's frequency (`/sys/devices/system/cpu/cpu*/cpufreq`), where present;
//! - [`gpu`]: each GPU's clocks, throttle reasons, temperature, power and energy through NVML,
//!   loaded at run time (no GPU or driver needed to build; never `nvidia-smi`);
//! - [`rapl`]: the CPU packages' and their memory's energy counters (`/sys/class/powercap`);
//! - [`energy`]: joules per domain over windows, and joules per inference with its interval;
//! - [`sampler`] and [`evidence`]: the background thread and its summary, [`HostEvidence`],
//!   with the documented [`Thresholds`] past which a measurement is *disturbed*.
//!
//! Every reader takes the host's root folder (`/`), so the tests run on simulated trees.
//! Whatever a host lacks is a [`Probe::NotAvailable`] with the reason (`not available here (no
//! /proc/pressure …)`), in JSON as in words: never a zero that would read as a measurement.
//!
//! **What sampling costs.** One reading is a few small file reads (`/proc/stat`, the measured
//! processes' `stat`, `loadavg`, `meminfo`, three pressure files, and one file per CPU where
//! cpufreq exists) plus a few NVML calls per GPU, into buffers kept between readings. On the
//! 2-core development VM (no cpufreq, no GPU, load average 8 from builds beside it) a reading
//! took 40–45 µs in a release build and 45–230 µs in a debug build (wall time, preemption
//! included): at the default period of 200 ms, about 0.02 % of one CPU (0.1 % at worst).
//! Each [`HostEvidence`] records its own figure (`sampling_cost`), and the test
//! `sampler::tests::a_reading_costs_little` prints it. The sampler's thread belongs to the
//! measured process, so its time counts among the measured processes' CPU, not the others'.
//! The first reading happens inside [`Sampler::start`] and the last on the sampler's thread, so
//! the measured code never waits for one; where it keeps every CPU busy, the sampler's wake-up
//! can delay it by about one reading once per period.
//!
//! ```
//! use std::time::Duration;
//!
//! use infer_host::{EnergyMeter, GpuSource, Sampler, SamplerOptions};
//!
//! let energy = EnergyMeter::open(std::path::Path::new("/"), &GpuSource::Nvml);
//! let sampler = Sampler::start(SamplerOptions { period: Duration::from_millis(20), ..SamplerOptions::default() })?;
//! let start = energy.mark();
//!
//! // The measured code.
//! let mut x = 0u64;
//! for i in 0..20_000_000u64 {
//!     x = std::hint::black_box(x.rotate_left(5) ^ i);
//! }
//!
//! let window = energy.window(&start, &energy.mark())?;
//! let evidence = sampler.stop()?;
//! println!("{evidence}");
//! println!("{}", energy.availability()); // e.g. "energy: not available here (no /sys/class/powercap, no NVML (…))"
//! println!("{}", window.total_joules()); // joules, or "not available here (…)": never 0
//! assert!(evidence.samples >= 2);
//! assert!(evidence.cpu.is_available() || evidence.cpu.reason().is_some());
//! let json = serde_json::to_string(&evidence)?;
//! assert!(json.contains("\"disturbed\":"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::{fmt, path::PathBuf};

use serde::{Deserialize, Serialize};

pub mod cpu;
pub mod cpufreq;
pub mod energy;
pub mod evidence;
mod files;
pub mod gpu;
pub mod memory;
pub mod pressure;
pub mod rapl;
pub mod sampler;

pub use energy::{EnergyAvailability, EnergyMark, EnergyMeter, EnergyWindow, JoulesPerInference, joules_per_inference};
pub use evidence::{HostEvidence, Thresholds};
pub use gpu::GpuSource;
pub use sampler::{Sampler, SamplerOptions};

/// What can go wrong in this crate. Sources that a host does not have are not errors of the
/// measurement: they become [`Probe::NotAvailable`] with the reason.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// A file was read but does not have the layout the kernel documents.
    #[error("cannot parse {}: {what}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was expected and not found.
        what: String,
    },
    /// Something this host does not have (no NVML, no RAPL zone, ...).
    #[error("{what}: not available here ({reason})")]
    Unavailable {
        /// What was asked for.
        what: &'static str,
        /// Why it is not there.
        reason: String,
    },
    /// An argument out of its domain (too few energy windows, a window without inferences, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The sampler's thread could not be started or ended abnormally.
    #[error("host sampler: {0}")]
    Sampler(String),
}

impl Error {
    /// An [`Error::Io`] naming `path`.
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), source }
    }

    /// An [`Error::Parse`] naming `path`.
    pub(crate) fn parse(path: &std::path::Path, what: impl Into<String>) -> Self {
        Self::Parse { path: path.to_path_buf(), what: what.into() }
    }

    /// The error in words for a report's "not available here (…)": an unreadable file says
    /// which and why (see `files::why_unreadable`), an unavailable source gives its reason.
    #[must_use]
    pub fn reason(&self) -> String {
        match self {
            Self::Io { path, source } => files::why_unreadable(path, source),
            Self::Unavailable { reason, .. } => reason.clone(),
            other => other.to_string(),
        }
    }
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A figure the host gave, or the reason it could not: never a zero that stands for "unknown".
///
/// In JSON: `{"available": …}` or `{"not_available": "reason"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Probe<T> {
    /// The host gave it.
    Available(T),
    /// The host could not give it; the reason in words (e.g. "no /proc/pressure").
    NotAvailable(String),
}

impl<T> Probe<T> {
    /// The value, when available.
    #[must_use]
    pub fn available(&self) -> Option<&T> {
        match self {
            Self::Available(v) => Some(v),
            Self::NotAvailable(_) => None,
        }
    }

    /// The reason, when not available.
    #[must_use]
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::Available(_) => None,
            Self::NotAvailable(r) => Some(r),
        }
    }

    /// Whether the value is there.
    #[must_use]
    pub fn is_available(&self) -> bool {
        matches!(self, Self::Available(_))
    }

    /// Applies `f` to the value, keeping the reason.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Probe<U> {
        match self {
            Self::Available(v) => Probe::Available(f(v)),
            Self::NotAvailable(r) => Probe::NotAvailable(r),
        }
    }
}

impl<T> From<Result<T>> for Probe<T> {
    fn from(r: Result<T>) -> Self {
        match r {
            Ok(v) => Self::Available(v),
            Err(e) => Self::NotAvailable(e.reason()),
        }
    }
}

/// The value's own `Display`, or `not available here (reason)`.
impl<T: fmt::Display> fmt::Display for Probe<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Available(v) => v.fmt(f),
            Self::NotAvailable(r) => write!(f, "not available here ({r})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_say_why_in_json_and_in_words() {
        let missing: Probe<f64> = Probe::NotAvailable("no /proc/pressure".into());
        assert_eq!(serde_json::to_string(&missing).unwrap(), r#"{"not_available":"no /proc/pressure"}"#);
        assert_eq!(missing.to_string(), "not available here (no /proc/pressure)");
        let there = Probe::Available(1.5);
        assert_eq!(serde_json::to_string(&there).unwrap(), r#"{"available":1.5}"#);
        assert_eq!(there.to_string(), "1.5");
        let back: Probe<f64> = serde_json::from_str(r#"{"not_available":"x"}"#).unwrap();
        assert_eq!(back.reason(), Some("x"));
        assert_eq!(there.map(|v| v * 2.0).available(), Some(&3.0));
        let err: Probe<u8> = Err(Error::Unavailable { what: "NVML", reason: "no libnvidia-ml.so".into() }).into();
        assert_eq!(err.reason(), Some("no libnvidia-ml.so"));
    }
}
