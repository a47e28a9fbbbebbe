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
//! It also tells this package's tests which runtimes they can use: `cfg(installed_<name>)` for
//! every backend crate that says so through Cargo's `links` metadata (`DEP_INFER_<NAME>_INSTALLED`
//! = 1, written by the build script all backend crates share, `infer_core::build`: the backend's
//! `runtime` feature on and its library installed). No backend is named here: a new backend crate
//! with a `links = "infer_<name>"` key gets its `cfg` by construction. A bare machine's `cargo
//! test` thus skips the tests that need a runtime, while every backend still builds and reports
//! itself "unavailable: … (run `cargo xtask setup`)". `cargo xtask setup` changes the build flags
//! (`.cargo/runtimes.toml`), which runs this again.

const WORKER: &str = "infer-torch-worker";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_INFER_TORCH_LIBTORCH_LIB");
    let mut names = Vec::new();
    for (key, value) in std::env::vars() {
        let Some(name) = key.strip_prefix("DEP_INFER_").and_then(|k| k.strip_suffix("_INSTALLED")) else { continue };
        let name = name.to_lowercase();
        if value == "1" {
            println!("cargo:rustc-cfg=installed_{name}");
        }
        names.push(format!("installed_{name}"));
    }
    names.sort();
    println!("cargo:rustc-check-cfg=cfg({})", names.join(", "));
    if let Some(lib) = std::env::var_os("DEP_INFER_TORCH_LIBTORCH_LIB") {
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
