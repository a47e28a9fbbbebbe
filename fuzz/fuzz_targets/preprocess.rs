//! Image decoding (with its size and memory limits) and preprocessing on arbitrary bytes: an
//! error or a tensor of the documented shape with finite values, never a panic.
#![no_main]

use infer_measure::workload::images::{Layout, Preprocess, Resize};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the geometry and layout; the rest is the image file.
    let Some((&knobs, bytes)) = data.split_first() else { return };
    let Ok(img) = Preprocess::decode_image(bytes) else { return };
    let side = u32::from(knobs % 16) + 1;
    let resize = if knobs & 0x10 == 0 {
        Resize::Exact { width: side, height: side + 1 }
    } else {
        Resize::ShorterSideThenCenterCrop { resize: side + 2, crop: side }
    };
    let layout = if knobs & 0x20 == 0 { Layout::Nchw } else { Layout::Nhwc };
    let pre = Preprocess::default().with_resize(resize).with_layout(layout);
    // Absurd aspect ratios may be refused (MAX_RESIZED_PIXELS); anything else must convert.
    if let Ok(t) = pre.to_tensor(&img) {
        assert_eq!(t.shape(), pre.output_shape(1).as_slice());
        assert!(t.to_f64_vec().iter().all(|v| v.is_finite()));
    }
});
