//! ONNX Runtime backend for **infer**, through the `ort` crate with the library loaded at run time.
//!
//! Without the `runtime` feature the backend still exists and reports itself as not compiled, so
//! every build and every report lists it. With it, the library is found by [`locate::find`] (the
//! project's `.runtimes/` written by `cargo xtask setup`, or `ORT_DYLIB_PATH`).
//!
//! ```
//! use infer_core::Backend;
//! let backend = infer_onnx::OnnxBackend;
//! assert_eq!(backend.name(), "onnx");
//! // Err(NotCompiled) without the `runtime` feature, Err(Unavailable) without the library.
//! let _ = backend.probe();
//! ```

pub mod locate;
pub mod profile;
pub mod proto;
#[cfg(feature = "runtime")]
mod runtime;
#[cfg(not(feature = "runtime"))]
#[path = "stub.rs"]
mod runtime;

use std::path::Path;

use infer_core::{
    Backend, BackendInfo, Error, LoadOptions, ModelFormat, ParameterCount, Probe, Result, Session, Sniff,
};

/// Backend name used in reports and on the command line.
pub const BACKEND: &str = "onnx";
/// The ONNX Runtime version `cargo xtask setup` installs.
pub const REQUIRED_VERSION: &str = "1.31.1";
/// The oldest ONNX Runtime minor version the `ort` binding accepts.
pub const REQUIRED_MINOR: u32 = 31;

/// The ONNX Runtime backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct OnnxBackend;

/// An ONNX protobuf file.
pub const ONNX: ModelFormat = ModelFormat { id: "onnx", name: "ONNX", hint: ".onnx" };

/// Recognises an ONNX file: the `.onnx` extension, confirmed by a protobuf `ModelProto` start
/// (field 1, `ir_version`, a varint: byte `0x08`), which every exporter writes first.
#[must_use]
pub fn sniff(probe: &Probe) -> Sniff {
    if !probe.has_extension(&["onnx"]) {
        return Sniff::No;
    }
    if probe.head.first() == Some(&0x08) { Sniff::Content(ONNX) } else { Sniff::Name(ONNX) }
}

/// Reads and validates an ONNX file without ONNX Runtime.
///
/// # Errors
/// [`Error::Load`] naming the file when it cannot be read or is not an ONNX model.
pub fn inspect(path: &Path) -> Result<proto::ModelSummary> {
    let bytes = std::fs::read(path).map_err(|e| Error::load(path, format!("cannot read: {e}")))?;
    if bytes.is_empty() {
        return Err(Error::load(path, "the file is empty: expected an ONNX model (protobuf)"));
    }
    let summary = proto::summarize(&bytes).map_err(|reason| Error::load(path, reason))?;
    for location in &summary.external_data {
        check_external_data(path, location)?;
    }
    Ok(summary)
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

impl Backend for OnnxBackend {
    fn name(&self) -> &'static str {
        BACKEND
    }

    fn formats(&self) -> &'static [ModelFormat] {
        &[ONNX]
    }

    fn sniff(&self, probe: &Probe) -> Sniff {
        sniff(probe)
    }

    fn probe(&self) -> Result<BackendInfo> {
        runtime::probe()
    }

    fn load(&self, path: &Path, opts: &LoadOptions) -> Result<Box<dyn Session>> {
        infer_core::options::check(BACKEND, self.options(), &opts.options)?;
        let summary = inspect(path)?;
        let parameters = ParameterCount { count: summary.parameters, bytes: summary.parameter_bytes };
        runtime::load(path, opts, parameters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2, u8::try_from(bytes.len()).unwrap()];
        out.extend_from_slice(bytes);
        out
    }

    /// A model (IR 8) whose one initializer is stored as external data at `location`.
    fn model(location: &str) -> Vec<u8> {
        let entry = [field(1, b"location"), field(2, location.as_bytes())].concat();
        let initializer = [field(8, b"w"), field(13, &entry)].concat();
        [vec![0x08, 8], field(7, &field(5, &initializer))].concat()
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
}
