//! `benchmarks/gpu/run.sh --dry-run --quick` on this machine's CPU, with this build's `infer` and
//! `infer-torch-worker` as the bundle: every step the GPU machine will run (the fixtures checked by
//! the project's Python, `infer compare` with cpu and cuda:0 rows, the Python reference, the batch
//! sweep, the server scenario, the NVML sampler in its fake mode, the summary) must run and leave
//! at most 8 files under the output folder, as the device tool brings back. (Writing the fixtures
//! without TensorFlow, as there, takes minutes here: `run.sh --dry-run` without `--quick` does it.)
//!
//! Needs libtorch compiled in, the project's venv and the generated ResNet-18 and BERT (`cargo xtask
//! setup` and `cargo xtask fixtures`): without them the test says why and passes, except under
//! `cargo xtask test` (`INFER_REQUIRE_ALL_BACKENDS=1`), where it fails instead.
#![allow(clippy::unwrap_used)]

use std::{
    path::{Path, PathBuf},
    process::Command,
};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Why the dry run cannot run here, if it cannot.
fn missing() -> Option<String> {
    if !cfg!(installed_torch) {
        return Some("libtorch is not compiled in (run `cargo xtask setup`, then build again)".into());
    }
    let python = root().join(".venv/bin/python");
    if !python.is_file() {
        return Some(format!("{} is missing (run `cargo xtask setup`)", python.display()));
    }
    for model in MODELS {
        let meta = root().join("fixtures/generated").join(model).join("meta.json");
        if !meta.is_file() {
            return Some(format!("{} is missing (run `cargo xtask fixtures`)", meta.display()));
        }
    }
    for tool in ["bash", "timeout", "awk", "tar", "ldd"] {
        let found = Command::new("sh").args(["-c", &format!("command -v {tool}")]).output();
        if !found.is_ok_and(|o| o.status.success()) {
            return Some(format!("`{tool}` is not on PATH"));
        }
    }
    None
}

/// The models of `run.sh --quick`.
const MODELS: [&str; 2] = ["resnet18", "bert"];

/// A fixtures folder whose models link to every file of the generated ones: make_fixtures.py finds
/// them up to date and, were they not, would replace the links, never the project's files.
fn fixtures(dir: &Path) -> PathBuf {
    let fx = dir.join("fixtures");
    for model in MODELS {
        let to = fx.join(model);
        std::fs::create_dir_all(&to).unwrap();
        for e in std::fs::read_dir(root().join("fixtures/generated").join(model)).unwrap() {
            let e = e.unwrap();
            std::os::unix::fs::symlink(e.path().canonicalize().unwrap(), to.join(e.file_name())).unwrap();
        }
    }
    fx
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

#[test]
fn the_gpu_run_script_runs_every_step_on_the_cpu() {
    if let Some(why) = missing() {
        infer_conformance::skip("the_gpu_run_script_runs_every_step_on_the_cpu", &why);
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let bundle = Path::new(env!("CARGO_BIN_EXE_infer")).parent().unwrap();
    let run = Command::new("bash")
        .arg(root().join("benchmarks/gpu/run.sh"))
        .args(["--dry-run", "--quick", "--budget", "300", "--bundle"])
        .arg(bundle)
        .arg("--fixtures")
        .arg(fixtures(tmp.path()))
        .arg("--out")
        .arg(&out)
        .env_remove("OUT")
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "run.sh --dry-run failed ({}):\n{log}\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );

    // What comes back from the device: at most 8 files, no folder.
    let mut files: Vec<String> =
        std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(files, ["log.txt", "nvml.csv", "results.tar.gz", "summary.json", "summary.md"], "{log}");

    let s = json(&out.join("summary.json"));
    assert_eq!(s["dry_run"], true);
    let steps = s["steps"].as_array().unwrap();
    let names: Vec<&str> = steps.iter().map(|st| st["step"].as_str().unwrap()).collect();
    for step in ["backends", "fixtures", "compare resnet18", "python reference bert", "batch sweep resnet18"] {
        assert!(names.contains(&step), "no step `{step}` in {names:?}");
    }
    assert!(names.iter().filter(|n| n.starts_with("server ")).count() == 2, "two server rates: {names:?}");
    for st in steps {
        assert_eq!(st["status"], "ok", "{st}\n{log}");
    }
    // Every model has torch's CPU rows (wall time, no device time) and a cuda:0 row that says why
    // it is missing here.
    let rows = s["rows"].as_array().unwrap();
    for model in ["resnet18", "bert"] {
        for batch in [1, 2] {
            let r = rows
                .iter()
                .find(|r| {
                    r["model"] == model && r["backend"] == "torch" && r["device"] == "cpu" && r["batch_size"] == batch
                })
                .unwrap_or_else(|| panic!("no torch cpu row of {model} at batch {batch}: {rows:?}"));
            assert!(r["wall_median_ms"].as_f64().unwrap() > 0.0, "{r}");
            assert!(r["device_median_ms"].is_null() && r["device_memory"].is_null(), "{r}");
        }
        let cuda =
            rows.iter().find(|r| r["model"] == model && r["backend"] == "torch" && r["device"] == "cuda:0").unwrap();
        assert!(cuda["status"].as_str().unwrap().starts_with("unavailable: "), "{cuda}");
        // infer / Python at each batch size, on the wall clock.
        for batch in [1, 2] {
            let ratio = s["ratios"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["model"] == model && r["batch_size"] == batch)
                .unwrap_or_else(|| panic!("no infer/Python ratio of {model} at batch {batch}: {}", s["ratios"]));
            assert!(ratio["wall_ratio"].as_f64().is_some_and(|x| x > 0.0), "{ratio}");
        }
    }
    assert_eq!(s["batch_sweep"]["largest_fit"], 4, "{}", s["batch_sweep"]);
    assert_eq!(s["server"].as_array().unwrap().len(), 2);
    let nvml = std::fs::read_to_string(out.join("nvml.csv")).unwrap();
    assert!(nvml.contains("# source=fake") && nvml.lines().count() > 5, "{nvml}");
    assert!(std::fs::read_to_string(out.join("summary.md")).unwrap().contains("DRY RUN"));

    // The raw results.
    let raw = tmp.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    let untar = Command::new("tar").arg("xzf").arg(out.join("results.tar.gz")).arg("-C").arg(&raw).status().unwrap();
    assert!(untar.success());
    for f in [
        "compare-resnet18/compare.json",
        "compare-bert/compare.md",
        "reference-resnet18.json",
        "optimize.json",
        "steps.tsv",
        "fixtures-meta/bert.json",
    ] {
        assert!(raw.join(f).is_file(), "{f} is not in results.tar.gz");
    }
    // A CPU row's JSON has no device fields, but the timed span that NVML's samples are matched to.
    let c = json(&raw.join("compare-resnet18/compare.json"));
    let torch_cpu =
        c["entries"].as_array().unwrap().iter().find(|e| e["backend"] == "torch" && e["device"] == "cpu").unwrap();
    let row = &torch_cpu["report"]["rows"][0];
    assert!(row.get("device_time").is_none() && row.get("device_memory").is_none(), "{row}");
    assert_eq!(row["timed_unix_s"].as_array().unwrap().len(), 1, "{row}");
}
