//! RAPL energy counters of the CPU packages and their memory (`/sys/class/powercap/intel-rapl:*`,
//! which the kernel also uses for AMD's counters).
//!
//! Each zone folder has `name` (`package-0`, `psys`; subzones `core`, `uncore`, `dram`),
//! `energy_uj` (microjoules, counting up and wrapping to 0 past `max_energy_range_uj`) and
//! `max_energy_range_uj`. A subzone `intel-rapl:P:S` lies inside package `P`: `core` and `uncore`
//! are part of the package's energy, `dram` is not, and `psys` (the whole platform) holds the
//! packages; so a total adds up the packages and the `dram` zones only
//! ([`RaplZone::counts_in_total`]).
//!
//! Since Linux 5.10 (the PLATYPUS side channel) `energy_uj` is readable by root only: a zone that
//! cannot be read is left out and the reason kept.

use std::path::{Path, PathBuf};

use crate::{Error, Result, files};

/// One RAPL zone whose counter could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaplZone {
    /// The folder's name: `intel-rapl:0`, `intel-rapl:0:1`.
    pub id: String,
    /// What it measures: the zone's `name`, a subzone's prefixed by its package's
    /// (`package-0`, `package-0:dram`, `package-0:core`, `psys`).
    pub name: String,
    /// Whether a total of the machine's energy adds this zone (packages and `dram`; not `core`,
    /// `uncore` or `psys`, which overlap the packages).
    pub counts_in_total: bool,
    /// Where the counter wraps to 0, microjoules; `None` when the zone does not say.
    pub max_energy_range_uj: Option<u64>,
    energy_path: PathBuf,
}

impl RaplZone {
    /// The counter now, microjoules.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Parse`] when `energy_uj` cannot be read as a number.
    pub fn read_uj(&self) -> Result<u64> {
        read_u64(&self.energy_path, &mut String::new())
    }

    /// As [`RaplZone::read_uj`], reusing `buf`.
    pub(crate) fn read_uj_with(&self, buf: &mut String) -> Result<u64> {
        read_u64(&self.energy_path, buf)
    }

    /// Microjoules between two readings of this zone; see [`energy_delta_uj`].
    #[must_use]
    pub fn delta_uj(&self, start: u64, end: u64) -> Option<u64> {
        energy_delta_uj(start, end, self.max_energy_range_uj)
    }
}

/// The energy between two readings of a counter that wraps to 0 past `max_range` (µJ): `end -
/// start`, or, when the counter went down, `max_range - start + end` (one wrap). `None` when it
/// went down and the range is unknown or smaller than `start`. A window must be shorter than
/// one wrap, which takes minutes at full power (a 262 kJ range at 200 W: about 22 min).
#[must_use]
pub fn energy_delta_uj(start: u64, end: u64, max_range: Option<u64>) -> Option<u64> {
    if end >= start {
        return Some(end - start);
    }
    let range = max_range?;
    range.checked_sub(start).map(|to_wrap| to_wrap + end)
}

/// The RAPL zones found under `root`, readable ones in folder order, and the reasons for the
/// rest; both empty lists mean there is no powercap at all (then the reasons say so).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RaplDiscovery {
    /// Zones whose counter could be read.
    pub zones: Vec<RaplZone>,
    /// Why the others (or all of RAPL) cannot be used: "no /sys/class/powercap", "... energy_uj
    /// is readable by root only ...".
    pub unavailable: Vec<String>,
}

/// Finds the RAPL zones under `root` (`sys/class/powercap/intel-rapl:*`, subzones included).
#[must_use]
pub fn discover(root: &Path) -> RaplDiscovery {
    let dir = files::under(root, "sys/class/powercap");
    let mut found = RaplDiscovery::default();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) => {
            found.unavailable.push(files::why_unreadable(&dir, &e));
            return found;
        }
    };
    let mut ids: Vec<(Vec<u32>, String)> = entries
        .filter_map(|e| {
            let id = e.ok()?.file_name().into_string().ok()?;
            let numbers =
                id.strip_prefix("intel-rapl:")?.split(':').map(str::parse).collect::<Result<Vec<u32>, _>>().ok()?;
            Some((numbers, id))
        })
        .collect();
    if ids.is_empty() {
        found.unavailable.push(format!("no RAPL zone (intel-rapl:*) in {}", dir.display()));
        return found;
    }
    ids.sort();
    let mut buf = String::new();
    for (numbers, id) in &ids {
        let zone_dir = dir.join(id);
        let name = match files::read_text(&zone_dir.join("name")) {
            Ok(n) => n.trim().to_string(),
            Err(e) => {
                found.unavailable.push(format!("{id}: {}", e.reason()));
                continue;
            }
        };
        let parent = (numbers.len() > 1)
            .then(|| files::read_text(&dir.join(format!("intel-rapl:{}/name", numbers[0]))).ok())
            .flatten()
            .map(|p| p.trim().to_string());
        let label = parent.as_ref().map_or_else(|| name.clone(), |p| format!("{p}:{name}"));
        let energy_path = zone_dir.join("energy_uj");
        if let Err(e) = read_u64(&energy_path, &mut buf) {
            found.unavailable.push(format!("{label} ({id}): {}", denied_reason(&e)));
            continue;
        }
        let counts_in_total = if parent.is_some() { name == "dram" } else { name.starts_with("package") };
        found.zones.push(RaplZone {
            id: id.clone(),
            name: label,
            counts_in_total,
            max_energy_range_uj: read_u64(&zone_dir.join("max_energy_range_uj"), &mut buf).ok(),
            energy_path,
        });
    }
    found
}

/// The reason a counter cannot be read; permission denied says why (root only since 5.10).
fn denied_reason(e: &Error) -> String {
    match e {
        Error::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => {
            format!("{} (energy_uj is root-only since Linux 5.10; run as root or grant read access)", e.reason())
        }
        other => other.reason(),
    }
}

fn read_u64(path: &Path, buf: &mut String) -> Result<u64> {
    let text = files::read_into(path, buf)?;
    text.trim().parse::<u64>().map_err(|e| Error::parse(path, format!("`{}` is not a count: {e}", text.trim())))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes a RAPL zone folder under `root` (what the energy tests simulate).
    pub(crate) fn write_zone(root: &Path, id: &str, name: &str, energy_uj: &str, max_uj: Option<u64>) {
        let d = root.join("sys/class/powercap").join(id);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("name"), format!("{name}\n")).unwrap();
        std::fs::write(d.join("energy_uj"), energy_uj).unwrap();
        if let Some(m) = max_uj {
            std::fs::write(d.join("max_energy_range_uj"), format!("{m}\n")).unwrap();
        }
    }

    #[test]
    fn wrap_around_counts_once() {
        assert_eq!(energy_delta_uj(100, 350, Some(1000)), Some(250));
        assert_eq!(energy_delta_uj(900, 50, Some(1000)), Some(150));
        assert_eq!(energy_delta_uj(900, 50, None), None);
        assert_eq!(energy_delta_uj(900, 50, Some(800)), None);
    }

    #[test]
    fn zones_subzones_totals_and_denials() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let none = discover(root);
        assert!(none.zones.is_empty());
        assert_eq!(none.unavailable.len(), 1);
        assert!(none.unavailable[0].starts_with("no ") && none.unavailable[0].ends_with("sys/class/powercap"));
        std::fs::create_dir_all(root.join("sys/class/powercap/dtpm")).unwrap();
        assert!(discover(root).unavailable[0].contains("no RAPL zone"));

        write_zone(root, "intel-rapl:0", "package-0", "1000\n", Some(262_143_328_850));
        write_zone(root, "intel-rapl:0:0", "core", "400\n", Some(262_143_328_850));
        write_zone(root, "intel-rapl:0:1", "dram", "50\n", None);
        write_zone(root, "intel-rapl:1", "psys", "7\n", Some(10));
        // Denied: a folder where the counter should be (tests run as root, so mode 000 would
        // still be readable).
        write_zone(root, "intel-rapl:2", "package-1", "0", None);
        std::fs::remove_file(root.join("sys/class/powercap/intel-rapl:2/energy_uj")).unwrap();
        std::fs::create_dir(root.join("sys/class/powercap/intel-rapl:2/energy_uj")).unwrap();
        // Not RAPL.
        std::fs::create_dir_all(root.join("sys/class/powercap/intel-rapl")).unwrap();
        std::fs::create_dir_all(root.join("sys/class/powercap/intel-rapl-mmio:0")).unwrap();

        let found = discover(root);
        let names: Vec<(&str, &str, bool)> =
            found.zones.iter().map(|z| (z.id.as_str(), z.name.as_str(), z.counts_in_total)).collect();
        assert_eq!(
            names,
            [
                ("intel-rapl:0", "package-0", true),
                ("intel-rapl:0:0", "package-0:core", false),
                ("intel-rapl:0:1", "package-0:dram", true),
                ("intel-rapl:1", "psys", false),
            ]
        );
        assert_eq!(found.zones[0].read_uj().unwrap(), 1000);
        assert_eq!(found.zones[2].max_energy_range_uj, None);
        assert_eq!(found.unavailable.len(), 1, "{:?}", found.unavailable);
        assert!(found.unavailable[0].starts_with("package-1 (intel-rapl:2): cannot read"), "{:?}", found.unavailable);
    }

    #[test]
    fn permission_denied_says_root_only() {
        let e = Error::io(
            Path::new("/sys/class/powercap/intel-rapl:0/energy_uj"),
            std::io::ErrorKind::PermissionDenied.into(),
        );
        let r = denied_reason(&e);
        assert!(r.contains("permission denied") && r.contains("root-only since Linux 5.10"), "{r}");
        let other = Error::io(Path::new("/x"), std::io::ErrorKind::NotFound.into());
        assert_eq!(denied_reason(&other), "no /x");
    }
}
