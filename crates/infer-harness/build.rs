//! With the `torch` feature: the `infer` binary and this package's tests link libtorch, so they
//! get its folder as an rpath (and keep `libtorch_cuda.so`, which `--as-needed` would drop).
//!
//! `cargo:rustc-link-arg` of `infer-torch`'s build script reaches only that package's own
//! binaries and tests, so the same arguments are emitted here, from the folder `infer-torch`
//! exports (`links = "infer_torch"` → `DEP_INFER_TORCH_LIBTORCH_LIB`).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_INFER_TORCH_LIBTORCH_LIB");
    if std::env::var_os("CARGO_FEATURE_TORCH").is_none() {
        return;
    }
    if let Some(lib) = std::env::var_os("DEP_INFER_TORCH_LIBTORCH_LIB") {
        let lib = std::path::PathBuf::from(lib);
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
        if lib.join("libtorch_cuda.so").is_file() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }
}
