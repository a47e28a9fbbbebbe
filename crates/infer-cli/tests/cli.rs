//! The `infer` binary end to end on real models: what a user types, what they get back, and
//! the errors they see for bad input (exit code ≠ 0, the file named, never a panic).
#![cfg(installed_onnx)]
#![allow(clippy::unwrap_used)]

mod support;

use support::{infer, p, text, tiny, tiny_fixture};

use std::process::Output;

use infer_core::{Tensor, npy::write_npy};

/// A failed command: non-zero exit, no panic, stderr containing every `needle`.
fn assert_fails(out: &Output, needles: &[&str]) {
    let (stdout, stderr) = text(out);
    assert!(!out.status.success(), "expected failure, got success\n{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "panic:\n{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "stderr lacks `{n}`:\n{stderr}");
    }
}

#[test]
fn backends_lists_every_backend_with_its_status() {
    let out = infer(&["backends"]);
    let (stdout, _) = text(&out);
    assert!(out.status.success());
    // Every registered backend, with what its probe says (the version of an available one).
    let all = support::registry().probe_all();
    assert!(all.len() >= 4, "{all:?}");
    for (name, availability) in all {
        let line = stdout.lines().find(|l| l.split_whitespace().next() == Some(name));
        let line = line.unwrap_or_else(|| panic!("{name} not listed:\n{stdout}"));
        let said = availability.summary();
        assert!(line.contains(said.lines().next().unwrap()), "{name}: expected `{said}`:\n{stdout}");
    }
    assert!(stdout.lines().any(|l| l.starts_with("onnx") && l.contains("available (1.31.1)")), "{stdout}");
}

#[test]
fn info_shows_inputs_outputs_and_parameters() {
    let out = infer(&["info", p(&tiny("tiny_cnn.onnx"))]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("image: f32 [batch, 3, 8, 8]  (dynamic dims)"), "{stdout}");
    assert!(stdout.contains("logits: f32 [batch, 10]"), "{stdout}");
    assert!(stdout.contains("parameters: 162"), "{stdout}");
}

/// `info --device`: the model is loaded on that device and the device is printed; an absent
/// one is the usual one-line error naming it (the pinned onnxruntime wheel is CPU-only, so
/// cuda:0 is absent to it on every machine, as in `cuda_without_a_gpu_is_an_error_unless_fallback`).
#[test]
fn info_loads_on_the_device_asked() {
    let model = tiny("tiny_cnn.onnx");
    let out = infer(&["info", p(&model), "--device", "cpu"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.lines().any(|l| l == "device:   cpu"), "{stdout}");
    let out = infer(&["info", p(&model), "--device", "cuda:0"]);
    assert_fails(&out, &["cuda:0", "CUDA not available"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(stderr.trim().lines().count(), 1, "one line:\n{stderr}");
    assert!(stdout.is_empty(), "nothing printed before the error: {stdout}");
    let out = infer(&["info", p(&model), "-d", "cuda:0", "--fallback"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.lines().any(|l| l == "device:   cpu"), "after the fallback: {stdout}");
}

#[test]
fn run_writes_the_output_npy_matching_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let y = dir.path().join("y.npy");
    let out = infer(&[
        "run",
        p(&tiny("tiny_cnn.onnx")),
        "--input",
        p(&tiny("tiny_cnn.input.npy")),
        "-o",
        p(&y),
        "--top",
        "3",
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let got = infer_core::npy::read_npy(&y).unwrap();
    let expected = infer_core::npy::read_npy(&tiny("tiny_cnn.output.npy")).unwrap();
    assert!(got.max_abs_diff(&expected).unwrap() < 1e-5);
    assert_eq!(stdout.lines().count(), 2, "one top-3 line per row:\n{stdout}");
    let line: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(line["top"].as_array().unwrap().len(), 3);
}

/// A scikit-learn-style classifier (`tiny_classifier.onnx`): its ZipMap output, a sequence of
/// maps, is listed as not read, with why; the tensor output is run, written and benched as usual.
#[test]
fn an_output_that_is_not_a_tensor_is_left_unread() {
    let model = tiny("tiny_classifier.onnx");
    let out = infer(&["info", p(&model)]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("\n  output_label: i64 [batch]\n"), "{stdout}");
    assert!(
        stdout.contains(
            "  output_probability: not read (`output_probability` is a Sequence<Map<i64, f32>>, not a tensor: infer \
             feeds and reads tensors only)"
        ),
        "{stdout}"
    );
    let dir = tempfile::tempdir().unwrap();
    let y = dir.path().join("label.npy");
    let out = infer(&["run", p(&model), "-i", p(&tiny("tiny_classifier.input.npy")), "-o", p(&y)]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("output output_probability: not read"), "{stderr}");
    let want = infer_core::npy::read_npy(&tiny("tiny_classifier.output_label.npy")).unwrap();
    assert_eq!(infer_core::npy::read_npy(&y).unwrap(), want);
    let out = infer(&["bench", p(&model), "--batch-sizes", "2", "--iterations", "2", "--warmup", "0"]);
    assert!(out.status.success(), "{}", text(&out).1);
}

#[test]
fn run_takes_inputs_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let y = dir.path().join("sum.npy");
    let b = format!("b={}", p(&tiny("two_inputs.input_b.npy")));
    let a = format!("a={}", p(&tiny("two_inputs.input_a.npy")));
    let out = infer(&["run", p(&tiny("two_inputs.onnx")), "-i", &b, "-i", &a, "-o", p(&y)]);
    assert!(out.status.success(), "{}", text(&out).1);
    let got = infer_core::npy::read_npy(&y).unwrap();
    assert_eq!(got.max_abs_diff(&infer_core::npy::read_npy(&tiny("two_inputs.output_sum.npy")).unwrap()).unwrap(), 0.0);
    let out = infer(&["run", p(&tiny("two_inputs.onnx")), "-i", &format!("c={}", p(&tiny("two_inputs.input_b.npy")))]);
    assert_fails(&out, &["no input `c`", "a, b"]);
}

#[test]
fn bench_json_has_the_documented_fields() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let out = infer(&[
        "bench",
        p(&tiny("tiny_cnn.onnx")),
        "--batch-sizes",
        "1,4",
        "--warmup",
        "2",
        "--iterations",
        "15",
        "--json",
        p(&json),
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("median ms"), "{stdout}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for (row, batch) in rows.iter().zip([1, 4]) {
        assert_eq!(row["batch_size"], batch);
        assert_eq!(row["backend"], "onnx");
        assert_eq!(row["device"], "cpu");
        assert_eq!(row["iterations"], 15);
        // Every statistic is what the raw samples imply (numpy's defaults: `linear`
        // percentiles, the sample standard deviation with n - 1).
        let mut x: Vec<f64> = row["samples_ms"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(x.len(), 15);
        assert!(x.iter().all(|&ms| ms > 0.0), "an inference takes time: {x:?}");
        x.sort_by(f64::total_cmp);
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let std = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let percentile = |q: f64| {
            let h = (n - 1.0) * q / 100.0;
            let (lo, frac) = (h.floor() as usize, h - h.floor());
            x[lo] + frac * (x[(lo + 1).min(x.len() - 1)] - x[lo])
        };
        let lat = &row["latency_ms"];
        let close = |k: &str, expected: f64| {
            let got = lat[k].as_f64().unwrap();
            assert!((got - expected).abs() <= 1e-9 * expected.abs(), "{k}: {got}, the samples give {expected}");
        };
        close("mean", mean);
        close("std", std);
        close("min", x[0]);
        close("max", x[14]);
        close("median", x[7]);
        for (k, q) in [("p50", 50.0), ("p95", 95.0), ("p99", 99.0)] {
            close(k, percentile(q));
        }
        let cov = row["cov"].as_f64().unwrap();
        assert!((cov - std / mean).abs() <= 1e-9 * cov, "cov {cov}, std / mean {}", std / mean);
        let tput = row["throughput_per_s"].as_f64().unwrap();
        let batch = f64::from(u32::try_from(row["batch_size"].as_u64().unwrap()).unwrap());
        assert!((tput - batch * 1e3 / x[7]).abs() <= 1e-9 * tput, "throughput {tput} for a median of {} ms", x[7]);
        // The bootstrap interval holds the median and lies within the samples.
        let ci = &row["median_ci_ms"];
        let (lower, point, upper) =
            (ci["lower"].as_f64().unwrap(), ci["point"].as_f64().unwrap(), ci["upper"].as_f64().unwrap());
        assert!(x[0] <= lower && lower <= point && point <= upper && upper <= x[14], "{ci}");
        assert_eq!(point, x[7], "{ci}");
        // 15 iterations are too few for a p99: the report says so.
        assert!(
            row["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().contains("p99 from 15 samples"))
        );
        assert!(!row["environment"]["cpu"].as_str().unwrap().is_empty());
        assert_eq!(row["environment"]["versions"]["onnx"], "1.31.1");
        assert!(row["environment"].get("threads").is_some());
    }
    assert!(v["load_ms"].as_f64().unwrap() > 0.0);
    assert!(v["peak_rss"].as_u64().unwrap() > 0);
}

#[test]
fn bad_model_files_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let out = infer(&["info", p(&dir.path().join("nope.onnx"))]);
    assert_fails(&out, &["nope.onnx"]);
    let junk = dir.path().join("junk.onnx");
    std::fs::write(&junk, b"this is plainly not a protobuf model \xff\xfe").unwrap();
    assert_fails(&infer(&["info", p(&junk)]), &["junk.onnx", "not an ONNX model"]);
    let txt = dir.path().join("model.txt");
    std::fs::write(&txt, b"x").unwrap();
    assert_fails(
        &infer(&["run", p(&txt), "--input", p(&tiny("tiny_cnn.input.npy"))]),
        &["model.txt", "unknown model format"],
    );
}

#[test]
fn bad_inputs_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let model = tiny("tiny_cnn.onnx");
    let wrong_shape = dir.path().join("wrong_shape.npy");
    write_npy(&wrong_shape, &Tensor::from_vec(vec![1, 3, 4, 4], vec![0f32; 48]).unwrap()).unwrap();
    assert_fails(
        &infer(&["run", p(&model), "--input", p(&wrong_shape)]),
        &["wrong_shape.npy", "expected [batch, 3, 8, 8], got [1, 3, 4, 4]"],
    );
    let wrong_dtype = dir.path().join("wrong_dtype.npy");
    write_npy(&wrong_dtype, &Tensor::from_vec(vec![1, 3, 8, 8], vec![0i64; 192]).unwrap()).unwrap();
    assert_fails(
        &infer(&["run", p(&model), "--input", p(&wrong_dtype)]),
        &["wrong_dtype.npy", "expected f32, got i64"],
    );
    let not_npy = dir.path().join("not.npy");
    std::fs::write(&not_npy, b"hello").unwrap();
    assert_fails(&infer(&["run", p(&model), "--input", p(&not_npy)]), &["not.npy", "magic"]);
    assert_fails(&infer(&["bench", p(&model), "--batch-sizes", "0"]), &["at least 1"]);
    assert_fails(&infer(&["bench", p(&model), "--batch-sizes", "99999999999"]), &["absurdly large"]);
    assert_fails(&infer(&["run", p(&model), "--input", p(&tiny("tiny_cnn.input.npy")), "--device", "tpu"]), &["tpu"]);
}

#[test]
fn cuda_without_a_gpu_is_an_error_unless_fallback() {
    let model = tiny("tiny_cnn.onnx");
    let input = tiny("tiny_cnn.input.npy");
    assert_fails(&infer(&["run", p(&model), "--input", p(&input), "--device", "cuda"]), &["CUDA not available"]);
    let out = infer(&["run", p(&model), "--input", p(&input), "--device", "cuda", "--fallback"]);
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("falling back to cpu"), "{stderr}");
}

/// A 8x8 model fed real images: resize, normalize, batch; corrupt files are skipped and listed.
#[test]
fn classifies_a_folder_of_images_in_batches_skipping_corrupt_ones() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    std::fs::create_dir(&images).unwrap();
    for i in 0..5u8 {
        let img =
            image::RgbImage::from_fn(20 + u32::from(i), 16, |x, y| image::Rgb([x as u8 * 10, y as u8 * 12, i * 40]));
        img.save(images.join(format!("img{i}.png"))).unwrap();
    }
    std::fs::write(images.join("broken.jpg"), b"\xff\xd8\xff\xe0 not really a jpeg").unwrap();
    let labels = dir.path().join("labels.txt");
    std::fs::write(&labels, (0..10).map(|i| format!("class{i}\n")).collect::<String>()).unwrap();
    let preds = dir.path().join("preds.csv");
    let out = infer(&[
        "run",
        p(&tiny("tiny_cnn.onnx")),
        p(&images),
        "--batch-size",
        "2",
        "--top",
        "2",
        "--labels",
        p(&labels),
        "--format",
        "csv",
        "--predictions",
        p(&preds),
    ]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("classified 5 of 6 image(s)") && stderr.contains("broken.jpg"), "{stderr}");
    let csv = std::fs::read_to_string(&preds).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "file,rank,index,score,label");
    assert_eq!(lines.len(), 1 + 5 * 2, "{csv}");
    assert!(lines[1].contains("img0.png,1,") && lines[1].contains(",class"), "{csv}");
    // Same images one by one give the same predictions as in batches of 2.
    let single = infer(&["run", p(&tiny("tiny_cnn.onnx")), p(&images.join("img3.png")), "--top", "2"]);
    let (stdout, stderr) = text(&single);
    assert!(single.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let idx = v["top"][0]["index"].as_u64().unwrap();
    assert!(lines.iter().any(|l| l.contains("img3.png,1,") && l.contains(&format!(",{idx},"))), "{csv}\n{stdout}");
}

#[test]
fn unwritable_predictions_path_fails_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("a.png");
    image::RgbImage::new(8, 8).save(&img).unwrap();
    let target = dir.path().join("no/such/folder/preds.jsonl");
    let out = infer(&["run", p(&tiny("tiny_cnn.onnx")), p(&img), "--predictions", p(&target)]);
    assert_fails(&out, &["preds.jsonl", "cannot write"]);
    assert!(!text(&out).1.contains("classified"), "no work before the output is known writable");
}

/// `infer compare` on a fixture folder: a measured onnx row with its difference to the reference,
/// and rows that say why torch and tf were not measured; all three report files written.
#[test]
fn compare_writes_tables_with_status_rows() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = tiny_fixture(dir.path());
    let out_dir = dir.path().join("out");
    let out = infer(&[
        "compare",
        p(&fixture),
        "--batch-sizes",
        "1,2",
        "--iterations",
        "5",
        "--warmup",
        "1",
        "--rounds",
        "2",
        "--out",
        p(&out_dir),
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("measuring onnx on cpu (round 2 of 2)"), "{stderr}");
    let main_table = stdout.split("Where the time goes").next().unwrap();
    let onnx_rows: Vec<&str> = main_table.lines().filter(|l| l.starts_with("onnx") && l.contains(" cpu ")).collect();
    assert_eq!(onnx_rows.len(), 2, "{stdout}");
    assert!(onnx_rows.iter().all(|l| support::ends_ok(l)), "{stdout}");
    assert!(
        stdout.lines().any(|l| l.starts_with("onnx") && l.contains("cuda:0") && l.contains("unavailable")),
        "{stdout}"
    );
    // Every backend has a cpu row: measured where it reads the fixture's model.onnx (ONNX
    // Runtime stays `.onnx`'s default elsewhere), else saying why not.
    for b in support::registry().iter() {
        let status = support::compare_status(b, &["onnx"]);
        let row =
            support::row_of(main_table, b.name(), "cpu").unwrap_or_else(|| panic!("no {} row:\n{stdout}", b.name()));
        assert!(row.contains(&status), "{}: expected `{status}`:\n{stdout}", b.name());
    }
    for f in ["compare.json", "compare.csv", "compare.md"] {
        assert!(out_dir.join(f).is_file(), "{f} missing");
    }
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(out_dir.join("compare.json")).unwrap()).unwrap();
    let onnx =
        v["entries"].as_array().unwrap().iter().find(|e| e["backend"] == "onnx" && e["device"] == "cpu").unwrap();
    assert!(onnx["report"]["max_abs_diff"].as_f64().unwrap() < 1e-5);
    // No --threads: every backend gets one thread per physical core, recorded, never "default".
    let threads = v["environment"]["threads"].as_u64().unwrap();
    assert!(threads >= 1 && onnx["report"]["environment"]["threads"] == threads, "{v}");
    // Two rounds of 5 iterations, pooled: 10 samples per row, and each round's median kept.
    for row in onnx["report"]["rows"].as_array().unwrap() {
        assert_eq!(row["samples_ms"].as_array().unwrap().len(), 10, "{row}");
        assert_eq!(row["round_medians_ms"].as_array().unwrap().len(), 2, "{row}");
    }
    assert!(stdout.contains("rounds (spread)") && stdout.lines().any(|l| l.starts_with("onnx") && l.contains(" 2 (")));
    // After the rounds, ONNX Runtime's own profiler says where the time goes.
    assert!(stderr.contains("profiling onnx on cpu"), "{stderr}");
    let profile = &onnx["profile"];
    assert_eq!((profile["runs"].as_u64(), profile["batch_size"].as_u64()), (Some(5), Some(1)), "{profile}");
    let types: Vec<&str> = profile["by_type"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(types.contains(&"Conv"), "{types:?}");
    assert!(
        stdout.contains("Where the time goes") && stdout.lines().any(|l| l.starts_with("onnx") && l.contains("Conv"))
    );
    let md = std::fs::read_to_string(out_dir.join("compare.md")).unwrap();
    assert!(md.contains("## Where the time goes") && md.contains("| onnx | cpu | Conv |"), "{md}");
}

/// A reference that does not match makes compare fail loudly, with the row marked.
#[test]
fn compare_flags_a_reference_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = dir.path().join("fixture");
    std::fs::create_dir(&fixture).unwrap();
    std::fs::copy(tiny("tiny_cnn.onnx"), fixture.join("m.onnx")).unwrap();
    std::fs::copy(tiny("tiny_cnn.input.npy"), fixture.join("x.npy")).unwrap();
    write_npy(&fixture.join("y.npy"), &Tensor::from_vec(vec![2, 10], vec![0f32; 20]).unwrap()).unwrap();
    std::fs::write(
        fixture.join("meta.json"),
        r#"{"model": "t", "input": {"file": "x.npy"}, "formats": {"onnx": {"file": "m.onnx", "reference": "y.npy"}}}"#,
    )
    .unwrap();
    let out = infer(&[
        "compare",
        p(&fixture),
        "-d",
        "cpu",
        "--batch-sizes",
        "1",
        "--iterations",
        "3",
        "--profile-runs",
        "0",
        "--out",
        p(&dir.path().join("o")),
    ]);
    let (stdout, stderr) = text(&out);
    assert_fails(&out, &["differ from the reference"]);
    assert!(stdout.contains("MISMATCH"), "{stdout}");
    assert!(!stderr.contains("profiling") && !stdout.contains("Where the time goes"), "--profile-runs 0: no profile");
}
