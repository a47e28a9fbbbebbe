//! State fed back (`--feedback OUTPUT=INPUT`): streaming and stateful models (voice-activity
//! detection, streaming speech recognition, RNN decoders) are called in a loop, each call's state
//! output fed as the next call's state input. [`Feedback`] checks the pairs against a model's
//! description ([`Feedback::resolve`]), starts the state ([`Feedback::initial`]: zeros, or the
//! `--input` data) and moves each call's outputs into the next call's inputs ([`Feedback::feed`]),
//! checking that every fed output has the shape and dtype of the input it replaces.
//!
//! ```
//! use infer_core::{DType, Device, Dim, SessionInfo, Tensor, TensorSpec};
//! use infer_measure::{feedback::Feedback, workload::args::parse_feedback};
//!
//! let state = |name: &str| TensorSpec::new(name, DType::F32, vec![Dim::Fixed(1), Dim::Fixed(2)]);
//! let info = SessionInfo::new(vec![state("state")], vec![state("state_out")], Device::Cpu);
//! let feedback = Feedback::resolve(&[parse_feedback("state_out=state")?], &info)?;
//! let mut inputs = vec![Tensor::zeros(DType::F32, vec![1, 2])?];
//! feedback.feed(vec![Tensor::from_vec(vec![1, 2], vec![0.5f32, -1.0])?], &mut inputs)?;
//! assert_eq!(inputs[0].as_slice::<f32>()?, [0.5, -1.0]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use infer_core::{Dim, Error, Result, SessionInfo, Tensor, TensorSpec, with_dtype};

use crate::workload::{Batch, args::FeedbackPair};

/// The pairs of `--feedback` resolved against a model: which output feeds which input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback {
    pairs: Vec<FeedbackPair>,
    /// (output index, input index) of each pair.
    slots: Vec<(usize, usize)>,
}

impl Feedback {
    /// Finds every pair's output and input in `info` and checks that their descriptions agree
    /// (the same dtype, the same rank, the same size on every axis fixed in both).
    ///
    /// # Errors
    /// [`Error::InvalidInput`], one line naming the pair, the output and the input: an unknown
    /// name (with the names the model has), or the two descriptions (expected and actual).
    pub fn resolve(pairs: &[FeedbackPair], info: &SessionInfo) -> Result<Self> {
        let mut slots = Vec::with_capacity(pairs.len());
        let names = |specs: &[TensorSpec]| specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ");
        for (i, pair) in pairs.iter().enumerate() {
            if let Some(e) = pairs[..i].iter().find(|e| e.input == pair.input) {
                return Err(Error::InvalidInput(format!(
                    "--feedback {e} and --feedback {pair} both feed input `{}`: give one output per input",
                    pair.input
                )));
            }
            let output = info.outputs.iter().position(|s| s.name == pair.output).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "--feedback {pair}: the model has no output `{}`: its outputs are {}",
                    pair.output,
                    names(&info.outputs)
                ))
            })?;
            let input = info.inputs.iter().position(|s| s.name == pair.input).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "--feedback {pair}: the model has no input `{}`: its inputs are {}",
                    pair.input,
                    names(&info.inputs)
                ))
            })?;
            check_specs(pair, &info.outputs[output], &info.inputs[input])?;
            slots.push((output, input));
        }
        Ok(Self { pairs: pairs.to_vec(), slots })
    }

    /// The pairs, as given.
    #[must_use]
    pub fn pairs(&self) -> &[FeedbackPair] {
        &self.pairs
    }

    /// The indices of the inputs fed back.
    pub fn inputs(&self) -> impl Iterator<Item = usize> + '_ {
        self.slots.iter().map(|&(_, input)| input)
    }

    /// The indices of the outputs fed back.
    pub fn outputs(&self) -> impl Iterator<Item = usize> + '_ {
        self.slots.iter().map(|&(output, _)| output)
    }

    /// The first call's state: every fed input that is not read from a file (synthetic) becomes
    /// zeros of its shape and dtype; its source says where the state comes from.
    ///
    /// # Errors
    /// None in practice (a zero tensor of a shape already allocated).
    pub fn initial(&self, batch: &mut Batch) -> Result<()> {
        for (pair, &(_, input)) in self.pairs.iter().zip(&self.slots) {
            let (Some(tensor), Some(used)) = (batch.tensors.get_mut(input), batch.used.get_mut(input)) else {
                continue;
            };
            if used.source == "synthetic" {
                *tensor = Tensor::zeros(tensor.dtype(), tensor.shape().to_vec())?;
                used.source = "zeros".into();
                used.values = None;
            }
            used.source = format!("{}, then `{}` fed back", used.source, pair.output);
        }
        Ok(())
    }

    /// Moves each pair's output of a call into `inputs` for the next one. Nothing is copied.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the pair, the output and the input when the call returned
    /// fewer outputs, or an output whose shape or dtype differs from the input it replaces
    /// (expected: the input's; actual: the output's).
    pub fn feed(&self, outputs: Vec<Tensor>, inputs: &mut [Tensor]) -> Result<()> {
        let count = outputs.len();
        let mut outputs: Vec<Option<Tensor>> = outputs.into_iter().map(Some).collect();
        for (pair, &(output, input)) in self.pairs.iter().zip(&self.slots) {
            let Some(fed) = outputs.get_mut(output).and_then(Option::take) else {
                return Err(Error::InvalidInput(format!(
                    "--feedback {pair}: the call returned {count} output(s), not output `{}` (number {})",
                    pair.output,
                    output + 1
                )));
            };
            let Some(slot) = inputs.get_mut(input) else {
                return Err(Error::InvalidInput(format!(
                    "--feedback {pair}: the call was given {} input(s), not input `{}`",
                    inputs.len(),
                    pair.input
                )));
            };
            check_tensors(pair, &fed, slot)?;
            *slot = fed;
        }
        Ok(())
    }

    /// Checks, without moving anything, that `outputs` can be fed into `inputs` (as
    /// [`Feedback::feed`] would).
    ///
    /// # Errors
    /// As [`Feedback::feed`].
    pub fn check(&self, outputs: &[Tensor], inputs: &[Tensor]) -> Result<()> {
        for (pair, &(output, input)) in self.pairs.iter().zip(&self.slots) {
            match (outputs.get(output), inputs.get(input)) {
                (Some(fed), Some(slot)) => check_tensors(pair, fed, slot)?,
                _ => {
                    return Err(Error::InvalidInput(format!(
                        "--feedback {pair}: the call returned {} output(s) for {} input(s)",
                        outputs.len(),
                        inputs.len()
                    )));
                }
            }
        }
        Ok(())
    }
}

/// `parts` concatenated along `axis`: the same dtype, and the same sizes on every other axis.
///
/// # Errors
/// Parts that differ elsewhere than along `axis`.
pub fn concat_axis(parts: &[Tensor], axis: usize) -> Result<Tensor> {
    let Some(first) = parts.first() else {
        return Err(Error::InvalidInput("nothing to concatenate".into()));
    };
    let rank = first.shape().len();
    let same = |t: &Tensor| {
        t.dtype() == first.dtype()
            && t.shape().len() == rank
            && t.shape().iter().zip(first.shape()).enumerate().all(|(i, (a, b))| i == axis || a == b)
    };
    if let Some(bad) = parts.iter().find(|t| !same(t)) {
        return Err(Error::InvalidInput(format!(
            "cannot concatenate a step's output {} {:?} with the first step's {} {:?} along axis {axis}",
            bad.dtype(),
            bad.shape(),
            first.dtype(),
            first.shape()
        )));
    }
    let outer: usize = first.shape()[..axis].iter().product();
    let inner: usize = first.shape()[axis + 1..].iter().product();
    let mut shape = first.shape().to_vec();
    shape[axis] = parts.iter().map(|t| t.shape()[axis]).sum();
    with_dtype!(first.dtype(), T => {
        let slices = parts.iter().map(|t| t.as_slice::<T>()).collect::<Result<Vec<_>>>()?;
        let mut out: Vec<T> = Vec::with_capacity(slices.iter().map(|s| s.len()).sum());
        for o in 0..outer {
            for (t, s) in parts.iter().zip(&slices) {
                let run = t.shape()[axis] * inner;
                out.extend_from_slice(&s[o * run..(o + 1) * run]);
            }
        }
        Tensor::from_vec(shape, out)
    })
}

/// An output's description against the input it feeds.
fn check_specs(pair: &FeedbackPair, output: &TensorSpec, input: &TensorSpec) -> Result<()> {
    let agree = output.dtype == input.dtype
        && match (&output.dims, &input.dims) {
            (Some(o), Some(i)) => {
                o.len() == i.len()
                    && o.iter().zip(i).all(|pair| !matches!(pair, (Dim::Fixed(a), Dim::Fixed(b)) if a != b))
            }
            _ => true,
        };
    if agree {
        return Ok(());
    }
    Err(Error::InvalidInput(format!(
        "--feedback {pair}: output `{}` is {} {} but input `{}` takes {} {}",
        pair.output,
        output.dtype,
        output.shape_string(),
        pair.input,
        input.dtype,
        input.shape_string()
    )))
}

/// A fed output against the tensor it replaces: the same dtype and shape.
fn check_tensors(pair: &FeedbackPair, fed: &Tensor, slot: &Tensor) -> Result<()> {
    if fed.dtype() == slot.dtype() && fed.shape() == slot.shape() {
        return Ok(());
    }
    Err(Error::InvalidInput(format!(
        "--feedback {pair}: input `{}` expects {} {:?}, but output `{}` is {} {:?}",
        pair.input,
        slot.dtype(),
        slot.shape(),
        pair.output,
        fed.dtype(),
        fed.shape()
    )))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use infer_core::{DType, Device};

    use super::*;
    use crate::workload::{InputUsed, args::parse_feedback};

    fn spec(name: &str, dtype: DType, dims: &[Option<usize>]) -> TensorSpec {
        let dims = dims.iter().map(|d| d.map_or(Dim::Dynamic(Some("batch".into())), Dim::Fixed)).collect();
        TensorSpec::new(name, dtype, dims)
    }

    fn info() -> SessionInfo {
        SessionInfo::new(
            vec![spec("x", DType::F32, &[None, Some(3)]), spec("state", DType::F32, &[Some(1), None, Some(8)])],
            vec![spec("y", DType::F32, &[None, Some(8)]), spec("state_out", DType::F32, &[Some(1), None, Some(8)])],
            Device::Cpu,
        )
    }

    fn pairs(text: &[&str]) -> Vec<FeedbackPair> {
        text.iter().map(|t| parse_feedback(t).unwrap()).collect()
    }

    fn err(text: &[&str], info: &SessionInfo) -> String {
        Feedback::resolve(&pairs(text), info).unwrap_err().to_string()
    }

    #[test]
    fn resolves_names_and_refuses_unknown_ones_and_disagreeing_descriptions() {
        let f = Feedback::resolve(&pairs(&["state_out=state"]), &info()).unwrap();
        assert_eq!((f.outputs().collect::<Vec<_>>(), f.inputs().collect::<Vec<_>>()), (vec![1], vec![1]));
        let e = err(&["hidden=state"], &info());
        assert!(
            e.contains("--feedback hidden=state: the model has no output `hidden`: its outputs are y, state_out"),
            "{e}"
        );
        let e = err(&["state_out=h0"], &info());
        assert!(e.contains("no input `h0`: its inputs are x, state"), "{e}");
        let e = err(&["y=state"], &info());
        assert!(e.contains("output `y` is f32 [batch, 8] but input `state` takes f32 [1, batch, 8]"), "{e}");
        let mut other = info();
        other.outputs[1] = spec("state_out", DType::F32, &[Some(1), None, Some(16)]);
        assert!(err(&["state_out=state"], &other).contains("[1, batch, 16] but input `state` takes f32 [1, batch, 8]"));
        other.outputs[1] = spec("state_out", DType::I64, &[Some(1), None, Some(8)]);
        assert!(err(&["state_out=state"], &other).contains("is i64 [1, batch, 8] but"));
        assert!(err(&["state_out=state", "y=state"], &info()).contains("both feed input `state`"));
        assert!(!e.contains('\n'));
    }

    #[test]
    fn feeds_by_moving_and_checks_every_tensor() {
        let f = Feedback::resolve(&pairs(&["state_out=state"]), &info()).unwrap();
        let x = Tensor::zeros(DType::F32, vec![2, 3]).unwrap();
        let mut inputs = vec![x.clone(), Tensor::zeros(DType::F32, vec![1, 2, 8]).unwrap()];
        let state = Tensor::from_vec(vec![1, 2, 8], (0..16).map(|v| v as f32).collect()).unwrap();
        let y = Tensor::zeros(DType::F32, vec![2, 8]).unwrap();
        f.check(&[y.clone(), state.clone()], &inputs).unwrap();
        f.feed(vec![y.clone(), state.clone()], &mut inputs).unwrap();
        assert_eq!((&inputs[0], &inputs[1]), (&x, &state));
        let wide = Tensor::zeros(DType::F32, vec![1, 2, 16]).unwrap();
        let e = f.feed(vec![y.clone(), wide], &mut inputs).unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid input: --feedback state_out=state: input `state` expects f32 [1, 2, 8], but output `state_out` is f32 [1, 2, 16]"
        );
        let e = f.feed(vec![y], &mut inputs).unwrap_err().to_string();
        assert!(e.contains("the call returned 1 output(s), not output `state_out`"), "{e}");
    }

    #[test]
    fn the_state_starts_as_zeros_unless_read_from_a_file() {
        let f = Feedback::resolve(&pairs(&["state_out=state"]), &info()).unwrap();
        let used = |name: &str, source: &str| InputUsed {
            name: name.into(),
            dtype: DType::F32,
            shape: vec![1, 2],
            source: source.into(),
            values: None,
        };
        let ones = Tensor::from_vec(vec![1, 2], vec![1.0f32, 1.0]).unwrap();
        let mut batch = Batch {
            tensors: vec![ones.clone(), ones.clone()],
            dims: std::collections::BTreeMap::new(),
            used: vec![used("x", "synthetic"), used("state", "synthetic")],
        };
        f.initial(&mut batch).unwrap();
        assert_eq!(batch.tensors[0], ones, "only the state");
        assert_eq!(batch.tensors[1].as_slice::<f32>().unwrap(), [0.0, 0.0]);
        assert_eq!(batch.used[1].source, "zeros, then `state_out` fed back");
        batch.tensors[1] = ones.clone();
        batch.used[1].source = "s.npy".into();
        f.initial(&mut batch).unwrap();
        assert_eq!((&batch.tensors[1], batch.used[1].source.as_str()), (&ones, "s.npy, then `state_out` fed back"));
    }
}
