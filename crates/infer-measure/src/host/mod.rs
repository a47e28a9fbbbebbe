//! The host's own evidence and energy beside every timed phase (`infer-host`): a [`Host`] is
//! opened once per measurement (its energy counters found), and a [`HostWatch`] per row runs the
//! sampler from the first timed call to the last and cuts the phase into energy windows at call
//! boundaries, so every row carries what the host did meanwhile ([`HostEvidence`], *disturbed*
//! when it shows interference) and joules per inference with its interval ([`RowEnergy`]).
//!
//! **Where the windows fall.** The timed loop calls [`crate::timing::PhaseWatch::after_call`]
//! between two samples; once the current window has lasted [`HostOptions::energy_window`] (at
//! least the counters' own minimum, [`infer_host::EnergyMeter::min_window`]: 10 ms for RAPL, 1 s
//! with a GPU's NVML counter), the counters are read there, outside every sample. A tail
//! shorter than the minimum joins the window before it. Scenarios and the load test, whose calls
//! are not on one loop, read the counters on a thread of their own and count the calls that
//! ended ([`background`]).
//!
//! **Which counters.** A CPU row adds up the CPU packages and their memory (RAPL `package-N`
//! and `package-N:dram`); a GPU row needs its GPU's NVML counter (`gpuN`, NVML's index taken
//! as the CUDA ordinal) and adds the packages where RAPL exists. Without them the row says
//! `energy: not available here (reason)`, never 0.
//!
//! **For tests**, [`HostOptions::from_env`] reads [`ROOT_VAR`] (a simulated host tree instead of
//! `/`: `sys/class/powercap/intel-rapl:*`, and `proc` for the sampler), [`NVML_VAR`] (`off`
//! or a library path) and [`HOST_VAR`] (`off`: no sampling at all).

pub mod background;
pub mod energy;

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use infer_core::Device;
use infer_host::{EnergyMark, EnergyMeter, Sampler, SamplerOptions, energy::EnergySource, sampler::DEFAULT_PERIOD};
pub use infer_host::{GpuSource, HostEvidence, JoulesPerInference, Probe, Thresholds};

use crate::timing::PhaseWatch;
pub use energy::{EnergyWindowRecord, RowEnergy, pool_energy};

/// For tests: the host's root folder (default `/`), e.g. a simulated powercap tree.
pub const ROOT_VAR: &str = "INFER_HOST_ROOT";
/// For tests: `off` to leave NVML alone, or the path of the library to open.
pub const NVML_VAR: &str = "INFER_HOST_NVML";
/// `off`: no host evidence and no energy (rows then have neither field).
pub const HOST_VAR: &str = "INFER_HOST";
/// The energy window aimed at when the counters allow shorter ones: long enough that one
/// window's noise does not carry into the next much, short enough that a one-second row gets
/// ten of them.
pub const DEFAULT_ENERGY_WINDOW: Duration = Duration::from_millis(100);

/// How to watch the host.
#[derive(Debug, Clone, PartialEq)]
pub struct HostOptions {
    /// Whether to sample at all.
    pub enabled: bool,
    /// The host's root: `/`, or a simulated tree in tests.
    pub root: PathBuf,
    /// Where to find the GPUs.
    pub gpu: GpuSource,
    /// The sampler's period.
    pub period: Duration,
    /// The energy window aimed at (raised to the counters' minimum).
    pub energy_window: Duration,
    /// The limits past which a row is disturbed.
    pub thresholds: Thresholds,
}

impl Default for HostOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            root: PathBuf::from("/"),
            gpu: GpuSource::Nvml,
            period: DEFAULT_PERIOD,
            energy_window: DEFAULT_ENERGY_WINDOW,
            thresholds: Thresholds::default(),
        }
    }
}

impl HostOptions {
    /// The defaults, with what the environment variables [`ROOT_VAR`], [`NVML_VAR`] and
    /// [`HOST_VAR`] (for tests) change.
    #[must_use]
    pub fn from_env() -> Self {
        let mut o = Self::default();
        if let Some(root) = std::env::var_os(ROOT_VAR).filter(|r| !r.is_empty()) {
            o.root = root.into();
        }
        match std::env::var_os(NVML_VAR) {
            Some(v) if v == "off" => o.gpu = GpuSource::Off,
            Some(v) if !v.is_empty() => o.gpu = GpuSource::NvmlAt(v.into()),
            _ => {}
        }
        if std::env::var_os(HOST_VAR).is_some_and(|v| v == "off") {
            o.enabled = false;
        }
        o
    }

    /// Sampling turned off.
    #[must_use]
    pub fn off() -> Self {
        Self { enabled: false, ..Self::default() }
    }
}

/// The host of one measurement: its options and energy counters, found once.
#[derive(Debug)]
pub struct Host {
    options: HostOptions,
    meter: Option<Arc<EnergyMeter>>,
}

impl Host {
    /// Finds the energy counters (nothing when `options.enabled` is false).
    #[must_use]
    pub fn open(options: HostOptions) -> Self {
        let meter = options.enabled.then(|| Arc::new(EnergyMeter::open(&options.root, &options.gpu)));
        Self { options, meter }
    }

    /// A watch for one row's timed phase on `device`.
    #[must_use]
    pub fn watch(&self, device: Device) -> HostWatch {
        let Some(meter) = &self.meter else { return HostWatch::off() };
        let sampler = SamplerOptions {
            root: self.options.root.clone(),
            period: self.options.period,
            // The GPUs' evidence belongs to a GPU row; a CPU row has only the CPU's to show.
            gpu: if device.is_gpu() { self.options.gpu.clone() } else { GpuSource::Off },
            thresholds: self.options.thresholds,
            ..SamplerOptions::default()
        };
        let energy = match select_domains(meter, device) {
            Ok(domains) => {
                let min = domains.iter().map(|&i| meter.domains()[i].source.min_window()).max().unwrap_or_default();
                Energy::Counting(Counting {
                    meter: Arc::clone(meter),
                    names: domains.iter().map(|&i| meter.domains()[i].name.clone()).collect(),
                    source: source_label(meter, &domains),
                    domains,
                    min_window: min,
                    window: self.options.energy_window.max(min),
                    marks: Vec::new(),
                    next: Instant::now(),
                })
            }
            Err(reason) => Energy::Missing(reason),
        };
        HostWatch { sampler_options: Some(sampler), sampler: None, evidence: None, problems: Vec::new(), energy }
    }
}

/// The meter's domains a row on `device` adds up, or why there are none.
fn select_domains(meter: &EnergyMeter, device: Device) -> Result<Vec<usize>, String> {
    let availability = meter.availability();
    let why = || {
        if availability.unavailable.is_empty() {
            "no energy counter".to_string()
        } else {
            availability.unavailable.join(", ")
        }
    };
    let rapl: Vec<usize> = meter
        .domains()
        .iter()
        .enumerate()
        .filter(|(_, d)| d.source == EnergySource::Rapl && d.counts_in_total)
        .map(|(i, _)| i)
        .collect();
    if let Device::Cuda(n) = device {
        let name = format!("gpu{n}");
        let Some(gpu) = meter.domains().iter().position(|d| d.source == EnergySource::Nvml && d.name == name) else {
            return Err(format!("no NVML energy counter for {name}: {}", why()));
        };
        return Ok(rapl.into_iter().chain([gpu]).collect());
    }
    if rapl.is_empty() {
        let gpus = meter.domains().iter().any(|d| d.source == EnergySource::Nvml);
        let extra = if gpus { "; the GPUs' NVML counters are not a CPU row's energy" } else { "" };
        return Err(format!("{}{extra}", why()));
    }
    Ok(rapl)
}

/// `RAPL`, `NVML` or `RAPL+NVML`.
fn source_label(meter: &EnergyMeter, domains: &[usize]) -> String {
    let has = |s| domains.iter().any(|&i| meter.domains()[i].source == s);
    [(EnergySource::Rapl, "RAPL"), (EnergySource::Nvml, "NVML")]
        .into_iter()
        .filter(|(s, _)| has(*s))
        .map(|(_, l)| l)
        .collect::<Vec<_>>()
        .join("+")
}

/// What a watch gives its row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// The host's evidence over the timed phase (none when sampling is off or failed).
    pub host: Option<HostEvidence>,
    /// The row's energy (none when sampling is off).
    pub energy: Option<RowEnergy>,
    /// What went wrong with the watching itself (the sampler could not start).
    pub problems: Vec<String>,
}

/// Watches one timed phase: the sampler between [`PhaseWatch::begin`] and [`PhaseWatch::end`],
/// the energy counters at window boundaries; [`HostWatch::finish`] gives the figures.
#[derive(Debug)]
pub struct HostWatch {
    sampler_options: Option<SamplerOptions>,
    sampler: Option<Sampler>,
    evidence: Option<HostEvidence>,
    problems: Vec<String>,
    energy: Energy,
}

#[derive(Debug)]
enum Energy {
    /// Sampling off.
    Off,
    /// No counter for this row: the reason.
    Missing(String),
    Counting(Counting),
}

#[derive(Debug)]
struct Counting {
    meter: Arc<EnergyMeter>,
    /// Indices of the meter's domains added up, and their names.
    domains: Vec<usize>,
    names: Vec<String>,
    source: String,
    min_window: Duration,
    window: Duration,
    /// Each mark with the calls done when it was read.
    marks: Vec<(EnergyMark, usize)>,
    next: Instant,
}

impl HostWatch {
    /// A watch that watches nothing (sampling off).
    #[must_use]
    pub fn off() -> Self {
        Self { sampler_options: None, sampler: None, evidence: None, problems: Vec::new(), energy: Energy::Off }
    }

    /// When the energy counters are next due to be read, if they are read at all.
    #[must_use]
    pub fn next_due(&self) -> Option<Instant> {
        match &self.energy {
            Energy::Counting(c) if !c.marks.is_empty() => Some(c.next),
            _ => None,
        }
    }

    /// The evidence and energy of the phase (call after [`PhaseWatch::end`]; a phase that never
    /// began or ended early gives what it has).
    #[must_use]
    pub fn finish(mut self) -> Observed {
        if let Some(s) = self.sampler.take() {
            self.stop_sampler(s);
        }
        let energy = match self.energy {
            Energy::Off => None,
            Energy::Missing(reason) => Some(RowEnergy::not_available(reason)),
            Energy::Counting(c) => Some(c.row_energy()),
        };
        Observed { host: self.evidence, energy, problems: self.problems }
    }

    fn stop_sampler(&mut self, sampler: Sampler) {
        match sampler.stop() {
            Ok(e) => self.evidence = Some(e),
            Err(e) => self.problems.push(format!("host evidence lost: {e}")),
        }
    }
}

impl Counting {
    fn mark(&mut self, calls: usize) {
        let mark = self.meter.mark();
        self.marks.push((mark, calls));
        self.next = Instant::now() + self.window;
    }

    /// The windows between the marks and joules per inference over them. A window ends at the
    /// first mark at least the counters' minimum after its start with a call done since (a
    /// background watch's marks may fall where no call ended); a tail too short for its own
    /// window joins the last one.
    fn row_energy(self) -> RowEnergy {
        let min_s = self.min_window.as_secs_f64();
        let window = |a: usize, b: usize| self.meter.window(&self.marks[a].0, &self.marks[b].0).map_err(|e| e.reason());
        let mut cuts = vec![0];
        for j in 1..self.marks.len() {
            let from = cuts[cuts.len() - 1];
            match window(from, j) {
                Ok(w) if w.duration_s >= min_s && self.marks[j].1 > self.marks[from].1 => cuts.push(j),
                Ok(_) => {}
                Err(reason) => return RowEnergy::not_available(reason),
            }
        }
        if cuts.len() > 1 {
            let last = cuts.len() - 1;
            cuts[last] = self.marks.len() - 1;
        }
        let mut records = Vec::new();
        for pair in cuts.windows(2) {
            let w = match window(pair[0], pair[1]) {
                Ok(w) => w,
                Err(reason) => return RowEnergy::not_available(reason),
            };
            let mut joules = 0.0;
            for (&i, name) in self.domains.iter().zip(&self.names) {
                match &w.domains[i].joules {
                    Probe::Available(j) => joules += j,
                    Probe::NotAvailable(r) => return RowEnergy::not_available(format!("{name}: {r}")),
                }
            }
            let calls = self.marks[pair[1]].1.saturating_sub(self.marks[pair[0]].1);
            let inferences = u64::try_from(calls).unwrap_or(u64::MAX);
            records.push(EnergyWindowRecord { duration_s: w.duration_s, joules, inferences });
        }
        if records.is_empty() && self.marks.len() >= 2 {
            // Shorter than one window: its length says by how much.
            let timed = window(0, self.marks.len() - 1).map_or(0.0, |w| w.duration_s);
            let mut e = RowEnergy::from_windows(&self.source, self.names, min_s, Vec::new());
            e.joules_per_inference = Probe::NotAvailable(format!(
                "row too short for the counter: {timed:.3} s timed, shorter than one window of {min_s} s \
                 ({}'s counter needs that long), and an interval needs 2: time longer (--duration)",
                self.source
            ));
            return e;
        }
        RowEnergy::from_windows(&self.source, self.names, min_s, records)
    }
}

impl PhaseWatch for HostWatch {
    fn begin(&mut self) {
        if let Some(options) = self.sampler_options.take() {
            match Sampler::start(options) {
                Ok(s) => self.sampler = Some(s),
                Err(e) => self.problems.push(format!("host evidence not taken: {e}")),
            }
        }
        if let Energy::Counting(c) = &mut self.energy {
            c.mark(0);
        }
    }

    fn after_call(&mut self, calls: usize) {
        if let Energy::Counting(c) = &mut self.energy
            && !c.marks.is_empty()
            && Instant::now() >= c.next
        {
            c.mark(calls);
        }
    }

    fn end(&mut self, calls: usize) {
        if let Energy::Counting(c) = &mut self.energy
            && c.marks.last().is_some_and(|(_, done)| *done < calls)
        {
            c.mark(calls);
        }
        if let Some(s) = self.sampler.take() {
            self.stop_sampler(s);
        }
    }
}

/// A row's evidence over its rounds: every round's (`host_rounds`), the most disturbed one as
/// the row's (`host`, the first on a tie), and the reasons of every round (`disturbed`, each
/// prefixed `round N:` when there are several).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PooledEvidence {
    /// The most disturbed round's evidence.
    pub host: Option<HostEvidence>,
    /// Every round's evidence, in order (empty for a single round).
    pub host_rounds: Vec<HostEvidence>,
    /// Why the row is disturbed.
    pub disturbed: Vec<String>,
}

/// Pools the evidence of a row so far (`host`, and `host_rounds` when it pooled rounds already)
/// with the next round's: a row is disturbed when any of its rounds was.
#[must_use]
pub fn pool_evidence(
    host: Option<&HostEvidence>,
    rounds: &[HostEvidence],
    next: Option<&HostEvidence>,
) -> PooledEvidence {
    let mut all: Vec<HostEvidence> =
        if rounds.is_empty() { host.into_iter().cloned().collect() } else { rounds.to_vec() };
    all.extend(next.cloned());
    let worst = all.iter().enumerate().max_by_key(|(i, e)| (e.disturbed.len(), std::cmp::Reverse(*i))).map(|(_, e)| e);
    let disturbed = if all.len() == 1 {
        all[0].disturbed.clone()
    } else {
        all.iter()
            .enumerate()
            .flat_map(|(i, e)| e.disturbed.iter().map(move |r| format!("round {}: {r}", i + 1)))
            .collect()
    };
    PooledEvidence { host: worst.cloned(), disturbed, host_rounds: if all.len() > 1 { all } else { Vec::new() } }
}

/// The row warnings for these disturbed reasons: `disturbed: steal time 4.1 % …`.
#[must_use]
pub fn disturbed_warnings(disturbed: &[String]) -> Vec<String> {
    disturbed.iter().map(|r| format!("disturbed: {r}")).collect()
}

#[cfg(test)]
mod tests;
