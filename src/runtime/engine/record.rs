//! How an active run is stored. The snapshot's `active_runs_by_plane` holds
//! exactly the reference's active-run record (its strict model rejects any
//! other key), so either implementation can read, resume or clear the
//! other's in-flight item. Our own bookkeeping for the same run (the entry
//! it came in by, stages run, interrupted re-runs, a failure or terminal
//! decision not yet applied) lives in `state/active_run_extras.json`, keyed
//! by plane and tied to the run id: a record whose run id no longer matches
//! the snapshot's (the reference moved the run on, or cleared it) is
//! ignored, and a run the reference started gets the defaults its record
//! implies. The engine writes the file only when a restart would read it
//! differently (`differ`): not for a stage count alone (counted again from
//! the run's stage results, `with_stage_counts`) nor for a run just claimed
//! whose record is the implied one (`complete` fills it in at start).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{entry_key, kind_of, ActiveRun, PendingTerminal};
use crate::plan::ir::CompiledPlan;
use crate::workspace::layout::Layout;

/// The file, relative to `millrace-agents/`.
pub const FILE: &str = "state/active_run_extras.json";

/// Our bookkeeping for one active run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunExtras {
    pub run_id: String,
    pub entry_key: String,
    pub stage_runs: u64,
    pub interrupted_retries: u64,
    pub pending_failure: Option<String>,
    pub pending_terminal: Option<PendingTerminal>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtrasFile {
    schema_version: String,
    kind: String,
    runs_by_plane: BTreeMap<String, RunExtras>,
}

/// Read the extras file; a missing file is empty.
pub fn load(layout: &Layout) -> Result<BTreeMap<String, RunExtras>, crate::workspace::Error> {
    let path = layout.path(FILE);
    match crate::workspace::safe_fs::read_capped(&path, crate::workspace::safe_fs::MAX_STATE_BYTES)
    {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(crate::workspace::Error::io(path, e)),
        Ok(bytes) => serde_json::from_slice::<ExtrasFile>(&bytes)
            .map(|f| f.runs_by_plane)
            .map_err(|source| crate::workspace::Error::Json { path, source }),
    }
}

/// The extras file's text. The engine writes it durably with the snapshot
/// that refers to it, renamed first (`Engine::save_snapshot`).
pub fn render(runs: &BTreeMap<String, RunExtras>) -> String {
    let file = ExtrasFile {
        schema_version: "1.0".into(),
        kind: "active_run_extras".into(),
        runs_by_plane: runs.clone(),
    };
    let mut text = serde_json::to_string_pretty(&file).expect("extras serialize");
    text.push('\n');
    text
}

/// The record the snapshot's `record` implies for its run when the extras
/// file has none (a run just claimed, or one the reference started).
pub fn implied(record: &Value, plan: &CompiledPlan) -> Option<RunExtras> {
    active_run(record, None, plan).map(|r| extras_of(&r))
}

/// The extras a restart would use for each active run: the file's record
/// of that run, else the one the snapshot implies.
pub fn complete(
    mut runs: BTreeMap<String, RunExtras>,
    snapshot: &crate::workspace::state::RuntimeSnapshot,
    plan: &CompiledPlan,
) -> BTreeMap<String, RunExtras> {
    for (plane, record) in &snapshot.active_runs_by_plane {
        let run_id = record["run_id"].as_str();
        if runs.get(plane).map(|x| Some(x.run_id.as_str())) == Some(run_id) {
            continue;
        }
        if let Some(x) = implied(record, plan) {
            runs.insert(plane.clone(), x);
        }
    }
    runs
}

/// Would a restart read `saved` (the extras last written) differently from
/// `current` for the active runs of `active` (the snapshot's records)? A
/// stage count is not compared (`with_stage_counts` recovers it), and a run
/// with no saved record reads as the record its snapshot entry implies.
pub fn differ(
    saved: &BTreeMap<String, RunExtras>,
    current: &BTreeMap<String, RunExtras>,
    active: &serde_json::Map<String, Value>,
    plan: &CompiledPlan,
) -> bool {
    active.iter().any(|(plane, record)| {
        let run_id = record["run_id"].as_str();
        let own = |map: &BTreeMap<String, RunExtras>| {
            map.get(plane)
                .filter(|x| Some(x.run_id.as_str()) == run_id)
                .cloned()
        };
        let (mut before, mut now) = (own(saved), own(current));
        if before.is_none() || now.is_none() {
            let fallback = implied(record, plan);
            before = before.or_else(|| fallback.clone());
            now = now.or(fallback);
        }
        for x in [&mut before, &mut now].into_iter().flatten() {
            x.stage_runs = 0;
        }
        before != now
    })
}

/// The extras as loaded, each run's stage count raised to the stage results
/// its run directory holds: every stage the run dispatched and finished left
/// one, so this is the count the last process had when it stopped at a
/// stage boundary (the file is written only when more than the count
/// changes).
pub fn with_stage_counts(
    layout: &Layout,
    mut runs: BTreeMap<String, RunExtras>,
) -> BTreeMap<String, RunExtras> {
    for x in runs.values_mut() {
        if crate::workspace::ids::validate_id(&x.run_id).is_err() {
            continue;
        }
        let results = layout
            .runtime
            .join("runs")
            .join(&x.run_id)
            .join("stage_results");
        let found = std::fs::read_dir(results)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                    .count() as u64
            })
            .unwrap_or(0);
        x.stage_runs = x.stage_runs.max(found);
    }
    runs
}

/// The extras half of `run`.
pub fn extras_of(run: &ActiveRun) -> RunExtras {
    RunExtras {
        run_id: run.run_id.clone(),
        entry_key: run.entry_key.clone(),
        stage_runs: run.stage_runs,
        interrupted_retries: run.interrupted_retries,
        pending_failure: run.pending_failure.clone(),
        pending_terminal: run.pending_terminal.clone(),
    }
}

/// An active run from the snapshot's record (either implementation's) and
/// our extras for it, if they belong to the same run. `None` when the
/// record is not an active run at all.
pub fn active_run(
    record: &Value,
    extras: Option<&RunExtras>,
    plan: &CompiledPlan,
) -> Option<ActiveRun> {
    let mut run: ActiveRun = serde_json::from_value(record.clone()).ok()?;
    match extras.filter(|x| x.run_id == run.run_id) {
        Some(x) => {
            run.entry_key = x.entry_key.clone();
            run.stage_runs = x.stage_runs;
            run.interrupted_retries = x.interrupted_retries;
            run.pending_failure = x.pending_failure.clone();
            run.pending_terminal = x.pending_terminal.clone();
        }
        None => {
            // The reference's run: the entry its record implies.
            run.entry_key = match run.work_item_kind.as_deref().and_then(kind_of) {
                Some(kind) => entry_key(kind).to_string(),
                None => "closure_target".into(),
            };
        }
    }
    if run.running_status_marker.is_empty() {
        // The reference may leave it null: the plan's marker for the node.
        if let Some(node) = plan.graph(&run.plane).and_then(|g| g.node(&run.node_id)) {
            run.running_status_marker = node.running_status_marker.clone();
        }
    }
    Some(run)
}

/// Deserialize a string the reference may write as null.
pub fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::compile::{compile, AssetRoot};
    use serde_json::json;

    fn plan() -> CompiledPlan {
        compile(&AssetRoot::Embedded, Some("default_codex"))
            .plan
            .expect("the shipped default mode compiles")
    }

    /// The record the reference writes after `run once`: its null marker.
    fn reference_record(run_id: &str) -> Value {
        json!({
            "plane": "execution", "stage": "checker", "node_id": "checker",
            "stage_kind_id": "checker", "run_id": run_id,
            "request_kind": "active_work_item", "work_item_kind": "task",
            "work_item_id": "t-1", "closure_target_root_spec_id": null,
            "closure_target_root_idea_id": null,
            "active_since": "2026-04-15T12:00:00Z", "running_status_marker": null,
        })
    }

    #[test]
    fn a_stage_count_alone_is_not_written_and_comes_back_from_the_results() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::new(tmp.path());
        let record = json!({
            "plane": "execution", "stage": "checker", "node_id": "checker",
            "stage_kind_id": "checker", "run_id": "run-0123456789abcdef",
            "request_kind": "active_work_item", "work_item_kind": "task",
            "work_item_id": "t-1", "closure_target_root_spec_id": null,
            "closure_target_root_idea_id": null,
            "active_since": "2026-04-15T12:00:00Z", "running_status_marker": "CHECKER_RUNNING",
        });
        let active: serde_json::Map<String, Value> = [("execution".to_string(), record.clone())]
            .into_iter()
            .collect();
        let x = |stage_runs| RunExtras {
            run_id: "run-0123456789abcdef".into(),
            entry_key: "task".into(),
            stage_runs,
            ..RunExtras::default()
        };
        let runs = |n| BTreeMap::from([("execution".to_string(), x(n))]);
        let plan = plan();
        // A new count alone: nothing a restart would read differently.
        assert!(!differ(&runs(1), &runs(2), &active, &plan));
        // A run just claimed, its record the one the snapshot implies: the
        // saved extras of an earlier run read the same.
        let earlier = BTreeMap::from([(
            "execution".to_string(),
            RunExtras {
                run_id: "run-ffffffffffffffff".into(),
                pending_failure: Some("x".into()),
                ..x(3)
            },
        )]);
        assert!(!differ(&earlier, &runs(0), &active, &plan));
        // A decision to make durable differs.
        let mut pending = runs(2);
        pending.get_mut("execution").unwrap().pending_failure =
            Some("stale_active_ownership".into());
        assert!(differ(&runs(2), &pending, &active, &plan));
        // At a start: the implied record, its count from the stage results.
        let results = layout
            .runtime
            .join("runs/run-0123456789abcdef/stage_results");
        std::fs::create_dir_all(&results).unwrap();
        for name in [
            "request-a.json",
            "request-b.json",
            ".request-c.json.7.1.millrace-tmp",
        ] {
            std::fs::write(results.join(name), "{}").unwrap();
        }
        let mut snapshot = crate::workspace::state::RuntimeSnapshot::bootstrap();
        snapshot.active_runs_by_plane = active.clone();
        let loaded = with_stage_counts(&layout, complete(earlier, &snapshot, &plan));
        assert_eq!(loaded["execution"].run_id, "run-0123456789abcdef");
        assert_eq!(loaded["execution"].entry_key, "task");
        assert_eq!(loaded["execution"].stage_runs, 2, "two finished stages");
        let loaded = with_stage_counts(&layout, runs(5));
        assert_eq!(loaded["execution"].stage_runs, 5, "never lowered");
    }

    #[test]
    fn the_references_record_is_resumed_with_the_defaults_it_implies() {
        let run = active_run(&reference_record("run-ref"), None, &plan()).unwrap();
        assert_eq!(
            (run.stage.as_str(), run.run_id.as_str()),
            ("checker", "run-ref")
        );
        assert_eq!(run.running_status_marker, "CHECKER_RUNNING");
        assert_eq!(run.entry_key, "task");
        assert_eq!(run.stage_runs, 0);
    }

    #[test]
    fn extras_apply_only_to_their_own_run_and_never_reach_the_snapshot() {
        let mut run = active_run(&reference_record("run-a"), None, &plan()).unwrap();
        run.stage_runs = 4;
        run.interrupted_retries = 1;
        let extras = extras_of(&run);
        let stored = serde_json::to_value(&run).unwrap();
        for key in [
            "entry_key",
            "stage_runs",
            "interrupted_retries",
            "pending_failure",
            "pending_terminal",
        ] {
            assert!(stored.get(key).is_none(), "{key} in {stored}");
        }
        let same = active_run(&stored, Some(&extras), &plan()).unwrap();
        assert_eq!((same.stage_runs, same.interrupted_retries), (4, 1));
        // The reference moved the item on under a new run: the extras are stale.
        let other = active_run(&reference_record("run-b"), Some(&extras), &plan()).unwrap();
        assert_eq!((other.stage_runs, other.interrupted_retries), (0, 0));
    }
}
