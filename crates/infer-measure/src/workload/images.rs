//! Image preprocessing for vision models: decode any supported image file (PNG, JPEG, BMP, GIF,
//! WebP, TIFF) to RGB, resize, scale, normalize per channel and lay out as an `f32` tensor in
//! NCHW (PyTorch, most ONNX models) or NHWC (TensorFlow) order.
//!
//! The default [`Preprocess`] is the usual ImageNet evaluation transform, as torchvision's
//! `Resize(256)`, `CenterCrop(224)`, `ToTensor()`, `Normalize(mean, std)`.
//!
//! ```
//! use image::{Rgb, RgbImage};
//! use infer_measure::workload::images::{Layout, Preprocess};
//!
//! let img = RgbImage::from_pixel(300, 200, Rgb([255, 0, 0]));
//! let t = Preprocess::default().to_tensor(&img)?;
//! assert_eq!(t.shape(), &[1, 3, 224, 224]);
//! let t = Preprocess::default().with_layout(Layout::Nhwc).to_tensor(&img)?;
//! assert_eq!(t.shape(), &[1, 224, 224, 3]);
//! # Ok::<(), infer_core::Error>(())
//! ```

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    path::{Path, PathBuf},
};

use image::{ImageError, ImageReader, Limits, RgbImage};
use serde::{Deserialize, Serialize};

use infer_core::{DType, Error, Result, Tensor, TensorSpec};

use super::resample;

/// Largest image width or height [`Preprocess::load_image`] accepts.
pub const MAX_IMAGE_SIDE: u32 = 16_384;

/// Most memory, in bytes, a decoder may allocate for one image in [`Preprocess::load_image`].
pub const MAX_DECODE_ALLOC: u64 = 1 << 29;

/// Largest intermediate (resized, before cropping) image, in pixels, that
/// [`Preprocess::to_tensor`] will build; protects against absurd aspect ratios.
pub const MAX_RESIZED_PIXELS: u64 = 1 << 28;

/// How an image is brought to the model's input size. Both use bilinear filtering
/// (`FilterType::Triangle`, antialiased when shrinking, like PIL's bilinear), horizontally and
/// then vertically with the intermediate image rounded to 8 bits, as PIL does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resize {
    /// Resize to exactly `width` × `height`, ignoring the aspect ratio.
    Exact {
        /// Output width in pixels.
        width: u32,
        /// Output height in pixels.
        height: u32,
    },
    /// torchvision's `Resize(resize)` then `CenterCrop(crop)`: scale so that the shorter side is
    /// `resize` pixels, keeping the aspect ratio (the longer side is truncated to whole pixels,
    /// as torchvision does), then cut the centre `crop` × `crop` square (offsets rounded half
    /// to even, as torchvision does). `crop` must not exceed `resize`.
    ShorterSideThenCenterCrop {
        /// Length of the shorter side after resizing.
        resize: u32,
        /// Side of the square cut from the centre.
        crop: u32,
    },
}

impl Resize {
    /// Width and height of the result.
    #[must_use]
    pub fn output_size(&self) -> (u32, u32) {
        match *self {
            Resize::Exact { width, height } => (width, height),
            Resize::ShorterSideThenCenterCrop { crop, .. } => (crop, crop),
        }
    }
}

/// Memory order of the output tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `[N, 3, H, W]`: channels first (PyTorch, most ONNX models).
    #[default]
    Nchw,
    /// `[N, H, W, 3]`: channels last (TensorFlow / Keras models).
    Nhwc,
}

/// An image-to-tensor transform: resize, then `(pixel * scale - mean[c]) / std[c]` for each RGB
/// channel `c`, then lay out as [`Layout`]. Fields are public; the `with_*` methods are a
/// shorthand. [`Preprocess::default`] is the ImageNet transform (shorter side 256, centre crop
/// 224, ImageNet mean and std, scale 1/255, NCHW).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    /// Geometry of the transform.
    pub resize: Resize,
    /// Per-channel (R, G, B) mean subtracted after scaling.
    pub mean: [f32; 3],
    /// Per-channel (R, G, B) standard deviation divided by after subtracting the mean.
    pub std: [f32; 3],
    /// Factor applied to the 0..=255 pixel values first (1/255 maps them to 0..=1).
    pub scale: f32,
    /// Output memory order.
    pub layout: Layout,
}

impl Default for Preprocess {
    fn default() -> Self {
        Self {
            resize: Resize::ShorterSideThenCenterCrop { resize: 256, crop: 224 },
            mean: [0.485, 0.456, 0.406],
            std: [0.229, 0.224, 0.225],
            scale: 1.0 / 255.0,
            layout: Layout::Nchw,
        }
    }
}

impl Preprocess {
    /// Replaces the geometry.
    #[must_use]
    pub fn with_resize(mut self, resize: Resize) -> Self {
        self.resize = resize;
        self
    }

    /// Replaces the per-channel mean and standard deviation.
    #[must_use]
    pub fn with_normalization(mut self, mean: [f32; 3], std: [f32; 3]) -> Self {
        self.mean = mean;
        self.std = std;
        self
    }

    /// Replaces the pixel scale factor.
    #[must_use]
    pub fn with_scale(mut self, scale: f32) -> Self {
        self.scale = scale;
        self
    }

    /// Replaces the output layout.
    #[must_use]
    pub fn with_layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// Width and height of each output image.
    #[must_use]
    pub fn output_size(&self) -> (u32, u32) {
        self.resize.output_size()
    }

    /// Shape of the tensor produced for `batch` images: `[batch, 3, H, W]` or `[batch, H, W, 3]`.
    #[must_use]
    pub fn output_shape(&self, batch: usize) -> Vec<usize> {
        let (w, h) = self.output_size();
        let (w, h) = (w as usize, h as usize);
        match self.layout {
            Layout::Nchw => vec![batch, 3, h, w],
            Layout::Nhwc => vec![batch, h, w, 3],
        }
    }

    /// Checks that the settings make sense: non-zero sizes, crop within resize, finite mean and
    /// scale, finite non-zero std.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] saying which setting is wrong.
    pub fn validate(&self) -> Result<()> {
        match self.resize {
            Resize::Exact { width, height } if width == 0 || height == 0 => {
                return Err(Error::InvalidInput(format!("resize to {width}x{height}: sizes must be positive")));
            }
            Resize::ShorterSideThenCenterCrop { resize, crop } if resize == 0 || crop == 0 || crop > resize => {
                return Err(Error::InvalidInput(format!(
                    "resize {resize} then center crop {crop}: both must be positive and crop at most resize"
                )));
            }
            _ => {}
        }
        if let Some(s) = self.std.iter().find(|s| !s.is_finite() || **s == 0.0) {
            return Err(Error::InvalidInput(format!(
                "normalization std {:?} has {s}: must be finite and non-zero",
                self.std
            )));
        }
        if !self.mean.iter().all(|m| m.is_finite()) {
            return Err(Error::InvalidInput(format!("normalization mean {:?} must be finite", self.mean)));
        }
        if !self.scale.is_finite() {
            return Err(Error::InvalidInput(format!("pixel scale {} must be finite", self.scale)));
        }
        Ok(())
    }

    /// Decodes an image file to 8-bit RGB. The file's content, not its extension, decides the
    /// format. Grayscale, alpha and 16-bit images are converted (alpha is dropped). Decoding is
    /// limited to [`MAX_IMAGE_SIDE`] pixels a side and [`MAX_DECODE_ALLOC`] bytes, so a
    /// decompression bomb is refused instead of exhausting memory.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file when it cannot be opened or read; [`Error::File`] naming the
    /// file with "not a decodable image: &lt;decoder message&gt;" when it is not an image of a
    /// supported format or is corrupt or truncated, or with "image too large" when it exceeds
    /// the limits.
    pub fn load_image(path: &Path) -> Result<RgbImage> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::decode_image(&bytes).map_err(|reason| Error::file(path, reason))
    }

    /// Decodes image bytes to 8-bit RGB, with the limits and conversions of
    /// [`Preprocess::load_image`]; the format is recognized from the content.
    ///
    /// # Errors
    /// "not a decodable image: ..." when the bytes are not an image of a supported format or
    /// are corrupt or truncated; "image too large to decode safely: ..." beyond the limits.
    pub fn decode_image(bytes: &[u8]) -> std::result::Result<RgbImage, String> {
        let mut reader = ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| format!("not a decodable image: {e}"))?;
        if reader.format().is_none() {
            let head: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
            return Err(format!(
                "not a decodable image: expected PNG, JPEG, BMP, GIF, WebP or TIFF content, found {} byte(s) \
                 starting with [{}]",
                bytes.len(),
                head.join(" ")
            ));
        }
        let mut limits = Limits::default();
        limits.max_image_width = Some(MAX_IMAGE_SIDE);
        limits.max_image_height = Some(MAX_IMAGE_SIDE);
        limits.max_alloc = Some(MAX_DECODE_ALLOC);
        reader.limits(limits);
        // Decoders are meant never to panic; if one does on hostile bytes, report it as an error.
        let decoded = catch_unwind(AssertUnwindSafe(|| reader.decode())).map_err(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(ToString::to_string)
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            format!("not a decodable image: the decoder failed ({what})")
        })?;
        match decoded {
            Ok(img) => Ok(img.into_rgb8()),
            Err(ImageError::Limits(e)) => Err(format!(
                "image too large to decode safely: {e} (limits: {MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE} pixels, {} MiB)",
                MAX_DECODE_ALLOC >> 20
            )),
            // A decoder's message may span lines (`… found 3\n`): the first, trimmed.
            Err(e) => Err(format!("not a decodable image: {}", e.to_string().lines().next().unwrap_or("").trim())),
        }
    }

    /// Loads an image file and converts it: [`Preprocess::load_image`] then
    /// [`Preprocess::to_tensor`].
    ///
    /// # Errors
    /// As those two.
    pub fn load(&self, path: &Path) -> Result<Tensor> {
        self.to_tensor(&Self::load_image(path)?)
    }

    /// Converts one image to an `f32` tensor of shape `[1, 3, H, W]` (NCHW) or `[1, H, W, 3]`
    /// (NHWC).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the settings are invalid (see [`Preprocess::validate`]), the
    /// image is empty, or resizing would build an image over [`MAX_RESIZED_PIXELS`].
    pub fn to_tensor(&self, img: &RgbImage) -> Result<Tensor> {
        self.batch_images(std::slice::from_ref(img))
    }

    /// Loads and converts image files, stacked into one `[N, ...]` tensor in the order given.
    /// Images are decoded one at a time, so memory holds one decoded image besides the output.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty list; otherwise as [`Preprocess::load_image`] (naming
    /// the first file that fails) and [`Preprocess::to_tensor`].
    pub fn batch(&self, paths: &[PathBuf]) -> Result<Tensor> {
        self.stack(paths.len(), paths.iter().map(|p| Self::load_image(p)))
    }

    /// Converts images, stacked into one `[N, ...]` tensor in the order given.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty list; otherwise as [`Preprocess::to_tensor`].
    pub fn batch_images(&self, imgs: &[RgbImage]) -> Result<Tensor> {
        self.stack(imgs.len(), imgs.iter().map(Ok))
    }

    /// Fills one `[n, ...]` tensor from `n` images, each converted straight into its slot.
    fn stack<I, B>(&self, n: usize, images: I) -> Result<Tensor>
    where
        I: Iterator<Item = Result<B>>,
        B: std::borrow::Borrow<RgbImage>,
    {
        self.validate()?;
        if n == 0 {
            return Err(Error::InvalidInput("no images to preprocess".into()));
        }
        let shape = self.output_shape(n);
        let per_image: usize = shape[1..].iter().product();
        let total = per_image
            .checked_mul(n)
            .ok_or_else(|| Error::InvalidInput(format!("a batch of shape {shape:?} is too large")))?;
        let lut = self.lookup_table();
        let mut out = vec![0.0f32; total];
        for (slot, img) in out.chunks_exact_mut(per_image).zip(images) {
            self.fill(img?.borrow(), &lut, slot)?;
        }
        Tensor::from_vec(shape, out)
    }

    /// The normalized value of every 8-bit level of each channel.
    fn lookup_table(&self) -> [[f32; 256]; 3] {
        let mut lut = [[0.0f32; 256]; 3];
        for (c, table) in lut.iter_mut().enumerate() {
            for (level, v) in (0u8..=255).zip(table.iter_mut()) {
                *v = (f32::from(level) * self.scale - self.mean[c]) / self.std[c];
            }
        }
        lut
    }

    /// Resizes and crops `img`, writing its normalized pixels into `out` in the output layout.
    fn fill(&self, img: &RgbImage, lut: &[[f32; 256]; 3], out: &mut [f32]) -> Result<()> {
        let (w, h) = img.dimensions();
        if w == 0 || h == 0 {
            return Err(Error::InvalidInput(format!("cannot preprocess an empty {w}x{h} image")));
        }
        let (rw, rh, left, top) = self.geometry(w, h)?;
        let (ow, oh) = self.output_size();
        let resized;
        let (src, rw, left) = if (rw, rh) == (w, h) {
            (img, rw, left)
        } else {
            resized = resample::resize_columns(img, (rw, rh), left, ow, resample::band_rows(w));
            (&resized, ow, 0)
        };
        let (ow, oh, rw, left, top) = (ow as usize, oh as usize, rw as usize, left as usize, top as usize);
        let raw = src.as_raw();
        let plane = ow * oh;
        for y in 0..oh {
            let start = ((top + y) * rw + left) * 3;
            let row = &raw[start..start + ow * 3];
            match self.layout {
                Layout::Nchw => {
                    for (x, px) in row.chunks_exact(3).enumerate() {
                        for c in 0..3 {
                            out[c * plane + y * ow + x] = lut[c][usize::from(px[c])];
                        }
                    }
                }
                Layout::Nhwc => {
                    let dst = &mut out[y * ow * 3..(y + 1) * ow * 3];
                    for (i, (d, &v)) in dst.iter_mut().zip(row).enumerate() {
                        *d = lut[i % 3][usize::from(v)];
                    }
                }
            }
        }
        Ok(())
    }

    /// Size after resizing and offset of the crop, for a `w` × `h` source image.
    fn geometry(&self, w: u32, h: u32) -> Result<(u32, u32, u32, u32)> {
        let (rw, rh, left, top) = match self.resize {
            Resize::Exact { width, height } => (width, height, 0, 0),
            Resize::ShorterSideThenCenterCrop { resize, crop } => {
                let (short, long) = (w.min(h), w.max(h));
                let new_long = u64::from(resize) * u64::from(long) / u64::from(short);
                let new_long = u32::try_from(new_long).map_err(|_| too_large(w, h, u64::MAX))?;
                let (rw, rh) = if w <= h { (resize, new_long) } else { (new_long, resize) };
                let offset = |len: u32| ((f64::from(len - crop)) / 2.0).round_ties_even() as u32;
                (rw, rh, offset(rw), offset(rh))
            }
        };
        // The horizontal pass makes an `rw` x `h` image before the vertical one.
        let pixels = u64::from(rw) * u64::from(rh.max(h));
        if pixels > MAX_RESIZED_PIXELS {
            return Err(too_large(w, h, pixels));
        }
        Ok((rw, rh, left, top))
    }
}

fn too_large(w: u32, h: u32, pixels: u64) -> Error {
    Error::InvalidInput(format!(
        "a {w}x{h} image would be resized to {pixels} pixels, more than the {MAX_RESIZED_PIXELS} allowed"
    ))
}

/// Preprocessing that fits an image input spec: NCHW `[N,3,H,W]` or NHWC `[N,H,W,3]`, with H and W
/// from the spec (224 where they are dynamic).
///
/// # Errors
/// [`Error::InvalidInput`] when the spec is not a 4-d image input with 3 channels.
pub fn preprocess_for(spec: &TensorSpec) -> Result<Preprocess> {
    let not_image = || {
        Error::InvalidInput(format!(
            "input `{}` {} is not an image input: expected [N,3,H,W] or [N,H,W,3] of f32; pass --input x.npy instead",
            spec.name,
            spec.shape_string()
        ))
    };
    let dims = spec.dims.as_ref().ok_or_else(not_image)?;
    if dims.len() != 4 || spec.dtype != DType::F32 {
        return Err(not_image());
    }
    let d = |i: usize| dims[i].fixed();
    let (layout, h, w) = match (d(1), d(3)) {
        (Some(3), _) => (Layout::Nchw, d(2), d(3)),
        (_, Some(3)) => (Layout::Nhwc, d(1), d(2)),
        _ => return Err(not_image()),
    };
    let to_u32 = |v: Option<usize>| v.and_then(|v| u32::try_from(v).ok()).unwrap_or(224);
    let (h, w) = (to_u32(h), to_u32(w));
    let resize = if h == w {
        Resize::ShorterSideThenCenterCrop { resize: h * 8 / 7, crop: h }
    } else {
        Resize::Exact { width: w, height: h }
    };
    Ok(Preprocess { resize, layout, ..Preprocess::default() })
}

/// Whether a path looks like an image by its extension.
#[must_use]
pub fn is_image_path(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg" | "bmp" | "gif" | "webp" | "tif" | "tiff")
    })
}

/// The image files of a folder, sorted by name.
///
/// # Errors
/// [`Error::Io`] when the folder cannot be read; [`Error::InvalidInput`] when it has no image.
pub fn images_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_image_path(p))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(Error::file(dir, "no image files (png, jpg, bmp, gif, webp, tiff) in this folder"));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use image::{GrayImage, ImageBuffer, Luma, Rgb, Rgba, RgbaImage};

    use super::*;
    use infer_core::Dim;

    fn red_value(c: usize) -> f32 {
        let p = Preprocess::default();
        let level = if c == 0 { 255.0 } else { 0.0 };
        (level * p.scale - p.mean[c]) / p.std[c]
    }

    fn all_close(values: &[f32], expected: f32) -> bool {
        values.iter().all(|v| (v - expected).abs() < 1e-5)
    }

    /// Preprocess that keeps raw 0..=255 values, for checking geometry.
    fn raw(resize: Resize) -> Preprocess {
        Preprocess::default().with_resize(resize).with_normalization([0.0; 3], [1.0; 3]).with_scale(1.0)
    }

    #[test]
    fn decode_image_from_bytes_says_what_was_found() {
        let err = Preprocess::decode_image(b"").unwrap_err();
        assert!(err.contains("expected PNG, JPEG") && err.contains("found 0 byte(s)"), "{err}");
        let err = Preprocess::decode_image(b"hello, world").unwrap_err();
        assert!(err.contains("found 12 byte(s) starting with [68 65 6c 6c 6f 2c 20 77]"), "{err}");
        let mut png = Vec::new();
        RgbImage::from_pixel(5, 3, image::Rgb([1, 2, 3]))
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let img = Preprocess::decode_image(&png).unwrap();
        assert_eq!(img.dimensions(), (5, 3));
        assert_eq!(img.get_pixel(4, 2).0, [1, 2, 3]);
        let err = Preprocess::decode_image(&png[..png.len() / 2]).unwrap_err();
        assert!(err.starts_with("not a decodable image: "), "{err}");
        // A BMP header announcing 20000 x 20000 pixels (over 16384 a side) is refused by the limits, unallocated.
        let mut bmp = b"BM".to_vec();
        bmp.extend_from_slice(&[0u8; 8]);
        bmp.extend_from_slice(&54u32.to_le_bytes());
        bmp.extend_from_slice(&40u32.to_le_bytes());
        bmp.extend_from_slice(&20_000i32.to_le_bytes());
        bmp.extend_from_slice(&20_000i32.to_le_bytes());
        bmp.extend_from_slice(&1u16.to_le_bytes());
        bmp.extend_from_slice(&24u16.to_le_bytes());
        bmp.extend_from_slice(&[0u8; 24]);
        let err = Preprocess::decode_image(&bmp).unwrap_err();
        assert!(err.starts_with("image too large to decode safely"), "{err}");
    }

    #[test]
    fn default_is_imagenet() {
        let p = Preprocess::default();
        assert_eq!(p.resize, Resize::ShorterSideThenCenterCrop { resize: 256, crop: 224 });
        assert_eq!(p.layout, Layout::Nchw);
        assert_eq!(p.output_shape(4), vec![4, 3, 224, 224]);
        assert!(p.validate().is_ok());
    }

    #[test]
    fn shapes_for_layouts_and_resize_modes() {
        let img = RgbImage::from_pixel(300, 200, Rgb([10, 20, 30]));
        let p = Preprocess::default();
        assert_eq!(p.to_tensor(&img).unwrap().shape(), &[1, 3, 224, 224]);
        let nhwc = p.clone().with_layout(Layout::Nhwc);
        assert_eq!(nhwc.to_tensor(&img).unwrap().shape(), &[1, 224, 224, 3]);
        let exact = p.with_resize(Resize::Exact { width: 64, height: 48 });
        assert_eq!(exact.to_tensor(&img).unwrap().shape(), &[1, 3, 48, 64]);
        let exact = exact.with_layout(Layout::Nhwc);
        assert_eq!(exact.to_tensor(&img).unwrap().shape(), &[1, 48, 64, 3]);
        assert_eq!(exact.output_shape(2), vec![2, 48, 64, 3]);
        // portrait and tiny images too
        let tall = RgbImage::from_pixel(5, 9, Rgb([0, 0, 0]));
        assert_eq!(Preprocess::default().to_tensor(&tall).unwrap().shape(), &[1, 3, 224, 224]);
    }

    #[test]
    fn solid_red_normalizes_exactly() {
        let img = RgbImage::from_pixel(300, 200, Rgb([255, 0, 0]));
        let t = Preprocess::default().to_tensor(&img).unwrap();
        let v = t.as_slice::<f32>().unwrap();
        let plane = 224 * 224;
        assert!((red_value(0) - (1.0 - 0.485) / 0.229).abs() < 1e-6);
        for c in 0..3 {
            assert!(all_close(&v[c * plane..(c + 1) * plane], red_value(c)), "channel {c}");
        }

        let nhwc = Preprocess::default()
            .with_layout(Layout::Nhwc)
            .with_resize(Resize::Exact { width: 17, height: 5 })
            .to_tensor(&img)
            .unwrap();
        for px in nhwc.as_slice::<f32>().unwrap().chunks_exact(3) {
            for c in 0..3 {
                assert!((px[c] - red_value(c)).abs() < 1e-5, "{px:?}");
            }
        }
    }

    #[test]
    fn nchw_and_nhwc_hold_the_same_values() {
        let img = RgbImage::from_fn(40, 30, |x, y| Rgb([(x * 6) as u8, (y * 8) as u8, ((x + y) * 3) as u8]));
        let p = Preprocess::default().with_resize(Resize::ShorterSideThenCenterCrop { resize: 20, crop: 16 });
        let a = p.to_tensor(&img).unwrap().to_array::<f32>().unwrap();
        let b = p.with_layout(Layout::Nhwc).to_tensor(&img).unwrap().to_array::<f32>().unwrap();
        assert_eq!(a.permuted_axes(vec![0, 2, 3, 1]), b);
    }

    #[test]
    fn shorter_side_keeps_aspect_and_truncates_like_torchvision() {
        let p = Preprocess::default();
        assert_eq!(p.geometry(300, 200).unwrap(), (384, 256, 80, 16));
        assert_eq!(p.geometry(200, 300).unwrap(), (256, 384, 16, 80));
        // 500x375 -> int(256 * 500 / 375) = 341; (341 - 224) / 2 = 58.5 rounds to even 58
        assert_eq!(p.geometry(500, 375).unwrap(), (341, 256, 58, 16));
        let exact = p.with_resize(Resize::Exact { width: 7, height: 3 });
        assert_eq!(exact.geometry(100, 100).unwrap(), (7, 3, 0, 0));
        let absurd = Preprocess::default().geometry(1, u32::MAX).unwrap_err();
        assert!(absurd.to_string().contains("allowed"), "{absurd}");
    }

    #[test]
    fn center_crop_picks_the_centre() {
        // 60x30, left half black, right half white; shorter side 30 -> 20, so 40x20, crop 16.
        let img = RgbImage::from_fn(60, 30, |x, _| if x < 30 { Rgb([0; 3]) } else { Rgb([255; 3]) });
        let p = raw(Resize::ShorterSideThenCenterCrop { resize: 20, crop: 16 });
        let t = p.to_tensor(&img).unwrap();
        let v = t.as_slice::<f32>().unwrap();
        let row = &v[..16];
        assert_eq!(row[0], 0.0);
        assert_eq!(row[15], 255.0);
        for j in 0..16 {
            assert!((row[j] + row[15 - j] - 255.0).abs() <= 1.0, "not symmetric: {row:?}");
        }
        // every row and channel alike
        for r in v.chunks_exact(16) {
            assert_eq!(r, row);
        }

        // without resizing: 40x20 crop 20 -> source columns 10..30
        let img = RgbImage::from_fn(40, 20, |x, _| if x < 20 { Rgb([0; 3]) } else { Rgb([255; 3]) });
        let t = raw(Resize::ShorterSideThenCenterCrop { resize: 20, crop: 20 }).to_tensor(&img).unwrap();
        let expected: Vec<f32> = (0..20).map(|x| if x < 10 { 0.0 } else { 255.0 }).collect();
        assert_eq!(&t.as_slice::<f32>().unwrap()[..20], expected.as_slice());
    }

    #[test]
    fn rejects_invalid_settings() {
        let img = RgbImage::new(4, 4);
        let bad = [
            Preprocess::default().with_resize(Resize::ShorterSideThenCenterCrop { resize: 200, crop: 224 }),
            Preprocess::default().with_resize(Resize::Exact { width: 0, height: 3 }),
            Preprocess::default().with_normalization([0.0; 3], [1.0, 0.0, 1.0]),
            Preprocess::default().with_scale(f32::NAN),
        ];
        for p in bad {
            assert!(matches!(p.to_tensor(&img), Err(Error::InvalidInput(_))), "{p:?}");
        }
        assert!(Preprocess::default().to_tensor(&RgbImage::new(0, 5)).is_err());
        assert!(Preprocess::default().batch_images(&[]).is_err());
        assert!(Preprocess::default().batch(&[]).is_err());
    }

    #[test]
    fn loads_formats_and_batches() {
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("red.png");
        RgbImage::from_pixel(30, 20, Rgb([255, 0, 0])).save(&png).unwrap();
        let jpg = dir.path().join("photo.jpg");
        RgbImage::from_fn(32, 24, |x, y| Rgb([x as u8 * 8, y as u8 * 10, 128])).save(&jpg).unwrap();
        let gray = dir.path().join("gray.png");
        GrayImage::from_pixel(10, 12, Luma([77])).save(&gray).unwrap();
        let rgba = dir.path().join("rgba.png");
        RgbaImage::from_pixel(9, 9, Rgba([1, 2, 3, 40])).save(&rgba).unwrap();
        let deep = dir.path().join("deep.png");
        ImageBuffer::<Rgb<u16>, _>::from_pixel(6, 6, Rgb([65535u16, 0, 32896])).save(&deep).unwrap();
        // the content decides, not the extension
        let misnamed = dir.path().join("actually_png.jpg");
        std::fs::copy(&png, &misnamed).unwrap();

        assert_eq!(Preprocess::load_image(&png).unwrap().get_pixel(3, 3), &Rgb([255, 0, 0]));
        assert_eq!(Preprocess::load_image(&jpg).unwrap().dimensions(), (32, 24));
        assert_eq!(Preprocess::load_image(&gray).unwrap().get_pixel(0, 0), &Rgb([77, 77, 77]));
        assert_eq!(Preprocess::load_image(&rgba).unwrap().get_pixel(8, 8), &Rgb([1, 2, 3]));
        assert_eq!(Preprocess::load_image(&deep).unwrap().get_pixel(0, 0), &Rgb([255, 0, 128]));
        assert_eq!(Preprocess::load_image(&misnamed).unwrap().dimensions(), (30, 20));

        let p = Preprocess::default();
        let paths = vec![png.clone(), jpg, gray, rgba, deep];
        let t = p.batch(&paths).unwrap();
        assert_eq!(t.shape(), &[5, 3, 224, 224]);
        // the first image's slot is the red one, and equals converting it alone
        let single = p.load(&png).unwrap();
        assert_eq!(t.slice_rows(0, 1).unwrap(), single);
        assert!(all_close(&single.as_slice::<f32>().unwrap()[..224 * 224], red_value(0)));
        let nhwc = p.with_layout(Layout::Nhwc).batch(&paths).unwrap();
        assert_eq!(nhwc.shape(), &[5, 224, 224, 3]);

        let imgs: Vec<RgbImage> = paths.iter().map(|p| Preprocess::load_image(p).unwrap()).collect();
        assert_eq!(Preprocess::default().batch_images(&imgs).unwrap(), t);
    }

    #[test]
    fn missing_file_is_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nowhere_to_be_found.png");
        let err = Preprocess::load_image(&path).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("nowhere_to_be_found.png"), "{err}");
        // and in a batch, the failing file is named
        let good = dir.path().join("ok.png");
        RgbImage::new(4, 4).save(&good).unwrap();
        let err = Preprocess::default().batch(&[good, path]).unwrap_err();
        assert!(err.to_string().contains("nowhere_to_be_found.png"), "{err}");
    }

    #[test]
    fn text_file_is_not_an_image() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.png");
        std::fs::write(&path, "this is not an image\n").unwrap();
        let err = Preprocess::load_image(&path).unwrap_err();
        assert!(matches!(err, Error::File { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("x.png") && msg.contains("not a decodable image"), "{msg}");
        let empty = dir.path().join("empty.jpg");
        std::fs::write(&empty, b"").unwrap();
        assert!(Preprocess::load_image(&empty).unwrap_err().to_string().contains("not a decodable image"));
    }

    #[test]
    fn truncated_png_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let full = dir.path().join("full.png");
        RgbImage::from_fn(64, 64, |x, y| Rgb([(x * 4) as u8, (y * 4) as u8, (x ^ y) as u8])).save(&full).unwrap();
        let bytes = std::fs::read(&full).unwrap();
        for cut in [bytes.len() / 2, 40, 12] {
            let path = dir.path().join(format!("truncated_{cut}.png"));
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let err = Preprocess::load_image(&path).unwrap_err();
            assert!(matches!(err, Error::File { .. }), "{err:?}");
            let msg = err.to_string();
            assert!(msg.contains(&format!("truncated_{cut}.png")) && msg.contains("not a decodable image"), "{msg}");
        }
    }

    #[test]
    fn decompression_bomb_is_refused() {
        // A BMP header claiming 20000x20000 24-bit pixels (1.2 GB) with no pixel data.
        let mut bmp = Vec::new();
        bmp.extend_from_slice(b"BM");
        bmp.extend_from_slice(&(54u32 + 12).to_le_bytes()); // file size
        bmp.extend_from_slice(&[0; 4]);
        bmp.extend_from_slice(&54u32.to_le_bytes()); // pixel data offset
        bmp.extend_from_slice(&40u32.to_le_bytes()); // BITMAPINFOHEADER
        bmp.extend_from_slice(&20_000i32.to_le_bytes());
        bmp.extend_from_slice(&20_000i32.to_le_bytes());
        bmp.extend_from_slice(&1u16.to_le_bytes()); // planes
        bmp.extend_from_slice(&24u16.to_le_bytes()); // bits per pixel
        bmp.extend_from_slice(&[0; 24]); // no compression, sizes, resolution, palette
        bmp.extend_from_slice(&[0; 12]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bomb.bmp");
        std::fs::write(&path, &bmp).unwrap();
        let err = Preprocess::load_image(&path).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("bomb.bmp") && msg.contains("too large"), "{msg}");
    }

    #[test]
    fn hostile_bytes_never_panic() {
        let magics: [&[u8]; 7] = [
            b"\x89PNG\r\n\x1a\n",
            b"\xff\xd8\xff\xe0",
            b"GIF89a",
            b"BM",
            b"RIFF\x00\x01\x00\x00WEBPVP8 ",
            b"II*\x00",
            b"MM\x00*",
        ];
        let dir = tempfile::tempdir().unwrap();
        let mut state = 0x1234_5678_u64;
        for (m, magic) in magics.iter().enumerate() {
            for round in 0..20 {
                let mut bytes = magic.to_vec();
                for _ in 0..(round * 37 + 5) {
                    state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    bytes.push((state >> 56) as u8);
                }
                let path = dir.path().join(format!("hostile_{m}_{round}"));
                std::fs::write(&path, &bytes).unwrap();
                // An error names the file in one line; whatever decodes is a real, bounded image.
                match Preprocess::load_image(&path) {
                    Ok(img) => assert!(img.width() > 0 && img.height() > 0, "{}", path.display()),
                    Err(e) => {
                        let e = e.to_string();
                        assert!(e.contains(&format!("hostile_{m}_{round}")) && !e.contains('\n'), "{e:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn settings_round_trip_through_serde() {
        let p = Preprocess::default().with_layout(Layout::Nhwc);
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains("\"nhwc\"") && json.contains("shorter_side_then_center_crop"), "{json}");
        assert_eq!(serde_json::from_str::<Preprocess>(&json).unwrap(), p);
    }

    #[test]
    fn preprocess_matches_layout() {
        let nchw =
            TensorSpec::new("i", DType::F32, vec![Dim::Dynamic(None), Dim::Fixed(3), Dim::Fixed(224), Dim::Fixed(224)]);
        assert_eq!(preprocess_for(&nchw).unwrap().layout, Layout::Nchw);
        let nhwc =
            TensorSpec::new("i", DType::F32, vec![Dim::Dynamic(None), Dim::Fixed(160), Dim::Fixed(160), Dim::Fixed(3)]);
        let p = preprocess_for(&nhwc).unwrap();
        assert_eq!(p.layout, Layout::Nhwc);
        assert_eq!(p.resize, Resize::ShorterSideThenCenterCrop { resize: 182, crop: 160 });
        let tokens = TensorSpec::new("t", DType::I64, vec![Dim::Dynamic(None), Dim::Fixed(16)]);
        assert!(preprocess_for(&tokens).unwrap_err().to_string().contains("not an image input"));
    }
}
