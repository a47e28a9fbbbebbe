//! `infer run`: one inference on `.npy` inputs, or classification of images in batches.

use std::{io::Write, path::PathBuf, process::ExitCode, sync::mpsc};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use infer_core::{
    Device, Registry, Session, Tensor,
    npy::write_npy,
    postprocess::{Labels, Prediction, top_k_batch},
    preprocess::Preprocess,
};
use infer_harness::workload::{images_in, npy_inputs, preprocess_for};
use rayon::prelude::*;
use serde::Serialize;

use super::ModelArgs;

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

/// Arguments of `infer run`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 success, 1 error, 2 bad arguments, 3 some images were skipped (listed on stderr)."
)]
pub struct RunArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Images, or one folder of images, to classify (batched by --batch-size).
    images: Vec<PathBuf>,
    /// A .npy input, as PATH (inputs in order) or NAME=PATH; repeat for several inputs.
    #[arg(long, short)]
    input: Vec<String>,
    /// Write the first output to this .npy file (with --input).
    #[arg(long, short)]
    output: Option<PathBuf>,
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
    /// Write predictions to this file instead of stdout.
    #[arg(long)]
    predictions: Option<PathBuf>,
    /// Predictions format.
    #[arg(long, value_enum, default_value = "jsonl")]
    format: Format,
}

pub fn run(registry: &Registry, a: &RunArgs) -> anyhow::Result<ExitCode> {
    if a.input.is_empty() == a.images.is_empty() {
        bail!("give either --input x.npy (one or more) or image files / a folder of images");
    }
    if let Some(path) = &a.output {
        infer_core::fsutil::check_writable(path)?;
    }
    let labels = a.labels.as_deref().map(Labels::from_file).transpose()?;
    let backend = infer_harness::backends::choose(registry, &a.model.model, a.model.backend.as_deref())?;
    let mut session = backend.load(&a.model.model, &a.model.options(a.device))?;
    if a.input.is_empty() {
        return classify(session.as_mut(), a, labels.as_ref());
    }
    let inputs = npy_inputs(session.inputs(), &a.input)?;
    warn_non_finite(&inputs, session.inputs());
    let outputs = session.run(&inputs)?;
    for (spec, t) in session.outputs().iter().zip(&outputs) {
        eprintln!("output {}: {} {:?}", spec.name, t.dtype(), t.shape());
    }
    if let Some(path) = &a.output {
        let first = outputs.first().context("the model returned no output")?;
        write_npy(path, first)?;
        eprintln!("wrote {}", path.display());
    }
    if let (Some(k), Some(first)) = (a.top, outputs.first()) {
        let preds = top_k_batch(first, k, !a.no_softmax, labels.as_ref())?;
        let names: Vec<String> = (0..preds.len()).map(|i| format!("row {i}")).collect();
        write_predictions(&mut std::io::stdout().lock(), a.format, &names, &preds)?;
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
    failures: Vec<String>,
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
    let mut file = a.predictions.as_deref().map(infer_core::fsutil::temp_for).transpose()?;
    let mut out: Box<dyn Write + '_> = match &mut file {
        Some(f) => Box::new(std::io::BufWriter::new(f.as_file_mut())),
        None => Box::new(std::io::stdout().lock()),
    };
    if matches!(a.format, Format::Csv) {
        writeln!(out, "file,rank,index,score,label")?;
    }
    // Decode the next batch on the rayon pool while the model runs the current one.
    let (tx, rx) = mpsc::sync_channel::<Decoded>(1);
    let chunks: Vec<Vec<PathBuf>> = files.chunks(a.batch_size as usize).map(<[PathBuf]>::to_vec).collect();
    let total = files.len();
    let progress = indicatif::ProgressBar::new(total as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template("classifying [{bar:30}] {pos}/{len} images ({elapsed})")
    {
        progress.set_style(style.progress_chars("=> "));
    }
    let mut failures = Vec::new();
    let mut done = 0;
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
        }
        Ok(())
    })?;
    out.flush()?;
    drop(out);
    progress.finish_and_clear();
    if let (Some(f), Some(p)) = (file, &a.predictions) {
        f.persist(p).with_context(|| format!("{}: cannot write the predictions file", p.display()))?;
    }
    eprintln!("classified {done} of {total} image(s)");
    if failures.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("{} image(s) skipped:", failures.len());
    for f in &failures {
        eprintln!("  {f}");
    }
    if done == 0 {
        bail!("no image could be read");
    }
    Ok(ExitCode::from(EXIT_PARTIAL))
}

fn decode(paths: &[PathBuf]) -> Decoded {
    let results: Vec<(String, Result<image::RgbImage, String>)> = paths
        .par_iter()
        .map(|p| (p.display().to_string(), Preprocess::load_image(p).map_err(|e| e.to_string())))
        .collect();
    let mut d = Decoded { names: Vec::new(), images: Vec::new(), failures: Vec::new() };
    for (name, r) in results {
        match r {
            Ok(img) => {
                d.names.push(name);
                d.images.push(img);
            }
            Err(e) => d.failures.push(e),
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
