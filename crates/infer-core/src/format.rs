//! Model formats, as the backends that read them declare them.
//!
//! infer-core names no format and no backend: each backend crate declares its formats as
//! constants ([`ModelFormat`]) and recognises its files itself ([`crate::Backend::sniff`]) by
//! their content first, whatever they are called; the extension only breaks ties and lets a
//! backend claim a file whose content it cannot confirm (so that loading it says what is wrong).
//! The registry asks every backend and picks one.

use std::{
    fmt,
    fs::File,
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
};

use serde::{Serialize, Serializer};

/// A model format read by one or more backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModelFormat {
    /// Short stable identifier, used in reports and fixture metadata (`onnx`, `torchscript`).
    pub id: &'static str,
    /// Name shown to people (`ONNX`, `TorchScript`).
    pub name: &'static str,
    /// What a user gives for it, for error messages (`.onnx`, `a SavedModel folder`).
    pub hint: &'static str,
    /// The extensions that name it (lowercase, without the dot): among the backends that
    /// recognise a file by its content, those whose format the name also says come first.
    pub extensions: &'static [&'static str],
}

impl fmt::Display for ModelFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl Serialize for ModelFormat {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id)
    }
}

/// How sure a backend is that a path is one of its formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniff {
    /// Not one of this backend's files.
    No,
    /// The name says it is (extension), but the content does not confirm it (empty,
    /// truncated, or another kind of file): the backend would explain why it cannot load it.
    Name(ModelFormat),
    /// Name and content agree.
    Content(ModelFormat),
}

impl Sniff {
    /// The format claimed, if any.
    #[must_use]
    pub fn format(self) -> Option<ModelFormat> {
        match self {
            Sniff::No => None,
            Sniff::Name(f) | Sniff::Content(f) => Some(f),
        }
    }
}

/// What a path looks like, read once and shared by every backend's [`crate::Backend::sniff`]:
/// metadata, the first bytes, and a zip archive's entry names (TorchScript, `torch.save` and
/// Keras files are zip archives told apart by what they hold), so that no backend has to read
/// the file again.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The path as given.
    pub path: PathBuf,
    /// Whether it is a folder.
    pub is_dir: bool,
    /// The lowercase extension (`onnx`), empty when there is none.
    pub extension: String,
    /// The first bytes of a file (at most [`Probe::HEAD`]); empty for a folder.
    pub head: Vec<u8>,
    /// The file's size in bytes; 0 for a folder.
    pub len: u64,
    /// The entry names of a zip archive, from its central directory (at most
    /// [`Probe::ZIP_DIRECTORY`] bytes of it are read), when the head says zip; `None` for other
    /// files and for an archive whose directory cannot be read (a truncated file).
    pub zip_names: Option<Vec<String>>,
}

impl Probe {
    /// How many leading bytes of a file are read.
    pub const HEAD: usize = 64;
    /// How many bytes of a zip archive's central directory are read at most (some 100,000
    /// entries): enough for any model archive, and bounded for any file.
    pub const ZIP_DIRECTORY: u64 = 16 << 20;

    /// Reads what the backends need to recognise `path`.
    ///
    /// # Errors
    /// [`crate::Error::Load`] naming the path when it does not exist or cannot be read.
    pub fn new(path: &Path) -> crate::Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| crate::Error::load(path, format!("cannot read: {e}")))?;
        let extension = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
        let mut probe = Self {
            path: path.to_path_buf(),
            is_dir: meta.is_dir(),
            extension,
            head: Vec::new(),
            len: if meta.is_dir() { 0 } else { meta.len() },
            zip_names: None,
        };
        if !meta.is_dir() {
            let cannot = |e: std::io::Error| crate::Error::load(path, format!("cannot read: {e}"));
            let mut file = File::open(path).map_err(cannot)?;
            (&mut file).take(Self::HEAD as u64).read_to_end(&mut probe.head).map_err(cannot)?;
            if probe.is_zip() {
                probe.zip_names = zip_names(&mut file, probe.len);
            }
        }
        Ok(probe)
    }

    /// Whether the extension is one of `extensions` (lowercase, without the dot).
    #[must_use]
    pub fn has_extension(&self, extensions: &[&str]) -> bool {
        !self.is_dir && extensions.contains(&self.extension.as_str())
    }

    /// Whether the name says `format` (its extension is one of [`ModelFormat::extensions`]).
    #[must_use]
    pub fn named(&self, format: ModelFormat) -> bool {
        self.has_extension(format.extensions)
    }

    /// Whether the file starts with a zip archive's signature (TorchScript, `torch.save`, `.keras`).
    #[must_use]
    pub fn is_zip(&self) -> bool {
        self.head.starts_with(b"PK\x03\x04")
    }
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from(u32_at(b, i)) | (u64::from(u32_at(b, i + 4)) << 32)
}

/// The entry names of the zip archive `file` (`len` bytes), read from its central directory:
/// the end record is looked for in the last 64 KiB (zip64 followed), then at most
/// [`Probe::ZIP_DIRECTORY`] bytes of the directory are read. `None` when any of it is missing.
fn zip_names(file: &mut File, len: u64) -> Option<Vec<String>> {
    const END: usize = 22;
    let tail_len = len.min((END + 0xffff) as u64);
    let mut tail = vec![0; usize::try_from(tail_len).ok()?];
    file.seek(SeekFrom::Start(len - tail_len)).ok()?;
    file.read_exact(&mut tail).ok()?;
    let at = (0..=tail.len().checked_sub(END)?).rev().find(|&i| tail[i..].starts_with(b"PK\x05\x06"))?;
    let end = &tail[at..];
    let mut count = u64::from(u16_at(end, 10));
    let mut size = u64::from(u32_at(end, 12));
    let mut offset = u64::from(u32_at(end, 16));
    if count == 0xffff || size == 0xffff_ffff || offset == 0xffff_ffff {
        // Zip64: a locator just before the end record gives the zip64 end record's offset.
        let locator = tail.get(at.checked_sub(20)?..at)?;
        if !locator.starts_with(b"PK\x06\x07") {
            return None;
        }
        let mut record = [0u8; 56];
        file.seek(SeekFrom::Start(u64_at(locator, 8))).ok()?;
        file.read_exact(&mut record).ok()?;
        if !record.starts_with(b"PK\x06\x06") {
            return None;
        }
        (count, size, offset) = (u64_at(&record, 32), u64_at(&record, 40), u64_at(&record, 48));
    }
    let size = size.min(Probe::ZIP_DIRECTORY).min(len.checked_sub(offset)?);
    let mut dir = vec![0; usize::try_from(size).ok()?];
    file.seek(SeekFrom::Start(offset)).ok()?;
    file.read_exact(&mut dir).ok()?;
    let mut names = Vec::new();
    let mut i = 0;
    while (names.len() as u64) < count && dir.get(i..i + 46).is_some_and(|h| h.starts_with(b"PK\x01\x02")) {
        let (n, extra, comment) =
            (usize::from(u16_at(&dir, i + 28)), usize::from(u16_at(&dir, i + 30)), usize::from(u16_at(&dir, i + 32)));
        let Some(name) = dir.get(i + 46..i + 46 + n) else { break };
        names.push(String::from_utf8_lossy(name).into_owned());
        i += 46 + n + extra + comment;
    }
    Some(names)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const F: ModelFormat = ModelFormat { id: "x", name: "X", hint: ".x", extensions: &["x"] };

    #[test]
    fn probes_files_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        let p = Probe::new(dir.path()).unwrap();
        assert!(p.is_dir && p.head.is_empty());
        let f = dir.path().join("M.ONNX");
        std::fs::write(&f, [7u8; 100]).unwrap();
        let p = Probe::new(&f).unwrap();
        assert_eq!((p.extension.as_str(), p.head.len(), p.len), ("onnx", Probe::HEAD, 100));
        assert!(p.has_extension(&["onnx"]) && !p.is_zip() && p.zip_names.is_none());
        assert!(!p.named(F));
        let err = Probe::new(&dir.path().join("gone.onnx")).unwrap_err().to_string();
        assert!(err.contains("gone.onnx") && err.contains("cannot read"), "{err}");
    }

    /// A zip archive of empty stored entries, as far as a reader of the central directory sees
    /// it; with `zip64`, its end record says "see the zip64 record", as big archives' do.
    fn zip(names: &[&str], zip64: bool) -> Vec<u8> {
        let mut out = b"PK\x03\x04".to_vec();
        out.resize(30, 0);
        let offset = out.len();
        for n in names {
            let mut entry = b"PK\x01\x02".to_vec();
            entry.resize(46, 0);
            entry[28..30].copy_from_slice(&u16::try_from(n.len()).unwrap().to_le_bytes());
            out.extend(entry);
            out.extend(n.as_bytes());
        }
        let size = out.len() - offset;
        let count = u16::try_from(names.len()).unwrap();
        let mut end = b"PK\x05\x06".to_vec();
        end.resize(22, 0);
        if zip64 {
            let record_at = out.len() as u64;
            let mut record = b"PK\x06\x06".to_vec();
            record.resize(56, 0);
            record[32..40].copy_from_slice(&(names.len() as u64).to_le_bytes());
            record[40..48].copy_from_slice(&(size as u64).to_le_bytes());
            record[48..56].copy_from_slice(&(offset as u64).to_le_bytes());
            out.extend(record);
            let mut locator = b"PK\x06\x07".to_vec();
            locator.resize(20, 0);
            locator[8..16].copy_from_slice(&record_at.to_le_bytes());
            out.extend(locator);
            end[10..12].copy_from_slice(&0xffffu16.to_le_bytes());
            end[12..20].copy_from_slice(&[0xff; 8]);
        } else {
            end[10..12].copy_from_slice(&count.to_le_bytes());
            end[12..16].copy_from_slice(&u32::try_from(size).unwrap().to_le_bytes());
            end[16..20].copy_from_slice(&u32::try_from(offset).unwrap().to_le_bytes());
        }
        out.extend(end);
        out
    }

    #[test]
    fn zip_archives_list_their_entries() {
        let dir = tempfile::tempdir().unwrap();
        let names = ["m/data.pkl", "m/code/__torch__.py", "m/constants.pkl"];
        for zip64 in [false, true] {
            let path = dir.path().join("model");
            let bytes = zip(&names, zip64);
            std::fs::write(&path, &bytes).unwrap();
            let p = Probe::new(&path).unwrap();
            assert!(p.is_zip() && p.extension.is_empty());
            assert_eq!(p.zip_names.as_deref(), Some(&names.map(String::from)[..]), "zip64 {zip64}");
            // Cut short, the directory cannot be found: no names, but still a zip by its head.
            std::fs::write(&path, &bytes[..bytes.len() - 30]).unwrap();
            let p = Probe::new(&path).unwrap();
            assert!(p.is_zip() && p.zip_names.is_none());
        }
        // A real TorchScript archive, as torch writes it.
        let tiny = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/tiny/tiny_cnn.pt");
        let names = Probe::new(&tiny).unwrap().zip_names.unwrap();
        assert!(names.iter().any(|n| n == "archive/constants.pkl") && names.iter().any(|n| n == "archive/data.pkl"));
    }

    #[test]
    fn sniff_and_display() {
        assert_eq!(Sniff::Content(F).format(), Some(F));
        assert_eq!(Sniff::No.format(), None);
        assert_eq!(F.to_string(), "X");
        assert_eq!(serde_json::to_string(&F).unwrap(), "\"x\"");
    }
}
