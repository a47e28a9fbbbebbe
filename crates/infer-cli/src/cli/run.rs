//! `infer run`: one inference on `.npy` inputs, or classification of images in batches.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::ExitCode,
    sync::mpsc,
};

use crate::postprocess::{Labels, Prediction, top_k_batch};
use crate::{
    interrupt,
    shard::{self, CSV_HEADER, Existing, Expected, Manifest, Shard, Skipped},
};
use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use infer_core::{Device, Registry, Session, Tensor, npy::write_npy};
use infer_measure::workload::images::Preprocess;
use infer_measure::{
    environment::digest_path,
    reference,
    results::write_json,
    workload::{encode_npz, images_in, inputs_from, is_npz, preprocess_for, scalar_inputs},
};
use rayon::prelude::*;
use serde::Serialize;

use super::{ModelArgs, chunk};
use infer_measure::{
    feedback::Feedback,
    workload::args::{FeedbackPair, parse_feedback},
};

/// Exit code when some images could not be read but the others were processed.
const EXIT_PARTIAL: u8 = 3;

/// Output format of predictions.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    /// One JSON object per line.
    Jsonl,
    /// One line per (image, rank).
    Csv,
}

impl Format {
    /// The file extension, also the format's name in shard manifests.
    fn extension(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
        }
    }
}

/// Arguments of `infer run`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 success, 1 error, 2 bad arguments, 3 some images were skipped (listed on stderr)."
)]
pub struct RunArgs {
    #[command(flatten)]
    pub(super) model: ModelArgs,
    /// Images, or one folder of images, to classify (batched by --batch-size).
    images: Vec<PathBuf>,
    /// A .npy or ONNX TensorProto (.pb) input, as PATH (inputs in order) or NAME=PATH, a .npz
    /// holding several by input name, or an ONNX test data set folder (its input_N.pb); repeat for
    /// several inputs.
    #[arg(long, short)]
    input: Vec<String>,
    /// Write the first output to this .npy file, or every output by name to this .npz archive
    /// (with --input).
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Expected outputs of the --input data, to check the model against: a .npy (the first
    /// output), a .npz by output name, an ONNX TensorProto (.pb) or an ONNX test data set folder
    /// (its output_N.pb; give the same folder to --input for its input_N.pb). The differences are
    /// printed; both the max abs and the relative difference above --tolerance is an error.
    #[arg(long, requires = "input")]
    reference_output: Option<PathBuf>,
    /// Largest acceptable difference to --reference-output: the max abs difference, or that over
    /// the largest magnitude of the expected output.
    #[arg(long, default_value_t = 1e-4)]
    tolerance: f64,
    /// Device: cpu, cuda, cuda:N.
    #[arg(long, short, default_value = "cpu")]
    device: Device,
    /// Images per inference call.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=65536))]
    batch_size: u32,
    /// Predictions to show per image (default 5 for images; with --input, shown only when given).
    #[arg(long)]
    top: Option<usize>,
    /// Labels: one per line, a JSON array, or ImageNet-style JSON object.
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Show raw scores instead of softmax probabilities.
    #[arg(long)]
    no_softmax: bool,
    /// Write predictions to this file instead of stdout (with --shard: into this folder).
    #[arg(long)]
    predictions: Option<PathBuf>,
    /// Predictions format.
    #[arg(long, value_enum, default_value = "jsonl")]
    format: Format,
    /// Classify only part I of N (0-based) of the folder, ordered by relative path: `I/N`, or
    /// `auto/N` / `auto` to take I (and N) from the job engine (JOB_COMPLETION_INDEX,
    /// SLURM_ARRAY_TASK_ID and _MIN/_COUNT, AWS_BATCH_JOB_ARRAY_INDEX). --predictions then names
    /// a folder that receives shard-I-of-N.csv (or .jsonl) and its manifest; `infer merge` joins them.
    #[arg(long, value_name = "I/N|auto/N|auto")]
    shard: Option<String>,
    /// With --shard: redo the shard even when the folder holds its complete output.
    #[arg(long, requires = "shard")]
    overwrite: bool,
    /// With --input: cut the inputs into pieces of N along AXIS (default 1, the time axis of a
    /// batch-first [batch, time, ...] input; :0 for a time-major one) and run them in sequence,
    /// printing each step's latency. Every input not fed back whose AXIS is dynamic and not its
    /// batch is cut; the
    /// outputs fed back come out as their last value (the final state), the others concatenated
    /// along AXIS (written by --output, checked by --reference-output). See docs/scenarios.md,
    /// "State fed back".
    #[arg(long, value_name = "N[:AXIS]", value_parser = chunk::parse_chunk)]
    chunk: Option<chunk::ChunkArg>,
    /// With --chunk: feed a model output into the named input of the next step, OUTPUT=INPUT
    /// (repeatable): the state of a streaming model, starting as zeros or as that input's --input
    /// data.
    #[arg(long = "feedback", value_name = "OUTPUT=INPUT", value_parser = parse_feedback)]
    feedback: Vec<FeedbackPair>,
}

pub fn run(registry: &Registry, a: &RunArgs) -> anyhow::Result<ExitCode> {
    const EITHER: &str = "give either --input x.npy (one or more) or image files / a folder of images";
    if !a.input.is_empty() && !a.images.is_empty() {
        bail!("{EITHER}, not both");
    }
    if let Some(pair) = a.feedback.first().filter(|_| a.chunk.is_none()) {
        bail!("--feedback {pair}: infer run carries a state between the steps of --chunk N: give --chunk");
    }
    if let Some(c) = a.chunk.filter(|_| a.input.is_empty()) {
        bail!("--chunk {c} cuts the --input data: give --input (a .npy, .npz or NAME=PATH)");
    }
    if let Some(text) = &a.shard {
        return run_shard(registry, a, text);
    }
    if let Some(path) = &a.output {
        infer_core::fsutil::check_writable(path)?;
    }
    let labels = a.labels.as_deref().map(Labels::from_file).transpose()?;
    let backend = crate::backends::choose(registry, &a.model.model, a.model.backend.as_deref())?;
    let mut session = backend.load(&a.model.model, &a.model.options(a.device))?;
    if !a.images.is_empty() {
        return classify(session.as_mut(), a, labels.as_ref());
    }
    // Arguments that are not tensors and scalar inputs take their values from --arg; a model
    // that needs nothing else runs without --input.
    let info = session.info();
    infer_core::args::missing(&info.arguments)?;
    let given = scalar_inputs(&info.inputs, &info.arguments, &a.model.arg_map())?;
    if a.input.is_empty() && given.iter().take(info.required_inputs()).any(|(t, _)| t.is_none()) {
        bail!("{EITHER}");
    }
    let feedback = Feedback::resolve(&a.feedback, session.info())?;
    let inputs = if a.chunk.is_some() {
        chunk::chunk_inputs(session.inputs(), &a.input, given, &feedback)?
    } else {
        inputs_from(session.inputs(), session.info().required_inputs(), &a.input, given)?
    };
    warn_non_finite(&inputs, session.inputs());
    let expected = a.reference_output.as_deref().map(reference::read_expected).transpose()?;
    let outputs = match a.chunk {
        Some(c) => chunk::run_chunked(session.as_mut(), inputs, &feedback, c)?,
        None => session.run(&inputs)?,
    };
    // A model may return more outputs than it describes (a TorchScript list): `output_N` names them.
    let names: Vec<String> = (0..outputs.len())
        .map(|i| session.outputs().get(i).map_or_else(|| format!("output_{i}"), |s| s.name.clone()))
        .collect();
    for (name, t) in names.iter().zip(&outputs) {
        eprintln!("output {name}: {} {:?}", t.dtype(), t.shape());
    }
    for (name, why) in session.info().unread_outputs.clone() {
        eprintln!("output {name}: not read ({why})");
    }
    if let Some(path) = &a.output {
        if is_npz(path) {
            infer_core::fsutil::write_atomic(path, &encode_npz(names.iter().map(String::as_str).zip(&outputs))?)?;
        } else {
            write_npy(path, outputs.first().context("the model returned no output")?)?;
        }
        eprintln!("wrote {}", path.display());
    }
    if let (Some(k), Some(first)) = (a.top, outputs.first()) {
        let preds = top_k_batch(first, k, !a.no_softmax, labels.as_ref())?;
        let names: Vec<String> = (0..preds.len()).map(|i| format!("row {i}")).collect();
        write_predictions(&mut std::io::stdout().lock(), a.format, &names, &preds)?;
    }
    if let (Some(path), Some(expected)) = (&a.reference_output, expected) {
        let c = reference::check(session.outputs(), &outputs, &expected, path)?;
        let top1 = c.top1_agreement.map(|t| format!(", top-1 agreement {:.0}%", t * 100.0)).unwrap_or_default();
        let found =
            format!("{}: max |diff| {:.3e}, relative {:.3e}{top1}", path.display(), c.max_abs_diff, c.max_rel_diff);
        // NaN compares false: a NaN difference is never within the tolerance.
        if !(c.max_abs_diff <= a.tolerance || c.max_rel_diff <= a.tolerance) {
            bail!("the outputs differ from the reference {found} (tolerance {:.0e})", a.tolerance);
        }
        eprintln!("reference {found}: within {:.0e}", a.tolerance);
    }
    Ok(ExitCode::SUCCESS)
}

fn warn_non_finite(inputs: &[Tensor], specs: &[infer_core::TensorSpec]) {
    for (t, s) in inputs.iter().zip(specs) {
        if t.dtype().is_float() {
            let bad = t.to_f64_vec().iter().filter(|x| !x.is_finite()).count();
            if bad > 0 {
                eprintln!("warning: input `{}` has {bad} NaN/Inf value(s); outputs may be meaningless", s.name);
            }
        }
    }
}

/// A batch of decoded images, or the failures among them.
struct Decoded {
    names: Vec<String>,
    images: Vec<image::RgbImage>,
    failures: Vec<Skipped>,
}

/// What a classification did.
struct Outcome {
    done: usize,
    total: usize,
    failures: Vec<Skipped>,
}

impl Outcome {
    /// Prints the summary; exit code 3 when some images were skipped.
    fn finish(&self, fail_when_none_read: bool) -> anyhow::Result<ExitCode> {
        eprintln!("classified {} of {} image(s)", self.done, self.total);
        if self.failures.is_empty() {
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!("{} image(s) skipped:", self.failures.len());
        for f in &self.failures {
            eprintln!("  {}", f.error);
        }
        if self.done == 0 && fail_when_none_read {
            bail!("no image could be read");
        }
        Ok(ExitCode::from(EXIT_PARTIAL))
    }
}

fn classify(session: &mut dyn Session, a: &RunArgs, labels: Option<&Labels>) -> anyhow::Result<ExitCode> {
    let files = match a.images.as_slice() {
        [dir] if dir.is_dir() => images_in(dir)?,
        files => {
            if let Some(d) = files.iter().find(|p| p.is_dir()) {
                bail!("{}: give either one folder or image files, not both", d.display());
            }
            files.to_vec()
        }
    };
    let items: Vec<(PathBuf, String)> = files
        .into_iter()
        .map(|p| {
            let name = p.display().to_string();
            (p, name)
        })
        .collect();
    classify_items(session, a, labels, &items, a.predictions.as_deref())?.finish(true)
}

/// Classifies `items` (file, name to print) in batches, writing predictions to `target` (atomically)
/// or to stdout.
fn classify_items(
    session: &mut dyn Session,
    a: &RunArgs,
    labels: Option<&Labels>,
    items: &[(PathBuf, String)],
    target: Option<&Path>,
) -> anyhow::Result<Outcome> {
    let spec = session.inputs().first().context("the model has no inputs")?.clone();
    if session.inputs().len() != 1 {
        bail!("the model takes {} inputs; images can feed only single-input models", session.inputs().len());
    }
    let pre = preprocess_for(&spec)?;
    let classes = session.outputs().first().and_then(|o| o.dims.as_ref()?.last()?.fixed());
    if let (Some(l), Some(classes)) = (labels, classes)
        && l.len() != classes
    {
        eprintln!("warning: {} labels for {classes} classes", l.len());
    }
    // Predictions go to a temporary file beside the target, renamed into place at the end: an
    // unwritable path fails before any work, and an interrupted run never leaves half a file.
    let mut file = target.map(infer_core::fsutil::temp_for).transpose()?;
    // Ctrl-C: the temporary file removed, the target left as it was, exit code 130.
    let temp = file.as_ref().map(|f| f.path().to_path_buf());
    let kept =
        target.map_or_else(|| "nothing is written".to_string(), |p| format!("{} is left as it was", p.display()));
    interrupt::announce_with(move || {
        if let Some(temp) = temp {
            let _ = std::fs::remove_file(temp);
        }
        format!("interrupted: the predictions were not written; {kept}")
    })
    .map_err(anyhow::Error::msg)?;
    let mut out: Box<dyn Write + '_> = match &mut file {
        Some(f) => Box::new(std::io::BufWriter::new(f.as_file_mut())),
        None => Box::new(std::io::stdout().lock()),
    };
    if matches!(a.format, Format::Csv) {
        writeln!(out, "{CSV_HEADER}")?;
    }
    // Decode the next batch on the rayon pool while the model runs the current one.
    let (tx, rx) = mpsc::sync_channel::<Decoded>(1);
    let chunks: Vec<Vec<(PathBuf, String)>> = items.chunks(a.batch_size as usize).map(<[_]>::to_vec).collect();
    let total = items.len();
    let progress = indicatif::ProgressBar::new(total as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template("classifying [{bar:30}] {pos}/{len} images ({elapsed})")
    {
        progress.set_style(style.progress_chars("=> "));
    }
    let mut failures = Vec::new();
    let mut done = 0;
    let mut batches = 0;
    std::thread::scope(|scope| -> anyhow::Result<()> {
        scope.spawn(move || {
            for chunk in chunks {
                if tx.send(decode(&chunk)).is_err() {
                    break;
                }
            }
        });
        for batch in rx {
            progress.inc((batch.names.len() + batch.failures.len()) as u64);
            failures.extend(batch.failures);
            if batch.images.is_empty() {
                continue;
            }
            let x = pre.batch_images(&batch.images)?;
            let y = session.run(&[x])?;
            let preds = top_k_batch(
                y.first().context("the model returned no output")?,
                a.top.unwrap_or(5),
                !a.no_softmax,
                labels,
            )?;
            write_predictions(&mut out, a.format, &batch.names, &preds)?;
            done += batch.names.len();
            batches += 1;
            kill_hook(batches);
        }
        Ok(())
    })?;
    out.flush()?;
    drop(out);
    progress.finish_and_clear();
    if let (Some(f), Some(p)) = (file, target) {
        f.persist(p).with_context(|| format!("{}: cannot write the predictions file", p.display()))?;
    }
    Ok(Outcome { done, total, failures })
}

/// A hidden hook for the sharding tests: `INFER_TEST_KILL_AFTER_BATCHES=K` makes `infer run` abort
/// after its K-th batch, as a killed job would, leaving its output unfinished. Honoured only in
/// debug builds or with the `test-hooks` feature.
fn kill_hook(batches: usize) {
    if !(cfg!(debug_assertions) || cfg!(feature = "test-hooks")) {
        return;
    }
    if std::env::var("INFER_TEST_KILL_AFTER_BATCHES").ok().and_then(|v| v.parse().ok()) == Some(batches) {
        std::process::abort();
    }
}

/// `infer run MODEL DIR --shard I/N --predictions FOLDER`: classifies this shard's part of the
/// folder into `FOLDER/shard-I-of-N.{csv,jsonl}` and writes its manifest last; keeps a complete
/// earlier output of the same work unless `--overwrite`.
fn run_shard(registry: &Registry, a: &RunArgs, text: &str) -> anyhow::Result<ExitCode> {
    let (shard, origin) = Shard::from_arg(text).map_err(anyhow::Error::msg)?;
    if !a.input.is_empty() {
        bail!("--shard splits a folder of images; it does not apply to --input");
    }
    let dir = match a.images.as_slice() {
        [dir] if dir.is_dir() => dir,
        _ => bail!("--shard takes one folder of images (its images are split by relative path), not files"),
    };
    let folder = a.predictions.as_deref().context(
        "--shard needs --predictions FOLDER: each shard writes shard-I-of-N.csv (or .jsonl) and its manifest there",
    )?;
    if folder.is_file() {
        bail!("{}: with --shard, --predictions names a folder, and this is a file", folder.display());
    }
    std::fs::create_dir_all(folder).with_context(|| format!("{}: cannot create the folder", folder.display()))?;
    let list = shard::list_inputs(dir)?;
    let model_digest = digest_path(&a.model.model)?;
    let settings = settings(a)?;
    let ext = a.format.extension();
    let expected = Expected {
        shard,
        inputs_digest: &list.digest,
        format: ext,
        settings: &settings,
        model_digest: Some(&model_digest),
    };
    let manifest_path = shard.manifest_path(folder);
    match shard::existing(folder, &expected)? {
        Existing::Complete(m) if !a.overwrite => {
            eprintln!(
                "shard {shard} ({origin}): {} is complete ({} inputs); kept (--overwrite redoes it)",
                manifest_path.display(),
                m.inputs.len()
            );
            return Ok(ExitCode::SUCCESS);
        }
        Existing::Other(why) if !a.overwrite => {
            bail!("{}: {why}; use --overwrite to replace it, or another --predictions folder", manifest_path.display())
        }
        _ => {}
    }
    // The manifest marks a complete output: gone until this run has written its predictions.
    match std::fs::remove_file(&manifest_path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("{}: cannot remove the old manifest", manifest_path.display()));
        }
        _ => {}
    }
    let range = shard.range(list.names.len());
    eprintln!(
        "shard {shard} ({origin}): inputs {} to {} of {} (sorted by relative path)",
        range.start,
        range.end,
        list.names.len()
    );
    let labels = a.labels.as_deref().map(Labels::from_file).transpose()?;
    let backend = crate::backends::choose(registry, &a.model.model, a.model.backend.as_deref())?;
    let mut session = backend.load(&a.model.model, &a.model.options(a.device))?;
    let items: Vec<(PathBuf, String)> =
        list.files[range.clone()].iter().cloned().zip(list.names[range.clone()].iter().cloned()).collect();
    let predictions = shard.predictions_path(folder, ext);
    let outcome = classify_items(session.as_mut(), a, labels.as_ref(), &items, Some(&predictions))?;
    let manifest = Manifest {
        shard: shard.index,
        shards: shard.count,
        inputs_digest: list.digest.clone(),
        inputs_total: list.names.len(),
        inputs: list.names[range].to_vec(),
        skipped: outcome.failures.clone(),
        predictions: format!("{}.{ext}", shard.stem()),
        predictions_digest: digest_path(&predictions)?,
        format: ext.into(),
        settings,
        model: a.model.model.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        model_digest: Some(model_digest),
        host: infer_measure::environment::Environment::capture(0).host,
        infer_version: env!("CARGO_PKG_VERSION").into(),
    };
    write_json(&manifest_path, &manifest)?;
    eprintln!("wrote {} and {}", predictions.display(), manifest_path.display());
    outcome.finish(false)
}

/// The settings that shape the predictions, in words (shards with other settings do not merge).
fn settings(a: &RunArgs) -> anyhow::Result<String> {
    let labels = match &a.labels {
        Some(p) => format!("labels {}", digest_path(p)?),
        None => "no labels".into(),
    };
    Ok(format!("top {}, {}, {labels}", a.top.unwrap_or(5), if a.no_softmax { "raw scores" } else { "softmax" }))
}

fn decode(items: &[(PathBuf, String)]) -> Decoded {
    let results: Vec<(String, Result<image::RgbImage, String>)> = items
        .par_iter()
        .map(|(p, name)| (name.clone(), Preprocess::load_image(p).map_err(|e| e.to_string())))
        .collect();
    let mut d = Decoded { names: Vec::new(), images: Vec::new(), failures: Vec::new() };
    for (name, r) in results {
        match r {
            Ok(img) => {
                d.names.push(name);
                d.images.push(img);
            }
            Err(error) => d.failures.push(Skipped { input: name, error }),
        }
    }
    d
}

#[derive(Serialize)]
struct Line<'a> {
    file: &'a str,
    top: &'a [Prediction],
}

fn write_predictions(
    out: &mut dyn Write,
    format: Format,
    names: &[String],
    preds: &[Vec<Prediction>],
) -> anyhow::Result<()> {
    for (name, top) in names.iter().zip(preds) {
        match format {
            Format::Jsonl => writeln!(out, "{}", serde_json::to_string(&Line { file: name, top })?)?,
            Format::Csv => {
                let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
                for (rank, p) in top.iter().enumerate() {
                    w.serialize((name, rank + 1, p.index, p.score, p.label.as_deref().unwrap_or("")))?;
                }
                out.write_all(&w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?;
            }
        }
    }
    Ok(())
}
