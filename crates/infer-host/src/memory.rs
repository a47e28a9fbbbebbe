//! Memory the kernel could give to a new program without swapping (`MemAvailable` of
//! `/proc/meminfo`, Linux 3.14 and later).

use std::path::Path;

use crate::{Error, Result, files};

/// Reads `MemAvailable` from `proc/meminfo` under `root`, in bytes.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read, [`Error::Parse`] when it has no `MemAvailable`
/// line in kB (kernels before 3.14).
pub fn read_mem_available(root: &Path) -> Result<u64> {
    let path = files::under(root, "proc/meminfo");
    parse_mem_available(&files::read_text(&path)?).map_err(|what| Error::parse(&path, what))
}

/// `MemAvailable:   22155888 kB` → bytes.
pub(crate) fn parse_mem_available(text: &str) -> std::result::Result<u64, String> {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .ok_or("no MemAvailable line (kernel before 3.14?)")?;
    let mut f = line.split_ascii_whitespace();
    let kib: u64 = f.next().ok_or("MemAvailable has no value")?.parse().map_err(|e| format!("MemAvailable: {e}"))?;
    match f.next() {
        Some("kB") => Ok(kib * 1024),
        unit => Err(format!("MemAvailable in {unit:?}, kB expected")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_available_in_bytes() {
        let text = "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   22155888 kB\n";
        assert_eq!(parse_mem_available(text).unwrap(), 22_155_888 * 1024);
        assert!(parse_mem_available("MemTotal: 1 kB\n").unwrap_err().contains("no MemAvailable"));
        assert!(parse_mem_available("MemAvailable: 1 MB\n").is_err());
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("proc")).unwrap();
        std::fs::write(dir.path().join("proc/meminfo"), text).unwrap();
        assert_eq!(read_mem_available(dir.path()).unwrap(), 22_155_888 * 1024);
        assert!(read_mem_available(Path::new("/")).unwrap() > 0);
    }
}
