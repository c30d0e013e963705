//! Operator control commands (`pause`, `resume`, `stop`, `retry-active`,
//! `clear-stale-state`, `reload-config`) and work intake (`add-task`,
//! `add-spec`, `add-idea`). When a live daemon owns the workspace they go
//! through its mailbox (control commands addressed to that daemon's
//! session) and it applies them in order at its next tick; otherwise they
//! are applied directly to the persisted state, under the state lock.

use super::counters::Counters;
use super::mailbox_intake as intake;
use crate::workspace::documents::{DocKind, IdeaDocument, WorkDocument};
use crate::workspace::flock::FileLock;
use crate::workspace::layout::Layout;
use crate::workspace::lock::{self, LockRecord, LockStatus};
use crate::workspace::state::{self, IDLE_MARKER};
use crate::workspace::{atomic, events, mailbox, queue, state_lock};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlOutcome {
    pub action: String,
    /// `direct` or `mailbox`.
    pub mode: &'static str,
    pub applied: bool,
    pub detail: String,
    pub command_id: Option<String>,
    pub mailbox_path: Option<String>,
}

impl ControlOutcome {
    /// The reference's `key: value` lines.
    pub fn lines(&self) -> String {
        let mut out = format!(
            "action: {}\nmode: {}\napplied: {}\ndetail: {}\n",
            self.action, self.mode, self.applied, self.detail
        );
        if let Some(id) = &self.command_id {
            out.push_str(&format!("command_id: {id}\n"));
        }
        if let Some(p) = &self.mailbox_path {
            out.push_str(&format!("mailbox_path: {p}\n"));
        }
        out
    }

    pub fn json(&self) -> Value {
        json!({
            "action": self.action, "mode": self.mode, "applied": self.applied, "detail": self.detail,
            "command_id": self.command_id, "mailbox_path": self.mailbox_path,
        })
    }
}

/// How a command reaches the workspace.
#[derive(Debug)]
pub enum Route {
    /// No daemon: apply it directly while holding the state lock.
    Direct(FileLock),
    /// A daemon owns the workspace: send it through its mailbox.
    Mailbox(LockRecord),
}

/// How long a command waits for the state lock held by a daemon that is
/// starting (or by another direct command) before it gives up.
const ROUTE_WAIT: Duration = Duration::from_secs(10);

/// Decide direct or mailbox without racing a starting daemon: the check
/// for a daemon and a direct write happen under the state lock, which a
/// daemon holds for its whole life.
pub fn route(layout: &Layout) -> Result<Route, String> {
    let start = Instant::now();
    loop {
        let guard = state_lock::try_hold(layout)
            .map_err(|e| format!("{}: {e}", state_lock::path(layout).display()))?;
        if let LockStatus::Active(daemon) = lock::inspect(layout) {
            return Ok(Route::Mailbox(daemon));
        }
        if let Some(guard) = guard {
            return Ok(Route::Direct(guard));
        }
        if start.elapsed() > ROUTE_WAIT {
            return Err(format!(
                "{} is held by another process (a daemon starting or stopping, or another control command) and no daemon owns the workspace; nothing was applied, try again",
                state_lock::path(layout).display()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Write `command` into the mailbox of the running daemon.
fn enqueue(
    layout: &Layout,
    command: &str,
    payload: Map<String, Value>,
) -> Result<ControlOutcome, String> {
    let path = mailbox::submit(layout, command, "operator", payload)?;
    let id = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let detail = if command == "reload_config" {
        "queued for daemon processing on the next runtime tick"
    } else {
        "queued for daemon processing"
    };
    Ok(ControlOutcome {
        action: command.into(),
        mode: "mailbox",
        applied: false,
        detail: detail.into(),
        command_id: Some(id),
        mailbox_path: Some(path.display().to_string()),
    })
}

/// Work to add: a task or spec, or an idea.
#[derive(Debug, Clone)]
pub enum Work {
    Item(WorkDocument),
    Idea(IdeaDocument),
}

/// Where added work went.
#[derive(Debug)]
pub enum Added {
    /// Written into its queue (no daemon running).
    Direct(PathBuf),
    /// Sent to the running daemon, which applies it (like the reference).
    Mailbox(ControlOutcome),
}

/// Add work: directly into its queue when no daemon runs, otherwise as an
/// `add_task` / `add_spec` / `add_idea` mailbox command in the
/// reference's shape, which the daemon applies exactly once.
pub fn add(layout: &Layout, work: &Work) -> Result<Added, String> {
    layout.require_initialized()?;
    let _guard = match route(layout)? {
        Route::Direct(guard) => guard,
        Route::Mailbox(_) => {
            let (command, payload) = match work {
                Work::Item(doc) => {
                    let mut payload = Map::new();
                    payload.insert("document".into(), doc.to_json());
                    if !doc.body().is_empty() {
                        // The JSON shape has no body; keep the operator's text.
                        payload.insert("markdown".into(), json!(doc.to_markdown()));
                    }
                    (format!("add_{}", doc.kind().tag()), payload)
                }
                Work::Idea(idea) => {
                    let mut payload = Map::new();
                    payload.insert("source_name".into(), json!(format!("{}.md", idea.id)));
                    payload.insert("markdown".into(), json!(idea.markdown));
                    ("add_idea".to_string(), payload)
                }
            };
            return enqueue(layout, &command, payload).map(Added::Mailbox);
        }
    };
    let path = match work {
        Work::Item(doc) => queue::enqueue(layout, doc),
        Work::Idea(idea) => queue::add_idea(layout, idea),
    }
    .map_err(|e| e.to_string())?;
    Ok(Added::Direct(path))
}

/// Apply or enqueue `command` (mailbox spelling: `retry_active`, ...).
pub fn control(
    layout: &Layout,
    command: &str,
    reason: Option<&str>,
) -> Result<ControlOutcome, String> {
    layout.require_initialized()?;
    let mut payload = Map::new();
    if let Some(r) = reason {
        payload.insert("reason".into(), json!(r));
    }
    // Held until the direct write below is done (see `state_lock`).
    let _guard = match route(layout)? {
        Route::Mailbox(daemon) => {
            payload.insert(intake::SESSION_KEY.into(), json!(daemon.owner_session_id));
            return enqueue(layout, command, payload);
        }
        Route::Direct(guard) => guard,
    };
    let mut snap = state::load_snapshot(layout)?;
    let mut applied = true;
    let detail = match command {
        "pause" => {
            snap.paused = true;
            if !snap.pause_sources.iter().any(|v| v == "operator") {
                snap.pause_sources.push(json!("operator"));
            }
            "runtime paused".to_string()
        }
        "resume" => {
            snap.paused = false;
            snap.pause_sources.clear();
            super::runner_health::clear(layout);
            "runtime resumed".to_string()
        }
        "stop" => {
            applied = false;
            "no daemon running; nothing to stop".to_string()
        }
        "reload_config" => {
            applied = false;
            "no daemon running; reload request not enqueued".to_string()
        }
        "retry_active" | "clear_stale_state" => {
            let mut counters = Counters::load(layout).unwrap_or_default();
            let mut requeued = Vec::new();
            let runs: Vec<Value> = snap.active_runs_by_plane.values().cloned().collect();
            for run in runs {
                let (Some(kind), Some(id)) = (
                    run["work_item_kind"]
                        .as_str()
                        .and_then(|k| DocKind::ALL.into_iter().find(|d| d.tag() == k)),
                    run["work_item_id"].as_str(),
                ) else {
                    continue;
                };
                let [entry, active, ..] = queue::states(kind);
                let from = queue::state_dir(layout, kind, active).join(format!("{id}.md"));
                let to = queue::state_dir(layout, kind, entry).join(format!("{id}.md"));
                if from.is_file() {
                    atomic::rename_durable(&from, &to)
                        .map_err(|e| format!("{}: {e}", to.display()))?;
                }
                counters.clear_item(kind.tag(), id);
                requeued.push(format!("{}:{id}", kind.tag()));
            }
            for plane in ["execution", "planning", "learning"] {
                if snap.active_runs_by_plane.remove(plane).is_some() {
                    state::write_marker(layout, plane, IDLE_MARKER).map_err(|e| e.to_string())?;
                }
            }
            snap.active_plane = None;
            snap.active_stage = None;
            snap.active_node_id = None;
            snap.active_stage_kind_id = None;
            snap.active_run_id = None;
            snap.active_work_item_kind = None;
            snap.active_work_item_id = None;
            snap.current_failure_class = None;
            if command == "clear_stale_state" {
                counters.clear_all();
                snap.process_running = false;
            }
            counters.save_if_dirty(layout).map_err(|e| e.to_string())?;
            // No process holds the workspace (else this went to the mailbox):
            // a JSON lock left behind is stale and goes now.
            let lock_note = match command {
                "clear_stale_state" => lock::clear_stale(layout, "clear-stale-state")
                    .map_err(|e| e.to_string())?
                    .map(|r| format!("; removed stale daemon lock of pid {}", r.owner_pid)),
                _ => None,
            }
            .unwrap_or_default();
            if requeued.is_empty() {
                applied = command == "clear_stale_state";
                format!("no active work{lock_note}")
            } else {
                format!(
                    "requeued {}: {}{lock_note}",
                    requeued.join(", "),
                    reason.unwrap_or("operator requested")
                )
            }
        }
        other => return Err(format!("unknown control command {other}")),
    };
    state::save_snapshot(layout, &mut snap).map_err(|e| e.to_string())?;
    let _ = events::record(
        layout,
        "control_command_applied",
        json!({"command": command, "mode": "direct", "detail": detail}),
    );
    Ok(ControlOutcome {
        action: command.into(),
        mode: "direct",
        applied,
        detail,
        command_id: None,
        mailbox_path: None,
    })
}
