//! The scheduler: which work item runs next. Planning work (incoming
//! incidents, then queued specs) comes before execution (queued tasks),
//! then learning requests, as in the reference; within a queue, the lowest
//! id first. The queue directories are indexed in memory and re-read only
//! when an index runs dry, after intake, or when a directory's modification
//! time shows that someone else changed it, so claiming from a queue of
//! 10,000 tasks does not list the directory at every stage.

use crate::workspace::documents::DocKind;
use crate::workspace::layout::Layout;
use crate::workspace::queue;
use std::collections::{BTreeMap, BTreeSet};

/// Claim order: kind and the plane its work runs on.
pub const ORDER: [(DocKind, &str); 4] = [
    (DocKind::Incident, "planning"),
    (DocKind::Spec, "planning"),
    (DocKind::Task, "execution"),
    (DocKind::LearningRequest, "learning"),
];

#[derive(Debug, Default)]
pub struct Scheduler {
    /// Queued ids per kind, as last read from disk.
    index: BTreeMap<&'static str, BTreeSet<String>>,
    /// Kinds whose index must be re-read before use.
    stale: BTreeSet<&'static str>,
    /// Each queue directory's modification time when the index last matched
    /// it: a different time means someone else added (or removed) items.
    seen: BTreeMap<&'static str, Option<std::time::SystemTime>>,
}

fn mtime(layout: &Layout, kind: DocKind) -> Option<std::time::SystemTime> {
    std::fs::metadata(queue::state_dir(layout, kind, queue::states(kind)[0]))
        .and_then(|m| m.modified())
        .ok()
}

impl Scheduler {
    pub fn new() -> Scheduler {
        let mut s = Scheduler::default();
        s.invalidate_all();
        s
    }

    /// Forget what is indexed (after intake or a control command).
    pub fn invalidate_all(&mut self) {
        for (k, _) in ORDER {
            self.stale.insert(k.tag());
        }
    }

    fn refresh(&mut self, layout: &Layout, kind: DocKind) {
        let entry = queue::states(kind)[0];
        let before = mtime(layout, kind);
        let ids = queue::list_ids(layout, kind, entry);
        self.index.insert(kind.tag(), ids.into_iter().collect());
        self.stale.remove(kind.tag());
        self.seen.insert(kind.tag(), before);
    }

    /// The next queued item of a kind (lowest id first), re-reading the
    /// directory when the index is stale or empty, or when the directory
    /// changed since it was read (items added while the daemon runs).
    pub fn peek(&mut self, layout: &Layout, kind: DocKind) -> Option<String> {
        let tag = kind.tag();
        let changed = self.seen.get(tag).is_none_or(|t| *t != mtime(layout, kind));
        if changed || self.stale.contains(tag) || self.index.get(tag).is_none_or(BTreeSet::is_empty)
        {
            self.refresh(layout, kind);
        }
        self.index.get(tag).and_then(|s| s.iter().next().cloned())
    }

    /// Drop an id from the index (it is being claimed, or is gone).
    pub fn take(&mut self, kind: DocKind, id: &str) {
        if let Some(s) = self.index.get_mut(kind.tag()) {
            s.remove(id);
        }
    }

    /// The runtime itself just moved an item out of a queue: that change of
    /// the directory's time is not news.
    pub fn own_change(&mut self, layout: &Layout, kind: DocKind) {
        if !self.stale.contains(kind.tag()) {
            self.seen.insert(kind.tag(), mtime(layout, kind));
        }
    }

    /// Queue depths per plane (execution, planning, learning) from the index.
    pub fn depths(&mut self, layout: &Layout) -> [u64; 3] {
        let mut d = [0u64; 3];
        for (kind, plane) in ORDER {
            if self.stale.contains(kind.tag()) {
                self.refresh(layout, kind);
            }
            let n = self.index.get(kind.tag()).map_or(0, BTreeSet::len) as u64;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn add(layout: &Layout, id: &str) {
        let dir = queue::state_dir(layout, DocKind::Task, "queue");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{id}.md")), "x").unwrap();
    }

    #[test]
    fn items_added_while_running_are_taken_in_id_order() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::new(tmp.path());
        for id in ["b-1", "b-2", "b-3"] {
            add(&layout, id);
        }
        let mut s = Scheduler::new();
        assert_eq!(s.peek(&layout, DocKind::Task).as_deref(), Some("b-1"));
        s.take(DocKind::Task, "b-1");
        std::fs::remove_file(queue::state_dir(&layout, DocKind::Task, "queue").join("b-1.md"))
            .unwrap();
        s.own_change(&layout, DocKind::Task);
        assert_eq!(s.peek(&layout, DocKind::Task).as_deref(), Some("b-2"));
        // Someone adds an item that sorts first.
        std::thread::sleep(std::time::Duration::from_millis(20));
        add(&layout, "a-0");
        assert_eq!(s.peek(&layout, DocKind::Task).as_deref(), Some("a-0"));
    }
}
