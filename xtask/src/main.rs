//! `cargo xtask`: project automation. `setup` installs the native runtimes into a project-local
//! venv, `fixtures` generates the models, `compare` runs the main job, `test` runs every check,
//! `gpu-bundle` prepares the binaries for a lent GPU machine.

mod bench;
mod compare;
mod coverage;
mod fixtures;
mod fuzz;
mod gpu;
mod setup;
mod test;
#[cfg(test)]
mod tidy;
mod util;
mod workspace;

use clap::{Parser, Subcommand};

/// Project automation for infer.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", max_term_width = 110)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create .venv/ with the pinned runtimes and link them into .runtimes/ (idempotent).
    Setup(setup::SetupArgs),
    /// Generate the fixture models, reference inputs and outputs into fixtures/generated/.
    Fixtures(fixtures::FixturesArgs),
    /// Compare every backend and device on a generated model (does setup and fixtures itself).
    Compare(compare::CompareArgs),
    /// Set up, then fmt check, clippy -D warnings and every test with every backend enabled.
    Test(test::TestArgs),
    /// The harness's overhead (infer vs bare ort vs Python onnxruntime), repeatability and a throughput sweep.
    Bench(bench::BenchArgs),
    /// Run the cargo-fuzz targets (installs cargo-fuzz when missing).
    Fuzz(fuzz::FuzzArgs),
    /// Line coverage of our crates with cargo-tarpaulin (installed when missing); writes docs/coverage.md.
    Coverage(coverage::CoverageArgs),
    /// Release infer and its torch worker, stripped, with ONNX Runtime, into .gpu-bundle/ for
    /// benchmarks/gpu/run.sh on a lent GPU machine (sizes checked against the 64 MiB that travel).
    GpuBundle(gpu::GpuBundleArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Setup(a) => setup::run(&a),
        Command::Fixtures(a) => fixtures::run(&a),
        Command::Compare(a) => compare::run(&a),
        Command::Test(a) => test::run(&a),
        Command::Bench(a) => bench::run(&a),
        Command::Fuzz(a) => fuzz::run(&a),
        Command::Coverage(a) => coverage::run(&a),
        Command::GpuBundle(a) => gpu::run(&a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
