//! Building model inputs: from `.npy` files, from images, or synthetic for benchmarks.

use std::path::{Path, PathBuf};

use infer_core::{
    DType, Error, Result, Tensor, TensorData, TensorSpec,
    npy::read_npy,
    preprocess::{Layout, Preprocess, Resize},
    rng::SplitMix64,
};

/// Deterministic synthetic inputs for `specs` with the given batch size: standard-normal-ish
/// floats, small non-negative integers, alternating booleans. `fill` gives the sizes of dynamic
/// dimensions other than the batch (default 1... none: an error names the input).
///
/// # Errors
/// [`Error::InvalidInput`] when a shape cannot be made concrete or is too large.
pub fn synthetic_inputs(specs: &[TensorSpec], batch: usize, fill: &[usize]) -> Result<Vec<Tensor>> {
    let mut rng = SplitMix(SplitMix64::new(0x5eed));
    specs
        .iter()
        .map(|spec| {
            let shape = spec.concrete_shape(batch, fill)?;
            let t = Tensor::zeros(spec.dtype, shape)?;
            let (shape, mut data) = t.into_parts();
            fill_random(&mut data, &mut rng);
            Tensor::new(shape, data)
        })
        .collect()
}

fn fill_random(data: &mut TensorData, rng: &mut SplitMix) {
    match data {
        TensorData::F32(v) => v.iter_mut().for_each(|x| *x = rng.normal()),
        TensorData::F16(v) => v.iter_mut().for_each(|x| *x = half::f16::from_f32(rng.normal())),
        TensorData::BF16(v) => v.iter_mut().for_each(|x| *x = half::bf16::from_f32(rng.normal())),
        TensorData::F64(v) => v.iter_mut().for_each(|x| *x = f64::from(rng.normal())),
        TensorData::I64(v) => v.iter_mut().for_each(|x| *x = i64::from(rng.small())),
        TensorData::I32(v) => v.iter_mut().for_each(|x| *x = i32::from(rng.small())),
        TensorData::I8(v) => v.iter_mut().for_each(|x| *x = i8::try_from(rng.small()).unwrap_or(0)),
        TensorData::U8(v) => v.iter_mut().for_each(|x| *x = rng.small()),
        TensorData::Bool(v) => v.iter_mut().enumerate().for_each(|(i, x)| *x = i % 2 == 0),
    }
}

/// Synthetic values from the shared deterministic generator.
struct SplitMix(SplitMix64);

impl SplitMix {
    #[allow(clippy::cast_possible_truncation)]
    fn normal(&mut self) -> f32 {
        // Sum of 4 uniforms, centred and scaled to unit variance: cheap and bounded.
        let s: f64 = (0..4).map(|_| self.0.unit()).sum();
        ((s - 2.0) * 3f64.sqrt()) as f32
    }

    fn small(&mut self) -> u8 {
        (self.0.next_u64() % 10) as u8
    }
}

/// Reads `.npy` inputs given as `path` (in input order) or `name=path`.
///
/// # Errors
/// Unknown input names, a wrong count, and the file errors of [`read_npy`].
pub fn npy_inputs(specs: &[TensorSpec], args: &[String]) -> Result<Vec<Tensor>> {
    let mut slots: Vec<Option<Tensor>> = vec![None; specs.len()];
    let mut next_positional = 0;
    for arg in args {
        let (index, path) = match arg.split_once('=') {
            Some((name, path)) if !Path::new(arg).exists() => {
                let index = specs.iter().position(|s| s.name == name).ok_or_else(|| {
                    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
                    Error::InvalidInput(format!("the model has no input `{name}`: its inputs are {}", names.join(", ")))
                })?;
                (index, PathBuf::from(path))
            }
            _ => {
                while next_positional < slots.len() && slots[next_positional].is_some() {
                    next_positional += 1;
                }
                (next_positional, PathBuf::from(arg))
            }
        };
        if index >= specs.len() {
            return Err(Error::InvalidInput(format!(
                "too many inputs: the model takes {} ({})",
                specs.len(),
                specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        let tensor = read_npy(&path)?;
        specs[index].check(&tensor).map_err(|e| Error::file(&path, e.to_string()))?;
        slots[index] = Some(tensor);
    }
    slots
        .into_iter()
        .zip(specs)
        .map(|(t, s)| {
            t.ok_or_else(|| Error::InvalidInput(format!("no value given for input `{}` {}", s.name, s.shape_string())))
        })
        .collect()
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
    use infer_core::Dim;

    use super::*;

    #[test]
    fn synthetic_inputs_are_deterministic_and_shaped() {
        let specs = vec![
            TensorSpec::new("x", DType::F32, vec![Dim::Dynamic(None), Dim::Fixed(3)]),
            TensorSpec::new("ids", DType::I64, vec![Dim::Dynamic(None), Dim::Dynamic(Some("seq".into()))]),
        ];
        let a = synthetic_inputs(&specs, 4, &[7]).unwrap();
        assert_eq!(a[0].shape(), &[4, 3]);
        assert_eq!(a[1].shape(), &[4, 7]);
        assert_eq!(a, synthetic_inputs(&specs, 4, &[7]).unwrap());
        let v = a[0].as_slice::<f32>().unwrap();
        assert!(v.iter().any(|&x| x != v[0]), "values must vary");
        assert!(synthetic_inputs(&specs, 4, &[]).is_err(), "seq has no size");
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
