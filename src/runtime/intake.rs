//! Idea intake: the reference's watcher turns each markdown file dropped in
//! `<workspace>/ideas/inbox/` into a queued root spec `idea-<name>` for the
//! planning loop. We poll the inbox once per tick (when `[watchers] enabled`
//! and `watch_ideas_inbox` are on), re-scanning only when the directory or
//! a file in it changed; ideas already in the inbox at startup are taken
//! too. An idea that some spec already represents (same id, same root idea,
//! or a spec citing the file) is skipped, so intake is idempotent.

use crate::workspace::documents::{DocKind, WorkDocument};
use crate::workspace::layout::Layout;
use crate::workspace::{clock, events, queue, safe_fs};
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;
use std::time::SystemTime;

/// Ideas larger than this are not read (and not turned into specs).
pub const MAX_IDEA_BYTES: u64 = 1 << 20;

/// What became of one idea file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intake {
    Queued { spec_id: String },
    AlreadyRepresented { spec_id: String },
    Unreadable { reason: String },
}

/// The inbox as last seen: its directory time and each file's fingerprint.
#[derive(Debug, Default)]
pub struct IdeaInbox {
    dir: Option<SystemTime>,
    files: HashMap<String, (SystemTime, u64)>,
    primed: bool,
}

impl IdeaInbox {
    /// Take new or changed ideas; returns the file names handled and what
    /// became of each.
    pub fn poll(&mut self, layout: &Layout) -> Vec<(String, Intake)> {
        let inbox = layout.ideas_inbox();
        let dir = std::fs::metadata(&inbox).and_then(|m| m.modified()).ok();
        if self.primed && dir == self.dir {
            return vec![];
        }
        self.primed = true;
        self.dir = dir;
        let mut names: Vec<String> = std::fs::read_dir(&inbox)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".md") && !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        let mut out = vec![];
        for name in names {
            let path = inbox.join(&name);
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            let print = (
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                meta.len(),
            );
            if self.files.get(&name) == Some(&print) {
                continue;
            }
            self.files.insert(name.clone(), print);
            let result = take_idea(layout, &path);
            out.push((name, result));
        }
        out
    }
}

/// `idea-<stem>` with anything outside `[A-Za-z0-9._-]` folded to `-`.
pub fn spec_id_for(stem: &str) -> String {
    let mut folded = String::new();
    for c in stem.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            folded.push(c);
        } else if !folded.ends_with('-') {
            folded.push('-');
        }
    }
    let trimmed = folded.trim_matches(|c| c == '-' || c == '.');
    let base = if trimmed.is_empty() { "idea" } else { trimmed };
    if base.starts_with("idea-") {
        base.to_string()
    } else {
        format!("idea-{base}")
    }
}

/// The idea's title (its first heading, else its first line, else the
/// file stem) and summary (the next distinct line).
pub fn title_and_summary(text: &str, stem: &str) -> (String, String) {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let title = lines
        .iter()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|l| l.trim_start_matches('#').trim())
        .find(|l| !l.is_empty())
        .map(str::to_string)
        .or_else(|| lines.first().map(|l| l.to_string()))
        .unwrap_or_else(|| stem.to_string());
    let summary = lines
        .iter()
        .map(|l| l.trim_start_matches('#').trim())
        .find(|l| !l.is_empty() && *l != title)
        .map(str::to_string)
        .unwrap_or_else(|| format!("Idea captured from {stem}"));
    (title, summary)
}

/// A regular file's text, at most `MAX_IDEA_BYTES`; never a link, FIFO or device.
fn read_idea(path: &Path) -> std::io::Result<String> {
    safe_fs::read_to_string_capped(path, MAX_IDEA_BYTES)
}

fn take_idea(layout: &Layout, path: &Path) -> Intake {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let spec_id = spec_id_for(&stem);
    let text = match read_idea(path) {
        Ok(t) => t,
        Err(e) => {
            let reason = e.to_string();
            let _ = events::record(
                layout,
                "idea_normalization_skipped",
                json!({"idea_path": path.display().to_string(), "spec_id": spec_id, "reason": reason}),
            );
            return Intake::Unreadable { reason };
        }
    };
    let reference = path
        .strip_prefix(&layout.root)
        .unwrap_or(path)
        .display()
        .to_string();
    if represented(layout, &spec_id, &reference) {
        let _ = events::record(
            layout,
            "idea_normalization_skipped",
            json!({"idea_path": path.display().to_string(), "spec_id": spec_id, "reason": "already_represented"}),
        );
        return Intake::AlreadyRepresented { spec_id };
    }
    let (title, summary) = title_and_summary(&text, &stem);
    let doc = json!({
        "spec_id": spec_id,
        "title": title,
        "summary": summary,
        "source_type": "idea",
        "source_id": spec_id,
        "root_idea_id": spec_id,
        "root_spec_id": spec_id,
        "goals": [summary],
        "constraints": ["generated from ideas/inbox watcher event"],
        "acceptance": ["planner processes this idea-derived spec"],
        "references": [reference],
        "created_at": clock::now_rfc3339(),
        "created_by": "watcher",
    });
    let queued = WorkDocument::from_json(DocKind::Spec, &doc.to_string(), "idea intake")
        .map_err(|e| e.to_string())
        .and_then(|d| queue::enqueue(layout, &d).map_err(|e| e.to_string()));
    match queued {
        Ok(_) => {
            let _ = events::record(
                layout,
                "idea_normalized_to_spec",
                json!({"idea_path": path.display().to_string(), "spec_id": spec_id}),
            );
            Intake::Queued { spec_id }
        }
        Err(reason) => {
            let _ = events::record(
                layout,
                "idea_normalization_skipped",
                json!({"idea_path": path.display().to_string(), "spec_id": spec_id, "reason": reason}),
            );
            Intake::Unreadable { reason }
        }
    }
}

/// Does a spec in any state already stand for this idea?
fn represented(layout: &Layout, spec_id: &str, reference: &str) -> bool {
    queue::states(DocKind::Spec).iter().any(|state| {
        queue::list_ids(layout, DocKind::Spec, state)
            .iter()
            .any(|id| {
                if id == spec_id {
                    return true;
                }
                let path = queue::state_dir(layout, DocKind::Spec, state).join(format!("{id}.md"));
                queue::read_item(DocKind::Spec, &path).is_ok_and(|d| {
                    d.lineage().root_idea_id.as_deref() == Some(spec_id)
                        || d.list("References").iter().any(|r| r == reference)
                })
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_ids_follow_the_reference() {
        assert_eq!(spec_id_for("faster builds"), "idea-faster-builds");
        assert_eq!(spec_id_for("idea-x"), "idea-x");
        assert_eq!(spec_id_for("..!!"), "idea-idea");
        assert_eq!(spec_id_for("a//b"), "idea-a-b");
    }

    #[test]
    fn title_is_the_heading_and_summary_the_next_line() {
        let (t, s) = title_and_summary("\n# Faster builds\n\nCache the deps.\n", "x");
        assert_eq!(
            (t.as_str(), s.as_str()),
            ("Faster builds", "Cache the deps.")
        );
        let (t, s) = title_and_summary("", "stem");
        assert_eq!(
            (t.as_str(), s.as_str()),
            ("stem", "Idea captured from stem")
        );
    }
}
