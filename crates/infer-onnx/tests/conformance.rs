//! The conformance suite (`infer-conformance`) on this backend's committed tiny fixtures: with
//! feature `runtime` every case runs (or is skipped, saying why, when the runtime is missing);
//! without it, `probe` and `sniff` run and the other cases are skipped.

infer_conformance::suite!(infer_onnx::OnnxBackend, compiled = cfg!(feature = "runtime"));
