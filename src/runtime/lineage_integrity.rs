//! Closure-lineage drift, as the reference defines it: work that belongs to
//! an open closure target (same root idea, or a known alias of its root
//! spec id) but names another root spec, so closure-scoped claiming never
//! picks it up and the arbiter judges a lineage with work missing. Found by
//! `doctor` (`closure_lineage_drift`) and repaired, for queued and blocked
//! tasks and incidents only, by `queue repair-lineage`.

use super::closure::{self, TargetState};
use crate::workspace::documents::{DocKind, WorkDocument};
use crate::workspace::layout::Layout;
use crate::workspace::{atomic, clock, events, lock, queue, state};
use serde::Serialize;
use serde_json::json;
use std::path::PathBuf;

/// Why a document counts as drifted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftReason {
    SameRootIdeaDifferentRootSpec,
    KnownRootSpecAlias,
}

/// One work document tied to a target but naming another root spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftFinding {
    pub work_item_kind: &'static str,
    pub work_item_id: String,
    /// `queue` (incidents: `incoming`), `active` or `blocked`, as the reference names them.
    pub state: &'static str,
    /// Relative to the workspace root.
    pub path: String,
    pub expected_root_spec_id: String,
    pub actual_root_spec_id: Option<String>,
    pub root_idea_id: Option<String>,
    pub spec_id: Option<String>,
    pub diagnostic_reason: DriftReason,
}

/// One field a repair changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepairChange {
    pub work_item_kind: &'static str,
    pub work_item_id: String,
    pub state: &'static str,
    pub path: String,
    pub field_name: &'static str,
    pub old_value: Option<String>,
    pub new_value: String,
}

/// What a repair would change, and the drift it leaves alone (active work,
/// specs).
#[derive(Debug, Clone, Serialize)]
pub struct RepairPlan {
    pub schema_version: &'static str,
    pub kind: &'static str,
    pub root_spec_id: String,
    pub root_idea_id: Option<String>,
    pub created_at: String,
    pub changes: Vec<RepairChange>,
    pub skipped_findings: Vec<DriftFinding>,
}

/// A repair that could not be made.
#[derive(Debug)]
pub enum RepairError {
    /// No closure target of that id (or it does not parse).
    NoTarget(String),
    /// A daemon owns the workspace.
    DaemonRunning,
    /// The snapshot says a stage is running.
    StageActive,
    /// Reading or writing a work item failed.
    Item {
        path: PathBuf,
        source: Box<crate::workspace::Error>,
    },
    /// Reading or writing another file failed (snapshot, report).
    Workspace(Box<crate::workspace::Error>),
}

impl std::fmt::Display for RepairError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RepairError::NoTarget(id) => write!(
                f,
                "failed to load closure target: no readable arbiter/targets/{id}.json"
            ),
            RepairError::DaemonRunning => {
                f.write_str("active runtime ownership lock prevents lineage repair")
            }
            RepairError::StageActive => f.write_str("active runtime stage prevents lineage repair"),
            RepairError::Item { path, source } => write!(f, "{}: {source}", path.display()),
            RepairError::Workspace(e) => write!(f, "{e}"),
        }
    }
}

/// The root spec a document belongs to for closure-scoped claiming: its
/// `Root-Spec-ID`, else a task's `Spec-ID`, an incident's `Source-Spec-ID`,
/// or a manual or idea-sourced spec's own id.
pub fn effective_root_spec_id(doc: &WorkDocument) -> Option<String> {
    let l = doc.lineage();
    if l.root_spec_id.is_some() {
        return l.root_spec_id;
    }
    match doc.kind() {
        DocKind::Task => l.spec_id,
        DocKind::Incident => l.source_spec_id,
        DocKind::Spec if matches!(doc.scalar("Source-Type"), Some("idea" | "manual")) => {
            Some(doc.id().to_string())
        }
        _ => None,
    }
}

/// Root spec ids an idea watcher may have produced for the same root:
/// `idea-idea-x` is also known as `idea-x`.
fn aliases(root: &str) -> Vec<String> {
    root.strip_prefix("idea-")
        .filter(|rest| rest.starts_with("idea-"))
        .map(|rest| vec![rest.to_string()])
        .unwrap_or_default()
}

/// The document's spec: a task's `Spec-ID`, an incident's `Source-Spec-ID`, a spec's id.
fn spec_of(doc: &WorkDocument) -> Option<String> {
    let l = doc.lineage();
    match doc.kind() {
        DocKind::Task => l.spec_id,
        DocKind::Incident => l.source_spec_id,
        _ => Some(doc.id().to_string()),
    }
}

const SURFACES: [(DocKind, &str, &str); 9] = [
    (DocKind::Task, "queue", "queue"),
    (DocKind::Task, "active", "active"),
    (DocKind::Task, "blocked", "blocked"),
    (DocKind::Spec, "queue", "queue"),
    (DocKind::Spec, "active", "active"),
    (DocKind::Spec, "blocked", "blocked"),
    (DocKind::Incident, "incoming", "queue"),
    (DocKind::Incident, "active", "active"),
    (DocKind::Incident, "blocked", "blocked"),
];

/// Open work tied to `target` that names another root spec, by path.
/// Documents that do not parse are left to doctor's own finding.
pub fn scan(layout: &Layout, target: &TargetState) -> Vec<DriftFinding> {
    let alias = aliases(&target.root_spec_id);
    let mut out = Vec::new();
    for (kind, dir_state, state) in SURFACES {
        for id in queue::list_ids(layout, kind, dir_state) {
            let path = queue::state_dir(layout, kind, dir_state).join(format!("{id}.md"));
            let Ok(doc) = queue::read_item(kind, &path) else {
                continue;
            };
            let actual = effective_root_spec_id(&doc);
            if actual.as_deref() == Some(target.root_spec_id.as_str()) {
                continue;
            }
            let idea = doc.lineage().root_idea_id;
            let spec = spec_of(&doc);
            let reason = if idea.is_some() && idea == target.root_idea_id {
                DriftReason::SameRootIdeaDifferentRootSpec
            } else if actual.iter().chain(spec.iter()).any(|s| alias.contains(s)) {
                DriftReason::KnownRootSpecAlias
            } else {
                continue;
            };
            out.push(DriftFinding {
                work_item_kind: kind.tag(),
                work_item_id: id,
                state,
                path: relative(layout, &path),
                expected_root_spec_id: target.root_spec_id.clone(),
                actual_root_spec_id: actual,
                root_idea_id: idea,
                spec_id: spec,
                diagnostic_reason: reason,
            });
        }
    }
    out.sort_by(|a, b| (&a.path, &a.work_item_id).cmp(&(&b.path, &b.work_item_id)));
    out
}

/// Drift of every open closure target (doctor's check).
pub fn scan_open_targets(layout: &Layout) -> Vec<DriftFinding> {
    closure::all(layout)
        .iter()
        .filter(|t| t.closure_open)
        .flat_map(|t| scan(layout, t))
        .collect()
}

/// The repairs for `target`: queued and blocked tasks get the target as
/// `Root-Spec-ID` (and as `Spec-ID` when that named the drifted root),
/// incidents as `Root-Spec-ID`; active work and specs are skipped.
pub fn plan(layout: &Layout, target: &TargetState) -> RepairPlan {
    let alias = aliases(&target.root_spec_id);
    let mut changes = Vec::new();
    let mut skipped = Vec::new();
    for f in scan(layout, target) {
        let repairable = matches!(f.state, "queue" | "blocked")
            && matches!(f.work_item_kind, "task" | "incident");
        if !repairable {
            skipped.push(f);
            continue;
        }
        let change = |field_name, old_value: Option<String>| RepairChange {
            work_item_kind: f.work_item_kind,
            work_item_id: f.work_item_id.clone(),
            state: f.state,
            path: f.path.clone(),
            field_name,
            old_value,
            new_value: target.root_spec_id.clone(),
        };
        changes.push(change("root_spec_id", f.actual_root_spec_id.clone()));
        if f.work_item_kind == "task" {
            if let Some(spec) = &f.spec_id {
                if f.actual_root_spec_id.as_ref() == Some(spec) || alias.contains(spec) {
                    changes.push(change("spec_id", Some(spec.clone())));
                }
            }
        }
    }
    RepairPlan {
        schema_version: "1.0",
        kind: "closure_lineage_repair_plan",
        root_spec_id: target.root_spec_id.clone(),
        root_idea_id: target.root_idea_id.clone(),
        created_at: clock::now_rfc3339(),
        changes,
        skipped_findings: skipped,
    }
}

/// Load the target of `root_spec_id`.
pub fn target(layout: &Layout, root_spec_id: &str) -> Result<TargetState, RepairError> {
    closure::load(layout, root_spec_id).ok_or_else(|| RepairError::NoTarget(root_spec_id.into()))
}

/// Apply `plan` when no daemon runs and no stage is active: each document
/// rewritten atomically, queue depths recounted, a
/// `closure_lineage_repaired` event. Returns how many documents changed.
pub fn apply(layout: &Layout, plan: &RepairPlan) -> Result<usize, RepairError> {
    if matches!(lock::inspect(layout), lock::LockStatus::Active(_)) {
        return Err(RepairError::DaemonRunning);
    }
    let snap = state::load_snapshot(layout).map_err(|e| RepairError::Workspace(Box::new(e)))?;
    if snap.active_stage.is_some() || !snap.active_runs_by_plane.is_empty() {
        return Err(RepairError::StageActive);
    }
    let mut paths: Vec<&str> = plan.changes.iter().map(|c| c.path.as_str()).collect();
    paths.dedup();
    for rel in &paths {
        let changes: Vec<&RepairChange> = plan.changes.iter().filter(|c| c.path == *rel).collect();
        let kind = if changes[0].work_item_kind == "task" {
            DocKind::Task
        } else {
            DocKind::Incident
        };
        let path = layout.root.join(rel);
        let io = |e: crate::workspace::Error| RepairError::Item {
            path: path.clone(),
            source: Box::new(e),
        };
        let mut doc = queue::read_item(kind, &path).map_err(|e| io(e.into()))?;
        for c in changes {
            let label = if c.field_name == "spec_id" {
                "Spec-ID"
            } else {
                "Root-Spec-ID"
            };
            doc.set_scalar(label, Some(&c.new_value))
                .map_err(|e| io(e.into()))?;
        }
        atomic::write_atomic(&path, doc.to_markdown().as_bytes())
            .map_err(|e| io(crate::workspace::Error::Other(e.to_string())))?;
    }
    queue::refresh_snapshot_depths(layout)
        .map_err(|e| RepairError::Workspace(Box::new(crate::workspace::Error::from(e))))?;
    Ok(paths.len())
}

/// Record drift found when a target was about to be judged, as the
/// reference does: `arbiter/diagnostics/lineage-drift/<root>.json` (the
/// findings and the command that repairs them) and a
/// `closure_lineage_drift_detected` event.
pub fn write_diagnostic(
    layout: &Layout,
    target: &TargetState,
    findings: &[DriftFinding],
) -> Result<PathBuf, crate::workspace::Error> {
    let dir = layout.path("arbiter/diagnostics/lineage-drift");
    std::fs::create_dir_all(&dir).map_err(|e| crate::workspace::Error::io(&dir, e))?;
    let path = dir.join(format!("{}.json", target.root_spec_id));
    let v = json!({
        "schema_version": "1.0",
        "kind": "closure_lineage_drift_diagnostic",
        "root_spec_id": target.root_spec_id,
        "root_idea_id": target.root_idea_id,
        "detected_at": clock::now_rfc3339(),
        "findings": findings,
        "recommended_command": format!(
            "millrace queue repair-lineage --workspace <workspace> --root-spec-id {} --apply",
            target.root_spec_id
        ),
    });
    let mut text = serde_json::to_string_pretty(&v).expect("json");
    text.push('\n');
    atomic::write_atomic(&path, text.as_bytes())
        .map_err(|e| crate::workspace::Error::io(&path, e))?;
    let _ = events::record(
        layout,
        "closure_lineage_drift_detected",
        json!({"root_spec_id": target.root_spec_id, "root_idea_id": target.root_idea_id,
               "finding_count": findings.len(), "diagnostic_path": relative(layout, &path)}),
    );
    Ok(path)
}

/// Write the plan (with `applied`) under
/// `arbiter/diagnostics/lineage-repairs/<time>-<8 hex>.json`; after an
/// applied repair, a `closure_lineage_repaired` event with the number of
/// documents `repaired`.
pub fn write_report(
    layout: &Layout,
    plan: &RepairPlan,
    repaired: Option<usize>,
) -> Result<PathBuf, RepairError> {
    let applied = repaired.is_some();
    let dir = layout.path("arbiter/diagnostics/lineage-repairs");
    std::fs::create_dir_all(&dir)
        .map_err(|e| RepairError::Workspace(Box::new(crate::workspace::Error::io(&dir, e))))?;
    let stamp: String = plan
        .created_at
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .take(15)
        .collect();
    let suffix = &blake3::hash(format!("{}{}", plan.created_at, std::process::id()).as_bytes())
        .to_hex()[..8];
    let path = dir.join(format!("{stamp}Z-{suffix}.json"));
    let mut v = serde_json::to_value(plan).expect("plan serializes");
    v["applied"] = json!(applied);
    let mut text = serde_json::to_string_pretty(&v).expect("json");
    text.push('\n');
    atomic::write_atomic(&path, text.as_bytes())
        .map_err(|e| RepairError::Workspace(Box::new(crate::workspace::Error::io(&path, e))))?;
    if let Some(n) = repaired {
        let _ = events::record(
            layout,
            "closure_lineage_repaired",
            json!({"root_spec_id": plan.root_spec_id, "repair_count": n, "repair_report_path": relative(layout, &path)}),
        );
    }
    Ok(path)
}

fn relative(layout: &Layout, path: &std::path::Path) -> String {
    path.strip_prefix(&layout.root)
        .unwrap_or(path)
        .display()
        .to_string()
}
