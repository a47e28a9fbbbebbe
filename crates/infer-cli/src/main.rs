//! `infer`: load, run, inspect and benchmark models on every backend and device. A command whose
//! backend runs in a worker executable (torch: `infer-torch-worker`) is handed over to it, so this
//! process maps no runtime it does not use (see `infer_cli::worker`).

use std::process::ExitCode;

fn main() -> ExitCode {
    infer_cli::cli::main(&infer_cli::backends::registry(), true)
}
