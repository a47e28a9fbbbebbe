//! A serving comparison as data: `infer compare --scenario offline|server` runs the scenario for
//! every (backend, device) and, in the server scenario, with and without the dynamic batcher. One
//! [`ServingRow`] per configuration keeps the child's whole [`ScenarioReport`] (every request's
//! raw record included); [`ServingRow::figures`] reduces it to the numbers a deployment engineer
//! compares. Written by `infer_cli::compare::serving`, rendered by `infer_report::serving`.

use infer_core::Device;
use serde::{Deserialize, Serialize};

use crate::{
    environment::Environment,
    results::comparison::RowStatus,
    scenario::{ScenarioKind, ScenarioReport, ScenarioResult},
};

/// Version of the [`ServingComparison`] JSON layout (`serving.json`).
pub const SERVING_SCHEMA_VERSION: u32 = 1;

/// Every configuration of one serving comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServingComparison {
    /// Version of this layout.
    pub schema_version: u32,
    /// Model name (the fixture's) or file.
    pub model: String,
    /// The scenario every row ran.
    pub scenario: ScenarioKind,
    /// The scenario options given to every child (`--find-max-rate --p99-bound 500ms …`).
    pub options: Vec<String>,
    /// Machine and runtimes.
    pub environment: Environment,
    /// One row per (backend, device, batching), in the order measured.
    pub rows: Vec<ServingRow>,
}

/// One (backend, device, batching) of a serving comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServingRow {
    /// Backend name.
    pub backend: String,
    /// Device.
    pub device: Device,
    /// `none`, or the dynamic batcher's settings (`dynamic ≤8, 2 ms`).
    pub batching: String,
    /// What became of it.
    pub status: RowStatus,
    /// The child's report, when it ran.
    pub report: Option<ScenarioReport>,
}

/// The headline numbers of one row.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Figures {
    /// Server: the rate offered (a run) or the highest rate within the bound (a search), per s.
    pub rate_per_s: Option<f64>,
    /// Server: requests answered per second; offline: the best samples per second.
    pub throughput_per_s: Option<f64>,
    /// Median latency from the scheduled arrival (at the highest rate for a search), ms.
    pub p50_ms: Option<f64>,
    /// 99th percentile, ms.
    pub p99_ms: Option<f64>,
    /// Server run: valid and without growing queueing; search: converged with a rate found.
    pub sustainable: Option<bool>,
    /// Mean requests per batch (server run), or the best batch (offline).
    pub batch: Option<f64>,
}

impl ServingRow {
    /// The headline numbers of the row's report; `None` when it did not run.
    #[must_use]
    pub fn figures(&self) -> Option<Figures> {
        let report = self.report.as_ref()?;
        Some(match &report.result {
            ScenarioResult::FindMaxRate(s) => Figures {
                rate_per_s: s.max_rate,
                throughput_per_s: Some(s.closed_loop_per_s),
                p50_ms: s.at_max.as_ref().map(|p| p.p50_ms),
                p99_ms: s.at_max.as_ref().map(|p| p.p99_ms),
                sustainable: Some(s.converged && s.max_rate.is_some()),
                batch: None,
            },
            ScenarioResult::Server(r) => Figures {
                rate_per_s: r.asked_rate,
                throughput_per_s: r.analysis.queueing.completed_rate,
                p50_ms: Some(r.analysis.latency_ms.p50),
                p99_ms: Some(r.analysis.latency_ms.p99),
                sustainable: Some(r.valid && r.sustainable),
                batch: Some(r.analysis.mean_batch),
            },
            ScenarioResult::Offline(o) => Figures {
                throughput_per_s: Some(o.best_throughput_per_s),
                #[allow(clippy::cast_precision_loss)]
                batch: Some(o.best_batch as f64),
                ..Figures::default()
            },
            ScenarioResult::SingleStream(s) => Figures {
                throughput_per_s: Some(s.throughput_per_s),
                p50_ms: Some(s.latency_ms.p50),
                p99_ms: Some(s.latency_ms.p99),
                ..Figures::default()
            },
        })
    }

    /// `onnx cpu, dynamic ≤8, 2 ms`: the row's name in legends.
    #[must_use]
    pub fn label(&self) -> String {
        format!("{} {}, {}", self.backend, self.device, self.batching)
    }

    /// The (offered rate, p50, p99) of every probe of a search, in rate order; empty otherwise.
    #[must_use]
    pub fn probes(&self) -> Vec<(f64, f64, f64)> {
        let Some(ScenarioResult::FindMaxRate(s)) = self.report.as_ref().map(|r| &r.result) else {
            return Vec::new();
        };
        let mut points: Vec<_> = s.probes.iter().map(|p| (p.rate, p.p50_ms, p.p99_ms)).collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        points
    }

    /// The warnings of the row's report (generator lag, growing queueing, the search's note).
    #[must_use]
    pub fn warnings(&self) -> Vec<String> {
        match self.report.as_ref().map(|r| &r.result) {
            Some(ScenarioResult::Server(r)) => r.warnings.clone(),
            Some(ScenarioResult::Offline(o)) => o.warnings.clone(),
            Some(ScenarioResult::FindMaxRate(s)) => s.note.iter().cloned().collect(),
            _ => Vec::new(),
        }
    }
}
