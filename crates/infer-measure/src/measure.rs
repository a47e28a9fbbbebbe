//! The whole measurement of one model on one backend and device: load, first inference,
//! reference check, then a timed run per batch size.

use std::{path::PathBuf, time::Instant};

use crate::stats::DEFAULT_RESAMPLES;
use indicatif::ProgressBar;
use infer_core::{Backend, Device, DeviceMemory, Error, LoadOptions, Result, Session, Tensor};

use crate::{
    confidence::Convergence,
    device_time::DeviceTime,
    environment::Environment,
    feedback::Feedback,
    host::{Host, HostOptions},
    memory, reference,
    results::{BenchReport, BenchRow, CudaMemoryReport, FailedRow, RowSource, SCHEMA_VERSION},
    timing::{BenchConfig, PhaseWatch, Timing, progress_bar, summarize_stages, time_session_fed, time_session_watched},
    workload::{DimPoint, Plan, Workload},
};

/// What to measure.
#[derive(Debug, Clone, Default)]
pub struct MeasureSpec {
    /// Model file or folder.
    pub model: PathBuf,
    /// Session options (device, threads, ...).
    pub options: LoadOptions,
    /// Batch sizes to time, in order; none: the model's own ([`crate::workload::Plan::default_batch`]).
    pub batch_sizes: Vec<usize>,
    /// What the inputs are made of: shapes, dimension sizes (a row per combination of `--dim`
    /// values and batch size), real data, integer ranges.
    pub workload: Workload,
    /// Timing configuration.
    pub config: BenchConfig,
    /// Reference input and output files: the output of the input must match within tolerance.
    pub reference: Option<(PathBuf, PathBuf)>,
    /// How the host is watched during each row's timed phase (evidence and energy); the command
    /// line takes [`HostOptions::from_env`].
    pub host: HostOptions,
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
    if spec.batch_sizes.contains(&0) {
        return Err(Error::InvalidInput("batch sizes must be positive integers, e.g. 1,8,32".into()));
    }
    let mut environment = Environment::capture(spec.options.intra_threads);
    environment.set_workload(&spec.model, spec.reference.as_ref().map(|(i, _)| i.as_path()), &spec.workload);
    if let Ok(info) = backend.probe() {
        environment.versions.insert(backend.name().into(), info.runtime_version);
    }
    let cuda_ordinal = match spec.options.device {
        Device::Cuda(n) => Some(n),
        _ => None,
    };
    let mut cuda = CudaProbe::new(cuda_ordinal);
    cuda.before_load();
    let rss_before_load = memory::rss().map(|r| r.current);
    let t = Instant::now();
    let mut session = backend.load(&spec.model, &spec.options)?;
    let load_ms = t.elapsed().as_secs_f64() * 1e3;
    let rss_after_load = memory::rss().map(|r| r.current);
    cuda.after_load();
    let device = session.device();
    environment.settings = session.info().settings.clone().into_iter().collect();

    let mut checked = None;
    let mut first_inference_ms = None;
    if let Some((input, output)) = &spec.reference {
        let x = reference::read_input(session.inputs(), input)?;
        let expected = reference::read_expected(output)?;
        let t = Instant::now();
        let got = session.run(&x).map_err(|e| Error::file(input, e.to_string()))?;
        session.synchronize()?;
        first_inference_ms = Some(t.elapsed().as_secs_f64() * 1e3);
        checked = Some(reference::check(session.outputs(), &got, &expected, output)?);
    }

    let model = spec.model.display().to_string();
    let params = session.info().parameters;
    // The report so far: written after every batch size (partial) and at the end (with the
    // speed-ups and the device memory read after inference).
    let report = |mut rows: Vec<BenchRow>,
                  failed_rows: Vec<FailedRow>,
                  first_inference_ms: Option<f64>,
                  cuda_memory: Option<CudaMemoryReport>,
                  device_memory: Option<DeviceMemory>| {
        fill_speedups(&mut rows);
        let peak_rss = memory::rss().map(|r| r.peak);
        BenchReport {
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
            peak_rss,
            max_abs_diff: checked.map(|c| c.max_abs_diff),
            max_rel_diff: checked.map(|c| c.max_rel_diff),
            top1_agreement: checked.and_then(|c| c.top1_agreement),
            reference: spec.reference.as_ref().map(|(_, o)| o.display().to_string()),
            rows,
            failed_rows,
            rss_load_increase: rss_after_load.zip(rss_before_load).map(|(a, b)| a.saturating_sub(b)),
            rss_inference_increase: peak_rss.zip(rss_after_load).map(|(p, a)| p.saturating_sub(a)),
            memory_method: Some(memory::RSS_METHOD.into()),
            cuda_memory,
            device_memory,
        }
    };
    // Every row's shapes are checked before the first is timed: a missing size fails at once.
    let plan = spec.workload.plan(&spec.model, session.as_ref())?;
    let feedback = match spec.workload.feedback.as_slice() {
        [] => None,
        pairs => Some(Feedback::resolve(pairs, session.info())?),
    };
    let points = spec.workload.points();
    let batch_sizes = if spec.batch_sizes.is_empty() { vec![plan.default_batch()] } else { spec.batch_sizes.clone() };
    plan.check(&batch_sizes, &points)?;
    let mut unfit = unfit_rows(&plan, &points, &batch_sizes)?.into_iter();
    // The energy counters are found once; each row's timed phase is watched on its own.
    let host = Host::open(spec.host.clone());
    let mut rows = Vec::new();
    let mut failed_rows = Vec::new();
    for point in &points {
        for &batch in &batch_sizes {
            if let Some(failed) = unfit.next().flatten() {
                failed_rows.push(failed);
                on_row(&report(rows.clone(), failed_rows.clone(), first_inference_ms, None, None))?;
                continue;
            }
            let t = Instant::now();
            let mut built = plan.build(batch, point)?;
            if let Some(f) = &feedback {
                f.initial(&mut built)?;
            }
            let input_prep_ms = t.elapsed().as_secs_f64() * 1e3;
            let failed = |e: Error| plan.context(e);
            let dims = if built.dims.is_empty() {
                String::new()
            } else {
                let d: Vec<String> = built.dims.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!(" {}", d.join(" "))
            };
            let pb = progress_bar(&format!("{} {device} batch {batch}{dims}", backend.name()), &spec.config);
            let mut watch = host.watch(device);
            let mut call = Call { session: session.as_mut(), feedback: feedback.as_ref(), config: &spec.config };
            let timing = call.time(&mut built.tensors, &mut first_inference_ms, &pb, &mut watch);
            pb.finish_and_clear();
            let timing = timing.map_err(failed)?;
            let src = RowSource {
                model: &model,
                backend: backend.name(),
                device,
                batch_size: batch,
                environment: &environment,
                resamples: DEFAULT_RESAMPLES,
                seed: SEED,
            };
            let mut row = timed_row(&src, timing)?;
            row.input_prep_ms = Some(input_prep_ms);
            row.device_memory = session.device_memory();
            row.dims = built.dims;
            row.inputs = built.used;
            row.observe(watch.finish());
            rows.push(row);
            on_row(&report(rows.clone(), failed_rows.clone(), first_inference_ms, None, None))?;
        }
    }
    cuda.after_inference();
    Ok(report(rows, failed_rows, first_inference_ms, cuda.report(), session.device_memory()))
}

/// One row's calls: the session, the state carried if any, the timing.
struct Call<'a> {
    session: &'a mut dyn Session,
    feedback: Option<&'a Feedback>,
    config: &'a BenchConfig,
}

impl Call<'_> {
    /// The first inference of the measurement when there was none yet (timed into
    /// `first_inference_ms`), then the row's timed phase; with feedback, every call's state is
    /// fed into the next, the first inference's included.
    fn time(
        &mut self,
        inputs: &mut Vec<Tensor>,
        first_inference_ms: &mut Option<f64>,
        pb: &ProgressBar,
        watch: &mut dyn PhaseWatch,
    ) -> Result<Timing> {
        if first_inference_ms.is_none() {
            let t = Instant::now();
            let outputs = self.session.run(inputs)?;
            self.session.synchronize()?;
            *first_inference_ms = Some(t.elapsed().as_secs_f64() * 1e3);
            if let Some(f) = self.feedback {
                f.feed(outputs, inputs)?;
            }
        }
        match self.feedback {
            Some(f) => time_session_fed(self.session, inputs, f, self.config, pb, watch),
            None => time_session_watched(self.session, inputs, self.config, pb, watch),
        }
    }
}

/// A measured row from its timing: the statistics of its samples, the trust warnings, warm-up,
/// convergence, stages and device time (the caller adds its inputs, memory and host evidence).
fn timed_row(src: &RowSource, timing: Timing) -> Result<BenchRow> {
    let mut row = BenchRow::from_samples(src, timing.samples_ms.clone())?;
    row.warnings = trust_warnings(row.iterations, row.cov);
    if timing.warmup_settled == Some(false) {
        row.warnings.push(format!(
            "warm-up did not settle within {} iterations: the first timed iterations may still be warming up",
            timing.warmup_iterations
        ));
    }
    if let Some(w) = timing.convergence.as_ref().and_then(Convergence::warning) {
        row.warnings.push(w);
    }
    row.convergence = timing.convergence;
    row.warmup_iterations = Some(timing.warmup_iterations);
    row.warmup_settled = timing.warmup_settled;
    row.stages_ms = summarize_stages(&timing.stages);
    row.device_time = DeviceTime::from_samples(timing.device_ms.clone())?;
    row.timed_unix_s = vec![timing.unix_span_s];
    Ok(row)
}

/// Per (point, batch size) row in measuring order, the error row of one whose inputs need more
/// memory than is available ([`crate::workload::Plan::fits`]), found before anything is
/// allocated: such a row is not measured.
///
/// # Errors
/// The first row's error when no row fits.
fn unfit_rows(plan: &Plan, points: &[DimPoint], batch_sizes: &[usize]) -> Result<Vec<Option<FailedRow>>> {
    let mut out = Vec::new();
    let mut first = None;
    for point in points {
        for &batch in batch_sizes {
            match plan.fits(&[batch], point) {
                Ok(()) => out.push(None),
                Err(e) => {
                    let dims = plan.row_dims(batch, point)?;
                    out.push(Some(FailedRow { batch_size: batch, dims, error: e.to_string() }));
                    first.get_or_insert(e);
                }
            }
        }
    }
    match first {
        Some(e) if out.iter().all(Option::is_some) => Err(e),
        _ => Ok(out),
    }
}

/// Sets each row's `speedup_vs_batch1`: its throughput over that of the batch-1 row with the
/// same dimension sizes, when there is one.
pub fn fill_speedups(rows: &mut [BenchRow]) {
    let bases: Vec<Option<f64>> = rows
        .iter()
        .map(|r| rows.iter().find(|b| b.batch_size == 1 && b.dims == r.dims).map(|b| b.throughput_per_s))
        .collect();
    for (r, base) in rows.iter_mut().zip(bases) {
        r.speedup_vs_batch1 = base.filter(|&b| b > 0.0).map(|b| r.throughput_per_s / b);
    }
}

/// CUDA device memory read from the driver at three moments (only when the device is CUDA).
struct CudaProbe {
    ordinal: Option<usize>,
    report: CudaMemoryReport,
    error: Option<String>,
}

impl CudaProbe {
    fn new(ordinal: Option<usize>) -> Self {
        Self {
            ordinal,
            report: CudaMemoryReport { method: memory::CUDA_METHOD.into(), ..Default::default() },
            error: None,
        }
    }

    fn read(&mut self) -> Option<u64> {
        let ordinal = self.ordinal?;
        if self.error.is_some() {
            return None;
        }
        match memory::cuda_mem_info(ordinal) {
            Ok(info) => {
                self.report.total = Some(info.total);
                Some(info.used())
            }
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }

    fn before_load(&mut self) {
        self.report.used_before_load = self.read();
    }

    fn after_load(&mut self) {
        self.report.used_after_load = self.read();
    }

    fn after_inference(&mut self) {
        self.report.used_after_inference = self.read();
    }

    fn report(self) -> Option<CudaMemoryReport> {
        self.ordinal?;
        let mut report = self.report;
        if let Some(e) = self.error {
            report.method = format!("unavailable: {e}");
        }
        Some(report)
    }
}

/// Seed of the bootstrap resampling, fixed so reports are reproducible (the stop on confidence
/// resamples with the same one).
pub const SEED: u64 = crate::confidence::SEED;
/// Above this coefficient of variation a run is flagged unstable.
pub const UNSTABLE_COV: f64 = 0.10;
/// Fewer samples than this make p99 little more than the maximum.
pub const MIN_SAMPLES_FOR_P99: usize = 100;

/// Warnings about how far `samples` timed calls with coefficient of variation `cov` can be
/// trusted.
#[must_use]
pub fn trust_warnings(samples: usize, cov: f64) -> Vec<String> {
    let mut w = Vec::new();
    if cov > UNSTABLE_COV {
        w.push(format!(
            "unstable: coefficient of variation {:.0}% exceeds {:.0}% (other load on the machine? too little warm-up?)",
            cov * 100.0,
            UNSTABLE_COV * 100.0
        ));
    }
    if samples < MIN_SAMPLES_FOR_P99 {
        w.push(format!("p99 from {samples} samples is unreliable: use at least {MIN_SAMPLES_FOR_P99} iterations"));
    }
    w
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::stats::Sample;

    use super::*;

    fn row(batch: usize, throughput: f64) -> BenchRow {
        let sample = Sample::new(vec![1.0, 2.0]).unwrap();
        BenchRow {
            model: "m".into(),
            backend: "b".into(),
            device: Device::Cpu,
            batch_size: batch,
            latency_ms: sample.summary(),
            median_ci_ms: None,
            p99_ci_ms: None,
            cov: 0.0,
            warnings: Vec::new(),
            throughput_per_s: throughput,
            per_item_ms: 0.0,
            iterations: 2,
            environment: Environment::capture(0),
            samples_ms: vec![1.0, 2.0],
            warmup_iterations: None,
            warmup_settled: None,
            input_prep_ms: None,
            stages_ms: None,
            speedup_vs_batch1: None,
            round_medians_ms: None,
            round_iterations: None,
            convergence: None,
            dims: std::collections::BTreeMap::new(),
            inputs: Vec::new(),
            device_time: None,
            device_memory: None,
            timed_unix_s: Vec::new(),
            host: None,
            host_rounds: Vec::new(),
            disturbed: Vec::new(),
            energy: None,
        }
    }

    #[test]
    fn speedups_are_throughput_ratios_to_batch_one() {
        let mut rows = vec![row(4, 300.0), row(1, 100.0), row(8, 350.0)];
        fill_speedups(&mut rows);
        let got: Vec<_> = rows.iter().map(|r| r.speedup_vs_batch1).collect();
        assert_eq!(got, [Some(3.0), Some(1.0), Some(3.5)]);
        let mut rows = vec![row(4, 300.0)];
        fill_speedups(&mut rows);
        assert_eq!(rows[0].speedup_vs_batch1, None, "no batch 1, no speed-up");
    }

    #[test]
    fn cuda_probe_reports_why_it_has_no_figures() {
        let mut cpu = CudaProbe::new(None);
        cpu.before_load();
        assert!(cpu.report().is_none(), "no CUDA figures on the CPU");
        let mut probe = CudaProbe::new(Some(4096));
        probe.before_load();
        probe.after_load();
        let r = probe.report().unwrap();
        assert_eq!(r.used_after_load, None);
        assert!(r.method.starts_with("unavailable: "), "{}", r.method);
    }

    #[test]
    fn warns_about_unstable_and_short_runs() {
        let steady = Sample::new((0..200).map(|i| 10.0 + f64::from(i % 3) * 0.01).collect()).unwrap();
        assert!(trust_warnings(steady.count(), steady.coefficient_of_variation()).is_empty());
        let noisy = Sample::new((0..200).map(|i| if i % 2 == 0 { 5.0 } else { 15.0 }).collect()).unwrap();
        let w = trust_warnings(noisy.count(), noisy.coefficient_of_variation());
        assert_eq!(w.len(), 1);
        assert!(w[0].starts_with("unstable: coefficient of variation 50%"), "{w:?}");
        let w = trust_warnings(20, 0.0);
        assert_eq!(w, ["p99 from 20 samples is unreliable: use at least 100 iterations"]);
    }
}
