//! A TorchScript module's inputs and outputs, from what the module itself says (`forward`'s
//! schema and graph, read by the C++ shim `cpp/script.cpp`) and its sidecar.
//!
//! A saved TorchScript module records argument names and types (`Tensor`, `List[str]`, ...) but
//! no dtypes or shapes. Each tensor argument of `forward` becomes an input named after it; its
//! dtype and shape come from the sidecar when there is one ([`crate::read_sidecar`]), else from
//! what the graph proves (an argument that reaches `aten::embedding` as its indices is an
//! integer, `i64`), else they are unknown and any tensor is accepted. [`Description`] says which
//! source described each input. A tuple result becomes one output per tensor (`output_0`, …,
//! unless the sidecar names them). An argument that is not a tensor, or a module without
//! `forward`, is refused with a one-line error naming the argument and its type.
//!
//! Always compiled (no libtorch): the shim's JSON is parsed and interpreted here.

use std::path::Path;

use infer_core::{DType, Error, ParameterCount, Result, TensorSpec};
use serde::{Deserialize, Serialize};

use crate::Sidecar;

/// An embedding table that an input of a TorchScript module indexes: the input reaches
/// `aten::embedding(table, indices)` as its indices, directly or through ops that keep its values
/// (`aten::to`, `aten::view`, `aten::unsqueeze`, ...). Its values must stay in `[0, rows)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddingTable {
    /// The input (`forward`'s argument, or the sidecar's name for it).
    pub input: String,
    /// The table: its attribute path from the module (`embeddings.word_embeddings.weight`), or
    /// `a constant` for a frozen module's folded weight.
    pub table: String,
    /// Rows of the table (`weight.size(0)`).
    pub rows: u64,
    /// Whether the table is a parameter (rather than a buffer or a constant).
    pub parameter: bool,
    /// The ops between the input and the lookup, in order from the lookup back to the input.
    pub through: Vec<String>,
}

impl EmbeddingTable {
    /// What proves the range, in words: ``aten::embedding on parameter `word_embeddings.weight` (50 rows)``.
    #[must_use]
    pub fn evidence(&self) -> String {
        let kind = if self.table == "a constant" {
            String::new()
        } else if self.parameter {
            "parameter ".into()
        } else {
            "buffer ".into()
        };
        let through =
            if self.through.is_empty() { String::new() } else { format!(", through {}", self.through.join(", ")) };
        let table = if self.table == "a constant" { self.table.clone() } else { format!("`{}`", self.table) };
        format!("aten::embedding on {kind}{table} ({} rows){through}", self.rows)
    }
}

/// The range each input must stay in from the tables it indexes: `[0, rows)` of the smallest
/// table where it indexes several (every lookup must stay inside its table).
#[must_use]
pub(crate) fn ranges_of(tables: &[EmbeddingTable]) -> std::collections::BTreeMap<String, infer_core::IntRange> {
    let mut ranges = std::collections::BTreeMap::new();
    for t in tables {
        let hi = i64::try_from(t.rows).unwrap_or(i64::MAX).max(1);
        let range = infer_core::IntRange { lo: 0, hi, evidence: t.evidence() };
        ranges
            .entry(t.input.clone())
            .and_modify(|r: &mut infer_core::IntRange| {
                if hi < r.hi {
                    *r = range.clone();
                }
            })
            .or_insert(range);
    }
    ranges
}

/// What the shim reads from a module (`infer_torch_script_describe`'s JSON).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RawModule {
    /// Every method of the module.
    pub methods: Vec<String>,
    /// Parameters, counted over every submodule.
    pub parameters: RawParameters,
    /// `forward`, when the module has one.
    pub forward: Option<RawForward>,
}

/// Parameter count and bytes.
#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct RawParameters {
    pub count: u64,
    pub bytes: u64,
}

/// `forward`'s schema and the embedding lookups of its graph.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RawForward {
    /// The arguments after `self`.
    pub arguments: Vec<RawArgument>,
    /// The return type (`Tuple[Tensor, Tensor]`).
    pub returns: String,
    /// The return type's leaves: a tuple's elements, flattened; the type itself otherwise.
    pub return_leaves: Vec<String>,
    /// Each `aten::embedding` whose indices come from an argument and whose table is known.
    pub embeddings: Vec<RawEmbedding>,
}

/// One argument of `forward`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RawArgument {
    pub name: String,
    /// Its type as Python writes it (`Tensor`, `List[str]`, `Optional[Tensor]`).
    #[serde(rename = "type")]
    pub ty: String,
    pub kind: ArgumentKind,
    /// Whether the argument has a default value (and can be left out).
    pub has_default: bool,
}

/// Whether an argument takes a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ArgumentKind {
    Tensor,
    OptionalTensor,
    Other,
}

/// One `aten::embedding` of the graph, by argument.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RawEmbedding {
    pub argument: String,
    pub table: String,
    pub rows: u64,
    pub parameter: bool,
    pub through: Vec<String>,
}

/// A module's inputs and outputs, how far each is known, and where each description came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Description {
    /// One per tensor argument fed (an argument with a default that the sidecar leaves out is
    /// left at its default).
    pub inputs: Vec<TensorSpec>,
    /// Whether the inputs' dtypes and shapes are known and checked before a run (from a sidecar).
    pub checked: bool,
    /// How many leading inputs must be given: the others have defaults in `forward`.
    pub required: usize,
    /// Where each input's description came from, in words.
    pub input_sources: Vec<String>,
    /// One per tensor of the result, when the schema tells how many (a tuple); empty when it
    /// does not (a `List[Tensor]`) and there is no sidecar.
    pub outputs: Vec<TensorSpec>,
    /// Where each output's description came from, in words.
    pub output_sources: Vec<String>,
    /// The embedding tables each input indexes.
    pub tables: Vec<EmbeddingTable>,
    /// The module's parameters.
    pub parameters: ParameterCount,
}

/// Parses the shim's JSON.
pub(crate) fn parse(model: &Path, json: &str) -> Result<RawModule> {
    serde_json::from_str(json)
        .map_err(|e| Error::load(model, format!("internal: the C++ shim's description of the module is invalid: {e}")))
}

/// Whether a return leaf is one tensor (`Some(true)`), a list or string-keyed dict of tensors
/// (`Some(false)`: how many is known at run time), or no tensor at all (`None`).
fn tensor_leaf(ty: &str) -> Option<bool> {
    match ty {
        "Tensor" | "Optional[Tensor]" => Some(true),
        "List[Tensor]" | "List[Optional[Tensor]]" | "Dict[str, Tensor]" => Some(false),
        _ => None,
    }
}

/// Interprets what the shim read from `model`, with its sidecar (path and contents) if any.
///
/// # Errors
/// [`Error::Load`] naming `model`: no `forward`; an argument that is not a tensor (naming it and
/// its type); a result that is not made of tensors. [`Error::File`] naming the sidecar when its
/// inputs or outputs do not fit `forward`.
pub(crate) fn describe(model: &Path, raw: &RawModule, sidecar: Option<(&Path, &Sidecar)>) -> Result<Description> {
    let Some(forward) = &raw.forward else {
        let methods = if raw.methods.is_empty() {
            "it has no methods".to_string()
        } else {
            format!("its methods: {}", raw.methods.join(", "))
        };
        return Err(Error::load(model, format!("the TorchScript module has no `forward` method ({methods})")));
    };
    // The tensor arguments fed, in order: up to the first argument that is not a tensor, which
    // (with every argument after it) must have a default to be left out.
    let mut tensors: Vec<&RawArgument> = Vec::new();
    for (i, arg) in forward.arguments.iter().enumerate() {
        if arg.kind != ArgumentKind::Other {
            tensors.push(arg);
            continue;
        }
        if let Some(required) = forward.arguments[i..].iter().find(|a| !a.has_default) {
            let culprit = if required.kind == ArgumentKind::Other { required } else { arg };
            return Err(Error::load(
                model,
                format!(
                    "forward's argument `{}` is a `{}`, not a tensor: infer feeds tensors only",
                    culprit.name, culprit.ty
                ),
            ));
        }
        break;
    }
    let required = tensors.iter().filter(|a| !a.has_default).count();
    let tables_of =
        |arg: &str| -> Vec<&RawEmbedding> { forward.embeddings.iter().filter(|e| e.argument == arg).collect() };

    let (inputs, checked, input_sources): (Vec<TensorSpec>, bool, Vec<String>) = match sidecar {
        Some((path, s)) => {
            if s.inputs.len() > tensors.len() || s.inputs.len() < required {
                let names: Vec<&str> = tensors.iter().map(|a| a.name.as_str()).collect();
                return Err(Error::file(
                    path,
                    format!(
                        "lists {} input(s) but forward takes {} tensor argument(s) ({}), {required} of them required",
                        s.inputs.len(),
                        tensors.len(),
                        names.join(", ")
                    ),
                ));
            }
            let file = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into());
            let n = s.inputs.len();
            (s.inputs.clone(), true, vec![format!("sidecar {file}"); n])
        }
        None => {
            let mut specs = Vec::new();
            let mut sources = Vec::new();
            for arg in &tensors {
                let tables = tables_of(&arg.name);
                if let Some(first) = tables.first() {
                    specs.push(TensorSpec { name: arg.name.clone(), dtype: DType::I64, dims: None });
                    let more = if tables.len() > 1 { format!(" and {} more", tables.len() - 1) } else { String::new() };
                    sources.push(format!(
                        "i64 from the graph: indices of {}{more}; shape unknown",
                        raw_table(&arg.name, first).evidence()
                    ));
                } else {
                    specs.push(TensorSpec { name: arg.name.clone(), dtype: DType::F32, dims: None });
                    sources.push(format!(
                            "unknown: forward's schema says only `{}`; any dtype and shape accepted, give them with a sidecar or --shape",
                            arg.ty
                        ));
                }
                if arg.has_default
                    && let Some(source) = sources.last_mut()
                {
                    source.push_str("; may be left out for forward's default");
                }
            }
            (specs, false, sources)
        }
    };

    // Outputs: one per tensor leaf of the result; a list makes the count unknown.
    let mut count = Some(0usize);
    for leaf in &forward.return_leaves {
        match tensor_leaf(leaf) {
            Some(true) => count = count.map(|c| c + 1),
            Some(false) => count = None,
            None => {
                let what = if forward.return_leaves.len() > 1 {
                    format!("`{}` (in `{}`)", leaf, forward.returns)
                } else {
                    format!("`{leaf}`")
                };
                return Err(Error::load(
                    model,
                    format!(
                        "forward returns {what}, not tensors: infer reads a tensor, or tuples, lists and string-keyed dicts of tensors"
                    ),
                ));
            }
        }
    }
    let (outputs, output_sources) = match sidecar {
        Some((path, s)) if !s.outputs.is_empty() => {
            if let Some(n) = count.filter(|&n| n != s.outputs.len()) {
                return Err(Error::file(
                    path,
                    format!(
                        "lists {} output(s) but forward returns {n} tensor(s) (`{}`)",
                        s.outputs.len(),
                        forward.returns
                    ),
                ));
            }
            let file = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into());
            (s.outputs.clone(), vec![format!("sidecar {file}"); s.outputs.len()])
        }
        _ => {
            let n = count.unwrap_or(0);
            let outputs = (0..n).map(|i| TensorSpec { name: format!("output_{i}"), dtype: DType::F32, dims: None });
            let source = format!("unknown until run: forward returns `{}`", forward.returns);
            // How many (a list, a dict) is known once it has run: the one source says so.
            (outputs.collect(), vec![source; n.max(1)])
        }
    };

    // By input name: the sidecar's names where it gives them.
    let tables = tensors
        .iter()
        .zip(&inputs)
        .flat_map(|(arg, input)| tables_of(&arg.name).into_iter().map(|e| raw_table(&input.name, e)))
        .collect();
    Ok(Description {
        required: required.min(inputs.len()),
        inputs,
        checked,
        input_sources,
        outputs,
        output_sources,
        tables,
        parameters: ParameterCount { count: raw.parameters.count, bytes: raw.parameters.bytes },
    })
}

fn raw_table(input: &str, e: &RawEmbedding) -> EmbeddingTable {
    EmbeddingTable {
        input: input.to_string(),
        table: e.table.clone(),
        rows: e.rows,
        parameter: e.parameter,
        through: e.through.clone(),
    }
}

/// The line of a libtorch message that says what went wrong. An error inside the TorchScript
/// interpreter comes as "The following operation failed in the TorchScript interpreter." and a
/// TorchScript traceback, the cause last (`RuntimeError: mat1 and mat2 shapes cannot be
/// multiplied (2x3 and 4x3)`): the cause is kept, without `RuntimeError: `. Other messages lose
/// libtorch's own report lines (`Exception raised from …`, a `Traceback`, `The above operation
/// failed …`, `C++ exception with description …`) and are reduced by
/// [`infer_core::error::first_line`].
#[must_use]
pub(crate) fn native_message(message: &str) -> String {
    if message.contains("failed in the TorchScript interpreter") {
        let cause = message.lines().rev().map(str::trim).find(|l| {
            l.split_once(": ").is_some_and(|(class, _)| {
                !class.is_empty() && !class.contains(' ') && (class.ends_with("Error") || class.ends_with("Exception"))
            })
        });
        if let Some(line) = cause {
            let line = line.strip_prefix("RuntimeError: ").unwrap_or(line);
            return infer_core::error::first_line(line);
        }
    }
    const REPORT_LINES: [&str; 4] =
        ["Exception raised from", "Traceback", "The above operation failed", "C++ exception with description"];
    let kept: Vec<&str> =
        message.lines().filter(|l| !REPORT_LINES.iter().any(|p| l.trim_start().starts_with(p))).collect();
    infer_core::error::first_line(&kept.join("\n"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::path::PathBuf;

    use infer_core::Dim;

    use super::*;

    fn arg(name: &str, ty: &str, kind: ArgumentKind, has_default: bool) -> RawArgument {
        RawArgument { name: name.into(), ty: ty.into(), kind, has_default }
    }

    fn module(arguments: Vec<RawArgument>, returns: &str, leaves: &[&str], embeddings: Vec<RawEmbedding>) -> RawModule {
        RawModule {
            methods: vec!["forward".into()],
            parameters: RawParameters { count: 12, bytes: 48 },
            forward: Some(RawForward {
                arguments,
                returns: returns.into(),
                return_leaves: leaves.iter().map(|s| (*s).to_string()).collect(),
                embeddings,
            }),
        }
    }

    fn two_args() -> RawModule {
        module(
            vec![arg("x", "Tensor", ArgumentKind::Tensor, false), arg("y", "Tensor", ArgumentKind::Tensor, false)],
            "Tuple[Tensor, Tensor]",
            &["Tensor", "Tensor"],
            Vec::new(),
        )
    }

    #[test]
    fn tensor_arguments_become_inputs_and_a_tuple_several_outputs() {
        let d = describe(Path::new("m.pt"), &two_args(), None).unwrap();
        let names: Vec<&str> = d.inputs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["x", "y"]);
        assert!(d.inputs.iter().all(|s| s.dims.is_none()));
        assert!(!d.checked);
        assert!(
            d.input_sources[0].starts_with("unknown: forward's schema says only `Tensor`"),
            "{:?}",
            d.input_sources
        );
        let outputs: Vec<&str> = d.outputs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(outputs, ["output_0", "output_1"]);
        assert_eq!(d.parameters, ParameterCount { count: 12, bytes: 48 });
    }

    #[test]
    fn embedding_indices_are_i64_with_their_table() {
        let raw = module(
            vec![arg("ids", "Tensor", ArgumentKind::Tensor, false), arg("mask", "Tensor", ArgumentKind::Tensor, false)],
            "Tensor",
            &["Tensor"],
            vec![RawEmbedding {
                argument: "ids".into(),
                table: "emb.weight".into(),
                rows: 50,
                parameter: true,
                through: vec!["aten::to".into()],
            }],
        );
        let d = describe(Path::new("m.pt"), &raw, None).unwrap();
        assert_eq!((d.inputs[0].dtype, d.inputs[1].dtype), (DType::I64, DType::F32));
        assert_eq!(
            d.input_sources[0],
            "i64 from the graph: indices of aten::embedding on parameter `emb.weight` (50 rows), through aten::to; shape unknown"
        );
        assert_eq!(d.tables.len(), 1);
        assert_eq!((d.tables[0].input.as_str(), d.tables[0].rows), ("ids", 50));
        assert_eq!(d.outputs.len(), 1);
    }

    #[test]
    fn the_sidecar_names_and_describes_and_must_fit() {
        let s = Sidecar {
            inputs: vec![
                TensorSpec::new("a", DType::F32, vec![Dim::Dynamic(None), Dim::Fixed(4)]),
                TensorSpec::new("b", DType::F32, vec![Dim::Dynamic(None), Dim::Fixed(3)]),
            ],
            outputs: vec![
                TensorSpec::new("sum", DType::F32, vec![Dim::Dynamic(None), Dim::Fixed(3)]),
                TensorSpec::new("norm", DType::F32, vec![Dim::Dynamic(None)]),
            ],
        };
        let path = PathBuf::from("dir/m.json");
        let d = describe(Path::new("m.pt"), &two_args(), Some((&path, &s))).unwrap();
        assert_eq!(d.inputs, s.inputs);
        assert_eq!(d.outputs, s.outputs);
        assert!(d.checked);
        assert_eq!(d.input_sources, ["sidecar m.json", "sidecar m.json"]);
        let mut one = s.clone();
        one.inputs.pop();
        let err = describe(Path::new("m.pt"), &two_args(), Some((&path, &one))).unwrap_err().to_string();
        assert!(err.contains("m.json") && err.contains("lists 1 input(s) but forward takes 2"), "{err}");
        let mut three = s.clone();
        three.outputs.pop();
        let err = describe(Path::new("m.pt"), &two_args(), Some((&path, &three))).unwrap_err().to_string();
        assert!(err.contains("lists 1 output(s) but forward returns 2 tensor(s)"), "{err}");
    }

    #[test]
    fn arguments_that_are_not_tensors_are_named_with_their_type() {
        let raw = module(vec![arg("words", "List[str]", ArgumentKind::Other, false)], "Tensor", &["Tensor"], vec![]);
        let err = describe(Path::new("m.pt"), &raw, None).unwrap_err().to_string();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("m.pt") && err.contains("`words` is a `List[str]`, not a tensor"), "{err}");
        // A trailing argument with a default is left at it; one without is refused.
        let raw = module(
            vec![arg("x", "Tensor", ArgumentKind::Tensor, false), arg("scale", "float", ArgumentKind::Other, true)],
            "Tensor",
            &["Tensor"],
            vec![],
        );
        assert_eq!(describe(Path::new("m.pt"), &raw, None).unwrap().inputs.len(), 1);
        let raw = module(
            vec![
                arg("x", "Tensor", ArgumentKind::Tensor, false),
                arg("scale", "float", ArgumentKind::Other, true),
                arg("cfg", "Dict[str, int]", ArgumentKind::Other, false),
            ],
            "Tensor",
            &["Tensor"],
            vec![],
        );
        let err = describe(Path::new("m.pt"), &raw, None).unwrap_err().to_string();
        assert!(err.contains("`cfg` is a `Dict[str, int]`"), "{err}");
    }

    #[test]
    fn results_must_be_tensors_and_forward_must_exist() {
        let raw = module(vec![], "Tuple[Tensor, int]", &["Tensor", "int"], vec![]);
        let err = describe(Path::new("m.pt"), &raw, None).unwrap_err().to_string();
        assert!(err.contains("forward returns `int` (in `Tuple[Tensor, int]`), not tensors"), "{err}");
        let raw = module(vec![], "List[Tensor]", &["List[Tensor]"], vec![]);
        assert!(describe(Path::new("m.pt"), &raw, None).unwrap().outputs.is_empty());
        let mut raw = two_args();
        raw.forward = None;
        raw.methods = vec!["encode".into()];
        let err = describe(Path::new("m.pt"), &raw, None).unwrap_err().to_string();
        assert!(err.contains("has no `forward` method (its methods: encode)"), "{err}");
    }

    #[test]
    fn interpreter_errors_keep_their_cause() {
        let msg = "The following operation failed in the TorchScript interpreter.\nTraceback of TorchScript (most \
                   recent call last):\n  File \"code/__torch__.py\", line 11, in forward\n    _0 = torch.add(torch.matmul(x, \
                   weight), y)\n                   ~~~~~~~~~~~~ <--- HERE\nRuntimeError: mat1 and mat2 shapes cannot be \
                   multiplied (2x3 and 4x3)\n";
        assert_eq!(native_message(msg), "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x3)");
        assert_eq!(native_message("plain message\nException raised from f at x.cpp:1"), "plain message");
    }
}
