//! `--feedback OUTPUT=INPUT` on the command line: the commands and scenarios that carry a state
//! from call to call (`bench` single-stream, `bench --scenario server --streams N`, `run
//! --chunk`), and the one-line refusal of every other, which would otherwise time independent
//! calls and say nothing.

use infer_measure::workload::Workload;

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
