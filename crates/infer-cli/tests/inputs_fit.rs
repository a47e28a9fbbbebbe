//! Inputs larger than memory are a one-line error decided before anything is allocated: the
//! bytes of every input of a call, against `MemAvailable` or what `--memory-limit` leaves; rows
//! that fit are measured beside the ones that do not, and `optimize-batch` starts no probe whose
//! inputs alone exceed its memory.
#![cfg(installed_onnx)]
#![allow(clippy::unwrap_used)]

mod support;

use std::process::Output;

use serde_json::Value;
use support::{infer, p, text, tiny};

/// A failed command: exit code 1, no panic, no abort, no stack trace, and `errors` lines
/// `error: …`, returned.
fn failed(out: &Output, errors: usize) -> Vec<String> {
    let (stdout, stderr) = text(out);
    assert_eq!(out.status.code(), Some(1), "exit code 1 expected\n{stdout}\n{stderr}");
    for bad in ["panicked", "memory allocation of", "stack backtrace", "SIGABRT"] {
        assert!(!stderr.contains(bad), "`{bad}` in:\n{stderr}");
    }
    let lines: Vec<String> = stderr.lines().filter(|l| l.starts_with("error:")).map(str::to_string).collect();
    assert_eq!(lines.len(), errors, "{stderr}");
    lines
}

fn json(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// `--shape` whose product is over this machine's `MemAvailable` (16 TiB: every dimension
/// within `--shape`'s limit): refused with the input, its shape, dtype and bytes, the bytes
/// available and what to ask less of; nothing allocated (the process would abort otherwise).
#[test]
fn a_shape_over_the_machines_memory_is_a_one_line_error() {
    let run = infer(&[
        "bench",
        p(&tiny("time_major.onnx")),
        "--shape",
        "x=1048576x1048576x4",
        "--iterations",
        "2",
        "--warmup",
        "0",
    ]);
    let line = &failed(&run, 1)[0];
    for needle in [
        "input `x` f32 [1048576, 1048576, 4] does not fit in memory: it needs 16.0 TiB",
        "available (MemAvailable)",
        "ask for less: a smaller batch than 1048576 (--batch-sizes), or a smaller --shape x",
    ] {
        assert!(line.contains(needle), "`{needle}` not in: {line}");
    }
}

/// A `--dim` list whose largest size is over the memory left under `--memory-limit`: the rows
/// that fit are measured and kept, the big one is an error row (exit code 1).
#[test]
fn a_dim_row_over_the_memory_limit_is_an_error_row() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench.json");
    // tokens [64, seq] f32: 4 KiB at seq 16, 256 MiB at seq 1048576.
    let run = infer(&[
        "bench",
        p(&tiny("dynamic_dims.onnx")),
        "--dim",
        "seq=16,1048576",
        "--batch-sizes",
        "64",
        "--memory-limit",
        "200M",
        "--iterations",
        "2",
        "--warmup",
        "0",
        "--json",
        p(&out),
    ]);
    let line = &failed(&run, 1)[0];
    assert!(line.starts_with("error: onnx cpu batch 64, seq=1048576: "), "{line}");
    assert!(line.contains("input `tokens` f32 [64, 1048576] does not fit in memory: it needs 256.0 MiB"), "{line}");
    assert!(line.contains("the address space left under --memory-limit"), "{line}");
    assert!(line.contains("--dim seq below 1048576"), "{line}");
    let (stdout, _) = text(&run);
    assert!(stdout.contains("batch 64, seq=16: median"), "the fitting row is measured:\n{stdout}");
    let v = json(&out);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!((rows.len(), rows[0]["dims"]["seq"].as_u64()), (1, Some(16)));
    let failed = v["failed_rows"].as_array().unwrap();
    assert_eq!((failed.len(), failed[0]["dims"]["seq"].as_u64()), (1, Some(1_048_576)));
    assert!(failed[0]["error"].as_str().unwrap().contains("does not fit in memory"), "{v}");
}

/// `--batch-sizes` likewise: the batch of 1048576 (768 MiB of tiny_cnn images) is an error
/// row under a 512 MiB limit, batch 2 is measured.
#[test]
fn a_batch_size_over_the_memory_limit_is_an_error_row() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench.json");
    let run = infer(&[
        "bench",
        p(&tiny("tiny_cnn.onnx")),
        "--batch-sizes",
        "2,1048576",
        "--memory-limit",
        "512M",
        "--iterations",
        "2",
        "--warmup",
        "0",
        "--json",
        p(&out),
    ]);
    let line = &failed(&run, 1)[0];
    assert!(line.contains("batch 1048576: invalid input: input `image` f32 [1048576, 3, 8, 8] does not fit"), "{line}");
    assert!(line.contains("ask for less: a smaller batch than 1048576 (--batch-sizes)"), "{line}");
    let v = json(&out);
    assert_eq!(v["rows"].as_array().unwrap().len(), 1);
    assert_eq!(v["rows"][0]["batch_size"], 2);
    assert_eq!(v["failed_rows"][0]["batch_size"], 1_048_576);
}

/// The same in the serving scenarios: the pool of samples and the largest batch are checked
/// before the first is made.
#[test]
fn a_scenario_whose_batches_do_not_fit_is_a_one_line_error() {
    let run = infer(&[
        "bench",
        p(&tiny("dynamic_dims.onnx")),
        "--dim",
        "seq=1048576",
        "--scenario",
        "offline",
        "--samples",
        "1000",
        "--batch-sizes",
        "1000",
        "--memory-limit",
        "1G",
        "--warmup",
        "0",
    ]);
    let line = &failed(&run, 1)[0];
    assert!(line.contains("does not fit in memory"), "{line}");
    assert!(line.contains("the inputs held at once (batches of 16 and 1000)"), "{line}");
}

/// `optimize-batch` starts no probe whose inputs alone exceed a probe's memory limit: the
/// parent says so instead (only the parent's own `/proc/self/maps` is written: no child ran).
#[test]
fn optimize_batch_starts_no_probe_whose_inputs_exceed_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("opt.json");
    let maps = dir.path().join("maps");
    std::fs::create_dir(&maps).unwrap();
    // tokens [batch, 1000000] f32: 3.8 MiB at batch 1, over a 2 MiB limit.
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_infer"))
        .args(["optimize-batch", p(&tiny("dynamic_dims.onnx")), "--dims", "1000000", "--max-batch", "8"])
        .args(["--memory-limit", "2M", "--iterations", "1", "--warmup", "0", "--json", p(&out)])
        .env("INFER_TEST_MAPS", &maps)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&run);
    assert!(run.status.success(), "{stderr}");
    assert!(stdout.contains("no batch fits, not even 1"), "{stdout}");
    let v = json(&out);
    let reason = v["probes"][0]["reason"].as_str().unwrap();
    assert_eq!(
        reason,
        "out of memory: inputs alone need 3.8 MiB, over the memory limit of a probe (2.0 MiB): not started"
    );
    let started: Vec<_> = std::fs::read_dir(&maps).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(started.len(), 1, "only the parent ran: {started:?}");
}
