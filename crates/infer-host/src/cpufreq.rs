//! The CPUs' current frequency, where the host exposes it
//! (`/sys/devices/system/cpu/cpuN/cpufreq/scaling_cur_freq`, in kHz). Virtual machines often
//! have no cpufreq driver, and then no such file.

use std::path::{Path, PathBuf};

use crate::{Error, Result, files};

/// The frequency files of a host, found once (the sampler reads them every period).
#[derive(Debug, Clone)]
pub struct FrequencyFiles {
    paths: Vec<PathBuf>,
}

impl FrequencyFiles {
    /// Finds `sys/devices/system/cpu/cpuN/cpufreq/scaling_cur_freq` under `root`, in CPU order.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when there is none, or none can be read, with the reason.
    pub fn discover(root: &Path) -> Result<Self> {
        let dir = files::under(root, "sys/devices/system/cpu");
        let unavailable = |reason: String| Error::Unavailable { what: "CPU frequency", reason };
        let entries = std::fs::read_dir(&dir).map_err(|e| unavailable(files::why_unreadable(&dir, &e)))?;
        let mut cpus: Vec<(u32, PathBuf)> = entries
            .filter_map(|e| {
                let e = e.ok()?;
                let n = e.file_name().to_str()?.strip_prefix("cpu")?.parse::<u32>().ok()?;
                Some((n, e.path().join("cpufreq/scaling_cur_freq")))
            })
            .filter(|(_, p)| p.exists())
            .collect();
        if cpus.is_empty() {
            return Err(unavailable(format!(
                "no {}/cpu*/cpufreq/scaling_cur_freq (no cpufreq driver, as in most virtual machines)",
                dir.display()
            )));
        }
        cpus.sort_by_key(|(n, _)| *n);
        let paths: Vec<PathBuf> = cpus.into_iter().map(|(_, p)| p).collect();
        let mut buf = String::new();
        let mut first_error = None;
        for p in &paths {
            match read_khz(p, &mut buf) {
                Ok(_) => return Ok(Self { paths }),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(unavailable(first_error.map_or_else(String::new, |e| e.reason())))
    }

    /// How many CPUs have a frequency file.
    #[must_use]
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// Whether no CPU has one (never true for a value made by [`FrequencyFiles::discover`]).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// The current frequency of each CPU that could be read now, in kHz.
    pub fn read(&self, buf: &mut String) -> Vec<u64> {
        self.paths.iter().filter_map(|p| read_khz(p, buf).ok()).collect()
    }
}

/// Reads the current frequency of every CPU under `root` once, in kHz.
///
/// # Errors
/// As [`FrequencyFiles::discover`].
pub fn read_frequencies_khz(root: &Path) -> Result<Vec<u64>> {
    Ok(FrequencyFiles::discover(root)?.read(&mut String::new()))
}

fn read_khz(path: &Path, buf: &mut String) -> Result<u64> {
    let text = files::read_into(path, buf)?;
    text.trim().parse::<u64>().map_err(|e| Error::parse(path, format!("`{}` is not kHz: {e}", text.trim())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_cpu(root: &Path, n: u32, khz: &str) {
        let d = root.join(format!("sys/devices/system/cpu/cpu{n}/cpufreq"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("scaling_cur_freq"), khz).unwrap();
    }

    #[test]
    fn present_in_cpu_order_and_absent_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // No sys folder at all, then one without cpufreq (this VM's shape).
        assert!(read_frequencies_khz(root).unwrap_err().reason().starts_with("no "));
        std::fs::create_dir_all(root.join("sys/devices/system/cpu/cpu0/cpuidle")).unwrap();
        std::fs::create_dir_all(root.join("sys/devices/system/cpu/cpufreq")).unwrap();
        let none = read_frequencies_khz(root).unwrap_err();
        assert!(none.reason().contains("no cpufreq driver"), "{none}");
        write_cpu(root, 10, "1200000\n");
        write_cpu(root, 2, "3400000\n");
        write_cpu(root, 0, "2500000\n");
        let files = FrequencyFiles::discover(root).unwrap();
        assert_eq!(files.len(), 3);
        assert_eq!(files.read(&mut String::new()), [2_500_000, 3_400_000, 1_200_000]);
        // One unreadable CPU is skipped; all unreadable is unavailable.
        write_cpu(root, 2, "n/a\n");
        assert_eq!(files.read(&mut String::new()), [2_500_000, 1_200_000]);
        write_cpu(root, 0, "?");
        write_cpu(root, 10, "?");
        let err = FrequencyFiles::discover(root).unwrap_err().reason();
        assert!(err.contains("is not kHz"), "{err}");
        // This machine: either way, no panic.
        match read_frequencies_khz(Path::new("/")) {
            Ok(f) => assert!(f.iter().all(|&k| k > 0)),
            Err(e) => assert!(!e.reason().is_empty()),
        }
    }
}
