//! Generated fixture folders (`cargo xtask fixtures`): a model in several formats with a
//! reference input and the reference output of the framework that wrote each file.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use infer_core::{Backend, Error, Result};
use serde::Deserialize;

/// One format's files inside a fixture folder.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FormatEntry {
    /// Model file or folder, relative to the fixture folder.
    pub file: String,
    /// Reference output (`.npy`) for this format's input.
    pub reference: String,
    /// This format's own input (`.npy`), when it differs from the fixture's (e.g. NHWC for a
    /// TensorFlow model); `None` means the fixture's input.
    #[serde(default)]
    pub input: Option<String>,
}

/// The reference input.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InputEntry {
    /// `.npy` file, relative to the fixture folder.
    pub file: String,
}

/// `meta.json` of a fixture folder.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FixtureMeta {
    /// Model name (`resnet18`).
    pub model: String,
    /// The reference input.
    pub input: InputEntry,
    /// Files per format id (`onnx`, `torchscript`, `savedmodel`: the ids the backends declare).
    pub formats: BTreeMap<String, FormatEntry>,
    /// Formats the generator could not export, by format id, with the reason.
    #[serde(default)]
    pub unavailable: BTreeMap<String, String>,
}

/// A fixture folder with its metadata.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The folder.
    pub dir: PathBuf,
    /// Its `meta.json`.
    pub meta: FixtureMeta,
}

impl Fixture {
    /// Opens `dir/meta.json`.
    ///
    /// # Errors
    /// File errors naming `meta.json`, suggesting `cargo xtask fixtures` when it is missing.
    pub fn open(dir: &Path) -> Result<Self> {
        let meta_path = dir.join("meta.json");
        let bytes = std::fs::read(&meta_path).map_err(|e| {
            Error::file(
                &meta_path,
                format!("cannot read fixture metadata ({e}); generate it with `cargo xtask fixtures`"),
            )
        })?;
        let meta = serde_json::from_slice(&bytes)
            .map_err(|e| Error::file(&meta_path, format!("invalid fixture metadata: {e}")))?;
        Ok(Self { dir: dir.to_path_buf(), meta })
    }

    /// Absolute path of a file of the fixture.
    #[must_use]
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.join(relative)
    }

    /// The reference input file.
    #[must_use]
    pub fn input(&self) -> PathBuf {
        self.path(&self.meta.input.file)
    }

    /// The fixture's files for `backend`: those of the first format it reads (in its own order)
    /// that the fixture has. `Err` says why there is none, with the generator's reason where it
    /// gave one.
    ///
    /// # Errors
    /// The reason, as text for the comparison's row.
    pub fn entry_for(&self, backend: &dyn Backend) -> std::result::Result<&FormatEntry, String> {
        let formats = backend.formats();
        if let Some(entry) = formats.iter().find_map(|f| self.meta.formats.get(f.id)) {
            return Ok(entry);
        }
        let first = formats.first().map_or("", |f| f.id);
        match formats.iter().find_map(|f| self.meta.unavailable.get(f.id)) {
            Some(reason) => Err(format!("the fixture has no {first} model: {reason}")),
            None => Err(format!("the fixture has no {first} model")),
        }
    }

    /// The input file of one format: its own when the entry names one, else the fixture's.
    #[must_use]
    pub fn input_for(&self, format: &FormatEntry) -> PathBuf {
        format.input.as_deref().map_or_else(|| self.input(), |f| self.path(f))
    }
}
