//! State fed back (`--feedback OUTPUT=INPUT`) end to end on the committed streaming GRU
//! `fixtures/tiny/gru_stream` (`x [batch, time, 4]`, `state [1, batch, 8]` → `y [batch, time, 8]`,
//! `state_out [1, batch, 8]`): `infer run --chunk N` with the state fed back gives one call's
//! outputs on ONNX Runtime, libtorch and tract; tract starts every call from its inputs;
//! `infer bench --feedback` carries the state and says so in every report; bad pairs are one-line
//! errors; the commands and scenarios that cannot carry a state refuse the option. Nothing here is
//! timed.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;

use infer_core::Tensor;
#[cfg(all(installed_tract, installed_onnx))]
use infer_core::npy::write_npy;
use infer_measure::workload::read_npz;
#[cfg(all(installed_tract, installed_onnx))]
use infer_measure::{feedback::concat_axis, workload::batch::gather_axis};
use support::{infer, ok, p, text, tiny};

/// The outputs of `infer run MODEL -i x=… -i state=… ARGS -o OUT.npz`, by name, with stderr.
fn run_outputs(model: &Path, x: &Path, args: &[&str]) -> (Vec<(String, Tensor)>, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.npz");
    let state = tiny("gru_stream.input_state.npy");
    let x = format!("x={}", p(x));
    let state = format!("state={}", p(&state));
    let mut all = vec!["run", p(model), "-i", &x, "-i", &state, "-o", p(&out)];
    all.extend_from_slice(args);
    let output = infer(&all);
    ok(&output);
    (read_npz(&out).unwrap(), text(&output).1)
}

fn named<'a>(outputs: &'a [(String, Tensor)], name: &str) -> &'a Tensor {
    &outputs.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no output {name} in {outputs:?}")).1
}

/// Chunked with the state fed back equals one call on the whole sequence (within 1e-5), and
/// both equal numpy's reference.
fn chunked_equals_whole(model: &str, backend: &[&str]) {
    let model = tiny(model);
    let x = tiny("gru_stream.input_x.npy");
    let (whole, _) = run_outputs(&model, &x, backend);
    for chunk in ["5", "4:1", "1", "12", "20"] {
        let mut args = backend.to_vec();
        args.extend(["--chunk", chunk, "--feedback", "state_out=state"]);
        let (chunked, stderr) = run_outputs(&model, &x, &args);
        for name in ["y", "state_out"] {
            let (a, b) = (named(&whole, name), named(&chunked, name));
            assert_eq!(a.shape(), b.shape(), "{name} with --chunk {chunk}");
            let diff = a.max_abs_diff(b).unwrap();
            assert!(diff <= 1e-5, "{name} with --chunk {chunk}: chunked differs from one call by {diff}");
            let reference = infer_core::npy::read_npy(&tiny(&format!("gru_stream.output_{name}.npy"))).unwrap();
            let diff = reference.max_abs_diff(b).unwrap();
            assert!(diff <= 1e-5, "{name} with --chunk {chunk}: differs from numpy's reference by {diff}");
        }
        assert!(stderr.contains("state carried: state_out \u{2192} state"), "{stderr}");
        let steps = match chunk {
            "5" => 3,
            "4:1" => 3,
            "1" => 12,
            _ => 1,
        };
        assert!(stderr.contains(&format!("step {steps}/{steps}: ")), "{stderr}");
        assert!(!stderr.contains(&format!("step {}/", steps + 1)), "{stderr}");
    }
}

#[cfg(installed_onnx)]
#[test]
fn run_chunked_with_the_state_fed_back_is_one_call_on_onnx_runtime() {
    chunked_equals_whole("gru_stream.onnx", &[]);
}

#[cfg(installed_torch)]
#[test]
fn run_chunked_with_the_state_fed_back_is_one_call_on_libtorch() {
    chunked_equals_whole("gru_stream.pt", &[]);
}

#[cfg(installed_tract)]
#[test]
fn run_chunked_with_the_state_fed_back_is_one_call_on_tract() {
    chunked_equals_whole("gru_stream.onnx", &["--backend", "tract"]);
}

/// The first 6 steps of the reference input twice over, `[2, 12, 4]`.
#[cfg(all(installed_tract, installed_onnx))]
fn repeated_halves(dir: &Path) -> std::path::PathBuf {
    let x = infer_core::npy::read_npy(&tiny("gru_stream.input_x.npy")).unwrap();
    let half = gather_axis(&x, 1, &[0, 1, 2, 3, 4, 5]).unwrap();
    let path = dir.join("halves.npy");
    write_npy(&path, &concat_axis(&[half.clone(), half], 1).unwrap()).unwrap();
    path
}

/// Without --feedback, every chunk starts from the state given: the two equal halves of the input
/// give equal halves of `y`, on tract (whose GRU kept its state from one call to the next unless
/// told otherwise) as on ONNX Runtime, and the backends agree.
#[cfg(all(installed_tract, installed_onnx))]
#[test]
fn every_call_starts_from_its_inputs_on_tract_as_on_onnx_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let x = repeated_halves(dir.path());
    let model = tiny("gru_stream.onnx");
    let mut ys = Vec::new();
    for backend in ["onnx", "tract"] {
        let (out, _) = run_outputs(&model, &x, &["--backend", backend, "--chunk", "6"]);
        let y = named(&out, "y").clone();
        let (first, second) =
            (gather_axis(&y, 1, &[0, 1, 2, 3, 4, 5]).unwrap(), gather_axis(&y, 1, &[6, 7, 8, 9, 10, 11]).unwrap());
        let diff = first.max_abs_diff(&second).unwrap();
        assert!(diff <= 1e-6, "{backend}: the second call did not start from the state given (differs by {diff})");
        // The whole sequence in one call is not the two halves: the check above means something.
        let (again, _) = run_outputs(&model, &x, &["--backend", backend, "--chunk", "12"]);
        assert!(named(&again, "y").max_abs_diff(&y).unwrap() > 0.0, "the whole sequence is not two halves");
        ys.push(y);
    }
    let diff = ys[0].max_abs_diff(&ys[1]).unwrap();
    assert!(diff <= 1e-5, "tract and ONNX Runtime differ by {diff}");
}

/// `infer bench --feedback`: the JSON records the pairs and what the state started as; the
/// terminal, Markdown and HTML reports say the state was carried.
#[cfg(installed_onnx)]
#[test]
fn bench_carries_the_state_and_every_report_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    let model = tiny("gru_stream.onnx");
    let args = ["bench", p(&model), "--feedback", "state_out=state", "--dim", "time=4", "--batch-sizes", "1,2"];
    let out = ok(&infer(&[&args[..], &["--iterations", "3", "--warmup", "2", "--json", p(&json)]].concat()));
    assert!(out.contains("state carried: state_out \u{2192} state"), "{out}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["environment"]["state_carried"], serde_json::json!([{"output": "state_out", "input": "state"}]));
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        let state = row["inputs"].as_array().unwrap().iter().find(|i| i["name"] == "state").unwrap();
        assert_eq!(state["source"], "zeros, then `state_out` fed back", "{row}");
        assert_eq!(row["iterations"], 3);
    }
    for ext in ["md", "html"] {
        let report = dir.path().join(format!("report.{ext}"));
        ok(&infer(&["report", p(&json), "-o", p(&report)]));
        let text = std::fs::read_to_string(&report).unwrap();
        // `infer report` renders a bench result as a comparison: the environment's line.
        assert!(text.contains("State carried") && text.contains("state_out \u{2192} state"), "{ext}: {text}");
    }
    // The first state from --input: its file is named.
    let state = tiny("gru_stream.input_state.npy");
    let given = format!("state={}", p(&state));
    ok(&infer(
        &[
            &args[..4],
            &["--dim", "time=4", "-i", &given, "--iterations", "2", "--warmup", "0"],
            &["--quiet", "--json", p(&json)],
        ]
        .concat(),
    ));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let source = v["rows"][0]["inputs"][1]["source"].as_str().unwrap();
    assert!(source.ends_with("gru_stream.input_state.npy, then `state_out` fed back"), "{source}");
}

/// The error of a command that must fail on one line (no panic), its stderr.
#[cfg(installed_onnx)]
fn fails(args: &[&str]) -> String {
    let out = infer(args);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{args:?} succeeded:\n{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    stderr
}

#[cfg(installed_onnx)]
#[test]
fn bad_pairs_are_one_line_errors_naming_both_ends() {
    let model = tiny("gru_stream.onnx");
    let bench = |pair: &str| {
        fails(&[
            "bench",
            p(&model),
            "--feedback",
            pair,
            "--dim",
            "time=4",
            "--iterations",
            "2",
            "--warmup",
            "0",
            "--quiet",
        ])
    };
    let e = bench("hidden=state");
    assert!(
        e.contains("--feedback hidden=state: the model has no output `hidden`: its outputs are y, state_out"),
        "{e}"
    );
    let e = bench("state_out=h0");
    assert!(e.contains("no input `h0`: its inputs are x, state"), "{e}");
    // `y` [batch, time, 8] and `state` [1, batch, 8] agree in their descriptions, not in the tensors.
    let e = bench("y=state");
    assert!(
        e.contains("--feedback y=state: input `state` expects f32 [1, 1, 8], but output `y` is f32 [1, 4, 8]"),
        "{e}"
    );
    let e = fails(&["bench", p(&model), "--feedback", "state_out=state", "--feedback", "y=state", "--dim", "time=4"]);
    assert!(e.contains("both feed input `state`"), "{e}");
    let out = infer(&["bench", p(&model), "--feedback", "state_out"]);
    let e = text(&out).1;
    assert!(!out.status.success() && e.contains("invalid --feedback `state_out`: expected OUTPUT=INPUT"), "{e}");
    let x = tiny("gru_stream.input_x.npy");
    let e = fails(&["run", p(&model), "-i", &format!("x={}", p(&x)), "--chunk", "4", "--feedback", "y=state"]);
    assert!(e.contains("input `state` expects f32 [1, 2, 8], but output `y` is f32 [2, 4, 8]"), "{e}");
}

#[cfg(installed_onnx)]
#[test]
fn commands_and_scenarios_that_cannot_carry_a_state_refuse_it() {
    let model = tiny("gru_stream.onnx");
    let m = p(&model);
    let fed = ["--feedback", "state_out=state", "--dim", "time=4"];
    for (args, what) in [
        (vec!["bench", m, "--scenario", "offline"], "--scenario offline"),
        (vec!["bench", m, "--concurrency", "2"], "--concurrency"),
        (vec!["bench", m, "--scenario", "server", "--find-max-rate", "--p99-bound", "50ms"], "--find-max-rate"),
        (vec!["profile", m], "infer profile"),
        (vec!["optimize-batch", m], "infer optimize-batch"),
    ] {
        let e = fails(&[&args[..], &fed[..]].concat());
        assert!(e.contains(&format!("--feedback state_out=state: {what}")), "{args:?}: {e}");
        assert!(e.contains("cannot carry a state from call to call"), "{e}");
    }
    let x = tiny("gru_stream.input_x.npy");
    let e = fails(&["run", m, "-i", &format!("x={}", p(&x)), "--feedback", "state_out=state"]);
    assert!(e.contains("--feedback state_out=state: infer run carries a state between the steps of --chunk N"), "{e}");
    let e = fails(&["bench", m, "--scenario", "server", "--rate", "50", "--streams", "2", "--dim", "time=4"]);
    assert!(e.contains("--streams 2: client streams differ only by the state each carries"), "{e}");
    let e = fails(
        &[
            &["bench", m, "--scenario", "server", "--rate", "50", "--streams", "2", "--dynamic-batch", "4"][..],
            &fed[..],
        ]
        .concat(),
    );
    assert!(e.contains("--dynamic-batch 4 with --streams 2"), "{e}");
}

/// The server scenario with client streams: every request answered, the report saying how many
/// streams carried their state.
#[cfg(installed_onnx)]
#[test]
fn the_server_scenario_carries_a_state_per_stream() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("server.json");
    let model = tiny("gru_stream.onnx");
    let args = [
        "bench",
        p(&model),
        "--scenario",
        "server",
        "--rate",
        "400",
        "--iterations",
        "40",
        "--min-probe-time",
        "50ms",
        "--streams",
        "3",
        "--dynamic-batch",
        "3",
        "--feedback",
        "state_out=state",
        "--dim",
        "time=4",
        "--warmup",
        "1",
        "--json",
        p(&json),
    ];
    let out = ok(&infer(&args));
    assert!(out.contains("state carried: state_out \u{2192} state, each of 3 client stream(s) its own"), "{out}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["result"]["streams"], 3);
    assert_eq!(v["environment"]["state_carried"][0]["output"], "state_out");
    assert_eq!(v["result"]["records"].as_array().unwrap().len(), v["result"]["sent"].as_u64().unwrap() as usize);
}
