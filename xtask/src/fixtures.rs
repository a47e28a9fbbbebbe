//! `cargo xtask fixtures`: models with random weights in every format the backends read, with a
//! reference input and the reference output of the framework that wrote each file.

use std::{path::PathBuf, process::Command};

use clap::Args;

use crate::{setup, util::root};

/// The models `fixtures` knows: torchvision's ResNet-18/50 and MobileNetV2 (image classifiers,
/// one f32 input) and `bert`, a 4-layer BERT-like encoder (three i64 inputs, two outputs, dynamic
/// batch and sequence). What each folder holds: `xtask/python/make_fixtures.py`.
pub const MODELS: &[&str] = &["resnet18", "resnet50", "mobilenet_v2", "bert"];

/// Arguments of `cargo xtask fixtures`.
#[derive(Debug, Args)]
pub struct FixturesArgs {
    /// Models to generate, comma-separated.
    #[arg(
        long,
        visible_alias = "model",
        value_delimiter = ',',
        default_values_t = MODELS.iter().map(ToString::to_string),
        value_parser = clap::builder::PossibleValuesParser::new(MODELS),
    )]
    pub models: Vec<String>,
    /// Regenerate even when up to date.
    #[arg(long)]
    pub force: bool,
}

/// The folder of generated fixtures.
pub fn dir() -> PathBuf {
    root().join("fixtures/generated")
}

/// Generates the fixtures (after making sure the venv exists).
pub fn run(args: &FixturesArgs) -> anyhow::Result<()> {
    check(&args.models)?;
    setup::ensure()?;
    let mut cmd = Command::new(setup::python());
    cmd.arg("xtask/python/make_fixtures.py").arg("--out").arg(dir()).arg("--models").arg(args.models.join(","));
    if args.force {
        cmd.arg("--force");
    }
    crate::util::run(&mut cmd)
}

/// Fails on a model name that `fixtures` does not know.
pub fn check<S: AsRef<str>>(models: &[S]) -> anyhow::Result<()> {
    for m in models {
        let m = m.as_ref();
        if !MODELS.contains(&m) {
            anyhow::bail!("unknown model `{m}`: expected one of {}", MODELS.join(", "));
        }
    }
    Ok(())
}

/// Makes sure the fixtures of `models` exist.
pub fn ensure(models: &[&str]) -> anyhow::Result<()> {
    run(&FixturesArgs { models: models.iter().map(ToString::to_string).collect(), force: false })
}
