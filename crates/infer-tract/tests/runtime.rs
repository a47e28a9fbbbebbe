//! tract against real models: the committed tiny fixtures, a model with an operator tract lacks
//! (written by the test), and the generated ResNet-18 and BERT (`cargo xtask fixtures`; skipped,
//! saying why, when they are absent), compared with the outputs their generators computed.
#![cfg(feature = "runtime")]
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use infer_core::{Backend, DType, Device, Dim, Error, LoadOptions, OptLevel, Session, Tensor, npy::read_npy};
use infer_tract::TractBackend;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tiny(name: &str) -> PathBuf {
    root().join("fixtures/tiny").join(name)
}

fn load(path: &Path) -> Box<dyn Session> {
    TractBackend.load(path, &LoadOptions::default()).unwrap()
}

fn npy(path: &Path) -> Tensor {
    read_npy(path).unwrap()
}

#[test]
fn probe_needs_no_library() {
    let info = TractBackend.probe().unwrap();
    assert_eq!((info.name.as_str(), info.runtime_version.as_str()), ("tract", infer_tract::TRACT_VERSION));
    assert_eq!((info.library, info.devices), (None, vec![Device::Cpu]));
}

#[test]
fn tiny_cnn_runs_any_batch_size() {
    let mut s = load(&tiny("tiny_cnn.onnx"));
    assert_eq!(s.inputs()[0].to_string(), "image: f32 [batch, 3, 8, 8]");
    assert_eq!(s.outputs()[0].to_string(), "logits: f32 [batch, 10]");
    assert_eq!(s.device(), Device::Cpu);
    assert_eq!(s.info().parameters.unwrap().count, 162);
    assert!(s.info().integer_ranges.clone().unwrap().is_empty());
    let x = npy(&tiny("tiny_cnn.input.npy"));
    let expected = npy(&tiny("tiny_cnn.output.npy"));
    assert!(s.run(std::slice::from_ref(&x)).unwrap()[0].max_abs_diff(&expected).unwrap() < 1e-5);
    // Batch 1 and 8 in the same session, in either order: each row as computed alone.
    for batch in [1, 8, 1] {
        let rows: Vec<Tensor> = (0..batch).map(|i| x.slice_rows(i % 2, i % 2 + 1).unwrap()).collect();
        let y = s.run(&[Tensor::concat_rows(&rows).unwrap()]).unwrap();
        assert_eq!(y[0].shape(), &[batch, 10]);
        for i in 0..batch {
            let want = expected.slice_rows(i % 2, i % 2 + 1).unwrap();
            assert!(y[0].slice_rows(i, i + 1).unwrap().max_abs_diff(&want).unwrap() < 1e-5, "batch {batch} row {i}");
        }
    }
}

/// `optimize` on and off, and one thread or a pool of three, compute the same outputs.
#[test]
fn options_and_threads_give_the_same_outputs() {
    for (model, inputs, outputs) in [
        ("tiny_cnn", vec!["tiny_cnn.input.npy"], vec!["tiny_cnn.output.npy"]),
        (
            "tiny_encoder",
            vec![
                "tiny_encoder.input_input_ids.npy",
                "tiny_encoder.input_attention_mask.npy",
                "tiny_encoder.input_token_type_ids.npy",
            ],
            vec!["tiny_encoder.output_hidden.npy", "tiny_encoder.output_pooled.npy"],
        ),
    ] {
        let x: Vec<Tensor> = inputs.iter().map(|f| npy(&tiny(f))).collect();
        let expected: Vec<Tensor> = outputs.iter().map(|f| npy(&tiny(f))).collect();
        let mut first: Option<Vec<Tensor>> = None;
        for (optimize, threads) in [("on", 0), ("off", 0), ("on", 3), ("off", 3)] {
            let opts =
                LoadOptions { intra_threads: threads, ..LoadOptions::default() }.with_option("optimize", optimize);
            let mut s = TractBackend.load(&tiny(&format!("{model}.onnx")), &opts).unwrap();
            let y = s.run(&x).unwrap();
            for (got, want) in y.iter().zip(&expected) {
                let diff = got.max_abs_diff(want).unwrap();
                assert!(diff < 1e-5, "{model} optimize={optimize} threads={threads}: {diff}");
            }
            match &first {
                None => first = Some(y),
                Some(f) => {
                    for (a, b) in y.iter().zip(f) {
                        assert!(a.max_abs_diff(b).unwrap() < 1e-6, "{model} optimize={optimize} threads={threads}");
                    }
                }
            }
        }
    }
    // `--optimization none` without the option is `optimize=off`: it loads and runs as well.
    let opts = LoadOptions { optimization: OptLevel::None, ..LoadOptions::default() };
    let mut s = TractBackend.load(&tiny("tiny_cnn.onnx"), &opts).unwrap();
    let y = s.run(&[npy(&tiny("tiny_cnn.input.npy"))]).unwrap();
    assert!(y[0].max_abs_diff(&npy(&tiny("tiny_cnn.output.npy"))).unwrap() < 1e-5);
}

#[test]
fn symbolic_dims_keep_the_files_names_and_resolve_per_run() {
    let mut s = load(&tiny("dynamic_dims.onnx"));
    let named = |n: &str| Dim::Dynamic(Some(n.into()));
    assert_eq!(s.inputs()[0].dims.as_deref().unwrap(), [named("batch"), named("seq")]);
    assert_eq!(s.outputs()[0].dims.as_deref().unwrap(), [named("batch"), named("seq")]);
    let x = npy(&tiny("dynamic_dims.input.npy"));
    assert_eq!(s.run(&[x]).unwrap()[0].max_abs_diff(&npy(&tiny("dynamic_dims.output.npy"))).unwrap(), 0.0);
    let y = s.run(&[Tensor::from_vec(vec![1, 3], vec![1.0f32, -2.0, 0.5]).unwrap()]).unwrap();
    assert_eq!(y[0].as_slice::<f32>().unwrap(), [2.0, -4.0, 1.0]);

    let mut s = load(&tiny("tiny_encoder.onnx"));
    let specs: Vec<String> = s.inputs().iter().chain(s.outputs()).map(ToString::to_string).collect();
    assert_eq!(
        specs,
        [
            "input_ids: i64 [batch, sequence]",
            "attention_mask: i64 [batch, sequence]",
            "token_type_ids: i64 [batch, sequence]",
            "hidden: f32 [batch, sequence, 8]",
            "pooled: f32 [batch, 8]",
        ]
    );
    // What the file says, read without tract: the ranges of the embedding inputs, the parameters.
    let ranges = s.info().integer_ranges.clone().unwrap();
    let got: Vec<_> = ranges.iter().map(|(k, r)| (k.as_str(), r.lo, r.hi)).collect();
    assert_eq!(got, [("input_ids", 0, 50), ("token_type_ids", 0, 2)]);
    let summary = infer_tract::inspect(&tiny("tiny_encoder.onnx")).unwrap();
    assert_eq!(s.info().parameters.unwrap().count, summary.parameters);
    // Another sequence length than the reference's 6, and another batch.
    let ids = Tensor::from_vec(vec![3, 4], vec![1i64; 12]).unwrap();
    let y = s.run(&[ids.clone(), ids.clone(), ids]).unwrap();
    assert_eq!((y[0].shape(), y[1].shape()), (&[3, 4, 8][..], &[3, 8][..]));
}

#[test]
fn fixed_shapes_count_and_dtypes_are_checked_before_tract() {
    let mut s = load(&tiny("fixed_batch.onnx"));
    assert_eq!(s.inputs()[0].dims.as_deref().unwrap(), [Dim::Fixed(1), Dim::Fixed(4)]);
    let err = s.run(&[Tensor::zeros(DType::F32, vec![2, 4]).unwrap()]).unwrap_err();
    assert_eq!(err.to_string(), "shape mismatch for `x`: expected [1, 4], got [2, 4]");
    let mut s = load(&tiny("two_inputs.onnx"));
    let a = npy(&tiny("two_inputs.input_a.npy"));
    let b = npy(&tiny("two_inputs.input_b.npy"));
    assert_eq!(s.run(&[a.clone(), b.clone()]).unwrap()[0], npy(&tiny("two_inputs.output_sum.npy")));
    assert_eq!(s.run(&[b, a]).unwrap_err().to_string(), "dtype mismatch for `a`: expected f32, got i64");
    assert!(s.run(&[]).unwrap_err().to_string().contains("takes 2 input(s) (a, b), got 0"));
}

/// Writes an ONNX model by hand (protobuf wire format): `y = <op>(x)`, `x` f32 `[2, 2]`.
fn one_op_model(path: &Path, op: &str) {
    one_op_model_of(path, op, &[Some(2), Some(2)]);
}

/// The same with `x`'s dimensions given: `Some(n)` a size, `None` an axis with neither a size nor
/// a name.
fn one_op_model_of(path: &Path, op: &str, dims: &[Option<u64>]) {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn int(field: u64, v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        varint(&mut out, field << 3);
        varint(&mut out, v);
        out
    }
    fn bytes(field: u64, v: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        varint(&mut out, (field << 3) | 2);
        varint(&mut out, v.len() as u64);
        out.extend_from_slice(v);
        out
    }
    // TensorShapeProto.dim { dim_value: n } or an empty Dimension.
    let shape: Vec<u8> = dims.iter().flat_map(|d| bytes(1, &d.map(|n| int(1, n)).unwrap_or_default())).collect();
    let tensor_type = [int(1, 1), bytes(2, &shape)].concat(); // elem_type FLOAT, shape
    let value_info = |name: &str| [bytes(1, name.as_bytes()), bytes(2, &bytes(1, &tensor_type))].concat();
    let node = [bytes(1, b"x"), bytes(2, b"y"), bytes(3, b"the_node"), bytes(4, op.as_bytes())].concat();
    let graph = [bytes(1, &node), bytes(2, b"g"), bytes(11, &value_info("x")), bytes(12, &value_info("y"))].concat();
    let opset = [bytes(1, b""), int(2, 17)].concat();
    let model = [int(1, 8), bytes(7, &graph), bytes(8, &opset)].concat();
    std::fs::write(path, model).unwrap();
}

#[test]
fn an_operator_tract_lacks_is_named_at_load() {
    let dir = tempfile::tempdir().unwrap();
    // The writer is right: the same graph with an operator tract has loads and runs.
    let abs = dir.path().join("abs.onnx");
    one_op_model(&abs, "Abs");
    let y = load(&abs).run(&[Tensor::from_vec(vec![2, 2], vec![-1.0f32, 2.0, -3.0, 4.0]).unwrap()]).unwrap();
    assert_eq!(y[0].as_slice::<f32>().unwrap(), [1.0, 2.0, 3.0, 4.0]);
    // `Det` is an ONNX operator (opset 11) that tract 0.23 does not implement.
    let det = dir.path().join("det.onnx");
    one_op_model(&det, "Det");
    let err = TractBackend.load(&det, &LoadOptions::default()).err().unwrap();
    let msg = err.to_string();
    assert!(matches!(err, Error::Load { .. }) && !msg.contains('\n'), "{msg}");
    assert!(
        msg.contains("det.onnx") && msg.contains("does not implement the ONNX operator `Det` (node `the_node`)"),
        "{msg}"
    );
    // scikit-learn's ZipMap (domain ai.onnx.ml) in the committed classifier.
    let msg = TractBackend.load(&tiny("tiny_classifier.onnx"), &LoadOptions::default()).err().unwrap().to_string();
    assert!(msg.contains("tiny_classifier.onnx") && msg.contains("operator `ZipMap`") && !msg.contains('\n'), "{msg}");
}

/// An axis the file leaves unknown (no size, no `dim_param`) is dynamic, without a name, and
/// takes any size.
#[test]
fn an_unknown_axis_is_dynamic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("neg.onnx");
    one_op_model_of(&path, "Neg", &[None, Some(2)]);
    let mut s = load(&path);
    assert_eq!(s.inputs()[0].dims.as_deref().unwrap(), [Dim::Dynamic(None), Dim::Fixed(2)]);
    for n in [1, 3] {
        let y = s.run(&[Tensor::from_vec(vec![n, 2], vec![1.0f32; 2 * n]).unwrap()]).unwrap();
        assert_eq!(y[0].as_slice::<f32>().unwrap(), vec![-1.0f32; 2 * n]);
    }
}

#[test]
fn cuda_is_unavailable_unless_falling_back() {
    let opts = LoadOptions { device: Device::Cuda(0), ..LoadOptions::default() };
    let err = TractBackend.load(&tiny("tiny_cnn.onnx"), &opts).err().unwrap();
    assert!(matches!(err, Error::DeviceUnavailable { .. }), "{err}");
    assert!(err.to_string().contains("tract runs on the CPU only"), "{err}");
    let s = TractBackend.load(&tiny("tiny_cnn.onnx"), &LoadOptions { fallback_to_cpu: true, ..opts }).unwrap();
    assert_eq!(s.device(), Device::Cpu);
}

#[test]
fn run_staged_reports_the_three_stages() {
    let mut s = load(&tiny("tiny_cnn.onnx"));
    let x = npy(&tiny("tiny_cnn.input.npy"));
    let t = std::time::Instant::now();
    let (y, stages) = s.run_staged(&[x]).unwrap();
    let wall = t.elapsed().as_secs_f64();
    assert!(y[0].max_abs_diff(&npy(&tiny("tiny_cnn.output.npy"))).unwrap() < 1e-5);
    let st = stages.unwrap();
    assert!(st.compute_s > 0.0 && st.bind_s + st.compute_s + st.fetch_s <= wall, "{st:?} in {wall} s");
}

/// Every call starts from its inputs: the recurrent `gru_stream` (a GRU, a `Scan` in tract, which
/// by default keeps its hidden state from one run to the next and reads `initial_h` on the first
/// only) answers the reference inputs with the reference outputs after other calls too, optimised
/// or not.
#[test]
fn a_recurrent_model_starts_every_call_from_its_inputs() {
    let (x, state) = (npy(&tiny("gru_stream.input_x.npy")), npy(&tiny("gru_stream.input_state.npy")));
    let expected = [npy(&tiny("gru_stream.output_y.npy")), npy(&tiny("gru_stream.output_state_out.npy"))];
    for optimize in ["on", "off"] {
        let options = LoadOptions::default().with_option("optimize", optimize);
        let mut session = TractBackend.load(&tiny("gru_stream.onnx"), &options).unwrap();
        let zeros = Tensor::zeros(DType::F32, state.shape().to_vec()).unwrap();
        for (call, initial) in [&state, &zeros, &state, &state].into_iter().enumerate() {
            let out = session.run(&[x.clone(), initial.clone()]).unwrap();
            if call == 1 {
                assert!(out[0].max_abs_diff(&expected[0]).unwrap() > 1e-3, "the state given changes the answer");
                continue;
            }
            for (got, want) in out.iter().zip(&expected) {
                let diff = got.max_abs_diff(want).unwrap();
                assert!(diff < 1e-5, "optimize={optimize}, call {call}: {diff} from the reference");
            }
        }
    }
}

/// A generated model's folder (`cargo xtask fixtures`), or `None` after saying it is absent.
fn generated(model: &str) -> Option<PathBuf> {
    let dir = root().join("fixtures/generated").join(model);
    if dir.join("meta.json").is_file() {
        return Some(dir);
    }
    infer_conformance::skip(
        &format!("tract on {model}"),
        &format!("{} absent (run `cargo xtask fixtures`)", dir.display()),
    );
    None
}

/// The generated ResNet-18 (dynamic batch): parity with PyTorch within 1e-4 at batch 2, and
/// batches 1 and 8 in the same session.
#[test]
fn resnet18_matches_the_reference() {
    let Some(dir) = generated("resnet18") else { return };
    let mut s = load(&dir.join("model.onnx"));
    assert_eq!(s.inputs()[0].to_string(), "input: f32 [batch, 3, 224, 224]");
    // The ONNX export folds the batch norms into the convolutions: fewer than torch's 11 689 512.
    assert_eq!(s.info().parameters.unwrap().count, 11_684_712);
    let x = npy(&dir.join("input.npy"));
    let expected = npy(&dir.join("reference_torch.npy"));
    let y = s.run(std::slice::from_ref(&x)).unwrap();
    let diff = y[0].max_abs_diff(&expected).unwrap();
    eprintln!("resnet18: tract vs torch max abs diff {diff:e}");
    assert!(diff <= 1e-4, "max abs diff {diff}");
    for batch in [1, 8] {
        let rows: Vec<Tensor> = (0..batch).map(|i| x.slice_rows(i % 2, i % 2 + 1).unwrap()).collect();
        let y = s.run(&[Tensor::concat_rows(&rows).unwrap()]).unwrap();
        assert_eq!(y[0].shape(), &[batch, 1000]);
        let last = batch - 1;
        let want = expected.slice_rows(last % 2, last % 2 + 1).unwrap();
        assert!(y[0].slice_rows(last, batch).unwrap().max_abs_diff(&want).unwrap() <= 1e-4, "batch {batch}");
    }
}

/// The generated BERT (dynamic batch and sequence, three int64 inputs, two outputs).
#[test]
fn bert_matches_the_reference() {
    let Some(dir) = generated("bert") else { return };
    let mut s = match TractBackend.load(&dir.join("model.onnx"), &LoadOptions::default()) {
        Ok(s) => s,
        Err(e) => panic!("bert: {e}"),
    };
    let names: Vec<String> = s.inputs().iter().map(ToString::to_string).collect();
    assert_eq!(
        names,
        [
            "input_ids: i64 [batch, sequence]",
            "attention_mask: i64 [batch, sequence]",
            "token_type_ids: i64 [batch, sequence]"
        ]
    );
    let ranges = s.info().integer_ranges.clone().unwrap();
    assert_eq!((ranges["input_ids"].lo, ranges["input_ids"].hi), (0, 30522), "{ranges:?}");
    let x: Vec<Tensor> =
        ["input_ids", "attention_mask", "token_type_ids"].iter().map(|n| npy(&dir.join(format!("{n}.npy")))).collect();
    let y = s.run(&x).unwrap();
    for (got, name) in y.iter().zip(["last_hidden_state", "pooler_output"]) {
        let want = npy(&dir.join(format!("reference_torch.{name}.npy")));
        let diff = got.max_abs_diff(&want).unwrap();
        eprintln!("bert: {name}: tract vs torch max abs diff {diff:e}");
        assert!(diff <= 1e-4, "{name}: max abs diff {diff}");
    }
    // Batch 1 and a shorter sequence in the same session.
    let short: Vec<Tensor> = x
        .iter()
        .map(|t| {
            let row = t.slice_rows(0, 1).unwrap();
            Tensor::from_vec(vec![1, 16], row.as_slice::<i64>().unwrap()[..16].to_vec()).unwrap()
        })
        .collect();
    let y = s.run(&short).unwrap();
    assert_eq!((y[0].shape(), y[1].shape()), (&[1, 16, 256][..], &[1, 256][..]));
}
