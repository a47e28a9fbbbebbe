//! `infer bench --lengths SYMBOL=SPEC`: variable-length traffic in a closed loop. Every call
//! carries a batch of requests whose lengths are drawn (seeded) from a distribution
//! ([`crate::workload::lengths`]), padded to one length per `--pad-to`, attention masks zero on
//! the padding. The report gives the latency per length bucket (powers of two of the batch's
//! longest length: 1, 2, 3–4, 5–8, …, the same edges in every run, so runs compare bucket by
//! bucket), the padding waste (padded positions over all positions fed), useful tokens per second
//! (the requests' own lengths) and items per second.

use std::{path::PathBuf, time::Instant};

use infer_core::{Backend, Device, Error, LoadOptions, Result};
use serde::{Deserialize, Serialize};

use crate::{
    environment::Environment,
    host::{Host, HostEvidence, HostOptions, RowEnergy},
    scenario::samples::{POOL, Samples},
    stats::Summary,
    timing::{MIN_ITERATIONS, PhaseWatch, Stop, Warmup},
    workload::{
        Workload,
        lengths::{DRAWS_CYCLED, Lengths, Padding, RequestLengths},
    },
};

/// Warm-up calls of `--warmup auto` with `--lengths` (the lengths vary, so no window settles).
pub const AUTO_WARMUP_CALLS: usize = 10;

/// What to measure.
#[derive(Debug, Clone)]
pub struct LengthsSpec {
    /// Model file or folder.
    pub model: PathBuf,
    /// Session options (device, threads, ...).
    pub options: LoadOptions,
    /// Requests per call; none: the model's own ([`crate::workload::Plan::default_batch`]).
    pub batch_size: Option<usize>,
    /// What the inputs are made of (one point: no `--dim` list).
    pub workload: Workload,
    /// The lengths, their padding and seed.
    pub lengths: Lengths,
    /// Untimed calls first ([`Warmup::UntilStable`] is [`AUTO_WARMUP_CALLS`]).
    pub warmup: Warmup,
    /// Timed calls (`Iterations`) or time (`Duration`); not `Confidence`.
    pub stop: Stop,
    /// How the host is watched during the timed calls (evidence and energy, [`crate::host`]).
    pub host: HostOptions,
}

/// One timed call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LengthCall {
    /// The requests' lengths.
    pub lengths: Vec<usize>,
    /// The length they were padded to.
    pub padded: usize,
    /// Latency, ms.
    pub latency_ms: f64,
}

impl LengthCall {
    /// The longest request.
    #[must_use]
    pub fn longest(&self) -> usize {
        self.lengths.iter().copied().max().unwrap_or(0)
    }
}

/// The calls whose longest request falls in `lo..=hi`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LengthBucket {
    /// Smallest longest length of the bucket.
    pub lo: usize,
    /// Largest longest length of the bucket (a power of two).
    pub hi: usize,
    /// Calls in the bucket.
    pub calls: usize,
    /// Mean of the calls' longest lengths.
    pub mean_length: f64,
    /// Mean padded length.
    pub mean_padded: f64,
    /// Latency of the bucket's calls, ms.
    pub latency_ms: Summary,
}

impl LengthBucket {
    /// `lo–hi`, or the one length.
    #[must_use]
    pub fn label(&self) -> String {
        if self.lo == self.hi { self.lo.to_string() } else { format!("{}–{}", self.lo, self.hi) }
    }
}

/// Version of the [`LengthsReport`] JSON layout.
pub const LENGTHS_SCHEMA_VERSION: u32 = 1;

/// The outcome of `infer bench --lengths` on one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LengthsReport {
    /// Version of this layout.
    pub schema_version: u32,
    /// Model file.
    pub model: String,
    /// Backend name.
    pub backend: String,
    /// Device the session ran on.
    pub device: Device,
    /// Machine and runtimes.
    pub environment: Environment,
    /// Time to load the model, ms.
    pub load_ms: f64,
    /// The dimension drawn.
    pub symbol: String,
    /// Its distribution, as given (`uniform:16..512`, `file:…`).
    pub distribution: String,
    /// `--pad-to`.
    pub pad_to: String,
    /// Seed of the draws.
    pub seed: u64,
    /// Requests per call.
    pub batch_size: usize,
    /// Untimed calls first.
    pub warmup_iterations: usize,
    /// Timed calls.
    pub iterations: usize,
    /// Latency of one call, ms.
    pub latency_ms: Summary,
    /// Padded positions over all positions fed, in `[0, 1)`.
    pub padding_waste: f64,
    /// The requests' own positions (their lengths) per second of calls.
    pub useful_tokens_per_s: f64,
    /// Requests per second of calls.
    pub items_per_s: f64,
    /// Latency per bucket of the calls' longest length (powers of two), shortest first.
    pub buckets: Vec<LengthBucket>,
    /// Every timed call, in order.
    pub calls: Vec<LengthCall>,
    /// What the host did during the timed calls; absent when it was not watched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostEvidence>,
    /// Why the host's evidence marks the run disturbed; empty when it does not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disturbed: Vec<String>,
    /// Joules per call over the timed calls, or why there is none here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy: Option<RowEnergy>,
}

/// Loads the model and times calls of drawn lengths.
///
/// # Errors
/// Invalid settings (a `--dim` list, the symbol not a dynamic dimension, a length above the
/// largest bucket), load and run errors.
pub fn measure_lengths(backend: &dyn Backend, spec: &LengthsSpec) -> Result<LengthsReport> {
    let per_call = match spec.stop {
        Stop::Iterations(n) => Some(n),
        Stop::Duration(_) => None,
        Stop::Confidence(_) => {
            return Err(Error::InvalidInput(
                "--target-ci does not apply to --lengths: give --iterations or --duration".into(),
            ));
        }
    };
    if spec.batch_size == Some(0) {
        return Err(Error::InvalidInput("the batch size must be at least 1".into()));
    }
    let mut environment = Environment::capture(spec.options.intra_threads);
    if let Ok(info) = backend.probe() {
        environment.versions.insert(backend.name().into(), info.runtime_version);
    }
    let t = Instant::now();
    let mut session = backend.load(&spec.model, &spec.options)?;
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    environment.settings = session.info().settings.clone().into_iter().collect();
    let point = spec.workload.single_point("--lengths")?;
    let plan = spec.workload.plan(&spec.model, session.as_ref())?;
    let batch = spec.batch_size.unwrap_or_else(|| plan.default_batch());
    if batch > 1 && !plan.batchable() {
        return Err(Error::InvalidInput(format!("batch {batch}: the model's batch dimension is fixed")));
    }
    let draws = per_call.unwrap_or(DRAWS_CYCLED).max(1) * batch;
    let lengths = RequestLengths::draw(&plan, &point, &spec.lengths, draws)?;
    let samples = Samples::from_plan(&plan, &lengths.point(&point), POOL.max(batch), batch)?.with_lengths(lengths);
    let warmup = match spec.warmup {
        Warmup::Count(n) => n,
        Warmup::UntilStable { .. } => AUTO_WARMUP_CALLS,
    };
    for i in 0..warmup {
        session.run(&samples.batch(i * batch, batch)?).map_err(|e| plan.context(e))?;
        session.synchronize()?;
    }
    let mut calls = Vec::new();
    let mut padding = Padding::default();
    let host = Host::open(spec.host.clone());
    let mut watch = host.watch(session.device());
    watch.begin();
    let started = Instant::now();
    for i in 0.. {
        let done = match (per_call, spec.stop) {
            (Some(n), _) => i >= n,
            (None, Stop::Duration(d)) => i >= MIN_ITERATIONS && started.elapsed() >= d,
            _ => true,
        };
        if done {
            break;
        }
        let first = i * batch;
        let inputs = samples.batch(first, batch)?;
        let t = Instant::now();
        session.run(&inputs).map_err(|e| plan.context(e))?;
        session.synchronize()?;
        let latency_ms = t.elapsed().as_secs_f64() * 1e3;
        let p = samples.padding(first, batch)?.unwrap_or_default();
        padding.add(p);
        let l = samples.lengths().map(|l| l.lengths(first, batch)).unwrap_or_default();
        calls.push(LengthCall { lengths: l, padded: p.total / batch, latency_ms });
        watch.after_call(calls.len());
    }
    watch.end(calls.len());
    let seen = watch.finish();
    let latencies: Vec<f64> = calls.iter().map(|c| c.latency_ms).collect();
    let seconds = latencies.iter().sum::<f64>() / 1e3;
    #[allow(clippy::cast_precision_loss)]
    let per_s = |n: usize| if seconds > 0.0 { n as f64 / seconds } else { 0.0 };
    Ok(LengthsReport {
        schema_version: LENGTHS_SCHEMA_VERSION,
        model: spec.model.display().to_string(),
        backend: backend.name().into(),
        device: session.device(),
        environment,
        load_ms,
        symbol: spec.lengths.arg.symbol.clone(),
        distribution: spec.lengths.arg.spec.clone(),
        pad_to: spec.lengths.pad_to.to_string(),
        seed: spec.lengths.seed,
        batch_size: batch,
        warmup_iterations: warmup,
        iterations: calls.len(),
        latency_ms: Summary::new(&latencies)?,
        padding_waste: padding.waste(),
        useful_tokens_per_s: per_s(padding.useful),
        items_per_s: per_s(calls.len() * batch),
        buckets: buckets(&calls)?,
        calls,
        disturbed: seen.host.as_ref().map(|h| h.disturbed.clone()).unwrap_or_default(),
        host: seen.host,
        energy: seen.energy,
    })
}

/// The power-of-two bucket of a length: `(2^(k-1), 2^k]`, and 1 alone.
#[must_use]
pub fn bucket_of(length: usize) -> (usize, usize) {
    let hi = length.max(1).next_power_of_two();
    (if hi == 1 { 1 } else { hi / 2 + 1 }, hi)
}

/// The calls grouped by the bucket of their longest length, shortest first; empty buckets left
/// out.
///
/// # Errors
/// None in practice (every bucket has a call).
pub fn buckets(calls: &[LengthCall]) -> Result<Vec<LengthBucket>> {
    let mut keys: Vec<(usize, usize)> = calls.iter().map(|c| bucket_of(c.longest())).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .map(|(lo, hi)| {
            let inside: Vec<&LengthCall> = calls.iter().filter(|c| bucket_of(c.longest()) == (lo, hi)).collect();
            #[allow(clippy::cast_precision_loss)]
            let mean = |f: &dyn Fn(&LengthCall) -> usize| {
                inside.iter().map(|c| f(c) as f64).sum::<f64>() / inside.len() as f64
            };
            let latencies: Vec<f64> = inside.iter().map(|c| c.latency_ms).collect();
            Ok(LengthBucket {
                lo,
                hi,
                calls: inside.len(),
                mean_length: mean(&LengthCall::longest),
                mean_padded: mean(&|c| c.padded),
                latency_ms: Summary::new(&latencies)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn buckets_are_powers_of_two_of_the_longest_length() {
        assert_eq!(
            [1, 2, 3, 4, 5, 8, 9, 100].map(bucket_of),
            [(1, 1), (2, 2), (3, 4), (3, 4), (5, 8), (5, 8), (9, 16), (65, 128)]
        );
        let call = |lengths: Vec<usize>, padded, latency_ms| LengthCall { lengths, padded, latency_ms };
        let calls =
            vec![call(vec![3, 1], 4, 1.0), call(vec![100], 128, 9.0), call(vec![2, 4], 4, 2.0), call(vec![1], 1, 0.5)];
        let b = buckets(&calls).unwrap();
        assert_eq!(b.iter().map(LengthBucket::label).collect::<Vec<_>>(), ["1", "3–4", "65–128"]);
        assert_eq!(b.iter().map(|b| b.calls).sum::<usize>(), calls.len());
        assert_eq!((b[1].calls, b[1].mean_length, b[1].latency_ms.mean), (2, 3.5, 1.5));
    }
}
