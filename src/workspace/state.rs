//! Runtime state files under `state/`: the runtime snapshot
//! (`runtime_snapshot.json`), the recovery counters
//! (`recovery_counters.json`) and one status marker per plane
//! (`<plane>_status.md`, a single `### MARKER` line). Field names and
//! defaults follow the reference 0.18.0. Every write is durable (`atomic`).

use std::collections::BTreeMap;
use std::io;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{atomic, clock, layout::Layout, layout::PLANES, safe_fs};

/// The marker of an idle plane.
pub const IDLE_MARKER: &str = "### IDLE";

/// The runtime snapshot. Unknown fields written by newer versions are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuntimeSnapshot {
    pub schema_version: String,
    pub kind: String,
    pub runtime_mode: String,
    pub process_running: bool,
    pub paused: bool,
    pub pause_sources: Vec<Value>,
    pub stop_requested: bool,
    pub active_mode_id: String,
    pub execution_loop_id: Option<String>,
    pub planning_loop_id: Option<String>,
    pub learning_loop_id: Option<String>,
    pub loop_ids_by_plane: BTreeMap<String, String>,
    pub compiled_plan_id: String,
    pub compiled_plan_path: String,
    pub active_plane: Option<String>,
    pub active_stage: Option<String>,
    pub active_node_id: Option<String>,
    pub active_stage_kind_id: Option<String>,
    pub active_run_id: Option<String>,
    pub active_work_item_kind: Option<String>,
    pub active_work_item_id: Option<String>,
    pub active_runs_by_plane: Map<String, Value>,
    pub execution_status_marker: String,
    pub planning_status_marker: String,
    pub learning_status_marker: String,
    pub status_markers_by_plane: BTreeMap<String, String>,
    pub queue_depth_execution: u64,
    pub queue_depth_planning: u64,
    pub queue_depth_learning: u64,
    pub queue_depths_by_plane: BTreeMap<String, u64>,
    pub last_terminal_result: Value,
    pub last_stage_result_path: Option<String>,
    pub current_failure_class: Option<String>,
    pub troubleshoot_attempt_count: u64,
    pub mechanic_attempt_count: u64,
    pub fix_cycle_count: u64,
    pub consultant_invocations: u64,
    pub config_version: String,
    pub watcher_mode: String,
    pub last_reload_outcome: Value,
    pub last_reload_error: Option<String>,
    pub started_at: Option<String>,
    pub active_since: Option<String>,
    pub updated_at: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl RuntimeSnapshot {
    /// The snapshot of a freshly initialized workspace.
    pub fn bootstrap() -> RuntimeSnapshot {
        let planes = |v: &str| {
            PLANES
                .iter()
                .map(|p| (p.to_string(), v.to_string()))
                .collect()
        };
        RuntimeSnapshot {
            schema_version: "1.0".into(),
            kind: "runtime_snapshot".into(),
            runtime_mode: "daemon".into(),
            process_running: false,
            paused: false,
            pause_sources: Vec::new(),
            stop_requested: false,
            active_mode_id: "default_codex".into(),
            execution_loop_id: Some("execution.standard".into()),
            planning_loop_id: Some("planning.standard".into()),
            learning_loop_id: None,
            loop_ids_by_plane: [
                ("execution", "execution.standard"),
                ("planning", "planning.standard"),
            ]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
            compiled_plan_id: "bootstrap".into(),
            compiled_plan_path: "millrace-agents/state/compiled_plan.json".into(),
            active_plane: None,
            active_stage: None,
            active_node_id: None,
            active_stage_kind_id: None,
            active_run_id: None,
            active_work_item_kind: None,
            active_work_item_id: None,
            active_runs_by_plane: Map::new(),
            execution_status_marker: IDLE_MARKER.into(),
            planning_status_marker: IDLE_MARKER.into(),
            learning_status_marker: IDLE_MARKER.into(),
            status_markers_by_plane: planes(IDLE_MARKER),
            queue_depth_execution: 0,
            queue_depth_planning: 0,
            queue_depth_learning: 0,
            queue_depths_by_plane: PLANES.iter().map(|p| (p.to_string(), 0)).collect(),
            last_terminal_result: Value::Null,
            last_stage_result_path: None,
            current_failure_class: None,
            troubleshoot_attempt_count: 0,
            mechanic_attempt_count: 0,
            fix_cycle_count: 0,
            consultant_invocations: 0,
            config_version: "bootstrap".into(),
            watcher_mode: "off".into(),
            last_reload_outcome: Value::Null,
            last_reload_error: None,
            started_at: None,
            active_since: None,
            updated_at: clock::now_rfc3339(),
            extra: Map::new(),
        }
    }

    /// Set the three queue depths (execution, planning, learning).
    pub fn set_queue_depths(&mut self, depths: [u64; 3]) {
        self.queue_depth_execution = depths[0];
        self.queue_depth_planning = depths[1];
        self.queue_depth_learning = depths[2];
        for (plane, depth) in PLANES.iter().zip(depths) {
            self.queue_depths_by_plane.insert(plane.to_string(), depth);
        }
    }

    /// The snapshot as stored: `pause_sources` holds only the sources the
    /// reference knows (its strict model rejects others); our
    /// `runner_unavailable` pause is `paused: true` there, its cause in
    /// `state/runner_health.json` (see `load_snapshot`).
    pub fn to_json(&self) -> String {
        let ours = |v: &Value| !REFERENCE_PAUSE_SOURCES.iter().any(|s| v == s);
        let mut text = if self.pause_sources.iter().any(&ours) {
            let mut stored = self.clone();
            stored.pause_sources.retain(|v| !ours(v));
            serde_json::to_string_pretty(&stored)
        } else {
            serde_json::to_string_pretty(self)
        }
        .expect("snapshot serializes");
        text.push('\n');
        text
    }
}

/// A state file, read without following a link or blocking on a FIFO.
fn read_state_file(path: &std::path::Path) -> Result<String, super::Error> {
    safe_fs::read_to_string_capped(path, safe_fs::MAX_STATE_BYTES)
        .map_err(|e| super::Error::io(path, e))
}

/// The pause sources the reference's snapshot model accepts.
pub const REFERENCE_PAUSE_SOURCES: [&str; 2] = ["operator", "usage_governance"];

/// Where the runtime records why it paused itself over a runner or an
/// agent's environment (`runtime::runner_health`); its presence while
/// paused is the pause source it names (`runner_unavailable` or
/// `agent_environment`).
const RUNNER_HEALTH_FILE: &str = "state/runner_health.json";

/// Read the snapshot. Errors are one line naming the file.
pub fn load_snapshot(layout: &Layout) -> Result<RuntimeSnapshot, super::Error> {
    let path = layout.snapshot_file();
    let mut snap: RuntimeSnapshot = parse_rereading(
        || read_state_file(&path),
        |source| super::Error::Json {
            path: path.clone(),
            source,
        },
    )?;
    check_snapshot_ids(&snap).map_err(|(field, source)| super::Error::StateId {
        path: path.clone(),
        field,
        source,
    })?;
    if snap.paused && layout.path(RUNNER_HEALTH_FILE).is_file() {
        // The record names its source (`runner_unavailable` when it does not).
        let source = safe_fs::read_to_string_capped(
            &layout.path(RUNNER_HEALTH_FILE),
            safe_fs::MAX_STATE_BYTES,
        )
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v.get("source").and_then(Value::as_str).map(String::from))
        .filter(|s| s == "runner_unavailable" || s == "agent_environment")
        .unwrap_or_else(|| "runner_unavailable".to_string());
        if !snap.pause_sources.iter().any(|v| v == source.as_str()) {
            snap.pause_sources.push(Value::from(source));
        }
    }
    Ok(snap)
}

/// Parse what `read` returns, reading again (twice at most) while it does
/// not parse. The runtime rewrites the snapshot through a spare file it
/// exchanges with the live one (`atomic::write_atomic_group`): a read that
/// raced two writes can see a torn document, though the file never is.
/// Errors of `read` itself are returned at once.
fn parse_rereading<T: serde::de::DeserializeOwned, E>(
    mut read: impl FnMut() -> Result<String, E>,
    bad: impl FnOnce(serde_json::Error) -> E,
) -> Result<T, E> {
    let mut attempt = 0;
    loop {
        let text = read()?;
        match serde_json::from_str(&text) {
            Ok(v) => return Ok(v),
            Err(_) if attempt < 2 => attempt += 1,
            Err(e) => return Err(bad(e)),
        }
    }
}

/// Ids read back from the snapshot build paths (run directories, queue
/// files), so they pass the same check as ids from the command line.
fn check_snapshot_ids(s: &RuntimeSnapshot) -> Result<(), (String, super::ids::IdError)> {
    let check = |field: String, value: Option<&str>| match value {
        Some(v) => super::ids::validate_id(v)
            .map(|_| ())
            .map_err(|e| (field, e)),
        None => Ok(()),
    };
    check("active_run_id".into(), s.active_run_id.as_deref())?;
    check(
        "active_work_item_id".into(),
        s.active_work_item_id.as_deref(),
    )?;
    for (plane, run) in &s.active_runs_by_plane {
        for key in [
            "run_id",
            "work_item_id",
            "closure_target_root_spec_id",
            "closure_target_root_idea_id",
        ] {
            check(
                format!("active_runs_by_plane.{plane}.{key}"),
                run.get(key).and_then(Value::as_str),
            )?;
        }
        check(
            format!("active_runs_by_plane.{plane}.pending_terminal.request_id"),
            run.pointer("/pending_terminal/request_id")
                .and_then(Value::as_str),
        )?;
    }
    Ok(())
}

/// Write the snapshot durably, stamping `updated_at`.
pub fn save_snapshot(layout: &Layout, snapshot: &mut RuntimeSnapshot) -> io::Result<()> {
    snapshot.updated_at = clock::now_rfc3339();
    // Through the snapshot's spare, as the engine writes it, so that the
    // two writers exclude each other (`atomic::write_atomic_group`).
    let (path, text) = (layout.snapshot_file(), snapshot.to_json());
    atomic::write_atomic_group(&[(&path, text.as_bytes())])
}

/// Per-work-item recovery counters (entries are owned by the runtime).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryCounters {
    pub schema_version: String,
    pub kind: String,
    pub entries: Vec<Value>,
}

impl Default for RecoveryCounters {
    fn default() -> Self {
        RecoveryCounters {
            schema_version: "1.0".into(),
            kind: "recovery_counters".into(),
            entries: Vec::new(),
        }
    }
}

impl RecoveryCounters {
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("counters serialize");
        text.push('\n');
        text
    }
}

pub fn load_counters(layout: &Layout) -> Result<RecoveryCounters, super::Error> {
    let path = layout.counters_file();
    let text = read_state_file(&path)?;
    serde_json::from_str(&text).map_err(|source| super::Error::Json { path, source })
}

pub fn save_counters(layout: &Layout, counters: &RecoveryCounters) -> io::Result<()> {
    atomic::write_atomic(&layout.counters_file(), counters.to_json().as_bytes())
}

/// Is `marker` a well-formed status marker (`### UPPER_SNAKE`)?
pub fn is_marker(marker: &str) -> bool {
    marker.strip_prefix("### ").is_some_and(|name| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    })
}

/// The marker of a plane (`### IDLE` when the file is missing or empty).
pub fn read_marker(layout: &Layout, plane: &str) -> io::Result<String> {
    match safe_fs::read_to_string_capped(&layout.status_file(plane), 4096) {
        Ok(text) => {
            let line = text.lines().next().unwrap_or("").trim();
            Ok(if line.is_empty() {
                IDLE_MARKER.to_string()
            } else {
                line.to_string()
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(IDLE_MARKER.to_string()),
        Err(e) => Err(e),
    }
}

/// Write a plane's marker (e.g. `### BUILDER_RUNNING`).
pub fn write_marker(layout: &Layout, plane: &str, marker: &str) -> io::Result<()> {
    if !is_marker(marker) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{marker:?} is not a status marker (`### NAME`)"),
        ));
    }
    atomic::write_atomic(&layout.status_file(plane), format!("{marker}\n").as_bytes())
}

/// Write a plane's marker in place (no new file, no fsync): the runtime's
/// per-stage writes. A reader sees the old line or the new one as the first
/// line (one small write); after a crash markers are re-derived from the
/// durable snapshot.
pub fn write_marker_in_place(layout: &Layout, plane: &str, marker: &str) -> io::Result<()> {
    atomic::overwrite_in_place(&layout.status_file(plane), format!("{marker}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_read_is_read_again() {
        let mut reads = vec!["{\"a\": 1}".to_string(), "{\"a\": 1}\n}  \"b\"".to_string()];
        let v: Value =
            parse_rereading(|| Ok::<_, serde_json::Error>(reads.pop().unwrap()), |e| e).unwrap();
        assert_eq!(v["a"], 1);
        // A document that stays broken is an error, after three reads.
        let mut n = 0;
        let r: Result<Value, serde_json::Error> = parse_rereading(
            || {
                n += 1;
                Ok("{".to_string())
            },
            |e| e,
        );
        assert!(r.unwrap_err().is_eof());
        assert_eq!(n, 3);
    }

    #[test]
    fn only_the_references_pause_sources_are_stored() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.state_dir()).unwrap();
        let mut snap = RuntimeSnapshot::bootstrap();
        snap.paused = true;
        snap.pause_sources = vec![Value::from("runner_unavailable")];
        save_snapshot(&layout, &mut snap).unwrap();
        let stored: Value =
            serde_json::from_slice(&std::fs::read(layout.snapshot_file()).unwrap()).unwrap();
        assert_eq!(stored["pause_sources"], serde_json::json!([]));
        assert_eq!(stored["paused"], true);
        // While the runner-health record exists, the source reads back.
        std::fs::write(layout.path(RUNNER_HEALTH_FILE), "{}").unwrap();
        let loaded = load_snapshot(&layout).unwrap();
        assert_eq!(
            loaded.pause_sources,
            vec![Value::from("runner_unavailable")]
        );
    }

    #[test]
    fn snapshot_round_trips_and_keeps_unknown_fields() {
        let mut snap = RuntimeSnapshot::bootstrap();
        snap.extra.insert("future_field".into(), Value::from(3));
        let text = snap.to_json();
        let back: RuntimeSnapshot = serde_json::from_str(&text).unwrap();
        assert_eq!(back, snap);
        assert!(text.contains("\"queue_depth_learning\": 0"));
    }

    #[test]
    fn markers() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.state_dir()).unwrap();
        assert_eq!(read_marker(&layout, "execution").unwrap(), IDLE_MARKER);
        write_marker(&layout, "execution", "### BUILDER_RUNNING").unwrap();
        assert_eq!(
            read_marker(&layout, "execution").unwrap(),
            "### BUILDER_RUNNING"
        );
        assert!(write_marker(&layout, "execution", "running").is_err());
    }
}
