//! Where a model runs.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// A compute device: the CPU or one CUDA GPU. Non-exhaustive, so that a backend can add a kind
/// of device (another accelerator) without breaking code that matches on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[non_exhaustive]
pub enum Device {
    /// The host CPU.
    Cpu,
    /// CUDA device with the given ordinal.
    Cuda(usize),
}

impl Device {
    /// Whether this device is a GPU.
    #[must_use]
    pub fn is_gpu(self) -> bool {
        matches!(self, Device::Cuda(_))
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl FromStr for Device {
    type Err = String;

    /// Parses `cpu`, `cuda`, `cuda:N` and `gpu` (= `cuda:0`), case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        match lower.as_str() {
            "cpu" => return Ok(Device::Cpu),
            "cuda" | "gpu" => return Ok(Device::Cuda(0)),
            _ => {}
        }
        if let Some(ordinal) = lower.strip_prefix("cuda:") {
            return ordinal
                .parse::<usize>()
                .map(Device::Cuda)
                .map_err(|_| format!("invalid device `{s}`: the CUDA ordinal must be a number, as in `cuda:0`"));
        }
        Err(format!("invalid device `{s}`: expected `cpu`, `cuda` or `cuda:N`"))
    }
}

impl TryFrom<String> for Device {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Device> for String {
    fn from(value: Device) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_devices() {
        assert_eq!("cpu".parse::<Device>().unwrap(), Device::Cpu);
        assert_eq!("CUDA".parse::<Device>().unwrap(), Device::Cuda(0));
        assert_eq!("cuda:3".parse::<Device>().unwrap(), Device::Cuda(3));
        assert_eq!(Device::Cuda(2).to_string(), "cuda:2");
        assert!("cuda:x".parse::<Device>().unwrap_err().contains("ordinal"));
        assert!("tpu".parse::<Device>().unwrap_err().contains("expected `cpu`"));
        assert!("cuda:-1".parse::<Device>().is_err());
    }
}
