#![allow(clippy::unwrap_used)]

use std::{
    path::{Path, PathBuf},
    sync::{Arc, atomic::AtomicU64},
};

use indicatif::ProgressBar;
use infer_core::{Session, SessionInfo, Tensor};

use super::{background::BackgroundWatch, background::Counted, *};
use crate::timing::{BenchConfig, Stop, Warmup, time_session_watched};

/// A simulated host: one RAPL package at `energy_uj`, and the real `/proc` for the sampler.
fn simulated_host(root: &Path) -> PathBuf {
    let zone = root.join("sys/class/powercap/intel-rapl:0");
    std::fs::create_dir_all(&zone).unwrap();
    std::fs::write(zone.join("name"), "package-0\n").unwrap();
    std::fs::write(zone.join("max_energy_range_uj"), "262143328850\n").unwrap();
    std::fs::write(zone.join("energy_uj"), "1000000\n").unwrap();
    std::os::unix::fs::symlink("/proc", root.join("proc")).unwrap();
    zone.join("energy_uj")
}

/// A session whose every call "uses" `uj` microjoules on the simulated counter, in `ms`.
struct Burning {
    info: SessionInfo,
    counter: PathBuf,
    uj: u64,
    ms: u64,
}

impl Session for Burning {
    fn info(&self) -> &SessionInfo {
        &self.info
    }
    fn run(&mut self, inputs: &[Tensor]) -> infer_core::Result<Vec<Tensor>> {
        std::thread::sleep(Duration::from_millis(self.ms));
        let now: u64 = std::fs::read_to_string(&self.counter).unwrap().trim().parse().unwrap();
        // Whole, then renamed: a reader never sees half a number (as sysfs guarantees).
        let next = self.counter.with_extension("new");
        std::fs::write(&next, format!("{}\n", now + self.uj)).unwrap();
        std::fs::rename(&next, &self.counter).unwrap();
        Ok(inputs.to_vec())
    }
}

fn options(root: &Path) -> HostOptions {
    HostOptions {
        root: root.to_path_buf(),
        gpu: GpuSource::Off,
        period: Duration::from_millis(20),
        energy_window: Duration::from_millis(20),
        ..HostOptions::default()
    }
}

fn timed(host: &Host, device: Device, stop: Stop, session: &mut dyn Session) -> Observed {
    let x = Tensor::from_vec(vec![1], vec![1.0f32]).unwrap();
    let mut watch = host.watch(device);
    let config = BenchConfig { warmup: Warmup::Count(1), stop };
    let t = time_session_watched(session, std::slice::from_ref(&x), &config, &ProgressBar::hidden(), &mut watch);
    t.unwrap();
    watch.finish()
}

#[test]
fn a_simulated_powercap_gives_joules_per_inference() {
    let dir = tempfile::tempdir().unwrap();
    let counter = simulated_host(dir.path());
    let host = Host::open(options(dir.path()));
    let mut session = Burning { info: SessionInfo::new(Vec::new(), Vec::new(), Device::Cpu), counter, uj: 2500, ms: 2 };
    let seen = timed(&host, Device::Cpu, Stop::Duration(Duration::from_millis(250)), &mut session);
    assert!(seen.problems.is_empty(), "{:?}", seen.problems);
    let energy = seen.energy.unwrap();
    let j = energy.joules_per_inference.available().unwrap_or_else(|| panic!("{energy}"));
    // Every call added exactly 2.5 mJ and nothing else did: the figure is exact, its interval
    // of zero width, whatever the windows.
    assert!((j.point - 0.0025).abs() < 1e-12, "{energy}");
    assert!((j.upper - j.lower).abs() < 1e-9, "{energy}");
    assert!(j.windows >= 2 && energy.windows.len() == j.windows, "{energy}");
    assert_eq!(j.inferences, energy.windows.iter().map(|w| w.inferences).sum::<u64>());
    assert!(energy.windows.iter().all(|w| w.duration_s >= 0.01), "{:?}", energy.windows);
    assert_eq!((energy.source.as_str(), energy.domains.as_slice()), ("RAPL", &["package-0".to_string()][..]));
    assert!(energy.to_string().starts_with("energy: 0.00250 J/inference (95% CI 0.00250–0.00250, "), "{energy}");
    assert!(energy.to_string().ends_with(" from RAPL package-0"), "{energy}");
    // The sampler ran over the same phase, on the real /proc.
    let evidence = seen.host.unwrap();
    assert!(evidence.samples >= 2 && evidence.duration_s >= 0.25, "{evidence}");
    assert!(evidence.cpu.is_available(), "{evidence}");
    assert_eq!(evidence.gpus.reason(), Some("GPU sampling turned off"), "a CPU row looks at no GPU");
}

#[test]
fn no_counter_says_why_and_never_zero() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/proc", dir.path().join("proc")).unwrap();
    let host = Host::open(options(dir.path()));
    let mut session = Burning {
        info: SessionInfo::new(Vec::new(), Vec::new(), Device::Cpu),
        counter: dir.path().join("unused"),
        uj: 0,
        ms: 0,
    };
    std::fs::write(&session.counter, "0").unwrap();
    let seen = timed(&host, Device::Cpu, Stop::Iterations(5), &mut session);
    let energy = seen.energy.unwrap();
    let line = energy.to_string();
    assert!(line.starts_with("energy: not available here (no ") && line.contains("sys/class/powercap"), "{line}");
    let json = serde_json::to_string(&energy).unwrap();
    assert!(json.contains("not_available") && !json.contains("\"point\""), "{json}");
    assert!(seen.host.is_some());
    // A GPU row needs its GPU's counter.
    let seen = timed(&host, Device::Cuda(0), Stop::Iterations(2), &mut session);
    let reason = seen.energy.unwrap().joules_per_inference.reason().unwrap().to_string();
    assert!(reason.starts_with("no NVML energy counter for gpu0: "), "{reason}");
    // Off: neither figure.
    let seen = timed(&Host::open(HostOptions::off()), Device::Cpu, Stop::Iterations(2), &mut session);
    assert_eq!(seen, Observed::default());
}

#[test]
fn a_row_shorter_than_two_windows_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let counter = simulated_host(dir.path());
    let host = Host::open(HostOptions { energy_window: Duration::from_secs(10), ..options(dir.path()) });
    let mut session = Burning { info: SessionInfo::new(Vec::new(), Vec::new(), Device::Cpu), counter, uj: 10, ms: 1 };
    let seen = timed(&host, Device::Cpu, Stop::Iterations(5), &mut session);
    let energy = seen.energy.unwrap();
    let reason = energy.joules_per_inference.reason().unwrap();
    assert!(reason.starts_with("row too short for the counter: 0.0"), "{reason}");
    assert!(reason.contains("RAPL's counter needs that long"), "{reason}");
    // One call of at least 12 ms with windows of 10 ms: one window, still no interval.
    let host = Host::open(HostOptions { energy_window: Duration::from_millis(10), ..options(dir.path()) });
    session.ms = 12;
    let seen = timed(&host, Device::Cpu, Stop::Iterations(1), &mut session);
    let energy = seen.energy.unwrap();
    assert_eq!(energy.windows.len(), 1, "{energy:?}");
    assert_eq!(energy.windows[0].inferences, 1);
    assert!(energy.to_string().contains("gave 1 window(s) of at least 0.01 s"), "{energy}");
}

#[test]
fn a_background_watch_counts_calls_from_other_threads() {
    let dir = tempfile::tempdir().unwrap();
    let counter = simulated_host(dir.path());
    let host = Host::open(options(dir.path()));
    let calls = Arc::new(AtomicU64::new(0));
    let watch = BackgroundWatch::start(host.watch(Device::Cpu), Arc::clone(&calls));
    let x = Tensor::from_vec(vec![1], vec![1.0f32]).unwrap();
    // Two "workers" sharing one counter file would race on it: one worker burns, one idles.
    let inner = Burning { info: SessionInfo::new(Vec::new(), Vec::new(), Device::Cpu), counter, uj: 1000, ms: 3 };
    let mut session = Counted::new(Box::new(inner), Arc::clone(&calls));
    let until = Instant::now() + Duration::from_millis(200);
    while Instant::now() < until {
        session.run(std::slice::from_ref(&x)).unwrap();
    }
    let n = watch.calls();
    let seen = watch.finish();
    let energy = seen.energy.unwrap();
    let j = energy.joules_per_inference.available().unwrap_or_else(|| panic!("{energy}"));
    assert_eq!(j.inferences, n, "every call in some window");
    assert!((j.point - 0.001).abs() < 1e-9, "{energy}");
    assert!(seen.host.unwrap().samples >= 2);
}

#[test]
fn pooled_evidence_is_disturbed_when_any_round_was() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/proc", dir.path().join("proc")).unwrap();
    let sampler = infer_host::Sampler::start(infer_host::SamplerOptions {
        root: dir.path().to_path_buf(),
        gpu: GpuSource::Off,
        ..infer_host::SamplerOptions::default()
    })
    .unwrap();
    let mut quiet = sampler.stop().unwrap();
    quiet.disturbed.clear();
    let mut busy = quiet.clone();
    busy.disturbed = vec!["steal time 4.1 % of CPU time (threshold 2 %)".into()];
    let one = pool_evidence(Some(&busy), &[], None);
    assert_eq!(one.disturbed, busy.disturbed, "one round: no round prefix");
    assert!(one.host_rounds.is_empty());
    let two = pool_evidence(Some(&quiet), &[], Some(&busy));
    assert_eq!(two.disturbed, ["round 2: steal time 4.1 % of CPU time (threshold 2 %)"]);
    assert_eq!(two.host.as_ref(), Some(&busy), "the row shows its most disturbed round");
    assert_eq!(two.host_rounds, [quiet.clone(), busy.clone()]);
    let three = pool_evidence(two.host.as_ref(), &two.host_rounds, Some(&quiet));
    assert_eq!(three.host_rounds.len(), 3);
    assert_eq!(three.disturbed.len(), 1);
    assert_eq!(
        disturbed_warnings(&three.disturbed),
        ["disturbed: round 2: steal time 4.1 % of CPU time (threshold 2 %)"]
    );
    let none = pool_evidence(None, &[], Some(&quiet));
    assert!(none.disturbed.is_empty() && none.host.is_some());
}

#[test]
fn options_from_the_environment_are_for_tests() {
    // Read, not set: the variables are the process's (other tests run beside this one).
    let o = HostOptions::from_env();
    if std::env::var_os(ROOT_VAR).is_none() {
        assert_eq!(o.root, PathBuf::from("/"));
    }
    assert!(!HostOptions::off().enabled);
    assert_eq!(HostOptions::default().energy_window, DEFAULT_ENERGY_WINDOW);
}
