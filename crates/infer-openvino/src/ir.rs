//! Reading an OpenVINO IR without OpenVINO: the `.xml` graph (root element `<net>`) and the
//! `.bin` beside it that holds every `Const` layer's bytes at `offset`/`size`.
//!
//! [`inspect`] checks what OpenVINO would otherwise report late or not clearly (an XML that is
//! not an IR, a missing or truncated `.bin`) and counts the parameters: the floating-point
//! constants (the weights; integer constants are shapes and indices).
//!
//! ```
//! let xml = br#"<?xml version="1.0"?>
//! <net name="m" version="11"><layers>
//!   <layer id="0" name="w" type="Const" version="opset1"><data element_type="f32" shape="2, 3" offset="0" size="24"/></layer>
//!   <layer id="1" name="s" type="Const" version="opset1"><data element_type="i64" shape="2" offset="24" size="16"/></layer>
//! </layers></net>"#;
//! assert!(infer_openvino::ir::looks_like_ir(&xml[..64]));
//! let s = infer_openvino::ir::summarize(std::str::from_utf8(xml).unwrap()).unwrap();
//! assert_eq!((s.parameters, s.parameter_bytes, s.weights_needed), (6, 24, 40));
//! ```

use std::path::{Path, PathBuf};

use infer_core::{Error, Result};

/// What an IR holds, as far as infer needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IrSummary {
    /// The IR version (`<net version="11">`).
    pub version: Option<u32>,
    /// Scalars in the floating-point `Const` layers.
    pub parameters: u64,
    /// Their bytes in the `.bin`.
    pub parameter_bytes: u64,
    /// The length the `.bin` must have: the end of the last constant.
    pub weights_needed: u64,
    /// The weights file, when the graph has constants (filled by [`inspect`]).
    pub weights: Option<PathBuf>,
}

/// Whether the first bytes of a file are an XML document whose root element is `<net`, after an
/// optional byte-order mark, XML declaration, comments and white space.
#[must_use]
pub fn looks_like_ir(head: &[u8]) -> bool {
    let mut rest = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    loop {
        rest = rest.trim_ascii_start();
        let (open, close): (&[u8], &[u8]) = if rest.starts_with(b"<?") {
            (b"<?", b"?>")
        } else if rest.starts_with(b"<!--") {
            (b"<!--", b"-->")
        } else {
            break;
        };
        let Some(end) = rest[open.len()..].windows(close.len()).position(|w| w == close) else { return false };
        rest = &rest[open.len() + end + close.len()..];
    }
    rest.strip_prefix(b"<net").is_some_and(|after| after.first().is_some_and(|&b| b == b'>' || b.is_ascii_whitespace()))
}

/// Bytes per element of an IR element type, for the floating-point ones (the weights).
fn float_size(element_type: &str) -> Option<u64> {
    match element_type {
        "f64" => Some(8),
        "f32" => Some(4),
        "f16" | "bf16" => Some(2),
        _ => None,
    }
}

/// Summarizes an IR's XML text.
///
/// # Errors
/// A one-line reason: not XML (with the line and column), a root other than `<net>`, or a
/// `Const` layer whose `shape`, `offset` or `size` is not a number.
pub fn summarize(xml: &str) -> std::result::Result<IrSummary, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("not an OpenVINO IR (invalid XML: {e})"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "net" {
        return Err(format!("not an OpenVINO IR: expected the root element <net>, found <{}>", root.tag_name().name()));
    }
    let mut s = IrSummary { version: root.attribute("version").and_then(|v| v.parse().ok()), ..IrSummary::default() };
    let consts = root
        .children()
        .filter(|n| n.has_tag_name("layers"))
        .flat_map(|l| l.children())
        .filter(|n| n.has_tag_name("layer") && n.attribute("type") == Some("Const"));
    for layer in consts {
        let name = layer.attribute("name").unwrap_or("?");
        let Some(data) = layer.children().find(|n| n.has_tag_name("data")) else {
            return Err(format!("Const layer `{name}` has no <data> element"));
        };
        let number = |key: &str| -> std::result::Result<u64, String> {
            let text = data.attribute(key).ok_or_else(|| format!("Const layer `{name}` has no `{key}`"))?;
            text.trim().parse().map_err(|_| format!("Const layer `{name}`: `{key}` is `{text}`, expected a number"))
        };
        let (offset, size) = (number("offset")?, number("size")?);
        s.weights_needed = s.weights_needed.max(offset.saturating_add(size));
        let element_type = data.attribute("element_type").unwrap_or_default();
        if float_size(element_type).is_some() {
            let shape = data.attribute("shape").unwrap_or_default();
            let count = shape
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .try_fold(1u64, |acc, d| d.parse::<u64>().ok().map(|d| acc.saturating_mul(d)))
                .ok_or_else(|| format!("Const layer `{name}`: shape `{shape}` is not a list of numbers"))?;
            s.parameters = s.parameters.saturating_add(count);
            s.parameter_bytes = s.parameter_bytes.saturating_add(size);
        }
    }
    Ok(s)
}

/// Reads an IR's `.xml`, checks its `.bin` (same name, beside it) and counts its parameters.
///
/// # Errors
/// [`Error::Load`] naming the `.xml` when it cannot be read or is not an IR, and naming the
/// `.bin` when it is missing or shorter than the constants need (expected and actual bytes).
pub fn inspect(xml: &Path) -> Result<IrSummary> {
    let text = std::fs::read_to_string(xml).map_err(|e| Error::load(xml, format!("cannot read: {e}")))?;
    let mut s = summarize(&text).map_err(|reason| Error::load(xml, reason))?;
    if s.weights_needed == 0 {
        return Ok(s);
    }
    let bin = xml.with_extension("bin");
    let len = std::fs::metadata(&bin)
        .map_err(|e| {
            Error::load(
                &bin,
                format!("cannot read the IR's weights ({e}): an OpenVINO IR needs its .bin beside the .xml"),
            )
        })?
        .len();
    if len < s.weights_needed {
        return Err(Error::load(
            &bin,
            format!("truncated: the IR's constants need {} bytes, the file has {len}", s.weights_needed),
        ));
    }
    s.weights = Some(bin);
    Ok(s)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn recognises_the_root_element_only() {
        assert!(looks_like_ir(b"<net name=\"x\" version=\"11\">"));
        assert!(looks_like_ir(b"\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<!-- made by x -->\n<net>"));
        assert!(!looks_like_ir(b"<?xml version=\"1.0\"?>\n<network>"));
        assert!(!looks_like_ir(b"<?xml version=\"1.0\"?>\n<config/>"));
        assert!(!looks_like_ir(b"<?xml version=\"1.0\""));
        assert!(!looks_like_ir(b""));
        assert!(!looks_like_ir(b"\x08\x08\x12\x04"));
    }

    #[test]
    fn summarize_says_what_is_wrong() {
        assert!(summarize("<net><layers>").unwrap_err().contains("invalid XML"));
        assert!(summarize("<config/>").unwrap_err().contains("found <config>"));
        let bad = r#"<net><layers><layer name="w" type="Const"><data element_type="f32" shape="2,x" offset="0" size="8"/></layer></layers></net>"#;
        assert!(summarize(bad).unwrap_err().contains("shape `2,x`"));
        let bad = r#"<net><layers><layer name="w" type="Const"><data element_type="f32" shape="2" size="8"/></layer></layers></net>"#;
        assert!(summarize(bad).unwrap_err().contains("no `offset`"));
        let scalar = r#"<net version="10"><layers><layer name="w" type="Const"><data element_type="f16" shape="" offset="4" size="2"/></layer></layers></net>"#;
        let s = summarize(scalar).unwrap();
        assert_eq!((s.version, s.parameters, s.parameter_bytes, s.weights_needed), (Some(10), 1, 2, 6));
    }

    #[test]
    fn inspect_checks_the_weights_file() {
        let dir = tempfile::tempdir().unwrap();
        let xml = dir.path().join("m.xml");
        std::fs::write(
            &xml,
            r#"<net><layers><layer name="w" type="Const"><data element_type="f32" shape="4" offset="0" size="16"/></layer></layers></net>"#,
        )
        .unwrap();
        let err = inspect(&xml).unwrap_err().to_string();
        assert!(err.contains("m.bin") && err.contains("needs its .bin beside the .xml"), "{err}");
        std::fs::write(dir.path().join("m.bin"), [0u8; 10]).unwrap();
        let err = inspect(&xml).unwrap_err().to_string();
        assert!(err.contains("m.bin") && err.contains("need 16 bytes, the file has 10"), "{err}");
        std::fs::write(dir.path().join("m.bin"), [0u8; 16]).unwrap();
        assert_eq!(inspect(&xml).unwrap().weights, Some(dir.path().join("m.bin")));
        let err = inspect(&dir.path().join("gone.xml")).unwrap_err().to_string();
        assert!(err.contains("gone.xml") && err.contains("cannot read"), "{err}");
    }
}
