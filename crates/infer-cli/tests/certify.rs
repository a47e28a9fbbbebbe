//! `--target-ci`: `infer bench` and `infer compare` stop on confidence. A loose target is reached
//! and the row records the measuring time it took; an impossible one runs to its budget and the
//! row says it was not reached and how close it came; `compare` holds every row to the target
//! across its rounds, from the minimum of rounds on, and `--rounds N --iterations M` keep the
//! fixed rounds of a count. Nothing here compares a latency with a threshold.
#![cfg(installed_onnx)]
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;

use serde_json::Value;
use support::{infer, ok, p, text, tiny};

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn bench_stops_on_confidence_or_says_how_close_it_came() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny("tiny_cnn.onnx");
    let out = dir.path().join("loose.json");
    let stdout = ok(&infer(&[
        "bench",
        p(&model),
        "--target-ci",
        "50%",
        "--max-time",
        "20s",
        "--warmup",
        "3",
        "--json",
        p(&out),
    ]));
    assert!(stdout.contains("target: ±"), "{stdout}");
    let row = &json(&out)["rows"][0];
    let c = &row["convergence"];
    assert_eq!((c["reached"].as_bool(), c["target"].as_f64()), (Some(true), Some(0.5)), "{c}");
    assert!(c["median_half_width"].as_f64().unwrap() <= 0.5, "{c}");
    assert!(c["samples"].as_u64().unwrap() >= 10 && c["samples"] == row["iterations"], "{row}");
    assert!(c["time_to_interval_s"].as_f64().unwrap() < 20.0, "{c}");

    let out = dir.path().join("tight.json");
    let run = infer(&[
        "bench",
        p(&model),
        "--target-ci",
        "0.001%",
        "--max-time",
        "300ms",
        "--warmup",
        "3",
        "--json",
        p(&out),
    ]);
    let (stdout, stderr) = text(&run);
    assert!(run.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("target: not reached: ±"), "{stdout}");
    assert!(stderr.contains("warning: batch 1: target not reached: the 95% interval of the median is ±"), "{stderr}");
    let c = &json(&out)["rows"][0]["convergence"];
    assert_eq!(c["reached"].as_bool(), Some(false), "{c}");
    assert!(c["time_to_interval_s"].as_f64().unwrap() >= 0.3 && c["max_time_s"].as_f64() == Some(0.3), "{c}");
    assert!(c["median_half_width"].as_f64().unwrap() > 0.000_01, "{c}");
}

/// The rows of a `compare.json` that were measured.
fn rows(v: &Value) -> Vec<&Value> {
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["report"].as_object())
        .flat_map(|r| r["rows"].as_array().unwrap())
        .collect()
}

#[test]
fn compare_holds_every_row_to_the_target_across_rounds_or_keeps_fixed_rounds() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = support::tiny_fixture(dir.path());
    let compare = |name: &str, args: &[&str]| {
        let out = dir.path().join(name);
        let base =
            ["compare", p(&fixture), "--device", "cpu", "--warmup", "3", "--profile-runs", "0", "--out", p(&out)];
        let run = infer(&[&base[..], args].concat());
        let (stdout, stderr) = text(&run);
        assert!(run.status.success(), "{args:?}\n{stdout}\n{stderr}");
        (json(&out.join("compare.json")), stdout)
    };
    // A loose target: reached, never before the minimum of 3 rounds of 20 calls (usually at it;
    // a burst of other load on a shared host can take a round or two more).
    let (v, stdout) = compare("loose", &["--target-ci", "50%", "--max-time", "20s"]);
    assert!(stdout.contains("95% CI of median"), "{stdout}");
    let measured = rows(&v);
    assert!(!measured.is_empty(), "{v}");
    for row in &measured {
        let c = &row["convergence"];
        let rounds = c["rounds"].as_u64().unwrap();
        assert!(c["reached"].as_bool() == Some(true) && (3..=10).contains(&rounds), "{row}");
        let sizes: Vec<u64> = row["round_iterations"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap()).collect();
        assert!(u64::try_from(sizes.len()).ok() == Some(rounds) && sizes.iter().all(|&n| n == 20), "{sizes:?}");
        assert_eq!(sizes.iter().sum::<u64>(), row["iterations"].as_u64().unwrap());
        assert!(c["time_to_interval_s"].as_f64().unwrap() > 0.0, "{c}");
    }
    // An impossible one: rounds of 20 calls up to the most rounds (10), every one of the same
    // size, and the row says it was not reached and how close it came.
    let (v, stdout) = compare("tight", &["--target-ci", "0.001%", "--max-time", "10s"]);
    assert!(stdout.contains("not reached: ±"), "{stdout}");
    for row in rows(&v) {
        let c = &row["convergence"];
        assert_eq!((c["reached"].as_bool(), c["rounds"].as_u64()), (Some(false), Some(10)), "{row}");
        assert!(row["round_iterations"].as_array().unwrap().iter().all(|n| n == 20), "{row}");
        let measured: f64 = row["samples_ms"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).sum();
        assert!((c["time_to_interval_s"].as_f64().unwrap() - measured / 1e3).abs() < 1e-9, "{c}");
        let warnings = row["warnings"].to_string();
        assert!(warnings.contains("target not reached"), "{warnings}");
    }
    // --rounds and --iterations given: today's fixed rounds, no target.
    let (v, stdout) = compare("fixed", &["--rounds", "2", "--iterations", "5"]);
    assert!(!stdout.contains("95% CI of median"), "{stdout}");
    for row in rows(&v) {
        assert!(row.get("convergence").is_none(), "{row}");
        assert_eq!((row["iterations"].as_u64(), row["round_medians_ms"].as_array().map(Vec::len)), (Some(10), Some(2)));
    }
    let run =
        infer(&["compare", p(&fixture), "--target-ci", "2%", "--iterations", "5", "--out", p(&dir.path().join("x"))]);
    let (_, stderr) = text(&run);
    assert!(!run.status.success() && stderr.contains("do not give --iterations or --duration"), "{stderr}");
}
