//! Parsers of the command line's value lists (batch sizes, dimensions, devices), kept in the
//! library so they can be unit-tested and fuzzed (`fuzz/fuzz_targets/shapes_devices.rs`).
//! Every parser returns a message naming the text and what was expected, never panics.

use infer_core::Device;

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
}
