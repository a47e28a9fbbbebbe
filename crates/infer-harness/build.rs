//! With feature `tf`: gives the `infer` binary and this crate's tests an rpath to the TensorFlow
//! C API found through `tensorflow.pc` (written by `cargo xtask setup`). The `rustc-link-arg` of
//! `infer-tf`'s own build script applies only to that crate's binaries, not to its dependents.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    if std::env::var_os("CARGO_FEATURE_TF").is_none() {
        return;
    }
    if let Ok(lib) = pkg_config::Config::new().cargo_metadata(false).env_metadata(false).probe("tensorflow") {
        for dir in &lib.link_paths {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
        }
    }
}
