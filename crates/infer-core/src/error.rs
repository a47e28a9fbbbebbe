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
        /// Cargo feature that enables it, as `crate/feature` (see [`crate::kit::not_compiled`]).
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
    /// An error raised by a backend's framework. `message` is its one-line summary (a native
    /// stack trace or log prefix removed); `source` keeps the framework's error where there is one.
    #[error("{backend}: {message}")]
    Backend {
        /// Backend name.
        backend: String,
        /// The framework's message, reduced to one line.
        message: String,
        /// The framework's own error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    },
    /// Another error with what was being done when it happened.
    #[error("{context}: {source}")]
    Context {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: Box<Error>,
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

    /// Builds an [`Error::Backend`] error from a message alone.
    pub fn backend(backend: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self::Backend { backend: backend.into(), message: first_line(&message.to_string()), source: None }
    }

    /// Builds an [`Error::Backend`] error that keeps the framework's error as its source; the
    /// message is that error's first meaningful line (see [`first_line`]).
    pub fn wrap(backend: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend {
            backend: backend.into(),
            message: first_line(&source.to_string()),
            source: Some(Box::new(source)),
        }
    }

    /// As [`Error::wrap`], with the message the backend made of the error first (its own
    /// runtime's clean-up: the lines that say where and how it failed rather than what), then
    /// reduced to one line as [`first_line`] does.
    pub fn wrap_as(
        backend: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
        message: impl std::fmt::Display,
    ) -> Self {
        Self::Backend {
            backend: backend.into(),
            message: first_line(&message.to_string()),
            source: Some(Box::new(source)),
        }
    }

    /// Adds what was being done (`Error::Context`).
    #[must_use]
    pub fn context(self, context: impl Into<String>) -> Self {
        Self::Context { context: context.into(), source: Box::new(self) }
    }

    /// The innermost error below any [`Error::Context`] layers.
    #[must_use]
    pub fn root(&self) -> &Error {
        match self {
            Error::Context { source, .. } => source.root(),
            e => e,
        }
    }
}

/// Adds context to a failed [`Result`], as `anyhow::Context` does, keeping the [`Error`] type.
pub trait Context<T> {
    /// Wraps the error in [`Error::Context`] with `context`.
    ///
    /// # Errors
    /// The original error, with the context.
    fn context(self, context: impl Into<String>) -> Result<T>;

    /// Like [`Context::context`], building the text only on failure.
    ///
    /// # Errors
    /// The original error, with the context.
    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T>;
}

impl<T> Context<T> for Result<T> {
    fn context(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|e| e.context(context))
    }

    fn with_context<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| e.context(f()))
    }
}

/// The one line of a native runtime's message that says what went wrong, by what every runtime
/// shares: ANSI colour codes, empty lines and C++ stack frames (`frame #N: …`) are dropped, a
/// log prefix in brackets (`[E:onnxruntime:, file.cc:572 Func] …`) is cut, and of what is left the
/// first line is kept without its native source locations (`file.cc:256 ns::Func(…)`). What only
/// one runtime writes (libtorch's `Exception raised from`, OpenVINO's `Exception from <file>:`
/// headers) is that backend's to drop first: see [`Error::wrap_as`].
#[must_use]
pub fn first_line(message: &str) -> String {
    let clean: String = strip_ansi(message);
    let first = clean.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with("frame #")).unwrap_or("");
    strip_source_locations(strip_log_prefix(first))
}

/// `failed:/onnxruntime_src/core/graph/model.cc:256 onnxruntime::Model::Model(onnx::ModelProto&&, …) Unsupported …`
/// → `failed: Unsupported …`: a native source location (`file.cc:LINE`) and the C++ signature
/// after it say where the runtime's code threw, not what the user can change.
fn strip_source_locations(line: &str) -> String {
    const EXTENSIONS: [&str; 5] = [".cc:", ".cpp:", ".cxx:", ".h:", ".hpp:"];
    let mut out = line.to_string();
    while let Some((start, end)) = source_location(&out, &EXTENSIONS) {
        let mut rest = out[end..].trim_start();
        if let Some(open) = rest.find('(') {
            let name = &rest[..open];
            if name.contains("::") && !name.contains(char::is_whitespace) {
                let mut depth = 0usize;
                for (i, c) in rest.char_indices().skip(open) {
                    match c {
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                rest = rest[i + 1..].trim_start();
                                rest = rest.strip_prefix("const ").unwrap_or(rest);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        let head = out[..start].trim_end();
        let sep = if head.is_empty() || rest.is_empty() { "" } else { " " };
        out = format!("{head}{sep}{rest}");
    }
    out
}

/// The byte range of the first `path/file.cc:LINE` in `s`.
fn source_location(s: &str, extensions: &[&str]) -> Option<(usize, usize)> {
    let path_char = |c: char| c.is_ascii_alphanumeric() || "/._-+".contains(c);
    extensions
        .iter()
        .filter_map(|ext| {
            let mut from = 0;
            while let Some(at) = s[from..].find(ext).map(|i| i + from) {
                let digits = s[at + ext.len()..].chars().take_while(char::is_ascii_digit).count();
                let start = s[..at].rfind(|c: char| !path_char(c)).map_or(0, |i| i + 1);
                if digits > 0 && start < at {
                    return Some((start, at + ext.len() + digits));
                }
                from = at + ext.len();
            }
            None
        })
        .min()
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// `[E:onnxruntime:, sequential_executor.cc:572 ExecuteKernel] Non-zero status …` → `Non-zero status …`.
fn strip_log_prefix(line: &str) -> &str {
    if line.starts_with('[')
        && let Some(end) = line.find("] ")
    {
        return line[end + 2..].trim();
    }
    line
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn native_messages_are_reduced_to_their_line() {
        let stack = "Expected 4-dimensional input\nframe #0: c10::Error::Error() + 0x9a\nframe #1: x";
        assert_eq!(first_line(stack), "Expected 4-dimensional input");
        assert_eq!(first_line("frame #0: top\nthe cause"), "the cause");
        let ort = "\u{1b}[0;31m[E:onnxruntime:, sequential_executor.cc:572 ExecuteKernel] Non-zero status code\u{1b}[m";
        assert_eq!(first_line(ort), "Non-zero status code");
        assert_eq!(first_line("\n\n  plain  \n"), "plain");
        let load = "Load model from m.onnx failed:/onnxruntime_src/onnxruntime/core/graph/model.cc:256 \
                    onnxruntime::Model::Model(onnx::ModelProto&&, const onnxruntime::PathString&, const \
                    onnxruntime::logging::Logger&) Unsupported model IR version: 14, max supported IR version: 13";
        assert_eq!(
            first_line(load),
            "Load model from m.onnx failed: Unsupported model IR version: 14, max supported IR version: 13"
        );
        // A file name that is part of the message stays: only `file.cc:LINE` locations go.
        assert_eq!(first_line("cannot open weights.h5: no such file"), "cannot open weights.h5: no such file");
    }

    #[test]
    fn wrapped_errors_keep_their_source_and_context() {
        use std::error::Error as _;
        let io = std::io::Error::other("disk on fire\nframe #0: x");
        let e = Error::wrap("onnx", io);
        assert_eq!(e.to_string(), "onnx: disk on fire");
        assert!(e.source().unwrap().to_string().contains("frame #0"));
        let e2 = Error::wrap_as("openvino", std::io::Error::other("raw"), "cleaned\nmore");
        assert_eq!(e2.to_string(), "openvino: cleaned");
        assert_eq!(e2.source().unwrap().to_string(), "raw");
        let r: Result<()> = Err(e);
        let e = r.context("loading m.onnx").unwrap_err();
        assert_eq!(e.to_string(), "loading m.onnx: onnx: disk on fire");
        assert!(matches!(e.root(), Error::Backend { .. }));
    }
}
