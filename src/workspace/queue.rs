//! Work items on disk and their state transitions. A work item is the file
//! `<kind dir>/<state>/<id>.md`; its state is the directory it sits in.
//!
//! - tasks, specs, learning requests: `queue` → `active` → `done` | `blocked`
//! - incidents: `incoming` → `active` → `resolved` | `blocked`
//!
//! Enqueueing creates the file atomically (no-clobber); a transition is one
//! rename plus directory fsyncs, so an item is always in exactly one state.
//! Each multi-step operation has numbered crash points (see
//! `atomic::crash_point`) and `reconcile` restores every derived fact
//! (snapshot depths, debris) after a crash.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::documents::{DocError, DocKind, IdeaDocument, WorkDocument};
use super::reserve::{self, Created, ReserveError};
use super::{atomic, events, ids, layout::Layout, state};

/// The states of a kind, in lifecycle order: entry, active, then the two ends.
pub fn states(kind: DocKind) -> [&'static str; 4] {
    match kind {
        DocKind::Incident => ["incoming", "active", "resolved", "blocked"],
        _ => ["queue", "active", "done", "blocked"],
    }
}

/// The directory of a kind, relative to `millrace-agents/`.
pub fn kind_dir(kind: DocKind) -> &'static str {
    match kind {
        DocKind::Task => "tasks",
        DocKind::Spec => "specs",
        DocKind::Incident => "incidents",
        DocKind::LearningRequest => "learning/requests",
    }
}

pub fn state_dir(layout: &Layout, kind: DocKind, state: &str) -> PathBuf {
    layout.path(&format!("{}/{state}", kind_dir(kind)))
}

/// Why a queue operation was refused. Nothing was changed.
#[derive(Debug)]
pub enum QueueError {
    Document(DocError),
    Id(ids::IdError),
    Duplicate {
        kind: DocKind,
        id: String,
        path: PathBuf,
    },
    DuplicateIdea {
        id: String,
        path: PathBuf,
    },
    NotFound {
        kind: DocKind,
        id: String,
        state: String,
    },
    IllegalTransition {
        kind: DocKind,
        from: String,
        to: String,
    },
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::Document(e) => write!(f, "{e}"),
            QueueError::Id(e) => write!(f, "{e}"),
            QueueError::Duplicate { kind, id, path } => {
                write!(f, "{kind} {id} already exists at {}", path.display())
            }
            QueueError::DuplicateIdea { id, path } => {
                write!(f, "idea {id} already exists at {}", path.display())
            }
            QueueError::NotFound { kind, id, state } => write!(f, "{kind} {id} is not in {state}"),
            QueueError::IllegalTransition { kind, from, to } => {
                write!(f, "a {kind} cannot move from {from} to {to}")
            }
            QueueError::Io { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for QueueError {}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> QueueError + '_ {
    move |error| QueueError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Where an item currently is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub kind: DocKind,
    pub state: &'static str,
    pub path: PathBuf,
}

/// Find an item of any kind by id, in the reference's lookup order
/// (tasks, specs, incidents, learning requests; each in lifecycle order).
pub fn locate(layout: &Layout, id: &str) -> Result<Option<Located>, ids::IdError> {
    ids::validate_id(id)?;
    for kind in [
        DocKind::Task,
        DocKind::Spec,
        DocKind::Incident,
        DocKind::LearningRequest,
    ] {
        if let Some(found) = locate_kind(layout, kind, id) {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

fn locate_kind(layout: &Layout, kind: DocKind, id: &str) -> Option<Located> {
    states(kind).into_iter().find_map(|state| {
        let path = state_dir(layout, kind, state).join(format!("{id}.md"));
        path.is_file().then_some(Located { kind, state, path })
    })
}

/// Number of `*.md` work items in a directory (0 when it does not exist).
pub fn count_items(dir: &Path) -> usize {
    match fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter(|e| is_item_name(&e.file_name().to_string_lossy()))
            .count(),
        Err(_) => 0,
    }
}

fn is_item_name(name: &str) -> bool {
    name.ends_with(".md") && !name.starts_with('.')
}

/// The ids of the items in one state, sorted.
pub fn list_ids(layout: &Layout, kind: DocKind, state: &str) -> Vec<String> {
    let mut ids: Vec<String> = fs::read_dir(state_dir(layout, kind, state))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    is_item_name(&name).then(|| name.trim_end_matches(".md").to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

/// Queue depths per plane as the reference counts them:
/// execution = queued tasks, planning = queued specs + incoming incidents,
/// learning = queued learning requests.
pub fn queue_depths(layout: &Layout) -> [u64; 3] {
    let n = |kind, state| count_items(&state_dir(layout, kind, state)) as u64;
    [
        n(DocKind::Task, "queue"),
        n(DocKind::Spec, "queue") + n(DocKind::Incident, "incoming"),
        n(DocKind::LearningRequest, "queue"),
    ]
}

/// Bring the snapshot's queue depths in line with the directories.
pub fn refresh_snapshot_depths(layout: &Layout) -> Result<(), QueueError> {
    let path = layout.snapshot_file();
    let mut snap = state::load_snapshot(layout).map_err(|e| QueueError::Io {
        path: path.clone(),
        error: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })?;
    let depths = queue_depths(layout);
    let current = [
        snap.queue_depth_execution,
        snap.queue_depth_planning,
        snap.queue_depth_learning,
    ];
    if current != depths {
        snap.set_queue_depths(depths);
        state::save_snapshot(layout, &mut snap).map_err(io_err(&path))?;
    }
    Ok(())
}

/// Read and check a document file in the queue tree: it must be a regular
/// file (not a link, FIFO or device; never blocks) of at most
/// `safe_fs::MAX_DOCUMENT_BYTES`, parse as `kind`, and its id must equal
/// its file stem.
pub fn read_item(kind: DocKind, path: &Path) -> Result<WorkDocument, QueueError> {
    let raw = super::safe_fs::read_to_string_capped(path, super::safe_fs::MAX_DOCUMENT_BYTES)
        .map_err(io_err(path))?;
    let name = path.display().to_string();
    let doc = WorkDocument::parse_as(kind, &raw, &name).map_err(QueueError::Document)?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if doc.id() != stem {
        return Err(QueueError::Document(DocError {
            file: name,
            field: Some(kind.id_label().to_string()),
            message: format!("is {:?} but the file is named {stem}.md", doc.id()),
        }));
    }
    Ok(doc)
}

/// Add a document to the entry state of its kind (`queue`, or `incoming`
/// for incidents). Refused, with nothing written, when the id exists in any
/// state of that kind (see `reserve`: unique even while the daemon moves
/// items).
///
/// Steps: 1 create the file, 2 refresh snapshot depths, 3 log the event.
pub fn enqueue(layout: &Layout, doc: &WorkDocument) -> Result<PathBuf, QueueError> {
    enqueue_as(layout, doc, None).map(|c| c.path)
}

/// `enqueue` on behalf of mailbox command `command_id`: applying the same
/// command again finds the item it created (`repeated`) instead of a
/// duplicate.
pub fn enqueue_as(
    layout: &Layout,
    doc: &WorkDocument,
    command_id: Option<&str>,
) -> Result<Created, QueueError> {
    let kind = doc.kind();
    let id = ids::validate_id(doc.id()).map_err(QueueError::Id)?;
    let entry = states(kind)[0];
    let dest = state_dir(layout, kind, entry).join(format!("{id}.md"));
    let created = reserve::create_unique(
        layout,
        kind.tag(),
        id,
        command_id,
        || locate_kind(layout, kind, id).map(|l| l.path),
        || {
            atomic::create_atomic(&dest, doc.to_markdown().as_bytes())
                .map(|()| dest.clone())
                .map_err(|error| QueueError::Io {
                    path: dest.clone(),
                    error,
                })
        },
    )
    .map_err(|e| reserve_err(e, kind, id))?;
    if created.repeated {
        return Ok(created);
    }
    atomic::crash_point("queue.enqueue", 1);
    refresh_snapshot_depths(layout)?;
    atomic::crash_point("queue.enqueue", 2);
    events::record(
        layout,
        "work_item_enqueued",
        json!({"work_item_kind": kind.tag(), "work_item_id": id, "state": entry}),
    )
    .map_err(io_err(&layout.event_log()))?;
    Ok(created)
}

fn reserve_err(e: ReserveError<QueueError>, kind: DocKind, id: &str) -> QueueError {
    match e {
        ReserveError::Taken { path } => QueueError::Duplicate {
            kind,
            id: id.to_string(),
            path,
        },
        ReserveError::Io { path, error } => QueueError::Io { path, error },
        ReserveError::Create(e) => e,
    }
}

/// Is `from → to` a legal transition for `kind`?
pub fn is_legal(kind: DocKind, from: &str, to: &str) -> bool {
    let [entry, active, end_ok, blocked] = states(kind);
    (from == entry && to == active)
        || (from == active && (to == end_ok || to == blocked || to == entry))
        || (from == blocked && to == entry)
}

/// Move an item from one state to another.
///
/// Steps: 1 log `work_item_transition_started`, 2 rename (the commit
/// point), 3 refresh snapshot depths, 4 log `work_item_transitioned`.
/// A crash anywhere leaves the item in exactly one state; `reconcile`
/// repairs the derived state afterwards.
pub fn transition(
    layout: &Layout,
    kind: DocKind,
    id: &str,
    from: &str,
    to: &str,
) -> Result<PathBuf, QueueError> {
    ids::validate_id(id).map_err(QueueError::Id)?;
    if !is_legal(kind, from, to) {
        return Err(QueueError::IllegalTransition {
            kind,
            from: from.to_string(),
            to: to.to_string(),
        });
    }
    let source = state_dir(layout, kind, from).join(format!("{id}.md"));
    let dest = state_dir(layout, kind, to).join(format!("{id}.md"));
    if !source.is_file() {
        return Err(QueueError::NotFound {
            kind,
            id: id.to_string(),
            state: from.to_string(),
        });
    }
    if dest.exists() {
        return Err(QueueError::Duplicate {
            kind,
            id: id.to_string(),
            path: dest,
        });
    }
    let data = json!({"work_item_kind": kind.tag(), "work_item_id": id, "from": from, "to": to});
    events::record(layout, "work_item_transition_started", data.clone())
        .map_err(io_err(&layout.event_log()))?;
    atomic::crash_point("queue.transition", 1);
    atomic::rename_durable(&source, &dest).map_err(io_err(&dest))?;
    atomic::crash_point("queue.transition", 2);
    refresh_snapshot_depths(layout)?;
    atomic::crash_point("queue.transition", 3);
    events::record(layout, "work_item_transitioned", data).map_err(io_err(&layout.event_log()))?;
    Ok(dest)
}

/// Claim the next queued item of a kind (lowest id first) into `active`.
pub fn claim_next(layout: &Layout, kind: DocKind) -> Result<Option<String>, QueueError> {
    let [entry, active, ..] = states(kind);
    match list_ids(layout, kind, entry).into_iter().next() {
        Some(id) => {
            transition(layout, kind, &id, entry, active)?;
            Ok(Some(id))
        }
        None => Ok(None),
    }
}

/// Stage an idea in `<workspace>/ideas/inbox/<id>.md` (no-clobber).
pub fn add_idea(layout: &Layout, idea: &IdeaDocument) -> Result<PathBuf, QueueError> {
    add_idea_as(layout, idea, None).map(|c| c.path)
}

/// `add_idea` on behalf of mailbox command `command_id` (see `enqueue_as`).
pub fn add_idea_as(
    layout: &Layout,
    idea: &IdeaDocument,
    command_id: Option<&str>,
) -> Result<Created, QueueError> {
    let dir = layout.ideas_inbox();
    super::safe_fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let dest = dir.join(format!("{}.md", idea.id));
    let created = reserve::create_unique(
        layout,
        "idea",
        &idea.id,
        command_id,
        || dest.is_file().then(|| dest.clone()),
        || {
            atomic::create_atomic(&dest, idea.markdown.as_bytes())
                .map(|()| dest.clone())
                .map_err(|error| QueueError::Io {
                    path: dest.clone(),
                    error,
                })
        },
    )
    .map_err(|e| match e {
        ReserveError::Taken { path } => QueueError::DuplicateIdea {
            id: idea.id.clone(),
            path,
        },
        other => reserve_err(other, DocKind::Spec, &idea.id),
    })?;
    if !created.repeated {
        events::record(layout, "idea_staged", json!({"idea_id": idea.id}))
            .map_err(io_err(&layout.event_log()))?;
    }
    Ok(created)
}

/// An item found in more than one state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub kind: DocKind,
    pub id: String,
    pub states: Vec<&'static str>,
}

/// Items present in more than one state of their kind.
pub fn find_duplicates(layout: &Layout) -> Vec<Duplicate> {
    let mut out = Vec::new();
    for kind in DocKind::ALL {
        let mut seen: std::collections::BTreeMap<String, Vec<&'static str>> = Default::default();
        for st in states(kind) {
            for id in list_ids(layout, kind, st) {
                seen.entry(id).or_default().push(st);
            }
        }
        out.extend(
            seen.into_iter()
                .filter(|(_, s)| s.len() > 1)
                .map(|(id, states)| Duplicate { kind, id, states }),
        );
    }
    out
}

/// Temp files left in state directories by interrupted writes of processes
/// that no longer run (a live process's temp file is a write in progress).
pub fn find_debris(layout: &Layout) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = DocKind::ALL
        .iter()
        .flat_map(|k| states(*k).map(|s| state_dir(layout, *k, s)))
        .collect();
    dirs.push(layout.state_dir());
    let mut out = Vec::new();
    for dir in dirs {
        if let Ok(entries) = fs::read_dir(&dir) {
            for e in entries.filter_map(Result::ok) {
                let name = e.file_name().to_string_lossy().into_owned();
                // A temp file of a live process is a write in progress, not debris.
                let live = atomic::temp_owner_pid(&name)
                    .is_some_and(|pid| pid == std::process::id() || super::lock::pid_alive(pid));
                if name.ends_with(atomic::TEMP_SUFFIX) && !live {
                    out.push(e.path());
                }
            }
        }
    }
    out.sort();
    out
}

/// What `reconcile` changed, one line per action.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReconcileReport {
    pub actions: Vec<String>,
}

/// Restore the queue invariants after a crash or a manual edit:
/// removes temp debris, resolves an item present in several states by
/// keeping the furthest one in its lifecycle (ends over active over entry),
/// and recomputes the snapshot's queue depths. Every action is logged.
pub fn reconcile(layout: &Layout) -> Result<ReconcileReport, QueueError> {
    let mut report = ReconcileReport::default();
    for path in find_debris(layout) {
        super::safe_fs::remove_file(&path).map_err(io_err(&path))?;
        report
            .actions
            .push(format!("removed debris {}", path.display()));
    }
    for dup in find_duplicates(layout) {
        // Lifecycle rank: entry 0, active 1, ends 2 (blocked after done/resolved).
        let keep = *dup
            .states
            .iter()
            .max_by_key(|s| states(dup.kind).iter().position(|x| x == *s))
            .expect("duplicates have states");
        for st in dup.states.iter().filter(|s| **s != keep) {
            let path = state_dir(layout, dup.kind, st).join(format!("{}.md", dup.id));
            super::safe_fs::remove_file(&path).map_err(io_err(&path))?;
            atomic::sync_dir(&state_dir(layout, dup.kind, st)).map_err(io_err(&path))?;
            report.actions.push(format!(
                "{} {}: removed copy in {st}, kept {keep}",
                dup.kind, dup.id
            ));
        }
    }
    let before = state::load_snapshot(layout).ok();
    refresh_snapshot_depths(layout)?;
    if let (Some(before), Ok(after)) = (before, state::load_snapshot(layout)) {
        if before.queue_depths_by_plane != after.queue_depths_by_plane {
            report
                .actions
                .push("recomputed snapshot queue depths".to_string());
        }
    }
    if !report.actions.is_empty() {
        events::record(
            layout,
            "workspace_reconciled",
            json!({"actions": report.actions}),
        )
        .map_err(io_err(&layout.event_log()))?;
    }
    Ok(report)
}
