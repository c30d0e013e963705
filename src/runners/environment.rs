//! Environment failures: an agent that could not reach or use its model for
//! reasons that belong to the machine, not to the work (not logged in, no
//! API key or invalid credentials, network unreachable, provider quota or
//! rate limit, a CLI refusing to start as configured). Read from each
//! harness's own error channels only, never from the text of a run that
//! succeeded:
//!
//! - Codex (`exec --json`): `error` events and `turn.failed` errors of a run
//!   that did not complete; `Reconnecting... waiting for network` events are
//!   a network wait (`network_wait`), stopped after
//!   `[runners] network_grace_seconds` by the runner.
//! - Claude Code (`stream-json`): the final `result` event with `is_error`
//!   (its text and `api_error_status`, never `subtype` alone), `system`
//!   `api_retry` events (a wait), and stderr when it exits before any result.
//! - Pi (RPC): the prompt's rejection text, the `errorMessage` of an
//!   assistant message that stopped with `error`, and `auto_retry_start`
//!   events naming the network or a rate limit (a wait, `pi_retry_wait`).
//!
//! The engine puts such a stage's item back unchanged and pauses the
//! daemon (pause source `agent_environment`, see `runtime::runner_health`).
//! This file also owns `summarize_event`: one short line for the latest
//! agent event of each harness, for the heartbeat and `status`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::RunnerKind;

/// Failure classes of environment failures.
pub const NOT_LOGGED_IN: &str = "agent_not_logged_in";
pub const CREDENTIALS: &str = "agent_credentials_invalid";
pub const NETWORK: &str = "agent_network_unreachable";
pub const QUOTA: &str = "agent_quota_exhausted";
pub const REFUSED: &str = "agent_refused_to_start";

/// Every environment failure class.
pub const CLASSES: [&str; 5] = [NOT_LOGGED_IN, CREDENTIALS, NETWORK, QUOTA, REFUSED];

/// Is `class` an environment failure class?
pub fn is_environment_class(class: &str) -> bool {
    CLASSES.contains(&class)
}

/// A stage that failed because of its environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentFailure {
    /// One of `CLASSES`.
    pub class: String,
    /// The agent's own words, one line.
    pub reason: String,
    /// When the provider said its limit resets (Unix seconds), if it said.
    pub retry_at_unix: Option<i64>,
}

impl EnvironmentFailure {
    fn new(class: &str, reason: &str, now: i64) -> EnvironmentFailure {
        let reason = one_line(reason);
        let retry_at_unix = if class == QUOTA {
            reset_time(&reason, now)
        } else {
            None
        };
        EnvironmentFailure {
            class: class.to_string(),
            reason,
            retry_at_unix,
        }
    }
}

/// The first non-empty line of `text`, trimmed, at most 300 characters.
pub fn one_line(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut out: String = line.chars().take(300).collect();
    if line.chars().count() > 300 {
        out.push('…');
    }
    out
}

/// The environment class an error text names, if any. Only for text read
/// from an error channel.
pub fn classify_text(text: &str) -> Option<&'static str> {
    let t = text.to_ascii_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| t.contains(w));
    if any(&[
        "not logged in",
        "please run /login",
        "please log in",
        "login required",
    ]) {
        return Some(NOT_LOGGED_IN);
    }
    if any(&[
        "no api key",
        "invalid api key",
        "invalid x-api-key",
        "incorrect api key",
        "api key not found",
        "missing api key",
        "authentication_error",
        "authentication_failed",
        "invalid_api_key",
        "401 unauthorized",
        "status 401",
        "unauthorized",
        "missing environment variable",
        "token has expired",
        "token expired",
        "oauth token",
        "credentials",
    ]) {
        return Some(CREDENTIALS);
    }
    if any(&[
        "rate limit",
        "rate_limit",
        "ratelimit",
        "too many requests",
        "status 429",
        "429 too many",
        "quota",
        "usage limit",
        "hit your limit",
        "limit reached",
    ]) {
        return Some(QUOTA);
    }
    if any(&[
        "waiting for network",
        "unable to connect",
        "connection error",
        "connection refused",
        "error sending request",
        "failed to lookup address",
        "name does not resolve",
        "network is unreachable",
        "could not resolve host",
        "econnrefused",
        "enotfound",
        "etimedout",
        "fetch failed",
    ]) {
        return Some(NETWORK);
    }
    if any(&["cannot be used with root/sudo"]) {
        return Some(REFUSED);
    }
    None
}

/// The class for an HTTP status the agent reported, if it is the
/// environment's (401/403 credentials, 429 quota).
pub fn classify_status(status: i64) -> Option<&'static str> {
    match status {
        401 | 403 => Some(CREDENTIALS),
        429 => Some(QUOTA),
        _ => None,
    }
}

/// When a quota message says the limit resets, as Unix seconds: an epoch
/// after `|` (`... limit reached|1767225600`), an RFC 3339 time, or
/// `in N seconds|minutes|hours` (`try again in 2 hours 5 minutes`, `in 30s`).
pub fn reset_time(text: &str, now: i64) -> Option<i64> {
    if let Some((_, tail)) = text.rsplit_once('|') {
        if let Ok(epoch) = tail.trim().parse::<i64>() {
            if epoch > 1_000_000_000 {
                return Some(epoch);
            }
        }
    }
    for word in text.split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',') {
        let word = word.trim_end_matches('.');
        if word.len() >= 20 && word.as_bytes()[4] == b'-' {
            if let Some(t) = crate::workspace::clock::parse_micros(word) {
                return Some(t / 1_000_000);
            }
        }
    }
    let lower = text.to_ascii_lowercase();
    let at = lower.find(" in ")?;
    let words: Vec<&str> = lower[at + 4..].split_whitespace().collect();
    let mut secs = 0i64;
    let mut i = 0;
    while i < words.len() {
        let w = words[i].trim_end_matches(['.', ',', ')']);
        let digits: String = w.chars().take_while(|c| c.is_ascii_digit()).collect();
        if digits.is_empty() {
            if w == "and" {
                i += 1;
                continue;
            }
            break;
        }
        let n: i64 = digits.parse().ok()?;
        let mut unit = w[digits.len()..].to_string();
        if unit.is_empty() {
            i += 1;
            unit = words
                .get(i)
                .map(|u| u.trim_end_matches(['.', ',', ')']).to_string())
                .unwrap_or_default();
        }
        let mult = match unit.as_str() {
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hr" | "hrs" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86_400,
            _ => break,
        };
        secs += n * mult;
        i += 1;
    }
    (secs > 0).then_some(now + secs)
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn parse(line: &str) -> Option<Value> {
    let line = line.trim();
    if !line.starts_with('{') {
        return None;
    }
    serde_json::from_str(line).ok()
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for k in path {
        cur = cur.get(k)?;
    }
    cur.as_str()
}

/// A network (or rate-limit) wait announced by one event line: the agent
/// is retrying by itself. `Some(reason)` for Codex `Reconnecting... waiting
/// for network` errors, Claude Code `system`/`api_retry` events without
/// an HTTP status or with 429, and Pi `auto_retry_start` events
/// (`pi_retry_wait`).
pub fn network_wait(kind: RunnerKind, line: &str) -> Option<String> {
    network_wait_event(kind, &parse(line)?)
}

/// `network_wait` of an event line already parsed.
pub fn network_wait_event(kind: RunnerKind, v: &Value) -> Option<String> {
    match kind {
        RunnerKind::CodexCli => {
            let msg = str_at(v, &["message"])?;
            (str_at(v, &["type"]) == Some("error") && msg.contains("waiting for network"))
                .then(|| one_line(msg))
        }
        RunnerKind::ClaudeCode | RunnerKind::Command => {
            if str_at(v, &["type"]) != Some("system")
                || str_at(v, &["subtype"]) != Some("api_retry")
            {
                return None;
            }
            let status = v.get("error_status").and_then(Value::as_i64);
            if status.is_some_and(|s| s != 429) {
                return None;
            }
            let error = str_at(v, &["error"]).unwrap_or("unknown");
            Some(match status {
                Some(s) => format!("API retry: HTTP {s} ({error})"),
                None => format!("API retry: cannot reach the API ({error})"),
            })
        }
        RunnerKind::PiRpc => pi_retry_wait(v.as_object()?),
        _ => None,
    }
}

/// Pi retrying by itself after an error that names the network or a rate
/// limit: an `auto_retry_start` event whose `errorMessage` classifies as
/// `NETWORK` or `QUOTA` (Pi also retries on overloaded and 5xx answers:
/// those are the provider's, not a wait). The reason is Pi's own words.
pub fn pi_retry_wait(event: &serde_json::Map<String, Value>) -> Option<String> {
    if event.get("type").and_then(Value::as_str) != Some("auto_retry_start") {
        return None;
    }
    let error = event.get("errorMessage").and_then(Value::as_str)?;
    matches!(classify_text(error), Some(NETWORK | QUOTA))
        .then(|| format!("retrying: {}", one_line(error)))
}

/// The class of a wait reason from `network_wait` once its grace ran out.
pub fn wait_class(reason: &str) -> &'static str {
    if reason.contains("HTTP 429") || classify_text(reason) == Some(QUOTA) {
        QUOTA
    } else {
        NETWORK
    }
}

/// Codex: the environment failure in the events of a run that did not
/// complete: what its last `turn.failed` error (else its last `error`
/// event) names. An earlier transient error the agent got past says nothing.
pub fn from_codex_events(text: &str) -> Option<EnvironmentFailure> {
    let mut last_error: Option<String> = None;
    let mut turn_failed: Option<String> = None;
    for line in text.lines() {
        let Some(v) = parse(line) else { continue };
        match str_at(&v, &["type"]) {
            Some("error") => last_error = str_at(&v, &["message"]).map(String::from),
            Some("turn.failed") => {
                turn_failed = str_at(&v, &["error", "message"]).map(String::from)
            }
            _ => {}
        }
    }
    let msg = turn_failed.or(last_error)?;
    let class = classify_text(&msg)?;
    Some(EnvironmentFailure::new(class, &msg, now_unix()))
}

/// Claude Code: the environment failure of an `is_error` result event
/// (`api_error_status` first, then its text).
pub fn from_claude_result(
    is_error: bool,
    text: Option<&str>,
    api_error_status: Option<i64>,
) -> Option<EnvironmentFailure> {
    if !is_error {
        return None;
    }
    let now = now_unix();
    let text = text.unwrap_or("");
    let class = api_error_status
        .and_then(classify_status)
        .or_else(|| classify_text(text))?;
    let reason = if text.trim().is_empty() {
        format!("API error status {}", api_error_status.unwrap_or(0))
    } else {
        text.to_string()
    };
    Some(EnvironmentFailure::new(class, &reason, now))
}

/// Any harness: the environment failure an error text (Pi's rejection or
/// `errorMessage`, a CLI's stderr) names.
pub fn from_error_text(text: &str) -> Option<EnvironmentFailure> {
    let class = classify_text(text)?;
    Some(EnvironmentFailure::new(class, text, now_unix()))
}

/// The stop of an agent whose wait outlasted the grace period.
pub fn from_wait(reason: &str, grace_seconds: u64) -> EnvironmentFailure {
    EnvironmentFailure::new(
        wait_class(reason),
        &format!("{reason} (still waiting after {grace_seconds} s)"),
        now_unix(),
    )
}

fn clip(text: &str, n: usize) -> String {
    let line = one_line(text);
    if line.chars().count() <= n {
        line
    } else {
        let mut s: String = line.chars().take(n).collect();
        s.push('…');
        s
    }
}

/// One short line summarising an agent's event line, for the heartbeat and
/// `status`: Codex `error` messages, item text, commands and turn ends;
/// Claude Code assistant text and tool uses, retries and results; Pi
/// messages, tool executions and errors. `None` for lines that say nothing
/// worth showing (streaming deltas, non-JSON).
pub fn summarize_event(kind: RunnerKind, line: &str) -> Option<String> {
    let v = parse(line)?;
    let ty = str_at(&v, &["type"])?;
    const N: usize = 160;
    match kind {
        RunnerKind::CodexCli => match ty {
            "error" => Some(format!("error: {}", clip(str_at(&v, &["message"])?, N))),
            "turn.failed" => Some(format!(
                "turn failed: {}",
                clip(str_at(&v, &["error", "message"]).unwrap_or("unknown"), N)
            )),
            "turn.started" => Some("turn started".into()),
            "turn.completed" => Some("turn completed".into()),
            "item.started" | "item.completed" => {
                let item = v.get("item")?;
                let verb = if ty == "item.started" {
                    "started"
                } else {
                    "done"
                };
                match str_at(item, &["type"])? {
                    "agent_message" | "reasoning" => {
                        Some(format!("message: {}", clip(str_at(item, &["text"])?, N)))
                    }
                    "command_execution" => Some(format!(
                        "command {verb}: {}",
                        clip(str_at(item, &["command"]).unwrap_or(""), N)
                    )),
                    "file_change" => Some(format!("file change {verb}")),
                    "error" => Some(format!("error: {}", clip(str_at(item, &["message"])?, N))),
                    other => Some(format!("{other} {verb}")),
                }
            }
            _ => None,
        },
        RunnerKind::ClaudeCode | RunnerKind::Command => match ty {
            "assistant" => {
                let content = v.get("message")?.get("content")?.as_array()?;
                let last = content.last()?;
                match str_at(last, &["type"])? {
                    "text" => Some(format!("message: {}", clip(str_at(last, &["text"])?, N))),
                    "tool_use" => {
                        let name = str_at(last, &["name"]).unwrap_or("tool");
                        let input = last.get("input");
                        let arg = input
                            .and_then(|i| {
                                ["command", "file_path", "path", "pattern"]
                                    .iter()
                                    .find_map(|k| i.get(k).and_then(Value::as_str))
                            })
                            .unwrap_or("");
                        Some(format!("tool {name}: {}", clip(arg, N)).trim_end().into())
                    }
                    "thinking" => Some("thinking".into()),
                    _ => None,
                }
            }
            "system" => match str_at(&v, &["subtype"]) {
                Some("api_retry") => network_wait(RunnerKind::ClaudeCode, line).or_else(|| {
                    Some(format!(
                        "API retry: HTTP {}",
                        v.get("error_status").and_then(Value::as_i64).unwrap_or(0)
                    ))
                }),
                Some("init") => Some("session started".into()),
                _ => None,
            },
            "result" => {
                let is_error = v.get("is_error").and_then(Value::as_bool).unwrap_or(false);
                let text = clip(str_at(&v, &["result"]).unwrap_or(""), N);
                Some(if is_error {
                    format!("error: {text}")
                } else {
                    format!("result: {text}")
                })
            }
            _ => None,
        },
        RunnerKind::PiRpc => match ty {
            "message_end" => {
                let m = v.get("message")?;
                if let Some(err) = str_at(m, &["errorMessage"]) {
                    return Some(format!("error: {}", clip(err, N)));
                }
                if str_at(m, &["role"]) != Some("assistant") {
                    return None;
                }
                let text: Vec<&str> = m
                    .get("content")?
                    .as_array()?
                    .iter()
                    .filter_map(|c| match str_at(c, &["type"]) {
                        Some("text") => str_at(c, &["text"]),
                        _ => None,
                    })
                    .collect();
                (!text.is_empty()).then(|| format!("message: {}", clip(&text.join(" "), N)))
            }
            "tool_execution_start" => Some(format!(
                "tool {}",
                str_at(&v, &["toolName"]).unwrap_or("unknown")
            )),
            "auto_retry_start" => Some(format!(
                "retrying: {}",
                clip(str_at(&v, &["errorMessage"]).unwrap_or(""), N)
            )),
            "agent_end" => Some("agent done".into()),
            _ => None,
        },
        RunnerKind::Script => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_real_clis_words() {
        assert_eq!(
            classify_text("Not logged in · Please run /login"),
            Some(NOT_LOGGED_IN)
        );
        assert_eq!(
            classify_text("No API key found for the selected model.\n\nUse /login"),
            Some(CREDENTIALS)
        );
        assert_eq!(
            classify_text("API Error: Unable to connect to API"),
            Some(NETWORK)
        );
        assert_eq!(classify_text("Connection error."), Some(NETWORK));
        assert_eq!(
            classify_text(
                "Reconnecting... waiting for network (Connection failed: error sending request)"
            ),
            Some(NETWORK)
        );
        assert_eq!(
            classify_text("Invalid API key · Fix external API key"),
            Some(CREDENTIALS)
        );
        assert_eq!(
            classify_text("You've hit your usage limit. Try again in 2 hours"),
            Some(QUOTA)
        );
        assert_eq!(
            classify_text(
                "--dangerously-skip-permissions cannot be used with root/sudo privileges"
            ),
            Some(REFUSED)
        );
        assert_eq!(
            classify_text(
                "stream disconnected before completion: stream closed before response.completed"
            ),
            None
        );
        assert_eq!(
            classify_text("unexpected status 500 Internal Server Error"),
            None
        );
    }

    #[test]
    fn reset_times() {
        assert_eq!(
            reset_time("Claude AI usage limit reached|1767225600", 0),
            Some(1_767_225_600)
        );
        assert_eq!(
            reset_time("Try again in 2 hours 5 minutes.", 100),
            Some(100 + 7500)
        );
        assert_eq!(reset_time("rate limited, retry in 30s", 0), Some(30));
        assert_eq!(
            reset_time("limit resets at 2026-12-01T12:00:00Z", 0),
            crate::workspace::clock::parse_micros("2026-12-01T12:00:00Z").map(|m| m / 1_000_000)
        );
        assert_eq!(reset_time("quota exceeded", 0), None);
    }

    #[test]
    fn codex_events() {
        let text = "{\"type\":\"turn.started\"}\n{\"type\":\"error\",\"message\":\"Reconnecting... waiting for network (Connection failed: error sending request)\"}\n";
        let f = from_codex_events(text).unwrap();
        assert_eq!(f.class, NETWORK);
        assert!(f.reason.starts_with("Reconnecting... waiting for network"));
        let text = "{\"type\":\"turn.failed\",\"error\":{\"message\":\"You've hit your usage limit. Try again in 10 minutes.\"}}";
        let f = from_codex_events(text).unwrap();
        assert_eq!(f.class, QUOTA);
        assert!(f.retry_at_unix.is_some());
        let text = "{\"type\":\"turn.failed\",\"error\":{\"message\":\"stream disconnected before completion\"}}";
        assert_eq!(from_codex_events(text), None);
        // A transient network error the agent got past says nothing.
        let text = "{\"type\":\"error\",\"message\":\"Reconnecting... 1/5 (connection refused)\"}\n{\"type\":\"turn.failed\",\"error\":{\"message\":\"unexpected status 500 Internal Server Error\"}}";
        assert_eq!(from_codex_events(text), None);
        assert!(network_wait(
            RunnerKind::CodexCli,
            "{\"type\":\"error\",\"message\":\"Reconnecting... waiting for network (x)\"}"
        )
        .is_some());
        assert_eq!(
            network_wait(
                RunnerKind::CodexCli,
                "{\"type\":\"error\",\"message\":\"Reconnecting... 2/5 (x)\"}"
            ),
            None
        );
    }

    #[test]
    fn claude_results_never_by_subtype() {
        let f = from_claude_result(true, Some("Not logged in · Please run /login"), None).unwrap();
        assert_eq!(f.class, NOT_LOGGED_IN);
        assert_eq!(from_claude_result(false, Some("Not logged in"), None), None);
        assert_eq!(
            from_claude_result(true, Some("API Error: 429 {}"), Some(429))
                .unwrap()
                .class,
            QUOTA
        );
        assert_eq!(
            from_claude_result(true, Some("API Error: 500"), Some(500)),
            None
        );
        let wait = network_wait(RunnerKind::ClaudeCode, "{\"type\":\"system\",\"subtype\":\"api_retry\",\"attempt\":1,\"error_status\":null,\"error\":\"unknown\"}").unwrap();
        assert_eq!(wait_class(&wait), NETWORK);
        let wait = network_wait(RunnerKind::ClaudeCode, "{\"type\":\"system\",\"subtype\":\"api_retry\",\"error_status\":429,\"error\":\"rate_limit\"}").unwrap();
        assert_eq!(wait_class(&wait), QUOTA);
        assert_eq!(
            network_wait(
                RunnerKind::ClaudeCode,
                "{\"type\":\"system\",\"subtype\":\"api_retry\",\"error_status\":500}"
            ),
            None
        );
    }

    #[test]
    fn pi_retries_naming_the_network_or_a_rate_limit_are_waits() {
        let retry = |error: &str| {
            network_wait(
                RunnerKind::PiRpc,
                &serde_json::json!({"type": "auto_retry_start", "attempt": 1,
                    "maxAttempts": 3, "delayMs": 2000, "errorMessage": error})
                .to_string(),
            )
        };
        let wait = retry("Connection error.").unwrap();
        assert_eq!(wait, "retrying: Connection error.");
        assert_eq!(wait_class(&wait), NETWORK);
        let wait = retry("429 Too many requests: rate limit reached").unwrap();
        assert_eq!(wait_class(&wait), QUOTA);
        // Pi also retries an overloaded or failing provider: not a wait.
        assert_eq!(retry("500 Internal server error"), None);
        assert_eq!(retry("overloaded_error"), None);
        assert_eq!(
            network_wait(
                RunnerKind::PiRpc,
                "{\"type\":\"auto_retry_end\",\"success\":false,\"finalError\":\"Connection error.\"}"
            ),
            None
        );
    }

    #[test]
    fn summaries() {
        let s = |k, l: &str| summarize_event(k, l);
        assert_eq!(
            s(
                RunnerKind::CodexCli,
                "{\"type\":\"error\",\"message\":\"Reconnecting... waiting for network (x)\"}"
            )
            .as_deref(),
            Some("error: Reconnecting... waiting for network (x)")
        );
        assert_eq!(
            s(RunnerKind::CodexCli, "{\"type\":\"item.completed\",\"item\":{\"id\":\"i\",\"type\":\"agent_message\",\"text\":\"Done.\\n### BUILDER_COMPLETE\"}}").as_deref(),
            Some("message: Done.")
        );
        assert_eq!(
            s(RunnerKind::CodexCli, "{\"type\":\"item.started\",\"item\":{\"type\":\"command_execution\",\"command\":\"bash -lc ls\"}}").as_deref(),
            Some("command started: bash -lc ls")
        );
        assert_eq!(
            s(RunnerKind::ClaudeCode, "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"tool_use\",\"name\":\"Bash\",\"input\":{\"command\":\"make test\"}}]}}").as_deref(),
            Some("tool Bash: make test")
        );
        assert_eq!(
            s(RunnerKind::ClaudeCode, "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,\"result\":\"Not logged in · Please run /login\"}").as_deref(),
            Some("error: Not logged in · Please run /login")
        );
        assert_eq!(
            s(RunnerKind::PiRpc, "{\"type\":\"message_end\",\"message\":{\"role\":\"assistant\",\"content\":[],\"stopReason\":\"error\",\"errorMessage\":\"Connection error.\"}}").as_deref(),
            Some("error: Connection error.")
        );
        assert_eq!(
            s(RunnerKind::PiRpc, "{\"type\":\"message_end\",\"message\":{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"hello\"}]}}").as_deref(),
            Some("message: hello")
        );
        assert_eq!(s(RunnerKind::PiRpc, "{\"type\":\"message_update\"}"), None);
        assert_eq!(s(RunnerKind::CodexCli, "not json"), None);
    }
}

/// The real CLIs' captured output (`tests/fixtures/agent-clis/`, offline,
/// empty `HOME`) classified as the runners read it.
#[cfg(test)]
mod captured {
    use super::*;

    const CLAUDE_NOLOGIN: &str =
        include_str!("../../tests/fixtures/agent-clis/claude_nologin.jsonl");
    const CLAUDE_UNREACH: &str =
        include_str!("../../tests/fixtures/agent-clis/claude_unreach.jsonl");
    const CODEX_NOLOGIN: &str = include_str!("../../tests/fixtures/agent-clis/codex_nologin.jsonl");
    const CODEX_UNREACH: &str = include_str!("../../tests/fixtures/agent-clis/codex_unreach.jsonl");
    const CODEX_429: &str = include_str!("../../tests/fixtures/agent-clis/codex_429.jsonl");
    const PI_NOKEY: &str = include_str!("../../tests/fixtures/agent-clis/pi_nokey.jsonl");
    const PI_UNREACH: &str = include_str!("../../tests/fixtures/agent-clis/pi_unreach.jsonl");

    #[test]
    fn every_capture_is_an_environment_failure() {
        let result: Value = CLAUDE_NOLOGIN
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|v| v["type"] == "result")
            .unwrap();
        assert_eq!(result["subtype"], "success");
        let f = from_claude_result(
            result["is_error"].as_bool().unwrap(),
            result["result"].as_str(),
            result["api_error_status"].as_i64(),
        )
        .unwrap();
        assert_eq!(f.class, NOT_LOGGED_IN);
        assert!(CLAUDE_UNREACH
            .lines()
            .any(|l| network_wait(RunnerKind::ClaudeCode, l).is_some()));
        for codex in [CODEX_NOLOGIN, CODEX_UNREACH] {
            assert_eq!(from_codex_events(codex).unwrap().class, NETWORK);
            assert!(codex
                .lines()
                .any(|l| network_wait(RunnerKind::CodexCli, l).is_some()));
        }
        // Codex keeps neither the provider's message nor its reset time.
        let quota = from_codex_events(CODEX_429).unwrap();
        assert_eq!(quota.class, QUOTA);
        assert_eq!(quota.retry_at_unix, None);
        let rejection: Value = serde_json::from_str(PI_NOKEY.trim()).unwrap();
        assert_eq!(rejection["success"], false);
        assert_eq!(
            from_error_text(rejection["error"].as_str().unwrap())
                .unwrap()
                .class,
            CREDENTIALS
        );
        let error = PI_UNREACH
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find_map(|v| v["message"]["errorMessage"].as_str().map(String::from))
            .unwrap();
        assert_eq!(from_error_text(&error).unwrap().class, NETWORK);
        // Pi's own retries after that error: a network wait.
        let waits: Vec<String> = PI_UNREACH
            .lines()
            .filter_map(|l| network_wait(RunnerKind::PiRpc, l))
            .collect();
        assert_eq!(waits.len(), 3);
        assert_eq!(waits[0], "retrying: Connection error.");
        let summary = PI_UNREACH
            .lines()
            .filter_map(|l| summarize_event(RunnerKind::PiRpc, l))
            .find(|s| s.starts_with("error"));
        assert_eq!(summary.as_deref(), Some("error: Connection error."));
    }
}
