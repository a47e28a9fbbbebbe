//! Rounds: the same (backend, device) measured in several child processes, interleaved with the
//! other backends, and pooled into one report.
//!
//! One process's median is tight (its bootstrap interval is often under 1%), yet a second process
//! on the same machine can settle several percent away: memory placement, thread placement and the
//! host's other tenants differ from process to process. Pooling the samples of several processes,
//! measured in turns with the other backends, makes a comparison repeatable and fair to every
//! backend; the spread of the per-process medians shows how much one process could have misled.

use infer_core::Result;

use crate::{
    confidence::{CiTarget, Convergence},
    device_time::DeviceTime,
    host::{disturbed_warnings, pool_energy, pool_evidence},
    measure::{SEED, fill_speedups, trust_warnings},
    results::{BenchReport, BenchRow, RowSource},
};

/// Above this spread of the per-round medians ((max - min) / min) a row gets a warning.
pub const ROUNDS_DISAGREE: f64 = 0.05;

/// `(max - min) / min` of some medians; 0 for fewer than two.
#[must_use]
pub fn spread(medians: &[f64]) -> f64 {
    let min = medians.iter().copied().fold(f64::INFINITY, f64::min);
    let max = medians.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if medians.len() < 2 || min <= 0.0 { 0.0 } else { (max - min) / min }
}

/// The medians of the rounds pooled in `row` so far: its own median when it is one round.
#[must_use]
pub fn round_medians(row: &BenchRow) -> Vec<f64> {
    row.round_medians_ms.clone().unwrap_or_else(|| vec![row.latency_ms.median])
}

/// How many samples each round pooled in `row` measured: all of them when it is one round.
#[must_use]
pub fn round_iterations(row: &BenchRow) -> Vec<usize> {
    row.round_iterations.clone().unwrap_or_else(|| vec![row.samples_ms.len()])
}

/// The samples of each round pooled in `row`, in order (one slice when the sizes are unknown).
#[must_use]
pub fn round_samples(row: &BenchRow) -> Vec<&[f64]> {
    let sizes = round_iterations(row);
    if sizes.iter().sum::<usize>() != row.samples_ms.len() {
        return vec![&row.samples_ms];
    }
    let mut out = Vec::with_capacity(sizes.len());
    let mut at = 0;
    for n in sizes {
        out.push(&row.samples_ms[at..at + n]);
        at += n;
    }
    out
}

/// Holds the rounds pooled in `row` to `target`: the interval of the median (and p99) resamples
/// the rounds ([`crate::confidence::rounds_ci`]), and the target counts as reached only from
/// `min_rounds` rounds on, so the spread between processes is measured before any verdict. The
/// time it took is that of the measured calls of every round (the sum of the samples). The row's
/// "not reached" warning is replaced.
///
/// # Errors
/// When a round has no samples.
pub fn converge(row: &mut BenchRow, target: &CiTarget, min_rounds: usize) -> Result<()> {
    let rounds = round_samples(row);
    let precision = target.check_rounds(&rounds)?;
    let count = rounds.len();
    let time = row.samples_ms.iter().sum::<f64>() / 1e3;
    let mut c = Convergence::new(target, &precision, row.samples_ms.len(), time);
    c.rounds = Some(count);
    c.reached = c.reached && count >= min_rounds;
    row.warnings.retain(|w| !w.starts_with(NOT_REACHED));
    if let Some(w) = c.warning() {
        row.warnings.push(w);
    }
    row.convergence = Some(c);
    Ok(())
}

/// How every "target not reached" warning starts ([`Convergence::warning`]).
const NOT_REACHED: &str = "target not reached";

/// Pools the next round's report into `pooled`: each row's samples (same batch size and
/// dimension sizes) are joined and its
/// statistics, intervals and warnings recomputed from them; warm-up iterations add up; the
/// largest difference to the reference is kept. Load time, first inference and memory stay
/// those of the first round. A batch size missing from `next` keeps its rounds so far.
///
/// # Errors
/// When a pooled sample is invalid (an empty or non-finite latency list).
pub fn pool(pooled: &mut BenchReport, next: BenchReport) -> Result<()> {
    for row in &mut pooled.rows {
        let Some(new) = next.rows.iter().find(|r| r.batch_size == row.batch_size && r.dims == row.dims) else {
            continue;
        };
        let mut medians = round_medians(row);
        medians.push(new.latency_ms.median);
        let samples: Vec<f64> = row.samples_ms.iter().chain(&new.samples_ms).copied().collect();
        let src = RowSource {
            model: &row.model,
            backend: &row.backend,
            device: row.device,
            batch_size: row.batch_size,
            environment: &row.environment,
            resamples: crate::stats::DEFAULT_RESAMPLES,
            seed: SEED,
        };
        let mut merged = BenchRow::from_samples(&src, samples)?;
        merged.warnings = trust_warnings(merged.iterations, merged.cov);
        let rounds = medians.len();
        let s = spread(&medians);
        if s > ROUNDS_DISAGREE {
            let (lo, hi) = medians.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &m| (l.min(m), h.max(m)));
            merged.warnings.push(format!(
                "rounds disagree: the medians of the {rounds} processes range {lo:.2}-{hi:.2} ms ({:.0}% apart, \
                 above {:.0}%): expect a single run to land anywhere in that range",
                s * 100.0,
                ROUNDS_DISAGREE * 100.0
            ));
        }
        merged.warmup_iterations = row.warmup_iterations.zip(new.warmup_iterations).map(|(a, b)| a + b);
        merged.warmup_settled = row.warmup_settled.zip(new.warmup_settled).map(|(a, b)| a && b);
        if merged.warmup_settled == Some(false) {
            merged.warnings.push("warm-up did not settle in at least one round".into());
        }
        merged.input_prep_ms = row.input_prep_ms;
        merged.stages_ms = row.stages_ms.clone();
        let mut sizes = round_iterations(row);
        sizes.push(new.samples_ms.len());
        merged.round_iterations = Some(sizes);
        merged.convergence = match (&row.convergence, &new.convergence) {
            // The measuring adds up; the interval is the rounds' own, set by [`converge`].
            (Some(a), Some(b)) => Some(Convergence {
                time_to_interval_s: a.time_to_interval_s + b.time_to_interval_s,
                samples: a.samples + b.samples,
                rounds: Some(rounds),
                ..b.clone()
            }),
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        merged.device_time = DeviceTime::pooled(row.device_time.as_ref(), new.device_time.as_ref())?;
        // The allocator's figures of the last round (its peak is that process's own).
        merged.device_memory = new.device_memory.clone().or_else(|| row.device_memory.take());
        merged.timed_unix_s = row.timed_unix_s.iter().chain(&new.timed_unix_s).copied().collect();
        let evidence = pool_evidence(row.host.as_ref(), &row.host_rounds, new.host.as_ref());
        merged.warnings.extend(disturbed_warnings(&evidence.disturbed));
        (merged.host, merged.host_rounds, merged.disturbed) = (evidence.host, evidence.host_rounds, evidence.disturbed);
        merged.energy = pool_energy(row.energy.as_ref(), new.energy.as_ref());
        merged.round_medians_ms = Some(medians);
        merged.dims = std::mem::take(&mut row.dims);
        merged.inputs = std::mem::take(&mut row.inputs);
        *row = merged;
    }
    fill_speedups(&mut pooled.rows);
    pooled.max_abs_diff = match (pooled.max_abs_diff, next.max_abs_diff) {
        (Some(a), Some(b)) if a.is_nan() || b.is_nan() => Some(f64::NAN),
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    pooled.max_rel_diff = match (pooled.max_rel_diff, next.max_rel_diff) {
        (Some(a), Some(b)) if a.is_nan() || b.is_nan() => Some(f64::NAN),
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    pooled.top1_agreement = match (pooled.top1_agreement, next.top1_agreement) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::environment::Environment;
    use infer_core::Device;

    fn report(samples: &[Vec<f64>], diff: f64) -> BenchReport {
        let env = Environment::capture(0);
        let rows = samples
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let src = RowSource {
                    model: "m.onnx",
                    backend: "onnx",
                    device: Device::Cpu,
                    batch_size: [1, 8][i],
                    environment: &env,
                    resamples: 200,
                    seed: 1,
                };
                let mut row = BenchRow::from_samples(&src, s.clone()).unwrap();
                row.warmup_iterations = Some(10);
                row.warmup_settled = Some(true);
                row
            })
            .collect();
        BenchReport {
            max_abs_diff: Some(diff),
            load_ms: 1.0,
            first_inference_ms: 2.0,
            ..crate::testing::bare_report("onnx", Device::Cpu, env, rows)
        }
    }

    #[test]
    fn spread_is_relative_to_the_smallest() {
        assert_eq!(spread(&[]), 0.0);
        assert_eq!(spread(&[3.0]), 0.0);
        assert!((spread(&[10.0, 11.0, 10.5]) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn pooling_joins_samples_and_tracks_round_medians() {
        let mut pooled = report(&[vec![10.0; 60], vec![40.0; 60]], 1e-6);
        pool(&mut pooled, report(&[vec![10.2; 60], vec![40.0; 60]], 3e-6)).unwrap();
        let b1 = &pooled.rows[0];
        assert_eq!((b1.iterations, b1.samples_ms.len()), (120, 120));
        assert_eq!(b1.round_medians_ms.as_deref(), Some(&[10.0, 10.2][..]));
        assert_eq!(b1.warmup_iterations, Some(20));
        // 120 samples are enough for p99 and a 2% spread is within the limit: no warning.
        assert!(b1.warnings.is_empty(), "{:?}", b1.warnings);
        assert_eq!(pooled.max_abs_diff, Some(3e-6));
        // Batch 8 against the pooled batch 1: 8 items in 40 ms against 1 in the pooled median.
        let expected = (8.0 / 40.0) / (1.0 / b1.latency_ms.median);
        assert!((pooled.rows[1].speedup_vs_batch1.unwrap() - expected).abs() < 1e-9);
    }

    #[test]
    fn pooling_joins_device_times_and_timed_spans() {
        let gpu = |wall: f64, device: f64, at: f64| {
            let mut r = report(&[vec![wall; 10]], 0.0);
            let row = &mut r.rows[0];
            row.device_time = DeviceTime::from_samples(vec![device; 10]).unwrap();
            row.timed_unix_s = vec![[at, at + 1.0]];
            row.device_memory = Some(infer_core::DeviceMemory {
                allocated: Some(1),
                reserved: Some(2),
                peak_allocated: Some(at as u64),
                source: "test".into(),
            });
            r
        };
        let mut pooled = gpu(10.0, 8.0, 100.0);
        pool(&mut pooled, gpu(10.0, 9.0, 200.0)).unwrap();
        let row = &pooled.rows[0];
        let device = row.device_time.as_ref().unwrap();
        assert_eq!(device.samples_ms.len(), 20);
        assert!((device.summary_ms.max - 9.0).abs() < 1e-12 && (device.summary_ms.min - 8.0).abs() < 1e-12);
        assert_eq!(row.timed_unix_s, [[100.0, 101.0], [200.0, 201.0]]);
        assert_eq!(row.device_memory.as_ref().and_then(|m| m.peak_allocated), Some(200), "the last round's");
        // A round without a device timer leaves none to pool (a CPU row stays without one).
        pool(&mut pooled, report(&[vec![10.0; 10]], 0.0)).unwrap();
        assert_eq!(pooled.rows[0].device_time, None);
    }

    #[test]
    fn pooling_keeps_every_rounds_evidence_and_energy() {
        use crate::host::{EnergyWindowRecord, RowEnergy};
        let energy = |joules: f64| {
            let w = EnergyWindowRecord { duration_s: 0.2, joules, inferences: 10 };
            RowEnergy::from_windows("RAPL", vec!["package-0".into()], 0.01, vec![w])
        };
        let round = |disturbed: &[&str], joules: f64| {
            let mut r = report(&[vec![10.0; 60]], 0.0);
            r.rows[0] = crate::testing::observed(r.rows[0].clone(), disturbed, energy(joules));
            r
        };
        let first = round(&[], 1.0);
        assert!(!first.rows[0].is_disturbed());
        assert!(first.rows[0].energy.as_ref().unwrap().to_string().contains("row too short for the counter"));
        let mut pooled = first;
        pool(&mut pooled, round(&["other processes used 1.20 cores on average"], 1.2)).unwrap();
        pool(&mut pooled, round(&[], 1.1)).unwrap();
        let row = &pooled.rows[0];
        assert_eq!(row.host_rounds.len(), 3, "every round's evidence kept");
        assert_eq!(row.disturbed, ["round 2: other processes used 1.20 cores on average"]);
        assert!(row.is_disturbed() && row.host.as_ref().unwrap().is_disturbed(), "the most disturbed round shown");
        assert!(
            row.warnings.contains(&"disturbed: round 2: other processes used 1.20 cores on average".to_string()),
            "{:?}",
            row.warnings
        );
        // Three rounds of one window each: together, an interval.
        let e = row.energy.as_ref().unwrap();
        assert_eq!(e.windows.len(), 3);
        assert!((e.joules_per_inference.available().unwrap().point - 0.11).abs() < 1e-12, "{e}");
        let json = serde_json::to_value(row).unwrap();
        assert!(json["host"].is_object() && json["host_rounds"].as_array().unwrap().len() == 3);
        assert!(json["energy"]["joules_per_inference"]["available"]["point"].is_number(), "{}", json["energy"]);
    }

    #[test]
    fn rounds_far_apart_are_flagged() {
        let mut pooled = report(&[vec![10.0; 60]], 0.0);
        pool(&mut pooled, report(&[vec![12.0; 60]], 0.0)).unwrap();
        pool(&mut pooled, report(&[vec![10.5; 60]], f64::NAN)).unwrap();
        let row = &pooled.rows[0];
        assert_eq!(round_medians(row), [10.0, 12.0, 10.5]);
        let w = row.warnings.join("\n");
        assert!(w.contains("rounds disagree") && w.contains("10.00-12.00 ms (20% apart"), "{w}");
        assert!(pooled.max_abs_diff.unwrap().is_nan(), "a NaN difference in any round stays visible");
    }

    /// Rounds that agree reach ±2% once the minimum of rounds is pooled; rounds 20% apart do
    /// not, and the row says how close it came. The time is that of every round's calls.
    #[test]
    fn a_target_across_rounds_needs_the_minimum_of_rounds_and_rounds_that_agree() {
        use std::time::Duration;
        let target = CiTarget::median(0.02, Duration::from_secs(30));
        let spread = |m: f64| (0..40).map(|i| m * (1.0 + f64::from(i % 5 - 2) * 0.002)).collect::<Vec<_>>();
        let timed = |m: f64| {
            let mut r = report(&[spread(m)], 0.0);
            let p = target.check(&crate::stats::Sample::new(spread(m)).unwrap()).unwrap();
            r.rows[0].convergence = Some(Convergence::new(&target, &p, 40, 1.5));
            r
        };
        let mut pooled = timed(10.0);
        pool(&mut pooled, timed(10.05)).unwrap();
        converge(&mut pooled.rows[0], &target, 3).unwrap();
        let c = pooled.rows[0].convergence.clone().unwrap();
        assert!(!c.reached && c.median_half_width <= 0.02, "two rounds are fewer than the minimum: {c:?}");
        pool(&mut pooled, timed(9.97)).unwrap();
        converge(&mut pooled.rows[0], &target, 3).unwrap();
        let row = &pooled.rows[0];
        let c = row.convergence.clone().unwrap();
        assert!(c.reached, "{c:?}");
        assert_eq!((c.rounds, c.samples), (Some(3), 120));
        let measured: f64 = pooled.rows[0].samples_ms.iter().sum::<f64>() / 1e3;
        assert!((c.time_to_interval_s - measured).abs() < 1e-9, "the measured calls of every round: {c:?}");
        assert_eq!(row.round_iterations.as_deref(), Some(&[40, 40, 40][..]));
        assert_eq!(round_samples(row).len(), 3);
        assert!(row.warnings.iter().all(|w| !w.starts_with(NOT_REACHED)), "{:?}", row.warnings);

        let mut apart = timed(10.0);
        pool(&mut apart, timed(12.0)).unwrap();
        pool(&mut apart, timed(11.0)).unwrap();
        converge(&mut apart.rows[0], &target, 3).unwrap();
        let row = &apart.rows[0];
        let c = row.convergence.clone().unwrap();
        assert!(!c.reached && c.median_half_width > 0.05, "{c:?}");
        assert!(
            row.warnings.iter().any(|w| w.starts_with("target not reached: the 95% interval")),
            "{:?}",
            row.warnings
        );
    }

    #[test]
    fn rows_of_other_dimension_sizes_pool_apart() {
        // Two rows of batch 1, sequence 8 and 16: each pools with its own, never the other.
        let with_dims = |samples: &[Vec<f64>]| {
            let mut r = report(samples, 0.0);
            for (row, seq) in r.rows.iter_mut().zip([8, 16]) {
                row.batch_size = 1;
                row.dims.insert("sequence".into(), seq);
            }
            r
        };
        let mut pooled = with_dims(&[vec![10.0; 60], vec![20.0; 60]]);
        pool(&mut pooled, with_dims(&[vec![11.0; 60], vec![21.0; 60]])).unwrap();
        let medians: Vec<_> = pooled.rows.iter().map(|r| (r.dims["sequence"], round_medians(r))).collect();
        assert_eq!(medians, [(8, vec![10.0, 11.0]), (16, vec![20.0, 21.0])]);
        // Each is its own batch-1 base.
        assert!(pooled.rows.iter().all(|r| r.speedup_vs_batch1 == Some(1.0)));
    }
}
