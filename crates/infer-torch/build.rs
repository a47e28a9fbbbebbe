//! With the `runtime` feature: compiles infer's C++ bridges to libtorch (`cpp/context.cpp`, the
//! global TF32 flags; `cpp/profiler.cpp`, the Kineto profiler; `cpp/script.cpp`, a TorchScript
//! module's schema, graph and `forward`; `cpp/cuda.cpp`, CUDA event timing and the CUDA caching
//! allocator's figures through c10's device-generic interfaces, no CUDA header needed) and
//! makes the binaries that link libtorch find it at run time.
//!
//! `torch-sys` (a direct dependency for this reason) exports the folder it linked libtorch from as
//! `DEP_TCH_LIBTORCH_LIB`. We add it as an rpath, and link `libtorch_cuda.so` even though no symbol
//! of it is referenced (the default `--as-needed` would drop it and CUDA would be missing at run
//! time). `cargo:rustc-link-arg` reaches every binary, test and example of *this* package only;
//! `infer-cli`'s build script does the same for the `infer` binary and its tests.
//!
//! The shim is compiled like `torch-sys` compiles its own C++: against `$LIBTORCH/include` and
//! `$LIBTORCH/include/torch/csrc/api/include` (`LIBTORCH_INCLUDE` replaces `$LIBTORCH` there, as
//! for `torch-sys`; without either, the parent of `DEP_TCH_LIBTORCH_LIB`), C++17, with
//! `_GLIBCXX_USE_CXX11_ABI` from `LIBTORCH_CXX11_ABI` (default 1, what the PyTorch wheels use).

use std::path::PathBuf;

fn main() {
    infer_core::build::declare_runtime();
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    // Feature `runtime`, or `--cfg infer_libtorch` from `.cargo/runtimes.toml` (`cargo xtask setup`).
    if std::env::var_os("CARGO_FEATURE_RUNTIME").is_none() && std::env::var_os("CARGO_CFG_INFER_LIBTORCH").is_none() {
        return;
    }
    let lib = std::env::var_os("DEP_TCH_LIBTORCH_LIB").map(PathBuf::from);
    if let Some(lib) = &lib {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
        if lib.join("libtorch_cuda.so").is_file() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
        // Dependents read this as DEP_INFER_TORCH_LIBTORCH_LIB (`links = "infer_torch"`).
        println!("cargo:libtorch_lib={}", lib.display());
        // The backend reports this folder when it cannot tell which libtorch the process loaded.
        println!("cargo:rustc-env=INFER_TORCH_LIBTORCH_LIB={}", lib.display());
    }
    shim::compile(lib.as_deref());
}

mod shim {
    use std::path::{Path, PathBuf};

    const SOURCES: &[&str] = &["cpp/context.cpp", "cpp/cuda.cpp", "cpp/profiler.cpp", "cpp/script.cpp"];
    const HEADER: &str = "cpp/common.h";

    fn env(name: &str) -> Option<String> {
        println!("cargo:rerun-if-env-changed={name}");
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }

    /// The libtorch folder holding `include/`, found as `torch-sys` finds it.
    fn libtorch(lib: Option<&Path>) -> PathBuf {
        env("LIBTORCH_INCLUDE")
            .or_else(|| env("LIBTORCH"))
            .map(PathBuf::from)
            .or_else(|| lib.and_then(Path::parent).map(Path::to_path_buf))
            .unwrap_or_else(|| {
                panic!(
                    "infer-torch: cannot find libtorch's headers for {SOURCES:?}: set LIBTORCH (run `cargo xtask setup`, \
                     which sets it in .cargo/config.toml)"
                )
            })
    }

    pub fn compile(lib: Option<&Path>) {
        for file in SOURCES.iter().chain([&HEADER]) {
            println!("cargo:rerun-if-changed={file}");
        }
        let root = libtorch(lib);
        let include = root.join("include");
        assert!(
            include.join("torch/csrc/autograd/profiler_kineto.h").is_file(),
            "infer-torch: {} has no torch/csrc/autograd/profiler_kineto.h: LIBTORCH must be a libtorch with headers",
            include.display()
        );
        let abi = env("LIBTORCH_CXX11_ABI").unwrap_or_else(|| "1".into());
        cc::Build::new()
            .cpp(true)
            .files(SOURCES)
            .include(&include)
            .include(include.join("torch/csrc/api/include"))
            .flag("-std=c++17")
            .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
            .flag("-DGLOG_USE_GLOG_EXPORT")
            // libtorch's headers are not warning-free; ours is checked by the review, not -Werror.
            .warnings(false)
            .compile("infer_torch_shim");
    }
}
