//! Generated fixture folders (`cargo xtask fixtures`): a model in several formats with a
//! reference input and the reference output of the framework that wrote each file.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use infer_core::{Backend, DType, Dim, Error, Result};
use serde::Deserialize;

use infer_measure::{
    workload::Workload,
    workload::args::{DimArg, ShapeArg},
};

/// One format's files inside a fixture folder.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FormatEntry {
    /// Model file or folder, relative to the fixture folder.
    pub file: String,
    /// Reference output for this format's input: a `.npy`, or a `.npz` of every output by name.
    pub reference: String,
    /// This format's own input, when it differs from the fixture's (e.g. NHWC for a TensorFlow
    /// model); `None` means the fixture's input.
    #[serde(default)]
    pub input: Option<String>,
}

/// The reference input.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InputEntry {
    /// `.npy` file (one input) or `.npz` (every input by name), relative to the fixture folder.
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
    /// The size of each symbolic dimension other than the batch for synthetic inputs
    /// (`{"sequence": 128}`), where the model has some.
    #[serde(default)]
    pub dims: BTreeMap<String, usize>,
    /// The model's inputs, for a model with several or with symbolic dimensions (bert).
    #[serde(default)]
    pub inputs: Vec<InputMeta>,
}

/// One input of a fixture's model as `meta.json` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InputMeta {
    /// Input name, the same in every format.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Dimensions: sizes or symbols (`["batch", "sequence"]`).
    pub dims: Vec<Dim>,
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

    /// Whether `path` is a fixture folder: a folder holding `meta.json`.
    #[must_use]
    pub fn is_fixture(path: &Path) -> bool {
        path.is_dir() && path.join("meta.json").is_file()
    }

    /// The workload of the timed runs: `given`, or, where it says nothing about the inputs'
    /// shapes or data and `meta.json` gives the sizes of symbolic dimensions (`"dims"`), a
    /// `--shape` per input of `"inputs"` at those sizes (a SavedModel's inputs name no dimension,
    /// so `--dim` would not reach them), else a `--dim` per symbol.
    #[must_use]
    pub fn workload(&self, given: &Workload) -> Workload {
        let says_nothing =
            given.shapes.is_empty() && given.dims.is_empty() && given.positional.is_empty() && given.files.is_empty();
        if !says_nothing || self.meta.dims.is_empty() {
            return given.clone();
        }
        let size = |d: &Dim| match d {
            Dim::Fixed(n) => Some(*n),
            Dim::Dynamic(Some(s)) => self.meta.dims.get(s).copied(),
            Dim::Dynamic(None) => None,
        };
        let shapes: Option<Vec<ShapeArg>> = self
            .meta
            .inputs
            .iter()
            .map(|i| {
                // The leading size follows each batch size.
                let rest: Option<Vec<usize>> = i.dims.iter().skip(1).map(size).collect();
                let dims = std::iter::once(1).chain(rest?).collect();
                Some(ShapeArg { input: i.name.clone(), dims, dtype: Some(i.dtype) })
            })
            .collect();
        match shapes {
            Some(shapes) if !shapes.is_empty() => Workload { shapes, ..given.clone() },
            _ => {
                let dims = self
                    .meta
                    .dims
                    .iter()
                    .map(|(symbol, &n)| DimArg { symbol: symbol.clone(), values: vec![n] })
                    .collect();
                Workload { dims, ..given.clone() }
            }
        }
    }

    /// The symbol of each input axis that `meta.json` names (`input_ids[1]` → `sequence`), so
    /// that a row of a format whose inputs name no dimension shows the same sizes.
    #[must_use]
    pub fn dim_names(&self) -> BTreeMap<String, String> {
        let mut names = BTreeMap::new();
        for i in &self.meta.inputs {
            for (axis, d) in i.dims.iter().enumerate().skip(1) {
                if let Dim::Dynamic(Some(symbol)) = d {
                    names.insert(format!("{}[{axis}]", i.name), symbol.clone());
                }
            }
        }
        names
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
