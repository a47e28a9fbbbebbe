//! `cargo xtask test`: everything CI checks, in the order that fails fastest.

use clap::Args;

use crate::{
    fixtures, fuzz, setup,
    util::{ALL_BACKENDS, cargo, run as sh},
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

/// Runs set-up, lints and all tests.
pub fn run(args: &TestArgs) -> anyhow::Result<()> {
    setup::ensure()?;
    fixtures::ensure(&["resnet18", "resnet50"])?;
    if !args.no_lint {
        sh(cargo().args(["fmt", "--all", "--check"]))?;
        // The bare build (no runtime compiled in) must stay clean too.
        sh(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
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
    sh(cargo().args(["test", "--workspace", "--features", ALL_BACKENDS]))?;
    // Without any runtime compiled in, every backend must still build, report "not compiled" and pass.
    sh(cargo().args(["test", "--workspace"]))?;
    // A short run of every fuzz target from its committed seeds (longer runs: docs/fuzzing.md).
    if args.fuzz_seconds > 0 {
        fuzz::short(args.fuzz_seconds)?;
    }
    eprintln!("xtask test: all checks passed");
    Ok(())
}
