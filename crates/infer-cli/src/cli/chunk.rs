//! `infer run --chunk N[:AXIS] --feedback OUTPUT=INPUT`: a long input cut into pieces of N along
//! AXIS (default 1: the time axis of a batch-first `[batch, time, …]` input) and run piece after
//! piece, each call's state output fed as the next call's state input, as a streaming model is
//! run. Every input that is not fed back and has AXIS as a dynamic dimension other than its batch
//! is cut (they must agree on its length; the last piece may be shorter); the others are given
//! whole to every call.
//! The outputs that are fed back come out as their last value (the final state); the others are
//! the steps' outputs concatenated along AXIS (stacked along a new leading axis where their rank
//! does not reach AXIS).

use std::time::Instant;

use anyhow::bail;
use infer_core::{Dim, Session, Tensor, TensorSpec};
use infer_measure::{
    feedback::{Feedback, concat_axis},
    stats::Summary,
    workload::{BatchAxes, batch::gather_axis, read_inputs_into},
};

/// The default axis of `--chunk`: the one after the batch of a batch-first input.
pub const DEFAULT_AXIS: usize = 1;

/// `--chunk N[:AXIS]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkArg {
    /// Entries per piece.
    pub size: usize,
    /// The axis cut; `None`: [`DEFAULT_AXIS`].
    pub axis: Option<usize>,
}

impl ChunkArg {
    fn axis(self) -> usize {
        self.axis.unwrap_or(DEFAULT_AXIS)
    }
}

impl std::fmt::Display for ChunkArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.size, self.axis())
    }
}

/// Parses `--chunk N[:AXIS]`.
///
/// # Errors
/// A message naming the text and the accepted form.
pub fn parse_chunk(text: &str) -> Result<ChunkArg, String> {
    let bad = || format!("invalid --chunk `{text}`: expected N or N:AXIS with N at least 1, e.g. 16 or 16:1");
    let (size, axis) = text.split_once(':').map_or((text, None), |(n, a)| (n, Some(a)));
    let size = size.trim().parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(bad)?;
    let axis = axis.map(|a| a.trim().parse::<usize>().map_err(|_| bad())).transpose()?;
    Ok(ChunkArg { size, axis })
}

/// The inputs of a chunked run: those given (files, `--arg` scalars in `given`), and every input
/// fed back that was not given as zeros, its sizes from the model's description and, for its
/// named dynamic dimensions, from the inputs given that have them.
///
/// # Errors
/// The files' errors; an input neither given nor fed back; a fed input whose size cannot be
/// found.
pub fn chunk_inputs(
    specs: &[TensorSpec],
    files: &[String],
    given: Vec<(Option<Tensor>, String)>,
    feedback: &Feedback,
) -> anyhow::Result<Vec<Tensor>> {
    let slots = read_inputs_into(specs, files, given)?;
    let fed: Vec<usize> = feedback.inputs().collect();
    let mut inputs = Vec::with_capacity(specs.len());
    for (k, (spec, (tensor, _))) in specs.iter().zip(&slots).enumerate() {
        if let Some(t) = tensor {
            inputs.push(t.clone());
            continue;
        }
        if !fed.contains(&k) {
            bail!("no value given for input `{}` {}: give it with --input", spec.name, spec.shape_string());
        }
        let Some(dims) = &spec.dims else {
            bail!("input `{}` is fed back but its shape is unknown: give its first state with --input", spec.name);
        };
        let mut shape = Vec::with_capacity(dims.len());
        for d in dims {
            let size = match d {
                Dim::Fixed(n) => Some(*n),
                Dim::Dynamic(Some(symbol)) => symbol_size(specs, &slots, symbol),
                Dim::Dynamic(None) => None,
            };
            let Some(size) = size else {
                bail!(
                    "input `{}` {} is fed back and starts as zeros, but the size of `{d}` is not known from the \
                     inputs given: give its first state with --input {}=FILE",
                    spec.name,
                    spec.shape_string(),
                    spec.name
                );
            };
            shape.push(size);
        }
        inputs.push(Tensor::zeros(spec.dtype, shape)?);
    }
    Ok(inputs)
}

/// The size of `symbol` in the first input given that has it.
fn symbol_size(specs: &[TensorSpec], slots: &[(Option<Tensor>, String)], symbol: &str) -> Option<usize> {
    specs.iter().zip(slots).find_map(|(spec, (tensor, _))| {
        let t = tensor.as_ref()?;
        let axis = spec.dims.as_ref()?.iter().position(|d| matches!(d, Dim::Dynamic(Some(s)) if s == symbol))?;
        t.shape().get(axis).copied()
    })
}

/// Runs `inputs` cut by `chunk`, the state fed back between the steps; prints each step's
/// latency on stderr and returns the outputs (see the module's documentation).
///
/// # Errors
/// No input to cut, cut inputs of different lengths, run errors, and a fed output that does not
/// fit its input.
pub fn run_chunked(
    session: &mut dyn Session,
    inputs: Vec<Tensor>,
    feedback: &Feedback,
    chunk: ChunkArg,
) -> anyhow::Result<Vec<Tensor>> {
    let axis = chunk.axis();
    let specs = session.inputs().to_vec();
    let fed: Vec<usize> = feedback.inputs().collect();
    // The batch is never cut (a state's `[1, batch, 8]`): its axis by the model's names.
    let batch = BatchAxes::of(&specs, None).ok();
    let cuttable = |k: usize| match specs.get(k) {
        Some(spec) => {
            !matches!(spec.dims.as_ref().and_then(|d| d.get(axis)), Some(Dim::Fixed(_)))
                && !batch.as_ref().is_some_and(|b| b.is_batch(k, spec, axis))
        }
        None => true,
    };
    let cut: Vec<usize> =
        (0..inputs.len()).filter(|&k| !fed.contains(&k) && inputs[k].shape().len() > axis && cuttable(k)).collect();
    let Some(&first) = cut.first() else {
        let listing: Vec<String> = specs.iter().map(ToString::to_string).collect();
        bail!(
            "--chunk {chunk}: no input has a dynamic axis {axis} to cut (inputs fed back are not cut): {}",
            listing.join("; ")
        );
    };
    let name = |k: usize| specs.get(k).map_or_else(|| format!("input {k}"), |s| s.name.clone());
    let length = inputs[first].shape()[axis];
    if let Some(&other) = cut.iter().find(|&&k| inputs[k].shape()[axis] != length) {
        bail!(
            "--chunk {chunk}: inputs `{}` and `{}` are cut together but have {length} and {} entries along axis {axis}",
            name(first),
            name(other),
            inputs[other].shape()[axis]
        );
    }
    let steps = length.div_ceil(chunk.size);
    let mut current = inputs.clone();
    let mut parts: Vec<Vec<Tensor>> = Vec::new();
    let mut latencies_ms = Vec::with_capacity(steps);
    for step in 0..steps {
        let (start, end) = (step * chunk.size, ((step + 1) * chunk.size).min(length));
        let positions: Vec<usize> = (start..end).collect();
        for &k in &cut {
            current[k] = gather_axis(&inputs[k], axis, &positions)?;
        }
        let t = Instant::now();
        let outputs = session.run(&current)?;
        session.synchronize()?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        // A fed output that does not fit is the error, alone on its line.
        feedback.check(&outputs, &current)?;
        latencies_ms.push(ms);
        eprintln!("step {}/{steps}: {start}..{end} along axis {axis}: {ms:.3} ms", step + 1);
        parts.resize_with(outputs.len(), Vec::new);
        for (part, out) in parts.iter_mut().zip(&outputs) {
            part.push(out.clone());
        }
        feedback.feed(outputs, &mut current)?;
    }
    let summary = Summary::new(&latencies_ms).ok();
    let pairs: Vec<String> = feedback.pairs().iter().map(infer_measure::workload::args::FeedbackPair::arrow).collect();
    eprintln!(
        "{steps} step(s) of {} along axis {axis} ({length} in all){}; state carried: {}",
        chunk.size,
        summary.map(|s| format!(", per-step latency median {:.3} ms", s.median)).unwrap_or_default(),
        if pairs.is_empty() { "none".to_string() } else { pairs.join(", ") }
    );
    let fed_outputs: Vec<usize> = feedback.outputs().collect();
    parts
        .into_iter()
        .enumerate()
        .map(|(o, mut steps)| {
            if fed_outputs.contains(&o) {
                return steps.pop().ok_or_else(|| anyhow::anyhow!("no step ran"));
            }
            join(&steps, axis)
        })
        .collect()
}

/// The steps' outputs concatenated along `axis`, or stacked along a new leading axis where their
/// rank does not reach it.
fn join(steps: &[Tensor], axis: usize) -> anyhow::Result<Tensor> {
    let Some(first) = steps.first() else { bail!("no step ran") };
    if first.shape().len() <= axis {
        let stacked: Vec<Tensor> = steps
            .iter()
            .map(|t| t.clone().reshape(std::iter::once(1).chain(t.shape().iter().copied()).collect()))
            .collect::<infer_core::Result<_>>()?;
        return Ok(concat_axis(&stacked, 0)?);
    }
    Ok(concat_axis(steps, axis)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn chunk_sizes_and_axes_parse() {
        assert_eq!(parse_chunk("16").unwrap(), ChunkArg { size: 16, axis: None });
        assert_eq!(parse_chunk("4:0").unwrap(), ChunkArg { size: 4, axis: Some(0) });
        assert_eq!(parse_chunk("16").unwrap().to_string(), "16:1");
        for bad in ["0", "x", "4:", "4:a", "-1"] {
            assert!(parse_chunk(bad).unwrap_err().contains("expected N or N:AXIS"), "{bad}");
        }
    }

    #[test]
    fn concatenation_along_an_axis_undoes_the_cut() {
        let t = Tensor::from_vec(vec![2, 5, 3], (0..30).map(|v| v as f32).collect()).unwrap();
        let pieces: Vec<Tensor> =
            [0..2, 2..4, 4..5].into_iter().map(|r| gather_axis(&t, 1, &r.collect::<Vec<_>>()).unwrap()).collect();
        assert_eq!(concat_axis(&pieces, 1).unwrap(), t);
        let ints = Tensor::from_vec(vec![3], vec![1i64, 2, 3]).unwrap();
        let stacked = join(&[ints.clone(), ints], 1).unwrap();
        assert_eq!(stacked.shape(), [2, 3]);
        let other = Tensor::from_vec(vec![2, 1, 4], vec![0f32; 8]).unwrap();
        assert!(concat_axis(&[t, other], 1).unwrap_err().to_string().contains("cannot concatenate"));
    }
}
