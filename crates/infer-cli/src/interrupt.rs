//! Ctrl-C (SIGINT) handling that loses no result: long commands write what they have measured
//! after each step, and on an interrupt either stop at the next step ([`watch`], used by
//! `infer compare`, which then kills its running child and writes its reports) or, for a
//! process whose finished rows are already on disk, say so and stop at once ([`announce`], used
//! by `infer bench`). A second Ctrl-C always stops the process at once.

use std::sync::atomic::{AtomicBool, Ordering};

use signal_hook::consts::SIGINT;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The exit code of a command stopped by Ctrl-C (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// From now on, Ctrl-C sets a flag that [`requested`] reads instead of stopping the process; a
/// second Ctrl-C stops it at once.
///
/// # Errors
/// When the handler cannot be installed (the message says why).
pub fn watch() -> Result<(), String> {
    // Actions run in registration order: the second signal finds the flag already set.
    signal_hook::flag::register_conditional_default(SIGINT, &INTERRUPTED)
        .and_then(|_| signal_hook::flag::register(SIGINT, &INTERRUPTED))
        .map(drop)
        .map_err(|e| format!("cannot install the Ctrl-C handler: {e}"))
}

/// Whether Ctrl-C was pressed since [`watch`].
#[must_use]
pub fn requested() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// On Ctrl-C, prints `message` on stderr, then ends the process at once with exit code
/// [`EXIT_INTERRUPTED`].
/// For commands that write their results as they go, so that the message can say what was kept.
///
/// # Errors
/// When the handler cannot be installed (the message says why).
pub fn announce(message: String) -> Result<(), String> {
    announce_with(move || message)
}

/// As [`announce`], the message made by `finish` once Ctrl-C comes, which may first tidy up
/// (remove a temporary file). Installed even where the process was started with Ctrl-C ignored
/// (a background job of a script), so that a command's interrupt always ends the same way.
///
/// # Errors
/// When the handler cannot be installed (the message says why).
pub fn announce_with(finish: impl FnOnce() -> String + Send + 'static) -> Result<(), String> {
    let mut signals =
        signal_hook::iterator::Signals::new([SIGINT]).map_err(|e| format!("cannot install the Ctrl-C handler: {e}"))?;
    std::thread::Builder::new()
        .name("ctrl-c".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                let message = finish();
                eprintln!("{message}");
                // `_exit`: no atexit handlers or C++ static destructors while the runtime's threads
                // may still be inside an inference.
                signal_hook::low_level::exit(i32::from(EXIT_INTERRUPTED));
            }
        })
        .map(drop)
        .map_err(|e| format!("cannot start the Ctrl-C thread: {e}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::{io::Write, os::unix::process::ExitStatusExt};

    use super::*;

    /// Set in the child process that [`a_second_ctrl_c_stops_at_once`] starts: the test itself,
    /// run alone.
    const CHILD: &str = "INFER_TEST_SECOND_CTRL_C_CHILD";

    /// After [`watch`], the first Ctrl-C only sets the flag; the second ends the process at once,
    /// by the signal itself. The signals go to a child process (this test, started again alone),
    /// since the second one must kill it.
    #[test]
    fn a_second_ctrl_c_stops_at_once() {
        if std::env::var_os(CHILD).is_some() {
            watch().unwrap();
            assert!(!requested());
            signal_hook::low_level::raise(SIGINT).unwrap();
            println!("first Ctrl-C: requested = {}", requested());
            std::io::stdout().flush().unwrap();
            signal_hook::low_level::raise(SIGINT).unwrap();
            println!("second Ctrl-C: still running");
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "interrupt::tests::a_second_ctrl_c_stops_at_once", "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("first Ctrl-C: requested = true"), "{stdout}");
        assert!(!stdout.contains("second Ctrl-C: still running"), "{stdout}");
        assert_eq!(out.status.signal(), Some(SIGINT), "{:?}\n{stdout}", out.status);
    }
}
