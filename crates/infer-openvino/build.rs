//! `cfg(runtime_installed)`: feature `runtime` is on and OpenVINO's C library is where `cargo xtask
//! setup` links it (`.runtimes/openvino`, or `$INFER_OPENVINO_LIB`). The crate's tests that need
//! the library are compiled only then, so that `cargo test` passes on a bare machine even with the
//! feature on (a workspace build turns it on through infer-cli's default features). Nothing is
//! linked: the library is opened at run time. `cargo xtask setup` changes the build flags
//! (`.cargo/runtimes.toml`), which runs this again.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rustc-check-cfg=cfg(runtime_installed)");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=INFER_OPENVINO_LIB");
    if std::env::var_os("CARGO_FEATURE_RUNTIME").is_none() {
        return;
    }
    let root = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default()).join("../..");
    let place = std::env::var_os("INFER_OPENVINO_LIB")
        .filter(|v| !v.is_empty())
        .map_or_else(|| root.join(".runtimes/openvino"), PathBuf::from);
    if place.exists() {
        println!("cargo:rustc-cfg=runtime_installed");
    }
}
