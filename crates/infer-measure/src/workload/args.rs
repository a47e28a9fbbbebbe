//! Parsers of the command line's value lists (batch sizes, dimensions, devices, `--shape`,
//! `--dim`, `--int-range`), kept in the
//! library so they can be unit-tested and fuzzed (`fuzz/fuzz_targets/shapes_devices.rs`).
//! Every parser returns a message naming the text and what was expected, never panics.

use infer_core::{DType, Device};

/// The largest batch size or dimension accepted on the command line.
pub const MAX_SIZE: usize = 1 << 20;

/// A comma-separated list of positive sizes (batch sizes or dynamic dimensions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sizes(pub Vec<usize>);

/// A comma-separated list of devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Devices(pub Vec<Device>);

/// Parses a comma-separated list of positive integers, each at most [`MAX_SIZE`].
///
/// # Errors
/// A message naming the bad item and the accepted form.
pub fn parse_sizes(text: &str) -> Result<Sizes, String> {
    let sizes: Vec<usize> = text
        .split(',')
        .map(|s| s.trim().parse::<usize>().map_err(|_| format!("invalid size `{s}` in `{text}`: expected e.g. 1,8,32")))
        .collect::<Result<_, _>>()?;
    if sizes.is_empty() || sizes.contains(&0) {
        return Err(format!("invalid sizes `{text}`: each must be at least 1"));
    }
    if let Some(&big) = sizes.iter().find(|&&s| s > MAX_SIZE) {
        return Err(format!("batch size {big} is absurdly large (limit {MAX_SIZE})"));
    }
    Ok(Sizes(sizes))
}

/// Parses a comma-separated list of devices (`cpu`, `cuda`, `cuda:N`).
///
/// # Errors
/// A message naming the bad device and the accepted forms.
pub fn parse_devices(text: &str) -> Result<Devices, String> {
    text.split(',').map(|s| s.parse::<Device>()).collect::<Result<_, _>>().map(Devices)
}

/// Parses a shape such as `1x3x224x224`, `[1, 3, 224, 224]` or `1,3,224,224` (`x`, `,` or
/// spaces between positive dimensions, each at most [`MAX_SIZE`]; at most 16 of them).
///
/// # Errors
/// A message naming the bad dimension and the accepted form.
pub fn parse_shape(text: &str) -> Result<Vec<usize>, String> {
    let inner = text.trim().trim_start_matches(['[', '(']).trim_end_matches([']', ')']);
    let dims: Vec<usize> = inner
        .split(|c: char| c == 'x' || c == 'X' || c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| format!("invalid dimension `{s}` in shape `{text}`: expected e.g. 1x3x224x224"))
        })
        .collect::<Result<_, _>>()?;
    if dims.is_empty() {
        return Err(format!("empty shape `{text}`: expected e.g. 1x3x224x224"));
    }
    if dims.len() > 16 {
        return Err(format!("shape `{text}` has {} dimensions: at most 16 are supported", dims.len()));
    }
    if let Some(&bad) = dims.iter().find(|&&d| d == 0 || d > MAX_SIZE) {
        return Err(format!("dimension {bad} in shape `{text}` is out of range: expected 1..={MAX_SIZE}"));
    }
    Ok(dims)
}

/// `--shape NAME=DIMS[:DTYPE]`: the shape (and element type) of one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeArg {
    /// Input name.
    pub input: String,
    /// Dimensions; the first one follows each batch size asked where it is the batch dimension.
    pub dims: Vec<usize>,
    /// Element type, when given.
    pub dtype: Option<DType>,
}

impl std::fmt::Display for ShapeArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dims: Vec<String> = self.dims.iter().map(ToString::to_string).collect();
        write!(f, "{}={}", self.input, dims.join("x"))?;
        match self.dtype {
            Some(t) => write!(f, ":{t}"),
            None => Ok(()),
        }
    }
}

/// `--dim SYMBOL=N[,N...]`: the size, or the sizes to measure in turn, of a symbolic dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DimArg {
    /// The dimension's symbol in the model (`sequence`).
    pub symbol: String,
    /// Sizes, in the order given.
    pub values: Vec<usize>,
}

impl std::fmt::Display for DimArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let values: Vec<String> = self.values.iter().map(ToString::to_string).collect();
        write!(f, "{}={}", self.symbol, values.join(","))
    }
}

/// `--int-range NAME=LO:HI`: synthetic values of an integer input drawn from `[LO, HI)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntRangeArg {
    /// Input name.
    pub input: String,
    /// Smallest value.
    pub lo: i64,
    /// One past the largest value.
    pub hi: i64,
}

/// The part before `=` of `NAME=VALUE`, checked to be a plausible name.
fn split_name<'t>(text: &'t str, option: &str, example: &str) -> Result<(&'t str, &'t str), String> {
    let (name, value) = text.split_once('=').ok_or_else(|| format!("invalid {option} `{text}`: expected {example}"))?;
    let name = name.trim();
    if name.is_empty() || name.len() > 256 || name.chars().any(char::is_control) {
        return Err(format!("invalid {option} `{text}`: expected {example}"));
    }
    Ok((name, value))
}

/// Parses `--shape NAME=DIMS[:DTYPE]`, e.g. `input_ids=1x128:i64` (dimensions as [`parse_shape`]
/// takes them).
///
/// # Errors
/// A message naming the text and the accepted form.
pub fn parse_shape_arg(text: &str) -> Result<ShapeArg, String> {
    let (input, rest) = split_name(text, "--shape", "NAME=1x128 or NAME=1x128:i64")?;
    let (dims, dtype) = match rest.rsplit_once(':') {
        Some((dims, dtype)) => {
            (dims, Some(dtype.parse::<DType>().map_err(|e| format!("invalid --shape `{text}`: {e}"))?))
        }
        None => (rest, None),
    };
    let dims = parse_shape(dims).map_err(|e| format!("invalid --shape `{text}`: {e}"))?;
    Ok(ShapeArg { input: input.to_string(), dims, dtype })
}

/// Parses `--dim SYMBOL=N[,N...]`, e.g. `sequence=128` or `sequence=32,128,512`.
///
/// # Errors
/// A message naming the text and the accepted form.
pub fn parse_dim_arg(text: &str) -> Result<DimArg, String> {
    let (symbol, values) = split_name(text, "--dim", "SYMBOL=128 or SYMBOL=32,128,512")?;
    let values = parse_sizes(values).map_err(|e| format!("invalid --dim `{text}`: {e}"))?;
    Ok(DimArg { symbol: symbol.to_string(), values: values.0 })
}

impl std::fmt::Display for IntRangeArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}:{}", self.input, self.lo, self.hi)
    }
}

/// Parses `--int-range NAME=LO:HI` (integers, `LO < HI`; values are drawn from `[LO, HI)`).
///
/// # Errors
/// A message naming the text and the accepted form.
pub fn parse_int_range(text: &str) -> Result<IntRangeArg, String> {
    const EXAMPLE: &str = "NAME=LO:HI, e.g. input_ids=0:30522 (values from LO up to HI, HI excluded)";
    let (input, range) = split_name(text, "--int-range", EXAMPLE)?;
    let bad = || format!("invalid --int-range `{text}`: expected {EXAMPLE}");
    let (lo, hi) = range.split_once(':').ok_or_else(bad)?;
    let lo: i64 = lo.trim().parse().map_err(|_| bad())?;
    let hi: i64 = hi.trim().parse().map_err(|_| bad())?;
    if lo >= hi {
        return Err(format!("invalid --int-range `{text}`: LO must be below HI (HI is excluded)"));
    }
    Ok(IntRangeArg { input: input.to_string(), lo, hi })
}

/// `--feedback OUTPUT=INPUT`: a model output fed as the named input of the next call (the state
/// of a streaming or recurrent model); see [`crate::feedback`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FeedbackPair {
    /// The output read after each call.
    pub output: String,
    /// The input it is fed as in the next call.
    pub input: String,
}

impl FeedbackPair {
    /// `OUTPUT → INPUT`, as reports print it.
    #[must_use]
    pub fn arrow(&self) -> String {
        format!("{} \u{2192} {}", self.output, self.input)
    }
}

impl std::fmt::Display for FeedbackPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.output, self.input)
    }
}

/// Parses `--feedback OUTPUT=INPUT`.
///
/// # Errors
/// A message naming the text and the accepted form.
pub fn parse_feedback(text: &str) -> Result<FeedbackPair, String> {
    match text.split_once('=') {
        Some((output, input)) if !output.trim().is_empty() && !input.trim().is_empty() && !input.contains('=') => {
            Ok(FeedbackPair { output: output.trim().to_string(), input: input.trim().to_string() })
        }
        _ => Err(format!("invalid --feedback `{text}`: expected OUTPUT=INPUT, e.g. state_out=state")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_sizes("1, 8,32").unwrap(), Sizes(vec![1, 8, 32]));
        assert!(parse_sizes("0").unwrap_err().contains("at least 1"));
        assert!(parse_sizes("").unwrap_err().contains("invalid size ``"));
        assert!(parse_sizes("1,,2").is_err());
        assert!(parse_sizes("-3").unwrap_err().contains("`-3`"));
        assert!(parse_sizes("99999999999999999999999").unwrap_err().contains("invalid size"));
        assert!(parse_sizes("2000000").unwrap_err().contains("absurdly large"));
    }

    #[test]
    fn devices() {
        assert_eq!(parse_devices("cpu,cuda:1").unwrap(), Devices(vec![Device::Cpu, Device::Cuda(1)]));
        assert!(parse_devices("cpu,tpu").unwrap_err().contains("tpu"));
        assert!(parse_devices("").is_err());
    }

    #[test]
    fn shapes() {
        assert_eq!(parse_shape("1x3x224x224").unwrap(), [1, 3, 224, 224]);
        assert_eq!(parse_shape("[2, 5]").unwrap(), [2, 5]);
        assert_eq!(parse_shape("(7,)").unwrap(), [7]);
        assert!(parse_shape("[]").unwrap_err().contains("empty shape"));
        assert!(parse_shape("1x0").unwrap_err().contains("out of range"));
        assert!(parse_shape("1xq").unwrap_err().contains("`q`"));
        assert!(parse_shape(&"1x".repeat(17)).unwrap_err().contains("at most 16"));
    }

    #[test]
    fn shape_dim_and_range_options() {
        let s = parse_shape_arg("input_ids=1x128:i64").unwrap();
        assert_eq!((s.input.as_str(), s.dims.as_slice(), s.dtype), ("input_ids", &[1, 128][..], Some(DType::I64)));
        assert_eq!(s.to_string(), "input_ids=1x128:i64");
        assert_eq!(parse_shape_arg("x=[2, 3]").unwrap().to_string(), "x=2x3");
        assert!(parse_shape_arg("1x128").unwrap_err().contains("expected NAME=1x128"));
        assert!(parse_shape_arg("=1x2").unwrap_err().contains("expected NAME=1x128"));
        assert!(parse_shape_arg("x=1x2:complex").unwrap_err().contains("unknown dtype `complex`"));
        assert!(parse_shape_arg("x=1x0").unwrap_err().contains("out of range"));

        let d = parse_dim_arg("sequence=32,128").unwrap();
        assert_eq!((d.symbol.as_str(), d.values.as_slice()), ("sequence", &[32, 128][..]));
        assert_eq!(d.to_string(), "sequence=32,128");
        assert!(parse_dim_arg("sequence").unwrap_err().contains("SYMBOL=128"));
        assert!(parse_dim_arg("sequence=0").unwrap_err().contains("invalid --dim `sequence=0`"));

        let r = parse_int_range("ids=-2:30522").unwrap();
        assert_eq!((r.input.as_str(), r.lo, r.hi), ("ids", -2, 30522));
        assert_eq!(r.to_string(), "ids=-2:30522");
        assert!(parse_int_range("ids=5:5").unwrap_err().contains("LO must be below HI"));
        assert!(parse_int_range("ids=a:5").unwrap_err().contains("expected NAME=LO:HI"));
        assert!(parse_int_range("ids=5").unwrap_err().contains("expected NAME=LO:HI"));

        let f = parse_feedback("state_out=state").unwrap();
        assert_eq!((f.output.as_str(), f.input.as_str()), ("state_out", "state"));
        assert_eq!((f.to_string(), f.arrow()), ("state_out=state".to_string(), "state_out \u{2192} state".to_string()));
        for bad in ["state", "=state", "state_out=", "a=b=c"] {
            assert!(parse_feedback(bad).unwrap_err().contains("expected OUTPUT=INPUT"), "{bad}");
        }
    }
}
