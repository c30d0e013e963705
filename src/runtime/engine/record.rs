//! How an active run is stored. The snapshot's `active_runs_by_plane` holds
//! exactly the reference's active-run record (its strict model rejects any
//! other key), so either implementation can read, resume or clear the
//! other's in-flight item. Our own bookkeeping for the same run (the entry
//! it came in by, stages run, interrupted re-runs, a failure or terminal
//! decision not yet applied) lives in `state/active_run_extras.json`, keyed
//! by plane and tied to the run id: a record whose run id no longer matches
//! the snapshot's (the reference moved the run on, or cleared it) is
//! ignored, and a run the reference started gets the defaults its record
//! implies.

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

/// `render` with every stage count left out: what decides whether the
/// extras must be written again (a count alone is not made durable at every
/// stage; `with_stage_counts` recovers it).
pub fn render_without_counts(runs: &BTreeMap<String, RunExtras>) -> String {
    let mut runs = runs.clone();
    for x in runs.values_mut() {
        x.stage_runs = 0;
    }
    render(&runs)
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
        let x = |stage_runs| RunExtras {
            run_id: "run-0123456789abcdef".into(),
            entry_key: "task".into(),
            stage_runs,
            ..RunExtras::default()
        };
        let runs = |n| BTreeMap::from([("execution".to_string(), x(n))]);
        assert_eq!(
            render_without_counts(&runs(1)),
            render_without_counts(&runs(2))
        );
        assert_ne!(render(&runs(1)), render(&runs(2)));
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
        let loaded = with_stage_counts(&layout, runs(0));
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
