//! Daemon ownership. The authority is a kernel lock: the daemon holds an
//! exclusive `flock` on `state/runtime_daemon.flock` for its whole life, and
//! the kernel drops it when the process dies (crash, SIGKILL, reboot,
//! container restart), so a dead owner can never wedge the workspace. The
//! lock file is never deleted (deleting it would let two processes lock two
//! different files) and is opened close-on-exec, so agents never inherit it.
//!
//! Beside it, `state/runtime_daemon.lock.json` names the owner (pid, host,
//! session) in the reference's schema, for operators and for the reference's
//! own tools. It is trusted only while someone holds the flock: a JSON lock
//! without a holder is stale whatever its pid (a reused pid after a reboot,
//! another hostname after a container restart), and is removed by the next
//! daemon (logged), `doctor --repair` or `clear-stale-state`. One exception
//! keeps interoperability safe: a JSON lock whose owner is a live `millrace`
//! process of this host (the reference's daemon takes no flock) is active.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{atomic, clock, events, layout::Layout};

/// The kernel lock file, relative to `millrace-agents/`.
pub const FLOCK_FILE: &str = "state/runtime_daemon.flock";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRecord {
    pub workspace_root: String,
    pub owner_pid: u32,
    pub owner_hostname: String,
    pub owner_session_id: String,
    pub acquired_at: String,
}

/// The state of the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockStatus {
    Absent,
    /// The owner holds the kernel lock (or is a live reference daemon of
    /// this host, which takes none).
    Active(LockRecord),
    /// A JSON lock that no process holds.
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

/// Is `pid` a running `millrace` process (ours or the reference's) other
/// than this one? Read from its command line; `false` when unknown.
fn is_millrace_process(pid: u32) -> bool {
    if pid == std::process::id() || !pid_alive(pid) {
        return false;
    }
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    cmdline
        .split(|b| *b == 0)
        .take(3)
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .any(|arg| {
            let base = arg.rsplit('/').next().unwrap_or("");
            base == "millrace" || arg == "millrace_ai" || arg.starts_with("millrace_ai.")
        })
}

// ---------------------------------------------------------------- the kernel lock

/// Kernel locks this process holds, by lock-file path, with the session
/// they belong to. Dropping the `File` releases the lock.
static HELD: Mutex<Option<HashMap<PathBuf, (String, File)>>> = Mutex::new(None);

fn flock_path(layout: &Layout) -> PathBuf {
    layout.path(FLOCK_FILE)
}

/// Open (creating it if needed) the kernel lock file: never through a
/// symbolic link, never blocking on a FIFO, and only a regular file.
fn open_flock_file(path: &Path, create: bool) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC);
    if create {
        options.write(true).create(true).mode(0o644);
    }
    let file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file"));
    }
    Ok(file)
}

/// Is something other than a regular file or a directory at `path`?
fn planted(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// `flock(2)` without waiting; `Ok(false)` when another holder has it.
fn try_flock(file: &File, operation: libc::c_int) -> io::Result<bool> {
    super::flock::flock(file, operation | libc::LOCK_NB)
}

/// Does some process (this one included) hold the daemon's kernel lock?
/// Probed with a shared lock that is dropped at once.
pub fn kernel_lock_held(layout: &Layout) -> bool {
    let Ok(file) = open_flock_file(&flock_path(layout), false) else {
        return false;
    };
    matches!(try_flock(&file, libc::LOCK_SH), Ok(false))
}

/// Take the kernel lock, retrying briefly: a concurrent `kernel_lock_held`
/// probe holds a shared lock for a few microseconds.
fn take_kernel_lock(layout: &Layout) -> Result<Option<File>, LockError> {
    let path = flock_path(layout);
    let file = match open_flock_file(&path, true) {
        Ok(f) => Ok(f),
        // A link, FIFO or other non-file planted in its place: no process can
        // hold a lock through it (we never open one), so it is replaced.
        Err(_) if planted(&path) => {
            let _ = std::fs::remove_file(&path);
            let _ = events::record(
                layout,
                "runtime_lock_reclaimed",
                json!({"reason": "the kernel lock file was not a regular file", "path": path.display().to_string()}),
            );
            open_flock_file(&path, true)
        }
        Err(e) => Err(e),
    }
    .map_err(|error| LockError::Io {
        path: path.clone(),
        error,
    })?;
    for _ in 0..25 {
        match try_flock(&file, libc::LOCK_EX) {
            Ok(true) => return Ok(Some(file)),
            Ok(false) => std::thread::sleep(Duration::from_millis(10)),
            Err(error) => return Err(LockError::Io { path, error }),
        }
    }
    Ok(None)
}

fn read_record(layout: &Layout) -> Result<Option<LockRecord>, String> {
    let path = layout.lock_file();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let record: LockRecord =
        serde_json::from_str(&text).map_err(|e| format!("unreadable lock: {e}"))?;
    if record.workspace_root != layout.root.display().to_string() {
        return Err(format!(
            "lock names another workspace root ({})",
            record.workspace_root
        ));
    }
    Ok(Some(record))
}

/// A JSON lock held without our kernel lock: a live millrace process of this host.
fn foreign_daemon(record: &LockRecord) -> bool {
    record.owner_hostname == hostname() && is_millrace_process(record.owner_pid)
}

/// Classify the current lock.
pub fn inspect(layout: &Layout) -> LockStatus {
    match read_record(layout) {
        Err(detail) => LockStatus::Invalid(detail),
        Ok(None) => LockStatus::Absent,
        Ok(Some(record)) => {
            if kernel_lock_held(layout) || foreign_daemon(&record) {
                LockStatus::Active(record)
            } else {
                LockStatus::Stale(record)
            }
        }
    }
}

/// Why a stale record is stale, for logs and `doctor`.
pub fn stale_reason(record: &LockRecord) -> String {
    if record.owner_hostname != hostname() {
        format!(
            "no process holds the daemon lock (owner pid {} was on host {})",
            record.owner_pid, record.owner_hostname
        )
    } else if pid_alive(record.owner_pid) {
        format!(
            "no process holds the daemon lock (pid {} is alive but is not a millrace daemon)",
            record.owner_pid
        )
    } else {
        format!(
            "no process holds the daemon lock (owner pid {} is not running)",
            record.owner_pid
        )
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

fn remove_record(path: &Path) -> Result<(), LockError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(LockError::Io {
            path: path.to_path_buf(),
            error,
        }),
    }
}

/// Take ownership of the workspace for process `pid`: the kernel lock, then
/// the JSON record. Fails fast when a live daemon holds it; a stale JSON
/// lock is replaced and the reclaim logged.
pub fn acquire(layout: &Layout, pid: u32) -> Result<LockRecord, LockError> {
    let path = layout.lock_file();
    let Some(kernel) = take_kernel_lock(layout)? else {
        let owner = read_record(layout).ok().flatten().unwrap_or(LockRecord {
            workspace_root: layout.root.display().to_string(),
            owner_pid: 0,
            owner_hostname: "unknown".into(),
            owner_session_id: "unknown".into(),
            acquired_at: "unknown".into(),
        });
        return Err(LockError::Held(owner));
    };
    // From here on no daemon of ours can hold the workspace.
    match read_record(layout) {
        Err(detail) => return Err(LockError::Invalid { path, detail }),
        Ok(None) => {}
        Ok(Some(previous)) if foreign_daemon(&previous) => return Err(LockError::Held(previous)),
        Ok(Some(previous)) => {
            remove_record(&path)?;
            let _ = events::record(
                layout,
                "runtime_lock_reclaimed",
                json!({
                    "previous_owner_pid": previous.owner_pid,
                    "previous_owner_hostname": previous.owner_hostname,
                    "previous_owner_session_id": previous.owner_session_id,
                    "reason": stale_reason(&previous),
                }),
            );
        }
    }
    let record = LockRecord {
        workspace_root: layout.root.display().to_string(),
        owner_pid: pid,
        owner_hostname: hostname(),
        owner_session_id: session_id(pid),
        acquired_at: clock::now_rfc3339(),
    };
    let mut text = serde_json::to_string_pretty(&record).expect("lock serializes");
    text.push('\n');
    match atomic::create_atomic(&path, text.as_bytes()) {
        Ok(()) => {}
        // Only a process that takes no kernel lock (the reference) can race us here.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(match read_record(layout) {
                Ok(Some(owner)) => LockError::Held(owner),
                _ => LockError::Io { path, error: e },
            })
        }
        Err(error) => return Err(LockError::Io { path, error }),
    }
    if let Ok(mut held) = HELD.lock() {
        held.get_or_insert_with(HashMap::new).insert(
            flock_path(layout),
            (record.owner_session_id.clone(), kernel),
        );
    }
    let _ = events::record(
        layout,
        "runtime_daemon_lock_acquired",
        json!({"session_id": record.owner_session_id, "owner_pid": pid}),
    );
    Ok(record)
}

/// Give up ownership, if `session` still owns the workspace: remove the
/// JSON record, then drop the kernel lock.
pub fn release(layout: &Layout, session: &str) -> std::io::Result<bool> {
    let removed = match read_record(layout) {
        Ok(Some(r)) if r.owner_session_id == session => {
            std::fs::remove_file(layout.lock_file())?;
            let _ = events::record(
                layout,
                "runtime_daemon_lock_released",
                json!({"session_id": session}),
            );
            true
        }
        _ => false,
    };
    if let Ok(mut held) = HELD.lock() {
        if let Some(map) = held.as_mut() {
            let path = flock_path(layout);
            if map.get(&path).is_some_and(|(s, _)| s == session) {
                map.remove(&path);
            }
        }
    }
    Ok(removed)
}

/// Remove a stale JSON lock (one no process holds); `Ok(None)` when the
/// lock is absent, active or invalid. The removal is logged.
pub fn clear_stale(layout: &Layout, by: &str) -> Result<Option<LockRecord>, LockError> {
    let LockStatus::Stale(record) = inspect(layout) else {
        return Ok(None);
    };
    // Hold the kernel lock while removing, so a starting daemon cannot lose its record.
    let Some(_kernel) = take_kernel_lock(layout)? else {
        return Ok(None);
    };
    match read_record(layout) {
        Ok(Some(r)) if r == record => {}
        _ => return Ok(None),
    }
    remove_record(&layout.lock_file())?;
    let _ = events::record(
        layout,
        "runtime_lock_reclaimed",
        json!({
            "previous_owner_pid": record.owner_pid,
            "previous_owner_hostname": record.owner_hostname,
            "previous_owner_session_id": record.owner_session_id,
            "reason": stale_reason(&record),
            "by": by,
        }),
    );
    Ok(Some(record))
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

    fn write_record(layout: &Layout, pid: u32, host: &str) {
        let record = LockRecord {
            workspace_root: layout.root.display().to_string(),
            owner_pid: pid,
            owner_hostname: host.into(),
            owner_session_id: "s-old".into(),
            acquired_at: clock::now_rfc3339(),
        };
        std::fs::write(layout.lock_file(), serde_json::to_string(&record).unwrap()).unwrap();
    }

    #[test]
    fn dead_owner_is_reclaimed_and_logged() {
        let (_d, layout) = layout();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead_pid = child.id();
        child.wait().unwrap();
        write_record(&layout, dead_pid, &hostname());
        assert_eq!(inspect(&layout).label(), "stale");
        let mine = acquire(&layout, std::process::id()).unwrap();
        assert_eq!(mine.owner_pid, std::process::id());
        assert_eq!(inspect(&layout).label(), "active");
        let events = events::read_all(&layout).unwrap();
        assert!(events
            .iter()
            .any(|e| e["event_type"] == "runtime_lock_reclaimed"
                && e["data"]["previous_owner_pid"] == dead_pid));
    }

    #[test]
    fn a_record_nobody_holds_is_stale_whatever_its_pid_or_host() {
        let (_d, layout) = layout();
        let mut sleeper = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        write_record(&layout, sleeper.id(), &hostname());
        assert_eq!(inspect(&layout).label(), "stale");
        write_record(&layout, 1, "some-old-container");
        assert_eq!(inspect(&layout).label(), "stale");
        let cleared = clear_stale(&layout, "test").unwrap().unwrap();
        assert_eq!(cleared.owner_hostname, "some-old-container");
        assert_eq!(inspect(&layout), LockStatus::Absent);
        let _ = sleeper.kill();
        let _ = sleeper.wait();
    }

    #[test]
    fn release_drops_the_kernel_lock() {
        let (_d, layout) = layout();
        let first = acquire(&layout, std::process::id()).unwrap();
        assert!(kernel_lock_held(&layout));
        assert_eq!(clear_stale(&layout, "test").unwrap(), None);
        assert!(release(&layout, &first.owner_session_id).unwrap());
        assert!(!kernel_lock_held(&layout));
        assert!(layout.path(FLOCK_FILE).is_file());
        let second = acquire(&layout, std::process::id()).unwrap();
        assert!(release(&layout, &second.owner_session_id).unwrap());
    }

    #[test]
    fn a_link_or_fifo_planted_as_the_kernel_lock_file_is_replaced() {
        let (d, layout) = layout();
        let outside = d.path().join("outside.txt");
        std::fs::write(&outside, "keep").unwrap();
        std::os::unix::fs::symlink(&outside, layout.path(FLOCK_FILE)).unwrap();
        let first = acquire(&layout, std::process::id()).unwrap();
        assert!(std::fs::symlink_metadata(layout.path(FLOCK_FILE))
            .unwrap()
            .is_file());
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep");
        assert!(release(&layout, &first.owner_session_id).unwrap());

        std::fs::remove_file(layout.path(FLOCK_FILE)).unwrap();
        let fifo = std::ffi::CString::new(layout.path(FLOCK_FILE).to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        assert!(!kernel_lock_held(&layout));
        let second = acquire(&layout, std::process::id()).unwrap();
        assert!(kernel_lock_held(&layout));
        assert!(release(&layout, &second.owner_session_id).unwrap());
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
