//! `infer info`.

use std::process::ExitCode;

use clap::Args;
use infer_core::{Device, Registry};
use infer_measure::workload::BatchAxes;

use super::ModelArgs;

/// Arguments of `infer info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    #[command(flatten)]
    pub(super) model: ModelArgs,
    /// Device to load the model on: cpu, cuda, cuda:N (an absent device is an error, unless
    /// --fallback).
    #[arg(long, short, default_value = "cpu")]
    device: Device,
    /// Also write the description (inputs, outputs, the integer ranges the model proves) as JSON
    /// to this file (what `infer compare` reads of each model file).
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// The named dimension that is the batch, as in `infer bench --batch-dim`.
    #[arg(long, value_name = "SYMBOL")]
    batch_dim: Option<String>,
}

pub fn info(registry: &Registry, a: &InfoArgs) -> anyhow::Result<ExitCode> {
    let m = &a.model;
    let (backend, format) = registry.choose(&m.model, m.backend.as_deref())?;
    let session = backend.load(&m.model, &m.options(a.device))?;
    let info = session.info();
    // Every --arg names an argument or a scalar input, and fits it (a missing argument is listed
    // below, not an error: `run` and `bench` say which --arg it needs).
    infer_measure::workload::scalar_inputs(&info.inputs, &info.arguments, &m.arg_map())?;
    if let Some(path) = &a.json {
        let description = crate::compare::ModelDescription {
            backend: backend.name().into(),
            inputs: info.inputs.clone(),
            outputs: info.outputs.clone(),
            integer_ranges: info.integer_ranges.clone(),
            arguments: info.arguments.clone(),
        };
        infer_measure::results::write_json(path, &description)?;
    }
    println!("model:    {}", m.model.display());
    println!("format:   {}", format.map_or_else(|| "unknown to this backend".to_string(), |f| f.to_string()));
    let version = backend.probe().map(|i| i.runtime_version).unwrap_or_default();
    // Where several backends read the file by its content, which one this is and how to choose another.
    let others = if m.backend.is_some() { Vec::new() } else { registry.alternatives(&m.model, backend.name())? };
    let also = if others.is_empty() {
        String::new()
    } else {
        format!("  (also read by {}: choose one with --backend NAME)", others.join(", "))
    };
    println!("backend:  {} {version}{also}", backend.name());
    println!("device:   {}", info.device);
    // Where a format does not record its inputs, each line says where its description came from.
    let source = |sources: &[String], i: usize| sources.get(i).map(|s| format!("  ({s})")).unwrap_or_default();
    let sources = &info.input_sources;
    // Each input's batch axis, as `bench` batches it.
    let batch = BatchAxes::of(&info.inputs, a.batch_dim.as_deref())?;
    println!("batch:    {}", batch.describe());
    println!("inputs:");
    for (i, s) in info.inputs.iter().enumerate() {
        let dynamic = s.dims.as_ref().is_some_and(|d| d.iter().any(infer_core::Dim::is_dynamic));
        let dynamic = if dynamic { "  (dynamic dims)" } else { "" };
        println!("  {s}{dynamic}{}  ({})", source(sources, i), batch.mark(i));
    }
    let sources = &info.output_sources;
    println!("outputs:");
    for (i, s) in info.outputs.iter().enumerate() {
        println!("  {s}{}", source(sources, i));
    }
    if info.outputs.is_empty()
        && let Some(why) = sources.first()
    {
        // How many outputs there are is known only once the model has run (a list, a dict).
        println!("  ({why})");
    }
    for (name, why) in &info.unread_outputs {
        println!("  {name}: not read ({why})");
    }
    if let Some(first) = info.arguments.first() {
        println!("arguments of {} that are not tensors (--arg NAME=VALUE):", first.of);
        for arg in &info.arguments {
            println!("  {}", arg.describe());
        }
    }
    if !info.signatures.is_empty() {
        println!("signatures:");
        for sig in &info.signatures {
            println!("  {}{}", sig.name, if sig.in_use { "  (in use)" } else { "" });
            for s in &sig.inputs {
                println!("    input   {s}");
            }
            for s in &sig.outputs {
                println!("    output  {s}");
            }
        }
    }
    let settings = &info.settings;
    if !settings.is_empty() {
        let pairs: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("settings: {}", pairs.join(" "));
    }
    match info.parameters {
        Some(p) => println!("parameters: {} ({})", p.count, infer_measure::memory::mib(p.bytes)),
        None => println!("parameters: unknown for this backend"),
    }
    Ok(ExitCode::SUCCESS)
}
