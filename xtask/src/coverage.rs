//! `cargo xtask coverage`: line coverage of our crates with cargo-tarpaulin (installed from
//! crates.io when missing, pinned) on the stable toolchain. Its `llvm` engine builds with
//! `-C instrument-coverage` (the profiler runtime ships with the standard library) and reads the
//! `.profraw` files itself, so no `llvm-tools` component is needed; every instrumented process
//! writes its own profile, so the `infer` binary that the CLI tests start is measured too. (The
//! `ptrace` engine with `--follow-exec` crashed on those child processes.) Writes
//! `docs/coverage.md` with the total and a per-crate breakdown. Not part of `cargo xtask test`:
//! the instrumented build and run take several minutes.

use std::{collections::BTreeMap, fmt::Write as _, path::Path};

use anyhow::{Context, bail};
use clap::Args;

use crate::{
    fixtures, setup,
    util::{cargo, root, run as sh},
};

/// The cargo-tarpaulin version installed when missing.
pub const TARPAULIN_VERSION: &str = "0.37.5";

/// The features of the run: every backend, and each workspace crate's own `runtime` feature
/// named too (tarpaulin's source analysis drops code under a crate's `#[cfg(feature = ...)]`
/// unless the feature is named for that crate), read from the workspace so none is forgotten.
fn features() -> anyhow::Result<String> {
    let mut all = vec![crate::util::ALL_BACKENDS.to_string()];
    all.extend(crate::workspace::runtime_features()?);
    Ok(all.join(","))
}

/// Arguments of `cargo xtask coverage`.
#[derive(Debug, Args)]
pub struct CoverageArgs {
    /// Fail when the total line coverage is below this percentage.
    #[arg(long, default_value_t = 80.0)]
    pub min: f64,
    /// Do not rewrite docs/coverage.md.
    #[arg(long)]
    pub no_doc: bool,
}

/// Covered and coverable lines.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Lines {
    /// Lines executed at least once.
    pub hit: u64,
    /// Lines that can be executed.
    pub found: u64,
}

impl Lines {
    /// Percentage covered (100 when nothing is coverable).
    #[allow(clippy::cast_precision_loss)]
    pub fn percent(self) -> f64 {
        if self.found == 0 { 100.0 } else { self.hit as f64 * 100.0 / self.found as f64 }
    }
}

/// Runs tarpaulin, prints the figure and writes docs/coverage.md.
pub fn run(args: &CoverageArgs) -> anyhow::Result<()> {
    setup::ensure()?;
    fixtures::ensure(&["resnet18", "resnet50"])?;
    ensure_tarpaulin()?;
    let out = root().join("target/coverage");
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let features = features()?;
    sh(cargo().args([
        "tarpaulin",
        "--engine",
        "llvm",
        "--workspace",
        "--exclude",
        "xtask",
        "--features",
        &features,
        "--skip-clean",
        "--target-dir",
        "target/tarpaulin",
        "--timeout",
        "600",
        "--out",
        "Lcov",
        "--output-dir",
        "target/coverage",
    ]))?;
    let lcov = out.join("lcov.info");
    let text = std::fs::read_to_string(&lcov).with_context(|| format!("cannot read {}", lcov.display()))?;
    let per_crate = by_crate(&text, &root());
    let total =
        per_crate.values().fold(Lines::default(), |a, l| Lines { hit: a.hit + l.hit, found: a.found + l.found });
    let table = markdown(&per_crate, total);
    print!("{table}");
    eprintln!("xtask coverage: {:.1}% of {} lines", total.percent(), total.found);
    if !args.no_doc {
        let doc = root().join("docs/coverage.md");
        let text = format!(
            "# Line coverage\n\nMeasured by `cargo xtask coverage` (cargo-tarpaulin {TARPAULIN_VERSION}, llvm engine on \
             the stable toolchain, `--features {features}`; the `infer` binary started by the CLI tests writes \
             its own profile, so the command line counts too; test code itself is not counted; xtask and fuzz \
             are excluded). It is not part of `cargo xtask test`: the instrumented build and run take several \
             minutes.\n\n\
             **Total: {:.1}%** ({} of {} lines).\n\n{table}",
            total.percent(),
            total.hit,
            total.found
        );
        std::fs::write(&doc, text).with_context(|| format!("cannot write {}", doc.display()))?;
        eprintln!("wrote {}", doc.display());
    }
    if total.percent() < args.min {
        bail!("line coverage {:.1}% is below the required {:.0}%", total.percent(), args.min);
    }
    Ok(())
}

/// Sums an LCOV report's `DA:` lines by crate (`crates/<name>/...`); other files are ignored.
pub fn by_crate(lcov: &str, root: &Path) -> BTreeMap<String, Lines> {
    let mut out: BTreeMap<String, Lines> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in lcov.lines() {
        if let Some(path) = line.strip_prefix("SF:") {
            let rel = Path::new(path).strip_prefix(root).unwrap_or(Path::new(path));
            let parts: Vec<_> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            current = match parts.as_slice() {
                [c, name, ..] if c == "crates" => Some(name.clone()),
                _ => None,
            };
        } else if let (Some(name), Some(da)) = (&current, line.strip_prefix("DA:")) {
            let hits = da.split(',').nth(1).and_then(|h| h.trim().parse::<u64>().ok()).unwrap_or(0);
            let e = out.entry(name.clone()).or_default();
            e.found += 1;
            e.hit += u64::from(hits > 0);
        } else if line == "end_of_record" {
            current = None;
        }
    }
    out
}

fn markdown(per_crate: &BTreeMap<String, Lines>, total: Lines) -> String {
    let mut t = String::from("| crate | lines covered | coverable | coverage |\n|---|---:|---:|---:|\n");
    for (name, l) in per_crate {
        let _ = writeln!(t, "| {name} | {} | {} | {:.1}% |", l.hit, l.found, l.percent());
    }
    let _ = writeln!(t, "| **total** | {} | {} | **{:.1}%** |", total.hit, total.found, total.percent());
    t
}

/// Installs the pinned cargo-tarpaulin unless that version is already there.
fn ensure_tarpaulin() -> anyhow::Result<()> {
    if let Ok(out) = cargo().args(["tarpaulin", "--version"]).output()
        && out.status.success()
        && String::from_utf8_lossy(&out.stdout).contains(TARPAULIN_VERSION)
    {
        return Ok(());
    }
    eprintln!("xtask coverage: installing cargo-tarpaulin {TARPAULIN_VERSION} from crates.io");
    sh(cargo().args(["install", "cargo-tarpaulin", "--locked", "--version", TARPAULIN_VERSION]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_lcov_lines_by_crate() {
        let lcov = "SF:/p/crates/infer-core/src/npy.rs\nDA:1,3\nDA:2,0\nend_of_record\n\
                    SF:/p/crates/infer-core/src/lib.rs\nDA:5,1\nend_of_record\n\
                    SF:/p/xtask/src/main.rs\nDA:1,0\nend_of_record\n\
                    SF:/p/crates/infer-onnx/src/lib.rs\nDA:7,0\nend_of_record\n";
        let m = by_crate(lcov, Path::new("/p"));
        assert_eq!(m.len(), 2);
        assert_eq!(m["infer-core"], Lines { hit: 2, found: 3 });
        assert_eq!(m["infer-onnx"], Lines { hit: 0, found: 1 });
        assert!((m["infer-core"].percent() - 66.666).abs() < 0.01);
    }
}
