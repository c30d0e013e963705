//! Recovery counters: per work item, per counter name (the names the loops'
//! thresholds declare). A counter only grows while its item is in the loop
//! and is dropped when the item leaves (done, blocked, handed off), so a
//! threshold's normal route runs at most `after` times per item: the
//! runtime side of the compiler's bounded-cycle proof.
//!
//! Stored in `state/recovery_counters.json` with the reference's entry shape
//! (`failure_class`, `work_item_kind`, `work_item_id`, the four count fields,
//! `last_updated_at`): the counter name is the `failure_class`, and the count
//! sits in the field of the same name, or `troubleshoot_attempt_count` for
//! names the reference does not have.

use crate::workspace::{clock, layout::Layout, state};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const FIELDS: [&str; 4] = [
    "troubleshoot_attempt_count",
    "mechanic_attempt_count",
    "fix_cycle_count",
    "consultant_invocations",
];

/// The reference field a counter's value is stored in.
fn field_for(counter: &str) -> &'static str {
    match counter {
        "mechanic_attempt_count" => "mechanic_attempt_count",
        "fix_cycle_count" => "fix_cycle_count",
        "consult_count" | "consultant_invocations" => "consultant_invocations",
        _ => "troubleshoot_attempt_count",
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// (work item kind, id) → counter → value.
    items: BTreeMap<(String, String), BTreeMap<String, u32>>,
    dirty: bool,
}

impl Counters {
    /// Read the counters file (missing or unreadable entries are skipped).
    pub fn load(layout: &Layout) -> Result<Counters, crate::workspace::Error> {
        let file = state::load_counters(layout)?;
        let mut c = Counters::default();
        for e in file.entries {
            let (Some(kind), Some(id), Some(name)) = (
                e.get("work_item_kind").and_then(Value::as_str),
                e.get("work_item_id").and_then(Value::as_str),
                e.get("failure_class").and_then(Value::as_str),
            ) else {
                continue;
            };
            let value = e.get(field_for(name)).and_then(Value::as_u64).unwrap_or(0) as u32;
            if value > 0 {
                c.items
                    .entry((kind.to_string(), id.to_string()))
                    .or_default()
                    .insert(name.to_string(), value);
            }
        }
        Ok(c)
    }

    pub fn get(&self, kind: &str, id: &str, counter: &str) -> u32 {
        self.items
            .get(&(kind.to_string(), id.to_string()))
            .and_then(|m| m.get(counter))
            .copied()
            .unwrap_or(0)
    }

    pub fn increment(&mut self, kind: &str, id: &str, counter: &str) -> u32 {
        let v = self
            .items
            .entry((kind.to_string(), id.to_string()))
            .or_default()
            .entry(counter.to_string())
            .or_insert(0);
        *v += 1;
        self.dirty = true;
        *v
    }

    /// Forget every counter of an item (it left the loop).
    pub fn clear_item(&mut self, kind: &str, id: &str) {
        if self
            .items
            .remove(&(kind.to_string(), id.to_string()))
            .is_some()
        {
            self.dirty = true;
        }
    }

    pub fn clear_all(&mut self) {
        if !self.items.is_empty() {
            self.items.clear();
            self.dirty = true;
        }
    }

    /// All counters of one item.
    pub fn of_item(&self, kind: &str, id: &str) -> BTreeMap<String, u32> {
        self.items
            .get(&(kind.to_string(), id.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    /// The reference's four snapshot fields for one item.
    pub fn snapshot_fields(&self, kind: &str, id: &str) -> [u64; 4] {
        let mut out = [0u64; 4];
        for (name, v) in self.of_item(kind, id) {
            let i = FIELDS
                .iter()
                .position(|f| *f == field_for(&name))
                .unwrap_or(0);
            out[i] += u64::from(v);
        }
        out
    }

    fn to_file(&self) -> state::RecoveryCounters {
        let now = clock::now_rfc3339();
        let mut file = state::RecoveryCounters::default();
        for ((kind, id), counters) in &self.items {
            for (name, value) in counters {
                let mut e = json!({
                    "failure_class": name,
                    "work_item_kind": kind,
                    "work_item_id": id,
                });
                for f in FIELDS {
                    e[f] = json!(if f == field_for(name) { *value } else { 0 });
                }
                e["last_updated_at"] = json!(now);
                file.entries.push(e);
            }
        }
        file
    }

    /// Write the file durably if anything changed since the last save.
    pub fn save_if_dirty(&mut self, layout: &Layout) -> std::io::Result<()> {
        if self.dirty {
            state::save_counters(layout, &self.to_file())?;
            self.dirty = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_item_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.state_dir()).unwrap();
        let mut c = Counters::default();
        assert_eq!(c.increment("task", "t-1", "fix_cycle_count"), 1);
        assert_eq!(c.increment("task", "t-1", "fix_cycle_count"), 2);
        c.increment("task", "t-1", "troubleshoot_resume_count");
        c.increment("task", "t-2", "consult_count");
        c.save_if_dirty(&layout).unwrap();
        let back = Counters::load(&layout).unwrap();
        assert_eq!(back.get("task", "t-1", "fix_cycle_count"), 2);
        assert_eq!(back.get("task", "t-1", "troubleshoot_resume_count"), 1);
        assert_eq!(back.snapshot_fields("task", "t-2"), [0, 0, 0, 1]);
        let mut back = back;
        back.clear_item("task", "t-1");
        assert_eq!(back.get("task", "t-1", "fix_cycle_count"), 0);
    }
}
