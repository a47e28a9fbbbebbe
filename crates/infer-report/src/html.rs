//! The self-contained HTML report of a [`Comparison`]: tables and inline-SVG plots in one file
//! that opens in any browser without network access (no scripts, no external style sheets,
//! fonts or images).
//!
//! Figures: the latency distribution of every backend and device (one box plot per batch size,
//! with every raw sample), throughput and per-item latency against batch size (one line per
//! backend × device), and CPU against GPU (bars of both medians) when some backend ran on both.
//! Tables: every row's statistics with bootstrap confidence intervals and coefficient of
//! variation, its warnings listed under the table; each run's load time, first inference, memory
//! and difference to the reference; CPU-against-GPU speed-ups; backends against the fastest;
//! where the time goes; the environment and command lines. Every text that comes from data
//! (model names, error messages) is escaped.
//!
//! Each section is a small function over the comparison and the [`crate::analysis`] results.

use crate::table::Table;
use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use infer_core::Result;
use infer_measure::stats::Estimate;

use crate::analysis::{self, ProfileOutcome};
use crate::{
    markdown::{PROFILE_NOTE, profile_sources},
    reporters::Reporter,
    svg::{Bar, BarGroup, BoxRow, PALETTE, Series, bar_chart, box_chart, escape, line_chart},
};
use infer_measure::{
    memory::mib,
    results::comparison::{CompareEntry, Comparison, RowStatus},
    results::{BenchReport, BenchRow},
    rounds,
};

/// Writes the HTML report to one file, after every row and at the end.
#[derive(Debug, Clone)]
pub struct HtmlReport {
    path: PathBuf,
}

impl HtmlReport {
    /// A reporter writing `path`.
    #[must_use]
    pub fn new(path: &Path) -> Self {
        Self { path: path.to_path_buf() }
    }
}

impl Reporter for HtmlReport {
    fn progress(&self, c: &Comparison) -> Result<()> {
        infer_core::fsutil::write_atomic(&self.path, render(c).as_bytes())
    }

    fn final_summary(&self, c: &Comparison) -> Result<()> {
        self.progress(c)
    }

    fn files(&self) -> Vec<PathBuf> {
        vec![self.path.clone()]
    }
}

/// Style rules both HTML pages share (the comparison report and the fleet report): page,
/// headings, tables, the environment list and the charts of [`super::svg`].
pub(crate) const BASE_STYLE: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 24px auto; max-width: 1280px;
       padding: 0 16px; color: #222; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: 4px; } h2 { margin-top: 32px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 12px; margin: 8px 0; }
dl.env { display: grid; grid-template-columns: max-content auto; gap: 4px 16px; font-size: 14px; }
dl.env dt { font-weight: 600; } dl.env dd { margin: 0; word-break: break-word; }
code { background: #f3f4f6; padding: 1px 4px; border-radius: 3px; }
svg.chart { display: block; margin: 12px 0; background: #fff; width: 100%; max-width: 960px; height: auto; }
svg .title { font-size: 15px; font-weight: 600; } svg .tick, svg .legend, svg .rowlabel { font-size: 12px; fill: #333; }
svg .label { font-size: 13px; fill: #333; } svg .grid { stroke: #e5e7eb; } svg .value { font-size: 11px; fill: #333; }
svg .note { font-size: 12px; font-weight: 600; fill: #222; } svg .whisker { stroke-width: 1.5; }
";

/// The comparison report's own rules, after [`BASE_STYLE`].
const STYLE: &str = "
h3 { font-size: 1em; margin: 12px 0 4px; }
p.sub, p.note { color: #555; margin-top: 4px; }
th, td { border: 1px solid #ddd; padding: 3px 5px; text-align: right; vertical-align: top; }
th { background: #f3f4f6; } td.text, th.text { text-align: left; } div.scroll { overflow-x: auto; }
td { white-space: nowrap; } td.text:last-child { white-space: normal; min-width: 160px; max-width: 360px; }
tr.missing td { color: #777; } td.bad { color: #b00020; font-weight: 600; } td.warn { color: #a15c00; }
ul.warnings { font-size: 13px; color: #a15c00; margin: 4px 0 8px; padding-left: 20px; }
ul.warnings b { color: #222; font-weight: 600; }
";

/// The whole report as one HTML document.
#[must_use]
pub fn render(c: &Comparison) -> String {
    let view = View::new(c);
    [
        head(&view),
        results_section(&view),
        distribution_section(&view),
        batch_section(&view),
        cpu_gpu_section(c),
        backends_section(c),
        profile_section(c),
        runs_section(c),
        environment_section(&view),
        "</body></html>\n".into(),
    ]
    .concat()
}

/// The comparison with its measured reports, and a colour per report for every figure.
struct View<'a> {
    c: &'a Comparison,
    reports: Vec<&'a BenchReport>,
}

impl<'a> View<'a> {
    fn new(c: &'a Comparison) -> Self {
        Self { c, reports: c.reports().collect() }
    }

    /// The colour of `r` (the same in every figure).
    fn color(&self, r: &BenchReport) -> String {
        let i = self.reports.iter().position(|o| o.backend == r.backend && o.device == r.device).unwrap_or(0);
        PALETTE[i % PALETTE.len()].to_string()
    }
}

/// The label of one (backend, device) series.
fn series_label(r: &BenchReport) -> String {
    format!("{} {}", r.backend, r.device)
}

/// Milliseconds, or `-` when unknown.
fn ms(v: f64) -> String {
    if v.is_finite() { format!("{v:.3}") } else { "-".into() }
}

/// A value with its confidence interval, when there is one.
fn with_ci(v: f64, e: Option<&Estimate>) -> String {
    match e {
        Some(e) => format!("{} ({}–{})", ms(v), ms(e.lower()), ms(e.upper())),
        None => ms(v),
    }
}

/// One table row: a class for the `<tr>` (empty for none) and its escaped cells.
struct Row {
    class: &'static str,
    cells: Vec<String>,
}

impl Row {
    fn new(cells: Vec<String>) -> Self {
        Self { class: "", cells }
    }
}

/// An HTML table; the first `text_columns` columns are left-aligned text.
fn table(header: &[&str], text_columns: usize, rows: &[Row]) -> String {
    let mut out = String::from("<div class=\"scroll\"><table><thead><tr>");
    for (i, h) in header.iter().enumerate() {
        let class = if i < text_columns { " class=\"text\"" } else { "" };
        out.push_str(&format!("<th{class}>{}</th>", escape(h)));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        if row.class.is_empty() {
            out.push_str("<tr>");
        } else {
            out.push_str(&format!("<tr class=\"{}\">", row.class));
        }
        out.push_str(&row.cells.concat());
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

/// A plain-text table as HTML, the first `text_columns` left-aligned; `classes` gives a cell a
/// class by (row, column).
pub(crate) fn html_table(t: &Table, text_columns: usize, classes: &dyn Fn(usize, usize) -> &'static str) -> String {
    let mut out = String::from("<div class=\"scroll\"><table><thead><tr>");
    for (i, h) in t.header.iter().enumerate() {
        let class = if i < text_columns { " class=\"text\"" } else { "" };
        out.push_str(&format!("<th{class}>{}</th>", escape(h)));
    }
    out.push_str("</tr></thead><tbody>");
    for (r, row) in t.rows.iter().enumerate() {
        out.push_str("<tr>");
        for (i, c) in row.iter().enumerate() {
            let class = [if i < text_columns { "text" } else { "" }, classes(r, i)]
                .iter()
                .filter(|c| !c.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
            let class = if class.is_empty() { String::new() } else { format!(" class=\"{class}\"") };
            out.push_str(&format!("<td{class}>{}</td>", escape(c)));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

fn cell(text: &str) -> String {
    format!("<td>{}</td>", escape(text))
}

fn text_cell(text: &str) -> String {
    format!("<td class=\"text\">{}</td>", escape(text))
}

fn classed_cell(class: &str, text: &str) -> String {
    format!("<td class=\"text {class}\">{}</td>", escape(text))
}

fn note(text: &str) -> String {
    format!("<p class=\"note\">{text}</p>")
}

/// A line for an entry that was not measured: its key, `-` up to the last column, its status.
fn missing_row(e: &CompareEntry, columns: usize) -> Row {
    let mut cells = vec![text_cell(&e.backend), text_cell(&e.device.to_string())];
    cells.extend((2..columns - 1).map(|_| cell("-")));
    cells.push(classed_cell(if e.status.is_error() { "bad" } else { "" }, &e.status.to_string()));
    Row { class: "missing", cells }
}

fn head(view: &View<'_>) -> String {
    let c = view.c;
    let title = escape(&format!("{} — backend comparison", c.model));
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{BASE_STYLE}{STYLE}</style></head><body>\n<h1>{title}</h1>\n\
         <p class=\"sub\">{} of {} backend/device pairs measured · tolerance on max |diff| {:.0e} · \
         generated by infer {}</p>\n",
        view.reports.len(),
        c.entries.len(),
        c.tolerance,
        env!("CARGO_PKG_VERSION"),
    )
}

const RESULT_COLUMNS: [&str; 15] = [
    "backend",
    "device",
    "batch",
    "iters",
    "median ms (95% CI)",
    "mean ms",
    "std ms",
    "min ms",
    "max ms",
    "p95 ms",
    "p99 ms (95% CI)",
    "CoV",
    "items/s",
    "ms/item",
    "status",
];

/// Results: one line per measured row, one per unmeasured (backend, device) with its status, then
/// the rows' warnings as a list.
fn results_section(view: &View<'_>) -> String {
    let mut rows = Vec::new();
    for e in &view.c.entries {
        match &e.report {
            Some(r) => rows.extend(r.rows.iter().map(|row| result_row(e, r, row))),
            None => rows.push(missing_row(e, RESULT_COLUMNS.len())),
        }
    }
    format!(
        "<section id=\"results\"><h2>Results</h2>\n{}{}{}</section>\n",
        table(&RESULT_COLUMNS, 2, &rows),
        warnings_list(view),
        note(
            "Latency is the time of one call (one batch), from the timed iterations after warm-up. The 95% \
             confidence intervals are percentile bootstraps of the median and p99. CoV is the standard deviation \
             over the mean."
        ),
    )
}

fn result_row(e: &CompareEntry, r: &BenchReport, row: &BenchRow) -> Row {
    let s = &row.latency_ms;
    let mut iterations = match &row.round_medians_ms {
        Some(m) => {
            format!("{} ({} rounds, medians {:.1}% apart)", row.iterations, m.len(), rounds::spread(m) * 100.0)
        }
        None => row.iterations.to_string(),
    };
    if let Some(c) = &row.convergence {
        iterations.push_str(&format!("; target ±{}: {}", infer_measure::confidence::pct(c.target), c.label()));
    }
    let mut cells = vec![text_cell(&r.backend), text_cell(&r.device.to_string())];
    cells.extend(
        [
            row.batch_size.to_string(),
            iterations,
            with_ci(s.median, row.median_ci_ms.as_ref()),
            ms(s.mean),
            ms(s.std),
            ms(s.min),
            ms(s.max),
            ms(s.p95),
            with_ci(s.p99, row.p99_ci_ms.as_ref()),
            format!("{:.1}%", row.cov * 100.0),
            format!("{:.1}", row.throughput_per_s),
            ms(row.per_item_ms),
        ]
        .iter()
        .map(|t| cell(t)),
    );
    // A later round's failure stands beside the rounds that ran; warnings are listed below.
    cells.push(match (&e.status, row.warnings.len()) {
        (RowStatus::Error { .. }, _) => classed_cell("bad", &e.status.to_string()),
        (_, 0) => text_cell("ok"),
        (_, 1) => classed_cell("warn", "1 warning, below"),
        (_, n) => classed_cell("warn", &format!("{n} warnings, below")),
    });
    Row::new(cells)
}

/// Every measured row's warnings, one item each, under the results table.
fn warnings_list(view: &View<'_>) -> String {
    let items: Vec<String> = view
        .reports
        .iter()
        .flat_map(|r| r.rows.iter().map(move |row| (r, row)))
        .flat_map(|(r, row)| {
            row.warnings.iter().map(move |w| {
                format!("<li><b>{} {}, batch {}:</b> {}</li>", escape(&r.backend), r.device, row.batch_size, escape(w))
            })
        })
        .collect();
    if items.is_empty() {
        return String::new();
    }
    format!("<h3>Warnings</h3><ul class=\"warnings\">{}</ul>", items.concat())
}

/// Latency distribution: one box plot per batch size.
fn distribution_section(view: &View<'_>) -> String {
    let mut out = String::from("<section id=\"distribution\"><h2>Latency distribution</h2>\n");
    let batches: BTreeSet<usize> = view.reports.iter().flat_map(|r| r.rows.iter().map(|row| row.batch_size)).collect();
    if batches.is_empty() {
        out.push_str(&note("No backend was measured."));
    }
    for &b in &batches {
        let rows: Vec<BoxRow> = view
            .reports
            .iter()
            .filter_map(|r| {
                let row = r.rows.iter().find(|row| row.batch_size == b)?;
                Some(BoxRow {
                    label: series_label(r),
                    color: view.color(r),
                    samples: row.samples_ms.clone(),
                    fallback: Some((row.latency_ms.median, row.latency_ms.min, row.latency_ms.max)),
                })
            })
            .collect();
        out.push_str(&box_chart(&format!("Latency per call, batch size {b}"), "milliseconds per call", &rows));
    }
    out.push_str(&note(
        "Each dot is one timed call. Box: 25th to 75th percentile; dark bar: median; whiskers: 5th to 95th \
         percentile. The axis is logarithmic when the rows differ by more than 20×.",
    ));
    out.push_str("</section>\n");
    out
}

/// Throughput and latency per item against batch size: one line per (backend, device).
fn batch_section(view: &View<'_>) -> String {
    let series = |f: fn(&BenchRow) -> f64| -> Vec<Series> {
        view.reports
            .iter()
            .map(|r| {
                #[allow(clippy::cast_precision_loss)]
                let mut points: Vec<(f64, f64)> = r.rows.iter().map(|row| (row.batch_size as f64, f(row))).collect();
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                Series { name: series_label(r), color: view.color(r), points }
            })
            .collect()
    };
    let mut out = String::from("<section id=\"batch\"><h2>Throughput and latency against batch size</h2>\n");
    if !view.reports.is_empty() {
        out.push_str(&line_chart(
            "Throughput against batch size",
            "batch size",
            "items per second",
            &series(|row| row.throughput_per_s),
            true,
        ));
        out.push_str(&line_chart(
            "Latency per item against batch size",
            "batch size",
            "milliseconds per item",
            &series(|row| row.per_item_ms),
            true,
        ));
    }
    out.push_str(&note(
        "Throughput is batch size × 1000 / median latency (ms); latency per item is the median latency divided by \
         the batch size.",
    ));
    out.push_str("</section>\n");
    out
}

/// CPU against GPU: bars of both medians and the table of speed-ups.
fn cpu_gpu_section(c: &Comparison) -> String {
    let speed = analysis::speedups(c);
    let mut out = String::from("<section id=\"cpu-gpu\"><h2>CPU against GPU</h2>\n");
    if speed.is_empty() {
        out.push_str(&note("No backend was measured on both the CPU and a GPU (see the status column for why)."));
        out.push_str("</section>\n");
        return out;
    }
    let groups: Vec<BarGroup> = speed
        .iter()
        .map(|s| BarGroup {
            label: format!("{}\nbatch {}", s.backend, s.batch_size),
            note: format!("{:.1}×", s.speedup),
            bars: vec![
                Bar { name: "cpu".into(), color: "#4e79a7".into(), value: s.cpu_median_ms },
                Bar { name: s.gpu.to_string(), color: "#59a14f".into(), value: s.gpu_median_ms },
            ],
        })
        .collect();
    out.push_str(&bar_chart("Median latency per call, CPU against GPU", "milliseconds per call", &groups));
    let rows: Vec<Row> = speed
        .iter()
        .map(|s| {
            Row::new(vec![
                text_cell(&s.backend),
                text_cell(&s.gpu.to_string()),
                cell(&s.batch_size.to_string()),
                cell(&ms(s.cpu_median_ms)),
                cell(&ms(s.gpu_median_ms)),
                cell(&format!("{:.2}×", s.speedup)),
            ])
        })
        .collect();
    out.push_str(&table(&["backend", "gpu", "batch", "cpu median ms", "gpu median ms", "gpu speed-up"], 2, &rows));
    out.push_str(&note(
        "Bars: median latency per call on the CPU and on the GPU; above each pair, the GPU's speed-up = CPU median \
         / GPU median for the same backend and batch size.",
    ));
    out.push_str("</section>\n");
    out
}

/// Backends against each other: each backend's median against the fastest.
fn backends_section(c: &Comparison) -> String {
    let rel = analysis::relative(c);
    if rel.is_empty() {
        return String::new();
    }
    let rows: Vec<Row> = rel
        .iter()
        .map(|r| {
            let vs = if r.relative <= 1.0 { "fastest".into() } else { format!("{:.2}× slower", r.relative) };
            Row::new(vec![
                text_cell(&r.device.to_string()),
                cell(&r.batch_size.to_string()),
                text_cell(&r.backend),
                cell(&ms(r.median_ms)),
                cell(&vs),
            ])
        })
        .collect();
    format!(
        "<section id=\"backends\"><h2>Backends against each other</h2>\n{}</section>\n",
        table(&["device", "batch", "backend", "median ms", "vs fastest"], 1, &rows)
    )
}

/// Where the time goes: the top operator types of each backend's profile, the failed profiles,
/// then what the shares mean and where each profile came from.
fn profile_section(c: &Comparison) -> String {
    let profiles = analysis::profiles(c);
    if profiles.is_empty() {
        return String::new();
    }
    let mut rows = Vec::new();
    for p in &profiles {
        let key = [text_cell(p.backend), text_cell(&p.device.to_string())];
        match &p.outcome {
            ProfileOutcome::Profiled { top, .. } => rows.extend(top.iter().map(|op| {
                let mut cells = key.to_vec();
                cells.extend([
                    text_cell(&op.name),
                    cell(&format!("{:.3}", op.per_run_ms)),
                    cell(&format!("{:.0}", op.calls_per_run)),
                    cell(&format!("{:.1}", op.share_pct)),
                ]);
                Row::new(cells)
            })),
            ProfileOutcome::Failed(err) => {
                let mut cells = key.to_vec();
                cells.extend([text_cell(&format!("no profile: {err}")), cell("-"), cell("-"), cell("-")]);
                rows.push(Row::new(cells));
            }
        }
    }
    let sources: String = profile_sources(c).iter().map(|s| format!("<li>{}</li>", escape(s))).collect();
    format!(
        "<section id=\"profile\"><h2>Where the time goes</h2>\n{}{}<ul class=\"note\">{sources}</ul></section>\n",
        table(&["backend", "device", "op type", "per run ms", "calls per run", "share %"], 3, &rows),
        note(&escape(PROFILE_NOTE)),
    )
}

const RUN_COLUMNS: [&str; 11] = [
    "backend",
    "device",
    "load ms",
    "first inference ms",
    "parameters",
    "RSS before load",
    "RSS after load",
    "peak RSS",
    "max |diff|",
    "tolerance",
    "verdict / status",
];

/// Load, memory and correctness: one line per entry.
fn runs_section(c: &Comparison) -> String {
    let rows: Vec<Row> = c
        .entries
        .iter()
        .map(|e| match &e.report {
            Some(r) => run_row(r, c.tolerance),
            None => missing_row(e, RUN_COLUMNS.len()),
        })
        .collect();
    format!(
        "<section id=\"runs\"><h2>Load, memory and correctness</h2>\n{}{}</section>\n",
        table(&RUN_COLUMNS, 2, &rows),
        note(
            "Load: reading the model and creating the session. First inference: the first call, lazy \
             initialization included. max |diff|: largest absolute difference to the reference output of the \
             framework that wrote the model (with model files: the first model's output); relative: that over \
             the largest magnitude of the reference; top-1: rows whose top class agrees."
        ),
    )
}

fn run_row(r: &BenchReport, tolerance: f64) -> Row {
    let opt = |v: Option<u64>, f: fn(u64) -> String| v.map_or_else(|| "-".into(), f);
    let parity = analysis::parity(r, tolerance);
    Row::new(vec![
        text_cell(&r.backend),
        text_cell(&r.device.to_string()),
        cell(&ms(r.load_ms)),
        cell(&ms(r.first_inference_ms)),
        cell(&opt(r.parameters, |p| p.to_string())),
        cell(&opt(r.rss_before_load, mib)),
        cell(&opt(r.rss_after_load, mib)),
        cell(&opt(r.peak_rss, mib)),
        cell(&diff_text(r)),
        cell(&format!("{tolerance:.0e}")),
        classed_cell(if parity.is_ok() { "" } else { "bad" }, &parity.to_string()),
    ])
}

/// `3.1e-06`, with the relative difference and top-1 agreement where the report has them.
fn diff_text(r: &BenchReport) -> String {
    let Some(d) = r.max_abs_diff else { return "-".into() };
    let mut extra = Vec::new();
    if let Some(rel) = r.max_rel_diff {
        extra.push(format!("relative {rel:.2e}"));
    }
    if let Some(a) = r.top1_agreement {
        extra.push(format!("top-1 {:.0}%", a * 100.0));
    }
    if extra.is_empty() { format!("{d:.2e}") } else { format!("{d:.2e} ({})", extra.join(", ")) }
}

/// The environment, and each child's command line.
fn environment_section(view: &View<'_>) -> String {
    let mut out = String::from("<section id=\"environment\"><h2>Environment</h2>\n");
    out.push_str(&environment_list(&view.c.environment));
    let child_cmds: String = view
        .reports
        .iter()
        .filter(|r| !r.environment.command.is_empty())
        .map(|r| {
            format!(
                "<li><code>{}</code></li>",
                escape(&infer_measure::environment::shell_words(&r.environment.command))
            )
        })
        .collect();
    if !child_cmds.is_empty() {
        out.push_str(&format!("{}<ul>{child_cmds}</ul>", note("Each measurement ran in its own process:")));
    }
    out.push_str("</section>\n");
    out
}

/// The environment's lines (CPU, versions, command, …) as a `<dl>`, shared by every HTML report.
pub(crate) fn environment_list(env: &infer_measure::environment::Environment) -> String {
    let mut out = String::from("<dl class=\"env\">");
    for (k, v) in env.lines() {
        let v = if k == "Command" { format!("<code>{}</code>", escape(&v)) } else { escape(&v) };
        out.push_str(&format!("<dt>{}</dt><dd>{v}</dd>", escape(k)));
    }
    out.push_str("</dl>\n");
    out
}

#[cfg(test)]
mod tests {
    use infer_core::Device;

    use super::*;
    use infer_measure::testing::{synthetic, with_profiles};

    #[test]
    fn report_has_every_plot_and_escapes_data() {
        let html = render(&synthetic());
        // 2 distribution plots (batch 1 and 8), throughput, per-item latency, CPU against GPU.
        assert_eq!(html.matches("<svg").count(), 5);
        assert_eq!(html.matches("class=\"mark box\"").count(), 8);
        assert_eq!(html.matches("class=\"mark sample\"").count(), 8 * 40);
        assert_eq!(html.matches("class=\"mark point\"").count(), 2 * 4 * 2);
        assert_eq!(html.matches("class=\"mark bar\"").count(), 4 * 2);
        assert!(!html.contains("<script"), "markup from data must be escaped");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("resnet&lt;18&gt; — backend comparison"));
        assert!(html.contains(">10.0×</text>"), "speed-up of onnx at batch 1");
        assert!(!html.contains("<link") && !html.contains("src=") && !html.contains("url("), "self-contained");
    }

    #[test]
    fn warnings_are_listed_under_the_results_table_not_in_a_column() {
        let html = render(&synthetic());
        let results = &html[html.find("id=\"results\"").unwrap()..html.find("id=\"distribution\"").unwrap()];
        let (table, after) = results.split_at(results.find("</table>").unwrap());
        assert!(!table.contains("unreliable"), "no warning text inside the table");
        assert_eq!(table.matches("1 warning, below").count(), 8, "each measured row points to the list");
        assert!(!table.contains("status / warnings"));
        // One item per (row, warning), named by its row, in a list after the table.
        assert_eq!(after.matches("<li>").count(), 8);
        assert!(
            after.contains(
                "<ul class=\"warnings\"><li><b>onnx cpu, batch 1:</b> p99 from 40 samples is unreliable</li>"
            )
        );
        // Without warnings, neither the list nor its heading.
        let mut quiet = synthetic();
        quiet
            .entries
            .iter_mut()
            .filter_map(|e| e.report.as_mut())
            .flat_map(|r| &mut r.rows)
            .for_each(|r| r.warnings.clear());
        let html = render(&quiet);
        assert!(!html.contains("class=\"warnings\"") && !html.contains("<h3>Warnings"));
        assert_eq!(html.matches("<td class=\"text\">ok</td>").count(), 8);
    }

    #[test]
    fn a_later_rounds_failure_shows_in_the_status_column() {
        let mut c = synthetic();
        c.entries[2].status = RowStatus::Error { message: "round 2 of 3: exit code 1: boom".into() };
        let html = render(&c);
        assert_eq!(html.matches("<td class=\"text bad\">error: round 2 of 3: exit code 1: boom</td>").count(), 2);
    }

    #[test]
    fn profile_section_comes_from_the_data() {
        assert!(!render(&synthetic()).contains("id=\"profile\""));
        let html = render(&with_profiles(synthetic()));
        let section = &html[html.find("id=\"profile\"").unwrap()..html.find("id=\"runs\"").unwrap()];
        assert!(section.contains("<td class=\"text\">Conv</td><td>0.700</td><td>2</td><td>70.0</td>"), "{section}");
        assert!(section.contains("no profile: exit code 1: boom"));
        assert!(
            section.contains("<ul class=\"note\"><li>onnx on cpu: batch 1, 1 runs; ORT JSON</li></ul>"),
            "{section}"
        );
    }

    #[test]
    fn report_tolerates_missing_data() {
        let mut c = synthetic();
        for e in &mut c.entries {
            if let Some(r) = &mut e.report {
                for row in &mut r.rows {
                    row.samples_ms.clear();
                    row.median_ci_ms = None;
                }
            }
        }
        c.entries.retain(|e| e.device == Device::Cpu);
        let html = render(&c);
        assert_eq!(html.matches("<svg").count(), 4, "no CPU-GPU plot without a GPU");
        assert_eq!(html.matches("class=\"mark sample\"").count(), 0);
        assert_eq!(html.matches("class=\"mark median\"").count(), 4);
        assert!(html.contains("No backend was measured on both the CPU and a GPU"));
        let empty = Comparison { entries: vec![], ..c };
        let html = render(&empty);
        assert_eq!(html.matches("<svg").count(), 0);
        assert!(html.contains("No backend was measured."));
    }
}
