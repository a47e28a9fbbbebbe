//! The measurement library of **infer**, usable from Rust without the command line: what a
//! workload is made of and its inputs ([`workload`]), the timing loop ([`timing`]) and the
//! device's own time beside it ([`device_time`]), the host's evidence and energy beside every
//! timed phase ([`host`]), a whole measurement of a model ([`measure`]), rounds pooled across
//! processes ([`rounds`]), stopping on confidence instead of a count ([`confidence`]), serving
//! scenarios ([`scenario`]), the batch-size search ([`batch_search`]), operator profiles
//! ([`profile`]), statistics ([`stats`]) and the results they produce ([`results`]), each with the
//! environment it was measured in ([`environment`]).
//!
//! The pipeline is criterion's: workload → timing → samples → estimates; the analyses and the
//! reports of those results are `infer-report`'s.
//!
//! ```
//! use infer_measure::{measure::{MeasureSpec, measure}, timing::{BenchConfig, Stop}, workload::Workload};
//!
//! // Any backend crate will do; ONNX Runtime's is used where its library is installed.
//! let backend = infer_onnx::OnnxBackend;
//! let model = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/tiny/tiny_cnn.onnx");
//! let spec = MeasureSpec {
//!     model: model.into(),
//!     batch_sizes: vec![1, 4],
//!     config: BenchConfig { stop: Stop::Iterations(20), ..BenchConfig::default() },
//!     workload: Workload::default(),
//!     ..MeasureSpec::default()
//! };
//! match measure(&backend, &spec) {
//!     Ok(report) => {
//!         for row in &report.rows {
//!             println!("batch {}: median {:.3} ms, {:.0} items/s", row.batch_size, row.latency_ms.median, row.throughput_per_s);
//!         }
//!     }
//!     Err(e) => println!("not measured here: {e}"),
//! }
//! ```

pub mod batch_search;
pub mod concurrent;
pub mod confidence;
pub mod device_time;
pub mod environment;
pub mod feedback;
pub mod host;
pub mod lengths;
pub mod measure;
pub mod memory;
pub mod profile;
pub mod reference;
pub mod results;
pub mod rng;
pub mod rounds;
pub mod scenario;
pub mod stats;
#[doc(hidden)]
pub mod testing;
pub mod timing;
pub mod workload;
