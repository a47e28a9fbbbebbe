//! The `infer` command line: every backend registered ([`backends`]), the commands ([`cli`]),
//! the orchestration of a comparison across backends and devices in child processes
//! ([`compare`], [`runner`], [`fixture`]), the torch worker ([`worker`]), sharded runs and their
//! merge ([`shard`]), and Ctrl-C ([`interrupt`]). What it measures comes from `infer-measure`,
//! what it writes from `infer-report`.
//!
//! ```
//! let registry = infer_cli::backends::registry();
//! // Every backend is listed, usable or not, so reports can say why one is missing.
//! for (name, availability) in registry.probe_all() {
//!     println!("{name}: {}", availability.summary());
//! }
//! // ONNX Runtime is registered first: the default reader of `.onnx` files.
//! assert_eq!(registry.iter().next().map(|b| b.name()), Some("onnx"));
//! ```

pub mod backends;
pub mod cli;
pub mod compare;
pub mod fixture;
pub mod interrupt;
pub mod postprocess;
pub mod probes;
pub mod runner;
pub mod shard;
pub mod worker;
