//! The conformance suite (`infer-conformance`) on this backend's committed tiny fixtures: with
//! feature `runtime` every case runs; without it, `probe` and `sniff` run and the other cases are
//! skipped.

infer_conformance::suite!(infer_tract::TractBackend, compiled = cfg!(feature = "runtime"));
