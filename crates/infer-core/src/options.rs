//! Options that belong to one backend (a SavedModel signature, a checkpoint's architecture, a
//! runtime's performance hint): each backend declares its own ([`OptionSpec`]) and reads them
//! from [`crate::LoadOptions::options`], as ort's `with_arbitrary_config(key, value)` does for
//! execution providers. The command line passes them as `--option KEY=VALUE`.

use std::collections::BTreeMap;

use crate::{Error, Result};

/// One option a backend accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionSpec {
    /// The key (`signature`).
    pub key: &'static str,
    /// What it does, for help texts.
    pub help: &'static str,
    /// The values accepted, when they form a fixed list (case-insensitive).
    pub values: Option<&'static [&'static str]>,
}

/// Backend-specific options, by key.
pub type OptionMap = BTreeMap<String, String>;

/// Checks `options` against what a backend declares: every key known, every value allowed.
///
/// # Errors
/// [`Error::InvalidInput`] naming the backend, the key and what it accepts.
pub fn check(backend: &str, specs: &[OptionSpec], options: &OptionMap) -> Result<()> {
    for (key, value) in options {
        let Some(spec) = specs.iter().find(|s| s.key == key) else {
            let known: Vec<&str> = specs.iter().map(|s| s.key).collect();
            return Err(Error::InvalidInput(format!(
                "backend `{backend}` has no option `{key}`: expected {}",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            )));
        };
        if let Some(values) = spec.values
            && !values.iter().any(|v| v.eq_ignore_ascii_case(value))
        {
            return Err(Error::InvalidInput(format!(
                "backend `{backend}`: option `{key}` is `{value}`: expected one of {}",
                values.join(", ")
            )));
        }
    }
    Ok(())
}

/// Parses `KEY=VALUE`.
///
/// # Errors
/// A message saying what was expected, for command-line parsers.
pub fn parse_pair(text: &str) -> std::result::Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!("invalid option `{text}`: expected KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SPECS: &[OptionSpec] = &[
        OptionSpec { key: "hint", help: "", values: Some(&["latency", "throughput"]) },
        OptionSpec { key: "signature", help: "", values: None },
    ];

    #[test]
    fn checks_keys_and_values() {
        let mut o = OptionMap::new();
        o.insert("hint".into(), "Latency".into());
        o.insert("signature".into(), "anything".into());
        check("ov", SPECS, &o).unwrap();
        o.insert("hint".into(), "fast".into());
        let e = check("ov", SPECS, &o).unwrap_err().to_string();
        assert!(e.contains("`hint` is `fast`") && e.contains("latency, throughput"), "{e}");
        let o = OptionMap::from([("arch".to_string(), "x".to_string())]);
        let e = check("ov", SPECS, &o).unwrap_err().to_string();
        assert!(e.contains("no option `arch`") && e.contains("hint, signature"), "{e}");
        assert!(check("onnx", &[], &o).unwrap_err().to_string().contains("expected none"));
    }

    #[test]
    fn parses_pairs() {
        assert_eq!(parse_pair(" a = b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(parse_pair("=x").is_err() && parse_pair("novalue").is_err());
    }
}
