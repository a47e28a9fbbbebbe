//! The cost of infer's timing loop itself: `timing::time_session` driving a session whose `run`
//! does nothing, per iteration (two clock reads, `run_staged`, `synchronize`, a push). This is
//! the floor under every latency `infer bench` reports.
//!
//! `cargo bench -p infer-measure --bench timing_loop` (or `cargo xtask bench`).
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use indicatif::ProgressBar;
use infer_core::{Device, Result, Session, SessionInfo, Tensor};
use infer_measure::timing::{BenchConfig, Stop, Warmup, time_session};

/// Returns no output: only the loop is measured.
struct Noop(SessionInfo);

impl Session for Noop {
    fn info(&self) -> &SessionInfo {
        &self.0
    }
    fn run(&mut self, _inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        Ok(Vec::new())
    }
}

const ITERATIONS: usize = 1000;

fn timing_loop(c: &mut Criterion) {
    let mut group = c.benchmark_group("harness");
    group.throughput(Throughput::Elements(ITERATIONS as u64));
    let config = BenchConfig { warmup: Warmup::Count(0), stop: Stop::Iterations(ITERATIONS) };
    let pb = ProgressBar::hidden();
    group.bench_function("time_session_per_1000_iterations", |b| {
        b.iter(|| {
            black_box(
                time_session(&mut Noop(SessionInfo::new(Vec::new(), Vec::new(), Device::Cpu)), &[], &config, &pb)
                    .unwrap()
                    .samples_ms
                    .len(),
            )
        });
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = timing_loop
}
criterion_main!(benches);
