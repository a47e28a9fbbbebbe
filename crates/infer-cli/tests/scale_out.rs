//! Beyond one machine: `infer run --shard` as N local processes, `infer merge`, and the job
//! engine files under `deploy/` (the Kubernetes manifests against the Kubernetes schema, the
//! Slurm array script run locally with the variables Slurm would set).
#![allow(clippy::unwrap_used)]

mod support;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use support::{root, text};

/// The Python of the project's venv, if it can import `kubernetes_validate`; otherwise why not.
fn validator_python() -> Result<PathBuf, String> {
    let python = root().join(".venv/bin/python");
    if !python.is_file() {
        return Err(format!("no venv at {} (run `cargo xtask setup`)", python.display()));
    }
    let probe = Command::new(&python).args(["-c", "import kubernetes_validate, yaml"]).output().unwrap();
    if !probe.status.success() {
        return Err(format!(
            "{} cannot import kubernetes_validate (pinned in xtask/requirements.txt: run `cargo xtask setup`)",
            python.display()
        ));
    }
    Ok(python)
}

/// The Kubernetes manifests under `deploy/kubernetes`.
fn manifests() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("deploy/kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Validates `files` strictly (unknown fields are errors) against the Kubernetes schemas bundled
/// with `kubernetes-validate` (offline), of 1.33 (the first with `backoffLimitPerIndex` generally
/// available) and of the newest version it knows; returns every container's command, args and env per
/// file and resource, as JSON.
fn validate(python: &Path, files: &[PathBuf]) -> Result<serde_json::Value, String> {
    const SCRIPT: &str = r#"
import json, sys, yaml, kubernetes_validate
out = {}
for path in sys.argv[1:]:
    for doc in yaml.safe_load_all(open(path)):
        if doc is None:
            continue
        for version in ("1.33.0", kubernetes_validate.latest_version()):
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                print(f"{path}: {doc.get('kind')}/{doc['metadata']['name']} (Kubernetes {version}): {e.message} "
                      f"at {list(e.path)}", file=sys.stderr)
                sys.exit(1)
        spec = doc["spec"]
        pod = spec["template"]["spec"]
        out[doc["metadata"]["name"]] = {
            "completions": spec.get("completions"),
            "completionMode": spec.get("completionMode"),
            "containers": [{"command": c.get("command", []), "args": c.get("args", []),
                            "env": {e["name"]: e.get("value") for e in c.get("env", [])}}
                           for c in pod["containers"]],
        }
print(json.dumps(out))
"#;
    let out = Command::new(python).arg("-c").arg(SCRIPT).args(files).output().unwrap();
    let (stdout, stderr) = text(&out);
    if !out.status.success() {
        return Err(stderr);
    }
    Ok(serde_json::from_str(&stdout).unwrap())
}

/// The Kubernetes manifests are valid Jobs for the Kubernetes schema; a wrong field is caught.
#[test]
fn kubernetes_manifests_pass_the_schema_check() {
    let python = match validator_python() {
        Ok(p) => p,
        Err(why) => {
            infer_conformance::skip("kubernetes_manifests_pass_the_schema_check", &why);
            return;
        }
    };
    let files = manifests();
    assert_eq!(files.len(), 2, "{files:?}");
    let jobs = validate(&python, &files).unwrap();
    let shards = &jobs["infer-shards"];
    assert_eq!(shards["completionMode"], "Indexed");
    let n = shards["completions"].as_u64().unwrap();
    assert_eq!(shards["containers"][0]["env"]["SHARDS"], n.to_string(), "SHARDS must equal completions");
    assert!(jobs["infer-merge"]["containers"][0]["args"][0] == "merge");
    // The validator is not a rubber stamp: a misspelt field and a wrong type are refused.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&files[1]).unwrap();
    for (from, to, needle) in
        [("parallelism: 4", "paralelism: 4", "paralelism"), ("completions: 4", "completions: four", "four")]
    {
        let bad = dir.path().join("bad.yaml");
        assert!(text.contains(from));
        std::fs::write(&bad, text.replace(from, to)).unwrap();
        let err = validate(&python, &[bad]).unwrap_err();
        assert!(err.contains(needle), "{err}");
    }
}

/// The Slurm script parses, and refuses to start outside an array without `SHARD`.
#[test]
fn slurm_script_parses_and_needs_an_array_index() {
    let script = root().join("deploy/slurm/infer-shards.sbatch");
    let out = Command::new("bash").arg("-n").arg(&script).output().unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    let body = std::fs::read_to_string(&script).unwrap();
    assert!(body.contains("#SBATCH --array=0-3"), "an array job");
    let out = Command::new("bash")
        .arg(&script)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .envs([("MODEL", "m.onnx"), ("IMAGES", "images"), ("PREDICTIONS", "preds")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("SLURM_ARRAY_TASK_ID is not set"), "{}", text(&out).1);
    let out = Command::new("bash").arg(&script).env_clear().output().unwrap();
    assert!(!out.status.success() && text(&out).1.contains("MODEL"), "{}", text(&out).1);
}

#[cfg(installed_onnx)]
mod with_onnx {
    use std::{collections::BTreeMap, process::Output};

    use infer_measure::rng::SplitMix64;
    use support::{p, tiny};

    use super::*;

    /// `n` images of varied size, format and content (gradients, checkerboards, noise, flat
    /// colours, stripes), named so that directory order and sorted order differ.
    fn make_images(dir: &Path, n: usize, seed: u64) {
        std::fs::create_dir_all(dir).unwrap();
        let mut rng = SplitMix64::new(seed);
        for i in 0..n {
            let (w, h) = (8 + rng.below(57) as u32, 8 + rng.below(57) as u32);
            let c: [u8; 3] = [rng.below(256) as u8, rng.below(256) as u8, rng.below(256) as u8];
            let kind = rng.below(5);
            let cell = 1 + rng.below(8) as u32;
            let mut noise = SplitMix64::new(seed ^ (i as u64 + 1));
            let img = image::RgbImage::from_fn(w, h, |x, y| {
                let v = match kind {
                    0 => [(x * 255 / w) as u8, (y * 255 / h) as u8, c[2]],
                    1 if (x / cell + y / cell).is_multiple_of(2) => c,
                    1 => [255 - c[0], 255 - c[1], 255 - c[2]],
                    2 => [noise.below(256) as u8, noise.below(256) as u8, noise.below(256) as u8],
                    3 => c,
                    _ => [c[0], if (x / cell).is_multiple_of(2) { 0 } else { 255 }, (x * y % 256) as u8],
                };
                image::Rgb(v)
            });
            // Names that sort differently from creation order; a sub-folder is not listed.
            let ext = ["png", "jpg", "bmp"][i % 3];
            img.save(dir.join(format!("{:03}-{}.{ext}", (i * 37) % n, i))).unwrap();
        }
    }

    /// One prediction row: (file, rank) → (class index, score).
    type Rows = BTreeMap<(String, u32), (u64, f64)>;

    /// Reads CSV predictions, stripping `prefix` from the file names, keeping the file order.
    fn read_csv(path: &Path, prefix: &str) -> (Vec<String>, Rows) {
        let mut order: Vec<String> = Vec::new();
        let mut rows = Rows::new();
        let mut reader = csv::Reader::from_path(path).unwrap();
        assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), ["file", "rank", "index", "score", "label"]);
        for r in reader.records() {
            let r = r.unwrap();
            let file = r[0].strip_prefix(prefix).unwrap_or(&r[0]).to_string();
            if order.last() != Some(&file) {
                order.push(file.clone());
            }
            rows.insert((file, r[1].parse().unwrap()), (r[2].parse().unwrap(), r[3].parse().unwrap()));
        }
        (order, rows)
    }

    /// The merged predictions hold exactly the single run's inputs in the same order, the same
    /// top-1 class, and every score within 1e-5.
    fn assert_same_predictions(single: &(Vec<String>, Rows), merged: &(Vec<String>, Rows)) {
        assert_eq!(single.0, merged.0, "the same inputs in the same order");
        assert_eq!(single.1.len(), merged.1.len());
        for (key, (index, score)) in &single.1 {
            let (m_index, m_score) = merged.1.get(key).unwrap_or_else(|| panic!("{key:?} missing"));
            if key.1 == 1 {
                assert_eq!(index, m_index, "top-1 of {}", key.0);
            }
            assert!((score - m_score).abs() <= 1e-5, "{key:?}: {score} vs {m_score}");
        }
    }

    fn infer_env<S: AsRef<std::ffi::OsStr>>(args: &[S], env: &[(&str, &str)]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_infer")).args(args).envs(env.iter().copied()).output().unwrap()
    }

    /// `infer run` of the tiny CNN on shard `shard` of `images` into `preds`, CSV, top 3.
    fn shard_args(images: &Path, preds: &Path, shard: &str) -> Vec<String> {
        let model = tiny("tiny_cnn.onnx");
        [
            "run",
            p(&model),
            p(images),
            "--shard",
            shard,
            "--predictions",
            p(preds),
            "--format",
            "csv",
            "--batch-size",
            "8",
            "--top",
            "3",
        ]
        .map(String::from)
        .to_vec()
    }

    /// `args` and one more.
    fn with(mut args: Vec<String>, extra: &str) -> Vec<String> {
        args.push(extra.into());
        args
    }

    fn file_state(path: &Path) -> (Vec<u8>, std::time::SystemTime) {
        (std::fs::read(path).unwrap(), std::fs::metadata(path).unwrap().modified().unwrap())
    }

    /// Done means: 4 shards as 4 local processes over 200 generated images merge to the single
    /// run's predictions; a killed and a removed shard are named by `merge` and fixed by
    /// re-running only them, while complete shards are kept.
    #[test]
    fn four_shards_merge_to_the_single_run_and_a_lost_shard_is_rerun_alone() {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("images");
        make_images(&images, 200, 16);
        std::fs::create_dir(images.join("not-an-input")).unwrap();
        let single_csv = dir.path().join("single.csv");
        let out = infer_env(
            &[
                "run",
                p(&tiny("tiny_cnn.onnx")),
                p(&images),
                "--format",
                "csv",
                "--batch-size",
                "8",
                "--top",
                "3",
                "--predictions",
                p(&single_csv),
            ],
            &[],
        );
        assert!(out.status.success(), "{}", text(&out).1);
        let single = read_csv(&single_csv, &format!("{}/", images.display()));
        assert_eq!(single.0.len(), 200);

        // Four processes at once, as a job engine would start them.
        let preds = dir.path().join("preds");
        let children: Vec<_> = (0..4)
            .map(|i| {
                let shard = format!("{i}/4");
                Command::new(env!("CARGO_BIN_EXE_infer"))
                    .args(shard_args(&images, &preds, &shard))
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", text(&out).1);
        }
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(preds.join("shard-1-of-4.manifest.json")).unwrap()).unwrap();
        assert_eq!((manifest["shard"].as_u64(), manifest["shards"].as_u64()), (Some(1), Some(4)));
        assert_eq!(manifest["inputs_total"], 200);
        assert_eq!(manifest["inputs"].as_array().unwrap().len(), 50, "balanced: 200 / 4");
        assert_eq!(manifest["inputs"][0], single.0[50].as_str(), "the second quarter in sorted order");
        assert!(manifest["inputs_digest"].as_str().unwrap().starts_with("sha256:"));

        let merged_csv = dir.path().join("merged.csv");
        let out = infer_env(&["merge", p(&preds), "-o", p(&merged_csv)], &[]);
        assert!(out.status.success(), "{}", text(&out).1);
        assert!(text(&out).1.contains("merged 4 shards: 200 of 200 image(s)"), "{}", text(&out).1);
        let merged = read_csv(&merged_csv, "");
        assert_same_predictions(&single, &merged);
        let merged_bytes = std::fs::read(&merged_csv).unwrap();

        // Shard 2 is killed while redoing its work; shard 3's output is removed.
        let out = infer_env(
            &with(shard_args(&images, &preds, "2/4"), "--overwrite"),
            &[("INFER_TEST_KILL_AFTER_BATCHES", "1")],
        );
        assert!(!out.status.success(), "the hook kills it");
        for f in ["shard-3-of-4.csv", "shard-3-of-4.manifest.json"] {
            std::fs::remove_file(preds.join(f)).unwrap();
        }
        let out = infer_env(&["merge", p(&preds), "-o", p(&merged_csv)], &[]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            stderr.contains("shard 2/4: its manifest is missing") && stderr.contains("shard 3/4: it has no output"),
            "{stderr}"
        );
        assert!(stderr.contains("--shard 2/4, --shard 3/4"), "{stderr}");
        assert_eq!(std::fs::read(&merged_csv).unwrap(), merged_bytes, "a failed merge leaves the old output");

        // Re-running every shard redoes only the lost ones: complete shards are kept as they are.
        let kept: Vec<_> = [0, 1].iter().map(|i| file_state(&preds.join(format!("shard-{i}-of-4.csv")))).collect();
        for i in 0..4 {
            let out = infer_env(&shard_args(&images, &preds, &format!("{i}/4")), &[]);
            let (_, stderr) = text(&out);
            assert!(out.status.success(), "{stderr}");
            assert_eq!(stderr.contains("is complete (50 inputs); kept"), i < 2, "shard {i}: {stderr}");
        }
        for (i, before) in kept.iter().enumerate() {
            assert_eq!(&file_state(&preds.join(format!("shard-{i}-of-4.csv"))), before, "shard {i} untouched");
        }
        let out = infer_env(&["merge", p(&preds), "-o", p(&merged_csv)], &[]);
        assert!(out.status.success(), "{}", text(&out).1);
        assert_same_predictions(&single, &read_csv(&merged_csv, ""));
    }

    /// What `merge` refuses: other settings in one shard, a changed predictions file, another
    /// split in the same folder, an output of the wrong format; what `run` refuses to overwrite.
    #[test]
    fn merge_and_rerun_refuse_inconsistent_shards() {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("images");
        make_images(&images, 10, 3);
        let preds = dir.path().join("preds");
        for i in 0..2 {
            let out = infer_env(&shard_args(&images, &preds, &format!("{i}/2")), &[]);
            assert!(out.status.success(), "{}", text(&out).1);
        }
        let merged = dir.path().join("m.jsonl");
        let out = infer_env(&["merge", p(&preds), "-o", p(&merged)], &[]);
        assert!(!out.status.success() && text(&out).1.contains("name the output .csv"), "{}", text(&out).1);

        // Other settings for the same shard: refused unless --overwrite.
        let mut args = shard_args(&images, &preds, "1/2");
        *args.last_mut().unwrap() = "2".into();
        let out = infer_env(&args, &[]);
        let (_, stderr) = text(&out);
        assert!(!out.status.success() && stderr.contains("shard-1-of-2.manifest.json"), "{stderr}");
        assert!(stderr.contains("other settings") && stderr.contains("--overwrite"), "{stderr}");
        let out = infer_env(&with(args, "--overwrite"), &[]);
        assert!(out.status.success(), "{}", text(&out).1);
        let merged = dir.path().join("m.csv");
        let out = infer_env(&["merge", p(&preds), "-o", p(&merged)], &[]);
        let (_, stderr) = text(&out);
        assert!(!out.status.success() && stderr.contains("shard 1/2: it was made from other settings"), "{stderr}");

        // A predictions file changed after its manifest: that shard is to be re-run.
        let out = infer_env(&with(shard_args(&images, &preds, "1/2"), "--overwrite"), &[]);
        assert!(out.status.success(), "{}", text(&out).1);
        let f = preds.join("shard-0-of-2.csv");
        let body = std::fs::read_to_string(&f).unwrap();
        std::fs::write(&f, &body[..body.len() / 2]).unwrap();
        let out = infer_env(&["merge", p(&preds), "-o", p(&merged)], &[]);
        let (_, stderr) = text(&out);
        assert!(stderr.contains("shard 0/2: shard-0-of-2.csv does not match its manifest"), "{stderr}");
        let out = infer_env(&shard_args(&images, &preds, "0/2"), &[]);
        assert!(out.status.success() && !text(&out).1.contains("kept"), "a changed output is redone");
        let out = infer_env(&["merge", p(&preds), "-o", p(&merged)], &[]);
        assert!(out.status.success(), "{}", text(&out).1);

        // Another split in the same folder.
        let out = infer_env(&shard_args(&images, &preds, "0/3"), &[]);
        assert!(out.status.success(), "{}", text(&out).1);
        let out = infer_env(&["merge", p(&preds), "-o", p(&merged)], &[]);
        assert!(text(&out).1.contains("different splits (N = 2 and 3)"), "{}", text(&out).1);

        // Bad --shard values and missing pieces are one-line errors.
        for (shard, needle) in [("2/2", "not below"), ("x", "invalid --shard `x`"), ("auto/2", "JOB_COMPLETION_INDEX")]
        {
            let out = infer_env(&shard_args(&images, &preds, shard), &[]);
            assert!(!out.status.success() && text(&out).1.contains(needle), "{shard}: {}", text(&out).1);
        }
        let out = infer_env(&["merge", p(&images), "-o", p(&merged)], &[]);
        assert!(text(&out).1.contains("no shard output"), "{}", text(&out).1);
    }

    /// The Slurm array script, run as Slurm would run `--array=1-4` (IDs 1..4, made 0-based),
    /// gives the same merged predictions as four `--shard I/4` runs; SHARD re-runs one alone.
    #[test]
    fn slurm_script_runs_locally_as_an_array() {
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("images");
        make_images(&images, 30, 7);
        let by_hand = dir.path().join("by-hand");
        for i in 0..4 {
            let out = infer_env(&shard_args(&images, &by_hand, &format!("{i}/4")), &[]);
            assert!(out.status.success(), "{}", text(&out).1);
        }
        let expected = dir.path().join("expected.csv");
        assert!(infer_env(&["merge", p(&by_hand), "-o", p(&expected)], &[]).status.success());

        let script = root().join("deploy/slurm/infer-shards.sbatch");
        let preds = dir.path().join("slurm");
        let run = |extra: &[(&str, &str)]| {
            Command::new("bash")
                .arg(&script)
                .envs([
                    ("INFER", env!("CARGO_BIN_EXE_infer")),
                    ("MODEL", p(&tiny("tiny_cnn.onnx"))),
                    ("IMAGES", p(&images)),
                    ("PREDICTIONS", p(&preds)),
                    ("BATCH_SIZE", "8"),
                    ("INFER_ARGS", "--top 3"),
                ])
                // The same threads as the runs by hand, so the bytes agree.
                .env_remove("SLURM_CPUS_PER_TASK")
                .envs(extra.iter().copied())
                .output()
                .unwrap()
        };
        for id in ["1", "2", "3", "4"] {
            let out =
                run(&[("SLURM_ARRAY_TASK_ID", id), ("SLURM_ARRAY_TASK_MIN", "1"), ("SLURM_ARRAY_TASK_COUNT", "4")]);
            let (_, stderr) = text(&out);
            assert!(out.status.success(), "{stderr}");
            let index = id.parse::<usize>().unwrap() - 1;
            assert!(
                stderr.contains(&format!("shard {index}/4 (SLURM_ARRAY_TASK_ID={id} - SLURM_ARRAY_TASK_MIN=1)")),
                "{stderr}"
            );
        }
        let merged = dir.path().join("merged.csv");
        let out = infer_env(&["merge", p(&preds), "-o", p(&merged)], &[]);
        assert!(out.status.success(), "{}", text(&out).1);
        assert_eq!(std::fs::read(&merged).unwrap(), std::fs::read(&expected).unwrap());
        // The shard `merge` names, re-run alone outside the array.
        std::fs::remove_file(preds.join("shard-2-of-4.manifest.json")).unwrap();
        assert!(!infer_env(&["merge", p(&preds), "-o", p(&merged)], &[]).status.success());
        let out = run(&[("SHARD", "2/4")]);
        assert!(out.status.success(), "{}", text(&out).1);
        assert!(infer_env(&["merge", p(&preds), "-o", p(&merged)], &[]).status.success());
        assert_eq!(std::fs::read(&merged).unwrap(), std::fs::read(&expected).unwrap());
    }

    /// The Indexed Job's container command, run locally once per completion index with the
    /// variable Kubernetes sets (paths in its env replaced by local ones), then the merge Job's.
    #[test]
    fn kubernetes_job_commands_run_locally() {
        let python = match validator_python() {
            Ok(p) => p,
            Err(why) => {
                infer_conformance::skip("kubernetes_job_commands_run_locally", &why);
                return;
            }
        };
        let jobs = validate(&python, &manifests()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let images = dir.path().join("images");
        make_images(&images, 21, 11);
        let local: BTreeMap<&str, String> = [
            ("MODEL", tiny("tiny_cnn.onnx").display().to_string()),
            ("IMAGES", images.display().to_string()),
            ("PREDICTIONS", dir.path().join("preds").display().to_string()),
            ("OUTPUT", dir.path().join("predictions.csv").display().to_string()),
        ]
        .into_iter()
        .collect();
        // `$(VAR)` is expanded by Kubernetes from the container's env.
        let command = |container: &serde_json::Value| -> Vec<String> {
            let env = container["env"].as_object().unwrap();
            let value = |k: &str| local.get(k).cloned().unwrap_or_else(|| env[k].as_str().unwrap().to_string());
            let mut words: Vec<String> =
                container["command"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().into()).collect();
            words.extend(container["args"].as_array().unwrap().iter().map(|a| {
                let mut a = a.as_str().unwrap().to_string();
                for k in env.keys() {
                    a = a.replace(&format!("$({k})"), &value(k));
                }
                a
            }));
            assert_eq!(words[0], "infer");
            words
        };
        let shards = &jobs["infer-shards"];
        let n = shards["completions"].as_u64().unwrap();
        let words = command(&shards["containers"][0]);
        for index in 0..n {
            let out = Command::new(env!("CARGO_BIN_EXE_infer"))
                .args(&words[1..])
                .env("JOB_COMPLETION_INDEX", index.to_string())
                .output()
                .unwrap();
            let (_, stderr) = text(&out);
            assert!(out.status.success(), "{words:?}: {stderr}");
            assert!(stderr.contains(&format!("shard {index}/{n} (JOB_COMPLETION_INDEX={index})")), "{stderr}");
        }
        let words = command(&jobs["infer-merge"]["containers"][0]);
        let out = Command::new(env!("CARGO_BIN_EXE_infer")).args(&words[1..]).output().unwrap();
        let (_, stderr) = text(&out);
        assert!(out.status.success(), "{words:?}: {stderr}");
        assert!(stderr.contains(&format!("merged {n} shards: 21 of 21 image(s)")), "{stderr}");
        let csv = std::fs::read_to_string(&local["OUTPUT"]).unwrap();
        assert_eq!(csv.lines().count(), 1 + 21 * 5, "top 5 per image");
    }
}
