//! Keras files (`.keras`, `.h5`) to SavedModel, through the project venv's Python.
//!
//! The TensorFlow C API cannot read Keras files. [`ensure_saved_model`] runs an embedded script
//! with the venv's TensorFlow: `keras.saving.load_model(path, compile=False, safe_mode=True)`
//! (a file with a `Lambda` layer or other code that would run on load is refused), then Keras 3
//! `model.export()` into a temporary folder beside the model, renamed to `<model>.savedmodel/`
//! with a stamp (source size, modification time and SHA-256, and the script's hash). The next
//! load reuses that folder while the stamp matches.

use std::{
    io::Read,
    path::{Path, PathBuf},
    process::Command,
    time::UNIX_EPOCH,
};

use infer_core::{Error, Result};
use sha2::{Digest, Sha256};

/// Environment variable naming the Python to convert Keras files with; it wins over the venv.
pub const PYTHON_ENV: &str = "INFER_PYTHON";

/// The venv `cargo xtask setup` creates, relative to the project root.
const VENV_PYTHON: &str = ".venv/bin/python";

/// The conversion script run by the venv's Python.
const SCRIPT: &str = include_str!("convert_keras.py");

/// File inside the cache folder that records what it was converted from.
pub const STAMP_FILE: &str = "infer-keras-stamp.txt";

/// The places searched for Python, in order: `$INFER_PYTHON`; `.venv/bin/python` in the
/// executable's folder and its ancestors; the project this crate was built in.
#[must_use]
pub fn python_candidates() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> =
        std::env::var_os(PYTHON_ENV).filter(|p| !p.is_empty()).map(PathBuf::from).into_iter().collect();
    out.extend(infer_core::kit::project_candidates(None, VENV_PYTHON));
    out.dedup();
    out
}

/// The Python to convert Keras files with.
///
/// # Errors
/// A message listing where it looked and saying to run `cargo xtask setup` or set `INFER_PYTHON`.
pub fn find_python() -> std::result::Result<PathBuf, String> {
    if let Some(explicit) = std::env::var_os(PYTHON_ENV).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(explicit);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("{PYTHON_ENV} points to {}, which is not a file", p.display()))
        };
    }
    let all = python_candidates();
    all.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        format!(
            "Keras files are converted to a SavedModel with TensorFlow's Python, but no Python was found \
             (looked at {}); run `cargo xtask setup` to create the project venv, or set {PYTHON_ENV} to a \
             Python that has tensorflow and keras 3",
            all.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )
    })
}

/// The folder the SavedModel converted from `model` is cached in: `<model>.savedmodel` beside it.
#[must_use]
pub fn cache_dir(model: &Path) -> PathBuf {
    let mut name = model.file_name().map(std::ffi::OsStr::to_os_string).unwrap_or_default();
    name.push(".savedmodel");
    model.with_file_name(name)
}

/// A SavedModel made from a Keras file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    /// The SavedModel folder.
    pub dir: PathBuf,
    /// Whether an earlier conversion was reused (no Python ran).
    pub reused: bool,
}

/// What the stamp records: the source's size, modification time and SHA-256, and the script's hash.
fn stamp_for(model: &Path) -> Result<String> {
    let meta = std::fs::metadata(model).map_err(|e| Error::load(model, format!("cannot read: {e}")))?;
    let mtime = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    let mut file = std::fs::File::open(model).map_err(|e| Error::load(model, format!("cannot read: {e}")))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::load(model, format!("cannot read: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let source = hasher.finalize();
    let script = Sha256::digest(SCRIPT.as_bytes());
    Ok(format!(
        "source_size={}\nsource_mtime_ns={mtime}\nsource_sha256={}\nconverter_sha256={}\n",
        meta.len(),
        hex(&source),
        hex(&script)
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Returns a SavedModel for the Keras file `model`, converting it (and saying so on stderr) unless
/// the cache beside it was made from the same file.
///
/// # Errors
/// [`Error::Load`] naming the model when it cannot be read, when no Python is found, when Keras
/// safe mode refuses it, when the conversion fails, or when the cache cannot be written beside it.
pub fn ensure_saved_model(model: &Path) -> Result<Converted> {
    let stamp = stamp_for(model)?;
    let cache = cache_dir(model);
    if std::fs::read_to_string(cache.join(STAMP_FILE)).is_ok_and(|s| s == stamp)
        && cache.join("saved_model.pb").is_file()
    {
        eprintln!(
            "infer: using the SavedModel converted earlier from {} (cached in {})",
            model.display(),
            cache.display()
        );
        return Ok(Converted { dir: cache, reused: true });
    }
    let python = find_python().map_err(|reason| Error::load(model, reason))?;
    let parent = match model.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new().prefix(".infer-keras-").tempdir_in(parent).map_err(|e| {
        Error::load(model, format!("cannot create the SavedModel cache beside the model in {}: {e}", parent.display()))
    })?;
    let out = tmp.path().join("saved_model");
    eprintln!(
        "infer: converting {} to a SavedModel with {} (Keras model.export) ...",
        model.display(),
        python.display()
    );
    let output = Command::new(&python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(model)
        .arg(&out)
        .env("TF_CPP_MIN_LOG_LEVEL", "2")
        .output()
        .map_err(|e| Error::load(model, format!("cannot run {}: {e}", python.display())))?;
    if !output.status.success() {
        return Err(conversion_error(model, &python, &output));
    }
    if !out.join("saved_model.pb").is_file() {
        return Err(Error::load(model, format!("the conversion wrote no saved_model.pb into {}", out.display())));
    }
    infer_core::fsutil::write_atomic(&out.join(STAMP_FILE), stamp.as_bytes())?;
    if cache.exists() {
        std::fs::remove_dir_all(&cache)
            .map_err(|e| Error::load(model, format!("cannot replace the stale cache {}: {e}", cache.display())))?;
    }
    std::fs::rename(&out, &cache)
        .map_err(|e| Error::load(model, format!("cannot move the SavedModel to {}: {e}", cache.display())))?;
    eprintln!(
        "infer: converted {} to a SavedModel in {} (reused while the file is unchanged)",
        model.display(),
        cache.display()
    );
    Ok(Converted { dir: cache, reused: false })
}

fn conversion_error(model: &Path, python: &Path, output: &std::process::Output) -> Error {
    let stderr = String::from_utf8_lossy(&output.stderr);
    if let Some(marker) = stderr.lines().rev().find_map(|l| l.strip_prefix("INFER_ERROR ")) {
        let (kind, message) = marker.split_once(": ").unwrap_or(("load", marker));
        let reason = match kind {
            "unsafe" => format!(
                "refused by Keras safe mode: the file holds code that would run when it is loaded (such as a \
                 Lambda layer), which infer does not load; re-save the model without it. Keras said: {message}"
            ),
            "export" => format!("Keras could load the model but not export it to a SavedModel: {message}"),
            _ => format!("Keras (run by {}) cannot load the file: {message}", python.display()),
        };
        return Error::load(model, reason);
    }
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message").trim();
    Error::load(
        model,
        format!(
            "converting to a SavedModel with {} failed ({}): {last}; does that Python have tensorflow and keras 3? \
             (`cargo xtask setup` installs them)",
            python.display(),
            output.status
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_folder_sits_beside_the_model() {
        assert_eq!(cache_dir(Path::new("/m/model.keras")), Path::new("/m/model.keras.savedmodel"));
        assert_eq!(cache_dir(Path::new("net.h5")), Path::new("net.h5.savedmodel"));
    }

    #[test]
    fn stamp_changes_with_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.keras");
        std::fs::write(&p, b"first").unwrap();
        let a = stamp_for(&p).unwrap();
        assert_eq!(a, stamp_for(&p).unwrap());
        assert!(a.contains("source_size=5\n"), "{a}");
        std::fs::write(&p, b"other").unwrap();
        assert_ne!(a, stamp_for(&p).unwrap());
        let err = stamp_for(&dir.path().join("missing.keras")).unwrap_err().to_string();
        assert!(err.contains("missing.keras"), "{err}");
    }
}
