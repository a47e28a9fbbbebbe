//! The kit for backend authors: the pieces every backend needs and none should write again.
//!
//! - [`resolve_device`]: the asked device, or the CPU with a warning when the user allowed a
//!   fallback, or [`Error::DeviceUnavailable`] saying why.
//! - [`with_dtype!`](crate::with_dtype) and [`with_tensor_data!`](crate::with_tensor_data):
//!   one `match` over every [`DType`](crate::DType) for per-element-type code (candle's
//!   `with_dtype!`), so a conversion to and from a framework's tensors is written once.
//! - [`not_compiled`]: the error of a backend whose binding is not compiled in; a backend crate
//!   swaps its whole binding module for a stub at module level (candle's `dummy_cuda_backend`):
//!   ```ignore
//!   #[cfg(feature = "runtime")]
//!   mod runtime;
//!   #[cfg(not(feature = "runtime"))]
//!   #[path = "stub.rs"]
//!   mod runtime;
//!   ```
//! - Errors that keep their source: [`Error::wrap`](crate::Error::wrap) and the
//!   [`Context`](crate::error::Context) trait (`.context("loading the plan")?`).
//! - Options: [`crate::options::check`] against the backend's declared [`crate::OptionSpec`]s.
//! - [`project_candidates`]: where a runtime that `cargo xtask setup` installed into the project
//!   is looked for, from wherever the binary runs.

use std::path::{Path, PathBuf};

use crate::{Device, Error, Result};

/// The places a backend looks for what `cargo xtask setup` put into the project (a runtime's
/// library, the venv's Python), in order: `beside_exe` in the executable's folder (a binary
/// carried with its `lib/`), where given; `project_path` in the executable's folder and every
/// folder above it (the project's `.runtimes/…` when the binary is under its `target/`);
/// `project_path` in the workspace infer was built from. A backend's own environment variable,
/// where it has one, goes before these.
#[must_use]
pub fn project_candidates(beside_exe: Option<&str>, project_path: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(exe_dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
        out.extend(beside_exe.map(|b| exe_dir.join(b)));
        out.extend(exe_dir.ancestors().map(|a| a.join(project_path)));
    }
    out.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(project_path));
    out.dedup();
    out
}

/// The device a session runs on: `asked` when `check` accepts it, else the CPU with a warning on
/// stderr when `fallback` is set. The CPU is always accepted without calling `check`.
///
/// # Errors
/// [`Error::DeviceUnavailable`] with `check`'s reason when the device cannot be used and
/// `fallback` is off.
pub fn resolve_device(
    backend: &str,
    asked: Device,
    fallback: bool,
    check: impl FnOnce(Device) -> std::result::Result<(), String>,
) -> Result<Device> {
    if asked == Device::Cpu {
        return Ok(Device::Cpu);
    }
    match check(asked) {
        Ok(()) => Ok(asked),
        Err(reason) if fallback => {
            eprintln!("warning: {backend}: {reason}; falling back to cpu");
            Ok(Device::Cpu)
        }
        Err(reason) => Err(Error::DeviceUnavailable { backend: backend.into(), device: asked, reason }),
    }
}

/// The error of a backend whose framework binding is not compiled into this build.
#[must_use]
pub fn not_compiled(backend: &str, crate_name: &str, feature: &str) -> Error {
    Error::NotCompiled { backend: backend.into(), feature: format!("{crate_name}/{feature}") }
}

/// Runs `$body` with `$t` bound to the Rust element type of a [`DType`](crate::DType):
/// `with_dtype!(dtype, T => std::mem::size_of::<T>())`. `bool` stands for `Bool`, `half::f16`
/// and `half::bf16` for the 16-bit floats.
#[macro_export]
macro_rules! with_dtype {
    ($dtype:expr, $t:ident => $body:expr) => {
        match $dtype {
            $crate::DType::F32 => {
                type $t = f32;
                $body
            }
            $crate::DType::F16 => {
                type $t = $crate::half::f16;
                $body
            }
            $crate::DType::BF16 => {
                type $t = $crate::half::bf16;
                $body
            }
            $crate::DType::F64 => {
                type $t = f64;
                $body
            }
            $crate::DType::I64 => {
                type $t = i64;
                $body
            }
            $crate::DType::I32 => {
                type $t = i32;
                $body
            }
            $crate::DType::I8 => {
                type $t = i8;
                $body
            }
            $crate::DType::U8 => {
                type $t = u8;
                $body
            }
            $crate::DType::Bool => {
                type $t = bool;
                $body
            }
        }
    };
}

/// Runs `$body` with `$v` bound to the typed `Vec` inside a [`TensorData`](crate::TensorData):
/// `with_tensor_data!(tensor.data(), v => framework_tensor(v.as_slice()))`.
#[macro_export]
macro_rules! with_tensor_data {
    ($data:expr, $v:ident => $body:expr) => {
        match $data {
            $crate::TensorData::F32($v) => $body,
            $crate::TensorData::F16($v) => $body,
            $crate::TensorData::BF16($v) => $body,
            $crate::TensorData::F64($v) => $body,
            $crate::TensorData::I64($v) => $body,
            $crate::TensorData::I32($v) => $body,
            $crate::TensorData::I8($v) => $body,
            $crate::TensorData::U8($v) => $body,
            $crate::TensorData::Bool($v) => $body,
        }
    };
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{DType, Tensor};

    /// Beside the executable first, then up its folders, last the workspace infer was built in.
    #[test]
    fn project_candidates_go_from_the_executable_to_the_workspace() {
        let exe_dir = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
        let found = project_candidates(Some("lib"), ".runtimes/x");
        assert_eq!(found[0], exe_dir.join("lib"));
        assert_eq!(found[1], exe_dir.join(".runtimes/x"));
        assert!(found[2..].iter().all(|p| p.ends_with(".runtimes/x")), "{found:?}");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap();
        let last = found.last().unwrap();
        assert_eq!(last.parent().unwrap().parent().unwrap().canonicalize().unwrap(), root, "{found:?}");
        assert_eq!(project_candidates(None, ".venv/bin/python")[0], exe_dir.join(".venv/bin/python"));
    }

    #[test]
    fn devices_resolve_with_and_without_fallback() {
        let never = |_| Err("no GPU here".to_string());
        assert_eq!(resolve_device("x", Device::Cpu, false, |_| unreachable!()).unwrap(), Device::Cpu);
        assert_eq!(resolve_device("x", Device::Cuda(1), false, |_| Ok(())).unwrap(), Device::Cuda(1));
        assert_eq!(resolve_device("x", Device::Cuda(0), true, never).unwrap(), Device::Cpu);
        let e = resolve_device("x", Device::Cuda(0), false, never).unwrap_err().to_string();
        assert_eq!(e, "device `cuda:0` not available for backend `x`: no GPU here");
    }

    #[test]
    fn dtype_dispatch_covers_every_dtype() {
        for d in DType::ALL {
            assert_eq!(with_dtype!(d, T => std::mem::size_of::<T>()), d.size_of(), "{d}");
            let zeros = with_dtype!(d, T => Tensor::from_vec(vec![2], vec![T::default(); 2]).unwrap());
            assert_eq!(zeros.dtype(), d);
            assert_eq!(with_tensor_data!(zeros.data(), v => v.len()), 2);
        }
    }

    #[test]
    fn not_compiled_names_the_crate_feature() {
        let e = not_compiled("onnx", "infer-onnx", "runtime").to_string();
        assert!(e.contains("`onnx` not compiled") && e.contains("infer-onnx/runtime"), "{e}");
    }
}
