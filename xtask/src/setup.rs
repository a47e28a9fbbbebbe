//! `cargo xtask setup`: the project-local Python venv with the exactly pinned runtimes, and the
//! links under `.runtimes/` that the build and the `infer` binary find them by.

use std::{
    hash::{DefaultHasher, Hash, Hasher},
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};
use clap::Args;

use crate::util::{root, run as sh};

/// Arguments of `cargo xtask setup`.
#[derive(Debug, Args, Default)]
pub struct SetupArgs {
    /// Reinstall even when the venv is up to date.
    #[arg(long)]
    pub force: bool,
}

/// The venv folder.
pub fn venv() -> PathBuf {
    root().join(".venv")
}

/// The venv's Python.
pub fn python() -> PathBuf {
    venv().join("bin/python")
}

fn stamp_path() -> PathBuf {
    venv().join(".infer-setup-stamp")
}

fn requirements_hash() -> anyhow::Result<String> {
    let mut h = DefaultHasher::new();
    for f in ["xtask/requirements.txt", "xtask/requirements.lock"] {
        let p = root().join(f);
        std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?.hash(&mut h);
    }
    Ok(format!("{:016x}", h.finish()))
}

/// Makes sure the venv and links exist and match the pins; quick when they do.
pub fn ensure() -> anyhow::Result<()> {
    run(&SetupArgs::default())
}

/// Runs the setup.
pub fn run(args: &SetupArgs) -> anyhow::Result<()> {
    ensure_chromium()?;
    let hash = requirements_hash()?;
    let up_to_date = !args.force
        && python().is_file()
        && std::fs::read_to_string(stamp_path()).is_ok_and(|s| s.trim() == hash)
        && link_runtimes().is_ok();
    if up_to_date {
        eprintln!("setup: .venv is up to date");
        return Ok(());
    }
    if !python().is_file() {
        let host = find_python()?;
        eprintln!("setup: creating .venv with {}", host.display());
        sh(Command::new(&host).args(["-m", "venv"]).arg(venv()))?;
    }
    eprintln!(
        "setup: installing the pinned runtimes (onnxruntime, torch, ...) into .venv; the first time takes a few minutes"
    );
    sh(Command::new(python())
        .args(["-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"])
        .args(["-r", "xtask/requirements.txt", "-c", "xtask/requirements.lock"]))?;
    link_runtimes()?;
    std::fs::write(stamp_path(), hash).context("cannot write the setup stamp")?;
    eprintln!("setup: done");
    Ok(())
}

/// Where the HTML report test looks for Chromium: `$CHROMIUM`, else `/usr/bin/chromium`.
fn chromium_path() -> PathBuf {
    std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from)
}

/// Installs headless Chromium (Debian's `chromium` package) when it is missing: the HTML report
/// test renders the report in it. Needs root; fails with what to do otherwise.
fn ensure_chromium() -> anyhow::Result<()> {
    let path = chromium_path();
    if path.is_file() {
        return Ok(());
    }
    let root_user =
        Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root_user {
        bail!(
            "Chromium is missing ({}), needed by the HTML report test; setup installs it only as root: run \
             `sudo apt-get install -y chromium`, or set CHROMIUM to an installed Chromium",
            path.display()
        );
    }
    eprintln!("setup: Chromium is missing ({}); installing it with apt-get for the HTML report test", path.display());
    let install =
        || sh(Command::new("apt-get").args(["install", "-y", "chromium"]).env("DEBIAN_FRONTEND", "noninteractive"));
    if install().is_err() {
        eprintln!("setup: refreshing the package lists and trying again");
        sh(Command::new("apt-get").arg("update"))
            .and_then(|()| install())
            .context("cannot install Chromium with `apt-get install -y chromium` (is this Debian or Ubuntu with network access?)")?;
    }
    if !path.is_file() {
        bail!(
            "`apt-get install -y chromium` succeeded but {} does not exist: set CHROMIUM to the browser's path",
            path.display()
        );
    }
    Ok(())
}

/// A host Python 3.10+ to create the venv with.
fn find_python() -> anyhow::Result<PathBuf> {
    for name in ["python3", "python"] {
        let Ok(out) = Command::new(name).args(["-c", "import sys; print(sys.version_info >= (3, 10))"]).output() else {
            continue;
        };
        if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "True" {
            return Ok(PathBuf::from(name));
        }
    }
    bail!("no Python 3.10 or newer on PATH: install python3 (with the venv module) and run `cargo xtask setup` again")
}

/// The venv's site-packages folder.
fn site_packages() -> anyhow::Result<PathBuf> {
    let lib = venv().join("lib");
    let entries = std::fs::read_dir(&lib).with_context(|| format!("cannot read {}", lib.display()))?;
    entries
        .filter_map(Result::ok)
        .map(|e| e.path().join("site-packages"))
        .find(|p| p.is_dir())
        .with_context(|| format!("no site-packages under {}", lib.display()))
}

/// Links each runtime's library into `.runtimes/`, with paths that do not depend on the Python version.
fn link_runtimes() -> anyhow::Result<()> {
    let site = site_packages()?;
    let capi = site.join("onnxruntime/capi");
    let ort = std::fs::read_dir(&capi)
        .with_context(|| format!("onnxruntime is not installed in the venv ({})", capi.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("libonnxruntime.so.")))
        .with_context(|| format!("no libonnxruntime.so.* in {}", capi.display()))?;
    link(&ort, &root().join(".runtimes/onnxruntime/libonnxruntime.so"))?;
    // libtorch for tch (`LIBTORCH` in .cargo/config.toml): the torch package folder has the
    // `lib/` and `include/` a libtorch distribution has.
    let torch = site.join("torch");
    if !torch.join("lib/libtorch_cpu.so").is_file() {
        bail!("torch is not installed in the venv ({} has no lib/libtorch_cpu.so)", torch.display());
    }
    link(&torch, &root().join(".runtimes/libtorch"))?;
    write_cargo_runtimes()?;
    link_tensorflow(&site)?;
    link_openvino(&site)
}

/// What `.cargo/runtimes.toml` (included by `.cargo/config.toml`, ignored by git) holds once
/// libtorch is linked: `--cfg infer_libtorch`, which compiles infer-torch's binding (its
/// `[target.'cfg(infer_libtorch)'.dependencies]`) in a plain `cargo build`, so that
/// `infer-torch-worker` runs torch models without a feature flag to remember. The other runtimes
/// need nothing at build time (opened on first use).
pub const CARGO_RUNTIMES: &str = "# Written by `cargo xtask setup`: libtorch is installed (.runtimes/libtorch), so the torch\n\
     # backend is compiled without a feature flag (see .cargo/config.toml). Do not edit.\n\
     [build]\nrustflags = [\"--cfg\", \"infer_libtorch\"]\n";

/// Writes `.cargo/runtimes.toml` ([`CARGO_RUNTIMES`]) unless it already says that.
fn write_cargo_runtimes() -> anyhow::Result<()> {
    let path = root().join(".cargo/runtimes.toml");
    if std::fs::read_to_string(&path).is_ok_and(|s| s == CARGO_RUNTIMES) {
        return Ok(());
    }
    std::fs::write(&path, CARGO_RUNTIMES).with_context(|| format!("cannot write {}", path.display()))
}

/// OpenVINO's C API from the `openvino` wheel, for infer-openvino (opened at run time):
/// `.runtimes/openvino` is a link to the wheel's `openvino/libs` folder, where
/// `libopenvino_c.so.<ver>` sits beside what it loads from its own folder (`$ORIGIN`):
/// `libopenvino.so.<ver>`, TBB and the device plugins.
fn link_openvino(site: &Path) -> anyhow::Result<()> {
    let libs = site.join("openvino/libs");
    let has_c_api = std::fs::read_dir(&libs)
        .with_context(|| format!("openvino is not installed in the venv ({})", libs.display()))?
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_str().is_some_and(|n| n.starts_with("libopenvino_c.so")));
    anyhow::ensure!(has_c_api, "openvino is not installed in the venv (no libopenvino_c.so* in {})", libs.display());
    link(&libs, &root().join(".runtimes/openvino"))
}

/// The TensorFlow C API from the `tensorflow-cpu` wheel, which infer-tf opens at run time:
/// `.runtimes/tensorflow/lib/` with the name the `tensorflow` crate looks for (`libtensorflow.so`)
/// and the sonames the library asks for (`libtensorflow_cc.so.2`, `libtensorflow_framework.so.2`).
fn link_tensorflow(site: &Path) -> anyhow::Result<()> {
    let tf = site.join("tensorflow");
    let cc = tf.join("libtensorflow_cc.so.2");
    let framework = tf.join("libtensorflow_framework.so.2");
    for lib in [&cc, &framework] {
        anyhow::ensure!(lib.is_file(), "tensorflow-cpu is not installed in the venv ({} missing)", lib.display());
    }
    let lib = root().join(".runtimes/tensorflow/lib");
    link(&cc, &lib.join("libtensorflow.so"))?;
    link(&cc, &lib.join("libtensorflow_cc.so.2"))?;
    link(&framework, &lib.join("libtensorflow_framework.so"))?;
    link(&framework, &lib.join("libtensorflow_framework.so.2"))
}

fn link(target: &Path, at: &Path) -> anyhow::Result<()> {
    if std::fs::read_link(at).is_ok_and(|t| t == target) {
        return Ok(());
    }
    if let Some(dir) = at.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let _ = std::fs::remove_file(at);
    std::os::unix::fs::symlink(target, at)
        .with_context(|| format!("cannot link {} -> {}", at.display(), target.display()))
}
