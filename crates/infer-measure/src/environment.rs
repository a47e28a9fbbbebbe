//! The environment fingerprint saved beside every result: the host name, CPU model and SIMD
//! flags, cores and threads, OS, the version of infer and of every runtime, the GPUs and their
//! driver, the precision, the command line that produced the result, and digests of the model
//! and of the inputs measured (so results from several machines can be checked to be of the
//! same workload before they are put side by side).
//!
//! Every field added after the first layout has `#[serde(default)]`, so older result files still
//! load.

use std::{
    collections::BTreeMap,
    io::Read,
    path::{Path, PathBuf},
    process::Command,
};

use infer_core::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::workload::{Workload, args::FeedbackPair};

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
    /// The machine's host name (empty in results written before it was recorded).
    #[serde(default)]
    pub host: String,
    /// `sha256:…` of the model measured (a folder: of its files and their relative paths), when
    /// known; see [`digest_path`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_digest: Option<String>,
    /// `sha256:…` of the inputs measured: the reference input file, if any, and the rule that
    /// made the synthetic timing inputs; see [`Environment::set_workload`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs_digest: Option<String>,
    /// The runtime settings in effect that change the numbers (torch: `tf32_matmul`,
    /// `tf32_cudnn`), as the session read them back (`Session::settings`); empty when the
    /// backend reports none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub settings: BTreeMap<String, String>,
    /// The `--arg NAME=VALUE` values the model was given on every call (its arguments that are
    /// not tensors, its scalar inputs), as given; empty when none were.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub arguments: BTreeMap<String, String>,
    /// The state carried from call to call (`--feedback OUTPUT=INPUT`): each output fed as its
    /// input in the next call, warm-up included; empty when every call was independent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub state_carried: Vec<FeedbackPair>,
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
            host: host_name(),
            model_digest: None,
            inputs_digest: None,
            settings: BTreeMap::new(),
            arguments: BTreeMap::new(),
            state_carried: Vec::new(),
        }
    }

    /// Records what was measured: the digest of the model file or folder, and of the inputs:
    /// the synthetic tensors (fixed seed; the workload's options: `--dims`, `--dim`, `--shape`,
    /// `--int-range`, `--arg`, whose values are also kept in [`Environment::arguments`]), the
    /// content of every `--input` file, and the reference input file when one
    /// is checked. A model that cannot be read leaves its digest unset (loading it will say why).
    pub fn set_workload(&mut self, model: &Path, reference_input: Option<&Path>, workload: &Workload) {
        self.model_digest = digest_path(model).ok();
        self.arguments = workload.args.clone();
        self.state_carried = workload.feedback.clone();
        let mut h = Sha256::new();
        // A workload of positional sizes only hashes as it always did, so digests of earlier
        // results still match.
        h.update(format!("synthetic-inputs v1 seed 0x5eed dim-fill {:?}\n", workload.positional));
        let options = Workload { positional: Vec::new(), files: Vec::new(), ..workload.clone() };
        if options != Workload::default() {
            h.update(format!("options {}\n", options.child_args().join(" ")));
        }
        for input in workload.input_paths() {
            match digest_path(&input) {
                Ok(d) => h.update(format!("input {d}\n")),
                Err(_) => h.update(format!("input unreadable {}\n", input.display())),
            }
        }
        if let Some(input) = reference_input {
            match digest_path(input) {
                Ok(d) => h.update(format!("reference {d}\n")),
                Err(_) => h.update(format!("reference unreadable {}\n", input.display())),
            }
        }
        self.inputs_digest = Some(format!("sha256:{:x}", h.finalize()));
    }

    /// The machine in a few words, for the machine column of a fleet report: the host name, or
    /// (results that have none) the CPU and the first GPU.
    #[must_use]
    pub fn machine(&self) -> String {
        if !self.host.is_empty() {
            return self.host.clone();
        }
        match self.gpus.first() {
            Some(g) => format!("{} + {}", self.cpu, g.name),
            None => self.cpu.clone(),
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

    /// The pairs of [`Environment::state_carried`] as `state_out → state, …`; `None` when no
    /// state was carried.
    #[must_use]
    pub fn state_carried_text(&self) -> Option<String> {
        if self.state_carried.is_empty() {
            return None;
        }
        Some(self.state_carried.iter().map(FeedbackPair::arrow).collect::<Vec<_>>().join(", "))
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
        let mut out = Vec::new();
        if !self.host.is_empty() {
            out.push(("Host", self.host.clone()));
        }
        out.extend([
            ("CPU", self.cpu.clone()),
            ("CPU flags", if self.cpu_flags.is_empty() { "unknown".into() } else { self.cpu_flags.join(" ") }),
            ("Cores", format!("{cores}{} logical CPUs", self.logical_cpus)),
            ("Threads", self.threads_text()),
            ("OS", self.os.clone()),
            ("Versions", self.versions_text()),
            ("GPU", self.gpus_text()),
            ("Precision", self.precision.clone()),
        ]);
        if !self.settings.is_empty() {
            let pairs: Vec<String> = self.settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push(("Settings", pairs.join(" ")));
        }
        if let Some(line) = self.state_carried_text() {
            out.push(("State carried", line));
        }
        if let Some(d) = &self.model_digest {
            out.push(("Model digest", d.clone()));
        }
        if let Some(d) = &self.inputs_digest {
            out.push(("Inputs digest", d.clone()));
        }
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

/// This machine's host name: the kernel's (`/proc/sys/kernel/hostname`), else `$HOSTNAME`, else
/// empty.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// `sha256:…` of a file's bytes, or of a folder: every file under it (symbolic links followed for
/// files, not for folders), in the byte order of their relative paths, each as its relative path
/// and its own digest. The same model gives the same digest on every machine, wherever it lies.
///
/// # Errors
/// [`Error::Io`] naming the file or folder that cannot be read.
pub fn digest_path(path: &Path) -> Result<String> {
    if !path.is_dir() {
        return digest_file(path);
    }
    let mut files = Vec::new();
    walk(path, path, &mut files)?;
    files.sort();
    let mut h = Sha256::new();
    for rel in files {
        let d = digest_file(&path.join(&rel))?;
        h.update(rel.to_string_lossy().as_bytes());
        h.update(b"\0");
        h.update(d.as_bytes());
        h.update(b"\n");
    }
    Ok(format!("sha256:{:x}", h.finalize()))
}

/// The files under `dir`, relative to `root`.
fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if kind.is_dir() {
            walk(root, &path, out)?;
        } else if path.is_file() {
            out.push(path.strip_prefix(root).unwrap_or(&path).to_path_buf());
        }
    }
    Ok(())
}

/// `sha256:…` of one file, read in blocks.
fn digest_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(format!("sha256:{:x}", h.finalize()))
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
        assert!(env.host.is_empty() && env.model_digest.is_none() && env.inputs_digest.is_none());
        assert!(env.settings.is_empty());
        assert_eq!(env.machine(), "x");
        assert_eq!(shell_words(&["infer".into(), "a b".into(), "it's".into()]), r"infer 'a b' 'it'\''s'");
    }

    #[test]
    fn settings_are_written_and_shown_only_when_reported() {
        let mut env = Environment::capture(0);
        assert!(!serde_json::to_string(&env).unwrap().contains("settings"));
        assert!(env.lines().iter().all(|(k, _)| *k != "Settings"));
        env.settings = [("tf32_matmul", "off"), ("tf32_cudnn", "on")].map(|(k, v)| (k.into(), v.into())).into();
        let back: Environment = serde_json::from_str(&serde_json::to_string(&env).unwrap()).unwrap();
        assert_eq!(back.settings, env.settings);
        let line = env.lines().into_iter().find(|(k, _)| *k == "Settings").unwrap().1;
        assert_eq!(line, "tf32_cudnn=on tf32_matmul=off");
    }

    #[test]
    fn digests_name_the_content_not_the_place() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("elsewhere/b");
        for d in [&a, &b] {
            std::fs::create_dir_all(d.join("variables")).unwrap();
            std::fs::write(d.join("saved_model.pb"), b"graph").unwrap();
            std::fs::write(d.join("variables/v.data"), b"weights").unwrap();
        }
        let da = digest_path(&a).unwrap();
        assert!(da.starts_with("sha256:") && da.len() == 7 + 64, "{da}");
        assert_eq!(da, digest_path(&b).unwrap(), "the same folder elsewhere");
        std::fs::write(b.join("variables/v.data"), b"weightz").unwrap();
        assert_ne!(da, digest_path(&b).unwrap(), "one changed byte");
        // A file: the sha256 of its bytes (`printf graph | sha256sum`).
        assert_eq!(
            digest_path(&a.join("saved_model.pb")).unwrap(),
            "sha256:eef93e1d14482804277fca0172464032d1a4fdbcc338524059fa1e861454ad4d"
        );
        let missing = digest_path(&dir.path().join("nope.onnx")).unwrap_err().to_string();
        assert!(missing.contains("nope.onnx"), "{missing}");

        let mut env = Environment::capture(0);
        let digest = |env: &mut Environment, reference: Option<&Path>, w: &Workload| {
            env.set_workload(&a, reference, w);
            env.inputs_digest.clone().unwrap()
        };
        let first = digest(&mut env, None, &Workload::default());
        assert_eq!(env.model_digest.as_deref(), Some(da.as_str()));
        // Unchanged from the digests of earlier versions: sha256 of the same line.
        assert_eq!(first, format!("sha256:{:x}", Sha256::digest(b"synthetic-inputs v1 seed 0x5eed dim-fill []\n")));
        let mut seen = vec![first.clone()];
        let ranged = Workload {
            int_ranges: vec![crate::workload::args::parse_int_range("ids=0:5").unwrap()],
            ..Workload::default()
        };
        let input =
            Workload { files: vec![format!("x={}", a.join("saved_model.pb").display())], ..Workload::default() };
        let argued = Workload { args: [("sr".to_string(), "16000".to_string())].into(), ..Workload::default() };
        let argued_digest = digest(&mut env, None, &argued);
        assert_eq!(env.arguments, argued.args, "the values are kept beside the digest");
        for (why, d) in [
            ("an argument's value", argued_digest),
            ("other dynamic sizes", digest(&mut env, None, &Workload::positional(vec![7]))),
            ("an integer range", digest(&mut env, None, &ranged)),
            ("an input file", digest(&mut env, None, &input)),
            (
                "the batch dimension",
                digest(&mut env, None, &Workload { batch_dim: Some("N".into()), ..Workload::default() }),
            ),
            ("a reference input", digest(&mut env, Some(&a.join("saved_model.pb")), &Workload::default())),
        ] {
            assert!(!seen.contains(&d), "{why} counts");
            seen.push(d);
        }
    }
}
