//! The text tables of a comparison, shared by its terminal summary and its Markdown report (and
//! CSV, the first of them): the main results, CPU against GPU, backends against each other, and
//! where the time goes, with what the profile's shares mean and where each profile came from.

use crate::{
    analysis::{self, ProfileOutcome},
    bench::dim_columns,
    device::DeviceColumns,
    table::Table,
};
use infer_measure::{
    memory::mib,
    results::KEY_COLUMNS,
    results::comparison::{Comparison, RowStatus},
    rounds,
};

/// The comparison table: one line per (backend, device, batch size), status lines for the rest.
#[must_use]
pub fn results(c: &Comparison) -> Table {
    let pooled = c.reports().flat_map(|r| &r.rows).any(|r| r.round_medians_ms.is_some());
    let spread: &[&str] = if pooled { &["rounds (spread)"] } else { &[] };
    let certified = c.reports().flat_map(|r| &r.rows).any(|r| r.convergence.is_some());
    let target: &[&str] = if certified { &["95% CI of median"] } else { &[] };
    // A column per dynamic dimension (`--dim`) after the batch, as in `infer bench`'s table.
    let dims = dim_columns(c.reports().flat_map(|r| &r.rows));
    let dim_titles: Vec<&str> = dims.iter().map(String::as_str).collect();
    // The relative difference and top-1 agreement, where some row has them (a .npz reference,
    // `infer compare` on model files).
    let rel = c.reports().any(|r| r.max_rel_diff.is_some());
    let top1 = c.reports().any(|r| r.top1_agreement.is_some());
    let parity: Vec<&str> = [Some("max |diff|"), rel.then_some("max rel diff"), top1.then_some("top-1 agree")]
        .into_iter()
        .flatten()
        .collect();
    // The device's own time and memory, where some row has them (torch on CUDA).
    let device = DeviceColumns::of(c.reports().flat_map(|r| &r.rows));
    let device_titles = device.titles();
    let mut t = Table::new(
        &[
            &KEY_COLUMNS[..3],
            &dim_titles,
            &KEY_COLUMNS[3..],
            spread,
            target,
            &device_titles,
            &["items/s", "RSS +model"],
            &parity,
            &["status"],
        ]
        .concat(),
    );
    for e in &c.entries {
        let Some(r) = &e.report else {
            let mut cells = vec![e.backend.clone(), e.device.to_string()];
            cells.resize(t.header.len() - 1, "-".into());
            cells.push(e.status.to_string());
            t.rows.push(cells);
            continue;
        };
        let mut diff = vec![r.max_abs_diff.map_or_else(|| "-".into(), |d| format!("{d:.2e}"))];
        if rel {
            diff.push(r.max_rel_diff.map_or_else(|| "-".into(), |d| format!("{d:.2e}")));
        }
        if top1 {
            diff.push(r.top1_agreement.map_or_else(|| "-".into(), |a| format!("{:.0}%", a * 100.0)));
        }
        // A later round's failure stands beside the rounds that did run.
        let verdict = match &e.status {
            RowStatus::Ok => analysis::parity(r, c.tolerance).to_string(),
            other => other.to_string(),
        };
        for row in &r.rows {
            let mut cells = row.key_cells(2);
            let sizes = dims.iter().map(|d| row.dims.get(d).map_or_else(|| "-".into(), ToString::to_string));
            cells.splice(3..3, sizes);
            if pooled {
                let medians = rounds::round_medians(row);
                cells.push(format!("{} ({:.1}%)", medians.len(), rounds::spread(&medians) * 100.0));
            }
            if certified {
                cells.push(row.convergence.as_ref().map_or_else(|| "-".into(), |c| c.label()));
            }
            cells.extend(device.cells(row));
            cells.extend([
                format!("{:.1}", row.throughput_per_s),
                analysis::model_rss(r).map_or_else(|| "-".into(), mib),
            ]);
            cells.extend(diff.iter().cloned());
            // The host's evidence showed interference during this row.
            cells.push(if row.is_disturbed() { format!("{verdict} (disturbed)") } else { verdict.clone() });
            t.rows.push(cells);
        }
    }
    t
}

/// `8`, or `8, sequence=128` where the row has dimension sizes.
fn batch_cell(batch: usize, dims: &str) -> String {
    if dims.is_empty() { batch.to_string() } else { format!("{batch}, {dims}") }
}

/// The CPU-versus-GPU table: one line per [`analysis::Speedup`].
#[must_use]
pub fn speedups(c: &Comparison) -> Table {
    let mut t = Table::new(&["backend", "gpu", "batch", "cpu median ms", "gpu median ms", "gpu speed-up"]);
    for s in analysis::speedups(c) {
        t.rows.push(vec![
            s.backend,
            s.gpu.to_string(),
            batch_cell(s.batch_size, &s.dims),
            format!("{:.2}", s.cpu_median_ms),
            format!("{:.2}", s.gpu_median_ms),
            format!("{:.2}x", s.speedup),
        ]);
    }
    t
}

/// Whether each GPU is faster than the CPU, or indistinguishable here, with the ratio's interval:
/// one line per [`analysis::Speedup`] (`onnx, batch 1: cuda:0 is faster than cpu (×10.00, 95%
/// CI 9.71–10.31)`), `(disturbed)` after a pair the host's evidence marks.
#[must_use]
pub fn speedup_verdicts(c: &Comparison) -> Vec<String> {
    analysis::speedups(c)
        .iter()
        .map(|s| {
            let disturbed = if s.disturbed { " (disturbed)" } else { "" };
            format!(
                "{}, {}: {}{disturbed}",
                s.backend,
                batch_label(s.batch_size, &s.dims),
                s.verdict.sentence("cpu", &s.gpu.to_string())
            )
        })
        .collect()
}

/// `batch 8`, or `batch 8, sequence=128`.
fn batch_label(batch: usize, dims: &str) -> String {
    format!("batch {}", batch_cell(batch, dims))
}

/// A backend against the fastest on its device and batch size: `fastest`, `1.25× slower (95% CI
/// 1.22–1.28)` when the intervals separate them, else `indistinguishable here (×1.02, …)`;
/// `, disturbed` after a row the host's evidence marks.
#[must_use]
pub fn versus_fastest(r: &analysis::Relative) -> String {
    let cell = r.versus_fastest.as_ref().map_or_else(|| "fastest".into(), crate::verdict::Verdict::cell);
    if r.disturbed { format!("{cell}, disturbed") } else { cell }
}

/// The cross-backend table: one line per [`analysis::Relative`].
#[must_use]
pub fn relative(c: &Comparison) -> Table {
    let mut t = Table::new(&["device", "batch", "backend", "median ms", "vs fastest"]);
    for r in analysis::relative(c) {
        t.rows.push(vec![
            r.device.to_string(),
            batch_cell(r.batch_size, &r.dims),
            r.backend.clone(),
            format!("{:.2}", r.median_ms),
            versus_fastest(&r),
        ]);
    }
    t
}

/// The energy lines of every measured row ([`crate::evidence::energy_lines`]), named by backend,
/// device and batch size.
#[must_use]
pub fn energy(c: &Comparison) -> Vec<String> {
    crate::evidence::energy_lines(
        c.reports().flat_map(|r| r.rows.iter().map(move |row| (row_label(r, row), row.energy.as_ref()))),
    )
}

/// The host lines of every measured row the host's evidence marks disturbed, with its figures.
#[must_use]
pub fn disturbed(c: &Comparison) -> Vec<String> {
    crate::evidence::host_lines(c.reports().flat_map(|r| {
        r.rows.iter().filter(|row| row.is_disturbed()).map(move |row| (row_label(r, row), row.host.as_ref()))
    }))
}

/// `onnx cpu, batch 8`.
fn row_label(r: &infer_measure::results::BenchReport, row: &infer_measure::results::BenchRow) -> String {
    format!("{} {}, {}", r.backend, r.device, row.label())
}

/// Where the time goes: the top [`analysis::PROFILE_TOP`] operator types of each profiled
/// (backend, device), then a line per profile that failed.
#[must_use]
pub fn profiles(c: &Comparison) -> Table {
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

/// What the profile section's shares mean, before the list of where each profile came from.
pub const PROFILE_NOTE: &str = "Each backend's own profiler, in a child process after the timed rounds, at the first \
     batch size (2 warm-up runs left out). Shares are of the operator time that profiler saw. The profilers name \
     different things (ONNX Runtime: fused graph nodes; libtorch: ATen ops by self time; TensorFlow: graph \
     kernels), so compare where the time goes, not the names.";

/// Where each profile came from: `onnx on cpu: batch 1, 5 runs; <profiler>`, one per profile.
#[must_use]
pub fn profile_sources(c: &Comparison) -> Vec<String> {
    analysis::profiles(c)
        .into_iter()
        .filter_map(|p| match p.outcome {
            ProfileOutcome::Profiled { summary, .. } => Some(format!(
                "{} on {}: batch {}, {} runs; {}",
                p.backend, p.device, summary.batch_size, summary.runs, summary.source
            )),
            ProfileOutcome::Failed(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use infer_core::Device;

    use super::*;
    use infer_measure::testing::{report, synthetic, with_profiles};

    #[test]
    fn tables_show_speedups_and_ranks() {
        let t = speedups(&synthetic());
        assert_eq!(t.rows[0], ["onnx", "cuda:0", "1", "20.00", "2.00", "10.00x"]);
        assert!(
            relative(&synthetic()).rows[1][4].starts_with("1.25× slower (95% CI 1.2"),
            "{:?}",
            relative(&synthetic()).rows[1]
        );
        assert_eq!(relative(&synthetic()).rows[0][4], "fastest");
        let v = speedup_verdicts(&synthetic());
        assert!(v[0].starts_with("onnx, batch 1: cuda:0 is faster than cpu (×10.00, 95% CI "), "{v:?}");
        let t = results(&synthetic());
        assert_eq!(t.rows.len(), 4 * 2 + 1, "a line per measured batch size, one for tf");
        assert_eq!(
            t.rows[8][1..],
            ["cpu", "-", "-", "-", "-", "-", "-", "-", "error: exit code 1: <script>alert(1)</script>"]
        );
        assert_eq!(t.rows[0][9], "ok");
    }

    #[test]
    fn results_show_the_device_time_only_where_a_row_has_it() {
        let mut c = synthetic();
        assert!(!results(&c).header.iter().any(|h| h.starts_with("device ")), "no device figures, no column");
        let cuda = c.entries[3].report.as_mut().unwrap();
        cuda.rows[0].device_time = infer_measure::device_time::DeviceTime::from_samples(vec![2.25; 3]).unwrap();
        let t = results(&c);
        let col = t.header.iter().position(|h| h == "device ms").unwrap();
        let torch_cuda: Vec<_> = t.rows.iter().filter(|r| r[0] == "torch" && r[1] == "cuda:0").collect();
        assert_eq!((torch_cuda[0][col].as_str(), torch_cuda[1][col].as_str()), ("2.250", "-"));
        assert_eq!(t.rows[0][col], "-", "a CPU row has no device time");
    }

    #[test]
    fn results_show_rounds_and_a_later_rounds_failure() {
        let mut c = synthetic();
        assert!(!results(&c).header.iter().any(|h| h.starts_with("rounds")), "one round: no rounds column");
        let onnx = c.entries[0].report.as_mut().unwrap();
        infer_measure::rounds::pool(onnx, report("onnx", Device::Cpu, &[(1, 22.0), (8, 150.0)])).unwrap();
        c.entries[2].status = RowStatus::Error { message: "round 2 of 3: exit code 1: boom".into() };
        let t = results(&c);
        assert_eq!(t.header[6], "rounds (spread)");
        assert_eq!(t.rows[0][6], "2 (10.0%)", "{:?}", t.rows[0]);
        // The torch row keeps round 1's numbers, and says the next round failed.
        let torch = t.rows.iter().find(|r| r[0] == "torch" && r[1] == "cpu").unwrap();
        assert_eq!((torch[6].as_str(), torch[10].as_str()), ("1 (0.0%)", "error: round 2 of 3: exit code 1: boom"));
    }

    #[test]
    fn profile_table_has_the_top_types_then_the_failures() {
        assert!(profiles(&synthetic()).rows.is_empty());
        let t = profiles(&with_profiles(synthetic()));
        assert_eq!(t.rows.len(), analysis::PROFILE_TOP + 1, "top 5 of onnx, then torch's error");
        assert_eq!(t.rows[0], ["onnx", "cpu", "Conv", "0.700", "2", "70.0"]);
        assert_eq!(t.rows[5][2], "no profile: exit code 1: boom");
    }
}
