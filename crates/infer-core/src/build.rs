//! The build script every backend crate shares (feature `build`, for `[build-dependencies]`):
//! `fn main() { infer_core::build::declare_runtime(); }`.
//!
//! It reads the crate's `[package.metadata.infer.runtime]` ([`crate::runtime`]) and
//! - writes `$OUT_DIR/runtime.rs`, `pub static RUNTIME: infer_core::NativeRuntime`, which
//!   the crate includes (`include!(concat!(env!("OUT_DIR"), "/runtime.rs"));`), so the
//!   declaration is written once;
//! - sets `cfg(runtime_installed)` when the crate's `runtime` feature is on and the library is
//!   where the variable or `cargo xtask setup` puts it (always, for a runtime with nothing to
//!   install), so the crate's tests that need the library are compiled only then;
//! - passes the same answer to dependent crates as Cargo `links` metadata (`installed=1`): the
//!   CLI's build script turns each `DEP_INFER_<NAME>_INSTALLED` into `cfg(installed_<name>)`.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
};

/// A runtime as declared in a manifest (owned strings, as parsed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Declared {
    /// See [`crate::NativeRuntime::name`].
    pub name: String,
    /// See [`crate::NativeRuntime::package`].
    pub package: String,
    /// See [`crate::NativeRuntime::variable`].
    pub variable: String,
    /// See [`crate::NativeRuntime::folder`].
    pub folder: String,
    /// See [`crate::NativeRuntime::library`].
    pub library: String,
    /// See [`crate::NativeRuntime::links`].
    pub links: Vec<(String, String)>,
    /// See [`crate::NativeRuntime::build_cfg`].
    pub build_cfg: Option<String>,
}

/// The `[package.metadata.infer.runtime]` table of a manifest's text, if it has one.
///
/// # Errors
/// What is wrong with the manifest or the table, in one line.
pub fn parse_manifest(text: &str) -> Result<Option<Declared>, String> {
    let doc: toml::Table = text.parse().map_err(|e| format!("not valid TOML: {e}"))?;
    let Some(table) =
        doc.get("package").and_then(|p| p.get("metadata")).and_then(|m| m.get("infer")).and_then(|i| i.get("runtime"))
    else {
        return Ok(None);
    };
    let text_of = |key: &str| -> Result<String, String> {
        table
            .get(key)
            .and_then(toml::Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| format!("[package.metadata.infer.runtime] needs `{key}` (a string)"))
    };
    let links = match table.get("links") {
        None => Vec::new(),
        Some(toml::Value::Table(t)) => t
            .iter()
            .map(|(k, v)| {
                v.as_str()
                    .map(|v| (k.clone(), v.to_string()))
                    .ok_or_else(|| format!("[package.metadata.infer.runtime] links.{k} must be a string"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("[package.metadata.infer.runtime] `links` must be a table of strings".into()),
    };
    Ok(Some(Declared {
        name: text_of("name")?,
        package: text_of("package")?,
        variable: text_of("variable")?,
        folder: text_of("folder")?,
        library: text_of("library")?,
        links,
        build_cfg: table.get("build-cfg").and_then(toml::Value::as_str).map(str::to_string),
    }))
}

/// The Rust source of the `RUNTIME` static for `declared` (a comment when nothing is declared).
#[must_use]
pub fn constant(declared: Option<&Declared>) -> String {
    let Some(d) = declared else {
        return "// This backend declares no native runtime: nothing to install.\n".into();
    };
    let mut links = String::new();
    for (k, v) in &d.links {
        let _ = write!(links, "({k:?}, {v:?}), ");
    }
    format!(
        "/// This backend's native runtime, as its `Cargo.toml` declares it \
         (`[package.metadata.infer.runtime]`).\npub static RUNTIME: infer_core::NativeRuntime = \
         infer_core::NativeRuntime {{ name: {:?}, package: {:?}, variable: {:?}, folder: {:?}, library: {:?}, \
         links: &[{links}], build_cfg: {:?} }};\n",
        d.name, d.package, d.variable, d.folder, d.library, d.build_cfg
    )
}

/// Whether the runtime is installed as a build sees it: `variable` names an existing path,
/// else the project's `.runtimes/<folder>/<library>` exists (a versioned name too).
#[must_use]
pub fn installed(d: &Declared, workspace: &Path, variable: Option<PathBuf>) -> bool {
    if let Some(p) = variable {
        return p.exists();
    }
    crate::runtime::library_in(&d.library, &workspace.join(".runtimes").join(&d.folder)).is_some()
}

/// The whole build script of a backend crate; see the [module docs](self). Problems with the
/// declaration stop the build with the message.
pub fn declare_runtime() {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let manifest = dir.join("Cargo.toml");
    println!("cargo:rerun-if-changed={}", manifest.display());
    println!("cargo:rustc-check-cfg=cfg(runtime_installed)");
    let declared = std::fs::read_to_string(&manifest)
        .map_err(|e| format!("{}: {e}", manifest.display()))
        .and_then(|text| parse_manifest(&text).map_err(|e| format!("{}: {e}", manifest.display())));
    let declared = match declared {
        Ok(d) => d,
        Err(e) => {
            println!("cargo:warning={e}");
            std::process::exit(1);
        }
    };
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("runtime.rs");
    if let Err(e) = std::fs::write(&out, constant(declared.as_ref())) {
        println!("cargo:warning=cannot write {}: {e}", out.display());
        std::process::exit(1);
    }
    // Compiled with its binding: feature `runtime`, or the `--cfg` set-up writes for a library
    // linked at build time.
    let cfg_on = |cfg: &str| std::env::var_os(format!("CARGO_CFG_{}", cfg.to_uppercase())).is_some();
    let feature = std::env::var_os("CARGO_FEATURE_RUNTIME").is_some()
        || declared.as_ref().and_then(|d| d.build_cfg.as_deref()).is_some_and(cfg_on);
    let present = declared.as_ref().is_none_or(|d| {
        println!("cargo:rerun-if-env-changed={}", d.variable);
        let variable = std::env::var_os(&d.variable).filter(|v| !v.is_empty()).map(PathBuf::from);
        installed(d, &dir.join("../.."), variable)
    });
    if feature && present {
        println!("cargo:rustc-cfg=runtime_installed");
    }
    // Read by dependents as DEP_<LINKS>_INSTALLED (the crate's `links` key names it).
    println!("cargo:installed={}", u8::from(feature && present));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const MANIFEST: &str = r#"
[package]
name = "infer-fake"

[package.metadata.infer.runtime]
name = "Fake"
package = "fake==1.2.3"
variable = "FAKE_LIB"
folder = "fake"
library = "libfake.so"
links = { "libfake.so" = "fake/libfake.so.*" }
"#;

    #[test]
    fn a_declaration_becomes_the_constant() {
        let d = parse_manifest(MANIFEST).unwrap().unwrap();
        assert_eq!((d.name.as_str(), d.folder.as_str(), d.build_cfg.as_deref()), ("Fake", "fake", None));
        assert_eq!(d.links, [("libfake.so".to_string(), "fake/libfake.so.*".to_string())]);
        let code = constant(Some(&d));
        assert!(
            code.contains(r#"package: "fake==1.2.3""#)
                && code.contains(r#"links: &[("libfake.so", "fake/libfake.so.*"), ]"#),
            "{code}"
        );
        assert!(!constant(None).contains("RUNTIME"));
        assert_eq!(parse_manifest("[package]\nname = \"x\"\n").unwrap(), None);
        let e = parse_manifest(&MANIFEST.replace("folder = \"fake\"\n", "")).unwrap_err();
        assert!(e.contains("needs `folder`"), "{e}");
        assert!(parse_manifest("not = [toml").unwrap_err().starts_with("not valid TOML"));
    }

    #[test]
    fn installed_means_the_variable_or_the_project_copy() {
        let d = parse_manifest(MANIFEST).unwrap().unwrap();
        let ws = tempfile::tempdir().unwrap();
        assert!(!installed(&d, ws.path(), None));
        std::fs::create_dir_all(ws.path().join(".runtimes/fake")).unwrap();
        std::fs::write(ws.path().join(".runtimes/fake/libfake.so.3"), b"").unwrap();
        assert!(installed(&d, ws.path(), None));
        assert!(!installed(&d, ws.path(), Some(ws.path().join("nowhere"))));
    }
}
