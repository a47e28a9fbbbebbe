//! `cargo xtask test`: everything CI checks, in the order that fails fastest.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Instant,
};

use anyhow::{Context, bail};
use clap::Args;

use crate::{
    fixtures, fuzz, setup,
    util::{ALL_BACKENDS, cargo, root, run as sh},
};

/// Arguments of `cargo xtask test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Skip `cargo fmt --check` and clippy (tests only).
    #[arg(long)]
    pub no_lint: bool,
    /// Seconds each fuzz target runs at the end (0 skips fuzzing).
    #[arg(long, default_value_t = 20)]
    pub fuzz_seconds: u64,
}

/// Set to `1` for the all-backends test run: the conformance suite then fails on a backend that
/// is not available instead of skipping it (`infer_conformance::REQUIRE_ALL_BACKENDS`).
const REQUIRE_ALL_BACKENDS: &str = "INFER_REQUIRE_ALL_BACKENDS";

/// Runs set-up, lints and all tests.
pub fn run(args: &TestArgs) -> anyhow::Result<()> {
    setup::ensure()?;
    fixtures::ensure(&["resnet18", "resnet50", "bert"])?;
    if !args.no_lint {
        sh(cargo().args(["fmt", "--all", "--check"]))?;
        // The bare build (no runtime compiled in but libtorch, once set up) must stay clean too.
        sh(cargo().args(["clippy", "--workspace", "--all-targets", "--no-default-features", "--", "-D", "warnings"]))?;
        sh(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--features",
            ALL_BACKENDS,
            "--",
            "-D",
            "warnings",
        ]))?;
    }
    if !args.no_lint {
        // Every public item documented, every intra-doc link resolving.
        sh(cargo().args(["doc", "--no-deps", "--workspace"]).env("RUSTDOCFLAGS", "-D warnings"))?;
    }
    // After set-up every backend must run here: the conformance suite (`infer-conformance`, run by
    // each backend crate's tests/conformance.rs) fails instead of skipping a backend that is not
    // available.
    let left =
        run_tests(cargo().args(["test", "--workspace", "--features", ALL_BACKENDS]).env(REQUIRE_ALL_BACKENDS, "1"))?;
    // Without the runtimes' features, every backend must still build, report "not compiled" and pass
    // (torch, compiled once libtorch is set up, is covered by a bare machine's `cargo test`); the
    // conformance suite skips what needs a runtime, saying so.
    let bare =
        run_tests(cargo().args(["test", "--workspace", "--no-default-features"]).env_remove(REQUIRE_ALL_BACKENDS))?;
    // A short run of every fuzz target from its committed seeds (longer runs: docs/fuzzing.md).
    if args.fuzz_seconds > 0 {
        fuzz::short(args.fuzz_seconds)?;
    }
    eprintln!("xtask test: all checks passed; every backend ran the conformance suite ({REQUIRE_ALL_BACKENDS}=1)");
    if !left.ignored.is_empty() {
        eprintln!(
            "xtask test: {} test(s) ignored here, each with the reason it cannot run on this machine; run them \
             where they can with `cargo test --workspace --features {ALL_BACKENDS} -- --ignored`:",
            left.ignored.len()
        );
        for line in &left.ignored {
            eprintln!("  {line}");
        }
    }
    // The bare run (no runtime compiled in) skips by design what needs a runtime: counted, shown.
    eprintln!(
        "xtask test: {} skip(s) in the all-backends run (none allowed there), {} in the bare run without runtimes:",
        left.skipped.len(),
        bare.skipped.len()
    );
    for line in left.skipped.iter().chain(&bare.skipped) {
        eprintln!("  {line}");
    }
    Ok(())
}

/// What a test run left out: the tests libtest ignored (`test name ... ignored, <reason>`) and
/// the lines of the tests that skipped what they could not run here (`SKIPPED …`, written past
/// libtest's capture by `infer_conformance::skip` and the conformance suite).
#[derive(Debug, Default)]
struct LeftOut {
    ignored: Vec<String>,
    skipped: Vec<String>,
}

/// Runs `cargo test` as [`sh`] does, passing its output on line by line, and returns what it
/// left out ([`LeftOut`]).
fn run_tests(cmd: &mut Command) -> anyhow::Result<LeftOut> {
    let shown = format!("{cmd:?}").replace('"', "");
    eprintln!("$ {shown}");
    let start = Instant::now();
    let mut child = cmd
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{shown}`"))?;
    // stderr on its own thread, so that neither pipe fills while the other is read.
    let stderr = child.stderr.take().map(|err| {
        std::thread::spawn(move || {
            let mut skipped = Vec::new();
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("{line}");
                if line.starts_with("SKIPPED ") || line.contains(": SKIPPED ") {
                    skipped.push(line);
                }
            }
            skipped
        })
    });
    let mut left = LeftOut::default();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines() {
            let line = line.with_context(|| format!("reading the output of `{shown}`"))?;
            println!("{line}");
            if line.starts_with("test ") && line.contains(" ... ignored") {
                left.ignored.push(line);
            }
        }
    }
    let status = child.wait().with_context(|| format!("waiting for `{shown}`"))?;
    left.skipped = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    eprintln!("  ({:.1}s)", start.elapsed().as_secs_f64());
    if !status.success() {
        bail!("`{shown}` failed with {status}");
    }
    Ok(left)
}
