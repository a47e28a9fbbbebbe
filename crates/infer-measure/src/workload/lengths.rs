//! Variable-length traffic: `--lengths SYMBOL=SPEC` draws the size of one dynamic dimension (a
//! text model's `sequence`) per request from a distribution, seeded, and `--pad-to` says how a
//! batch of requests of different lengths is padded to one shape (its longest, the next multiple
//! of N, or the smallest listed bucket that fits).
//!
//! [`RequestLengths`] is the lengths of a run's requests, drawn once up front: request `k` has
//! the `k`-th draw (cycling the table), so a run is the same on every machine. A batch of requests
//! is cut from inputs built at the longest padded length the run can need, to the batch's padded
//! length; an input whose name contains `mask` (an attention mask) gets, per item, ones for the
//! item's real positions and zeros for its padding.

use std::{fmt, path::Path};

use infer_core::{Dim, Error, Result, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::{DimPoint, Plan, args::MAX_SIZE, batch::gather_axis, dims_listing};
use crate::rng::SplitMix64;

/// A distribution of lengths (integers of at least 1).
#[derive(Debug, Clone, PartialEq)]
pub enum LengthDist {
    /// Uniform over `lo..=hi`.
    Uniform {
        /// Smallest length.
        lo: usize,
        /// Largest length (included).
        hi: usize,
    },
    /// Normal with this mean and standard deviation, rounded, clamped to `lo..=hi`.
    Normal {
        /// Mean length.
        mean: f64,
        /// Standard deviation.
        std: f64,
        /// Smallest length.
        lo: usize,
        /// Largest length (included).
        hi: usize,
    },
    /// Log-normal: the natural log of the length is normal with mean `mu` and standard deviation
    /// `sigma` (the median length is `e^mu`), rounded, clamped to `lo..=hi`.
    LogNormal {
        /// Mean of the log of the length.
        mu: f64,
        /// Standard deviation of the log of the length.
        sigma: f64,
        /// Smallest length.
        lo: usize,
        /// Largest length (included).
        hi: usize,
    },
    /// Observed lengths (from a file, one per line), drawn with replacement.
    Observed {
        /// The file they were read from.
        path: String,
        /// The lengths, in the file's order.
        values: Vec<usize>,
    },
}

/// `--lengths SYMBOL=SPEC`: the distribution of one dynamic dimension's size.
#[derive(Debug, Clone, PartialEq)]
pub struct LengthsArg {
    /// The dynamic dimension whose size is drawn.
    pub symbol: String,
    /// The distribution.
    pub dist: LengthDist,
    /// The specification as given (for reports and child processes).
    pub spec: String,
}

impl fmt::Display for LengthsArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.symbol, self.spec)
    }
}

/// Lengths drawn up front for a run of unknown length (a server run, a timed bench): request `k`
/// takes draw `k % DRAWS_CYCLED`.
pub const DRAWS_CYCLED: usize = 4096;

/// What a length specification looks like, for error messages.
const EXPECTED: &str = "uniform:LO..HI, normal:MEAN,STD[,LO..HI], lognormal:MU,SIGMA[,LO..HI] or file:PATH";

/// Parses `--lengths SYMBOL=SPEC` (see [`LengthDist`]; a SPEC that names no kind is a file path).
///
/// # Errors
/// One line naming the flag, what was expected and what was given (for a file, its path and the
/// line number of a bad line).
pub fn parse_lengths_arg(text: &str) -> std::result::Result<LengthsArg, String> {
    let bad = |what: &str| format!("--lengths {text}: {what}");
    let (symbol, spec) = text
        .split_once('=')
        .map(|(s, v)| (s.trim(), v.trim()))
        .filter(|(s, v)| !s.is_empty() && !v.is_empty())
        .ok_or_else(|| bad(&format!("expected SYMBOL=SPEC with SPEC one of {EXPECTED}")))?;
    let dist = if let Some(r) = spec.strip_prefix("uniform:") {
        let (lo, hi) = parse_range(r).map_err(|e| bad(&format!("expected uniform:LO..HI {e}")))?;
        LengthDist::Uniform { lo, hi }
    } else if let Some(p) = spec.strip_prefix("normal:") {
        let (mean, std, lo, hi) =
            parse_params(p).map_err(|e| bad(&format!("expected normal:MEAN,STD[,LO..HI] {e}")))?;
        LengthDist::Normal { mean, std, lo, hi }
    } else if let Some(p) = spec.strip_prefix("lognormal:") {
        let (mu, sigma, lo, hi) =
            parse_params(p).map_err(|e| bad(&format!("expected lognormal:MU,SIGMA[,LO..HI] (of the log) {e}")))?;
        LengthDist::LogNormal { mu, sigma, lo, hi }
    } else {
        let path = spec.strip_prefix("file:").unwrap_or(spec);
        if !spec.starts_with("file:") && !Path::new(path).is_file() {
            return Err(bad(&format!("expected {EXPECTED}, got `{spec}` (not a known kind, and no such file)")));
        }
        let values = read_lengths_file(Path::new(path)).map_err(|e| bad(&e))?;
        LengthDist::Observed { path: path.to_string(), values }
    };
    Ok(LengthsArg { symbol: symbol.to_string(), dist, spec: spec.to_string() })
}

/// `LO..HI`, `1 <= LO <= HI <= MAX_SIZE`; the error says what was given.
fn parse_range(text: &str) -> std::result::Result<(usize, usize), String> {
    let got = || format!("with 1 <= LO <= HI <= {MAX_SIZE}, got `{text}`");
    let (lo, hi) = text.split_once("..").ok_or_else(got)?;
    let hi = hi.strip_prefix('=').unwrap_or(hi);
    let (lo, hi) = (lo.trim().parse::<usize>().map_err(|_| got())?, hi.trim().parse::<usize>().map_err(|_| got())?);
    if lo == 0 || lo > hi || hi > MAX_SIZE {
        return Err(got());
    }
    Ok((lo, hi))
}

/// `A,B[,LO..HI]`: two finite numbers, `B >= 0`, and an optional range (default `1..MAX_SIZE`).
fn parse_params(text: &str) -> std::result::Result<(f64, f64, usize, usize), String> {
    let got = || format!("with finite numbers, the second >= 0, got `{text}`");
    let parts: Vec<&str> = text.splitn(3, ',').map(str::trim).collect();
    let [a, b, rest @ ..] = parts.as_slice() else { return Err(got()) };
    let (a, b) = (a.parse::<f64>().map_err(|_| got())?, b.parse::<f64>().map_err(|_| got())?);
    if !a.is_finite() || !b.is_finite() || b < 0.0 {
        return Err(got());
    }
    let (lo, hi) = match rest.first() {
        Some(r) => parse_range(r).map_err(|e| format!("range {e}"))?,
        None => (1, MAX_SIZE),
    };
    Ok((a, b, lo, hi))
}

/// Reads observed lengths: one positive integer per line; empty lines and `#` comments ignored.
///
/// # Errors
/// A message naming the file (and the line of a bad value).
pub fn read_lengths_file(path: &Path) -> std::result::Result<Vec<usize>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut values = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        match line.parse::<usize>() {
            Ok(v) if (1..=MAX_SIZE).contains(&v) => values.push(v),
            _ => {
                return Err(format!(
                    "{} line {}: expected a length (an integer from 1 to {MAX_SIZE}), got `{line}`",
                    path.display(),
                    n + 1
                ));
            }
        }
    }
    if values.is_empty() {
        return Err(format!("{}: expected one length per line, found none", path.display()));
    }
    Ok(values)
}

impl LengthDist {
    /// One length, drawn from `rng`.
    pub fn draw(&self, rng: &mut SplitMix64) -> usize {
        match self {
            LengthDist::Uniform { lo, hi } => lo + rng.below(hi - lo + 1),
            LengthDist::Normal { mean, std, lo, hi } => clamp_round(mean + std * standard_normal(rng), *lo, *hi),
            LengthDist::LogNormal { mu, sigma, lo, hi } => {
                clamp_round((mu + sigma * standard_normal(rng)).exp(), *lo, *hi)
            }
            LengthDist::Observed { values, .. } => values[rng.below(values.len())],
        }
    }

    /// The largest length a draw can give.
    #[must_use]
    pub fn max(&self) -> usize {
        match self {
            LengthDist::Uniform { hi, .. } | LengthDist::Normal { hi, .. } | LengthDist::LogNormal { hi, .. } => *hi,
            LengthDist::Observed { values, .. } => values.iter().copied().max().unwrap_or(1),
        }
    }
}

/// A standard normal deviate (Box–Muller).
fn standard_normal(rng: &mut SplitMix64) -> f64 {
    let u1 = 1.0 - rng.unit(); // (0, 1]
    let u2 = rng.unit();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// `x` rounded to the nearest integer within `lo..=hi`.
#[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn clamp_round(x: f64, lo: usize, hi: usize) -> usize {
    let x = if x.is_finite() { x.round() } else { hi as f64 };
    x.clamp(lo as f64, hi as f64) as usize
}

/// `--pad-to`: the length a batch is padded to from its longest request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PadTo {
    /// The batch's longest length.
    #[default]
    Max,
    /// The next multiple of N at or above the longest length.
    Multiple(usize),
    /// The smallest bucket at or above the longest length (ascending); a longer length is an
    /// error.
    Buckets(Vec<usize>),
}

impl fmt::Display for PadTo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PadTo::Max => f.write_str("max"),
            PadTo::Multiple(n) => write!(f, "multiple:{n}"),
            PadTo::Buckets(b) => {
                write!(f, "buckets:{}", b.iter().map(ToString::to_string).collect::<Vec<_>>().join(","))
            }
        }
    }
}

impl std::str::FromStr for PadTo {
    type Err = String;
    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        let t = text.trim();
        let bad = || format!("--pad-to {text}: expected max, multiple:N or buckets:N,N,... (positive integers)");
        if t == "max" {
            return Ok(PadTo::Max);
        }
        let positive = |s: &str| s.trim().parse::<usize>().ok().filter(|&n| (1..=MAX_SIZE).contains(&n));
        if let Some(n) = t.strip_prefix("multiple:") {
            return positive(n).map(PadTo::Multiple).ok_or_else(bad);
        }
        if let Some(list) = t.strip_prefix("buckets:") {
            let mut b: Vec<usize> = list.split(',').map(positive).collect::<Option<_>>().ok_or_else(bad)?;
            b.sort_unstable();
            b.dedup();
            return Ok(PadTo::Buckets(b));
        }
        Err(bad())
    }
}

impl PadTo {
    /// The padded length of a batch whose longest request is `longest`.
    ///
    /// # Errors
    /// With buckets, a length above the largest one (naming both).
    pub fn padded(&self, longest: usize) -> Result<usize> {
        match self {
            PadTo::Max => Ok(longest),
            PadTo::Multiple(n) => Ok(longest.div_ceil(*n) * n),
            PadTo::Buckets(b) => b.iter().copied().find(|&v| v >= longest).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "--pad-to {self}: a length of {longest} was drawn, above the largest bucket {}: add a bucket \
                     of at least {longest} or narrow --lengths",
                    b.last().copied().unwrap_or(0)
                ))
            }),
        }
    }
}

/// `--lengths` with `--pad-to` and the seed of the draws.
#[derive(Debug, Clone, PartialEq)]
pub struct Lengths {
    /// The dimension and its distribution.
    pub arg: LengthsArg,
    /// How a batch is padded.
    pub pad_to: PadTo,
    /// Seed of the draws.
    pub seed: u64,
}

/// Lengths drawn for a run's requests, and how to cut and mask a batch of them.
#[derive(Debug, Clone)]
pub struct RequestLengths {
    pad_to: PadTo,
    /// Request `k` has length `table[k % table.len()]`.
    table: Vec<usize>,
    /// The longest padded length any batch can have: the size inputs are built at.
    max_padded: usize,
    /// Per model input: the axes with the symbol.
    axes: Vec<Vec<usize>>,
    /// Per model input: for an attention mask, its batch axis and its (first) symbol axis.
    masks: Vec<Option<(usize, usize)>>,
    symbol: String,
}

/// Padding of some calls: the real positions and all positions fed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Padding {
    /// Positions of real tokens (the sum of the requests' lengths).
    pub useful: usize,
    /// Positions fed (padded length × items).
    pub total: usize,
}

/// What padding did to a run, as the scenarios report it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PaddingFigures {
    /// Padded positions over all positions fed, in `[0, 1)`.
    pub padding_waste: f64,
    /// The requests' own positions (their lengths) per second.
    pub useful_tokens_per_s: f64,
    /// Requests per second.
    pub items_per_s: f64,
}

impl Padding {
    /// The figures of `items` requests served in `seconds`.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn figures(&self, items: usize, seconds: f64) -> PaddingFigures {
        let per_s = |n: usize| if seconds > 0.0 { n as f64 / seconds } else { 0.0 };
        PaddingFigures {
            padding_waste: self.waste(),
            useful_tokens_per_s: per_s(self.useful),
            items_per_s: per_s(items),
        }
    }

    /// Adds another call's.
    pub fn add(&mut self, other: Padding) {
        self.useful += other.useful;
        self.total += other.total;
    }

    /// Padded positions over all positions, in `[0, 1)` (0 with nothing fed).
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn waste(&self) -> f64 {
        if self.total == 0 { 0.0 } else { (self.total - self.useful) as f64 / self.total as f64 }
    }
}

impl RequestLengths {
    /// Draws `count` lengths (seeded) for a model planned as `plan` and checks them: the symbol is
    /// a dynamic dimension other than the batch, no `--dim` or input file gives it, and every
    /// batch can be padded.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the option and listing the model's dynamic dimensions.
    pub fn draw(plan: &Plan, point: &DimPoint, lengths: &Lengths, count: usize) -> Result<Self> {
        let symbol = &lengths.arg.symbol;
        let flag = format!("--lengths {}", lengths.arg);
        if point.iter().any(|(s, _)| s == symbol) {
            return Err(Error::InvalidInput(format!(
                "{flag}: --dim {symbol} sets the same dimension: give one of them"
            )));
        }
        let mut axes = Vec::new();
        let mut masks = Vec::new();
        for (k, i) in plan.inputs.iter().enumerate() {
            let at: Vec<usize> = i
                .spec
                .dims
                .iter()
                .flatten()
                .enumerate()
                .filter(|(axis, d)| {
                    matches!(d, Dim::Dynamic(Some(s)) if s == symbol) && !plan.batch.is_batch(k, &i.spec, *axis)
                })
                .map(|(axis, _)| axis)
                .collect();
            if !at.is_empty() && (i.real.is_some() || i.shape.is_some()) {
                return Err(Error::InvalidInput(format!(
                    "{flag}: input `{}` has its shape from --input or --shape: --lengths needs synthetic inputs",
                    i.spec.name
                )));
            }
            let rank = i.spec.dims.as_ref().map_or(0, Vec::len);
            let batch_axis = plan.batch.carriers(k, &i.spec, rank).first().copied();
            masks.push(match (batch_axis, at.first()) {
                (Some(b), Some(&s)) if i.spec.name.to_ascii_lowercase().contains("mask") => Some((b, s)),
                _ => None,
            });
            axes.push(at);
        }
        if axes.iter().all(Vec::is_empty) {
            let specs: Vec<_> = plan.inputs.iter().map(|i| i.spec.clone()).collect();
            let listing = dims_listing(&specs, &plan.batch);
            let known = if listing.is_empty() { "the model has none".to_string() } else { listing.join("; ") };
            return Err(Error::InvalidInput(format!(
                "{flag}: no input has a dynamic dimension `{symbol}` other than the batch; dynamic dimensions: {known}"
            )));
        }
        let mut rng = SplitMix64::new(lengths.seed);
        let table: Vec<usize> = (0..count.max(1)).map(|_| lengths.arg.dist.draw(&mut rng)).collect();
        let longest = table.iter().copied().max().unwrap_or(1);
        let max_padded = lengths.pad_to.padded(longest)?;
        Ok(Self { pad_to: lengths.pad_to.clone(), table, max_padded, axes, masks, symbol: symbol.clone() })
    }

    /// `point` with the symbol at the longest padded length: where a run's inputs are built.
    #[must_use]
    pub fn point(&self, point: &DimPoint) -> DimPoint {
        let mut p = point.clone();
        p.push((self.symbol.clone(), self.max_padded));
        p
    }

    /// The dimension drawn.
    #[must_use]
    pub fn symbol(&self) -> &str {
        &self.symbol
    }

    /// The length of request `k`.
    #[must_use]
    pub fn length(&self, k: usize) -> usize {
        self.table[k % self.table.len()]
    }

    /// The lengths of requests `first..first + count`.
    #[must_use]
    pub fn lengths(&self, first: usize, count: usize) -> Vec<usize> {
        (first..first + count).map(|k| self.length(k)).collect()
    }

    /// The padded length of requests `first..first + count` together.
    ///
    /// # Errors
    /// As [`PadTo::padded`] (never for lengths drawn here: they were checked).
    pub fn padded(&self, first: usize, count: usize) -> Result<usize> {
        self.pad_to.padded(self.lengths(first, count).into_iter().max().unwrap_or(1))
    }

    /// The padding of requests `first..first + count` in one call.
    ///
    /// # Errors
    /// As [`RequestLengths::padded`].
    pub fn padding(&self, first: usize, count: usize) -> Result<Padding> {
        let padded = self.padded(first, count)?;
        Ok(Padding { useful: self.lengths(first, count).iter().sum(), total: padded * count })
    }

    /// The inputs of requests `first..first + count`, built at the longest padded length, cut to
    /// the batch's padded length, each attention mask ones for an item's real positions and
    /// zeros for its padding.
    ///
    /// # Errors
    /// Slicing errors (the inputs do not have the planned shapes).
    pub fn cut(&self, tensors: Vec<Tensor>, first: usize, count: usize) -> Result<Vec<Tensor>> {
        let padded = self.padded(first, count)?;
        let lengths = self.lengths(first, count);
        let keep: Vec<usize> = (0..padded).collect();
        tensors
            .into_iter()
            .enumerate()
            .map(|(k, mut t)| {
                for &axis in &self.axes[k] {
                    if t.shape().get(axis).is_some_and(|&n| n != padded) {
                        t = gather_axis(&t, axis, &keep)?;
                    }
                }
                match self.masks[k] {
                    Some((batch, seq)) => mask_padding(t, batch, seq, &lengths),
                    None => Ok(t),
                }
            })
            .collect()
    }
}

/// An attention mask for items of `lengths` along `batch_axis`: 1 where the position along
/// `seq_axis` is below the item's length, 0 after (padding).
///
/// # Errors
/// [`Error::InvalidInput`] when an axis is out of range or the batch axis does not hold one
/// entry per length.
pub fn mask_padding(t: Tensor, batch_axis: usize, seq_axis: usize, lengths: &[usize]) -> Result<Tensor> {
    let (shape, mut data) = t.into_parts();
    if batch_axis >= shape.len() || seq_axis >= shape.len() || shape[batch_axis] != lengths.len() {
        return Err(Error::InvalidInput(format!(
            "an attention mask of shape {shape:?} has no batch axis {batch_axis} of {} items and sequence axis {seq_axis}",
            lengths.len()
        )));
    }
    let stride = |axis: usize| shape[axis + 1..].iter().product::<usize>();
    let (bs, ss) = (stride(batch_axis), stride(seq_axis));
    let real = |i: usize| (i / ss) % shape[seq_axis] < lengths[(i / bs) % shape[batch_axis]];
    fn set<T: Copy>(v: &mut [T], one: T, zero: T, real: impl Fn(usize) -> bool) {
        v.iter_mut().enumerate().for_each(|(i, x)| *x = if real(i) { one } else { zero });
    }
    match &mut data {
        TensorData::I64(v) => set(v, 1, 0, real),
        TensorData::I32(v) => set(v, 1, 0, real),
        TensorData::I8(v) => set(v, 1, 0, real),
        TensorData::U8(v) => set(v, 1, 0, real),
        TensorData::Bool(v) => set(v, true, false, real),
        TensorData::F32(v) => set(v, 1.0, 0.0, real),
        TensorData::F64(v) => set(v, 1.0, 0.0, real),
        TensorData::F16(v) => set(v, half::f16::ONE, half::f16::ZERO, real),
        TensorData::BF16(v) => set(v, half::bf16::ONE, half::bf16::ZERO, real),
    }
    Tensor::new(shape, data)
}

#[cfg(test)]
mod tests;
