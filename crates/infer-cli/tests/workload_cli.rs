//! Shapes by name, real input data and synthetic integers that a model accepts, end to end on
//! ONNX Runtime: `--dim`, `--shape`, `--input` (`.npy` / `.npz`) and `--int-range` in `bench`,
//! `profile` and `optimize-batch`, on the committed tiny models.
#![cfg(installed_onnx)]
#![allow(clippy::unwrap_used)]

mod support;

use std::{io::Write, path::Path, process::Output};

use infer_core::{Tensor, npy::encode_npy};
use serde_json::Value;
use support::{infer, ok, p, text, tiny};

/// A failed command: non-zero exit, no panic, one `error:` line containing every `needle`
/// (the runtimes' own start-up lines aside); returns that line.
fn fails(out: &Output, needles: &[&str]) -> String {
    let (stdout, stderr) = text(out);
    assert!(!out.status.success(), "expected failure, got success\n{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "panic:\n{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line expected:\n{stderr}");
    for n in needles {
        assert!(errors[0].contains(n), "the error lacks `{n}`:\n{stderr}");
    }
    errors[0].to_string()
}

/// `infer bench MODEL ARGS --iterations 2 --warmup 0 --json OUT`, the JSON report read back.
fn bench_json(model: &Path, args: &[&str]) -> (String, Value) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let mut all = vec!["bench", p(model), "--iterations", "2", "--warmup", "0", "--json", p(&json)];
    all.extend_from_slice(args);
    let stdout = ok(&infer(&all));
    (stdout, serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap())
}

/// `(batch, dims, shape of the first input)` of every row.
fn rows(report: &Value) -> Vec<(u64, String, Vec<u64>)> {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let shape = r["inputs"][0]["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
            (r["batch_size"].as_u64().unwrap(), r["dims"].to_string(), shape)
        })
        .collect()
}

/// Writes an `.npz` archive (stored or deflated, as `np.savez` / `np.savez_compressed` do).
fn write_npz(path: &Path, arrays: &[(&str, &Tensor)], compressed: bool) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let method = if compressed { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, t) in arrays {
        zip.start_file(format!("{name}.npy"), options).unwrap();
        zip.write_all(&encode_npy(t)).unwrap();
    }
    zip.finish().unwrap();
}

#[test]
fn dim_by_name_measures_one_row_per_size_and_batch() {
    let (stdout, report) = bench_json(&tiny("dynamic_dims.onnx"), &["--dim", "seq=3,7", "--batch-sizes", "1,2"]);
    assert_eq!(
        rows(&report),
        [
            (1, r#"{"seq":3}"#.into(), vec![1, 3]),
            (2, r#"{"seq":3}"#.into(), vec![2, 3]),
            (1, r#"{"seq":7}"#.into(), vec![1, 7]),
            (2, r#"{"seq":7}"#.into(), vec![2, 7]),
        ]
    );
    // The table has a column for the dimension, and each row its size.
    let header = stdout.lines().next().unwrap();
    assert!(header.starts_with("backend  device  batch  seq  median ms"), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("onnx     cpu     2      7    ")), "{stdout}");
    // Speed-ups are against batch 1 of the same sequence length.
    for r in report["rows"].as_array().unwrap().iter().filter(|r| r["batch_size"] == 1) {
        assert_eq!(r["speedup_vs_batch1"], 1.0, "{r}");
    }
    // Positional --dims keeps working, and records the size by name too.
    let (_, report) = bench_json(&tiny("dynamic_dims.onnx"), &["--dims", "5"]);
    assert_eq!(rows(&report), [(1, r#"{"seq":5}"#.into(), vec![1, 5])]);
}

#[test]
fn unset_dims_and_bad_dim_options_are_one_line_errors() {
    let model = tiny("dynamic_dims.onnx");
    fails(
        &infer(&["bench", p(&model), "--iterations", "1"]),
        &["no size for `seq`", "`seq` (tokens axis 1): --dim seq=N", "the batch (axis 0 of tokens): --batch-sizes"],
    );
    fails(&infer(&["bench", p(&model), "--dim", "seq=4", "--dims", "4"]), &["--dims", "--dim"]);
    fails(
        &infer(&["bench", p(&model), "--dim", "sequence=4"]),
        &["--dim sequence=4: no input has a dimension `sequence`", "`seq` (tokens axis 1): --dim seq=N"],
    );
    fails(&infer(&["bench", p(&model), "--dim", "batch=4"]), &["`batch` is the batch dimension", "--batch-sizes"]);
    fails(&infer(&["bench", p(&model), "--dim", "seq=0"]), &["invalid --dim `seq=0`"]);
    fails(&infer(&["bench", p(&model), "--shape", "tokens=1x2x3"]), &["input `tokens` has 2 dimensions"]);
}

#[test]
fn shape_by_name_follows_the_batch_sizes() {
    let (_, report) = bench_json(&tiny("dynamic_dims.onnx"), &["--shape", "tokens=4x6", "--batch-sizes", "1,3"]);
    assert_eq!(rows(&report), [(1, r#"{"seq":6}"#.into(), vec![1, 6]), (3, r#"{"seq":6}"#.into(), vec![3, 6])]);
    // Without --batch-sizes, the leading size of --shape is the batch.
    let (_, report) = bench_json(&tiny("dynamic_dims.onnx"), &["--shape", "tokens=4x6"]);
    assert_eq!(rows(&report), [(4, r#"{"seq":6}"#.into(), vec![4, 6])]);
    // --shape and --dim disagreeing on a symbol is an error naming both.
    fails(
        &infer(&["bench", p(&tiny("dynamic_dims.onnx")), "--shape", "tokens=1x6", "--dim", "seq=5"]),
        &["`seq` is 6 in --shape tokens but 5 by --dim seq=5"],
    );
}

#[test]
fn real_inputs_from_npz_are_cut_or_repeated_to_each_batch() {
    let dir = tempfile::tempdir().unwrap();
    let a = infer_core::npy::read_npy(&tiny("two_inputs.input_a.npy")).unwrap();
    let b = infer_core::npy::read_npy(&tiny("two_inputs.input_b.npy")).unwrap();
    for compressed in [false, true] {
        let npz = dir.path().join(format!("ab-{compressed}.npz"));
        write_npz(&npz, &[("b", &b), ("a", &a)], compressed);
        // `run` reads the archive by name and computes the reference output.
        let y = dir.path().join("y.npy");
        ok(&infer(&["run", p(&tiny("two_inputs.onnx")), "-i", p(&npz), "-o", p(&y)]));
        let got = infer_core::npy::read_npy(&y).unwrap();
        let expected = infer_core::npy::read_npy(&tiny("two_inputs.output_sum.npy")).unwrap();
        assert_eq!(got.max_abs_diff(&expected).unwrap(), 0.0);
        // `bench` cuts the 3 rows to 2 and repeats them to 5.
        let (stdout, report) = bench_json(&tiny("two_inputs.onnx"), &["-i", p(&npz), "--batch-sizes", "2,5"]);
        let shapes: Vec<_> = rows(&report).into_iter().map(|(batch, _, shape)| (batch, shape)).collect();
        assert_eq!(shapes, [(2, vec![2, 4]), (5, vec![5, 4])]);
        let input = &report["rows"][0]["inputs"][1];
        assert_eq!(input["source"], format!("{}[b]", npz.display()), "{input}");
        assert!(input.get("values").is_none(), "real data has no synthetic range: {input}");
        assert!(stdout.contains(&format!("input b: i64 {}[b]", npz.display())), "{stdout}");
    }
    // Half the inputs real, half synthetic; an archive array naming no input is an error.
    let only_a = dir.path().join("a.npz");
    write_npz(&only_a, &[("a", &a)], false);
    let (_, report) = bench_json(&tiny("two_inputs.onnx"), &["--input", p(&only_a)]);
    assert_eq!(report["rows"][0]["inputs"][1]["source"], "synthetic");
    let stray = dir.path().join("stray.npz");
    write_npz(&stray, &[("c", &a)], false);
    fails(
        &infer(&["bench", p(&tiny("two_inputs.onnx")), "-i", p(&stray)]),
        &["stray.npz", "array `c` matches no input"],
    );
    let not_zip = dir.path().join("bad.npz");
    std::fs::write(&not_zip, b"not a zip").unwrap();
    fails(&infer(&["bench", p(&tiny("two_inputs.onnx")), "-i", p(&not_zip)]), &["bad.npz", "not a .npz (zip) archive"]);
}

#[test]
fn synthetic_integers_follow_names_and_int_range() {
    // two_inputs: `b` is int64 and reaches no lookup: the small default range, unless told.
    let (stdout, report) = bench_json(&tiny("two_inputs.onnx"), &["--int-range", "b=-3:-1"]);
    let values = &report["rows"][0]["inputs"][1]["values"];
    assert_eq!(
        (values["lo"].as_i64(), values["hi"].as_i64(), values["found"].as_str()),
        (Some(-3), Some(-1), Some("option"))
    );
    assert!(stdout.contains("input b: i64 [-3, -1) from --int-range b=-3:-1"), "{stdout}");
    let (_, report) = bench_json(&tiny("two_inputs.onnx"), &[]);
    assert_eq!(report["rows"][0]["inputs"][1]["values"]["found"], "default");
    fails(&infer(&["bench", p(&tiny("two_inputs.onnx")), "--int-range", "a=0:2"]), &["input `a` is f32"]);
    fails(&infer(&["bench", p(&tiny("two_inputs.onnx")), "--int-range", "b=2:2"]), &["LO must be below HI"]);
}

#[test]
fn profile_and_optimize_batch_take_the_same_workload() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("profile.json");
    ok(&infer(&["profile", p(&tiny("dynamic_dims.onnx")), "--dim", "seq=4", "--iterations", "2", "--json", p(&json)]));
    let profile: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!((profile["runs"].as_u64(), profile["batch_size"].as_u64()), (Some(2), Some(1)), "{profile}");
    assert_eq!(profile["inputs"][0]["shape"], serde_json::json!([1, 4]), "the --dim size reached the profile");
    fails(&infer(&["profile", p(&tiny("dynamic_dims.onnx")), "--dim", "seq=4,8"]), &["measures one shape"]);
    let json = dir.path().join("optimize.json");
    ok(&infer(&[
        "optimize-batch",
        p(&tiny("dynamic_dims.onnx")),
        "--dim",
        "seq=4",
        "--max-batch",
        "2",
        "--iterations",
        "2",
        "--json",
        p(&json),
    ]));
    let result: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(result["largest_fit"], 2, "{result}");
    // The load test too: two sessions on the same [1, 4] inputs.
    let json = dir.path().join("load.json");
    ok(&infer(&[
        "bench",
        p(&tiny("dynamic_dims.onnx")),
        "--concurrency",
        "2",
        "--dim",
        "seq=4",
        "--iterations",
        "3",
        "--warmup",
        "0",
        "--json",
        p(&json),
    ]));
    let load: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!((load[0]["concurrency"].as_u64(), load[0]["requests"].as_u64()), (Some(2), Some(6)), "{load}");
    fails(&infer(&["bench", p(&tiny("dynamic_dims.onnx")), "--concurrency", "2"]), &["no size for `seq`"]);
    // And the serving scenarios: offline batches of the encoder's requests at one length, the
    // integer inputs inside their tables (ids of 50 would fail the run).
    let json = dir.path().join("offline.json");
    ok(&infer(&[
        "bench",
        p(&encoder()),
        "--scenario",
        "offline",
        "--dim",
        "sequence=4",
        "--samples",
        "8",
        "--batch-sizes",
        "1,4",
        "--json",
        p(&json),
    ]));
    let offline: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let o = &offline["result"];
    assert_eq!(offline["scenario"], "offline", "{offline}");
    assert_eq!(o["samples"], 8, "{offline}");
    let batches: Vec<u64> = o["rows"].as_array().unwrap().iter().map(|r| r["batch_size"].as_u64().unwrap()).collect();
    assert_eq!(batches, [1, 4], "{offline}");
    fails(
        &infer(&["bench", p(&encoder()), "--scenario", "offline", "--dim", "sequence=4,8", "--samples", "8"]),
        &["a serving scenario measures one shape"],
    );
}

/// The committed tiny encoder: int64 `input_ids` / `attention_mask` / `token_type_ids`
/// `[batch, sequence]`, ids through a Cast into a 50-row table, type ids through
/// Unsqueeze + Reshape into a 2-row table.
fn encoder() -> std::path::PathBuf {
    tiny("tiny_encoder.onnx")
}

/// `(lo, hi, found)` of input `i` in the first row.
fn range(report: &Value, i: usize) -> (i64, i64, String) {
    let v = &report["rows"][0]["inputs"][i]["values"];
    (v["lo"].as_i64().unwrap(), v["hi"].as_i64().unwrap(), v["found"].as_str().unwrap().to_string())
}

#[test]
fn an_encoder_benches_from_a_sequence_length_alone() {
    let (stdout, report) = bench_json(&encoder(), &["--dim", "sequence=16", "--batch-sizes", "1,2"]);
    assert_eq!(
        rows(&report),
        [(1, r#"{"sequence":16}"#.into(), vec![1, 16]), (2, r#"{"sequence":16}"#.into(), vec![2, 16])]
    );
    // The graph proves the ids' range (a 50-row table behind a Cast) and the type ids' (a 2-row
    // table behind Unsqueeze + Reshape): evidence wins over names; masks are ones by name.
    assert_eq!(range(&report, 0), (0, 50, "graph".into()));
    assert_eq!(range(&report, 1), (1, 2, "name".into()));
    assert_eq!(range(&report, 2), (0, 2, "graph".into()));
    assert!(
        stdout.contains("input input_ids: i64 [0, 50) from the graph: Gather on initializer `word_embeddings` (50 rows), through Cast"),
        "{stdout}"
    );
    assert!(stdout.contains("input token_type_ids: i64 [0, 2) from the graph: Gather on initializer `token_type_embeddings` (2 rows), through Unsqueeze → Reshape"), "{stdout}");
    assert!(stdout.contains("input attention_mask: i64 [1, 2) by name: `*mask*` inputs are ones"), "{stdout}");

    // A row per sequence length, with the length in the table.
    let (stdout, report) = bench_json(&encoder(), &["--dim", "sequence=8,16"]);
    assert_eq!(
        rows(&report),
        [(1, r#"{"sequence":8}"#.into(), vec![1, 8]), (1, r#"{"sequence":16}"#.into(), vec![1, 16])]
    );
    assert!(stdout.lines().next().unwrap().contains("batch  sequence  median ms"), "{stdout}");

    fails(
        &infer(&["bench", p(&encoder())]),
        &[
            "no size for `sequence`",
            "`sequence` (input_ids axis 1, attention_mask axis 1, token_type_ids axis 1): --dim sequence=N",
        ],
    );
}

#[test]
fn int_range_is_what_onnx_runtime_receives() {
    // Ids of 49 are the table's last row: fine. Ids of 50 are one past it: ONNX Runtime's
    // Gather refuses them, and the error says which range the synthetic ids came from.
    let (_, report) = bench_json(&encoder(), &["--dim", "sequence=4", "--int-range", "input_ids=49:50"]);
    assert_eq!(range(&report, 0), (49, 50, "option".into()));
    fails(
        &infer(&["bench", p(&encoder()), "--dim", "sequence=4", "--int-range", "input_ids=50:51", "--iterations", "1"]),
        &["input_ids [50, 51) from --int-range input_ids=50:51", "Gather"],
    );
    fails(
        &infer(&["bench", p(&encoder()), "--dim", "sequence=4", "--int-range", "token_type_ids=2:3"]),
        &["token_type_ids [2, 3) from --int-range", "Gather"],
    );
}

#[test]
fn an_encoder_benches_on_real_token_ids_from_one_npz() {
    let dir = tempfile::tempdir().unwrap();
    let npz = dir.path().join("tokens.npz");
    let read = |n: &str| infer_core::npy::read_npy(&tiny(&format!("tiny_encoder.input_{n}.npy"))).unwrap();
    let (ids, mask, types) = (read("input_ids"), read("attention_mask"), read("token_type_ids"));
    write_npz(&npz, &[("input_ids", &ids), ("attention_mask", &mask), ("token_type_ids", &types)], true);
    // The file's 2 rows of 6 tokens, repeated to 3: the sequence length comes from the data.
    let (_, report) = bench_json(&encoder(), &["-i", p(&npz), "--batch-sizes", "1,3"]);
    assert_eq!(
        rows(&report),
        [(1, r#"{"sequence":6}"#.into(), vec![1, 6]), (3, r#"{"sequence":6}"#.into(), vec![3, 6])]
    );
    // --dim cannot contradict the data.
    fails(
        &infer(&["bench", p(&encoder()), "-i", p(&npz), "--dim", "sequence=8"]),
        &["`sequence` is 6 in input `input_ids`", "but 8 by --dim sequence=8"],
    );
}

/// A TorchScript module without its sidecar has inputs of unknown shape and dtype: `--shape`
/// gives them.
#[cfg(installed_torch)]
#[test]
fn shape_gives_a_shapeless_torchscript_module_its_input() {
    let generated =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/generated/resnet18/model.torchscript.pt");
    assert!(generated.is_file(), "{} is missing: run `cargo xtask fixtures`", generated.display());
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.pt");
    std::fs::copy(&generated, &model).unwrap();
    let err =
        fails(&infer(&["bench", p(&model), "--iterations", "1"]), &["no shape for `", "has no shape in the model"]);
    // The input's name, as the backend reads it from the module.
    let name = err.split("no shape for `").nth(1).unwrap().split('`').next().unwrap().to_string();
    let shape = format!("{name}=1x3x32x32:f32");
    let (_, report) = bench_json(&model, &["--shape", &shape, "--batch-sizes", "1,2"]);
    let shapes: Vec<_> = rows(&report).into_iter().map(|(b, _, s)| (b, s)).collect();
    assert_eq!(shapes, [(1, vec![1, 3, 32, 32]), (2, vec![2, 3, 32, 32])]);
}

/// `infer compare` hands the workload to every child: a row per sequence length and batch size,
/// pooled across rounds per length, and the profile child at the first length.
#[test]
fn compare_measures_a_row_per_dimension_size() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = dir.path().join("fixture");
    std::fs::create_dir_all(&fixture).unwrap();
    for f in ["dynamic_dims.onnx", "dynamic_dims.input.npy", "dynamic_dims.output.npy"] {
        std::fs::copy(tiny(f), fixture.join(f)).unwrap();
    }
    std::fs::write(
        fixture.join("meta.json"),
        r#"{"model": "dynamic_dims", "input": {"file": "dynamic_dims.input.npy"},
            "formats": {"onnx": {"file": "dynamic_dims.onnx", "reference": "dynamic_dims.output.npy"}}}"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let stdout = ok(&infer(&[
        "compare",
        p(&fixture),
        "-d",
        "cpu",
        "--dim",
        "seq=3,6",
        "--batch-sizes",
        "1,2",
        "--rounds",
        "2",
        "--iterations",
        "3",
        "--warmup",
        "0",
        "--profile-runs",
        "1",
        "--out",
        p(&out),
    ]));
    let header = stdout.lines().find(|l| l.starts_with("backend")).unwrap();
    let words: Vec<&str> = header.split_whitespace().take(5).collect();
    assert_eq!(words, ["backend", "device", "batch", "seq", "median"], "{stdout}");
    let c: Value = serde_json::from_slice(&std::fs::read(out.join("compare.json")).unwrap()).unwrap();
    let onnx = c["entries"].as_array().unwrap().iter().find(|e| e["backend"] == "onnx").unwrap();
    let rows = rows(&onnx["report"]);
    let got: Vec<_> = rows.iter().map(|(b, d, _)| (*b, d.as_str())).collect();
    assert_eq!(got, [(1, r#"{"seq":3}"#), (2, r#"{"seq":3}"#), (1, r#"{"seq":6}"#), (2, r#"{"seq":6}"#)]);
    for r in onnx["report"]["rows"].as_array().unwrap() {
        assert_eq!(r["round_medians_ms"].as_array().unwrap().len(), 2, "each length pools its own rounds: {r}");
    }
    assert_eq!(onnx["profile"]["inputs"][0]["shape"], serde_json::json!([1, 3]), "{}", onnx["profile"]);
}
