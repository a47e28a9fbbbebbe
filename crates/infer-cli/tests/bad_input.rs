//! The bad-input matrix: the real `infer` binary fed missing, empty, truncated, random and
//! hostile files and absurd arguments. Every case must end with exit code ≠ 0 (or the documented
//! code), no panic, within a time limit (a hang fails), and a message on stderr naming the file
//! and saying what was expected and what was found. Also: crashes in a child become error rows,
//! Ctrl-C keeps the rows already measured, and ONNX external data cannot leave the model's folder.
#![cfg(installed_onnx)]
#![allow(clippy::unwrap_used)]

mod support;

use support::{p, root, tiny, tiny_fixture};

use std::{
    io::Read,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use infer_core::{Tensor, npy::write_npy};

/// How long any one command may take before it counts as a hang.
const LIMIT: Duration = Duration::from_secs(120);

/// The result of one run of `infer`.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

fn spawn(args: &[&str], env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_infer"));
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// Waits for `child` at most `limit`; a child still running then is killed and fails the test.
fn finish(mut child: Child, limit: Duration, what: &str) -> Run {
    // Drain the pipes on threads so a chatty child never blocks on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`infer {what}` hung: still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run { status, stdout: out_t.join().unwrap(), stderr: err_t.join().unwrap() }
}

fn infer_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    finish(spawn(args, env), LIMIT, &args.join(" "))
}

fn infer(args: &[&str]) -> Run {
    infer_env(args, &[])
}

/// A failed command: non-zero exit, no panic, stderr containing every `needle`.
fn fails(run: &Run, needles: &[&str]) {
    assert!(!run.status.success(), "expected failure, got success\n{}\n{}", run.stdout, run.stderr);
    assert!(run.status.code().is_some(), "killed by a signal: {}\n{}", run.status, run.stderr);
    assert!(!run.stderr.contains("panicked"), "panic:\n{}", run.stderr);
    for n in needles {
        assert!(run.stderr.contains(n), "stderr lacks `{n}`:\n{}", run.stderr);
    }
}

/// Deterministic noise.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[3]
        })
        .collect()
}

#[test]
fn missing_empty_truncated_and_random_model_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.onnx");
    for cmd in ["info", "bench"] {
        fails(&infer(&[cmd, p(&missing)]), &["missing.onnx", "cannot read", "No such file"]);
    }
    // A missing file is named as such even when the backend is given explicitly.
    fails(&infer(&["info", p(&dir.path().join("missing.pt")), "--backend", "onnx"]), &["missing.pt", "cannot read"]);
    let empty = dir.path().join("empty.onnx");
    std::fs::write(&empty, b"").unwrap();
    fails(&infer(&["info", p(&empty)]), &["empty.onnx", "the file is empty", "expected an ONNX model"]);
    let bytes = std::fs::read(tiny("tiny_cnn.onnx")).unwrap();
    let truncated = dir.path().join("truncated.onnx");
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();
    fails(&infer(&["info", p(&truncated)]), &["truncated.onnx", "truncated protobuf", "needs", "remain"]);
    fails(
        &infer(&["run", p(&truncated), "--input", p(&tiny("tiny_cnn.input.npy"))]),
        &["truncated.onnx", "truncated protobuf"],
    );
    let random = dir.path().join("random.onnx");
    std::fs::write(&random, noise(8192, 7)).unwrap();
    fails(&infer(&["info", p(&random)]), &["random.onnx", "not an ONNX model"]);
    let text = dir.path().join("model.txt");
    std::fs::write(&text, b"x").unwrap();
    fails(&infer(&["info", p(&text)]), &["model.txt", "unknown model format", "expected .onnx"]);
}

#[test]
fn a_model_of_one_format_given_to_another_backend() {
    let dir = tempfile::tempdir().unwrap();
    // A TorchScript-looking file (a zip archive) forced through ONNX Runtime.
    let pt = dir.path().join("model.pt");
    let mut zip = b"PK\x03\x04".to_vec();
    zip.extend(noise(1024, 3));
    std::fs::write(&pt, &zip).unwrap();
    fails(&infer(&["info", p(&pt), "--backend", "onnx"]), &["model.pt", "not an ONNX model"]);
    // An ONNX model forced onto a backend that reads another format: an error naming the
    // backend, never a crash. (In a build with torch/tf compiled in, the error is theirs.)
    for backend in ["torch", "tf"] {
        fails(&infer(&["info", p(&tiny("tiny_cnn.onnx")), "--backend", backend]), &[backend]);
    }
    fails(&infer(&["info", p(&tiny("tiny_cnn.onnx")), "--backend", "caffe"]), &["unknown backend `caffe`", "onnx"]);
}

#[test]
fn a_savedmodel_folder_without_saved_model_pb() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("exported");
    std::fs::create_dir_all(folder.join("variables")).unwrap();
    let run = infer(&["info", p(&folder)]);
    fails(&run, &["exported", "not a SavedModel", "saved_model.pb"]);
}

#[test]
fn images_that_are_not_images_or_are_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny("tiny_cnn.onnx");
    let text = dir.path().join("notes.png");
    std::fs::write(&text, b"just some text, not a picture").unwrap();
    fails(&infer(&["run", p(&model), p(&text)]), &["notes.png", "not a decodable image", "no image could be read"]);
    let good = dir.path().join("good.png");
    image::RgbImage::from_fn(32, 24, |x, y| image::Rgb([x as u8 * 7, y as u8 * 9, 100])).save(&good).unwrap();
    let png = std::fs::read(&good).unwrap();
    let truncated = dir.path().join("truncated.png");
    std::fs::write(&truncated, &png[..png.len() / 2]).unwrap();
    fails(&infer(&["run", p(&model), p(&truncated)]), &["truncated.png", "not a decodable image"]);
    let mut flipped = png.clone();
    for b in flipped.iter_mut().skip(40).step_by(7) {
        *b ^= 0x5a;
    }
    let corrupt = dir.path().join("corrupt.png");
    std::fs::write(&corrupt, &flipped).unwrap();
    fails(&infer(&["run", p(&model), p(&corrupt)]), &["corrupt.png", "not a decodable image"]);
    // Mixed with a good one: the good one is classified, the others listed, exit code 3.
    let run = infer(&["run", p(&model), p(&good), p(&text), p(&truncated)]);
    assert_eq!(run.status.code(), Some(3), "{}", run.stderr);
    assert!(run.stderr.contains("classified 1 of 3 image(s)"), "{}", run.stderr);
    assert!(run.stderr.contains("notes.png") && run.stderr.contains("truncated.png"), "{}", run.stderr);
    assert!(run.stdout.contains("good.png"), "{}", run.stdout);
}

#[test]
fn npy_inputs_of_the_wrong_dtype_rank_shape_or_format() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny("tiny_cnn.onnx");
    let cases: Vec<(&str, Tensor, &str)> = vec![
        (
            "rank3.npy",
            Tensor::from_vec(vec![3, 8, 8], vec![0f32; 192]).unwrap(),
            "expected [batch, 3, 8, 8], got [3, 8, 8]",
        ),
        (
            "shape.npy",
            Tensor::from_vec(vec![1, 3, 8, 9], vec![0f32; 216]).unwrap(),
            "expected [batch, 3, 8, 8], got [1, 3, 8, 9]",
        ),
        ("dtype.npy", Tensor::from_vec(vec![1, 3, 8, 8], vec![0f64; 192]).unwrap(), "expected f32, got f64"),
    ];
    for (name, t, needle) in cases {
        let path = dir.path().join(name);
        write_npy(&path, &t).unwrap();
        fails(&infer(&["run", p(&model), "--input", p(&path)]), &[name, needle]);
    }
    let good = std::fs::read(tiny("tiny_cnn.input.npy")).unwrap();
    let truncated = dir.path().join("truncated.npy");
    std::fs::write(&truncated, &good[..good.len() - 10]).unwrap();
    fails(&infer(&["run", p(&model), "--input", p(&truncated)]), &["truncated.npy", "data size mismatch", "needs"]);
    let empty = dir.path().join("empty.npy");
    std::fs::write(&empty, b"").unwrap();
    fails(&infer(&["run", p(&model), "--input", p(&empty)]), &["empty.npy", "not a .npy file", "magic"]);
    let missing = dir.path().join("missing.npy");
    let run = infer(&["run", p(&model), "--input", p(&missing)]);
    fails(&run, &["missing.npy", "No such file"]);
    assert_eq!(run.stderr.matches("No such file").count(), 1, "the cause is said once:\n{}", run.stderr);
}

#[test]
fn nan_and_inf_inputs_warn_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut values = vec![0.5f32; 2 * 3 * 8 * 8];
    values[3] = f32::NAN;
    values[100] = f32::INFINITY;
    values[200] = f32::NEG_INFINITY;
    let x = dir.path().join("nan.npy");
    write_npy(&x, &Tensor::from_vec(vec![2, 3, 8, 8], values).unwrap()).unwrap();
    let y = dir.path().join("y.npy");
    let run = infer(&["run", p(&tiny("tiny_cnn.onnx")), "--input", p(&x), "-o", p(&y)]);
    assert!(run.status.success(), "{}", run.stderr);
    assert!(run.stderr.contains("warning: input `image` has 3 NaN/Inf value(s)"), "{}", run.stderr);
    assert_eq!(infer_core::npy::read_npy(&y).unwrap().shape(), &[2, 10]);
}

#[test]
fn absent_device_and_absurd_batch_sizes() {
    let model = tiny("tiny_cnn.onnx");
    fails(&infer(&["bench", p(&model), "--device", "cuda", "--iterations", "2"]), &["cuda:0", "CUDA not available"]);
    fails(&infer(&["bench", p(&model), "--device", "cuda:x"]), &["cuda:x", "ordinal"]);
    fails(&infer(&["bench", p(&model), "--batch-sizes", "1,0"]), &["`1,0`", "at least 1"]);
    fails(&infer(&["bench", p(&model), "--batch-sizes", "4096000"]), &["4096000", "absurdly large"]);
    fails(&infer(&["bench", p(&model), "--batch-sizes", "two"]), &["invalid size `two`"]);
    let run = infer(&["run", p(&model), p(&tiny("tiny_cnn.input.npy")), "--batch-size", "0"]);
    fails(&run, &["--batch-size", "0"]);
    fails(&infer(&["bench", p(&model), "--concurrency", "0"]), &["--concurrency", "0"]);
}

#[test]
fn unwritable_output_paths_fail_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny("tiny_cnn.onnx");
    let nowhere = dir.path().join("no/such/folder");
    let run = infer(&["run", p(&model), "--input", p(&tiny("tiny_cnn.input.npy")), "-o", p(&nowhere.join("y.npy"))]);
    fails(&run, &["y.npy", "cannot write", "does not exist"]);
    assert!(!run.stderr.contains("output logits"), "no inference before the output is known writable");
    assert!(!run.stderr.contains("at path"), "no temporary file name in the message:\n{}", run.stderr);
    let run = infer(&["bench", p(&model), "--iterations", "2", "--json", p(&nowhere.join("b.json"))]);
    fails(&run, &["b.json", "cannot write"]);
    assert!(!run.stdout.contains("median"), "no measurement before the output is known writable");
    // A folder where a file is expected.
    fails(&infer(&["bench", p(&model), "--iterations", "2", "--json", p(dir.path())]), &["found a folder"]);
    // compare's output folder under a file.
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let fixture = tiny_fixture(dir.path());
    let run = infer(&["compare", p(&fixture), "-d", "cpu", "--out", p(&file.join("results"))]);
    fails(&run, &["results"]);
    assert!(!run.stderr.contains("measuring"), "{}", run.stderr);
}

/// How many backends this build lists (every compare has a row per backend and device).
fn backends() -> usize {
    infer_cli::backends::registry().iter().count()
}

fn compare_json(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("compare.json")).unwrap()).unwrap()
}

/// A child that aborts or segfaults (as native code may) becomes an `error: ... signal ...` row;
/// the comparison goes on, writes every report and lists the other rows.
#[test]
fn a_crashing_child_becomes_an_error_row() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = tiny_fixture(dir.path());
    for (kind, signal) in [("segv", "SIGSEGV"), ("abort", "SIGABRT")] {
        let out = dir.path().join(kind);
        let run = infer_env(
            &["compare", p(&fixture), "-d", "cpu,cuda", "--batch-sizes", "1", "--iterations", "3", "--out", p(&out)],
            &[("INFER_TEST_CRASH", &format!("{kind}@onnx"))],
        );
        // Every other backend that reads the same model.onnx is measured: its row is kept, and the
        // exit code still says that a row failed.
        let others: Vec<&str> = support::readers_of("onnx").into_iter().filter(|&b| b != "onnx").collect();
        if !others.is_empty() {
            fails(&run, &["error: onnx cpu failed"]);
            for b in others {
                let row = support::row_of(&run.stdout, b, "cpu").unwrap();
                assert!(row.contains("ok"), "{row}");
            }
        } else {
            fails(&run, &["no backend could be measured"]);
        }
        let row = run.stdout.lines().find(|l| l.starts_with("onnx") && l.contains(" cpu ")).unwrap();
        assert!(row.contains("error: the child process was killed by a signal") && row.contains(signal), "{row}");
        assert!(run.stdout.lines().any(|l| l.starts_with("onnx") && l.contains("cuda:0") && l.contains("unavailable")));
        let v = compare_json(&out);
        let entries = v["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 2 * backends(), "every backend and device has its row");
        assert!(entries[0]["status"].as_str().unwrap().contains(signal), "{v}");
        assert!(out.join("compare.md").is_file() && out.join("compare.csv").is_file());
    }
    // The hook names a backend: another backend's child is untouched.
    let out = dir.path().join("other");
    let run = infer_env(
        &["compare", p(&fixture), "-d", "cpu", "--batch-sizes", "1", "--iterations", "3", "--out", p(&out)],
        &[("INFER_TEST_CRASH", "segv@torch")],
    );
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(compare_json(&out)["entries"][0]["status"], "ok");
    // A crash in a later round: the first round's numbers stay, beside the error; no more rounds.
    let out = dir.path().join("later");
    let run = infer_env(
        &[
            "compare",
            p(&fixture),
            "-d",
            "cpu",
            "--batch-sizes",
            "1",
            "--iterations",
            "3",
            "--rounds",
            "3",
            "--out",
            p(&out),
        ],
        &[("INFER_TEST_CRASH", "abort@onnx#2")],
    );
    fails(&run, &["error: onnx cpu failed"]);
    let row = run.stdout.lines().find(|l| l.starts_with("onnx") && l.contains(" cpu ")).unwrap();
    assert!(row.contains("error: round 2 of 3: the child process was killed by a signal"), "{}", run.stdout);
    let entry = &compare_json(&out)["entries"][0];
    assert_eq!(entry["report"]["rows"][0]["samples_ms"].as_array().unwrap().len(), 3, "round 1 kept: {entry}");
    assert!(
        !run.stderr.contains("onnx on cpu (round 3 of 3)"),
        "a failed backend is not measured again: {}",
        run.stderr
    );
}

fn resnet18() -> PathBuf {
    let dir = root().join("fixtures/generated/resnet18");
    assert!(dir.join("meta.json").is_file(), "{} missing: run `cargo xtask fixtures`", dir.display());
    dir
}

/// Polls `cond` every 50 ms for at most `limit`.
fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sigint(child: &Child) {
    let ok = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success();
    assert!(ok, "kill -INT failed");
}

/// Ctrl-C during `infer compare`: the running child is killed, the rows measured so far are kept
/// in every report, the rest say "interrupted", and the exit code is 130.
#[test]
fn ctrl_c_in_compare_keeps_the_measured_rows() {
    let fixture = resnet18();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // Two CPU rows, each timed for 4 s: the interrupt lands in the second one.
    let args = [
        "compare",
        p(&fixture),
        "-d",
        "cpu,cpu",
        "--batch-sizes",
        "1",
        "--warmup",
        "1",
        "--duration",
        "4s",
        "--out",
        p(&out),
    ];
    let child = spawn(&args, &[]);
    wait_for(LIMIT, "the first row in compare.json", || {
        std::fs::read(out.join("compare.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v["entries"][0]["status"] == "ok")
    });
    sigint(&child);
    let run = finish(child, Duration::from_secs(60), "compare (interrupted)");
    assert_eq!(run.status.code(), Some(130), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(run.stderr.contains("interrupted: the rows measured so far are kept"), "{}", run.stderr);
    let v = compare_json(&out);
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2 * backends());
    assert_eq!(entries[0]["status"], "ok");
    let samples = entries[0]["report"]["rows"][0]["samples_ms"].as_array().unwrap();
    assert!(samples.len() >= 5, "the measured row keeps its samples");
    assert!(entries[1..].iter().all(|e| e["status"] == "interrupted"), "{v}");
    let md = std::fs::read_to_string(out.join("compare.md")).unwrap();
    assert!(md.contains("interrupted") && md.contains("| onnx"), "{md}");
}

/// Ctrl-C during `infer bench`: the batch sizes finished so far are in the --json file.
#[test]
fn ctrl_c_in_bench_keeps_the_finished_batch_sizes() {
    let model = resnet18().join("model.onnx");
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let args = ["bench", p(&model), "--batch-sizes", "1,2,4", "--warmup", "1", "--duration", "4s", "--json", p(&json)];
    let child = spawn(&args, &[]);
    wait_for(LIMIT, "the first batch size in bench.json", || json.is_file());
    sigint(&child);
    let run = finish(child, Duration::from_secs(60), "bench (interrupted)");
    assert_eq!(run.status.code(), Some(130), "{}", run.stderr);
    assert!(run.stderr.contains("interrupted: the batch sizes finished so far are in"), "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "batch 1 finished, batch 2 was interrupted");
    assert_eq!(rows[0]["batch_size"], 1);
    assert!(rows[0]["samples_ms"].as_array().unwrap().len() >= 5);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, [std::ffi::OsString::from("bench.json")], "no temporary file left behind");
}

/// `--concurrency 3`: three sessions run at once; every request is counted once.
#[test]
fn concurrent_sessions_complete_and_count_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("load.json");
    let model = tiny("tiny_cnn.onnx");
    let args = [
        "bench",
        p(&model),
        "--concurrency",
        "3",
        "--batch-sizes",
        "2",
        "--warmup",
        "2",
        "--iterations",
        "40",
        "--threads",
        "1",
        "--json",
        p(&json),
    ];
    let run = infer(&args);
    assert!(run.status.success(), "{}", run.stderr);
    assert!(run.stdout.contains("req/s") && run.stdout.contains("p99 ms"), "{}", run.stdout);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let r = &v[0];
    assert_eq!(r["concurrency"], 3);
    assert_eq!(r["requests_per_worker"], serde_json::json!([40, 40, 40]));
    assert_eq!(r["requests"], 120);
    assert_eq!(r["latency_ms"]["count"], 120);
    assert!(r["items_per_s"].as_f64().unwrap() > 0.0);
    assert!(!r["rss"].as_array().unwrap().is_empty());
    // By duration: the counts differ per worker but still add up.
    let run =
        infer(&["bench", p(&tiny("tiny_cnn.onnx")), "--concurrency", "2", "--duration", "1s", "--json", p(&json)]);
    assert!(run.status.success(), "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let per: Vec<u64> = v[0]["requests_per_worker"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
    assert_eq!(per.len(), 2);
    assert!(per.iter().all(|&n| n > 0), "{per:?}");
    assert_eq!(per.iter().sum::<u64>(), v[0]["requests"].as_u64().unwrap());
}

/// Minimal protobuf writer for crafted ONNX files.
fn varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn f_int(field: u64, v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    varint(field << 3, &mut out);
    varint(v, &mut out);
    out
}

fn f_bytes(field: u64, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint((field << 3) | 2, &mut out);
    varint(bytes.len() as u64, &mut out);
    out.extend_from_slice(bytes);
    out
}

/// `y = x + w` over 4 floats, with `w` stored as external data at `location`.
fn external_data_model(location: &str) -> Vec<u8> {
    let value_info = |name: &str| {
        let dim = f_bytes(1, &f_int(1, 4)); // Dimension { dim_value: 4 }
        let shape = f_bytes(2, &dim); // TensorShapeProto { dim }
        let tensor_type = [f_int(1, 1), shape].concat(); // elem_type FLOAT, shape
        let type_proto = f_bytes(1, &tensor_type);
        [f_bytes(1, name.as_bytes()), f_bytes(2, &type_proto)].concat()
    };
    let node = [f_bytes(1, b"x"), f_bytes(1, b"w"), f_bytes(2, b"y"), f_bytes(4, b"Add")].concat();
    let entry = [f_bytes(1, b"location"), f_bytes(2, location.as_bytes())].concat();
    let initializer = [f_int(1, 4), f_int(2, 1), f_bytes(8, b"w"), f_bytes(13, &entry), f_int(14, 1)].concat();
    let graph = [
        f_bytes(1, &node),
        f_bytes(2, b"g"),
        f_bytes(5, &initializer),
        f_bytes(11, &value_info("x")),
        f_bytes(12, &value_info("y")),
    ]
    .concat();
    let opset = [f_bytes(1, b""), f_int(2, 17)].concat();
    [f_int(1, 8), f_bytes(7, &graph), f_bytes(8, &opset)].concat()
}

/// ONNX external data is read only from inside the model's folder: `../`, absolute paths and
/// links leading out are refused before ONNX Runtime sees the file (cf. CVE-2024-27318).
#[test]
fn onnx_external_data_cannot_leave_the_models_folder() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.bin");
    std::fs::write(&secret, [1f32, 2., 3., 4.].iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir(&models).unwrap();
    let x = dir.path().join("x.npy");
    write_npy(&x, &Tensor::from_vec(vec![4], vec![10f32, 20., 30., 40.]).unwrap()).unwrap();

    // The control: the same model with its weights inside its folder runs, and reads them.
    std::fs::copy(&secret, models.join("weights.bin")).unwrap();
    let inside = models.join("inside.onnx");
    std::fs::write(&inside, external_data_model("weights.bin")).unwrap();
    let y = dir.path().join("y.npy");
    let run = infer(&["run", p(&inside), "--input", p(&x), "-o", p(&y)]);
    assert!(run.status.success(), "{}", run.stderr);
    assert_eq!(infer_core::npy::read_npy(&y).unwrap().as_slice::<f32>().unwrap(), &[11., 22., 33., 44.]);

    let cases = [
        ("dotdot.onnx", "../secret.bin".to_string(), "leaves the model's folder"),
        ("nested.onnx", "sub/../../secret.bin".to_string(), "leaves the model's folder"),
        ("absolute.onnx", "/etc/passwd".to_string(), "is absolute"),
        ("absolute2.onnx", p(&secret).to_string(), "is absolute"),
    ];
    for (name, location, why) in &cases {
        let model = models.join(name);
        std::fs::write(&model, external_data_model(location)).unwrap();
        for cmd in [&["info", p(&model)][..], &["run", p(&model), "--input", p(&x)][..]] {
            fails(&infer(cmd), &[name, &format!("external data path `{location}`"), why]);
        }
    }
    // A link inside the folder that points outside it.
    std::os::unix::fs::symlink(&secret, models.join("link.bin")).unwrap();
    let linked = models.join("linked.onnx");
    std::fs::write(&linked, external_data_model("link.bin")).unwrap();
    fails(&infer(&["run", p(&linked), "--input", p(&x)]), &["linked.onnx", "through a link", "secret.bin"]);
    // A link that points nowhere (yet): what it would reach cannot be checked, so it is refused
    // by every command that reads the model, every backend that reads ONNX included.
    std::os::unix::fs::symlink(dir.path().join("not_yet.bin"), models.join("dangling.bin")).unwrap();
    let dangling = models.join("dangling.onnx");
    std::fs::write(&dangling, external_data_model("dangling.bin")).unwrap();
    let why = ["dangling.onnx", "external data path `dangling.bin`", "cannot be resolved"];
    for cmd in [&["info", p(&dangling)][..], &["run", p(&dangling), "--input", p(&x)][..], &["bench", p(&dangling)][..]]
    {
        fails(&infer(cmd), &why);
    }
    for backend in support::readers_of("onnx") {
        fails(&infer(&["info", p(&dangling), "--backend", backend]), &why);
    }
}

/// The PyTorch formats: truncated and random TorchScript files and checkpoints, and a model of
/// another format forced onto the torch backend.
#[cfg(installed_torch)]
#[test]
fn truncated_random_and_foreign_files_on_the_torch_backend() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = root().join("fixtures/generated/resnet18");
    assert!(fixture.join("meta.json").is_file(), "{} missing: run `cargo xtask fixtures`", fixture.display());
    for (name, arch) in [("model.torchscript.pt", None), ("state_dict.pth", Some("resnet18"))] {
        let bytes = std::fs::read(fixture.join(name)).unwrap();
        let truncated = dir.path().join(format!("truncated-{name}"));
        std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
        let random = dir.path().join(format!("random-{name}"));
        std::fs::write(&random, noise(8192, 11)).unwrap();
        for file in [&truncated, &random] {
            let mut args = vec!["info", p(file)];
            args.extend(arch.iter().flat_map(|a| ["--arch", a]));
            let needle = file.file_name().unwrap().to_str().unwrap().to_string();
            fails(&infer(&args), &[needle.as_str(), "cannot load model", "expected"]);
        }
    }
    fails(
        &infer(&["info", p(&tiny("tiny_cnn.onnx")), "--backend", "torch"]),
        &["tiny_cnn.onnx", "not a TorchScript archive", "torch.jit.save"],
    );
}

/// The TensorFlow formats: truncated and random `.keras` files, and a model of another format
/// forced onto the tf backend.
#[cfg(installed_tf)]
#[test]
fn truncated_random_and_foreign_files_on_the_tf_backend() {
    let dir = tempfile::tempdir().unwrap();
    let keras = root().join("fixtures/generated/tiny_keras/model.keras");
    assert!(keras.is_file(), "{} missing: run `cargo xtask fixtures`", keras.display());
    let bytes = std::fs::read(&keras).unwrap();
    let truncated = dir.path().join("truncated.keras");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let random = dir.path().join("random.keras");
    std::fs::write(&random, noise(8192, 13)).unwrap();
    for file in [&truncated, &random] {
        let needle = file.file_name().unwrap().to_str().unwrap().to_string();
        fails(&infer(&["info", p(file)]), &[needle.as_str(), "cannot load model", "Keras"]);
    }
    fails(
        &infer(&["info", p(&tiny("tiny_cnn.onnx")), "--backend", "tf"]),
        &["tiny_cnn.onnx", "the tf backend reads SavedModel folders"],
    );
}
