//! The PyTorch backend on the generated ResNets (`cargo xtask fixtures`): TorchScript (script and
//! trace) and every checkpoint variant loaded into the architecture reproduce PyTorch's eager
//! output; bad checkpoints and devices give errors that name what is wrong; libtorch's profiler
//! reports the ops of each run by self time.
#![cfg(any(feature = "runtime", infer_libtorch))]
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use infer_core::{
    Backend, DType, Device, Error, LoadOptions, Session, Tensor,
    npy::read_npy,
    profile::{OpEvent, OpProfile},
};
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
    LoadOptions::default().with_option("arch", name)
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
    assert!(info.runtime_version.starts_with(infer_torch::RUNTIME.version()), "{}", info.runtime_version);
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
        let p = s.info().parameters.unwrap();
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
        assert_eq!(s.info().parameters.unwrap().count, params);
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

/// The two ways into libtorch, TorchScript and a checkpoint loaded into tch's own ResNet, give
/// the same logits. (ONNX Runtime against libtorch on the same weights is run by the harness's
/// `torch_cli.rs`, `onnx_and_torch_agree_on_the_same_weights`, where both backends are built.)
#[test]
fn torchscript_and_checkpoint_agree_with_each_other() {
    let (dir, _) = fixture("resnet18");
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

/// On a GPU: TorchScript and a checkpoint reproduce the reference on cuda:0. Run on the GPU
/// machine with `cargo test -- --ignored`.
#[test]
#[ignore = "needs a CUDA device"]
fn cuda_runs_the_reference_on_a_gpu() {
    let devices = TorchBackend.probe().unwrap().devices;
    assert!(devices.contains(&Device::Cuda(0)), "libtorch sees no cuda:0 here (devices: {devices:?})");
    let (dir, _) = fixture("resnet18");
    let opts = LoadOptions { device: Device::Cuda(0), ..LoadOptions::default() };
    for (file, o) in
        [("model.torchscript.pt", opts.clone()), ("weights.safetensors", opts.clone().with_option("arch", "resnet18"))]
    {
        let mut s = TorchBackend.load(&dir.join(file), &o).unwrap();
        assert_eq!(s.device(), Device::Cuda(0));
        // libtorch's own default allows TF32 for cuDNN convolutions; infer turns it off unless
        // `--option tf32=on`, so the difference is that of full-float32 kernels only.
        let off = [("tf32_matmul", "off"), ("tf32_cudnn", "off")].map(|(k, v)| (k.to_string(), v.to_string()));
        assert_eq!(s.info().settings.clone(), off.to_vec());
        let diff = diff_to_reference(s.as_mut(), &dir);
        s.synchronize().unwrap();
        // cuDNN convolutions are not bit-identical to the CPU's (other algorithms and orders of
        // summation), but without TF32 they stay within float32 rounding of it.
        assert!(diff < 1e-3, "{file} on cuda:0: max abs diff {diff}");
        // The CUDA events of that call: a positive time, read once.
        let device = s.device_time().unwrap().expect("a device time on cuda:0");
        assert!(device > 0.0 && device < 10.0, "{file}: device time {device} s");
        assert_eq!(s.device_time().unwrap(), None, "{file}: a call's device time is read once");
        let memory = s.device_memory().expect("allocator figures on cuda:0");
        let (allocated, reserved) = (memory.allocated.unwrap(), memory.reserved.unwrap());
        assert!(allocated > 0 && reserved >= allocated, "{file}: {memory:?}");
    }
}

/// On the CPU a session has no device timer and no device allocator: the row fields they fill
/// stay absent.
#[test]
fn the_cpu_has_no_device_time_or_device_memory() {
    let (dir, _) = fixture("resnet18");
    let mut s = TorchBackend.load(&dir.join("model.torchscript.pt"), &LoadOptions::default()).unwrap();
    let _ = diff_to_reference(s.as_mut(), &dir);
    assert_eq!(s.device_time().unwrap(), None);
    assert_eq!(s.device_memory(), None);
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

/// Held by the tests that profile: libtorch's Kineto profiler is one per process.
static PROFILER: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn profiler_lock() -> std::sync::MutexGuard<'static, ()> {
    PROFILER.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Loads `file` with the profiler on, runs it `runs` times on the fixture input and returns the
/// profile with the inclusive time of each run's `infer::run#N` scope, read from libtorch's own
/// Chrome trace (the same clock as the events).
fn profile_runs(file: &Path, opts: LoadOptions, prefix: &Path, runs: usize) -> (OpProfile, Vec<f64>) {
    let (dir, _) = fixture("resnet18");
    let opts = LoadOptions { profile_prefix: Some(prefix.to_path_buf()), ..opts };
    let mut s = TorchBackend.load(file, &opts).unwrap();
    let x = read_npy(&dir.join("input.npy")).unwrap();
    for _ in 0..runs {
        s.run(std::slice::from_ref(&x)).unwrap();
    }
    let p = s.op_profile().unwrap();
    let mut trace = prefix.as_os_str().to_owned();
    trace.push("_libtorch_trace.json");
    let trace: serde_json::Value = serde_json::from_slice(&std::fs::read(&trace).unwrap()).unwrap();
    let scope_us = (0..runs)
        .map(|r| {
            let name = format!("infer::run#{r}");
            let scope = trace["traceEvents"].as_array().unwrap().iter().find(|e| e["name"] == name.as_str());
            scope.and_then(|e| e["dur"].as_f64()).unwrap_or_else(|| panic!("no {name} with a duration in the trace"))
        })
        .collect();
    (p, scope_us)
}

/// Per run: calls of `op_type`.
fn calls_per_run(p: &OpProfile, op_type: &str) -> Vec<usize> {
    (0..p.runs).map(|r| p.events.iter().filter(|e| e.run == Some(r) && e.op_type == op_type).count()).collect()
}

/// Every event is in a run, every run has events, nodes are unique within a run, and the self
/// times of a run add up to at most the run's own scope on the profiler's clock. Inclusive times
/// could not: conv2d holds convolution, which holds _convolution, which holds
/// mkldnn_convolution, so each convolution would count about four times over.
fn check_runs(p: &OpProfile, scope_us: &[f64]) {
    assert_eq!(p.runs, scope_us.len() as u64);
    for (r, scope) in scope_us.iter().enumerate() {
        let run: Vec<&OpEvent> = p.events.iter().filter(|e| e.run == Some(r as u64)).collect();
        assert!(!run.is_empty(), "run {r} has no events");
        let nodes: std::collections::HashSet<&str> = run.iter().map(|e| e.node.as_str()).collect();
        assert_eq!(nodes.len(), run.len(), "run {r}: a node appears twice");
        let total: f64 = run.iter().map(|e| e.duration_us).sum();
        // The trace rounds to the microsecond or finer; the events are in nanoseconds.
        assert!(total > 0.0 && total <= scope + 1.0, "run {r}: {total} us of ops in a {scope} us run");
        assert!(run.iter().all(|e| e.calls == 1 && e.duration_us.is_finite() && e.duration_us <= scope + 1.0));
    }
    assert!(p.events.iter().all(|e| e.run.is_some_and(|r| r < p.runs)));
}

#[test]
fn profile_reports_resnet18_ops_by_self_time_and_run() {
    let _lock = profiler_lock();
    let (dir, _) = fixture("resnet18");
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("torch");
    let (p, scope_us) = profile_runs(&dir.join("model.torchscript.pt"), LoadOptions::default(), &prefix, 3);
    assert_eq!(p.backend, "torch");
    assert!(p.source.contains("Kineto") && p.source.contains(infer_torch::RUNTIME.version()), "{}", p.source);
    check_runs(&p, &scope_us);
    // ResNet-18's 20 convolutions (17 3x3/7x7 and 3 1x1 downsamples), each run, each level.
    for op in ["aten::conv2d", "aten::convolution", "aten::_convolution", "aten::mkldnn_convolution"] {
        assert_eq!(calls_per_run(&p, op), [20, 20, 20], "{op}");
    }
    assert_eq!(calls_per_run(&p, "aten::addmm"), [1, 1, 1]);
    // Nodes carry the TorchScript module path; BasicBlock's one ReLU module runs twice.
    let nodes: Vec<&str> = p.events.iter().filter(|e| e.run == Some(2)).map(|e| e.node.as_str()).collect();
    for node in [
        "conv1/aten::conv2d",
        "layer4.1.conv2/aten::mkldnn_convolution",
        "layer2.0.downsample.0/aten::conv2d",
        "layer1.0.relu/aten::relu_",
        "layer1.0.relu/aten::relu_#1",
        "fc/aten::addmm",
    ] {
        assert!(nodes.contains(&node), "{node} missing from {nodes:?}");
    }
    // libtorch's own Chrome trace is kept beside the prefix.
    let trace = tmp.path().join("torch_libtorch_trace.json");
    let trace: serde_json::Value = serde_json::from_slice(&std::fs::read(trace).unwrap()).unwrap();
    assert!(trace["traceEvents"].as_array().unwrap().iter().any(|e| e["name"] == "infer::run#2"));
}

#[test]
fn profile_of_an_architecture_names_ops_by_call_index() {
    let _lock = profiler_lock();
    let (dir, _) = fixture("resnet18");
    let tmp = tempfile::tempdir().unwrap();
    let (p, scope_us) = profile_runs(&dir.join("weights.safetensors"), arch("resnet18"), &tmp.path().join("t"), 2);
    check_runs(&p, &scope_us);
    assert_eq!(calls_per_run(&p, "aten::conv2d"), [20, 20]);
    let nodes: Vec<&str> = p.events.iter().filter(|e| e.run == Some(1)).map(|e| e.node.as_str()).collect();
    assert!(nodes.contains(&"aten::conv2d") && nodes.contains(&"aten::conv2d#19"), "{nodes:?}");
}

#[test]
fn profiling_errors_are_clear() {
    let _lock = profiler_lock();
    let (dir, _) = fixture("resnet18");
    let file = dir.join("model.torchscript.pt");
    let tmp = tempfile::tempdir().unwrap();
    let x = read_npy(&dir.join("input.npy")).unwrap();
    // Not enabled.
    let mut plain = TorchBackend.load(&file, &LoadOptions::default()).unwrap();
    let err = plain.op_profile().unwrap_err().to_string();
    assert!(err.contains("LoadOptions::profile_prefix"), "{err}");
    // A session dropped while profiling stops its profiler: the next one can start.
    let opts = LoadOptions { profile_prefix: Some(tmp.path().join("t")), ..LoadOptions::default() };
    drop(TorchBackend.load(&file, &opts).unwrap());
    let mut s = TorchBackend.load(&file, &opts).unwrap();
    // Kineto profiles one session of a process at a time.
    let err = TorchBackend.load(&file, &opts).map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("another session of this process is being profiled"), "{err}");
    // libtorch's profiler is per thread: another thread's run is refused, not silently unprofiled.
    let (mut s, err) = std::thread::spawn(move || {
        let err = s.run(std::slice::from_ref(&x)).unwrap_err().to_string();
        (s, err)
    })
    .join()
    .unwrap();
    assert!(err.contains("per thread"), "{err}");
    let p = s.op_profile().unwrap();
    assert_eq!((p.runs, p.events.len()), (0, 0));
    let err = s.op_profile().unwrap_err().to_string();
    assert!(err.contains("no profile in progress"), "{err}");
}
