//! The reports of **infer**: the analyses of measured results ([`analysis`], [`compare_runs`]) and
//! their rendering to terminal, Markdown, CSV, JSON and HTML.

pub mod analysis;
pub mod batch_search;
pub mod bench;
pub mod compare_runs;
pub mod concurrent;
pub mod csv;
pub mod device;
pub mod fleet;
pub mod html;
pub mod json;
pub mod markdown;
pub mod profile;
pub mod reporters;
pub mod scenario;
pub mod serving;
pub mod svg;
pub mod table;
pub mod tables;
pub mod terminal;
