//! Operator control commands (`pause`, `resume`, `stop`, `retry-active`,
//! `clear-stale-state`, `reload-config`). When a live daemon owns the
//! workspace they go through its mailbox and it applies them in order at
//! its next tick; otherwise they are applied directly to the persisted state.

use super::counters::Counters;
use crate::workspace::documents::DocKind;
use crate::workspace::layout::Layout;
use crate::workspace::lock::{self, LockStatus};
use crate::workspace::state::{self, IDLE_MARKER};
use crate::workspace::{atomic, events, mailbox, queue};
use serde_json::{json, Map, Value};

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
    let daemon = matches!(lock::inspect(layout), LockStatus::Active(_));
    if daemon {
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
        return Ok(ControlOutcome {
            action: command.into(),
            mode: "mailbox",
            applied: false,
            detail: detail.into(),
            command_id: Some(id),
            mailbox_path: Some(path.display().to_string()),
        });
    }
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
