//! The PyTorch backend on the generated ResNets (`cargo xtask fixtures`): TorchScript (script and
//! trace) and every checkpoint variant loaded into the architecture reproduce PyTorch's eager
//! output; bad checkpoints and devices give errors that name what is wrong.
#![cfg(feature = "runtime")]
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use infer_core::{Backend, DType, Device, Error, LoadOptions, Session, Tensor, npy::read_npy};
use infer_torch::TorchBackend;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The fixture folder of `model`, with a clear message when it was not generated.
fn fixture(model: &str) -> (PathBuf, serde_json::Value) {
    let dir = root().join("fixtures/generated").join(model);
    let meta = dir.join("meta.json");
    assert!(meta.is_file(), "{} missing: run `cargo xtask fixtures`", meta.display());
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(meta).unwrap()).unwrap();
    assert!(
        meta["formats"]["torchscript"].is_object(),
        "{} predates the PyTorch formats: run `cargo xtask fixtures`",
        dir.display()
    );
    (dir, meta)
}

fn arch(name: &str) -> LoadOptions {
    LoadOptions { architecture: Some(name.into()), ..LoadOptions::default() }
}

/// Runs `session` on the fixture input; returns the max abs difference to the reference.
fn diff_to_reference(session: &mut dyn Session, dir: &Path) -> f64 {
    let x = read_npy(&dir.join("input.npy")).unwrap();
    let expected = read_npy(&dir.join("reference_torch.npy")).unwrap();
    let y = session.run(&[x]).unwrap();
    assert_eq!(y.len(), 1);
    y[0].max_abs_diff(&expected).unwrap()
}

#[test]
fn probe_reports_the_pinned_torch() {
    let info = TorchBackend.probe().unwrap();
    assert!(info.runtime_version.starts_with(infer_torch::REQUIRED_VERSION), "{}", info.runtime_version);
    assert!(info.devices.contains(&Device::Cpu));
    assert!(info.library.unwrap().is_file());
}

fn torchscript_matches(model: &str, params: u64) {
    let (dir, meta) = fixture(model);
    for format in ["torchscript", "torchscript_trace"] {
        let file = dir.join(meta["formats"][format]["file"].as_str().unwrap());
        let mut s = TorchBackend.load(&file, &LoadOptions::default()).unwrap();
        // Shapes come from the sidecar the fixture generator wrote.
        assert_eq!(s.inputs()[0].to_string(), "input: f32 [batch, 3, 224, 224]");
        assert_eq!(s.outputs()[0].to_string(), "logits: f32 [batch, 1000]");
        assert_eq!(s.device(), Device::Cpu);
        let p = s.parameters().unwrap();
        assert_eq!((p.count, p.bytes), (params, params * 4), "{format}");
        let diff = diff_to_reference(s.as_mut(), &dir);
        assert!(diff < 1e-4, "{model} {format}: max abs diff {diff}");
        // Batch 1 gives the first row of the reference.
        let x = read_npy(&dir.join("input.npy")).unwrap().slice_rows(0, 1).unwrap();
        let expected = read_npy(&dir.join("reference_torch.npy")).unwrap().slice_rows(0, 1).unwrap();
        assert!(s.run(&[x]).unwrap()[0].max_abs_diff(&expected).unwrap() < 1e-4);
    }
}

#[test]
fn resnet18_torchscript_script_and_trace_match_the_reference() {
    torchscript_matches("resnet18", 11_689_512);
}

#[test]
fn resnet50_torchscript_script_and_trace_match_the_reference() {
    torchscript_matches("resnet50", 25_557_032);
}

fn checkpoints_match(model: &str, params: u64) {
    let (dir, meta) = fixture(model);
    let variants: Vec<(&String, &serde_json::Value)> =
        meta["formats"].as_object().unwrap().iter().filter(|(_, e)| e["arch"] == model).collect();
    let names: Vec<&str> = variants.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), 5, "{names:?}");
    for (name, entry) in variants {
        let file = dir.join(entry["file"].as_str().unwrap());
        let mut s = TorchBackend.load(&file, &arch(model)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(s.inputs()[0].to_string(), "input: f32 [batch, 3, 224, 224]");
        assert_eq!(s.outputs()[0].to_string(), "logits: f32 [batch, 1000]");
        assert_eq!(s.parameters().unwrap().count, params);
        let diff = diff_to_reference(s.as_mut(), &dir);
        assert!(diff < 1e-4, "{model} {name}: max abs diff {diff}");
    }
}

#[test]
fn resnet18_every_checkpoint_variant_matches_the_reference() {
    checkpoints_match("resnet18", 11_689_512);
}

#[test]
fn resnet50_every_checkpoint_variant_matches_the_reference() {
    checkpoints_match("resnet50", 25_557_032);
}

#[test]
fn torchscript_and_checkpoint_agree_with_the_onnx_reference() {
    // The ONNX export of the same weights, as ONNX Runtime ran it when the fixture was made, is
    // within the tolerance of both torch paths. (The harness tests also run the onnx backend.)
    let (dir, meta) = fixture("resnet18");
    let onnx_diff = meta["max_abs_diff_onnxruntime_vs_torch"].as_f64().unwrap();
    assert!(onnx_diff < 1e-4);
    let x = read_npy(&dir.join("input.npy")).unwrap();
    let mut script = TorchBackend.load(&dir.join("model.torchscript.pt"), &LoadOptions::default()).unwrap();
    let mut ckpt = TorchBackend.load(&dir.join("state_dict.pth"), &arch("resnet18")).unwrap();
    let a = script.run(std::slice::from_ref(&x)).unwrap();
    let b = ckpt.run(&[x]).unwrap();
    assert!(a[0].max_abs_diff(&b[0]).unwrap() < 1e-4);
}

/// Writes `tensors` as a safetensors file.
fn write_safetensors(path: &Path, tensors: &[(String, Tensor)]) {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
        .iter()
        .map(|(n, t)| {
            let data: Vec<u8> = match t.dtype() {
                DType::F32 => t.as_slice::<f32>().unwrap().iter().flat_map(|v| v.to_le_bytes()).collect(),
                DType::I64 => t.as_slice::<i64>().unwrap().iter().flat_map(|v| v.to_le_bytes()).collect(),
                other => panic!("{other}"),
            };
            (n.clone(), data, t.shape().to_vec())
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bytes
        .iter()
        .zip(tensors)
        .map(|((n, d, s), (_, t))| {
            let dtype = if t.dtype() == DType::F32 { safetensors::Dtype::F32 } else { safetensors::Dtype::I64 };
            (n.clone(), safetensors::tensor::TensorView::new(dtype, s.clone(), d).unwrap())
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

#[test]
fn missing_unexpected_and_mismatched_keys_are_named() {
    let (dir, _) = fixture("resnet18");
    let mut tensors = infer_torch::checkpoint::read(&dir.join("weights.safetensors")).unwrap().tensors;
    tensors.retain(|(n, _)| n != "fc.bias");
    for (n, t) in &mut tensors {
        if n == "conv1.weight" {
            *n = "conv_1.weight".into();
        }
        if n == "layer1.0.conv1.weight" {
            *t = Tensor::zeros(DType::F32, vec![64, 64, 3, 1]).unwrap();
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.safetensors");
    write_safetensors(&bad, &tensors);
    let err = TorchBackend.load(&bad, &arch("resnet18")).err().unwrap().to_string();
    assert!(err.contains("bad.safetensors"), "{err}");
    assert!(err.contains("2 missing key(s): conv1.weight [64, 3, 7, 7], fc.bias [1000]"), "{err}");
    assert!(err.contains("1 unexpected key(s): conv_1.weight [64, 3, 7, 7]"), "{err}");
    assert!(err.contains("layer1.0.conv1.weight: checkpoint [64, 64, 3, 1], model [64, 64, 3, 3]"), "{err}");
}

#[test]
fn a_checkpoint_without_arch_is_a_clear_error() {
    let (dir, _) = fixture("resnet18");
    for f in ["state_dict.pth", "weights.safetensors"] {
        let err = TorchBackend.load(&dir.join(f), &LoadOptions::default()).err().unwrap().to_string();
        assert!(
            err.contains(f) && err.contains("this is a weights-only checkpoint; pass --arch resnet18|resnet50"),
            "{err}"
        );
    }
    // And a TorchScript file given with --arch is not a checkpoint.
    let err = TorchBackend.load(&dir.join("model.torchscript.pt"), &arch("resnet18")).err().unwrap().to_string();
    assert!(err.contains("TorchScript archive"), "{err}");
}

#[test]
fn cuda_is_a_clear_error_unless_fallback() {
    let gpus = TorchBackend.probe().unwrap().devices.iter().filter(|d| d.is_gpu()).count();
    let (dir, _) = fixture("resnet18");
    let model = dir.join("model.torchscript.pt");
    // One past the last GPU is never there, with or without GPUs.
    let opts = LoadOptions { device: Device::Cuda(gpus), ..LoadOptions::default() };
    let err = TorchBackend.load(&model, &opts).err().unwrap();
    assert!(matches!(err, Error::DeviceUnavailable { .. }), "{err}");
    assert!(err.to_string().contains("CUDA not available"), "{err}");
    let s = TorchBackend.load(&model, &LoadOptions { fallback_to_cpu: true, ..opts }).unwrap();
    assert_eq!(s.device(), Device::Cpu);
}

#[test]
fn cuda_runs_the_reference_when_a_gpu_is_present() {
    let gpus = TorchBackend.probe().unwrap().devices.iter().filter(|d| d.is_gpu()).count();
    if gpus == 0 {
        eprintln!("no CUDA device here: the CUDA run is checked on the GPU machine");
        return;
    }
    let (dir, _) = fixture("resnet18");
    let opts = LoadOptions { device: Device::Cuda(0), ..LoadOptions::default() };
    for (file, o) in [
        ("model.torchscript.pt", opts.clone()),
        ("weights.safetensors", LoadOptions { architecture: Some("resnet18".into()), ..opts }),
    ] {
        let mut s = TorchBackend.load(&dir.join(file), &o).unwrap();
        assert_eq!(s.device(), Device::Cuda(0));
        let diff = diff_to_reference(s.as_mut(), &dir);
        s.synchronize().unwrap();
        // cuDNN convolutions are not bit-identical to the CPU's; TF32 is off by default in torch.
        assert!(diff < 1e-3, "{file} on cuda:0: max abs diff {diff}");
    }
}

#[test]
fn threads_do_not_change_the_answer() {
    let (dir, _) = fixture("resnet18");
    let opts = LoadOptions { intra_threads: 1, inter_threads: 1, ..LoadOptions::default() };
    let mut s = TorchBackend.load(&dir.join("model.trace.pt"), &opts).unwrap();
    assert!(diff_to_reference(s.as_mut(), &dir) < 1e-4);
}

/// A `torch.save`-style archive whose pickle calls `posix.system` through `__reduce__`.
fn malicious_archive(command: &str) -> Vec<u8> {
    use std::io::Write;
    let mut pickle = b"\x80\x02}q\x00X\x0a\x00\x00\x00state_dictq\x01cposix\nsystem\nq\x02X".to_vec();
    pickle.extend(u32::try_from(command.len()).unwrap().to_le_bytes());
    pickle.extend(command.as_bytes());
    pickle.extend(b"q\x03\x85q\x04Rq\x05s.");
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in [("evil/data.pkl", &pickle[..]), ("evil/byteorder", b"little"), ("evil/version", b"3\n")] {
        zip.start_file(name, stored).unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[test]
fn a_malicious_pickle_is_refused_and_nothing_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let marker = tmp.path().join("pwned");
    let evil = tmp.path().join("evil.pth");
    std::fs::write(&evil, malicious_archive(&format!("touch {}", marker.display()))).unwrap();
    let err = TorchBackend.load(&evil, &arch("resnet18")).err().unwrap().to_string();
    assert!(err.contains("evil.pth") && err.contains("forbidden global `posix.system`"), "{err}");
    assert!(!marker.exists(), "the payload ran");
    // The payload is real: Python's pickle runs it (in the temporary folder).
    let python = root().join(".venv/bin/python");
    if python.is_file() {
        let status = std::process::Command::new(python)
            .args([
                "-c",
                "import sys, zipfile, pickle; pickle.loads(zipfile.ZipFile(sys.argv[1]).read('evil/data.pkl'))",
            ])
            .arg(&evil)
            .status()
            .unwrap();
        assert!(status.success());
        assert!(marker.exists(), "the crafted pickle is not a working exploit");
    }
}
