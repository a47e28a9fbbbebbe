//! Small file reads under a root folder (`/` on a real host, a temporary folder in tests), and
//! the words that say why a file could not be read.

use std::{
    fs::File,
    io::{self, Read},
    path::{Path, PathBuf},
};

use crate::{Error, Result};

/// `root` joined with a path written from the host's root (`proc/stat`, never `/proc/stat`,
/// which `Path::join` would take instead of `root`).
pub(crate) fn under(root: &Path, rel: &str) -> PathBuf {
    root.join(rel.trim_start_matches('/'))
}

/// Reads a whole file into `buf` (cleared first, its allocation kept: the sampler reads the
/// same few files every period).
pub(crate) fn read_into<'a>(path: &Path, buf: &'a mut String) -> Result<&'a str> {
    buf.clear();
    File::open(path).and_then(|mut f| f.read_to_string(buf)).map_err(|e| Error::io(path, e))?;
    Ok(buf.as_str())
}

/// Reads a whole file.
pub(crate) fn read_text(path: &Path) -> Result<String> {
    let mut buf = String::new();
    read_into(path, &mut buf)?;
    Ok(buf)
}

/// Why `path` cannot be read, in words for a report: "no /proc/pressure/cpu", "… is readable
/// by root only (permission denied)", or the system's message.
pub(crate) fn why_unreadable(path: &Path, e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => format!("no {}", path.display()),
        io::ErrorKind::PermissionDenied => {
            format!("{} is not readable by this user (permission denied)", path.display())
        }
        _ => format!("cannot read {}: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_name_the_file_and_the_cause() {
        let p = Path::new("/sys/class/powercap/intel-rapl:0/energy_uj");
        assert_eq!(why_unreadable(p, &io::ErrorKind::NotFound.into()), format!("no {}", p.display()));
        let denied = why_unreadable(p, &io::ErrorKind::PermissionDenied.into());
        assert!(denied.contains("energy_uj") && denied.contains("permission denied"), "{denied}");
        assert_eq!(under(Path::new("/tmp/x"), "/proc/stat"), Path::new("/tmp/x/proc/stat"));
        assert_eq!(under(Path::new("/"), "proc/stat"), Path::new("/proc/stat"));
    }

    #[test]
    fn a_folder_where_a_file_is_expected_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_text(dir.path()).unwrap_err();
        assert!(err.to_string().contains(&dir.path().display().to_string()), "{err}");
        let mut buf = String::from("old");
        std::fs::write(dir.path().join("f"), "new").unwrap();
        assert_eq!(read_into(&dir.path().join("f"), &mut buf).unwrap(), "new");
    }
}
