//! Run retention: deleting old run directories (`runs prune`, and the
//! daemon's `[runs]` retention at idle boundaries) without touching what is
//! still in use. Protected unless asked otherwise: the runs the snapshot
//! holds active, every run of a work item that is active or blocked, and
//! every run an open incident (incoming, active or blocked) names.
//!
//! The run list comes from `runs_index`; protection is read after the list,
//! so a run created meanwhile is either not listed or already visible as
//! active. The index lock is held while directories are deleted, so the
//! engine never starts a run into a directory being removed.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::Serialize;

use super::documents::DocKind;
use super::{clock, layout::Layout, queue, runs_index, safe_fs, state};

/// What to prune.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Runs that started and last changed longer ago than this many seconds.
    pub older_than_secs: u64,
    /// Keep runs that did not end `complete`.
    pub keep_failed: bool,
    /// Also prune runs of blocked items and runs open incidents name.
    pub include_blocked: bool,
    /// Always keep this many newest runs.
    pub keep_last: usize,
    /// Report, delete nothing.
    pub dry_run: bool,
}

/// What a prune did (or would do, with `dry_run`).
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub dry_run: bool,
    pub runs_total: usize,
    pub pruned: Vec<String>,
    pub kept_active: usize,
    pub kept_blocked: usize,
    pub kept_incident: usize,
    pub kept_failed: usize,
    pub kept_recent: usize,
    pub errors: Vec<String>,
}

/// Why a duration (`--older-than`) does not parse; `text` is as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationError {
    NoUnit { text: String },
    NoNumber { text: String },
    UnknownUnit { text: String, unit: String },
    TooLarge { text: String },
}

impl std::fmt::Display for DurationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DurationError::NoUnit { text } => write!(
                f,
                "duration {text:?} has no unit; use s, m, h, d or w (e.g. 30d)"
            ),
            DurationError::NoNumber { text } => write!(
                f,
                "duration {text:?} must start with a whole number (e.g. 30d)"
            ),
            DurationError::UnknownUnit { text, unit } => write!(
                f,
                "duration {text:?} has unknown unit {unit:?}; use s, m, h, d or w"
            ),
            DurationError::TooLarge { text } => write!(f, "duration {text:?} is too large"),
        }
    }
}

impl std::error::Error for DurationError {}

/// Parse `30d`, `12h`, `90m`, `45s`, `2w` (one number and one unit) into
/// seconds.
pub fn parse_duration(text: &str) -> Result<u64, DurationError> {
    let t = text.trim();
    let given = || text.to_string();
    let split = t
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| DurationError::NoUnit { text: given() })?;
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| DurationError::NoNumber { text: given() })?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(DurationError::UnknownUnit {
                text: given(),
                unit: unit.to_string(),
            })
        }
    };
    n.checked_mul(scale)
        .ok_or_else(|| DurationError::TooLarge { text: given() })
}

/// Run ids named in a text (`run-` followed by id characters).
fn run_ids_in(text: &str, out: &mut HashSet<String>) {
    let mut rest = text;
    while let Some(i) = rest.find("run-") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(tail.len());
        if end > 4 {
            out.insert(tail[..end].to_string());
        }
        rest = &tail[4..];
    }
}

/// The protected sets, read after the run list.
struct Protected {
    active_runs: HashSet<String>,
    active_items: HashSet<String>,
    blocked_items: HashSet<String>,
    incident_runs: HashSet<String>,
}

fn protected(layout: &Layout) -> Result<Protected, super::Error> {
    let snap = state::load_snapshot(layout)?;
    let mut active_runs: HashSet<String> = snap.active_run_id.iter().cloned().collect();
    for run in snap.active_runs_by_plane.values() {
        if let Some(id) = run.get("run_id").and_then(|v| v.as_str()) {
            active_runs.insert(id.to_string());
        }
    }
    let mut active_items = HashSet::new();
    let mut blocked_items = HashSet::new();
    for kind in [DocKind::Task, DocKind::Spec, DocKind::LearningRequest] {
        active_items.extend(queue::list_ids(layout, kind, "active"));
        blocked_items.extend(queue::list_ids(layout, kind, "blocked"));
    }
    let mut incident_runs = HashSet::new();
    for st in ["incoming", "active", "blocked"] {
        let dir = queue::state_dir(layout, DocKind::Incident, st);
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for f in rd.flatten() {
            if let Ok(text) = safe_fs::read_to_string_capped(&f.path(), safe_fs::MAX_STATE_BYTES) {
                run_ids_in(&text, &mut incident_runs);
            }
        }
    }
    Ok(Protected {
        active_runs,
        active_items,
        blocked_items,
        incident_runs,
    })
}

/// The run's trace status (`complete`, `blocked`, `handoff`, `active`), if
/// it has a readable trace.
pub fn trace_status(run_dir: &Path) -> Option<String> {
    let bytes =
        safe_fs::read_capped(&run_dir.join("run_trace.json"), safe_fs::MAX_STATE_BYTES).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("status")?.as_str().map(str::to_string)
}

fn now_micros() -> i64 {
    clock::parse_micros(&clock::now_rfc3339()).unwrap_or(0)
}

/// Prune run directories as `opts` says.
pub fn prune(layout: &Layout, opts: &Options) -> Result<Report, super::Error> {
    let guard = if opts.dry_run {
        runs_index::refresh(layout);
        None
    } else {
        Some(runs_index::lock_for_update(layout))
    };
    let cutoff = now_micros() - (opts.older_than_secs as i64).saturating_mul(1_000_000);
    // Only the runs that started before the cutoff are read.
    let (entries, total) = runs_index::started_before(layout, cutoff);
    let keep = protected(layout)?;
    let mut report = Report {
        dry_run: opts.dry_run,
        runs_total: total,
        ..Report::default()
    };
    let runs = layout.path("runs");
    // The newest `keep_last` runs are never candidates.
    let prunable = entries.len().min(total.saturating_sub(opts.keep_last));
    report.kept_recent = total - prunable;
    for e in &entries[..prunable] {
        let dir = runs.join(&e.run_id);
        let Ok(meta) = std::fs::symlink_metadata(&dir) else {
            continue; // already gone
        };
        if !meta.is_dir() {
            continue;
        }
        let changed = meta.mtime() * 1_000_000 + meta.mtime_nsec() / 1000;
        if changed >= cutoff {
            report.kept_recent += 1;
            continue;
        }
        let item = e.work_item_id.as_deref().unwrap_or("");
        if keep.active_runs.contains(&e.run_id) || keep.active_items.contains(item) {
            report.kept_active += 1;
            continue;
        }
        if !opts.include_blocked {
            if keep.blocked_items.contains(item) {
                report.kept_blocked += 1;
                continue;
            }
            if keep.incident_runs.contains(&e.run_id) {
                report.kept_incident += 1;
                continue;
            }
        }
        if opts.keep_failed && trace_status(&dir).as_deref() != Some("complete") {
            report.kept_failed += 1;
            continue;
        }
        if !opts.dry_run {
            if let Err(err) = std::fs::remove_dir_all(&dir) {
                report.errors.push(format!("{}: {err}", dir.display()));
                continue;
            }
        }
        report.pruned.push(e.run_id.clone());
    }
    if let Some(g) = &guard {
        if !report.pruned.is_empty() {
            let removed: HashSet<String> = report.pruned.iter().cloned().collect();
            runs_index::remove(layout, g, &removed)
                .map_err(|e| super::Error::io(layout.path(runs_index::FILE), e))?;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d"), Ok(30 * 86_400));
        assert_eq!(parse_duration("2w"), Ok(14 * 86_400));
        assert_eq!(parse_duration("0s"), Ok(0));
        assert_eq!(parse_duration("90m"), Ok(5400));
        assert_eq!(
            parse_duration("30").unwrap_err().to_string(),
            "duration \"30\" has no unit; use s, m, h, d or w (e.g. 30d)"
        );
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("3y").is_err());
        assert!(parse_duration("-1d").is_err());
    }

    #[test]
    fn run_ids_are_found_in_incident_text() {
        let mut ids = HashSet::new();
        run_ids_in(
            "Related-Stage-Results:\n- millrace-agents/runs/run-abc123/stage_results/request-1.json\nrun-",
            &mut ids,
        );
        assert_eq!(ids.into_iter().collect::<Vec<_>>(), vec!["run-abc123"]);
    }
}
