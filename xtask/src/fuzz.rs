//! `cargo xtask fuzz`: the cargo-fuzz targets in `fuzz/` (every parser of ours), on the stable
//! toolchain. cargo-fuzz is installed from crates.io when missing (pinned version). Without a
//! sanitizer (`-s none`) cargo-fuzz needs no nightly: libFuzzer's coverage instrumentation uses
//! stable `-C` flags only.

use anyhow::{Context, bail};
use clap::Args;

use crate::util::{cargo, root, run as sh};

/// The cargo-fuzz version installed when missing.
pub const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// Every fuzz target in `fuzz/fuzz_targets/`.
pub const TARGETS: &[&str] = &["npy", "shapes_devices", "preprocess", "onnx_proto", "checkpoint", "tensor_file"];

/// Arguments of `cargo xtask fuzz`.
#[derive(Debug, Args)]
pub struct FuzzArgs {
    /// Seconds to run each target.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Only this target (default: all of them).
    #[arg(long)]
    pub target: Option<String>,
}

/// Installs cargo-fuzz if missing, then runs each target for `seconds`.
pub fn run(args: &FuzzArgs) -> anyhow::Result<()> {
    let targets: Vec<&str> = match &args.target {
        Some(t) if TARGETS.contains(&t.as_str()) => vec![t.as_str()],
        Some(t) => bail!("unknown fuzz target `{t}`: expected one of {}", TARGETS.join(", ")),
        None => TARGETS.to_vec(),
    };
    ensure_cargo_fuzz()?;
    let fuzz = root().join("fuzz");
    for t in targets {
        // New inputs go to an ignored working folder; the committed seeds are only read.
        let work = fuzz.join("target/corpus").join(t);
        std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
        sh(cargo()
            .current_dir(&fuzz)
            .args(["fuzz", "run", "--sanitizer", "none", t])
            .arg(&work)
            .arg(fuzz.join("corpus").join(t))
            .arg("--")
            .arg(format!("-max_total_time={}", args.seconds))
            .args(["-rss_limit_mb=2048", "-max_len=65536", "-print_final_stats=1"]))
        .with_context(|| format!("fuzz target `{t}` failed: the crashing input is in fuzz/artifacts/{t}/"))?;
    }
    eprintln!("xtask fuzz: no crash");
    Ok(())
}

/// Installs the pinned cargo-fuzz unless that version is already there.
fn ensure_cargo_fuzz() -> anyhow::Result<()> {
    let out = cargo().args(["fuzz", "--version"]).output();
    if let Ok(out) = out
        && out.status.success()
        && String::from_utf8_lossy(&out.stdout).contains(CARGO_FUZZ_VERSION)
    {
        return Ok(());
    }
    eprintln!("xtask fuzz: installing cargo-fuzz {CARGO_FUZZ_VERSION} from crates.io");
    sh(cargo().args(["install", "cargo-fuzz", "--locked", "--version", CARGO_FUZZ_VERSION]))
}

/// Every target for `seconds` each: the short run of `cargo xtask test`.
pub fn short(seconds: u64) -> anyhow::Result<()> {
    run(&FuzzArgs { seconds, target: None })
}
