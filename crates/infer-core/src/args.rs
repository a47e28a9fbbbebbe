//! Values a model takes that are not tensor data, given once for every call: `--arg NAME=VALUE`.
//!
//! Many real modules take an `int`, `float`, `bool` or `str` option beside their tensors (a
//! TorchScript `forward(self, x: Tensor, sr: int)`). A backend whose format has such arguments
//! lists them in [`crate::SessionInfo::arguments`] ([`Argument`]: name, type, default, the value
//! in use), reads their values from [`crate::LoadOptions::args`] and checks each against the
//! argument's type when it loads the model. The same `--arg` sets a *scalar input* of a format
//! that has only tensors (an ONNX input of rank 0) as a 0-d tensor of its dtype ([`scalar`]);
//! the workload does that. [`missing`] is the check every command makes before running.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{DType, Error, Result, Tensor, TensorSpec};

/// `--arg` values by argument name, as given (text): the backend parses each against the type
/// the model declares.
pub type ArgMap = BTreeMap<String, String>;

/// An argument of a model's entry point that is not a tensor, such as the `sr` of a TorchScript
/// `forward(self, x: Tensor, sr: int)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Argument {
    /// Its name.
    pub name: String,
    /// The entry point it belongs to (`forward`, `encode`), for messages.
    pub of: String,
    /// Its type as the model declares it (`int`, `float`, `List[int]`, `Optional[str]`).
    #[serde(rename = "type")]
    pub ty: String,
    /// Its default, as the model's own notation writes it, when it has one.
    pub default: Option<String>,
    /// The value given with `--arg`, as the backend read it, when one was given.
    pub value: Option<String>,
}

impl Argument {
    /// Whether the argument has neither a value nor a default: the model cannot run without one.
    #[must_use]
    pub fn missing(&self) -> bool {
        self.value.is_none() && self.default.is_none()
    }

    /// One line for `infer info`: `sr: int = 16000 (--arg)`, `scale: float = 1.0 (default)`,
    /// `n: int (required: give it with --arg n=VALUE)`.
    #[must_use]
    pub fn describe(&self) -> String {
        match (&self.value, &self.default) {
            (Some(v), _) => format!("{}: {} = {v}  (--arg)", self.name, self.ty),
            (None, Some(d)) => format!("{}: {} = {d}  (default)", self.name, self.ty),
            (None, None) => format!("{}: {}  (required: give it with --arg {}=VALUE)", self.name, self.ty, self.name),
        }
    }
}

/// Parses `NAME=VALUE` (the value as given, without surrounding spaces), for command-line parsers.
///
/// # Errors
/// A message saying what was expected.
pub fn parse_arg(text: &str) -> std::result::Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!("invalid --arg `{text}`: expected NAME=VALUE (e.g. sr=16000, scale=0.5, text=\"hi\")")),
    }
}

/// Checks that every argument of a model that has no default was given a value (`arguments`:
/// [`crate::SessionInfo::arguments`]).
///
/// # Errors
/// [`Error::InvalidInput`], one line, naming each missing argument with its type and the option
/// that gives it: ``forward's argument `n` (int) has no value: give it with --arg n=VALUE``.
pub fn missing(arguments: &[Argument]) -> Result<()> {
    let missing: Vec<&Argument> = arguments.iter().filter(|a| a.missing()).collect();
    let Some(first) = missing.first() else { return Ok(()) };
    let names: Vec<String> = missing.iter().map(|a| format!("`{}` ({})", a.name, a.ty)).collect();
    let flags: Vec<String> = missing.iter().map(|a| format!("--arg {}=VALUE", a.name)).collect();
    let (noun, verb, pronoun) =
        if missing.len() == 1 { ("argument", "has", "it") } else { ("arguments", "have", "them") };
    Err(Error::InvalidInput(format!(
        "{}'s {noun} {} {verb} no value and no default: give {pronoun} with {}",
        first.of,
        names.join(", "),
        flags.join(" ")
    )))
}

/// Whether `spec` can be given by `--arg`: an input of rank 0, or of unknown rank.
#[must_use]
pub fn takes_scalar(spec: &TensorSpec) -> bool {
    spec.dims.as_ref().is_none_or(Vec::is_empty)
}

/// The 0-d tensor that `--arg NAME=TEXT` gives the input `spec`: of its dtype when its rank is 0;
/// of the literal's type when its rank is unknown (`true`/`false` bool, an integer i64, else f32).
///
/// # Errors
/// [`Error::InvalidInput`], one line, naming the input, the expected and the actual: ``--arg
/// scale=abc: input `scale` is a 0-d f32 tensor, got `abc` ``; an input of another rank.
pub fn scalar(spec: &TensorSpec, text: &str) -> Result<Tensor> {
    let name = &spec.name;
    if !takes_scalar(spec) {
        return Err(Error::InvalidInput(format!(
            "--arg {name}={text}: input `{name}` is a tensor {}, not a scalar: give it with --input or --shape",
            spec.shape_string()
        )));
    }
    let dtype = match spec.dims {
        Some(_) => spec.dtype,
        None if matches!(text, "true" | "false" | "True" | "False") => DType::Bool,
        None if text.parse::<i64>().is_ok() => DType::I64,
        None => DType::F32,
    };
    let bad = || {
        Error::InvalidInput(format!(
            "--arg {name}={text}: input `{name}` is a 0-d {dtype} tensor, got `{text}`{}",
            if dtype.is_float() { "" } else { " (out of range or not a whole number)" }
        ))
    };
    let int = || text.parse::<i64>().map_err(|_| bad());
    let float = || text.parse::<f64>().map_err(|_| bad());
    match dtype {
        DType::F32 => {
            let v = float()?;
            // A value beyond f32's range would become infinite: refused.
            #[allow(clippy::cast_possible_truncation)]
            let narrow = v as f32;
            if narrow.is_infinite() && v.is_finite() {
                return Err(bad());
            }
            Tensor::from_vec(vec![], vec![narrow])
        }
        DType::F64 => Tensor::from_vec(vec![], vec![float()?]),
        DType::F16 => Tensor::from_vec(vec![], vec![half::f16::from_f64(float()?)]),
        DType::BF16 => Tensor::from_vec(vec![], vec![half::bf16::from_f64(float()?)]),
        DType::I64 => Tensor::from_vec(vec![], vec![int()?]),
        DType::I32 => Tensor::from_vec(vec![], vec![i32::try_from(int()?).map_err(|_| bad())?]),
        DType::I8 => Tensor::from_vec(vec![], vec![i8::try_from(int()?).map_err(|_| bad())?]),
        DType::U8 => Tensor::from_vec(vec![], vec![u8::try_from(int()?).map_err(|_| bad())?]),
        DType::Bool => {
            let v = match text {
                "true" | "True" | "1" => true,
                "false" | "False" | "0" => false,
                _ => return Err(bad()),
            };
            Tensor::from_vec(vec![], vec![v])
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::Dim;

    fn argument(name: &str, ty: &str, default: Option<&str>, value: Option<&str>) -> Argument {
        Argument {
            name: name.into(),
            of: "forward".into(),
            ty: ty.into(),
            default: default.map(Into::into),
            value: value.map(Into::into),
        }
    }

    #[test]
    fn missing_arguments_are_one_line_with_the_option() {
        let mut arguments = vec![argument("scale", "float", Some("1.0"), None), argument("n", "int", None, Some("3"))];
        missing(&arguments).unwrap();
        arguments.push(argument("sr", "int", None, None));
        let e = missing(&arguments).unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid input: forward's argument `sr` (int) has no value and no default: give it with --arg sr=VALUE"
        );
        arguments.push(argument("text", "str", None, None));
        let e = missing(&arguments).unwrap_err().to_string();
        assert!(
            e.contains("arguments `sr` (int), `text` (str) have no value") && e.ends_with("--arg text=VALUE"),
            "{e}"
        );
        assert_eq!(arguments[0].describe(), "scale: float = 1.0  (default)");
        assert_eq!(arguments[1].describe(), "n: int = 3  (--arg)");
        assert_eq!(arguments[2].describe(), "sr: int  (required: give it with --arg sr=VALUE)");
    }

    #[test]
    fn scalars_take_the_input_dtype_or_the_literal_type() {
        let spec = |dtype, dims: Option<Vec<Dim>>| TensorSpec { name: "s".into(), dtype, dims };
        let t = scalar(&spec(DType::F32, Some(vec![])), "0.5").unwrap();
        assert_eq!((t.shape(), t.as_slice::<f32>().unwrap()), (&[][..], &[0.5f32][..]));
        assert_eq!(scalar(&spec(DType::I32, Some(vec![])), "-7").unwrap().as_slice::<i32>().unwrap(), [-7]);
        assert_eq!(scalar(&spec(DType::Bool, Some(vec![])), "true").unwrap().as_slice::<bool>().unwrap(), [true]);
        assert_eq!(scalar(&spec(DType::F32, None), "16000").unwrap().dtype(), DType::I64);
        assert_eq!(scalar(&spec(DType::I64, None), "0.5").unwrap().dtype(), DType::F32);
        assert_eq!(scalar(&spec(DType::F32, None), "false").unwrap().dtype(), DType::Bool);
        let e = scalar(&spec(DType::F32, Some(vec![])), "abc").unwrap_err().to_string();
        assert_eq!(e, "invalid input: --arg s=abc: input `s` is a 0-d f32 tensor, got `abc`");
        let e = scalar(&spec(DType::U8, Some(vec![])), "300").unwrap_err().to_string();
        assert!(e.contains("0-d u8 tensor, got `300` (out of range"), "{e}");
        assert!(scalar(&spec(DType::F32, Some(vec![])), "1e40").is_err());
        let e = scalar(&spec(DType::F32, Some(vec![Dim::Fixed(2)])), "1").unwrap_err().to_string();
        assert!(e.contains("input `s` is a tensor [2], not a scalar: give it with --input or --shape"), "{e}");
    }

    #[test]
    fn pairs_parse() {
        assert_eq!(parse_arg(" text = \"a b\" ").unwrap(), ("text".into(), "\"a b\"".into()));
        assert_eq!(parse_arg("n=").unwrap(), ("n".into(), String::new()));
        assert!(parse_arg("=3").unwrap_err().contains("expected NAME=VALUE"));
    }
}
