//! The ImageNet preprocessing against torchvision on a natural-looking picture
//! (`fixtures/tiny/natural.png`, drawn by `fixtures/tiny/make_natural.py`, which also computed
//! torchvision's `Resize(256)`, `CenterCrop(224)`, `ToTensor()`, `Normalize(mean, std)` of it).
//!
//! A solid colour comes out the same under any filter; this picture has gradients, hard and
//! anti-aliased edges, text, pickets finer than the resized image and noise, so the resize
//! filter, its antialiasing, its rounding, the crop offsets, the channel order and the
//! normalization all show. The image crate's bilinear weights are `f32`, PIL's fixed-point, so a
//! rare value may differ by one 8-bit level; averaged over 8x8 blocks the two must agree within
//! [`POOLED_TOLERANCE`].
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use infer_core::npy::read_npy;
use infer_measure::workload::images::{Layout, Preprocess};

/// Largest difference allowed between our 8x8 block means and torchvision's, in normalized units
/// (one 8-bit level is 1 / 255 / std ≈ 0.017 of them). Measured: 0.00027. Rounding once instead
/// of after each pass, as infer did before, gave 0.0060.
const POOLED_TOLERANCE: f64 = 0.001;

/// Largest difference allowed for a single value, in normalized units: one 8-bit level (of the
/// channel with the smallest std, the largest step).
const PIXEL_TOLERANCE: f64 = 1.0 / 255.0 / 0.224 + 1e-6;

/// Largest share of values allowed to differ at all. Measured: 3 of 150,528.
const DIFFERING_SHARE: f64 = 1e-3;

const SIDE: usize = 224;
const POOL: usize = 8;

fn tiny(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/tiny").join(name)
}

/// Our preprocessing of the picture as `[channel][y][x]`, whatever the layout.
fn ours(layout: Layout) -> Vec<f64> {
    let p = Preprocess::default().with_layout(layout);
    let t = p.load(&tiny("natural.png")).unwrap();
    let v = t.as_slice::<f32>().unwrap();
    match layout {
        Layout::Nchw => {
            assert_eq!(t.shape(), [1, 3, SIDE, SIDE]);
            v.iter().map(|&x| f64::from(x)).collect()
        }
        Layout::Nhwc => {
            assert_eq!(t.shape(), [1, SIDE, SIDE, 3]);
            (0..3).flat_map(|c| (0..SIDE * SIDE).map(move |i| f64::from(v[i * 3 + c]))).collect()
        }
    }
}

/// Means over `POOL` x `POOL` blocks of a `[3][224][224]` image: `[3][28][28]`.
fn pooled(chw: &[f64]) -> Vec<f64> {
    let n = SIDE / POOL;
    let mut out = vec![0.0; 3 * n * n];
    for c in 0..3 {
        for y in 0..SIDE {
            for x in 0..SIDE {
                out[(c * n + y / POOL) * n + x / POOL] += chw[(c * SIDE + y) * SIDE + x];
            }
        }
    }
    let cells = (POOL * POOL) as f64;
    out.iter().map(|s| s / cells).collect()
}

/// torchvision's normalized tensor, rebuilt from its 8-bit crop as `ToTensor` and `Normalize` do
/// (in f32).
fn torchvision_full() -> Vec<f64> {
    let crop = image::open(tiny("natural.torchvision_crop.png")).unwrap().into_rgb8();
    assert_eq!(crop.dimensions(), (224, 224));
    let p = Preprocess::default();
    let mut out = vec![0.0; 3 * SIDE * SIDE];
    for (x, y, px) in crop.enumerate_pixels() {
        for c in 0..3 {
            let v = (f32::from(px.0[c]) / 255.0 - p.mean[c]) / p.std[c];
            out[(c * SIDE + y as usize) * SIDE + x as usize] = f64::from(v);
        }
    }
    out
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

fn agrees_with_torchvision(layout: Layout) {
    let ours = ours(layout);
    let reference = read_npy(&tiny("natural.torchvision_pool8.npy")).unwrap();
    assert_eq!(reference.shape(), [3, SIDE / POOL, SIDE / POOL]);
    let reference: Vec<f64> = reference.to_f64_vec();
    // The committed pooled reference and the committed crop tell the same story.
    assert!(max_abs_diff(&pooled(&torchvision_full()), &reference) < 1e-5);

    let full = torchvision_full();
    let pooled_diff = max_abs_diff(&pooled(&ours), &reference);
    let pixel_diff = max_abs_diff(&ours, &full);
    let differing = ours.iter().zip(&full).filter(|(a, b)| (*a - *b).abs() > 1e-5).count();
    eprintln!(
        "{layout:?}: max |ours - torchvision| = {pooled_diff:.5} pooled 8x8, {pixel_diff:.5} per value; \
         {differing} of {} values differ",
        ours.len()
    );
    assert!(pooled_diff <= POOLED_TOLERANCE, "{layout:?}: 8x8-pooled max abs diff {pooled_diff} > {POOLED_TOLERANCE}");
    assert!(pixel_diff <= PIXEL_TOLERANCE, "{layout:?}: per-value max abs diff {pixel_diff} > {PIXEL_TOLERANCE}");
    let share = differing as f64 / ours.len() as f64;
    assert!(share <= DIFFERING_SHARE, "{layout:?}: {differing} values differ, more than {DIFFERING_SHARE} of them");
}

#[test]
fn nchw_preprocessing_matches_torchvision_on_a_natural_image() {
    agrees_with_torchvision(Layout::Nchw);
}

#[test]
fn nhwc_preprocessing_matches_torchvision_on_a_natural_image() {
    agrees_with_torchvision(Layout::Nhwc);
}
