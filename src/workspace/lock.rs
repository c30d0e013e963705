//! Daemon ownership: `state/runtime_daemon.lock.json` names the one process
//! allowed to run the workspace. A second daemon fails fast with the owner's
//! pid; a lock whose process is dead on this host is reclaimed automatically
//! and the reclaim is logged. Record fields match the reference.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{atomic, clock, events, layout::Layout};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    pub workspace_root: String,
    pub owner_pid: u32,
    pub owner_hostname: String,
    pub owner_session_id: String,
    pub acquired_at: String,
}

/// The state of the lock file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockStatus {
    Absent,
    /// Held by a live process, or by a process on another host (which we
    /// cannot check, so we assume it lives).
    Active(LockRecord),
    /// Held by a process of this host that no longer runs.
    Stale(LockRecord),
    /// Unreadable, or written for another workspace root.
    Invalid(String),
}

impl LockStatus {
    /// `absent`, `active`, `stale` or `invalid`, as the reference reports it.
    pub fn label(&self) -> &'static str {
        match self {
            LockStatus::Absent => "absent",
            LockStatus::Active(_) => "active",
            LockStatus::Stale(_) => "stale",
            LockStatus::Invalid(_) => "invalid",
        }
    }
}

#[derive(Debug)]
pub enum LockError {
    /// Another live daemon owns the workspace.
    Held(LockRecord),
    Invalid {
        path: PathBuf,
        detail: String,
    },
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::Held(r) => write!(
                f,
                "workspace is owned by a running daemon: pid={} host={} session={} (since {})",
                r.owner_pid, r.owner_hostname, r.owner_session_id, r.acquired_at
            ),
            LockError::Invalid { path, detail } => write!(
                f,
                "{}: {detail}; if no daemon is running, delete this file",
                path.display()
            ),
            LockError::Io { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for LockError {}

/// This machine's host name.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".to_string())
}

/// Is a process with this pid running on this host?
pub fn pid_alive(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    if cfg!(target_os = "linux") {
        // A zombie still has a /proc entry; treat it as dead.
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => !stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
            Err(_) => false,
        }
    } else {
        true
    }
}

/// Classify the current lock file.
pub fn inspect(layout: &Layout) -> LockStatus {
    let path = layout.lock_file();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return LockStatus::Absent,
        Err(e) => return LockStatus::Invalid(e.to_string()),
    };
    let record: LockRecord = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => return LockStatus::Invalid(format!("unreadable lock: {e}")),
    };
    if record.workspace_root != layout.root.display().to_string() {
        return LockStatus::Invalid(format!(
            "lock names another workspace root ({})",
            record.workspace_root
        ));
    }
    if record.owner_hostname != hostname() || pid_alive(record.owner_pid) {
        LockStatus::Active(record)
    } else {
        LockStatus::Stale(record)
    }
}

fn session_id(pid: u32) -> String {
    let seed = format!(
        "{pid}-{}-{:?}",
        clock::now_rfc3339(),
        std::thread::current().id()
    );
    blake3::hash(seed.as_bytes()).to_hex()[..32].to_string()
}

/// Take ownership of the workspace for process `pid`. Fails fast when a
/// live daemon holds it; reclaims (and logs) a lock left by a dead process.
pub fn acquire(layout: &Layout, pid: u32) -> Result<LockRecord, LockError> {
    let path = layout.lock_file();
    let record = LockRecord {
        workspace_root: layout.root.display().to_string(),
        owner_pid: pid,
        owner_hostname: hostname(),
        owner_session_id: session_id(pid),
        acquired_at: clock::now_rfc3339(),
    };
    let mut text = serde_json::to_string_pretty(&record).expect("lock serializes");
    text.push('\n');
    for _ in 0..2 {
        match atomic::create_atomic(&path, text.as_bytes()) {
            Ok(()) => {
                let _ = events::record(
                    layout,
                    "runtime_lock_acquired",
                    json!({"owner_pid": pid, "owner_session_id": record.owner_session_id}),
                );
                return Ok(record);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match inspect(layout) {
                LockStatus::Absent => continue,
                LockStatus::Active(owner) => return Err(LockError::Held(owner)),
                LockStatus::Invalid(detail) => return Err(LockError::Invalid { path, detail }),
                LockStatus::Stale(dead) => {
                    match std::fs::remove_file(&path) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(error) => return Err(LockError::Io { path, error }),
                    }
                    let _ = events::record(
                        layout,
                        "runtime_lock_reclaimed",
                        json!({
                            "previous_owner_pid": dead.owner_pid,
                            "previous_owner_session_id": dead.owner_session_id,
                            "reason": "owner process is not running",
                        }),
                    );
                }
            },
            Err(error) => return Err(LockError::Io { path, error }),
        }
    }
    match inspect(layout) {
        LockStatus::Active(owner) => Err(LockError::Held(owner)),
        _ => Err(LockError::Io {
            path,
            error: std::io::Error::other("lock contended while reclaiming"),
        }),
    }
}

/// Give up ownership, if `session` still owns the workspace.
pub fn release(layout: &Layout, session: &str) -> std::io::Result<bool> {
    match inspect(layout) {
        LockStatus::Active(r) | LockStatus::Stale(r) if r.owner_session_id == session => {
            std::fs::remove_file(layout.lock_file())?;
            let _ = events::record(
                layout,
                "runtime_lock_released",
                json!({"owner_session_id": session}),
            );
            Ok(true)
        }
        _ => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.state_dir()).unwrap();
        (dir, layout)
    }

    #[test]
    fn second_owner_fails_fast_with_pid() {
        let (_d, layout) = layout();
        let me = std::process::id();
        let first = acquire(&layout, me).unwrap();
        let err = acquire(&layout, me).unwrap_err();
        assert!(err.to_string().contains(&format!("pid={me}")), "{err}");
        assert!(release(&layout, &first.owner_session_id).unwrap());
        assert_eq!(inspect(&layout), LockStatus::Absent);
    }

    #[test]
    fn dead_owner_is_reclaimed_and_logged() {
        let (_d, layout) = layout();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = child.id();
        child.wait().unwrap();
        acquire(&layout, dead_pid).unwrap();
        assert_eq!(inspect(&layout).label(), "stale");
        let mine = acquire(&layout, std::process::id()).unwrap();
        assert_eq!(mine.owner_pid, std::process::id());
        let events = events::read_all(&layout).unwrap();
        assert!(events
            .iter()
            .any(|e| e["event_type"] == "runtime_lock_reclaimed"
                && e["data"]["previous_owner_pid"] == dead_pid));
    }

    #[test]
    fn garbage_lock_is_reported_not_removed() {
        let (_d, layout) = layout();
        std::fs::write(layout.lock_file(), "{oops").unwrap();
        assert_eq!(inspect(&layout).label(), "invalid");
        assert!(matches!(
            acquire(&layout, 1),
            Err(LockError::Invalid { .. })
        ));
        assert!(layout.lock_file().exists());
    }
}
