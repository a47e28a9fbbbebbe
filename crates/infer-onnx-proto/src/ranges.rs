//! Which values an integer input may take, proven by the graph: an input that reaches an embedding
//! lookup — a `Gather` whose data is a weight table — must stay inside `[0, rows)`, or ONNX Runtime
//! aborts the run ("indices element out of data bounds").
//!
//! From each integer graph input, the values are followed through operators that move or retype
//! elements without changing them (on their data input only): `Cast` (to an integer type, `float`
//! or `double`), `Unsqueeze`, `Squeeze`, `Reshape`, `Flatten`, `Identity`, `Expand`, `Transpose`,
//! `Slice`, `Tile`. Reaching the indices of a `Gather` whose data is an initializer or a
//! `Constant` node's tensor (itself possibly behind `Identity` or `Cast`) bounds the input by that
//! table's size along the gathered axis; when several tables are reached, the smallest wins. Any
//! other operator ends the path: it proves nothing about the input's values.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use crate::proto::{GraphProto, ModelProto, NodeProto, TensorProto, data_type};

pub use infer_core::IntRange;

/// Operators whose output holds only elements of their first input, unchanged.
const VALUE_PRESERVING: [&str; 10] =
    ["Cast", "Unsqueeze", "Squeeze", "Reshape", "Flatten", "Identity", "Expand", "Transpose", "Slice", "Tile"];

/// How many `Identity` / `Cast` nodes are looked through between a `Gather` and its table.
const MAX_TABLE_HOPS: usize = 16;

/// For each integer input of the model's main graph that reaches an embedding lookup, the range
/// its values must stay in. Inputs that reach none are left out, as are inputs that only repeat an
/// initializer (a default value, before IR 4).
#[must_use]
pub fn integer_input_ranges_of(model: &ModelProto) -> BTreeMap<String, IntRange> {
    let Some(graph) = &model.graph else { return BTreeMap::new() };
    let index = GraphIndex::new(graph);
    graph
        .input
        .iter()
        .filter(|input| input.elem_type().is_some_and(data_type::is_integer))
        .filter(|input| !index.initializers.contains_key(input.name.as_str()))
        .filter_map(|input| Some((input.name.clone(), index.range_of(&input.name)?)))
        .collect()
}

/// Lookups over one graph.
struct GraphIndex<'g> {
    nodes: &'g [NodeProto],
    initializers: HashMap<&'g str, &'g TensorProto>,
    /// The node that produces each value.
    producer: HashMap<&'g str, usize>,
    /// The `(node, input slot)` pairs that read each value.
    consumers: HashMap<&'g str, Vec<(usize, usize)>>,
}

/// A weight table found behind a `Gather`'s data input.
struct Table<'g> {
    /// `initializer` or `constant`.
    kind: &'static str,
    name: &'g str,
    dims: &'g [i64],
}

fn in_default_domain(node: &NodeProto) -> bool {
    node.domain.is_empty() || node.domain == "ai.onnx"
}

impl<'g> GraphIndex<'g> {
    fn new(graph: &'g GraphProto) -> Self {
        let initializers = graph.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
        let mut producer = HashMap::new();
        let mut consumers: HashMap<&str, Vec<(usize, usize)>> = HashMap::new();
        for (n, node) in graph.node.iter().enumerate() {
            for (slot, input) in node.input.iter().enumerate().filter(|(_, i)| !i.is_empty()) {
                consumers.entry(input.as_str()).or_default().push((n, slot));
            }
            for output in node.output.iter().filter(|o| !o.is_empty()) {
                producer.entry(output.as_str()).or_insert(n);
            }
        }
        Self { nodes: &graph.node, initializers, producer, consumers }
    }

    /// The table a `Gather` reads: an initializer or a `Constant` node's value, possibly behind
    /// `Identity` or `Cast` nodes (which keep its shape).
    fn table(&self, value: &'g str) -> Option<Table<'g>> {
        let mut value = value;
        // Real exports put at most a few such nodes before a weight; the bound also ends a
        // cyclic (invalid) graph and keeps hostile chains from costing a walk per Gather.
        for _ in 0..MAX_TABLE_HOPS {
            if let Some(t) = self.initializers.get(value) {
                return Some(Table { kind: "initializer", name: value, dims: &t.dims });
            }
            let node = &self.nodes[*self.producer.get(value)?];
            if !in_default_domain(node) {
                return None;
            }
            match node.op_type.as_str() {
                "Constant" => {
                    let t = node.attribute("value")?.t.as_ref()?;
                    return Some(Table { kind: "constant", name: value, dims: &t.dims });
                }
                "Identity" | "Cast" => value = node.input.first()?,
                _ => return None,
            }
        }
        None
    }

    /// Whether a node passes its first input's values through unchanged.
    fn preserves_values(node: &NodeProto) -> bool {
        if !in_default_domain(node) || !VALUE_PRESERVING.contains(&node.op_type.as_str()) {
            return false;
        }
        if node.op_type == "Cast" {
            let to = node.attribute("to").map_or(0, |a| i32::try_from(a.i).unwrap_or(0));
            return data_type::is_integer(to) || to == data_type::FLOAT || to == 11; // 11: double
        }
        true
    }

    /// The smallest table reached from `input`, as a range with its evidence.
    fn range_of(&self, input: &'g str) -> Option<IntRange> {
        // Breadth first over values; `via` remembers how each value was reached, for the evidence.
        let mut via: HashMap<&str, (&str, &str)> = HashMap::new();
        let mut seen = HashSet::from([input]);
        let mut queue = VecDeque::from([input]);
        let mut best: Option<(i64, String, &str)> = None;
        while let Some(value) = queue.pop_front() {
            for &(n, slot) in self.consumers.get(value).into_iter().flatten() {
                let node = &self.nodes[n];
                if slot == 1 && node.op_type == "Gather" && in_default_domain(node) {
                    let Some(rows) = node.input.first().and_then(|data| self.table(data)).and_then(|t| {
                        let axis = node.attribute("axis").map_or(0, |a| a.i);
                        let rank = i64::try_from(t.dims.len()).ok()?;
                        let axis = usize::try_from(if axis < 0 { axis + rank } else { axis }).ok()?;
                        let rows = *t.dims.get(axis)?;
                        let on_axis = if axis == 0 { String::new() } else { format!(" on axis {axis}") };
                        (rows > 0).then(|| (rows, format!("Gather on {} `{}` ({rows} rows{on_axis})", t.kind, t.name)))
                    }) else {
                        continue;
                    };
                    if best.as_ref().is_none_or(|(r, ..)| rows.0 < *r) {
                        best = Some((rows.0, rows.1, value));
                    }
                } else if slot == 0 && Self::preserves_values(node) {
                    for output in node.output.iter().take(1).filter(|o| !o.is_empty()) {
                        if seen.insert(output.as_str()) {
                            via.insert(output, (value, node.op_type.as_str()));
                            queue.push_back(output);
                        }
                    }
                }
            }
        }
        let (rows, mut evidence, mut value) = best?;
        let mut path = Vec::new();
        while let Some((from, op)) = via.get(value) {
            path.push(*op);
            value = from;
        }
        if !path.is_empty() {
            path.reverse();
            evidence = format!("{evidence}, through {}", path.join(" → "));
        }
        Some(IntRange { lo: 0, hi: rows, evidence })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use prost::Message;

    use super::*;
    use crate::proto::{
        AttributeProto, Dimension, DimensionValue, TensorShapeProto, TypeProto, TypeTensor, TypeValue, ValueInfoProto,
    };

    fn input(name: &str, elem_type: i32) -> ValueInfoProto {
        let dim = |v| Dimension { value: Some(v) };
        let shape = TensorShapeProto {
            dim: vec![dim(DimensionValue::DimParam("batch".into())), dim(DimensionValue::DimParam("sequence".into()))],
        };
        let tensor = TypeTensor { elem_type, shape: Some(shape) };
        ValueInfoProto { name: name.into(), r#type: Some(TypeProto { value: Some(TypeValue::TensorType(tensor)) }) }
    }

    fn node(op: &str, inputs: &[&str], output: &str, attributes: Vec<AttributeProto>) -> NodeProto {
        NodeProto {
            op_type: op.into(),
            name: format!("{op}_{output}"),
            input: inputs.iter().map(|s| (*s).to_string()).collect(),
            output: vec![output.into()],
            attribute: attributes,
            ..Default::default()
        }
    }

    fn int_attr(name: &str, i: i64) -> AttributeProto {
        AttributeProto { name: name.into(), i, r#type: 2, ..Default::default() }
    }

    fn table(name: &str, rows: i64, cols: i64) -> TensorProto {
        TensorProto { name: name.into(), dims: vec![rows, cols], data_type: data_type::FLOAT, ..Default::default() }
    }

    /// A small encoder's front: `ids` → Cast → Gather on a 7-row table (and, straight, on a 12-row
    /// one); `pos` → Unsqueeze → Reshape → Gather on a 5-row table; `mask` → Cast(float) → Mul,
    /// reaching no Gather; `seg` used as a Gather's *data*; `types` → Gather on a `Constant`
    /// behind an Identity; a float input; an input that repeats an initializer.
    fn encoder() -> ModelProto {
        let cast_to = |t: i32| vec![int_attr("to", t.into())];
        let constant = NodeProto {
            attribute: vec![AttributeProto {
                name: "value".into(),
                t: Some(table("", 2, 4)),
                r#type: 4,
                ..Default::default()
            }],
            ..node("Constant", &[], "type_table", vec![])
        };
        let nodes = vec![
            node("Cast", &["ids"], "ids32", cast_to(data_type::INT32)),
            node("Gather", &["word", "ids32"], "e_word", vec![]),
            node("Gather", &["big", "ids"], "e_big", vec![]),
            node("Unsqueeze", &["pos", "axes"], "pos_u", vec![]),
            node("Reshape", &["pos_u", "shape"], "pos_r", vec![]),
            node("Gather", &["position", "pos_r"], "e_pos", vec![int_attr("axis", 0)]),
            node("Cast", &["mask"], "mask_f", cast_to(data_type::FLOAT)),
            node("Mul", &["mask_f", "e_word"], "masked", vec![]),
            node("Gather", &["seg", "idx"], "picked", vec![]),
            constant,
            node("Identity", &["type_table"], "type_table_id", vec![]),
            node("Gather", &["type_table_id", "types"], "e_types", vec![]),
            // A cycle (invalid ONNX, hostile input): must not loop forever.
            node("Identity", &["loop_b"], "loop_a", vec![]),
            node("Identity", &["loop_a"], "loop_b", vec![]),
            node("Gather", &["loop_a", "ids"], "e_loop", vec![]),
        ];
        let graph = GraphProto {
            node: nodes,
            initializer: vec![
                table("word", 7, 4),
                table("big", 12, 4),
                table("position", 5, 4),
                TensorProto { name: "axes".into(), dims: vec![1], data_type: data_type::INT64, ..Default::default() },
                TensorProto { name: "shape".into(), dims: vec![2], data_type: data_type::INT64, ..Default::default() },
                TensorProto { name: "idx".into(), dims: vec![], data_type: data_type::INT64, ..Default::default() },
                TensorProto { name: "dflt".into(), dims: vec![2], data_type: data_type::INT64, ..Default::default() },
                TensorProto { name: "dflt_t".into(), dims: vec![3, 2], ..Default::default() },
            ],
            input: vec![
                input("ids", data_type::INT64),
                input("pos", data_type::INT64),
                input("mask", data_type::INT64),
                input("seg", data_type::INT32),
                input("types", data_type::INT32),
                input("x", data_type::FLOAT),
                input("dflt", data_type::INT64),
            ],
            ..Default::default()
        };
        ModelProto { ir_version: 8, graph: Some(graph), ..Default::default() }
    }

    #[test]
    fn finds_embedding_tables_through_shape_only_ops() {
        // Through the wire format, as a file would be read.
        let model = crate::proto::decode(&encoder().encode_to_vec()).unwrap();
        let ranges = integer_input_ranges_of(&model);
        let got: Vec<_> = ranges.iter().map(|(k, r)| (k.as_str(), r.lo, r.hi, r.evidence.as_str())).collect();
        assert_eq!(
            got,
            [
                ("ids", 0, 7, "Gather on initializer `word` (7 rows), through Cast"),
                ("pos", 0, 5, "Gather on initializer `position` (5 rows), through Unsqueeze → Reshape"),
                ("types", 0, 2, "Gather on constant `type_table` (2 rows)"),
            ]
        );
    }

    #[test]
    fn gather_axis_casts_to_bool_domains_and_empty_tables() {
        let mut model = encoder();
        let graph = model.graph.as_mut().unwrap();
        // `pos`'s Gather now reads axis -1 of the 5x4 table: 4 rows.
        graph.node[5].attribute = vec![int_attr("axis", -1)];
        // `ids`'s Cast now goes to bool, hiding the 7-row table, and the 12-row table is emptied:
        // an empty table proves nothing, so `ids` has no range.
        graph.node[0].attribute = vec![int_attr("to", data_type::BOOL.into())];
        graph.initializer[1].dims = vec![0, 4];
        // A Gather in another domain is not ONNX's.
        graph.node[11].domain = "com.example".into();
        let ranges = integer_input_ranges_of(&model);
        let got: Vec<_> = ranges.iter().map(|(k, r)| (k.as_str(), r.hi, r.evidence.as_str())).collect();
        assert_eq!(
            got,
            [("pos", 4, "Gather on initializer `position` (4 rows on axis 1), through Unsqueeze → Reshape")]
        );
        assert!(integer_input_ranges_of(&ModelProto::default()).is_empty());
    }
}
