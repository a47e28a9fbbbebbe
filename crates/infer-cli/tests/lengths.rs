//! Variable-length traffic on the committed tiny encoder (`input_ids`, `attention_mask`,
//! `token_type_ids` i64 `[batch, sequence]`): `infer bench --lengths` on ONNX Runtime and tract,
//! `--pad-to`, the offline and server scenarios with lengths, and the options' errors. Nothing
//! here asserts a wall-clock latency: only counts, padding and the draws, which are seeded.
#![allow(clippy::unwrap_used, clippy::cast_precision_loss)]
#![cfg(any(installed_onnx, installed_tract))]

mod support;

use std::path::Path;

use serde_json::Value;
use support::{infer, ok, p, text, tiny};

fn encoder() -> String {
    p(&tiny("tiny_encoder.onnx")).to_string()
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// `infer bench` on the encoder with `args`, its JSON report and its terminal output.
fn bench(args: &[&str]) -> (Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lengths.json");
    let model = encoder();
    let mut all = vec!["bench", model.as_str(), "--warmup", "2", "--json", p(&out)];
    all.extend_from_slice(args);
    let stdout = ok(&infer(&all));
    (json(&out), stdout)
}

/// What every `--lengths` report must hold: buckets whose calls sum to the iterations, every
/// call's lengths in the range and padded per `pad`, padding waste in [0, 1).
fn check(r: &Value, iterations: usize, batch: usize, range: (u64, u64), pad: &dyn Fn(u64) -> u64) {
    assert_eq!(r["iterations"].as_u64().unwrap() as usize, iterations);
    assert_eq!(r["batch_size"].as_u64().unwrap() as usize, batch);
    let buckets = r["buckets"].as_array().unwrap();
    assert!(!buckets.is_empty());
    let counted: u64 = buckets.iter().map(|b| b["calls"].as_u64().unwrap()).sum();
    assert_eq!(counted as usize, iterations, "bucket counts sum to the iterations");
    for b in buckets {
        let (lo, hi) = (b["lo"].as_u64().unwrap(), b["hi"].as_u64().unwrap());
        assert!(hi.is_power_of_two() && lo <= hi, "{b}");
    }
    let calls = r["calls"].as_array().unwrap();
    assert_eq!(calls.len(), iterations);
    let (mut useful, mut total) = (0u64, 0u64);
    for c in calls {
        let lengths: Vec<u64> = c["lengths"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        assert_eq!(lengths.len(), batch);
        assert!(lengths.iter().all(|l| (range.0..=range.1).contains(l)), "{c}");
        let padded = c["padded"].as_u64().unwrap();
        assert_eq!(padded, pad(*lengths.iter().max().unwrap()), "{c}");
        useful += lengths.iter().sum::<u64>();
        total += padded * batch as u64;
    }
    let waste = r["padding_waste"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&waste), "{waste}");
    assert!((waste - (total - useful) as f64 / total as f64).abs() < 1e-12, "waste is padded over all positions");
    assert!(r["useful_tokens_per_s"].as_f64().unwrap() > 0.0 && r["items_per_s"].as_f64().unwrap() > 0.0);
}

#[cfg(installed_onnx)]
#[test]
fn bench_lengths_on_onnx_reports_buckets_and_no_waste_at_batch_one() {
    let (r, stdout) = bench(&["--lengths", "sequence=uniform:2..40", "--iterations", "30", "--batch", "1"]);
    check(&r, 30, 1, (2, 40), &|l| l);
    assert_eq!(r["padding_waste"].as_f64().unwrap(), 0.0, "one item padded to its own length wastes nothing");
    assert_eq!((r["symbol"].as_str(), r["pad_to"].as_str()), (Some("sequence"), Some("max")));
    assert!(stdout.contains("onnx cpu: latency per length bucket") && stdout.contains("padding waste"), "{stdout}");
    // Seeded: the same draws again; another seed, others.
    let (again, _) = bench(&["--lengths", "sequence=uniform:2..40", "--iterations", "30", "--batch", "1"]);
    let lengths = |v: &Value| v["calls"].as_array().unwrap().iter().map(|c| c["lengths"].clone()).collect::<Vec<_>>();
    assert_eq!(lengths(&r), lengths(&again));
    let (other, _) =
        bench(&["--lengths", "sequence=uniform:2..40", "--iterations", "30", "--batch", "1", "--seed", "9"]);
    assert_ne!(lengths(&r), lengths(&other));
}

#[cfg(installed_onnx)]
#[test]
fn bench_lengths_on_onnx_pads_short_lengths_to_a_multiple() {
    let (r, _) = bench(&[
        "--lengths",
        "sequence=uniform:2..20",
        "--pad-to",
        "multiple:64",
        "--batch-sizes",
        "3",
        "--iterations",
        "12",
        "--quiet",
    ]);
    check(&r, 12, 3, (2, 20), &|_| 64);
    assert!(r["padding_waste"].as_f64().unwrap() > 0.5, "at most 20 of 64 positions are real");
}

#[cfg(installed_tract)]
#[test]
fn bench_lengths_on_tract_with_buckets_and_a_file_of_lengths() {
    let e = fails(&["--lengths", "sequence=uniform:1..8", "--feedback", "pooled=token_type_ids"]);
    assert!(e.contains("--feedback pooled=token_type_ids does not combine with --lengths"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lengths.txt");
    std::fs::write(&file, "# tokens per request\n3\n17\n\n40 # long\n9\n").unwrap();
    let spec = format!("sequence=file:{}", p(&file));
    let (r, _) = bench(&[
        "--backend",
        "tract",
        "--lengths",
        &spec,
        "--pad-to",
        "buckets:16,32,64",
        "--batch-sizes",
        "2",
        "--iterations",
        "20",
        "--quiet",
    ]);
    let bucket = |l: u64| [16, 32, 64].into_iter().find(|&b| b >= l).unwrap();
    check(&r, 20, 2, (3, 40), &bucket);
    let drawn: Vec<u64> = r["calls"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["lengths"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect::<Vec<_>>())
        .collect();
    assert!(drawn.iter().all(|l| [3, 17, 40, 9].contains(l)), "only the file's lengths: {drawn:?}");
    assert_eq!(r["backend"].as_str(), Some("tract"));

    // `infer report` rebuilds the HTML (with the latency-against-length plot) and Markdown.
    let saved = dir.path().join("saved.json");
    std::fs::write(&saved, serde_json::to_vec(&r).unwrap()).unwrap();
    let html = dir.path().join("lengths.html");
    ok(&infer(&["report", p(&saved), "--output", p(&html)]));
    let page = std::fs::read_to_string(&html).unwrap();
    let buckets = r["buckets"].as_array().unwrap().len();
    assert!(page.contains("Latency against length") && page.contains("padding waste"), "{page}");
    assert_eq!(page.matches("class=\"mark point\"").count(), buckets, "a point per bucket");
    let md = dir.path().join("lengths.md");
    ok(&infer(&["report", p(&saved), "--output", p(&md)]));
    assert!(std::fs::read_to_string(&md).unwrap().contains("tract cpu: latency per length bucket"));
}

#[cfg(installed_tract)]
#[test]
fn offline_and_server_scenarios_with_lengths_report_padding() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("offline.json");
    let model = encoder();
    ok(&infer(&[
        "bench",
        &model,
        "--backend",
        "tract",
        "--scenario",
        "offline",
        "--samples",
        "16",
        "--batch-sizes",
        "1,4",
        "--warmup",
        "1",
        "--lengths",
        "sequence=uniform:1..30",
        "--pad-to",
        "multiple:16",
        "--json",
        p(&out),
    ]));
    let r = json(&out);
    let rows = r["result"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        let w = row["padding"]["padding_waste"].as_f64().unwrap();
        assert!(w > 0.0 && w < 1.0, "multiples of 16 pad lengths of 1 to 30: {row}");
        assert!(row["padding"]["useful_tokens_per_s"].as_f64().unwrap() > 0.0);
    }
    let (w1, w4) =
        (rows[0]["padding"]["padding_waste"].as_f64().unwrap(), rows[1]["padding"]["padding_waste"].as_f64().unwrap());
    assert!(w4 >= w1, "a batch pads every item to its longest: {w1} at batch 1, {w4} at batch 4");

    let out = dir.path().join("server.json");
    let stdout = ok(&infer(&[
        "bench",
        &model,
        "--backend",
        "tract",
        "--scenario",
        "server",
        "--rate",
        "200",
        "--iterations",
        "40",
        "--dynamic-batch",
        "4",
        "--warmup",
        "1",
        "--lengths",
        "sequence=uniform:1..30",
        "--json",
        p(&out),
    ]));
    let r = json(&out);
    let padding = &r["result"]["padding"];
    let w = padding["padding_waste"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&w), "{padding}");
    assert!(padding["items_per_s"].as_f64().unwrap() > 0.0, "{padding}");
    assert!(stdout.contains("lengths: padding waste"), "{stdout}");
}

/// The first line of a failed command's stderr.
#[cfg(installed_tract)]
fn fails(args: &[&str]) -> String {
    let model = encoder();
    let mut all = vec!["bench", model.as_str(), "--backend", "tract", "--iterations", "2", "--warmup", "0"];
    all.extend_from_slice(args);
    let out = infer(&all);
    let (_, stderr) = text(&out);
    assert!(!out.status.success() && !stderr.contains("panicked"), "{stderr}");
    stderr.lines().next().unwrap_or_default().to_string()
}

#[cfg(installed_tract)]
#[test]
fn bad_lengths_are_one_line_errors() {
    let e = fails(&["--lengths", "sequence=uniform:9..3"]);
    assert!(e.contains("--lengths sequence=uniform:9..3: expected uniform:LO..HI with 1 <= LO <= HI"), "{e}");
    let e = fails(&["--lengths", "sequence=gamma:2"]);
    assert!(e.contains("expected uniform:LO..HI, normal:MEAN,STD[,LO..HI]") && e.contains("got `gamma:2`"), "{e}");
    let e = fails(&["--lengths", "seq=uniform:1..8"]);
    assert!(
        e.contains("--lengths seq=uniform:1..8: no input has a dynamic dimension `seq`")
            && e.contains("`sequence` (input_ids axis 1"),
        "{e}"
    );
    let e = fails(&["--lengths", "sequence=uniform:1..100", "--pad-to", "buckets:8,16"]);
    assert!(e.contains("--pad-to buckets:8,16: a length of") && e.contains("above the largest bucket 16"), "{e}");
    let e = fails(&["--lengths", "sequence=uniform:1..8", "--pad-to", "multiple:0"]);
    assert!(e.contains("--pad-to multiple:0: expected max, multiple:N or buckets:N,N,..."), "{e}");
    let e = fails(&["--pad-to", "multiple:8"]);
    assert!(e.contains("--pad-to multiple:8 pads batches of --lengths: give --lengths SYMBOL=SPEC too"), "{e}");
    let e = fails(&["--lengths", "sequence=uniform:1..8", "--dim", "sequence=8"]);
    assert!(e.contains("--dim sequence sets the same dimension"), "{e}");
    let e = fails(&["--lengths", "sequence=uniform:1..8", "--batch-sizes", "1,2"]);
    assert!(e.contains("--lengths times one batch size"), "{e}");
    let e = fails(&["--lengths", "sequence=uniform:1..8", "--feedback", "pooled=token_type_ids"]);
    assert!(e.contains("--feedback pooled=token_type_ids does not combine with --lengths"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lengths.txt");
    std::fs::write(&file, "12\nmany\n").unwrap();
    let e = fails(&["--lengths", &format!("sequence={}", p(&file))]);
    assert!(e.contains(&format!("{} line 2: expected a length", p(&file))) && e.contains("got `many`"), "{e}");
}
