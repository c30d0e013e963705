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
pub fn route(layout: &Layout) -> Result<Route, super::Error> {
    let start = Instant::now();
    loop {
        let guard = state_lock::try_hold(layout)
            .map_err(|e| super::Error::io(state_lock::path(layout).display(), e))?;
        if let LockStatus::Active(daemon) = lock::inspect(layout) {
            return Ok(Route::Mailbox(daemon));
        }
        if let Some(guard) = guard {
            return Ok(Route::Direct(guard));
        }
        if start.elapsed() > ROUTE_WAIT {
            tracing::info!(
                lock = %state_lock::path(layout).display(),
                "direct control refused: the state lock is held"
            );
            return Err(crate::workspace::Error::StateLockBusy {
                path: state_lock::path(layout),
            }
            .into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Write `command` into the mailbox of the running daemon.
fn enqueue(
    layout: &Layout,
    command: &str,
    payload: Map<String, Value>,
) -> Result<ControlOutcome, super::Error> {
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
pub fn add(layout: &Layout, work: &Work) -> Result<Added, super::Error> {
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
    .map_err(crate::workspace::Error::from)?;
    Ok(Added::Direct(path))
}

/// The planes a work item can be active on, in the order runs are listed.
pub const PLANES: [&str; 3] = ["planning", "execution", "learning"];

/// Why `retry_active` applies to no plane (a refusal: nothing applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryRefusal {
    /// The scope names a plane with no active run.
    ScopeNotActive { plane: String, active: Vec<String> },
    /// No plane has an active run.
    NothingActive,
    /// Several planes are active and no scope chooses one.
    MultiplePlanes,
}

impl std::fmt::Display for RetryRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RetryRefusal::ScopeNotActive { plane, active } => {
                let listed = if active.is_empty() {
                    "none".to_string()
                } else {
                    active.join(", ")
                };
                write!(
                    f,
                    "{plane} retry requires matching active plane; current active planes are {listed}"
                )
            }
            RetryRefusal::NothingActive => f.write_str("no active work item to retry"),
            RetryRefusal::MultiplePlanes => {
                f.write_str("multiple active planes; retry-active requires a plane scope")
            }
        }
    }
}

/// Which active plane `retry_active` puts back, as the reference decides:
/// with a scope, that plane, which must be active; without one, the only
/// active plane.
pub fn retry_plane(active: &[String], scope: Option<&str>) -> Result<String, RetryRefusal> {
    match scope {
        Some(plane) if active.iter().any(|p| p == plane) => Ok(plane.to_string()),
        Some(plane) => Err(RetryRefusal::ScopeNotActive {
            plane: plane.to_string(),
            active: active.to_vec(),
        }),
        None => match active {
            [] => Err(RetryRefusal::NothingActive),
            [one] => Ok(one.clone()),
            _ => Err(RetryRefusal::MultiplePlanes),
        },
    }
}

/// The `scope` of a `retry_active` payload: absent, or one of the planes.
pub fn retry_scope(payload: &Map<String, Value>) -> Result<Option<String>, super::Error> {
    match payload.get("scope") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if PLANES.contains(&s.as_str()) => Ok(Some(s.clone())),
        Some(Value::String(s)) => Err(super::Error::Payload(format!(
            "unsupported retry_active scope: {s}"
        ))),
        Some(_) => Err(super::Error::Payload(
            "retry_active scope must be a string".into(),
        )),
    }
}

/// `planning retry-active`: refused unless planning work is active (the
/// reference's check), otherwise `retry_active` scoped to the planning plane.
pub fn retry_active_planning(
    layout: &Layout,
    reason: &str,
) -> Result<ControlOutcome, super::Error> {
    layout.require_initialized()?;
    let snap = state::load_snapshot(layout)?;
    if !snap.active_runs_by_plane.contains_key("planning") {
        let active = active_planes(&snap.active_runs_by_plane);
        let listed = if active.is_empty() {
            "none".to_string()
        } else {
            active.join(", ")
        };
        return Ok(ControlOutcome {
            action: "retry_active".into(),
            mode: "direct",
            applied: false,
            detail: format!(
                "planning retry requires active planning work; current active planes are {listed}"
            ),
            command_id: None,
            mailbox_path: None,
        });
    }
    control(layout, "retry_active", Some(reason), Some("planning"))
}

fn active_planes(runs: &Map<String, Value>) -> Vec<String> {
    PLANES
        .iter()
        .filter(|p| runs.contains_key(**p))
        .map(|p| p.to_string())
        .collect()
}

/// Apply or enqueue `command` (mailbox spelling: `retry_active`, ...);
/// `scope` names the plane `retry_active` applies to.
pub fn control(
    layout: &Layout,
    command: &str,
    reason: Option<&str>,
    scope: Option<&str>,
) -> Result<ControlOutcome, super::Error> {
    layout.require_initialized()?;
    let mut payload = Map::new();
    if let Some(r) = reason {
        payload.insert("reason".into(), json!(r));
    }
    if let Some(s) = scope {
        payload.insert("scope".into(), json!(s));
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
            // A governance pause is lifted only by governance itself.
            snap.pause_sources
                .retain(|v| v == crate::runtime::governance::PAUSE_SOURCE);
            snap.paused = !snap.pause_sources.is_empty();
            super::runner_health::clear(layout);
            if snap.paused {
                "runtime resume blocked by usage governance".to_string()
            } else {
                "runtime resumed".to_string()
            }
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
            let planes = if command == "retry_active" {
                let active = active_planes(&snap.active_runs_by_plane);
                match retry_plane(&active, scope) {
                    Ok(plane) => vec![plane],
                    Err(detail) => return Ok(refused(command, detail.to_string())),
                }
            } else {
                active_planes(&snap.active_runs_by_plane)
            };
            for plane in &planes {
                let run = snap.active_runs_by_plane[plane.as_str()].clone();
                let (Some(kind), Some(id)) = (
                    run["work_item_kind"]
                        .as_str()
                        .and_then(|k| DocKind::ALL.into_iter().find(|d| d.tag() == k)),
                    run["work_item_id"].as_str(),
                ) else {
                    if command == "retry_active" {
                        return Ok(refused(
                            command,
                            format!("active {plane} run is not a retryable work item"),
                        ));
                    }
                    continue;
                };
                let [entry, active, ..] = queue::states(kind);
                let from = queue::state_dir(layout, kind, active).join(format!("{id}.md"));
                let to = queue::state_dir(layout, kind, entry).join(format!("{id}.md"));
                if from.is_file() {
                    atomic::rename_durable(&from, &to)
                        .map_err(|e| super::Error::io(to.display(), e))?;
                }
                counters.clear_item(kind.tag(), id);
                requeued.push(format!("{} {id}", kind.tag()));
            }
            for plane in &planes {
                if snap.active_runs_by_plane.remove(plane.as_str()).is_some() {
                    state::write_marker(layout, plane, IDLE_MARKER)
                        .map_err(|e| super::Error::io(layout.status_file(plane).display(), e))?;
                }
            }
            if snap.active_runs_by_plane.is_empty()
                || snap
                    .active_plane
                    .as_deref()
                    .is_some_and(|p| planes.iter().any(|q| q == p))
            {
                snap.active_plane = None;
                snap.active_stage = None;
                snap.active_node_id = None;
                snap.active_stage_kind_id = None;
                snap.active_run_id = None;
                snap.active_work_item_kind = None;
                snap.active_work_item_id = None;
                snap.current_failure_class = None;
            }
            if command == "clear_stale_state" {
                counters.clear_all();
                snap.process_running = false;
            }
            counters
                .save_if_dirty(layout)
                .map_err(|e| super::Error::io("state/recovery_counters.json", e))?;
            // No process holds the workspace (else this went to the mailbox):
            // a JSON lock left behind is stale and goes now.
            let lock_note = match command {
                "clear_stale_state" => lock::clear_stale(layout, "clear-stale-state")
                    .map_err(crate::workspace::Error::from)?
                    .map(|r| format!("; removed stale daemon lock of pid {}", r.owner_pid)),
                _ => None,
            }
            .unwrap_or_default();
            if command == "retry_active" {
                format!("active {} requeued", requeued.join(", "))
            } else if requeued.is_empty() {
                format!("no active work{lock_note}")
            } else {
                format!(
                    "requeued {}: {}{lock_note}",
                    requeued.join(", "),
                    reason.unwrap_or("operator requested")
                )
            }
        }
        other => {
            return Err(super::Error::Refused(format!(
                "unknown control command {other}"
            )))
        }
    };
    state::save_snapshot(layout, &mut snap)
        .map_err(|e| super::Error::io("state/runtime_snapshot.json", e))?;
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

/// A command refused before anything changed.
fn refused(command: &str, detail: String) -> ControlOutcome {
    ControlOutcome {
        action: command.into(),
        mode: "direct",
        applied: false,
        detail,
        command_id: None,
        mailbox_path: None,
    }
}

#[cfg(test)]
mod tests {
    use super::{retry_plane, retry_scope};
    use serde_json::{json, Map, Value};

    fn planes(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn retry_picks_the_scoped_or_only_active_plane() {
        assert_eq!(
            retry_plane(&planes(&["execution"]), None).unwrap(),
            "execution"
        );
        assert_eq!(
            retry_plane(&planes(&["planning", "learning"]), Some("learning")).unwrap(),
            "learning"
        );
        assert_eq!(
            retry_plane(&planes(&["planning", "learning"]), None)
                .unwrap_err()
                .to_string(),
            "multiple active planes; retry-active requires a plane scope"
        );
        assert_eq!(
            retry_plane(&[], Some("planning")).unwrap_err().to_string(),
            "planning retry requires matching active plane; current active planes are none"
        );
        assert_eq!(
            retry_plane(&[], None).unwrap_err().to_string(),
            "no active work item to retry"
        );
    }

    #[test]
    fn a_mailbox_scope_must_name_a_plane() {
        let payload = |v: Value| -> Map<String, Value> {
            let mut m = Map::new();
            m.insert("scope".into(), v);
            m
        };
        assert_eq!(retry_scope(&Map::new()).unwrap(), None);
        assert_eq!(
            retry_scope(&payload(json!("planning"))).unwrap(),
            Some("planning".to_string())
        );
        assert!(retry_scope(&payload(json!("everything"))).is_err());
        assert!(retry_scope(&payload(json!(3))).is_err());
    }
}
