//! What an operator sees of a stage while it runs and after it failed: the
//! board of stages in flight (written by the engine at a stage's start and
//! end, read by the daemon loop for heartbeat lines), the agent's latest
//! event (the last complete line of its stdout capture, summarised), the
//! one-line reason a stage failed, and the stage a run stands at as its
//! files show it (for `status` and `runs tail --follow`, which read only).
//! Everything read here was written by an agent: it is capped, cut and
//! stripped of control characters before it reaches a terminal.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;

use crate::runners::RunnerKind;

/// Characters kept of a summary or reason.
pub const SUMMARY_CHARS: usize = 120;

/// Bytes read from the end of a capture file to find its last line.
const TAIL_BYTES: usize = 64 * 1024;

/// A stage whose runner is running.
#[derive(Debug, Clone)]
pub struct ActiveStage {
    pub request_id: String,
    pub plane: String,
    pub stage: String,
    pub run_id: String,
    /// ` work=<kind>:<id>` or empty.
    pub work: String,
    pub started: Instant,
    pub run_dir: PathBuf,
    /// The runner (its events are summarised the way that harness prints them).
    pub runner: Option<RunnerKind>,
}

impl ActiveStage {
    /// The file its agent's output goes to as it is written.
    pub fn output(&self) -> PathBuf {
        live_output(&self.run_dir, &self.request_id)
    }
}

/// Where a stage's agent output goes while it runs: the CLI runners
/// (codex, claude, pi) stream stdout to `runner_events.<req>.jsonl` and
/// write `runner_stdout.<req>.txt` at the end; the others write stdout
/// directly.
pub fn live_output(run_dir: &Path, request_id: &str) -> PathBuf {
    let names = crate::runners::artifacts::FileNames::new(run_dir, request_id);
    if names.events.symlink_metadata().is_ok() {
        names.events
    } else {
        names.stdout
    }
}

/// The stages in flight, shared between the engine (the only writer) and
/// the daemon loop (heartbeats). Holds no runtime state: losing it loses
/// nothing but heartbeat lines.
#[derive(Debug, Clone, Default)]
pub struct Board(Arc<Mutex<Vec<ActiveStage>>>);

impl Board {
    pub fn start(&self, stage: ActiveStage) {
        if let Ok(mut v) = self.0.lock() {
            v.retain(|s| s.request_id != stage.request_id);
            v.push(stage);
        }
    }

    pub fn finish(&self, request_id: &str) {
        if let Ok(mut v) = self.0.lock() {
            v.retain(|s| s.request_id != request_id);
        }
    }

    pub fn stages(&self) -> Vec<ActiveStage> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// `heartbeat <plane>/<stage> run=<h> work=<k>:<id> elapsed=<N>s output=<B>B last="..."`.
pub fn heartbeat_line(s: &ActiveStage) -> String {
    let output = s.output();
    let bytes = file_len(&output);
    let last = latest_event(&output, s.runner)
        .map(|e| format!(" last=\"{e}\""))
        .unwrap_or_default();
    format!(
        "heartbeat {}/{} run={}{} elapsed={}s output={bytes}B{last}",
        s.plane,
        s.stage,
        super::ids::handle(&s.run_id),
        s.work,
        s.started.elapsed().as_secs()
    )
}

/// The size of a file, 0 when it cannot be read.
pub fn file_len(path: &Path) -> u64 {
    std::fs::symlink_metadata(path).map_or(0, |m| if m.is_file() { m.len() } else { 0 })
}

/// `text` on one line: control characters become spaces, runs of spaces
/// collapse, double quotes become single ones, and it is cut to `max`
/// characters (an ellipsis marks the cut).
pub fn clean(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut space = false;
    for c in text.chars() {
        let c = if c.is_control() || c.is_whitespace() {
            ' '
        } else if c == '"' {
            '\''
        } else {
            c
        };
        if c == ' ' {
            if space || out.is_empty() {
                continue;
            }
            space = true;
        } else {
            space = false;
        }
        out.push(c);
    }
    let out = out.trim_end();
    if out.chars().count() <= max {
        return out.to_string();
    }
    let mut cut: String = out.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// One line of agent output summarised: a JSON object gives its `type` and
/// its `message`, `text` or `item.type` (and `item.text`) when present;
/// anything else is the line itself. Cleaned and cut.
pub fn summarize_line(line: &str) -> String {
    let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(line.trim()) else {
        return clean(line, SUMMARY_CHARS);
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let mut parts: Vec<String> = Vec::new();
    if let Some(t) = text(obj.get("type")) {
        parts.push(t);
    }
    let item = obj.get("item");
    if let Some(t) = text(item.and_then(|i| i.get("type"))) {
        parts.push(t);
    }
    let body = text(obj.get("message"))
        .or_else(|| text(obj.get("text")))
        .or_else(|| text(item.and_then(|i| i.get("text"))))
        .or_else(|| text(item.and_then(|i| i.get("command"))));
    let head = parts.join(" ");
    let s = match (head.is_empty(), body) {
        (true, None) => return clean(line, SUMMARY_CHARS),
        (false, None) => head,
        (true, Some(b)) => b,
        (false, Some(b)) => format!("{head}: {b}"),
    };
    clean(&s, SUMMARY_CHARS)
}

/// The agent's latest event, from the complete lines at the end of its
/// stdout capture: for a known harness (`runner`), the newest line its own
/// summariser finds worth showing (`runners::environment::summarize_event`:
/// a Codex `error` such as "Reconnecting... waiting for network", a
/// message, a tool use), so streaming deltas do not hide it; else, or when
/// no line says anything, the last non-empty line summarised generically.
/// `None` before the first line.
pub fn latest_event(stdout: &Path, runner: Option<RunnerKind>) -> Option<String> {
    let tail = crate::runners::artifacts::read_tail(stdout, TAIL_BYTES)?;
    let complete = &tail[..tail.rfind('\n')?];
    let mut lines = complete.lines().rev().filter(|l| !l.trim().is_empty());
    let last = lines.clone().next()?;
    if let Some(kind) = runner {
        if let Some(e) = lines.find_map(|l| crate::runners::environment::summarize_event(kind, l)) {
            return Some(clean(&e, SUMMARY_CHARS));
        }
    }
    Some(summarize_line(last))
}

/// The last non-empty line of a file (complete or not), cleaned and cut.
pub fn last_line(path: &Path) -> Option<String> {
    let tail = crate::runners::artifacts::read_tail(path, TAIL_BYTES)?;
    let line = tail.lines().rev().find(|l| !l.trim().is_empty())?;
    Some(clean(line, SUMMARY_CHARS))
}

/// Why a stage failed, in one line: the last line its agent wrote to
/// stderr (the agent CLI's own words, such as `not logged in`), else the
/// first of the runtime's notes.
pub fn failure_reason(stderr: Option<&Path>, notes: &[String]) -> Option<String> {
    stderr
        .and_then(last_line)
        .filter(|l| !l.is_empty())
        .or_else(|| notes.first().map(|n| clean(n, SUMMARY_CHARS)))
}

/// The stage a run directory shows as started and not finished: the newest
/// `runner_invocation.<request>.json` without a `stage_results/<request>.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct CurrentStage {
    pub request_id: String,
    pub stage: Option<String>,
    /// RFC 3339, from the invocation record.
    pub started_at: Option<String>,
    /// The agent's output as it is written (see `live_output`).
    pub output: PathBuf,
    pub stderr: PathBuf,
    /// The runner named in the invocation record.
    pub runner: Option<RunnerKind>,
}

pub fn current_stage(run_dir: &Path) -> Option<CurrentStage> {
    use crate::workspace::safe_fs;
    let entries = std::fs::read_dir(run_dir).ok()?;
    let mut best: Option<(String, CurrentStage)> = None;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(req) = name
            .strip_prefix("runner_invocation.")
            .and_then(|n| n.strip_suffix(".json"))
        else {
            continue;
        };
        if run_dir
            .join("stage_results")
            .join(format!("{req}.json"))
            .exists()
        {
            continue;
        }
        let doc: Value = safe_fs::read_capped(&e.path(), safe_fs::MAX_STATE_BYTES)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null);
        let s = |k: &str| doc.get(k).and_then(Value::as_str).map(str::to_string);
        let at = s("emitted_at").unwrap_or_default();
        if best.as_ref().is_some_and(|(b, _)| *b >= at) {
            continue;
        }
        let names = crate::runners::artifacts::FileNames::new(run_dir, req);
        best = Some((
            at.clone(),
            CurrentStage {
                request_id: req.to_string(),
                stage: s("stage"),
                started_at: (!at.is_empty()).then_some(at),
                output: live_output(run_dir, req),
                stderr: names.stderr,
                runner: s("runner_name").and_then(|n| RunnerKind::from_name(&n).ok()),
            },
        ));
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_summarise_to_type_and_text() {
        assert_eq!(
            summarize_line(
                r#"{"type":"item.completed","item":{"type":"agent_message","text":"Reading\tfiles"}}"#
            ),
            "item.completed agent_message: Reading files"
        );
        assert_eq!(summarize_line(r#"{"type":"turn.started"}"#), "turn.started");
        assert_eq!(
            summarize_line(r#"{"type":"error","message":"quota \"exceeded\""}"#),
            "error: quota 'exceeded'"
        );
        assert_eq!(
            summarize_line("plain \x1b[31mred\x07 text"),
            "plain [31mred text"
        );
    }

    #[test]
    fn summaries_are_cut() {
        let long = "x".repeat(500);
        let s = summarize_line(&long);
        assert_eq!(s.chars().count(), SUMMARY_CHARS);
        assert!(s.ends_with('…'));
    }

    #[test]
    fn latest_event_is_the_last_complete_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.txt");
        assert_eq!(latest_event(&p, None), None);
        std::fs::write(&p, "first\n").unwrap();
        assert_eq!(latest_event(&p, None).as_deref(), Some("first"));
        std::fs::write(&p, "first\n{\"type\":\"turn.started\"}\n\npartial").unwrap();
        assert_eq!(latest_event(&p, None).as_deref(), Some("turn.started"));
        assert_eq!(last_line(&p).as_deref(), Some("partial"));
        assert_eq!(file_len(&p), 38);
    }

    #[test]
    fn a_known_harness_shows_its_newest_meaningful_event() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("events.jsonl");
        // Codex waiting for the network, then lines the summariser skips:
        // the wait is what the operator sees, not the last line.
        std::fs::write(
            &p,
            "{\"type\":\"thread.started\"}\n\
             {\"type\":\"error\",\"message\":\"Reconnecting... 2/5 waiting for network\"}\n\
             {\"type\":\"unknown.delta\"}\n",
        )
        .unwrap();
        assert_eq!(
            latest_event(&p, Some(RunnerKind::CodexCli)).as_deref(),
            Some("error: Reconnecting... 2/5 waiting for network")
        );
        // Without the harness, the last line as it is.
        assert_eq!(latest_event(&p, None).as_deref(), Some("unknown.delta"));
    }

    #[test]
    fn the_reason_prefers_stderr_over_notes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("err.txt");
        let notes = vec!["runner exited with runner_error".to_string()];
        assert_eq!(
            failure_reason(Some(&p), &notes).as_deref(),
            Some("runner exited with runner_error")
        );
        std::fs::write(&p, "noise\nError: not logged in\n\n").unwrap();
        assert_eq!(
            failure_reason(Some(&p), &notes).as_deref(),
            Some("Error: not logged in")
        );
    }

    #[test]
    fn the_board_keeps_stages_until_they_finish() {
        let b = Board::default();
        let s = ActiveStage {
            request_id: "r1".into(),
            plane: "execution".into(),
            stage: "builder".into(),
            run_id: "run-0123456789ab".into(),
            work: " work=task:t1".into(),
            started: Instant::now(),
            runner: None,
            run_dir: PathBuf::from("/nonexistent"),
        };
        b.start(s.clone());
        let line = heartbeat_line(&b.stages()[0]);
        assert!(
            line.starts_with("heartbeat execution/builder run="),
            "{line}"
        );
        assert!(
            line.contains(" work=task:t1 elapsed=0s output=0B"),
            "{line}"
        );
        b.finish("r1");
        assert!(b.stages().is_empty());
    }
}
