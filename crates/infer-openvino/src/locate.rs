//! Finding OpenVINO's C library (`libopenvino_c.so`) without the user exporting anything.
//!
//! The `openvino` crate (feature `runtime-linking`) opens the library at run time: by default
//! where `openvino-finder` looks (`OPENVINO_INSTALL_DIR`, `INTEL_OPENVINO_DIR`,
//! `LD_LIBRARY_PATH`, system folders), or from an explicit path given to
//! `openvino_sys::library::load_from`. infer gives it the path found here first, so the project's
//! pinned copy wins over whatever else is installed; the finder's own search is the last resort.
//!
//! The library is loaded through its real path (links resolved), because it finds
//! `libopenvino.so` and the device plugins beside itself (`$ORIGIN`).

use std::path::{Path, PathBuf};

/// Environment variable naming the library, or a folder holding it; it wins over the project's copy.
pub const ENV_VAR: &str = "INFER_OPENVINO_LIB";

/// The library's file name; the wheel ships it versioned (`libopenvino_c.so.2641`).
pub const LIBRARY: &str = "libopenvino_c.so";

/// Where `cargo xtask setup` links the wheel's `openvino/libs` folder inside the project.
const PROJECT_DIR: &str = ".runtimes/openvino";

/// The library inside `dir`: `libopenvino_c.so`, else the highest-versioned `libopenvino_c.so.N`.
#[must_use]
pub fn library_in(dir: &Path) -> Option<PathBuf> {
    let plain = dir.join(LIBRARY);
    if plain.is_file() {
        return Some(plain);
    }
    let prefix = format!("{LIBRARY}.");
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let version: u64 = name.strip_prefix(&prefix)?.split('.').next()?.parse().ok()?;
            e.path().is_file().then(|| (version, e.path()))
        })
        .max()
        .map(|(_, p)| p)
}

/// The folders searched, in order: `lib/` beside the executable (a carried binary); the
/// project's `.runtimes/openvino` found from the executable's folder upwards; the project this
/// crate was built in. (`$INFER_OPENVINO_LIB`, when set, is the only place looked at.)
#[must_use]
pub fn candidates() -> Vec<PathBuf> {
    infer_core::kit::project_candidates(Some("lib"), PROJECT_DIR)
}

/// The library to load, links resolved: `$INFER_OPENVINO_LIB` (a file, or a folder holding
/// it) when set, else the first of [`candidates`] that holds it.
///
/// # Errors
/// A message saying where it looked and how to install the library.
pub fn find() -> Result<PathBuf, String> {
    let resolve = |p: PathBuf| p.canonicalize().unwrap_or(p);
    if let Some(explicit) = std::env::var_os(ENV_VAR).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(explicit);
        let lib = if p.is_dir() { library_in(&p) } else { p.is_file().then(|| p.clone()) };
        return lib.map(resolve).ok_or_else(|| {
            format!("{ENV_VAR} points to {}, which is neither {LIBRARY}* nor a folder holding it", p.display())
        });
    }
    let all = candidates();
    all.iter().find_map(|d| library_in(d)).map(resolve).ok_or_else(|| {
        format!(
            "OpenVINO's C library ({LIBRARY}) not found (looked in {}); run `cargo xtask setup` to install openvino {} \
             into the project, or set {ENV_VAR} to the library or its folder",
            all.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
            crate::REQUIRED_VERSION
        )
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn picks_the_plain_name_else_the_highest_version() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(library_in(dir.path()), None);
        for name in ["libopenvino_c.so.2541", "libopenvino_c.so.2641", "libopenvino_c.so.x", "libopenvino.so.9999"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        assert_eq!(library_in(dir.path()), Some(dir.path().join("libopenvino_c.so.2641")));
        std::fs::write(dir.path().join("libopenvino_c.so"), b"").unwrap();
        assert_eq!(library_in(dir.path()), Some(dir.path().join("libopenvino_c.so")));
    }

    #[test]
    fn candidates_end_with_the_source_tree() {
        let c = candidates();
        assert!(c.last().unwrap().ends_with(".runtimes/openvino"), "{c:?}");
        assert!(c.len() >= 2);
    }
}
