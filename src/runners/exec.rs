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
//!
//! The agent's events are followed as they arrive, on the runner's own
//! thread (`EventWatch`, driven by `process::wait_capturing`'s poll loop):
//! each line is parsed once, for a network wait and for the Codex token
//! count, so the events file is not read back on a completed stage. The
//! final text is read once (`artifacts::publish`) for `runner_stdout`,
//! the reconciliation, the marker scan and the tail.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::artifacts::{self, CompletionRecord, FileNames, InvocationRecord, Present};
use super::capture::{self, Watch};
use super::environment::{self, EnvironmentFailure};
use super::process::{self, Ended, Spawn, SpawnError};
use super::settings::UsageFormat;
use super::{
    claude, marker, tokens, Cancel, ExitKind, Notify, RunnerError, RunnerKind, RunnerOutput,
    StageRequest,
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

impl NetworkWatch<'_> {
    /// The monitor line of a wait (`stage waiting <plane>/<stage>
    /// reason="..."`), written once per stage by the caller.
    pub fn announce(&self, request: &StageRequest, reason: &str) {
        if let Some(notify) = self.notify {
            notify(&format!(
                "stage waiting {}/{} reason=\"{}\"",
                request.plane,
                request.node_id,
                reason.replace('"', "'")
            ));
        }
    }
}

/// Follows the agent's events (its stdout, as kept in the events file)
/// while it runs: each complete line is parsed once, for a network wait
/// (`NetworkWatch`: announced once, the agent stopped when one lasts the
/// grace), for Codex token usage and for Claude Code's `result` event.
/// Lines longer than `marker::MAX_SCANNED_LINE_BYTES` are skipped, as the
/// file readers skip them.
struct EventWatch<'a> {
    request: &'a StageRequest,
    network: Option<NetworkWatch<'a>>,
    /// Codex token usage, when the run reads it from the events.
    tokens: Option<tokens::Tally>,
    /// Claude Code's last `result` event, when the run reads it.
    result: Option<Option<Value>>,
    line: Vec<u8>,
    too_long: bool,
    /// The network wait in progress: since when, and why.
    since: Option<(Instant, String)>,
    announced: bool,
    /// The wait that outlasted the grace (the agent was stopped for it).
    waited: Option<String>,
}

impl<'a> EventWatch<'a> {
    fn new(
        request: &'a StageRequest,
        network: Option<NetworkWatch<'a>>,
        usage: UsageFormat,
    ) -> Self {
        EventWatch {
            request,
            network,
            tokens: (usage == UsageFormat::CodexJson).then(tokens::Tally::default),
            result: (usage == UsageFormat::ClaudeStreamJson).then_some(None),
            line: Vec::new(),
            too_long: false,
            since: None,
            announced: false,
            waited: None,
        }
    }

    /// Is there anything to follow?
    fn active(&self) -> bool {
        self.network.is_some() || self.tokens.is_some() || self.result.is_some()
    }

    fn complete_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        if !self.too_long {
            let text = String::from_utf8_lossy(&line);
            let json = text.trim();
            let event = json
                .starts_with('{')
                .then(|| serde_json::from_str::<Value>(json).ok())
                .flatten();
            if let Some(w) = self.network {
                match event
                    .as_ref()
                    .and_then(|e| environment::network_wait_event(w.kind, e))
                {
                    Some(reason) => self.wait_seen(&w, reason),
                    // Any other event: the agent is working again.
                    None if json.starts_with('{') => self.since = None,
                    None => {}
                }
            }
            // Token events must be valid UTF-8, as the file reader wants them.
            let valid = matches!(text, std::borrow::Cow::Borrowed(_));
            if let (Some(tally), Some(event), true) = (&mut self.tokens, &event, valid) {
                tally.event(event);
            }
            if let (Some(last), Some(event)) = (&mut self.result, event) {
                if claude::is_result(&event) {
                    *last = Some(event);
                }
            }
        }
        // The buffer is kept for the next line.
        self.line = line;
        self.line.clear();
        self.too_long = false;
    }

    fn wait_seen(&mut self, w: &NetworkWatch<'_>, reason: String) {
        if !self.announced {
            self.announced = true;
            w.announce(self.request, &reason);
        }
        if self.since.is_none() {
            self.since = Some((Instant::now(), reason));
        }
    }
}

impl Watch for EventWatch<'_> {
    fn seen(&mut self, stream: usize, mut bytes: &[u8]) {
        if stream != 0 || !self.active() {
            return;
        }
        while !bytes.is_empty() {
            let (part, done) = match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => (&bytes[..=i], true),
                None => (bytes, false),
            };
            if !self.too_long {
                if self.line.len() + part.len() > marker::MAX_SCANNED_LINE_BYTES {
                    self.too_long = true;
                    self.line = Vec::new();
                } else {
                    self.line.extend_from_slice(part);
                }
            }
            bytes = &bytes[part.len()..];
            if done {
                self.complete_line();
            }
        }
    }

    fn next_check(&self) -> Option<Instant> {
        let grace = self.network?.grace;
        self.since.as_ref().map(|(at, _)| *at + grace)
    }

    fn stop(&mut self, now: Instant) -> bool {
        let Some(w) = self.network else {
            return false;
        };
        match &self.since {
            Some((at, reason)) if now.duration_since(*at) >= w.grace => {
                self.waited = Some(reason.clone());
                true
            }
            _ => false,
        }
    }

    fn end(&mut self) {
        if !self.line.is_empty() || self.too_long {
            self.complete_line();
        }
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
    // What the runner knows it left in the run directory.
    let mut present = Present::default();
    let mut watch = EventWatch::new(request, cli.watch, cli.usage);
    let spawned = spawned.map(|mut child| {
        let mut streams: Vec<(Box<dyn capture::Source>, capture::Sink)> = Vec::new();
        if let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) {
            streams.push((Box::new(out), events.into()));
            streams.push((Box::new(err), stderr));
        }
        let streams = capture::Streams::new(streams, limit);
        let (ended, captured) = process::wait_capturing(
            child,
            streams,
            Duration::from_secs(timeout),
            cancel,
            &mut watch,
        );
        dropped = (
            captured.first().map_or(0, |c| c.dropped),
            captured.get(1).map_or(0, |c| c.dropped),
        );
        // The events file was made before the spawn; stderr's on its first byte.
        present.events = true;
        present.stderr = captured.get(1).is_some_and(|c| c.file);
        ended
    });

    let mut notes: Vec<String> = Vec::new();
    let mut failure_class: Option<String> = None;
    let mut env_failure: Option<EnvironmentFailure> = None;
    let waited = watch.waited.take();
    let (exit_kind, exit_code) = match spawned {
        Err(SpawnError::NotFound) => {
            let program = cli.argv.first().map(String::as_str).unwrap_or("");
            artifacts::write_text(
                &names.stderr,
                &format!("runner binary not found: {program}\n"),
            )?;
            artifacts::remove_stale(&names.events);
            artifacts::write_text(&names.stdout, "")?;
            present.stderr = true;
            present.stdout = true;
            failure_class = Some("runner_binary_not_found".into());
            notes.push("runner executable missing".into());
            (ExitKind::SpawnFailed, process::NOT_FOUND_EXIT_CODE)
        }
        Err(SpawnError::Other(e)) => {
            artifacts::write_text(&names.stderr, &format!("runner process error: {e}\n"))?;
            artifacts::remove_stale(&names.events);
            artifacts::write_text(&names.stdout, "")?;
            present.stderr = true;
            present.stdout = true;
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
                present.stderr = true;
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
                present.stderr = true;
                failure_class = Some(f.class.clone());
                notes.push(format!("the agent's environment failed: {}", f.reason));
                env_failure = Some(f);
                (ExitKind::ProviderError, 1)
            }
            Ended::Interrupted => {
                artifacts::append_text(&names.stderr, "runner interrupted by the runtime\n")?;
                present.stderr = true;
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
        // The last `result` line seen as it arrived; else (none, or one
        // over the line limit, or a `json` document over several lines)
        // from the file.
        UsageFormat::ClaudeStreamJson if spawned_ok => match watch.result.take().flatten() {
            Some(event) => Some(claude::result_of(&event)),
            None => claude::read_result(&names.events),
        },
        _ => None,
    };
    let token_usage = match cli.usage {
        _ if !spawned_ok => None,
        UsageFormat::None => None,
        // Counted as the events arrived.
        UsageFormat::CodexJson => watch.tokens.as_ref().and_then(tokens::Tally::usage),
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
    // `runner_stdout`: the final message, else the events, read once here
    // (when they fit in memory) for the reconciliation, the scan and the tail.
    let mut final_text: Option<Vec<u8>> = None;
    let mut final_is_message = false;
    if spawned_ok {
        let mut published = artifacts::publish(&names.last_message, &names.stdout, limit)?;
        if published.is_some() {
            present.last_message = true;
            final_is_message = true;
        } else {
            published = artifacts::publish(&names.events, &names.stdout, limit)?;
        }
        if let Some(p) = published {
            present.stdout = true;
            if p.left_out > 0 {
                let note = capture::truncation_note(limit, p.left_out);
                artifacts::append_text(&names.stdout, &format!("\n{note}\n"))?;
                truncation_notes.push(format!("{} final message: {note}", capture::NOTE_PREFIX));
            }
            final_text = p.bytes;
        } else {
            // Neither file was there: whatever has the name now is not ours.
            present.stdout = names.stdout.exists();
        }
    }

    let mut observed = None;
    if spawned_ok
        && exit_kind != ExitKind::Interrupted
        && !claude_error
        && env_failure.is_none()
        && !denied
    {
        let legal = request.outcome_names();
        let token = match &final_text {
            // What was just read is the final message.
            Some(bytes) if final_is_message && bytes.len() as u64 <= RECONCILE_LIMIT => {
                marker::reconciled_final_marker(&String::from_utf8_lossy(bytes), &legal)
            }
            // No final message: nothing to reconcile.
            _ if !final_is_message => None,
            _ => reconcile(&names.last_message, &legal),
        };
        if let Some(token) = token {
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

    let files = names.known(present);
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

    let (scan, last_message) = match (&files.stdout, &final_text) {
        // `runner_stdout` holds exactly these bytes.
        (Some(_), Some(bytes)) => (
            marker::scan_reader(bytes.as_slice()).unwrap_or_default(),
            Some(artifacts::tail_of(bytes, super::LAST_MESSAGE_LIMIT)),
        ),
        (Some(p), None) => artifacts::scan_and_tail(p, super::LAST_MESSAGE_LIMIT)?,
        (None, _) => (marker::MarkerScan::default(), None),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runners::test_support::updater_request;
    use std::sync::Mutex;

    /// Feed `text` to the watch in pieces of `n` bytes (lines cut anywhere).
    fn feed(watch: &mut EventWatch<'_>, text: &[u8], n: usize) {
        for piece in text.chunks(n) {
            watch.seen(0, piece);
        }
        watch.end();
    }

    #[test]
    fn lines_cut_anywhere_are_read_whole_and_counted_as_the_file_would_be() {
        let request = updater_request(Path::new("/ws"));
        let events = concat!(
            "{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":100,\"output_tokens\":20}}\n",
            "not json\n",
            // The last line has no newline: counted at the end of the stream.
            "{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":50,\"output_tokens\":10}}",
        );
        for n in [1, 7, 64, 4096] {
            let mut watch = EventWatch::new(&request, None, UsageFormat::CodexJson);
            feed(&mut watch, events.as_bytes(), n);
            assert_eq!(
                watch.tokens.as_ref().and_then(tokens::Tally::usage),
                tokens::from_events_reader(events.as_bytes()),
                "pieces of {n}"
            );
            assert_eq!(
                watch
                    .tokens
                    .as_ref()
                    .and_then(tokens::Tally::usage)
                    .map(|u| u.total_tokens),
                Some(180)
            );
        }
        // Stderr is not the event stream.
        let mut watch = EventWatch::new(&request, None, UsageFormat::CodexJson);
        watch.seen(1, events.as_bytes());
        watch.end();
        assert_eq!(watch.tokens.as_ref().and_then(tokens::Tally::usage), None);
    }

    #[test]
    fn an_overlong_line_is_skipped_without_being_held() {
        let request = updater_request(Path::new("/ws"));
        let mut watch = EventWatch::new(&request, None, UsageFormat::ClaudeStreamJson);
        let result = "{\"type\":\"result\",\"result\":\"### DONE\"}\n";
        // A result event padded past the line limit is skipped whole...
        let huge = format!(
            "{{\"type\":\"result\",\"result\":\"{}\"}}\n",
            "x".repeat(marker::MAX_SCANNED_LINE_BYTES)
        );
        watch.seen(0, result.as_bytes());
        for piece in huge.as_bytes().chunks(64 * 1024) {
            watch.seen(0, piece);
            assert!(watch.line.len() <= marker::MAX_SCANNED_LINE_BYTES);
        }
        watch.end();
        // ...so the last result kept is the one before it.
        let last = watch.result.clone().flatten().unwrap();
        assert_eq!(claude::result_of(&last).text.as_deref(), Some("### DONE"));
    }

    #[test]
    fn a_network_wait_is_announced_once_and_due_at_the_end_of_the_grace() {
        let request = updater_request(Path::new("/ws"));
        let lines = Mutex::new(Vec::<String>::new());
        let notify = |l: &str| lines.lock().unwrap().push(l.to_string());
        let grace = Duration::from_secs(5);
        let mut watch = EventWatch::new(
            &request,
            Some(NetworkWatch {
                kind: RunnerKind::CodexCli,
                grace,
                notify: Some(&notify),
            }),
            UsageFormat::CodexJson,
        );
        let wait = b"{\"type\":\"error\",\"message\":\"Reconnecting... waiting for network\"}\n";
        assert_eq!(watch.next_check(), None);
        watch.seen(0, wait);
        let (since, _) = watch.since.clone().unwrap();
        assert_eq!(watch.next_check(), Some(since + grace));
        assert!(!watch.stop(since + grace / 2));
        // A second wait line neither restarts the grace nor announces again.
        watch.seen(0, wait);
        assert_eq!(watch.next_check(), Some(since + grace));
        assert!(watch.stop(since + grace));
        assert_eq!(
            watch.waited.as_deref(),
            Some("Reconnecting... waiting for network")
        );
        assert_eq!(
            *lines.lock().unwrap(),
            ["stage waiting execution/updater reason=\"Reconnecting... waiting for network\""]
        );
        // Any other event ends the wait; plain text does not.
        let mut watch = EventWatch::new(
            &request,
            Some(NetworkWatch {
                kind: RunnerKind::CodexCli,
                grace,
                notify: None,
            }),
            UsageFormat::None,
        );
        watch.seen(0, wait);
        watch.seen(0, b"plain text\n");
        assert!(watch.next_check().is_some());
        watch.seen(0, b"{\"type\":\"turn.started\"}\n");
        assert_eq!(watch.next_check(), None);
    }
}
