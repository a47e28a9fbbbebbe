//! The same workload on every backend and device, each measured in its own child process so a
//! crash in native code becomes that row's error and loses no other row.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use infer_core::{Availability, Device, Registry, Result, registry::availability};
use serde::{Deserialize, Serialize};

use crate::{
    bench::{BenchConfig, Stop},
    environment::Environment,
    fixture::Fixture,
    memory::mib,
    report::{BenchReport, KEY_COLUMNS, Table, read_json, write_json},
};

/// The fixture format each backend reads.
#[must_use]
pub fn fixture_format(backend: &str) -> &'static str {
    match backend {
        "onnx" => "onnx",
        "torch" => "torchscript",
        "tf" => "savedmodel",
        _ => "",
    }
}

/// The outcome for one (backend, device).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareEntry {
    /// Backend name.
    pub backend: String,
    /// Device.
    pub device: Device,
    /// `ok`, `not compiled`, `unavailable: ...` or `error: ...`.
    pub status: String,
    /// The measurement, when it ran.
    pub report: Option<BenchReport>,
}

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

/// Settings of a comparison.
#[derive(Debug, Clone)]
pub struct CompareSpec {
    /// The fixture folder.
    pub fixture: PathBuf,
    /// Devices to try.
    pub devices: Vec<Device>,
    /// Batch sizes.
    pub batch_sizes: Vec<usize>,
    /// Timing.
    pub config: BenchConfig,
    /// Intra-op threads for every backend (0 = default).
    pub threads: usize,
    /// Tolerance on the difference to the reference output.
    pub tolerance: f64,
}

/// The status of the rows not measured because of Ctrl-C.
pub const INTERRUPTED: &str = "interrupted";

/// Runs the comparison; `exe` is the `infer` binary used for the child processes.
///
/// # Errors
/// Only when the fixture cannot be read: each row's failure is recorded in its entry.
pub fn compare(registry: &Registry, exe: &Path, spec: &CompareSpec) -> Result<Comparison> {
    compare_each(registry, exe, spec, &mut |_| Ok(()))
}

/// As [`compare`], calling `on_entry` with the comparison so far after each entry (so a caller
/// can save it before the next child starts). After Ctrl-C ([`crate::interrupt::requested`],
/// once [`crate::interrupt::watch`] was called) the running child is killed and it and every
/// remaining row get the status [`INTERRUPTED`].
///
/// # Errors
/// When the fixture cannot be read, and the first error of `on_entry`.
pub fn compare_each(
    registry: &Registry,
    exe: &Path,
    spec: &CompareSpec,
    on_entry: &mut dyn FnMut(&Comparison) -> Result<()>,
) -> Result<Comparison> {
    let fixture = Fixture::open(&spec.fixture)?;
    let scratch = tempfile::tempdir().map_err(|e| infer_core::Error::io(std::env::temp_dir(), e))?;
    let mut entries = Vec::new();
    for backend in registry.iter() {
        let name = backend.name();
        let avail = availability(backend);
        for &device in &spec.devices {
            let status = |s: String| CompareEntry { backend: name.into(), device, status: s, report: None };
            if !entries.is_empty() {
                on_entry(&snapshot(&fixture, spec, &entries))?;
            }
            if crate::interrupt::requested() {
                entries.push(status(INTERRUPTED.into()));
                continue;
            }
            let info = match &avail {
                Availability::Available(info) => info,
                Availability::NotCompiled { .. } => {
                    entries.push(status("not compiled".into()));
                    continue;
                }
                Availability::Unavailable { reason } => {
                    entries.push(status(format!("unavailable: {reason}")));
                    continue;
                }
            };
            if !info.devices.contains(&device) {
                let have: Vec<String> = info.devices.iter().map(ToString::to_string).collect();
                entries.push(status(format!(
                    "unavailable: {name} {} has no {device} here (devices: {})",
                    info.runtime_version,
                    have.join(", ")
                )));
                continue;
            }
            let Some(format) = fixture.meta.formats.get(fixture_format(name)) else {
                entries.push(status(format!("unavailable: the fixture has no {} model", fixture_format(name))));
                continue;
            };
            eprintln!("measuring {name} on {device} ...");
            let json = scratch.path().join(format!("{name}-{}.json", device.to_string().replace(':', "")));
            let entry = match run_child(exe, &fixture, &format.file, &format.reference, name, device, spec, &json) {
                Ok(report) => CompareEntry { backend: name.into(), device, status: "ok".into(), report: Some(report) },
                Err(_) if crate::interrupt::requested() => status(INTERRUPTED.into()),
                Err(e) => status(format!("error: {e}")),
            };
            entries.push(entry);
        }
    }
    let done = snapshot(&fixture, spec, &entries);
    on_entry(&done)?;
    Ok(done)
}

/// The comparison made of the entries so far.
fn snapshot(fixture: &Fixture, spec: &CompareSpec, entries: &[CompareEntry]) -> Comparison {
    let mut environment = Environment::capture(spec.threads);
    for e in entries {
        if let Some(r) = &e.report {
            environment.versions.extend(r.environment.versions.clone());
        }
    }
    Comparison { model: fixture.meta.model.clone(), environment, tolerance: spec.tolerance, entries: entries.to_vec() }
}

#[allow(clippy::too_many_arguments)]
fn run_child(
    exe: &Path,
    fixture: &Fixture,
    model: &str,
    reference: &str,
    backend: &str,
    device: Device,
    spec: &CompareSpec,
    json: &Path,
) -> std::result::Result<BenchReport, String> {
    let mut cmd = Command::new(exe);
    cmd.arg("bench")
        .arg(fixture.path(model))
        .args(["--backend", backend, "--device", &device.to_string()])
        .arg("--batch-sizes")
        .arg(spec.batch_sizes.iter().map(ToString::to_string).collect::<Vec<_>>().join(","))
        .args(["--warmup", &spec.config.warmup.to_string(), "--threads", &spec.threads.to_string()])
        .arg("--reference-input")
        .arg(fixture.input())
        .arg("--reference-output")
        .arg(fixture.path(reference))
        .arg("--quiet")
        .arg("--json")
        .arg(json);
    match spec.config.stop {
        Stop::Iterations(n) => cmd.args(["--iterations", &n.to_string()]),
        Stop::Duration(d) => cmd.args(["--duration", &format!("{}ms", d.as_millis())]),
    };
    // The child's stderr goes to a file beside its JSON (no pipe to drain while polling).
    let log_path = json.with_extension("stderr.txt");
    let log = std::fs::File::create(&log_path).map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    // Poll, so that Ctrl-C in the parent can stop the child at once.
    let status = loop {
        if crate::interrupt::requested() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(INTERRUPTED.into());
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("cannot wait for the child process: {e}")),
        }
    };
    if !status.success() {
        let stderr = std::fs::read_to_string(&log_path).unwrap_or_default();
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message").trim();
        return Err(match status.code() {
            Some(code) => format!("exit code {code}: {last}"),
            None => format!("the child process was killed by a signal ({status}): {last}"),
        });
    }
    read_json(json).map_err(|e| e.to_string())
}

/// The comparison table: one line per (backend, device, batch size), status lines for the rest.
#[must_use]
pub fn table(c: &Comparison) -> Table {
    let mut t = Table::new(&[&KEY_COLUMNS[..], &["items/s", "peak RSS", "max |diff|", "status"]].concat());
    for e in &c.entries {
        let Some(r) = &e.report else {
            t.rows.push(vec![
                e.backend.clone(),
                e.device.to_string(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
                e.status.clone(),
            ]);
            continue;
        };
        let diff = r.max_abs_diff.map_or_else(|| "-".into(), |d| format!("{d:.2e}"));
        let verdict = match r.max_abs_diff {
            Some(d) if d <= c.tolerance => "ok".to_string(),
            Some(d) if d.is_nan() => "MISMATCH (NaN)".to_string(),
            Some(_) => format!("MISMATCH (> {:.0e})", c.tolerance),
            None => "ok (no reference)".to_string(),
        };
        for row in &r.rows {
            let mut cells = row.key_cells(2);
            cells.extend([
                format!("{:.1}", row.throughput_per_s),
                r.peak_rss.map_or_else(|| "-".into(), mib),
                diff.clone(),
                verdict.clone(),
            ]);
            t.rows.push(cells);
        }
    }
    t
}

/// Writes `compare.json` (raw samples included), `compare.csv` and `compare.md` into `dir`.
///
/// # Errors
/// File errors naming the file.
pub fn write_all(c: &Comparison, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| infer_core::Error::io(dir, e))?;
    let t = table(c);
    let json = dir.join("compare.json");
    write_json(&json, c)?;
    let csv = dir.join("compare.csv");
    infer_core::fsutil::write_atomic(&csv, t.to_csv()?.as_bytes())?;
    let md = dir.join("compare.md");
    let env = &c.environment;
    let versions: Vec<String> = env.versions.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let text = format!(
        "# {} — backend comparison\n\n{}\nCPU: {} ({} logical CPUs, threads {}), {}; {}.\n\
         Latency is per call (batch), median of the timed iterations; max |diff| is against the reference \
         output of the framework that wrote each model (tolerance {:.0e}).\n",
        c.model,
        t.to_markdown(),
        env.cpu,
        env.logical_cpus,
        if env.threads == 0 { "runtime default".to_string() } else { env.threads.to_string() },
        env.os,
        versions.join(", "),
        c.tolerance
    );
    infer_core::fsutil::write_atomic(&md, text.as_bytes())?;
    Ok(vec![json, csv, md])
}
