//! The build script every backend crate shares (`infer_core::build`): with no native runtime
//! declared, it tells dependents that tract is usable exactly when feature `runtime` is on.

fn main() {
    infer_core::build::declare_runtime();
}
