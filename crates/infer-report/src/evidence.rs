//! The host's evidence and the energy of rows in every report: a line per row in text
//! (`host: steal 0.0 %, other processes 1.21 cores …`, `energy: … J/inference (95% CI …) from
//! RAPL …` or `energy: not available here (reason)`), and in HTML a table of the figures beside
//! the latency plot, disturbed rows marked.

use infer_host::{Probe, evidence::GpuEvidence};
use infer_measure::{
    host::{HostEvidence, RowEnergy, energy::significant},
    results::BenchRow,
};

use crate::{document::TableBlock, table::Table};

/// The row's mark in a status or summary line: `disturbed` when the host's evidence shows
/// interference, else nothing.
#[must_use]
pub fn mark(row: &BenchRow) -> &'static str {
    if row.is_disturbed() { "disturbed" } else { "" }
}

/// The evidence in one line: `host: steal 0.0 %, other processes 1.21 cores (up to 2.00),
/// memory stall 0.0 %, CPU 2400–3100 MHz, load 4.81` (a GPU row adds its GPUs), then `;
/// disturbed` or `; not disturbed`. A source the host lacks is left out, but for the CPU's,
/// whose reason is given.
#[must_use]
pub fn host_line(e: &HostEvidence) -> String {
    let f = Figures::of(e);
    let mut parts = Vec::new();
    match &e.cpu {
        Probe::Available(c) => parts.push(format!(
            "steal {:.1} %, other processes {:.2} cores (up to {:.2})",
            c.steal_percent, c.other_cores_mean, c.other_cores_max
        )),
        Probe::NotAvailable(r) => parts.push(format!("CPU not available here ({r})")),
    }
    if f.memory_stall != "-" {
        parts.push(format!("memory stall {} %", f.memory_stall));
    }
    if f.cpu_mhz != "-" {
        parts.push(format!("CPU {} MHz", f.cpu_mhz));
    }
    if let Probe::Available(l) = &e.load_average {
        parts.push(format!("load {:.2}", l.one));
    }
    if f.gpu != "-" {
        parts.push(f.gpu);
    }
    let verdict = if e.is_disturbed() { "disturbed" } else { "not disturbed" };
    format!("host: {}; {verdict}", parts.join(", "))
}

/// The evidence's figures as table cells (`-` for a source the host lacks).
struct Figures {
    steal: String,
    others: String,
    memory_stall: String,
    cpu_mhz: String,
    gpu: String,
}

impl Figures {
    fn of(e: &HostEvidence) -> Self {
        let (steal, others) = match &e.cpu {
            Probe::Available(c) => (
                format!("{:.1}", c.steal_percent),
                format!("{:.2} (up to {:.2})", c.other_cores_mean, c.other_cores_max),
            ),
            Probe::NotAvailable(_) => ("-".into(), "-".into()),
        };
        let memory_stall = e
            .pressure
            .available()
            .and_then(|p| p.memory)
            .map_or_else(|| "-".into(), |m| format!("{:.1}", m.some_stall_percent));
        let cpu_mhz = e.cpu_frequency.available().map_or_else(
            || "-".into(),
            |q| {
                if q.min_mhz == q.max_mhz {
                    format!("{:.0}", q.max_mhz)
                } else {
                    format!("{:.0}–{:.0}", q.min_mhz, q.max_mhz)
                }
            },
        );
        let gpu = match &e.gpus {
            Probe::Available(gpus) if !gpus.is_empty() => gpus.iter().map(gpu_text).collect::<Vec<_>>().join("; "),
            _ => "-".into(),
        };
        Self { steal, others, memory_stall, cpu_mhz, gpu }
    }
}

/// `gpu0 SM 1410–1980 MHz, 71 °C, 250 W, throttle sw_power_cap`.
fn gpu_text(g: &GpuEvidence) -> String {
    let mut parts = vec![format!("gpu{}", g.index)];
    if let Some(r) = g.sm_clock_mhz {
        parts.push(if r.min == r.max { format!("SM {} MHz", r.max) } else { format!("SM {}–{} MHz", r.min, r.max) });
    }
    if let Some(t) = g.temperature_max_c {
        parts.push(format!("{t} °C"));
    }
    if let Some(p) = g.power_mean_w {
        parts.push(format!("{p:.0} W"));
    }
    let reasons: Vec<&str> = g.throttle_reasons.iter().map(String::as_str).filter(|r| *r != "gpu_idle").collect();
    if !reasons.is_empty() {
        parts.push(format!("throttle {}", reasons.join("+")));
    }
    parts.join(" ")
}

/// The energy in a table cell: `0.0123 (0.0118–0.0128)` J per inference, `n/a` with the reason
/// in the energy lines, `-` when it was not recorded.
#[must_use]
pub fn energy_cell(e: Option<&RowEnergy>) -> String {
    match e.map(|e| &e.joules_per_inference) {
        Some(Probe::Available(j)) => {
            format!("{} ({}–{})", significant(j.point), significant(j.lower), significant(j.upper))
        }
        Some(Probe::NotAvailable(_)) => "n/a".into(),
        None => "-".into(),
    }
}

/// The energy lines of labelled rows: one `energy: …` line when every recorded row says the
/// same (the usual "not available here (reason)"), else one `label: energy: …` per row. Rows
/// without a record add nothing.
#[must_use]
pub fn energy_lines<'a>(rows: impl IntoIterator<Item = (String, Option<&'a RowEnergy>)>) -> Vec<String> {
    let lines: Vec<(String, String)> =
        rows.into_iter().filter_map(|(label, e)| e.map(|e| (label, e.to_string()))).collect();
    match lines.first() {
        Some((_, first)) if lines.iter().all(|(_, l)| l == first) && lines.len() > 1 => vec![first.clone()],
        _ => lines.into_iter().map(|(label, line)| format!("{label}: {line}")).collect(),
    }
}

/// The host lines of labelled evidence: `label: host: …` per row.
#[must_use]
pub fn host_lines<'a>(rows: impl IntoIterator<Item = (String, Option<&'a HostEvidence>)>) -> Vec<String> {
    rows.into_iter().filter_map(|(label, e)| e.map(|e| format!("{label}: {}", host_line(e)))).collect()
}

/// The HTML table of the evidence and energy of `rows` (`(backend, device, row)`): one line per
/// row with the figures and whether it is disturbed (marked `warn`); `None` when no row has any.
#[must_use]
pub fn evidence_table(rows: &[(&str, String, &BenchRow)]) -> Option<TableBlock> {
    if rows.iter().all(|(_, _, r)| r.host.is_none() && r.energy.is_none()) {
        return None;
    }
    let header = [
        "backend",
        "device",
        "batch",
        "steal %",
        "other processes, cores",
        "memory stall %",
        "CPU MHz",
        "GPU",
        "energy J/inference (95% CI)",
        "host",
    ];
    let mut t = TableBlock::new(Table::new(&header)).text([0, 1, 7, 9]);
    for (backend, device, row) in rows {
        let f = row.host.as_ref().map(Figures::of);
        let cell = |get: fn(&Figures) -> &String| f.as_ref().map_or_else(|| "-".to_string(), |f| get(f).clone());
        let verdict = match (&row.host, row.is_disturbed()) {
            (_, true) => "disturbed",
            (Some(_), false) => "not disturbed",
            (None, false) => "not watched",
        };
        let cells = vec![
            (*backend).to_string(),
            device.clone(),
            row.label().trim_start_matches("batch ").to_string(),
            cell(|f| &f.steal),
            cell(|f| &f.others),
            cell(|f| &f.memory_stall),
            cell(|f| &f.cpu_mhz),
            cell(|f| &f.gpu),
            energy_cell(row.energy.as_ref()),
            verdict.into(),
        ];
        let n = t.table.rows.len();
        t.table.rows.push(cells);
        if row.is_disturbed() {
            t.mark(n, header.len() - 1, "warn");
        }
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use infer_core::Device;
    use infer_measure::host::{EnergyWindowRecord, RowEnergy};

    use super::*;

    fn energy() -> RowEnergy {
        let w = |joules| EnergyWindowRecord { duration_s: 0.2, joules, inferences: 100 };
        RowEnergy::from_windows("RAPL", vec!["package-0".into(), "package-0:dram".into()], 0.01, vec![w(1.0), w(1.2)])
    }

    #[test]
    fn energy_lines_give_the_figure_or_the_reason_once() {
        let e = energy();
        let none = RowEnergy::not_available("no /sys/class/powercap, no NVML (libnvidia-ml.so.1: not found)");
        let lines = energy_lines([("batch 1".to_string(), Some(&none)), ("batch 8".to_string(), Some(&none))]);
        assert_eq!(
            lines,
            ["energy: not available here (no /sys/class/powercap, no NVML (libnvidia-ml.so.1: not found))"]
        );
        let lines = energy_lines([("batch 1".to_string(), Some(&e)), ("batch 8".to_string(), Some(&none))]);
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("batch 1: energy: 0.0110 J/inference (95% CI "), "{lines:?}");
        assert!(lines[0].ends_with("from RAPL package-0+package-0:dram"), "{lines:?}");
        assert!(energy_lines([("x".to_string(), None)]).is_empty(), "not recorded: no line");
        assert_eq!(energy_cell(Some(&none)), "n/a");
        assert!(energy_cell(Some(&e)).starts_with("0.0110 ("));
        assert_eq!(energy_cell(None), "-");
    }

    #[test]
    fn host_lines_and_table_mark_disturbed_rows() {
        let quiet = infer_measure::testing::row("onnx", Device::Cpu, 1, 10.0);
        let quiet = infer_measure::testing::observed(quiet, &[], energy());
        let busy = infer_measure::testing::row("onnx", Device::Cpu, 8, 10.0);
        let busy = infer_measure::testing::observed(busy, &["steal time 4.1 % of CPU time (threshold 2 %)"], energy());
        assert_eq!((mark(&quiet), mark(&busy)), ("", "disturbed"));
        let line = host_line(busy.host.as_ref().unwrap());
        // A host with nothing to read says why, and the verdict.
        assert!(line.starts_with("host: CPU not available here (no ") && line.ends_with("; disturbed"), "{line}");
        let t = evidence_table(&[("onnx", "cpu".into(), &quiet), ("onnx", "cpu".into(), &busy)]).unwrap();
        assert_eq!(t.table.rows[0][9], "not disturbed");
        assert_eq!(t.table.rows[1][9], "disturbed");
        assert_eq!(t.cell_classes.get(&(1, 9)), Some(&"warn"));
        assert!(t.table.rows[0][8].starts_with("0.0110 ("));
        // This machine's own evidence: its figures, in one line.
        let options = infer_host::SamplerOptions { gpu: infer_host::GpuSource::Off, ..Default::default() };
        let sampler = infer_host::Sampler::start(options).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let here = sampler.stop().unwrap();
        let line = host_line(&here);
        assert!(
            line.starts_with("host: steal ") && line.contains(" cores (up to ") && line.contains(", load "),
            "{line}"
        );
        let plain = infer_measure::testing::row("onnx", Device::Cpu, 1, 10.0);
        assert!(evidence_table(&[("onnx", "cpu".into(), &plain)]).is_none(), "nothing recorded: no table");
    }
}
