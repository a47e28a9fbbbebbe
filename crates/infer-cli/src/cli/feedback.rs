//! `--feedback OUTPUT=INPUT` on the command line: the commands and scenarios that carry a state
//! from call to call (`bench` single-stream, `bench --scenario server --streams N`, `run
//! --chunk`), and the one-line refusal of every other, which would otherwise time independent
//! calls and say nothing.

use infer_measure::{scenario::ScenarioKind, workload::Workload};

use super::bench::scenario::ScenarioArgs;

/// What the refusals suggest instead.
const INSTEAD: &str =
    "it is honoured by `infer bench` (single-stream, or --scenario server with --streams N) and `infer run --chunk N`";

/// Refuses `--feedback` for `what`, which runs independent calls.
///
/// # Errors
/// One line naming the first pair, `what` and where the option is honoured.
pub(super) fn refuse(workload: &Workload, what: &str) -> anyhow::Result<()> {
    match workload.feedback.first() {
        Some(pair) => anyhow::bail!("--feedback {pair}: {what} cannot carry a state from call to call; {INSTEAD}"),
        None => Ok(()),
    }
}

/// `infer bench`'s checks: `--feedback` with a load test, the offline scenario or the search for
/// the highest rate is refused; `--streams` needs `--feedback` and the server scenario, and a
/// dynamic batch of at most that many streams (a call never holds two requests of one stream,
/// each of which needs the other's state).
///
/// # Errors
/// One line naming the options.
pub(super) fn check_bench(workload: &Workload, concurrency: bool, serving: &ScenarioArgs) -> anyhow::Result<()> {
    if let Some(streams) = serving.streams {
        if serving.scenario != ScenarioKind::Server {
            anyhow::bail!("--streams applies to --scenario server, not {}", serving.scenario);
        }
        if workload.feedback.is_empty() {
            anyhow::bail!(
                "--streams {streams}: client streams differ only by the state each carries: give --feedback OUTPUT=INPUT"
            );
        }
        if let Some(batch) = serving.dynamic_batch.filter(|&b| b > streams) {
            anyhow::bail!(
                "--dynamic-batch {batch} with --streams {streams}: a call could hold two requests of one stream, \
                 the second needing the first's state: give at most {streams}"
            );
        }
    }
    if concurrency {
        refuse(workload, "--concurrency (workers of independent requests)")?;
    }
    match serving.scenario {
        ScenarioKind::Offline => refuse(workload, "--scenario offline (every sample issued at once)"),
        ScenarioKind::Server if serving.find_max_rate => {
            refuse(workload, "--find-max-rate (probes of independent requests)")
        }
        ScenarioKind::SingleStream | ScenarioKind::Server => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use infer_measure::workload::args::parse_feedback;

    use super::*;

    #[test]
    fn refusals_name_the_pair_and_the_command() {
        let none = Workload::default();
        refuse(&none, "infer profile").unwrap();
        let fed = Workload { feedback: vec![parse_feedback("state_out=state").unwrap()], ..Workload::default() };
        let e = refuse(&fed, "infer profile").unwrap_err().to_string();
        assert!(e.starts_with("--feedback state_out=state: infer profile cannot carry a state"), "{e}");
        assert!(!e.contains('\n'));
    }
}
