//! Keeps TensorFlow's start-up chatter off stderr (Linux) unless the process's arguments hold
//! `--verbose` (the `infer` CLI's global flag; arguments after `--` do not count) or
//! `TF_CPP_MIN_LOG_LEVEL` is set to 0.
//!
//! TensorFlow reads `TF_CPP_MIN_LOG_LEVEL` once, from its shared libraries' static initializers,
//! before `main`; and it logs from there too, unfiltered: absl's banner (`WARNING: All log
//! messages before absl::InitializeLog() is called are written to STDERR`) and oneDNN's notice
//! (`I0000 … port.cc:153] oneDNN custom operations are on…`). Setting the variable from `main`
//! is too late, and even the executable's `.preinit_array`, which the dynamic loader runs before
//! any shared library's initializer, is too early: libc's initializer then resets the environment
//! to the one the process was started with. So [`before_libraries`], from `.preinit_array`:
//! 1. when the variable is not set, executes the program again (`/proc/self/exe`, same arguments)
//!    with `TF_CPP_MIN_LOG_LEVEL=3` added: TensorFlow's later log is silenced (`cpu_feature_guard`,
//!    the SavedModel loader, its errors: those reach the user as the error of the call that
//!    failed). It costs the dynamic loader's work once more (about 0.1 s), and only for a process
//!    started without the variable: the children that `infer` starts inherit it;
//! 2. when the level is 1 or more, points stderr (fd 2) at an anonymous memory file until
//!    [`after_libraries`], from the executable's `.init_array` (run after every shared library's
//!    initializer, before `main`), points it back and writes out what was captured except
//!    TensorFlow's notices (absl's banner, its `I` and `W` lines).
//!
//! A process that dies between the two (a library's initializer aborting) loses what it printed
//! then: `--verbose` or `TF_CPP_MIN_LOG_LEVEL=0` shows it.

use std::{
    ffi::{CStr, c_char, c_int},
    fs::File,
    io::{Read, Seek, SeekFrom, Write},
    os::fd::FromRawFd,
    sync::atomic::{AtomicI32, Ordering},
};

/// TensorFlow's log level variable, as an environment entry's start.
const LEVEL_VAR: &[u8] = b"TF_CPP_MIN_LOG_LEVEL=";
/// The entry that drops TensorFlow's notices, warnings and errors.
const QUIET: &CStr = c"TF_CPP_MIN_LOG_LEVEL=3";

/// The real stderr, saved while stderr is captured (-1: not capturing).
static SAVED: AtomicI32 = AtomicI32::new(-1);
/// The memory file stderr is captured into (-1: not capturing).
static CAPTURED: AtomicI32 = AtomicI32::new(-1);

/// The strings of a null-terminated array of C strings (`argv`, `envp`).
///
/// # Safety
/// `array` must be null-terminated, every entry a NUL-terminated string, all living as long as
/// the process (as the loader's `argv` and `envp` do).
unsafe fn c_strings(array: *const *const c_char) -> Vec<&'static [u8]> {
    let mut out = Vec::new();
    // SAFETY: per the contract, the entries up to the terminating null are valid strings.
    unsafe {
        while !(*array.add(out.len())).is_null() {
            out.push(CStr::from_ptr(*array.add(out.len())).to_bytes());
        }
    }
    out
}

/// Whether the arguments hold `--verbose` (before any `--`).
fn verbose(args: &[&[u8]]) -> bool {
    args.iter().skip(1).take_while(|a| **a != b"--").any(|a| *a == b"--verbose")
}

/// `TF_CPP_MIN_LOG_LEVEL` in the environment, if set (TensorFlow reads a value that is not a
/// number as 0).
fn level(env: &[&[u8]]) -> Option<u32> {
    let value = env.iter().find_map(|e| e.strip_prefix(LEVEL_VAR))?;
    Some(std::str::from_utf8(value).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(0))
}

/// Step 1, before every shared library's initializer: run again with TensorFlow's log level set,
/// or capture stderr, or leave everything as it is.
extern "C" fn before_libraries(_argc: c_int, argv: *const *const c_char, envp: *const *const c_char) {
    if argv.is_null() || envp.is_null() {
        return;
    }
    // SAFETY: the loader passes the process's null-terminated `argv` and `envp`, which live as
    // long as the process.
    let (args, env) = unsafe { (c_strings(argv), c_strings(envp)) };
    if verbose(&args) {
        return;
    }
    match level(&env) {
        None => run_again_quiet(argv, envp, env.len()),
        Some(0) => {}
        Some(_) => capture(),
    }
}

/// Executes the program again with `TF_CPP_MIN_LOG_LEVEL=3` added to its environment; returns
/// only when that fails (then stderr is captured, so that the notices before `main` at least are
/// kept off it).
fn run_again_quiet(argv: *const *const c_char, envp: *const *const c_char, count: usize) {
    let mut quiet_env: Vec<*const c_char> = (0..count)
        // SAFETY: `envp` has `count` entries before its terminating null.
        .map(|i| unsafe { *envp.add(i) })
        .collect();
    quiet_env.push(QUIET.as_ptr());
    quiet_env.push(std::ptr::null());
    // SAFETY: the path is a C string literal; `argv` is the process's own null-terminated array;
    // `quiet_env` is null-terminated and its strings outlive the call (the loader's, and a
    // static). Nothing else runs yet (one thread, no library initialized), so replacing the
    // process image leaves nothing half done.
    unsafe { libc::execve(c"/proc/self/exe".as_ptr(), argv, quiet_env.as_ptr()) };
    capture();
}

/// Points stderr at a memory file until [`after_libraries`].
fn capture() {
    // SAFETY: plain system calls on file descriptors; nothing else runs yet (one thread, no
    // library initialized), so no one else uses fd 2 meanwhile. Any failure leaves stderr as it
    // was.
    unsafe {
        let memory = libc::memfd_create(c"infer-startup-stderr".as_ptr(), libc::MFD_CLOEXEC);
        if memory < 0 {
            return;
        }
        let saved = libc::fcntl(libc::STDERR_FILENO, libc::F_DUPFD_CLOEXEC, 3);
        if saved < 0 || libc::dup2(memory, libc::STDERR_FILENO) < 0 {
            libc::close(memory);
            if saved >= 0 {
                libc::close(saved);
            }
            return;
        }
        SAVED.store(saved, Ordering::Relaxed);
        CAPTURED.store(memory, Ordering::Relaxed);
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

/// Step 2, after every shared library's initializer: points stderr back and shows what was
/// captured but TensorFlow's notices.
extern "C" fn after_libraries(_argc: c_int, _argv: *const *const c_char, _envp: *const *const c_char) {
    let (saved, memory) = (SAVED.swap(-1, Ordering::Relaxed), CAPTURED.swap(-1, Ordering::Relaxed));
    if saved < 0 || memory < 0 {
        return;
    }
    // SAFETY: `saved` is the real stderr that `capture` duplicated, put back as fd 2 and then
    // closed; `memory` is the memory file `capture` opened, owned from here on by a `File`.
    let mut captured = unsafe {
        libc::dup2(saved, libc::STDERR_FILENO);
        libc::close(saved);
        File::from_raw_fd(memory)
    };
    let mut text = String::new();
    if captured.seek(SeekFrom::Start(0)).is_ok() && captured.read_to_string(&mut text).is_ok() {
        let _ = std::io::stderr().write_all(shown(&text).as_bytes());
    }
}

/// A function the dynamic loader calls at start-up, with `argc`, `argv` and `envp`.
type StartFn = extern "C" fn(c_int, *const *const c_char, *const *const c_char);

/// [`before_libraries`], before any shared library's initializer.
#[used]
#[unsafe(link_section = ".preinit_array")]
static BEFORE_LIBRARIES: StartFn = before_libraries;

/// [`after_libraries`], after every shared library's initializer, before `main`.
#[used]
#[unsafe(link_section = ".init_array")]
static AFTER_LIBRARIES: StartFn = after_libraries;

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
        assert!(verbose(&[b"infer", b"info", b"--verbose"]));
        assert!(!verbose(&[b"infer", b"run", b"--", b"--verbose"]));
        assert_eq!(level(&[b"PATH=/bin", b"TF_CPP_MIN_LOG_LEVEL=2"]), Some(2));
        assert_eq!(level(&[b"TF_CPP_MIN_LOG_LEVEL=loud"]), Some(0));
        assert_eq!(level(&[b"TF_CPP_MIN_LOG_LEVEL_X=2"]), None);
    }
}
