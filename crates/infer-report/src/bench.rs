//! The report of `infer bench`: one line per batch size and dimension sizes.

use infer_measure::results::{BenchReport, BenchRow, KEY_COLUMNS};

use crate::{device::DeviceColumns, table::Table};

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
