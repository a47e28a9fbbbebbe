//! Opens the TensorFlow C library on first use (the `tensorflow` crate's runtime linking), keeping
//! its start-up chatter off stderr unless the process's arguments hold `--verbose` (the `infer`
//! CLI's global flag; arguments after `--` do not count) or `TF_CPP_MIN_LOG_LEVEL` is set to 0.
//!
//! Nothing of TensorFlow is mapped before this runs: `infer info model.onnx` never loads it.
//! TensorFlow reads `TF_CPP_MIN_LOG_LEVEL` once, from its shared libraries' static initializers,
//! which run when the library is opened; and it logs from there too, unfiltered: absl's banner
//! (`WARNING: All log messages before absl::InitializeLog() is called are written to STDERR`)
//! and oneDNN's notice (`I0000 … port.cc:153] oneDNN custom operations are on…`). So [`open`]:
//! 1. when the variable is not set, sets `TF_CPP_MIN_LOG_LEVEL=3`: TensorFlow's later log is
//!    silenced (`cpu_feature_guard`, the SavedModel loader, its errors: those reach the user as
//!    the error of the call that failed); the children that `infer` starts inherit it;
//! 2. when the level is 1 or more, points stderr (fd 2) at an anonymous memory file while the
//!    library is opened, then points it back and writes out what was captured except
//!    TensorFlow's notices (absl's banner, its `I` and `W` lines).
//!
//! The library is looked up from [`crate::RUNTIME`] and handed to the `tensorflow` crate through
//! its own variable, `TENSORFLOW_DIR` (set for the call, then put back as it was).

use std::{
    ffi::OsString,
    fs::File,
    io::{Read, Seek, SeekFrom, Write},
    os::fd::FromRawFd,
    path::{Path, PathBuf},
};

/// TensorFlow's log level variable.
const LEVEL_VAR: &str = "TF_CPP_MIN_LOG_LEVEL";

/// Whether the arguments hold `--verbose` (before any `--`).
fn verbose(args: &[OsString]) -> bool {
    args.iter().skip(1).take_while(|a| *a != "--").any(|a| a == "--verbose")
}

/// `TF_CPP_MIN_LOG_LEVEL`'s value, if set (TensorFlow reads a value that is not a number as 0).
fn level(value: Option<OsString>) -> Option<u32> {
    let value = value?;
    Some(value.to_str().and_then(|v| v.trim().parse().ok()).unwrap_or(0))
}

/// Opens the library once per process (the caller keeps the result): finds it, sets the log
/// level, captures what its initializers print, and returns the folder it was opened from.
///
/// # Errors
/// Where it looked when the library is not found; the loader's message when it cannot be opened.
pub(super) fn open() -> Result<PathBuf, String> {
    let library = infer_core::runtime::locate(&crate::RUNTIME)?;
    let dir = library.parent().map(Path::to_path_buf).unwrap_or_default();
    let args: Vec<OsString> = std::env::args_os().collect();
    let quiet = !verbose(&args);
    let capturing = quiet
        && match level(std::env::var_os(LEVEL_VAR)) {
            None => {
                // SAFETY: called once, under the runtime's `OnceLock`, before TensorFlow exists;
                // our threads do not read the environment meanwhile (the other backends read
                // theirs when they are loaded, not while TensorFlow is).
                unsafe { std::env::set_var(LEVEL_VAR, "3") };
                true
            }
            Some(0) => false,
            Some(_) => true,
        };
    let variable = crate::RUNTIME.variable;
    let previous = std::env::var_os(variable);
    // SAFETY: as above; the crate's lookup reads this variable, which is put back right after.
    unsafe { std::env::set_var(variable, &dir) };
    let capture = if capturing { Capture::start() } else { None };
    let opened = tensorflow::library::load();
    if let Some(c) = capture {
        c.finish();
    }
    // SAFETY: as above.
    unsafe {
        match previous {
            Some(p) => std::env::set_var(variable, p),
            None => std::env::remove_var(variable),
        }
    }
    opened.map(|()| dir).map_err(|e| format!("{e} (run `cargo xtask setup`)"))
}

/// Stderr pointed at a memory file.
struct Capture {
    /// The real stderr, duplicated.
    saved: i32,
    /// The memory file.
    memory: i32,
}

impl Capture {
    /// Points stderr at a memory file; `None` (stderr left as it was) when that fails.
    fn start() -> Option<Self> {
        let _ = std::io::stderr().flush();
        // SAFETY: plain system calls on file descriptors; any failure leaves stderr as it was.
        unsafe {
            let memory = libc::memfd_create(c"infer-tf-stderr".as_ptr(), libc::MFD_CLOEXEC);
            if memory < 0 {
                return None;
            }
            let saved = libc::fcntl(libc::STDERR_FILENO, libc::F_DUPFD_CLOEXEC, 3);
            if saved < 0 || libc::dup2(memory, libc::STDERR_FILENO) < 0 {
                libc::close(memory);
                if saved >= 0 {
                    libc::close(saved);
                }
                return None;
            }
            Some(Self { saved, memory })
        }
    }

    /// Points stderr back and shows what was captured but TensorFlow's notices.
    fn finish(self) {
        // SAFETY: `saved` is the real stderr that `start` duplicated, put back as fd 2 and then
        // closed; `memory` is the memory file `start` opened, owned from here on by a `File`.
        let mut captured = unsafe {
            libc::dup2(self.saved, libc::STDERR_FILENO);
            libc::close(self.saved);
            File::from_raw_fd(self.memory)
        };
        let mut text = String::new();
        if captured.seek(SeekFrom::Start(0)).is_ok() && captured.read_to_string(&mut text).is_ok() {
            let _ = std::io::stderr().write_all(shown(&text).as_bytes());
        }
    }
}

/// Whether a captured line is TensorFlow's start-up notice: absl's banner, or a line in absl's
/// format (`I0000 00:00:…`, `W…`) at INFO or WARNING level.
fn is_notice(line: &str) -> bool {
    let absl = |level: char| {
        line.strip_prefix(level).is_some_and(|rest| {
            rest.len() > 5 && rest.as_bytes()[..4].iter().all(u8::is_ascii_digit) && rest.as_bytes()[4] == b' '
        })
    };
    line.starts_with("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR")
        || absl('I')
        || absl('W')
}

/// What of the captured text is shown: everything but TensorFlow's notices (a notice's
/// continuation lines, which do not start like a log line, go with it).
fn shown(captured: &str) -> String {
    let mut out = String::new();
    let mut in_notice = false;
    for line in captured.lines() {
        let starts_entry = is_notice(line)
            || line.starts_with(['E', 'F']) && line.get(1..5).is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()));
        if is_notice(line) {
            in_notice = true;
        } else if starts_entry || !in_notice {
            in_notice = false;
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_go_and_everything_else_stays() {
        let captured = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n\
            I0000 00:00:1795880771.230012   29265 port.cc:153] oneDNN custom operations are on.\n\
            I0000 00:00:1795880783.539431   30055 cpu_feature_guard.cc:227] This TensorFlow binary is optimized\n\
            To enable the following instructions: AVX2 AVX512F, in other operations, rebuild TensorFlow.\n\
            E0000 00:00:1795880783.539431   30055 something.cc:1] a real error\n\
            plain line from another library\n";
        assert_eq!(
            shown(captured),
            "E0000 00:00:1795880783.539431   30055 something.cc:1] a real error\nplain line from another library\n"
        );
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(verbose(&args(&["infer", "info", "--verbose"])));
        assert!(!verbose(&args(&["infer", "run", "--", "--verbose"])));
        assert_eq!(level(Some("2".into())), Some(2));
        assert_eq!(level(Some("loud".into())), Some(0));
        assert_eq!(level(None), None);
    }
}
