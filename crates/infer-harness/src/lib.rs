//! The **infer** harness: drives identical workloads across every backend and device, measures
//! them and writes comparison tables and reports. The `infer` binary is its command line.
//!
//! ```
//! let registry = infer_harness::backends::registry();
//! // Every backend is listed, usable or not, so reports can say why one is missing.
//! let names: Vec<_> = registry.iter().map(|b| b.name()).collect();
//! assert_eq!(names, ["onnx", "torch", "tf", "openvino"]);
//! ```

pub mod analysis;
pub mod args;
pub mod backends;
pub mod batch_search;
pub mod bench;
pub mod compare;
pub mod comparison;
pub mod environment;
pub mod fixture;
pub mod fleet;
pub mod interrupt;
pub mod load;
pub mod measure;
pub mod memory;
pub mod profile;
pub mod reference;
pub mod report;
pub mod reporters;
pub mod rounds;
pub mod runner;
pub mod runs;
pub mod scenario;
pub mod serving;
pub mod shard;
#[cfg(test)]
mod testing;
pub mod values;
pub mod worker;
pub mod workload;
