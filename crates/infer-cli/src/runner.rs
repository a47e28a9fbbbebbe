//! The runner: every measurement that runs native code runs in a child `infer` process, so a
//! crash, an abort or an out-of-memory kill ends that child only and becomes its row's error.
//! `infer compare` (a bench child per round, a profile child after the rounds) and
//! `infer optimize-batch` (a bench child per probed batch size) build their command lines here,
//! once ([`ChildTarget::bench`], [`ChildTarget::profile`]), and run them through [`run`]: spawn,
//! wait while watching for Ctrl-C, then collect the JSON the child wrote.

use std::{
    fmt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use infer_core::Device;
use serde::de::DeserializeOwned;

use infer_measure::{
    results::read_json,
    timing::{BenchConfig, Stop, Warmup},
    workload::Workload,
};

/// One model on one backend and device, as every child runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildTarget {
    /// The `infer` executable.
    pub exe: PathBuf,
    /// Model file or folder.
    pub model: PathBuf,
    /// Backend name.
    pub backend: String,
    /// Device.
    pub device: Device,
    /// Intra-op threads (0 = the runtime's default).
    pub threads: usize,
}

/// What an `infer bench` child measures.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BenchJob {
    /// Batch sizes, in order.
    pub batch_sizes: Vec<usize>,
    /// Warm-up and timing.
    pub config: BenchConfig,
    /// What the inputs are made of (`--shape`, `--dim`, `--dims`, `--input`, `--int-range`).
    pub workload: Workload,
    /// Reference input and output (`--reference-input`, `--reference-output`).
    pub reference: Option<(PathBuf, PathBuf)>,
    /// Address-space limit of the child, bytes (`--memory-limit`).
    pub memory_limit: Option<u64>,
}

/// What an `infer profile` child profiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileJob {
    /// Items per call.
    pub batch_size: usize,
    /// Profiled runs.
    pub runs: usize,
    /// Untimed runs before them.
    pub warmup: usize,
    /// What the inputs are made of (one shape: no `--dim` list).
    pub workload: Workload,
}

impl ChildTarget {
    /// `infer SUBCOMMAND MODEL --backend B --device D --threads T` (the backend's worker where it
    /// runs in one: [`crate::worker::executable_for`]).
    fn command(&self, sub: &str) -> Command {
        let mut cmd = Command::new(crate::worker::executable_for(&self.exe, &self.backend));
        // The runtimes' own logs stay as quiet in the children as the parent asked.
        if crate::backends::verbose() {
            cmd.arg("--verbose");
        }
        cmd.arg(sub)
            .arg(&self.model)
            .args(["--backend", &self.backend, "--device", &self.device.to_string()])
            .args(["--threads", &self.threads.to_string()]);
        cmd
    }

    /// The `infer bench … --quiet --json JSON` child of `job`.
    #[must_use]
    pub fn bench(&self, job: &BenchJob, json: &Path) -> Command {
        let mut cmd = self.command("bench");
        let join = |v: &[usize]| v.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
        cmd.args(["--batch-sizes", &join(&job.batch_sizes), "--warmup", &job.config.warmup.to_string()]);
        cmd.args(job.workload.child_args());
        if let Some((input, output)) = &job.reference {
            cmd.arg("--reference-input").arg(input).arg("--reference-output").arg(output);
        }
        if let Some(limit) = job.memory_limit {
            cmd.args(["--memory-limit", &limit.to_string()]);
        }
        match job.config.stop {
            Stop::Iterations(n) => cmd.args(["--iterations", &n.to_string()]),
            Stop::Duration(d) => cmd.args(["--duration", &format!("{}ms", d.as_millis().max(1))]),
            Stop::Confidence(t) => {
                cmd.args([
                    "--target-ci",
                    &t.median.to_string(),
                    "--max-time",
                    &format!("{}ms", t.max_time.as_millis().max(1)),
                ]);
                if let Some(p99) = t.p99 {
                    cmd.args(["--target-ci-p99", &p99.to_string()]);
                }
                &mut cmd
            }
        };
        cmd.arg("--quiet").arg("--json").arg(json);
        cmd
    }

    /// The `infer bench --scenario … --quiet --json JSON` child: `options` are the scenario's
    /// own (`--scenario server --find-max-rate --p99-bound 500ms --dynamic-batch 8 …`).
    #[must_use]
    pub fn scenario(&self, warmup: Warmup, workload: &Workload, options: &[String], json: &Path) -> Command {
        let mut cmd = self.command("bench");
        cmd.args(["--warmup", &warmup.to_string()]).args(workload.child_args()).args(options);
        cmd.arg("--quiet").arg("--json").arg(json);
        cmd
    }

    /// The `infer profile … --json JSON` child of `job`. A state fed back (`--feedback`) is left
    /// out: the profile's runs are independent calls on the initial inputs, which is what an
    /// operator profile needs (`infer profile` itself refuses the option).
    #[must_use]
    pub fn profile(&self, job: &ProfileJob, json: &Path) -> Command {
        let mut cmd = self.command("profile");
        let workload = Workload { feedback: Vec::new(), ..job.workload.clone() };
        cmd.args(["--batch-size", &job.batch_size.to_string()])
            .args(["--iterations", &job.runs.to_string(), "--warmup", &job.warmup.to_string()])
            .args(workload.child_args())
            .arg("--json")
            .arg(json);
        cmd
    }
}

/// Why a child gave no result. Its `Display` is the message a report shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChildError {
    /// The child could not be started or waited for.
    Start(String),
    /// Ctrl-C: the child was killed.
    Interrupted,
    /// The child exited with an error code; `message` is the line of its stderr that says why.
    Exit {
        /// Exit code.
        code: i32,
        /// See [`failure_line`].
        message: String,
    },
    /// The child was killed by a signal (a crash in native code, an abort, the OOM killer).
    Signal {
        /// The exit status as the OS describes it (`signal: 11 (SIGSEGV)`).
        status: String,
        /// See [`failure_line`].
        message: String,
    },
    /// The child succeeded but its JSON cannot be read.
    Output(String),
}

impl fmt::Display for ChildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChildError::Start(m) | ChildError::Output(m) => f.write_str(m),
            ChildError::Interrupted => f.write_str("interrupted"),
            ChildError::Exit { code, message } => write!(f, "exit code {code}: {message}"),
            ChildError::Signal { status, message } => {
                write!(f, "the child process was killed by a signal ({status}): {message}")
            }
        }
    }
}

impl std::error::Error for ChildError {}

/// Runs a child that writes `json`, with its stderr in a file beside it (`*.stderr.txt`),
/// polling so that Ctrl-C in the parent ([`crate::interrupt::requested`]) kills it at once; then
/// reads `json`.
///
/// # Errors
/// [`ChildError`]: not started, interrupted, failed (exit code or signal, with the line of its
/// stderr that says why), or no readable JSON.
pub fn run<T: DeserializeOwned>(cmd: Command, json: &Path) -> Result<T, ChildError> {
    run_logged(cmd, &json.with_extension("stderr.txt"))?;
    read_json(json).map_err(|e| ChildError::Output(e.to_string()))
}

/// As [`run`], for a child whose result is not a JSON file (`infer run -o out.npz`): its stderr
/// goes to `log_path`.
///
/// # Errors
/// As [`run`], apart from the JSON.
pub fn run_logged(mut cmd: Command, log_path: &Path) -> Result<(), ChildError> {
    let log = std::fs::File::create(log_path)
        .map_err(|e| ChildError::Start(format!("cannot create {}: {e}", log_path.display())))?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| ChildError::Start(format!("cannot start {}: {e}", Path::new(cmd.get_program()).display())))?;
    let status = loop {
        if crate::interrupt::requested() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(ChildError::Interrupted);
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(ChildError::Start(format!("cannot wait for the child process: {e}"))),
        }
    };
    if !status.success() {
        let message = failure_line(&std::fs::read_to_string(log_path).unwrap_or_default());
        return Err(match status.code() {
            Some(code) => ChildError::Exit { code, message },
            None => ChildError::Signal { status: status.to_string(), message },
        });
    }
    Ok(())
}

/// The line of a failed child's stderr that says why: the last one that is not part of a
/// backtrace or a progress display (`no message` when there is none).
#[must_use]
pub fn failure_line(stderr: &str) -> String {
    let noise = |l: &str| {
        let t = l.trim();
        t.is_empty()
            || l.starts_with(char::is_whitespace)
            || t.starts_with("stack backtrace")
            || t.starts_with("note: ")
            || t.starts_with("skipping backtrace")
            || t.starts_with("probing batch")
    };
    stderr.lines().rev().find(|l| !noise(l)).map_or_else(|| "no message".to_string(), |l| l.trim().to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use infer_measure::timing::Warmup;

    fn target() -> ChildTarget {
        ChildTarget {
            exe: "/bin/infer".into(),
            model: "/m/model.onnx".into(),
            backend: "onnx".into(),
            device: Device::Cuda(1),
            threads: 4,
        }
    }

    fn args(cmd: &Command) -> Vec<String> {
        cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn one_command_line_for_every_bench_child() {
        let compare = BenchJob {
            batch_sizes: vec![1, 8],
            config: BenchConfig { warmup: Warmup::AUTO, stop: Stop::Iterations(40) },
            reference: Some(("in.npy".into(), "out.npy".into())),
            ..BenchJob::default()
        };
        assert_eq!(
            args(&target().bench(&compare, Path::new("r.json"))).join(" "),
            "bench /m/model.onnx --backend onnx --device cuda:1 --threads 4 --batch-sizes 1,8 --warmup auto \
             --reference-input in.npy --reference-output out.npy --iterations 40 --quiet --json r.json"
        );
        let probe = BenchJob {
            batch_sizes: vec![16],
            config: BenchConfig { warmup: Warmup::Count(2), stop: Stop::Duration(Duration::from_micros(10)) },
            workload: Workload::positional(vec![3, 224]),
            memory_limit: Some(1 << 30),
            ..BenchJob::default()
        };
        assert_eq!(
            args(&target().bench(&probe, Path::new("p.json"))).join(" "),
            "bench /m/model.onnx --backend onnx --device cuda:1 --threads 4 --batch-sizes 16 --warmup 2 \
             --dims 3,224 --memory-limit 1073741824 --duration 1ms --quiet --json p.json"
        );
        let certified = BenchJob {
            batch_sizes: vec![8],
            config: BenchConfig {
                warmup: Warmup::AUTO,
                stop: Stop::Confidence(infer_measure::confidence::CiTarget {
                    p99: Some(0.05),
                    ..infer_measure::confidence::CiTarget::median(0.02, Duration::from_secs(10))
                }),
            },
            ..BenchJob::default()
        };
        assert_eq!(
            args(&target().bench(&certified, Path::new("c.json"))).join(" "),
            "bench /m/model.onnx --backend onnx --device cuda:1 --threads 4 --batch-sizes 8 --warmup auto \
             --target-ci 0.02 --max-time 10000ms --target-ci-p99 0.05 --quiet --json c.json"
        );
        let workload = Workload {
            dims: vec![infer_measure::workload::args::parse_dim_arg("sequence=128").unwrap()],
            int_ranges: vec![infer_measure::workload::args::parse_int_range("ids=0:7").unwrap()],
            ..Workload::default()
        };
        let profile = ProfileJob { batch_size: 8, runs: 5, warmup: 2, workload };
        assert_eq!(
            args(&target().profile(&profile, Path::new("q.json"))).join(" "),
            "profile /m/model.onnx --backend onnx --device cuda:1 --threads 4 --batch-size 8 --iterations 5 \
             --warmup 2 --dim sequence=128 --int-range ids=0:7 --json q.json"
        );
    }

    #[test]
    fn failures_become_errors_with_the_line_that_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("x.json");
        let sh = |script: &str| {
            let mut cmd = Command::new("sh");
            cmd.args(["-c", script]);
            cmd
        };
        let err = run::<u32>(sh("echo 'error: it broke' >&2; echo '   0: frame' >&2; exit 3"), &json).unwrap_err();
        assert_eq!(err.to_string(), "exit code 3: error: it broke");
        let err = run::<u32>(sh("kill -SEGV $$"), &json).unwrap_err();
        assert!(matches!(err, ChildError::Signal { .. }), "{err:?}");
        assert!(
            err.to_string().starts_with("the child process was killed by a signal (")
                && err.to_string().contains("SIGSEGV"),
            "{err}"
        );
        assert!(err.to_string().ends_with(": no message"), "{err}");
        let err = run::<u32>(sh("true"), &json).unwrap_err();
        assert!(matches!(&err, ChildError::Output(m) if m.contains("x.json")), "{err:?}");
        let script = format!("echo 42 > {}", json.display());
        assert_eq!(run::<u32>(sh(&script), &json).unwrap(), 42);
        let err = run::<u32>(Command::new(dir.path().join("missing")), &json).unwrap_err();
        assert!(
            matches!(&err, ChildError::Start(m) if m.starts_with("cannot start ") && m.contains("missing")),
            "{err:?}"
        );
    }

    #[test]
    fn failure_line_skips_backtraces() {
        let stderr = "memory allocation of 32000000 bytes failed\nstack backtrace:\n   0: foo\n             at x.rs:1\n\
                      note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.\n";
        assert_eq!(failure_line(stderr), "memory allocation of 32000000 bytes failed");
        assert_eq!(failure_line("error: onnx: Failed to allocate memory\n"), "error: onnx: Failed to allocate memory");
        assert_eq!(failure_line(""), "no message");
    }
}
