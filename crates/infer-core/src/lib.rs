//! What an **infer** backend needs, and nothing else: tensors, dtypes, shapes, devices, the
//! backend and session traits, the error enum, model formats, options, the registry, `.npy` files
//! and the kit of helpers every backend uses. No framework dependency lives here.
//!
//! ```
//! use infer_core::{DType, Device, Tensor};
//!
//! let t = Tensor::from_vec(vec![2, 2], vec![1.0f32, 2.0, 3.0, 4.0])?;
//! assert_eq!(t.dtype(), DType::F32);
//! assert_eq!("cuda:1".parse::<Device>().unwrap(), Device::Cuda(1));
//! # Ok::<(), infer_core::Error>(())
//! ```

pub mod backend;
#[cfg(feature = "build")]
pub mod build;
pub mod device;
pub mod dtype;
pub mod error;
pub mod format;
pub mod fsutil;
pub mod kit;
pub mod npy;
pub mod options;
pub mod profile;
pub mod ranges;
pub mod registry;
pub mod runtime;
pub mod spec;
pub mod tensor;

pub use backend::{
    Backend, BackendInfo, DeviceMemory, LoadOptions, OptLevel, ParameterCount, Session, SessionInfo, Signature,
    check_inputs,
};
pub use device::Device;
pub use dtype::DType;
pub use error::{Context, Error, Result};
pub use format::{ModelFormat, Probe, Sniff};
/// Re-exported for [`with_dtype!`]: the 16-bit float types of [`DType::F16`] and [`DType::BF16`].
pub use half;
pub use options::{OptionMap, OptionSpec};
pub use ranges::IntRange;
pub use registry::{Availability, Registry};
pub use runtime::NativeRuntime;
pub use spec::{Dim, TensorSpec};
pub use tensor::{Element, Tensor, TensorData};
