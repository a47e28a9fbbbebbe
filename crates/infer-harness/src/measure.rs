//! The whole measurement of one model on one backend and device: load, first inference,
//! reference check, then a timed run per batch size.

use std::{path::PathBuf, time::Instant};

use infer_core::{
    Backend, Error, LoadOptions, Result, Tensor,
    npy::read_npy,
    stats::{DEFAULT_CONFIDENCE, DEFAULT_RESAMPLES, Sample},
};

use crate::{
    bench::{BenchConfig, progress_bar, time_session},
    environment::Environment,
    memory,
    report::{BenchReport, BenchRow, SCHEMA_VERSION},
    workload::synthetic_inputs,
};

/// What to measure.
#[derive(Debug, Clone)]
pub struct MeasureSpec {
    /// Model file or folder.
    pub model: PathBuf,
    /// Session options (device, threads, ...).
    pub options: LoadOptions,
    /// Batch sizes to time, in order.
    pub batch_sizes: Vec<usize>,
    /// Sizes for dynamic non-batch dimensions.
    pub dim_fill: Vec<usize>,
    /// Timing configuration.
    pub config: BenchConfig,
    /// Reference input and output files: the output of the input must match within tolerance.
    pub reference: Option<(PathBuf, PathBuf)>,
}

/// Loads the model, checks it against the reference if any, and times every batch size.
///
/// # Errors
/// Load, input and run errors, with the file named.
pub fn measure(backend: &dyn Backend, spec: &MeasureSpec) -> Result<BenchReport> {
    measure_each(backend, spec, &mut |_| Ok(()))
}

/// As [`measure`], calling `on_row` with the report so far after each batch size is timed, so
/// that a caller can save finished rows before the next one starts (nothing lost on Ctrl-C).
///
/// # Errors
/// As [`measure`], and the first error `on_row` returns.
pub fn measure_each(
    backend: &dyn Backend,
    spec: &MeasureSpec,
    on_row: &mut dyn FnMut(&BenchReport) -> Result<()>,
) -> Result<BenchReport> {
    if spec.batch_sizes.is_empty() || spec.batch_sizes.contains(&0) {
        return Err(Error::InvalidInput("batch sizes must be positive integers, e.g. 1,8,32".into()));
    }
    let mut environment = Environment::capture(spec.options.intra_threads);
    if let Ok(info) = backend.probe() {
        environment.versions.insert(backend.name().into(), info.runtime_version);
    }
    let rss_before_load = memory::rss().map(|r| r.current);
    let t = Instant::now();
    let mut session = backend.load(&spec.model, &spec.options)?;
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    let rss_after_load = memory::rss().map(|r| r.current);
    let device = session.device();

    let mut max_abs_diff = None;
    let mut first_inference_ms = None;
    if let Some((input, output)) = &spec.reference {
        let x = read_npy(input)?;
        let expected = read_npy(output)?;
        let t = Instant::now();
        let got = session.run(std::slice::from_ref(&x)).map_err(|e| Error::file(input, e.to_string()))?;
        session.synchronize()?;
        first_inference_ms = Some(t.elapsed().as_secs_f64() * 1e3);
        let first = got.first().ok_or_else(|| Error::InvalidInput("the model returned no output".into()))?;
        max_abs_diff = Some(first.max_abs_diff(&expected).map_err(|e| Error::file(output, e.to_string()))?);
    }

    let model = spec.model.display().to_string();
    let params = session.parameters();
    let report = |rows: Vec<BenchRow>, first_inference_ms: Option<f64>| BenchReport {
        schema_version: SCHEMA_VERSION,
        model: model.clone(),
        backend: backend.name().into(),
        device,
        environment: environment.clone(),
        load_ms,
        first_inference_ms: first_inference_ms.unwrap_or(f64::NAN),
        parameters: params.map(|p| p.count),
        parameter_bytes: params.map(|p| p.bytes),
        rss_before_load,
        rss_after_load,
        peak_rss: memory::rss().map(|r| r.peak),
        max_abs_diff,
        reference: spec.reference.as_ref().map(|(_, o)| o.display().to_string()),
        rows,
    };
    let mut rows = Vec::new();
    for &batch in &spec.batch_sizes {
        let inputs: Vec<Tensor> = synthetic_inputs(session.inputs(), batch, &spec.dim_fill)?;
        if first_inference_ms.is_none() {
            let t = Instant::now();
            session.run(&inputs)?;
            session.synchronize()?;
            first_inference_ms = Some(t.elapsed().as_secs_f64() * 1e3);
        }
        let pb = progress_bar(&format!("{} {device} batch {batch}", backend.name()), &spec.config);
        let timing = time_session(session.as_mut(), &inputs, &spec.config, &pb);
        pb.finish_and_clear();
        let timing = timing?;
        let sample = timing.sample()?;
        let summary = sample.summary();
        let cov = sample.coefficient_of_variation();
        #[allow(clippy::cast_precision_loss)]
        let batch_f = batch as f64;
        rows.push(BenchRow {
            model: model.clone(),
            backend: backend.name().into(),
            device,
            batch_size: batch,
            throughput_per_s: batch_f * 1e3 / summary.median,
            per_item_ms: summary.median / batch_f,
            iterations: timing.samples_ms.len(),
            median_ci_ms: sample.median_ci(DEFAULT_RESAMPLES, DEFAULT_CONFIDENCE, SEED).ok(),
            p99_ci_ms: sample.p99_ci(DEFAULT_RESAMPLES, DEFAULT_CONFIDENCE, SEED).ok(),
            cov,
            warnings: trust_warnings(&sample, cov),
            latency_ms: summary,
            environment: environment.clone(),
            samples_ms: timing.samples_ms,
        });
        on_row(&report(rows.clone(), first_inference_ms))?;
    }
    Ok(report(rows, first_inference_ms))
}

/// Seed of the bootstrap resampling, fixed so reports are reproducible.
const SEED: u64 = 0x1fe_2025;
/// Above this coefficient of variation a run is flagged unstable.
pub const UNSTABLE_COV: f64 = 0.10;
/// Fewer samples than this make p99 little more than the maximum.
pub const MIN_SAMPLES_FOR_P99: usize = 100;

/// Warnings about how far a sample can be trusted.
#[must_use]
pub fn trust_warnings(sample: &Sample, cov: f64) -> Vec<String> {
    let mut w = Vec::new();
    if cov > UNSTABLE_COV {
        w.push(format!(
            "unstable: coefficient of variation {:.0}% exceeds {:.0}% (other load on the machine? too little warm-up?)",
            cov * 100.0,
            UNSTABLE_COV * 100.0
        ));
    }
    if sample.count() < MIN_SAMPLES_FOR_P99 {
        w.push(format!(
            "p99 from {} samples is unreliable: use at least {MIN_SAMPLES_FOR_P99} iterations",
            sample.count()
        ));
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_about_unstable_and_short_runs() {
        let steady = Sample::new((0..200).map(|i| 10.0 + f64::from(i % 3) * 0.01).collect()).unwrap();
        assert!(trust_warnings(&steady, steady.coefficient_of_variation()).is_empty());
        let noisy = Sample::new((0..200).map(|i| if i % 2 == 0 { 5.0 } else { 15.0 }).collect()).unwrap();
        let w = trust_warnings(&noisy, noisy.coefficient_of_variation());
        assert_eq!(w.len(), 1);
        assert!(w[0].starts_with("unstable: coefficient of variation 50%"), "{w:?}");
        let short = Sample::new(vec![10.0; 20]).unwrap();
        let w = trust_warnings(&short, 0.0);
        assert_eq!(w, ["p99 from 20 samples is unreliable: use at least 100 iterations"]);
    }
}
