//! The scheduler: which work item runs next. Planning work (incoming
//! incidents, then queued specs) comes before execution (queued tasks),
//! then learning requests, as in the reference; within a queue, the lowest
//! id first. The queue directories are indexed in memory and re-read only
//! when an index runs dry (or after intake), so claiming from a queue of
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
        let ids = queue::list_ids(layout, kind, entry);
        self.index.insert(kind.tag(), ids.into_iter().collect());
        self.stale.remove(kind.tag());
    }

    /// The next queued item of a kind, re-reading the directory when the index is stale or empty.
    pub fn peek(&mut self, layout: &Layout, kind: DocKind) -> Option<String> {
        let tag = kind.tag();
        if self.stale.contains(tag) || self.index.get(tag).is_none_or(BTreeSet::is_empty) {
            self.refresh(layout, kind);
        }
        self.index.get(tag).and_then(|s| s.iter().next().cloned())
    }

    /// Drop an id from the index (it was claimed, or is gone).
    pub fn take(&mut self, kind: DocKind, id: &str) {
        if let Some(s) = self.index.get_mut(kind.tag()) {
            s.remove(id);
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
