//! The command line's list parsers (batch sizes, devices, shapes, `--shape` / `--dim` /
//! `--int-range`, durations) on arbitrary text:
//! an error message or a value within the documented limits, never a panic.
#![no_main]

use infer_measure::workload::args::{
    MAX_SIZE, parse_devices, parse_dim_arg, parse_int_range, parse_shape, parse_shape_arg, parse_sizes,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(sizes) = parse_sizes(&text) {
        assert!(!sizes.0.is_empty() && sizes.0.iter().all(|&s| (1..=MAX_SIZE).contains(&s)));
    }
    if let Ok(devices) = parse_devices(&text) {
        // Every device prints as text that parses back to itself.
        for d in devices.0 {
            assert_eq!(d.to_string().parse::<infer_core::Device>().ok(), Some(d));
        }
    }
    if let Ok(shape) = parse_shape(&text) {
        assert!((1..=16).contains(&shape.len()) && shape.iter().all(|&d| (1..=MAX_SIZE).contains(&d)));
    }
    // `--shape`, `--dim` and `--int-range` print back as text that parses to the same value.
    if let Ok(s) = parse_shape_arg(&text) {
        assert_eq!(parse_shape_arg(&s.to_string()).ok(), Some(s));
    }
    if let Ok(d) = parse_dim_arg(&text) {
        assert_eq!(parse_dim_arg(&d.to_string()).ok(), Some(d));
    }
    if let Ok(r) = parse_int_range(&text) {
        assert!(r.lo < r.hi);
        assert_eq!(parse_int_range(&r.to_string()).ok(), Some(r));
    }
    if let Ok(d) = infer_measure::timing::parse_duration(&text) {
        assert!(d.as_secs() <= 86_400);
    }
});
