//! ONNX models read without a runtime, for every backend that reads `.onnx` files (ONNX Runtime,
//! OpenVINO, tract) and for the harness: the [`ONNX`] format and its [`sniff`], the protobuf
//! messages ([`proto`], `prost`, declared by hand), what a model says about itself ([`summary`]:
//! parameters, external data, input axis symbols), the integer ranges its graph proves
//! ([`ranges`]: an input that reaches an embedding table), and serialized `TensorProto` files
//! ([`tensor_file`]: the ONNX test data sets' `input_0.pb`).
//!
//! No backend depends on another backend: each one that reads ONNX depends on this crate.
//!
//! ```
//! let model = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/tiny/tiny_cnn.onnx");
//! let summary = infer_onnx_proto::inspect(std::path::Path::new(model))?;
//! assert_eq!(summary.parameters, 4 * 3 * 3 * 3 + 4 + 10 * 4 + 10);
//! assert_eq!(summary.input_symbols["image"][0].as_deref(), Some("batch"));
//! # Ok::<(), infer_core::Error>(())
//! ```

pub mod proto;
pub mod ranges;
pub mod summary;
pub mod tensor_file;

use std::{collections::BTreeMap, path::Path};

pub use infer_core::IntRange;
use infer_core::{Error, ModelFormat, Probe, Result, Sniff};
pub use summary::ModelSummary;

/// An ONNX protobuf file.
pub const ONNX: ModelFormat = ModelFormat { id: "onnx", name: "ONNX", hint: ".onnx", extensions: &["onnx"] };

/// Recognises an ONNX file by its content, whatever it is called: a protobuf `ModelProto` that
/// starts, as every exporter writes it, with field 1 (`ir_version`, a small varint: byte `0x08`)
/// followed by fields of `ModelProto` with their wire types ([`looks_like_model`]). A file named
/// `.onnx` whose content does not confirm it is claimed by name, so that loading it says why.
#[must_use]
pub fn sniff(probe: &Probe) -> Sniff {
    if probe.is_dir {
        Sniff::No
    } else if looks_like_model(&probe.head) {
        Sniff::Content(ONNX)
    } else if probe.named(ONNX) {
        Sniff::Name(ONNX)
    } else {
        Sniff::No
    }
}

/// A protobuf varint at the start of `bytes`: its value and length; `None` when `bytes` ends
/// first or it is longer than 10 bytes.
fn varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Whether `head` (a file's first bytes) starts like a serialized ONNX `ModelProto`:
/// `ir_version` first (1 to 32), then at least one more field, each a field of `ModelProto`
/// (`producer_name`, `graph`, `opset_import`, …) with its wire type, as far as `head` goes.
#[must_use]
pub fn looks_like_model(head: &[u8]) -> bool {
    let Some(rest) = head.strip_prefix(&[0x08]) else { return false };
    let Some((ir_version, n)) = varint(rest) else { return false };
    if !(1..=32).contains(&ir_version) {
        return false;
    }
    let mut rest = &rest[n..];
    let mut fields = 0;
    while let Some((tag, n)) = varint(rest) {
        // Varints: 5 model_version; length-delimited: the strings, graph, opset imports,
        // metadata, training info, functions, configuration.
        let wire = match tag >> 3 {
            5 => 0,
            2 | 3 | 4 | 6 | 7 | 8 | 14 | 20 | 25 | 26 => 2,
            _ => return false,
        };
        if tag & 7 != wire {
            return false;
        }
        fields += 1;
        rest = &rest[n..];
        let Some((value, n)) = varint(rest) else { break };
        let skip = if wire == 0 { n } else { usize::try_from(value).map_or(usize::MAX, |len| len.saturating_add(n)) };
        if skip > rest.len() {
            break;
        }
        rest = &rest[skip..];
    }
    fields > 0
}

/// Reads and decodes an ONNX file.
fn read_model(path: &Path) -> Result<proto::ModelProto> {
    let bytes = std::fs::read(path).map_err(|e| Error::load(path, format!("cannot read: {e}")))?;
    if bytes.is_empty() {
        return Err(Error::load(path, "the file is empty: expected an ONNX model (protobuf)"));
    }
    proto::decode(&bytes).map_err(|reason| Error::load(path, reason))
}

/// Reads and validates an ONNX file without ONNX Runtime.
///
/// # Errors
/// [`Error::Load`] naming the file when it cannot be read or is not an ONNX model.
pub fn inspect(path: &Path) -> Result<ModelSummary> {
    let summary = ModelSummary::of(&read_model(path)?);
    for location in &summary.external_data {
        check_external_data(path, location)?;
    }
    Ok(summary)
}

/// The range each integer input of an ONNX file must stay in, where the graph proves one (the
/// input reaches an embedding lookup; see [`ranges`]), by input name.
///
/// # Errors
/// [`Error::Load`] naming the file when it cannot be read or is not an ONNX model.
pub fn integer_input_ranges(path: &Path) -> Result<BTreeMap<String, IntRange>> {
    Ok(ranges::integer_input_ranges_of(&read_model(path)?))
}

/// Refuses an external-data `location` that would make ONNX Runtime read a file outside the
/// model's folder (cf. CVE-2024-27318): an absolute path, a `..` component, or a link inside the
/// folder that resolves to a file outside it. A path that cannot be resolved (a missing file, a
/// dangling link, a loop of links) is refused too: what it would point to cannot be checked, and
/// a link that dangles now may point anywhere by the time ONNX Runtime opens it.
fn check_external_data(model: &Path, location: &str) -> Result<()> {
    let refuse = |why: &str| {
        Err(Error::load(
            model,
            format!(
                "external data path `{location}` {why}: expected a relative path to a file inside the model's folder"
            ),
        ))
    };
    let p = Path::new(location);
    if location.is_empty() {
        return refuse("is empty");
    }
    if p.is_absolute() || location.starts_with('\\') || location.contains(":\\") {
        return refuse("is absolute");
    }
    if p.components().any(|c| !matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir)) {
        return refuse("leaves the model's folder");
    }
    let folder = model.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let target = folder.join(p);
    let folder = match folder.canonicalize() {
        Ok(f) => f,
        Err(e) => return refuse(&format!("cannot be checked: the model's folder cannot be resolved ({e})")),
    };
    let target = match target.canonicalize() {
        Ok(t) => t,
        Err(e) => return refuse(&format!("cannot be resolved ({e}): a missing file or a dangling link")),
    };
    if !target.starts_with(&folder) {
        return refuse(&format!("leaves the model's folder through a link (it resolves to {})", target.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model (IR 8) whose one initializer is stored as external data at `location`.
    fn model(location: &str) -> Vec<u8> {
        use prost::Message;
        let entry = proto::StringStringEntryProto { key: "location".into(), value: location.into() };
        let initializer = proto::TensorProto { name: "w".into(), external_data: vec![entry], ..Default::default() };
        let graph = proto::GraphProto { initializer: vec![initializer], ..Default::default() };
        proto::ModelProto { ir_version: 8, graph: Some(graph), ..Default::default() }.encode_to_vec()
    }

    /// Content decides whatever the name; a `.onnx` name alone is a claim by name.
    #[test]
    fn onnx_is_recognised_by_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let tiny =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/tiny/tiny_encoder.onnx")).unwrap();
        let probe = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            sniff(&Probe::new(&path).unwrap())
        };
        for name in ["m.onnx", "model", "m.bin", "m.model"] {
            assert_eq!(probe(name, &tiny), Sniff::Content(ONNX), "{name}");
        }
        assert_eq!(probe("built.onnx", &model("w.bin")), Sniff::Content(ONNX));
        // Bytes that start with 0x08 but go on as no ModelProto does; other files; folders.
        assert_eq!(probe("m.onnx", b"\x08\x07\xff\xff rest"), Sniff::Name(ONNX));
        assert_eq!(probe("weights.bin", b"\x08\x07\xff\xff rest"), Sniff::No);
        assert_eq!(probe("m.onnx", b"\x08\x00\x12\x01a"), Sniff::Name(ONNX), "ir_version 0");
        assert_eq!(probe("m.onnx", b"\x08\x08"), Sniff::Name(ONNX), "nothing after ir_version");
        assert_eq!(probe("x.npy", b"\x93NUMPY"), Sniff::No);
        assert_eq!(sniff(&Probe::new(dir.path()).unwrap()), Sniff::No);
        assert!(looks_like_model(&tiny[..4]) && !looks_like_model(b""));
    }

    #[test]
    fn external_data_must_stay_in_the_models_folder() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret.bin");
        std::fs::write(&secret, b"secret").unwrap();
        let models = dir.path().join("models");
        std::fs::create_dir(&models).unwrap();
        std::fs::write(models.join("w.bin"), b"1234").unwrap();
        std::os::unix::fs::symlink(&secret, models.join("link.bin")).unwrap();
        // A link to nothing (yet): canonicalize fails, which must not count as "inside".
        std::os::unix::fs::symlink(dir.path().join("not_yet.bin"), models.join("dangling.bin")).unwrap();
        // Two links pointing at each other never resolve.
        std::os::unix::fs::symlink(models.join("loop_b.bin"), models.join("loop_a.bin")).unwrap();
        std::os::unix::fs::symlink(models.join("loop_a.bin"), models.join("loop_b.bin")).unwrap();
        let cases = [
            ("w.bin", None),
            ("./w.bin", None),
            ("../secret.bin", Some("leaves the model's folder")),
            ("a/../../secret.bin", Some("leaves the model's folder")),
            ("/etc/passwd", Some("is absolute")),
            ("\\\\server\\share", Some("is absolute")),
            ("C:\\secret.bin", Some("is absolute")),
            ("", Some("is empty")),
            ("link.bin", Some("through a link")),
            ("dangling.bin", Some("cannot be resolved")),
            ("loop_a.bin", Some("cannot be resolved")),
            ("missing.bin", Some("cannot be resolved")),
        ];
        for (location, refusal) in cases {
            let path = models.join("m.onnx");
            std::fs::write(&path, model(location)).unwrap();
            match (inspect(&path), refusal) {
                (Ok(s), None) => assert_eq!(s.external_data, [location]),
                (Err(e), Some(why)) => {
                    let e = e.to_string();
                    assert!(e.contains("m.onnx") && e.contains(why) && e.contains(location), "{location}: {e}");
                }
                (r, _) => panic!("{location}: unexpected {r:?}"),
            }
        }
    }

    #[test]
    fn integer_input_ranges_reads_the_file_and_names_it_in_errors() {
        let tiny = |name: &str| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/tiny").join(name);
        // `two_inputs`: the int64 input `b` is cast and added, never gathered: no range.
        assert!(integer_input_ranges(&tiny("two_inputs.onnx")).unwrap().is_empty());
        // `tiny_encoder` (written by `make_tiny.py` with `onnx.helper`): both tables found behind
        // their shape-only ops; `attention_mask` reaches none.
        let ranges = integer_input_ranges(&tiny("tiny_encoder.onnx")).unwrap();
        let got: Vec<_> = ranges.iter().map(|(k, r)| (k.as_str(), r.lo, r.hi, r.evidence.as_str())).collect();
        assert_eq!(
            got,
            [
                ("input_ids", 0, 50, "Gather on initializer `word_embeddings` (50 rows), through Cast"),
                (
                    "token_type_ids",
                    0,
                    2,
                    "Gather on initializer `token_type_embeddings` (2 rows), through Unsqueeze → Reshape"
                ),
            ]
        );
        let dir = tempfile::tempdir().unwrap();
        let cut = dir.path().join("cut.onnx");
        let bytes = std::fs::read(tiny("tiny_cnn.onnx")).unwrap();
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        let err = integer_input_ranges(&cut).unwrap_err().to_string();
        assert!(err.contains("cut.onnx") && err.contains("not an ONNX model: truncated protobuf"), "{err}");
        let err = integer_input_ranges(&dir.path().join("missing.onnx")).unwrap_err().to_string();
        assert!(err.contains("missing.onnx") && err.contains("cannot read"), "{err}");
    }
}
