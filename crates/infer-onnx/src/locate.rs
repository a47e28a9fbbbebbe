//! Finding the ONNX Runtime shared library without the user exporting anything.

use std::path::PathBuf;

/// Environment variable that names the library explicitly; it wins over the project's copy.
pub const ENV_VAR: &str = "ORT_DYLIB_PATH";

/// Where `cargo xtask setup` links the library inside the project.
const PROJECT_LINK: &str = ".runtimes/onnxruntime/libonnxruntime.so";

/// The places searched, in order: `$ORT_DYLIB_PATH`; `lib/libonnxruntime.so` beside the executable
/// (a carried binary); the project's `.runtimes/` found from the executable's folder upwards; the
/// project this crate was built in.
#[must_use]
pub fn candidates() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> =
        std::env::var_os(ENV_VAR).filter(|p| !p.is_empty()).map(PathBuf::from).into_iter().collect();
    out.extend(infer_core::kit::project_candidates(Some("lib/libonnxruntime.so"), PROJECT_LINK));
    out.dedup();
    out
}

/// The first candidate that exists, or the list of places looked at.
///
/// # Errors
/// A message listing where it looked and how to install the library.
pub fn find() -> Result<PathBuf, String> {
    let all = candidates();
    if let Some(explicit) = std::env::var_os(ENV_VAR).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(explicit);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("{ENV_VAR} points to {}, which is not a file", p.display()))
        };
    }
    all.iter().find(|p| p.is_file()).map(|p| p.canonicalize().unwrap_or_else(|_| p.clone())).ok_or_else(|| {
        format!(
            "ONNX Runtime library not found (looked at {}); run `cargo xtask setup` to install onnxruntime {} \
             into the project, or set {ENV_VAR} to a libonnxruntime.so of version 1.{}",
            all.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
            crate::REQUIRED_VERSION,
            crate::REQUIRED_MINOR
        )
    })
}
