//! The reports of **infer**: every result kind rendered through one trait, [`report::Report`],
//! to the terminal, Markdown, CSV, JSON and HTML.
//!
//! A result gives a [`document::Document`] (title, sections of tables, notes, lists, warnings,
//! charts) and its JSON; the renderers of [`render`] turn a document into each format. The result
//! kinds: a bench report ([`bench`](mod@bench)), a comparison ([`comparison`], its analyses in
//! [`analysis`]), scenario reports ([`scenario`]), a serving comparison ([`serving`]), a fleet
//! of machines ([`fleet`]), the changes between two runs ([`compare_runs`]), load tests
//! ([`concurrent`]), variable-length traffic ([`lengths`](mod@lengths)), an operator profile
//! ([`profile`]) and a batch search ([`batch_search`]).
//! [`saved`] reads result files back; [`progress`] rewrites a running comparison's files after
//! every row. Every kind shows the host's evidence and the energy its rows recorded
//! ([`evidence`]), and says one row is faster than another only when the intervals separate them
//! ([`verdict`]).
//!
//! ```
//! use infer_report::report::{Format, Report};
//!
//! let comparison = infer_measure::testing::synthetic();
//! let text = comparison.render(Format::Terminal).unwrap();
//! assert!(text.starts_with("backend  device  batch"));
//! let page = comparison.render(Format::Html).unwrap();
//! assert!(page.starts_with("<!DOCTYPE html>") && page.contains("class=\"mark box\""));
//! ```

pub mod analysis;
pub mod batch_search;
pub mod bench;
pub mod compare_runs;
pub mod comparison;
pub mod concurrent;
pub mod device;
pub mod document;
pub mod evidence;
pub mod fleet;
pub mod lengths;
pub mod profile;
pub mod progress;
pub mod render;
pub mod report;
pub mod saved;
pub mod scenario;
pub mod serving;
pub mod svg;
pub mod table;
pub mod verdict;
