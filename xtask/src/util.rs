//! Helpers shared by the tasks: the project root and running commands loudly.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use anyhow::{Context, bail};

/// The workspace root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Runs a command in the project root, echoing it and its duration; fails on a non-zero exit.
pub fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let shown = format!("{cmd:?}").replace('"', "");
    eprintln!("$ {shown}");
    let start = Instant::now();
    let status = cmd.current_dir(root()).status().with_context(|| format!("cannot start `{shown}`"))?;
    eprintln!("  ({:.1}s)", start.elapsed().as_secs_f64());
    if !status.success() {
        bail!("`{shown}` failed with {status}");
    }
    Ok(())
}

/// `cargo` as invoked by the user (the toolchain of rust-toolchain.toml).
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// The feature list that enables every backend whose runtime setup installs.
pub const ALL_BACKENDS: &str = "infer-cli/all-backends";
