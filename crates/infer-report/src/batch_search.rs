//! The probes of `infer optimize-batch` as a table, the best batch marked.

use infer_measure::{
    batch_search::{BatchSearch, Outcome, Probe},
    memory::mib,
};

use crate::table::Table;

/// The probes as a table, with the best batch marked.
#[must_use]
pub fn table(s: &BatchSearch) -> Table {
    let mut t = Table::new(&["batch", "median ms", "items/s", "peak RSS", "result"]);
    let mut probes: Vec<&Probe> = s.probes.iter().collect();
    probes.sort_by_key(|p| p.batch_size);
    for p in probes {
        t.rows.push(match &p.outcome {
            Outcome::Fit { median_ms, throughput_per_s, peak_rss } => {
                let mut result = "fits".to_string();
                if s.max_latency_ms.is_some_and(|b| *median_ms > b) {
                    result = "fits, over the latency bound".into();
                }
                if s.best_batch == Some(p.batch_size) {
                    result.push_str(" (best throughput)");
                }
                vec![
                    p.batch_size.to_string(),
                    format!("{median_ms:.3}"),
                    format!("{throughput_per_s:.1}"),
                    peak_rss.map_or_else(|| "-".into(), mib),
                    result,
                ]
            }
            Outcome::DidNotFit { reason } => {
                vec![p.batch_size.to_string(), "-".into(), "-".into(), "-".into(), format!("did not fit: {reason}")]
            }
        });
    }
    t
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use infer_measure::batch_search::{conclude, search};

    use super::*;

    fn fake(limit: usize) -> impl FnMut(usize) -> Outcome {
        move |b| {
            if b <= limit {
                #[allow(clippy::cast_precision_loss)]
                let median_ms = 1.0 + 0.5 * b as f64;
                #[allow(clippy::cast_precision_loss)]
                let throughput_per_s = b as f64 * 1e3 / median_ms;
                Outcome::Fit { median_ms, throughput_per_s, peak_rss: None }
            } else {
                Outcome::DidNotFit { reason: "out of memory".into() }
            }
        }
    }

    #[test]
    fn failures_and_the_latency_bound_are_marked() {
        let s = conclude("m", 64, None, None, search(64, fake(0)));
        let t = table(&s);
        assert_eq!(t.rows[0][4], "did not fit: out of memory");
        // Latency 1 + 0.5 b ms: a 9 ms bound allows b <= 16.
        let s = conclude("m", 64, None, Some(9.0), search(64, fake(64)));
        let t = table(&s);
        let row16 = t.rows.iter().find(|r| r[0] == "16").unwrap();
        assert_eq!(row16[4], "fits (best throughput)");
        let row32 = t.rows.iter().find(|r| r[0] == "32").unwrap();
        assert_eq!(row32[4], "fits, over the latency bound");
    }
}
