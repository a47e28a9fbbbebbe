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
//! report then says so at the top).

use crate::table::Table;
use std::collections::{BTreeMap, BTreeSet};

use infer_measure::stats::{ConfidenceInterval, DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, Estimate};

use crate::{
    compare_runs::{Results, RowKey, median_ratio_ci},
    html::{BASE_STYLE, html_table},
    svg::{Bar, BarGroup, BoxRow, PALETTE, Series, bar_chart, box_chart, escape, line_chart},
};
use infer_measure::{environment::Environment, results::BenchRow};

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

/// The fleet report in Markdown: machines, workload check, results.
#[must_use]
pub fn markdown(machines: &[Machine], mixed: &[String]) -> String {
    let rows = rows(machines);
    let mut out = format!("# Fleet: {} machines\n\n## Machines\n\n", machines.len());
    out.push_str(&machines_table(machines).to_markdown());
    if !mixed.is_empty() {
        out.push_str("\n**Mixed workloads (--allow-mixed):**\n\n");
        for m in mixed {
            out.push_str(&format!("- {m}\n"));
        }
    }
    out.push_str(&format!("\n## Results\n\nRatios are medians over {}'s on the same row.\n\n", first_label(machines)));
    out.push_str(&table(machines, &rows).to_markdown());
    out
}

fn first_label(machines: &[Machine]) -> String {
    machines.first().map_or_else(String::new, |m| m.label.clone())
}

const STYLE: &str = "
p.sub, p.note { color: #555; margin-top: 4px; } div.warn { border: 1px solid #a15c00; background: #fff7eb;
       padding: 8px 12px; color: #5c3500; }
th, td { border: 1px solid #ddd; padding: 3px 5px; text-align: right; vertical-align: top; white-space: nowrap; }
th { background: #f3f4f6; } td.text, th.text { text-align: left; } div.scroll { overflow-x: auto; }
td.faster { color: #1b7f3b; font-weight: 600; } td.slower { color: #b00020; font-weight: 600; }
span.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 6px; }
";

/// The fleet report as one self-contained HTML page: the machines and their fingerprints, the
/// results table with the machine column and the ratios, and plots (latency distributions per
/// batch size with one row per machine, median latency per row with a bar per machine, throughput
/// against batch size with a line per machine). `mixed` lists the workload differences that were
/// allowed, shown at the top.
#[must_use]
pub fn html(machines: &[Machine], mixed: &[String]) -> String {
    let rows = rows(machines);
    let models: BTreeSet<&str> = rows.iter().map(|r| r.key.model.as_str()).collect();
    let title = format!("{} on {} machines", models.iter().copied().collect::<Vec<_>>().join(", "), machines.len());
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>{BASE_STYLE}{STYLE}</style></head><body>\n<h1>{t}</h1>\n\
         <p class=\"sub\">Fleet report: {} results, compared with the first ({}) · generated by infer {}</p>\n",
        machines.len(),
        escape(&first_label(machines)),
        env!("CARGO_PKG_VERSION"),
        t = escape(&title)
    );
    if !mixed.is_empty() {
        out.push_str(
            "<div class=\"warn\" id=\"mixed\"><strong>Mixed workloads (--allow-mixed):</strong> the ratios \
                      below compare different models or inputs.<ul>",
        );
        for m in mixed {
            out.push_str(&format!("<li>{}</li>", escape(m)));
        }
        out.push_str("</ul></div>\n");
    }

    out.push_str("<section id=\"machines\"><h2>Machines</h2>\n");
    let mt = machines_table(machines);
    out.push_str(&html_table(&mt, mt.header.len(), &|_, _| ""));
    out.push_str("</section>\n");

    out.push_str("<section id=\"results\"><h2>Results</h2>\n");
    let t = table(machines, &rows);
    let ratio_col = t.header.iter().position(|h| h == "vs first machine").unwrap_or(usize::MAX);
    let classes = |r: usize, c: usize| -> &'static str {
        if c != ratio_col {
            return "";
        }
        let text = &t.rows[r][c];
        if text.contains("faster") {
            "faster"
        } else if text.contains("slower") {
            "slower"
        } else {
            ""
        }
    };
    out.push_str(&html_table(&t, 5, &classes));
    out.push_str(&format!(
        "<p class=\"note\">vs first machine: the median latency per call over {}'s on the same model, backend, \
         device and batch size (below 1: faster); the 95% interval is a bootstrap of the ratio of medians from \
         the raw samples. A row one machine lacks has no ratio.</p></section>\n",
        escape(&first_label(machines))
    ));

    out.push_str(&distribution_section(machines, &rows));
    out.push_str(&medians_section(machines, &rows, &models));
    out.push_str(&fingerprints_section(machines));
    out.push_str("</section>\n</body></html>\n");
    out
}

/// Latency distributions: one box chart per batch size, a row per (machine, backend, device).
fn distribution_section(machines: &[Machine], rows: &[FleetRow]) -> String {
    let mut out = String::new();
    let color = |i: usize| PALETTE[i % PALETTE.len()].to_string();
    // Latency distributions: one box chart per batch size, a row per (machine, backend, device).
    out.push_str("<section id=\"distribution\"><h2>Latency distribution</h2>\n");
    let batches: BTreeSet<usize> = rows.iter().map(|r| r.key.batch_size).collect();
    for &b in &batches {
        let boxes: Vec<BoxRow> = rows
            .iter()
            .filter(|r| r.key.batch_size == b)
            .flat_map(|r| {
                machines.iter().zip(&r.cells).enumerate().filter_map(move |(i, (m, c))| {
                    let c = c.as_ref()?;
                    Some(BoxRow {
                        label: format!("{} · {} {}", m.label, r.key.backend, r.key.device),
                        color: color(i),
                        samples: c.samples_ms.clone(),
                        fallback: Some((c.median_ms, c.median_ms, c.median_ms)),
                    })
                })
            })
            .collect();
        out.push_str(&box_chart(&format!("Latency per call, batch size {b}"), "milliseconds per call", &boxes));
    }
    out.push_str("</section>\n");

    out
}

/// Medians side by side (a group per row, a bar per machine, the ratios above) and throughput
/// against batch size (a line per machine).
fn medians_section(machines: &[Machine], rows: &[FleetRow], models: &BTreeSet<&str>) -> String {
    let mut out = String::new();
    let color = |i: usize| PALETTE[i % PALETTE.len()].to_string();
    // Medians side by side: a group per row, a bar per machine, the ratios above.
    out.push_str("<section id=\"medians\"><h2>Machines side by side</h2>\n");
    let groups: Vec<BarGroup> = rows
        .iter()
        .map(|r| BarGroup {
            label: format!("{} {}\nbatch {}", r.key.backend, r.key.device, r.key.batch_size),
            note: r
                .cells
                .iter()
                .skip(1)
                .map(|c| {
                    c.as_ref().and_then(|c| c.ratio.as_ref()).map_or_else(|| "-".into(), |e| format!("{:.2}×", e.point))
                })
                .collect::<Vec<_>>()
                .join(" · "),
            bars: machines
                .iter()
                .zip(&r.cells)
                .enumerate()
                .filter_map(|(i, (m, c))| {
                    Some(Bar { name: m.label.clone(), color: color(i), value: c.as_ref()?.median_ms })
                })
                .collect(),
        })
        .collect();
    if !groups.is_empty() {
        out.push_str(&bar_chart("Median latency per call on each machine", "milliseconds per call", &groups));
    }
    out.push_str(&format!(
        "<p class=\"note\">Above each group: each further machine's median over {}'s.</p>",
        escape(&first_label(machines))
    ));
    let series: Vec<Series> = machines
        .iter()
        .enumerate()
        .flat_map(|(i, m)| {
            let mut by_line: BTreeMap<(String, String, String), Vec<(f64, f64)>> = BTreeMap::new();
            for r in rows {
                if let Some(c) = &r.cells[i] {
                    by_line
                        .entry((r.key.model.clone(), r.key.backend.clone(), r.key.device.clone()))
                        .or_default()
                        .push((r.key.batch_size as f64, c.throughput_per_s));
                }
            }
            let several_models = models.len() > 1;
            by_line.into_iter().map(move |((model, backend, device), mut points)| {
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                let what =
                    if several_models { format!("{model} {backend} {device}") } else { format!("{backend} {device}") };
                Series { name: format!("{} · {what}", m.label), color: color(i), points }
            })
        })
        .collect();
    if !series.is_empty() {
        out.push_str(&line_chart("Throughput against batch size", "batch size", "items per second", &series, true));
    }
    out.push_str("</section>\n");

    out
}

/// Each machine's fingerprint and the digests of its models and inputs.
fn fingerprints_section(machines: &[Machine]) -> String {
    let mut out = String::new();
    let color = |i: usize| PALETTE[i % PALETTE.len()].to_string();
    out.push_str("<section id=\"environment\"><h2>Fingerprints</h2>\n");
    for (i, m) in machines.iter().enumerate() {
        out.push_str(&format!(
            "<h3><span class=\"swatch\" style=\"background:{}\"></span>{} <small>({})</small></h3><dl class=\"env\">",
            color(i),
            escape(&m.label),
            escape(&m.file)
        ));
        for (k, v) in m.environment.lines() {
            out.push_str(&format!("<dt>{}</dt><dd>{}</dd>", escape(k), escape(&v)));
        }
        let digests: BTreeSet<String> = m
            .results
            .rows()
            .iter()
            .filter_map(|(k, row)| {
                Some(format!(
                    "{} {}: model {}, inputs {}",
                    k.model,
                    k.backend,
                    row.environment.model_digest.as_deref()?,
                    row.environment.inputs_digest.as_deref().unwrap_or("-")
                ))
            })
            .collect();
        for d in digests {
            out.push_str(&format!("<dt>Workload</dt><dd>{}</dd>", escape(&d)));
        }
        out.push_str("</dl>\n");
    }
    out
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
        let html = html(&ms, &[]);
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
        let html = html(&ms, &mismatches(&ms));
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
