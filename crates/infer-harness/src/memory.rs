//! Process memory as the kernel reports it (`/proc/self/status`).

use serde::{Deserialize, Serialize};

/// Resident memory of this process, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rss {
    /// Current resident set size (`VmRSS`).
    pub current: u64,
    /// Peak resident set size since the process started (`VmHWM`).
    pub peak: u64,
}

/// Reads the current and peak RSS; `None` where `/proc` is not available.
#[must_use]
pub fn rss() -> Option<Rss> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line[name.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb * 1024)
    };
    Some(Rss { current: field("VmRSS:")?, peak: field("VmHWM:")? })
}

/// Formats a byte count as MiB with one decimal.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_grows_with_touched_memory() {
        let before = rss().unwrap();
        assert!(before.current > 0 && before.peak >= before.current);
        let block = vec![1u8; 64 << 20];
        let after = rss().unwrap();
        assert!(after.peak >= before.peak + (32 << 20), "{before:?} -> {after:?}");
        drop(block);
        assert_eq!(mib(3 << 20), "3.0 MiB");
    }
}
