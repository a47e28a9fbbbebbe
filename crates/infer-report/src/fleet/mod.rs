//! The fleet report (`infer report a.json b.json … -o fleet.html`): results of `infer bench` or
//! `infer compare` taken on several machines, side by side.
//!
//! Each result is one **machine**, named from its environment fingerprint (the host name, or the
//! CPU and GPU for results that have none; the file name is added when two would read the same).
//! Rows are matched on (model, backend, device, batch size) as `infer compare-runs` matches them;
//! on every matched row each machine's median latency is stated as a ratio to the first
//! machine's, with a bootstrap confidence interval from the raw samples. Before anything is put
//! side by side, [`mismatches`] compares the model and inputs digests the fingerprints record:
//! results of different models or inputs are refused unless the caller allows them (and the
//! report then says so at the top). [`Fleet`] is the report: Markdown and CSV here, the HTML
//! page in `page`.

mod page;

use std::collections::{BTreeMap, BTreeSet};

use infer_core::Result;
use infer_measure::{
    environment::Environment,
    results::BenchRow,
    stats::{ConfidenceInterval, DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, Estimate},
};

use crate::{
    compare_runs::median_ratio_ci,
    document::{Callout, Document, Section, TableBlock, paragraph},
    report::{Format, Report},
    saved::{Results, RowKey},
    table::Table,
};

/// Seed of the ratio bootstrap, fixed so reports are reproducible.
const SEED: u64 = 0xf1ee7;

/// One machine's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    /// The machine column's text.
    pub label: String,
    /// The result file it was read from.
    pub file: String,
    /// The result's fingerprint.
    pub environment: Environment,
    /// The result.
    pub results: Results,
}

impl Machine {
    /// A machine from a result file's contents; `file` names it in messages.
    #[must_use]
    pub fn new(file: &str, results: Results) -> Self {
        let environment = match &results {
            Results::Comparison(c) => c.environment.clone(),
            Results::Bench(reports) => {
                reports.first().map_or_else(|| Environment::capture(0), |r| r.environment.clone())
            }
        };
        Self { label: environment.machine(), file: file.to_string(), environment, results }
    }
}

/// Machines from result files in order (the first is the one the others are compared to); two
/// that would get the same label get their file name added to it.
#[must_use]
pub fn machines(results: Vec<(String, Results)>) -> Vec<Machine> {
    let mut out: Vec<Machine> = results.into_iter().map(|(file, r)| Machine::new(&file, r)).collect();
    let labels: Vec<String> = out.iter().map(|m| m.label.clone()).collect();
    for m in &mut out {
        if labels.iter().filter(|l| **l == m.label).count() > 1 {
            let name = std::path::Path::new(&m.file).file_name().map_or(m.file.clone(), |n| n.to_string_lossy().into());
            m.label = format!("{} ({name})", m.label);
        }
    }
    out
}

/// The model and inputs digests of one machine's rows, per (model, backend).
fn workload(m: &Machine) -> BTreeMap<(String, String), (Option<String>, Option<String>)> {
    m.results
        .rows()
        .into_iter()
        .map(|(k, row)| {
            ((k.model, k.backend), (row.environment.model_digest.clone(), row.environment.inputs_digest.clone()))
        })
        .collect()
}

/// A digest shortened for messages.
fn short(d: &str) -> &str {
    d.get(..19).unwrap_or(d)
}

/// Why the machines' results are not of the same workload, one line per difference against the
/// first machine: other models, or the same model with another model or inputs digest. Empty when
/// they may be put side by side. A result without digests (written before they were recorded)
/// is compared by model name only.
#[must_use]
pub fn mismatches(machines: &[Machine]) -> Vec<String> {
    let Some(first) = machines.first() else { return Vec::new() };
    let base = workload(first);
    let models = |w: &BTreeMap<(String, String), _>| w.keys().map(|(m, _)| m.clone()).collect::<BTreeSet<String>>();
    let base_models = models(&base);
    let mut out = Vec::new();
    for m in &machines[1..] {
        let w = workload(m);
        let these = models(&w);
        if base_models.is_disjoint(&these) {
            out.push(format!(
                "{} measured {}, {} measured {}",
                first.file,
                base_models.iter().cloned().collect::<Vec<_>>().join(", "),
                m.file,
                these.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
            continue;
        }
        for (key, (model, inputs)) in &w {
            let Some((base_model, base_inputs)) = base.get(key) else { continue };
            let (name, backend) = key;
            if let (Some(a), Some(b)) = (base_model, model)
                && a != b
            {
                out.push(format!(
                    "the {name} model of {backend} differs: {} in {}, {} in {}",
                    short(a),
                    first.file,
                    short(b),
                    m.file
                ));
            }
            if let (Some(a), Some(b)) = (base_inputs, inputs)
                && a != b
            {
                out.push(format!(
                    "the inputs of {name} on {backend} differ: {} in {}, {} in {}",
                    short(a),
                    first.file,
                    short(b),
                    m.file
                ));
            }
        }
    }
    out
}

/// One machine's figures on one row.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Median latency per call, milliseconds.
    pub median_ms: f64,
    /// 95th percentile, milliseconds.
    pub p95_ms: f64,
    /// Items per second.
    pub throughput_per_s: f64,
    /// Raw samples, milliseconds.
    pub samples_ms: Vec<f64>,
    /// This machine's median over the first machine's on the same row (below 1: faster), with a
    /// bootstrap confidence interval when both have raw samples; `None` when the first machine has
    /// no such row.
    pub ratio: Option<Estimate>,
}

/// One (model, backend, device, batch size) across the machines.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetRow {
    /// The row.
    pub key: RowKey,
    /// One cell per machine, in machine order; `None` where that machine has no such row.
    pub cells: Vec<Option<Cell>>,
}

/// Every row of every machine, matched, with each machine's ratio to the first.
#[must_use]
pub fn rows(machines: &[Machine]) -> Vec<FleetRow> {
    let per: Vec<BTreeMap<RowKey, &BenchRow>> =
        machines.iter().map(|m| m.results.rows().into_iter().collect()).collect();
    let keys: BTreeSet<&RowKey> = per.iter().flat_map(BTreeMap::keys).collect();
    keys.into_iter()
        .map(|key| {
            let base = per.first().and_then(|p| p.get(key));
            let cells = per
                .iter()
                .map(|p| {
                    let row = p.get(key)?;
                    let ratio = base.map(|b| {
                        median_ratio_ci(&b.samples_ms, &row.samples_ms, DEFAULT_RESAMPLES, DEFAULT_CONFIDENCE, SEED)
                            .unwrap_or_else(|_| {
                                let point = row.latency_ms.median / b.latency_ms.median;
                                Estimate {
                                    point,
                                    confidence_interval: ConfidenceInterval {
                                        lower: point,
                                        upper: point,
                                        confidence: 0.0,
                                    },
                                    standard_error: None,
                                }
                            })
                    });
                    Some(Cell {
                        median_ms: row.latency_ms.median,
                        p95_ms: row.latency_ms.p95,
                        throughput_per_s: row.throughput_per_s,
                        samples_ms: row.samples_ms.clone(),
                        ratio,
                    })
                })
                .collect();
            FleetRow { key: key.clone(), cells }
        })
        .collect()
}

/// A ratio in words: `1.00× (the reference)`, `0.52× (1.92× faster)`, `1.30× (1.30× slower)`.
#[must_use]
pub fn ratio_text(r: f64, first: bool) -> String {
    if first {
        "1.00× (reference)".into()
    } else if r < 1.0 {
        format!("{r:.2}× ({:.2}× faster)", 1.0 / r)
    } else {
        format!("{r:.2}× ({r:.2}× slower)")
    }
}

/// The confidence interval of a ratio, or `-` when it has none.
fn ci_text(e: &Estimate) -> String {
    if e.confidence() > 0.0 { format!("{:.2}–{:.2}", e.lower(), e.upper()) } else { "-".into() }
}

/// The results table: one line per row and machine, with the machine column and the ratio to
/// the first machine.
#[must_use]
pub fn table(machines: &[Machine], rows: &[FleetRow]) -> Table {
    let mut t = Table::new(&[
        "model",
        "backend",
        "device",
        "batch",
        "machine",
        "median ms",
        "p95 ms",
        "items/s",
        "vs first machine",
        "95% CI",
    ]);
    for r in rows {
        for (i, (m, cell)) in machines.iter().zip(&r.cells).enumerate() {
            let Some(c) = cell else { continue };
            t.rows.push(vec![
                r.key.model.clone(),
                r.key.backend.clone(),
                r.key.device.clone(),
                r.key.batch_size.to_string(),
                m.label.clone(),
                format!("{:.3}", c.median_ms),
                format!("{:.3}", c.p95_ms),
                format!("{:.1}", c.throughput_per_s),
                c.ratio.as_ref().map_or_else(|| "-".into(), |e| ratio_text(e.point, i == 0)),
                c.ratio.as_ref().filter(|_| i > 0).map_or_else(|| "-".into(), ci_text),
            ]);
        }
    }
    t
}

/// The machines table: each machine's fingerprint in one line.
#[must_use]
pub fn machines_table(machines: &[Machine]) -> Table {
    let mut t = Table::new(&["machine", "result file", "CPU", "cores", "threads", "GPU", "OS", "versions"]);
    for m in machines {
        let e = &m.environment;
        let cores = e.physical_cores.map_or_else(String::new, |c| format!("{c} physical, "));
        t.rows.push(vec![
            m.label.clone(),
            m.file.clone(),
            e.cpu.clone(),
            format!("{cores}{} logical", e.logical_cpus),
            e.threads_text(),
            e.gpus_text(),
            e.os.clone(),
            e.versions_text(),
        ]);
    }
    t
}

/// The fleet: the machines' results, the first the one the others are compared to, and the
/// workload differences that were allowed (`--allow-mixed`).
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    /// The machines, in order.
    pub machines: Vec<Machine>,
    /// Why their workloads differ ([`mismatches`]), shown at the top; empty when they agree.
    pub mixed: Vec<String>,
}

impl Report for Fleet {
    /// The page in HTML; else the machines, the workload check and the results (CSV: the results).
    fn document(&self, format: Format) -> Document {
        match format {
            Format::Html => page::page(self),
            _ => summary(self),
        }
    }

    /// # Errors
    /// Always: a fleet is written as HTML, Markdown or CSV; its results are in the machines' own
    /// JSON files.
    fn json(&self) -> Result<String> {
        Err(infer_core::Error::InvalidInput(
            "a fleet report (several results) is written as .html, .md or .csv, not .json".into(),
        ))
    }
}

/// The fleet report's text: machines, workload check, results.
fn summary(fleet: &Fleet) -> Document {
    let machines = &fleet.machines;
    let mut first = Section::titled("Machines").block(machines_table(machines));
    if !fleet.mixed.is_empty() {
        first.push(Callout {
            id: "mixed",
            title: "Mixed workloads (--allow-mixed):".into(),
            text: None,
            items: fleet.mixed.clone(),
        });
    }
    Document::new(format!("Fleet: {} machines", machines.len())).section(first).section(
        Section::titled("Results")
            .block(paragraph(format!("Ratios are medians over {}'s on the same row.", first_label(machines))))
            .block(TableBlock::new(table(machines, &rows(machines))).main()),
    )
}

pub(crate) fn first_label(machines: &[Machine]) -> String {
    machines.first().map_or_else(String::new, |m| m.label.clone())
}

#[cfg(test)]
mod tests {
    use infer_core::Device;

    use super::*;
    use infer_measure::{
        results::comparison::{CompareEntry, Comparison, RowStatus},
        results::{BenchReport, RowSource},
    };

    /// A bench report of `backend` on `device`, rows (batch, median), every row with `env`.
    fn report(env: &Environment, device: Device, medians: &[(usize, f64)]) -> BenchReport {
        let rows = medians
            .iter()
            .map(|&(b, m)| {
                let src = RowSource {
                    model: "m.onnx",
                    backend: "onnx",
                    device,
                    batch_size: b,
                    environment: env,
                    resamples: 200,
                    seed: 1,
                };
                let samples = (0..40).map(|i| m * (1.0 + 0.02 * (f64::from(i % 7) / 3.0 - 1.0))).collect();
                BenchRow::from_samples(&src, samples).unwrap()
            })
            .collect();
        BenchReport {
            model: "/x/m.onnx".into(),
            ..infer_measure::testing::bare_report("onnx", device, env.clone(), rows)
        }
    }

    fn env(host: &str, model: &str) -> Environment {
        let mut e = Environment::capture(0);
        e.host = host.into();
        e.model_digest = Some(format!("sha256:{model}"));
        e.inputs_digest = Some("sha256:inputs".into());
        e
    }

    fn comparison(e: &Environment, reports: Vec<BenchReport>) -> Results {
        Results::Comparison(Box::new(Comparison {
            model: "m".into(),
            environment: e.clone(),
            tolerance: 1e-4,
            entries: reports.into_iter().map(|r| CompareEntry::new("onnx", r.device, RowStatus::Ok, Some(r))).collect(),
        }))
    }

    #[test]
    fn ratios_are_against_the_first_machine_on_the_same_rows() {
        let (a, b) = (env("cpu-box", "aaa"), env("gpu-box", "aaa"));
        let ms = machines(vec![
            ("a.json".into(), comparison(&a, vec![report(&a, Device::Cpu, &[(1, 20.0), (8, 150.0)])])),
            (
                "b.json".into(),
                comparison(
                    &b,
                    vec![report(&b, Device::Cpu, &[(1, 10.0), (8, 180.0)]), report(&b, Device::Cuda(0), &[(1, 2.0)])],
                ),
            ),
        ]);
        assert!(mismatches(&ms).is_empty());
        let rows = rows(&ms);
        assert_eq!(rows.len(), 3, "cpu 1, cpu 8, cuda:0 1");
        let cpu1 = rows.iter().find(|r| r.key.device == "cpu" && r.key.batch_size == 1).unwrap();
        let r = cpu1.cells[1].as_ref().unwrap().ratio.unwrap();
        assert!((r.point - 0.5).abs() < 0.02 && r.lower() <= r.point && r.point <= r.upper(), "{r:?}");
        assert!((cpu1.cells[0].as_ref().unwrap().ratio.as_ref().unwrap().point - 1.0).abs() < 1e-12);
        let gpu = rows.iter().find(|r| r.key.device == "cuda:0").unwrap();
        assert!(gpu.cells[0].is_none() && gpu.cells[1].as_ref().unwrap().ratio.is_none(), "no CPU-box row to compare");
        let t = table(&ms, &rows);
        assert_eq!(t.rows.len(), 5);
        let text = t.to_text();
        assert!(text.contains("(2.00× faster)") && text.contains("(1.20× slower)"), "{text}");
        let html = Fleet { machines: ms.clone(), mixed: vec![] }.render(Format::Html).unwrap();
        assert!(html.contains("cpu-box") && html.contains("gpu-box") && !html.contains("id=\"mixed\""));
        // 2 box charts (batch 1 and 8), the bars, the throughput lines.
        assert_eq!(html.matches("<svg").count(), 4);
        assert_eq!(html.matches("class=\"mark bar\"").count(), 5);
        assert_eq!(html.matches("class=\"mark line\"").count(), 3, "cpu-box onnx cpu, gpu-box onnx cpu and cuda:0");
    }

    #[test]
    fn other_models_or_inputs_are_named() {
        let (a, b) = (env("h", "aaa"), env("h", "bbb"));
        let ms = machines(vec![
            ("runs/a.json".into(), comparison(&a, vec![report(&a, Device::Cpu, &[(1, 20.0)])])),
            ("runs/b.json".into(), comparison(&b, vec![report(&b, Device::Cpu, &[(1, 20.0)])])),
        ]);
        assert_eq!(ms[0].label, "h (a.json)", "same host twice: the file tells them apart");
        let why = mismatches(&ms);
        assert_eq!(why.len(), 1, "{why:?}");
        assert!(why[0].contains("model of onnx differs") && why[0].contains("runs/b.json"), "{why:?}");
        let mut c = b.clone();
        c.model_digest = a.model_digest.clone();
        c.inputs_digest = Some("sha256:other".into());
        let ms = machines(vec![
            ("a.json".into(), comparison(&a, vec![report(&a, Device::Cpu, &[(1, 20.0)])])),
            ("c.json".into(), comparison(&c, vec![report(&c, Device::Cpu, &[(1, 20.0)])])),
        ]);
        assert!(mismatches(&ms)[0].contains("inputs of m on onnx differ"));
        let html = Fleet { machines: ms.clone(), mixed: mismatches(&ms) }.render(Format::Html).unwrap();
        assert!(html.contains("id=\"mixed\"") && html.contains("inputs of m on onnx differ"));
        // Results written before digests were recorded are compared by model name only.
        let (mut old_a, mut old_b) = (a.clone(), b.clone());
        for e in [&mut old_a, &mut old_b] {
            e.model_digest = None;
            e.inputs_digest = None;
        }
        let ms = machines(vec![
            ("a.json".into(), comparison(&old_a, vec![report(&old_a, Device::Cpu, &[(1, 20.0)])])),
            ("b.json".into(), comparison(&old_b, vec![report(&old_b, Device::Cpu, &[(1, 20.0)])])),
        ]);
        assert!(mismatches(&ms).is_empty());
    }
}
