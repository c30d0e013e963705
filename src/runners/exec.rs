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
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::artifacts::{self, CompletionRecord, FileNames, InvocationRecord};
use super::capture;
use super::environment::{self, EnvironmentFailure};
use super::process::{self, Ended, Spawn, SpawnError};
use super::settings::UsageFormat;
use super::{
    claude, io_err, marker, tokens, Cancel, ExitKind, Notify, RunnerError, RunnerKind,
    RunnerOutput, StageRequest,
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

/// Watching an agent's events while it runs: a network wait
/// (`environment::network_wait`) is announced once through `notify`, and
/// one that lasts `grace` stops the agent (an environment failure).
#[derive(Clone, Copy)]
pub struct NetworkWatch<'a> {
    pub kind: RunnerKind,
    pub grace: Duration,
    pub notify: Notify<'a>,
}

/// How often the watcher reads the events file.
const WATCH_EVERY: Duration = Duration::from_millis(200);

/// Follow the events file while the agent runs (see `NetworkWatch`). Sets
/// `stop` when the outer `cancel` is set or a wait outlasts the grace (then
/// `waited` holds its reason).
fn watch_events(
    path: &Path,
    w: &NetworkWatch<'_>,
    request: &StageRequest,
    cancel: Cancel<'_>,
    stop: &AtomicBool,
    done: &AtomicBool,
    waited: &Mutex<Option<String>>,
) {
    let mut offset = 0u64;
    let mut partial: Vec<u8> = Vec::new();
    let mut since: Option<(Instant, String)> = None;
    let mut announced = false;
    let mut buf = vec![0u8; 64 * 1024];
    while !done.load(Ordering::SeqCst) {
        if cancel.is_set() {
            stop.store(true, Ordering::SeqCst);
        }
        if let Ok(mut f) = safe_fs::open_regular(path, None) {
            if f.seek(SeekFrom::Start(offset)).is_ok() {
                while let Ok(n) = f.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    offset += n as u64;
                    partial.extend_from_slice(&buf[..n]);
                    while let Some(end) = partial.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = partial.drain(..=end).collect();
                        let line = String::from_utf8_lossy(&line);
                        match environment::network_wait(w.kind, &line) {
                            Some(reason) => {
                                if since.is_none() {
                                    since = Some((Instant::now(), reason.clone()));
                                }
                                if !announced {
                                    announced = true;
                                    if let Some(notify) = w.notify {
                                        notify(&format!(
                                            "stage waiting {}/{} reason=\"{}\"",
                                            request.plane,
                                            request.node_id,
                                            reason.replace('"', "'")
                                        ));
                                    }
                                }
                            }
                            None if line.trim_start().starts_with('{') => since = None,
                            None => {}
                        }
                    }
                    // A line without an end stays bounded.
                    if partial.len() > 1024 * 1024 {
                        partial.clear();
                    }
                }
            }
        }
        if let Some((at, reason)) = &since {
            if at.elapsed() >= w.grace {
                if let Ok(mut slot) = waited.lock() {
                    *slot = Some(reason.clone());
                }
                stop.store(true, Ordering::SeqCst);
                return;
            }
        }
        // Parked, not slept: the stage's end unparks it at once.
        std::thread::park_timeout(WATCH_EVERY);
    }
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
    /// Follow the events for network waits (codex, claude).
    pub watch: Option<NetworkWatch<'a>>,
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
    let waited: Mutex<Option<String>> = Mutex::new(None);
    let spawned = spawned.map(|mut child| {
        let mut streams: Vec<(Box<dyn capture::Source>, capture::Sink)> = Vec::new();
        if let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) {
            streams.push((Box::new(out), events.into()));
            streams.push((Box::new(err), stderr));
        }
        let streams = capture::Streams::new(streams, limit);
        let (ended, counts) = match &cli.watch {
            None => process::wait_capturing(child, streams, Duration::from_secs(timeout), cancel),
            Some(w) => {
                let stop = AtomicBool::new(false);
                let done = AtomicBool::new(false);
                let r = std::thread::scope(|scope| {
                    let watcher = scope.spawn(|| {
                        watch_events(&names.events, w, request, cancel, &stop, &done, &waited)
                    });
                    let r = process::wait_capturing(
                        child,
                        streams,
                        Duration::from_secs(timeout),
                        Cancel(Some(&stop)),
                    );
                    // Wake the watcher from its pause: the stage must not
                    // wait out its polling interval to end.
                    done.store(true, Ordering::SeqCst);
                    watcher.thread().unpark();
                    r
                });
                r
            }
        };
        dropped = (
            counts.first().copied().unwrap_or(0),
            counts.get(1).copied().unwrap_or(0),
        );
        ended
    });

    let mut notes: Vec<String> = Vec::new();
    let mut failure_class: Option<String> = None;
    let mut env_failure: Option<EnvironmentFailure> = None;
    let waited = waited.into_inner().ok().flatten();
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
            Ended::Interrupted if waited.is_some() && !cancel.is_set() => {
                let grace = cli.watch.map_or(0, |w| w.grace.as_secs());
                let f = environment::from_wait(waited.as_deref().unwrap_or(""), grace);
                artifacts::append_text(
                    &names.stderr,
                    &format!("runner stopped by the runtime: {}\n", f.reason),
                )?;
                failure_class = Some(f.class.clone());
                notes.push(format!("the agent's environment failed: {}", f.reason));
                env_failure = Some(f);
                (ExitKind::ProviderError, 1)
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
        if r.is_error && exit_kind != ExitKind::Interrupted && env_failure.is_none() {
            env_failure =
                environment::from_claude_result(true, r.text.as_deref(), r.api_error_status);
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
    let denied = claude_result
        .as_ref()
        .is_some_and(|r| r.permission_denials > 0 && !r.is_error);
    if spawned_ok && env_failure.is_none() && exit_kind != ExitKind::Interrupted {
        match cli.usage {
            // No result event: a CLI that refused to start says why on stderr.
            UsageFormat::ClaudeStreamJson if claude_result.is_none() && exit_code != 0 => {
                env_failure = read_text(&names.stderr)
                    .as_deref()
                    .and_then(environment::from_error_text);
            }
            UsageFormat::CodexJson if exit_kind != ExitKind::Completed || exit_code != 0 => {
                let events = read_text(&names.events).unwrap_or_default();
                env_failure = environment::from_codex_events(&events);
                if env_failure.is_none() && has_turn_failed(&events) {
                    // The model's stream failed (HTTP error, cut stream).
                    failure_class = Some("provider_failure".into());
                    exit_kind = ExitKind::ProviderError;
                }
            }
            _ => {}
        }
    }
    if let Some(f) = &env_failure {
        failure_class = Some(f.class.clone());
        if exit_kind == ExitKind::Completed {
            exit_kind = ExitKind::ProviderError;
        }
        if exit_code == 0 {
            exit_code = 1;
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
    if spawned_ok
        && exit_kind != ExitKind::Interrupted
        && !claude_error
        && env_failure.is_none()
        && !denied
    {
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
    if denied {
        // Whatever its final text: what it was asked to do was not done.
        failure_class = Some(PERMISSION_DENIED.into());
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
        environment: env_failure,
    })
}

/// Failure class of a Claude Code stage whose tool calls were refused
/// (`permission_denials` not empty), whatever text it ended with.
pub const PERMISSION_DENIED: &str = "agent_permission_denied";

/// The last MiB of a file we wrote, as text.
fn read_text(path: &Path) -> Option<String> {
    const TAIL: u64 = 1024 * 1024;
    let mut f = safe_fs::open_regular(path, None).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(TAIL))).ok()?;
    let mut bytes = Vec::new();
    f.take(TAIL).read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// Does a Codex event stream hold a `turn.failed` event?
fn has_turn_failed(events: &str) -> bool {
    events.lines().any(|l| {
        l.contains("\"turn.failed\"")
            && serde_json::from_str::<serde_json::Value>(l.trim())
                .ok()
                .and_then(|v| {
                    v.get("type")
                        .and_then(|t| t.as_str())
                        .map(|t| t == "turn.failed")
                })
                .unwrap_or(false)
    })
}

/// The reconciled final marker of a final-message file, if any.
fn reconcile(last_message: &Path, legal: &[&str]) -> Option<String> {
    let bytes = safe_fs::read_capped(last_message, RECONCILE_LIMIT).ok()?;
    marker::reconciled_final_marker(&String::from_utf8_lossy(&bytes), legal)
}
