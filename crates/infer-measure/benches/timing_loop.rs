//! The cost of infer's timing loop itself: `timing::time_session` driving a session whose `run`
//! does nothing, per iteration (two clock reads, `run_staged`, `synchronize`, a push). This is
//! the floor under every latency `infer bench` reports.
//!
//! And what watching the host adds (`timing::time_session_watched` with an
//! `infer_measure::host::HostWatch`, as `infer bench` runs every row): on the no-op loop, the
//! sampler's start and stop and a clock read per call; on a loop of 100 µs calls (0.1 s per
//! 1000), the sampler reading every 10 ms and the energy counters (a simulated powercap tree)
//! read every 10 ms between calls, twenty times more often than the defaults.
//!
//! `cargo bench -p infer-measure --bench timing_loop` (or `cargo xtask bench`).
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use indicatif::ProgressBar;
use infer_core::{Device, Result, Session, SessionInfo, Tensor};
use infer_measure::{
    host::{GpuSource, Host, HostOptions},
    timing::{BenchConfig, Stop, Warmup, time_session, time_session_watched},
};

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

/// Spins for 100 µs per call: a model call short enough that the host watch would show.
struct Spin(SessionInfo);

impl Session for Spin {
    fn info(&self) -> &SessionInfo {
        &self.0
    }
    fn run(&mut self, _inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let until = std::time::Instant::now() + std::time::Duration::from_micros(100);
        while std::time::Instant::now() < until {
            std::hint::spin_loop();
        }
        Ok(Vec::new())
    }
}

const ITERATIONS: usize = 1000;

/// A host watched as `infer bench` watches it, but every 10 ms: the real `/proc` for the
/// sampler, and a simulated RAPL package (this VM has none) for the energy counters.
fn host(root: &std::path::Path) -> Host {
    let zone = root.join("sys/class/powercap/intel-rapl:0");
    std::fs::create_dir_all(&zone).unwrap();
    std::fs::write(zone.join("name"), "package-0\n").unwrap();
    std::fs::write(zone.join("energy_uj"), "1000\n").unwrap();
    std::os::unix::fs::symlink("/proc", root.join("proc")).unwrap();
    Host::open(HostOptions {
        root: root.to_path_buf(),
        gpu: GpuSource::Off,
        period: std::time::Duration::from_millis(10),
        energy_window: std::time::Duration::from_millis(10),
        ..HostOptions::default()
    })
}

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
    let dir = tempfile::tempdir().unwrap();
    let host = host(dir.path());
    group.bench_function("time_session_watched_per_1000_iterations", |b| {
        b.iter(|| {
            let mut watch = host.watch(Device::Cpu);
            let mut s = Noop(SessionInfo::new(Vec::new(), Vec::new(), Device::Cpu));
            let t = time_session_watched(&mut s, &[], &config, &pb, &mut watch).unwrap();
            black_box((t.samples_ms.len(), watch.finish()))
        });
    });
    group.bench_function("spin_100us_per_1000_iterations", |b| {
        b.iter(|| {
            let mut s = Spin(SessionInfo::new(Vec::new(), Vec::new(), Device::Cpu));
            black_box(time_session(&mut s, &[], &config, &pb).unwrap().samples_ms.len())
        });
    });
    group.bench_function("spin_100us_watched_per_1000_iterations", |b| {
        b.iter(|| {
            let mut watch = host.watch(Device::Cpu);
            let mut s = Spin(SessionInfo::new(Vec::new(), Vec::new(), Device::Cpu));
            let t = time_session_watched(&mut s, &[], &config, &pb, &mut watch).unwrap();
            black_box((t.samples_ms.len(), watch.finish()))
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
