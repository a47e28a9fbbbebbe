//! What the workspace's crates declare, read with `cargo metadata` (no build, no network): each
//! backend crate's native runtime (`[package.metadata.infer.runtime]`, see
//! `infer_core::runtime`) and which crates have a `runtime` feature. Set-up installs and links
//! every declared runtime and coverage enables every `runtime` feature, so a new backend crate
//! needs no line here.

use std::process::Command;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::util::{cargo, root};

/// A runtime as a backend crate declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runtime {
    /// The crate that declares it.
    pub crate_name: String,
    /// Its name in messages.
    pub name: String,
    /// The pinned PyPI requirement (`onnxruntime==1.31.1`).
    pub package: String,
    /// The folder under `.runtimes/`.
    pub folder: String,
    /// The file inside `folder` that shows it is installed.
    pub library: String,
    /// (name inside `folder`, path in site-packages; `.` = the folder itself).
    pub links: Vec<(String, String)>,
    /// The `--cfg` to build with once it is installed.
    pub build_cfg: Option<String>,
}

/// The workspace's packages as `cargo metadata --no-deps` lists them.
fn packages() -> anyhow::Result<Vec<Value>> {
    let mut cmd = cargo();
    cmd.args(["metadata", "--no-deps", "--format-version", "1", "--offline"]).current_dir(root());
    metadata_packages(&mut cmd)
}

fn metadata_packages(cmd: &mut Command) -> anyhow::Result<Vec<Value>> {
    let out = cmd.output().context("cannot run `cargo metadata`")?;
    if !out.status.success() {
        bail!("`cargo metadata` failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let v: Value = serde_json::from_slice(&out.stdout).context("`cargo metadata` printed no JSON")?;
    Ok(v["packages"].as_array().cloned().unwrap_or_default())
}

/// Every runtime a workspace crate declares, in the order of the crates' names.
///
/// # Errors
/// When `cargo metadata` fails or a declaration misses a field.
pub fn runtimes() -> anyhow::Result<Vec<Runtime>> {
    let mut out: Vec<Runtime> = packages()?.iter().filter_map(runtime_of).collect::<anyhow::Result<_>>()?;
    out.sort_by(|a, b| a.crate_name.cmp(&b.crate_name));
    Ok(out)
}

/// The runtime `package` (one entry of `cargo metadata`'s `packages`) declares, if any.
fn runtime_of(package: &Value) -> Option<anyhow::Result<Runtime>> {
    let table = package.get("metadata")?.get("infer")?.get("runtime")?;
    let crate_name = package["name"].as_str().unwrap_or_default().to_string();
    let text = |key: &str| -> anyhow::Result<String> {
        table[key]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("{crate_name}: [package.metadata.infer.runtime] needs `{key}`"))
    };
    Some((|| {
        let links = table["links"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
            .unwrap_or_default();
        Ok(Runtime {
            name: text("name")?,
            package: text("package")?,
            folder: text("folder")?,
            library: text("library")?,
            links,
            build_cfg: table["build-cfg"].as_str().map(str::to_string),
            crate_name: crate_name.clone(),
        })
    })())
}

/// `crate/runtime` for every workspace crate with a `runtime` feature.
///
/// # Errors
/// When `cargo metadata` fails.
pub fn runtime_features() -> anyhow::Result<Vec<String>> {
    let mut out: Vec<String> = packages()?
        .iter()
        .filter(|p| p["features"].get("runtime").is_some())
        .filter_map(|p| p["name"].as_str().map(|n| format!("{n}/runtime")))
        .collect();
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The backends of this workspace declare what set-up installs; a crate without a
    /// declaration (a pure-Rust runtime) installs nothing.
    #[test]
    fn the_backend_crates_declare_their_runtimes() {
        let all = runtimes().unwrap();
        assert!(all.len() >= 4, "{all:?}");
        for r in &all {
            assert!(r.package.contains("=="), "{} is not pinned exactly: {}", r.crate_name, r.package);
            assert!(!r.links.is_empty(), "{} declares no links", r.crate_name);
        }
        let onnx = all.iter().find(|r| r.crate_name == "infer-onnx").unwrap();
        assert_eq!((onnx.folder.as_str(), onnx.library.as_str()), ("onnxruntime", "libonnxruntime.so"));
        let features = runtime_features().unwrap();
        assert!(all.iter().all(|r| features.contains(&format!("{}/runtime", r.crate_name))), "{features:?}");
    }
}
