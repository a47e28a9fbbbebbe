//! File helpers shared by everything that writes results.

use std::{io::Write, path::Path};

use crate::{Error, Result};

/// Writes `bytes` to `path` atomically: into a temporary file in the same folder, flushed to disk,
/// then renamed over `path`. Readers see the old file or the new one, never half of one.
///
/// # Errors
/// [`Error::File`] naming `path` when the folder does not exist or is not writable, or writing
/// fails (a full disk); the file at `path`, if any, is then unchanged.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = temp_for(path)?;
    tmp.write_all(bytes).map_err(|e| write_failed(path, &e))?;
    tmp.as_file().sync_all().map_err(|e| write_failed(path, &e))?;
    tmp.persist(path).map_err(|e| write_failed(path, &e.error))?;
    Ok(())
}

/// A temporary file beside `path`, to be filled and then `persist`ed onto it (an atomic
/// rename). A temporary file is private (0600); this one already has the mode of the file it
/// will replace, or the usual 0644 of a new file, so results stay readable by whoever they are
/// shared with.
///
/// # Errors
/// [`Error::File`] naming `path` when the folder does not exist or is not writable.
pub fn temp_for(path: &Path) -> Result<tempfile::NamedTempFile> {
    let mode = std::fs::metadata(path).map_or(0o644, |m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()));
    let tmp = tempfile::NamedTempFile::new_in(folder_of(path)).map_err(|e| cannot_write(path, &e))?;
    tmp.as_file()
        .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))
        .map_err(|e| cannot_write(path, &e))?;
    Ok(tmp)
}

/// Checks, before any long work, that [`write_atomic`] will be able to create `path`: its folder
/// exists and a temporary file can be made there (it is removed at once), and `path` is not a
/// folder.
///
/// # Errors
/// [`Error::File`] naming `path` and saying what is wrong.
pub fn check_writable(path: &Path) -> Result<()> {
    if path.is_dir() {
        return Err(Error::file(path, "cannot write: expected a file path, found a folder"));
    }
    tempfile::NamedTempFile::new_in(folder_of(path)).map(drop).map_err(|e| cannot_write(path, &e))
}

/// The folder a file is written into (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn cannot_write(path: &Path, e: &std::io::Error) -> Error {
    let dir = folder_of(path);
    let why = if dir.is_dir() {
        // The temporary file's name in the io error says nothing to the user: keep the kind only.
        format!("the folder {} is not writable ({})", dir.display(), e.kind())
    } else {
        format!("the folder {} does not exist", dir.display())
    };
    Error::file(path, format!("cannot write: {why}"))
}

/// A failure after the temporary file was made (a full disk, a file-size limit): the temporary
/// file is removed and the file at `path`, if any, is untouched.
fn write_failed(path: &Path, e: &std::io::Error) -> Error {
    Error::file(path, format!("cannot write: {e}; the previous file, if any, is unchanged"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_files_are_readable_by_others_and_replaced_files_keep_their_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let new = dir.path().join("report.html");
        write_atomic(&new, b"<html>").unwrap();
        assert_eq!(mode(&new), 0o644);
        let kept = dir.path().join("shared.json");
        std::fs::write(&kept, b"{}").unwrap();
        std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o664)).unwrap();
        write_atomic(&kept, b"[]").unwrap();
        assert_eq!(mode(&kept), 0o664);
    }

    #[test]
    fn replaces_existing_file_and_reports_unwritable_folder() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left behind");
        let err = write_atomic(&dir.path().join("no/such/dir/out.json"), b"x").unwrap_err().to_string();
        assert!(err.contains("out.json") && err.contains("cannot write") && err.contains("does not exist"), "{err}");
        assert!(!err.contains("at path"), "no temporary name in the message: {err}");
        assert!(check_writable(&dir.path().join("no/such/out.json")).is_err());
        assert!(check_writable(dir.path()).unwrap_err().to_string().contains("found a folder"));
        check_writable(&p).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "the check leaves nothing behind");
    }
}
