//! The GPUs' own evidence through NVML (the NVIDIA Management Library, `libnvidia-ml.so`, which
//! the driver installs): clocks, throttle reasons, temperature, power and the energy counter.
//!
//! The library is opened at run time (`nvml-wrapper` loads it with `libloading`), so this crate
//! builds and runs on a machine without a GPU: [`Gpus::open`] then says why there is none, and
//! nothing panics. `nvidia-smi` is never parsed.

use std::{ffi::OsStr, path::PathBuf};

use nvml_wrapper::{
    Nvml,
    bitmasks::device::ThrottleReasons,
    enum_wrappers::device::{Clock, TemperatureSensor},
    error::NvmlError,
};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Where to find NVML, or not to look.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum GpuSource {
    /// The driver's library by its usual names: `libnvidia-ml.so.1` (what every driver install
    /// and container runtime provides), then `libnvidia-ml.so` (a development symlink).
    #[default]
    Nvml,
    /// A library at this path.
    NvmlAt(PathBuf),
    /// Do not look at GPUs (their evidence then reads "not available here (turned off)").
    Off,
}

/// Names tried, in order, by [`GpuSource::Nvml`].
pub const NVML_LIBRARIES: [&str; 2] = ["libnvidia-ml.so.1", "libnvidia-ml.so"];

/// A GPU NVML can see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GpuDevice {
    /// NVML's index (the order `nvidia-smi` and CUDA without `CUDA_VISIBLE_DEVICES` use).
    pub index: u32,
    /// Product name, or `GPU <index>` when NVML does not give one.
    pub name: String,
}

/// One reading of one GPU; each figure is `None` when this GPU or driver does not report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GpuReading {
    /// NVML's index.
    pub index: u32,
    /// Streaming multiprocessor clock, MHz.
    pub sm_clock_mhz: Option<u32>,
    /// Memory clock, MHz.
    pub memory_clock_mhz: Option<u32>,
    /// Why clocks are held down now: NVML's `nvmlClocksThrottleReason*` bits (see
    /// [`throttle_reason_names`]).
    pub throttle_reasons: Option<u64>,
    /// Die temperature, °C.
    pub temperature_c: Option<u32>,
    /// Power draw, milliwatts.
    pub power_mw: Option<u32>,
    /// Energy since the driver was loaded, millijoules (Volta and later).
    pub energy_mj: Option<u64>,
}

/// NVML opened, and the GPUs it sees.
pub struct Gpus {
    nvml: Nvml,
    devices: Vec<GpuDevice>,
}

impl std::fmt::Debug for Gpus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpus").field("devices", &self.devices).finish_non_exhaustive()
    }
}

impl Gpus {
    /// Opens NVML and lists the GPUs. Opening loads the library and initialises it (a few
    /// milliseconds): do it before the measured code, not inside it.
    ///
    /// # Errors
    /// [`Error::Unavailable`] (`what` = "GPU") with the reason: turned off, the library cannot
    /// be loaded (no NVIDIA driver), the driver is not running, or NVML sees no GPU.
    pub fn open(source: &GpuSource) -> Result<Self> {
        let unavailable = |reason: String| Error::Unavailable { what: "GPU", reason };
        let nvml = match source {
            GpuSource::Off => return Err(unavailable("GPU sampling turned off".into())),
            GpuSource::NvmlAt(path) => init(path.as_os_str()).map_err(|e| unavailable(describe(&e)))?,
            GpuSource::Nvml => {
                let mut first = None;
                let mut opened = None;
                for name in NVML_LIBRARIES {
                    match init(OsStr::new(name)) {
                        Ok(n) => {
                            opened = Some(n);
                            break;
                        }
                        Err(e) => {
                            first.get_or_insert(e);
                        }
                    }
                }
                match (opened, first) {
                    (Some(n), _) => n,
                    (None, e) => return Err(unavailable(e.map_or_else(|| "no NVML".into(), |e| describe(&e)))),
                }
            }
        };
        let count = nvml.device_count().map_err(|e| unavailable(describe(&e)))?;
        if count == 0 {
            return Err(unavailable("NVML sees no GPU".into()));
        }
        let devices = (0..count)
            .map(|index| {
                let name =
                    nvml.device_by_index(index).and_then(|d| d.name()).unwrap_or_else(|_| format!("GPU {index}"));
                GpuDevice { index, name }
            })
            .collect();
        Ok(Self { nvml, devices })
    }

    /// The GPUs NVML sees.
    #[must_use]
    pub fn devices(&self) -> &[GpuDevice] {
        &self.devices
    }

    /// Reads every GPU's clocks, throttle reasons, temperature, power and energy counter.
    #[must_use]
    pub fn read(&self) -> Vec<GpuReading> {
        self.devices
            .iter()
            .map(|d| match self.nvml.device_by_index(d.index) {
                Ok(dev) => GpuReading {
                    index: d.index,
                    sm_clock_mhz: dev.clock_info(Clock::SM).ok(),
                    memory_clock_mhz: dev.clock_info(Clock::Memory).ok(),
                    throttle_reasons: dev.current_throttle_reasons().ok().map(|r| r.bits()),
                    temperature_c: dev.temperature(TemperatureSensor::Gpu).ok(),
                    power_mw: dev.power_usage().ok(),
                    energy_mj: dev.total_energy_consumption().ok(),
                },
                Err(_) => GpuReading { index: d.index, ..GpuReading::default() },
            })
            .collect()
    }

    /// GPU `index`'s energy counter: millijoules since the driver was loaded.
    ///
    /// # Errors
    /// [`Error::Unavailable`] with NVML's reason (e.g. "not supported" before Volta).
    pub fn energy_mj(&self, index: u32) -> Result<u64> {
        self.nvml
            .device_by_index(index)
            .and_then(|d| d.total_energy_consumption())
            .map_err(|e| Error::Unavailable { what: "GPU energy", reason: describe(&e) })
    }
}

fn init(lib: &OsStr) -> std::result::Result<Nvml, NvmlError> {
    Nvml::builder().lib_path(lib).init()
}

/// NVML's error in words for a report.
fn describe(e: &NvmlError) -> String {
    match e {
        NvmlError::LibloadingError(e) => format!("no NVML ({e})"),
        NvmlError::DriverNotLoaded => "NVML found but the NVIDIA driver is not loaded".into(),
        NvmlError::NoPermission => "NVML: no permission to talk to the driver".into(),
        NvmlError::NotSupported => "NVML: not supported by this GPU or driver".into(),
        other => format!("NVML: {other}"),
    }
}

/// NVML's throttle reason bit for an idle GPU (clocks low because there is no work): the one
/// reason that is no disturbance.
pub const IDLE_REASON: u64 = ThrottleReasons::GPU_IDLE.bits();

/// [`IDLE_REASON`]'s name, as [`throttle_reason_names`] gives it.
pub const IDLE_REASON_NAME: &str = "gpu_idle";

/// The names of the throttle reasons set in `bits`, snake case (`gpu_idle`, `sw_power_cap`,
/// `hw_slowdown`, `sw_thermal_slowdown`, ...); bits NVML's wrapper does not name read
/// `unknown_0x…`.
#[must_use]
pub fn throttle_reason_names(bits: u64) -> Vec<String> {
    let reasons = ThrottleReasons::from_bits_retain(bits);
    let mut names: Vec<String> = reasons.iter_names().map(|(n, _)| n.to_ascii_lowercase()).collect();
    let unknown = bits & !ThrottleReasons::all().bits();
    if unknown != 0 {
        names.push(format!("unknown_{unknown:#x}"));
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absent_library_is_a_reason_not_a_panic() {
        let e = Gpus::open(&GpuSource::NvmlAt("/nonexistent/libnvidia-ml.so".into())).unwrap_err();
        assert!(matches!(e, Error::Unavailable { what: "GPU", .. }));
        assert!(e.reason().starts_with("no NVML") && e.reason().contains("/nonexistent/libnvidia-ml.so"), "{e}");
        let off = Gpus::open(&GpuSource::Off).unwrap_err();
        assert_eq!(off.reason(), "GPU sampling turned off");
        // This machine: a GPU or the reason there is none.
        match Gpus::open(&GpuSource::Nvml) {
            Ok(g) => {
                assert!(!g.devices().is_empty());
                assert_eq!(g.read().len(), g.devices().len());
            }
            Err(e) => assert!(e.reason().contains("NVML") || e.reason().contains("GPU"), "{e}"),
        }
    }

    #[test]
    fn throttle_reasons_have_names() {
        assert!(throttle_reason_names(0).is_empty());
        assert_eq!(throttle_reason_names(IDLE_REASON), [IDLE_REASON_NAME]);
        let power_and_heat = (ThrottleReasons::SW_POWER_CAP | ThrottleReasons::HW_SLOWDOWN).bits();
        assert_eq!(throttle_reason_names(power_and_heat), ["sw_power_cap", "hw_slowdown"]);
        assert_eq!(throttle_reason_names(1 << 60), ["unknown_0x1000000000000000"]);
    }
}
