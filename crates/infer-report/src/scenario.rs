//! Scenario reports ([`ScenarioReport`], `infer bench --scenario …`): single-stream latency and
//! its early-stopping estimates, the offline table of batch sizes, a server run in a few lines
//! (load, latency, its split, batches, generator, queueing, verdict), and the search for the
//! highest sustainable rate with every probe. Several devices ([`Vec<ScenarioReport>`]) are
//! shown one after the other.

use std::fmt::Write as _;

use infer_core::Result;
use infer_measure::scenario::{
    ScenarioReport, ScenarioResult, SingleStreamReport,
    early_stopping::Verdict,
    offline::OfflineReport,
    search::SearchReport,
    server::{ServerReport, fmt_num, fmt_pct},
};
use infer_measure::workload::lengths::PaddingFigures;

use crate::{
    document::{Block, Document, List, Section, TableBlock, paragraph},
    report::{Format, Report, to_json},
    table::Table,
};

impl Report for ScenarioReport {
    /// The same in every format, but that the terminal starts with the title as a line (not for
    /// a search, whose first line says what it searched), and the other formats have a table of
    /// the headline numbers for a server or single-stream run (what CSV holds).
    fn document(&self, format: Format) -> Document {
        let head = format!("{} {} {}", self.backend, self.device, self.model);
        let (kind, blocks) = match &self.result {
            ScenarioResult::SingleStream(s) => ("single-stream", single_stream(s)),
            ScenarioResult::Offline(o) => ("offline", offline(o)),
            ScenarioResult::Server(s) => ("server", server(s)),
            ScenarioResult::FindMaxRate(s) => ("find-max-rate", search(s, &self.backend, &self.device.to_string())),
        };
        let title = format!("{kind}: {head}");
        let mut section = Section::new();
        if format == Format::Terminal {
            if !matches!(self.result, ScenarioResult::FindMaxRate(_)) {
                section.push(paragraph(title.clone()));
            }
        } else if let Some(t) = figures(self) {
            section.push(TableBlock::new(t).text([0, 1]).main());
        }
        section.blocks.extend(blocks);
        if let Some(pairs) = self.environment.state_carried_text() {
            let streams = match &self.result {
                ScenarioResult::Server(s) => s.streams.map(|n| format!(", each of {n} client stream(s) its own")),
                _ => None,
            };
            section.push(paragraph(format!("state carried: {pairs}{}", streams.unwrap_or_default())));
        }
        let host = host_and_energy(self);
        if !host.is_empty() {
            section.push(List::plain(host));
        }
        Document::new(title).section(section)
    }

    fn json(&self) -> Result<String> {
        to_json(self)
    }
}

impl Report for Vec<ScenarioReport> {
    /// One device: its report; several: each under its title.
    fn document(&self, format: Format) -> Document {
        if let [one] = self.as_slice() {
            return one.document(format);
        }
        let mut doc = Document::new(self.first().map_or_else(String::new, |r| format!("Scenarios: {}", r.model)));
        for r in self {
            let d = r.document(format);
            for mut s in d.sections {
                s.heading = Some(d.title.clone());
                doc.sections.push(s);
            }
        }
        doc
    }

    /// One device: the report itself; several: a list (what `infer bench --json` writes).
    fn json(&self) -> Result<String> {
        match self.as_slice() {
            [one] => to_json(one),
            many => to_json(many),
        }
    }
}

/// What the host did during the run, why it is disturbed, and the energy line.
fn host_and_energy(report: &ScenarioReport) -> Vec<String> {
    let mut out: Vec<String> = report.host.iter().map(crate::evidence::host_line).collect();
    out.extend(infer_measure::host::disturbed_warnings(&report.disturbed));
    out.extend(report.energy.iter().map(ToString::to_string));
    out
}

/// The headline numbers of a server or single-stream run as a one-line table.
fn figures(report: &ScenarioReport) -> Option<Table> {
    let key = [report.backend.clone(), report.device.to_string()];
    let (columns, cells): (&[&str], Vec<String>) = match &report.result {
        ScenarioResult::Server(r) => {
            let (a, l) = (&r.analysis, &r.analysis.latency_ms);
            (
                &[
                    "requests",
                    "rate/s",
                    "served/s",
                    "p50 ms",
                    "p95 ms",
                    "p99 ms",
                    "max ms",
                    "mean batch",
                    "sustainable",
                ],
                vec![
                    a.requests.to_string(),
                    r.asked_rate.map_or_else(|| "-".into(), |v| format!("{v:.2}")),
                    a.queueing.completed_rate.map_or_else(|| "-".into(), |v| format!("{v:.2}")),
                    format!("{:.3}", l.p50),
                    format!("{:.3}", l.p95),
                    format!("{:.3}", l.p99),
                    format!("{:.3}", l.max),
                    format!("{:.2}", a.mean_batch),
                    if r.valid && r.sustainable { "yes".into() } else { "no".into() },
                ],
            )
        }
        ScenarioResult::SingleStream(s) => {
            let l = &s.latency_ms;
            (
                &["requests", "p50 ms", "p90 ms", "p99 ms", "max ms", "req/s"],
                vec![
                    l.count.to_string(),
                    format!("{:.3}", l.p50),
                    format!("{:.3}", percentile(&s.samples_ms, 90.0)),
                    format!("{:.3}", l.p99),
                    format!("{:.3}", l.max),
                    format!("{:.1}", s.throughput_per_s),
                ],
            )
        }
        ScenarioResult::Offline(_) | ScenarioResult::FindMaxRate(_) => return None,
    };
    let mut t = Table::new(&[&["backend", "device"], columns].concat());
    t.rows.push(key.into_iter().chain(cells).collect());
    Some(t)
}

/// Lines of text as one block (a list in Markdown and HTML).
fn lines(text: &str) -> Block {
    List::plain(text.lines().map(str::to_string)).into()
}

/// Single-stream latency lines.
fn single_stream(s: &SingleStreamReport) -> Vec<Block> {
    let l = &s.latency_ms;
    let est = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.3} ms"));
    vec![
        paragraph(format!(
            "{} requests: p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms; {:.1} req/s",
            l.count,
            l.p50,
            percentile(&s.samples_ms, 90.0),
            l.p99,
            l.max,
            s.throughput_per_s,
        )),
        paragraph(format!(
            "early-stopping estimates (LoadGen, 99% confidence): p90 {}, p99 {}",
            est(s.p90_estimate_ms),
            est(s.p99_estimate_ms)
        )),
    ]
}

fn percentile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    infer_measure::stats::percentile_sorted(&v, q)
}

/// The offline table: one row per batch size, the best marked.
fn offline(o: &OfflineReport) -> Vec<Block> {
    let lengths = o.rows.iter().any(|r| r.padding.is_some());
    let mut columns = vec!["batch", "calls", "seconds", "samples/s", "median call ms", ""];
    if lengths {
        columns.extend(["padding waste", "tokens/s"]);
    }
    let mut t = Table::new(&columns);
    for r in &o.rows {
        let mut row = vec![
            r.batch_size.to_string(),
            r.calls.to_string(),
            format!("{:.3}", r.elapsed_s),
            format!("{:.1}", r.throughput_per_s),
            format!("{:.3}", r.call_ms.median),
            if r.batch_size == o.best_batch { "best".into() } else { String::new() },
        ];
        if let Some(p) = &r.padding {
            row.extend([format!("{:.1}%", p.padding_waste * 100.0), format!("{:.1}", p.useful_tokens_per_s)]);
        }
        t.rows.push(row);
    }
    vec![
        paragraph(format!("{} samples issued at once", o.samples)),
        TableBlock::new(t).main().into(),
        paragraph(format!("best: {:.1} samples/s at batch {}", o.best_throughput_per_s, o.best_batch)),
        List::plain(o.warnings.iter().map(|w| format!("note: {w}"))).into(),
    ]
}

/// The padding of a run with `--lengths`, in one line.
fn padding_line(p: &PaddingFigures) -> String {
    format!(
        "lengths: padding waste {:.1}% (padded positions over all positions fed), {:.1} useful tokens/s, {:.1} items/s",
        p.padding_waste * 100.0,
        p.useful_tokens_per_s,
        p.items_per_s
    )
}

/// The server run in a few lines: load, latency, its split, batches, generator, queueing, verdict.
fn server(r: &ServerReport) -> Vec<Block> {
    let a = &r.analysis;
    let mut s = String::new();
    let asked = r.asked_rate.map_or_else(|| "as recorded".into(), |v| format!("{v:.2} req/s asked"));
    let schedule = a.generator.schedule_rate.map_or_else(|| "-".into(), |v| format!("{v:.2}"));
    let batching = if r.max_batch > 1 {
        format!("dynamic batching up to {} / {} ms timeout", r.max_batch, trim(r.batch_timeout_ms))
    } else {
        "no batching".into()
    };
    let _ = writeln!(s, "{} arrivals, {asked} (schedule {schedule} req/s), {batching}; stop: {}", r.arrivals, r.stop);
    let l = &a.latency_ms;
    let _ = writeln!(
        s,
        "{} requests over {:.3} s of schedule (minimum before a verdict {} s); latency from the scheduled arrival: \
         p50 {:.3} ms, p95 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        a.requests,
        r.duration_s,
        trim(r.min_time_s),
        l.p50,
        l.p95,
        l.p99,
        l.max
    );
    let _ = writeln!(
        s,
        "per request: queue p50 {:.3} ms / p99 {:.3} ms, compute p50 {:.3} ms / p99 {:.3} ms",
        a.queue_ms.p50, a.queue_ms.p99, a.compute_ms.p50, a.compute_ms.p99
    );
    if r.max_batch > 1 {
        let sizes: Vec<String> = a.batch_sizes.iter().map(|b| format!("{}×{}", b.size, b.batches)).collect();
        let _ = writeln!(s, "batch sizes formed (size×batches): {}; mean {:.2}", sizes.join(", "), a.mean_batch);
    }
    if let Some(p) = &r.padding {
        let _ = writeln!(s, "{}", padding_line(p));
    }
    let g = &a.generator;
    let _ = writeln!(
        s,
        "generator: lag p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; {} sent over 1 ms late; {:.2}% behind its schedule (margin {:.0}%): {}",
        g.lag_ms.p50,
        g.lag_ms.p99,
        g.lag_ms.max,
        g.late_over_1ms,
        g.shortfall * 100.0,
        g.margin * 100.0,
        if g.kept_up { "valid" } else { "INVALID" }
    );
    let q = &a.queueing;
    let _ = writeln!(
        s,
        "queueing: median queue {:.3} ms in the first quarter, {:.3} ms in the last; served {} of the offered rate; \
         at most {} outstanding: {}",
        q.first_quarter_queue_ms,
        q.last_quarter_queue_ms,
        q.served_fraction.map_or_else(|| "-".into(), |f| format!("{:.1}%", f * 100.0)),
        q.max_outstanding,
        if q.growing { "GROWING" } else { "stable" }
    );
    if let Some(es) = &r.early_stopping {
        let _ = writeln!(
            s,
            "early stopping: p{} {} {} ms ({} of {} judged requests over; estimate {}); {} unserved",
            fmt_pct(es.percentile),
            match es.verdict {
                Verdict::Pass => "within",
                Verdict::Fail => "over",
                Verdict::Undecided => "undecided against",
            },
            fmt_num(es.bound_ms),
            es.over,
            es.judged,
            es.estimate_ms.map_or_else(|| "-".into(), |v| format!("{v:.3} ms")),
            r.unserved
        );
    }
    if let Some(c) = &r.convergence {
        let _ = writeln!(s, "95% interval of the latency: {} of schedule", c.label());
    }
    let _ = writeln!(
        s,
        "verdict: {}, {}",
        if r.valid { "valid" } else { "invalid" },
        if r.sustainable { "sustainable" } else { "NOT sustainable" }
    );
    vec![lines(&s)]
}

/// The search: the deployment line (backend, device, batching, max sustainable rate, p50/p99 at
/// it), then every probe.
fn search(r: &SearchReport, backend: &str, device: &str) -> Vec<Block> {
    let pct = fmt_pct(r.percentile);
    let batching = if r.max_batch > 1 {
        format!("dynamic {} / {} ms", r.max_batch, trim(r.batch_timeout_ms))
    } else {
        "none".into()
    };
    let mut t = Table::new(&["backend", "device", "batching", "max req/s", "p50 ms", "p99 ms", "closed loop/s"]);
    let (rate, p50, p99) = match &r.at_max {
        Some(p) => (format!("{:.1}", p.rate), format!("{:.2}", p.p50_ms), format!("{:.2}", p.p99_ms)),
        None => ("none".into(), "-".into(), "-".into()),
    };
    t.rows.push(vec![backend.into(), device.into(), batching, rate, p50, p99, format!("{:.1}", r.closed_loop_per_s)]);
    let head = format!(
        "max sustainable rate with p{pct} ≤ {} ms ({} arrivals; each probe stopped by LoadGen early stopping at {}% confidence)",
        trim(r.bound_ms),
        r.arrivals,
        fmt_pct(r.confidence),
    );
    let mut probes = Table::new(&["probe", "req/s", "result", "requests", "schedule s", "p50 ms", "p99 ms", "why"]);
    for (i, p) in r.probes.iter().enumerate() {
        probes.rows.push(vec![
            (i + 1).to_string(),
            format!("{:.2}", p.rate),
            infer_measure::scenario::search::outcome_word(p.outcome).into(),
            p.requests.to_string(),
            format!("{:.2}", p.duration_s),
            format!("{:.2}", p.p50_ms),
            format!("{:.2}", p.p99_ms),
            p.reason.clone(),
        ]);
    }
    vec![
        paragraph(head),
        TableBlock::new(t).text([0, 1, 2]).main().into(),
        TableBlock::new(probes).text([2, 6]).into(),
        List::plain(r.note.iter().map(|n| format!("note: {n}"))).into(),
    ]
}

fn trim(v: f64) -> String {
    fmt_num(v)
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use infer_core::{DType, Device, Dim, Session, SessionInfo, Tensor, TensorSpec};
    use infer_measure::{
        environment::Environment,
        scenario::{
            SCENARIO_SCHEMA_VERSION,
            arrivals::Arrivals,
            batcher::BatchPolicy,
            offline::OfflineRow,
            samples::Samples,
            search::{SearchConfig, find_max_rate},
            server::{ServerConfig, ServerStop, run_server},
        },
        stats::Summary,
        timing::Warmup,
    };

    use super::*;

    fn report(result: ScenarioResult) -> ScenarioReport {
        ScenarioReport {
            schema_version: SCENARIO_SCHEMA_VERSION,
            model: "m.onnx".into(),
            backend: "onnx".into(),
            device: Device::Cpu,
            environment: Environment::capture(1),
            load_ms: 3.0,
            result,
            host: None,
            disturbed: Vec::new(),
            energy: None,
        }
    }

    /// An offline run at batch 1 and 4 (the best, 640 samples/s), batch 64 skipped.
    pub(crate) fn offline_report() -> ScenarioReport {
        let row = |batch_size: usize, throughput_per_s: f64| OfflineRow {
            batch_size,
            calls: 32 / batch_size,
            elapsed_s: 32.0 / throughput_per_s,
            throughput_per_s,
            call_ms: Summary::new(&[1.0, 2.0]).unwrap(),
            calls_ms: vec![1.0, 2.0],
            padding: None,
        };
        report(ScenarioResult::Offline(OfflineReport {
            samples: 32,
            warmup_iterations: 1,
            rows: vec![row(1, 400.0), row(4, 640.0)],
            best_batch: 4,
            best_throughput_per_s: 640.0,
            warnings: vec!["batch 64 skipped".into()],
        }))
    }

    /// A model that answers at once.
    struct Instant(SessionInfo);

    impl Session for Instant {
        fn info(&self) -> &SessionInfo {
            &self.0
        }
        fn run(&mut self, inputs: &[Tensor]) -> infer_core::Result<Vec<Tensor>> {
            Ok(inputs.to_vec())
        }
    }

    /// A server run of 40 requests and a search for the highest rate, on [`Instant`].
    fn server_and_search() -> (ScenarioReport, ScenarioReport) {
        let specs = vec![TensorSpec::new("x", DType::F32, vec![Dim::Dynamic(None), Dim::Fixed(2)])];
        let mut s = Instant(SessionInfo::new(specs.clone(), specs.clone(), Device::Cpu));
        let samples = Samples::synthetic(&specs, 4, &[]).unwrap();
        let server = ServerConfig {
            rate: Some(2000.0),
            arrivals: Arrivals::Constant,
            seed: 1,
            batching: BatchPolicy { max_batch: 4, timeout: Duration::from_millis(1) },
            stop: ServerStop::Requests(40),
            warmup: Warmup::Count(1),
            min_time: Duration::ZERO,
            feedback: Vec::new(),
            streams: 1,
        };
        let run = run_server(&mut s, &samples, &server).unwrap();
        let mut search = SearchConfig::new(server, Duration::from_millis(50), Rule::loadgen(0.9));
        search.max_probes = 2;
        search.probe_max_requests = 100;
        search.probe_max_time = Duration::from_millis(200);
        search.capacity_time = Duration::from_millis(50);
        let found = find_max_rate(&mut s, &samples, &search, &mut |_| {}).unwrap();
        (report(ScenarioResult::Server(Box::new(run))), report(ScenarioResult::FindMaxRate(Box::new(found))))
    }

    use infer_measure::scenario::early_stopping::Rule;

    #[test]
    fn offline_on_the_terminal_and_in_every_format() {
        let r = offline_report();
        let text = r.render(Format::Terminal).unwrap();
        assert!(text.starts_with("offline: onnx cpu m.onnx\n32 samples issued at once\nbatch  calls"), "{text}");
        assert!(text.ends_with("best: 640.0 samples/s at batch 4\nnote: batch 64 skipped\n"), "{text}");
        let md = r.render(Format::Markdown).unwrap();
        assert!(md.starts_with("# offline: onnx cpu m.onnx\n\n32 samples issued at once\n\n| batch |"), "{md}");
        assert!(md.contains("| 4 | 8 | 0.050 | 640.0 | 1.500 | best |"), "{md}");
        assert_eq!(r.render(Format::Csv).unwrap().lines().count(), 3, "the batch table");
        assert!(r.render(Format::Html).unwrap().contains("<td>640.0</td>"));
    }

    #[test]
    fn single_stream_server_and_search_render_in_every_format() {
        let single = report(ScenarioResult::SingleStream(SingleStreamReport {
            latency_ms: Summary::new(&[1.0, 2.0, 3.0, 4.0]).unwrap(),
            throughput_per_s: 400.0,
            warmup_iterations: 5,
            p90_estimate_ms: Some(3.5),
            p99_estimate_ms: None,
            samples_ms: vec![1.0, 2.0, 3.0, 4.0],
        }));
        let text = single.render(Format::Terminal).unwrap();
        assert!(text.starts_with("single-stream: onnx cpu m.onnx\n4 requests: p50 2.500 ms"), "{text}");
        assert!(text.ends_with("early-stopping estimates (LoadGen, 99% confidence): p90 3.500 ms, p99 -\n"));
        let csv = single.render(Format::Csv).unwrap();
        assert!(csv.starts_with("backend,device,requests,p50 ms") && csv.contains("onnx,cpu,4,2.500"), "{csv}");
        let (server, search) = server_and_search();
        let text = server.render(Format::Terminal).unwrap();
        assert!(text.starts_with("server: onnx cpu m.onnx\nconstant arrivals, 2000.00 req/s asked"), "{text}");
        assert!(text.contains("\nbatch sizes formed (size×batches): ") && text.contains("\nverdict: "), "{text}");
        let csv = server.render(Format::Csv).unwrap();
        assert!(csv.starts_with("backend,device,requests,rate/s,served/s") && csv.contains("onnx,cpu,40,2000.00,"));
        let text = search.render(Format::Terminal).unwrap();
        assert!(text.starts_with("max sustainable rate with p90 ≤ 50 ms (constant arrivals;"), "{text}");
        assert!(text.contains("\nprobe  req/s  result"), "{text}");
        for r in [&single, &server, &search] {
            for format in [Format::Markdown, Format::Html, Format::Json] {
                assert!(r.render(format).unwrap().contains("onnx"), "{format}");
            }
        }
        let both = vec![server, search];
        let md = both.render(Format::Markdown).unwrap();
        assert!(md.contains("## server: onnx cpu m.onnx") && md.contains("## find-max-rate: onnx cpu m.onnx"), "{md}");
        assert!(both.json().unwrap().starts_with('['));
    }
}
