//! A comparison as data: one [`CompareEntry`] per (backend, device), with its [`RowStatus`], its
//! measurement and its operator profile. Written by `infer_cli::compare`, read by
//! `infer_report` (its analyses, reports and compare-runs); it depends on none of them.

use std::fmt;

use infer_core::Device;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{environment::Environment, profile::ProfileSummary, results::BenchReport};

/// What became of one (backend, device).
///
/// In JSON it is the text [`Display`](fmt::Display) gives (`ok`, `not compiled`,
/// `unavailable: …`, `error: …`, `interrupted`), the strings every saved `compare.json` holds,
/// so old files load and scripts reading `status` keep working.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowStatus {
    /// Measured: every round so far ran.
    Ok,
    /// The backend is not compiled into this `infer`.
    NotCompiled,
    /// The backend cannot run here: no runtime library, no such device, no model in its format.
    Unavailable {
        /// Why.
        reason: String,
    },
    /// The child process failed (exit code, signal, unreadable output); a failure in a later
    /// round keeps the rounds that ran (the message starts with `round N of M:`).
    Error {
        /// The child's error.
        message: String,
    },
    /// Not measured because of Ctrl-C.
    Interrupted,
    /// Not measured yet (never in a snapshot or a file).
    Pending,
}

impl RowStatus {
    /// A failure of the measurement itself (shown in red), as opposed to a backend that cannot run.
    #[must_use]
    pub fn is_error(&self) -> bool {
        matches!(self, RowStatus::Error { .. })
    }
}

impl fmt::Display for RowStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowStatus::Ok => f.write_str("ok"),
            RowStatus::NotCompiled => f.write_str("not compiled"),
            RowStatus::Unavailable { reason } => write!(f, "unavailable: {reason}"),
            RowStatus::Error { message } => write!(f, "error: {message}"),
            RowStatus::Interrupted => f.write_str("interrupted"),
            RowStatus::Pending => f.write_str("pending"),
        }
    }
}

impl std::str::FromStr for RowStatus {
    type Err = String;

    /// Reads the text [`Display`](fmt::Display) writes.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ok" => return Ok(RowStatus::Ok),
            "not compiled" => return Ok(RowStatus::NotCompiled),
            "interrupted" => return Ok(RowStatus::Interrupted),
            "pending" => return Ok(RowStatus::Pending),
            _ => {}
        }
        if let Some(reason) = s.strip_prefix("unavailable: ") {
            Ok(RowStatus::Unavailable { reason: reason.into() })
        } else if let Some(message) = s.strip_prefix("error: ") {
            Ok(RowStatus::Error { message: message.into() })
        } else {
            Err(format!(
                "unknown row status `{s}`: expected ok, not compiled, unavailable: …, error: …, interrupted or pending"
            ))
        }
    }
}

impl Serialize for RowStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RowStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The outcome for one (backend, device).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareEntry {
    /// Backend name.
    pub backend: String,
    /// Device.
    pub device: Device,
    /// What became of it.
    pub status: RowStatus,
    /// The measurement, when it ran.
    pub report: Option<BenchReport>,
    /// Where the time goes: the runtime's operator profile at the first batch size (a separate
    /// child process after the timed rounds; by-node rows cut to the top [`PROFILE_NODES`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileSummary>,
    /// Why there is no profile, when one was asked for and the measurement ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_error: Option<String>,
}

impl CompareEntry {
    /// An entry without a profile.
    #[must_use]
    pub fn new(backend: &str, device: Device, status: RowStatus, report: Option<BenchReport>) -> Self {
        Self { backend: backend.into(), device, status, report, profile: None, profile_error: None }
    }
}

/// Nodes kept per profile in a comparison (every operator type is kept).
pub const PROFILE_NODES: usize = 20;

/// Everything a comparison produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Fixture model name.
    pub model: String,
    /// Fingerprint of the machine.
    pub environment: Environment,
    /// Tolerance on the max abs difference to the reference.
    pub tolerance: f64,
    /// One entry per backend and device.
    pub entries: Vec<CompareEntry>,
}

impl Comparison {
    /// The measurements, in entry order.
    pub fn reports(&self) -> impl Iterator<Item = &BenchReport> {
        self.entries.iter().filter_map(|e| e.report.as_ref())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn status_reads_and_writes_the_strings_of_saved_files() {
        let all = [
            ("ok", RowStatus::Ok),
            ("not compiled", RowStatus::NotCompiled),
            (
                "unavailable: onnx 1.22 has no cuda:0 here (devices: cpu)",
                RowStatus::Unavailable { reason: "onnx 1.22 has no cuda:0 here (devices: cpu)".into() },
            ),
            (
                "error: round 2 of 3: exit code 1: boom",
                RowStatus::Error { message: "round 2 of 3: exit code 1: boom".into() },
            ),
            ("interrupted", RowStatus::Interrupted),
            ("pending", RowStatus::Pending),
        ];
        for (text, status) in all {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, serde_json::to_string(text).unwrap(), "written as today's string");
            assert_eq!(serde_json::from_str::<RowStatus>(&json).unwrap(), status, "read back");
        }
        assert!(RowStatus::Error { message: "x".into() }.is_error() && !RowStatus::NotCompiled.is_error());
        let err = serde_json::from_str::<RowStatus>("\"exploded\"").unwrap_err().to_string();
        assert!(err.contains("unknown row status `exploded`"), "{err}");
    }

    #[test]
    fn an_entry_saved_by_earlier_versions_loads() {
        let json = r#"{"backend": "tf", "device": "cpu", "status": "error: exit code 134: <b>", "report": null}"#;
        let e: CompareEntry = serde_json::from_str(json).unwrap();
        assert_eq!(
            e,
            CompareEntry::new("tf", Device::Cpu, RowStatus::Error { message: "exit code 134: <b>".into() }, None)
        );
    }
}
