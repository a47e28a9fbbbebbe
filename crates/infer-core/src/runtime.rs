//! A backend's native runtime, declared once, in the backend's own `Cargo.toml`:
//!
//! ```toml
//! [package.metadata.infer.runtime]
//! name = "ONNX Runtime"                 # for messages
//! package = "onnxruntime==1.31.1"       # the pinned PyPI requirement that ships the library
//! variable = "ORT_DYLIB_PATH"           # names the library, or a folder holding it, explicitly
//! folder = "onnxruntime"                # where `cargo xtask setup` links it, under `.runtimes/`
//! library = "libonnxruntime.so"         # the file inside `folder` (versioned names match too)
//! links = { "libonnxruntime.so" = "onnxruntime/capi/libonnxruntime.so.*" }
//! # build-cfg = "infer_libtorch"        # only for a library linked at build time
//! ```
//!
//! Three readers, no second copy: the backend's build script (the shared
//! `build::declare_runtime`, behind this crate's `build` feature) turns it into the
//! static the backend hands to [`locate`] and reports as [`crate::Backend::runtime`], and
//! tells the crate's tests (and, through Cargo's `links` metadata, the CLI's tests) whether the
//! library is installed; `cargo xtask setup` reads it with `cargo metadata` and installs every
//! declared package, makes the links and writes the build flags. A backend with nothing to
//! install (a pure-Rust runtime) declares nothing.

use std::path::{Path, PathBuf};

/// What a backend's native runtime is and where it is found; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NativeRuntime {
    /// Its name in messages (`ONNX Runtime`).
    pub name: &'static str,
    /// The pinned PyPI requirement that ships it (`onnxruntime==1.31.1`).
    pub package: &'static str,
    /// The environment variable that names the library, or a folder holding it.
    pub variable: &'static str,
    /// The folder under `.runtimes/` where `cargo xtask setup` links it.
    pub folder: &'static str,
    /// The library inside `folder`; `libx.so` also matches a versioned `libx.so.N`.
    pub library: &'static str,
    /// The links set-up makes inside `folder`: (name, path in the venv's site-packages, a
    /// trailing `*` taking the first match); the name `.` makes `folder` itself the link.
    pub links: &'static [(&'static str, &'static str)],
    /// A `--cfg` that set-up adds to the build once the runtime is installed, for a library
    /// linked at build time (libtorch) rather than opened at run time.
    pub build_cfg: Option<&'static str>,
}

impl NativeRuntime {
    /// The version pinned in [`NativeRuntime::package`] (`1.31.1`), or the whole requirement.
    #[must_use]
    pub fn version(&self) -> &'static str {
        self.package.split_once("==").map_or(self.package, |(_, v)| v)
    }

    /// Where `cargo xtask setup` puts the library inside a project: `.runtimes/<folder>/<library>`.
    #[must_use]
    pub fn project_path(&self) -> String {
        format!(".runtimes/{}/{}", self.folder, self.library)
    }

    /// The places looked at, in order, when the variable is not set: `lib/` beside the
    /// executable (a carried binary), then the project's `.runtimes/<folder>` from the
    /// executable's folder upwards and in the workspace infer was built in.
    #[must_use]
    pub fn candidates(&self) -> Vec<PathBuf> {
        crate::kit::project_candidates(Some("lib"), &format!(".runtimes/{}", self.folder))
    }
}

/// The file `library` (`libx.so`, or a path such as `lib/libx.so`) inside `dir`: its plain
/// name, else the highest-versioned `libx.so.N`, else `None`.
#[must_use]
pub fn library_in(library: &str, dir: &Path) -> Option<PathBuf> {
    let plain = dir.join(library);
    if plain.is_file() {
        return Some(plain);
    }
    let (sub, file) = match library.rsplit_once('/') {
        Some((sub, file)) => (dir.join(sub), file),
        None => (dir.to_path_buf(), library),
    };
    let prefix = format!("{file}.");
    std::fs::read_dir(&sub)
        .ok()?
        .filter_map(std::result::Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let version: u64 = name.strip_prefix(&prefix)?.split('.').next()?.parse().ok()?;
            e.path().is_file().then(|| (version, e.path()))
        })
        .max()
        .map(|(_, p)| p)
}

/// Finds the library of `runtime`: where its variable points (the file, or a folder holding
/// it) when set, else the first of [`NativeRuntime::candidates`] that holds it. The path is the
/// one found, links not resolved (a library that finds its companions beside itself, `$ORIGIN`,
/// must then be opened through its `canonicalize`d path).
///
/// # Errors
/// A one-line message saying where it looked and how to install the runtime.
pub fn locate(runtime: &NativeRuntime) -> std::result::Result<PathBuf, String> {
    if let Some(explicit) = std::env::var_os(runtime.variable).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(explicit);
        let found = if p.is_dir() { library_in(runtime.library, &p) } else { p.is_file().then(|| p.clone()) };
        return found.ok_or_else(|| {
            format!(
                "{} points to {}, which is neither {} nor a folder holding it",
                runtime.variable,
                p.display(),
                runtime.library
            )
        });
    }
    let all = runtime.candidates();
    all.iter().find_map(|d| library_in(runtime.library, d)).ok_or_else(|| {
        format!(
            "{} library not found (looked for {} in {}); run `cargo xtask setup` to install {} into the project, or set \
             {} to the library or its folder",
            runtime.name,
            runtime.library,
            all.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
            runtime.package,
            runtime.variable
        )
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const FAKE: NativeRuntime = NativeRuntime {
        name: "Fake",
        package: "fake==1.2.3",
        variable: "INFER_TEST_FAKE_RUNTIME_LIB",
        folder: "fake",
        library: "libfake.so",
        links: &[("libfake.so", "fake/libfake.so.*")],
        build_cfg: None,
    };

    #[test]
    fn picks_the_plain_name_else_the_highest_version() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(library_in(FAKE.library, dir.path()), None);
        for name in ["libfake.so.2541", "libfake.so.2641", "libfake.so.x", "libother.so.9999"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        assert_eq!(library_in(FAKE.library, dir.path()), Some(dir.path().join("libfake.so.2641")));
        std::fs::write(dir.path().join("libfake.so"), b"").unwrap();
        assert_eq!(library_in(FAKE.library, dir.path()), Some(dir.path().join("libfake.so")));
        std::fs::create_dir(dir.path().join("lib")).unwrap();
        std::fs::write(dir.path().join("lib/libfake.so.7"), b"").unwrap();
        assert_eq!(library_in("lib/libfake.so", dir.path()), Some(dir.path().join("lib/libfake.so.7")));
    }

    #[test]
    fn the_declaration_names_its_places_and_the_fix() {
        assert_eq!((FAKE.version(), FAKE.project_path()), ("1.2.3", ".runtimes/fake/libfake.so".to_string()));
        let c = FAKE.candidates();
        assert!(c.first().unwrap().ends_with("lib") && c.last().unwrap().ends_with(".runtimes/fake"), "{c:?}");
        let e = locate(&FAKE).unwrap_err();
        assert!(e.starts_with("Fake library not found (looked for libfake.so in "), "{e}");
        assert!(e.contains("install fake==1.2.3") && e.contains("INFER_TEST_FAKE_RUNTIME_LIB"), "{e}");
    }
}
