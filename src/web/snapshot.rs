//! The read-only picture of one workspace that the dashboard serves: the
//! status report (`cli::status`), every queue with its items, recent runs
//! and how they ended (`cli::runs`), recent router decisions from the event
//! log, and the persisted plan drawn per plane with the items now in each
//! node (`web::svg`).
//!
//! Architecture invariant: nothing here writes, and nothing takes the
//! runtime's lock. A workspace that cannot be read becomes a snapshot with
//! an `error`, never a failed request.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::svg;
use crate::cli::runs;
use crate::cli::status::{ActiveRunView, StatusReport};
use crate::plan::compile::{self, AssetRoot};
use crate::plan::persist;
use crate::workspace::documents::DocKind;
use crate::workspace::layout::Layout;
use crate::workspace::{clock, queue};

/// How many runs and transitions the page shows.
const RECENT_RUNS: usize = 12;
const RECENT_TRANSITIONS: usize = 20;
/// How many item ids of one queue state are listed (all are counted).
const LISTED_ITEMS: usize = 50;
/// How much of the end of the event log is read for recent transitions.
const EVENT_TAIL_BYTES: u64 = 256 * 1024;

#[derive(Debug, Clone, Serialize)]
pub struct QueueView {
    pub kind: &'static str,
    pub state: &'static str,
    pub count: usize,
    /// The first ids in order (at most `LISTED_ITEMS`).
    pub items: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub status: &'static str,
    pub work_item_kind: Option<String>,
    pub work_item_id: Option<String>,
    pub stage_count: usize,
    pub last_stage: Option<String>,
    /// The last stage's terminal result (`BUILDER_COMPLETE`, `BLOCKED`, ...).
    pub last_result: Option<String>,
    pub failure_class: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    /// Still running (some plane's active run).
    pub active: bool,
    /// The stage it is running now, when active.
    pub current_stage: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlaneView {
    pub plane: String,
    pub loop_id: String,
    /// Work items now in each node.
    pub occupants: BTreeMap<String, Vec<String>>,
    pub svg: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanView {
    /// False when no plan is persisted yet and this one was compiled in
    /// memory from the workspace's sources, for display only.
    pub persisted: bool,
    pub compiled_plan_id: String,
    pub mode_id: String,
    pub planes: Vec<PlaneView>,
}

/// One workspace as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct WorkspaceSnapshot {
    pub index: usize,
    pub root: String,
    /// Why the workspace could not be read (the other fields are then empty).
    pub error: Option<String>,
    pub status: Option<StatusReport>,
    pub queues: Vec<QueueView>,
    pub recent_runs: Vec<RunSummary>,
    /// `router_decision` events, newest last.
    pub transitions: Vec<Value>,
    pub plan: Option<PlanView>,
    /// Why the plan is not drawn (absent or unreadable).
    pub plan_error: Option<String>,
}

/// Everything the page shows: the `/api/state` document and each SSE event.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub version: u64,
    pub generated_at: String,
    pub workspaces: Vec<WorkspaceSnapshot>,
}

pub fn overview(layouts: &[Layout], version: u64) -> Overview {
    Overview {
        version,
        generated_at: clock::now_rfc3339(),
        workspaces: layouts
            .iter()
            .enumerate()
            .map(|(i, l)| load(i, l))
            .collect(),
    }
}

/// Read one workspace.
pub fn load(index: usize, layout: &Layout) -> WorkspaceSnapshot {
    let mut snap = WorkspaceSnapshot {
        index,
        root: layout.root.display().to_string(),
        error: None,
        status: None,
        queues: Vec::new(),
        recent_runs: Vec::new(),
        transitions: Vec::new(),
        plan: None,
        plan_error: None,
    };
    let status = match StatusReport::load(layout) {
        Ok(s) => s,
        Err(e) => {
            snap.error = Some(e.to_string());
            return snap;
        }
    };
    snap.queues = queues(layout);
    snap.recent_runs = recent_runs(layout, &status.active_runs);
    snap.transitions = recent_transitions(&layout.event_log());
    let plan = persist::load_plan(layout).map(|p| (p, true)).or_else(|e| {
        // Nothing persisted yet: draw the plan the sources compile to now.
        compile::compile(&AssetRoot::Workspace(layout.clone()), None)
            .plan
            .map(|p| (p, false))
            .ok_or(e)
    });
    match plan {
        Ok((plan, persisted)) => {
            let planes = plan
                .graphs_by_plane
                .iter()
                .map(|(name, g)| {
                    let mut occupants: BTreeMap<String, Vec<String>> = BTreeMap::new();
                    for r in status.active_runs.iter().filter(|r| &r.plane == name) {
                        if let Some(node) = &r.node_id {
                            let item = r
                                .work_item_id
                                .clone()
                                .or_else(|| r.request_kind.clone())
                                .unwrap_or_else(|| "(run)".into());
                            occupants.entry(node.clone()).or_default().push(item);
                        }
                    }
                    PlaneView {
                        plane: name.clone(),
                        loop_id: g.loop_id.clone(),
                        svg: svg::plane_svg(g, &occupants),
                        occupants,
                    }
                })
                .collect();
            snap.plan = Some(PlanView {
                persisted,
                compiled_plan_id: plan.compiled_plan_id,
                mode_id: plan.mode_id,
                planes,
            });
        }
        Err(e) => snap.plan_error = Some(e.to_string()),
    }
    snap.status = Some(status);
    snap
}

fn kind_name(kind: DocKind) -> &'static str {
    match kind {
        DocKind::Task => "task",
        DocKind::Spec => "spec",
        DocKind::Incident => "incident",
        DocKind::LearningRequest => "learning_request",
    }
}

fn queues(layout: &Layout) -> Vec<QueueView> {
    let mut out = Vec::new();
    for kind in DocKind::ALL {
        for state in queue::states(kind) {
            let mut items = queue::list_ids(layout, kind, state);
            let count = items.len();
            items.truncate(LISTED_ITEMS);
            out.push(QueueView {
                kind: kind_name(kind),
                state,
                count,
                items,
            });
        }
    }
    out
}

/// The most recently started runs, newest first, from the runs index
/// (`workspace::runs_index`), so a page costs the same at ten runs or a
/// hundred thousand.
fn recent_runs(layout: &Layout, active: &[ActiveRunView]) -> Vec<RunSummary> {
    let dir = runs::runs_dir(layout);
    crate::workspace::runs_index::newest_read_only(layout, Some(RECENT_RUNS))
        .into_iter()
        .map(|e| e.run_id)
        .filter(|id| dir.join(id).is_dir())
        .map(|id| {
            let view = runs::inspect(&id, &dir.join(&id));
            let last = view.stage_results.last();
            // A run with no stage result yet still names its item while active.
            let now = active
                .iter()
                .find(|r| r.run_id.as_deref() == Some(id.as_str()));
            RunSummary {
                active: now.is_some(),
                current_stage: now.and_then(|r| r.stage.clone()),
                last_stage: last.map(|s| s.stage.clone()),
                last_result: last.map(|s| s.terminal_result.clone()),
                run_id: id,
                status: view.status,
                work_item_kind: view
                    .work_item_kind
                    .or_else(|| now.and_then(|r| r.work_item_kind.clone())),
                work_item_id: view
                    .work_item_id
                    .or_else(|| now.and_then(|r| r.work_item_id.clone())),
                stage_count: view.stage_result_count,
                failure_class: view.failure_class,
                started_at: view.started_at,
                completed_at: view.completed_at,
            }
        })
        .collect()
}

/// The last router decisions in the event log (read from its tail only).
fn recent_transitions(path: &Path) -> Vec<Value> {
    let Ok(mut file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(EVENT_TAIL_BYTES);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return Vec::new();
    }
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut lines = text.lines();
    if start > 0 {
        lines.next(); // a partial first line
    }
    let mut found: Vec<Value> = lines
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event_type"] == "router_decision")
        .map(|mut v| {
            let at = v["occurred_at"].take();
            let mut data = v["data"].take();
            if let Some(o) = data.as_object_mut() {
                o.insert("occurred_at".into(), at);
            }
            data
        })
        .collect();
    let skip = found.len().saturating_sub(RECENT_TRANSITIONS);
    found.drain(..skip);
    found
}

/// A run's trace (the stored `run_trace.json`, else one derived from its
/// stage results), or `None` when the run does not exist.
pub fn run_trace(layout: &Layout, run: &str) -> Option<Value> {
    let (id, dir) = runs::resolve(layout, run).ok()?;
    Some(runs::load_trace(&id, &dir).0)
}
