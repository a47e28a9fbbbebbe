//! The same workload on every backend and device, each measured in its own child process so a
//! crash in native code becomes that row's error and loses no other row.

use std::path::{Path, PathBuf};

use infer_core::{Availability, Device, Registry, Result, registry::availability};

use crate::{
    analysis::{self, PROFILE_TOP, ProfileOutcome},
    bench::BenchConfig,
    comparison::{CompareEntry, Comparison, PROFILE_NODES, RowStatus},
    environment::Environment,
    fixture::{Fixture, FormatEntry},
    memory::mib,
    profile::ProfileSummary,
    report::{BenchReport, KEY_COLUMNS, Table, write_json},
    rounds,
    runner::{self, BenchJob, ChildError, ChildTarget, ProfileJob},
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
    /// Child processes per (backend, device), taken in turns with the other backends and pooled
    /// (see [`crate::rounds`]); 1 measures each once.
    pub rounds: usize,
    /// Profiled runs of the operator profile taken after the rounds (0: no profile).
    pub profile_runs: usize,
}

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
/// remaining row get the status [`RowStatus::Interrupted`].
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
    // One slot per (backend, device) in registry order; the ones that cannot run get their status
    // at once, the others are measured in rounds, each round visiting every backend in turn.
    let mut slots: Vec<(Option<CompareEntry>, Option<&FormatEntry>)> = Vec::new();
    for backend in registry.iter() {
        let name = backend.name();
        let avail = availability(backend);
        for &device in &spec.devices {
            let status = |s: RowStatus| Some(CompareEntry::new(name, device, s, None));
            let unavailable = |reason: String| status(RowStatus::Unavailable { reason });
            let (entry, format) = match &avail {
                Availability::NotCompiled { .. } => (status(RowStatus::NotCompiled), None),
                Availability::Unavailable { reason } => (unavailable(reason.clone()), None),
                Availability::Available(info) if !info.devices.contains(&device) => {
                    let have: Vec<String> = info.devices.iter().map(ToString::to_string).collect();
                    let why =
                        format!("{name} {} has no {device} here (devices: {})", info.runtime_version, have.join(", "));
                    (unavailable(why), None)
                }
                Availability::Available(_) => match fixture.meta.formats.get(fixture_format(name)) {
                    Some(format) => (None, Some(format)),
                    None => (unavailable(format!("the fixture has no {} model", fixture_format(name))), None),
                },
            };
            slots.push((entry.or_else(|| status(RowStatus::Pending)), format));
        }
    }
    let rounds = spec.rounds.max(1);
    let mut first = true;
    for round in 1..=rounds {
        for i in 0..slots.len() {
            // Not measurable, or failed in an earlier round (that error stands).
            let runnable =
                matches!(&slots[i], (Some(e), Some(_)) if matches!(e.status, RowStatus::Pending | RowStatus::Ok));
            if !runnable {
                continue;
            }
            if !first {
                on_entry(&snapshot(&fixture, spec, &slots))?;
            }
            first = false;
            let (entry, format) = &mut slots[i];
            let (Some(e), Some(format)) = (entry.as_mut(), *format) else { continue };
            if crate::interrupt::requested() {
                if e.report.is_none() {
                    e.status = RowStatus::Interrupted;
                }
                continue;
            }
            let of = if rounds > 1 { format!(" (round {round} of {rounds})") } else { String::new() };
            eprintln!("measuring {} on {}{of} ...", e.backend, e.device);
            let json =
                scratch.path().join(format!("{}-{}-{round}.json", e.backend, e.device.to_string().replace(':', "")));
            let target = child_target(exe, &fixture, format, &e.backend, e.device, spec);
            match run_child(&target, &fixture, format, spec, &json, round) {
                Ok(report) => match e.report.as_mut() {
                    Some(pooled) => {
                        if let Err(err) = rounds::pool(pooled, report) {
                            e.status = RowStatus::Error { message: format!("round {round} of {rounds}: {err}") };
                        }
                    }
                    None => {
                        e.report = Some(report);
                        e.status = RowStatus::Ok;
                    }
                },
                Err(_) if crate::interrupt::requested() && e.report.is_none() => e.status = RowStatus::Interrupted,
                Err(_) if crate::interrupt::requested() => {}
                Err(err) if rounds > 1 && e.report.is_some() => {
                    e.status = RowStatus::Error { message: format!("round {round} of {rounds}: {err}") };
                }
                Err(err) => e.status = RowStatus::Error { message: err.to_string() },
            }
        }
    }
    if spec.profile_runs > 0 {
        for i in 0..slots.len() {
            let measured = matches!(&slots[i], (Some(e), Some(_)) if e.report.is_some());
            if !measured || crate::interrupt::requested() {
                continue;
            }
            on_entry(&snapshot(&fixture, spec, &slots))?;
            let (entry, format) = &mut slots[i];
            let (Some(e), Some(format)) = (entry.as_mut(), *format) else { continue };
            eprintln!("profiling {} on {} ...", e.backend, e.device);
            let json =
                scratch.path().join(format!("{}-{}-profile.json", e.backend, e.device.to_string().replace(':', "")));
            let target = child_target(exe, &fixture, format, &e.backend, e.device, spec);
            match profile_child(&target, spec, &json) {
                Ok(mut p) => {
                    p.by_node.truncate(PROFILE_NODES);
                    e.profile = Some(p);
                }
                Err(_) if crate::interrupt::requested() => {}
                Err(err) => e.profile_error = Some(err.to_string()),
            }
        }
    }
    let done = snapshot(&fixture, spec, &slots);
    on_entry(&done)?;
    Ok(done)
}

/// The comparison made of the entries so far (the ones not measured yet are left out).
fn snapshot(
    fixture: &Fixture,
    spec: &CompareSpec,
    slots: &[(Option<CompareEntry>, Option<&FormatEntry>)],
) -> Comparison {
    let entries: Vec<CompareEntry> =
        slots.iter().filter_map(|(e, _)| e.clone()).filter(|e| !matches!(e.status, RowStatus::Pending)).collect();
    let mut environment = Environment::capture(spec.threads);
    for e in &entries {
        if let Some(r) = &e.report {
            environment.versions.extend(r.environment.versions.clone());
        }
    }
    Comparison { model: fixture.meta.model.clone(), environment, tolerance: spec.tolerance, entries }
}

/// The child target of the fixture's model in `format` for one (backend, device).
fn child_target(
    exe: &Path,
    fixture: &Fixture,
    format: &FormatEntry,
    backend: &str,
    device: Device,
    spec: &CompareSpec,
) -> ChildTarget {
    ChildTarget {
        exe: exe.to_path_buf(),
        model: fixture.path(&format.file),
        backend: backend.into(),
        device,
        threads: spec.threads,
    }
}

/// One round of `infer bench` on every batch size, checked against the format's reference.
fn run_child(
    target: &ChildTarget,
    fixture: &Fixture,
    format: &FormatEntry,
    spec: &CompareSpec,
    json: &Path,
    round: usize,
) -> std::result::Result<BenchReport, ChildError> {
    let job = BenchJob {
        batch_sizes: spec.batch_sizes.clone(),
        config: spec.config,
        dim_fill: Vec::new(),
        reference: Some((fixture.input_for(format), fixture.path(&format.reference))),
        memory_limit: None,
    };
    let mut cmd = target.bench(&job, json);
    // Which round this child is (1-based): for its log, and the tests' crash hook.
    cmd.env("INFER_ROUND", round.to_string());
    runner::run(cmd, json)
}

/// `infer profile` of one (backend, device) at the first batch size, after 2 warm-up runs.
fn profile_child(
    target: &ChildTarget,
    spec: &CompareSpec,
    json: &Path,
) -> std::result::Result<ProfileSummary, ChildError> {
    let job =
        ProfileJob { batch_size: spec.batch_sizes.first().copied().unwrap_or(1), runs: spec.profile_runs, warmup: 2 };
    runner::run(target.profile(&job, json), json)
}

/// The comparison table: one line per (backend, device, batch size), status lines for the rest.
#[must_use]
pub fn table(c: &Comparison) -> Table {
    let pooled =
        c.entries.iter().filter_map(|e| e.report.as_ref()).flat_map(|r| &r.rows).any(|r| r.round_medians_ms.is_some());
    let spread: &[&str] = if pooled { &["rounds (spread)"] } else { &[] };
    let mut t = Table::new(&[&KEY_COLUMNS[..], spread, &["items/s", "RSS +model", "max |diff|", "status"]].concat());
    for e in &c.entries {
        let Some(r) = &e.report else {
            let mut cells = vec![e.backend.clone(), e.device.to_string()];
            cells.resize(t.header.len() - 1, "-".into());
            cells.push(e.status.to_string());
            t.rows.push(cells);
            continue;
        };
        let diff = r.max_abs_diff.map_or_else(|| "-".into(), |d| format!("{d:.2e}"));
        // A later round's failure stands beside the rounds that did run.
        let verdict = match &e.status {
            RowStatus::Ok => analysis::parity(r, c.tolerance).to_string(),
            other => other.to_string(),
        };
        for row in &r.rows {
            let mut cells = row.key_cells(2);
            if pooled {
                let medians = rounds::round_medians(row);
                cells.push(format!("{} ({:.1}%)", medians.len(), rounds::spread(&medians) * 100.0));
            }
            cells.extend([
                format!("{:.1}", row.throughput_per_s),
                analysis::model_rss(r).map_or_else(|| "-".into(), mib),
                diff.clone(),
                verdict.clone(),
            ]);
            t.rows.push(cells);
        }
    }
    t
}

/// The CPU-versus-GPU table: one line per [`analysis::Speedup`].
#[must_use]
pub fn speedup_table(c: &Comparison) -> Table {
    let mut t = Table::new(&["backend", "gpu", "batch", "cpu median ms", "gpu median ms", "gpu speed-up"]);
    for s in analysis::speedups(c) {
        t.rows.push(vec![
            s.backend,
            s.gpu.to_string(),
            s.batch_size.to_string(),
            format!("{:.2}", s.cpu_median_ms),
            format!("{:.2}", s.gpu_median_ms),
            format!("{:.2}x", s.speedup),
        ]);
    }
    t
}

/// The cross-backend table: one line per [`analysis::Relative`].
#[must_use]
pub fn relative_table(c: &Comparison) -> Table {
    let mut t = Table::new(&["device", "batch", "backend", "median ms", "vs fastest"]);
    for r in analysis::relative(c) {
        t.rows.push(vec![
            r.device.to_string(),
            r.batch_size.to_string(),
            r.backend,
            format!("{:.2}", r.median_ms),
            if r.relative <= 1.0 { "fastest".into() } else { format!("{:.2}x slower", r.relative) },
        ]);
    }
    t
}

/// Where the time goes: the top [`analysis::PROFILE_TOP`] operator types of each profiled (backend,
/// device), then a line per profile that failed.
#[must_use]
pub fn profile_table(c: &Comparison) -> Table {
    let mut t = Table::new(&["backend", "device", "op type", "per run ms", "calls per run", "share %"]);
    for p in analysis::profiles(c) {
        let key = [p.backend.to_string(), p.device.to_string()];
        match p.outcome {
            ProfileOutcome::Profiled { top, .. } => {
                for op in top {
                    let mut cells = key.to_vec();
                    cells.extend([
                        op.name,
                        format!("{:.3}", op.per_run_ms),
                        format!("{:.0}", op.calls_per_run),
                        format!("{:.1}", op.share_pct),
                    ]);
                    t.rows.push(cells);
                }
            }
            ProfileOutcome::Failed(err) => {
                let mut cells = key.to_vec();
                cells.extend([format!("no profile: {err}"), "-".into(), "-".into(), "-".into()]);
                t.rows.push(cells);
            }
        }
    }
    t
}

/// The note under the profile tables: what the shares mean and where each profile came from.
#[must_use]
pub fn profile_note(c: &Comparison) -> String {
    let mut text = String::from(
        "Each backend's own profiler, in a child process after the timed rounds, at the first batch size          (2 warm-up runs left out). Shares are of the operator time that profiler saw. The profilers name          different things (ONNX Runtime: fused graph nodes; libtorch: ATen ops by self time; TensorFlow: graph          kernels), so compare where the time goes, not the names.",
    );
    for e in &c.entries {
        if let Some(p) = &e.profile {
            text.push_str(&format!(
                "
- {} on {}: batch {}, {} runs; {}",
                e.backend, e.device, p.batch_size, p.runs, p.source
            ));
        }
    }
    text
}

/// The Markdown report: the table, CPU against GPU, backends against each other, the environment.
#[must_use]
pub fn markdown(c: &Comparison) -> String {
    let mut text = format!("# {} — backend comparison\n\n{}", c.model, table(c).to_markdown());
    text.push_str(&format!(
        "\nLatency is per call (batch), median of the timed iterations; RSS +model is the peak resident memory \
         minus the resident memory before loading (what the model added; the runtime libraries linked into \
         `infer` are left out); max |diff| is against the reference output of the framework that wrote each \
         model (tolerance {:.0e}).\n",
        c.tolerance
    ));
    let speed = speedup_table(c);
    if !speed.rows.is_empty() {
        text.push_str(&format!(
            "\n## CPU against GPU\n\nSpeed-up = CPU median / GPU median, same backend and batch size.\n\n{}",
            speed.to_markdown()
        ));
    }
    let rel = relative_table(c);
    if !rel.rows.is_empty() {
        text.push_str(&format!(
            "\n## Backends against each other\n\nEach backend's median relative to the fastest on the same device \
             and batch size.\n\n{}",
            rel.to_markdown()
        ));
    }
    let prof = profile_table(c);
    if !prof.rows.is_empty() {
        text.push_str(&format!(
            "\n## Where the time goes\n\nTop {PROFILE_TOP} operator types per backend.\n\n{}\n{}\n",
            prof.to_markdown(),
            profile_note(c)
        ));
    }
    text.push_str("\n## Environment\n\n");
    for (k, v) in c.environment.lines() {
        let v = if k == "Command" { format!("`{v}`") } else { v };
        text.push_str(&format!("- **{k}:** {v}\n"));
    }
    text
}

/// Writes `compare.json` (raw samples included), `compare.csv`, `compare.md` and the
/// self-contained `compare.html` into `dir`.
///
/// # Errors
/// File errors naming the file.
pub fn write_all(c: &Comparison, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| infer_core::Error::io(dir, e))?;
    let json = dir.join("compare.json");
    write_json(&json, c)?;
    let csv = dir.join("compare.csv");
    infer_core::fsutil::write_atomic(&csv, table(c).to_csv()?.as_bytes())?;
    let md = dir.join("compare.md");
    infer_core::fsutil::write_atomic(&md, markdown(c).as_bytes())?;
    let html = dir.join("compare.html");
    infer_core::fsutil::write_atomic(&html, crate::html::comparison_html(c).as_bytes())?;
    Ok(vec![json, csv, md, html])
}

#[cfg(test)]
mod tests {
    use infer_core::Device;

    use super::*;
    use crate::{
        report::read_json,
        testing::{report, synthetic, with_profiles},
    };

    #[test]
    fn tables_show_speedups_and_ranks() {
        let t = speedup_table(&synthetic());
        assert_eq!(t.rows[0], ["onnx", "cuda:0", "1", "20.00", "2.00", "10.00x"]);
        assert_eq!(relative_table(&synthetic()).rows[1][4], "1.25x slower");
    }
    #[test]
    fn markdown_and_files_include_speedups_environment_and_html() {
        let c = synthetic();
        let md = markdown(&c);
        assert!(
            md.contains("## CPU against GPU") && md.contains("| onnx | cuda:0 | 8 | 150.00 | 5.00 | 30.00x |"),
            "{md}"
        );
        assert!(md.contains("## Backends against each other") && md.contains("- **GPU:**"), "{md}");
        let dir = tempfile::tempdir().unwrap();
        let files = write_all(&c, dir.path()).unwrap();
        let names: Vec<String> = files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["compare.json", "compare.csv", "compare.md", "compare.html"]);
        let back: Comparison = read_json(&files[0]).unwrap();
        assert_eq!((back.entries.len(), back.model.as_str()), (5, "resnet<18>"));
        assert_eq!(back.entries[1].report.as_ref().unwrap().rows[1].samples_ms.len(), 40, "raw samples kept");
        assert!(std::fs::read_to_string(&files[3]).unwrap().starts_with("<!DOCTYPE html>"));
    }

    #[test]
    fn table_shows_rounds_and_a_later_rounds_failure() {
        let mut c = synthetic();
        assert!(!table(&c).header.iter().any(|h| h.starts_with("rounds")), "one round: no rounds column");
        let onnx = c.entries[0].report.as_mut().unwrap();
        crate::rounds::pool(onnx, report("onnx", Device::Cpu, &[(1, 22.0), (8, 150.0)])).unwrap();
        c.entries[2].status = RowStatus::Error { message: "round 2 of 3: exit code 1: boom".into() };
        let t = table(&c);
        assert_eq!(t.header[6], "rounds (spread)");
        assert_eq!(t.rows[0][6], "2 (10.0%)", "{:?}", t.rows[0]);
        // The torch row keeps round 1's numbers, and says the next round failed.
        let torch = t.rows.iter().find(|r| r[0] == "torch" && r[1] == "cpu").unwrap();
        assert_eq!((torch[6].as_str(), torch[10].as_str()), ("1 (0.0%)", "error: round 2 of 3: exit code 1: boom"));
    }

    #[test]
    fn reports_show_where_the_time_goes() {
        let c = synthetic();
        assert!(profile_table(&c).rows.is_empty() && !markdown(&c).contains("Where the time goes"));
        let c = with_profiles(c);
        let t = profile_table(&c);
        assert_eq!(t.rows.len(), analysis::PROFILE_TOP + 1, "top 5 of onnx, then torch's error");
        assert_eq!(t.rows[0], ["onnx", "cpu", "Conv", "0.700", "2", "70.0"]);
        assert_eq!(t.rows[5][2], "no profile: exit code 1: boom");
        let md = markdown(&c);
        assert!(
            md.contains("## Where the time goes") && md.contains("- onnx on cpu: batch 1, 1 runs; ORT JSON"),
            "{md}"
        );
        let html = crate::html::comparison_html(&c);
        assert!(html.contains("id=\"profile\"") && html.contains("no profile: exit code 1: boom"));
        let back: Comparison = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back.entries[0].profile, c.entries[0].profile, "profiles survive the JSON round trip");
        assert_eq!(back.entries[2].profile_error, c.entries[2].profile_error);
    }
}
