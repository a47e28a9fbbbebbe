//! The load test of `infer bench --concurrency N`: one line per backend and device.

use infer_measure::{
    concurrent::{LoadReport, RssPoint},
    memory,
};

use crate::table::Table;

/// The terminal table of load reports.
#[must_use]
pub fn table(reports: &[LoadReport]) -> Table {
    let mut t = Table::new(&[
        "backend",
        "device",
        "workers",
        "batch",
        "requests",
        "req/s",
        "items/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "RSS start",
        "RSS end",
    ]);
    for r in reports {
        let l = &r.latency_ms;
        let rss = |p: Option<&RssPoint>| p.map_or_else(|| "-".into(), |p| memory::mib(p.rss));
        t.rows.push(vec![
            r.backend.clone(),
            r.device.to_string(),
            r.concurrency.to_string(),
            r.batch_size.to_string(),
            r.requests.to_string(),
            format!("{:.1}", r.requests_per_s),
            format!("{:.1}", r.items_per_s),
            format!("{:.3}", l.p50),
            format!("{:.3}", l.p95),
            format!("{:.3}", l.p99),
            format!("{:.3}", l.max),
            rss(r.rss.first()),
            rss(r.rss.last()),
        ]);
    }
    t
}
