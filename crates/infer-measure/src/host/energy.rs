//! A row's energy: joules per inference with its interval from several windows of the timed
//! phase, or the reason there is none ([`RowEnergy`]), and how rounds pool it.

use std::fmt;

use infer_host::{JoulesPerInference, Probe, joules_per_inference};
use serde::{Deserialize, Serialize};

/// One window of a timed phase: its length, the energy of the row's domains over it and the
/// inferences (timed calls) that ended in it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EnergyWindowRecord {
    /// Length, seconds.
    pub duration_s: f64,
    /// Joules of the row's domains together.
    pub joules: f64,
    /// Calls that ended in the window.
    pub inferences: u64,
}

/// The energy of a row (JSON `energy`): joules per inference (one call at the row's batch size)
/// with its 95 % interval, or why there is none: never a zero that stands for "unknown".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowEnergy {
    /// Joules per call with its interval ([`joules_per_inference`] over [`RowEnergy::windows`]),
    /// or the reason: `no /sys/class/powercap, no NVML (…)`, a row too short for the counter, a
    /// counter that could not be read.
    pub joules_per_inference: Probe<JoulesPerInference>,
    /// Where the figures come from: `RAPL`, `NVML` or `RAPL+NVML`; empty without a counter.
    pub source: String,
    /// The domains added up: the CPU packages and their memory (`package-0`, `package-0:dram`)
    /// and, for a GPU row, that GPU (`gpu0`); empty without a counter.
    pub domains: Vec<String>,
    /// The shortest window the counters give a figure for, seconds (RAPL 0.01, NVML 1); absent
    /// without a counter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_window_s: Option<f64>,
    /// The windows the timed phase was cut into, in order (every round's, when pooled).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<EnergyWindowRecord>,
}

impl RowEnergy {
    /// No figure, for `reason` (`no /sys/class/powercap, no NVML (…)`).
    #[must_use]
    pub fn not_available(reason: impl Into<String>) -> Self {
        Self {
            joules_per_inference: Probe::NotAvailable(reason.into()),
            source: String::new(),
            domains: Vec::new(),
            min_window_s: None,
            windows: Vec::new(),
        }
    }

    /// Joules per inference from `windows` of the counters `source` and `domains`: the figure
    /// with its interval from two windows on, else "not available: row too short for the
    /// counter" with the durations.
    #[must_use]
    pub fn from_windows(
        source: &str,
        domains: Vec<String>,
        min_window_s: f64,
        windows: Vec<EnergyWindowRecord>,
    ) -> Self {
        let joules_per_inference = if windows.len() < 2 {
            let timed: f64 = windows.iter().map(|w| w.duration_s).sum();
            Probe::NotAvailable(format!(
                "row too short for the counter: {timed:.3} s timed gave {} window(s) of at least {min_window_s} s \
                 ({source}'s counter needs that long), and an interval needs 2: time longer (--duration)",
                windows.len()
            ))
        } else {
            let pairs: Vec<(f64, u64)> = windows.iter().map(|w| (w.joules, w.inferences)).collect();
            joules_per_inference(&pairs).map_err(|e| e.reason()).into_probe()
        };
        Self { joules_per_inference, source: source.into(), domains, min_window_s: Some(min_window_s), windows }
    }

    /// Whether there is a figure.
    #[must_use]
    pub fn is_available(&self) -> bool {
        self.joules_per_inference.is_available()
    }

    /// The counters in words: `RAPL package-0+package-0:dram`.
    #[must_use]
    pub fn counters(&self) -> String {
        format!("{} {}", self.source, self.domains.join("+"))
    }
}

/// `Result` into [`Probe`], the error being the reason.
trait IntoProbe<T> {
    fn into_probe(self) -> Probe<T>;
}

impl<T> IntoProbe<T> for Result<T, String> {
    fn into_probe(self) -> Probe<T> {
        match self {
            Ok(v) => Probe::Available(v),
            Err(r) => Probe::NotAvailable(r),
        }
    }
}

/// `v` with three significant digits (joules per inference span 1e-5 to 10).
#[must_use]
pub fn significant(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let decimals = (2.0 - v.abs().log10().floor()).clamp(0.0, 12.0) as usize;
    format!("{v:.decimals$}")
}

/// `energy: 0.0123 J/inference (95% CI 0.0118–0.0128, 12 windows, 4800 inferences) from RAPL
/// package-0+package-0:dram`, or `energy: not available here (reason)`.
impl fmt::Display for RowEnergy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.joules_per_inference {
            Probe::Available(j) => write!(
                f,
                "energy: {} J/inference ({:.0}% CI {}–{}, {} windows, {} inferences) from {}",
                significant(j.point),
                j.confidence * 100.0,
                significant(j.lower),
                significant(j.upper),
                j.windows,
                j.inferences,
                self.counters()
            ),
            Probe::NotAvailable(r) => write!(f, "energy: not available here ({r})"),
        }
    }
}

/// The energy of two rounds of a row pooled: their windows together when both counted the same
/// domains (so two short rounds can give a figure neither had), else the first reason found.
#[must_use]
pub fn pool_energy(pooled: Option<&RowEnergy>, next: Option<&RowEnergy>) -> Option<RowEnergy> {
    match (pooled, next) {
        (None, None) => None,
        (Some(one), None) | (None, Some(one)) => Some(RowEnergy {
            joules_per_inference: Probe::NotAvailable(match &one.joules_per_inference {
                Probe::NotAvailable(r) => r.clone(),
                Probe::Available(_) => "a round has no energy record".into(),
            }),
            ..one.clone()
        }),
        (Some(a), Some(b)) if !a.domains.is_empty() && a.domains == b.domains && a.source == b.source => {
            let windows = a.windows.iter().chain(&b.windows).copied().collect();
            let min = a.min_window_s.unwrap_or_default().max(b.min_window_s.unwrap_or_default());
            Some(RowEnergy::from_windows(&a.source, a.domains.clone(), min, windows))
        }
        (Some(a), Some(b)) => {
            let reason = [a, b]
                .iter()
                .find_map(|e| e.joules_per_inference.reason().map(str::to_string))
                .unwrap_or_else(|| "the rounds counted different energy domains".into());
            Some(RowEnergy { joules_per_inference: Probe::NotAvailable(reason), ..a.clone() })
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn window(joules: f64, inferences: u64) -> EnergyWindowRecord {
        EnergyWindowRecord { duration_s: 0.1, joules, inferences }
    }

    fn rapl(windows: Vec<EnergyWindowRecord>) -> RowEnergy {
        RowEnergy::from_windows("RAPL", vec!["package-0".into(), "package-0:dram".into()], 0.01, windows)
    }

    #[test]
    fn a_figure_needs_two_windows_and_says_so() {
        let e = rapl(vec![window(1.0, 100), window(1.2, 100), window(1.1, 100)]);
        let j = e.joules_per_inference.available().unwrap();
        assert!((j.point - 0.011).abs() < 1e-12 && j.lower < j.point && j.upper > j.point);
        let line = e.to_string();
        assert!(line.starts_with("energy: 0.0110 J/inference (95% CI 0.00"), "{line}");
        assert!(line.ends_with(", 3 windows, 300 inferences) from RAPL package-0+package-0:dram"), "{line}");
        let short = rapl(vec![window(1.0, 100)]);
        let reason = short.joules_per_inference.reason().unwrap();
        assert!(reason.starts_with("row too short for the counter: 0.100 s timed gave 1 window(s)"), "{reason}");
        assert!(short.to_string().starts_with("energy: not available here (row too short"));
        let none = RowEnergy::not_available("no /sys/class/powercap, no NVML (x)");
        assert_eq!(none.to_string(), "energy: not available here (no /sys/class/powercap, no NVML (x))");
        let json = serde_json::to_string(&none).unwrap();
        assert!(json.contains("\"not_available\"") && !json.contains("windows"), "{json}");
        let back: RowEnergy = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!((&back.windows, &back.domains, &back.source), (&e.windows, &e.domains, &e.source));
        assert!((back.joules_per_inference.available().unwrap().upper - j.upper).abs() < 1e-12);
    }

    #[test]
    fn rounds_pool_their_windows() {
        // Two rounds too short alone give a figure together.
        let a = rapl(vec![window(1.0, 100)]);
        let b = rapl(vec![window(2.0, 200)]);
        let pooled = pool_energy(Some(&a), Some(&b)).unwrap();
        assert_eq!(pooled.windows.len(), 2);
        assert!((pooled.joules_per_inference.available().unwrap().point - 0.01).abs() < 1e-12);
        // A round without a counter makes the row say why.
        let missing = RowEnergy::not_available("no /sys/class/powercap");
        let p = pool_energy(Some(&pooled), Some(&missing)).unwrap();
        assert_eq!(p.joules_per_inference.reason(), Some("no /sys/class/powercap"));
        let p = pool_energy(Some(&pooled), None).unwrap();
        assert_eq!(p.joules_per_inference.reason(), Some("a round has no energy record"));
        assert_eq!(pool_energy(None, None), None);
    }

    #[test]
    fn three_significant_digits() {
        assert_eq!(significant(0.011), "0.0110");
        assert_eq!(significant(0.000_123_4), "0.000123");
        assert_eq!(significant(12.345), "12.3");
        assert_eq!(significant(1234.4), "1234");
        assert_eq!(significant(0.0), "0");
    }
}
