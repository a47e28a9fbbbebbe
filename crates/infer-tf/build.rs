//! The runtime declared in `Cargo.toml`: the `RUNTIME` static, `cfg(runtime_installed)` for
//! the tests that need the library, and `installed` for dependents (see `infer_core::build`).

fn main() {
    infer_core::build::declare_runtime();
}
