//! `infer compare-runs` end to end on saved result files: exit 0 when nothing got slower, 1 on a
//! significant regression beyond the threshold, 2 when a file cannot be read; `infer report`'s
//! errors name the file.
#![allow(clippy::unwrap_used)]

mod support;

use std::{
    path::Path,
    process::{Command, Output},
};

use infer_core::Device;
use infer_measure::results::write_json;

fn infer(args: &[&Path], extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_infer")).args(args).args(extra).output().unwrap()
}

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_infer")).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn compare_runs_exit_codes_follow_the_decision() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    // Baseline: onnx cpu at batch 1 and 8.
    write_json(Path::new(&p("old.json")), &support::report("onnx", Device::Cpu, &[(1, 20.0), (8, 150.0)])).unwrap();
    // Same speed again (different pattern phase is irrelevant: same samples).
    write_json(Path::new(&p("same.json")), &support::report("onnx", Device::Cpu, &[(1, 20.0), (8, 150.0)])).unwrap();
    // Batch 8 is 20% slower; batch 1 gone, batch 32 new.
    write_json(Path::new(&p("slow.json")), &support::report("onnx", Device::Cpu, &[(8, 180.0), (32, 600.0)])).unwrap();

    let (code, stdout, stderr) = run(&["compare-runs", &p("old.json"), &p("same.json")]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_eq!(stdout.lines().filter(|l| l.contains("within noise")).count(), 2, "{stdout}");

    let (code, stdout, stderr) = run(&["compare-runs", &p("old.json"), &p("slow.json")]);
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    let line = |needle: &str| stdout.lines().find(|l| l.contains(needle)).unwrap_or_else(|| panic!("{stdout}"));
    let slow = line(" 8 ");
    assert!(slow.contains("+20.0%") && slow.contains("REGRESSION"), "{slow}");
    assert!(line(" 1 ").contains("removed") && line(" 32 ").contains("added"), "{stdout}");
    assert!(stderr.contains("1 significant regression(s) beyond 5.0%"), "{stderr}");

    // Faster is fine, and a 25% threshold accepts the 20% slowdown.
    assert_eq!(run(&["compare-runs", &p("slow.json"), &p("old.json")]).0, Some(0));
    let (code, stdout, _) = run(&["compare-runs", &p("old.json"), &p("slow.json"), "--threshold", "25%"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("within threshold"), "{stdout}");

    // Unreadable input: exit 2, the file named.
    let (code, _, stderr) = run(&["compare-runs", &p("old.json"), &p("missing.json")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("missing.json") && !stderr.contains("panicked"), "{stderr}");
    std::fs::write(p("other.json"), r#"{"something": "else"}"#).unwrap();
    let (code, _, stderr) = run(&["compare-runs", &p("other.json"), &p("old.json")]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("other.json") && stderr.contains("neither a comparison"), "{stderr}");
}

#[test]
fn compare_runs_reads_comparisons_too() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.json");
    write_json(&a, &support::comparison()).unwrap();
    let out = infer(&[Path::new("compare-runs"), &a, &a], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    // 2 backends × 2 devices × 3 batch sizes, all matched.
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("resnet18") && l.contains("within noise")).count(),
        12,
        "{stdout}"
    );
}

#[test]
fn report_writes_every_format_and_names_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("compare.json");
    write_json(&json, &support::comparison()).unwrap();
    for (name, starts) in [("r.md", "# resnet18"), ("r.csv", "backend,device,batch"), ("r.json", "{")] {
        let out_path = dir.path().join(name);
        let out = infer(&[Path::new("report"), &json, Path::new("-o"), &out_path], &[]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = std::fs::read_to_string(&out_path).unwrap();
        assert!(text.starts_with(starts), "{name}: {text}");
    }
    let md = std::fs::read_to_string(dir.path().join("r.md")).unwrap();
    assert!(md.contains("## CPU against GPU") && md.contains("10.84x"), "{md}");

    let bad = dir.path().join("future.json");
    std::fs::write(&bad, r#"{"schema_version": 7, "rows": []}"#).unwrap();
    let (code, _, stderr) = run(&["report", bad.to_str().unwrap(), "-o", dir.path().join("x.html").to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("future.json") && stderr.contains("unsupported schema version 7"), "{stderr}");
    let (code, _, stderr) = run(&["report", json.to_str().unwrap(), "-o", "out.pdf"]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("out.pdf") && stderr.contains(".html"), "{stderr}");
}
