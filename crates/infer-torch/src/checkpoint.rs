//! Tensor-only reading of weights-only checkpoints, in pure Rust (no libtorch, no Python).
//!
//! Two formats are read:
//! - **`.safetensors`**, through the `safetensors` crate;
//! - **`torch.save` archives** (the zip format of torch ≥ 1.6: `<name>/data.pkl` plus one
//!   `<name>/data/<key>` entry per storage). `data.pkl` is interpreted by a minimal pickle machine
//!   ([`pickle`]) that knows only the globals a state dict needs (`collections.OrderedDict`, the
//!   `torch._utils` tensor/parameter rebuild functions and the typed storage classes) and never
//!   executes anything: any other global or class-instantiating opcode is an error that names it.
//!
//! What users really save is accepted: a raw state dict (`torch.save(model.state_dict())`, an
//! `OrderedDict`), or a dict holding it under `state_dict`, `model` or `model_state_dict` (other
//! entries such as `epoch` or an optimizer state are ignored), with or without the `module.` prefix
//! `DataParallel` adds. Memory is bounded: every storage is checked against its archive entry's
//! length before anything is allocated, and only the tensors of the chosen state dict are read.
//!
//! ```
//! // A checkpoint's bytes, e.g. from a file; here a safetensors file written on the spot.
//! let t = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2], &[0u8; 8]).unwrap();
//! let bytes = safetensors::serialize([("w", t)], None).unwrap();
//! let ckpt = infer_torch::checkpoint::read_bytes(&bytes).unwrap();
//! assert_eq!(ckpt.tensors[0].0, "w");
//! assert_eq!(ckpt.tensors[0].1.shape(), &[2]);
//! ```

pub mod pickle;

use std::{
    collections::{HashMap, HashSet},
    io::{Cursor, Read, Seek},
    path::Path,
    rc::Rc,
};

use half::{bf16, f16};
use infer_core::{DType, Error, Result, Tensor, TensorData};

use self::pickle::{Machine, TensorRef, Value};

/// What a file holds, judged from its first bytes and (for zip archives) its entry names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A safetensors file.
    Safetensors,
    /// A `torch.save` zip archive (weights only, needs an architecture).
    TorchSave,
    /// A TorchScript archive (`torch.jit.save`): a complete model.
    TorchScript,
    /// A pickle without the zip container: `torch.save` of torch < 1.6, not supported.
    LegacyPickle,
}

/// The tensors of a checkpoint's state dict, in the file's order.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Parameter and buffer names (after stripping `module.`) with their values.
    pub tensors: Vec<(String, Tensor)>,
    /// The key of the top-level dict the state dict was found under (`state_dict`, `model`, ...),
    /// `None` when the file is the state dict itself.
    pub container: Option<String>,
    /// Whether the `module.` prefix of `DataParallel` was stripped.
    pub stripped_module_prefix: bool,
}

/// The keys under which training scripts commonly store the model's state dict, in the order tried.
pub const CONTAINER_KEYS: &[&str] = &["state_dict", "model", "model_state_dict"];

/// Classifies checkpoint bytes.
///
/// # Errors
/// A message saying what the bytes look like when they are none of the known kinds.
#[inline] // compiled into the caller: see `crate::sniff`.
pub fn sniff_bytes(bytes: &[u8]) -> std::result::Result<Kind, String> {
    if is_zip(bytes) {
        let archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(invalid_zip)?;
        return archive_kind(archive.file_names().filter_map(std::result::Result::ok)).ok_or_else(not_torch_zip);
    }
    head_kind(bytes, bytes.len() as u64)
}

/// Classifies a checkpoint file (see [`sniff_bytes`]) from its first bytes and, for a zip
/// archive, its central directory: the file is not read whole.
///
/// # Errors
/// [`Error::Load`] naming the file when it cannot be read or is no known kind.
pub fn sniff(path: &Path) -> Result<Kind> {
    let cannot = |e: std::io::Error| Error::load(path, format!("cannot read: {e}"));
    let mut file = std::fs::File::open(path).map_err(cannot)?;
    let len = file.metadata().map_err(cannot)?.len();
    let mut head = Vec::with_capacity(16);
    (&mut file).take(16).read_to_end(&mut head).map_err(cannot)?;
    if is_zip(&head) {
        file.seek(std::io::SeekFrom::Start(0)).map_err(cannot)?;
        let archive =
            zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| Error::load(path, invalid_zip(e)))?;
        return archive_kind(archive.file_names().filter_map(std::result::Result::ok))
            .ok_or_else(|| Error::load(path, not_torch_zip()));
    }
    head_kind(&head, len).map_err(|r| Error::load(path, r))
}

/// Whether the bytes start a zip archive (`torch.save` and `torch.jit.save` write one).
fn is_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06")
}

fn invalid_zip(e: zip::result::ZipError) -> String {
    format!(
        "invalid zip archive ({e}): expected a complete archive written by torch.save or torch.jit.save; the file may be truncated"
    )
}

fn not_torch_zip() -> String {
    "a zip archive without data.pkl: not written by torch.save or torch.jit.save".into()
}

/// What a zip archive holds, from its entry names: `torch.jit.save`'s (`<name>/code/…` or
/// `<name>/constants.pkl`), `torch.save`'s (`<name>/data.pkl` alone), or neither (`None`: a
/// `.keras` file, any other zip).
#[inline] // compiled into the caller: see `crate::sniff`.
pub fn archive_kind<S: AsRef<str>>(names: impl Iterator<Item = S>) -> Option<Kind> {
    let (mut script, mut data) = (false, false);
    for n in names {
        let n = n.as_ref();
        let (_, rest) = n.split_once('/').unwrap_or(("", n));
        script |= rest == "constants.pkl" || rest.starts_with("code/");
        data |= rest == "data.pkl";
    }
    if script {
        Some(Kind::TorchScript)
    } else if data {
        Some(Kind::TorchSave)
    } else {
        None
    }
}

/// How `torch.save` of torch < 1.6 starts: a pickle (protocol 2 or later) of its magic number
/// `0x1950a86a20f9469cfc6c` (`LONG1`, 10 bytes).
const LEGACY_MAGIC: [u8; 12] = [0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/// Whether `head` starts a legacy `torch.save` file (its magic number), not just any pickle.
#[must_use]
#[inline] // compiled into the caller: see `crate::sniff`.
pub fn is_legacy_torch_save(head: &[u8]) -> bool {
    head.first() == Some(&0x80) && head.get(2..14) == Some(&LEGACY_MAGIC[..])
}

/// Safetensors or a legacy pickle, from the first bytes and the file's length.
///
/// # Errors
/// A message saying what was expected when the bytes are neither.
#[inline] // compiled into the caller: see `crate::sniff`.
pub fn head_kind(head: &[u8], len: u64) -> std::result::Result<Kind, String> {
    // Safetensors: a little-endian u64 header length (whose first byte may well be 0x80), then
    // the JSON header, an object (`{"` or `{}`) that fits in the file.
    if head.len() >= 10 && head[8] == b'{' && matches!(head[9], b'"' | b'}') {
        let mut n = [0u8; 8];
        n.copy_from_slice(&head[..8]);
        let n = u64::from_le_bytes(n);
        if n >= 2 && n <= len.saturating_sub(8) {
            return Ok(Kind::Safetensors);
        }
    }
    if head.first() == Some(&0x80) {
        return Ok(Kind::LegacyPickle);
    }
    Err("not a checkpoint: expected a safetensors file or a torch.save zip archive".into())
}

/// Reads the state dict of a checkpoint file.
///
/// # Errors
/// [`Error::Load`] naming the file: unreadable, not a checkpoint, a forbidden pickle global,
/// truncated or inconsistent storages, no state dict inside.
pub fn read(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).map_err(|e| Error::load(path, format!("cannot read: {e}")))?;
    read_impl(&bytes).map_err(|r| Error::load(path, r))
}

/// Reads the state dict of checkpoint bytes (for fuzzing and in-memory data).
///
/// # Errors
/// As [`read`], with `<bytes>` as the path.
pub fn read_bytes(bytes: &[u8]) -> Result<Checkpoint> {
    read_impl(bytes).map_err(|r| Error::load("<bytes>", r))
}

fn read_impl(bytes: &[u8]) -> std::result::Result<Checkpoint, String> {
    let (tensors, container) = match sniff_bytes(bytes)? {
        Kind::Safetensors => (read_safetensors(bytes)?, None),
        Kind::TorchSave => read_torch_save(bytes)?,
        Kind::TorchScript => {
            return Err("this is a TorchScript archive (a complete model), not a weights-only checkpoint: \
                        load it without --arch"
                .into());
        }
        Kind::LegacyPickle => {
            return Err("legacy torch.save format (torch < 1.6, a bare pickle) is not supported: re-save it with \
                        a current torch.save or convert it to .safetensors"
                .into());
        }
    };
    Ok(finish(tensors, container))
}

/// Drops duplicate names (the last value wins, in the first one's place) and strips `module.`.
fn finish(tensors: Vec<(String, Tensor)>, container: Option<String>) -> Checkpoint {
    let stripped = !tensors.is_empty() && tensors.iter().all(|(k, _)| k.starts_with("module."));
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<(String, Tensor)> = Vec::with_capacity(tensors.len());
    for (k, t) in tensors {
        let k = if stripped { k["module.".len()..].to_string() } else { k };
        match index.get(&k) {
            Some(&i) => out[i].1 = t,
            None => {
                index.insert(k.clone(), out.len());
                out.push((k, t));
            }
        }
    }
    Checkpoint { tensors: out, container, stripped_module_prefix: stripped }
}

fn read_safetensors(bytes: &[u8]) -> std::result::Result<Vec<(String, Tensor)>, String> {
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| format!("invalid safetensors file: {e}"))?;
    let mut entries: Vec<(String, safetensors::tensor::TensorView<'_>)> = st.tensors();
    // Keep the file's data order (the header is a JSON object: its order is not meaningful).
    entries.sort_by_key(|(_, v)| v.data().as_ptr() as usize);
    entries
        .into_iter()
        .map(|(name, view)| {
            use safetensors::Dtype as D;
            let dtype = match view.dtype() {
                D::F32 => DType::F32,
                D::F16 => DType::F16,
                D::BF16 => DType::BF16,
                D::F64 => DType::F64,
                D::I64 => DType::I64,
                D::I32 => DType::I32,
                D::I8 => DType::I8,
                D::U8 => DType::U8,
                D::BOOL => DType::Bool,
                other => return Err(format!("tensor `{name}` has dtype {other:?}, which infer does not support")),
            };
            let t = decode(dtype, view.data(), view.shape().to_vec()).map_err(|e| format!("tensor `{name}`: {e}"))?;
            Ok((name, t))
        })
        .collect()
}

/// Decodes little-endian bytes into a tensor of `shape`.
fn decode(dtype: DType, bytes: &[u8], shape: Vec<usize>) -> std::result::Result<Tensor, String> {
    fn le<const N: usize, T>(bytes: &[u8], f: impl Fn([u8; N]) -> T) -> Vec<T> {
        bytes
            .chunks_exact(N)
            .map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                f(a)
            })
            .collect()
    }
    let data = match dtype {
        DType::F32 => TensorData::F32(le(bytes, f32::from_le_bytes)),
        DType::F16 => TensorData::F16(le(bytes, |b| f16::from_bits(u16::from_le_bytes(b)))),
        DType::BF16 => TensorData::BF16(le(bytes, |b| bf16::from_bits(u16::from_le_bytes(b)))),
        DType::F64 => TensorData::F64(le(bytes, f64::from_le_bytes)),
        DType::I64 => TensorData::I64(le(bytes, i64::from_le_bytes)),
        DType::I32 => TensorData::I32(le(bytes, i32::from_le_bytes)),
        DType::I8 => TensorData::I8(le(bytes, i8::from_le_bytes)),
        DType::U8 => TensorData::U8(bytes.to_vec()),
        DType::Bool => TensorData::Bool(bytes.iter().map(|&b| b != 0).collect()),
    };
    Tensor::new(shape, data).map_err(|e| e.to_string())
}

/// Reads a `torch.save` zip archive: interprets `data.pkl`, picks the state dict, reads its storages.
/// Named tensors and the container key they were found under.
type Found = (Vec<(String, Tensor)>, Option<String>);

fn read_torch_save(bytes: &[u8]) -> std::result::Result<Found, String> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(invalid_zip)?;
    let pkl: Vec<String> = archive
        .file_names()
        .filter_map(|n| n.ok().map(std::borrow::Cow::into_owned))
        .filter(|n| n.split_once('/').is_some_and(|(_, rest)| rest == "data.pkl"))
        .collect();
    let [pkl] = &pkl[..] else {
        return Err(format!(
            "expected exactly one <archive>/data.pkl entry in a torch.save archive, found {}",
            pkl.len()
        ));
    };
    let prefix = &pkl[..pkl.len() - "data.pkl".len()];
    if let Ok(order) = read_entry(&mut archive, &format!("{prefix}byteorder"), 16)
        && order != b"little"
    {
        return Err(format!("byte order `{}` is not supported (only little-endian)", String::from_utf8_lossy(&order)));
    }
    let pickle = read_entry(&mut archive, pkl, bytes.len())?;
    let mut machine = Machine::default();
    let top = machine.run(&pickle).map_err(|e| format!("{pkl}: {e}"))?;
    let (refs, container) = state_dict(&machine, &top)?;
    // Materialize, each storage read once, with a global budget against views that repeat a
    // storage many times.
    let mut storages: HashMap<Rc<str>, Rc<Vec<u8>>> = HashMap::new();
    let mut budget = bytes.len().saturating_mul(4).saturating_add(1 << 20);
    let mut tensors = Vec::with_capacity(refs.len());
    for (name, t) in refs {
        let storage = match storages.get(&t.storage.key) {
            Some(s) => s.clone(),
            None => {
                let s = Rc::new(read_storage(&mut archive, prefix, &t)?);
                storages.insert(t.storage.key.clone(), s.clone());
                s
            }
        };
        let tensor = materialize(&t, &storage, &mut budget).map_err(|e| format!("tensor `{name}`: {e}"))?;
        tensors.push((name, tensor));
    }
    Ok((tensors, container))
}

/// Reads a whole entry, refusing compressed entries and sizes above `limit`.
fn read_entry<R: Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    name: &str,
    limit: usize,
) -> std::result::Result<Vec<u8>, String> {
    let mut f = archive.by_name(name).map_err(|e| format!("{name}: {e}"))?;
    if f.compression() != zip::CompressionMethod::Stored {
        return Err(format!("{name} is compressed ({:?}); torch.save stores entries uncompressed", f.compression()));
    }
    let size = usize::try_from(f.size()).unwrap_or(usize::MAX);
    if size > limit {
        return Err(format!("{name} claims {size} bytes, more than the archive's {limit}"));
    }
    let mut out = Vec::with_capacity(size);
    f.read_to_end(&mut out).map_err(|e| format!("{name}: {e}"))?;
    if out.len() != size {
        return Err(format!("{name}: expected {size} bytes, read {}", out.len()));
    }
    Ok(out)
}

fn read_storage<R: Read + std::io::Seek>(
    archive: &mut zip::ZipArchive<R>,
    prefix: &str,
    t: &TensorRef,
) -> std::result::Result<Vec<u8>, String> {
    let name = format!("{prefix}data/{}", t.storage.key);
    let expected = usize::try_from(t.storage.numel)
        .ok()
        .and_then(|n| n.checked_mul(t.storage.dtype.size_of()))
        .ok_or_else(|| format!("storage {} of {} elements is impossibly large", t.storage.key, t.storage.numel))?;
    let entry_len = archive
        .by_name(&name)
        .map(|f| usize::try_from(f.size()).unwrap_or(usize::MAX))
        .map_err(|_| format!("storage {name} is missing from the archive"))?;
    if entry_len < expected {
        return Err(format!(
            "storage {name} should hold {} {} elements ({expected} bytes) but the entry has {entry_len} bytes",
            t.storage.numel, t.storage.dtype
        ));
    }
    let mut data = read_entry(archive, &name, entry_len)?;
    data.truncate(expected);
    Ok(data)
}

/// Copies the view `t` out of its storage bytes (any strides, bounds checked).
fn materialize(t: &TensorRef, storage: &[u8], budget: &mut usize) -> std::result::Result<Tensor, String> {
    let shape: Vec<usize> =
        t.size.iter().map(|&d| usize::try_from(d)).collect::<std::result::Result<_, _>>().map_err(|e| e.to_string())?;
    let n = infer_core::tensor::element_count(&shape).ok_or("element count overflows")?;
    let elem = t.storage.dtype.size_of();
    let numel = storage.len() / elem;
    if n == 0 {
        return decode(t.storage.dtype, &[], shape);
    }
    let to_usize = |v: u64| usize::try_from(v).map_err(|e| e.to_string());
    let offset = to_usize(t.offset)?;
    let strides: Vec<usize> = t.stride.iter().map(|&s| to_usize(s)).collect::<std::result::Result<_, _>>()?;
    let mut last = offset;
    for (&d, &s) in shape.iter().zip(&strides) {
        last = (d - 1).checked_mul(s).and_then(|x| x.checked_add(last)).ok_or("strides overflow")?;
    }
    if last >= numel {
        return Err(format!(
            "view (offset {offset}, size {shape:?}, stride {strides:?}) reaches element {last} of a storage of {numel}"
        ));
    }
    if n > numel {
        return Err(format!("view of {n} elements over a storage of {numel}: overlapping strides are not supported"));
    }
    let bytes = n * elem;
    *budget = budget.checked_sub(bytes).ok_or("the tensors exceed the memory budget (4x the file size)")?;
    let contiguous = {
        let mut expect = 1usize;
        let mut ok = true;
        for (&d, &s) in shape.iter().zip(&strides).rev() {
            if d != 1 && s != expect {
                ok = false;
            }
            expect *= d;
        }
        ok
    };
    if contiguous {
        return decode(t.storage.dtype, &storage[offset * elem..offset * elem + bytes], shape);
    }
    let mut out = Vec::with_capacity(bytes);
    let mut index = vec![0usize; shape.len()];
    for _ in 0..n {
        let at = offset + index.iter().zip(&strides).map(|(i, s)| i * s).sum::<usize>();
        out.extend_from_slice(&storage[at * elem..(at + 1) * elem]);
        for dim in (0..shape.len()).rev() {
            index[dim] += 1;
            if index[dim] < shape[dim] {
                break;
            }
            index[dim] = 0;
        }
    }
    decode(t.storage.dtype, &out, shape)
}

type Refs = Vec<(String, Rc<TensorRef>)>;

/// Finds the state dict in the unpickled object: the top-level dict of tensors, or a dict of
/// tensors under one of [`CONTAINER_KEYS`].
fn state_dict(m: &Machine, top: &Value) -> std::result::Result<(Refs, Option<String>), String> {
    let Value::Dict(id) = top else {
        return Err(format!("the checkpoint holds a {}, expected a dict (a state dict)", top.kind()));
    };
    let items = &m.dicts[*id];
    let tensors = |items: &[(Value, Value)]| -> Refs {
        items
            .iter()
            .filter_map(|(k, v)| match (k, v) {
                (Value::Str(k), Value::Tensor(t)) => Some((k.to_string(), t.clone())),
                _ => None,
            })
            .collect()
    };
    for key in CONTAINER_KEYS {
        let found = items.iter().rev().find(|(k, _)| matches!(k, Value::Str(s) if &**s == *key));
        if let Some((_, Value::Dict(inner))) = found {
            let refs = tensors(&m.dicts[*inner]);
            if !refs.is_empty() {
                return Ok((refs, Some((*key).to_string())));
            }
        }
    }
    let refs = tensors(items);
    if refs.is_empty() {
        let mut keys: Vec<String> = items
            .iter()
            .filter_map(|(k, _)| if let Value::Str(s) = k { Some(format!("`{s}`")) } else { None })
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        keys.sort();
        return Err(format!(
            "no state dict found: the top-level dict has no tensors and none of {} holds a dict of tensors \
             (its keys: {})",
            CONTAINER_KEYS.join(", "),
            if keys.is_empty() { "none".into() } else { keys.join(", ") }
        ));
    }
    Ok((refs, None))
}

/// Buffers that torch state dicts carry but architectures built by name do not have.
#[must_use]
pub fn is_ignored_key(name: &str) -> bool {
    name == "num_batches_tracked" || name.ends_with(".num_batches_tracked")
}

/// Matches a checkpoint's tensors to a model's parameters (`expected`: name and shape), in the
/// model's order. `num_batches_tracked` buffers in the checkpoint are ignored.
///
/// # Errors
/// One message listing every missing key, every unexpected key and every shape mismatch with
/// both shapes.
pub fn match_keys(
    expected: &[(String, Vec<usize>)],
    tensors: Vec<(String, Tensor)>,
) -> std::result::Result<Vec<(String, Tensor)>, String> {
    let mut by_name: HashMap<String, Tensor> = HashMap::new();
    let mut unexpected = Vec::new();
    let wanted: HashSet<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
    for (name, t) in tensors {
        if wanted.contains(name.as_str()) {
            by_name.insert(name, t);
        } else if !is_ignored_key(&name) {
            unexpected.push(format!("{name} {:?}", t.shape()));
        }
    }
    let mut missing = Vec::new();
    let mut mismatched = Vec::new();
    let mut out = Vec::with_capacity(expected.len());
    for (name, shape) in expected {
        match by_name.remove(name) {
            None => missing.push(format!("{name} {shape:?}")),
            Some(t) if t.shape() != shape.as_slice() => {
                mismatched.push(format!("{name}: checkpoint {:?}, model {shape:?}", t.shape()));
            }
            Some(t) => out.push((name.clone(), t)),
        }
    }
    if missing.is_empty() && unexpected.is_empty() && mismatched.is_empty() {
        return Ok(out);
    }
    let list = |what: &str, items: &[String]| -> Option<String> {
        const SHOWN: usize = 20;
        if items.is_empty() {
            return None;
        }
        let more = items.len().saturating_sub(SHOWN);
        let mut s = format!("{} {what}: {}", items.len(), items[..items.len().min(SHOWN)].join(", "));
        if more > 0 {
            s.push_str(&format!(" ... and {more} more"));
        }
        Some(s)
    };
    let parts: Vec<String> = [
        list("missing key(s)", &missing),
        list("unexpected key(s)", &unexpected),
        list("shape mismatch(es)", &mismatched),
    ]
    .into_iter()
    .flatten()
    .collect();
    Err(format!("the checkpoint does not fit the architecture: {}", parts.join("; ")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn t(shape: &[usize]) -> Tensor {
        Tensor::zeros(DType::F32, shape.to_vec()).unwrap()
    }

    #[test]
    fn match_keys_lists_every_problem_by_name() {
        let expected = vec![("a".to_string(), vec![2]), ("b".to_string(), vec![3, 3]), ("c".to_string(), vec![1])];
        let ok = match_keys(
            &expected,
            vec![
                ("c".into(), t(&[1])),
                ("a".into(), t(&[2])),
                ("b".into(), t(&[3, 3])),
                ("bn.num_batches_tracked".into(), t(&[])),
            ],
        )
        .unwrap();
        assert_eq!(ok.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
        let err = match_keys(&expected, vec![("a".into(), t(&[2])), ("b".into(), t(&[3, 4])), ("x.y".into(), t(&[5]))])
            .unwrap_err();
        assert!(err.contains("1 missing key(s): c [1]"), "{err}");
        assert!(err.contains("1 unexpected key(s): x.y [5]"), "{err}");
        assert!(err.contains("b: checkpoint [3, 4], model [3, 3]"), "{err}");
    }

    #[test]
    fn module_prefix_is_stripped_and_duplicates_collapse() {
        let c = finish(
            vec![("module.a".into(), t(&[1])), ("module.b".into(), t(&[2])), ("module.a".into(), t(&[3]))],
            None,
        );
        assert!(c.stripped_module_prefix);
        assert_eq!(c.tensors.len(), 2);
        assert_eq!((c.tensors[0].0.as_str(), c.tensors[0].1.shape()), ("a", &[3usize][..]));
        let c = finish(vec![("module.a".into(), t(&[1])), ("b".into(), t(&[2]))], None);
        assert!(!c.stripped_module_prefix);
    }

    #[test]
    fn strided_views_are_copied_in_logical_order() {
        use super::pickle::StorageRef;
        // Storage 0..6 as f32; the view is the transpose of a 2x3 matrix.
        let storage: Vec<u8> = (0..6).flat_map(|i| (i as f32).to_le_bytes()).collect();
        let r = TensorRef {
            storage: StorageRef { dtype: DType::F32, key: "0".into(), numel: 6 },
            offset: 0,
            size: vec![3, 2],
            stride: vec![1, 3],
        };
        let mut budget = 1 << 20;
        let t = materialize(&r, &storage, &mut budget).unwrap();
        assert_eq!(t.as_slice::<f32>().unwrap(), &[0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        let out_of_bounds = TensorRef { offset: 1, size: vec![2, 3], stride: vec![3, 1], ..r.clone() };
        assert!(materialize(&out_of_bounds, &storage, &mut budget).unwrap_err().contains("reaches element 6"));
        let broadcast = TensorRef { size: vec![1000, 6], stride: vec![0, 1], ..r };
        assert!(materialize(&broadcast, &storage, &mut budget).unwrap_err().contains("overlapping"));
    }

    #[test]
    fn sniffing_and_junk() {
        assert_eq!(sniff_bytes(b"\x80\x02}q\x00.").unwrap(), Kind::LegacyPickle);
        assert!(sniff_bytes(b"hello world").is_err());
        // A header of 0x80 bytes starts with the byte a pickle starts with.
        let mut st = vec![0x80, 0, 0, 0, 0, 0, 0, 0, b'{', b'}'];
        st.resize(8 + 0x80, b' ');
        assert_eq!(sniff_bytes(&st).unwrap(), Kind::Safetensors);
        let err = read_bytes(b"\x80\x02}q\x00.").unwrap_err().to_string();
        assert!(err.contains("legacy torch.save"), "{err}");
        let err = read_bytes(b"PK\x03\x04garbage").unwrap_err().to_string();
        assert!(err.contains("<bytes>") && err.contains("zip"), "{err}");
        assert!(
            !is_legacy_torch_save(b"\x80\x02}q\x00.") && head_kind(b"\x08\x00\x00\x00\x00\x00\x00\x00{x", 99).is_err()
        );
        let mut legacy = b"\x80\x02".to_vec();
        legacy.extend(LEGACY_MAGIC);
        assert!(is_legacy_torch_save(&legacy));
        assert_eq!(archive_kind(["m/data.pkl", "m/byteorder"].iter()), Some(Kind::TorchSave));
        assert_eq!(archive_kind(["m/data.pkl", "m/code/__torch__.py"].iter()), Some(Kind::TorchScript));
        assert_eq!(archive_kind(["config.json", "model.weights.h5"].iter()), None);
        let err = read_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":").unwrap_err().to_string();
        assert!(err.contains("safetensors"), "{err}");
    }
}
