//! The fleet report: `infer report a.json b.json -o fleet.html` puts results from two machines
//! side by side; headless Chromium must draw both. Results of different models or inputs are
//! refused unless `--allow-mixed`.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;

use infer_measure::{environment::Environment, results::comparison::Comparison, results::write_json};
use support::{browser, infer, ok, p, text};

/// Gives every fingerprint in `c` (the comparison's, each report's and each row's) this host,
/// CPU, GPU and model digest.
fn as_machine(c: &mut Comparison, host: &str, cpu: &str, gpu: bool, model_digest: &str) {
    let set = |e: &mut Environment| {
        e.host = host.into();
        e.cpu = cpu.into();
        e.gpus = if gpu {
            infer_measure::environment::parse_nvidia_smi("NVIDIA H200, 570.133.20, 143771 MiB")
        } else {
            Vec::new()
        };
        e.model_digest = Some(model_digest.into());
        e.inputs_digest = Some("sha256:1111".into());
    };
    set(&mut c.environment);
    for r in c.entries.iter_mut().filter_map(|e| e.report.as_mut()) {
        set(&mut r.environment);
        for row in &mut r.rows {
            set(&mut row.environment);
        }
    }
}

/// A comparison as measured on `host`, every latency scaled by `scale`, written to `path`.
fn save(path: &Path, host: &str, cpu: &str, gpu: bool, scale: f64, model_digest: &str) {
    let mut c = support::comparison();
    as_machine(&mut c, host, cpu, gpu, model_digest);
    for r in c.entries.iter_mut().filter_map(|e| e.report.as_mut()) {
        for row in &mut r.rows {
            let samples: Vec<f64> = row.samples_ms.iter().map(|v| v * scale).collect();
            let mut again = support::row(&r.backend, r.device, row.batch_size, samples);
            again.environment = row.environment.clone();
            *row = again;
        }
    }
    write_json(path, &c).unwrap();
}

/// Done means: two saved results with different fingerprints make one HTML page with both
/// machines, their plots and the ratio of the second to the first.
#[test]
fn fleet_report_of_two_machines_renders_both() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    save(&a, "cpu-box-01", "AMD EPYC 9B14", false, 1.0, "sha256:aaaa");
    save(&b, "gpu-box-07", "Intel Xeon Platinum 8480+", true, 0.5, "sha256:aaaa");
    let html = dir.path().join("fleet.html");
    ok(&infer(&["report", p(&a), p(&b), "-o", p(&html)]));

    let dom = browser::dom(&html);
    assert!(dom.contains("resnet18 on 2 machines"), "title");
    for name in ["cpu-box-01", "gpu-box-07", "AMD EPYC 9B14", "Intel Xeon Platinum 8480+", "NVIDIA H200"] {
        assert!(dom.contains(name), "{name} missing");
    }
    // 3 batch sizes: a box chart each; the bars; the throughput lines.
    assert_eq!(dom.matches("<svg").count(), 5);
    // 4 measured (backend, device) × 3 batch sizes × 2 machines.
    assert_eq!(dom.matches("class=\"mark box\"").count(), 4 * 3 * 2);
    assert_eq!(dom.matches("class=\"mark bar\"").count(), 4 * 3 * 2);
    assert_eq!(dom.matches("class=\"mark line\"").count(), 4 * 2);
    // Every row of the second machine is twice as fast as the first's.
    assert_eq!(dom.matches("0.50× (2.00× faster)").count(), 12, "one ratio per matched row");
    assert_eq!(dom.matches("1.00× (reference)").count(), 12);
    assert!(!dom.contains("<script") && !dom.contains("id=\"mixed\""));
    browser::screenshot(&html, &dir.path().join("fleet.png"));

    // The same as Markdown and CSV: one line per row and machine, with the machine column.
    let csv = dir.path().join("fleet.csv");
    ok(&infer(&["report", p(&a), p(&b), "-o", p(&csv)]));
    let body = std::fs::read_to_string(&csv).unwrap();
    assert!(body.starts_with("model,backend,device,batch,machine,median ms"), "{body}");
    assert_eq!(body.lines().count(), 1 + 24);
    assert_eq!(body.lines().filter(|l| l.contains(",gpu-box-07,")).count(), 12);
}

/// Different models are refused, naming both files, unless `--allow-mixed`, which says so on the
/// page.
#[test]
fn fleet_report_refuses_different_models_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    save(&a, "cpu-box-01", "AMD EPYC 9B14", false, 1.0, "sha256:aaaa");
    save(&b, "cpu-box-02", "AMD EPYC 9B14", false, 1.1, "sha256:bbbb");
    let html = dir.path().join("fleet.html");
    let out = infer(&["report", p(&a), p(&b), "-o", p(&html)]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not of the same workload") && stderr.contains("--allow-mixed"), "{stderr}");
    assert!(stderr.contains("a.json") && stderr.contains("b.json") && stderr.contains("model of onnx differs"));
    assert!(!html.exists());
    ok(&infer(&["report", p(&a), p(&b), "-o", p(&html), "--allow-mixed"]));
    let dom = browser::dom(&html);
    assert!(dom.contains("id=\"mixed\"") && dom.contains("model of torch differs"));
    assert!(dom.contains("cpu-box-01") && dom.contains("cpu-box-02"));
}

/// Two real `infer bench` runs of the tiny CNN, one relabelled as another host: their
/// fingerprints carry the host and the digests of the model file and of the inputs, and the fleet
/// report puts them side by side.
#[cfg(installed_onnx)]
#[test]
fn fleet_report_from_real_bench_runs() {
    use sha2::{Digest, Sha256};

    let dir = tempfile::tempdir().unwrap();
    let model = support::tiny("tiny_cnn.onnx");
    let mut files = Vec::new();
    for name in ["here", "there"] {
        let json = dir.path().join(format!("{name}.json"));
        ok(&infer(&[
            "bench",
            p(&model),
            "--batch-sizes",
            "1,4",
            "--iterations",
            "20",
            "--warmup",
            "2",
            "--json",
            p(&json),
        ]));
        files.push(json);
    }
    let mut there: serde_json::Value = serde_json::from_slice(&std::fs::read(&files[1]).unwrap()).unwrap();
    let here: serde_json::Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
    let env = &here["environment"];
    let digest = format!("sha256:{:x}", Sha256::digest(std::fs::read(&model).unwrap()));
    assert_eq!(env["model_digest"], digest.as_str(), "the digest of the model file's bytes");
    assert!(env["inputs_digest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(env["inputs_digest"], there["environment"]["inputs_digest"], "same inputs, same digest");
    let host = env["host"].as_str().unwrap().to_string();
    assert!(!host.is_empty());
    there["environment"]["host"] = "other-machine".into();
    write_json(&files[1], &there).unwrap();

    let html = dir.path().join("fleet.html");
    ok(&infer(&["report", p(&files[0]), p(&files[1]), "-o", p(&html)]));
    let dom = browser::dom(&html);
    assert!(dom.contains(&host) && dom.contains("other-machine"));
    assert_eq!(dom.matches("class=\"mark box\"").count(), 2 * 2, "2 batch sizes × 2 machines");
    assert_eq!(dom.matches("1.00× (reference)").count(), 2);
    assert!(dom.contains(&digest), "the fingerprints show the model digest");
}
