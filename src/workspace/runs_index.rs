//! Our index of the run directories (`state/runs_index.jsonl`), so that
//! listing runs costs the same with ten runs or a hundred thousand. The run
//! directories themselves stay in the reference's layout
//! (`runs/<run_id>/...`); the index is a derived view beside them.
//!
//! The file is a fixed-width header line recording a stamp of `runs/`
//! (its modification time, link count and size: any directory created in
//! or removed from `runs/` changes it), then one JSON line per run in start
//! order (`run_id`, `started_at`, `work_item_kind`, `work_item_id`). Readers
//! compare the stamp with `runs/` (one `stat`) and trust the index only
//! when they match; otherwise, or when the file is missing or a line does
//! not parse or names an invalid run id, the index is rebuilt by listing
//! `runs/` once. Newest runs are read from the end of the file, so a
//! bounded listing never reads the whole index.
//!
//! Writers (the engine when a run starts, a rebuild, `runs prune`) hold an
//! `flock` on the index file; the engine creates the run directory under it
//! and refreshes the header only when the index was current before. Nothing
//! here is fsynced: a lost line or header only makes the next reader
//! rebuild.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{clock, flock, ids, layout::Layout, safe_fs};

/// The index, relative to `millrace-agents/`.
pub const FILE: &str = "state/runs_index.jsonl";

/// One run as the index knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub run_id: String,
    pub started_at: String,
    #[serde(default)]
    pub work_item_kind: Option<String>,
    #[serde(default)]
    pub work_item_id: Option<String>,
}

/// What changes whenever a directory is created in or removed from `runs/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Stamp {
    mtime_ns: u64,
    nlink: u64,
    size: u64,
}

const HEADER_LEN: usize = 96;

impl Stamp {
    fn of(dir: &Path) -> Option<Stamp> {
        let m = std::fs::symlink_metadata(dir).ok()?;
        if !m.is_dir() {
            return None;
        }
        Some(Stamp {
            mtime_ns: (m.mtime() as u64)
                .saturating_mul(1_000_000_000)
                .saturating_add(m.mtime_nsec() as u64),
            nlink: m.nlink(),
            size: m.size(),
        })
    }

    /// The fixed-width header line (`HEADER_LEN` bytes with its newline).
    fn header(&self) -> String {
        let mut h = format!(
            "#millrace-runs-index v1 mtime_ns={:020} nlink={:012} size={:016}",
            self.mtime_ns, self.nlink, self.size
        );
        while h.len() < HEADER_LEN - 1 {
            h.push(' ');
        }
        h.push('\n');
        h
    }

    fn parse(header: &[u8]) -> Option<Stamp> {
        let text = std::str::from_utf8(header).ok()?;
        let rest = text.strip_prefix("#millrace-runs-index v1 ")?;
        let mut stamp = Stamp::default();
        for part in rest.split_whitespace() {
            let (k, v) = part.split_once('=')?;
            let v: u64 = v.parse().ok()?;
            match k {
                "mtime_ns" => stamp.mtime_ns = v,
                "nlink" => stamp.nlink = v,
                "size" => stamp.size = v,
                _ => return None,
            }
        }
        Some(stamp)
    }
}

fn runs_dir(layout: &Layout) -> PathBuf {
    layout.path("runs")
}

/// A run id we accept from the index or a directory name: a safe id that
/// starts with `run-`.
pub fn valid_run_id(id: &str) -> bool {
    id.starts_with("run-") && ids::validate_id(id).is_ok()
}

/// Open the index for writing and lock it; `None` when it does not exist.
/// Retries when the file was replaced while we waited for the lock.
fn open_locked(layout: &Layout) -> io::Result<Option<File>> {
    let path = layout.path(FILE);
    for _ in 0..8 {
        let (dir, name) = safe_fs::Dir::parent_of(&path, false)?;
        let file = match dir.open_file(&name, libc::O_RDWR) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        flock::flock(&file, libc::LOCK_EX)?;
        let same = std::fs::symlink_metadata(&path)
            .ok()
            .zip(file.metadata().ok())
            .is_some_and(|(a, b)| a.ino() == b.ino() && a.dev() == b.dev());
        if same {
            return Ok(Some(file));
        }
    }
    Err(io::Error::other("the runs index kept being replaced"))
}

/// A run is starting: create its directory if it does not exist yet and,
/// if it was new, add it to the index. Returns whether the directory was
/// created. A missing index is left for the next reader to build.
pub fn note_start(
    layout: &Layout,
    run_id: &str,
    work_item: Option<(&str, &str)>,
) -> io::Result<bool> {
    let runs = runs_dir(layout);
    let dir = runs.join(run_id);
    if std::fs::symlink_metadata(&dir).is_ok() {
        return Ok(false);
    }
    let locked = open_locked(layout).ok().flatten();
    let before = Stamp::of(&runs);
    safe_fs::create_dir_all(&dir)?;
    let Some(mut file) = locked else {
        return Ok(true);
    };
    let after = Stamp::of(&runs);
    let mut header = [0u8; HEADER_LEN];
    let current = file
        .read_exact_at(&mut header, 0)
        .ok()
        .and_then(|()| Stamp::parse(&header));
    let entry = Entry {
        run_id: run_id.to_string(),
        started_at: clock::now_rfc3339(),
        work_item_kind: work_item.map(|w| w.0.to_string()),
        work_item_id: work_item.map(|w| w.1.to_string()),
    };
    let mut line = serde_json::to_string(&entry).expect("entry serializes");
    line.push('\n');
    file.seek(SeekFrom::End(0))?;
    file.write_all(line.as_bytes())?;
    if let (Some(cur), Some(before), Some(after)) = (current, before, after) {
        if cur == before {
            file.write_all_at(after.header().as_bytes(), 0)?;
        }
    }
    Ok(true)
}

/// Why the index could not be used as it is.
enum Stale {
    Missing,
    Changed,
    Corrupt,
}

/// The header's stamp and the open file, when the index is current.
fn open_current(layout: &Layout) -> Result<File, Stale> {
    let path = layout.path(FILE);
    let mut file = safe_fs::open_regular(&path, None).map_err(|_| Stale::Missing)?;
    let mut header = [0u8; HEADER_LEN];
    file.read_exact(&mut header).map_err(|_| Stale::Corrupt)?;
    let stamp = Stamp::parse(&header).ok_or(Stale::Corrupt)?;
    if Stamp::of(&runs_dir(layout)) != Some(stamp) {
        return Err(Stale::Changed);
    }
    Ok(file)
}

fn parse_line(line: &[u8]) -> Option<Entry> {
    let e: Entry = serde_json::from_slice(line).ok()?;
    if !valid_run_id(&e.run_id) {
        return None;
    }
    let id_ok = |v: &Option<String>| v.as_deref().is_none_or(|s| ids::validate_id(s).is_ok());
    (id_ok(&e.work_item_id) && id_ok(&e.work_item_kind)).then_some(e)
}

/// Up to `limit` runs, newest first, read from the end of a current index.
fn tail(mut file: File, limit: usize) -> Result<Vec<Entry>, Stale> {
    const CHUNK: u64 = 64 * 1024;
    let len = file.metadata().map_err(|_| Stale::Corrupt)?.len();
    let start_of_lines = HEADER_LEN as u64;
    let mut pos = len;
    let mut carry: Vec<u8> = Vec::new();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    if len > start_of_lines {
        // A last line without its newline is a torn append.
        let mut last = [0u8; 1];
        file.read_exact_at(&mut last, len - 1)
            .map_err(|_| Stale::Corrupt)?;
        if last[0] != b'\n' {
            return Err(Stale::Corrupt);
        }
    }
    while pos > start_of_lines && out.len() < limit {
        let start = pos.saturating_sub(CHUNK).max(start_of_lines);
        let mut buf = vec![0u8; (pos - start) as usize];
        file.seek(SeekFrom::Start(start))
            .and_then(|_| file.read_exact(&mut buf))
            .map_err(|_| Stale::Corrupt)?;
        buf.extend_from_slice(&carry);
        let mut lines: Vec<&[u8]> = buf.split(|b| *b == b'\n').collect();
        // The first piece may be the end of a line that starts earlier.
        carry = if start > start_of_lines {
            lines.remove(0).to_vec()
        } else {
            Vec::new()
        };
        for line in lines.into_iter().rev() {
            if line.is_empty() {
                continue;
            }
            let e = parse_line(line).ok_or(Stale::Corrupt)?;
            if seen.insert(e.run_id.clone()) {
                out.push(e);
                if out.len() == limit {
                    break;
                }
            }
        }
        pos = start;
    }
    Ok(out)
}

/// The newest `limit` runs (all with `None`), newest first by start time.
/// Rebuilds the index first when it is missing, stale or corrupt.
pub fn newest(layout: &Layout, limit: Option<usize>) -> Vec<Entry> {
    newest_or(layout, limit, rebuild)
}

/// The newest `limit` runs from a current index, else from `fallback`'s
/// runs (oldest first).
fn newest_or(
    layout: &Layout,
    limit: Option<usize>,
    fallback: impl FnOnce(&Layout) -> Vec<Entry>,
) -> Vec<Entry> {
    let limit = limit.unwrap_or(usize::MAX);
    if let Ok(file) = open_current(layout) {
        if let Ok(entries) = tail(file, limit) {
            return entries;
        }
    }
    let mut all = fallback(layout);
    all.reverse();
    all.truncate(limit);
    all
}

/// Every run in the index, oldest first (rebuilt when not current).
pub fn all(layout: &Layout) -> Vec<Entry> {
    let mut entries = newest(layout, None);
    entries.reverse();
    entries
}

/// The index file's bytes (empty when unreadable).
fn read_bytes(layout: &Layout) -> Vec<u8> {
    safe_fs::open_regular(&layout.path(FILE), None)
        .and_then(|f| {
            let mut s = Vec::new();
            std::io::BufReader::new(f).read_to_end(&mut s).map(|_| s)
        })
        .unwrap_or_default()
}

/// The index's run lines (after the header).
fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes
        .split(|b| *b == b'\n')
        .skip(1)
        .filter(|l| !l.is_empty())
}

/// Every parseable entry of the index file as it is (bad lines skipped).
fn read_loose(layout: &Layout) -> Vec<Entry> {
    lines(&read_bytes(layout)).filter_map(parse_line).collect()
}

/// Rebuild the index unless it is current.
fn ensure_current(layout: &Layout) {
    if open_current(layout).is_err() {
        rebuild(layout);
    }
}

/// The ids of the runs whose id starts with `prefix` (a run id prefix such
/// as `run-3fa`). Only matching lines are parsed.
pub fn ids_with_prefix(layout: &Layout, prefix: &str) -> Vec<String> {
    ensure_current(layout);
    let needle = format!("{{\"run_id\":\"{prefix}");
    let bytes = read_bytes(layout);
    let mut ids: Vec<String> = lines(&bytes)
        .filter(|l| l.starts_with(needle.as_bytes()))
        .filter_map(parse_line)
        .map(|e| e.run_id)
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// The runs that started before `cutoff` (microseconds since the epoch),
/// oldest first, and how many runs the index holds in all. Lines are
/// parsed only up to the first run that started later (the index is in
/// start order). The caller holds the lock of `lock_for_update`, or reads
/// without it (a dry run).
pub fn started_before(layout: &Layout, cutoff: i64) -> (Vec<Entry>, usize) {
    let bytes = read_bytes(layout);
    let total = lines(&bytes).count();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for line in lines(&bytes) {
        let Some(e) = parse_line(line) else { continue };
        if clock::parse_micros(&e.started_at).unwrap_or(i64::MAX) >= cutoff {
            break;
        }
        if seen.insert(e.run_id.clone()) {
            out.push(e);
        }
    }
    (out, total)
}

/// When a run without an index entry started: its trace's `started_at`,
/// else the earliest stage result's, else the directory's modification time.
fn derive(dir: &Path, run_id: &str) -> Entry {
    let read = |p: &Path| {
        safe_fs::read_capped(p, safe_fs::MAX_STATE_BYTES)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    };
    let text = |v: &serde_json::Value, k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_str)
            .filter(|s| clock::parse_micros(s).is_some() || ids::validate_id(s).is_ok())
            .map(str::to_string)
    };
    let mut entry = Entry {
        run_id: run_id.to_string(),
        started_at: String::new(),
        work_item_kind: None,
        work_item_id: None,
    };
    if let Some(t) = read(&dir.join("run_trace.json")) {
        entry.started_at = text(&t, "started_at").unwrap_or_default();
        entry.work_item_kind = text(&t, "work_item_kind");
        entry.work_item_id = text(&t, "work_item_id");
    }
    if entry.started_at.is_empty() {
        let mut earliest: Option<(i64, String)> = None;
        if let Ok(rd) = std::fs::read_dir(dir.join("stage_results")) {
            for f in rd.flatten() {
                if let Some(v) = read(&f.path()) {
                    if let Some(s) = text(&v, "started_at") {
                        let key = clock::parse_micros(&s).unwrap_or(i64::MAX);
                        if earliest.as_ref().is_none_or(|(k, _)| key < *k) {
                            entry.work_item_kind = text(&v, "work_item_kind");
                            entry.work_item_id = text(&v, "work_item_id");
                            earliest = Some((key, s));
                        }
                    }
                }
            }
        }
        entry.started_at = match earliest {
            Some((_, s)) => s,
            None => std::fs::symlink_metadata(dir)
                .map(|m| clock::format_unix(m.mtime(), (m.mtime_nsec() / 1000) as u32))
                .unwrap_or_default(),
        };
    }
    if entry
        .work_item_kind
        .as_deref()
        .is_some_and(|k| ids::validate_id(k).is_err())
        || entry
            .work_item_id
            .as_deref()
            .is_some_and(|k| ids::validate_id(k).is_err())
    {
        entry.work_item_kind = None;
        entry.work_item_id = None;
    }
    entry
}

fn sort_key(e: &Entry) -> (i64, String) {
    (
        clock::parse_micros(&e.started_at).unwrap_or(0),
        e.run_id.clone(),
    )
}

/// Write `entries` (oldest first) as the index with `stamp`, replacing the
/// file by rename so a reader never sees half of it.
fn write(layout: &Layout, stamp: Option<Stamp>, entries: &[Entry]) -> io::Result<()> {
    let mut text = stamp.unwrap_or_default().header();
    for e in entries {
        text.push_str(&serde_json::to_string(e).expect("entry serializes"));
        text.push('\n');
    }
    let path = layout.path(FILE);
    let tmp = super::atomic::temp_path_for(&path);
    safe_fs::write_plain(&tmp, text.as_bytes())?;
    let (dir, from) = safe_fs::Dir::parent_of(&tmp, false)?;
    let (_, to) = safe_fs::Dir::parent_of(&path, false)?;
    if let Err(e) = dir.rename_to(&from, &dir, &to, false) {
        let _ = dir.unlink(&from);
        return Err(e);
    }
    Ok(())
}

/// Rebuild the index from `runs/` (entries of the old index are kept for
/// the runs still present). Returns the runs, oldest first. When the
/// index cannot be written (a read-only workspace) the result is still
/// returned.
pub fn rebuild(layout: &Layout) -> Vec<Entry> {
    let _lock = open_locked(layout).ok().flatten();
    let (stamp, entries) = scan(layout);
    let _ = write(layout, stamp, &entries);
    entries
}

/// The newest `limit` runs as `newest` gives them, for readers that must
/// not write in the workspace (the dashboard): a current index is read, a
/// missing or stale one is derived in memory and left as it is.
pub fn newest_read_only(layout: &Layout, limit: Option<usize>) -> Vec<Entry> {
    newest_or(layout, limit, |l| scan(l).1)
}

/// The runs in `runs/` now, oldest first, with the stamp taken before
/// listing (a run created meanwhile makes the index stale again rather
/// than missing).
fn scan(layout: &Layout) -> (Option<Stamp>, Vec<Entry>) {
    let runs = runs_dir(layout);
    let stamp = Stamp::of(&runs);
    let known: HashMap<String, Entry> = read_loose(layout)
        .into_iter()
        .map(|e| (e.run_id.clone(), e))
        .collect();
    let mut entries: Vec<Entry> = std::fs::read_dir(&runs)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter(|id| valid_run_id(id))
                .map(|id| match known.get(&id) {
                    Some(e) => e.clone(),
                    None => derive(&runs.join(&id), &id),
                })
                .collect()
        })
        .unwrap_or_default();
    entries.sort_by_key(sort_key);
    (stamp, entries)
}

/// Remove runs from the index after their directories were deleted (the
/// caller holds `lock_for_update`). The header gets the stamp of `runs/`
/// now when the index was current when the lock was taken.
pub fn remove(layout: &Layout, guard: &UpdateGuard, removed: &HashSet<String>) -> io::Result<()> {
    let entries: Vec<Entry> = read_loose(layout)
        .into_iter()
        .filter(|e| !removed.contains(&e.run_id))
        .collect();
    let stamp = if guard.was_current {
        Stamp::of(&runs_dir(layout))
    } else {
        None
    };
    write(layout, stamp, &entries)
}

/// For a dry run: rebuild the index unless current, without keeping a lock.
pub fn refresh(layout: &Layout) {
    ensure_current(layout);
}

/// The index lock held across an update that deletes run directories.
pub struct UpdateGuard {
    _file: Option<File>,
    was_current: bool,
}

/// Take the index lock (the engine waits for it before starting a run) and
/// note whether the index was current at that moment. A missing or stale
/// index is rebuilt first.
pub fn lock_for_update(layout: &Layout) -> UpdateGuard {
    ensure_current(layout);
    let file = open_locked(layout).ok().flatten();
    let was_current = file.is_some() && open_current(layout).is_ok();
    UpdateGuard {
        _file: file,
        was_current,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ws() -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        safe_fs::trust_root(&root);
        let layout = Layout::new(&root);
        std::fs::create_dir_all(layout.path("runs")).unwrap();
        std::fs::create_dir_all(layout.path("state")).unwrap();
        (dir, layout)
    }

    fn id(n: u32) -> String {
        format!("run-{n:032x}")
    }

    #[test]
    fn a_missing_index_is_built_and_then_appended_to() {
        let (_d, layout) = ws();
        for n in 0..3 {
            std::fs::create_dir(layout.path("runs").join(id(n))).unwrap();
        }
        assert_eq!(newest(&layout, None).len(), 3);
        assert!(layout.path(FILE).is_file());
        assert!(note_start(&layout, &id(9), Some(("task", "t-1"))).unwrap());
        assert!(!note_start(&layout, &id(9), None).unwrap());
        // Still current: read from the file, newest first.
        let file = open_current(&layout).ok().expect("index stays current");
        let top = tail(file, 2).ok().unwrap();
        assert_eq!(top[0].run_id, id(9));
        assert_eq!(top[0].work_item_id.as_deref(), Some("t-1"));
        assert_eq!(top.len(), 2);
    }

    #[test]
    fn a_foreign_run_directory_makes_the_index_stale() {
        let (_d, layout) = ws();
        assert!(newest(&layout, None).is_empty());
        std::fs::create_dir(layout.path("runs").join(id(1))).unwrap();
        assert!(matches!(open_current(&layout), Err(Stale::Changed)));
        assert_eq!(newest(&layout, Some(5))[0].run_id, id(1));
    }

    #[test]
    fn a_corrupt_index_is_rebuilt_and_never_names_a_bad_path() {
        let (_d, layout) = ws();
        std::fs::create_dir(layout.path("runs").join(id(1))).unwrap();
        newest(&layout, None);
        let mut text = std::fs::read_to_string(layout.path(FILE)).unwrap();
        text.push_str("{\"run_id\":\"../../etc\",\"started_at\":\"x\"}\n");
        std::fs::write(layout.path(FILE), text).unwrap();
        let runs = newest(&layout, None);
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].run_id, id(1));
        // Torn last line.
        let mut text = std::fs::read_to_string(layout.path(FILE)).unwrap();
        text.push_str("{\"run_id\":\"run-");
        std::fs::write(layout.path(FILE), text).unwrap();
        assert_eq!(newest(&layout, None).len(), 1);
    }

    #[test]
    fn derived_start_times_order_the_rebuilt_index() {
        let (_d, layout) = ws();
        for (n, t) in [
            (1, "2026-01-02T00:00:00Z"),
            (2, "2026-01-01T00:00:00Z"),
            (3, "2026-01-03T00:00:00Z"),
        ] {
            let dir = layout.path("runs").join(id(n));
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(
                dir.join("run_trace.json"),
                format!("{{\"started_at\":\"{t}\",\"work_item_kind\":\"task\",\"work_item_id\":\"t-{n}\"}}"),
            )
            .unwrap();
        }
        let order: Vec<String> = newest(&layout, None)
            .into_iter()
            .map(|e| e.run_id)
            .collect();
        assert_eq!(order, vec![id(3), id(1), id(2)]);
    }

    #[test]
    fn header_round_trips() {
        let s = Stamp {
            mtime_ns: 1_700_000_000_123_456_789,
            nlink: 7,
            size: 4096,
        };
        let h = s.header();
        assert_eq!(h.len(), HEADER_LEN);
        assert_eq!(Stamp::parse(h.trim_end().as_bytes()), Some(s));
    }
}
