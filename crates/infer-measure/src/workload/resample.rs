//! Resampling for [`super::images`]: PIL's two passes, in bands, on the columns a crop keeps.

use image::{GenericImageView, RgbImage, imageops::FilterType};

/// Bytes of `f32` scratch one horizontal resampling band may take: `image`'s `resize` holds a
/// whole `f32` copy of its source, 12 bytes a pixel, so a large photo is resampled in bands.
const BAND_BYTES: usize = 64 << 20;

/// Resizes `img` to `rw` × `rh` with a triangle (bilinear) filter and keeps the `ow` columns
/// from `left`: an `ow` × `rh` image. The horizontal pass takes `band` rows at a time.
///
/// As PIL (torchvision's image backend) does: the horizontal pass first, rounded to 8 bits, then
/// the vertical pass. Resampling both ways at once rounds once instead, which differs from
/// torchvision by a level over whole smooth areas (a sky, a glow). Each pass is independent
/// across the other axis, so the horizontal one runs in bands of rows and the vertical one only
/// on the columns the crop keeps: the result is the same as resizing the whole image, and the
/// scratch memory stays near [`BAND_BYTES`] instead of 12 bytes for every source pixel.
pub(super) fn resize_columns(img: &RgbImage, (rw, rh): (u32, u32), left: u32, ow: u32, band: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let wide = if rw == w {
        std::borrow::Cow::Borrowed(img)
    } else {
        let band = band.clamp(1, h);
        let mut raw = Vec::with_capacity(rw as usize * h as usize * 3);
        for y in (0..h).step_by(band as usize) {
            let rows = band.min(h - y);
            let part = image::imageops::resize(&*img.view(0, y, w, rows), rw, rows, FilterType::Triangle);
            raw.extend_from_slice(part.as_raw());
        }
        std::borrow::Cow::Owned(RgbImage::from_raw(rw, h, raw).unwrap_or_default())
    };
    let kept = wide.view(left, 0, ow, h);
    image::imageops::resize(&*kept, ow, rh, FilterType::Triangle)
}

/// Rows of a `w`-pixel-wide image one horizontal band takes: [`BAND_BYTES`] of `f32` scratch.
pub(super) fn band_rows(w: u32) -> u32 {
    u32::try_from(BAND_BYTES / (w.max(1) as usize * 12)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn banded_resize_equals_resizing_the_whole_image() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let img = RgbImage::from_fn(53, 41, |_, _| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            Rgb([rng as u8, (rng >> 8) as u8, (rng >> 16) as u8])
        });
        for (rw, rh, left, ow) in [(20, 17, 3, 11), (53, 9, 0, 53), (80, 60, 10, 40), (7, 41, 0, 7)] {
            let wide = image::imageops::resize(&img, rw, 41, FilterType::Triangle);
            let whole = image::imageops::resize(&wide, rw, rh, FilterType::Triangle);
            let expected = image::imageops::crop_imm(&whole, left, 0, ow, rh).to_image();
            for band in [1, 6, 41, 1000] {
                let got = resize_columns(&img, (rw, rh), left, ow, band);
                assert!(got == expected, "{rw}x{rh} from {left} ({ow} wide) in bands of {band}");
            }
        }
    }
}
