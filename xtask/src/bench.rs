//! `cargo xtask bench`: the release `infer bench` over batch sizes, results saved as JSON.

use std::process::Command;

use clap::Args;

use crate::{
    compare::build_release,
    fixtures,
    util::{root, run as sh},
};

/// Arguments of `cargo xtask bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Model to benchmark.
    #[arg(long, default_value = "resnet18")]
    pub model: String,
    /// Further arguments for `infer bench` (default: --batch-sizes 1,8,32 --duration 5s).
    #[arg(last = true)]
    pub rest: Vec<String>,
}

/// Runs the benchmark.
pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    fixtures::ensure(&[args.model.as_str()])?;
    let infer = build_release()?;
    let model = fixtures::dir().join(&args.model).join("model.onnx");
    let out = root().join("results").join(format!("bench-{}.json", args.model));
    std::fs::create_dir_all(root().join("results"))?;
    let mut cmd = Command::new(infer);
    cmd.arg("bench").arg(&model).arg("--json").arg(&out);
    if args.rest.is_empty() {
        cmd.args(["--batch-sizes", "1,8,32", "--duration", "5s"]);
    } else {
        cmd.args(&args.rest);
    }
    sh(&mut cmd)?;
    eprintln!("wrote {}", out.display());
    Ok(())
}
