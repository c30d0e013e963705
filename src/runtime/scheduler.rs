//! The scheduler: which queued work item runs next, by the reference's
//! rules. Planning work (incoming incidents, then queued specs) comes
//! before execution (queued tasks), then learning requests. Within a queue
//! the oldest item runs first (`Created-At`; `Opened-At` for incidents),
//! ties broken by id. A task runs only once every task it `Depends-On` is
//! done: a dependency that is queued, active, blocked or missing keeps it
//! waiting (the reference never claims it either), and `waiting` says why.
//! While a closure target is open, only work of its lineage is claimable
//! (`lineage_root`), and `deferred_root_specs` names the root specs held back.
//!
//! The queue directories are indexed in memory: a document is parsed once
//! and again only when its file changes, and a directory is re-listed only
//! when its modification time shows that someone else changed it, so
//! claiming from a queue of 10,000 tasks does not re-read it at every stage.

use crate::workspace::clock;
use crate::workspace::documents::{DocKind, WorkDocument};
use crate::workspace::layout::Layout;
use crate::workspace::{queue, safe_fs};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::SystemTime;

/// Claim order: kind and the plane its work runs on.
pub const ORDER: [(DocKind, &str); 4] = [
    (DocKind::Incident, "planning"),
    (DocKind::Spec, "planning"),
    (DocKind::Task, "execution"),
    (DocKind::LearningRequest, "learning"),
];

/// Claim order while a closure target is open: its lineage's tasks first,
/// then its planning work; learning waits (as in the reference).
pub const LINEAGE_ORDER: [(DocKind, &str); 3] = [
    (DocKind::Task, "execution"),
    (DocKind::Incident, "planning"),
    (DocKind::Spec, "planning"),
];

/// `Depends-On` items that stand for "no dependency", as the reference reads them.
const NO_DEPENDENCY: [&str; 3] = ["none", "n/a", "-"];

/// What the scheduler knows of one queued document.
#[derive(Debug, Clone)]
struct Meta {
    /// Sort key: microseconds since the epoch of its creation (an
    /// unparsable document sorts first, so the claim sets it aside at once).
    at: i64,
    depends_on: Vec<String>,
    /// The root spec whose lineage it belongs to, as the reference derives it.
    root: Option<String>,
    /// A spec that starts a lineage of its own.
    root_spec: bool,
    /// The file's (modification time, length) when it was parsed.
    file: Option<(SystemTime, u64)>,
}

impl Meta {
    fn of(kind: DocKind, doc: Option<&WorkDocument>, file: Option<(SystemTime, u64)>) -> Meta {
        let Some(doc) = doc else {
            return Meta {
                at: i64::MIN,
                depends_on: vec![],
                root: None,
                root_spec: false,
                file,
            };
        };
        let stamp = if kind == DocKind::Incident {
            "Opened-At"
        } else {
            "Created-At"
        };
        let l = doc.lineage();
        let manual = matches!(doc.scalar("Source-Type"), Some("idea" | "manual"));
        let root = match kind {
            _ if l.root_spec_id.is_some() => l.root_spec_id.clone(),
            DocKind::Task => l.spec_id.clone(),
            DocKind::Incident => l.source_spec_id.clone(),
            DocKind::Spec if manual => Some(doc.id().to_string()),
            _ => None,
        };
        let root_spec = kind == DocKind::Spec
            && match (&l.root_spec_id, &l.parent_spec_id) {
                (Some(r), _) => r == doc.id(),
                (None, Some(p)) if !p.trim().eq_ignore_ascii_case("none") => false,
                _ => manual,
            };
        Meta {
            at: doc
                .scalar(stamp)
                .and_then(clock::parse_micros)
                .unwrap_or(i64::MIN),
            depends_on: if kind == DocKind::Task {
                doc.list("Depends-On")
                    .iter()
                    .filter(|d| !NO_DEPENDENCY.contains(&d.trim().to_lowercase().as_str()))
                    .cloned()
                    .collect()
            } else {
                vec![]
            },
            root,
            root_spec,
            file,
        }
    }
}

/// The queue of one kind, in claim order.
#[derive(Debug, Default)]
struct KindIndex {
    order: BTreeSet<(i64, String)>,
    meta: HashMap<String, Meta>,
    /// The directory's modification time when the index last matched it.
    seen: Option<SystemTime>,
    stale: bool,
    /// `seen` was at least `SETTLED` old when the directory was listed, and
    /// nothing was taken or moved since: an empty index stands for the
    /// directory while its time stays `seen`.
    settled: bool,
}

/// How old a directory's time must be, when it is listed, for an empty
/// listing to stand while the time does not change: a name added later gets
/// a later time, even on a file system whose clock is coarse.
const SETTLED: std::time::Duration = std::time::Duration::from_secs(1);

/// A queued task that cannot run yet, and the dependencies it waits for
/// with the state each is in (`queue`, `active`, `blocked`, `missing`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub task_id: String,
    pub waits_for: Vec<(String, String)>,
}

#[derive(Debug, Default)]
pub struct Scheduler {
    kinds: BTreeMap<&'static str, KindIndex>,
    /// Ids in `tasks/done/`, and that directory's time when listed.
    done_tasks: (HashSet<String>, Option<SystemTime>),
}

fn dir_mtime(dir: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(dir).and_then(|m| m.modified()).ok()
}

fn queue_dir(layout: &Layout, kind: DocKind) -> std::path::PathBuf {
    queue::state_dir(layout, kind, queue::states(kind)[0])
}

impl Scheduler {
    pub fn new() -> Scheduler {
        let mut s = Scheduler::default();
        s.invalidate_all();
        s
    }

    /// Re-list every queue before its next use (after intake or a control command).
    pub fn invalidate_all(&mut self) {
        for (k, _) in ORDER {
            self.kinds.entry(k.tag()).or_default().stale = true;
        }
        self.done_tasks.1 = None;
    }

    fn refresh(&mut self, layout: &Layout, kind: DocKind) {
        let dir = queue_dir(layout, kind);
        let now = SystemTime::now();
        let before = dir_mtime(&dir);
        let ids = queue::list_ids(layout, kind, queue::states(kind)[0]);
        let index = self.kinds.entry(kind.tag()).or_default();
        let mut meta = HashMap::with_capacity(ids.len());
        for id in ids {
            let path = dir.join(format!("{id}.md"));
            let file = std::fs::metadata(&path)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())));
            let known = index
                .meta
                .remove(&id)
                .filter(|m| file.is_some() && m.file == file);
            let m = known.unwrap_or_else(|| {
                let doc = queue::read_item(kind, &path).ok();
                Meta::of(kind, doc.as_ref(), file)
            });
            meta.insert(id, m);
        }
        index.order = meta.iter().map(|(id, m)| (m.at, id.clone())).collect();
        index.meta = meta;
        index.seen = before;
        index.stale = false;
        index.settled = before
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age >= SETTLED);
    }

    /// The index of a kind, re-read when stale, changed on disk by someone
    /// else (items added while the daemon runs), or empty (unless an empty
    /// listing stands: `KindIndex::settled`).
    fn index(&mut self, layout: &Layout, kind: DocKind) -> &KindIndex {
        let current = dir_mtime(&queue_dir(layout, kind));
        let needs = self
            .kinds
            .get(kind.tag())
            .is_none_or(|i| i.stale || (i.order.is_empty() && !i.settled) || i.seen != current);
        if needs {
            self.refresh(layout, kind);
        }
        &self.kinds[kind.tag()]
    }

    fn done_tasks(&mut self, layout: &Layout) -> &HashSet<String> {
        let dir = queue::state_dir(layout, DocKind::Task, "done");
        let current = dir_mtime(&dir);
        if self.done_tasks.1.is_none() || self.done_tasks.1 != current {
            let ids = queue::list_ids(layout, DocKind::Task, "done");
            self.done_tasks = (ids.into_iter().collect(), current);
        }
        &self.done_tasks.0
    }

    /// The next claimable item of a kind: the oldest whose dependencies are
    /// done and, with `lineage_root`, that belongs to that root's lineage.
    pub fn next(
        &mut self,
        layout: &Layout,
        kind: DocKind,
        lineage_root: Option<&str>,
    ) -> Option<String> {
        let index = self.index(layout, kind);
        let candidates: Vec<(String, Vec<String>)> = index
            .order
            .iter()
            .filter_map(|(_, id)| {
                let m = &index.meta[id];
                let in_lineage = lineage_root.is_none_or(|r| m.root.as_deref() == Some(r));
                in_lineage.then(|| (id.clone(), m.depends_on.clone()))
            })
            .collect();
        if candidates.iter().all(|(_, deps)| deps.is_empty()) {
            return candidates.into_iter().next().map(|(id, _)| id);
        }
        let done = self.done_tasks(layout);
        candidates
            .into_iter()
            .find(|(_, deps)| deps.iter().all(|d| done.contains(d)))
            .map(|(id, _)| id)
    }

    /// Drop an id from the index (it is being claimed, or is gone).
    pub fn take(&mut self, kind: DocKind, id: &str) {
        if let Some(index) = self.kinds.get_mut(kind.tag()) {
            if let Some(m) = index.meta.remove(id) {
                index.order.remove(&(m.at, id.to_string()));
                index.settled = false;
            }
        }
    }

    /// The runtime itself just moved an item out of a queue: that change of
    /// the directory's time is not news.
    pub fn own_change(&mut self, layout: &Layout, kind: DocKind) {
        let current = dir_mtime(&queue_dir(layout, kind));
        if let Some(index) = self.kinds.get_mut(kind.tag()) {
            if !index.stale {
                index.seen = current;
                // A time of now was not listed: an empty index no longer stands.
                index.settled = false;
            }
        }
    }

    /// Queued tasks that wait for a dependency, oldest first.
    /// Reads only the documents that mention `Depends-On:` (status and
    /// `queue ls` call it; most queues have no dependencies at all).
    pub fn waiting(&mut self, layout: &Layout) -> Vec<Waiting> {
        let dir = queue_dir(layout, DocKind::Task);
        let mut tasks: Vec<(i64, String, Vec<String>)> = Vec::new();
        for id in queue::list_ids(layout, DocKind::Task, queue::states(DocKind::Task)[0]) {
            let path = dir.join(format!("{id}.md"));
            let Ok(raw) = safe_fs::read_to_string_capped(&path, safe_fs::MAX_DOCUMENT_BYTES) else {
                continue;
            };
            if !raw.contains("Depends-On:") {
                continue;
            }
            let doc = WorkDocument::parse_as(DocKind::Task, &raw, &path.display().to_string()).ok();
            let m = Meta::of(DocKind::Task, doc.as_ref(), None);
            if !m.depends_on.is_empty() {
                tasks.push((m.at, id, m.depends_on));
            }
        }
        tasks.sort();
        let tasks = tasks.into_iter().map(|(_, id, deps)| (id, deps));
        let done = self.done_tasks(layout).clone();
        tasks
            .into_iter()
            .filter_map(|(task_id, deps)| {
                let waits_for: Vec<(String, String)> = deps
                    .into_iter()
                    .filter(|d| !done.contains(d))
                    .map(|d| {
                        let state = dependency_state(layout, &d);
                        (d, state)
                    })
                    .collect();
                (!waits_for.is_empty()).then_some(Waiting { task_id, waits_for })
            })
            .collect()
    }

    /// Queued root specs of lineages other than `open_root`, oldest first:
    /// the specs an open closure target holds back.
    pub fn deferred_root_specs(&mut self, layout: &Layout, open_root: &str) -> Vec<String> {
        let index = self.index(layout, DocKind::Spec);
        index
            .order
            .iter()
            .filter(|(_, id)| {
                let m = &index.meta[id];
                m.root_spec && m.root.as_deref().is_some_and(|r| r != open_root)
            })
            .map(|(_, id)| id.clone())
            .collect()
    }

    /// Queue depths per plane (execution, planning, learning) from the index.
    pub fn depths(&mut self, layout: &Layout) -> [u64; 3] {
        let mut d = [0u64; 3];
        for (kind, plane) in ORDER {
            let n = self.index(layout, kind).order.len() as u64;
            let i = match plane {
                "execution" => 0,
                "planning" => 1,
                _ => 2,
            };
            d[i] += n;
        }
        d
    }
}

/// Where a dependency is: the queue state holding it, or `missing`.
fn dependency_state(layout: &Layout, id: &str) -> String {
    match queue::locate(layout, id) {
        Ok(Some(found)) if found.kind == DocKind::Task => found.state.to_string(),
        Ok(Some(found)) => format!("{} {}", found.kind.tag(), found.state),
        _ => "missing".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(layout: &Layout, id: &str, created: &str, deps: &[&str]) {
        let dir = queue::state_dir(layout, DocKind::Task, "queue");
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = format!(
            "# {id}\n\nTask-ID: {id}\nTitle: {id}\nCreated-At: {created}\nCreated-By: test\n\nDepends-On:\n"
        );
        for d in deps.iter().chain(&["none"]) {
            text.push_str(&format!("- {d}\n"));
        }
        text.push_str("\nTarget-Paths:\n- src\n\nAcceptance:\n- ok\n\nRequired-Checks:\n- true\n\nReferences:\n- x\n\nRisk:\n- low\n");
        std::fs::write(dir.join(format!("{id}.md")), text).unwrap();
    }

    fn finish(layout: &Layout, id: &str) {
        let from = queue::state_dir(layout, DocKind::Task, "queue").join(format!("{id}.md"));
        let done = queue::state_dir(layout, DocKind::Task, "done");
        std::fs::create_dir_all(&done).unwrap();
        std::fs::rename(from, done.join(format!("{id}.md"))).unwrap();
    }

    #[test]
    fn oldest_first_then_id_and_dependencies_wait() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::new(tmp.path());
        add(&layout, "a-late", "2026-03-01T12:00:02Z", &[]);
        add(&layout, "z-early", "2026-03-01T12:00:00Z", &["a-late"]);
        add(&layout, "m-mid", "2026-03-01T12:00:01Z", &[]);
        let mut s = Scheduler::new();
        assert_eq!(
            s.next(&layout, DocKind::Task, None).as_deref(),
            Some("m-mid"),
            "z-early is oldest but waits for a-late"
        );
        let waiting = s.waiting(&layout);
        assert_eq!(waiting.len(), 1);
        assert_eq!(
            waiting[0].waits_for,
            vec![("a-late".to_string(), "queue".to_string())]
        );
        s.take(DocKind::Task, "m-mid");
        finish(&layout, "m-mid");
        s.own_change(&layout, DocKind::Task);
        assert_eq!(
            s.next(&layout, DocKind::Task, None).as_deref(),
            Some("a-late")
        );
        s.take(DocKind::Task, "a-late");
        finish(&layout, "a-late");
        s.own_change(&layout, DocKind::Task);
        assert_eq!(
            s.next(&layout, DocKind::Task, None).as_deref(),
            Some("z-early")
        );
    }

    #[test]
    fn items_added_while_running_are_seen() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::new(tmp.path());
        add(&layout, "b-1", "2026-03-01T12:00:01Z", &[]);
        let mut s = Scheduler::new();
        assert_eq!(s.next(&layout, DocKind::Task, None).as_deref(), Some("b-1"));
        std::thread::sleep(std::time::Duration::from_millis(20));
        add(&layout, "b-0", "2026-03-01T12:00:00Z", &[]);
        assert_eq!(s.next(&layout, DocKind::Task, None).as_deref(), Some("b-0"));
    }
    #[test]
    fn an_empty_queue_is_listed_again_only_when_its_time_moves() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::new(tmp.path());
        let dir = queue::state_dir(&layout, DocKind::Task, "queue");
        std::fs::create_dir_all(&dir).unwrap();
        let old = SystemTime::now() - std::time::Duration::from_secs(10);
        let set_time = |t: SystemTime| {
            std::fs::File::open(&dir).unwrap().set_modified(t).unwrap();
        };
        set_time(old);
        let mut s = Scheduler::new();
        assert_eq!(s.next(&layout, DocKind::Task, None), None);
        // Listed with a settled time: a file slipped in under that same time
        // is not looked for (the time is the key)...
        add(&layout, "c-1", "2026-03-01T12:00:01Z", &[]);
        set_time(old);
        assert_eq!(s.next(&layout, DocKind::Task, None), None);
        // ...and any change of the time is.
        set_time(old + std::time::Duration::from_secs(1));
        assert_eq!(s.next(&layout, DocKind::Task, None).as_deref(), Some("c-1"));
        // A recent time is not trusted: an empty queue is listed each time,
        // so a file slipped in under the time last listed is found.
        s.take(DocKind::Task, "c-1");
        finish(&layout, "c-1");
        s.own_change(&layout, DocKind::Task);
        assert_eq!(s.next(&layout, DocKind::Task, None), None);
        let seen = dir_mtime(&dir).unwrap();
        add(&layout, "c-2", "2026-03-01T12:00:02Z", &[]);
        set_time(seen);
        assert_eq!(s.next(&layout, DocKind::Task, None).as_deref(), Some("c-2"));
    }
}
