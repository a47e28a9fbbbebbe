//! Pressure stall information (`/proc/pressure/{cpu,memory,io}`, Linux 4.20 and later when the
//! kernel has PSI on): the share of time some (or all) runnable tasks were stalled waiting for
//! a resource.
//!
//! ```text
//! some avg10=0.00 avg60=0.06 avg300=0.09 total=764711
//! full avg10=0.00 avg60=0.01 avg300=0.03 total=362577
//! ```
//! `avg*` are percentages averaged over the last 10, 60 and 300 s; `total` is the stalled time
//! in microseconds since boot, so two readings give the exact stall over the interval between
//! them, which the 10-second average cannot (it also covers the time before).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result, files};

/// One line of a pressure file.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PressureLine {
    /// Percentage of the last 10 s.
    pub avg10: f64,
    /// Percentage of the last 60 s.
    pub avg60: f64,
    /// Percentage of the last 300 s.
    pub avg300: f64,
    /// Stalled time since boot, microseconds.
    pub total_us: u64,
}

/// One resource's pressure: `some` task stalled, and (memory, io, and cpu since 5.13) `full`:
/// all non-idle tasks stalled at once.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pressure {
    /// At least one task stalled.
    pub some: PressureLine,
    /// All non-idle tasks stalled, when the file has the line.
    pub full: Option<PressureLine>,
}

/// The three resources' pressure; a resource whose file is missing is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct PressureSet {
    /// `/proc/pressure/cpu`.
    pub cpu: Option<Pressure>,
    /// `/proc/pressure/memory`.
    pub memory: Option<Pressure>,
    /// `/proc/pressure/io`.
    pub io: Option<Pressure>,
}

/// The resources that have a pressure file, in [`PressureSet`]'s order.
pub const RESOURCES: [&str; 3] = ["cpu", "memory", "io"];

/// The pressure files of a host, found once (the sampler reads them every period).
#[derive(Debug, Clone)]
pub struct PressureFiles {
    paths: [Option<PathBuf>; 3],
}

impl PressureFiles {
    /// Finds `proc/pressure/{cpu,memory,io}` under `root` and checks that they can be read.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when none of them can be read, with the reason: no
    /// `/proc/pressure` (a kernel before 4.20 or built without PSI), or the system's error
    /// (PSI turned off with `psi=0` makes reads fail with "operation not supported").
    pub fn discover(root: &Path) -> Result<Self> {
        let dir = files::under(root, "proc/pressure");
        if !dir.is_dir() {
            return Err(Error::Unavailable {
                what: "pressure",
                reason: format!("no {} (kernel before 4.20 or without PSI)", dir.display()),
            });
        }
        let mut reasons = Vec::new();
        let paths = RESOURCES.map(|r| {
            let p = dir.join(r);
            match files::read_text(&p).and_then(|t| parse_pressure(&t).map_err(|what| Error::parse(&p, what))) {
                Ok(_) => Some(p),
                Err(e) => {
                    reasons.push(e.reason());
                    None
                }
            }
        });
        if paths.iter().all(Option::is_none) {
            return Err(Error::Unavailable { what: "pressure", reason: reasons.join("; ") });
        }
        Ok(Self { paths })
    }

    /// Reads the files found; one that fails this time reads as `None`.
    pub fn read(&self, buf: &mut String) -> PressureSet {
        let mut one = |i: usize| {
            let p = self.paths[i].as_ref()?;
            parse_pressure(files::read_into(p, buf).ok()?).ok()
        };
        PressureSet { cpu: one(0), memory: one(1), io: one(2) }
    }
}

/// Reads all three pressure files under `root` once.
///
/// # Errors
/// As [`PressureFiles::discover`].
pub fn read_pressure(root: &Path) -> Result<PressureSet> {
    Ok(PressureFiles::discover(root)?.read(&mut String::new()))
}

/// The `some` and optional `full` lines of a pressure file.
pub(crate) fn parse_pressure(text: &str) -> std::result::Result<Pressure, String> {
    let mut some = None;
    let mut full = None;
    for line in text.lines() {
        let mut f = line.split_ascii_whitespace();
        let slot = match f.next() {
            Some("some") => &mut some,
            Some("full") => &mut full,
            _ => continue,
        };
        let (mut avg10, mut avg60, mut avg300, mut total_us) = (None, None, None, None);
        for kv in f {
            let (k, v) = kv.split_once('=').ok_or_else(|| format!("`{kv}` is not key=value"))?;
            let bad = |e: &dyn std::fmt::Display| format!("{k}={v}: {e}");
            match k {
                "avg10" => avg10 = Some(v.parse::<f64>().map_err(|e| bad(&e))?),
                "avg60" => avg60 = Some(v.parse::<f64>().map_err(|e| bad(&e))?),
                "avg300" => avg300 = Some(v.parse::<f64>().map_err(|e| bad(&e))?),
                "total" => total_us = Some(v.parse::<u64>().map_err(|e| bad(&e))?),
                _ => {}
            }
        }
        let (Some(avg10), Some(avg60), Some(avg300), Some(total_us)) = (avg10, avg60, avg300, total_us) else {
            return Err(format!("`{line}` lacks one of avg10, avg60, avg300, total"));
        };
        *slot = Some(PressureLine { avg10, avg60, avg300, total_us });
    }
    Ok(Pressure { some: some.ok_or("no `some` line")?, full })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMORY: &str = "some avg10=5.50 avg60=0.06 avg300=0.09 total=764711\n\
                          full avg10=0.00 avg60=0.01 avg300=0.03 total=362577\n";

    #[test]
    fn pressure_lines() {
        let p = parse_pressure(MEMORY).unwrap();
        assert_eq!(p.some, PressureLine { avg10: 5.5, avg60: 0.06, avg300: 0.09, total_us: 764_711 });
        assert_eq!(p.full.unwrap().total_us, 362_577);
        // Older kernels: cpu has no `full` line.
        let cpu = parse_pressure("some avg10=56.04 avg60=54.36 avg300=48.00 total=366855077\n").unwrap();
        assert!(cpu.full.is_none());
        assert!(parse_pressure("").unwrap_err().contains("no `some`"));
        assert!(parse_pressure("some avg10=1 total=3\n").unwrap_err().contains("lacks"));
        assert!(parse_pressure("some avg10=x avg60=0 avg300=0 total=1\n").is_err());
    }

    #[test]
    fn present_partly_present_and_absent() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // Absent: the reason names the folder.
        let absent = read_pressure(root).unwrap_err();
        assert!(matches!(absent, Error::Unavailable { .. }));
        assert!(absent.reason().contains("proc/pressure") && absent.reason().contains("PSI"), "{absent}");
        // memory only (cpu is a folder: unreadable; io missing).
        std::fs::create_dir_all(root.join("proc/pressure/cpu")).unwrap();
        std::fs::write(root.join("proc/pressure/memory"), MEMORY).unwrap();
        let files = PressureFiles::discover(root).unwrap();
        let set = files.read(&mut String::new());
        assert!(set.cpu.is_none() && set.io.is_none());
        assert_eq!(set.memory.unwrap().some.avg10, 5.5);
        // All three unreadable: unavailable, each reason given.
        std::fs::write(root.join("proc/pressure/memory"), "garbage\n").unwrap();
        let err = PressureFiles::discover(root).unwrap_err().reason();
        assert!(err.contains("cpu") && err.contains("memory") && err.contains("no "), "{err}");
        // This machine has PSI or says why not, without panicking.
        match read_pressure(Path::new("/")) {
            Ok(set) => assert!(set.cpu.is_some() || set.memory.is_some() || set.io.is_some()),
            Err(e) => assert!(!e.reason().is_empty()),
        }
    }
}
