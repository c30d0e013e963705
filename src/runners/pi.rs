//! The `pi_rpc` runner: one Pi session in RPC mode, spoken to over stdio in
//! JSON lines.
//!
//! argv: `command`, `args`, `--mode rpc --no-session`, `--provider P`,
//! `--model M`, `--thinking T` (stage thinking level, else `runners.pi.thinking`),
//! `--no-context-files`, `--no-skills` (each when enabled). The exchange:
//!
//! 1. send `{"id":"prompt-1","type":"prompt","message":<prompt>}` and wait
//!    for the `response` with that id (`success: false` → `runner_rpc_rejected`);
//! 2. read events until `{"type":"agent_end"}` (a `stopReason` of `error`
//!    on the event's message, or on its last assistant message, marks a
//!    provider error; end of stream first → `runner_incomplete_rpc_stream`);
//! 3. `get_last_assistant_text` → `data.text`, written as the stdout file
//!    (empty → `runner_empty_assistant_text`, or `runner_provider_failure`
//!    after a provider error);
//! 4. `get_session_stats` → `data.tokens` for token usage.
//!
//! Pi retrying by itself after an error naming the network or a rate limit
//! (`auto_retry_start`, `environment::pi_retry_wait`) is a network wait, as
//! Codex's and Claude Code's are: announced once through the notify line,
//! ended by a sign of an answer (a streamed delta, an assistant message that
//! did not fail, a tool run, `auto_retry_end`), and when it lasts
//! `[runners] network_grace_seconds` the agent's process group is killed
//! and the stage fails for its environment.
//!
//! Follow-up requests get 5 s each. The whole session has the stage timeout
//! from the prompt send; on expiry the runner sends `abort`, allows 2 s of
//! grace, then closes stdin and terminates, then kills the process group.
//! Events other than responses and `message_update` are streamed to
//! `runner_events.<req>.jsonl`, kept only on failure unless
//! `event_log_policy = "full"`. Stderr is streamed to its file.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::process::{ChildStdin, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::artifacts::{self, CompletionRecord, FileNames, InvocationRecord};
use super::capture;
use super::environment::{self, EnvironmentFailure};
use super::exec::NetworkWatch;
use super::process::{self, Spawn, SpawnError};
use super::settings::{PiEventLogPolicy, PiSettings};
use super::{
    io_err, marker, prompt, Cancel, ExitKind, RunnerError, RunnerOutput, StageRequest, TokenUsage,
};
use crate::workspace::clock::now_rfc3339;

pub const RUNNER_NAME: &str = "pi_rpc";

const FOLLOW_UP: Duration = Duration::from_secs(5);
const ABORT_GRACE: Duration = Duration::from_secs(2);
const SHUTDOWN_STEP: Duration = Duration::from_secs(1);

/// The full argv.
pub fn build_argv(settings: &PiSettings, request: &StageRequest) -> Vec<String> {
    let mut argv = vec![settings.command.clone()];
    argv.extend(settings.args.iter().cloned());
    argv.extend(["--mode", "rpc", "--no-session"].map(String::from));
    if let Some(provider) = &settings.provider {
        argv.extend(["--provider".to_string(), provider.clone()]);
    }
    if let Some(model) = &request.model_name {
        argv.extend(["--model".to_string(), model.clone()]);
    }
    if let Some(thinking) = request
        .thinking_level
        .as_ref()
        .or(settings.thinking.as_ref())
    {
        argv.extend(["--thinking".to_string(), thinking.clone()]);
    }
    if settings.disable_context_files {
        argv.push("--no-context-files".into());
    }
    if settings.disable_skills {
        argv.push("--no-skills".into());
    }
    argv
}

/// How a session ended, before files are finalized.
struct SessionEnd {
    exit_kind: ExitKind,
    exit_code: i32,
    assistant_text: Option<String>,
    token_usage: Option<TokenUsage>,
    failure_class: Option<String>,
    notes: Vec<String>,
    environment: Option<EnvironmentFailure>,
    /// The wait the runtime stopped the agent for (its group is killed).
    stopped_for: Option<String>,
}

impl SessionEnd {
    fn failed(kind: ExitKind, code: i32, class: &str, note: String) -> SessionEnd {
        SessionEnd {
            exit_kind: kind,
            exit_code: code,
            assistant_text: None,
            token_usage: None,
            failure_class: Some(class.into()),
            notes: vec![note],
            environment: None,
            stopped_for: None,
        }
    }

    /// A failure whose text may name an environment failure (then its class).
    fn failed_env(kind: ExitKind, class: &str, text: String) -> SessionEnd {
        let environment = environment::from_error_text(&text);
        let class = environment.as_ref().map_or(class, |f| f.class.as_str());
        let mut end = SessionEnd::failed(kind, 1, class, text);
        end.environment = environment;
        end
    }
}

/// How long, after an `agent_end` that stopped on an error, Pi gets to
/// announce its own retry (`auto_retry_start`, then a new `agent_start`).
const RETRY_PEEK: Duration = Duration::from_millis(1500);

enum Record {
    Line(String, Map<String, Value>),
    Eof,
    Deadline,
    Cancelled,
    Invalid(String),
}

struct Session<'a> {
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    events: BufWriter<File>,
    events_written: usize,
    /// Bytes kept in the events file, and the most it may hold.
    events_bytes: u64,
    events_limit: u64,
    cancel: Cancel<'a>,
    wait: WaitWatch<'a>,
}

/// Pi's own retries while it runs: a network wait (`pi_retry_wait`) is
/// announced once, and one that lasts the grace stops the agent.
struct WaitWatch<'a> {
    network: Option<NetworkWatch<'a>>,
    request: &'a StageRequest,
    /// The wait in progress: since when, and why.
    since: Option<(Instant, String)>,
    announced: bool,
}

impl WaitWatch<'_> {
    fn event(&mut self, event: &Map<String, Value>) {
        let Some(w) = self.network else {
            return;
        };
        if let Some(reason) = environment::pi_retry_wait(event) {
            if !self.announced {
                self.announced = true;
                w.announce(self.request, &reason);
            }
            if self.since.is_none() {
                self.since = Some((Instant::now(), reason));
            }
        } else if answers(event) {
            self.since = None;
        }
    }

    /// When the wait in progress outlasts the grace.
    fn due(&self) -> Option<Instant> {
        let grace = self.network?.grace;
        self.since.as_ref().map(|(at, _)| *at + grace)
    }

    /// The wait that outlasted the grace by `now`, if one did.
    fn expired(&self, now: Instant) -> Option<&str> {
        match (self.due(), &self.since) {
            (Some(due), Some((_, reason))) if now >= due => Some(reason),
            _ => None,
        }
    }
}

/// Does this event show the provider answering (so a wait is over)? The
/// events of a failed attempt (`agent_start`, `turn_*`, `message_start`,
/// a `message_end` that stopped with `error`, `agent_end`) do not.
fn answers(event: &Map<String, Value>) -> bool {
    match event.get("type").and_then(Value::as_str) {
        Some("message_update" | "auto_retry_end") => true,
        Some(t) if t.starts_with("tool_execution") => true,
        Some("message_end") => {
            let m = event.get("message");
            m.and_then(|m| m.get("role")).and_then(Value::as_str) == Some("assistant")
                && stop_reason(event) != Some("error")
        }
        _ => false,
    }
}

impl Session<'_> {
    fn send(&mut self, message: &Value) -> io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| io::Error::other("pi rpc stdin is closed"))?;
        let mut line = message.to_string();
        line.push('\n');
        stdin.write_all(line.as_bytes())?;
        stdin.flush()
    }

    fn next(&mut self, deadline: Instant) -> Record {
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Record::Deadline;
            }
            if self.cancel.is_set() {
                return Record::Cancelled;
            }
            let slice = if self.cancel.0.is_some() {
                (deadline - now).min(Duration::from_millis(100))
            } else {
                deadline - now
            };
            match self.lines.recv_timeout(slice) {
                Ok(line) => {
                    return match serde_json::from_str::<Value>(&line) {
                        Ok(Value::Object(map)) => Record::Line(line, map),
                        Ok(_) => {
                            Record::Invalid("pi rpc stream record must be a JSON object".into())
                        }
                        Err(e) => Record::Invalid(format!("invalid JSON in pi rpc stream: {e}")),
                    };
                }
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return Record::Eof,
            }
        }
    }

    /// Keep an event line (not `message_update`, which is streaming noise).
    fn keep_event(&mut self, raw: &str, map: &Map<String, Value>) {
        if map.get("type").and_then(Value::as_str) == Some("message_update") {
            return;
        }
        let size = raw.len() as u64 + 1;
        if self.events_bytes + size > self.events_limit {
            if self.events_bytes <= self.events_limit {
                // Once, then nothing more: the file stays bounded.
                let note = capture::truncation_note(self.events_limit, size);
                let _ = writeln!(self.events, "{note}");
                self.events_bytes = self.events_limit + 1;
            }
            return;
        }
        if writeln!(self.events, "{raw}").is_ok() {
            self.events_written += 1;
            self.events_bytes += size;
        }
    }

    /// Wait for the response with `id`, keeping (or, when `keep` is false,
    /// dropping) other events. `Err` carries the record that ended the wait.
    fn response(
        &mut self,
        id: &str,
        deadline: Instant,
        keep: bool,
    ) -> Result<Map<String, Value>, Record> {
        loop {
            match self.next(deadline) {
                Record::Line(raw, map) => {
                    if map.get("type").and_then(Value::as_str) != Some("response") {
                        if keep {
                            self.keep_event(&raw, &map);
                        }
                        continue;
                    }
                    if map.get("id").and_then(Value::as_str) == Some(id) {
                        return Ok(map);
                    }
                }
                other => return Err(other),
            }
        }
    }

    /// A follow-up request; `None` when it fails or times out.
    fn follow_up(&mut self, id: &str, kind: &str) -> Option<Map<String, Value>> {
        self.send(&json!({"id": id, "type": kind})).ok()?;
        let map = self.response(id, Instant::now() + FOLLOW_UP, false).ok()?;
        (map.get("success").and_then(Value::as_bool) == Some(true)).then_some(map)
    }
}

/// Run one stage through Pi.
pub fn run(
    request: &StageRequest,
    settings: &PiSettings,
    max_output_bytes: u64,
    cancel: Cancel<'_>,
    watch: Option<NetworkWatch<'_>>,
) -> Result<RunnerOutput, RunnerError> {
    let names = FileNames::new(&request.run_dir, &request.request_id);
    artifacts::ensure_dir(&request.run_dir)?;
    let prompt = prompt::render(request);
    artifacts::write_text(&names.prompt, &prompt)?;
    let argv = build_argv(settings, request);
    let invocation =
        InvocationRecord::new(request, RUNNER_NAME, &argv, &names.prompt, now_rfc3339());
    artifacts::write_json(&names.invocation, &invocation)?;
    for stale in [&names.stdout, &names.events] {
        artifacts::remove_stale(stale);
    }
    let timeout = request.effective_timeout_seconds();
    let started_at = now_rfc3339();
    let clock = Instant::now();

    let spawned = process::spawn(Spawn {
        argv: &argv,
        cwd: &request.workspace_root,
        env: &settings.env,
        stdin: Stdio::piped(),
        stdout: Stdio::piped(),
        stderr: Stdio::piped(),
    });
    let mut stderr_dropped = 0;
    let mut end = match spawned {
        Err(SpawnError::NotFound) => {
            let program = argv.first().map(String::as_str).unwrap_or("");
            artifacts::write_text(
                &names.stderr,
                &format!("runner binary not found: {program}\n"),
            )?;
            SessionEnd::failed(
                ExitKind::SpawnFailed,
                process::NOT_FOUND_EXIT_CODE,
                "runner_binary_not_found",
                "runner executable missing".into(),
            )
        }
        Err(SpawnError::Other(e)) => {
            artifacts::write_text(&names.stderr, &format!("runner process error: {e}\n"))?;
            SessionEnd::failed(
                ExitKind::SpawnFailed,
                1,
                "runner_transport_failure",
                e.to_string(),
            )
        }
        Ok(mut child) => {
            let pid = child.id();
            let stderr_file = artifacts::create(&names.stderr)?;
            let mut child_stderr = child.stderr.take();
            let stderr_thread = std::thread::spawn(move || match child_stderr.as_mut() {
                Some(err) => capture::copy_bounded(err, stderr_file, max_output_bytes).unwrap_or(0),
                None => 0,
            });
            let (tx, rx) = mpsc::channel();
            let child_stdout = child.stdout.take();
            let stdout_thread = std::thread::spawn(move || {
                if let Some(out) = child_stdout {
                    read_lines(BufReader::new(out), tx, max_output_bytes);
                }
            });
            let events = BufWriter::new(artifacts::create(&names.events)?);
            let mut session = Session {
                stdin: child.stdin.take(),
                lines: rx,
                events,
                events_written: 0,
                events_bytes: 0,
                events_limit: max_output_bytes,
                cancel,
                wait: WaitWatch {
                    network: watch,
                    request,
                    since: None,
                    announced: false,
                },
            };
            let deadline = clock + Duration::from_secs(timeout);
            let end = converse(&mut session, &prompt, deadline, timeout);

            // Stopped for a network wait: nothing to ask it any more (Pi
            // sleeps between its retries), so its group is killed at once.
            if end.stopped_for.is_some() {
                process::kill_group(pid);
            }
            // Shutdown: close stdin, give the agent a moment, then escalate.
            session.stdin = None;
            if process::wait_briefly(&mut child, SHUTDOWN_STEP).is_none() {
                process::signal_group(pid, libc::SIGTERM);
                if process::wait_briefly(&mut child, SHUTDOWN_STEP).is_none() {
                    process::kill_group(pid);
                    let _ = child.wait();
                }
            }
            // The group may still hold grandchildren keeping the pipes open.
            if matches!(end.exit_kind, ExitKind::Timeout | ExitKind::Interrupted)
                || end.stopped_for.is_some()
            {
                process::kill_group(pid);
            }
            let _ = session.events.flush();
            let written = session.events_written;
            drop(session);
            // Grandchildren may still hold the pipes open: give the readers a
            // moment, then clear the group so they reach end of stream.
            let deadline = Instant::now() + SHUTDOWN_STEP;
            while !(stdout_thread.is_finished() && stderr_thread.is_finished())
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            if !(stdout_thread.is_finished() && stderr_thread.is_finished()) {
                process::kill_group(pid);
            }
            let _ = stdout_thread.join();
            stderr_dropped = stderr_thread.join().unwrap_or(0);
            // The same lines the other runners append to the stderr file.
            match end.exit_kind {
                ExitKind::Timeout => artifacts::append_text(
                    &names.stderr,
                    &format!("runner timed out after {timeout} seconds\n"),
                )?,
                ExitKind::Interrupted => {
                    artifacts::append_text(&names.stderr, "runner interrupted by the runtime\n")?
                }
                _ => {}
            }
            if let Some(f) = end
                .environment
                .as_ref()
                .filter(|_| end.stopped_for.is_some())
            {
                artifacts::append_text(
                    &names.stderr,
                    &format!("runner stopped by the runtime: {}\n", f.reason),
                )?;
            }
            let keep = written > 0
                && (settings.event_log_policy == PiEventLogPolicy::Full
                    || end.exit_kind != ExitKind::Completed);
            if !keep {
                artifacts::remove_stale(&names.events);
            }
            if let Some(text) = &end.assistant_text {
                artifacts::write_text(&names.stdout, text)?;
            }
            end
        }
    };
    if stderr_dropped > 0 {
        end.notes.push(format!(
            "{} agent stderr: {}",
            capture::NOTE_PREFIX,
            capture::truncation_note(max_output_bytes, stderr_dropped)
        ));
    }
    let ended_at = now_rfc3339();
    let duration_seconds = clock.elapsed().as_secs_f64();

    let files = names.existing();
    let completion = CompletionRecord::new(
        request,
        RUNNER_NAME,
        request.model_reasoning_effort.as_deref(),
        &files,
        &argv,
        artifacts::Ending {
            exit_kind: end.exit_kind,
            exit_code: end.exit_code,
            observed: None,
            token_usage: end.token_usage,
            failure_class: end.failure_class.as_deref(),
            notes: &end.notes,
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
        runner_name: RUNNER_NAME.to_string(),
        exit_kind: end.exit_kind,
        exit_code: Some(end.exit_code),
        observed: None,
        failure_class: end.failure_class,
        notes: end.notes,
        files,
        last_message,
        scan,
        token_usage: end.token_usage,
        started_at,
        ended_at,
        duration_seconds,
        command: argv,
        model_reasoning_effort: request.model_reasoning_effort.clone(),
        environment: end.environment,
    })
}

/// The RPC exchange, from the prompt to the session stats.
fn converse(
    session: &mut Session<'_>,
    prompt: &str,
    deadline: Instant,
    timeout: u64,
) -> SessionEnd {
    let transport = |note: String| {
        SessionEnd::failed(ExitKind::RpcFailure, 1, "runner_transport_failure", note)
    };
    if let Err(e) = session.send(&json!({"id": "prompt-1", "type": "prompt", "message": prompt})) {
        return transport(format!("failed to send pi rpc prompt: {e}"));
    }
    let response = match session.response("prompt-1", deadline, true) {
        Ok(map) => map,
        Err(Record::Deadline) => return stop(session, ExitKind::Timeout, timeout),
        Err(Record::Cancelled) => return stop(session, ExitKind::Interrupted, timeout),
        Err(Record::Invalid(note)) => return transport(note),
        Err(_) => return transport("pi rpc stream ended before response".into()),
    };
    if response.get("success").and_then(Value::as_bool) != Some(true) {
        let note = match response.get("error") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(v) if !v.is_null() && v != &Value::Bool(false) => v.to_string(),
            _ => "prompt rejected".into(),
        };
        return SessionEnd::failed_env(ExitKind::RpcFailure, "runner_rpc_rejected", note);
    }

    let mut provider_error = false;
    let mut error_message: Option<String> = None;
    // Usage of every assistant message, summed (when the stats are unavailable).
    let mut message_usage: Option<TokenUsage> = None;
    let mut peeking = false;
    loop {
        let now = Instant::now();
        if let Some(reason) = session.wait.expired(now) {
            return network_stop(session, reason.to_string());
        }
        let mut until = if peeking {
            deadline.min(now + RETRY_PEEK)
        } else {
            deadline
        };
        if let Some(due) = session.wait.due() {
            until = until.min(due);
        }
        match session.next(until) {
            Record::Line(raw, map) => {
                if map.get("type").and_then(Value::as_str) == Some("response") {
                    continue;
                }
                session.keep_event(&raw, &map);
                session.wait.event(&map);
                let kind = map.get("type").and_then(Value::as_str);
                if peeking {
                    if kind == Some("auto_retry_start") {
                        // Pi retries by itself: the run goes on.
                        peeking = false;
                        provider_error = false;
                        continue;
                    }
                    break;
                }
                if stop_reason(&map) == Some("error") {
                    provider_error = true;
                    if let Some(m) = error_message_of(&map) {
                        error_message = Some(m);
                    }
                }
                if kind == Some("message_end") {
                    add_message_usage(&map, &mut message_usage);
                }
                if kind == Some("agent_end") {
                    if provider_error {
                        peeking = true;
                        continue;
                    }
                    break;
                }
            }
            // The wait outlasted the grace: stopped at the top of the loop.
            Record::Deadline if session.wait.expired(Instant::now()).is_some() => continue,
            Record::Deadline if peeking && Instant::now() < deadline => break,
            Record::Eof if peeking => break,
            Record::Eof => {
                return SessionEnd::failed(
                    ExitKind::RpcFailure,
                    1,
                    "runner_incomplete_rpc_stream",
                    "pi rpc stream ended before agent_end".into(),
                )
            }
            Record::Deadline => return stop(session, ExitKind::Timeout, timeout),
            Record::Cancelled => return stop(session, ExitKind::Interrupted, timeout),
            Record::Invalid(note) => return transport(note),
        }
    }

    let mut notes = Vec::new();
    let assistant_text = match session.follow_up("last-assistant-1", "get_last_assistant_text") {
        Some(map) => map
            .get("data")
            .and_then(|d| d.get("text"))
            .and_then(Value::as_str)
            .map(String::from),
        None => {
            notes.push("pi rpc get_last_assistant_text failed".to_string());
            None
        }
    };
    let token_usage = match session.follow_up("session-stats-1", "get_session_stats") {
        Some(map) => map.get("data").and_then(usage_from_stats),
        None => {
            notes.push("pi rpc get_session_stats unavailable".to_string());
            message_usage
        }
    };
    let has_text = assistant_text
        .as_deref()
        .is_some_and(|t| !t.trim().is_empty());
    let environment = match (&error_message, has_text) {
        (Some(m), false) if provider_error => environment::from_error_text(m),
        _ => None,
    };
    if let Some(m) = error_message
        .as_ref()
        .filter(|_| provider_error && !has_text)
    {
        notes.push(format!(
            "the provider reported: {}",
            environment::one_line(m)
        ));
    }
    let (exit_kind, exit_code, failure_class) = if has_text {
        (ExitKind::Completed, 0, None)
    } else if let Some(f) = &environment {
        (ExitKind::ProviderError, 1, Some(f.class.clone()))
    } else if provider_error {
        (
            ExitKind::ProviderError,
            1,
            Some("runner_provider_failure".to_string()),
        )
    } else {
        (
            ExitKind::RpcFailure,
            1,
            Some("runner_empty_assistant_text".to_string()),
        )
    };
    SessionEnd {
        exit_kind,
        exit_code,
        assistant_text,
        token_usage,
        failure_class,
        notes,
        environment,
        stopped_for: None,
    }
}

/// The `errorMessage` of an event's message, or of its last assistant message.
fn error_message_of(event: &Map<String, Value>) -> Option<String> {
    let from = |m: &Value| {
        m.get("errorMessage")
            .and_then(Value::as_str)
            .map(String::from)
    };
    if let Some(m) = event.get("message").and_then(from) {
        return Some(m);
    }
    event
        .get("messages")?
        .as_array()?
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("assistant"))
        .and_then(from)
}

/// Add the usage of an assistant `message_end` event to `total`.
fn add_message_usage(event: &Map<String, Value>, total: &mut Option<TokenUsage>) {
    let Some(m) = event.get("message") else {
        return;
    };
    if m.get("role").and_then(Value::as_str) != Some("assistant") {
        return;
    }
    let Some(u) = m.get("usage").filter(|u| u.is_object()) else {
        return;
    };
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    let t = total.get_or_insert_with(TokenUsage::default);
    let cached = n("cacheRead");
    let input = n("input") + cached + n("cacheWrite");
    t.input_tokens += input;
    t.cached_input_tokens += cached;
    t.output_tokens += n("output");
    t.total_tokens += n("totalTokens").max(input + n("output"));
}

/// A network wait that outlasted the grace: the stage fails for its
/// environment (the caller kills the process group).
fn network_stop(session: &Session<'_>, reason: String) -> SessionEnd {
    let grace = session.wait.network.map_or(0, |w| w.grace.as_secs());
    let f = environment::from_wait(&reason, grace);
    let mut end = SessionEnd::failed(
        ExitKind::ProviderError,
        1,
        &f.class,
        format!("the agent's environment failed: {}", f.reason),
    );
    end.environment = Some(f);
    end.stopped_for = Some(reason);
    end
}

/// Timeout or cancel: ask the agent to abort, drain events for the grace
/// period, and report. The caller then shuts the process group down.
fn stop(session: &mut Session<'_>, kind: ExitKind, timeout: u64) -> SessionEnd {
    let mut notes = vec![match kind {
        ExitKind::Timeout => format!("runner process exceeded timeout of {timeout} seconds"),
        _ => "runner interrupted by the runtime".to_string(),
    }];
    if session
        .send(&json!({"id": "abort-1", "type": "abort"}))
        .is_ok()
    {
        notes.push("sent pi rpc abort command".into());
    } else {
        notes.push("failed to send pi rpc abort command".into());
    }
    let grace = Instant::now() + ABORT_GRACE;
    // Without the cancel check: the grace period runs in full either way.
    let cancel = std::mem::take(&mut session.cancel);
    while let Record::Line(raw, map) = session.next(grace) {
        if map.get("type").and_then(Value::as_str) != Some("response") {
            session.keep_event(&raw, &map);
        }
    }
    session.cancel = cancel;
    let (code, class) = match kind {
        ExitKind::Timeout => (process::TIMEOUT_EXIT_CODE, "runner_timeout"),
        _ => (process::INTERRUPTED_EXIT_CODE, "runner_interrupted"),
    };
    SessionEnd {
        exit_kind: kind,
        exit_code: code,
        assistant_text: None,
        token_usage: None,
        failure_class: Some(class.into()),
        notes,
        environment: None,
        stopped_for: None,
    }
}

fn stop_reason(event: &Map<String, Value>) -> Option<&str> {
    if let Some(reason) = event
        .get("message")
        .and_then(|m| m.get("stopReason"))
        .and_then(Value::as_str)
    {
        return Some(reason);
    }
    event
        .get("messages")?
        .as_array()?
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("assistant"))?
        .get("stopReason")?
        .as_str()
}

fn usage_from_stats(data: &Value) -> Option<TokenUsage> {
    let tokens = data.as_object()?.get("tokens")?.as_object()?;
    let n = |key: &str| -> u64 {
        match tokens.get(key) {
            Some(Value::Number(num)) => num
                .as_u64()
                .or_else(|| num.as_f64().map(|f| f.max(0.0) as u64))
                .unwrap_or(0),
            _ => 0,
        }
    };
    let (input, output) = (n("input"), n("output"));
    let total = match n("total") {
        0 => input + output,
        t => t,
    };
    Some(TokenUsage {
        input_tokens: input,
        cached_input_tokens: n("cacheRead"),
        output_tokens: output,
        thinking_tokens: 0,
        total_tokens: total,
    })
}

/// Forward stdout lines (without `\n` / `\r\n`) until EOF; the channel
/// closes at EOF. A line longer than `max` bytes is dropped unread (never
/// held in memory); the conversation then misses that record.
fn read_lines<R: BufRead>(mut reader: R, tx: mpsc::Sender<String>, max: u64) {
    let mut buf = Vec::new();
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    loop {
        match super::marker::read_bounded_line(&mut reader, &mut buf, max) {
            Ok(None) | Err(_) => return,
            Ok(Some(false)) => continue,
            Ok(Some(true)) => {}
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        if tx.send(String::from_utf8_lossy(&buf).into_owned()).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlong_rpc_lines_are_dropped_unread() {
        let input = format!("{{\"a\":1}}\n{}\n{{\"b\":2}}\r\n", "x".repeat(10_000));
        let (tx, rx) = mpsc::channel();
        read_lines(io::Cursor::new(input.into_bytes()), tx, 100);
        let got: Vec<String> = rx.iter().collect();
        assert_eq!(got, vec!["{\"a\":1}", "{\"b\":2}"]);
    }
    use crate::runners::test_support::updater_request;
    use std::path::Path;

    #[test]
    fn argv() {
        let mut request = updater_request(Path::new("/ws"));
        let settings = PiSettings::default();
        assert_eq!(
            build_argv(&settings, &request),
            [
                "pi",
                "--mode",
                "rpc",
                "--no-session",
                "--no-context-files",
                "--no-skills"
            ]
        );
        request.model_name = Some("m".into());
        let settings = PiSettings {
            args: vec!["--verbose".into()],
            provider: Some("prov".into()),
            thinking: Some("low".into()),
            disable_context_files: false,
            disable_skills: false,
            ..PiSettings::default()
        };
        assert_eq!(
            build_argv(&settings, &request),
            [
                "pi",
                "--verbose",
                "--mode",
                "rpc",
                "--no-session",
                "--provider",
                "prov",
                "--model",
                "m",
                "--thinking",
                "low"
            ]
        );
    }

    #[test]
    fn stats_and_stop_reasons() {
        let u = usage_from_stats(
            &json!({"tokens": {"input": 10, "output": 5, "cacheRead": 3, "total": 0}}),
        )
        .unwrap();
        assert_eq!(
            (
                u.input_tokens,
                u.cached_input_tokens,
                u.output_tokens,
                u.total_tokens
            ),
            (10, 3, 5, 15)
        );
        assert_eq!(usage_from_stats(&json!({"nope": 1})), None);
        let e = json!({"type": "agent_end", "messages": [
            {"role": "assistant", "stopReason": "error"}, {"role": "user"}]});
        assert_eq!(stop_reason(e.as_object().unwrap()), Some("error"));
        let e = json!({"type": "message_end", "message": {"stopReason": "stop"}});
        assert_eq!(stop_reason(e.as_object().unwrap()), Some("stop"));
    }
}
