//! The conformance suite on this backend's committed tiny fixtures: the catalogue's ONNX ones and
//! this crate's own OpenVINO IR of `tiny_cnn` (`tests/fixtures/`, made by `make_ir.py` there).

use std::path::Path;

use infer_conformance::fixtures::{Fixture, for_backend, tiny_cnn_as};
use infer_openvino::OpenVinoBackend;

fn fixtures() -> Vec<Fixture> {
    let own = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let ir = Fixture {
        companions: vec![own.join("tiny_cnn.bin")],
        ..tiny_cnn_as("tiny_cnn.xml", own.join("tiny_cnn.xml"), "openvino_ir")
    };
    for_backend(&OpenVinoBackend).into_iter().chain([ir]).collect()
}

infer_conformance::suite!(OpenVinoBackend, compiled = cfg!(feature = "runtime"), fixtures = fixtures());
