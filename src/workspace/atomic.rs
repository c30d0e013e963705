//! Durable file writes: every state write goes temp file → fsync → rename →
//! fsync of the directory (or, for the state files rewritten at every stage,
//! spare file → fdatasync → exchange → fsync of the directory), so a crash
//! leaves either the old bytes or the new bytes, never a torn file. Also owns the crash-injection hook used by tests
//! to stop a process between two steps of a multi-step operation.
//!
//! Every write goes through `safe_fs`: directories are opened below the
//! workspace root without following links, so a link planted by an agent
//! never redirects a write outside the workspace.

use std::ffi::CString;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::safe_fs::{self, Dir};

/// Suffix of the temporary files written before a rename. `doctor` and the
/// queue reconciler treat leftovers with this suffix as debris of a crash.
pub const TEMP_SUFFIX: &str = ".millrace-tmp";

/// Environment variable naming a step at which the process aborts, as
/// `<operation>:<step>` (e.g. `queue.transition:2`). Test-only: it lets the
/// crash tests kill a real process between two steps of an operation.
pub const CRASH_ENV: &str = "MILLRACE_TEST_CRASH_AT";

/// Abort the process (no unwinding, no destructors, like `kill -9`) when
/// `CRASH_ENV` names this operation and step.
pub fn crash_point(operation: &str, step: u32) {
    if let Some(target) = std::env::var_os(CRASH_ENV) {
        let target = target.to_string_lossy();
        if let Some((op, k)) = target.rsplit_once(':') {
            if op == operation && k.parse::<u32>().ok() == Some(step) {
                std::process::abort();
            }
        }
    }
}

/// A temporary path beside `path`, unique within this process.
pub fn temp_path_for(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.{n}{TEMP_SUFFIX}", std::process::id()))
}

/// The pid of the process that made a temp file (from its name, as
/// `temp_path_for` writes it), if the name is one of ours.
pub fn temp_owner_pid(file_name: &str) -> Option<u32> {
    let stem = file_name.strip_suffix(TEMP_SUFFIX)?;
    let mut parts = stem.rsplit('.');
    let _counter = parts.next()?;
    parts.next()?.parse().ok()
}

/// fsync a directory so that a rename or create inside it survives a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    Dir::open(dir, false)?.sync()
}

/// The temp name beside `name` in the same directory.
fn temp_name(path: &Path) -> io::Result<CString> {
    let tmp = temp_path_for(path);
    CString::new(tmp.file_name().unwrap_or_default().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Write `bytes` to a fresh temp file in `dir` and fsync it.
fn write_temp(dir: &Dir, path: &Path, bytes: &[u8]) -> io::Result<CString> {
    let tmp = temp_name(path)?;
    let result = (|| {
        let mut file = dir.create_new(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(e) = result {
        let _ = dir.unlink(&tmp);
        return Err(e);
    }
    Ok(tmp)
}

/// Replace `path` with `bytes` durably (temp, fsync, rename, fsync dir).
/// A link planted at `path` is replaced, never followed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let (dir, name) = Dir::parent_of(path, false)?;
    let tmp = write_temp(&dir, path, bytes)?;
    if let Err(e) = dir.rename_to(&tmp, &dir, &name, false) {
        let _ = dir.unlink(&tmp);
        return Err(e);
    }
    dir.sync()
}

/// Suffix of the spare kept beside each state file written by
/// `write_atomic_group` (`.<name>.millrace-spare`): the next version is
/// written into the spare and the two names are exchanged, so the spare
/// then holds the previous version. Not debris: it is reused by the next
/// write (and recreated if removed).
pub const SPARE_SUFFIX: &str = ".millrace-spare";

/// The spare's name for `name`.
fn spare_name(name: &CString) -> io::Result<CString> {
    let mut v = Vec::with_capacity(name.as_bytes().len() + SPARE_SUFFIX.len() + 1);
    v.push(b'.');
    v.extend_from_slice(name.as_bytes());
    v.extend_from_slice(SPARE_SUFFIX.as_bytes());
    CString::new(v).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Open `spare` in `dir` for writing, created on first use. A link, a
/// special file or a hard-linked file planted at the spare's name (or
/// exchanged there from the file's name) is removed, never written through.
fn open_spare(dir: &Dir, spare: &CString) -> io::Result<std::fs::File> {
    match dir.open_file(spare, libc::O_WRONLY | libc::O_CREAT) {
        Err(e) if safe_fs::refusal(&e).is_some() => {
            dir.unlink(spare)?;
            dir.open_file(spare, libc::O_WRONLY | libc::O_CREAT)
        }
        r => r,
    }
}

/// Set when the file system refused `RENAME_EXCHANGE` once: later writes
/// rename the spare over the file instead (the old temp-and-rename cost).
static NO_EXCHANGE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Replace files of one directory durably with a single directory fsync,
/// for state files rewritten at every stage (the snapshot and our extras
/// beside it). Each new version is written into the file's spare
/// (`SPARE_SUFFIX`, kept from the last write), `fdatasync`ed, and the spare
/// and the file are exchanged (`renameat2(RENAME_EXCHANGE)`) in the order
/// given, then the directory is fsynced once. A crash leaves each file old
/// or new, never torn (the exchange is atomic and the live file is never
/// written), and once this returns all are new.
///
/// Why not a fresh temp file per write: on ext4 every new file allocates an
/// inode and every replaced one frees one, and a busy volume makes
/// allocation slow (without a journal ext4 skips inodes freed in the last
/// minutes, one by one). A state write here allocates and frees nothing.
/// Writers exclude each other with a lock on the directory; a reader still holding the version from two writes ago can read it torn
/// and retries (see `state::load_snapshot`).
pub fn write_atomic_group(files: &[(&Path, &[u8])]) -> io::Result<()> {
    let Some((first, _)) = files.first() else {
        return Ok(());
    };
    let (dir, _) = Dir::parent_of(first, false)?;
    // Writers of the directory's spares take turns (a lock on the
    // directory, released when `_turn` is dropped, after the sync).
    let _turn = dir.lock_exclusive()?;
    let mut spares = Vec::with_capacity(files.len());
    for (path, bytes) in files {
        if path.parent() != first.parent() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "write_atomic_group: files in different directories",
            ));
        }
        let name = file_name_c(path)?;
        let spare = spare_name(&name)?;
        let file = open_spare(&dir, &spare)?;
        rewrite_from_start(&file, bytes)?;
        spares.push((file, spare, name));
    }
    // All written before any is synced: on a journaling file system the
    // first sync then commits them all.
    for (file, ..) in &spares {
        file.sync_data()?;
    }
    for (_file, spare, name) in &spares {
        let exchanged = if NO_EXCHANGE.load(Ordering::Relaxed) {
            Err(io::Error::from(io::ErrorKind::Unsupported))
        } else {
            dir.exchange(spare, name)
        };
        match exchanged {
            Ok(()) => {}
            // The first write of the file, or no RENAME_EXCHANGE here: the
            // spare becomes the file (and is created again next time).
            Err(e)
                if e.kind() == io::ErrorKind::NotFound
                    || e.kind() == io::ErrorKind::Unsupported =>
            {
                if e.kind() == io::ErrorKind::Unsupported {
                    NO_EXCHANGE.store(true, Ordering::Relaxed);
                }
                dir.rename_to(spare, &dir, name, false)?;
            }
            Err(e) => return Err(e),
        }
    }
    dir.sync()
}

/// Replace `path` with `bytes` atomically but not durably (temp, rename,
/// no fsync): readers see the old or the new file, never a torn one, and a
/// crash may lose the write. For history that no recovery reads (stage
/// results): it needs no durable write of its own.
pub fn write_replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let (dir, name) = Dir::parent_of(path, false)?;
    let tmp = temp_name(path)?;
    let written = (|| {
        let mut file = dir.create_new(&tmp)?;
        file.write_all(bytes)
    })();
    if let Err(e) = written.and_then(|()| dir.rename_to(&tmp, &dir, &name, false)) {
        let _ = dir.unlink(&tmp);
        return Err(e);
    }
    Ok(())
}

/// Create `path` with `bytes` durably, failing with `AlreadyExists` if it
/// exists. The new file appears complete or not at all (hard link of a
/// synced temp file, which never replaces an existing name).
pub fn create_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let (dir, name) = Dir::parent_of(path, false)?;
    let tmp = write_temp(&dir, path, bytes)?;
    let linked = dir.link(&tmp, &name);
    let _ = dir.unlink(&tmp);
    linked?;
    dir.sync()
}

/// Move `from` to `to` atomically and durably: one rename, then fsync of
/// both directories. Refuses to replace an existing `to` (of any type).
pub fn rename_durable(from: &Path, to: &Path) -> io::Result<()> {
    let (a, from_name) = Dir::parent_of(from, false)?;
    let (b, to_name) = Dir::parent_of(to, false)?;
    a.rename_to(&from_name, &b, &to_name, true)?;
    b.sync()?;
    if parent_of(from) != parent_of(to) {
        a.sync()?;
    }
    Ok(())
}

/// Move a work item forward in its lifecycle (entry to active, active to
/// an end state): one rename, then fsync of the destination directory only.
/// After a power loss the item is at least at its destination; its old name
/// may come back too (the source directory's change is made durable by the
/// next fsync of that directory), and `queue::reconcile`, which runs at
/// every daemon start, keeps the copy furthest in the lifecycle. So the
/// item is never lost and never goes back. A move backwards (a requeue)
/// must use `rename_durable`. Refuses to replace an existing `to`.
pub fn rename_forward(from: &Path, to: &Path) -> io::Result<()> {
    let (a, from_name) = Dir::parent_of(from, false)?;
    let (b, to_name) = Dir::parent_of(to, false)?;
    a.rename_to(&from_name, &b, &to_name, true)?;
    b.sync()
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Replace a file's content without creating a new file: write at offset
/// 0, then cut the file to the new length. No inode is allocated per update
/// (allocation dominates the cost of frequent small writes on a busy ext4
/// volume). Not atomic for large files and not fsynced: for derived views
/// and records that are rebuilt or re-read (status markers, run traces).
/// A link or special file at `path` is refused.
pub fn overwrite_in_place(path: &Path, bytes: &[u8]) -> io::Result<()> {
    rewrite_from_start(&safe_fs::open_write(path)?, bytes)
}

/// Write `bytes` at offset 0 of `file` and cut what is left of a longer
/// old content (no truncation when the file does not shrink: on tmpfs and
/// ext4 a truncate costs more than the write).
fn rewrite_from_start(file: &std::fs::File, bytes: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let old = file.metadata()?.len();
    file.write_all_at(bytes, 0)?;
    if old > bytes.len() as u64 {
        file.set_len(bytes.len() as u64)?;
    }
    Ok(())
}

/// The last component of `path`, as a C string (for the `Dir` calls).
fn file_name_c(path: &Path) -> io::Result<CString> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    CString::new(name.as_bytes()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

/// Append one line to a log file in one `write` (so concurrent appenders
/// never interleave within a line). Not fsynced: logs are history, not
/// state; the state files they describe are durable on their own. A link
/// or special file at `path` is refused.
pub fn append_line(path: &Path, line: &str) -> io::Result<()> {
    let mut file = safe_fs::open_append(path)?;
    let mut buf = String::with_capacity(line.len() + 1);
    buf.push_str(line);
    buf.push('\n');
    file.write_all(buf.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn temp_names_carry_their_owner() {
        let tmp = temp_path_for(Path::new("/x/state/runtime_daemon.lock.json"));
        let name = tmp.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(temp_owner_pid(&name), Some(std::process::id()));
        assert_eq!(temp_owner_pid("notes.md"), None);
    }

    #[test]
    fn in_place_and_group_rewrites_leave_exactly_the_new_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("marker.md");
        for text in [
            "### BUILDER_RUNNING\n",
            "### OK\n",
            "### CHECKER_RUNNING_LONGER\n",
            "x",
        ] {
            overwrite_in_place(&p, text.as_bytes()).unwrap();
            assert_eq!(fs::read_to_string(&p).unwrap(), text);
        }
        let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
        for (x, y) in [("long first", "2"), ("s", "longer second"), ("mid", "m")] {
            write_atomic_group(&[(&a, x.as_bytes()), (&b, y.as_bytes())]).unwrap();
            assert_eq!(fs::read_to_string(&a).unwrap(), x);
            assert_eq!(fs::read_to_string(&b).unwrap(), y);
        }
    }

    #[test]
    fn write_atomic_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn create_atomic_refuses_existing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.md");
        create_atomic(&p, b"first").unwrap();
        let err = create_atomic(&p, b"second").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&p).unwrap(), b"first");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn group_and_plain_replacements_leave_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        safe_fs::trust_root(&root);
        let (a, b) = (root.join("a.json"), root.join("b.json"));
        write_atomic_group(&[(&a, b"1"), (&b, b"2")]).unwrap();
        write_atomic_group(&[(&a, b"3"), (&b, b"4")]).unwrap();
        assert_eq!(
            (fs::read(&a).unwrap(), fs::read(&b).unwrap()),
            (b"3".to_vec(), b"4".to_vec())
        );
        let other = root.join("sub");
        fs::create_dir(&other).unwrap();
        assert!(write_atomic_group(&[(&a, b"5"), (&other.join("c"), b"6")]).is_err());
        assert_eq!(fs::read(&a).unwrap(), b"3");
        write_replace(&root.join("c.json"), b"x").unwrap();
        write_replace(&root.join("c.json"), b"y").unwrap();
        assert_eq!(fs::read(root.join("c.json")).unwrap(), b"y");
        let mut names: Vec<String> = fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                ".a.json.millrace-spare",
                ".b.json.millrace-spare",
                "a.json",
                "b.json",
                "c.json",
                "sub"
            ]
        );
    }

    #[test]
    fn group_writes_reuse_two_inodes_and_keep_the_previous_version_spare() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        safe_fs::trust_root(&root);
        let (a, spare) = (root.join("a.json"), root.join(".a.json.millrace-spare"));
        let ino = |p: &Path| fs::symlink_metadata(p).unwrap().ino();
        write_atomic_group(&[(&a, b"first")]).unwrap();
        write_atomic_group(&[(&a, b"second, longer")]).unwrap();
        let pair = [ino(&a), ino(&spare)];
        for (i, text) in ["3", "fourth", "5"].iter().enumerate() {
            write_atomic_group(&[(&a, text.as_bytes())]).unwrap();
            assert_eq!(fs::read(&a).unwrap(), text.as_bytes());
            // The two inodes trade names: no file is created or freed.
            let now = [ino(&a), ino(&spare)];
            assert_eq!(now, if i % 2 == 0 { [pair[1], pair[0]] } else { pair });
        }
        assert_eq!(fs::read(&spare).unwrap(), b"fourth");
    }

    #[test]
    fn a_link_planted_at_the_spare_is_removed_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        safe_fs::trust_root(&root);
        let outside = root.join("outside.txt");
        fs::write(&outside, "keep me").unwrap();
        let (a, spare) = (root.join("a.json"), root.join(".a.json.millrace-spare"));
        write_atomic_group(&[(&a, b"one")]).unwrap();
        std::os::unix::fs::symlink(&outside, &spare).unwrap();
        write_atomic_group(&[(&a, b"two")]).unwrap();
        assert_eq!(fs::read(&a).unwrap(), b"two");
        assert_eq!(fs::read_to_string(&outside).unwrap(), "keep me");
        // A hard link to a file elsewhere: the same.
        fs::remove_file(&spare).unwrap();
        fs::hard_link(&outside, &spare).unwrap();
        write_atomic_group(&[(&a, b"three")]).unwrap();
        assert_eq!(fs::read(&a).unwrap(), b"three");
        assert_eq!(fs::read_to_string(&outside).unwrap(), "keep me");
    }

    #[test]
    fn a_group_write_waits_for_the_directory_lock() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        safe_fs::trust_root(&root);
        let a = root.join("a.json");
        write_atomic_group(&[(&a, b"one")]).unwrap();
        let turn = Dir::open(&root, false).unwrap().lock_exclusive().unwrap();
        std::thread::scope(|s| {
            let writer = s.spawn(|| write_atomic_group(&[(&a, b"two")]).unwrap());
            std::thread::sleep(std::time::Duration::from_millis(200));
            assert_eq!(fs::read(&a).unwrap(), b"one", "wrote without its turn");
            drop(turn);
            writer.join().unwrap();
        });
        assert_eq!(fs::read(&a).unwrap(), b"two");
    }

    #[test]
    fn concurrent_group_writers_take_turns() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        safe_fs::trust_root(&root);
        let a = root.join("a.json");
        write_atomic_group(&[(&a, b"start")]).unwrap();
        let docs: Vec<Vec<u8>> = (0..4u8)
            .map(|t| vec![b'a' + t; 1000 + 700 * t as usize])
            .collect();
        std::thread::scope(|s| {
            for doc in &docs {
                let a = &a;
                s.spawn(move || {
                    for _ in 0..50 {
                        write_atomic_group(&[(a, doc)]).unwrap();
                    }
                });
            }
        });
        // Writers took turns: the file and its spare each hold one whole
        // document, never two writers' bytes mixed.
        assert!(docs.contains(&fs::read(&a).unwrap()));
        assert!(docs.contains(&fs::read(root.join(".a.json.millrace-spare")).unwrap()));
    }

    #[test]
    fn rename_durable_refuses_to_clobber() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, "a").unwrap();
        fs::write(&b, "b").unwrap();
        assert!(rename_durable(&a, &b).is_err());
        assert!(a.exists());
        assert_eq!(fs::read(&b).unwrap(), b"b");
    }
}
