//! The file-based agent run shared by the `codex_cli`, `claude_code` and
//! `command` runners:
//! write the prompt and invocation record, start the agent with stdout
//! streamed to `runner_events.<req>.jsonl` and stderr to
//! `runner_stderr.<req>.txt`, wait with the stage timeout, then derive the
//! rest as the reference does: token usage from the events (in the run's
//! usage format; Claude Code's final `result` event also gives the final
//! message, the cost, and a failure when `is_error`), `runner_stdout`
//! as a copy of the final message (else of the events), final-marker
//! reconciliation, and the completion record.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::artifacts::{self, CompletionRecord, FileNames, InvocationRecord};
use super::capture;
use super::process::{self, Ended, Spawn, SpawnError};
use super::settings::UsageFormat;
use super::{
    claude, io_err, marker, tokens, Cancel, ExitKind, RunnerError, RunnerOutput, StageRequest,
};
use crate::workspace::clock::now_rfc3339;
use crate::workspace::safe_fs;

/// Final-message files larger than this are not considered for reconciliation.
const RECONCILE_LIMIT: u64 = 4 * 1024 * 1024;

/// Where the agent's stdin comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdinFrom {
    Null,
    PromptFile,
}

/// One file-based agent run.
pub struct CliRun<'a> {
    pub request: &'a StageRequest,
    pub runner_name: &'static str,
    pub names: &'a FileNames,
    pub prompt: &'a str,
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub stdin: StdinFrom,
    /// How token usage is read from stdout.
    pub usage: UsageFormat,
    /// Bytes kept of each output stream (`[runtime] max_stage_output_bytes`).
    pub max_output_bytes: u64,
}

pub fn run(cli: CliRun<'_>, cancel: Cancel<'_>) -> Result<RunnerOutput, RunnerError> {
    let request = cli.request;
    let names = cli.names;
    artifacts::ensure_dir(&request.run_dir)?;
    artifacts::write_text(&names.prompt, cli.prompt)?;
    let invocation = InvocationRecord::new(
        request,
        cli.runner_name,
        &cli.argv,
        &names.prompt,
        now_rfc3339(),
    );
    artifacts::write_json(&names.invocation, &invocation)?;
    let invocation_value = serde_json::to_value(&invocation).unwrap_or_default();
    // A stale final message from an earlier attempt must not be read as this one's.
    artifacts::remove_stale(&names.last_message);

    let events = artifacts::create(&names.events)?;
    // Stderr gets a file on its first byte: no empty file per stage.
    artifacts::remove_stale(&names.stderr);
    let stderr = capture::Sink::lazy(&names.stderr);
    let stdin = match cli.stdin {
        StdinFrom::Null => Stdio::null(),
        StdinFrom::PromptFile => Stdio::from(artifacts::open_stdin(&names.prompt)?),
    };
    let timeout = request.effective_timeout_seconds();
    let started_at = now_rfc3339();
    let clock = Instant::now();
    let spawned = process::spawn(Spawn {
        argv: &cli.argv,
        cwd: &request.workspace_root,
        env: &cli.env,
        stdin,
        stdout: Stdio::piped(),
        stderr: Stdio::piped(),
    });
    let limit = cli.max_output_bytes;
    let mut dropped = (0, 0);
    let spawned = spawned.map(|mut child| {
        let mut streams: Vec<(Box<dyn capture::Source>, capture::Sink)> = Vec::new();
        if let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) {
            streams.push((Box::new(out), events.into()));
            streams.push((Box::new(err), stderr));
        }
        let streams = capture::Streams::new(streams, limit);
        let (ended, counts) =
            process::wait_capturing(child, streams, Duration::from_secs(timeout), cancel);
        dropped = (
            counts.first().copied().unwrap_or(0),
            counts.get(1).copied().unwrap_or(0),
        );
        ended
    });

    let mut notes: Vec<String> = Vec::new();
    let mut failure_class: Option<String> = None;
    let (exit_kind, exit_code) = match spawned {
        Err(SpawnError::NotFound) => {
            let program = cli.argv.first().map(String::as_str).unwrap_or("");
            artifacts::write_text(
                &names.stderr,
                &format!("runner binary not found: {program}\n"),
            )?;
            artifacts::remove_stale(&names.events);
            artifacts::write_text(&names.stdout, "")?;
            failure_class = Some("runner_binary_not_found".into());
            notes.push("runner executable missing".into());
            (ExitKind::SpawnFailed, process::NOT_FOUND_EXIT_CODE)
        }
        Err(SpawnError::Other(e)) => {
            artifacts::write_text(&names.stderr, &format!("runner process error: {e}\n"))?;
            artifacts::remove_stale(&names.events);
            artifacts::write_text(&names.stdout, "")?;
            failure_class = Some("runner_transport_failure".into());
            notes.push(e.to_string());
            (ExitKind::SpawnFailed, 1)
        }
        Ok(ended) => match ended {
            Ended::Exited(0) => (ExitKind::Completed, 0),
            Ended::Exited(code) => {
                failure_class = Some("runner_non_zero_exit".into());
                notes.push("runner exited with non-zero status".into());
                (ExitKind::NonzeroExit, code)
            }
            Ended::TimedOut => {
                artifacts::append_text(
                    &names.stderr,
                    &format!("runner timed out after {timeout} seconds\n"),
                )?;
                failure_class = Some("runner_timeout".into());
                notes.push("runner process exceeded timeout".into());
                (ExitKind::Timeout, process::TIMEOUT_EXIT_CODE)
            }
            Ended::Interrupted => {
                artifacts::append_text(&names.stderr, "runner interrupted by the runtime\n")?;
                failure_class = Some("runner_interrupted".into());
                notes.push("runner interrupted by the runtime".into());
                (ExitKind::Interrupted, process::INTERRUPTED_EXIT_CODE)
            }
        },
    };
    let spawned_ok = !matches!(exit_kind, ExitKind::SpawnFailed);
    let mut truncation_notes = Vec::new();
    for (stream, n) in [("stdout", dropped.0), ("stderr", dropped.1)] {
        if n > 0 {
            truncation_notes.push(format!(
                "{} agent {stream}: {}",
                capture::NOTE_PREFIX,
                capture::truncation_note(limit, n)
            ));
        }
    }

    let (mut exit_kind, mut exit_code) = (exit_kind, exit_code);
    let claude_result = match cli.usage {
        UsageFormat::ClaudeStreamJson if spawned_ok => claude::read_result(&names.events),
        _ => None,
    };
    let token_usage = match cli.usage {
        _ if !spawned_ok => None,
        UsageFormat::None => None,
        UsageFormat::CodexJson => tokens::from_events_file(&names.events),
        UsageFormat::ClaudeStreamJson => claude_result.as_ref().and_then(|r| r.usage),
    };
    let mut claude_error = false;
    // Added after the final-marker reconciliation, which replaces the notes.
    let mut agent_notes: Vec<String> = Vec::new();
    if let Some(r) = &claude_result {
        if !names.last_message.exists() {
            if let Some(text) = &r.text {
                artifacts::write_text(&names.last_message, text)?;
            }
        }
        if let Some(cost) = r.total_cost_usd {
            agent_notes.push(format!("total_cost_usd={cost}"));
        }
        if r.permission_denials > 0 {
            agent_notes.push(format!(
                "the agent was refused {} tool call(s) (permission_denials)",
                r.permission_denials
            ));
        }
        if r.is_error && exit_kind != ExitKind::Interrupted {
            claude_error = true;
            let first = r.text.as_deref().unwrap_or("").lines().next().unwrap_or("");
            agent_notes.push(format!(
                "the agent reported an error ({}): {first}",
                r.subtype.as_deref().unwrap_or("no subtype")
            ));
            failure_class = Some("provider_failure".into());
            exit_kind = ExitKind::ProviderError;
            if exit_code == 0 {
                exit_code = 1;
            }
        }
    }
    if spawned_ok {
        let source = if names.last_message.symlink_metadata().is_ok() {
            Some(&names.last_message)
        } else if names.events.symlink_metadata().is_ok() {
            Some(&names.events)
        } else {
            None
        };
        if let Some(source) = source {
            let left_out = artifacts::link_or_copy(source, &names.stdout, limit)?;
            if left_out > 0 {
                let note = capture::truncation_note(limit, left_out);
                artifacts::append_text(&names.stdout, &format!("\n{note}\n"))?;
                truncation_notes.push(format!("{} final message: {note}", capture::NOTE_PREFIX));
            }
        }
    }

    let mut observed = None;
    if spawned_ok && exit_kind != ExitKind::Interrupted && !claude_error {
        if let Some(token) = reconcile(&names.last_message, &request.outcome_names()) {
            observed = Some((exit_kind, Some(exit_code)));
            exit_kind = ExitKind::Completed;
            exit_code = 0;
            failure_class = None;
            notes = vec![format!(
                "runner timeout reconciled after final terminal marker ### {token}"
            )];
        }
    }
    notes.extend(agent_notes);
    notes.extend(truncation_notes);
    let ended_at = now_rfc3339();
    let duration_seconds = clock.elapsed().as_secs_f64();

    let files = names.existing();
    let model_reasoning_effort = request
        .thinking_level
        .clone()
        .or_else(|| request.model_reasoning_effort.clone());
    let completion = CompletionRecord::new(
        request,
        cli.runner_name,
        model_reasoning_effort.as_deref(),
        &files,
        &cli.argv,
        artifacts::Ending {
            exit_kind,
            exit_code,
            observed,
            token_usage,
            failure_class: failure_class.as_deref(),
            notes: &notes,
            started_at: &started_at,
            ended_at: &ended_at,
        },
    );
    artifacts::write_json(&names.completion, &completion)?;

    let (scan, last_message) = match &files.stdout {
        Some(p) => (
            marker::scan_file(p).map_err(io_err(p))?,
            artifacts::read_tail(p, super::LAST_MESSAGE_LIMIT),
        ),
        None => (marker::MarkerScan::default(), None),
    };
    Ok(RunnerOutput {
        runner_name: cli.runner_name.to_string(),
        exit_kind,
        exit_code: Some(exit_code),
        observed,
        failure_class,
        notes,
        files,
        last_message,
        scan,
        token_usage,
        started_at,
        ended_at,
        duration_seconds,
        command: cli.argv,
        invocation: invocation_value,
        model_reasoning_effort,
    })
}

/// The reconciled final marker of a final-message file, if any.
fn reconcile(last_message: &Path, legal: &[&str]) -> Option<String> {
    let bytes = safe_fs::read_capped(last_message, RECONCILE_LIMIT).ok()?;
    marker::reconciled_final_marker(&String::from_utf8_lossy(&bytes), legal)
}
