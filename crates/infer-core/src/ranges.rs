//! The values an integer input may take, as a model proves them.

use serde::{Deserialize, Serialize};

/// The values an integer input may take, `[lo, hi)`, and what in the model proves it (an
/// embedding lookup: `[0, rows of the table)`), as [`crate::SessionInfo::integer_ranges`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntRange {
    /// Smallest allowed value.
    pub lo: i64,
    /// One past the largest allowed value.
    pub hi: i64,
    /// What proves it, in words (`Gather on initializer `emb.weight` (30522 rows), through Cast`).
    pub evidence: String,
}
