//! `infer compare --scenario offline|server`: the serving scenario of `infer bench --scenario`
//! for every (backend, device) that can run the fixture, each configuration in its own child
//! process (a crash is that row's error), and in the server scenario once per batching asked
//! (without the dynamic batcher, then with it). The comparison so far goes to the reports after
//! every row; after Ctrl-C the running child is killed, the rows not measured are marked
//! interrupted, and every row measured is kept.

use std::path::{Path, PathBuf};

use infer_core::{Device, Registry, Result};

use super::{file_stem, plan};
use crate::{
    fixture::Fixture,
    runner::{self, ChildTarget},
};
use infer_measure::{
    environment::Environment,
    results::comparison::RowStatus,
    results::serving::{SERVING_SCHEMA_VERSION, ServingComparison, ServingRow},
    scenario::{ScenarioKind, ScenarioReport},
    timing::Warmup,
    workload::Workload,
};
use infer_report::progress::Reports;

/// One batching configuration of the server scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batching {
    /// Its name in the reports (`none`, `dynamic ≤8, 2 ms`).
    pub label: String,
    /// Its options for `infer bench` (`--dynamic-batch 8 --batch-timeout 2ms`; none for `none`).
    pub args: Vec<String>,
}

impl Batching {
    /// No batching: one request per call.
    #[must_use]
    pub fn none() -> Self {
        Self { label: "none".into(), args: Vec::new() }
    }

    /// Triton's dynamic batcher: up to `max` requests per call, the oldest waiting at most
    /// `timeout_ms`.
    #[must_use]
    pub fn dynamic(max: u16, timeout_ms: f64) -> Self {
        Self {
            label: format!("dynamic ≤{max}, {timeout_ms} ms"),
            args: vec!["--dynamic-batch".into(), max.to_string(), "--batch-timeout".into(), format!("{timeout_ms}ms")],
        }
    }
}

/// Settings of a serving comparison.
#[derive(Debug, Clone)]
pub struct ServingSpec {
    /// The fixture folder.
    pub fixture: PathBuf,
    /// Devices to try.
    pub devices: Vec<Device>,
    /// Intra-op threads for every backend (0 = default).
    pub threads: usize,
    /// Warm-up before each run.
    pub warmup: Warmup,
    /// What the requests' inputs are made of.
    pub workload: Workload,
    /// The scenario (offline or server).
    pub scenario: ScenarioKind,
    /// The scenario's options for every child, `--scenario` included, batching excluded.
    pub options: Vec<String>,
    /// The batchings measured for each (backend, device), in order (at least one).
    pub batchings: Vec<Batching>,
}

/// Runs the serving comparison; `exe` is the `infer` binary used for the child processes.
///
/// # Errors
/// When the fixture cannot be read, and the first error of the reports: each row's failure is
/// recorded in the row.
pub fn compare_serving(
    registry: &Registry,
    exe: &Path,
    spec: &ServingSpec,
    reporter: &Reports,
) -> Result<ServingComparison> {
    let fixture = Fixture::open(&spec.fixture)?;
    let scratch = tempfile::tempdir().map_err(|e| infer_core::Error::io(std::env::temp_dir(), e))?;
    let slots = plan::fixture_slots(registry, &fixture, &spec.devices, &spec.workload);
    let mut done = ServingComparison {
        schema_version: SERVING_SCHEMA_VERSION,
        model: fixture.meta.model.clone(),
        scenario: spec.scenario,
        options: spec.options.clone(),
        environment: Environment::capture(spec.threads),
        rows: Vec::new(),
    };
    for (n, slot) in slots.iter().enumerate() {
        for (i, batching) in spec.batchings.iter().enumerate() {
            let mut row = ServingRow {
                backend: slot.entry.backend.clone(),
                device: slot.entry.device,
                batching: batching.label.clone(),
                status: slot.entry.status.clone(),
                report: None,
            };
            let Some(slot_target) = &slot.target else {
                // A backend that cannot run gets one row, not one per batching.
                if i == 0 {
                    done.rows.push(row);
                }
                continue;
            };
            if crate::interrupt::requested() {
                row.status = RowStatus::Interrupted;
                done.rows.push(row);
                continue;
            }
            reporter.row_start(&row.label());
            let target = ChildTarget {
                exe: exe.to_path_buf(),
                model: slot_target.model.clone(),
                backend: row.backend.clone(),
                device: row.device,
                threads: spec.threads,
            };
            let json = scratch.path().join(format!("{}-{i}.json", file_stem(n, &row.backend, row.device)));
            let options: Vec<String> = spec.options.iter().chain(&batching.args).cloned().collect();
            let cmd = target.scenario(spec.warmup, &slot_target.workload, &options, &json);
            match runner::run::<ScenarioReport>(cmd, &json) {
                Ok(report) => {
                    for (name, version) in &report.environment.versions {
                        done.environment.versions.insert(name.clone(), version.clone());
                    }
                    row.status = RowStatus::Ok;
                    row.report = Some(report);
                }
                Err(_) if crate::interrupt::requested() => row.status = RowStatus::Interrupted,
                Err(err) => row.status = RowStatus::Error { message: err.to_string() },
            }
            done.rows.push(row);
            reporter.progress(&done)?;
        }
    }
    reporter.final_summary(&done)?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dynamic_batching_names_its_settings_and_passes_them_to_bench() {
        let b = Batching::dynamic(8, 2.0);
        assert_eq!(b.label, "dynamic ≤8, 2 ms");
        assert_eq!(b.args, ["--dynamic-batch", "8", "--batch-timeout", "2ms"]);
        assert!(Batching::none().args.is_empty());
    }
}
