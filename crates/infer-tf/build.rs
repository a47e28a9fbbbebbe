//! With the `runtime` feature: records where the TensorFlow C API was found (through the
//! `tensorflow.pc` that `cargo xtask setup` writes) and gives this crate's own test binaries an
//! rpath to it. Binaries of other crates get theirs from their own build script (a library's
//! `rustc-link-arg` does not reach its dependents); `infer-harness` does so for feature `tf`.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    if std::env::var_os("CARGO_FEATURE_RUNTIME").is_none() {
        return;
    }
    // tensorflow-sys links the library through the same pkg-config lookup; here only its folder matters.
    match pkg_config::Config::new().cargo_metadata(false).env_metadata(false).probe("tensorflow") {
        Ok(lib) => {
            for dir in &lib.link_paths {
                println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
            }
            if let Some(dir) = lib.link_paths.first() {
                println!("cargo:rustc-env=INFER_TF_LIBDIR={}", dir.display());
            }
        }
        Err(e) => println!(
            "cargo:warning=tensorflow.pc not found ({e}); run `cargo xtask setup`, which links the TensorFlow C API \
             into .runtimes/tensorflow"
        ),
    }
}
