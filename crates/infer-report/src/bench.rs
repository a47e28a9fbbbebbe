//! The report of `infer bench` ([`BenchReport`]): the table, one line per batch size and
//! dimension sizes; each row's median with its confidence interval; the stages, warm-up, inputs
//! and memory; the difference to the reference. Several devices ([`Vec<BenchReport>`]) are
//! shown one after the other, and written to JSON as a list.

use infer_core::Result;
use infer_measure::{
    memory::mib,
    results::{BenchReport, BenchRow, KEY_COLUMNS},
};

use crate::{
    device::DeviceColumns,
    document::{Block, Document, List, Section, TableBlock, Warning, paragraph},
    evidence,
    report::{Format, Report, to_json},
    table::Table,
};

impl Report for BenchReport {
    /// The same in every format but for the rows' warnings, which `infer bench` prints on stderr
    /// ([`warnings`]) and the other formats list under the table.
    fn document(&self, format: Format) -> Document {
        let mut s = Section::new().block(TableBlock::new(bench_table(self)).text([0, 1]).main());
        s.push(List::plain(self.rows.iter().filter_map(|row| {
            let ci = row.median_ci_ms.as_ref()?;
            let target = row.convergence.as_ref().map(|c| format!("; target: {}", c.label())).unwrap_or_default();
            // The host's evidence showed interference: the reasons are among the warnings.
            let mark = if row.is_disturbed() { ", disturbed" } else { "" };
            Some(format!(
                "{}: median {:.3} ms (95% CI {:.3}–{:.3}), CoV {:.1}%{mark}{target}",
                row.label(),
                ci.point,
                ci.lower(),
                ci.upper(),
                row.cov * 100.0
            ))
        })));
        let host = host_and_energy(self);
        if !host.is_empty() {
            s.push(List::plain(host));
        }
        if format != Format::Terminal {
            s.push(Block::Warnings(warnings(self)));
        }
        s.push(List::plain(details(self)));
        if let Some(d) = self.max_abs_diff {
            let rel = self.max_rel_diff.map(|r| format!(", relative {r:.3e}")).unwrap_or_default();
            let top1 = self.top1_agreement.map(|t| format!(", top-1 agreement {:.0}%", t * 100.0)).unwrap_or_default();
            s.push(paragraph(format!(
                "max |diff| to {}: {d:.3e}{rel}{top1}",
                self.reference.as_deref().unwrap_or("reference")
            )));
        }
        Document::new(format!("{}: {} on {}", self.model, self.backend, self.device)).section(s)
    }

    fn json(&self) -> Result<String> {
        to_json(self)
    }
}

impl Report for Vec<BenchReport> {
    /// One device: its report; several: each under its backend and device.
    fn document(&self, format: Format) -> Document {
        if let [one] = self.as_slice() {
            return one.document(format);
        }
        let devices: Vec<String> = self.iter().map(|r| r.device.to_string()).collect();
        let mut doc = Document::new(match self.first() {
            Some(r) => format!("{}: {} on {}", r.model, r.backend, devices.join(", ")),
            None => "No bench report".into(),
        });
        for r in self {
            for mut s in r.document(format).sections {
                s.heading = Some(format!("{} on {}", r.backend, r.device));
                doc.sections.push(s);
            }
        }
        doc
    }

    /// One device: the report itself (what `infer compare` reads); several: a list.
    fn json(&self) -> Result<String> {
        match self.as_slice() {
            [one] => to_json(one),
            many => to_json(many),
        }
    }
}

/// Each row's warnings, named by the row (`batch 8: p99 from 40 samples is unreliable`).
#[must_use]
pub fn warnings(report: &BenchReport) -> Vec<Warning> {
    report.rows.iter().flat_map(|row| row.warnings.iter().map(|w| Warning::about(row.label(), w))).collect()
}

/// What the host did during each row (`batch 1: host: steal 0.0 %, …`), then the energy line(s):
/// one `energy: not available here (reason)` when every row says the same.
fn host_and_energy(report: &BenchReport) -> Vec<String> {
    let rows = || report.rows.iter();
    let mut out = evidence::host_lines(rows().map(|r| (r.label(), r.host.as_ref())));
    out.extend(evidence::energy_lines(rows().map(|r| (r.label(), r.energy.as_ref()))));
    out
}

/// The lines under the table: load and first inference, each row's warm-up, input preparation
/// and stages, what the inputs were made of, and memory.
fn details(report: &BenchReport) -> Vec<String> {
    let mut out = vec![format!(
        "load {:.1} ms, first inference {:.1} ms (includes lazy initialization)",
        report.load_ms, report.first_inference_ms
    )];
    if let Some(pairs) = report.environment.state_carried_text() {
        out.push(format!("state carried: {pairs} (each call's output fed as the next call's input, warm-up included)"));
    }
    for row in &report.rows {
        let mut parts = Vec::new();
        if let Some(n) = row.warmup_iterations {
            let settled = match row.warmup_settled {
                Some(true) => " (settled)",
                Some(false) => " (did not settle)",
                None => "",
            };
            parts.push(format!("warm-up {n}{settled}"));
        }
        if let Some(p) = row.input_prep_ms {
            parts.push(format!("input preparation {p:.3} ms"));
        }
        match &row.stages_ms {
            Some(st) => parts.push(format!(
                "per call: bind {:.3} ms, compute {:.3} ms, fetch {:.3} ms",
                st.bind_ms, st.compute_ms, st.fetch_ms
            )),
            None => parts.push("per call stages: not separated by this backend".into()),
        }
        out.push(format!("{}: {}", row.label(), parts.join("; ")));
    }
    // What the inputs were made of: the same for every row but their shapes.
    if let Some(first) = report.rows.first() {
        out.extend(first.inputs.iter().map(|i| match &i.values {
            Some(v) => format!("input {}: {} {v}", i.name, i.dtype),
            None => format!("input {}: {} {}", i.name, i.dtype, i.source),
        }));
    }
    out.extend(memory(report));
    out
}

/// The memory lines: the process's, the whole CUDA device's, the framework allocator's.
fn memory(report: &BenchReport) -> Vec<String> {
    let opt = |v: Option<u64>| v.map_or_else(|| "-".to_string(), mib);
    let mut out = vec![format!(
        "memory: parameters {}, RSS +{} by loading, +{} by inference, peak {} (VmRSS/VmHWM from /proc/self/status)",
        opt(report.parameter_bytes),
        opt(report.rss_load_increase),
        opt(report.rss_inference_increase),
        opt(report.peak_rss),
    )];
    if let Some(c) = &report.cuda_memory {
        out.push(format!(
            "cuda memory (whole device): before load {}, after load {}, after inference {}, total {} ({})",
            opt(c.used_before_load),
            opt(c.used_after_load),
            opt(c.used_after_inference),
            opt(c.total),
            c.method
        ));
    }
    if let Some(d) = &report.device_memory {
        out.push(format!(
            "device allocator: allocated {}, reserved {}, peak {} ({})",
            opt(d.allocated),
            opt(d.reserved),
            opt(d.peak_allocated),
            d.source
        ));
    }
    out
}

/// The symbols of the dimension sizes `rows` have, in order: one table column each.
#[must_use]
pub fn dim_columns<'r>(rows: impl IntoIterator<Item = &'r BenchRow>) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    for r in rows {
        for k in r.dims.keys() {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    columns
}

/// The table of a bench report: one line per batch size and dimension sizes, with a column per
/// dynamic dimension after the batch (latency and items/s against the sequence length, …).
#[must_use]
pub fn bench_table(report: &BenchReport) -> Table {
    let dims = dim_columns(&report.rows);
    let mut header: Vec<&str> = KEY_COLUMNS[..3].to_vec();
    header.extend(dims.iter().map(String::as_str));
    header.extend_from_slice(&KEY_COLUMNS[3..]);
    header.extend_from_slice(&["mean ms", "std ms"]);
    let device = DeviceColumns::of(&report.rows);
    header.extend(device.titles());
    header.extend_from_slice(&["items/s", "ms/item", "speed-up", "iters"]);
    let mut t = Table::new(&header);
    for r in &report.rows {
        let mut cells = r.key_cells(3);
        let sizes = dims.iter().map(|d| r.dims.get(d).map_or_else(|| "-".into(), ToString::to_string));
        cells.splice(3..3, sizes);
        cells.extend([format!("{:.3}", r.latency_ms.mean), format!("{:.3}", r.latency_ms.std)]);
        cells.extend(device.cells(r));
        cells.extend([
            format!("{:.1}", r.throughput_per_s),
            format!("{:.3}", r.per_item_ms),
            r.speedup_vs_batch1.map_or_else(|| "-".into(), |x| format!("{x:.2}x")),
            r.iterations.to_string(),
        ]);
        t.rows.push(cells);
    }
    t
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use infer_core::Device;
    use infer_measure::{environment::Environment, results::RowSource};

    use super::*;

    #[test]
    fn every_format_renders_with_the_numbers() {
        let mut r = infer_measure::testing::report("onnx", Device::Cpu, &[(1, 20.0), (8, 150.0)]);
        r.reference = Some("ref <1>.npy".into());
        let text = r.render(Format::Terminal).unwrap();
        assert!(text.starts_with("backend  device  batch  median ms"), "{text}");
        assert!(text.contains("\nbatch 8: median 150.000 ms (95% CI "), "{text}");
        assert!(text.contains("\nload 12.0 ms, first inference 30.0 ms (includes lazy initialization)\n"));
        assert!(text.ends_with("\nmax |diff| to ref <1>.npy: 1.000e-6\n"), "{text}");
        assert!(!text.contains("warning"), "the terminal's warnings go to stderr");
        let md = r.render(Format::Markdown).unwrap();
        assert!(md.contains("| onnx | cpu | 8 | 150.000 |") && md.contains("- **batch 1:** p99 from 40"), "{md}");
        let html = r.render(Format::Html).unwrap();
        assert!(html.contains("<td class=\"text\">onnx</td>") && html.contains("ref &lt;1&gt;.npy"), "{html}");
        assert!(r.render(Format::Csv).unwrap().starts_with("backend,device,batch,median ms"));
        let both = vec![r.clone(), infer_measure::testing::report("onnx", Device::Cuda(0), &[(1, 2.0)])];
        assert!(both.json().unwrap().starts_with('['), "several devices: a list");
        assert!(vec![r.clone()].json().unwrap().starts_with('{'), "one: the report");
        let md = both.render(Format::Markdown).unwrap();
        assert!(md.contains("## onnx on cpu") && md.contains("## onnx on cuda:0"), "{md}");
    }

    #[test]
    fn the_host_and_energy_lines_in_every_format() {
        use infer_measure::host::RowEnergy;
        let mut r = infer_measure::testing::report("onnx", Device::Cpu, &[(1, 20.0), (8, 150.0)]);
        let none = RowEnergy::not_available("no /sys/class/powercap, no NVML (x)");
        r.rows[0] = infer_measure::testing::observed(r.rows[0].clone(), &[], none.clone());
        r.rows[1] = infer_measure::testing::observed(r.rows[1].clone(), &["steal time 4.1 % (threshold 2 %)"], none);
        for format in [Format::Terminal, Format::Markdown, Format::Html] {
            let text = r.render(format).unwrap();
            assert_eq!(text.matches("energy: not available here (no /sys/class/powercap, no NVML (x))").count(), 1);
            assert!(text.contains("batch 8: host: CPU not available here ("), "{format}: {text}");
            assert!(text.contains("CoV ") && text.contains("%, disturbed"), "{format}: the mark: {text}");
            assert!(text.contains("; disturbed") && text.contains("; not disturbed"), "{format}: {text}");
        }
        let md = r.render(Format::Markdown).unwrap();
        assert!(md.contains("- **batch 8:** disturbed: steal time 4.1 % (threshold 2 %)"), "the warning: {md}");
    }

    #[test]
    fn bench_table_has_a_column_per_dimension() {
        let env = Environment::capture(0);
        let src = RowSource {
            model: "m.onnx",
            backend: "onnx",
            device: Device::Cpu,
            batch_size: 4,
            environment: &env,
            resamples: 100,
            seed: 1,
        };
        let mut rows = Vec::new();
        for seq in [32, 128] {
            let mut r = BenchRow::from_samples(&src, vec![2.0, 2.0, 2.0]).unwrap();
            r.dims.insert("sequence".into(), seq);
            rows.push(r);
        }
        assert_eq!(rows[1].label(), "batch 4, sequence=128");
        let report = infer_measure::testing::bare_report("onnx", Device::Cpu, env.clone(), rows);
        let t = bench_table(&report);
        assert_eq!(&t.header[..5], ["backend", "device", "batch", "sequence", "median ms"]);
        assert_eq!(&t.rows[1][..4], ["onnx", "cpu", "4", "128"]);
        // Without dimension sizes the table is as before, and rows keep no `dims` in JSON.
        let mut plain = report.clone();
        plain.rows.iter_mut().for_each(|r| r.dims.clear());
        assert_eq!(bench_table(&plain).header[3], "median ms");
        let json = serde_json::to_string(&plain.rows[0]).unwrap();
        assert!(!json.contains("\"dims\"") && !json.contains("\"inputs\""), "{json}");
        let back: BenchRow = serde_json::from_str(&serde_json::to_string(&report.rows[1]).unwrap()).unwrap();
        assert_eq!(back.dims, report.rows[1].dims);
    }
}
