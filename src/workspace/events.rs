//! The append-only runtime event log, `logs/runtime_events.jsonl`: one JSON
//! object per line (`schema_version`, `kind`, `event_type`, `occurred_at`,
//! `data`, keys sorted), one line per runtime mutation. Never rewritten;
//! appended without fsync (see `atomic::append_line`).
//!
//! Rotation by size (ours; the reference's log only grows): after an append
//! leaves the file above `[runtime] event_log_max_bytes`, it is renamed to
//! `runtime_events.jsonl.1` (older ones shift to `.2`, ... up to
//! `event_log_keep`, the oldest dropped) and the next append starts a new
//! file where the reference reads it. `read_all` reads the rotated files
//! first, oldest first.
//!
//! The daemon keeps the log open between appends while `safe_fs`'s epoch
//! rule allows (no agent started, reaped or running since it was opened,
//! no idle sleep), and counts the bytes it appended instead of asking the
//! file system after each line. Other processes (control commands) append
//! too, each line one `O_APPEND` write, so lines never interleave; their
//! bytes are counted when the log is next opened (every stage at least), so
//! a rotation can come that much late. A rotation made by another process
//! while the daemon holds the log sends the daemon's lines of that epoch to
//! the rotated file, where `read_all` still finds them.

use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use serde_json::{json, Value};

use super::{clock, layout::Layout};

/// Default `[runtime] event_log_max_bytes`: 64 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Default `[runtime] event_log_keep`: rotated files kept.
pub const DEFAULT_KEEP: u32 = 4;

static MAX_BYTES: AtomicU64 = AtomicU64::new(DEFAULT_MAX_BYTES);
static KEEP: AtomicU32 = AtomicU32::new(DEFAULT_KEEP);

/// Set this process's rotation limits (from `millrace.toml`).
pub fn configure(max_bytes: u64, keep: u32) {
    MAX_BYTES.store(max_bytes.max(1), Ordering::Relaxed);
    KEEP.store(keep.max(1), Ordering::Relaxed);
}

/// The `n`-th rotated file (`runtime_events.jsonl.<n>`).
pub fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{n}"));
    path.with_file_name(name)
}

/// Append one event. `data` should be a JSON object.
pub fn record(layout: &Layout, event_type: &str, data: Value) -> io::Result<()> {
    let line = json!({
        "schema_version": "1.0",
        "kind": "runtime_event",
        "event_type": event_type,
        "occurred_at": clock::now_rfc3339(),
        "data": data,
    });
    append(
        &layout.event_log(),
        &line.to_string(),
        MAX_BYTES.load(Ordering::Relaxed),
        KEEP.load(Ordering::Relaxed),
    )
}

/// The log this process keeps open (module docs).
struct Held {
    path: PathBuf,
    file: std::fs::File,
    /// The size at the open plus what this process appended since.
    size: u64,
    epoch: super::safe_fs::Epoch,
}

static HELD: Mutex<Option<Held>> = Mutex::new(None);

/// Append `line` to the log at `path`, rotating past `max_bytes`.
fn append(path: &Path, line: &str, max_bytes: u64, keep: u32) -> io::Result<()> {
    let mut buf = String::with_capacity(line.len() + 1);
    buf.push_str(line);
    buf.push('\n');
    // Held across the write: this process's appends and rotations take turns.
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    if held
        .as_ref()
        .is_some_and(|h| h.path != path || !h.epoch.current())
    {
        *held = None;
    }
    let h = match held.take() {
        Some(h) => h,
        None => {
            // Taken before the open: an epoch ending during it voids the handle.
            let epoch = super::safe_fs::keep_epoch(path);
            let (file, size) = match super::safe_fs::open_append_sized(path) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    if let Some(dir) = path.parent() {
                        super::safe_fs::create_dir_all(dir)?;
                    }
                    super::safe_fs::open_append_sized(path)?
                }
                r => r?,
            };
            let Some(epoch) = epoch else {
                // Nothing may be kept: append, ask the size, close.
                (&file).write_all(buf.as_bytes())?;
                if file.metadata().map(|m| m.len()).unwrap_or(0) > max_bytes {
                    rotate(path, &file, keep);
                }
                return Ok(());
            };
            Held {
                path: path.to_path_buf(),
                file,
                size,
                epoch,
            }
        }
    };
    // One write per line: concurrent appenders never interleave within it.
    (&h.file).write_all(buf.as_bytes())?;
    let size = h.size + buf.len() as u64;
    if size > max_bytes {
        // At least this large (others may have appended): rotate, and open
        // the new file on the next append.
        rotate(path, &h.file, keep);
    } else {
        *held = Some(Held { size, ..h });
    }
    Ok(())
}

/// Rotate the full log `file` (open at `path`). Only one process rotates a
/// given file: the one that takes its `flock` while `path` still names it.
fn rotate(path: &Path, file: &std::fs::File, keep: u32) {
    if !super::flock::flock(file, libc::LOCK_EX | libc::LOCK_NB).unwrap_or(false) {
        return;
    }
    let same = std::fs::symlink_metadata(path)
        .ok()
        .zip(file.metadata().ok())
        .is_some_and(|(a, b)| a.ino() == b.ino() && a.dev() == b.dev());
    if !same {
        return; // rotated by someone else already
    }
    let Ok((dir, _)) = super::safe_fs::Dir::parent_of(path, false) else {
        return;
    };
    let cname = |p: &Path| {
        std::ffi::CString::new(p.file_name().unwrap_or_default().as_encoded_bytes()).ok()
    };
    for n in (1..keep).rev() {
        if let (Some(from), Some(to)) = (cname(&rotated(path, n)), cname(&rotated(path, n + 1))) {
            let _ = dir.rename_to(&from, &dir, &to, false);
        }
    }
    if let (Some(from), Some(to)) = (cname(path), cname(&rotated(path, 1))) {
        let _ = dir.rename_to(&from, &dir, &to, false);
    }
}

/// The log files, oldest first: rotated ones (highest number first), then
/// the live file.
pub fn files(layout: &Layout) -> Vec<PathBuf> {
    let path = layout.event_log();
    let mut n = 1;
    while n <= 10_000 && rotated(&path, n).is_file() {
        n += 1;
    }
    let mut out: Vec<PathBuf> = (1..n).rev().map(|k| rotated(&path, k)).collect();
    out.push(path);
    out
}

/// Every event in the log and its rotated files, oldest first. Lines that
/// are not JSON (a torn last line after a crash) are skipped.
pub fn read_all(layout: &Layout) -> io::Result<Vec<Value>> {
    let mut events = Vec::new();
    for path in files(layout) {
        let text = match super::safe_fs::open_regular(&path, None).and_then(|f| {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::BufReader::new(f), &mut text).map(|_| text)
        }) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        events.extend(text.lines().filter_map(|l| serde_json::from_str(l).ok()));
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_sorted_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        record(&layout, "a", json!({"x": 1})).unwrap();
        record(&layout, "b", json!({})).unwrap();
        let text = std::fs::read_to_string(layout.event_log()).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(
            text.starts_with("{\"data\":{\"x\":1},\"event_type\":\"a\",\"kind\":\"runtime_event\"")
        );
        let events = read_all(&layout).unwrap();
        assert_eq!(events[1]["event_type"], "b");
    }

    #[test]
    fn the_log_rotates_by_size_and_reads_across_rotated_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        super::super::safe_fs::trust_root(&root);
        let layout = Layout::new(&root);
        let log = layout.event_log();
        std::fs::create_dir_all(log.parent().unwrap()).unwrap();
        for i in 0..12 {
            let line = json!({"event_type": format!("e{i}"), "data": {"pad": "x".repeat(60)}});
            append(&log, &line.to_string(), 300, 2).unwrap();
        }
        assert!(rotated(&log, 1).is_file() && rotated(&log, 2).is_file());
        assert!(
            !rotated(&log, 3).exists(),
            "only event_log_keep files are kept"
        );
        assert!(std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0) <= 300 + 200);
        let events = read_all(&layout).unwrap();
        let names: Vec<&str> = events
            .iter()
            .filter_map(|e| e["event_type"].as_str())
            .collect();
        // The oldest were dropped; what is left is in order and ends with the newest.
        assert_eq!(names.last(), Some(&"e11"));
        let mut sorted = names.clone();
        sorted.sort_by_key(|n| n[1..].parse::<u32>().unwrap());
        assert_eq!(names, sorted);
        assert!(names.len() < 12);
    }
    fn kept_log() -> (tempfile::TempDir, PathBuf, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap().join("ws");
        std::fs::create_dir_all(root.join("millrace-agents/logs")).unwrap();
        super::super::safe_fs::cache_dir_handles(&root);
        let layout = Layout::new(&root);
        let log = layout.event_log();
        (dir, log, layout)
    }

    fn line(i: usize) -> String {
        json!({"event_type": format!("e{i}"), "data": {"pad": "x".repeat(60)}}).to_string()
    }

    #[test]
    fn a_kept_log_still_rotates_and_keeps_other_appenders_lines() {
        let (_d, log, layout) = kept_log();
        for i in 0..12 {
            append(&log, &line(i), 300, 3).unwrap();
            if i == 5 {
                // Another process appends between two of ours.
                let mut other = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
                other
                    .write_all(format!("{}\n", line(100)).as_bytes())
                    .unwrap();
            }
        }
        assert!(rotated(&log, 1).is_file() && rotated(&log, 2).is_file());
        assert!(std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0) <= 300 + 200);
        let names: Vec<String> = read_all(&layout)
            .unwrap()
            .iter()
            .filter_map(|e| e["event_type"].as_str().map(str::to_string))
            .collect();
        // Nothing lost or torn from the newest file back to e6.
        let tail: Vec<&str> = names.iter().rev().take(7).map(String::as_str).collect();
        assert_eq!(
            tail,
            ["e11", "e10", "e9", "e8", "e7", "e6", "e100"],
            "{names:?}"
        );
    }

    #[test]
    fn a_link_planted_at_the_kept_log_by_an_agent_is_refused() {
        let (d, log, _layout) = kept_log();
        let outside = d.path().join("outside.txt");
        std::fs::write(&outside, "keep\n").unwrap();
        append(&log, &line(0), 1 << 20, 2).unwrap();
        let script = format!(
            "rm '{l}' && ln -s '{o}' '{l}'",
            l = log.display(),
            o = outside.display()
        );
        let mut child = super::super::safe_fs::spawn_untrusted(
            std::process::Command::new("/bin/sh").args(["-c", &script]),
        )
        .unwrap();
        assert!(child.wait().unwrap().success());
        super::super::safe_fs::untrusted_reaped(child.id());
        let e = append(&log, &line(1), 1 << 20, 2).unwrap_err();
        assert!(super::super::safe_fs::refusal(&e).is_some(), "{e}");
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep\n");
    }
}
