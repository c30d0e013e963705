//! `doctor`: read-only integrity checks of a workspace. Each finding names
//! the path, the problem and what to do about it; where the reference's
//! doctor checks the same thing, the finding has the reference's code.

use std::fs;

use super::documents::DocKind;
use super::layout::{Layout, DIRECTORIES, PLANES};
use super::manifest::{hash_bytes, Manifest};
use super::{config, lock, queue, safe_fs, state};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    /// A stable snake_case code, e.g. `work_item_in_two_states`.
    pub code: &'static str,
    pub path: String,
    pub message: String,
    /// What the operator should do.
    pub fix: String,
}

impl Finding {
    pub fn line(&self) -> String {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        format!(
            "{level}: {} {} {}; fix: {}",
            self.code, self.path, self.message, self.fix
        )
    }
}

/// Files a workspace needs (relative to `millrace-agents/`), as the
/// reference's doctor requires them.
const REQUIRED_FILES: &[&str] = &[
    "outline.md",
    "historylog.md",
    "state/execution_status.md",
    "state/planning_status.md",
    "state/runtime_snapshot.json",
    "state/recovery_counters.json",
];

/// The reference's code for an unreadable status file of `plane`.
fn status_code(plane: &str) -> &'static str {
    match plane {
        "execution" => "execution_status_invalid",
        "planning" => "planning_status_invalid",
        _ => "learning_status_invalid",
    }
}

/// Run every check.
pub fn check(layout: &Layout) -> Vec<Finding> {
    let mut out = Vec::new();
    let root = layout.root.display().to_string();
    let mut add = |severity, code, path: String, message: String, fix: String| {
        out.push(Finding {
            severity,
            code,
            path,
            message,
            fix,
        })
    };
    let init_fix = format!("run `millrace init --workspace {root}` (it only adds what is missing)");

    for rel in DIRECTORIES {
        let path = layout.path(rel);
        if !path.is_dir() && !path.exists() && *rel == "mill" {
            // A workspace the reference initialized has no `.mill` sources:
            // `run` deploys the shipped ones (it never overwrites a file).
            add(
                Severity::Warning,
                "missing_managed_assets",
                path.display().to_string(),
                "the shipped .mill sources are not deployed yet".into(),
                format!("`millrace run` deploys them, or {init_fix}"),
            );
        } else if !path.is_dir() {
            add(
                Severity::Error,
                "missing_directory",
                path.display().to_string(),
                "directory is missing".into(),
                init_fix.clone(),
            );
        }
    }

    for rel in REQUIRED_FILES {
        let path = layout.path(rel);
        if !path.is_file() {
            add(
                Severity::Error,
                "missing_file",
                path.display().to_string(),
                "required workspace file is missing".into(),
                init_fix.clone(),
            );
        }
    }

    if let Err(e) = config::load(&layout.config_file()) {
        add(
            Severity::Error,
            "runtime_config_invalid",
            layout.config_file().display().to_string(),
            without_path(&e.to_string(), &layout.config_file()).to_string(),
            "fix the TOML, or delete the file and rerun init".into(),
        );
    }

    match Manifest::load(layout) {
        Err(e) => add(
            Severity::Error,
            if layout.manifest_file().exists() {
                "baseline_manifest_invalid"
            } else {
                "baseline_manifest_missing"
            },
            layout.manifest_file().display().to_string(),
            e.to_string(),
            "delete it and rerun init to record the shipped baseline".into(),
        ),
        Ok(manifest) => {
            for entry in &manifest.entries {
                let path = layout.path(&entry.relative_path);
                match safe_fs::read_capped(&path, safe_fs::MAX_STATE_BYTES) {
                    Err(_) => add(
                        Severity::Error,
                        "baseline_manifest_managed_file_missing",
                        path.display().to_string(),
                        "managed file is missing".into(),
                        "run `millrace upgrade --apply` to restore it".into(),
                    ),
                    Ok(bytes) if hash_bytes(&bytes) != entry.original_sha256 => add(
                        Severity::Warning,
                        "managed_file_modified",
                        path.display().to_string(),
                        "differs from the shipped baseline".into(),
                        "keep it if intended; `millrace upgrade` shows how it compares".into(),
                    ),
                    Ok(_) => {}
                }
            }
        }
    }

    let lock_status = lock::inspect(layout);
    let lock_path = layout.lock_file().display().to_string();
    match &lock_status {
        lock::LockStatus::Active(r) => add(
            Severity::Warning,
            "runtime_ownership_lock_active",
            lock_path,
            format!("a daemon (pid {} on {}) owns the workspace", r.owner_pid, r.owner_hostname),
            "none: findings about active work may change while it runs".into(),
        ),
        lock::LockStatus::Stale(r) => add(
            Severity::Warning,
            "runtime_ownership_lock_stale",
            lock_path,
            lock::stale_reason(r),
            "run `millrace doctor --repair` or `millrace clear-stale-state` (the next daemon also reclaims it)".into(),
        ),
        lock::LockStatus::Invalid(detail) => add(
            Severity::Error,
            "runtime_ownership_lock_invalid",
            lock_path,
            detail.clone(),
            "if no daemon is running, delete the lock file".into(),
        ),
        _ => {}
    }

    let snapshot = match state::load_snapshot(layout) {
        Ok(s) => Some(s),
        Err(e) => {
            add(
                Severity::Error,
                "snapshot_invalid",
                layout.snapshot_file().display().to_string(),
                e.to_string(),
                "delete it and rerun init to write a fresh idle snapshot".into(),
            );
            None
        }
    };
    if let Err(e) = state::load_counters(layout) {
        add(
            Severity::Error,
            "recovery_counters_invalid",
            layout.counters_file().display().to_string(),
            e.to_string(),
            "delete it and rerun init".into(),
        );
    }
    for plane in PLANES {
        let path = layout.status_file(plane);
        match state::read_marker(layout, plane) {
            Ok(m) if state::is_marker(&m) => {}
            Ok(m) => add(
                Severity::Error,
                status_code(plane),
                path.display().to_string(),
                format!("{m:?} is not a `### NAME` marker"),
                format!("write `{}` into it", state::IDLE_MARKER),
            ),
            Err(e) => add(
                Severity::Error,
                status_code(plane),
                path.display().to_string(),
                e.to_string(),
                "rerun init".into(),
            ),
        }
    }

    let repair = format!("run `millrace doctor --repair --workspace {root}`");
    if let Some(snap) = &snapshot {
        let depths = queue::queue_depths(layout);
        let recorded = [
            snap.queue_depth_execution,
            snap.queue_depth_planning,
            snap.queue_depth_learning,
        ];
        if depths != recorded {
            add(
                Severity::Warning,
                "snapshot_queue_depth_mismatch",
                layout.snapshot_file().display().to_string(),
                format!("snapshot says {recorded:?}, directories hold {depths:?}"),
                repair.clone(),
            );
        }
    }

    for dup in queue::find_duplicates(layout) {
        add(
            Severity::Error,
            if dup.kind == DocKind::Task {
                "duplicate_task_lifecycle_state"
            } else {
                "work_item_in_two_states"
            },
            format!("{}/{}", queue::kind_dir(dup.kind), dup.id),
            format!("{} {} is in {}", dup.kind, dup.id, dup.states.join(" and ")),
            format!("{repair} (keeps the furthest state)"),
        );
    }
    for path in queue::find_debris(layout) {
        add(
            Severity::Warning,
            "interrupted_write",
            path.display().to_string(),
            "temporary file left by an interrupted write".into(),
            repair.clone(),
        );
    }

    let daemon_running = matches!(lock_status, lock::LockStatus::Active(_));
    for kind in DocKind::ALL {
        for st in queue::states(kind) {
            for id in queue::list_ids(layout, kind, st) {
                let path = queue::state_dir(layout, kind, st).join(format!("{id}.md"));
                if let Err(e) = queue::read_item(kind, &path) {
                    let refused = matches!(&e, queue::QueueError::Io { error, .. } if safe_fs::refusal(error).is_some());
                    add(
                        Severity::Error,
                        if refused {
                            "unsafe_workspace_file"
                        } else {
                            "queue_artifact_invalid"
                        },
                        path.display().to_string(),
                        e.to_string(),
                        "fix the document (see docs/workspace.md for the format)".into(),
                    );
                }
                if st == "active" && !daemon_running {
                    let claimed = snapshot
                        .as_ref()
                        .and_then(|s| s.active_work_item_id.as_deref())
                        == Some(id.as_str());
                    if !claimed {
                        add(Severity::Warning, "orphaned_active_item", path.display().to_string(), format!("{kind} {id} is active but no run owns it"), format!("move it back to {} (the runtime's stale-state recovery does this on its next start)", queue::states(kind)[0]));
                    }
                }
            }
        }
    }

    // Mailbox entries the runtime will not read (links, FIFOs, devices,
    // directories) and the ones it already set aside.
    for (which, set_aside) in [("incoming", false), ("failed", true)] {
        let dir = layout.mailbox_dir(which);
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = e.path().display().to_string();
            if set_aside && name.ends_with(".set-aside") {
                add(
                    Severity::Warning,
                    "mailbox_entry_set_aside",
                    path,
                    "a mailbox entry that was not a regular file was set aside unread".into(),
                    "inspect it and remove it".into(),
                );
            } else if !set_aside && name.ends_with(".json") && !name.starts_with('.') {
                let regular = fs::symlink_metadata(e.path()).is_ok_and(|m| m.is_file());
                if !regular {
                    add(
                        Severity::Error,
                        "unsafe_workspace_file",
                        path,
                        "not a regular file (a link, FIFO, device or directory); the runtime sets it aside unread".into(),
                        "remove it".into(),
                    );
                }
            }
        }
    }
    out.extend(stage_result_findings(layout));
    out
}

/// Stage results (`runs/<run>/stage_results/*.json`) that are empty or do
/// not parse: the record of what a stage returned is lost or torn (a full
/// disk, or a writer that bypassed the atomic write).
fn stage_result_findings(layout: &Layout) -> Vec<Finding> {
    let mut out = Vec::new();
    let runs = layout.path("runs");
    let Ok(run_dirs) = fs::read_dir(&runs) else {
        return out;
    };
    let mut paths: Vec<std::path::PathBuf> = run_dirs
        .filter_map(Result::ok)
        .filter_map(|run| fs::read_dir(run.path().join("stage_results")).ok())
        .flat_map(|d| d.filter_map(Result::ok).map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();
    for path in paths {
        let problem = match safe_fs::read_capped(&path, safe_fs::MAX_STATE_BYTES) {
            Err(e) => Some(("unreadable_stage_result", e.to_string())),
            Ok(bytes) if bytes.is_empty() => {
                Some(("empty_stage_result", "is empty (0 bytes)".to_string()))
            }
            Ok(bytes) => match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(v) if v.is_object() => None,
                Ok(_) => Some(("invalid_stage_result", "is not a JSON object".to_string())),
                Err(e) => Some(("invalid_stage_result", format!("is not JSON: {e}"))),
            },
        };
        if let Some((code, message)) = problem {
            out.push(Finding {
                severity: Severity::Error,
                code,
                path: path.display().to_string(),
                message,
                fix: "the stage's result is lost: inspect the run (`millrace runs show`), then delete the file and retry the work item".into(),
            });
        }
    }
    out
}

/// `message` without the `<path>: ` it starts with when it names the
/// finding's own file (a finding shows its path already).
pub fn without_path<'m>(message: &'m str, path: &std::path::Path) -> &'m str {
    message
        .strip_prefix(&format!("{}: ", path.display()))
        .unwrap_or(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_workspace_is_clean_and_damage_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        super::super::init::initialize(&layout).unwrap();
        assert_eq!(check(&layout), Vec::new());
        let task = "tasks/queue/t-1.md";
        fs::write(layout.path(task), "# T\n").unwrap();
        fs::copy(layout.path(task), layout.path("tasks/done/t-1.md")).unwrap();
        fs::remove_dir(layout.path("arbiter/reports")).unwrap();
        let codes: Vec<_> = check(&layout).iter().map(|f| f.code).collect();
        for want in [
            "missing_directory",
            "duplicate_task_lifecycle_state",
            "queue_artifact_invalid",
            "snapshot_queue_depth_mismatch",
        ] {
            assert!(codes.contains(&want), "{want} not in {codes:?}");
        }
    }
}
