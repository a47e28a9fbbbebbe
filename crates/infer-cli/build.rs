//! Run-time library path for `infer-torch-worker`, the one executable of this package that links
//! libtorch (feature `torch`, or `--cfg infer_libtorch` from `cargo xtask setup`).
//!
//! `cargo:rustc-link-arg` of a backend crate's build script reaches only that package's own
//! binaries and tests, so the arguments libtorch needs are emitted here again: libtorch's folder
//! as an rpath, from the folder `infer-torch` exports (`links = "infer_torch"` →
//! `DEP_INFER_TORCH_LIBTORCH_LIB`), and, for the worker only (`rustc-link-arg-bin`),
//! `libtorch_cuda.so` kept, which `--as-needed` would drop. `infer` itself gets neither: its code never reaches the
//! torch backend, so once the linker has dropped the unreachable code (`--gc-sections`) nothing
//! refers to libtorch and `--as-needed` records no libtorch library in it. One more flag makes that
//! hold: `--exclude-libs ALL` for `infer`, without which the C++ objects that Rust's shared
//! generics pull in from the torch crates would export their inline libtorch functions (the
//! libraries on the link line reference the same names) and keep them, and libtorch, alive. ONNX
//! Runtime, TensorFlow and OpenVINO are all opened at run time, on first use.
//!
//! It also tells this package's tests which runtimes they can use: `cfg(installed_onnx)`,
//! `installed_tf`, `installed_openvino` when the backend's feature is on (they are default
//! features) and `cargo xtask setup` has linked its library into `.runtimes/` (or its variable
//! names it); `installed_torch` when libtorch is compiled in. A bare machine's `cargo test` thus
//! skips the tests that need a runtime, while every backend still builds and reports itself
//! "unavailable: … (run `cargo xtask setup`)". `cargo xtask setup` changes the build flags
//! (`.cargo/runtimes.toml`), which runs this again.

use std::path::{Path, PathBuf};

const WORKER: &str = "infer-torch-worker";

/// (feature, variable naming the library, where `cargo xtask setup` links it in the project).
const RUNTIMES: &[(&str, &str, &str)] = &[
    ("onnx", "ORT_DYLIB_PATH", ".runtimes/onnxruntime/libonnxruntime.so"),
    ("tf", "TENSORFLOW_DIR", ".runtimes/tensorflow/lib/libtensorflow.so"),
    ("openvino", "INFER_OPENVINO_LIB", ".runtimes/openvino"),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_INFER_TORCH_LIBTORCH_LIB");
    println!("cargo:rustc-check-cfg=cfg(installed_onnx, installed_tf, installed_openvino, installed_torch)");
    let root = Path::new(&std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default()).join("../..");
    for (feature, var, place) in RUNTIMES {
        println!("cargo:rerun-if-env-changed={var}");
        let on = std::env::var_os(format!("CARGO_FEATURE_{}", feature.to_uppercase())).is_some();
        let place = std::env::var_os(var).filter(|v| !v.is_empty()).map_or_else(|| root.join(place), PathBuf::from);
        if on && place.exists() {
            println!("cargo:rustc-cfg=installed_{feature}");
        }
    }
    if let Some(lib) = std::env::var_os("DEP_INFER_TORCH_LIBTORCH_LIB") {
        println!("cargo:rustc-cfg=installed_torch");
        println!("cargo:rustc-link-arg-bin=infer=-Wl,--exclude-libs,ALL");
        let lib = std::path::PathBuf::from(lib);
        // Every target may end up referring to libtorch (the tests link the library, whose shared
        // generics pull objects of the torch crates in): all get the rpath, harmless where no
        // libtorch library is recorded.
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
        if lib.join("libtorch_cuda.so").is_file() {
            println!("cargo:rustc-link-arg-bin={WORKER}=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }
}
