//! Synthetic comparisons for the unit tests of the analyses and reporters: rows with known
//! medians and raw samples; the input and output descriptions of a committed tiny ONNX model.
#![allow(clippy::unwrap_used)]

use infer_core::{
    Device,
    profile::{OpEvent, OpProfile},
};

use crate::{
    environment::Environment,
    results::comparison::{CompareEntry, Comparison, RowStatus},
    results::{BenchReport, BenchRow, RowSource, SCHEMA_VERSION},
};

/// A measured row whose samples are `median` ± a little.
pub fn row(backend: &str, device: Device, batch: usize, median: f64) -> BenchRow {
    let samples: Vec<f64> = (0..40).map(|i| median * (1.0 + f64::from(i % 7 - 3) * 0.01)).collect();
    let env = Environment::capture(0);
    let src =
        RowSource { model: "m.onnx", backend, device, batch_size: batch, environment: &env, resamples: 200, seed: 1 };
    let mut row = BenchRow::from_samples(&src, samples).unwrap();
    row.warnings = vec!["p99 from 40 samples is unreliable".into()];
    row
}

/// An onnx cpu row at batch 1 with these raw samples, its statistics bootstrapped (500
/// resamples) with `seed`.
pub fn row_of_samples(samples: Vec<f64>, seed: u64) -> BenchRow {
    let env = Environment::capture(0);
    let src = RowSource {
        model: "m.onnx",
        backend: "onnx",
        device: Device::Cpu,
        batch_size: 1,
        environment: &env,
        resamples: 500,
        seed,
    };
    BenchRow::from_samples(&src, samples).unwrap()
}

/// Host evidence of a host with nothing to read (every source "not available", no GPU), with
/// these disturbed reasons.
pub fn evidence(disturbed: &[&str]) -> infer_host::HostEvidence {
    let options = infer_host::SamplerOptions {
        root: std::path::PathBuf::from("/nonexistent-host-root"),
        gpu: infer_host::GpuSource::Off,
        ..infer_host::SamplerOptions::default()
    };
    let mut e = infer_host::Sampler::start(options).unwrap().stop().unwrap();
    e.disturbed = disturbed.iter().map(ToString::to_string).collect();
    e
}

/// `row` as if the host was watched: its evidence with `disturbed` reasons (as warnings too),
/// and `energy`.
pub fn observed(mut row: BenchRow, disturbed: &[&str], energy: crate::host::RowEnergy) -> BenchRow {
    row.observe(crate::host::Observed { host: Some(evidence(disturbed)), energy: Some(energy), problems: Vec::new() });
    row
}

/// A report of `backend` on `device` of `m.onnx` with `rows` and nothing else measured: no
/// memory, no reference check, load and first inference 1 ms. Tests set what they need on it.
pub fn bare_report(backend: &str, device: Device, environment: Environment, rows: Vec<BenchRow>) -> BenchReport {
    BenchReport {
        schema_version: SCHEMA_VERSION,
        model: "m.onnx".into(),
        backend: backend.into(),
        device,
        environment,
        load_ms: 1.0,
        first_inference_ms: 1.0,
        parameters: None,
        parameter_bytes: None,
        rss_before_load: None,
        rss_after_load: None,
        peak_rss: None,
        max_abs_diff: None,
        reference: None,
        max_rel_diff: None,
        top1_agreement: None,
        rows,
        failed_rows: Vec::new(),
        rss_load_increase: None,
        rss_inference_increase: None,
        memory_method: None,
        cuda_memory: None,
        device_memory: None,
    }
}

/// A report of `backend` on `device` with one row per (batch size, median ms), parameters,
/// memory and a reference check filled in.
pub fn report(backend: &str, device: Device, medians: &[(usize, f64)]) -> BenchReport {
    let rows = medians.iter().map(|&(b, m)| row(backend, device, b, m)).collect();
    BenchReport {
        load_ms: 12.0,
        first_inference_ms: 30.0,
        parameters: Some(1000),
        rss_after_load: Some(1 << 20),
        peak_rss: Some(2 << 20),
        max_abs_diff: Some(1e-6),
        ..bare_report(backend, device, Environment::capture(0), rows)
    }
}

/// onnx and torch on CPU and GPU at batch 1 and 8, and a failed tf entry whose message contains
/// markup.
pub fn synthetic() -> Comparison {
    let ok = |r: BenchReport| CompareEntry::new(&r.backend.clone(), r.device, RowStatus::Ok, Some(r));
    Comparison {
        model: "resnet<18>".into(),
        environment: Environment::capture(2),
        tolerance: 1e-4,
        entries: vec![
            ok(report("onnx", Device::Cpu, &[(1, 20.0), (8, 150.0)])),
            ok(report("onnx", Device::Cuda(0), &[(1, 2.0), (8, 5.0)])),
            ok(report("torch", Device::Cpu, &[(1, 25.0), (8, 170.0)])),
            ok(report("torch", Device::Cuda(0), &[(1, 2.5), (8, 6.0)])),
            CompareEntry::new(
                "tf",
                Device::Cpu,
                RowStatus::Error { message: "exit code 1: <script>alert(1)</script>".into() },
                None,
            ),
        ],
    }
}

/// `c` with an ONNX Runtime profile of six operator types on its first entry and a failed
/// profile on its third (torch on the CPU in [`synthetic`]).
pub fn with_profiles(mut c: Comparison) -> Comparison {
    let events = (0..6)
        .map(|i| OpEvent {
            op_type: ["Conv", "Relu", "Add", "Gemm", "MaxPool", "Flatten"][i].into(),
            node: format!("n{i}"),
            duration_us: [700.0, 100.0, 80.0, 60.0, 40.0, 20.0][i],
            calls: 2,
            run: Some(1),
        })
        .collect();
    let p = OpProfile { backend: "onnx".into(), source: "ORT JSON".into(), runs: 2, events };
    c.entries[0].profile = Some(crate::profile::summarize(&p, 1, "m.onnx", 1));
    c.entries[2].profile_error = Some("exit code 1: boom".into());
    c
}

/// The inputs and outputs of the committed model `fixtures/tiny/NAME.onnx` as ONNX Runtime
/// describes them (float tensors; a `dim_param` is a named dynamic dimension), read without a
/// runtime.
pub fn tiny_onnx_specs(name: &str) -> (Vec<infer_core::TensorSpec>, Vec<infer_core::TensorSpec>) {
    use infer_onnx_proto::proto::{DimensionValue, TypeTensor, TypeValue, ValueInfoProto, decode};
    let path = format!("{}/../../fixtures/tiny/{name}.onnx", env!("CARGO_MANIFEST_DIR"));
    let model = decode(&std::fs::read(path).unwrap()).unwrap();
    let graph = model.graph.unwrap();
    let spec = |v: &ValueInfoProto| {
        let Some(TypeValue::TensorType(TypeTensor { shape: Some(shape), .. })) =
            v.r#type.as_ref().and_then(|t| t.value.as_ref())
        else {
            panic!("{name}: `{}` is not a shaped tensor", v.name)
        };
        let dims = shape
            .dim
            .iter()
            .map(|d| match &d.value {
                Some(DimensionValue::DimValue(n)) => infer_core::Dim::Fixed(usize::try_from(*n).unwrap()),
                Some(DimensionValue::DimParam(s)) => infer_core::Dim::Dynamic(Some(s.clone())),
                None => infer_core::Dim::Dynamic(None),
            })
            .collect();
        infer_core::TensorSpec::new(v.name.clone(), infer_core::DType::F32, dims)
    };
    (graph.input.iter().map(spec).collect(), graph.output.iter().map(spec).collect())
}

/// The committed array `fixtures/tiny/FILE`.
pub fn tiny_npy(file: &str) -> infer_core::Tensor {
    infer_core::npy::read_npy(&std::path::PathBuf::from(format!(
        "{}/../../fixtures/tiny/{file}",
        env!("CARGO_MANIFEST_DIR")
    )))
    .unwrap()
}
