//! Analyses of a [`Comparison`]: whether each output matched its reference ([`parity`]), what a
//! model added to memory ([`model_rss`]), CPU against GPU ([`speedups`]), backends against the
//! fastest ([`relative`]) and where the time goes ([`profiles`]). Typed results only: turning
//! them into tables, Markdown or HTML is the reporters' job.

use std::fmt;

use infer_core::Device;

use infer_measure::{
    profile::ProfileSummary,
    results::comparison::{CompareEntry, Comparison},
    results::{BenchReport, BenchRow},
};

use crate::verdict::{self, Verdict};

/// Whether a measurement's output matched the reference output of the framework that wrote the
/// model, within the comparison's tolerance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Parity {
    /// Within the tolerance.
    Match,
    /// No reference was given.
    NoReference,
    /// The output holds NaN.
    MismatchNaN,
    /// Further from the reference than the tolerance.
    Mismatch {
        /// The tolerance it broke.
        tolerance: f64,
    },
}

impl Parity {
    /// Whether the output is acceptable (matched, or nothing to match against).
    #[must_use]
    pub fn is_ok(self) -> bool {
        matches!(self, Parity::Match | Parity::NoReference)
    }
}

impl fmt::Display for Parity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Parity::Match => f.write_str("ok"),
            Parity::NoReference => f.write_str("ok (no reference)"),
            Parity::MismatchNaN => f.write_str("MISMATCH (NaN)"),
            Parity::Mismatch { tolerance } => write!(f, "MISMATCH (> {tolerance:.0e})"),
        }
    }
}

/// Whether `report`'s output matched the reference within `tolerance`.
#[must_use]
pub fn parity(report: &BenchReport, tolerance: f64) -> Parity {
    match report.max_abs_diff {
        Some(d) if d <= tolerance => Parity::Match,
        Some(d) if d.is_nan() => Parity::MismatchNaN,
        Some(_) => Parity::Mismatch { tolerance },
        None => Parity::NoReference,
    }
}

/// What loading and running the model added to the process's memory: peak RSS minus RSS before
/// loading. The `infer` binary links every compiled-in runtime, so the peak alone would count
/// the other frameworks' libraries against each backend.
#[must_use]
pub fn model_rss(r: &BenchReport) -> Option<u64> {
    r.peak_rss.zip(r.rss_before_load).map(|(peak, before)| peak.saturating_sub(before))
}

/// One backend measured on the CPU and on a GPU at the same batch size.
#[derive(Debug, Clone, PartialEq)]
pub struct Speedup {
    /// Backend name.
    pub backend: String,
    /// The GPU.
    pub gpu: Device,
    /// Items per call.
    pub batch_size: usize,
    /// The row's dimension sizes (`sequence=128`; empty without any), see [`infer_measure::results::BenchRow::dims_label`].
    pub dims: String,
    /// Median latency on the CPU, milliseconds.
    pub cpu_median_ms: f64,
    /// Median latency on the GPU, milliseconds.
    pub gpu_median_ms: f64,
    /// CPU median / GPU median: how many times faster the GPU is (below 1: slower).
    pub speedup: f64,
    /// Whether the GPU is faster, slower or indistinguishable from the CPU here (the CPU row
    /// first).
    pub verdict: Verdict,
    /// Whether the host's evidence marks either row disturbed.
    pub disturbed: bool,
}

/// Every (backend, GPU, batch size) that has both a CPU and a GPU measurement, in entry order.
#[must_use]
pub fn speedups(c: &Comparison) -> Vec<Speedup> {
    let reports: Vec<&BenchReport> = c.reports().collect();
    let mut out = Vec::new();
    for gpu in reports.iter().filter(|r| r.device.is_gpu()) {
        let Some(cpu) = reports.iter().find(|r| r.backend == gpu.backend && r.device == Device::Cpu) else {
            continue;
        };
        for g in &gpu.rows {
            if let Some(c) = cpu.rows.iter().find(|r| r.batch_size == g.batch_size && r.dims == g.dims) {
                out.push(Speedup {
                    backend: gpu.backend.clone(),
                    gpu: gpu.device,
                    batch_size: g.batch_size,
                    dims: g.dims_label(),
                    cpu_median_ms: c.latency_ms.median,
                    gpu_median_ms: g.latency_ms.median,
                    speedup: c.latency_ms.median / g.latency_ms.median,
                    verdict: verdict::judge(c, g),
                    disturbed: c.is_disturbed() || g.is_disturbed(),
                });
            }
        }
    }
    out
}

/// One backend's median on one device and batch size, relative to the fastest backend there.
#[derive(Debug, Clone, PartialEq)]
pub struct Relative {
    /// Device.
    pub device: Device,
    /// Items per call.
    pub batch_size: usize,
    /// The row's dimension sizes (`sequence=128`; empty without any), see [`infer_measure::results::BenchRow::dims_label`].
    pub dims: String,
    /// Backend name.
    pub backend: String,
    /// Median latency, milliseconds.
    pub median_ms: f64,
    /// Median / the fastest backend's median on the same device and batch size (1 = fastest).
    pub relative: f64,
    /// Against the fastest there (the fastest row first); `None` for the fastest itself.
    pub versus_fastest: Option<Verdict>,
    /// Whether the host's evidence marks this row disturbed.
    pub disturbed: bool,
}

/// The cross-backend view: for each device and batch size, each backend against the fastest,
/// sorted by device, batch size, then speed.
#[must_use]
pub fn relative(c: &Comparison) -> Vec<Relative> {
    let measured: Vec<(&BenchRow, Relative)> = c
        .reports()
        .flat_map(|r| {
            r.rows.iter().map(|row| {
                let rel = Relative {
                    device: r.device,
                    batch_size: row.batch_size,
                    dims: row.dims_label(),
                    backend: r.backend.clone(),
                    median_ms: row.latency_ms.median,
                    relative: f64::NAN,
                    versus_fastest: None,
                    disturbed: row.is_disturbed(),
                };
                (row, rel)
            })
        })
        .collect();
    let key = |r: &Relative| (r.device.is_gpu(), r.device.to_string(), r.batch_size, r.dims.clone());
    let mut rows: Vec<Relative> = Vec::with_capacity(measured.len());
    for (row, rel) in &measured {
        let (best_row, best) = measured
            .iter()
            .filter(|(_, o)| key(o) == key(rel))
            .min_by(|a, b| a.1.median_ms.total_cmp(&b.1.median_ms))
            .map_or((*row, rel), |(r, o)| (*r, o));
        let mut rel = rel.clone();
        rel.relative = rel.median_ms / best.median_ms;
        rel.versus_fastest = (!std::ptr::eq(best_row, *row)).then(|| verdict::judge(best_row, row));
        rows.push(rel);
    }
    rows.sort_by(|a, b| key(a).cmp(&key(b)).then(a.relative.total_cmp(&b.relative)));
    rows
}

/// Operator types shown per backend in the reports' profile section.
pub const PROFILE_TOP: usize = 5;

/// One operator type among a profile's top [`PROFILE_TOP`].
#[derive(Debug, Clone, PartialEq)]
pub struct TopOp {
    /// Operator type as the backend's profiler names it.
    pub name: String,
    /// Time per profiled run, milliseconds.
    pub per_run_ms: f64,
    /// Calls per profiled run.
    pub calls_per_run: f64,
    /// Share of the operator time the profiler saw, percent.
    pub share_pct: f64,
}

/// Where the time of one (backend, device) went, or why it is unknown.
#[derive(Debug, Clone, PartialEq)]
pub enum ProfileOutcome<'a> {
    /// Its profile, with the top operator types.
    Profiled {
        /// The whole summary (batch size, runs, source).
        summary: &'a ProfileSummary,
        /// The top [`PROFILE_TOP`] operator types.
        top: Vec<TopOp>,
    },
    /// The profile child failed.
    Failed(&'a str),
}

/// The profile section of one entry.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryProfile<'a> {
    /// Backend name.
    pub backend: &'a str,
    /// Device.
    pub device: Device,
    /// What the profile found.
    pub outcome: ProfileOutcome<'a>,
}

/// Every entry that was profiled, or whose profile failed, in entry order.
#[must_use]
pub fn profiles(c: &Comparison) -> Vec<EntryProfile<'_>> {
    c.entries.iter().filter_map(entry_profile).collect()
}

fn entry_profile(e: &CompareEntry) -> Option<EntryProfile<'_>> {
    let outcome = match (&e.profile, &e.profile_error) {
        (Some(p), _) => ProfileOutcome::Profiled {
            summary: p,
            top: p
                .by_type
                .iter()
                .take(PROFILE_TOP)
                .map(|r| {
                    #[allow(clippy::cast_precision_loss)]
                    let calls_per_run = r.calls as f64 / p.runs.max(1) as f64;
                    TopOp {
                        name: r.name.clone(),
                        per_run_ms: r.per_run_us / 1e3,
                        calls_per_run,
                        share_pct: r.share_pct,
                    }
                })
                .collect(),
        },
        (None, Some(err)) => ProfileOutcome::Failed(err),
        (None, None) => return None,
    };
    Some(EntryProfile { backend: &e.backend, device: e.device, outcome })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use infer_measure::testing::{report, synthetic};

    #[test]
    fn parity_judges_the_difference_against_the_tolerance() {
        let mut r = report("onnx", Device::Cpu, &[(1, 1.0)]);
        let judge = |r: &BenchReport| parity(r, 1e-4);
        assert_eq!((judge(&r), judge(&r).to_string()), (Parity::Match, "ok".into()));
        r.max_abs_diff = Some(2e-4);
        assert_eq!(judge(&r).to_string(), "MISMATCH (> 1e-4)");
        assert!(!judge(&r).is_ok());
        r.max_abs_diff = Some(f64::NAN);
        assert_eq!(judge(&r), Parity::MismatchNaN);
        r.max_abs_diff = None;
        assert_eq!(judge(&r).to_string(), "ok (no reference)");
        assert!(judge(&r).is_ok());
    }

    #[test]
    fn speedups_pair_cpu_and_gpu_rows_of_the_same_backend_and_batch() {
        let s = speedups(&synthetic());
        let got: Vec<(&str, usize, String)> =
            s.iter().map(|s| (s.backend.as_str(), s.batch_size, format!("{:.1}", s.speedup))).collect();
        assert_eq!(
            got,
            [
                ("onnx", 1, "10.0".into()),
                ("onnx", 8, "30.0".into()),
                ("torch", 1, "10.0".into()),
                ("torch", 8, "28.3".into())
            ]
        );
        assert!(s.iter().all(|s| s.gpu == Device::Cuda(0)));
        // Without the GPU rows there is nothing to pair.
        let mut cpu_only = synthetic();
        cpu_only.entries.retain(|e| e.device == Device::Cpu);
        assert!(speedups(&cpu_only).is_empty());
    }

    #[test]
    fn relative_view_ranks_backends_per_device_and_batch() {
        let rel = relative(&synthetic());
        let got: Vec<(String, usize, &str, String)> = rel
            .iter()
            .map(|r| (r.device.to_string(), r.batch_size, r.backend.as_str(), format!("{:.2}", r.relative)))
            .collect();
        let want = [
            ("cpu", 1, "onnx", "1.00"),
            ("cpu", 1, "torch", "1.25"),
            ("cpu", 8, "onnx", "1.00"),
            ("cpu", 8, "torch", "1.13"),
            ("cuda:0", 1, "onnx", "1.00"),
            ("cuda:0", 1, "torch", "1.25"),
            ("cuda:0", 8, "onnx", "1.00"),
            ("cuda:0", 8, "torch", "1.20"),
        ];
        let want: Vec<(String, usize, &str, String)> =
            want.iter().map(|&(d, b, n, r)| (d.to_string(), b, n, r.to_string())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn profiles_keep_the_top_operator_types_and_the_failures() {
        let c = infer_measure::testing::with_profiles(synthetic());
        let p = profiles(&c);
        assert_eq!(p.len(), 2, "onnx profiled, torch failed, the rest not asked");
        let ProfileOutcome::Profiled { summary, top } = &p[0].outcome else { panic!("{p:?}") };
        assert_eq!((p[0].backend, summary.runs, top.len()), ("onnx", 1, PROFILE_TOP));
        assert_eq!(top[0], TopOp { name: "Conv".into(), per_run_ms: 0.7, calls_per_run: 2.0, share_pct: 70.0 });
        assert_eq!(p[1].outcome, ProfileOutcome::Failed("exit code 1: boom"));
        assert!(profiles(&synthetic()).is_empty());
    }
}
