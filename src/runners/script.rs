//! The `script` runner: deterministic stage outcomes with no agent process,
//! for the `demo` mode, tests and loop simulation.
//!
//! The script file is a JSON object mapping a stage to the list of entries
//! its successive runs answer, plus an optional `default`:
//!
//! ```json
//! {"builder": ["BLOCKED", "BUILDER_COMPLETE"], "checker": ["CHECKER_PASS"], "default": "success"}
//! ```
//!
//! A stage's list is looked up by node id, then stage name, then stage kind
//! id. Entries: an outcome token (`"BLOCKED"`, printed as `### BLOCKED`,
//! legal or not); `"success"` (the stage's first success outcome);
//! `"no_marker"` (a final message without a marker); `"crash"` (exit code 1,
//! no final message); `"timeout"` (reported as a timeout, without waiting);
//! or an object `{"text": "...", "exit_code": 0}` giving the final message
//! verbatim (for conflicting markers or `Resume-Stage:` lines). When a list
//! is exhausted or absent, `default` applies: `"success"` (the default),
//! `"last"` (repeat the list's last entry), or any entry.
//!
//! Positions survive restarts: they are kept in
//! `millrace-agents/state/script_runner_state.json` with a hash of the
//! script, and start over when the script changes. Without a script file
//! every stage answers its first success outcome. The runner writes the same
//! run-directory files as the process runners.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::artifacts::{self, path_string, CompletionRecord, FileNames, InvocationRecord};
use super::settings::ScriptSettings;
use super::{
    io_err, marker, process, prompt, EntryError, ExitKind, RunnerError, RunnerOutput, ScriptError,
    StageRequest,
};
use crate::workspace::atomic::write_atomic;
use crate::workspace::clock::now_rfc3339;
use crate::workspace::layout::RUNTIME_DIR;
use crate::workspace::safe_fs;

pub const RUNNER_NAME: &str = "script";

/// The state file, relative to `millrace-agents/`.
pub const STATE_FILE: &str = "state/script_runner_state.json";

/// One scripted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Outcome(String),
    Success,
    NoMarker,
    Crash,
    Timeout,
    Text { text: String, exit_code: i32 },
}

impl Entry {
    fn parse(value: &Value) -> Result<Entry, EntryError> {
        match value {
            Value::String(s) => Ok(match s.as_str() {
                "success" => Entry::Success,
                "no_marker" => Entry::NoMarker,
                "crash" => Entry::Crash,
                "timeout" => Entry::Timeout,
                token
                    if !token.is_empty()
                        && token.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') =>
                {
                    Entry::Outcome(token.to_string())
                }
                other => return Err(EntryError::Unknown(other.to_string())),
            }),
            Value::Object(map) => {
                let text = map
                    .get("text")
                    .and_then(Value::as_str)
                    .ok_or(EntryError::NoText)?;
                let exit_code = match map.get("exit_code") {
                    None => 0,
                    Some(v) => v
                        .as_i64()
                        .and_then(|n| i32::try_from(n).ok())
                        .ok_or(EntryError::ExitCode)?,
                };
                if let Some(key) = map.keys().find(|k| *k != "text" && *k != "exit_code") {
                    return Err(EntryError::UnknownKey(key.clone()));
                }
                Ok(Entry::Text {
                    text: text.to_string(),
                    exit_code,
                })
            }
            _ => Err(EntryError::WrongType),
        }
    }
}

/// What happens when a stage's list is exhausted or absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fallback {
    Last,
    Entry(Entry),
}

/// A parsed script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub stages: BTreeMap<String, Vec<Entry>>,
    pub fallback: Fallback,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            stages: BTreeMap::new(),
            fallback: Fallback::Entry(Entry::Success),
        }
    }
}

impl Script {
    pub fn parse(text: &str) -> Result<Script, ScriptError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| ScriptError::Json(std::sync::Arc::new(e)))?;
        let map = value.as_object().ok_or(ScriptError::NotAnObject)?;
        let entry = |key: &str, value: &Value| {
            Entry::parse(value).map_err(|error| ScriptError::Entry {
                key: key.to_string(),
                error,
            })
        };
        let mut script = Script::default();
        for (key, value) in map {
            if key == "default" {
                script.fallback = match value {
                    Value::String(s) if s == "last" => Fallback::Last,
                    other => Fallback::Entry(entry(key, other)?),
                };
                continue;
            }
            let list = value
                .as_array()
                .ok_or_else(|| ScriptError::NotAList { key: key.clone() })?;
            let entries = list
                .iter()
                .map(|v| entry(key, v))
                .collect::<Result<Vec<_>, _>>()?;
            script.stages.insert(key.clone(), entries);
        }
        Ok(script)
    }

    /// The list key used for a request, if the script has one.
    fn key_for<'a>(&self, request: &'a StageRequest) -> Option<&'a str> {
        [&request.node_id, &request.stage, &request.stage_kind_id]
            .into_iter()
            .map(String::as_str)
            .find(|k| self.stages.contains_key(*k))
    }

    /// The entry for the `position`-th run (0-based) under `key`.
    fn entry(&self, key: Option<&str>, position: usize) -> Entry {
        let list = key.and_then(|k| self.stages.get(k));
        if let Some(entry) = list.and_then(|l| l.get(position)) {
            return entry.clone();
        }
        match (&self.fallback, list.and_then(|l| l.last())) {
            (Fallback::Last, Some(last)) => last.clone(),
            (Fallback::Last, None) => Entry::Success,
            (Fallback::Entry(e), _) => e.clone(),
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    script_hash: String,
    positions: BTreeMap<String, usize>,
}

static STATE_LOCK: Mutex<()> = Mutex::new(());

fn script_path(request: &StageRequest, settings: &ScriptSettings) -> Option<PathBuf> {
    let p = Path::new(settings.path.as_deref()?);
    Some(if p.is_absolute() {
        p.to_path_buf()
    } else {
        request.workspace_root.join(p)
    })
}

/// Take the next entry for this request and advance the persisted position.
fn next_entry(request: &StageRequest, settings: &ScriptSettings) -> Result<Entry, RunnerError> {
    let (script, text) = match script_path(request, settings) {
        None => (Script::default(), String::new()),
        Some(path) => {
            let text =
                std::fs::read_to_string(&path).map_err(|error| RunnerError::ScriptUnreadable {
                    path: path.clone(),
                    error,
                })?;
            let script = Script::parse(&text).map_err(|error| RunnerError::Script {
                path: path.clone(),
                error,
            })?;
            (script, text)
        }
    };
    let key = script.key_for(request);
    let Some(key) = key else {
        return Ok(script.entry(None, 0));
    };
    let state_path = request.workspace_root.join(RUNTIME_DIR).join(STATE_FILE);
    let _guard = STATE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let hash = blake3::hash(text.as_bytes()).to_hex().to_string();
    let mut state: State = safe_fs::read_capped(&state_path, safe_fs::MAX_DOCUMENT_BYTES)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    if state.script_hash != hash {
        state = State {
            script_hash: hash,
            positions: BTreeMap::new(),
        };
    }
    let position = state.positions.get(key).copied().unwrap_or(0);
    let entry = script.entry(Some(key), position);
    state.positions.insert(key.to_string(), position + 1);
    if let Some(dir) = state_path.parent() {
        safe_fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let bytes = serde_json::to_vec_pretty(&state).unwrap_or_default();
    write_atomic(&state_path, &bytes).map_err(io_err(&state_path))?;
    Ok(entry)
}

/// Run one stage from the script.
pub fn run(request: &StageRequest, settings: &ScriptSettings) -> Result<RunnerOutput, RunnerError> {
    let clock = Instant::now();
    let started_at = now_rfc3339();
    let names = FileNames::new(&request.run_dir, &request.request_id);
    artifacts::ensure_dir(&request.run_dir)?;
    let prompt = prompt::render(request);
    artifacts::write_text(&names.prompt, &prompt)?;
    let command = vec![
        RUNNER_NAME.to_string(),
        script_path(request, settings)
            .map(|p| path_string(&p))
            .unwrap_or_else(|| "(every stage succeeds)".into()),
    ];
    let invocation =
        InvocationRecord::new(request, RUNNER_NAME, &command, &names.prompt, now_rfc3339());
    artifacts::write_json(&names.invocation, &invocation)?;
    for stale in [&names.stdout, &names.events, &names.last_message] {
        artifacts::remove_stale(stale);
    }

    let entry = next_entry(request, settings)?;
    let timeout = request.effective_timeout_seconds();
    let success = request
        .first_success_outcome()
        .unwrap_or("BLOCKED")
        .to_string();
    // (final message, stdout, stderr, exit)
    let (message, stdout, stderr, exit_kind, exit_code) = match &entry {
        Entry::Outcome(token) => {
            let m = format!("### {token}\n");
            (Some(m.clone()), m, String::new(), ExitKind::Completed, 0)
        }
        Entry::Success => {
            let m = format!("### {success}\n");
            (Some(m.clone()), m, String::new(), ExitKind::Completed, 0)
        }
        Entry::NoMarker => {
            let m = "script runner: this answer carries no terminal marker\n".to_string();
            (Some(m.clone()), m, String::new(), ExitKind::Completed, 0)
        }
        Entry::Crash => (
            None,
            "script runner: simulated crash\n".to_string(),
            "script runner: simulated crash\n".to_string(),
            ExitKind::NonzeroExit,
            1,
        ),
        Entry::Timeout => (
            None,
            String::new(),
            format!("runner timed out after {timeout} seconds\n"),
            ExitKind::Timeout,
            process::TIMEOUT_EXIT_CODE,
        ),
        Entry::Text { text, exit_code } => {
            let kind = if *exit_code == 0 {
                ExitKind::Completed
            } else {
                ExitKind::NonzeroExit
            };
            (
                Some(text.clone()),
                text.clone(),
                String::new(),
                kind,
                *exit_code,
            )
        }
    };
    artifacts::write_text(&names.events, &stdout)?;
    artifacts::write_text(&names.stderr, &stderr)?;
    if let Some(m) = &message {
        artifacts::write_text(&names.last_message, m)?;
    }
    artifacts::write_text(&names.stdout, message.as_deref().unwrap_or(&stdout))?;

    let (mut failure_class, mut notes): (Option<String>, Vec<String>) = match exit_kind {
        ExitKind::Timeout => (
            Some("runner_timeout".into()),
            vec!["runner process exceeded timeout".into()],
        ),
        ExitKind::NonzeroExit => (
            Some("runner_non_zero_exit".into()),
            vec!["runner exited with non-zero status".into()],
        ),
        _ => (None, vec![]),
    };
    let mut observed = None;
    let (mut exit_kind, mut exit_code) = (exit_kind, exit_code);
    if let Some(token) = message
        .as_deref()
        .and_then(|m| marker::reconciled_final_marker(m, &request.outcome_names()))
    {
        observed = Some((exit_kind, Some(exit_code)));
        exit_kind = ExitKind::Completed;
        exit_code = 0;
        failure_class = None;
        notes = vec![format!(
            "runner timeout reconciled after final terminal marker ### {token}"
        )];
    }
    let ended_at = now_rfc3339();
    let files = names.existing();
    let model_reasoning_effort = request
        .thinking_level
        .clone()
        .or_else(|| request.model_reasoning_effort.clone());
    let completion = CompletionRecord::new(
        request,
        RUNNER_NAME,
        model_reasoning_effort.as_deref(),
        &files,
        &command,
        artifacts::Ending {
            exit_kind,
            exit_code,
            observed,
            token_usage: None,
            failure_class: failure_class.as_deref(),
            notes: &notes,
            started_at: &started_at,
            ended_at: &ended_at,
        },
    );
    artifacts::write_json(&names.completion, &completion)?;
    let shown = message.as_deref().unwrap_or(&stdout);
    let scan = marker::scan_text(shown);
    let last_message = Some(tail(shown, super::LAST_MESSAGE_LIMIT).to_string());
    Ok(RunnerOutput {
        runner_name: RUNNER_NAME.to_string(),
        exit_kind,
        exit_code: Some(exit_code),
        observed,
        failure_class,
        notes,
        files,
        last_message,
        scan,
        token_usage: None,
        started_at,
        ended_at,
        duration_seconds: clock.elapsed().as_secs_f64(),
        command,
        model_reasoning_effort,
        environment: None,
    })
}

fn tail(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut start = text.len() - limit;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runners::test_support::updater_request;
    use crate::runners::Extraction;

    #[test]
    fn parse_entries() {
        let s = Script::parse(
            r#"{"builder": ["BLOCKED", "success", "no_marker", "crash", "timeout",
                 {"text": "Resume-Stage: checker\n### BLOCKED\n", "exit_code": 3}],
                "default": "last"}"#,
        )
        .unwrap();
        assert_eq!(s.fallback, Fallback::Last);
        assert_eq!(s.stages["builder"].len(), 6);
        assert!(Script::parse(r#"{"builder": ["maybe"]}"#).is_err());
        assert!(Script::parse(r#"{"builder": "BLOCKED"}"#).is_err());
        assert!(Script::parse(r#"{"builder": [{"text": "x", "bogus": 1}]}"#).is_err());
        assert!(Script::parse("[]").is_err());
    }

    #[test]
    fn a_script_error_names_the_stage_and_the_entry() {
        let e = Script::parse(r#"{"builder": ["BLOCKED", "maybe"]}"#).unwrap_err();
        assert_eq!(
            e,
            ScriptError::Entry {
                key: "builder".into(),
                error: EntryError::Unknown("maybe".into())
            }
        );
        assert_eq!(e.to_string(), "builder: unknown script entry \"maybe\"");
        let e = Script::parse(r#"{"default": {"text": "x", "bogus": 1}}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "default: unknown key \"bogus\" in a script entry"
        );
        let e = Script::parse(r#"{"checker": [{"exit_code": 1}]}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "checker: a script entry object needs a \"text\" string"
        );
        let e = Script::parse(r#"{"checker": [{"text": "x", "exit_code": "1"}]}"#).unwrap_err();
        assert_eq!(e.to_string(), "checker: \"exit_code\" must be an integer");
        assert_eq!(
            Script::parse(r#"{"checker": [3]}"#)
                .unwrap_err()
                .to_string(),
            "checker: a script entry must be a string or an object"
        );
        assert_eq!(
            Script::parse(r#"{"builder": "BLOCKED"}"#).unwrap_err(),
            ScriptError::NotAList {
                key: "builder".into()
            }
        );
        assert_eq!(
            Script::parse("[]").unwrap_err().to_string(),
            "the script must be a JSON object"
        );
        let e = Script::parse("{").unwrap_err();
        assert!(matches!(e, ScriptError::Json(_)), "{e:?}");
        assert!(e.to_string().contains("line 1"), "{e}");
    }

    #[test]
    fn a_stage_with_a_bad_script_file_names_the_file_and_the_entry() {
        let ws = tempfile::tempdir().unwrap();
        std::fs::write(ws.path().join("script.json"), r#"{"updater": ["maybe"]}"#).unwrap();
        let settings = ScriptSettings {
            path: Some("script.json".into()),
        };
        let e = run(&updater_request(ws.path()), &settings).unwrap_err();
        assert!(matches!(e, RunnerError::Script { .. }), "{e:?}");
        assert_eq!(e.failure_class(), "runner_error");
        assert_eq!(
            e.to_string(),
            format!(
                "script file {}: updater: unknown script entry \"maybe\"",
                ws.path().join("script.json").display()
            )
        );
        // A missing file names the file and the I/O error.
        let settings = ScriptSettings {
            path: Some("gone.json".into()),
        };
        let e = run(&updater_request(ws.path()), &settings).unwrap_err();
        assert!(matches!(e, RunnerError::ScriptUnreadable { .. }), "{e:?}");
        assert!(
            e.to_string().starts_with(&format!(
                "script file {}: ",
                ws.path().join("gone.json").display()
            )),
            "{e}"
        );
    }

    #[test]
    fn outcomes_in_order_then_default_and_persisted() {
        let ws = tempfile::tempdir().unwrap();
        std::fs::write(
            ws.path().join("script.json"),
            r#"{"updater": ["BLOCKED", "crash", "timeout"]}"#,
        )
        .unwrap();
        let settings = ScriptSettings {
            path: Some("script.json".into()),
        };
        let mut request = updater_request(ws.path());
        let mut next = |n: usize| {
            request.request_id = format!("request-{n}");
            run(&request, &settings).unwrap()
        };
        let out = next(1);
        assert_eq!(out.exit_kind, ExitKind::Completed);
        assert_eq!(
            out.scan.classify(&["UPDATE_COMPLETE", "BLOCKED"]),
            Extraction::Legal {
                outcome: "BLOCKED".into()
            }
        );
        let out = next(2);
        assert_eq!(
            (out.exit_kind, out.exit_code),
            (ExitKind::NonzeroExit, Some(1))
        );
        let out = next(3);
        assert_eq!(
            (out.exit_kind, out.exit_code),
            (ExitKind::Timeout, Some(124))
        );
        let out = next(4);
        assert_eq!(out.last_message.as_deref(), Some("### UPDATE_COMPLETE\n"));
        let state =
            std::fs::read_to_string(ws.path().join("millrace-agents").join(STATE_FILE)).unwrap();
        assert!(state.contains("\"updater\": 4"), "{state}");
        // Every run-directory file is there.
        let files = &out.files;
        assert!(files.prompt.exists() && files.invocation.exists() && files.completion.exists());
        assert!(files.stdout.is_some() && files.events.is_some() && files.last_message.is_some());
        // A changed script starts over.
        std::fs::write(ws.path().join("script.json"), r#"{"updater": ["BLOCKED"]}"#).unwrap();
        assert_eq!(next(5).last_message.as_deref(), Some("### BLOCKED\n"));
    }

    #[test]
    fn without_a_script_every_stage_succeeds() {
        let ws = tempfile::tempdir().unwrap();
        let request = updater_request(ws.path());
        let out = run(&request, &ScriptSettings::default()).unwrap();
        assert_eq!(out.last_message.as_deref(), Some("### UPDATE_COMPLETE\n"));
        assert_eq!(out.exit_kind, ExitKind::Completed);
        assert_eq!(
            out.notes,
            ["runner timeout reconciled after final terminal marker ### UPDATE_COMPLETE"]
        );
    }
}
