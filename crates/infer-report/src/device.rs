//! The device's columns of a table, shown only where some row has them (torch on CUDA): the
//! device's own median time per call (CUDA events) beside the wall clock's, and the device
//! allocator's memory after the row's calls.

use infer_measure::results::BenchRow;

/// Which device columns a table of `rows` gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceColumns {
    /// Some row has the device's own time.
    pub time: bool,
    /// Some row has the device allocator's figures.
    pub memory: bool,
}

impl DeviceColumns {
    /// The columns `rows` need: none for rows measured on the CPU alone.
    #[must_use]
    pub fn of<'r>(rows: impl IntoIterator<Item = &'r BenchRow>) -> Self {
        rows.into_iter().fold(Self { time: false, memory: false }, |c, r| Self {
            time: c.time || r.device_time.is_some(),
            memory: c.memory || r.device_memory.is_some(),
        })
    }

    /// The titles of the columns, in order.
    #[must_use]
    pub fn titles(&self) -> Vec<&'static str> {
        [self.time.then_some("device ms"), self.memory.then_some("device MiB alloc/resv")]
            .into_iter()
            .flatten()
            .collect()
    }

    /// `row`'s cells for these columns, `-` where it has no figure.
    #[must_use]
    pub fn cells(&self, row: &BenchRow) -> Vec<String> {
        let mut cells = Vec::new();
        if self.time {
            cells.push(row.device_time.as_ref().map_or_else(|| "-".into(), |d| format!("{:.3}", d.summary_ms.median)));
        }
        if self.memory {
            #[allow(clippy::cast_precision_loss)]
            let mib = |b: Option<u64>| b.map_or_else(|| "?".into(), |b| format!("{:.0}", b as f64 / (1024.0 * 1024.0)));
            cells.push(
                row.device_memory
                    .as_ref()
                    .map_or_else(|| "-".into(), |m| format!("{}/{}", mib(m.allocated), mib(m.reserved))),
            );
        }
        cells
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use infer_core::{Device, DeviceMemory};
    use infer_measure::{device_time::DeviceTime, testing::row};

    use super::*;

    #[test]
    fn columns_only_where_a_row_has_device_figures() {
        let cpu = row("torch", Device::Cpu, 1, 10.0);
        let none = DeviceColumns::of([&cpu]);
        assert!(none.titles().is_empty() && none.cells(&cpu).is_empty());
        let json = serde_json::to_string(&cpu).unwrap();
        assert!(
            !json.contains("device_time") && !json.contains("device_memory") && !json.contains("timed_unix_s"),
            "a CPU row's JSON has no device fields: {json}"
        );

        let mut gpu = row("torch", Device::Cuda(0), 1, 2.0);
        gpu.device_time = DeviceTime::from_samples(vec![1.5, 1.25, 1.75]).unwrap();
        gpu.device_memory = Some(DeviceMemory {
            allocated: Some(3 << 20),
            reserved: Some(8 << 20),
            peak_allocated: None,
            source: "test".into(),
        });
        let both = DeviceColumns::of([&cpu, &gpu]);
        assert_eq!(both.titles(), ["device ms", "device MiB alloc/resv"]);
        assert_eq!(both.cells(&gpu), ["1.500", "3/8"]);
        assert_eq!(both.cells(&cpu), ["-", "-"]);
        let back: BenchRow = serde_json::from_str(&serde_json::to_string(&gpu).unwrap()).unwrap();
        assert_eq!(back.device_time, gpu.device_time);
    }
}
