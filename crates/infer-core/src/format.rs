//! Model formats, as the backends that read them declare them.
//!
//! infer-core names no format and no backend: each backend crate declares its formats as
//! constants ([`ModelFormat`]) and recognises its files itself ([`crate::Backend::sniff`]), on
//! the extension *and* the content. The registry asks every backend and picks one.

use std::{
    fmt,
    io::Read,
    path::{Path, PathBuf},
};

use serde::{Serialize, Serializer};

/// A model format read by one or more backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModelFormat {
    /// Short stable identifier, used in reports and fixture metadata (`onnx`, `torchscript`).
    pub id: &'static str,
    /// Name shown to people (`ONNX`, `TorchScript`).
    pub name: &'static str,
    /// What a user gives for it, for error messages (`.onnx`, `a SavedModel folder`).
    pub hint: &'static str,
}

impl fmt::Display for ModelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl Serialize for ModelFormat {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id)
    }
}

/// How sure a backend is that a path is one of its formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniff {
    /// Not one of this backend's files.
    No,
    /// The name says it is (extension), but the content does not confirm it (empty,
    /// truncated, or another kind of file): the backend would explain why it cannot load it.
    Name(ModelFormat),
    /// Name and content agree.
    Content(ModelFormat),
}

impl Sniff {
    /// The format claimed, if any.
    #[must_use]
    pub fn format(self) -> Option<ModelFormat> {
        match self {
            Sniff::No => None,
            Sniff::Name(f) | Sniff::Content(f) => Some(f),
        }
    }
}

/// What a path looks like, read once and shared by every backend's [`crate::Backend::sniff`].
#[derive(Debug, Clone)]
pub struct Probe {
    /// The path as given.
    pub path: PathBuf,
    /// Whether it is a folder.
    pub is_dir: bool,
    /// The lowercase extension (`onnx`), empty when there is none.
    pub extension: String,
    /// The first bytes of a file (at most [`Probe::HEAD`]); empty for a folder.
    pub head: Vec<u8>,
}

impl Probe {
    /// How many leading bytes of a file are read.
    pub const HEAD: usize = 64;

    /// Reads what the backends need to recognise `path`.
    ///
    /// # Errors
    /// [`crate::Error::Load`] naming the path when it does not exist or cannot be read.
    pub fn new(path: &Path) -> crate::Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| crate::Error::load(path, format!("cannot read: {e}")))?;
        let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
        let mut head = Vec::new();
        if !meta.is_dir() {
            let file = std::fs::File::open(path).map_err(|e| crate::Error::load(path, format!("cannot read: {e}")))?;
            file.take(Self::HEAD as u64)
                .read_to_end(&mut head)
                .map_err(|e| crate::Error::load(path, format!("cannot read: {e}")))?;
        }
        Ok(Self { path: path.to_path_buf(), is_dir: meta.is_dir(), extension, head })
    }

    /// Whether the extension is one of `extensions` (lowercase, without the dot).
    #[must_use]
    pub fn has_extension(&self, extensions: &[&str]) -> bool {
        !self.is_dir && extensions.contains(&self.extension.as_str())
    }

    /// Whether the file starts with a zip archive's signature (TorchScript, `torch.save`, `.keras`).
    #[must_use]
    pub fn is_zip(&self) -> bool {
        self.head.starts_with(b"PK\x03\x04")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const F: ModelFormat = ModelFormat { id: "x", name: "X", hint: ".x" };

    #[test]
    fn probes_files_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        let p = Probe::new(dir.path()).unwrap();
        assert!(p.is_dir && p.head.is_empty());
        let f = dir.path().join("M.ONNX");
        std::fs::write(&f, [7u8; 100]).unwrap();
        let p = Probe::new(&f).unwrap();
        assert_eq!((p.extension.as_str(), p.head.len()), ("onnx", Probe::HEAD));
        assert!(p.has_extension(&["onnx"]) && !p.is_zip());
        let err = Probe::new(&dir.path().join("gone.onnx")).unwrap_err().to_string();
        assert!(err.contains("gone.onnx") && err.contains("cannot read"), "{err}");
    }

    #[test]
    fn sniff_and_display() {
        assert_eq!(Sniff::Content(F).format(), Some(F));
        assert_eq!(Sniff::No.format(), None);
        assert_eq!(F.to_string(), "X");
        assert_eq!(serde_json::to_string(&F).unwrap(), "\"x\"");
    }
}
