//! Every registered backend through the `infer` command line, listed from the registry (no
//! backend is named here): on the committed tiny fixtures of the formats it reads (the
//! conformance catalogue) `info` describes the model and `run` reproduces the reference; its
//! declared options are listed and a bad value refused; every backend that reads a file names
//! its axes the same (`--dim sequence=N` means one axis everywhere) and proves the same integer
//! ranges; a model a backend cannot read is one line naming the file. A new backend crate gets
//! all of this by being registered.
#![cfg(installed_onnx)]
#![allow(clippy::unwrap_used)]

mod support;

use infer_conformance::fixtures::for_backend;
use support::{available, infer, ok, p, registry, text, tiny};

#[test]
fn every_backend_reads_and_runs_its_fixtures() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for b in registry().iter().filter(|b| available(*b)) {
        for f in for_backend(b) {
            let what = format!("{} on {}", b.name(), f.name);
            let info = ok(&infer(&["info", p(&f.model), "--backend", b.name()]));
            assert!(info.contains(&format!("backend:  {} ", b.name())), "{what}:\n{info}");
            for e in &f.inputs {
                assert!(info.contains(&format!("  {}: ", e.name)), "{what}: input {} not listed:\n{info}", e.name);
            }
            let file: String = f.name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
            let y = dir.path().join(format!("{}-{file}.npz", b.name()));
            let inputs: Vec<String> =
                f.inputs.iter().zip(&f.reference_inputs).map(|(e, path)| format!("{}={}", e.name, p(path))).collect();
            let mut args = vec!["run", p(&f.model), "--backend", b.name(), "-o", p(&y)];
            for i in &inputs {
                args.extend(["--input", i.as_str()]);
            }
            ok(&infer(&args));
            let got = infer_measure::workload::read_npz(&y).unwrap();
            for (e, reference) in f.outputs.iter().zip(&f.reference_outputs) {
                let want = infer_core::npy::read_npy(reference).unwrap();
                let (_, t) = got.iter().find(|(n, _)| *n == e.name).unwrap_or_else(|| panic!("{what}: no {}", e.name));
                let diff = t.max_abs_diff(&want).unwrap();
                assert!(diff <= f.tolerance.max(1e-6), "{what}: {} differs by {diff:e}", e.name);
            }
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} (backend, fixture) pairs ran");
}

#[test]
fn every_declared_option_is_listed_and_a_bad_value_refused() {
    let listed = ok(&infer(&["backends", "--options"]));
    let model = tiny("tiny_cnn.onnx");
    for b in registry().iter() {
        for o in b.options() {
            assert!(
                listed.lines().any(|l| l.contains(b.name()) && l.contains(o.key)),
                "{} {}:\n{listed}",
                b.name(),
                o.key
            );
            let Some(values) = o.values else { continue };
            if !(available(b) && b.formats().iter().any(|f| f.id == "onnx")) {
                continue;
            }
            let bad = format!("{}=not-a-value", o.key);
            let out = infer(&["info", p(&model), "--backend", b.name(), "-O", &bad]);
            let (_, stderr) = text(&out);
            let expected = format!("`{}` is `not-a-value`: expected one of {}", o.key, values.join(", "));
            assert!(!out.status.success() && stderr.contains(&expected), "{}: {stderr}", b.name());
        }
    }
}

/// The first registered reader of a format is its default: `info` without `--backend` uses it.
#[test]
fn the_first_registered_reader_is_the_default() {
    let model = tiny("tiny_cnn.onnx");
    let first = registry().readers(&model).unwrap()[0].0.name();
    let out = ok(&infer(&["info", p(&model)]));
    assert!(out.contains(&format!("backend:  {first} ")), "{out}");
}

/// Every backend that reads the tiny ONNX encoder sees the file's axis names (a runtime that
/// drops them gets them from the file) and the ranges its graph proves for the token ids, so
/// `--dim sequence=8` and the synthetic ids mean the same on each.
#[test]
fn every_onnx_reader_names_the_axes_and_ranges_of_the_file() {
    let encoder = tiny("tiny_encoder.onnx");
    for b in support::readers_of("onnx") {
        let info = ok(&infer(&["info", p(&encoder), "--backend", b]));
        assert!(info.contains("input_ids: i64 [batch, sequence]"), "{b}:\n{info}");
        let out = ok(&infer(&[
            "bench",
            p(&encoder),
            "--backend",
            b,
            "--dim",
            "sequence=8",
            "--iterations",
            "3",
            "--warmup",
            "0",
        ]));
        for line in [
            "input input_ids: i64 [0, 50) from the graph: Gather on initializer `word_embeddings` (50 rows), through Cast",
            "input attention_mask: i64 [1, 2) by name",
            "input token_type_ids: i64 [0, 2) from the graph: Gather on initializer `token_type_embeddings` (2 rows)",
        ] {
            assert!(out.contains(line), "{b}: {line}\n{out}");
        }
    }
}

/// A model a backend cannot read (scikit-learn's ZipMap output) is read without that output, or
/// refused in one line naming the file: never a native message of several lines.
#[test]
fn a_model_a_backend_cannot_read_is_one_line() {
    let model = tiny("tiny_classifier.onnx");
    for b in support::readers_of("onnx") {
        let out = infer(&["info", p(&model), "--backend", b]);
        let (stdout, stderr) = text(&out);
        assert!(!stderr.contains("panicked"), "{b}: {stderr}");
        if out.status.success() {
            assert!(stdout.contains("not read"), "{b}: the unread output is not listed:\n{stdout}");
        } else {
            assert_eq!(stderr.trim().lines().count(), 1, "{b}: {stderr}");
            assert!(stderr.contains("tiny_classifier.onnx"), "{b}: {stderr}");
            assert!(!stderr.contains(".cpp:") && !stderr.contains("Exception from"), "{b}: {stderr}");
        }
    }
}
