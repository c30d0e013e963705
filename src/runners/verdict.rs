//! From a runner output to what the stage returned: a legal outcome with its
//! result class, or a failure that the runtime records as `BLOCKED` /
//! `recoverable_failure` with a failure class, as the reference normalizes
//! runner output (runner exit problems first, then the marker).
//!
//! Failure classes: `runner_timeout` (timeout), `provider_failure` (provider
//! error), `runner_transport_failure` (any other non-completed exit, or a
//! completed exit with a non-zero code), then `missing_terminal_result`,
//! `conflicting_terminal_results`, `illegal_terminal_result` from the marker.

use serde::Serialize;

use super::marker::{Extraction, MarkerMetadata};
use super::{ExitKind, RunnerOutput, StageRequest};

/// The classified result of one stage run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The outcome (`BLOCKED` on failure).
    pub outcome: String,
    /// The result class (`recoverable_failure` on failure).
    pub result_class: String,
    /// True when a legal marker was read from a cleanly completed run.
    pub valid: bool,
    pub failure_class: Option<String>,
    /// `### TOKEN` of the marker the decision is about, when there is one.
    pub detected_marker: Option<String>,
    pub notes: Vec<String>,
    /// The exit code to record (`raw or 0` on success, `raw or 1` on failure).
    pub exit_code: i32,
    /// True for failures (the reference marks synthetic results retryable).
    pub retryable: bool,
    /// The exit the runner observed before any reconciliation.
    pub raw_exit_kind: &'static str,
    pub raw_exit_code: Option<i32>,
    /// A timeout was overridden by a legal final marker.
    pub timeout_reconciled: bool,
    /// `Resume-Stage:` / `Target-Stage:` lines the agent printed.
    pub metadata: MarkerMetadata,
}

/// The result class for a legal outcome: its only allowed class; for an
/// outcome with several, `blocked` when allowed, else the first declared.
pub fn result_class_for(request: &StageRequest, outcome: &str) -> Option<String> {
    let classes = &request
        .outcomes
        .iter()
        .find(|o| o.name == outcome)?
        .result_classes;
    match classes.as_slice() {
        [] => None,
        [only] => Some(only.clone()),
        many => Some(
            many.iter()
                .find(|c| *c == "blocked")
                .unwrap_or(&many[0])
                .clone(),
        ),
    }
}

pub fn judge(request: &StageRequest, output: &RunnerOutput) -> Verdict {
    let (raw_kind, raw_code) = output
        .observed
        .unwrap_or((output.exit_kind, output.exit_code));
    let timeout_reconciled =
        raw_kind == ExitKind::Timeout && output.exit_kind == ExitKind::Completed;
    let failure = |class: &str, note: String, detected: Option<String>| Verdict {
        outcome: "BLOCKED".into(),
        result_class: "recoverable_failure".into(),
        valid: false,
        failure_class: Some(class.into()),
        detected_marker: detected,
        notes: vec![note],
        exit_code: output.exit_code.filter(|c| *c != 0).unwrap_or(1),
        retryable: true,
        raw_exit_kind: raw_kind.reference_str(),
        raw_exit_code: raw_code,
        timeout_reconciled,
        metadata: output.scan.metadata.clone(),
    };
    let reference_kind = output.exit_kind.reference_str();
    // Classes the runner decided from what the agent reported: the agent's
    // environment failed, or its tool calls were refused.
    if let Some(class) = output.failure_class.as_deref().filter(|c| {
        *c == super::exec::PERMISSION_DENIED || super::environment::is_environment_class(c)
    }) {
        let note = match &output.environment {
            Some(f) => format!("the agent's environment failed: {}", f.reason),
            None => "the agent's tool calls were refused (permission_denials)".into(),
        };
        return failure(class, note, None);
    }
    match output.exit_kind {
        ExitKind::Completed => {}
        ExitKind::Timeout => {
            return failure(
                "runner_timeout",
                format!("runner exited with {reference_kind}"),
                None,
            )
        }
        ExitKind::ProviderError => {
            return failure(
                "provider_failure",
                format!("runner exited with {reference_kind}"),
                None,
            )
        }
        _ => {
            return failure(
                "runner_transport_failure",
                format!("runner exited with {reference_kind}"),
                None,
            )
        }
    }
    if output.exit_code.is_some_and(|c| c != 0) {
        return failure(
            "runner_transport_failure",
            "runner completed with non-zero exit code".into(),
            None,
        );
    }
    let extraction = output.scan.classify(&request.outcome_names());
    let detected = extraction.detected_marker();
    match extraction {
        Extraction::Legal { outcome } => {
            let result_class =
                result_class_for(request, &outcome).unwrap_or_else(|| "success".into());
            let mut notes = vec!["terminal result resolved from stdout token".to_string()];
            if timeout_reconciled {
                notes.push(
                    "runner timeout was reconciled after a final terminal marker was captured"
                        .into(),
                );
            }
            Verdict {
                outcome,
                result_class,
                valid: true,
                failure_class: None,
                detected_marker: detected,
                notes,
                exit_code: output.exit_code.unwrap_or(0),
                retryable: false,
                raw_exit_kind: raw_kind.reference_str(),
                raw_exit_code: raw_code,
                timeout_reconciled,
                metadata: output.scan.metadata.clone(),
            }
        }
        Extraction::Missing => failure(
            "missing_terminal_result",
            "no terminal token found in stdout".into(),
            None,
        ),
        Extraction::Conflicting { .. } => failure(
            "conflicting_terminal_results",
            "stdout contains conflicting terminal tokens".into(),
            detected,
        ),
        Extraction::Illegal { token } => failure(
            "illegal_terminal_result",
            format!(
                "terminal token '{token}' is illegal for request node {}",
                request.node_id
            ),
            detected,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runners::test_support::updater_request;
    use crate::runners::{marker, RunFiles};
    use std::path::{Path, PathBuf};

    fn output(kind: ExitKind, code: i32, text: &str) -> RunnerOutput {
        RunnerOutput {
            runner_name: "script".into(),
            exit_kind: kind,
            exit_code: Some(code),
            observed: None,
            failure_class: None,
            notes: vec![],
            files: RunFiles {
                prompt: PathBuf::new(),
                invocation: PathBuf::new(),
                completion: PathBuf::new(),
                stdout: None,
                stderr: None,
                events: None,
                last_message: None,
            },
            last_message: Some(text.into()),
            scan: marker::scan_text(text),
            token_usage: None,
            started_at: String::new(),
            ended_at: String::new(),
            duration_seconds: 0.0,
            command: vec![],
            model_reasoning_effort: None,
            environment: None,
        }
    }

    #[test]
    fn classes() {
        let r = updater_request(Path::new("/ws"));
        let v = judge(&r, &output(ExitKind::Completed, 0, "### UPDATE_COMPLETE"));
        assert_eq!(
            (v.outcome.as_str(), v.result_class.as_str(), v.valid),
            ("UPDATE_COMPLETE", "success", true)
        );
        let v = judge(&r, &output(ExitKind::Completed, 0, "### BLOCKED"));
        assert_eq!(
            (v.outcome.as_str(), v.result_class.as_str()),
            ("BLOCKED", "blocked")
        );
        let v = judge(&r, &output(ExitKind::Completed, 0, "nothing"));
        assert_eq!(v.failure_class.as_deref(), Some("missing_terminal_result"));
        assert_eq!(
            (v.result_class.as_str(), v.exit_code, v.retryable),
            ("recoverable_failure", 1, true)
        );
        let v = judge(
            &r,
            &output(ExitKind::Completed, 0, "### BLOCKED\n### UPDATE_COMPLETE"),
        );
        assert_eq!(
            v.failure_class.as_deref(),
            Some("conflicting_terminal_results")
        );
        assert_eq!(v.detected_marker.as_deref(), Some("### UPDATE_COMPLETE"));
        let v = judge(&r, &output(ExitKind::Completed, 0, "### CHECKER_PASS"));
        assert_eq!(v.failure_class.as_deref(), Some("illegal_terminal_result"));
        let v = judge(&r, &output(ExitKind::Timeout, 124, "### UPDATE_COMPLETE"));
        assert_eq!(
            (v.failure_class.as_deref(), v.exit_code),
            (Some("runner_timeout"), 124)
        );
        let v = judge(&r, &output(ExitKind::NonzeroExit, 2, ""));
        assert_eq!(v.failure_class.as_deref(), Some("runner_transport_failure"));
        let mut o = output(ExitKind::Completed, 0, "### UPDATE_COMPLETE");
        o.observed = Some((ExitKind::Timeout, Some(124)));
        let v = judge(&r, &o);
        assert!(v.valid && v.timeout_reconciled);
        assert_eq!((v.raw_exit_kind, v.raw_exit_code), ("timeout", Some(124)));
    }
}
