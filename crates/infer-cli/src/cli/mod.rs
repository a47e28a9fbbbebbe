//! Command-line definitions and dispatch.

mod bench;
mod chunk;
mod compare;
mod compare_runs;
mod confidence;
mod feedback;
mod info;
mod merge;
mod optimize;
mod profile;
mod report;
mod run;

use std::{path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};
use infer_core::{Device, LoadOptions, OptLevel};
pub(crate) use infer_measure::workload::args::{Devices, Sizes, parse_devices, parse_sizes};
use infer_measure::{
    workload::Workload,
    workload::args::{
        DimArg, FeedbackPair, IntRangeArg, ShapeArg, parse_dim_arg, parse_feedback, parse_int_range, parse_shape_arg,
    },
};

/// Load, run, inspect and benchmark ML models on ONNX Runtime, PyTorch and TensorFlow.
#[derive(Debug, Parser)]
#[command(name = "infer", version, max_term_width = 110)]
pub struct Cli {
    /// Show the runtimes' own logs (TensorFlow's start-up notices, ONNX Runtime's warnings and
    /// errors as it prints them); silenced by default.
    #[arg(long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List every backend, whether it can be used here, the formats it reads and its options.
    Backends(BackendsArgs),
    /// Show a model's format, backend, inputs, outputs and parameter count.
    Info(info::InfoArgs),
    /// Run a model on .npy inputs, images, or a folder of images.
    Run(run::RunArgs),
    /// Measure latency and throughput per batch size.
    Bench(bench::BenchArgs),
    /// Run the same workload on every backend and device of a fixture folder, or of your own model
    /// files (compared with the first one), and compare.
    Compare(compare::CompareArgs),
    /// Rebuild a report (HTML with plots, Markdown, CSV) from a saved result file; several results
    /// (from several machines) make one fleet report.
    Report(report::ReportArgs),
    /// Compare two saved runs; exit code 1 on a significant regression beyond the threshold.
    CompareRuns(compare_runs::CompareRunsArgs),
    /// Operator-level profile: the top operator types and nodes by time, from the runtime's profiler.
    Profile(profile::ProfileArgs),
    /// Find the largest batch that fits and the best-throughput batch (each probe in a child process).
    OptimizeBatch(optimize::OptimizeArgs),
    /// Join the outputs of `infer run --shard I/N` into one predictions file, checking every shard.
    Merge(merge::MergeArgs),
}

/// Options shared by the commands that load a model.
#[derive(Debug, Args, Clone)]
struct ModelArgs {
    /// Model file (.onnx, TorchScript .pt, .safetensors or torch.save checkpoint with --arch, .keras/.h5)
    /// or SavedModel folder.
    model: PathBuf,
    /// Backend to use (see `infer backends`); default: the first that reads the model's format.
    #[arg(long, short)]
    backend: Option<String>,
    /// Intra-op threads (0 = the runtime's default).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Graph optimization level: none, basic, extended, all.
    #[arg(long, default_value = "all")]
    optimization: OptLevel,
    /// When the device is not available, warn and run on the CPU instead of failing.
    #[arg(long)]
    fallback: bool,
    /// A backend's own option, KEY=VALUE (repeatable; `infer backends --options` lists them).
    #[arg(long = "option", short = 'O', value_name = "KEY=VALUE", value_parser = infer_core::options::parse_pair)]
    options: Vec<(String, String)>,
    /// SavedModel signature to run (default: serving_default); shorthand for `--option signature=NAME`.
    #[arg(long)]
    signature: Option<String>,
    /// Architecture to load a weights-only checkpoint into (e.g. resnet18, resnet50); shorthand for
    /// `--option arch=NAME`.
    #[arg(long)]
    arch: Option<String>,
    /// TorchScript method to run instead of forward (e.g. encode), its inputs and arguments read
    /// from its own schema; shorthand for `--option method=NAME`.
    #[arg(long)]
    method: Option<String>,
    /// A value given on every call, NAME=VALUE (repeatable): an argument that is not a tensor
    /// (a TorchScript `sr: int`: 16000, 0.5, true, "text", [1, 2], (1, 2), None), checked against
    /// its type (`infer info` lists them), or a scalar input (rank 0) of any model, as a 0-d
    /// tensor of its dtype.
    #[arg(long = "arg", value_name = "NAME=VALUE", value_parser = infer_core::args::parse_arg)]
    args: Vec<(String, String)>,
}

impl ModelArgs {
    /// The backend options given: `--option` pairs plus the `--signature` / `--arch` shorthands.
    fn option_map(&self) -> infer_core::OptionMap {
        let mut map: infer_core::OptionMap = self.options.iter().cloned().collect();
        if let Some(s) = &self.signature {
            map.insert("signature".into(), s.clone());
        }
        if let Some(a) = &self.arch {
            map.insert("arch".into(), a.clone());
        }
        if let Some(m) = &self.method {
            map.insert("method".into(), m.clone());
        }
        map
    }

    /// The `--arg` values given, by name (the last one of a name given twice).
    fn arg_map(&self) -> infer_core::ArgMap {
        self.args.iter().cloned().collect()
    }

    fn options(&self, device: Device) -> LoadOptions {
        LoadOptions {
            device,
            intra_threads: self.threads,
            inter_threads: 0,
            optimization: self.optimization,
            fallback_to_cpu: self.fallback,
            profile_prefix: None,
            options: self.option_map(),
            args: self.arg_map(),
        }
    }
}

/// What the inputs are made of: shapes by name, dimension sizes, real data, integer ranges
/// (`bench`, `compare`, `profile`, `optimize-batch`).
#[derive(Debug, Args, Clone, Default)]
struct WorkloadArgs {
    /// An input's shape, NAME=1x128 or NAME=1x128:i64 (repeatable); its size at the batch axis
    /// follows each batch size asked. Gives a shape-less input (TorchScript without a sidecar)
    /// its shape and dtype.
    #[arg(long = "shape", value_name = "NAME=DIMS[:DTYPE]", value_parser = parse_shape_arg)]
    shapes: Vec<ShapeArg>,
    /// The size of a symbolic dimension in every input that has it, SYMBOL=128 (repeatable); a
    /// list, SYMBOL=32,128,512, measures one row per size, and several lists their product.
    #[arg(long = "dim", value_name = "SYMBOL=N[,N...]", value_parser = parse_dim_arg)]
    dim: Vec<DimArg>,
    /// Sizes of each input's dynamic dimensions other than the batch, in order (the positional
    /// shorthand of --dim).
    #[arg(long, value_parser = parse_sizes, conflicts_with = "dim")]
    dims: Option<Sizes>,
    /// Real input data instead of synthetic: a .npy or ONNX TensorProto (.pb) as PATH (inputs in
    /// order) or NAME=PATH, a .npz holding several arrays by input name, or an ONNX test data set
    /// folder (input_N.pb) (repeatable); cut or repeated along each input's batch axis to each
    /// batch size.
    #[arg(long, short, value_name = "[NAME=]PATH")]
    input: Vec<String>,
    /// Draw a synthetic integer input from LO up to HI (excluded), NAME=LO:HI (repeatable).
    /// Otherwise: the range the model proves (an embedding table's rows), else by name (`*mask*`
    /// ones, `*type_ids*` zeros), else 0..10.
    #[arg(long = "int-range", value_name = "NAME=LO:HI", value_parser = parse_int_range)]
    int_range: Vec<IntRangeArg>,
    /// The named dimension that is the batch (default: one named `batch` or `batch_size`, else
    /// the first input's leading dynamic dimension); a batch size applies to every axis of every
    /// input with it, and an input without it is fed as given.
    #[arg(long, value_name = "SYMBOL")]
    batch_dim: Option<String>,
    /// Feed a model output into the named input of the next call, OUTPUT=INPUT (repeatable): the
    /// state of a streaming or recurrent model carried from call to call, warm-up included,
    /// starting as zeros (or as the --input data of that input); its shape and dtype must be the
    /// input's. Honoured by `bench` (single-stream, and --scenario server with --streams) and
    /// passed by `compare` to its bench children; refused by the rest; see docs/scenarios.md,
    /// "State fed back".
    #[arg(long = "feedback", value_name = "OUTPUT=INPUT", value_parser = parse_feedback)]
    feedback: Vec<FeedbackPair>,
}

impl WorkloadArgs {
    /// The workload of these options with the `--arg` values `args` (given with the model's
    /// options, [`ModelArgs::arg_map`], or `compare`'s own).
    fn workload(&self, args: infer_core::ArgMap) -> Workload {
        Workload {
            shapes: self.shapes.clone(),
            dims: self.dim.clone(),
            positional: self.dims.clone().map(|d| d.0).unwrap_or_default(),
            files: self.input.clone(),
            int_ranges: self.int_range.clone(),
            args,
            batch_dim: self.batch_dim.clone(),
            feedback: self.feedback.clone(),
        }
    }
}

/// Arguments of `infer backends`.
#[derive(Debug, Args)]
struct BackendsArgs {
    /// Also list each backend's own options (`--option KEY=VALUE`).
    #[arg(long)]
    options: bool,
}

fn backends(registry: &infer_core::Registry, a: &BackendsArgs) -> ExitCode {
    let mut t = infer_report::table::Table::new(&["backend", "status", "devices", "reads", "library"]);
    for b in registry.iter() {
        let avail = infer_core::registry::availability(b);
        let (devices, lib) = match &avail {
            infer_core::Availability::Available(i) => (
                i.devices.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
                i.library.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            ),
            _ => (String::new(), String::new()),
        };
        let reads: Vec<&str> = b.formats().iter().map(|f| f.hint).collect();
        t.rows.push(vec![b.name().into(), avail.summary(), devices, reads.join(", "), lib]);
    }
    print!("{}", t.to_text());
    if a.options {
        println!("\noptions (--option KEY=VALUE):");
        for b in registry.iter() {
            for o in b.options() {
                let values = o.values.map(|v| format!(" [{}]", v.join("|"))).unwrap_or_default();
                println!("  {:<8} {}{values}: {}", b.name(), o.key, o.help);
            }
        }
    }
    ExitCode::SUCCESS
}

/// The command line of `infer` and of a backend's worker: parses the arguments and runs the
/// command on `registry`. With `hand_over` (in `infer`), a command whose backend runs in a worker
/// is handed over to it whole ([`crate::worker::hand_over`]).
pub fn main(registry: &infer_core::Registry, hand_over: bool) -> ExitCode {
    let args = Cli::parse();
    if hand_over && let Err(reason) = hand_over_if_needed(registry, &args.command) {
        eprintln!("error: {reason}");
        return ExitCode::FAILURE;
    }
    let code = match dispatch(args, registry) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", message(&e));
            ExitCode::FAILURE
        }
    };
    write_maps_for_tests();
    code
}

/// A hidden hook for the tests of lazy loading: `INFER_TEST_MAPS=DIR` makes the process copy its
/// `/proc/self/maps` (the libraries it has mapped) into `DIR/<executable>-<pid>.maps` when the
/// command ends; child processes inherit the variable. Honoured in debug builds or with the
/// `test-hooks` feature, like `INFER_TEST_CRASH`.
fn write_maps_for_tests() {
    if !(cfg!(debug_assertions) || cfg!(feature = "test-hooks")) {
        return;
    }
    let Some(dir) = std::env::var_os("INFER_TEST_MAPS") else { return };
    let exe = std::env::current_exe().ok().and_then(|e| e.file_name().map(|n| n.to_string_lossy().into_owned()));
    let path = PathBuf::from(dir).join(format!("{}-{}.maps", exe.unwrap_or_default(), std::process::id()));
    if let Err(e) = std::fs::copy("/proc/self/maps", &path) {
        eprintln!("warning: INFER_TEST_MAPS: cannot write {}: {e}", path.display());
    }
}

/// The error and its causes on one line, leaving out a cause whose text the message before it
/// already contains (our errors print their source: `x.npy: No such file or directory`). A
/// backend's error ends the line: it holds the framework's message reduced to its one line, and
/// its source, the framework's raw text (C++ signatures, stack traces), shows only with
/// `--verbose`.
fn message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        // (An `Error::Context`'s source is a `Box<Error>`, which is its own error type.)
        let ours = cause
            .downcast_ref::<infer_core::Error>()
            .or_else(|| cause.downcast_ref::<Box<infer_core::Error>>().map(|b| &**b));
        let native = matches!(ours, Some(infer_core::Error::Backend { .. }));
        if native && !crate::backends::verbose() {
            break;
        }
    }
    out
}

impl Command {
    /// The model options of a command that loads one model in this process.
    fn model_args(&self) -> Option<&ModelArgs> {
        match self {
            Command::Info(a) => Some(&a.model),
            Command::Run(a) => Some(&a.model),
            Command::Bench(a) => Some(&a.model),
            Command::Profile(a) => Some(&a.model),
            Command::OptimizeBatch(a) => Some(&a.model),
            _ => None,
        }
    }
}

/// Replaces this process with the worker of the command's backend, where it runs in one; returns
/// when it does not (or when the model's backend cannot be chosen: the command says why). `Err`
/// when the worker cannot be started.
fn hand_over_if_needed(registry: &infer_core::Registry, command: &Command) -> Result<(), String> {
    let Some(m) = command.model_args() else { return Ok(()) };
    let Ok((backend, _)) = registry.choose(&m.model, m.backend.as_deref()) else { return Ok(()) };
    if !crate::worker::runs_in_worker(backend.name()) {
        return Ok(());
    }
    crate::worker::hand_over(backend.name())
}

/// Runs the parsed command.
fn dispatch(cli: Cli, registry: &infer_core::Registry) -> anyhow::Result<ExitCode> {
    crate::backends::set_verbose(cli.verbose);
    match cli.command {
        Command::Backends(a) => Ok(backends(registry, &a)),
        Command::Info(a) => info::info(registry, &a),
        Command::Run(a) => run::run(registry, &a),
        Command::Bench(a) => bench::bench(registry, &a),
        Command::Compare(a) => compare::compare(registry, &a),
        Command::Report(a) => report::report(&a),
        Command::CompareRuns(a) => Ok(compare_runs::compare_runs_cmd(&a)),
        Command::Profile(a) => profile::profile_cmd(registry, &a),
        Command::OptimizeBatch(a) => optimize::optimize_batch(registry, &a),
        Command::Merge(a) => merge::merge(&a),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    /// A backend's error prints as its one line, once, under any context: not followed by the
    /// framework's raw text (its C++ signature, its stack trace) that the error keeps as source.
    #[test]
    fn a_native_error_prints_as_its_one_line() {
        let raw = std::io::Error::other(
            "Status Message: /src/reshape_helper.h:91 ns::Helper::Helper(int) cannot reshape\nframe #0: f()",
        );
        let e = infer_core::Error::wrap("onnx", raw).context("running on synthetic inputs");
        let e = anyhow::Error::new(e).context("bench m.onnx");
        assert_eq!(
            super::message(&e),
            "bench m.onnx: running on synthetic inputs: onnx: Status Message: cannot reshape"
        );
        // Our own errors keep their causes that add something.
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = anyhow::Error::new(io).context("reading x.npy");
        assert_eq!(super::message(&e), "reading x.npy: no such file");
    }
}
