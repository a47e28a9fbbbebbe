//! `cargo xtask bench`: the harness's own overhead and repeatability, with the figures written
//! to `results/performance.md` (copied by hand into `docs/performance.md`).
//!
//! 1. criterion (first, since `cargo bench` also builds into `target/release`): a bare `ort`
//!    `Session::run` against infer's `Session::run` (tiny CNN and the model, batch 1), the
//!    cost of infer's timing loop per iteration, and the server scenario's load generator and
//!    worker against a null session (`benches/server_loop.rs`: 200,000 requests/s, its lag and
//!    accounting, and its ceiling; `--realtime` runs it under `chrt -f 1`).
//! 2. `infer bench` (release) and the Python onnxruntime loop (`xtask/python/bench_ort.py`) on the
//!    same model, batch 1, same warm-up and iteration count, alternating A B A B ...; medians, their
//!    ratio, and how far infer's repeated medians agree with each other (target: within 5%).
//! 3. A throughput sweep of the model (`infer bench --sweep`), saved as JSON.
//! 4. Start-up: `infer info` on the tiny ONNX model against Python's onnxruntime doing the same
//!    (`xtask/python/startup_ort.py`: load the session, print inputs and outputs), each whole
//!    process timed from start to exit with its peak RSS (`xtask/python/measure_process.py`),
//!    alternating A B A B …; medians and their ratios against the target of 1.5× (`--startup-only`
//!    runs this part alone).

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::Context;
use clap::Args;
use serde_json::Value;

use crate::{
    compare::build_release,
    fixtures, setup,
    util::{cargo, root, run as sh},
};

/// Arguments of `cargo xtask bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Model to benchmark (a generated fixture).
    #[arg(long, default_value = "resnet18")]
    pub model: String,
    /// Alternating rounds of infer and Python.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Timed iterations per run.
    #[arg(long, default_value_t = 100)]
    pub iterations: usize,
    /// Warm-up iterations per run.
    #[arg(long, default_value_t = 10)]
    pub warmup: usize,
    /// Intra-op threads for both (0 = the runtime's default).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Skip the criterion benches.
    #[arg(long)]
    pub no_criterion: bool,
    /// Skip the throughput sweep.
    #[arg(long)]
    pub no_sweep: bool,
    /// Runs of `infer info` and of Python's onnxruntime each, alternating, for the start-up figures.
    #[arg(long, default_value_t = 5)]
    pub startup_runs: usize,
    /// Only the start-up figures (`infer info` on the tiny ONNX model against Python).
    #[arg(long)]
    pub startup_only: bool,
    /// Only the server loop against a null session (`benches/server_loop.rs`).
    #[arg(long)]
    pub server_loop_only: bool,
    /// Run the server loop's bench under `chrt -f 1` (SCHED_FIFO), so that a shared machine's other
    /// tenants do not preempt the load generator: the figures are then the harness's own.
    #[arg(long)]
    pub realtime: bool,
}

/// Start-up time and peak memory of `infer info` may be at most this many times Python's.
const STARTUP_TARGET: f64 = 1.5;

/// One process's wall time (s) and peak RSS (MiB), measured by `xtask/python/measure_process.py`.
fn measure_process(cmd: &[&std::ffi::OsStr]) -> anyhow::Result<(f64, f64)> {
    let out = Command::new(setup::python())
        .arg(root().join("xtask/python/measure_process.py"))
        .args(cmd)
        .current_dir(root())
        .output()
        .context("cannot start xtask/python/measure_process.py")?;
    anyhow::ensure!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr).trim());
    let v: Value = serde_json::from_slice(&out.stdout).context("measure_process.py printed no JSON")?;
    let wall = v["wall_s"].as_f64().context("measure_process.py: no wall_s")?;
    let kib = v["peak_rss_kib"].as_f64().context("measure_process.py: no peak_rss_kib")?;
    Ok((wall, kib / 1024.0))
}

/// `infer info` on the tiny ONNX model against Python's onnxruntime, `runs` of each alternating
/// after one discarded priming run of each; the Markdown section with the medians and ratios.
fn startup(infer: &Path, runs: usize) -> anyhow::Result<String> {
    let model = root().join("fixtures/tiny/tiny_cnn.onnx");
    let script = root().join("xtask/python/startup_ort.py");
    let python = setup::python();
    let ours_cmd = [infer.as_os_str(), "info".as_ref(), model.as_os_str()];
    let theirs_cmd = [python.as_os_str(), script.as_os_str(), model.as_os_str()];
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for i in 0..=runs.max(1) {
        let (a, b) = (measure_process(&ours_cmd)?, measure_process(&theirs_cmd)?);
        if i > 0 {
            ours.push(a);
            theirs.push(b);
        }
    }
    let col = |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| v.iter().map(f).collect::<Vec<_>>();
    let (ours_s, theirs_s) = (col(&ours, |x| x.0), col(&theirs, |x| x.0));
    let (ours_mib, theirs_mib) = (col(&ours, |x| x.1), col(&theirs, |x| x.1));
    let (time_ratio, mem_ratio) = (median(&ours_s) / median(&theirs_s), median(&ours_mib) / median(&theirs_mib));
    let verdict = |r: f64| if r <= STARTUP_TARGET { "within" } else { "ABOVE" };
    let list = |v: &[f64], scale: f64, digits: usize| {
        v.iter().map(|x| format!("{:.digits$}", x * scale)).collect::<Vec<_>>().join(", ")
    };
    let mut s = String::new();
    writeln!(
        s,
        "## Start-up: `infer info` vs Python onnxruntime (fixtures/tiny/tiny_cnn.onnx, whole process, {} runs each \
         alternating after a discarded priming run)\n",
        ours.len()
    )?;
    writeln!(s, "| runner | wall per run (ms) | median wall (ms) | peak RSS per run (MiB) | median peak RSS (MiB) |")?;
    writeln!(s, "|---|---|---|---|---|")?;
    writeln!(
        s,
        "| `infer info` | {} | {:.0} | {} | {:.1} |",
        list(&ours_s, 1e3, 0),
        median(&ours_s) * 1e3,
        list(&ours_mib, 1.0, 1),
        median(&ours_mib)
    )?;
    writeln!(
        s,
        "| Python `startup_ort.py` | {} | {:.0} | {} | {:.1} |",
        list(&theirs_s, 1e3, 0),
        median(&theirs_s) * 1e3,
        list(&theirs_mib, 1.0, 1),
        median(&theirs_mib)
    )?;
    writeln!(
        s,
        "\ninfer / Python: wall {time_ratio:.2}× ({} the {STARTUP_TARGET}× target), peak RSS {mem_ratio:.2}× ({} the \
         {STARTUP_TARGET}× target).\n",
        verdict(time_ratio),
        verdict(mem_ratio)
    )?;
    Ok(s)
}

fn read(path: &Path) -> anyhow::Result<Value> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not valid JSON", path.display()))
}

fn num(v: &Value, pointer: &str, path: &Path) -> anyhow::Result<f64> {
    v.pointer(pointer).and_then(Value::as_f64).with_context(|| format!("{}: no number at {pointer}", path.display()))
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        f64::midpoint(v[n / 2 - 1], v[n / 2])
    }
}

/// Largest relative spread of `values`: max / min - 1.
fn spread(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::MIN, f64::max);
    let min = values.iter().copied().fold(f64::MAX, f64::min);
    max / min - 1.0
}

/// criterion's median estimate (ns) of one benchmark, from `target/criterion` (a `/` in an id
/// becomes `_` in its folder name).
fn criterion_median_ns(group: &str, id: &str) -> Option<f64> {
    let path = root().join("target/criterion").join(group).join(id).join("new/estimates.json");
    read(&path).ok()?.pointer("/median/point_estimate")?.as_f64()
}

/// The server loop's bench against a null session; the Markdown section with its figures.
fn server_loop(realtime: bool) -> anyhow::Result<String> {
    let mut cmd = cargo();
    cmd.args(["bench", "-p", "infer-measure", "--bench", "server_loop"]);
    if realtime {
        cmd.env("INFER_BENCH_REALTIME", "1");
    }
    sh(&mut cmd)?;
    let figures = |name: &str| read(&root().join("target/criterion/server_loop").join(name).join("figures.json"));
    let (rate, ceiling) = (figures("null_session_200k_per_s")?, figures("null_session_ceiling")?);
    let f = |v: &Value, key: &str| v[key].as_f64().unwrap_or(f64::NAN);
    let mut s = String::new();
    writeln!(
        s,
        "## Server loop against a null session (`cargo bench -p infer-measure --bench server_loop`{})\n",
        if rate["realtime"] == true { ", under `chrt -f 1`" } else { ", normal priority" }
    )?;
    writeln!(
        s,
        "| bench | runs | completed req/s (median) | lag p50 / p99 µs (median) | lag p99 µs (worst) | valid / sustainable / accounting exact |"
    )?;
    writeln!(s, "|---|---|---|---|---|---|")?;
    for (name, v) in [("200,000 req/s, Poisson", &rate), ("ceiling (1 ns gaps)", &ceiling)] {
        writeln!(
            s,
            "| {name} | {} | {:.0} | {:.1} / {:.1} | {:.1} | {} / {} / {} |",
            v["runs"],
            f(v, "completed_rate_median"),
            f(v, "lag_p50_us_median"),
            f(v, "lag_p99_us_median"),
            f(v, "lag_p99_us_worst"),
            v["valid_runs"],
            v["sustainable_runs"],
            v["accounting_exact_runs"]
        )?;
    }
    writeln!(s, "\nTarget: 200,000 req/s sustained with lag p99 ≤ 50 µs and the accounting exact.\n")?;
    Ok(s)
}

/// Runs the benchmarks and writes `results/performance.md`.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    if args.server_loop_only {
        let section = server_loop(args.realtime)?;
        std::fs::create_dir_all(root().join("results"))?;
        std::fs::write(root().join("results/server_loop.md"), &section)?;
        println!("{section}");
        return Ok(());
    }
    if args.startup_only {
        let section = startup(&build_release()?, args.startup_runs)?;
        let path = root().join("results/startup.md");
        std::fs::create_dir_all(root().join("results"))?;
        std::fs::write(&path, &section)?;
        println!("{section}");
        eprintln!("wrote {} (copy the figures into docs/performance.md)", path.display());
        return Ok(());
    }
    fixtures::ensure(&[args.model.as_str()])?;
    // criterion first: `cargo bench` builds into target/release too.
    let mut criterion_rows = Vec::new();
    if !args.no_criterion {
        sh(cargo().args(["bench", "-p", "infer-onnx", "--features", "runtime"]))?;
        // Same features as the release `infer`, so this does not rebuild it without backends.
        sh(cargo().args(["bench", "-p", "infer-measure", "--bench", "timing_loop"]))?;
        for name in ["tiny_cnn", args.model.as_str()] {
            let bare = criterion_median_ns("onnx_run", &format!("bare_ort_{name}"));
            let ours = criterion_median_ns("onnx_run", &format!("infer_{name}"));
            if let (Some(bare), Some(ours)) = (bare, ours) {
                criterion_rows.push((name.to_string(), bare, ours));
            }
        }
    }
    let timing_loop_ns = criterion_median_ns("harness", "time_session_per_1000_iterations").map(|ns| ns / 1000.0);
    let server = if args.no_criterion { String::new() } else { server_loop(args.realtime)? };

    let infer = build_release()?;
    let model = fixtures::dir().join(&args.model).join("model.onnx");
    let out_dir = root().join("results").join("bench");
    std::fs::create_dir_all(&out_dir)?;

    // infer vs Python, alternating, after one discarded priming round of each (the first
    // process to map the model and the libraries after a build was consistently slower).
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in std::iter::once(usize::MAX).chain(0..args.rounds.max(1)) {
        let priming = round == usize::MAX;
        let round = if priming { "priming".to_string() } else { round.to_string() };
        let a = out_dir.join(format!("infer-{round}.json"));
        sh(Command::new(&infer)
            .arg("bench")
            .arg(&model)
            .args(["--batch-sizes", "1", "--quiet", "--json"])
            .arg(&a)
            .args(["--warmup", &args.warmup.to_string(), "--iterations", &args.iterations.to_string()])
            .args(["--threads", &args.threads.to_string()]))?;
        let a_median = num(&read(&a)?, "/rows/0/latency_ms/median", &a)?;
        let b = out_dir.join(format!("python-{round}.json"));
        sh(Command::new(setup::python())
            .arg("xtask/python/bench_ort.py")
            .arg(&model)
            .args(["--warmup", &args.warmup.to_string(), "--iterations", &args.iterations.to_string()])
            .args(["--threads", &args.threads.to_string(), "--json"])
            .arg(&b))?;
        let b_median = num(&read(&b)?, "/median_ms", &b)?;
        if !priming {
            ours.push(a_median);
            theirs.push(b_median);
        }
    }

    // Sweep.
    let sweep = out_dir.join(format!("sweep-{}.json", args.model));
    if !args.no_sweep {
        sh(Command::new(&infer).arg("bench").arg(&model).args(["--sweep", "--quiet", "--json"]).arg(&sweep))?;
    }

    let mut report =
        summary(args, &ours, &theirs, &criterion_rows, timing_loop_ns, (!args.no_sweep).then_some(&sweep))?;
    report.push_str(&server);
    report.push_str(&startup(&infer, args.startup_runs)?);
    let path = root().join("results/performance.md");
    std::fs::write(&path, &report)?;
    println!("{report}");
    eprintln!("wrote {} (copy the figures into docs/performance.md)", path.display());
    Ok(())
}

fn summary(
    args: &BenchArgs,
    ours: &[f64],
    theirs: &[f64],
    criterion_rows: &[(String, f64, f64)],
    timing_loop_ns: Option<f64>,
    sweep: Option<&PathBuf>,
) -> anyhow::Result<String> {
    let mut s = String::new();
    let fmt = |v: &[f64]| v.iter().map(|x| format!("{x:.3}")).collect::<Vec<_>>().join(", ");
    writeln!(
        s,
        "## infer vs the Python onnxruntime loop ({}, batch 1, {} warm-up + {} timed, {} alternating rounds \
         after a discarded priming round)\n",
        args.model,
        args.warmup,
        args.iterations,
        ours.len()
    )?;
    writeln!(s, "| runner | medians per round (ms) | median of medians (ms) |\n|---|---|---|")?;
    writeln!(s, "| infer bench | {} | {:.3} |", fmt(ours), median(ours))?;
    writeln!(s, "| Python onnxruntime | {} | {:.3} |", fmt(theirs), median(theirs))?;
    writeln!(
        s,
        "\ninfer / Python = {:.3}; infer's repeated medians agree within {:.1}% (max/min - 1; target 5%).\n",
        median(ours) / median(theirs),
        spread(ours) * 100.0
    )?;
    if !criterion_rows.is_empty() {
        writeln!(s, "## bare ort::Session::run vs infer Session::run (criterion medians, batch 1)\n")?;
        writeln!(s, "| model | bare ort | infer | infer - bare | ratio |\n|---|---|---|---|---|")?;
        for (name, bare, ours) in criterion_rows {
            writeln!(
                s,
                "| {name} | {:.1} µs | {:.1} µs | {:+.1} µs | {:.3} |",
                bare / 1e3,
                ours / 1e3,
                (ours - bare) / 1e3,
                ours / bare
            )?;
        }
        writeln!(s)?;
    }
    if let Some(ns) = timing_loop_ns {
        writeln!(s, "Timing loop of `infer bench` (no-op session): {ns:.0} ns per iteration.\n")?;
    }
    if let Some(path) = sweep {
        let v = read(path)?;
        writeln!(s, "## Throughput sweep ({})\n", args.model)?;
        writeln!(s, "| batch | median ms | items/s | ms/item | speed-up vs batch 1 |\n|---|---|---|---|---|")?;
        for row in v["rows"].as_array().map(Vec::as_slice).unwrap_or_default() {
            writeln!(
                s,
                "| {} | {:.2} | {:.1} | {:.2} | {:.2}x |",
                row["batch_size"],
                row["latency_ms"]["median"].as_f64().unwrap_or(f64::NAN),
                row["throughput_per_s"].as_f64().unwrap_or(f64::NAN),
                row["per_item_ms"].as_f64().unwrap_or(f64::NAN),
                row["speedup_vs_batch1"].as_f64().unwrap_or(f64::NAN)
            )?;
        }
    }
    Ok(s)
}
