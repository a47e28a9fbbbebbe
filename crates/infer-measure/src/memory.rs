//! Memory figures and how each is obtained: process RSS from the kernel (`/proc/self/status`),
//! CUDA device memory from the driver (`cuMemGetInfo` through `cudarc`, loaded at run time), and
//! an address-space limit for child processes (`setrlimit`).

use serde::{Deserialize, Serialize};

/// How the RSS figures of a report are obtained, as written into it.
pub const RSS_METHOD: &str = "VmRSS (current) and VmHWM (peak) from /proc/self/status; load increase = VmRSS after \
     loading - VmRSS before; inference increase = VmHWM at the end - VmRSS after loading";

/// How the CUDA figures are obtained, as written into reports.
pub const CUDA_METHOD: &str = "cuMemGetInfo (driver API via cudarc, libcuda loaded at run time): memory used on the \
     whole device (total - free, every process and context, our own CUDA context included)";

/// Resident memory of this process, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rss {
    /// Current resident set size (`VmRSS`).
    pub current: u64,
    /// Peak resident set size since the process started (`VmHWM`).
    pub peak: u64,
}

/// Reads the current and peak RSS; `None` where `/proc` is not available.
#[must_use]
pub fn rss() -> Option<Rss> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line[name.len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kb * 1024)
    };
    Some(Rss { current: field("VmRSS:")?, peak: field("VmHWM:")? })
}

/// Free and total memory of one CUDA device, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CudaMemInfo {
    /// Bytes free on the device.
    pub free: u64,
    /// Bytes on the device.
    pub total: u64,
}

impl CudaMemInfo {
    /// Bytes in use on the whole device.
    #[must_use]
    pub fn used(&self) -> u64 {
        self.total.saturating_sub(self.free)
    }
}

/// Asks the CUDA driver for the free and total memory of device `ordinal`.
///
/// # Errors
/// A message starting `no CUDA driver` when `libcuda` cannot be loaded (any machine without an
/// NVIDIA driver), else the driver's error.
pub fn cuda_mem_info(ordinal: usize) -> std::result::Result<CudaMemInfo, String> {
    // cudarc panics when libcuda is missing; keep that panic silent and turn it into an answer.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let answer = std::panic::catch_unwind(|| {
        let ctx = cudarc::driver::CudaContext::new(ordinal)?;
        ctx.mem_get_info()
    });
    std::panic::set_hook(previous);
    match answer {
        Err(_) => Err("no CUDA driver: libcuda.so could not be loaded".into()),
        Ok(Err(e)) => Err(format!("CUDA driver error on cuda:{ordinal}: {e}")),
        Ok(Ok((free, total))) => Ok(CudaMemInfo { free: free as u64, total: total as u64 }),
    }
}

/// Limits this process's address space (`RLIMIT_AS`) to what it has mapped now plus `bytes`, so
/// an allocation beyond that fails instead of pushing the machine into swap. The runtime
/// libraries already mapped (libtorch alone maps over a GiB) do not count against `bytes`.
/// Meant for child processes that probe sizes.
///
/// # Errors
/// The `setrlimit` error, as text.
pub fn limit_address_space(bytes: u64) -> std::result::Result<(), String> {
    let limit = vm_size().unwrap_or(0).saturating_add(bytes);
    rlimit::setrlimit(rlimit::Resource::AS, limit, limit)
        .map_err(|e| format!("cannot limit the address space to {}: {e}", mib(limit)))
}

/// `VmSize` (mapped address space) of this process from `/proc/self/status`, in bytes.
fn vm_size() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with("VmSize:"))?;
    let kb: u64 = line["VmSize:".len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

/// `MemAvailable` from `/proc/meminfo`, in bytes.
#[must_use]
pub fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line["MemAvailable:".len()..].trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

/// The memory new tensors of this process may take, and what bounds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Available {
    /// Bytes.
    pub bytes: u64,
    /// What bounds it: `MemAvailable`, or the address-space limit (`--memory-limit`).
    pub bound: &'static str,
}

/// The memory new tensors of this process may take: `MemAvailable` from `/proc/meminfo`, or,
/// where this process's address space is limited (`RLIMIT_AS`, which `--memory-limit` sets) and
/// less is left under the limit than that, what is left (the limit less `VmSize`). `None` where
/// neither can be read.
#[must_use]
pub fn available() -> Option<Available> {
    let machine = mem_available().map(|bytes| Available { bytes, bound: "MemAvailable" });
    let limited = match rlimit::getrlimit(rlimit::Resource::AS) {
        Ok((soft, _)) if soft != rlimit::INFINITY => vm_size().map(|used| Available {
            bytes: soft.saturating_sub(used),
            bound: "the address space left under --memory-limit",
        }),
        _ => None,
    };
    match (machine, limited) {
        (Some(m), Some(l)) => Some(if l.bytes < m.bytes { l } else { m }),
        (m, l) => m.or(l),
    }
}

/// Formats a byte count for people: `512 B`, `3.0 KiB`, `4.0 MiB`, `111.8 GiB`.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// Parses a byte size such as `512M`, `2G`, `1.5GiB`, `800MB` or a plain number of bytes
/// (binary multiples: K = 1024).
///
/// # Errors
/// A message naming the text and the accepted forms.
pub fn parse_bytes(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let scale: f64 = match unit.trim().to_ascii_lowercase().trim_end_matches("ib").trim_end_matches('b') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("invalid size `{text}`: expected e.g. 512M, 2G or a number of bytes")),
    };
    let v: f64 =
        num.parse().map_err(|_| format!("invalid size `{text}`: expected e.g. 512M, 2G or a number of bytes"))?;
    let bytes = v * scale;
    if !(1.0..=1.8e19).contains(&bytes) {
        return Err(format!("invalid size `{text}`: must be at least 1 byte"));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(bytes as u64)
}

/// Formats a byte count as MiB with one decimal.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rss_grows_with_touched_memory() {
        let before = rss().unwrap();
        assert!(before.current > 0 && before.peak >= before.current);
        let block = vec![1u8; 64 << 20];
        let after = rss().unwrap();
        assert!(after.peak >= before.peak + (32 << 20), "{before:?} -> {after:?}");
        drop(block);
        assert_eq!(mib(3 << 20), "3.0 MiB");
    }

    /// A device that does not exist (no machine has 4097 GPUs) is a clear error on every
    /// machine, not a panic: without a driver, libcuda cannot be loaded; with one, the driver
    /// refuses the ordinal.
    #[test]
    fn cuda_query_of_an_absent_device_is_a_clear_error() {
        let e = cuda_mem_info(4096).unwrap_err();
        assert!(
            e == "no CUDA driver: libcuda.so could not be loaded" || e.starts_with("CUDA driver error on cuda:4096: "),
            "{e}"
        );
    }

    /// On a GPU, the driver's figures are consistent. Run on the GPU machine with
    /// `cargo test -- --ignored`.
    #[test]
    #[ignore = "needs a CUDA device"]
    fn cuda_query_on_a_gpu_gives_consistent_figures() {
        let info = cuda_mem_info(0).unwrap();
        assert!(info.total > 0 && info.free <= info.total && info.used() == info.total - info.free, "{info:?}");
    }

    #[test]
    fn parses_byte_sizes() {
        assert_eq!(parse_bytes("512M").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("2G").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_bytes("1.5k").unwrap(), 1536);
        assert_eq!(parse_bytes("4096").unwrap(), 4096);
        assert!(parse_bytes("lots").unwrap_err().contains("lots"));
        assert!(parse_bytes("0").is_err());
        assert!(mem_available().unwrap() > 0);
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(4 << 20), "4.0 MiB");
        assert_eq!(human_bytes(119_997_600_012), "111.8 GiB");
        assert_eq!(human_bytes(u64::MAX), "16.0 EiB");
    }

    /// Without an address-space limit the machine's `MemAvailable` bounds new tensors (the limited
    /// case is tested through `infer bench --memory-limit`, which sets one on its process).
    #[test]
    fn available_memory_is_the_least_of_the_machine_and_the_limit() {
        let a = available().unwrap();
        if rlimit::getrlimit(rlimit::Resource::AS).unwrap().0 == rlimit::INFINITY {
            assert_eq!(a.bound, "MemAvailable");
            assert!(a.bytes > 0 && a.bytes <= mem_available().unwrap() + (64 << 20), "{a:?}");
        }
    }
}
