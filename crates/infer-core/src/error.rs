//! The one error type of infer: every backend converts its framework's errors into it.

use std::path::PathBuf;

use crate::{DType, Device};

/// Result alias used across infer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while loading or running a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The backend's framework binding was not compiled into this build.
    #[error(
        "backend `{backend}` not compiled: rebuild with feature `{feature}` (cargo xtask setup installs its runtime)"
    )]
    NotCompiled {
        /// Backend name.
        backend: String,
        /// Cargo feature that enables it.
        feature: String,
    },
    /// The backend is compiled in but cannot be used here (library missing, device absent, ...).
    #[error("backend `{backend}` unavailable: {reason}")]
    Unavailable {
        /// Backend name.
        backend: String,
        /// Why, and how to fix it where we know.
        reason: String,
    },
    /// The requested device cannot be used by this backend.
    #[error("device `{device}` not available for backend `{backend}`: {reason}")]
    DeviceUnavailable {
        /// Backend name.
        backend: String,
        /// Device asked for.
        device: Device,
        /// Why.
        reason: String,
    },
    /// A model file or folder could not be loaded.
    #[error("cannot load model {}: {reason}", path.display())]
    Load {
        /// The model path.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// An input (or output) had a shape other than the model's.
    #[error("shape mismatch for `{name}`: expected {expected}, got {actual:?}")]
    ShapeMismatch {
        /// Input or output name.
        name: String,
        /// Expected shape, dynamic dimensions shown symbolically.
        expected: String,
        /// Actual shape.
        actual: Vec<usize>,
    },
    /// An input had a dtype other than the model's.
    #[error("dtype mismatch for `{name}`: expected {expected}, got {actual}")]
    DtypeMismatch {
        /// Input or output name.
        name: String,
        /// Expected dtype.
        expected: DType,
        /// Actual dtype.
        actual: DType,
    },
    /// Wrong number of inputs, unknown input name and the like.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A file of ours (npy, image, labels, report) could not be read or written.
    #[error("{}: {reason}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong: expected vs found where known.
        reason: String,
    },
    /// An I/O error on a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An error raised by a backend's framework, converted to text.
    #[error("{backend}: {message}")]
    Backend {
        /// Backend name.
        backend: String,
        /// The framework's message.
        message: String,
    },
}

impl Error {
    /// Builds a [`Error::File`] error.
    pub fn file(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::File { path: path.into(), reason: reason.into() }
    }

    /// Builds an [`Error::Io`] error.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }

    /// Builds an [`Error::Load`] error.
    pub fn load(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Load { path: path.into(), reason: reason.into() }
    }

    /// Builds an [`Error::Backend`] error.
    pub fn backend(backend: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self::Backend { backend: backend.into(), message: message.to_string() }
    }
}
