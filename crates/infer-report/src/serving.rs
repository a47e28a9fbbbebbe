//! The reports of a serving comparison ([`ServingComparison`], `infer compare --scenario`): the
//! table a deployment engineer reads (backend, device, batching, the highest sustainable rate,
//! p50/p99 there) on the terminal, and `serving.json` (every request's raw record included),
//! `serving.md` and `serving.html` (latency percentiles against the offered rate, one curve per
//! configuration), rewritten atomically after every row.

use crate::table::Table;
use std::path::{Path, PathBuf};

use infer_core::{Result, fsutil::write_atomic};

use crate::{
    html::{BASE_STYLE, html_table},
    svg::{PALETTE, Series, escape, line_chart},
};
use infer_measure::{
    results::serving::{ServingComparison, ServingRow},
    results::write_json,
    scenario::ScenarioKind,
};

/// What a serving comparison tells its reporter.
pub trait ServingReporter {
    /// A child starts measuring `row` (its [`ServingRow::label`]).
    fn start(&self, _row: &str) {}

    /// The comparison so far, after each row and at the end.
    ///
    /// # Errors
    /// The reporter's own (file) errors.
    fn progress(&self, _c: &ServingComparison) -> Result<()> {
        Ok(())
    }
}

/// The comparison table: one line per (backend, device, batching); the columns follow the
/// scenario (a search, one server run, offline).
#[must_use]
pub fn table(c: &ServingComparison) -> Table {
    let search = c.options.iter().any(|o| o == "--find-max-rate");
    let columns: &[&str] = match (c.scenario, search) {
        (ScenarioKind::Server, true) => &["max rate/s", "p50 ms at max", "p99 ms at max", "closed loop/s", "found"],
        (ScenarioKind::Server, false) => &["rate/s", "served/s", "p50 ms", "p99 ms", "mean batch", "sustainable"],
        _ => &["items/s", "best batch"],
    };
    let mut t = Table::new(&[&["backend", "device", "batching"], columns, &["status"]].concat());
    let num = |v: Option<f64>, digits: usize| {
        v.filter(|v| v.is_finite()).map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
    };
    let yes = |v: Option<bool>| v.map_or_else(|| "-".into(), |b| if b { "yes".to_string() } else { "no".into() });
    for row in &c.rows {
        let mut cells = vec![row.backend.clone(), row.device.to_string(), row.batching.clone()];
        match row.figures() {
            None => cells.resize(3 + columns.len(), "-".into()),
            Some(f) => cells.extend(match (c.scenario, search) {
                (ScenarioKind::Server, true) => vec![
                    num(f.rate_per_s, 1),
                    num(f.p50_ms, 2),
                    num(f.p99_ms, 2),
                    num(f.throughput_per_s, 1),
                    yes(f.sustainable),
                ],
                (ScenarioKind::Server, false) => vec![
                    num(f.rate_per_s, 1),
                    num(f.throughput_per_s, 1),
                    num(f.p50_ms, 2),
                    num(f.p99_ms, 2),
                    num(f.batch, 2),
                    yes(f.sustainable),
                ],
                _ => vec![num(f.throughput_per_s, 1), num(f.batch, 0)],
            }),
        }
        cells.push(row.status.to_string());
        t.rows.push(cells);
    }
    t
}

/// Each row's warnings, prefixed by its label.
fn warnings(c: &ServingComparison) -> Vec<String> {
    c.rows.iter().flat_map(|r| r.warnings().into_iter().map(move |w| format!("{}: {w}", r.label()))).collect()
}

/// The terminal text: the table, then the warnings.
#[must_use]
pub fn text(c: &ServingComparison) -> String {
    let mut out = format!("{} — {}\n\n", c.model, c.options.join(" "));
    out.push_str(&table(c).to_text());
    for w in warnings(c) {
        out.push_str(&format!("warning: {w}\n"));
    }
    out
}

/// `serving.md`.
#[must_use]
pub fn markdown(c: &ServingComparison) -> String {
    let mut out = format!("# Serving comparison: {}\n\n`{}`\n\n", c.model, c.options.join(" "));
    out.push_str(&table(c).to_markdown());
    let w = warnings(c);
    if !w.is_empty() {
        out.push_str("\n## Warnings\n\n");
        for line in w {
            out.push_str(&format!("- {line}\n"));
        }
    }
    out
}

/// The latency-against-offered-rate curves of the rows that searched, one per configuration.
fn rate_charts(c: &ServingComparison) -> String {
    let searched: Vec<&ServingRow> = c.rows.iter().filter(|r| !r.probes().is_empty()).collect();
    if searched.is_empty() {
        return String::new();
    }
    let series = |pick: fn(&(f64, f64, f64)) -> f64| -> Vec<Series> {
        searched
            .iter()
            .enumerate()
            .map(|(i, r)| Series {
                name: r.label(),
                color: PALETTE[i % PALETTE.len()].into(),
                points: r.probes().iter().map(|p| (p.0, pick(p))).collect(),
            })
            .collect()
    };
    format!(
        "<h2>Latency against offered rate</h2>\n<p class=\"note\">Each point is one probe of the search \
         (a server run at that rate, stopped by early stopping); latency counts from each request's \
         scheduled arrival, so queueing shows.</p>\n{}\n{}\n",
        line_chart("p99 latency against offered rate", "offered rate (requests/s)", "p99 ms", &series(|p| p.2), true),
        line_chart("p50 latency against offered rate", "offered rate (requests/s)", "p50 ms", &series(|p| p.1), true),
    )
}

/// Every probe of every search: its rate, its span of schedule, the requests it answered and
/// its verdict.
fn probe_tables(c: &ServingComparison) -> String {
    let mut out = String::new();
    for row in &c.rows {
        let Some(infer_measure::scenario::ScenarioResult::FindMaxRate(search)) = row.report.as_ref().map(|r| &r.result)
        else {
            continue;
        };
        let mut t = Table::new(&["probe", "req/s", "seconds of schedule", "requests", "result", "why"]);
        for (i, p) in search.probes.iter().enumerate() {
            t.rows.push(vec![
                (i + 1).to_string(),
                format!("{:.2}", p.rate),
                format!("{:.2}", p.duration_s),
                p.requests.to_string(),
                infer_measure::scenario::search::outcome_word(p.outcome).into(),
                p.reason.clone(),
            ]);
        }
        out.push_str(&format!("<h2>Probes: {}</h2>\n", escape(&row.label())));
        out.push_str(&html_table(&t, 0, &|_, _| ""));
    }
    out
}

/// `serving.html`: the table, the warnings, the curves, every probe and the runtimes.
#[must_use]
pub fn html(c: &ServingComparison) -> String {
    let title = format!("Serving comparison: {}", c.model);
    let t = table(c);
    let status = t.header.len() - 1;
    let rows = &c.rows;
    let classes = move |r: usize, col: usize| {
        if col == status && rows.get(r).is_some_and(|row| row.status.is_error()) { "bad" } else { "" }
    };
    let mut out = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{t_}</title><style>{BASE_STYLE}</style></head>\
         <body>\n<h1>{t_}</h1>\n<p><code>{}</code></p>\n",
        escape(&c.options.join(" ")),
        t_ = escape(&title),
    );
    out.push_str(&html_table(&t, 3, &classes));
    let w = warnings(c);
    if !w.is_empty() {
        out.push_str("<ul class=\"warnings\">");
        for line in w {
            out.push_str(&format!("<li>{}</li>", escape(&line)));
        }
        out.push_str("</ul>\n");
    }
    out.push_str(&rate_charts(c));
    out.push_str(&probe_tables(c));
    out.push_str("<h2>Environment</h2>\n");
    out.push_str(&crate::html::environment_list(&c.environment));
    out.push_str("</body></html>\n");
    out
}

/// Writes `serving.json`, `serving.md` and `serving.html` into a folder after every row, and tells
/// the terminal which row starts.
#[derive(Debug, Clone)]
pub struct ServingFiles {
    dir: PathBuf,
}

impl ServingFiles {
    /// The reporter writing into `dir`.
    #[must_use]
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf() }
    }

    /// The files it writes.
    #[must_use]
    pub fn files(&self) -> Vec<PathBuf> {
        ["serving.json", "serving.md", "serving.html"].iter().map(|f| self.dir.join(f)).collect()
    }
}

impl ServingReporter for ServingFiles {
    fn start(&self, row: &str) {
        eprintln!("measuring {row} …");
    }

    fn progress(&self, c: &ServingComparison) -> Result<()> {
        write_json(&self.dir.join("serving.json"), c)?;
        write_atomic(&self.dir.join("serving.md"), markdown(c).as_bytes())?;
        write_atomic(&self.dir.join("serving.html"), html(c).as_bytes())
    }
}
