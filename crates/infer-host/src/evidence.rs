//! What the host did during a measurement ([`HostEvidence`]), summed up from the sampler's
//! readings, and the documented [`Thresholds`] past which a measurement is *disturbed*.

use std::{collections::BTreeMap, fmt, time::Duration};

use serde::{Deserialize, Serialize};

use crate::{
    Probe,
    cpu::{CpuInterval, CpuTimes, LoadAverage},
    gpu::{GpuDevice, GpuReading, IDLE_REASON_NAME, throttle_reason_names},
    pressure::{PressureSet, RESOURCES},
};

/// The limits past which the host's evidence marks a measurement *disturbed*. Each is a figure
/// over the whole window, so one short spike does not mark it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Thresholds {
    /// Steal time above this share of all CPU time, % (default 2): the hypervisor ran other
    /// guests on our CPUs.
    pub steal_percent: f64,
    /// Other processes (everything but the measured ones: other programs, interrupts, kernel
    /// threads) busier than this many cores on average (default 0.25).
    pub other_cores: f64,
    /// Memory pressure: some task stalled on memory more than this share of the window, %
    /// (default 5; from the `total` stall counter, exact for the window, where `avg10` would
    /// also cover the ten seconds before it).
    pub memory_stall_percent: f64,
    /// The fastest CPU's frequency fell more than this far below the highest frequency seen in
    /// the window, % (default 10): package-wide throttling (thermal or power), not idle cores
    /// slowing down.
    pub frequency_drop_percent: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self { steal_percent: 2.0, other_cores: 0.25, memory_stall_percent: 5.0, frequency_drop_percent: 10.0 }
    }
}

/// The host's evidence over one measurement window. Every source the host lacks reads
/// "not available" with the reason ([`Probe`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostEvidence {
    /// The window's length, seconds.
    pub duration_s: f64,
    /// Readings taken (one at each end of the window, and one every period between).
    pub samples: usize,
    /// The sampling period, milliseconds.
    pub period_ms: f64,
    /// CPU time: steal, the measured processes', everyone else's.
    pub cpu: Probe<CpuEvidence>,
    /// The load average at the window's end.
    pub load_average: Probe<LoadAverage>,
    /// Memory available to new programs.
    pub memory: Probe<MemoryEvidence>,
    /// Pressure stall information.
    pub pressure: Probe<PressureEvidence>,
    /// CPU frequencies.
    pub cpu_frequency: Probe<FrequencyEvidence>,
    /// Each GPU's clocks, throttle reasons, temperature, power and energy.
    pub gpus: Probe<Vec<GpuEvidence>>,
    /// What the sampling itself cost.
    pub sampling_cost: SamplingCost,
    /// The thresholds `disturbed` was judged by.
    pub thresholds: Thresholds,
    /// Why the measurement is disturbed, one sentence per reason with its figures; empty when
    /// it is not.
    pub disturbed: Vec<String>,
}

/// CPU time over the window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CpuEvidence {
    /// CPUs online.
    pub cpus: u32,
    /// Steal time, % of all CPU time.
    pub steal_percent: f64,
    /// CPUs the measured processes kept busy on average.
    pub own_cores_mean: f64,
    /// CPUs everything else kept busy on average.
    pub other_cores_mean: f64,
    /// The most CPUs everything else kept busy over one sampling period (coarse: counters tick
    /// 100 times a second).
    pub other_cores_max: f64,
    /// `other_cores_mean` as % of all CPUs.
    pub other_percent: f64,
}

/// Memory available to new programs (`MemAvailable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryEvidence {
    /// The least seen, bytes.
    pub available_min_bytes: u64,
    /// At the window's end, bytes.
    pub available_end_bytes: u64,
}

/// Pressure over the window, per resource; `None` where the host has no file for it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PressureEvidence {
    /// CPU pressure (counts the measured processes' own threads waiting for a CPU too).
    pub cpu: Option<PressureWindow>,
    /// Memory pressure.
    pub memory: Option<PressureWindow>,
    /// I/O pressure.
    pub io: Option<PressureWindow>,
}

/// One resource's pressure over the window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PressureWindow {
    /// The highest 10-second average seen, %.
    pub some_avg10_max: f64,
    /// Time some task was stalled, % of the window (from the `total` counter).
    pub some_stall_percent: f64,
    /// Time all non-idle tasks were stalled at once, % of the window, where reported.
    pub full_stall_percent: Option<f64>,
}

/// CPU frequencies over the window, from every CPU's reading at every sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FrequencyEvidence {
    /// CPUs read.
    pub cpus: usize,
    /// The lowest reading, MHz.
    pub min_mhz: f64,
    /// The mean reading, MHz.
    pub mean_mhz: f64,
    /// The highest reading, MHz.
    pub max_mhz: f64,
    /// The fastest CPU's frequency at its lowest sample, MHz: what [`Thresholds::frequency_drop_percent`]
    /// compares with `max_mhz`.
    pub fastest_min_mhz: f64,
}

/// One GPU over the window; a figure this GPU does not report is `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GpuEvidence {
    /// NVML's index.
    pub index: u32,
    /// Product name.
    pub name: String,
    /// Streaming multiprocessor clock, MHz.
    pub sm_clock_mhz: Option<Range>,
    /// Memory clock, MHz.
    pub memory_clock_mhz: Option<Range>,
    /// Every throttle reason seen in any sample (`gpu_idle`, `sw_power_cap`, ...).
    pub throttle_reasons: Vec<String>,
    /// The highest die temperature, °C.
    pub temperature_max_c: Option<u32>,
    /// Mean power draw over the samples, W.
    pub power_mean_w: Option<f64>,
    /// Highest power draw, W.
    pub power_max_w: Option<f64>,
    /// Energy from the first sample to the last, J (NVML's counter, Volta and later).
    pub energy_j: Option<f64>,
}

/// The lowest and highest of a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    /// Lowest.
    pub min: u32,
    /// Highest.
    pub max: u32,
}

/// What taking the samples cost: the sampler thread's time spent reading (wall time of each
/// reading; the reads do not block, so it is also about the CPU time it used).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SamplingCost {
    /// Mean time per reading, µs.
    pub mean_us: f64,
    /// Longest reading, µs.
    pub max_us: f64,
    /// All readings together, % of one CPU over the window.
    pub cpu_percent: f64,
}

impl HostEvidence {
    /// Whether the evidence shows interference.
    #[must_use]
    pub fn is_disturbed(&self) -> bool {
        !self.disturbed.is_empty()
    }

    /// The reasons this evidence is disturbed under `thresholds` (how [`HostEvidence::disturbed`]
    /// was filled; call it again to judge a saved result by other limits).
    #[must_use]
    pub fn judge(&self, thresholds: &Thresholds) -> Vec<String> {
        let mut out = Vec::new();
        if let Probe::Available(c) = &self.cpu {
            if c.steal_percent > thresholds.steal_percent {
                out.push(format!(
                    "steal time {:.1} % of CPU time (threshold {} %): the hypervisor ran other guests on these CPUs",
                    c.steal_percent, thresholds.steal_percent
                ));
            }
            if c.other_cores_mean > thresholds.other_cores {
                out.push(format!(
                    "other processes used {:.2} cores on average, up to {:.2} (threshold {})",
                    c.other_cores_mean, c.other_cores_max, thresholds.other_cores
                ));
            }
        }
        if let Some(m) = self.pressure.available().and_then(|p| p.memory)
            && m.some_stall_percent > thresholds.memory_stall_percent
        {
            out.push(format!(
                "memory pressure: tasks stalled on memory {:.1} % of the window (threshold {} %)",
                m.some_stall_percent, thresholds.memory_stall_percent
            ));
        }
        if let Probe::Available(f) = &self.cpu_frequency {
            let drop = (1.0 - f.fastest_min_mhz / f.max_mhz) * 100.0;
            if f.max_mhz > 0.0 && drop > thresholds.frequency_drop_percent {
                out.push(format!(
                    "CPU frequency fell to {:.0} MHz, {drop:.0} % below the window's highest {:.0} MHz (threshold {} %)",
                    f.fastest_min_mhz, f.max_mhz, thresholds.frequency_drop_percent
                ));
            }
        }
        if let Probe::Available(gpus) = &self.gpus {
            for g in gpus {
                let reasons: Vec<&str> =
                    g.throttle_reasons.iter().map(String::as_str).filter(|r| *r != IDLE_REASON_NAME).collect();
                if !reasons.is_empty() {
                    out.push(format!("GPU {} ({}) throttled: {}", g.index, g.name, reasons.join(", ")));
                }
            }
        }
        out
    }
}

impl fmt::Display for HostEvidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.sampling_cost;
        writeln!(
            f,
            "host over {:.3} s ({} samples every {:.0} ms; sampling cost {:.0} µs each, {:.3} % of one CPU)",
            self.duration_s, self.samples, self.period_ms, c.mean_us, c.cpu_percent
        )?;
        match &self.cpu {
            Probe::Available(c) => writeln!(
                f,
                "  CPU: steal {:.1} %, measured processes {:.2} cores, others {:.2} cores (up to {:.2}) of {} CPUs",
                c.steal_percent, c.own_cores_mean, c.other_cores_mean, c.other_cores_max, c.cpus
            )?,
            Probe::NotAvailable(r) => writeln!(f, "  CPU: not available here ({r})")?,
        }
        writeln!(f, "  load average: {}", self.load_average)?;
        match &self.memory {
            Probe::Available(m) => {
                #[allow(clippy::cast_precision_loss)]
                let gib = |b: u64| b as f64 / f64::from(1u32 << 30);
                writeln!(
                    f,
                    "  memory available: {:.1} GiB at least, {:.1} GiB at the end",
                    gib(m.available_min_bytes),
                    gib(m.available_end_bytes)
                )?;
            }
            Probe::NotAvailable(r) => writeln!(f, "  memory available: not available here ({r})")?,
        }
        match &self.pressure {
            Probe::Available(p) => {
                let parts: Vec<String> = [("cpu", p.cpu), ("memory", p.memory), ("io", p.io)]
                    .iter()
                    .filter_map(|(n, w)| w.map(|w| format!("{n} {:.1} %", w.some_stall_percent)))
                    .collect();
                writeln!(f, "  pressure (some task stalled, share of the window): {}", parts.join(", "))?;
            }
            Probe::NotAvailable(r) => writeln!(f, "  pressure: not available here ({r})")?,
        }
        match &self.cpu_frequency {
            Probe::Available(q) => writeln!(
                f,
                "  CPU frequency: {:.0}–{:.0} MHz, mean {:.0} MHz over {} CPUs",
                q.min_mhz, q.max_mhz, q.mean_mhz, q.cpus
            )?,
            Probe::NotAvailable(r) => writeln!(f, "  CPU frequency: not available here ({r})")?,
        }
        match &self.gpus {
            Probe::Available(gpus) => {
                for g in gpus {
                    let sm = g.sm_clock_mhz.map_or_else(|| "?".into(), |r| format!("{}–{}", r.min, r.max));
                    let temp = g.temperature_max_c.map_or_else(|| "?".into(), |t| t.to_string());
                    let power = g.power_mean_w.map_or_else(|| "?".into(), |p| format!("{p:.0}"));
                    let reasons =
                        if g.throttle_reasons.is_empty() { "none".into() } else { g.throttle_reasons.join(", ") };
                    writeln!(
                        f,
                        "  GPU {} ({}): SM {sm} MHz, up to {temp} °C, {power} W mean, throttle reasons: {reasons}",
                        g.index, g.name
                    )?;
                }
            }
            Probe::NotAvailable(r) => writeln!(f, "  GPU: not available here ({r})")?,
        }
        if self.disturbed.is_empty() {
            write!(f, "  not disturbed")
        } else {
            write!(f, "  disturbed: {}", self.disturbed.join("; "))
        }
    }
}

/// One reading of every source, as the sampler takes it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    /// Since the sampler started.
    pub elapsed: Duration,
    /// How long this reading took.
    pub cost: Duration,
    pub cpu: Option<CpuTimes>,
    /// The measured processes' ticks together.
    pub own_ticks: Option<u64>,
    pub load: Option<LoadAverage>,
    pub mem_available: Option<u64>,
    pub pressure: PressureSet,
    pub freq_khz: Vec<u64>,
    pub gpus: Vec<GpuReading>,
}

/// Which sources the host has, found when the sampler starts; `Err` holds the reason.
#[derive(Debug, Clone)]
pub(crate) struct Sources {
    pub cpu: Result<(), String>,
    pub load: Result<(), String>,
    pub memory: Result<(), String>,
    pub pressure: Result<(), String>,
    pub frequency: Result<(), String>,
    pub gpus: Result<Vec<GpuDevice>, String>,
}

#[derive(Debug, Default)]
struct GpuAcc {
    sm: Option<Range>,
    memory: Option<Range>,
    reasons: u64,
    temperature_max: Option<u32>,
    power_sum_mw: f64,
    power_count: u32,
    power_max_mw: Option<u32>,
    energy_first_mj: Option<u64>,
    energy_last_mj: Option<u64>,
}

#[derive(Debug, Default)]
struct FrequencyAcc {
    cpus: usize,
    min: Option<u64>,
    max: Option<u64>,
    sum: f64,
    count: u64,
    fastest_min: Option<u64>,
}

/// Sums readings up as they come, so a long measurement keeps only a few numbers.
#[derive(Debug)]
pub(crate) struct Accumulator {
    sources: Sources,
    thresholds: Thresholds,
    period: Duration,
    samples: usize,
    first: Option<Snapshot>,
    last: Option<Snapshot>,
    other_cores_max: f64,
    mem_min: Option<u64>,
    avg10_max: [Option<f64>; 3],
    frequency: FrequencyAcc,
    gpus: BTreeMap<u32, GpuAcc>,
    cost_total: Duration,
    cost_max: Duration,
}

fn widen(range: &mut Option<Range>, v: Option<u32>) {
    if let Some(v) = v {
        *range = Some(range.map_or(Range { min: v, max: v }, |r| Range { min: r.min.min(v), max: r.max.max(v) }));
    }
}

fn max_opt<T: PartialOrd + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y > x { y } else { x }),
        (x, None) => x,
        (None, y) => y,
    }
}

fn min_opt<T: PartialOrd + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y < x { y } else { x }),
        (x, None) => x,
        (None, y) => y,
    }
}

impl Accumulator {
    pub(crate) fn new(sources: Sources, thresholds: Thresholds, period: Duration) -> Self {
        Self {
            sources,
            thresholds,
            period,
            samples: 0,
            first: None,
            last: None,
            other_cores_max: 0.0,
            mem_min: None,
            avg10_max: [None; 3],
            frequency: FrequencyAcc::default(),
            gpus: BTreeMap::new(),
            cost_total: Duration::ZERO,
            cost_max: Duration::ZERO,
        }
    }

    pub(crate) fn push(&mut self, s: Snapshot) {
        self.samples += 1;
        self.cost_total += s.cost;
        self.cost_max = self.cost_max.max(s.cost);
        if let Some(prev) = &self.last
            && let (Some(a), Some(b), Some(oa), Some(ob)) = (&prev.cpu, &s.cpu, prev.own_ticks, s.own_ticks)
            && let Some(i) = CpuInterval::between((a, oa), (b, ob))
        {
            self.other_cores_max = self.other_cores_max.max(i.other_cores);
        }
        self.mem_min = min_opt(self.mem_min, s.mem_available);
        let set = [s.pressure.cpu, s.pressure.memory, s.pressure.io];
        for (max, p) in self.avg10_max.iter_mut().zip(set) {
            *max = max_opt(*max, p.map(|p| p.some.avg10));
        }
        if !s.freq_khz.is_empty() {
            let f = &mut self.frequency;
            f.cpus = f.cpus.max(s.freq_khz.len());
            f.min = min_opt(f.min, s.freq_khz.iter().copied().min());
            let fastest = s.freq_khz.iter().copied().max();
            f.max = max_opt(f.max, fastest);
            f.fastest_min = min_opt(f.fastest_min, fastest);
            #[allow(clippy::cast_precision_loss)]
            {
                f.sum += s.freq_khz.iter().map(|&k| k as f64).sum::<f64>();
            }
            f.count += s.freq_khz.len() as u64;
        }
        for r in &s.gpus {
            let g = self.gpus.entry(r.index).or_default();
            widen(&mut g.sm, r.sm_clock_mhz);
            widen(&mut g.memory, r.memory_clock_mhz);
            g.reasons |= r.throttle_reasons.unwrap_or(0);
            g.temperature_max = max_opt(g.temperature_max, r.temperature_c);
            if let Some(p) = r.power_mw {
                g.power_sum_mw += f64::from(p);
                g.power_count += 1;
            }
            g.power_max_mw = max_opt(g.power_max_mw, r.power_mw);
            if g.energy_first_mj.is_none() {
                g.energy_first_mj = r.energy_mj;
            }
            g.energy_last_mj = r.energy_mj.or(g.energy_last_mj);
        }
        if self.first.is_none() {
            self.first = Some(s.clone());
        }
        self.last = Some(s);
    }

    pub(crate) fn finish(self) -> HostEvidence {
        let (first, last) = (self.first.clone().unwrap_or_default(), self.last.clone().unwrap_or_default());
        let window = last.elapsed.saturating_sub(first.elapsed);
        let mut evidence = HostEvidence {
            duration_s: window.as_secs_f64(),
            samples: self.samples,
            period_ms: self.period.as_secs_f64() * 1e3,
            cpu: self.cpu(&first, &last),
            load_average: probe(&self.sources.load, || last.load.ok_or("unreadable at the window's end".into())),
            memory: probe(&self.sources.memory, || {
                let (Some(min), Some(end)) = (self.mem_min, last.mem_available) else {
                    return Err("unreadable at the window's end".into());
                };
                Ok(MemoryEvidence { available_min_bytes: min, available_end_bytes: end })
            }),
            pressure: probe(&self.sources.pressure, || Ok(self.pressure(&first, &last, window))),
            cpu_frequency: probe(&self.sources.frequency, || self.frequency()),
            gpus: match &self.sources.gpus {
                Ok(devices) => Probe::Available(self.gpus(devices)),
                Err(reason) => Probe::NotAvailable(reason.clone()),
            },
            sampling_cost: self.cost(window),
            thresholds: self.thresholds,
            disturbed: Vec::new(),
        };
        evidence.disturbed = evidence.judge(&self.thresholds);
        evidence
    }

    fn cpu(&self, first: &Snapshot, last: &Snapshot) -> Probe<CpuEvidence> {
        if let Err(reason) = &self.sources.cpu {
            return Probe::NotAvailable(reason.clone());
        }
        let (Some(a), Some(b), Some(oa), Some(ob)) = (&first.cpu, &last.cpu, first.own_ticks, last.own_ticks) else {
            return Probe::NotAvailable("CPU times unreadable at one end of the window".into());
        };
        let Some(i) = CpuInterval::between((a, oa), (b, ob)) else {
            return Probe::NotAvailable("window too short: no clock tick elapsed".into());
        };
        Probe::Available(CpuEvidence {
            cpus: b.cpus,
            steal_percent: i.steal_share * 100.0,
            own_cores_mean: i.own_cores,
            other_cores_mean: i.other_cores,
            other_cores_max: self.other_cores_max.max(i.other_cores),
            other_percent: i.other_cores / f64::from(b.cpus) * 100.0,
        })
    }

    fn pressure(&self, first: &Snapshot, last: &Snapshot, window: Duration) -> PressureEvidence {
        let micros = window.as_secs_f64() * 1e6;
        let pick = |s: &PressureSet, i: usize| [s.cpu, s.memory, s.io][i];
        let one = |i: usize| {
            let (a, b) = (pick(&first.pressure, i)?, pick(&last.pressure, i)?);
            #[allow(clippy::cast_precision_loss)]
            let share = |x: u64, y: u64| if micros > 0.0 { y.saturating_sub(x) as f64 / micros * 100.0 } else { 0.0 };
            Some(PressureWindow {
                some_avg10_max: self.avg10_max[i].unwrap_or(b.some.avg10),
                some_stall_percent: share(a.some.total_us, b.some.total_us),
                full_stall_percent: a.full.zip(b.full).map(|(x, y)| share(x.total_us, y.total_us)),
            })
        };
        debug_assert_eq!(RESOURCES, ["cpu", "memory", "io"]);
        PressureEvidence { cpu: one(0), memory: one(1), io: one(2) }
    }

    fn frequency(&self) -> Result<FrequencyEvidence, String> {
        let f = &self.frequency;
        let (Some(min), Some(max), Some(fastest_min)) = (f.min, f.max, f.fastest_min) else {
            return Err("no frequency could be read during the window".into());
        };
        #[allow(clippy::cast_precision_loss)]
        let mhz = |k: u64| k as f64 / 1e3;
        #[allow(clippy::cast_precision_loss)]
        let mean_mhz = f.sum / f.count as f64 / 1e3;
        Ok(FrequencyEvidence {
            cpus: f.cpus,
            min_mhz: mhz(min),
            mean_mhz,
            max_mhz: mhz(max),
            fastest_min_mhz: mhz(fastest_min),
        })
    }

    fn gpus(&self, devices: &[GpuDevice]) -> Vec<GpuEvidence> {
        devices
            .iter()
            .map(|d| {
                let empty = GpuAcc::default();
                let g = self.gpus.get(&d.index).unwrap_or(&empty);
                #[allow(clippy::cast_precision_loss)]
                GpuEvidence {
                    index: d.index,
                    name: d.name.clone(),
                    sm_clock_mhz: g.sm,
                    memory_clock_mhz: g.memory,
                    throttle_reasons: throttle_reason_names(g.reasons),
                    temperature_max_c: g.temperature_max,
                    power_mean_w: (g.power_count > 0).then(|| g.power_sum_mw / f64::from(g.power_count) / 1e3),
                    power_max_w: g.power_max_mw.map(|p| f64::from(p) / 1e3),
                    energy_j: g
                        .energy_first_mj
                        .zip(g.energy_last_mj)
                        .and_then(|(a, b)| b.checked_sub(a))
                        .map(|mj| mj as f64 / 1e3),
                }
            })
            .collect()
    }

    fn cost(&self, window: Duration) -> SamplingCost {
        #[allow(clippy::cast_precision_loss)]
        let mean_us = if self.samples == 0 { 0.0 } else { self.cost_total.as_secs_f64() * 1e6 / self.samples as f64 };
        let secs = window.as_secs_f64();
        SamplingCost {
            mean_us,
            max_us: self.cost_max.as_secs_f64() * 1e6,
            cpu_percent: if secs > 0.0 { self.cost_total.as_secs_f64() / secs * 100.0 } else { 0.0 },
        }
    }
}

/// The figure, or the reason its source is missing or failed.
fn probe<T>(source: &Result<(), String>, value: impl FnOnce() -> Result<T, String>) -> Probe<T> {
    match source.clone().and_then(|()| value()) {
        Ok(v) => Probe::Available(v),
        Err(reason) => Probe::NotAvailable(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        gpu::IDLE_REASON,
        pressure::{Pressure, PressureLine},
    };

    fn all_sources() -> Sources {
        Sources {
            cpu: Ok(()),
            load: Ok(()),
            memory: Ok(()),
            pressure: Ok(()),
            frequency: Ok(()),
            gpus: Ok(vec![GpuDevice { index: 0, name: "Test GPU".into() }]),
        }
    }

    fn pressure(avg10: f64, total_us: u64) -> Option<Pressure> {
        let line = PressureLine { avg10, avg60: 0.0, avg300: 0.0, total_us };
        Some(Pressure { some: line, full: Some(PressureLine { total_us: total_us / 2, ..line }) })
    }

    /// Snapshot `k` of a 2-CPU host at 100 ticks/s, read every 0.5 s: per interval 100 ticks,
    /// the measured process busy `own` ticks, everything busy `busy` ticks, steal `steal`.
    fn snapshot(k: u32, own: u64, busy: u64, steal: u64, mem_stall_us: u64, khz: &[u64], gpu: GpuReading) -> Snapshot {
        let k64 = u64::from(k);
        let cpu = CpuTimes {
            user: k64 * busy,
            idle: k64 * (100 - busy - steal),
            steal: k64 * steal,
            cpus: 2,
            ..CpuTimes::default()
        };
        Snapshot {
            elapsed: Duration::from_millis(500 * k64),
            cost: Duration::from_micros(40),
            cpu: Some(cpu),
            own_ticks: Some(k64 * own),
            load: Some(LoadAverage { one: 1.0, five: 0.5, fifteen: 0.25, runnable: 2, tasks: 100 }),
            mem_available: Some((8u64 << 30) - k64),
            pressure: PressureSet {
                cpu: pressure(1.0, 0),
                memory: pressure(f64::from(k), k64 * mem_stall_us),
                io: None,
            },
            freq_khz: khz.to_vec(),
            gpus: vec![GpuReading { energy_mj: Some(1000 + k64 * 50_000), ..gpu }],
        }
    }

    fn run(snapshots: Vec<Snapshot>, sources: Sources) -> HostEvidence {
        let mut acc = Accumulator::new(sources, Thresholds::default(), Duration::from_millis(500));
        for s in snapshots {
            acc.push(s);
        }
        acc.finish()
    }

    #[test]
    fn a_quiet_host_is_not_disturbed() {
        let gpu = GpuReading {
            index: 0,
            sm_clock_mhz: Some(1980),
            memory_clock_mhz: Some(2619),
            throttle_reasons: Some(IDLE_REASON),
            temperature_c: Some(40),
            power_mw: Some(100_000),
            energy_mj: None,
        };
        // own 50 of 100 ticks of busy 55: 1 core (per-CPU ticks: 50), others 0.1 core.
        let e = run((0..5).map(|k| snapshot(k, 50, 55, 0, 0, &[3_000_000, 2_900_000], gpu)).collect(), all_sources());
        assert_eq!(e.samples, 5);
        assert!((e.duration_s - 2.0).abs() < 1e-12);
        let c = e.cpu.available().unwrap();
        assert!((c.own_cores_mean - 1.0).abs() < 1e-12 && (c.other_cores_mean - 0.1).abs() < 1e-12, "{c:?}");
        assert!((c.other_percent - 5.0).abs() < 1e-9 && c.steal_percent == 0.0);
        let f = e.cpu_frequency.available().unwrap();
        assert_eq!((f.min_mhz, f.max_mhz, f.fastest_min_mhz, f.cpus), (2900.0, 3000.0, 3000.0, 2));
        assert!((f.mean_mhz - 2950.0).abs() < 1e-9);
        let g = &e.gpus.available().unwrap()[0];
        assert_eq!(g.throttle_reasons, ["gpu_idle"]);
        assert_eq!(g.sm_clock_mhz, Some(Range { min: 1980, max: 1980 }));
        assert_eq!(g.power_mean_w, Some(100.0));
        assert_eq!(g.energy_j, Some(200.0));
        assert!((e.sampling_cost.mean_us - 40.0).abs() < 1e-6);
        assert!((e.sampling_cost.cpu_percent - 0.01).abs() < 1e-9);
        assert!(e.disturbed.is_empty(), "{:?}", e.disturbed);
        assert!(e.to_string().ends_with("not disturbed"), "{e}");
    }

    #[test]
    fn steal_other_processes_memory_pressure_frequency_and_throttling_are_named() {
        let gpu = GpuReading { index: 0, throttle_reasons: Some(IDLE_REASON | (1 << 2)), ..GpuReading::default() };
        // 5 ticks of steal per 100 (5 %), others 30 - 10 = 20 ticks per 50 per CPU (0.4 core),
        // memory stalled 50 ms per 500 ms (10 %), the fastest CPU from 3 GHz to 2.5 GHz.
        let mut snaps: Vec<Snapshot> =
            (0..4).map(|k| snapshot(k, 10, 30, 5, 50_000, &[3_000_000, 1_000_000], gpu)).collect();
        snaps.push(snapshot(4, 10, 30, 5, 50_000, &[2_500_000, 2_500_000], gpu));
        let e = run(snaps, all_sources());
        let c = e.cpu.available().unwrap();
        assert!((c.steal_percent - 5.0).abs() < 1e-9 && (c.other_cores_mean - 0.4).abs() < 1e-9, "{c:?}");
        let m = e.pressure.available().unwrap().memory.unwrap();
        assert!((m.some_stall_percent - 10.0).abs() < 1e-9 && (m.full_stall_percent.unwrap() - 5.0).abs() < 1e-9);
        assert_eq!(m.some_avg10_max, 4.0);
        assert!(e.pressure.available().unwrap().io.is_none());
        assert_eq!(e.disturbed.len(), 5, "{:#?}", e.disturbed);
        let all = e.disturbed.join("\n");
        for needle in [
            "steal time 5.0 % of CPU time (threshold 2 %)",
            "other processes used 0.40 cores on average",
            "tasks stalled on memory 10.0 % of the window (threshold 5 %)",
            "CPU frequency fell to 2500 MHz, 17 % below the window's highest 3000 MHz",
            "GPU 0 (Test GPU) throttled: sw_power_cap",
        ] {
            assert!(all.contains(needle), "{needle} not in\n{all}");
        }
        assert!(!all.contains("gpu_idle"));
        // The same evidence judged by looser limits.
        let loose = Thresholds {
            steal_percent: 10.0,
            other_cores: 1.0,
            memory_stall_percent: 50.0,
            frequency_drop_percent: 50.0,
        };
        assert_eq!(e.judge(&loose), ["GPU 0 (Test GPU) throttled: sw_power_cap"]);
        let back: HostEvidence = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn a_bare_host_gives_reasons_not_zeros() {
        let sources = Sources {
            cpu: Err("no /proc/stat".into()),
            load: Err("no /proc/loadavg".into()),
            memory: Err("no MemAvailable".into()),
            pressure: Err("no /proc/pressure".into()),
            frequency: Err("no cpufreq".into()),
            gpus: Err("no NVML (libnvidia-ml.so.1: cannot open shared object file)".into()),
        };
        let e = run(
            vec![Snapshot::default(), Snapshot { elapsed: Duration::from_millis(300), ..Snapshot::default() }],
            sources,
        );
        assert_eq!(e.cpu.reason(), Some("no /proc/stat"));
        assert_eq!(e.pressure.reason(), Some("no /proc/pressure"));
        assert_eq!(e.cpu_frequency.reason(), Some("no cpufreq"));
        assert!(e.gpus.reason().unwrap().starts_with("no NVML"));
        assert!(e.disturbed.is_empty());
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["cpu_frequency"]["not_available"], "no cpufreq");
        assert_eq!(json["memory"]["not_available"], "no MemAvailable");
        let text = e.to_string();
        assert!(text.contains("GPU: not available here (no NVML"), "{text}");
        // Sources present but two identical readings: no tick elapsed, said so.
        let same = snapshot(1, 1, 1, 0, 0, &[], GpuReading::default());
        let e = run(vec![same.clone(), same], all_sources());
        assert_eq!(e.cpu.reason(), Some("window too short: no clock tick elapsed"));
        assert_eq!(e.cpu_frequency.reason(), Some("no frequency could be read during the window"));
    }

    #[test]
    fn json_field_names_are_stable() {
        let e =
            run((0..2).map(|k| snapshot(k, 1, 2, 0, 0, &[1_000_000], GpuReading::default())).collect(), all_sources());
        let v = serde_json::to_value(&e).unwrap();
        let keys = |v: &serde_json::Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k.join(" ")
        };
        assert_eq!(
            keys(&v),
            "cpu cpu_frequency disturbed duration_s gpus load_average memory period_ms pressure samples \
             sampling_cost thresholds"
        );
        assert_eq!(
            keys(&v["cpu"]["available"]),
            "cpus other_cores_max other_cores_mean other_percent own_cores_mean steal_percent"
        );
        assert_eq!(keys(&v["sampling_cost"]), "cpu_percent max_us mean_us");
        assert_eq!(v["thresholds"]["other_cores"], 0.25);
        // Thresholds missing from a saved file take the defaults.
        let t: Thresholds = serde_json::from_str(r#"{"steal_percent": 1}"#).unwrap();
        assert_eq!(t, Thresholds { steal_percent: 1.0, ..Thresholds::default() });
    }
}
