//! `cargo xtask fixtures`: models with random weights in every format the backends read, with a
//! reference input and the reference output of the framework that wrote each file.

use std::{path::PathBuf, process::Command};

use clap::Args;

use crate::{setup, util::root};

/// The models `fixtures` knows.
pub const MODELS: &[&str] = &["resnet18", "resnet50"];

/// Arguments of `cargo xtask fixtures`.
#[derive(Debug, Args)]
pub struct FixturesArgs {
    /// Models to generate, comma-separated.
    #[arg(long, default_value = "resnet18,resnet50", value_delimiter = ',')]
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
    for m in &args.models {
        if !MODELS.contains(&m.as_str()) {
            anyhow::bail!("unknown model `{m}`: expected one of {}", MODELS.join(", "));
        }
    }
    setup::ensure()?;
    let mut cmd = Command::new(setup::python());
    cmd.arg("xtask/python/make_fixtures.py").arg("--out").arg(dir()).arg("--models").arg(args.models.join(","));
    if args.force {
        cmd.arg("--force");
    }
    crate::util::run(&mut cmd)
}

/// Makes sure the fixtures of `models` exist.
pub fn ensure(models: &[&str]) -> anyhow::Result<()> {
    run(&FixturesArgs { models: models.iter().map(ToString::to_string).collect(), force: false })
}
