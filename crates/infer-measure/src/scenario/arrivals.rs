//! When requests arrive in the server scenario: a Poisson process (exponential gaps from a seeded
//! generator), a constant rate, or the replay of a recorded trace of inter-arrival gaps.
//!
//! A schedule is a sequence of gaps: request `k` is scheduled at `gap[0] + … + gap[k]` seconds after
//! the start of the run, so the first gap is the wait before the first request.
//!
//! # Trace files
//! A trace is UTF-8 text with one inter-arrival gap per line, in order. A gap is a non-negative
//! decimal number of milliseconds, optionally followed by a unit: `ms` (the default), `us` or `s`
//! (`12.5`, `12.5ms`, `800us`, `0.0125s`). Blank lines and everything after a `#` are ignored. The
//! first gap is the wait before the first request; a gap of 0 sends a request together with the
//! previous one (a burst). When the run needs more requests than the trace holds, the trace starts
//! over (the report counts the passes). Given a rate, the gaps are all scaled by one factor so that
//! their mean rate is that rate, which keeps the trace's shape (its bursts and lulls).
//!
//! ```text
//! # recorded at the front end, 2026-11-02
//! 0
//! 12.5
//! 0.8ms
//! 40
//! ```

use std::path::{Path, PathBuf};

use crate::rng::SplitMix64;
use infer_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// The lowest rate accepted, requests per second (one an hour).
pub const MIN_RATE: f64 = 1.0 / 3600.0;
/// The highest rate accepted, requests per second.
pub const MAX_RATE: f64 = 1e6;

/// The largest trace file read (a trace is text: 64 MiB is millions of gaps).
pub const MAX_TRACE_BYTES: u64 = 64 << 20;

/// The shape of the arrival process.
#[derive(Debug, Clone, PartialEq)]
pub enum Arrivals {
    /// Independent exponential gaps (a Poisson process), drawn from a seeded generator.
    Poisson,
    /// Every gap is `1 / rate`.
    Constant,
    /// The gaps of a recorded trace, in order.
    Replay(Trace),
}

impl Arrivals {
    /// Parses `poisson`, `constant`, or the path of a trace file (read and checked here).
    ///
    /// # Errors
    /// The errors of [`Trace::read`].
    pub fn parse(text: &str) -> Result<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "poisson" => Ok(Arrivals::Poisson),
            "constant" => Ok(Arrivals::Constant),
            _ => Trace::read(Path::new(text)).map(Arrivals::Replay),
        }
    }

    /// How reports name it: `poisson`, `constant` or `replay <file>`.
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Arrivals::Poisson => "poisson".into(),
            Arrivals::Constant => "constant".into(),
            Arrivals::Replay(t) => format!("replay {}", t.path.display()),
        }
    }

    /// The rate a schedule of this shape has without a rate given: a trace's own mean rate.
    #[must_use]
    pub fn natural_rate(&self) -> Option<f64> {
        match self {
            Arrivals::Replay(t) => Some(t.mean_rate()),
            Arrivals::Poisson | Arrivals::Constant => None,
        }
    }

    /// A generator of gaps at `rate` requests per second (for a trace: `None` keeps the recorded
    /// gaps). `seed` only matters for [`Arrivals::Poisson`].
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the rate is not positive and finite, or missing for a process
    /// that needs one.
    pub fn gaps(&self, rate: Option<f64>, seed: u64) -> Result<Gaps> {
        if let Some(r) = rate
            && !(r.is_finite() && (MIN_RATE..=MAX_RATE).contains(&r))
        {
            return Err(Error::InvalidInput(format!(
                "invalid rate {r}: expected requests per second between {MIN_RATE} and {MAX_RATE}"
            )));
        }
        let need_rate = || {
            Error::InvalidInput(format!("{} arrivals need a rate: give --rate in requests per second", self.label()))
        };
        Ok(match self {
            Arrivals::Poisson => Gaps::Poisson { rate: rate.ok_or_else(need_rate)?, rng: SplitMix64::new(seed) },
            Arrivals::Constant => Gaps::Constant { gap: 1.0 / rate.ok_or_else(need_rate)? },
            Arrivals::Replay(trace) => {
                let scale = rate.map_or(1.0, |r| trace.mean_rate() / r);
                Gaps::Replay { gaps: trace.gaps_s.iter().map(|g| g * scale).collect(), next: 0 }
            }
        })
    }
}

/// A recorded trace of inter-arrival gaps (see the [module docs](self) for the file format).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// The file it was read from.
    pub path: PathBuf,
    /// The gaps, seconds, in order.
    pub gaps_s: Vec<f64>,
}

impl Trace {
    /// Reads and checks a trace file.
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be read; [`Error::File`] naming the file (and the line) when it
    /// is too large, not text, has a bad gap, no gap at all, or only zero gaps.
    pub fn read(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if meta.is_dir() {
            return Err(Error::file(
                path,
                "expected an arrival trace file (one gap per line) or `poisson`/`constant`, found a folder",
            ));
        }
        if meta.len() > MAX_TRACE_BYTES {
            return Err(Error::file(
                path,
                format!("arrival trace of {} bytes is larger than the {MAX_TRACE_BYTES}-byte limit", meta.len()),
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            Error::file(path, format!("arrival trace is not UTF-8 text (byte {})", e.utf8_error().valid_up_to()))
        })?;
        Self::parse(&text, path)
    }

    /// Parses the text of a trace; `path` names it in errors.
    ///
    /// # Errors
    /// [`Error::File`] naming `path` and the line of a bad gap, or saying the trace has no gap or
    /// only zero gaps.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let mut gaps_s = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let content = line.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            let gap = parse_gap(content).ok_or_else(|| {
                Error::file(
                    path,
                    format!(
                        "line {}: invalid gap `{content}`: expected a non-negative number of milliseconds, \
                         e.g. 12.5, 12.5ms, 800us or 0.0125s",
                        index + 1
                    ),
                )
            })?;
            gaps_s.push(gap);
        }
        if gaps_s.is_empty() {
            return Err(Error::file(
                path,
                "arrival trace has no gap: expected one inter-arrival gap per line, e.g. 12.5",
            ));
        }
        if gaps_s.iter().sum::<f64>() <= 0.0 {
            return Err(Error::file(
                path,
                format!("arrival trace has {} gaps, all zero: it has no rate", gaps_s.len()),
            ));
        }
        Ok(Self { path: path.to_path_buf(), gaps_s })
    }

    /// Requests per second over the whole trace (gaps / their sum).
    #[must_use]
    pub fn mean_rate(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let n = self.gaps_s.len() as f64;
        n / self.gaps_s.iter().sum::<f64>()
    }
}

/// One gap, in seconds: a non-negative finite number with an optional `ms`/`us`/`s` unit
/// (milliseconds by default), at most an hour.
fn parse_gap(text: &str) -> Option<f64> {
    let (number, scale) = if let Some(n) = text.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else {
        (text, 1e-3)
    };
    let v: f64 = number.trim().parse().ok()?;
    let s = v * scale;
    (v.is_finite() && v >= 0.0 && s <= 3600.0).then_some(s)
}

/// An endless source of inter-arrival gaps, in seconds.
#[derive(Debug, Clone)]
pub enum Gaps {
    /// Exponential gaps of mean `1 / rate`.
    Poisson {
        /// Requests per second.
        rate: f64,
        /// The seeded generator.
        rng: SplitMix64,
    },
    /// The same gap every time.
    Constant {
        /// Seconds.
        gap: f64,
    },
    /// A trace's gaps, starting over at its end.
    Replay {
        /// Seconds, already scaled to the rate asked.
        gaps: Vec<f64>,
        /// Index of the next gap.
        next: usize,
    },
}

impl Gaps {
    /// The next gap, seconds.
    pub fn next_gap(&mut self) -> f64 {
        match self {
            // Inversion: -ln(U) with U uniform in (0, 1] is exponential of mean 1.
            Gaps::Poisson { rate, rng } => -(1.0 - rng.unit()).ln() / *rate,
            Gaps::Constant { gap } => *gap,
            Gaps::Replay { gaps, next } => {
                let g = gaps[*next];
                *next = (*next + 1) % gaps.len();
                g
            }
        }
    }
}

/// Scheduled arrival times, seconds after the start: the running sum of the gaps.
#[derive(Debug, Clone)]
pub struct Schedule {
    gaps: Gaps,
    at: f64,
}

impl Schedule {
    /// A schedule from a gap source.
    #[must_use]
    pub fn new(gaps: Gaps) -> Self {
        Self { gaps, at: 0.0 }
    }

    /// The gap source.
    #[must_use]
    pub fn gaps(&self) -> &Gaps {
        &self.gaps
    }
}

impl Iterator for Schedule {
    type Item = f64;
    fn next(&mut self) -> Option<f64> {
        self.at += self.gaps.next_gap();
        Some(self.at)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::cast_precision_loss)]
    use super::*;

    fn times(arrivals: &Arrivals, rate: f64, n: usize) -> Vec<f64> {
        Schedule::new(arrivals.gaps(Some(rate), 42).unwrap()).take(n).collect()
    }

    /// Counts per window of `width` seconds over `[0, span)`.
    fn counts(times: &[f64], width: f64, span: f64) -> Vec<f64> {
        let windows = (span / width) as usize;
        let mut c = vec![0.0; windows];
        for &t in times {
            let w = (t / width) as usize;
            if w < windows {
                c[w] += 1.0;
            }
        }
        c
    }

    fn mean_var(v: &[f64]) -> (f64, f64) {
        let n = v.len() as f64;
        let m = v.iter().sum::<f64>() / n;
        (m, v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0))
    }

    /// A Poisson process at rate λ: the count over a long span is λ·span within 4 standard
    /// deviations (√(λ·span)); counts per window have variance/mean (the index of dispersion) 1
    /// within 4 standard errors of its χ² distribution (√(2/(k−1)) for k windows); the gaps are
    /// exponential (Kolmogorov–Smirnov distance under the 1% critical value 1.63/√n, and
    /// coefficient of variation 1).
    #[test]
    fn poisson_has_the_rate_and_dispersion_of_a_poisson_process() {
        let rate = 200.0;
        let n = 40_000;
        let t = times(&Arrivals::Poisson, rate, n);
        let span = 180.0;
        assert!(t[n - 1] > span, "the schedule covers the span");
        let in_span = t.iter().filter(|&&x| x < span).count() as f64;
        let expected = rate * span;
        assert!(
            (in_span - expected).abs() < 4.0 * expected.sqrt(),
            "{in_span} arrivals in {span} s, expected {expected}"
        );

        let c = counts(&t, 0.05, span);
        let (mean, var) = mean_var(&c);
        assert!((mean - rate * 0.05).abs() < 4.0 * (rate * 0.05 / c.len() as f64).sqrt(), "mean count {mean}");
        let dispersion = var / mean;
        let se = (2.0 / (c.len() as f64 - 1.0)).sqrt();
        assert!((dispersion - 1.0).abs() < 4.0 * se, "index of dispersion {dispersion} (se {se})");

        let mut gaps: Vec<f64> = std::iter::once(t[0]).chain(t.windows(2).map(|w| w[1] - w[0])).collect();
        let (gm, gv) = mean_var(&gaps);
        assert!((gm * rate - 1.0).abs() < 4.0 / (n as f64).sqrt(), "mean gap {gm}");
        assert!((gv.sqrt() / gm - 1.0).abs() < 0.03, "gap CoV {}", gv.sqrt() / gm);
        gaps.sort_by(f64::total_cmp);
        let ks = gaps
            .iter()
            .enumerate()
            .map(|(i, &g)| {
                let cdf = 1.0 - (-rate * g).exp();
                (cdf - i as f64 / n as f64).abs().max(((i + 1) as f64 / n as f64 - cdf).abs())
            })
            .fold(0.0, f64::max);
        assert!(ks < 1.63 / (n as f64).sqrt(), "KS distance {ks}");

        // Seeded: the same seed gives the same schedule, another seed another one.
        assert_eq!(t[..100], times(&Arrivals::Poisson, rate, 100)[..]);
        let other: Vec<f64> = Schedule::new(Arrivals::Poisson.gaps(Some(rate), 43).unwrap()).take(100).collect();
        assert_ne!(t[..100], other[..]);
    }

    #[test]
    fn constant_arrivals_are_evenly_spaced_with_no_dispersion() {
        let t = times(&Arrivals::Constant, 40.0, 400);
        for (k, &x) in t.iter().enumerate() {
            assert!((x - (k + 1) as f64 / 40.0).abs() < 1e-9, "request {k} at {x}");
        }
        // Windows of 20 gaps whose edges fall halfway between arrivals.
        let shifted: Vec<f64> = t.iter().map(|x| x - 0.0125).collect();
        let c = counts(&shifted, 0.5, 9.5);
        let (mean, var) = mean_var(&c);
        assert!((mean - 20.0).abs() < 1e-9 && var == 0.0, "{mean} {var}");
    }

    #[test]
    fn replay_is_exact_then_starts_over_and_scales_to_a_rate() {
        let text = "# a recorded trace\n0\n12.5\n\n0.8ms   # trailing comment\n2000us\n0.0047s\n";
        let trace = Trace::parse(text, Path::new("trace.txt")).unwrap();
        let gaps = [0.0, 0.0125, 0.0008, 0.002, 0.0047];
        assert_eq!(trace.gaps_s.len(), gaps.len());
        for (got, want) in trace.gaps_s.iter().zip(gaps) {
            assert!((got - want).abs() < 1e-15, "{got} vs {want}");
        }
        let arrivals = Arrivals::Replay(trace.clone());
        let mut schedule = Schedule::new(arrivals.gaps(None, 0).unwrap());
        let mut want = 0.0;
        for (k, g) in gaps.iter().chain(gaps.iter()).enumerate() {
            want += g;
            assert_eq!(schedule.next().unwrap(), want, "request {k}: the trace's gaps exactly, twice");
        }
        // Scaled to 100 req/s: the same shape, the mean gap 10 ms.
        let natural = trace.mean_rate();
        assert!((natural - 5.0 / 0.02).abs() < 1e-9);
        let scaled: Vec<f64> = Schedule::new(arrivals.gaps(Some(100.0), 0).unwrap()).take(5).collect();
        assert!((scaled[4] - 0.05).abs() < 1e-12, "{scaled:?}");
        assert!((scaled[1] - 0.0125 * natural / 100.0).abs() < 1e-12);
    }

    #[test]
    fn bad_traces_name_the_file_and_line() {
        let err = Trace::parse("1\n2\n\nfast\n", Path::new("/t/trace.txt")).unwrap_err().to_string();
        assert!(err.contains("/t/trace.txt") && err.contains("line 4") && err.contains("`fast`"), "{err}");
        for bad in ["-3", "1e400", "NaN", "12 ms ms", "5h"] {
            let err = Trace::parse(&format!("1\n{bad}\n"), Path::new("t.txt")).unwrap_err().to_string();
            assert!(err.contains("line 2") && err.contains("non-negative"), "{bad}: {err}");
        }
        let err = Trace::parse("# nothing\n\n", Path::new("t.txt")).unwrap_err().to_string();
        assert!(err.contains("no gap"), "{err}");
        let err = Trace::parse("0\n0ms\n", Path::new("t.txt")).unwrap_err().to_string();
        assert!(err.contains("all zero"), "{err}");
        let err = Arrivals::parse("/no/such/trace.txt").unwrap_err().to_string();
        assert!(err.contains("/no/such/trace.txt"), "{err}");
        assert_eq!(Arrivals::parse("Poisson").unwrap(), Arrivals::Poisson);
        let err = Arrivals::Poisson.gaps(None, 1).unwrap_err().to_string();
        assert!(err.contains("--rate"), "{err}");
        assert!(Arrivals::Constant.gaps(Some(0.0), 1).is_err());
        assert!(Arrivals::Constant.gaps(Some(f64::NAN), 1).is_err());
    }
}
