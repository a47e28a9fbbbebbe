//! `infer-torch-worker`: the `infer` command line with the torch backend itself registered (the
//! only executable that links libtorch). `infer` hands it every command whose backend is torch,
//! and starts it for the torch rows of `infer compare` and `infer optimize-batch`; see
//! `crate::worker`. `infer-torch-worker --probe-backend torch` prints the backend's probe
//! as JSON.

use std::process::ExitCode;

use infer_cli::worker::{PROBE_ARG, ProbeReply};

fn main() -> ExitCode {
    let torch = infer_torch::TorchBackend;
    if std::env::args().nth(1).as_deref() == Some(PROBE_ARG) {
        return match serde_json::to_string(&ProbeReply::of(&torch)) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot write the probe: {e}");
                ExitCode::FAILURE
            }
        };
    }
    infer_cli::cli::main(&infer_cli::backends::registry_with(Box::new(torch)), false)
}
