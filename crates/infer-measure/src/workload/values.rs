//! Which values synthetic inputs take, so that a model accepts them: an integer input that
//! indexes an embedding table must stay inside the table, a mask should let every position
//! through, type ids should name the first type. The graph's evidence wins (a backend proves a
//! range through [`infer_core::SessionInfo::integer_ranges`]), then the input's name, then a small
//! default range; `--int-range NAME=LO:HI` overrides them all.

use std::collections::BTreeMap;

use infer_core::{DType, Error, IntRange, Result, TensorSpec};
use serde::{Deserialize, Serialize};

use crate::workload::args::IntRangeArg;

/// Synthetic integers without any other rule are drawn from `[0, DEFAULT_HI)`.
pub const DEFAULT_HI: i64 = 10;

/// How an input's range was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Found {
    /// `--int-range` on the command line.
    Option,
    /// The model's graph proves it (an embedding lookup).
    Graph,
    /// The input's name (`*mask*`: ones; `*type_ids*`, `token_type*`, `*segment_ids*`: zeros).
    Name,
    /// Nothing else applied: small non-negative integers.
    Default,
}

/// The values a synthetic input is drawn from, `[lo, hi)`, and how that was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueRange {
    /// Smallest value.
    pub lo: i64,
    /// One past the largest value.
    pub hi: i64,
    /// Which rule chose it.
    pub found: Found,
    /// What proves it, in words.
    pub evidence: String,
}

impl std::fmt::Display for ValueRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let how = match self.found {
            Found::Option => "from",
            Found::Graph => "from the graph:",
            Found::Name => "by name:",
            Found::Default => "by default:",
        };
        write!(f, "[{}, {}) {how} {}", self.lo, self.hi, self.evidence)
    }
}

/// The rule that an input's name implies, if any.
fn by_name(name: &str) -> Option<(i64, &'static str)> {
    let n = name.to_ascii_lowercase();
    if n.contains("mask") {
        Some((1, "`*mask*` inputs are ones"))
    } else if n.contains("type_ids") || n.starts_with("token_type") || n.contains("segment_ids") {
        Some((0, "`*type_ids*` / `token_type*` inputs are zeros"))
    } else {
        None
    }
}

/// The values a dtype can hold, as `[lo, hi)`; `None` for floats (any range fits).
fn dtype_bounds(dtype: DType) -> Option<(i128, i128)> {
    match dtype {
        DType::I64 => Some((i128::from(i64::MIN), i128::from(i64::MAX) + 1)),
        DType::I32 => Some((i128::from(i32::MIN), i128::from(i32::MAX) + 1)),
        DType::I8 => Some((i128::from(i8::MIN), i128::from(i8::MAX) + 1)),
        DType::U8 => Some((0, 256)),
        DType::Bool => Some((0, 2)),
        _ => None,
    }
}

/// Whether synthetic values of `dtype` follow a [`ValueRange`] (integers and booleans do;
/// floats do only for a mask, which is ones).
#[must_use]
pub fn is_integer_like(dtype: DType) -> bool {
    dtype_bounds(dtype).is_some()
}

/// The range each input's synthetic values are drawn from, in the order of `specs` (whose dtypes
/// are the ones the inputs will have, `--shape NAME=…:DTYPE` applied): `None` for float inputs
/// without a rule. `graph` holds the ranges the model proves, by input name; `overrides` the
/// `--int-range` options.
///
/// # Errors
/// [`Error::InvalidInput`] for an `--int-range` naming no input, naming a float input, given
/// twice, or outside what the input's dtype holds.
pub fn int_ranges(
    graph: Option<&BTreeMap<String, IntRange>>,
    specs: &[TensorSpec],
    overrides: &[IntRangeArg],
) -> Result<Vec<Option<ValueRange>>> {
    for (i, o) in overrides.iter().enumerate() {
        let spec = specs.iter().find(|s| s.name == o.input).ok_or_else(|| {
            let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            Error::InvalidInput(format!(
                "--int-range {o}: the model has no input `{}`: its inputs are {}",
                o.input,
                names.join(", ")
            ))
        })?;
        if overrides[..i].iter().any(|p| p.input == o.input) {
            return Err(Error::InvalidInput(format!("--int-range is given twice for `{}`", o.input)));
        }
        let Some((min, end)) = dtype_bounds(spec.dtype) else {
            return Err(Error::InvalidInput(format!(
                "--int-range {o}: input `{}` is {}; --int-range applies to integer and bool inputs",
                o.input, spec.dtype
            )));
        };
        if i128::from(o.lo) < min || i128::from(o.hi) > end {
            return Err(Error::InvalidInput(format!(
                "--int-range {o}: input `{}` is {}, which holds values from {min} up to {end} (excluded)",
                o.input, spec.dtype
            )));
        }
    }
    Ok(specs.iter().map(|spec| range_of(graph, spec, overrides)).collect())
}

fn range_of(
    graph: Option<&BTreeMap<String, IntRange>>,
    spec: &TensorSpec,
    overrides: &[IntRangeArg],
) -> Option<ValueRange> {
    if let Some(o) = overrides.iter().find(|o| o.input == spec.name) {
        return Some(ValueRange { lo: o.lo, hi: o.hi, found: Found::Option, evidence: format!("--int-range {o}") });
    }
    let Some((min, end)) = dtype_bounds(spec.dtype) else {
        // A float mask is ones too; other float inputs are normal-distributed.
        return by_name(&spec.name).filter(|&(v, _)| v == 1).map(|(v, why)| ValueRange {
            lo: v,
            hi: v + 1,
            found: Found::Name,
            evidence: why.into(),
        });
    };
    // Inside what the dtype holds: a table of 300 rows read through a u8 input is [0, 256).
    let clamp = |v: i64| i64::try_from(i128::from(v).clamp(min, end - 1)).unwrap_or(v);
    if let Some(r) = graph.and_then(|g| g.get(&spec.name)).filter(|r| r.lo < r.hi) {
        let (lo, hi) = (clamp(r.lo), clamp(r.hi - 1) + 1);
        return Some(ValueRange { lo, hi, found: Found::Graph, evidence: r.evidence.clone() });
    }
    if let Some((v, why)) = by_name(&spec.name) {
        return Some(ValueRange { lo: v, hi: v + 1, found: Found::Name, evidence: why.into() });
    }
    let hi = clamp(DEFAULT_HI - 1) + 1;
    Some(ValueRange {
        lo: 0,
        hi,
        found: Found::Default,
        evidence: "no graph evidence and no name rule: small non-negative integers".into(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use infer_core::Dim;

    use super::*;

    fn spec(name: &str, dtype: DType) -> TensorSpec {
        TensorSpec::new(name, dtype, vec![Dim::Dynamic(Some("batch".into())), Dim::Dynamic(Some("sequence".into()))])
    }

    fn arg(input: &str, lo: i64, hi: i64) -> IntRangeArg {
        IntRangeArg { input: input.into(), lo, hi }
    }

    #[test]
    fn graph_wins_over_names_and_options_over_all() {
        let specs = [
            spec("input_ids", DType::I64),
            spec("attention_mask", DType::I64),
            spec("token_type_ids", DType::I64),
            spec("position_ids", DType::I32),
            spec("pixel_values", DType::F32),
        ];
        let mut graph = BTreeMap::new();
        graph.insert(
            "input_ids".to_string(),
            IntRange { lo: 0, hi: 30522, evidence: "Gather on word (30522 rows)".into() },
        );
        graph.insert(
            "token_type_ids".to_string(),
            IntRange { lo: 0, hi: 2, evidence: "Gather on types (2 rows)".into() },
        );
        let r = int_ranges(Some(&graph), &specs, &[]).unwrap();
        let got: Vec<_> = r.iter().map(|r| r.as_ref().map(|r| (r.lo, r.hi, r.found))).collect();
        assert_eq!(
            got,
            [
                Some((0, 30522, Found::Graph)),
                Some((1, 2, Found::Name)),
                // The graph proves [0, 2): it wins over the name's zeros.
                Some((0, 2, Found::Graph)),
                Some((0, DEFAULT_HI, Found::Default)),
                None,
            ]
        );
        assert_eq!(r[0].as_ref().unwrap().to_string(), "[0, 30522) from the graph: Gather on word (30522 rows)");

        let r = int_ranges(None, &specs, &[arg("input_ids", 5, 7)]).unwrap();
        assert_eq!(r[0].as_ref().map(|r| (r.lo, r.hi, r.found)), Some((5, 7, Found::Option)));
        assert_eq!(r[0].as_ref().unwrap().to_string(), "[5, 7) from --int-range input_ids=5:7");
        assert_eq!(r[2].as_ref().map(|r| (r.lo, r.hi, r.found)), Some((0, 1, Found::Name)));
    }

    #[test]
    fn float_masks_are_ones_and_dtypes_bound_the_range() {
        let specs = [spec("mask", DType::F32), spec("ids", DType::U8), spec("flag", DType::Bool)];
        let mut graph = BTreeMap::new();
        graph.insert("ids".to_string(), IntRange { lo: 0, hi: 300, evidence: "table of 300 rows".into() });
        let r = int_ranges(Some(&graph), &specs, &[]).unwrap();
        assert_eq!(r[0].as_ref().map(|r| (r.lo, r.hi)), Some((1, 2)));
        assert_eq!(r[1].as_ref().map(|r| (r.lo, r.hi)), Some((0, 256)), "a u8 holds at most 255");
        assert_eq!(r[2].as_ref().map(|r| (r.lo, r.hi)), Some((0, 2)), "booleans: both values");
    }

    #[test]
    fn bad_overrides_are_named() {
        let specs = [spec("ids", DType::I8), spec("x", DType::F32)];
        let err = |o: &[IntRangeArg]| int_ranges(None, &specs, o).unwrap_err().to_string();
        assert!(err(&[arg("nope", 0, 1)]).contains("no input `nope`: its inputs are ids, x"));
        assert!(err(&[arg("x", 0, 1)]).contains("input `x` is f32"));
        assert!(err(&[arg("ids", 0, 1000)]).contains("input `ids` is i8, which holds values from -128 up to 128"));
        assert!(err(&[arg("ids", 0, 1), arg("ids", 0, 2)]).contains("given twice"));
    }
}
