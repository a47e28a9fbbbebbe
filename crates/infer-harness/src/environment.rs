//! The environment fingerprint saved beside every result.

use serde::{Deserialize, Serialize};

/// Where and with what a measurement was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    /// CPU model name.
    pub cpu: String,
    /// Logical CPUs visible to the process.
    pub logical_cpus: usize,
    /// Threads the runtime was asked to use (0 = runtime default).
    pub threads: usize,
    /// Operating system and kernel.
    pub os: String,
    /// Versions: infer itself and each runtime used.
    pub versions: std::collections::BTreeMap<String, String>,
}

impl Environment {
    /// Captures the fingerprint of this machine.
    #[must_use]
    pub fn capture(threads: usize) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| std::env::consts::ARCH.to_string(), |(_, v)| v.trim().to_string());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut versions = std::collections::BTreeMap::new();
        versions.insert("infer".into(), env!("CARGO_PKG_VERSION").into());
        Self {
            cpu,
            logical_cpus: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            threads,
            os: format!("{} {}", std::env::consts::OS, kernel.trim()),
            versions,
        }
    }
}
