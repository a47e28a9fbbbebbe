//! `cargo xtask gpu-bundle`: `infer` and `infer-torch-worker` for the lent GPU machine, in one
//! ignored folder (`.gpu-bundle/`) that travels with the working tree (`carry`), where
//! `benchmarks/gpu/run.sh` finds them. That machine has no Rust toolchain and reaches no registry,
//! and at most 64 MiB travel per call, tree included; see docs/gpu.md.
//!
//! - Release build with every backend, stripped. The worker is linked against the venv's libtorch
//!   2.11.0, the version installed there (`/opt/torch/.venv`, torch 2.11.0+cu130), and keeps
//!   `libtorch_cuda.so` as NEEDED (`crates/infer-cli/build.rs`); its rpath points into this
//!   machine's venv, so there run.sh puts the device's `torch/lib` on `LD_LIBRARY_PATH`.
//! - `lib/libonnxruntime.so`: our ONNX Runtime 1.31.1 (28 MiB), which `infer` finds beside its
//!   executable; the machine's own onnxruntime 1.30 is refused by `ort` rc.15 with `api-31`.
//!   `--without-onnxruntime` leaves it out (the onnx rows then say why they are unavailable).
//! - Checked: the worker's and `infer`'s NEEDED libraries (libtorch in the worker only), the
//!   newest glibc symbol version they need, each written file's size against its source, and the
//!   bundle plus the tree that travels (tracked and untracked-not-ignored files) under 64 MiB.
//!   `MANIFEST.txt` in the bundle records it all.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, bail, ensure};
use clap::Args;

use crate::util::{root, run as sh};

/// The bundle's folder, relative to the project root (ignored by git, carried to the device).
pub const DIR: &str = ".gpu-bundle";
/// What travels to the device per call, tree and carried paths together.
pub const LIMIT: u64 = 64 * 1024 * 1024;
/// The newest glibc symbol version the device machine's system (Ubuntu 24.04) provides.
pub const DEVICE_GLIBC: (u32, u32, u32) = (2, 39, 0);
/// The newest libstdc++ symbol version it provides (GCC 14's).
pub const DEVICE_GLIBCXX: (u32, u32, u32) = (3, 4, 33);
/// The libtorch version installed on the device machine, which the worker must be linked against.
pub const DEVICE_TORCH: &str = "2.11.0";

/// Arguments of `cargo xtask gpu-bundle`.
#[derive(Debug, Args)]
pub struct GpuBundleArgs {
    /// Use the release binaries already built (target/release) instead of building them.
    #[arg(long)]
    pub no_build: bool,
    /// Leave ONNX Runtime out of the bundle (28 MiB): the onnx rows then say why they are missing.
    #[arg(long)]
    pub without_onnxruntime: bool,
}

/// Builds, strips, copies, checks and reports the bundle.
pub fn run(args: &GpuBundleArgs) -> anyhow::Result<()> {
    let root = root();
    let libtorch = root.join(".runtimes/libtorch");
    let version = torch_version(&libtorch)?;
    ensure!(
        version.starts_with(DEVICE_TORCH),
        "{} is torch {version}: the GPU machine has torch {DEVICE_TORCH}, which the worker must be linked against",
        libtorch.display()
    );
    if !args.no_build {
        crate::compare::build_release()?;
    }
    let release = root.join("target/release");
    let bundle = root.join(DIR);
    if bundle.exists() {
        std::fs::remove_dir_all(&bundle).with_context(|| format!("cannot remove the old {}", bundle.display()))?;
    }
    std::fs::create_dir_all(bundle.join("lib")).with_context(|| format!("cannot create {}", bundle.display()))?;
    let mut manifest = format!(
        "# {DIR}: infer for the GPU machine, written by `cargo xtask gpu-bundle` (docs/gpu.md)\n\
         commit {}\nlibtorch linked: torch {version} ({})\n",
        git_head(),
        std::fs::canonicalize(&libtorch).unwrap_or_else(|_| libtorch.clone()).display()
    );
    let mut written = Vec::new();
    for exe in ["infer", "infer-torch-worker"] {
        let from = release.join(exe);
        ensure!(from.is_file(), "{} is missing: build it (drop --no-build)", from.display());
        let to = bundle.join(exe);
        sh(Command::new("strip").arg("--strip-all").arg("-o").arg(&to).arg(&from))?;
        written.push((to, None));
    }
    let needed_worker = needed(&bundle.join("infer-torch-worker"))?;
    let needed_infer = needed(&bundle.join("infer"))?;
    for lib in ["libtorch_cpu.so", "libc10.so"] {
        ensure!(needed_worker.iter().any(|n| n == lib), "infer-torch-worker does not need {lib}: {needed_worker:?}");
    }
    if libtorch.join("lib/libtorch_cuda.so").is_file() {
        ensure!(
            needed_worker.iter().any(|n| n == "libtorch_cuda.so"),
            "infer-torch-worker lost libtorch_cuda.so (see crates/infer-cli/build.rs): CUDA would be missing there"
        );
    }
    ensure!(
        !needed_infer.iter().any(|n| n.starts_with("libtorch") || n.starts_with("libc10")),
        "infer itself needs libtorch ({needed_infer:?}): only the worker may"
    );
    let _ = writeln!(manifest, "infer-torch-worker NEEDED: {}", needed_worker.join(" "));
    let _ = writeln!(manifest, "infer NEEDED: {}", needed_infer.join(" "));
    for exe in ["infer", "infer-torch-worker"] {
        let versions = output(Command::new("readelf").arg("-V").arg(bundle.join(exe)))?;
        for (prefix, device) in [("GLIBC_", DEVICE_GLIBC), ("GLIBCXX_", DEVICE_GLIBCXX)] {
            let need = newest_version(&versions, prefix);
            ensure!(
                need <= device,
                "{exe} needs {prefix}{}, newer than the GPU machine's {prefix}{}",
                dotted(need),
                dotted(device)
            );
            let _ = writeln!(manifest, "{exe} needs {prefix}{} (the GPU machine has {})", dotted(need), dotted(device));
        }
    }
    if args.without_onnxruntime {
        let _ =
            writeln!(manifest, "ONNX Runtime: left out (--without-onnxruntime): the onnx rows are unavailable there");
    } else {
        let link = root.join(".runtimes/onnxruntime/libonnxruntime.so");
        let ort = std::fs::canonicalize(&link)
            .with_context(|| format!("{} is missing: run `cargo xtask setup`", link.display()))?;
        let to = bundle.join("lib/libonnxruntime.so");
        std::fs::copy(&ort, &to).with_context(|| format!("cannot copy {} to {}", ort.display(), to.display()))?;
        written.push((to, Some(size(&ort)?)));
        let _ = writeln!(manifest, "ONNX Runtime: {} as lib/libonnxruntime.so", ort.display());
    }
    // Written sizes: each copy as long as its source; the stripped binaries are what they are.
    let mut bundle_bytes = 0;
    for (file, expected) in &written {
        let got = size(file)?;
        if let Some(expected) = expected {
            ensure!(
                got == *expected,
                "{} is {got} bytes, its source {expected}: the copy is incomplete",
                file.display()
            );
        }
        ensure!(got > 0, "{} is empty", file.display());
        bundle_bytes += got;
        let _ = writeln!(manifest, "{:>10}  {}", got, file.strip_prefix(&root).unwrap_or(file).display());
    }
    let tree = tree_bytes(&root)?;
    let total = tree + bundle_bytes;
    let _ = writeln!(
        manifest,
        "the tree that travels: {tree} bytes; bundle {bundle_bytes} bytes; together {total} of {LIMIT} ({})",
        mib(total)
    );
    std::fs::write(bundle.join("MANIFEST.txt"), &manifest).context("cannot write the manifest")?;
    eprint!("{manifest}");
    if total > LIMIT {
        bail!(
            "the tree ({}) and {DIR} ({}) come to {}, over the {} that travel to the GPU machine: try --without-onnxruntime",
            mib(tree),
            mib(bundle_bytes),
            mib(total),
            mib(LIMIT)
        );
    }
    eprintln!(
        "gpu-bundle: ready in {DIR}/ ({} with the tree, {} to spare). On a lent GPU machine, the device tool's run with\n  \
         command: bash benchmarks/gpu/run.sh\n  carry: [\"{DIR}\"]\n  timeout_s: 540\n(docs/gpu.md)",
        mib(total),
        mib(LIMIT - total)
    );
    Ok(())
}

fn mib(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let m = bytes as f64 / (1024.0 * 1024.0);
    format!("{m:.1} MiB")
}

fn size(path: &Path) -> anyhow::Result<u64> {
    Ok(std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?.len())
}

/// The version of the torch package whose folder is `libtorch` (`torch/version.py`).
fn torch_version(libtorch: &Path) -> anyhow::Result<String> {
    let file = libtorch.join("version.py");
    let text = std::fs::read_to_string(&file).with_context(|| {
        format!("cannot read {}: libtorch is not installed (run `cargo xtask setup`)", file.display())
    })?;
    text.lines()
        .find_map(|l| l.strip_prefix("__version__ = "))
        .map(|v| v.trim().trim_matches(['\'', '"']).to_string())
        .with_context(|| format!("{} has no __version__", file.display()))
}

/// `git rev-parse HEAD`, or `unknown`.
fn git_head() -> String {
    Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(|| "unknown".into(), |o| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

fn output(cmd: &mut Command) -> anyhow::Result<String> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().with_context(|| format!("cannot run {shown}"))?;
    ensure!(out.status.success(), "{shown} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The NEEDED entries of an ELF file (`readelf -d`).
fn needed(file: &Path) -> anyhow::Result<Vec<String>> {
    Ok(parse_needed(&output(Command::new("readelf").arg("-d").arg(file))?))
}

/// `0x… (NEEDED) Shared library: [libc10.so]` → `libc10.so`.
fn parse_needed(readelf: &str) -> Vec<String> {
    readelf
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| Some(l.split_once('[')?.1.split_once(']')?.0.to_string()))
        .collect()
}

/// The newest symbol version named `<prefix>x.y[.z]` in `readelf -V`'s output (`GLIBC_2.34`).
fn newest_version(readelf: &str, prefix: &str) -> (u32, u32, u32) {
    readelf
        .split(|c: char| c.is_whitespace())
        .filter_map(|w| w.strip_prefix(prefix))
        .filter_map(|v| {
            let mut parts = v.split('.').map(str::parse::<u32>);
            Some((
                parts.next()?.ok()?,
                parts.next().and_then(Result::ok).unwrap_or(0),
                parts.next().and_then(Result::ok).unwrap_or(0),
            ))
        })
        .max()
        .unwrap_or((0, 0, 0))
}

fn dotted(v: (u32, u32, u32)) -> String {
    format!("{}.{}.{}", v.0, v.1, v.2)
}

/// Bytes of what the device tool sends besides carried paths: tracked files and untracked ones
/// git does not ignore (as they are on disk), and `shared/` where the checkout has one.
fn tree_bytes(root: &Path) -> anyhow::Result<u64> {
    let list = output(
        Command::new("git").args(["ls-files", "-z", "--cached", "--others", "--exclude-standard"]).current_dir(root),
    )?;
    let mut files: Vec<PathBuf> = list.split('\0').filter(|f| !f.is_empty()).map(|f| root.join(f)).collect();
    let shared = root.join("shared");
    if shared.is_dir() && !files.iter().any(|f| f.starts_with(&shared)) {
        files.extend(walk(&shared));
    }
    files.sort();
    files.dedup();
    // A deleted tracked file is still listed: what is not on disk does not travel.
    Ok(files.iter().filter_map(|f| std::fs::symlink_metadata(f).ok()).map(|m| m.len()).sum())
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .flat_map(|e| {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) { walk(&p) } else { vec![p] }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_needed_libraries_and_glibc_versions() {
        let d = " 0x0000000000000001 (NEEDED)             Shared library: [libtorch_cuda.so]\n \
                 0x0000000000000001 (NEEDED)             Shared library: [libc10.so]\n \
                 0x000000000000001d (RUNPATH)            Library runpath: [/x/torch/lib]\n";
        assert_eq!(parse_needed(d), ["libtorch_cuda.so", "libc10.so"]);
        let v = "  0x0010:   Name: GLIBC_2.3.4  Flags: none\n  0x0020:   Name: GLIBC_2.34  Flags: none\n  \
                 Name: GLIBC_2.9  Name: GLIBCXX_3.4.30";
        assert_eq!(newest_version(v, "GLIBC_"), (2, 34, 0));
        assert_eq!(newest_version(v, "GLIBCXX_"), (3, 4, 30));
        assert_eq!(newest_version("nothing", "GLIBC_"), (0, 0, 0));
    }

    #[test]
    fn the_tree_is_measured() {
        let bytes = tree_bytes(&root()).unwrap_or(0);
        assert!(bytes > 100_000, "the project's own files: {bytes} bytes");
    }
}
