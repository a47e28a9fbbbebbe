//! Backends that run in a worker executable of their own.
//!
//! ONNX Runtime, TensorFlow and OpenVINO open their library when first used, so the `infer`
//! process maps a runtime only when it uses it. libtorch cannot be opened that way (`torch-sys`
//! links it at build time), so the torch backend lives in `infer-torch-worker`: the same command
//! line built with the real torch backend registered. `infer` registers a [`Delegated`] stand-in
//! instead, which knows the backend's formats and options (pure code of its crate) and asks the
//! worker whether it can be used; a command whose backend is torch is handed over whole to the
//! worker ([`hand_over`]: the same arguments, the process image replaced), and the child
//! processes of `infer compare` and `infer optimize-batch` start the executable of their row's
//! backend ([`executable_for`]), so that each child maps its own runtime only.
//!
//! The worker is looked up as `$INFER_TORCH_WORKER` if set, else beside the executable
//! (`target/release/`, or `~/.cargo/bin/` after `cargo install`, which installs both).

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use infer_core::{Backend, BackendInfo, Error, LoadOptions, ModelFormat, OptionSpec, Probe, Result, Session, Sniff};
use serde::{Deserialize, Serialize};

/// The main executable's name.
pub const MAIN: &str = "infer";

/// The first argument that makes a worker print its backend's probe as JSON ([`ProbeReply`])
/// and exit.
pub const PROBE_ARG: &str = "--probe-backend";

/// Backends that run in a worker: (backend, worker executable, variable that names it).
const WORKERS: &[(&str, &str, &str)] = &[("torch", "infer-torch-worker", "INFER_TORCH_WORKER")];

/// Whether this build's worker has libtorch: feature `torch`, or `--cfg infer_libtorch`, which
/// `cargo xtask setup` sets once libtorch is installed (`.cargo/runtimes.toml`). Both executables
/// are built from this package with the same flags, so `infer` knows without asking.
pub const TORCH_COMPILED: bool = cfg!(any(feature = "torch", infer_libtorch));

/// Why torch cannot be used from a build without libtorch.
pub const TORCH_NOT_BUILT: &str =
    "libtorch was not installed when infer was built (run `cargo xtask setup`, then build again)";

/// The worker executable's name of `backend`, if that backend runs in one.
#[must_use]
pub fn worker_name(backend: &str) -> Option<&'static str> {
    WORKERS.iter().find(|w| w.0 == backend).map(|w| w.1)
}

/// Whether a command on `backend` is to be handed over to its worker: it runs in one, and the
/// worker was built with the backend's runtime (else `infer` answers "unavailable" itself).
#[must_use]
pub fn runs_in_worker(backend: &str) -> bool {
    worker_name(backend).is_some() && TORCH_COMPILED
}

/// Whether `exe` is a worker (by its file name).
fn is_worker(exe: &Path) -> bool {
    exe.file_name().is_some_and(|n| WORKERS.iter().any(|w| n == w.1))
}

/// The worker of `backend` for the executable `exe`: the variable's path if set, else the file
/// beside `exe`. `None` when `backend` runs in no worker.
#[must_use]
pub fn worker_path(exe: &Path, backend: &str) -> Option<PathBuf> {
    let (_, name, var) = WORKERS.iter().find(|w| w.0 == backend)?;
    if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    Some(exe.with_file_name(name))
}

/// The executable a child process for `backend` runs, given the executable `exe` of this
/// process: the backend's worker where it runs in one (when that worker exists), `infer` beside
/// a worker for every other backend, else `exe` itself.
#[must_use]
pub fn executable_for(exe: &Path, backend: &str) -> PathBuf {
    match worker_path(exe, backend) {
        Some(worker) if worker.is_file() && runs_in_worker(backend) => worker,
        Some(_) => exe.to_path_buf(),
        None if is_worker(exe) && exe.with_file_name(MAIN).is_file() => exe.with_file_name(MAIN),
        None => exe.to_path_buf(),
    }
}

/// Replaces this process with `backend`'s worker, run with this process's arguments. Returns
/// only when that is impossible: `Ok(())` when `backend` runs in no worker, else the reason.
///
/// # Errors
/// The worker is missing or cannot be executed.
pub fn hand_over(backend: &str) -> std::result::Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    let Some(worker) = worker_path(&exe, backend).filter(|_| runs_in_worker(backend)) else { return Ok(()) };
    if !worker.is_file() {
        return Err(missing(&worker, backend));
    }
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let e = std::os::unix::process::CommandExt::exec(Command::new(&worker).args(args));
    Err(format!("cannot start {}: {e}", worker.display()))
}

/// Why a worker that is not there cannot be used.
fn missing(worker: &Path, backend: &str) -> String {
    format!(
        "{backend} runs in {}, which is missing (build the package with `cargo build -p infer-cli` after \
         `cargo xtask setup`, or set {})",
        worker.display(),
        WORKERS.iter().find(|w| w.0 == backend).map_or("", |w| w.2)
    )
}

/// A worker's answer to [`PROBE_ARG`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProbeReply {
    /// The backend can be used.
    Available(BackendInfo),
    /// The backend is not compiled into the worker (libtorch was not installed at build time).
    NotCompiled(String),
    /// The backend is compiled but cannot be used here.
    Unavailable(String),
}

impl ProbeReply {
    /// The reply for `backend`'s probe.
    #[must_use]
    pub fn of(backend: &dyn Backend) -> Self {
        match backend.probe() {
            Ok(info) => Self::Available(info),
            Err(e @ Error::NotCompiled { .. }) => Self::NotCompiled(e.to_string()),
            Err(Error::Unavailable { reason, .. }) => Self::Unavailable(reason),
            Err(e) => Self::Unavailable(e.to_string()),
        }
    }
}

/// The stand-in for a backend that runs in a worker: its formats, recogniser and options, and a
/// probe that asks the worker.
pub struct Delegated {
    name: &'static str,
    formats: &'static [ModelFormat],
    sniff: fn(&Probe) -> Sniff,
    options: &'static [OptionSpec],
    runtime: &'static infer_core::NativeRuntime,
    /// The executable the worker sits beside: this process's own unless given
    /// ([`Delegated::beside`]).
    exe: Option<PathBuf>,
    /// The worker's probe, asked once per process.
    probed: OnceLock<std::result::Result<BackendInfo, String>>,
}

impl Delegated {
    /// The torch backend, run by `infer-torch-worker`.
    #[must_use]
    pub fn torch() -> Self {
        Self {
            name: infer_torch::BACKEND,
            formats: &[infer_torch::TORCHSCRIPT, infer_torch::CHECKPOINT],
            sniff: infer_torch::sniff,
            options: infer_torch::OPTIONS,
            runtime: &infer_torch::RUNTIME,
            exe: None,
            probed: OnceLock::new(),
        }
    }

    /// This stand-in, its worker looked for beside `exe` (an `infer` built elsewhere, as the
    /// tests see the one Cargo built) instead of beside this process's executable.
    #[must_use]
    pub fn beside(self, exe: PathBuf) -> Self {
        Self { exe: Some(exe), ..self }
    }

    /// The executable the worker sits beside.
    fn exe(&self) -> std::result::Result<PathBuf, String> {
        match &self.exe {
            Some(e) => Ok(e.clone()),
            None => std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}")),
        }
    }

    /// Asks the worker (`WORKER --probe-backend NAME`).
    fn ask(&self) -> std::result::Result<BackendInfo, String> {
        if !runs_in_worker(self.name) {
            return Err(TORCH_NOT_BUILT.into());
        }
        let exe = self.exe()?;
        let worker = worker_path(&exe, self.name).ok_or_else(|| format!("{} runs in no worker", self.name))?;
        if !worker.is_file() {
            return Err(missing(&worker, self.name));
        }
        let out = Command::new(&worker)
            .args([PROBE_ARG, self.name])
            .output()
            .map_err(|e| format!("cannot start {}: {e}", worker.display()))?;
        let reply: ProbeReply = serde_json::from_slice(&out.stdout).map_err(|e| {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let line = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
            format!("{} gave no probe ({e}; exit status {}): {line}", worker.display(), out.status)
        })?;
        match reply {
            ProbeReply::Available(info) => Ok(info),
            ProbeReply::NotCompiled(_) => Err(TORCH_NOT_BUILT.into()),
            ProbeReply::Unavailable(reason) => Err(reason),
        }
    }
}

impl std::fmt::Debug for Delegated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delegated").field("name", &self.name).finish_non_exhaustive()
    }
}

impl Backend for Delegated {
    fn name(&self) -> &'static str {
        self.name
    }

    fn formats(&self) -> &'static [ModelFormat] {
        self.formats
    }

    fn sniff(&self, probe: &Probe) -> Sniff {
        (self.sniff)(probe)
    }

    fn options(&self) -> &'static [OptionSpec] {
        self.options
    }

    fn runtime(&self) -> Option<&'static infer_core::NativeRuntime> {
        Some(self.runtime)
    }

    fn probe(&self) -> Result<BackendInfo> {
        self.probed
            .get_or_init(|| self.ask())
            .clone()
            .map_err(|reason| Error::Unavailable { backend: self.name.into(), reason })
    }

    fn load(&self, path: &Path, _: &LoadOptions) -> Result<Box<dyn Session>> {
        // `infer` hands a command whose backend runs in a worker over to it before loading; this
        // process cannot load the model itself.
        if !runs_in_worker(self.name) {
            return Err(Error::Unavailable { backend: self.name.into(), reason: TORCH_NOT_BUILT.into() });
        }
        let exe = std::env::current_exe().unwrap_or_default();
        let reason = match worker_path(&exe, self.name) {
            Some(w) if !w.is_file() => missing(&w, self.name),
            Some(w) => format!("{} models are loaded by {}, not by this process", self.name, w.display()),
            None => format!("{} runs in no worker", self.name),
        };
        Err(Error::load(path, reason))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn children_run_the_executable_of_their_backend() {
        let dir = tempfile::tempdir().unwrap();
        let (infer, worker) = (dir.path().join(MAIN), dir.path().join("infer-torch-worker"));
        // No worker beside `infer`: everything runs `infer` (torch rows then say why).
        std::fs::write(&infer, "").unwrap();
        assert_eq!(executable_for(&infer, "torch"), infer);
        std::fs::write(&worker, "").unwrap();
        let torch = if TORCH_COMPILED { &worker } else { &infer };
        assert_eq!(&executable_for(&infer, "torch"), torch);
        assert_eq!(executable_for(&infer, "onnx"), infer);
        // From the worker: its own backend in itself, the others in `infer` beside it.
        assert_eq!(executable_for(&worker, "torch"), worker);
        assert_eq!(executable_for(&worker, "tf"), infer);
        assert_eq!(worker_name("torch"), Some("infer-torch-worker"));
        assert_eq!(worker_name("onnx"), None);
    }
}
