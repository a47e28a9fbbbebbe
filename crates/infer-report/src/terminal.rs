//! The terminal: progress on stderr while the children run, then the tables on stdout.

use infer_core::{Device, Result};

use crate::{reporters::Reporter, tables};
use infer_measure::results::comparison::Comparison;

/// Prints `measuring … (round N of M) ...` and `profiling ...` on stderr as the children start,
/// and at the end the results, CPU against GPU, and where the time goes on stdout.
#[derive(Debug, Clone, Copy, Default)]
pub struct TerminalReport;

impl Reporter for TerminalReport {
    fn measurement_start(&self, backend: &str, device: Device, round: usize, rounds: usize) {
        let of = if rounds > 1 { format!(" (round {round} of {rounds})") } else { String::new() };
        eprintln!("measuring {backend} on {device}{of} ...");
    }

    fn profile_start(&self, backend: &str, device: Device) {
        eprintln!("profiling {backend} on {device} ...");
    }

    fn final_summary(&self, c: &Comparison) -> Result<()> {
        print!("{}", render(c));
        Ok(())
    }
}

/// The text printed at the end.
#[must_use]
pub fn render(c: &Comparison) -> String {
    let mut text = tables::results(c).to_text();
    let speed = tables::speedups(c);
    if !speed.rows.is_empty() {
        text.push_str(&format!("\nCPU against GPU (speed-up = cpu median / gpu median):\n{}", speed.to_text()));
    }
    let prof = tables::profiles(c);
    if !prof.rows.is_empty() {
        text.push_str(&format!(
            "\nWhere the time goes (top operator types per backend, from its own profiler):\n{}",
            prof.to_text()
        ));
    }
    text
}
