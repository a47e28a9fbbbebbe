//! Energy over windows of a measurement, where the host exposes it: RAPL for the CPU packages
//! and their memory ([`crate::rapl`]), NVML's energy counter for each GPU ([`crate::gpu`]); and
//! joules per inference with a 95 % interval from several windows ([`joules_per_inference`]).
//!
//! An [`EnergyMeter`] reads every counter at once ([`EnergyMeter::mark`]); two marks give an
//! [`EnergyWindow`]: joules per domain. Consecutive windows can share their marks, so none of
//! the measurement falls between them.
//!
//! **Window length.** A counter is only as fresh as its last update: RAPL's about every
//! millisecond, NVML's energy about every 100 ms or more, so each end of a window can be off by
//! up to one update period. A window must last at least ten update periods
//! ([`EnergySource::min_window`]: 10 ms for RAPL, 1 s for NVML), which bounds that error to about
//! a tenth; a shorter window gives "not available" for that domain with the reason, not a figure.
//! A RAPL window must also be shorter than one wrap of the counter (minutes, see
//! [`crate::rapl::energy_delta_uj`]).
//!
//! Where there is no counter, every figure is [`Probe::NotAvailable`] and
//! [`EnergyAvailability`] prints `energy: not available here (no /sys/class/powercap, no NVML
//! (…))`: never a zero.

use std::{
    fmt,
    path::Path,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use crate::{
    Error, Probe, Result,
    gpu::{GpuSource, Gpus},
    rapl::{self, RaplZone},
};

/// Where an energy figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnergySource {
    /// Linux powercap's RAPL counters (microjoules, updated about every millisecond).
    Rapl,
    /// NVML's total energy counter of a GPU (millijoules, updated about every 100 ms or more).
    Nvml,
}

impl EnergySource {
    /// How often the counter is updated, about.
    #[must_use]
    pub fn update_period(self) -> Duration {
        match self {
            Self::Rapl => Duration::from_millis(1),
            Self::Nvml => Duration::from_millis(100),
        }
    }

    /// The shortest window this source's figures are given for: ten update periods.
    #[must_use]
    pub fn min_window(self) -> Duration {
        self.update_period() * 10
    }

    /// The source's name in reports.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Rapl => "RAPL",
            Self::Nvml => "NVML",
        }
    }
}

/// Something whose energy is counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnergyDomain {
    /// `package-0`, `package-0:dram`, `psys`, `gpu0`.
    pub name: String,
    /// Where the figure comes from.
    pub source: EnergySource,
    /// Whether a total adds it (packages, `dram` and GPUs; not the zones inside or around a
    /// package, see [`crate::rapl`]).
    pub counts_in_total: bool,
}

enum Counter {
    /// Microjoules.
    Rapl(RaplZone),
    /// Millijoules of the GPU with this NVML index.
    Nvml(u32),
}

/// Every energy counter of the host, found once.
pub struct EnergyMeter {
    domains: Vec<EnergyDomain>,
    counters: Vec<Counter>,
    gpus: Option<Gpus>,
    unavailable: Vec<String>,
}

impl fmt::Debug for EnergyMeter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnergyMeter")
            .field("domains", &self.domains)
            .field("unavailable", &self.unavailable)
            .finish_non_exhaustive()
    }
}

/// The readings of every counter at one instant (see [`EnergyMeter::mark`]).
#[derive(Debug, Clone)]
pub struct EnergyMark {
    at: Instant,
    /// Per counter, in its own unit, or why it could not be read.
    readings: Vec<std::result::Result<u64, String>>,
}

/// Joules per domain over one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergyWindow {
    /// The window's length, seconds.
    pub duration_s: f64,
    /// One entry per domain of the meter, in its order.
    pub domains: Vec<DomainJoules>,
}

/// One domain's energy over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainJoules {
    /// The domain's name ([`EnergyDomain::name`]).
    pub name: String,
    /// Where the figure comes from.
    pub source: EnergySource,
    /// Whether [`EnergyWindow::total_joules`] adds it.
    pub counts_in_total: bool,
    /// Joules, or why there is no figure (window too short, counter unreadable or reset).
    pub joules: Probe<f64>,
}

/// Which energy counters a host has, and why the others are missing; its `Display` is the line
/// every report prints, `energy: not available here (reason)` when there is none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnergyAvailability {
    /// The domains that can be measured.
    pub domains: Vec<EnergyDomain>,
    /// Why the rest cannot: "no /sys/class/powercap", "no NVML (…)", a zone readable by root only.
    pub unavailable: Vec<String>,
}

impl EnergyMeter {
    /// Finds RAPL zones under `root` (`/` on a real host) and GPUs with an energy counter
    /// through `gpu`. Never fails: what is missing is kept as a reason
    /// ([`EnergyMeter::availability`]).
    #[must_use]
    pub fn open(root: &Path, gpu: &GpuSource) -> Self {
        let found = rapl::discover(root);
        let mut unavailable = found.unavailable;
        let mut domains = Vec::new();
        let mut counters = Vec::new();
        for zone in found.zones {
            domains.push(EnergyDomain {
                name: zone.name.clone(),
                source: EnergySource::Rapl,
                counts_in_total: zone.counts_in_total,
            });
            counters.push(Counter::Rapl(zone));
        }
        let gpus = match Gpus::open(gpu) {
            Ok(gpus) => {
                for d in gpus.devices() {
                    match gpus.energy_mj(d.index) {
                        Ok(_) => {
                            domains.push(EnergyDomain {
                                name: format!("gpu{}", d.index),
                                source: EnergySource::Nvml,
                                counts_in_total: true,
                            });
                            counters.push(Counter::Nvml(d.index));
                        }
                        Err(e) => unavailable.push(format!("gpu{} ({}): {}", d.index, d.name, e.reason())),
                    }
                }
                Some(gpus)
            }
            Err(e) => {
                unavailable.push(e.reason());
                None
            }
        };
        Self { domains, counters, gpus, unavailable }
    }

    /// The domains this meter measures, in the order of every [`EnergyWindow`].
    #[must_use]
    pub fn domains(&self) -> &[EnergyDomain] {
        &self.domains
    }

    /// The shortest window that gives a figure for every domain: the longest of their sources'
    /// [`EnergySource::min_window`] (1 s with a GPU, 10 ms with RAPL alone); `None` without a
    /// domain.
    #[must_use]
    pub fn min_window(&self) -> Option<Duration> {
        self.domains.iter().map(|d| d.source.min_window()).max()
    }

    /// What can be measured here and why the rest cannot.
    #[must_use]
    pub fn availability(&self) -> EnergyAvailability {
        EnergyAvailability { domains: self.domains.clone(), unavailable: self.unavailable.clone() }
    }

    /// Reads every counter now (a few small file reads and NVML calls).
    #[must_use]
    pub fn mark(&self) -> EnergyMark {
        let mut buf = String::new();
        let readings = self
            .counters
            .iter()
            .map(|c| match c {
                Counter::Rapl(zone) => zone.read_uj_with(&mut buf).map_err(|e| e.reason()),
                Counter::Nvml(index) => match &self.gpus {
                    Some(g) => g.energy_mj(*index).map_err(|e| e.reason()),
                    None => Err("NVML closed".into()),
                },
            })
            .collect();
        EnergyMark { at: Instant::now(), readings }
    }

    /// Joules per domain between two marks of this meter.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the marks are not this meter's or `end` is before `start`.
    pub fn window(&self, start: &EnergyMark, end: &EnergyMark) -> Result<EnergyWindow> {
        if start.readings.len() != self.counters.len() || end.readings.len() != self.counters.len() {
            return Err(Error::InvalidInput("energy marks from another meter".into()));
        }
        let duration = end
            .at
            .checked_duration_since(start.at)
            .ok_or_else(|| Error::InvalidInput("energy window ends before it starts".into()))?;
        let domains = self
            .domains
            .iter()
            .zip(&self.counters)
            .zip(start.readings.iter().zip(&end.readings))
            .map(|((domain, counter), (a, b))| DomainJoules {
                name: domain.name.clone(),
                source: domain.source,
                counts_in_total: domain.counts_in_total,
                joules: domain_joules(domain.source, counter, a, b, duration),
            })
            .collect();
        Ok(EnergyWindow { duration_s: duration.as_secs_f64(), domains })
    }
}

/// One domain's joules between two readings, or why not.
fn domain_joules(
    source: EnergySource,
    counter: &Counter,
    start: &std::result::Result<u64, String>,
    end: &std::result::Result<u64, String>,
    duration: Duration,
) -> Probe<f64> {
    let min = source.min_window();
    if duration < min {
        return Probe::NotAvailable(format!(
            "window of {duration:.1?} is shorter than the {min:?} that {} needs (its counter is updated about every {:?})",
            source.label(),
            source.update_period()
        ));
    }
    let (a, b) = match (start, end) {
        (Ok(a), Ok(b)) => (*a, *b),
        (Err(e), _) => return Probe::NotAvailable(format!("counter unreadable at the window's start: {e}")),
        (_, Err(e)) => return Probe::NotAvailable(format!("counter unreadable at the window's end: {e}")),
    };
    #[allow(clippy::cast_precision_loss)] // energies in µJ stay far below 2^52
    match counter {
        Counter::Rapl(zone) => match zone.delta_uj(a, b) {
            Some(uj) => Probe::Available(uj as f64 * 1e-6),
            None => Probe::NotAvailable("counter went down and its range is unknown".into()),
        },
        Counter::Nvml(_) => match b.checked_sub(a) {
            Some(mj) => Probe::Available(mj as f64 * 1e-3),
            None => Probe::NotAvailable("counter went down (driver reloaded?)".into()),
        },
    }
}

impl EnergyWindow {
    /// The joules of one domain, by name.
    #[must_use]
    pub fn joules(&self, name: &str) -> Option<&Probe<f64>> {
        self.domains.iter().find(|d| d.name == name).map(|d| &d.joules)
    }

    /// The host's energy over the window: the domains that count in a total (packages, `dram`,
    /// GPUs) added up; not available when there is no such domain or one of them has no figure
    /// (a partial sum would read as a smaller energy).
    #[must_use]
    pub fn total_joules(&self) -> Probe<f64> {
        let mut total = 0.0;
        let mut any = false;
        for d in self.domains.iter().filter(|d| d.counts_in_total) {
            match &d.joules {
                Probe::Available(j) => {
                    total += j;
                    any = true;
                }
                Probe::NotAvailable(r) => return Probe::NotAvailable(format!("{}: {r}", d.name)),
            }
        }
        if any { Probe::Available(total) } else { Probe::NotAvailable("no energy counter".into()) }
    }
}

impl fmt::Display for EnergyWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "energy over {:.3} s:", self.duration_s)?;
        if self.domains.is_empty() {
            return write!(f, " no counter");
        }
        for (i, d) in self.domains.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            match &d.joules {
                Probe::Available(j) => write!(f, "{sep}{} {j:.3} J", d.name)?,
                missing => write!(f, "{sep}{} {missing}", d.name)?,
            }
        }
        Ok(())
    }
}

impl EnergyAvailability {
    /// Whether at least one domain can be measured.
    #[must_use]
    pub fn is_available(&self) -> bool {
        !self.domains.is_empty()
    }
}

/// `energy: package-0, package-0:dram (RAPL); gpu0 (NVML)`, with `; not available here: …` for
/// the rest, or `energy: not available here (no /sys/class/powercap, no NVML (…))`.
impl fmt::Display for EnergyAvailability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.domains.is_empty() {
            let why =
                if self.unavailable.is_empty() { "no energy counter".into() } else { self.unavailable.join(", ") };
            return write!(f, "energy: not available here ({why})");
        }
        let mut groups = Vec::new();
        for source in [EnergySource::Rapl, EnergySource::Nvml] {
            let names: Vec<&str> =
                self.domains.iter().filter(|d| d.source == source).map(|d| d.name.as_str()).collect();
            if !names.is_empty() {
                groups.push(format!("{} ({})", names.join(", "), source.label()));
            }
        }
        write!(f, "energy: {}", groups.join("; "))?;
        if !self.unavailable.is_empty() {
            write!(f, "; not available here: {}", self.unavailable.join(", "))?;
        }
        Ok(())
    }
}

/// Joules per inference over several windows, with its 95 % confidence interval.
///
/// In JSON the layout of infer's other estimates: `{"point", "lower", "upper", "confidence",
/// "standard_error", …}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct JoulesPerInference {
    /// All the joules divided by all the inferences.
    pub point: f64,
    /// Lower bound of the interval.
    pub lower: f64,
    /// Upper bound of the interval.
    pub upper: f64,
    /// The interval's confidence level (0.95).
    pub confidence: f64,
    /// Standard error of `point` (see [`joules_per_inference`]).
    pub standard_error: f64,
    /// Windows used.
    pub windows: usize,
    /// Inferences in all the windows.
    pub inferences: u64,
}

impl fmt::Display for JoulesPerInference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:.4} J per inference ({:.0} % interval {:.4}–{:.4}, {} windows, {} inferences)",
            self.point,
            self.confidence * 100.0,
            self.lower,
            self.upper,
            self.windows,
            self.inferences
        )
    }
}

/// Joules per inference from `(joules, inferences)` of each window: the ratio estimator
/// `R = Σ joules / Σ inferences`, with the standard error of a ratio of sums (the delta method:
/// with `e_i = joules_i − R · inferences_i`, `SE = sqrt(Σ e_i² / (k − 1) / k) / mean(inferences)`)
/// and the interval `R ± t(0.975, k − 1) · SE`. With the same count in every window it is the
/// Student t interval of the mean of the windows' joules per inference. The windows are taken
/// as independent: use windows long enough that one's noise does not carry into the next (a
/// second or more).
///
/// # Errors
/// [`Error::InvalidInput`] when there are fewer than two windows, a window has no inference, or
/// joules are negative or not finite.
pub fn joules_per_inference(windows: &[(f64, u64)]) -> Result<JoulesPerInference> {
    let k = windows.len();
    if k < 2 {
        return Err(Error::InvalidInput(format!("joules per inference needs at least 2 windows, got {k}")));
    }
    if let Some(i) = windows.iter().position(|&(j, n)| n == 0 || !j.is_finite() || j < 0.0) {
        return Err(Error::InvalidInput(format!(
            "energy window {i} has {} J for {} inferences: finite joules ≥ 0 and at least one inference are needed",
            windows[i].0, windows[i].1
        )));
    }
    let inferences: u64 = windows.iter().map(|w| w.1).sum();
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let (joules, n_sum, kf) = (windows.iter().map(|w| w.0).sum::<f64>(), inferences as f64, k as f64);
    let point = joules / n_sum;
    #[allow(clippy::cast_precision_loss)]
    let squares: f64 = windows.iter().map(|&(j, n)| (j - point * n as f64).powi(2)).sum();
    let standard_error = (squares / (kf - 1.0) / kf).sqrt() / (n_sum / kf);
    let half = t_975(k - 1) * standard_error;
    Ok(JoulesPerInference {
        point,
        lower: point - half,
        upper: point + half,
        confidence: 0.95,
        standard_error,
        windows: k,
        inferences,
    })
}

/// Student's t 0.975 quantile for `df` degrees of freedom: a table up to 30, then the
/// Cornish–Fisher expansion around the normal quantile (within 1e-4 from 30 on).
fn t_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
    if let Some(t) = df.checked_sub(1).and_then(|i| TABLE.get(i)) {
        return *t;
    }
    let z = 1.959_963_984_540_054_f64;
    #[allow(clippy::cast_precision_loss)]
    let v = df.max(1) as f64;
    z + (z.powi(3) + z) / (4.0 * v)
        + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * v * v)
        + (3.0 * z.powi(7) + 19.0 * z.powi(5) + 17.0 * z.powi(3) - 15.0 * z) / (384.0 * v.powi(3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rapl::tests::write_zone;

    fn zone_file(root: &Path, id: &str) -> std::path::PathBuf {
        root.join("sys/class/powercap").join(id).join("energy_uj")
    }

    #[test]
    fn nothing_here_says_so_never_zero() {
        let dir = tempfile::tempdir().unwrap();
        let meter = EnergyMeter::open(dir.path(), &GpuSource::NvmlAt("/nonexistent/libnvidia-ml.so".into()));
        let availability = meter.availability();
        assert!(!availability.is_available());
        assert_eq!(meter.min_window(), None);
        let line = availability.to_string();
        assert!(line.starts_with("energy: not available here (no "), "{line}");
        assert!(line.contains("sys/class/powercap") && line.contains("no NVML"), "{line}");
        let (a, b) = (meter.mark(), meter.mark());
        let w = meter.window(&a, &b).unwrap();
        assert!(w.domains.is_empty());
        assert_eq!(w.total_joules(), Probe::NotAvailable("no energy counter".into()));
        assert!(w.to_string().ends_with("no counter"));
        let json = serde_json::to_string(&w.total_joules()).unwrap();
        assert!(json.contains("not_available") && !json.contains(":0"), "{json}");
    }

    #[test]
    fn this_machine_tells_what_it_has() {
        let meter = EnergyMeter::open(Path::new("/"), &GpuSource::Nvml);
        let line = meter.availability().to_string();
        assert!(line.starts_with("energy: "), "{line}");
        if meter.domains().is_empty() {
            assert!(line.starts_with("energy: not available here ("), "{line}");
        }
    }

    #[test]
    fn a_simulated_powercap_gives_joules_per_domain_through_a_wrap() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let range = 262_143_328_850;
        write_zone(root, "intel-rapl:0", "package-0", &format!("{}\n", range - 1_000_000), Some(range));
        write_zone(root, "intel-rapl:0:0", "core", "5000000\n", Some(range));
        write_zone(root, "intel-rapl:0:1", "dram", "7000000\n", Some(range));
        // A zone whose counter cannot be read (a folder: tests run as root).
        write_zone(root, "intel-rapl:1", "package-1", "0", Some(range));
        std::fs::remove_file(zone_file(root, "intel-rapl:1")).unwrap();
        std::fs::create_dir(zone_file(root, "intel-rapl:1")).unwrap();
        let meter = EnergyMeter::open(root, &GpuSource::Off);
        let names: Vec<&str> = meter.domains().iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["package-0", "package-0:core", "package-0:dram"]);
        let line = meter.availability().to_string();
        assert!(
            line.starts_with("energy: package-0, package-0:core, package-0:dram (RAPL); not available here: package-1"),
            "{line}"
        );
        assert!(line.contains("GPU sampling turned off"), "{line}");
        assert_eq!(meter.min_window(), Some(Duration::from_millis(10)));

        let start = meter.mark();
        // Too short a window: no figure, the reason instead.
        let early = meter.window(&start, &meter.mark()).unwrap();
        let reason = early.joules("package-0").unwrap().reason().unwrap().to_string();
        assert!(reason.contains("shorter than the 10ms that RAPL needs"), "{reason}");
        std::thread::sleep(Duration::from_millis(15));
        // package-0 wraps: 1 J to the top of the range, then 2.5 J.
        std::fs::write(zone_file(root, "intel-rapl:0"), "2500000\n").unwrap();
        std::fs::write(zone_file(root, "intel-rapl:0:0"), "6000000\n").unwrap();
        std::fs::write(zone_file(root, "intel-rapl:0:1"), "7250000\n").unwrap();
        let end = meter.mark();
        let w = meter.window(&start, &end).unwrap();
        assert!(w.duration_s >= 0.015);
        let j = |name| *w.joules(name).unwrap().available().unwrap();
        assert!((j("package-0") - 3.5).abs() < 1e-9, "{w}");
        assert!((j("package-0:core") - 1.0).abs() < 1e-9);
        assert!((j("package-0:dram") - 0.25).abs() < 1e-9);
        // core lies inside the package: the total is package + dram.
        assert!((w.total_joules().available().unwrap() - 3.75).abs() < 1e-9);
        assert!(w.to_string().contains("package-0 3.500 J"), "{w}");
        let back: EnergyWindow = serde_json::from_str(&serde_json::to_string(&w).unwrap()).unwrap();
        assert_eq!(back, w);
        // The window goes one way only, and marks belong to their meter.
        assert!(meter.window(&end, &start).is_err());
        let other = EnergyMeter::open(dir.path().join("none").as_path(), &GpuSource::Off);
        assert!(meter.window(&other.mark(), &end).is_err());
        // A counter that vanishes mid-window says so, and the total refuses to be partial.
        std::fs::remove_file(zone_file(root, "intel-rapl:0:1")).unwrap();
        std::thread::sleep(Duration::from_millis(15));
        let w = meter.window(&end, &meter.mark()).unwrap();
        let dram = w.joules("package-0:dram").unwrap().reason().unwrap();
        assert!(dram.starts_with("counter unreadable at the window's end: no "), "{dram}");
        assert!(w.total_joules().reason().unwrap().starts_with("package-0:dram: "));
    }

    #[test]
    fn joules_per_inference_is_the_t_interval_with_equal_counts() {
        let e = joules_per_inference(&[(10.0, 100), (12.0, 100), (11.0, 100)]).unwrap();
        assert!((e.point - 0.11).abs() < 1e-12);
        let se = 0.01 / 3f64.sqrt();
        assert!((e.standard_error - se).abs() < 1e-12, "{e:?}");
        assert!((e.upper - (0.11 + 4.303 * se)).abs() < 1e-12 && (e.lower - (0.11 - 4.303 * se)).abs() < 1e-12);
        assert_eq!((e.windows, e.inferences, e.confidence), (3, 300, 0.95));
        assert!(e.to_string().starts_with("0.1100 J per inference (95 % interval 0.0852–0.1348"), "{e}");
        // Exactly proportional: a zero-width interval at the ratio.
        let exact = joules_per_inference(&[(1.0, 10), (3.0, 30)]).unwrap();
        assert!((exact.point - 0.1).abs() < 1e-15 && (exact.upper - exact.lower).abs() < 1e-12);
        for bad in [&[(1.0, 10)][..], &[(1.0, 10), (1.0, 0)], &[(1.0, 10), (f64::NAN, 3)], &[(1.0, 1), (-1.0, 1)]] {
            assert!(joules_per_inference(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn t_quantiles() {
        assert_eq!(t_975(1), 12.706);
        assert_eq!(t_975(30), 2.042);
        for (df, t) in [(31, 2.0395), (40, 2.0211), (60, 2.0003), (120, 1.9799), (100_000, 1.9600)] {
            assert!((t_975(df) - t).abs() < 2e-4, "df {df}: {} vs {t}", t_975(df));
        }
    }

    #[test]
    fn the_interval_covers_about_95_percent() {
        // 0.5 J per inference, counts 50..150 per window, noise of a few joules: over 2000
        // repetitions of 8 windows the interval holds the true value about 95 % of the time.
        let mut state = 0x5eed_u64;
        let mut uniform = move || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            f64::from(u32::try_from(state >> 32).unwrap()) / f64::from(u32::MAX)
        };
        let trials = 2000;
        let mut covered = 0;
        for _ in 0..trials {
            let windows: Vec<(f64, u64)> = (0..8)
                .map(|_| {
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    let n = 50 + (uniform() * 100.0) as u64;
                    // Sum of 12 uniforms - 6: close to a standard normal.
                    let noise: f64 = (0..12).map(|_| uniform()).sum::<f64>() - 6.0;
                    #[allow(clippy::cast_precision_loss)]
                    let j = 0.5 * n as f64 + 3.0 * noise;
                    (j, n)
                })
                .collect();
            let e = joules_per_inference(&windows).unwrap();
            if e.lower <= 0.5 && 0.5 <= e.upper {
                covered += 1;
            }
        }
        let rate = f64::from(covered) / f64::from(trials);
        assert!((0.93..=0.97).contains(&rate), "coverage {rate}");
    }
}
