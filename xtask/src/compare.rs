//! `cargo xtask compare --model resnet18`: the README's main command. Every model of `cargo xtask
//! fixtures` works the same way: `--model bert` compares the encoder's three inputs and two
//! outputs against PyTorch's (`input.npz`, `reference_torch.npz`), timed at meta.json's `dims`
//! (sequence 128).

use std::process::Command;

use clap::Args;

use crate::{
    fixtures,
    util::{ALL_BACKENDS, cargo, root, run as sh},
};

/// Arguments of `cargo xtask compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Model to generate and compare.
    #[arg(long, default_value = "resnet18", value_parser = clap::builder::PossibleValuesParser::new(fixtures::MODELS))]
    pub model: String,
    /// Further arguments for `infer compare` (e.g. --batch-sizes 1,8,32 --iterations 50).
    #[arg(last = true)]
    pub rest: Vec<String>,
}

/// Builds `infer` and its torch worker (`infer-torch-worker`, beside it) in release mode with every
/// backend whose runtime is installed.
pub fn build_release() -> anyhow::Result<std::path::PathBuf> {
    sh(cargo().args(["build", "--release", "--package", "infer-cli", "--features", ALL_BACKENDS]))?;
    Ok(root().join("target/release/infer"))
}

/// Set-up, fixtures, release build, then `infer compare`.
pub fn run(args: &CompareArgs) -> anyhow::Result<()> {
    fixtures::ensure(&[args.model.as_str()])?;
    let infer = build_release()?;
    let fixture = fixtures::dir().join(&args.model);
    let out = root().join("results").join(&args.model);
    sh(Command::new(infer).arg("compare").arg(&fixture).arg("--out").arg(&out).args(&args.rest))
}
