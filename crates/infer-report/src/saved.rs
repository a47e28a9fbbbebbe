//! Saved result files read back: [`load_any`] tells every kind `infer` writes apart (a
//! comparison, bench reports, scenario reports, a serving comparison, variable-length reports)
//! for `infer report`;
//! [`load`] reads the two kinds that hold measured rows ([`Results`]: comparisons and bench
//! reports) for `infer compare-runs` and the fleet report, which match rows on [`RowKey`].

use std::path::Path;

use infer_core::{Error, Result};
use serde::Serialize;
use serde_json::Value;

use infer_measure::{
    lengths::{LENGTHS_SCHEMA_VERSION, LengthsReport},
    results::comparison::{CompareEntry, Comparison, RowStatus},
    results::serving::{SERVING_SCHEMA_VERSION, ServingComparison},
    results::{BenchReport, BenchRow, SCHEMA_VERSION},
    scenario::{SCENARIO_SCHEMA_VERSION, ScenarioReport},
};

/// The tolerance assumed for bench reports, which record none (`infer compare`'s default).
pub const DEFAULT_TOLERANCE: f64 = 1e-4;

/// A result file that holds measured rows.
#[derive(Debug, Clone, PartialEq)]
pub enum Results {
    /// `compare.json` from `infer compare`.
    Comparison(Box<Comparison>),
    /// `infer bench --json`: one report per device.
    Bench(Vec<BenchReport>),
}

/// Any result file `infer` writes.
#[derive(Debug, Clone, PartialEq)]
pub enum Saved {
    /// A comparison or bench reports.
    Results(Results),
    /// `infer bench --scenario offline|server --json`: one report per device.
    Scenario(Vec<ScenarioReport>),
    /// `serving.json` from `infer compare --scenario offline|server`.
    Serving(Box<ServingComparison>),
    /// `infer bench --lengths --json`: one report per device.
    Lengths(Vec<LengthsReport>),
}

/// What [`load`] says of a file that is no result at all.
const NEITHER: &str = "neither a comparison (compare.json from `infer compare`) nor a bench report (`infer bench \
                       --json`): expected an object with `entries` or `rows`";

/// Reads a result file of any kind and tells which it is.
///
/// # Errors
/// [`Error::File`](infer_core::Error) naming `path` when it cannot be read, is not JSON, is no
/// kind of result, or was written with a newer schema version than this program reads.
pub fn load_any(path: &Path) -> Result<Saved> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|e| Error::file(path, format!("not a JSON result file: {e}")))?;
    let check = |report: &Value, newest: u32, kind: &str| -> Result<()> {
        match report.get("schema_version").and_then(Value::as_u64) {
            Some(v) if v >= 1 && v <= u64::from(newest) => Ok(()),
            Some(v) => Err(Error::file(
                path,
                format!("unsupported schema version {v}: this infer reads versions 1 to {newest}"),
            )),
            None => Err(Error::file(path, format!("a {kind} without a schema_version"))),
        }
    };
    let bench = |report: &Value| check(report, SCHEMA_VERSION, "bench report");
    let scenario = |report: &Value| check(report, SCENARIO_SCHEMA_VERSION, "scenario report");
    let parse_err = |kind: &str, e: serde_json::Error| Error::file(path, format!("not a valid {kind}: {e}"));
    let is_scenario = |v: &Value| v.get("result").is_some() && v.get("backend").is_some();
    let is_lengths = |v: &Value| v.get("buckets").is_some() && v.get("padding_waste").is_some();
    let lengths = |v: &Value| check(v, LENGTHS_SCHEMA_VERSION, "variable-length report");
    match &value {
        Value::Object(_) if is_lengths(&value) => {
            lengths(&value)?;
            serde_json::from_value(value)
                .map(|r| Saved::Lengths(vec![r]))
                .map_err(|e| parse_err("variable-length report", e))
        }
        Value::Array(items) if !items.is_empty() && items.iter().all(is_lengths) => {
            items.iter().try_for_each(lengths)?;
            serde_json::from_value(value)
                .map(Saved::Lengths)
                .map_err(|e| parse_err("list of variable-length reports", e))
        }
        Value::Object(map) if map.contains_key("entries") => {
            for report in map["entries"].as_array().into_iter().flatten().filter_map(|e| e.get("report")) {
                if !report.is_null() {
                    bench(report)?;
                }
            }
            serde_json::from_value(value)
                .map(|c| Saved::Results(Results::Comparison(Box::new(c))))
                .map_err(|e| parse_err("comparison", e))
        }
        Value::Object(map) if map.contains_key("rows") && map.contains_key("scenario") => {
            check(&value, SERVING_SCHEMA_VERSION, "serving comparison")?;
            serde_json::from_value(value)
                .map(|c| Saved::Serving(Box::new(c)))
                .map_err(|e| parse_err("serving comparison", e))
        }
        Value::Object(map) if map.contains_key("rows") => {
            bench(&value)?;
            serde_json::from_value(value)
                .map(|r| Saved::Results(Results::Bench(vec![r])))
                .map_err(|e| parse_err("bench report", e))
        }
        Value::Object(_) if is_scenario(&value) => {
            scenario(&value)?;
            serde_json::from_value(value).map(|r| Saved::Scenario(vec![r])).map_err(|e| parse_err("scenario report", e))
        }
        Value::Array(items) if !items.is_empty() && items.iter().all(is_scenario) => {
            items.iter().try_for_each(scenario)?;
            serde_json::from_value(value).map(Saved::Scenario).map_err(|e| parse_err("list of scenario reports", e))
        }
        Value::Array(items) if items.iter().all(|i| i.get("rows").is_some()) => {
            items.iter().try_for_each(bench)?;
            serde_json::from_value(value)
                .map(|r| Saved::Results(Results::Bench(r)))
                .map_err(|e| parse_err("list of bench reports", e))
        }
        _ => Err(Error::file(path, NEITHER)),
    }
}

/// Reads a result file that holds measured rows: a comparison or bench reports.
///
/// # Errors
/// As [`load_any`], and for a scenario report or a serving comparison, which hold no rows to
/// match.
pub fn load(path: &Path) -> Result<Results> {
    match load_any(path)? {
        Saved::Results(r) => Ok(r),
        Saved::Scenario(_) | Saved::Serving(_) | Saved::Lengths(_) => Err(Error::file(
            path,
            "a scenario report, serving comparison or variable-length report, which has no rows to match: this reads \
             comparisons (compare.json from `infer compare`) and bench reports (`infer bench --json`)",
        )),
    }
}

/// The model name of a bench report: its file name.
fn model_name(model: &str) -> String {
    Path::new(model).file_name().map_or_else(|| model.to_string(), |n| n.to_string_lossy().into_owned())
}

impl Results {
    /// As a comparison, for the reports: a bench report becomes a comparison of its devices,
    /// with [`DEFAULT_TOLERANCE`].
    #[must_use]
    pub fn into_comparison(self) -> Comparison {
        match self {
            Results::Comparison(c) => *c,
            Results::Bench(reports) => {
                let environment = reports
                    .first()
                    .map(|r| r.environment.clone())
                    .unwrap_or_else(|| infer_measure::environment::Environment::capture(0));
                let model = reports.first().map_or_else(String::new, |r| model_name(&r.model));
                let entries = reports
                    .into_iter()
                    .map(|r| CompareEntry::new(&r.backend.clone(), r.device, RowStatus::Ok, Some(r)))
                    .collect();
                Comparison { model, environment, tolerance: DEFAULT_TOLERANCE, entries }
            }
        }
    }

    /// Every measured row with the key it is matched on.
    #[must_use]
    pub fn rows(&self) -> Vec<(RowKey, &BenchRow)> {
        let key = |model: &str, r: &BenchReport, row: &BenchRow| RowKey {
            model: model.to_string(),
            backend: r.backend.clone(),
            device: r.device.to_string(),
            batch_size: row.batch_size,
        };
        match self {
            Results::Comparison(c) => c
                .entries
                .iter()
                .filter_map(|e| e.report.as_ref())
                .flat_map(|r| r.rows.iter().map(|row| (key(&c.model, r, row), row)))
                .collect(),
            Results::Bench(reports) => reports
                .iter()
                .flat_map(|r| r.rows.iter().map(|row| (key(&model_name(&r.model), r, row), row)))
                .collect(),
        }
    }
}

/// What a row is matched on between two runs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RowKey {
    /// Model (the comparison's model name, or the bench report's model file name).
    pub model: String,
    /// Backend.
    pub backend: String,
    /// Device.
    pub device: String,
    /// Batch size.
    pub batch_size: usize,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use infer_core::Device;
    use infer_measure::results::write_json;

    use super::*;

    #[test]
    fn load_tells_the_kinds_apart_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("weird.json");
        std::fs::write(&p, r#"{"hello": 1}"#).unwrap();
        let err = load(&p).unwrap_err().to_string();
        assert!(err.contains("weird.json") && err.contains("neither a comparison"), "{err}");
        std::fs::write(&p, r#"{"schema_version": 99, "rows": []}"#).unwrap();
        let err = load(&p).unwrap_err().to_string();
        assert!(err.contains("weird.json") && err.contains("unsupported schema version 99"), "{err}");
        std::fs::write(&p, "not json").unwrap();
        assert!(load(&p).unwrap_err().to_string().contains("not a JSON result file"));
        let missing = dir.path().join("missing.json");
        assert!(load(&missing).unwrap_err().to_string().contains("missing.json"));
    }

    #[test]
    fn every_kind_is_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        let c = infer_measure::testing::synthetic();
        write_json(&p, &c).unwrap();
        assert!(matches!(load_any(&p).unwrap(), Saved::Results(Results::Comparison(_))));
        let b = infer_measure::testing::report("onnx", Device::Cpu, &[(1, 2.0)]);
        write_json(&p, &b).unwrap();
        assert!(matches!(load(&p).unwrap(), Results::Bench(v) if v.len() == 1));
        write_json(&p, &vec![b.clone(), b]).unwrap();
        assert!(matches!(load(&p).unwrap(), Results::Bench(v) if v.len() == 2));
        let s = crate::scenario::tests::offline_report();
        write_json(&p, &s).unwrap();
        assert!(matches!(load_any(&p).unwrap(), Saved::Scenario(v) if v.len() == 1));
        assert!(load(&p).unwrap_err().to_string().contains("no rows to match"));
        write_json(&p, &vec![s.clone(), s.clone()]).unwrap();
        assert!(matches!(load_any(&p).unwrap(), Saved::Scenario(v) if v.len() == 2));
        let serving = crate::serving::tests::serving(vec![s]);
        write_json(&p, &serving).unwrap();
        assert!(matches!(load_any(&p).unwrap(), Saved::Serving(_)));
        std::fs::write(&p, r#"{"schema_version": 9, "backend": "onnx", "scenario": "offline", "result": {}}"#).unwrap();
        assert!(load_any(&p).unwrap_err().to_string().contains("unsupported schema version 9"));
    }
}
