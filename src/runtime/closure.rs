//! Closure: the completion behaviour of the planning loop. Claiming a root
//! spec (one with a `Root-Idea-ID` that is its own root) opens a closure
//! target under `arbiter/targets/<root>.json` and copies its contract (the
//! spec and, when found, the seed idea) under `arbiter/contracts/`. When the
//! backlog has drained and no work of that lineage is open, the runtime runs
//! the loop's completion target (the arbiter) with no work item: a pass
//! closes the target, a gap opens a remediation incident and the target
//! stays open for another judgement once that work is done, a block
//! suppresses the target until new lineage work finishes.

use crate::workspace::documents::{DocKind, WorkDocument};
use crate::workspace::layout::Layout;
use crate::workspace::Error as WsError;
use crate::workspace::{atomic, clock, queue, safe_fs};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetState {
    pub schema_version: String,
    pub kind: String,
    pub root_spec_id: String,
    pub root_idea_id: Option<String>,
    pub root_spec_path: String,
    pub root_idea_path: Option<String>,
    pub rubric_path: String,
    pub latest_verdict_path: Option<String>,
    pub latest_report_path: Option<String>,
    pub closure_open: bool,
    pub closure_blocked_by_lineage_work: bool,
    pub blocking_work_ids: Vec<String>,
    pub opened_at: String,
    pub closed_at: Option<String>,
    pub last_arbiter_run_id: Option<String>,
    /// Ours: the arbiter blocked, or found gaps too often; wait for new
    /// lineage work before judging again. Kept in `state/closure_extras.json`
    /// (the reference's strict model rejects any key it does not know).
    #[serde(skip)]
    pub suppressed: bool,
    /// Ours: remediation rounds so far (also in `state/closure_extras.json`).
    #[serde(skip)]
    pub gap_count: u32,
}

/// Our bookkeeping of the closure targets, by root spec id (ours; the
/// reference ignores it). A target the reference opened has none: not
/// suppressed, no rounds yet.
pub const EXTRAS_FILE: &str = "state/closure_extras.json";

#[derive(Debug, Default, Serialize, Deserialize)]
struct TargetExtras {
    suppressed: bool,
    gap_count: u32,
}

fn load_extras(layout: &Layout) -> serde_json::Map<String, serde_json::Value> {
    safe_fs::read_to_string_capped(&layout.runtime.join(EXTRAS_FILE), safe_fs::MAX_STATE_BYTES)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["targets"].as_object().cloned())
        .unwrap_or_default()
}

fn save_extras(layout: &Layout, t: &TargetState) -> Result<(), WsError> {
    let mut targets = load_extras(layout);
    let mine = TargetExtras {
        suppressed: t.suppressed,
        gap_count: t.gap_count,
    };
    targets.insert(
        t.root_spec_id.clone(),
        serde_json::to_value(mine).expect("extras serialize"),
    );
    let doc =
        serde_json::json!({"schema_version": "1.0", "kind": "closure_extras", "targets": targets});
    let path = layout.runtime.join(EXTRAS_FILE);
    let mut text = serde_json::to_string_pretty(&doc).expect("extras serialize");
    text.push('\n');
    atomic::write_atomic(&path, text.as_bytes()).map_err(|e| WsError::io(&path, e))
}

/// Remediation rounds per target before it waits for an operator (or new
/// lineage work) instead of being judged again: closure cannot cycle forever.
pub const MAX_GAP_ROUNDS: u32 = 3;

fn targets_dir(layout: &Layout) -> PathBuf {
    layout.runtime.join("arbiter/targets")
}

fn save(layout: &Layout, t: &TargetState) -> Result<(), WsError> {
    let dir = targets_dir(layout);
    safe_fs::create_dir_all(&dir).map_err(|e| WsError::io(&dir, e))?;
    save_extras(layout, t)?;
    let path = dir.join(format!("{}.json", t.root_spec_id));
    let mut text = serde_json::to_string_pretty(t).expect("target serializes");
    text.push('\n');
    atomic::write_atomic(&path, text.as_bytes()).map_err(|e| WsError::io(&path, e))
}

pub fn load(layout: &Layout, root: &str) -> Option<TargetState> {
    let path = targets_dir(layout).join(format!("{root}.json"));
    let text = safe_fs::read_to_string_capped(&path, safe_fs::MAX_DOCUMENT_BYTES).ok()?;
    let mut t: TargetState = serde_json::from_str(&text).ok()?;
    if let Some(x) = load_extras(layout)
        .get(root)
        .and_then(|v| serde_json::from_value::<TargetExtras>(v.clone()).ok())
    {
        t.suppressed = x.suppressed;
        t.gap_count = x.gap_count;
    }
    Some(t)
}

/// Every target, in root id order (unreadable files are skipped).
pub fn all(layout: &Layout) -> Vec<TargetState> {
    let mut names: Vec<String> = std::fs::read_dir(targets_dir(layout))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .iter()
        .filter_map(|n| n.strip_suffix(".json"))
        .filter_map(|root| load(layout, root))
        .collect()
}

/// Open a target when `spec` is a root spec; no-op when it is not, or when a target exists.
pub fn open_for_spec(layout: &Layout, spec: &WorkDocument) -> Result<bool, WsError> {
    let lineage = spec.lineage();
    let id = spec.id().to_string();
    let Some(idea) = lineage.root_idea_id.clone() else {
        return Ok(false);
    };
    if lineage.root_spec_id.as_deref().is_some_and(|r| r != id) || load(layout, &id).is_some() {
        return Ok(false);
    }
    let contracts = layout.runtime.join("arbiter/contracts");
    let spec_rel = format!("arbiter/contracts/root-specs/{id}.md");
    let spec_path = layout.runtime.join(&spec_rel);
    let specs_dir = contracts.join("root-specs");
    safe_fs::create_dir_all(&specs_dir).map_err(|e| WsError::io(&specs_dir, e))?;
    atomic::write_atomic(&spec_path, spec.to_markdown().as_bytes())
        .map_err(|e| WsError::io(&spec_path, e))?;
    // The seed idea, found as the reference finds it (the spec's references,
    // then `ideas/inbox/<source id>.md`, then `ideas/inbox/<root idea id>.md`),
    // but only inside the workspace and only a regular file of bounded size.
    let idea_rel = format!("arbiter/contracts/ideas/{idea}.md");
    // When none is found, the contract says so: the target keeps a path
    // (the reference's model requires one, and reads our targets).
    let bytes = seed_idea(layout, spec, &idea).unwrap_or_else(|| {
        format!(
            "# {idea}

The seed idea of root spec {id} was not found when its closure target opened; judge the spec alone.
"
        )
        .into_bytes()
    });
    let ideas_dir = contracts.join("ideas");
    safe_fs::create_dir_all(&ideas_dir).map_err(|e| WsError::io(&ideas_dir, e))?;
    let dest = layout.runtime.join(&idea_rel);
    atomic::write_atomic(&dest, &bytes).map_err(|e| WsError::io(&dest, e))?;
    let idea_path = Some(format!("millrace-agents/{idea_rel}"));
    save(
        layout,
        &TargetState {
            schema_version: "1.0".into(),
            kind: "closure_target_state".into(),
            root_spec_id: id.clone(),
            root_idea_id: Some(idea),
            root_spec_path: format!("millrace-agents/{spec_rel}"),
            root_idea_path: idea_path,
            rubric_path: format!("millrace-agents/arbiter/rubrics/{id}.md"),
            latest_verdict_path: None,
            latest_report_path: None,
            closure_open: true,
            closure_blocked_by_lineage_work: false,
            blocking_work_ids: vec![],
            opened_at: clock::now_rfc3339(),
            closed_at: None,
            last_arbiter_run_id: None,
            suppressed: false,
            gap_count: 0,
        },
    )?;
    Ok(true)
}

/// The open target that restricts claims to its lineage: open, not
/// suppressed, and not waiting on lineage work that cannot progress
/// (`closure_blocked_by_lineage_work`, as `ready` last found it). The
/// first by root id when, unusually, there are several.
pub fn actionable(layout: &Layout) -> Option<TargetState> {
    all(layout)
        .into_iter()
        .find(|t| t.closure_open && !t.suppressed && !t.closure_blocked_by_lineage_work)
}

/// The seed idea's markdown for a root spec, if one of the places the
/// reference looks holds it.
fn seed_idea(layout: &Layout, spec: &WorkDocument, idea: &str) -> Option<Vec<u8>> {
    let inbox = |name: &str| layout.ideas_inbox().join(format!("{name}.md"));
    let mut candidates: Vec<PathBuf> = spec
        .list("References")
        .iter()
        .map(|r| layout.root.join(r))
        .collect();
    if let Some(source) = spec.scalar("Source-ID") {
        candidates.push(inbox(source));
    }
    candidates.push(inbox(idea));
    candidates
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .find_map(|p| read_within(layout, p))
}

/// A regular file inside the workspace, at most 1 MiB; never through a link.
fn read_within(layout: &Layout, path: &std::path::Path) -> Option<Vec<u8>> {
    let rel = path.strip_prefix(&layout.root).ok()?;
    if rel
        .components()
        .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return None;
    }
    safe_fs::read_capped(path, 1 << 20).ok()
}

/// Ids of open work (queued or active; blocked too when `include_blocked`) of a root's lineage.
fn open_lineage_work(layout: &Layout, root: &str, include_blocked: bool) -> Vec<String> {
    let mut out = Vec::new();
    for kind in [DocKind::Task, DocKind::Spec, DocKind::Incident] {
        let [entry, active, _, blocked] = queue::states(kind);
        let mut states = vec![entry, active];
        if include_blocked {
            states.push(blocked);
        }
        for state in states {
            for id in queue::list_ids(layout, kind, state) {
                let path = queue::state_dir(layout, kind, state).join(format!("{id}.md"));
                let Ok(doc) = queue::read_item(kind, &path) else {
                    continue;
                };
                let l = doc.lineage();
                if id == root || l.root_spec_id.as_deref() == Some(root) {
                    out.push(id);
                }
            }
        }
    }
    out
}

/// The first open target ready to be judged (no open lineage work), updating
/// the blocking-work bookkeeping of the others.
pub fn ready(
    layout: &Layout,
    blocked_work_suppresses: bool,
) -> Result<Option<TargetState>, WsError> {
    for mut t in all(layout)
        .into_iter()
        .filter(|t| t.closure_open && !t.suppressed)
    {
        let mut blocking = open_lineage_work(layout, &t.root_spec_id, blocked_work_suppresses);
        // Work of this lineage filed under another root id: judging now
        // would miss it (the reference blocks the target and writes a diagnostic).
        let drift = if blocking.is_empty() {
            super::lineage_integrity::scan(layout, &t)
        } else {
            Vec::new()
        };
        blocking.extend(drift.iter().map(|f| f.work_item_id.clone()));
        let blocked = !blocking.is_empty();
        if t.closure_blocked_by_lineage_work != blocked || t.blocking_work_ids != blocking {
            t.closure_blocked_by_lineage_work = blocked;
            t.blocking_work_ids = blocking;
            save(layout, &t)?;
            if !drift.is_empty() {
                super::lineage_integrity::write_diagnostic(layout, &t, &drift)?;
            }
        }
        if !blocked {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

/// Apply the arbiter's verdict to a target: `pass`, `gap` or `blocked`.
/// `latest_verdict_path` and `latest_report_path` are the files the arbiter
/// wrote (workspace-relative), `None` when it wrote none: the target never
/// names a file that does not exist.
pub fn record_verdict(
    layout: &Layout,
    root: &str,
    run_id: &str,
    verdict: &str,
    latest_verdict_path: Option<String>,
    latest_report_path: Option<String>,
) -> Result<(), WsError> {
    let Some(mut t) = load(layout, root) else {
        return Ok(());
    };
    t.last_arbiter_run_id = Some(run_id.to_string());
    t.latest_verdict_path = latest_verdict_path;
    t.latest_report_path = latest_report_path;
    match verdict {
        "pass" => {
            t.closure_open = false;
            t.closed_at = Some(clock::now_rfc3339());
        }
        "blocked" => t.suppressed = true,
        _ => {
            t.gap_count += 1;
            if t.gap_count >= MAX_GAP_ROUNDS {
                t.suppressed = true;
            }
        }
    }
    save(layout, &t)
}

/// New lineage work finished: a target the arbiter blocked may be judged
/// again. One that ran out of remediation rounds stays suppressed (the
/// remediation work itself must not re-arm it).
pub fn lineage_progressed(layout: &Layout, root: &str) -> Result<(), WsError> {
    match load(layout, root) {
        Some(mut t) if t.suppressed && t.gap_count < MAX_GAP_ROUNDS => {
            t.suppressed = false;
            save(layout, &t)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_bookkeeping_lives_beside_the_target_in_the_references_schema() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.runtime.join("state")).unwrap();
        let t = TargetState {
            schema_version: "1.0".into(),
            kind: "closure_target_state".into(),
            root_spec_id: "spec-a".into(),
            root_idea_id: Some("idea-a".into()),
            root_spec_path: "millrace-agents/arbiter/contracts/root-specs/spec-a.md".into(),
            root_idea_path: Some("millrace-agents/arbiter/contracts/ideas/idea-a.md".into()),
            rubric_path: "millrace-agents/arbiter/rubrics/spec-a.md".into(),
            latest_verdict_path: None,
            latest_report_path: None,
            closure_open: true,
            closure_blocked_by_lineage_work: false,
            blocking_work_ids: vec![],
            opened_at: "2026-04-15T12:00:00Z".into(),
            closed_at: None,
            last_arbiter_run_id: None,
            suppressed: true,
            gap_count: 2,
        };
        save(&layout, &t).unwrap();
        let stored: serde_json::Value = serde_json::from_slice(
            &std::fs::read(layout.runtime.join("arbiter/targets/spec-a.json")).unwrap(),
        )
        .unwrap();
        assert!(stored.get("suppressed").is_none() && stored.get("gap_count").is_none());
        let loaded = load(&layout, "spec-a").unwrap();
        assert_eq!((loaded.suppressed, loaded.gap_count), (true, 2));
        // A target the reference opened has no bookkeeping of ours.
        std::fs::remove_file(layout.runtime.join(EXTRAS_FILE)).unwrap();
        let fresh = load(&layout, "spec-a").unwrap();
        assert_eq!((fresh.suppressed, fresh.gap_count), (false, 0));
    }

    #[test]
    fn a_target_whose_seed_idea_is_missing_still_names_an_idea_contract() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.runtime.join("state")).unwrap();
        let json = serde_json::json!({
            "spec_id": "spec-a", "title": "spec a", "summary": "s", "source_type": "manual",
            "goals": ["g"], "non_goals": ["n"], "constraints": ["c"], "acceptance": ["a"],
            "references": ["r"], "created_at": "2026-04-15T12:00:00Z", "created_by": "tests",
            "root_idea_id": "idea-a", "root_spec_id": "spec-a",
        });
        let spec =
            WorkDocument::from_json(DocKind::Spec, &json.to_string(), "spec-a.json").unwrap();
        assert!(open_for_spec(&layout, &spec).unwrap());
        let t = load(&layout, "spec-a").unwrap();
        let path = t.root_idea_path.expect("the reference requires a path");
        let text = std::fs::read_to_string(layout.root.join(path)).unwrap();
        assert!(text.contains("was not found"), "{text}");
    }
}
