//! `infer merge`: joins the outputs of `infer run --shard I/N` into one predictions file.

use std::{path::PathBuf, process::ExitCode};

use crate::shard;
use anyhow::bail;
use clap::Args;

/// Exit code when some images could not be read by the shards (as `infer run`).
const EXIT_PARTIAL: u8 = 3;

/// Arguments of `infer merge`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 success, 1 error (a shard missing, incomplete or inconsistent: the message names \
                  the shards to re-run), 3 merged, but some images could not be read (listed on stderr)."
)]
pub struct MergeArgs {
    /// The folder the shards wrote into (`infer run … --shard I/N --predictions FOLDER`).
    folder: PathBuf,
    /// The merged predictions file (.csv or .jsonl, the shards' format).
    #[arg(long, short)]
    output: PathBuf,
}

pub fn merge(a: &MergeArgs) -> anyhow::Result<ExitCode> {
    infer_core::fsutil::check_writable(&a.output)?;
    let merged = shard::merge(&a.folder)?;
    let ext = a.output.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let clash = match ext.as_deref() {
        Some("csv") => merged.format != "csv",
        Some("jsonl" | "ndjson" | "json") => merged.format != "jsonl",
        _ => false,
    };
    if clash {
        bail!(
            "{}: the shards wrote {} predictions; name the output .{} (or rerun the shards with --format)",
            a.output.display(),
            merged.format,
            merged.format
        );
    }
    infer_core::fsutil::write_atomic(&a.output, &merged.bytes)?;
    eprintln!(
        "merged {} shards: {} of {} image(s) predicted; wrote {}",
        merged.shards,
        merged.predicted,
        merged.inputs_total,
        a.output.display()
    );
    if merged.skipped.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("{} image(s) could not be read by the shards:", merged.skipped.len());
    for s in &merged.skipped {
        eprintln!("  {}", s.error);
    }
    Ok(ExitCode::from(EXIT_PARTIAL))
}
