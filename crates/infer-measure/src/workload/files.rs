//! Real inputs from files: `.npy`, `.npz` archives (by input name) and ONNX `TensorProto` files
//! (`input_0.pb`, a `test_data_set_N/` folder), routed to the model's inputs by name or position.

use std::{
    io::Read,
    path::{Path, PathBuf},
};

use infer_core::{
    Error, Result, Tensor, TensorSpec,
    npy::{parse_npy, read_npy},
};
use infer_onnx_proto::tensor_file;

/// Reads `.npy` inputs given as `path` (in input order) or `name=path`, and `.npz` archives:
/// each array goes to the input of its name (`np.savez(f, input_ids=…)`), or by position when
/// the archive names them `arr_0`, `arr_1`, … (`np.savez(f, a, b)`); `name=x.npz` takes the
/// array `name` from the archive, or its only array. ONNX `TensorProto` files (`input_0.pb`) are
/// read as `.npy` is, going to the input their own name gives when the argument names none; a
/// folder is an ONNX test data set (`test_data_set_0/` of the Model Zoo and ONNX's backend
/// tests), whose `input_0.pb`, `input_1.pb`, … are read so. Every input must be given.
///
/// # Errors
/// Unknown input names, a wrong count, an input given twice, and the file errors of
/// [`read_npy`] and [`read_npz`].
pub fn npy_inputs(specs: &[TensorSpec], args: &[String]) -> Result<Vec<Tensor>> {
    npy_inputs_from(specs, specs.len(), args)
}

/// As [`npy_inputs`], where only the first `required` inputs must be given: the inputs after
/// them may be left out, trailing, for the model's defaults ([`infer_core::SessionInfo::required_inputs`]).
///
/// # Errors
/// As [`npy_inputs`]; an optional input given after one left out (the model fills in only
/// trailing ones).
pub fn npy_inputs_from(specs: &[TensorSpec], required: usize, args: &[String]) -> Result<Vec<Tensor>> {
    let mut slots = read_inputs(specs, args)?;
    let given = slots.iter().rposition(|(t, _)| t.is_some()).map_or(0, |i| i + 1);
    slots.truncate(given.max(required));
    slots
        .into_iter()
        .zip(specs)
        .enumerate()
        .map(|(i, ((t, _), s))| {
            t.ok_or_else(|| {
                let why =
                    if i < required { "" } else { " (optional inputs may be left out only after the last one given)" };
                Error::InvalidInput(format!("no value given for input `{}` {}{why}", s.name, s.shape_string()))
            })
        })
        .collect()
}

/// As [`npy_inputs`], leaving the inputs not given as `None`; each given input comes with the
/// file it was read from (`x.npz` or `x.npz[name]` for an archive).
///
/// # Errors
/// As [`npy_inputs`], apart from inputs not given.
pub fn read_inputs(specs: &[TensorSpec], args: &[String]) -> Result<Vec<(Option<Tensor>, String)>> {
    let mut slots: Vec<(Option<Tensor>, String)> = vec![(None, String::new()); specs.len()];
    let names = || specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ");
    let index_of = |name: &str| {
        specs
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| Error::InvalidInput(format!("the model has no input `{name}`: its inputs are {}", names())))
    };
    for arg in args {
        let (name, path) = split_input(arg);
        // (input, tensor, source), or (None, …) for an array that goes to the next free input.
        let mut given: Vec<(Option<usize>, Tensor, String)> = Vec::new();
        if is_npz(&path) {
            let mut arrays = read_npz(&path)?;
            let shown = path.display();
            match name {
                Some(name) => {
                    let index = index_of(name)?;
                    let at = match arrays.iter().position(|(k, _)| k == name) {
                        Some(i) => i,
                        None if arrays.len() == 1 => 0,
                        None => {
                            let keys: Vec<&str> = arrays.iter().map(|(k, _)| k.as_str()).collect();
                            return Err(Error::file(
                                &path,
                                format!("no array `{name}` in the archive: it holds {}", keys.join(", ")),
                            ));
                        }
                    };
                    let (key, t) = arrays.swap_remove(at);
                    given.push((Some(index), t, format!("{shown}[{key}]")));
                }
                None => {
                    // `np.savez(f, a, b)` names the arrays arr_0, arr_1, …: those go by position.
                    let positional = arrays.iter().enumerate().all(|(i, (k, _))| *k == format!("arr_{i}"));
                    for (key, t) in arrays {
                        let index = if positional {
                            None
                        } else {
                            Some(specs.iter().position(|s| s.name == key).ok_or_else(|| {
                                Error::file(
                                    &path,
                                    format!("array `{key}` matches no input of the model: its inputs are {}", names()),
                                )
                            })?)
                        };
                        given.push((index, t, format!("{shown}[{key}]")));
                    }
                }
            }
        } else if path.is_dir() {
            if let Some(name) = name {
                return Err(Error::file(
                    &path,
                    format!("a test data set gives every input in order: give the folder without `{name}=`"),
                ));
            }
            for file in tensor_file::set_files(&path, "input")? {
                let (key, t) = tensor_file::read(&file)?;
                let index = specs.iter().position(|s| s.name == key);
                given.push((index, t, file.display().to_string()));
            }
        } else if tensor_file::is_tensor_file(&path) {
            let (key, t) = tensor_file::read(&path)?;
            // The tensor's own name routes it when the argument names no input and it is one.
            let index = match name {
                Some(name) => Some(index_of(name)?),
                None => specs.iter().position(|s| s.name == key),
            };
            given.push((index, t, path.display().to_string()));
        } else {
            let index = name.map(index_of).transpose()?;
            given.push((index, read_npy(&path)?, path.display().to_string()));
        }
        for (index, tensor, source) in given {
            let index = match index {
                Some(i) => i,
                None => slots.iter().position(|(t, _)| t.is_none()).ok_or_else(|| {
                    Error::InvalidInput(format!("too many inputs: the model takes {} ({})", specs.len(), names()))
                })?,
            };
            if slots[index].0.is_some() {
                return Err(Error::InvalidInput(format!(
                    "input `{}` is given twice: by {} and by {source}",
                    specs[index].name, slots[index].1
                )));
            }
            // An input of unknown rank (a TorchScript argument the schema calls `Tensor`) has
            // only a default dtype: the data says what it is, and the model checks it.
            if specs[index].dims.is_some() {
                specs[index].check(&tensor).map_err(|e| Error::file(&path, e.to_string()))?;
            }
            slots[index] = (Some(tensor), source);
        }
    }
    Ok(slots)
}

/// `NAME=PATH` into the name and the path; a `PATH` (or a file whose name holds `=`) alone.
pub(crate) fn split_input(arg: &str) -> (Option<&str>, PathBuf) {
    match arg.split_once('=') {
        Some((name, path)) if !Path::new(arg).exists() => (Some(name), PathBuf::from(path)),
        _ => (None, PathBuf::from(arg)),
    }
}

/// Whether `path` names a `.npz` archive.
#[must_use]
pub fn is_npz(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("npz"))
}

/// An archive entry may inflate to at most this many times its compressed size (a zip bomb
/// otherwise); deflate itself cannot exceed about 1032.
const MAX_INFLATION: u64 = 1100;

/// Reads every array of a NumPy `.npz` archive (`np.savez`, `np.savez_compressed`), by name
/// (the entry name without `.npy`), in archive order.
///
/// # Errors
/// [`Error::Io`] when the file cannot be opened; [`Error::File`] naming it when it is not a zip
/// archive, an entry is not a `.npy`, or an entry's array is invalid (the array named).
pub fn read_npz(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut archive =
        zip::ZipArchive::new(file).map_err(|e| Error::file(path, format!("not a .npz (zip) archive: {e}")))?;
    let mut arrays = Vec::with_capacity(archive.len());
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).map_err(|e| Error::file(path, format!("entry {i}: {e}")))?;
        if entry.is_dir() {
            continue;
        }
        let entry_name =
            entry.name().map_err(|e| Error::file(path, format!("entry {i}: invalid name: {e}")))?.to_string();
        let Some(key) = entry_name.strip_suffix(".npy") else {
            return Err(Error::file(path, format!("entry `{entry_name}` is not a .npy array")));
        };
        let size = entry.size();
        if size > entry.compressed_size().saturating_mul(MAX_INFLATION).max(1 << 20) {
            return Err(Error::file(
                path,
                format!("array `{key}` claims {size} bytes from {} compressed: refused", entry.compressed_size()),
            ));
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        (&mut entry)
            .take(size.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|e| Error::file(path, format!("array `{key}`: {e}")))?;
        if bytes.len() as u64 != size {
            return Err(Error::file(
                path,
                format!("array `{key}`: {} bytes read, the archive says {size}", bytes.len()),
            ));
        }
        let tensor = parse_npy(&bytes).map_err(|reason| Error::file(path, format!("array `{key}`: {reason}")))?;
        arrays.push((key.to_string(), tensor));
    }
    if arrays.is_empty() {
        return Err(Error::file(path, "the archive holds no array"));
    }
    Ok(arrays)
}

/// A `.npz` archive as `np.savez` writes it (a zip of uncompressed `NAME.npy` entries), holding
/// each tensor under its name.
///
/// # Errors
/// [`Error::InvalidInput`] when the archive cannot be assembled.
pub fn encode_npz<'a>(arrays: impl IntoIterator<Item = (&'a str, &'a Tensor)>) -> Result<Vec<u8>> {
    use std::io::Write;
    let failed = |e: &dyn std::fmt::Display| Error::InvalidInput(format!("cannot write a .npz archive: {e}"));
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, t) in arrays {
        let bytes = infer_core::npy::encode_npy(t);
        zip.start_file(format!("{name}.npy"), options.large_file(u32::try_from(bytes.len()).is_err()))
            .map_err(|e| failed(&e))?;
        zip.write_all(&bytes).map_err(|e| failed(&e))?;
    }
    Ok(zip.finish().map_err(|e| failed(&e))?.into_inner())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use infer_core::{DType, Dim};

    #[test]
    fn npz_archives_are_read_by_name_stored_or_deflated() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let a = Tensor::from_vec(vec![2, 2], vec![1.0f32, 2.0, 3.0, 4.0]).unwrap();
        let b = Tensor::from_vec(vec![2], vec![7i64, 8]).unwrap();
        for method in [zip::CompressionMethod::Stored, zip::CompressionMethod::Deflated] {
            let path = dir.path().join("x.npz");
            let mut z = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
            let opts = zip::write::SimpleFileOptions::default().compression_method(method);
            for (name, t) in [("b", &b), ("a", &a)] {
                z.start_file(format!("{name}.npy"), opts).unwrap();
                z.write_all(&infer_core::npy::encode_npy(t)).unwrap();
            }
            z.finish().unwrap();
            let arrays = read_npz(&path).unwrap();
            assert_eq!(arrays, [("b".to_string(), b.clone()), ("a".to_string(), a.clone())]);
            let specs = [
                TensorSpec::new("a", DType::F32, vec![Dim::Dynamic(None), Dim::Fixed(2)]),
                TensorSpec::new("b", DType::I64, vec![Dim::Dynamic(None)]),
            ];
            let got = npy_inputs(&specs, &[path.display().to_string()]).unwrap();
            assert_eq!(got, [a.clone(), b.clone()]);
            let one = read_inputs(&specs, &[format!("b={}", path.display())]).unwrap();
            assert_eq!((one[0].0.is_none(), one[1].1.ends_with("x.npz[b]")), (true, true), "{one:?}");
            let twice = npy_inputs(&specs, &[path.display().to_string(), format!("a={}", path.display())]);
            assert!(twice.unwrap_err().to_string().contains("input `a` is given twice"));
            // A known input refuses data of another dtype; one of unknown rank (a TorchScript
            // argument, whose f32 is only a default) takes what the file holds.
            let known = [TensorSpec::new("b", DType::F32, vec![Dim::Dynamic(None)])];
            let err = read_inputs(&known, &[format!("b={}", path.display())]).unwrap_err().to_string();
            assert!(err.contains("dtype mismatch for `b`: expected f32, got i64"), "{err}");
            let unknown = [TensorSpec { name: "b".into(), dtype: DType::F32, dims: None }];
            let got = read_inputs(&unknown, &[format!("b={}", path.display())]).unwrap();
            assert_eq!(got[0].0.as_ref(), Some(&b));
        }
        let junk = dir.path().join("junk.npz");
        let mut z = zip::ZipWriter::new(std::fs::File::create(&junk).unwrap());
        z.start_file("notes.txt", zip::write::SimpleFileOptions::default()).unwrap();
        z.write_all(b"hello").unwrap();
        z.finish().unwrap();
        let err = read_npz(&junk).unwrap_err().to_string();
        assert!(err.contains("junk.npz") && err.contains("entry `notes.txt` is not a .npy array"), "{err}");
    }
}
