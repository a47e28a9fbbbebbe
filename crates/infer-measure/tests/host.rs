//! The host watched during a real measurement: the tiny committed CNN on ONNX Runtime, on a
//! simulated powercap tree whose counter a thread advances (50 W), with the real `/proc` for the
//! sampler. Every row carries its evidence and an energy figure; rounds pool both.
#![allow(clippy::unwrap_used)]

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use infer_core::Backend;
use infer_measure::{
    host::{GpuSource, HostOptions},
    measure::{MeasureSpec, measure},
    rounds::pool,
    timing::{BenchConfig, Stop, Warmup},
};

fn tiny_cnn() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/tiny/tiny_cnn.onnx")
}

/// A powercap tree with one package whose counter rises by 50 µJ every millisecond (50 W) until
/// the returned flag is set, and `proc` pointing at the real one.
fn powered_host(root: &Path) -> Arc<AtomicBool> {
    let zone = root.join("sys/class/powercap/intel-rapl:0");
    std::fs::create_dir_all(&zone).unwrap();
    std::fs::write(zone.join("name"), "package-0\n").unwrap();
    std::fs::write(zone.join("max_energy_range_uj"), "262143328850\n").unwrap();
    std::fs::write(zone.join("energy_uj"), "0\n").unwrap();
    std::os::unix::fs::symlink("/proc", root.join("proc")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    std::thread::spawn(move || {
        let started = std::time::Instant::now();
        while !flag.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(1));
            // Energy from the elapsed time, so a late wake-up adds what the watts used.
            let uj = started.elapsed().as_micros() * 50;
            std::fs::write(zone.join("energy_uj.new"), format!("{uj}\n")).unwrap();
            std::fs::rename(zone.join("energy_uj.new"), zone.join("energy_uj")).unwrap();
        }
    });
    stop
}

#[test]
fn every_row_carries_the_hosts_evidence_and_energy() {
    let backend = infer_onnx::OnnxBackend;
    if let Err(e) = backend.probe() {
        infer_conformance::skip("every_row_carries_the_hosts_evidence_and_energy", &format!("ONNX Runtime: {e}"));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let stop = powered_host(dir.path());
    let spec = MeasureSpec {
        model: tiny_cnn(),
        batch_sizes: vec![1, 4],
        config: BenchConfig { warmup: Warmup::Count(2), stop: Stop::Duration(Duration::from_millis(300)) },
        host: HostOptions {
            root: dir.path().to_path_buf(),
            gpu: GpuSource::Off,
            energy_window: Duration::from_millis(50),
            ..HostOptions::default()
        },
        ..MeasureSpec::default()
    };
    let mut report = measure(&backend, &spec).unwrap();
    for row in &report.rows {
        let host = row.host.as_ref().unwrap();
        assert!(host.samples >= 2 && host.duration_s >= 0.3, "{host}");
        assert!(host.cpu.is_available(), "{host}");
        assert_eq!(row.disturbed, host.disturbed);
        for reason in &row.disturbed {
            assert!(row.warnings.contains(&format!("disturbed: {reason}")), "{:?}", row.warnings);
        }
        let energy = row.energy.as_ref().unwrap();
        let j = energy.joules_per_inference.available().unwrap_or_else(|| panic!("{energy}"));
        // 50 W over calls of well under 50 ms: a positive figure below 2.5 J, from 2 windows on.
        assert!(j.point > 0.0 && j.point < 2.5 && j.windows >= 2, "{energy}");
        assert!(j.lower <= j.point && j.point <= j.upper, "{energy}");
        assert_eq!(j.inferences, u64::try_from(row.iterations).unwrap(), "every timed call in a window");
        assert_eq!(energy.counters(), "RAPL package-0");
    }
    // A second round pools the evidence and the windows.
    let next = measure(&backend, &spec).unwrap();
    let windows =
        report.rows[0].energy.as_ref().unwrap().windows.len() + next.rows[0].energy.as_ref().unwrap().windows.len();
    pool(&mut report, next).unwrap();
    stop.store(true, Ordering::Relaxed);
    let row = &report.rows[0];
    assert_eq!(row.host_rounds.len(), 2);
    assert_eq!(row.energy.as_ref().unwrap().windows.len(), windows);
    assert!(row.energy.as_ref().unwrap().is_available());
}
