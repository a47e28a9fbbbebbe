//! `--target-ci`, `--target-ci-p99` and `--max-time`: stop on confidence instead of a count
//! (`bench`, `compare`, the server scenario; see [`infer_measure::confidence`]).

use std::time::Duration;

use clap::Args;
use infer_measure::{
    confidence::{CiTarget, MIN_SAMPLES},
    timing::parse_duration,
};

/// A `--target-ci` value: a fraction, or `off`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TargetArg {
    /// No target: a count or a duration.
    Off,
    /// The largest relative half-width of the median's interval.
    Within(f64),
}

/// The options of a stop on confidence.
#[derive(Debug, Args, Clone, Default)]
pub struct ConfidenceArgs {
    /// Sample until the 95% interval of the median is within ±P of it (e.g. 2% or 0.02), or until
    /// --max-time runs out, when the row says the target was not reached and how close it came.
    /// `off`: a fixed count. `infer compare` holds every row to ±2% by default, across its rounds.
    #[arg(long, value_name = "P%|off", value_parser = parse_target)]
    pub target_ci: Option<TargetArg>,
    /// Also hold the 95% interval of p99 within ±P (with --target-ci).
    #[arg(long, value_name = "P%", value_parser = parse_percent)]
    pub target_ci_p99: Option<f64>,
    /// With --target-ci: the most measuring time per row (bench: per batch size, default 60s;
    /// compare: summed over a row's rounds, default 30s; a server run: of schedule, default 60s).
    #[arg(long, value_parser = parse_duration)]
    pub max_time: Option<Duration>,
}

impl ConfidenceArgs {
    /// The target asked (`None` without one or with `off`), its budget `default_max` unless
    /// --max-time says otherwise.
    ///
    /// # Errors
    /// --max-time or --target-ci-p99 without a target.
    pub fn target(&self, default_max: Duration) -> anyhow::Result<Option<CiTarget>> {
        let median = match self.target_ci {
            Some(TargetArg::Within(p)) => p,
            None | Some(TargetArg::Off) => {
                if self.max_time.is_some() || self.target_ci_p99.is_some() {
                    anyhow::bail!("--max-time and --target-ci-p99 go with --target-ci P%");
                }
                return Ok(None);
            }
        };
        Ok(Some(CiTarget {
            median,
            p99: self.target_ci_p99,
            max_time: self.max_time.unwrap_or(default_max),
            min_samples: MIN_SAMPLES,
        }))
    }

    /// The options that repeat these for a child process.
    #[must_use]
    pub fn child_args(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self.target_ci {
            Some(TargetArg::Within(p)) => out.extend(["--target-ci".to_string(), p.to_string()]),
            Some(TargetArg::Off) => out.extend(["--target-ci".to_string(), "off".into()]),
            None => {}
        }
        if let Some(p) = self.target_ci_p99 {
            out.extend(["--target-ci-p99".to_string(), p.to_string()]);
        }
        if let Some(d) = self.max_time {
            out.extend(["--max-time".to_string(), format!("{}ms", d.as_millis().max(1))]);
        }
        out
    }
}

/// `2%`, `0.02` or `off`.
fn parse_target(text: &str) -> Result<TargetArg, String> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Ok(TargetArg::Off);
    }
    parse_percent(text).map(TargetArg::Within)
}

/// A fraction given as `2%` or `0.02`, strictly between 0 and 1.
fn parse_percent(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    };
    match v {
        Ok(v) if v > 0.0 && v < 1.0 => Ok(v),
        _ => Err(format!("invalid interval target `{text}`: expected e.g. 2% or 0.02 (or off)")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn targets_parse_and_resolve() {
        assert_eq!(parse_target("2%").unwrap(), TargetArg::Within(0.02));
        assert_eq!(parse_target("0.005").unwrap(), TargetArg::Within(0.005));
        assert_eq!(parse_target("OFF").unwrap(), TargetArg::Off);
        assert!(parse_target("0").unwrap_err().contains("e.g. 2%"));
        assert!(parse_target("150%").is_err());
        let a = ConfidenceArgs { target_ci: Some(TargetArg::Within(0.02)), target_ci_p99: Some(0.05), max_time: None };
        let t = a.target(Duration::from_secs(60)).unwrap().unwrap();
        assert_eq!((t.median, t.p99, t.max_time), (0.02, Some(0.05), Duration::from_secs(60)));
        assert_eq!(a.child_args(), ["--target-ci", "0.02", "--target-ci-p99", "0.05"]);
        let alone = ConfidenceArgs { max_time: Some(Duration::from_secs(3)), ..ConfidenceArgs::default() };
        assert!(alone.target(Duration::from_secs(1)).unwrap_err().to_string().contains("--target-ci P%"));
        let off = ConfidenceArgs { target_ci: Some(TargetArg::Off), ..ConfidenceArgs::default() };
        assert!(off.target(Duration::from_secs(1)).unwrap().is_none());
    }
}
