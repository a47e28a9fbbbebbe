//! Classification post-processing: softmax, top-k predictions and class labels.
//!
//! ```
//! use infer_cli::postprocess::{Labels, softmax, top_k};
//!
//! let probs = softmax(&[1.0, 3.0, 2.0]);
//! let labels = Labels::new(vec!["cat".into(), "dog".into(), "fox".into()]);
//! let top = top_k(&probs, 2, Some(&labels));
//! assert_eq!(top[0].index, 1);
//! assert_eq!(top[0].label.as_deref(), Some("dog"));
//! assert_eq!(top[1].index, 2);
//! ```

use std::{cmp::Ordering, collections::BTreeMap, path::Path};

use serde::{Deserialize, Serialize};

use infer_core::{DType, Error, Result, Tensor};

/// Softmax of `logits`, computed stably (the maximum is subtracted before exponentiating, the
/// sum is accumulated in `f64`). An empty input gives an empty output. A NaN logit makes every
/// output NaN; `+inf` logits share all the probability; all `-inf` gives a uniform distribution.
#[must_use]
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    if logits.is_empty() {
        return Vec::new();
    }
    if logits.iter().any(|x| x.is_nan()) {
        return vec![f32::NAN; logits.len()];
    }
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::INFINITY {
        let n = logits.iter().filter(|&&x| x == f32::INFINITY).count();
        return logits.iter().map(|&x| if x == f32::INFINITY { 1.0 / n as f32 } else { 0.0 }).collect();
    }
    if max == f32::NEG_INFINITY {
        return vec![1.0 / logits.len() as f32; logits.len()];
    }
    let exps: Vec<f32> = logits.iter().map(|&x| (x - max).exp()).collect();
    let sum: f64 = exps.iter().map(|&e| f64::from(e)).sum();
    exps.iter().map(|&e| (f64::from(e) / sum) as f32).collect()
}

/// One class prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Class index.
    pub index: usize,
    /// Its score (a probability after softmax, otherwise the raw output).
    pub score: f32,
    /// Its label, when labels were given and cover this index.
    pub label: Option<String>,
}

/// The `k` highest scores, highest first. Ties go to the lower index; NaN scores sort after
/// every number; `k` larger than `scores.len()` returns all of them. Never panics.
#[must_use]
pub fn top_k(scores: &[f32], k: usize, labels: Option<&Labels>) -> Vec<Prediction> {
    let k = k.min(scores.len());
    if k == 0 {
        return Vec::new();
    }
    let order = |&a: &usize, &b: &usize| -> Ordering {
        let (sa, sb) = (scores[a], scores[b]);
        match (sa.is_nan(), sb.is_nan()) {
            (true, true) => a.cmp(&b),
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => sb.partial_cmp(&sa).unwrap_or(Ordering::Equal).then(a.cmp(&b)),
        }
    };
    let mut indices: Vec<usize> = (0..scores.len()).collect();
    if k < indices.len() {
        indices.select_nth_unstable_by(k - 1, order);
        indices.truncate(k);
    }
    indices.sort_unstable_by(order);
    indices
        .into_iter()
        .map(|index| Prediction {
            index,
            score: scores[index],
            label: labels.and_then(|l| l.get(index)).map(str::to_string),
        })
        .collect()
}

/// Top-k predictions for each row of a classifier's output.
///
/// `output` has shape `[N, C]` (a batch of `N` rows of `C` class scores) or `[C]` (one row). `f32`
/// is read directly; `f16`, `bf16` and `f64` are converted to `f32`. With `apply_softmax` each
/// row is turned into probabilities first (use it for logits, not for models that already end
/// in a softmax).
///
/// # Errors
/// [`Error::InvalidInput`] naming the shape when the rank is neither 1 nor 2;
/// [`Error::DtypeMismatch`] for a non-float dtype.
pub fn top_k_batch(
    output: &Tensor,
    k: usize,
    apply_softmax: bool,
    labels: Option<&Labels>,
) -> Result<Vec<Vec<Prediction>>> {
    let classes = match output.shape() {
        [c] | [_, c] => *c,
        shape => {
            return Err(Error::InvalidInput(format!(
                "classifier output has shape {shape:?}: expected [batch, classes] or [classes]"
            )));
        }
    };
    let widened;
    let values: &[f32] = match output.dtype() {
        DType::F32 => output.as_slice::<f32>()?,
        DType::F16 | DType::BF16 | DType::F64 => {
            widened = output.to_f64_vec().into_iter().map(|v| v as f32).collect::<Vec<f32>>();
            &widened
        }
        other => {
            return Err(Error::DtypeMismatch { name: "classifier output".into(), expected: DType::F32, actual: other });
        }
    };
    if classes == 0 {
        let rows = output.shape().first().copied().unwrap_or(0);
        return Ok(if output.shape().len() == 1 { vec![Vec::new()] } else { vec![Vec::new(); rows] });
    }
    Ok(values
        .chunks_exact(classes)
        .map(|row| if apply_softmax { top_k(&softmax(row), k, labels) } else { top_k(row, k, labels) })
        .collect())
}

/// Class names, indexed by class number.
///
/// When `len()` differs from the model's number of classes the labels probably belong to another
/// model (or have a background class the model lacks): the caller should warn. Indices past the
/// end simply have no label.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Labels(Vec<String>);

impl Labels {
    /// Labels from a list, index `i` naming class `i`.
    #[must_use]
    pub fn new(labels: Vec<String>) -> Self {
        Self(labels)
    }

    /// Reads labels from a file in one of three formats, recognised by content:
    ///
    /// * plain text, one label per line, each trimmed; blank lines at the end are ignored
    ///   (blank lines elsewhere are kept as empty labels, so that line `i` stays class `i`);
    /// * a JSON array: `["tench", "goldfish", ...]`;
    /// * a JSON object keyed by class index, ImageNet style: `{"0": "tench", ...}` or
    ///   `{"0": ["n01440764", "tench"], ...}`, where the last string of an array is the label.
    ///   Every index from 0 to the largest must be present.
    ///
    /// A file whose first non-blank character is `[` or `{` is read as JSON.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file when it cannot be read; [`Error::File`] naming the file when
    /// it is not UTF-8, is malformed JSON or JSON of another shape, or holds no labels.
    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|e| Error::file(path, format!("labels file is not UTF-8 text: {e}")))?;
        let labels = Self::parse(text).map_err(|reason| Error::file(path, reason))?;
        if labels.is_empty() {
            return Err(Error::file(path, "labels file holds no labels"));
        }
        Ok(labels)
    }

    /// Parses the content of a labels file (see [`Labels::from_file`]).
    ///
    /// # Errors
    /// A description of what is wrong.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let trimmed = text.trim_start();
        if trimmed.starts_with('[') || trimmed.starts_with('{') {
            let value: serde_json::Value =
                serde_json::from_str(trimmed).map_err(|e| format!("malformed JSON labels: {e}"))?;
            return Self::from_json(&value);
        }
        let mut labels: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
        while labels.last().is_some_and(String::is_empty) {
            labels.pop();
        }
        Ok(Self(labels))
    }

    fn from_json(value: &serde_json::Value) -> std::result::Result<Self, String> {
        use serde_json::Value;
        match value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| json_label(v).ok_or_else(|| format!("labels array entry {i} is {v}: expected a string")))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map(Self),
            Value::Object(map) => {
                let mut by_index = BTreeMap::new();
                for (key, v) in map {
                    let index: usize = key
                        .trim()
                        .parse()
                        .map_err(|_| format!("labels object key {key:?} is not a class index (0, 1, 2, ...)"))?;
                    let label = json_label(v).ok_or_else(|| {
                        format!("labels object entry {key:?} is {v}: expected a string or an array of strings")
                    })?;
                    if by_index.insert(index, label).is_some() {
                        return Err(format!("labels object has class index {index} twice"));
                    }
                }
                if let Some(missing) = (0..by_index.len()).find(|i| !by_index.contains_key(i)) {
                    return Err(format!(
                        "labels object has no entry for class index {missing} (indices must run 0..{})",
                        by_index.len()
                    ));
                }
                Ok(Self(by_index.into_values().collect()))
            }
            other => Err(format!("JSON labels must be an array or an object, found {other}")),
        }
    }

    /// The label of class `index`, if there is one.
    #[must_use]
    pub fn get(&self, index: usize) -> Option<&str> {
        self.0.get(index).map(String::as_str)
    }

    /// Number of labels; compare with the model's class count and warn when they differ.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no labels.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// All labels in class order.
    #[must_use]
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

impl From<Vec<String>> for Labels {
    fn from(labels: Vec<String>) -> Self {
        Self(labels)
    }
}

/// A label from a JSON string, or the last string of a non-empty array of strings.
fn json_label(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.trim().to_string()),
        serde_json::Value::Array(items) if !items.is_empty() && items.iter().all(serde_json::Value::is_string) => {
            items.last().and_then(serde_json::Value::as_str).map(|s| s.trim().to_string())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use half::{bf16, f16};

    use super::*;

    fn indices(p: &[Prediction]) -> Vec<usize> {
        p.iter().map(|p| p.index).collect()
    }

    #[test]
    fn softmax_is_stable_and_sums_to_one() {
        let p = softmax(&[1.0, 2.0, 3.0]);
        let e: Vec<f64> = [1.0f64, 2.0, 3.0].iter().map(|x| x.exp()).collect();
        let s: f64 = e.iter().sum();
        for (a, b) in p.iter().zip(&e) {
            assert!((f64::from(*a) - b / s).abs() < 1e-6);
        }
        // huge logits do not overflow
        let p = softmax(&[1000.0, 1000.0, -1000.0]);
        assert!((p[0] - 0.5).abs() < 1e-6 && (p[1] - 0.5).abs() < 1e-6 && p[2] == 0.0, "{p:?}");
        let big = softmax(&vec![0.5; 1000]);
        assert!((big.iter().map(|&x| f64::from(x)).sum::<f64>() - 1.0).abs() < 1e-4);
        assert!(softmax(&[]).is_empty());
        assert_eq!(softmax(&[f32::INFINITY, 0.0, f32::INFINITY]), vec![0.5, 0.0, 0.5]);
        assert_eq!(softmax(&[f32::NEG_INFINITY; 4]), vec![0.25; 4]);
        assert!(softmax(&[1.0, f32::NAN]).iter().all(|x| x.is_nan()));
    }

    #[test]
    fn top_k_orders_and_breaks_ties_by_index() {
        let scores = [0.1, 0.7, 0.2, 0.7, 0.05];
        let top = top_k(&scores, 3, None);
        assert_eq!(indices(&top), vec![1, 3, 2]);
        assert_eq!(top[0].score, 0.7);
        assert_eq!(top[0].label, None);
        assert_eq!(indices(&top_k(&scores, 1, None)), vec![1]);
        assert!(top_k(&scores, 0, None).is_empty());
        assert!(top_k(&[], 5, None).is_empty());
        // k larger than len returns all
        assert_eq!(indices(&top_k(&scores, 99, None)), vec![1, 3, 2, 0, 4]);
        // many ties
        assert_eq!(indices(&top_k(&[1.0; 6], 4, None)), vec![0, 1, 2, 3]);
        // -0.0 and 0.0 are a tie
        assert_eq!(indices(&top_k(&[-0.0, 0.0], 2, None)), vec![0, 1]);
    }

    #[test]
    fn top_k_sorts_nan_last() {
        let scores = [f32::NAN, 0.3, f32::NAN, -1.0, f32::INFINITY];
        assert_eq!(indices(&top_k(&scores, 5, None)), vec![4, 1, 3, 0, 2]);
        assert_eq!(indices(&top_k(&scores, 2, None)), vec![4, 1]);
        assert_eq!(indices(&top_k(&[f32::NAN; 3], 2, None)), vec![0, 1]);
    }

    #[test]
    fn top_k_attaches_labels() {
        let labels = Labels::new(vec!["a".into(), "b".into()]);
        let top = top_k(&[0.1, 0.5, 0.9], 3, Some(&labels));
        assert_eq!(indices(&top), vec![2, 1, 0]);
        // index 2 has no label: fewer labels than classes
        assert_eq!(top.iter().map(|p| p.label.as_deref()).collect::<Vec<_>>(), vec![None, Some("b"), Some("a")]);
        let json = serde_json::to_string(&top[1]).unwrap();
        assert_eq!(json, r#"{"index":1,"score":0.5,"label":"b"}"#);
    }

    #[test]
    fn top_k_batch_shapes_and_dtypes() {
        let t = Tensor::from_vec(vec![2, 3], vec![1.0f32, 3.0, 2.0, 9.0, 8.0, 7.0]).unwrap();
        let out = top_k_batch(&t, 2, false, None).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(indices(&out[0]), vec![1, 2]);
        assert_eq!(indices(&out[1]), vec![0, 1]);
        assert_eq!(out[1][0].score, 9.0);

        let soft = top_k_batch(&t, 3, true, None).unwrap();
        let total: f32 = soft[0].iter().map(|p| p.score).sum();
        assert!((total - 1.0).abs() < 1e-6);
        assert_eq!(indices(&soft[0]), vec![1, 2, 0]);

        let one = Tensor::from_vec(vec![3], vec![0.2f64, 0.5, 0.3]).unwrap();
        let out = top_k_batch(&one, 1, false, None).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0][0].index, 1);
        assert_eq!(out[0][0].score, 0.5);

        let h = Tensor::from_vec(vec![1, 2], vec![f16::from_f32(0.25), f16::from_f32(0.75)]).unwrap();
        assert_eq!(indices(&top_k_batch(&h, 2, false, None).unwrap()[0]), vec![1, 0]);
        let b = Tensor::from_vec(vec![1, 2], vec![bf16::from_f32(2.0), bf16::from_f32(-1.0)]).unwrap();
        assert_eq!(indices(&top_k_batch(&b, 2, false, None).unwrap()[0]), vec![0, 1]);

        let labels = Labels::new(vec!["x".into(), "y".into(), "z".into()]);
        let out = top_k_batch(&t, 1, true, Some(&labels)).unwrap();
        assert_eq!(out[0][0].label.as_deref(), Some("y"));
        assert_eq!(out[1][0].label.as_deref(), Some("x"));

        let empty = Tensor::from_vec(vec![2, 0], Vec::<f32>::new()).unwrap();
        assert_eq!(top_k_batch(&empty, 3, true, None).unwrap(), vec![Vec::new(), Vec::new()]);
    }

    #[test]
    fn top_k_batch_rejects_bad_rank_and_dtype() {
        let t = Tensor::from_vec(vec![1, 2, 2], vec![0f32; 4]).unwrap();
        let err = top_k_batch(&t, 1, false, None).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)));
        assert!(err.to_string().contains("[1, 2, 2]"), "{err}");
        let scalar = Tensor::from_vec(vec![], vec![1f32]).unwrap();
        assert!(top_k_batch(&scalar, 1, false, None).unwrap_err().to_string().contains("[]"));
        let ints = Tensor::from_vec(vec![1, 2], vec![1i64, 2]).unwrap();
        assert!(matches!(top_k_batch(&ints, 1, false, None), Err(Error::DtypeMismatch { .. })));
    }

    #[test]
    fn labels_from_text_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels.txt");
        std::fs::write(&path, "\u{feff}tench\r\n  goldfish \n\ngreat white shark\n\n\n").unwrap();
        let labels = Labels::from_file(&path).unwrap();
        assert_eq!(labels.len(), 4);
        assert_eq!(labels.get(0), Some("tench"));
        assert_eq!(labels.get(1), Some("goldfish"));
        assert_eq!(labels.get(2), Some(""));
        assert_eq!(labels.get(3), Some("great white shark"));
        assert_eq!(labels.get(4), None);
        assert!(!labels.is_empty());
    }

    #[test]
    fn labels_from_json_array_and_object() {
        let dir = tempfile::tempdir().unwrap();
        let arr = dir.path().join("labels.json");
        std::fs::write(&arr, r#"["tench", "goldfish"]"#).unwrap();
        let labels = Labels::from_file(&arr).unwrap();
        assert_eq!(labels.as_slice(), &["tench".to_string(), "goldfish".to_string()]);

        let obj = dir.path().join("imagenet_class_index.json");
        std::fs::write(&obj, r#"{"1": ["n01443537", "goldfish"], "0": ["n01440764", "tench"], "2": "shark"}"#).unwrap();
        let labels = Labels::from_file(&obj).unwrap();
        assert_eq!(labels.len(), 3);
        assert_eq!(labels.get(0), Some("tench"));
        assert_eq!(labels.get(1), Some("goldfish"));
        assert_eq!(labels.get(2), Some("shark"));
    }

    #[test]
    fn labels_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("broken.json", r#"["tench", "goldfish""#, "malformed JSON"),
            ("numbers.json", "[1, 2]", "expected a string"),
            ("keys.json", r#"{"zero": "tench"}"#, "not a class index"),
            ("gap.json", r#"{"0": "a", "2": "c"}"#, "no entry for class index 1"),
            ("empty.txt", "\n\n", "no labels"),
        ];
        for (name, content, expected) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, content).unwrap();
            let err = Labels::from_file(&path).unwrap_err();
            assert!(matches!(err, Error::File { .. }), "{err:?}");
            let msg = err.to_string();
            assert!(msg.contains(name) && msg.contains(expected), "{msg}");
        }
        let missing = dir.path().join("missing_labels.txt");
        let err = Labels::from_file(&missing).unwrap_err();
        assert!(matches!(err, Error::Io { .. }) && err.to_string().contains("missing_labels.txt"), "{err}");
        let binary = dir.path().join("binary.txt");
        std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x80]).unwrap();
        assert!(Labels::from_file(&binary).unwrap_err().to_string().contains("not UTF-8"));
    }
}
