//! TorchScript inputs and outputs described from the module itself (`forward`'s schema and graph,
//! through the C++ shim), on the committed tiny modules of `fixtures/tiny` (made by
//! `make_tiny_torch.py`, with reference inputs and outputs computed in numpy) and on the
//! generated BERT-like encoder without its sidecar.
#![cfg(any(feature = "runtime", infer_libtorch))]
#![allow(clippy::unwrap_used)]

use std::{
    io::{Read, Write},
    path::{Path, PathBuf},
};

use infer_core::{Backend, DType, LoadOptions, Session, Tensor, npy::read_npy};
use infer_torch::{EmbeddingTable, TorchBackend};

fn tiny(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/tiny").join(name)
}

fn load(path: &Path) -> Box<dyn Session> {
    TorchBackend.load(path, &LoadOptions::default()).unwrap()
}

fn load_err(path: &Path) -> String {
    let err = TorchBackend.load(path, &LoadOptions::default()).err().unwrap().to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("frame #") && !err.contains("Exception raised from"), "{err}");
    err
}

fn names(specs: &[infer_core::TensorSpec]) -> Vec<&str> {
    specs.iter().map(|s| s.name.as_str()).collect()
}

#[test]
fn two_tensor_arguments_are_two_inputs_and_a_tuple_two_outputs() {
    let mut s = load(&tiny("tiny_two_args.pt"));
    assert_eq!(names(s.inputs()), ["x", "y"]);
    assert_eq!(names(s.outputs()), ["output_0", "output_1"]);
    assert!(s.inputs().iter().all(|i| i.dims.is_none()));
    let sources = s.info().input_sources.clone();
    assert_eq!(sources.len(), 2);
    assert!(sources.iter().all(|src| src.starts_with("unknown: forward's schema says only `Tensor`")), "{sources:?}");
    assert!(
        s.info().output_sources.clone()[0].contains("Tuple[Tensor, Tensor]"),
        "{:?}",
        s.info().output_sources.clone()
    );
    assert_eq!(s.info().parameters.unwrap().count, 12);

    let x = read_npy(&tiny("tiny_two_args.input_x.npy")).unwrap();
    let y = read_npy(&tiny("tiny_two_args.input_y.npy")).unwrap();
    let out = s.run(&[x.clone(), y.clone()]).unwrap();
    assert_eq!(out.len(), 2);
    for (i, got) in out.iter().enumerate() {
        let expected = read_npy(&tiny(&format!("tiny_two_args.output_{i}.npy"))).unwrap();
        assert_eq!(got.shape(), expected.shape());
        let diff = got.max_abs_diff(&expected).unwrap();
        assert!(diff < 1e-5, "output_{i}: max abs diff {diff}");
    }

    // Nothing is known of the inputs, so any shape reaches libtorch, whose error is one line.
    let err = s.run(&[y.clone(), y.clone()]).unwrap_err().to_string();
    assert_eq!(err, "torch: mat1 and mat2 shapes cannot be multiplied (2x3 and 4x3)");
    let err = s.run(&[x]).unwrap_err().to_string();
    assert_eq!(err, "invalid input: the model takes 2 input(s) (x, y), got 1");
}

#[test]
fn a_sidecar_names_and_describes_the_inputs_and_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.pt");
    std::fs::copy(tiny("tiny_two_args.pt"), &model).unwrap();
    std::fs::write(
        dir.path().join("m.json"),
        r#"{"inputs": [{"name": "a", "dtype": "f32", "dims": ["batch", 4]}, {"name": "b", "dtype": "f32", "dims": ["batch", 3]}],
            "outputs": [{"name": "sum", "dtype": "f32", "dims": ["batch", 3]}, {"name": "norm", "dtype": "f32", "dims": ["batch"]}]}"#,
    )
    .unwrap();
    let mut s = load(&model);
    assert_eq!(names(s.inputs()), ["a", "b"]);
    assert_eq!(names(s.outputs()), ["sum", "norm"]);
    assert_eq!(s.info().input_sources.clone(), ["sidecar m.json", "sidecar m.json"]);
    // Described inputs are checked before libtorch sees them.
    let y = read_npy(&tiny("tiny_two_args.input_y.npy")).unwrap();
    let err = s.run(&[y.clone(), y]).unwrap_err().to_string();
    assert_eq!(err, "shape mismatch for `a`: expected [batch, 4], got [2, 3]");

    std::fs::write(dir.path().join("m.json"), r#"{"inputs": [{"name": "a", "dtype": "f32", "dims": [2, 4]}]}"#)
        .unwrap();
    let err = load_err(&model);
    assert!(
        err.contains("m.json") && err.contains("lists 1 input(s) but forward takes 2 tensor argument(s) (x, y)"),
        "{err}"
    );
}

#[test]
fn an_argument_that_is_not_a_tensor_is_named_with_its_type() {
    let err = load_err(&tiny("tiny_list_str.pt"));
    assert!(err.contains("tiny_list_str.pt") && err.contains("`words` is a `List[str]`, not a tensor"), "{err}");
}

/// `tiny_list_str.pt` with its one method renamed from `forward` to `words`.
fn without_forward(dir: &Path) -> PathBuf {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(tiny("tiny_list_str.pt")).unwrap()).unwrap();
    let path = dir.join("no_forward.pt");
    let mut out = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let stored = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().unwrap().to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        if name.ends_with("code/__torch__.py") {
            let code = String::from_utf8(bytes).unwrap();
            assert!(code.contains("def forward("), "{code}");
            bytes = code.replace("def forward(", "def words(").into_bytes();
        }
        out.start_file(name, stored).unwrap();
        out.write_all(&bytes).unwrap();
    }
    out.finish().unwrap();
    path
}

#[test]
fn a_module_without_forward_says_which_methods_it_has() {
    let dir = tempfile::tempdir().unwrap();
    let err = load_err(&without_forward(dir.path()));
    assert!(err.contains("no_forward.pt") && err.contains("has no `forward` method (its methods: words)"), "{err}");
}

#[test]
fn embedding_indices_are_i64_inputs_and_their_tables_are_known() {
    let path = tiny("tiny_embedding.pt");
    let mut s = load(&path);
    assert_eq!(names(s.inputs()), ["input_ids", "token_type_ids"]);
    assert!(s.inputs().iter().all(|i| i.dtype == DType::I64 && i.dims.is_none()));
    let sources = s.info().input_sources.clone();
    assert_eq!(
        sources[0],
        "i64 from the graph: indices of aten::embedding on parameter `word_embeddings.weight` (50 rows); shape unknown"
    );
    assert!(sources[1].contains("`token_type_embeddings.weight` (2 rows)"), "{sources:?}");
    let tables = infer_torch::embedding_tables(&path).unwrap();
    let rows: Vec<(&str, &str, u64, bool)> =
        tables.iter().map(|t| (t.input.as_str(), t.table.as_str(), t.rows, t.parameter)).collect();
    assert_eq!(
        rows,
        [
            ("input_ids", "word_embeddings.weight", 50, true),
            ("token_type_ids", "token_type_embeddings.weight", 2, true)
        ]
    );

    let ids = read_npy(&tiny("tiny_embedding.input_input_ids.npy")).unwrap();
    let types = read_npy(&tiny("tiny_embedding.input_token_type_ids.npy")).unwrap();
    let out = s.run(&[ids.clone(), types.clone()]).unwrap();
    let expected = read_npy(&tiny("tiny_embedding.output_0.npy")).unwrap();
    assert!(out[0].max_abs_diff(&expected).unwrap() < 1e-5);

    // An error inside the TorchScript interpreter comes as its cause, without the traceback.
    let out_of_range = Tensor::from_vec(ids.shape().to_vec(), vec![50i64; ids.len()]).unwrap();
    let err = s.run(&[out_of_range, types]).unwrap_err().to_string();
    assert_eq!(err, "torch: index out of range in self");
}

#[test]
fn the_encoder_without_its_sidecar_is_described_from_its_graph() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/generated/bert");
    let file = dir.join("model.torchscript.pt");
    assert!(file.is_file(), "{} missing: run `cargo xtask fixtures`", file.display());
    // The same archive, seen from a folder without `model.torchscript.json`.
    let tmp = tempfile::tempdir().unwrap();
    let bare = tmp.path().join("encoder.pt");
    std::os::unix::fs::symlink(&file, &bare).unwrap();
    let s = load(&bare);
    assert_eq!(names(s.inputs()), ["input_ids", "attention_mask", "token_type_ids"]);
    let dtypes: Vec<DType> = s.inputs().iter().map(|i| i.dtype).collect();
    assert_eq!(dtypes, [DType::I64, DType::F32, DType::I64]);
    assert!(s.info().input_sources.clone()[1].starts_with("unknown:"), "{:?}", s.info().input_sources.clone());
    assert_eq!(names(s.outputs()), ["output_0", "output_1"]);
    let tables = infer_torch::embedding_tables(&bare).unwrap();
    let by_input = |name: &str| -> Vec<&EmbeddingTable> { tables.iter().filter(|t| t.input == name).collect() };
    assert_eq!(by_input("input_ids").iter().map(|t| t.rows).collect::<Vec<_>>(), [30522]);
    assert_eq!(by_input("token_type_ids").iter().map(|t| t.rows).collect::<Vec<_>>(), [2]);
    assert!(by_input("attention_mask").is_empty());
    // With its sidecar, the sidecar describes it and the tables keep its names.
    let described = load(&file);
    assert_eq!(described.info().input_sources.clone()[0], "sidecar model.torchscript.json");
    assert_eq!(described.inputs()[1].dtype, DType::I64);
}
