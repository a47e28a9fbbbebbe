//! `cargo xtask setup`: the project-local Python venv with the exactly pinned runtimes, and the
//! links under `.runtimes/` that the build and the `infer` binary find them by.

use std::{
    hash::{DefaultHasher, Hash, Hasher},
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail};
use clap::Args;

use crate::{
    util::{root, run as sh},
    workspace,
};

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
    for r in workspace::runtimes()? {
        r.package.hash(&mut h);
    }
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
    // The runtimes are the ones the backend crates declare; requirements.txt adds the fixture tools.
    let packages: Vec<String> = workspace::runtimes()?.into_iter().map(|r| r.package).collect();
    eprintln!(
        "setup: installing the pinned runtimes ({}) and the fixture tools into .venv; the first time takes a few minutes",
        packages.join(", ")
    );
    sh(Command::new(python())
        .args(["-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"])
        .args(&packages)
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

/// Links each runtime a backend crate declares (`[package.metadata.infer.runtime]`, read by
/// [`workspace::runtimes`]) into `.runtimes/`, with paths that do not depend on the Python
/// version, and writes the build flags of those linked at build time.
fn link_runtimes() -> anyhow::Result<()> {
    let site = site_packages()?;
    let runtimes = workspace::runtimes()?;
    for r in &runtimes {
        link_runtime(&site, r)?;
    }
    write_cargo_runtimes(&runtimes.iter().filter_map(|r| r.build_cfg.clone()).collect::<Vec<_>>())
}

/// The links of one runtime inside `.runtimes/<folder>`, checked: its library must be there after.
fn link_runtime(site: &Path, r: &workspace::Runtime) -> anyhow::Result<()> {
    let folder = root().join(".runtimes").join(&r.folder);
    for (name, from) in &r.links {
        let target = resolve_in(site, from).with_context(|| {
            format!("{} is not installed in the venv ({} has no {from})", r.package, site.display())
        })?;
        let at = if name == "." { folder.clone() } else { folder.join(name) };
        link(&target, &at)?;
    }
    let library = folder.join(&r.library);
    let versioned = library.parent().and_then(|dir| std::fs::read_dir(dir).ok()).is_some_and(|entries| {
        let prefix = format!("{}.", library.file_name().unwrap_or_default().to_string_lossy());
        entries.filter_map(Result::ok).any(|e| e.file_name().to_string_lossy().starts_with(&prefix))
    });
    anyhow::ensure!(
        library.exists() || versioned,
        "{} ({}) is linked but {} is missing: is {} installed in the venv?",
        r.name,
        r.crate_name,
        library.display(),
        r.package
    );
    Ok(())
}

/// `site/<path>`, a trailing `*` of the file name taking the first match in its folder.
fn resolve_in(site: &Path, path: &str) -> Option<PathBuf> {
    let Some(prefix) = path.strip_suffix('*') else {
        let p = site.join(path);
        return p.exists().then_some(p);
    };
    let full = site.join(prefix);
    let (dir, start) = (full.parent()?, full.file_name()?.to_string_lossy().into_owned());
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(&start))
        .map(|e| e.path())
        .collect();
    found.sort();
    found.into_iter().next()
}

/// What `.cargo/runtimes.toml` (included by `.cargo/config.toml`, ignored by git) holds once the
/// runtimes linked at build time are installed: their `--cfg`s (`infer_libtorch`, which compiles
/// infer-torch's binding in a plain `cargo build`, so that `infer-torch-worker` runs torch models
/// without a feature flag to remember). Runtimes opened at run time need nothing at build time.
#[must_use]
pub fn cargo_runtimes(cfgs: &[String]) -> String {
    let flags: Vec<String> = cfgs.iter().map(|c| format!("\"--cfg\", \"{c}\"")).collect();
    format!(
        "# Written by `cargo xtask setup`: the runtimes linked at build time are installed (.runtimes/), so\n\
         # their backends are compiled without a feature flag (see .cargo/config.toml). Do not edit.\n\
         [build]\nrustflags = [{}]\n",
        flags.join(", ")
    )
}

/// Writes `.cargo/runtimes.toml` ([`cargo_runtimes`]) unless it already says that.
fn write_cargo_runtimes(cfgs: &[String]) -> anyhow::Result<()> {
    let path = root().join(".cargo/runtimes.toml");
    let text = cargo_runtimes(cfgs);
    if std::fs::read_to_string(&path).is_ok_and(|s| s == text) {
        return Ok(());
    }
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
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
