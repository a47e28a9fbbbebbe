//! Run-time library paths for the `infer` binary and this package's tests.
//!
//! `cargo:rustc-link-arg` of a backend crate's build script reaches only that package's own
//! binaries and tests, so the arguments that the linked runtimes need are emitted here again:
//! - feature `torch`: libtorch's folder as an rpath, from the folder `infer-torch` exports
//!   (`links = "infer_torch"` → `DEP_INFER_TORCH_LIBTORCH_LIB`), keeping `libtorch_cuda.so`,
//!   which `--as-needed` would drop;
//! - feature `tf`: the TensorFlow C API's folder, found through `tensorflow.pc` (written by
//!   `cargo xtask setup`).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_INFER_TORCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    if std::env::var_os("CARGO_FEATURE_TORCH").is_some()
        && let Some(lib) = std::env::var_os("DEP_INFER_TORCH_LIBTORCH_LIB")
    {
        let lib = std::path::PathBuf::from(lib);
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
        if lib.join("libtorch_cuda.so").is_file() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }
    if std::env::var_os("CARGO_FEATURE_TF").is_some()
        && let Ok(lib) = pkg_config::Config::new().cargo_metadata(false).env_metadata(false).probe("tensorflow")
    {
        for dir in &lib.link_paths {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
        }
    }
}
