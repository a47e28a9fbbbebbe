//! With the `runtime` feature: makes the binaries that link libtorch find it at run time.
//!
//! `torch-sys` (a direct dependency for this reason) exports the folder it linked libtorch from as
//! `DEP_TCH_LIBTORCH_LIB`. We add it as an rpath, and link `libtorch_cuda.so` even though no symbol
//! of it is referenced (the default `--as-needed` would drop it and CUDA would be missing at run
//! time). `cargo:rustc-link-arg` reaches every binary, test and example of *this* package only;
//! `infer-harness`'s build script does the same for the `infer` binary and its tests.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if std::env::var_os("CARGO_FEATURE_RUNTIME").is_none() {
        return;
    }
    if let Some(lib) = std::env::var_os("DEP_TCH_LIBTORCH_LIB") {
        let lib = std::path::PathBuf::from(lib);
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
        if lib.join("libtorch_cuda.so").is_file() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
        // Dependents read this as DEP_INFER_TORCH_LIBTORCH_LIB (`links = "infer_torch"`).
        println!("cargo:libtorch_lib={}", lib.display());
        // The backend reports this folder when it cannot tell which libtorch the process loaded.
        println!("cargo:rustc-env=INFER_TORCH_LIBTORCH_LIB={}", lib.display());
    }
}
