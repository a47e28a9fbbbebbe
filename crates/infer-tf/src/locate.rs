//! Finding the TensorFlow C library at run time, without the user exporting anything.

use std::path::PathBuf;

/// Environment variable naming the folder that holds `libtensorflow.so` (the `tensorflow`
/// crate's own); it wins over the project's copy.
pub const ENV_VAR: &str = "TENSORFLOW_DIR";

/// The library's file name, as the `tensorflow` crate looks it up inside a folder.
pub const FILE: &str = "libtensorflow.so";

/// Where `cargo xtask setup` links the library's folder inside the project.
const PROJECT_DIR: &str = ".runtimes/tensorflow/lib";

/// The folders searched, in order: `$TENSORFLOW_DIR`; `lib/` beside the executable (a carried
/// binary); the project's `.runtimes/tensorflow/lib` found from the executable's folder upwards;
/// the project this crate was built in.
#[must_use]
pub fn candidates() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> =
        std::env::var_os(ENV_VAR).filter(|p| !p.is_empty()).map(PathBuf::from).into_iter().collect();
    out.extend(infer_core::kit::project_candidates(Some("lib"), PROJECT_DIR));
    out.dedup();
    out
}

/// The first folder holding [`FILE`], or the list of places looked at.
///
/// # Errors
/// A message listing where it looked and how to install the library.
pub fn find() -> Result<PathBuf, String> {
    if let Some(explicit) = std::env::var_os(ENV_VAR).filter(|p| !p.is_empty()) {
        let dir = PathBuf::from(explicit);
        return if dir.join(FILE).is_file() {
            Ok(dir)
        } else {
            Err(format!("{ENV_VAR} is {}, which holds no {FILE}", dir.display()))
        };
    }
    let all = candidates();
    all.iter().find(|d| d.join(FILE).is_file()).cloned().ok_or_else(|| {
        format!(
            "TensorFlow C library not found (looked for {FILE} in {}); run `cargo xtask setup`, or set {ENV_VAR} \
             to a folder holding it",
            all.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// `.runtimes/tensorflow/lib` of the workspace this crate was built in, however the path to
    /// it is spelled (`crates/<crate>/../..`).
    #[test]
    fn the_project_copy_is_always_a_candidate() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap();
        let depth = Path::new(PROJECT_DIR).components().count();
        let in_root = |c: &PathBuf| {
            c.ends_with(PROJECT_DIR)
                && c.ancestors().nth(depth).and_then(|r| r.canonicalize().ok()) == Some(root.clone())
        };
        assert!(candidates().iter().any(in_root), "{:?}", candidates());
    }
}
