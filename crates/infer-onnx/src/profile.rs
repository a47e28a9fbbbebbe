//! Reading ONNX Runtime's profiling output: a Chrome-trace JSON array whose `cat == "Node"`
//! events named `<node>_kernel_time` carry the operator in `args.op_name` and the duration in
//! microseconds in `dur`; each `cat == "Session"` event named `model_run` is one run.
//!
//! ```
//! let json = r#"[
//!   {"cat":"Session","name":"model_run","dur":50,"args":{}},
//!   {"cat":"Node","name":"conv1_kernel_time","dur":30,"args":{"op_name":"Conv"}},
//!   {"cat":"Node","name":"conv1_fence_before","dur":0,"args":{"op_name":"Conv"}}
//! ]"#;
//! let p = infer_onnx::profile::parse(json.as_bytes(), "profile.json".as_ref())?;
//! assert_eq!((p.runs, p.events.len(), p.events[0].node.as_str()), (1, 1, "conv1"));
//! // Without timestamps the run an event belongs to is unknown.
//! assert_eq!(p.events[0].run, None);
//! # Ok::<(), infer_core::Error>(())
//! ```

use std::path::Path;

use infer_core::{
    Error, Result,
    profile::{OpEvent, OpProfile},
};
use serde_json::Value;

/// Suffix ONNX Runtime gives the event that times a node's kernel.
const KERNEL_SUFFIX: &str = "_kernel_time";

/// Parses the bytes of an ONNX Runtime profile written to `path` (named in errors and in
/// [`OpProfile::source`]).
///
/// # Errors
/// [`Error::File`] naming `path` when the text is not a JSON array of trace events, or when a
/// node event lacks `dur` or `args.op_name`.
pub fn parse(bytes: &[u8], path: &Path) -> Result<OpProfile> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        Error::file(path, format!("not an ONNX Runtime profile (expected a JSON array of events): {e}"))
    })?;
    let Value::Array(items) = value else {
        return Err(Error::file(path, "not an ONNX Runtime profile: expected a JSON array of trace events"));
    };
    // Each run is one `model_run` span [ts, ts + dur]; a node event belongs to the span holding its start.
    let mut spans: Vec<(f64, f64)> = items
        .iter()
        .filter(|e| {
            e.get("cat").and_then(Value::as_str) == Some("Session")
                && e.get("name").and_then(Value::as_str) == Some("model_run")
        })
        .filter_map(|e| Some((e.get("ts")?.as_f64()?, e.get("dur")?.as_f64()?)))
        .collect();
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let runs = items
        .iter()
        .filter(|e| {
            e.get("cat").and_then(Value::as_str) == Some("Session")
                && e.get("name").and_then(Value::as_str) == Some("model_run")
        })
        .count() as u64;
    let run_of = |ts: Option<f64>| -> Option<u64> {
        let ts = ts?;
        let i = spans.partition_point(|s| s.0 <= ts).checked_sub(1)?;
        let (start, dur) = spans[i];
        (ts <= start + dur).then_some(i as u64)
    };
    let mut events = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if item.get("cat").and_then(Value::as_str) != Some("Node") {
            continue;
        }
        let name = item.get("name").and_then(Value::as_str).unwrap_or_default();
        let Some(node) = name.strip_suffix(KERNEL_SUFFIX) else { continue };
        let dur = item.get("dur").and_then(Value::as_f64).ok_or_else(|| {
            Error::file(path, format!("event {i} (`{name}`): expected a numeric `dur`, found {:?}", item.get("dur")))
        })?;
        let op = item
            .pointer("/args/op_name")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::file(path, format!("event {i} (`{name}`): expected `args.op_name`, found none")))?;
        events.push(OpEvent {
            op_type: op.to_string(),
            node: node.to_string(),
            duration_us: dur,
            calls: 1,
            run: run_of(item.get("ts").and_then(Value::as_f64)),
        });
    }
    Ok(OpProfile {
        backend: crate::BACKEND.into(),
        source: format!("ONNX Runtime profiling JSON {}", path.display()),
        runs,
        events,
    })
}

/// Reads and parses a profile file.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read, and the errors of [`parse`].
pub fn read(path: &Path) -> Result<OpProfile> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse(&bytes, path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keeps_kernel_events_and_counts_runs() {
        let json = r#"[
          {"cat":"Session","name":"session_initialization","ts":0,"dur":900,"args":{}},
          {"cat":"Node","name":"relu_nchwc_kernel_time","ts":1000,"dur":30,"args":{"op_name":"Conv"}},
          {"cat":"Node","name":"relu_nchwc_fence_before","ts":1000,"dur":0,"args":{"op_name":"Conv"}},
          {"cat":"Session","name":"model_run","ts":1000,"dur":50,"args":{}},
          {"cat":"Node","name":"fc_kernel_time","ts":2010,"dur":12.5,"args":{"op_name":"Gemm"}},
          {"cat":"Session","name":"model_run","ts":2000,"dur":40,"args":{}},
          {"cat":"Node","name":"late_kernel_time","dur":1,"args":{"op_name":"Add"}}
        ]"#;
        let p = parse(json.as_bytes(), Path::new("p.json")).unwrap();
        assert_eq!(p.runs, 2);
        let got: Vec<_> =
            p.events.iter().map(|e| (e.op_type.as_str(), e.node.as_str(), e.duration_us, e.run)).collect();
        assert_eq!(
            got,
            [("Conv", "relu_nchwc", 30.0, Some(0)), ("Gemm", "fc", 12.5, Some(1)), ("Add", "late", 1.0, None)]
        );
        assert!((p.total_us() - 43.5).abs() < 1e-12);
    }

    #[test]
    fn rejects_what_is_not_a_profile() {
        let err = parse(b"{\"a\":1}", Path::new("x.json")).unwrap_err().to_string();
        assert!(err.contains("x.json") && err.contains("JSON array"), "{err}");
        let err = parse(b"not json", Path::new("y.json")).unwrap_err().to_string();
        assert!(err.contains("y.json") && err.contains("not an ONNX Runtime profile"), "{err}");
        let bad = br#"[{"cat":"Node","name":"n_kernel_time","dur":3,"args":{}}]"#;
        let err = parse(bad, Path::new("z.json")).unwrap_err().to_string();
        assert!(err.contains("z.json") && err.contains("args.op_name"), "{err}");
        assert!(read(Path::new("/nonexistent/p.json")).unwrap_err().to_string().contains("/nonexistent/p.json"));
    }
}
