//! "Nothing measured is lost": a report that cannot be written leaves the previous one whole
//! (a read-only folder; a write that fails half-way, as on a full disk), and `infer run` writes
//! its predictions to a temporary file renamed into place at the end, so an interrupted run
//! leaves the previous predictions whole. (Ctrl-C in `compare` and `bench`: `bad_input.rs`; a
//! second Ctrl-C through `compare`, and SIGKILL at any moment of `compare` and `run`: below.)
#![allow(clippy::unwrap_used)]

mod support;

use std::{
    os::unix::{fs::PermissionsExt, process::CommandExt},
    path::Path,
    process::{Command, Output},
};

use support::{p, text};

/// Whether this process runs as root, for whom a folder's permissions do not stop a write.
fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).unwrap();
    uid.split_whitespace().nth(1) == Some("0")
}

/// `infer` with `args` as an unprivileged user: as root, as `nobody` (65534), whom permissions
/// do stop; otherwise as ourselves.
fn infer_unprivileged(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_infer"));
    cmd.args(args);
    if is_root() {
        cmd.uid(65534).gid(65534);
    }
    cmd.output().unwrap()
}

/// `infer` with `args` under a 512-byte file-size limit (`ulimit -f 1`, in 512-byte blocks) with
/// SIGXFSZ ignored: a write past 512 bytes fails (EFBIG), as a full disk fails a write.
fn infer_with_a_tiny_disk(args: &[&str]) -> Output {
    Command::new("sh")
        .args(["-c", "ulimit -f 1 && trap '' XFSZ && exec \"$0\" \"$@\"", env!("CARGO_BIN_EXE_infer")])
        .args(args)
        .output()
        .unwrap()
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

/// A failed command: exit code 1, no panic, one error line naming `file` and `needle`.
fn failed_naming(out: &Output, file: &str, needle: &str) {
    let (stdout, stderr) = text(out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains(file) && stderr.contains(needle), "stderr lacks `{file}` or `{needle}`:\n{stderr}");
}

/// A saved comparison to rebuild reports from, in a folder anyone can read.
fn saved_comparison(dir: &Path) -> std::path::PathBuf {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let json = dir.join("compare.json");
    infer_measure::results::write_json(&json, &support::comparison()).unwrap();
    json
}

#[test]
fn a_report_into_a_read_only_folder_leaves_the_old_one_whole() {
    let dir = tempfile::tempdir().unwrap();
    let json = saved_comparison(dir.path());
    let folder = dir.path().join("results");
    std::fs::create_dir(&folder).unwrap();
    let html = folder.join("report.html");
    std::fs::write(&html, b"<p>the old report</p>").unwrap();
    // The file itself may be written (so writing into it in place would succeed); its folder may not.
    std::fs::set_permissions(&html, std::fs::Permissions::from_mode(0o666)).unwrap();
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o555)).unwrap();
    let out = infer_unprivileged(&["report", p(&json), "-o", p(&html)]);
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
    failed_naming(&out, "report.html", "is not writable");
    assert_eq!(std::fs::read_to_string(&html).unwrap(), "<p>the old report</p>");
    assert_eq!(listing(&folder), ["report.html"]);
}

#[test]
fn a_report_write_that_fails_half_way_leaves_the_old_one_whole() {
    let dir = tempfile::tempdir().unwrap();
    let json = saved_comparison(dir.path());
    let folder = dir.path().join("results");
    std::fs::create_dir(&folder).unwrap();
    for (name, format) in [("report.html", "html"), ("report.md", "md")] {
        let report = folder.join(name);
        std::fs::write(&report, b"the old report").unwrap();
        let out = infer_with_a_tiny_disk(&["report", p(&json), "-o", p(&report), "--format", format]);
        failed_naming(&out, name, "the previous file, if any, is unchanged");
        assert!(text(&out).1.contains("File too large"), "{}", text(&out).1);
        assert_eq!(std::fs::read_to_string(&report).unwrap(), "the old report", "{name}");
    }
    // The control: without the limit the same reports are written, and are larger than it.
    for name in ["report.html", "report.md"] {
        let out = support::infer(&["report", p(&json), "-o", p(&folder.join(name))]);
        support::ok(&out);
        assert!(std::fs::metadata(folder.join(name)).unwrap().len() > 512, "{name}");
    }
    assert_eq!(listing(&folder), ["report.html", "report.md"], "no temporary file left behind");
}

/// `bench --json`: the measurement is done, then its report cannot be written; the old one stays.
#[cfg(installed_onnx)]
#[test]
fn a_bench_report_that_cannot_be_written_leaves_the_old_one_whole() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bench.json");
    std::fs::write(&json, b"{\"the\": \"old report\"}").unwrap();
    let model = support::tiny("tiny_cnn.onnx");
    let out = infer_with_a_tiny_disk(&["bench", p(&model), "--iterations", "3", "--warmup", "1", "--json", p(&json)]);
    failed_naming(&out, "bench.json", "the previous file, if any, is unchanged");
    assert_eq!(std::fs::read_to_string(&json).unwrap(), "{\"the\": \"old report\"}");
    assert_eq!(listing(dir.path()), ["bench.json"], "no temporary file left behind");
}

/// A folder of `n` small images for `infer run`.
#[cfg(installed_onnx)]
fn images(dir: &Path, n: u8) -> std::path::PathBuf {
    let folder = dir.join("images");
    std::fs::create_dir(&folder).unwrap();
    for i in 0..n {
        let img = image::RgbImage::from_fn(24, 16, |x, y| image::Rgb([x as u8 * 9, y as u8 * 13, i.wrapping_mul(37)]));
        img.save(folder.join(format!("img{i:03}.png"))).unwrap();
    }
    folder
}

/// A finished run replaces the old predictions with the whole new file, by a rename: nothing
/// else is left in the folder.
#[cfg(installed_onnx)]
#[test]
fn predictions_replace_the_old_file_whole() {
    let dir = tempfile::tempdir().unwrap();
    let folder = images(dir.path(), 7);
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let preds = out_dir.join("preds.csv");
    std::fs::write(&preds, b"the old predictions\n").unwrap();
    let model = support::tiny("tiny_cnn.onnx");
    let args = ["run", p(&model), p(&folder), "--batch-size", "3", "--top", "2", "--format", "csv"];
    support::ok(&support::infer(&[&args[..], &["--predictions", p(&preds)]].concat()));
    let csv = std::fs::read_to_string(&preds).unwrap();
    assert_eq!(csv.lines().count(), 1 + 7 * 2, "{csv}");
    assert!(csv.starts_with("file,rank,index,score,label\n") && csv.contains("img006.png,2,"), "{csv}");
    assert_eq!(listing(&out_dir), ["preds.csv"]);
}

/// Ctrl-C while `infer run` is classifying: exit code 130, the temporary file beside the target
/// removed, and the target still holds the old predictions, whole. (Also where the test runs with
/// Ctrl-C ignored, as a script's background job does: `run` installs its own handler.)
#[cfg(installed_onnx)]
#[test]
fn an_interrupted_run_leaves_the_old_predictions_whole() {
    let resnet = support::root().join("fixtures/generated/resnet18/model.onnx");
    assert!(resnet.is_file(), "{} missing: run `cargo xtask fixtures`", resnet.display());
    let dir = tempfile::tempdir().unwrap();
    // ResNet-18 one image at a time: seconds of work, so the interrupt lands in the middle.
    let folder = images(dir.path(), 150);
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let preds = out_dir.join("preds.jsonl");
    std::fs::write(&preds, b"the old predictions\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_infer"))
        .args(["run", p(&resnet), p(&folder), "--batch-size", "1", "--threads", "1", "--predictions", p(&preds)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The temporary file appears beside the target when the classification starts.
    let start = std::time::Instant::now();
    while listing(&out_dir).len() < 2 {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it was interrupted");
        assert!(start.elapsed() < std::time::Duration::from_secs(120), "no temporary file appeared");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let ok = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success();
    assert!(ok, "kill -INT failed");
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "the run was not stopped by the interrupt: {status:?}\n{stderr}");
    let said = format!("interrupted: the predictions were not written; {} is left as it was", preds.display());
    assert!(stderr.contains(&said), "{stderr}");
    assert_eq!(std::fs::read_to_string(&preds).unwrap(), "the old predictions\n");
    // The temporary file is removed on the way out.
    assert_eq!(listing(&out_dir), ["preds.jsonl"]);
}

/// Starts `infer ARGS` in a process group of its own (as a shell starts a job), output discarded.
/// Under a coverage run, the job's profile goes to `scratch`: a process killed while it writes its
/// profile at exit leaves a partial one, which the coverage tools cannot read.
#[cfg(installed_onnx)]
fn spawn_job(args: &[&str], scratch: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_infer"))
        .args(args)
        .env("LLVM_PROFILE_FILE", scratch.join("killed-%p.profraw"))
        .process_group(0)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Sends `signal` to process group `pgid` (`kill -SIG -PGID`), as a terminal's Ctrl-C does.
#[cfg(installed_onnx)]
fn signal_group(signal: &str, pgid: u32) {
    let ok = Command::new("kill").args([&format!("-{signal}"), "--", &format!("-{pgid}")]).status().unwrap();
    assert!(ok.success(), "kill -{signal} -{pgid} failed");
}

/// The processes still alive in process group `pgid` (from `/proc/*/stat`, zombies aside).
#[cfg(installed_onnx)]
fn alive_in_group(pgid: u32) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            // pid (comm) state ppid pgrp …: the fields after the command's closing parenthesis.
            let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields.first() != Some(&"Z") && fields.get(2) == Some(&pgid.to_string().as_str())
        })
        .collect()
}

/// Every report file of a comparison in `dir` that exists is whole: the JSON parses, the HTML
/// ends its document, the Markdown and CSV have their head. A kill can leave a temporary file
/// beside them, never a part of one under a final name.
#[cfg(installed_onnx)]
fn assert_reports_whole(dir: &Path, when: &str) {
    if let Ok(bytes) = std::fs::read(dir.join("compare.json")) {
        let v: serde_json::Value =
            serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{when}: compare.json: {e}"));
        assert!(v["entries"].is_array(), "{when}: {v}");
    }
    if let Ok(html) = std::fs::read_to_string(dir.join("compare.html")) {
        assert!(html.trim_end().ends_with("</html>"), "{when}: compare.html is cut");
    }
    if let Ok(md) = std::fs::read_to_string(dir.join("compare.md")) {
        assert!(md.starts_with('#') && md.contains("| backend"), "{when}: compare.md is cut");
    }
    if let Ok(csv) = std::fs::read_to_string(dir.join("compare.csv")) {
        assert!(csv.starts_with("backend,device,") && csv.ends_with('\n'), "{when}: compare.csv is cut");
    }
}

/// SIGKILL, which no handler sees, at many moments of `infer compare` (each row rewrites every
/// report file): whatever the moment, every file under its final name is whole, the previous
/// run's or one written after a finished row.
#[cfg(installed_onnx)]
#[test]
fn sigkill_at_any_moment_of_compare_leaves_whole_reports() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = support::tiny_fixture(dir.path());
    let out = dir.path().join("out");
    let quick = ["compare", p(&fixture), "-d", "cpu", "--batch-sizes", "1", "--iterations", "3", "--out", p(&out)];
    support::ok(&support::infer(&quick));
    assert_reports_whole(&out, "the first run");
    let long = [
        "compare",
        p(&fixture),
        "-d",
        "cpu",
        "--batch-sizes",
        "1,2,4,8",
        "--iterations",
        "300",
        "--rounds",
        "2",
        "--profile-runs",
        "0",
        "--out",
        p(&out),
    ];
    for delay_ms in [40, 120, 250, 400, 700, 1100, 1600, 2400] {
        let mut child = spawn_job(&long, dir.path());
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        signal_group("KILL", child.id());
        child.wait().unwrap();
        assert_reports_whole(&out, &format!("killed after {delay_ms} ms"));
    }
}

/// SIGKILL at many moments of `infer run --predictions`: the previous predictions stay whole.
#[cfg(installed_onnx)]
#[test]
fn sigkill_at_any_moment_of_run_leaves_the_old_predictions_whole() {
    let dir = tempfile::tempdir().unwrap();
    let folder = images(dir.path(), 120);
    let preds = dir.path().join("preds.csv");
    std::fs::write(&preds, b"the old predictions\n").unwrap();
    let model = support::tiny("tiny_cnn.onnx");
    let args = ["run", p(&model), p(&folder), "--batch-size", "1", "--format", "csv", "--predictions", p(&preds)];
    for delay_ms in [20, 60, 120, 200, 350] {
        let mut child = spawn_job(&args, dir.path());
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        signal_group("KILL", child.id());
        let status = child.wait().unwrap();
        let now = std::fs::read_to_string(&preds).unwrap();
        // Killed before the new file took the old one's name: the old file; after (finished, or
        // killed between the rename and the exit): the whole new one. Never a part of either.
        if status.success() || now != "the old predictions\n" {
            assert!(now.starts_with("file,rank,index,score,label\n"), "{delay_ms} ms: {now}");
            assert_eq!(now.lines().count(), 1 + 120 * 5, "{delay_ms} ms: {now}");
        }
    }
}

/// A second Ctrl-C through `infer compare` while a child measures, as a terminal sends it (to
/// the whole process group): everything stops at once, no child is left running, and the
/// report files are whole (the first row's).
#[cfg(installed_onnx)]
#[test]
fn a_second_ctrl_c_in_compare_stops_everything_at_once() {
    let resnet = support::root().join("fixtures/generated/resnet18");
    assert!(resnet.join("meta.json").is_file(), "{} missing: run `cargo xtask fixtures`", resnet.display());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // Two CPU rows of 30 s each: the interrupts land while the second child measures.
    let args = ["compare", p(&resnet), "-d", "cpu,cpu", "--batch-sizes", "1", "--warmup", "1", "--duration", "30s"];
    let mut child = spawn_job(&[&args[..], &["--profile-runs", "0", "--out", p(&out)]].concat(), dir.path());
    let pgid = child.id();
    let start = std::time::Instant::now();
    loop {
        let first_row = std::fs::read(out.join("compare.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v["entries"][0]["status"] == "ok");
        if first_row {
            break;
        }
        assert!(child.try_wait().unwrap().is_none(), "compare ended before the interrupts");
        assert!(start.elapsed() < std::time::Duration::from_secs(180), "no first row");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let sent = std::time::Instant::now();
    signal_group("INT", pgid);
    signal_group("INT", pgid);
    let status = child.wait().unwrap();
    // At once: far sooner than the 30 s the second child was to measure.
    assert!(sent.elapsed() < std::time::Duration::from_secs(10), "took {:?} to stop", sent.elapsed());
    assert!(!status.success(), "{status:?}");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(alive_in_group(pgid), Vec::<String>::new(), "a child outlived the second Ctrl-C");
    assert_reports_whole(&out, "after the second Ctrl-C");
}
