//! The environment fingerprint saved beside every result: CPU model and SIMD flags, cores and
//! threads, OS, the version of infer and of every runtime, the GPUs and their driver, the
//! precision, and the command line that produced the result.
//!
//! Every field added after the first layout has `#[serde(default)]`, so older result files still
//! load.

use std::{collections::BTreeMap, process::Command};

use serde::{Deserialize, Serialize};

/// Where and with what a measurement was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    /// CPU model name.
    pub cpu: String,
    /// The CPU's SIMD and matrix flags that matter for inference (avx2, fma, avx512*, amx*, ...).
    #[serde(default)]
    pub cpu_flags: Vec<String>,
    /// Physical cores, when `/proc/cpuinfo` tells.
    #[serde(default)]
    pub physical_cores: Option<usize>,
    /// Logical CPUs visible to the process.
    pub logical_cpus: usize,
    /// Threads the runtime was asked to use (0 = runtime default).
    pub threads: usize,
    /// Operating system and kernel.
    pub os: String,
    /// Versions: infer itself and each runtime used.
    pub versions: BTreeMap<String, String>,
    /// GPUs seen by `nvidia-smi` (name, driver, memory); empty when there is none.
    #[serde(default)]
    pub gpus: Vec<Gpu>,
    /// Numeric precision of the weights and inputs (`fp32`).
    #[serde(default = "default_precision")]
    pub precision: String,
    /// The command line that produced the result, when recorded.
    #[serde(default)]
    pub command: Vec<String>,
}

/// One GPU as `nvidia-smi` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gpu {
    /// Product name.
    pub name: String,
    /// Driver version.
    pub driver: String,
    /// Total memory as printed by `nvidia-smi` (e.g. `81559 MiB`).
    pub memory: String,
}

fn default_precision() -> String {
    "fp32".into()
}

/// Flag prefixes and names kept from `/proc/cpuinfo`: the vector and matrix extensions that
/// decide which kernels a runtime can use.
const RELEVANT_FLAGS: [&str; 9] = ["sse4_1", "sse4_2", "avx", "fma", "f16c", "amx", "neon", "asimd", "sve"];

impl Environment {
    /// Captures the fingerprint of this machine, with this process's command line.
    #[must_use]
    pub fn capture(threads: usize) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut versions = BTreeMap::new();
        versions.insert("infer".into(), env!("CARGO_PKG_VERSION").into());
        let (cpu, cpu_flags, physical_cores) = parse_cpuinfo(&cpuinfo);
        Self {
            cpu,
            cpu_flags,
            physical_cores,
            logical_cpus: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            threads,
            os: format!("{} {}", std::env::consts::OS, kernel.trim()),
            versions,
            gpus: nvidia_gpus(),
            precision: default_precision(),
            command: std::env::args().collect(),
        }
    }

    /// The threads setting in words (`runtime default` for 0).
    #[must_use]
    pub fn threads_text(&self) -> String {
        if self.threads == 0 { "runtime default".into() } else { self.threads.to_string() }
    }

    /// The GPUs in words (`none` when there is none).
    #[must_use]
    pub fn gpus_text(&self) -> String {
        if self.gpus.is_empty() {
            return "none".into();
        }
        self.gpus
            .iter()
            .map(|g| format!("{} (driver {}, {})", g.name, g.driver, g.memory))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// One thread per physical core (per logical CPU when `/proc/cpuinfo` does not tell): what
    /// `infer compare` gives every backend unless `--threads` says otherwise, so that no runtime's
    /// own default (some count logical CPUs, some physical cores) favours it.
    #[must_use]
    pub fn default_threads() -> usize {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        parse_cpuinfo(&cpuinfo)
            .2
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get))
    }

    /// Versions as `name version, ...`.
    #[must_use]
    pub fn versions_text(&self) -> String {
        self.versions.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
    }

    /// The fingerprint as (label, value) lines, for reports.
    #[must_use]
    pub fn lines(&self) -> Vec<(&'static str, String)> {
        let cores = self.physical_cores.map_or_else(String::new, |c| format!("{c} physical cores, "));
        let mut out = vec![
            ("CPU", self.cpu.clone()),
            ("CPU flags", if self.cpu_flags.is_empty() { "unknown".into() } else { self.cpu_flags.join(" ") }),
            ("Cores", format!("{cores}{} logical CPUs", self.logical_cpus)),
            ("Threads", self.threads_text()),
            ("OS", self.os.clone()),
            ("Versions", self.versions_text()),
            ("GPU", self.gpus_text()),
            ("Precision", self.precision.clone()),
        ];
        if !self.command.is_empty() {
            out.push(("Command", shell_words(&self.command)));
        }
        out
    }
}

/// The command line as a shell would read it back (arguments with spaces or quotes quoted).
#[must_use]
pub fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            let plain = !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,+%@".contains(c));
            if plain { a.clone() } else { format!("'{}'", a.replace('\'', r"'\''")) }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// CPU model, relevant flags (sorted, de-duplicated) and physical core count from the text of
/// `/proc/cpuinfo` (x86 `model name`/`flags`, Arm `Features`).
#[must_use]
pub fn parse_cpuinfo(text: &str) -> (String, Vec<String>, Option<usize>) {
    let field = |line: &str, key: &str| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    };
    let cpu = text.lines().find_map(|l| field(l, "model name")).unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let mut flags: Vec<String> = text
        .lines()
        .find_map(|l| field(l, "flags").or_else(|| field(l, "Features")))
        .unwrap_or_default()
        .split_whitespace()
        .filter(|f| RELEVANT_FLAGS.iter().any(|r| f.starts_with(r)))
        .map(str::to_string)
        .collect();
    flags.sort();
    flags.dedup();
    // Physical cores: distinct (physical id, core id) pairs, one per processor block.
    let mut cores = std::collections::BTreeSet::new();
    for block in text.split("\n\n") {
        let get = |key| block.lines().find_map(|l| field(l, key));
        if let (Some(p), Some(c)) = (get("physical id"), get("core id")) {
            cores.insert((p, c));
        }
    }
    (cpu, flags, (!cores.is_empty()).then_some(cores.len()))
}

/// GPUs from `nvidia-smi`, or none when it is absent or fails.
fn nvidia_gpus() -> Vec<Gpu> {
    let Ok(out) = Command::new("nvidia-smi")
        .args(["--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"])
        .output()
    else {
        return Vec::new();
    };
    if !out.status.success() {
        return Vec::new();
    }
    parse_nvidia_smi(&String::from_utf8_lossy(&out.stdout))
}

/// Parses `nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader`.
#[must_use]
pub fn parse_nvidia_smi(text: &str) -> Vec<Gpu> {
    text.lines()
        .filter_map(|l| {
            let mut parts = l.rsplitn(3, ',').map(str::trim);
            let memory = parts.next()?.to_string();
            let driver = parts.next()?.to_string();
            let name = parts.next()?.to_string();
            (!name.is_empty()).then_some(Gpu { name, driver, memory })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuinfo_gives_model_simd_flags_and_physical_cores() {
        let text = "processor\t: 0\nmodel name\t: AMD EPYC 9B14\nflags\t\t: fpu sse4_2 avx avx2 fma avx512f \
                    avx512_bf16 amx_tile ht\nphysical id\t: 0\ncore id\t\t: 0\n\n\
                    processor\t: 1\nmodel name\t: AMD EPYC 9B14\nflags\t\t: fpu avx2\nphysical id\t: 0\ncore id\t\t: 0\n\n\
                    processor\t: 2\nphysical id\t: 0\ncore id\t\t: 1\n";
        let (cpu, flags, cores) = parse_cpuinfo(text);
        assert_eq!(cpu, "AMD EPYC 9B14");
        assert_eq!(flags, ["amx_tile", "avx", "avx2", "avx512_bf16", "avx512f", "fma", "sse4_2"]);
        assert_eq!(cores, Some(2));
        let (_, arm, none) = parse_cpuinfo("processor : 0\nFeatures : fp asimd sve crc32\n");
        assert_eq!(arm, ["asimd", "sve"]);
        assert_eq!(none, None);
    }

    #[test]
    fn nvidia_smi_lines_become_gpus() {
        let gpus = parse_nvidia_smi("NVIDIA H100 80GB HBM3, 550.54.15, 81559 MiB\nA, weird, name, 1.0, 8 MiB\n\n");
        assert_eq!(gpus.len(), 2);
        assert_eq!(
            gpus[0],
            Gpu { name: "NVIDIA H100 80GB HBM3".into(), driver: "550.54.15".into(), memory: "81559 MiB".into() }
        );
        assert_eq!(gpus[1].name, "A, weird, name");
        assert!(parse_nvidia_smi("garbage").is_empty());
    }

    #[test]
    fn old_files_without_the_new_fields_still_load() {
        let old = r#"{"cpu":"x","logical_cpus":2,"threads":0,"os":"linux 6","versions":{"infer":"0.1.0"}}"#;
        let env: Environment = serde_json::from_str(old).unwrap();
        assert_eq!(env.precision, "fp32");
        assert_eq!(env.gpus_text(), "none");
        assert!(env.command.is_empty() && env.cpu_flags.is_empty());
        assert_eq!(shell_words(&["infer".into(), "a b".into(), "it's".into()]), r"infer 'a b' 'it'\''s'");
    }
}
