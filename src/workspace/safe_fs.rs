//! File access below a workspace root that never follows a link and never
//! blocks on a special file. The agent works inside the workspace and may
//! plant symlinks, FIFOs or devices anywhere under it (run directories,
//! `state/`, the queue, the mailbox); the runtime must neither write nor
//! read through them.
//!
//! The workspace root itself is trusted (the operator named it; `Layout`
//! canonicalizes it once and registers it with `trust_root`). Every path
//! component below it is opened relative to its parent's directory handle
//! with no-follow semantics: `openat2(RESOLVE_NO_SYMLINKS|RESOLVE_BENEATH)`
//! where the kernel has it, else a component-by-component `openat(O_NOFOLLOW
//! |O_DIRECTORY)` walk. Files are then created with `O_EXCL|O_NOFOLLOW`,
//! opened with `O_NOFOLLOW|O_NONBLOCK` and checked with `fstat` on the open
//! descriptor, so there is no window between a check and its use.
//!
//! A path outside every registered root (unit tests on bare temp dirs) is
//! walked from `/` with no link followed at all.
//!
//! The process that runs the agents (the daemon, `run once`) may keep the
//! handles of the directories it walked (`cache_dir_handles`), so that the
//! next open, create, rename or unlink in the same directory does not walk
//! again. A kept handle stays right only while nothing untrusted can have
//! moved the directory since it was opened: an agent that renames
//! `runs/<run>` out of the workspace and plants a link in its place would
//! otherwise receive the runtime's next writes. So the handles live in an
//! *epoch*: starting an agent process ends it (`spawn_untrusted`), so does
//! reaping one (`untrusted_reaped`) and the daemon waking from its idle
//! sleep (`untrusted_ran`); no handle is kept or reused while any agent this
//! process started is unreaped, and a handle from an ended epoch is never
//! used. `keep_epoch` lets a caller hold a file of its own under the same
//! rule (the event log's append handle).
//!
//! Refusals are `io::Error`s carrying a `Refused` value (`refusal(&err)`
//! finds it), so callers keep their `io::Result` signatures and the runtime
//! can still tell a planted link from an ordinary I/O error.

use std::ffi::{CString, OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// Largest queue document, mailbox envelope, stage result or run trace the
/// runtime reads (these are small JSON or markdown files; anything larger
/// is refused rather than held in memory).
pub const MAX_DOCUMENT_BYTES: u64 = 4 * 1024 * 1024;

/// Largest state file (snapshot, counters, compiled plan) the runtime reads.
pub const MAX_STATE_BYTES: u64 = 64 * 1024 * 1024;

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A component below the workspace root, or the file itself, is a symlink.
    Symlink,
    /// The path has a `..` component or is not below its root.
    Escapes,
    /// The file is a FIFO, socket, device or directory.
    NotRegular(&'static str),
    /// The file is larger than the reader's limit.
    TooLarge { limit: u64 },
    /// A file to be rewritten has other hard links (one may be outside).
    HardLinked,
}

/// A refused path, as carried inside an `io::Error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub path: PathBuf,
    pub refusal: Refusal,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.path.display();
        match &self.refusal {
            Refusal::Symlink => write!(f, "{p}: refused: a symlink inside the workspace"),
            Refusal::Escapes => write!(f, "{p}: refused: the path leaves the workspace"),
            Refusal::NotRegular(kind) => write!(f, "{p}: refused: a {kind}, not a regular file"),
            Refusal::HardLinked => {
                write!(f, "{p}: refused: the file has other hard links")
            }
            Refusal::TooLarge { limit } => {
                write!(f, "{p}: refused: larger than the {limit}-byte limit")
            }
        }
    }
}

impl std::error::Error for Refused {}

fn refused(path: &Path, refusal: Refusal) -> io::Error {
    let kind = match refusal {
        Refusal::TooLarge { .. } => io::ErrorKind::InvalidData,
        _ => io::ErrorKind::PermissionDenied,
    };
    io::Error::new(
        kind,
        Refused {
            path: path.to_path_buf(),
            refusal,
        },
    )
}

/// The refusal inside `err`, if it is one.
pub fn refusal(err: &io::Error) -> Option<&Refused> {
    err.get_ref().and_then(|e| e.downcast_ref::<Refused>())
}

/// A registered root and, once it has been opened, its directory handle
/// (kept for the life of the process: one open per root, not per file).
struct Root {
    path: PathBuf,
    fd: Option<Arc<OwnedFd>>,
    /// Directory handles below this root may be kept (`cache_dir_handles`).
    cache: bool,
}

/// Every root registered so far (canonical absolute paths).
static ROOTS: RwLock<Vec<Root>> = RwLock::new(Vec::new());

/// Trust `root` (a canonical, absolute workspace root): paths below it are
/// walked from it without following links.
pub fn trust_root(root: &Path) {
    if let Ok(mut roots) = ROOTS.write() {
        if !roots.iter().any(|r| r.path == root) {
            roots.push(Root {
                path: root.to_path_buf(),
                fd: None,
                cache: false,
            });
        }
    }
}

/// Keep the handles of directories walked below `root` (trusted, as by
/// `trust_root`) in this process, under the epoch rule (module docs). Only
/// the process that starts the agents may: another process cannot see
/// them start.
pub fn cache_dir_handles(root: &Path) {
    trust_root(root);
    if let Ok(mut roots) = ROOTS.write() {
        if let Some(r) = roots.iter_mut().find(|r| r.path == root) {
            r.cache = true;
        }
    }
}

/// Where a walk starts.
struct Start {
    root: PathBuf,
    rel: PathBuf,
    /// The root's open handle, when registered and already opened.
    fd: Option<Arc<OwnedFd>>,
    registered: bool,
    /// Directory handles below this root may be kept.
    cache: bool,
}

/// The trusted root of `path` and the path below it.
fn split(path: &Path) -> io::Result<Start> {
    let best = ROOTS.read().ok().and_then(|roots| {
        roots
            .iter()
            .filter(|r| path.starts_with(&r.path))
            .max_by_key(|r| r.path.as_os_str().len())
            .map(|r| (r.path.clone(), r.fd.clone(), r.cache))
    });
    let start = match best {
        Some((root, fd, cache)) => Start {
            rel: path.strip_prefix(&root).unwrap_or(path).to_path_buf(),
            root,
            fd,
            registered: true,
            cache,
        },
        None => {
            // Not below a workspace: trust nothing but the file system root.
            let anchor = if path.is_absolute() { "/" } else { "." };
            Start {
                rel: path.strip_prefix(anchor).unwrap_or(path).to_path_buf(),
                root: PathBuf::from(anchor),
                fd: None,
                registered: false,
                cache: false,
            }
        }
    };
    for c in start.rel.components() {
        if !matches!(c, Component::Normal(_) | Component::CurDir) {
            return Err(refused(path, Refusal::Escapes));
        }
    }
    Ok(start)
}

/// The open handle of a start's root (opened, and kept when registered).
fn root_fd(start: &Start) -> io::Result<Arc<OwnedFd>> {
    if let Some(fd) = &start.fd {
        return Ok(fd.clone());
    }
    let fd = openat(
        libc::AT_FDCWD,
        &cstr(start.root.as_os_str())?,
        libc::O_RDONLY | libc::O_DIRECTORY,
        0,
    )
    .map_err(|e| with_path(e, &start.root))?;
    let fd = Arc::new(fd);
    if start.registered {
        if let Ok(mut roots) = ROOTS.write() {
            if let Some(r) = roots.iter_mut().find(|r| r.path == start.root) {
                r.fd.get_or_insert_with(|| fd.clone());
            }
        }
    }
    Ok(fd)
}

fn cstr(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn last_err() -> io::Error {
    io::Error::last_os_error()
}

fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

/// `openat(dir, name, flags)` with `O_CLOEXEC`.
fn openat(
    dir: RawFd,
    name: &CString,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    // SAFETY: `name` is a valid NUL-terminated string; the returned fd is
    // owned by nobody else.
    let fd = unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    };
    if fd < 0 {
        Err(last_err())
    } else {
        // SAFETY: fd was just returned by openat and is open.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

const DIR_FLAGS: libc::c_int = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW;

/// A directory opened below a trusted root without following links.
#[derive(Debug)]
pub struct Dir {
    fd: Arc<OwnedFd>,
    path: PathBuf,
}

impl Dir {
    /// Open the directory `path`, creating missing components when `create`.
    pub fn open(path: &Path, create: bool) -> io::Result<Dir> {
        let start = split(path)?;
        let rel = &start.rel;
        let root_fd = root_fd(&start)?;
        let comps: Vec<OsString> = rel
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_os_string()),
                _ => None,
            })
            .collect();
        if comps.is_empty() {
            return Ok(Dir {
                fd: root_fd,
                path: path.to_path_buf(),
            });
        }
        let epoch = if start.cache {
            match cached(path) {
                Ok(fd) => {
                    return Ok(Dir {
                        fd,
                        path: path.to_path_buf(),
                    })
                }
                Err(epoch) => epoch,
            }
        } else {
            None
        };
        let fd = Dir::walk(root_fd, rel, &comps, path, create)?;
        if let Some(epoch) = epoch {
            keep(path, &fd, epoch);
        }
        Ok(Dir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// Walk `comps` (= `rel`) from the root's handle without following links.
    fn walk(
        root_fd: Arc<OwnedFd>,
        rel: &Path,
        comps: &[OsString],
        path: &Path,
        create: bool,
    ) -> io::Result<Arc<OwnedFd>> {
        #[cfg(test)]
        WALKS.with(|w| w.set(w.get() + 1));
        match openat2_beneath(&root_fd, rel, path)? {
            Beneath::Opened(fd) => return Ok(Arc::new(fd)),
            // No link on the way (that is ELOOP): a component is missing,
            // as the walk would find.
            Beneath::Missing if !create => {
                return Err(dir_err(io::Error::from_raw_os_error(libc::ENOENT), path))
            }
            Beneath::Missing if comps.len() > 1 => {
                // Create what is missing from the parent (kept, or opened
                // the same way), not component by component from the root.
                let parent = Dir::open(path.parent().unwrap_or(path), true)?;
                let name = cstr(comps.last().map(OsString::as_os_str).unwrap_or_default())?;
                return parent.make_dir(&name, path).map(Arc::new);
            }
            _ => {}
        }
        let mut fd = root_fd;
        for c in comps {
            let name = cstr(c)?;
            let next = match openat(fd.as_raw_fd(), &name, DIR_FLAGS, 0) {
                Ok(next) => next,
                Err(e) if errno(&e) == libc::ENOENT && create => make_dir(&fd, &name, path)?,
                Err(e) => return Err(walk_err(e, &fd, &name, path)),
            };
            fd = Arc::new(next);
        }
        Ok(fd)
    }

    /// Create the directory `name` here (unless it exists) and open it
    /// without following a link; `path` names it in errors.
    fn make_dir(&self, name: &CString, path: &Path) -> io::Result<OwnedFd> {
        make_dir(&self.fd, name, path)
    }

    /// Open the directory holding `path` (creating it when `create`) and
    /// return it with the file name.
    pub fn parent_of(path: &Path, create: bool) -> io::Result<(Dir, CString)> {
        let name = path
            .file_name()
            .ok_or_else(|| refused(path, Refusal::Escapes))?;
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        Ok((Dir::open(parent, create)?, cstr(name)?))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn child(&self, name: &CString) -> PathBuf {
        self.path.join(OsStr::from_bytes(name.as_bytes()))
    }

    /// Open `name` in this directory without following a link; a FIFO or
    /// device does not block the open. Refuses anything but a regular file,
    /// and, when writing, a file with other hard links (its other name may
    /// be outside the workspace). `O_TRUNC` is applied only after the checks.
    pub fn open_file(&self, name: &CString, flags: libc::c_int) -> io::Result<File> {
        self.open_file_sized(name, flags).map(|(file, _)| file)
    }

    /// `open_file`, with the file's size after the open (from the same
    /// `fstat` that checked it).
    pub fn open_file_sized(&self, name: &CString, flags: libc::c_int) -> io::Result<(File, u64)> {
        let path = self.child(name);
        let fd = openat(
            self.fd.as_raw_fd(),
            name,
            (flags & !libc::O_TRUNC) | libc::O_NOFOLLOW | libc::O_NONBLOCK,
            0o666,
        )
        .map_err(|e| file_err(e, &path))?;
        let file = File::from(fd);
        if flags & (libc::O_CREAT | libc::O_EXCL) == libc::O_CREAT | libc::O_EXCL {
            // Just created here (a link or anything else at the name fails
            // with EEXIST): a regular, empty file with one link.
            return Ok((file, 0));
        }
        let meta = check_regular(&file, &path)?;
        if flags & (libc::O_WRONLY | libc::O_RDWR) != 0 {
            use std::os::unix::fs::MetadataExt;
            if meta.nlink() > 1 {
                return Err(refused(&path, Refusal::HardLinked));
            }
            if flags & libc::O_TRUNC != 0 && meta.len() > 0 {
                file.set_len(0).map_err(|e| with_path(e, &path))?;
                return Ok((file, 0));
            }
        }
        // O_NONBLOCK stays set: it has no effect on a regular file.
        Ok((file, meta.len()))
    }

    /// Create `name`, failing if anything (a link included) has that name.
    pub fn create_new(&self, name: &CString) -> io::Result<File> {
        self.open_file(name, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL)
    }

    /// Create `name` empty, or truncate the regular file it names. A new
    /// file is created exclusively (no `fstat` needed); what exists is
    /// opened and checked as by `open_file`.
    pub fn create_or_truncate(&self, name: &CString) -> io::Result<File> {
        match self.create_new(name) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                self.open_file(name, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC)
            }
            r => r,
        }
    }

    /// Rename `from` in this directory to `to` in `dest`; with `no_replace`
    /// an existing `to` (of any type) makes it fail with `AlreadyExists`.
    pub fn rename_to(
        &self,
        from: &CString,
        dest: &Dir,
        to: &CString,
        no_replace: bool,
    ) -> io::Result<()> {
        let target = dest.child(to);
        let r = if no_replace {
            rename_noreplace(self.fd.as_raw_fd(), from, dest.fd.as_raw_fd(), to)
        } else {
            // SAFETY: valid fds and NUL-terminated names.
            let r = unsafe {
                libc::renameat(
                    self.fd.as_raw_fd(),
                    from.as_ptr(),
                    dest.fd.as_raw_fd(),
                    to.as_ptr(),
                )
            };
            if r < 0 {
                Err(last_err())
            } else {
                Ok(())
            }
        };
        r.map_err(|e| match errno(&e) {
            libc::EEXIST | libc::ENOTEMPTY => io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} already exists", target.display()),
            ),
            _ => with_path(e, &target),
        })
    }

    /// Hard-link `from` to `to` in this directory (never replaces `to`,
    /// never follows `from`).
    pub fn link(&self, from: &CString, to: &CString) -> io::Result<()> {
        let fd = self.fd.as_raw_fd();
        // SAFETY: valid fd and NUL-terminated names; flags 0 = no follow.
        let r = unsafe { libc::linkat(fd, from.as_ptr(), fd, to.as_ptr(), 0) };
        if r < 0 {
            let e = last_err();
            if errno(&e) == libc::EEXIST {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} already exists", self.child(to).display()),
                ));
            }
            return Err(with_path(e, &self.child(to)));
        }
        Ok(())
    }

    /// Remove the name `name` (a link is removed, not its target).
    pub fn unlink(&self, name: &CString) -> io::Result<()> {
        // SAFETY: valid fd and NUL-terminated name.
        let r = unsafe { libc::unlinkat(self.fd.as_raw_fd(), name.as_ptr(), 0) };
        if r < 0 {
            Err(with_path(last_err(), &self.child(name)))
        } else {
            Ok(())
        }
    }

    /// Atomically swap the names `a` and `b` in this directory (both must
    /// exist). `Unsupported` on a file system without `RENAME_EXCHANGE`.
    pub fn exchange(&self, a: &CString, b: &CString) -> io::Result<()> {
        let fd = self.fd.as_raw_fd();
        // SAFETY: valid fd and NUL-terminated names.
        let r = unsafe { libc::renameat2(fd, a.as_ptr(), fd, b.as_ptr(), libc::RENAME_EXCHANGE) };
        if r == 0 {
            return Ok(());
        }
        let e = last_err();
        match errno(&e) {
            libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("{}: RENAME_EXCHANGE: {e}", self.path.display()),
            )),
            _ => Err(with_path(e, &self.child(b))),
        }
    }

    /// An exclusive `flock` on this directory (a descriptor of its own,
    /// so threads of one process exclude each other too), held until the
    /// returned file is dropped.
    pub fn lock_exclusive(&self) -> io::Result<File> {
        let dot = CString::new(".").expect("no NUL");
        let fd = openat(self.fd.as_raw_fd(), &dot, DIR_FLAGS, 0)
            .map_err(|e| with_path(e, &self.path))?;
        let file = File::from(fd);
        super::flock::flock(&file, libc::LOCK_EX).map_err(|e| with_path(e, &self.path))?;
        Ok(file)
    }

    /// `lstat`-like: does anything have this name?
    pub fn exists(&self, name: &CString) -> bool {
        // SAFETY: zeroed stat is a valid out-parameter.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: valid fd, name and out-pointer.
        unsafe {
            libc::fstatat(
                self.fd.as_raw_fd(),
                name.as_ptr(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            ) == 0
        }
    }

    /// fsync the directory.
    pub fn sync(&self) -> io::Result<()> {
        // SAFETY: valid fd.
        if unsafe { libc::fsync(self.fd.as_raw_fd()) } < 0 {
            return Err(with_path(last_err(), &self.path));
        }
        Ok(())
    }
}

// ------------------------------------------------- kept directory handles

/// How many directory handles a process keeps (a stage touches about six
/// directories: its run directory and `stage_results/`, `state/`, `logs/`,
/// two queue states).
const KEPT_DIRS: usize = 8;

/// The kept directory handles and what decides whether they may be used.
struct Kept {
    /// Ends whenever something untrusted may have run (module docs).
    epoch: u64,
    /// `spawn_untrusted` calls between their epoch bump and knowing the pid.
    starting: usize,
    /// Agents this process started and has not reaped.
    live: Vec<u32>,
    /// Handles opened in the current epoch, most recently used last.
    dirs: Vec<(PathBuf, Arc<OwnedFd>)>,
}

impl Kept {
    /// No agent of ours is starting or running: a handle may be kept or used.
    fn quiet(&self) -> bool {
        self.starting == 0 && self.live.is_empty()
    }

    /// End the epoch: every kept handle is dropped.
    fn bump(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        self.dirs.clear();
    }

    /// Forget pids that are no longer unreaped children of this process (one
    /// reaped by a path that did not call `untrusted_reaped`).
    fn sweep(&mut self) {
        self.live.retain(|&pid| peek_child(pid).is_some());
    }
}

static KEPT: Mutex<Kept> = Mutex::new(Kept {
    epoch: 0,
    starting: 0,
    live: Vec::new(),
    dirs: Vec::new(),
});

fn kept() -> std::sync::MutexGuard<'static, Kept> {
    KEPT.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
thread_local! {
    /// Directory walks made by this thread (tests count them).
    static WALKS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The epoch and whether no agent is starting or running (tests).
#[cfg(test)]
fn kept_state() -> (u64, bool) {
    let k = kept();
    (k.epoch, k.quiet())
}

/// The kept handle of the directory `path`, or (`Err`) the epoch a handle
/// walked now may be kept in (`None`: none may be kept now).
fn cached(path: &Path) -> Result<Arc<OwnedFd>, Option<u64>> {
    let mut k = kept();
    if !k.quiet() {
        return Err(None);
    }
    match k.dirs.iter().position(|(p, _)| p == path) {
        Some(i) => {
            let entry = k.dirs.remove(i);
            let fd = entry.1.clone();
            k.dirs.push(entry);
            Ok(fd)
        }
        None => Err(Some(k.epoch)),
    }
}

/// Keep `fd`, the handle of `path` walked in `epoch`, unless that epoch
/// ended meanwhile or an agent is starting or running.
fn keep(path: &Path, fd: &Arc<OwnedFd>, epoch: u64) {
    let mut k = kept();
    if k.epoch != epoch || !k.quiet() || k.dirs.iter().any(|(p, _)| p == path) {
        return;
    }
    if k.dirs.len() >= KEPT_DIRS {
        k.dirs.remove(0);
    }
    k.dirs.push((path.to_path_buf(), fd.clone()));
}

/// Start `cmd` as an untrusted process (an agent): the epoch ends before it
/// starts, and no handle is kept or reused until it has been reaped
/// (`untrusted_reaped`).
pub fn spawn_untrusted(cmd: &mut std::process::Command) -> io::Result<std::process::Child> {
    {
        let mut k = kept();
        k.starting += 1;
        k.bump();
    }
    let child = cmd.spawn();
    let mut k = kept();
    k.starting -= 1;
    k.sweep();
    if let Ok(child) = &child {
        k.live.push(child.id());
    }
    child
}

/// The untrusted process `pid` started by `spawn_untrusted` has been reaped
/// (its process group killed first, where the caller does so): the epoch
/// ends, and handles may be kept again once no other agent runs.
pub fn untrusted_reaped(pid: u32) {
    let mut k = kept();
    k.live.retain(|&p| p != pid);
    k.sweep();
    k.bump();
}

/// Something untrusted may have run without this process starting it (the
/// daemon slept between ticks): the epoch ends.
pub fn untrusted_ran() {
    let mut k = kept();
    k.sweep();
    k.bump();
}

/// A token for a handle a caller keeps itself (an open file below a
/// directory walked with `Dir`): valid while the epoch it was taken in
/// lasts, and only while no agent is starting or running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epoch(u64);

impl Epoch {
    /// Whether a handle taken with this token may still be used.
    pub fn current(&self) -> bool {
        let k = kept();
        k.quiet() && k.epoch == self.0
    }
}

/// The token to take before opening a file below `path` that the caller
/// means to keep, or `None` when nothing may be kept there now (a root
/// without `cache_dir_handles`, or an agent starting or running). Take it
/// before the open: a token taken after could outlive an epoch the handle
/// was opened in.
pub fn keep_epoch(path: &Path) -> Option<Epoch> {
    let cache = split(path).ok()?.cache;
    let k = kept();
    (cache && k.quiet()).then_some(Epoch(k.epoch))
}

/// The state of this process's child `pid`, read without reaping it
/// (`waitid(WNOWAIT)`): `Some(true)` exited, `Some(false)` still running
/// (or unreadable), `None` not a child of ours to wait for (`ECHILD`).
pub fn peek_child(pid: u32) -> Option<bool> {
    // SAFETY: zeroed siginfo_t is a valid out-parameter.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid with WNOWAIT only reads the child's state, never reaps.
    let r = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    if r < 0 {
        return (errno(&last_err()) != libc::ECHILD).then_some(false);
    }
    // SAFETY: si_pid is set (non-zero) by waitid when a child changed state.
    Some(unsafe { info.si_pid() } != 0)
}

/// `mkdirat` (an existing `name` is fine) then a no-follow open of it.
fn make_dir(parent: &OwnedFd, name: &CString, path: &Path) -> io::Result<OwnedFd> {
    // SAFETY: valid fd and NUL-terminated name.
    let r = unsafe { libc::mkdirat(parent.as_raw_fd(), name.as_ptr(), 0o777) };
    if r < 0 && errno(&last_err()) != libc::EEXIST {
        return Err(with_path(last_err(), path));
    }
    openat(parent.as_raw_fd(), name, DIR_FLAGS, 0).map_err(|e| walk_err(e, parent, name, path))
}

/// What a one-call `openat2` open of a directory below a root found.
enum Beneath {
    Opened(OwnedFd),
    /// A component is missing (`ENOENT`; a link on the way is `ELOOP`).
    Missing,
    /// No `openat2` here, or a case the component walk names precisely.
    Walk,
}

#[cfg(target_os = "linux")]
fn openat2_beneath(root: &OwnedFd, rel: &Path, path: &Path) -> io::Result<Beneath> {
    use std::sync::atomic::{AtomicBool, Ordering};
    static UNAVAILABLE: AtomicBool = AtomicBool::new(false);
    if UNAVAILABLE.load(Ordering::Relaxed) {
        return Ok(Beneath::Walk);
    }
    let name = cstr(rel.as_os_str())?;
    // SAFETY: open_how is plain data; zeroed is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (DIR_FLAGS | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: valid fd, NUL-terminated path, and a correctly sized open_how.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            name.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd >= 0 {
        // SAFETY: fd was just returned by openat2 and is open.
        return Ok(Beneath::Opened(unsafe {
            OwnedFd::from_raw_fd(fd as RawFd)
        }));
    }
    let e = last_err();
    match errno(&e) {
        libc::ENOSYS | libc::EPERM | libc::E2BIG => {
            UNAVAILABLE.store(true, Ordering::Relaxed);
            Ok(Beneath::Walk)
        }
        libc::ENOENT => Ok(Beneath::Missing),
        // The walk names the failing component's kind precisely.
        libc::ENOTDIR | libc::EAGAIN | libc::EINVAL => Ok(Beneath::Walk),
        _ => Err(dir_err(e, path)),
    }
}

#[cfg(not(target_os = "linux"))]
fn openat2_beneath(_: &OwnedFd, _: &Path, _: &Path) -> io::Result<Beneath> {
    Ok(Beneath::Walk)
}

#[cfg(target_os = "linux")]
fn rename_noreplace(
    from_dir: RawFd,
    from: &CString,
    to_dir: RawFd,
    to: &CString,
) -> io::Result<()> {
    // SAFETY: valid fds and NUL-terminated names.
    let r = unsafe {
        libc::renameat2(
            from_dir,
            from.as_ptr(),
            to_dir,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = last_err();
    if !matches!(errno(&e), libc::EINVAL | libc::ENOSYS) {
        return Err(e);
    }
    // File systems without RENAME_NOREPLACE: link then unlink never replaces.
    // SAFETY: as above; flags 0 = no follow.
    if unsafe { libc::linkat(from_dir, from.as_ptr(), to_dir, to.as_ptr(), 0) } < 0 {
        return Err(last_err());
    }
    // SAFETY: as above.
    if unsafe { libc::unlinkat(from_dir, from.as_ptr(), 0) } < 0 {
        return Err(last_err());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn rename_noreplace(
    from_dir: RawFd,
    from: &CString,
    to_dir: RawFd,
    to: &CString,
) -> io::Result<()> {
    // SAFETY: valid fds and NUL-terminated names; flags 0 = no follow.
    if unsafe { libc::linkat(from_dir, from.as_ptr(), to_dir, to.as_ptr(), 0) } < 0 {
        return Err(last_err());
    }
    // SAFETY: as above.
    if unsafe { libc::unlinkat(from_dir, from.as_ptr(), 0) } < 0 {
        return Err(last_err());
    }
    Ok(())
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    if refusal(&e).is_some() {
        return e;
    }
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// A directory component failed to open: a link there is a refusal.
fn dir_err(e: io::Error, path: &Path) -> io::Error {
    match errno(&e) {
        libc::ELOOP => refused(path, Refusal::Symlink),
        libc::EXDEV => refused(path, Refusal::Escapes),
        libc::ENOENT => io::Error::new(
            io::ErrorKind::NotFound,
            format!("{}: not found", path.display()),
        ),
        _ => with_path(e, path),
    }
}

/// A component of the walk failed to open. `O_NOFOLLOW|O_DIRECTORY` on a
/// link reports `ENOTDIR` on Linux; look at the name itself to tell.
fn walk_err(e: io::Error, parent: &OwnedFd, name: &CString, path: &Path) -> io::Error {
    if errno(&e) == libc::ENOTDIR {
        // SAFETY: zeroed stat is a valid out-parameter.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: valid fd, name and out-pointer.
        let r = unsafe {
            libc::fstatat(
                parent.as_raw_fd(),
                name.as_ptr(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        if r == 0 && st.st_mode & libc::S_IFMT == libc::S_IFLNK {
            return refused(path, Refusal::Symlink);
        }
    }
    dir_err(e, path)
}

/// The final component failed to open: a link there is a refusal; keep
/// `NotFound` and `AlreadyExists` recognisable.
fn file_err(e: io::Error, path: &Path) -> io::Error {
    match errno(&e) {
        libc::ELOOP => refused(path, Refusal::Symlink),
        libc::ENXIO => refused(path, Refusal::NotRegular("socket or FIFO")),
        libc::EISDIR => refused(path, Refusal::NotRegular("directory")),
        libc::ENOENT | libc::EEXIST => e,
        _ => with_path(e, path),
    }
}

fn check_regular(file: &File, path: &Path) -> io::Result<std::fs::Metadata> {
    let meta = file.metadata()?;
    let ft = meta.file_type();
    if ft.is_file() {
        return Ok(meta);
    }
    use std::os::unix::fs::FileTypeExt;
    let kind = if ft.is_dir() {
        "directory"
    } else if ft.is_fifo() {
        "FIFO"
    } else if ft.is_socket() {
        "socket"
    } else if ft.is_block_device() || ft.is_char_device() {
        "device"
    } else {
        "special file"
    };
    Err(refused(path, Refusal::NotRegular(kind)))
}

/// Clear `O_NONBLOCK` (set by every open here; harmless on a regular file)
/// on a file handed to another process, which may not expect it.
pub fn set_blocking(file: &File) {
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on an fd we own; no memory is passed.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 && flags & libc::O_NONBLOCK != 0 {
            libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
}

// ---------------------------------------------------------------- path API

/// Create the directory `path` and its missing parents, following no link.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    Dir::open(path, true).map(|_| ())
}

/// Open a regular file for reading, refusing links, FIFOs, devices and
/// directories (a FIFO never blocks the open) and files over `limit`.
pub fn open_regular(path: &Path, limit: Option<u64>) -> io::Result<File> {
    let (dir, name) = Dir::parent_of(path, false)?;
    let (file, size) = dir.open_file_sized(&name, libc::O_RDONLY)?;
    if let Some(limit) = limit.filter(|&limit| size > limit) {
        return Err(refused(path, Refusal::TooLarge { limit }));
    }
    Ok(file)
}

/// Read a whole regular file of at most `limit` bytes.
pub fn read_capped(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let file = open_regular(path, Some(limit))?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        // It grew after the size check.
        return Err(refused(path, Refusal::TooLarge { limit }));
    }
    Ok(bytes)
}

/// `read_capped` as UTF-8 text.
pub fn read_to_string_capped(path: &Path, limit: u64) -> io::Result<String> {
    let bytes = read_capped(path, limit)?;
    String::from_utf8(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: not valid UTF-8", path.display()),
        )
    })
}

/// Open (create or truncate) a regular file for writing.
pub fn create_truncate(path: &Path) -> io::Result<File> {
    let (dir, name) = Dir::parent_of(path, false)?;
    dir.create_or_truncate(&name)
}

/// Open (create) a regular file for appending.
pub fn open_append(path: &Path) -> io::Result<File> {
    open_append_sized(path).map(|(file, _)| file)
}

/// `open_append`, with the file's size at the open.
pub fn open_append_sized(path: &Path) -> io::Result<(File, u64)> {
    let (dir, name) = Dir::parent_of(path, false)?;
    dir.open_file_sized(&name, libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND)
}

/// Open (create) a regular file for writing without truncating it.
pub fn open_write(path: &Path) -> io::Result<File> {
    let (dir, name) = Dir::parent_of(path, false)?;
    dir.open_file(&name, libc::O_WRONLY | libc::O_CREAT)
}

/// Open an existing regular file for writing (never creates it).
pub fn open_existing_write(path: &Path) -> io::Result<File> {
    let (dir, name) = Dir::parent_of(path, false)?;
    dir.open_file(&name, libc::O_WRONLY)
}

/// Replace the contents of `path` (not durable; for evidence files).
pub fn write_plain(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    create_truncate(path)?.write_all(bytes)
}

/// Remove `path` if it exists (a link is removed, never its target).
pub fn remove_file(path: &Path) -> io::Result<()> {
    let (dir, name) = Dir::parent_of(path, false)?;
    dir.unlink(&name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn ws() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap().join("ws");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        trust_root(&root);
        (dir, root)
    }

    fn is_refusal(e: &io::Error, want: &Refusal) -> bool {
        refusal(e).is_some_and(|r| &r.refusal == want)
    }

    #[test]
    fn writes_below_the_root() {
        let (_d, root) = ws();
        write_plain(&root.join("a/b/x.txt"), b"hi").unwrap();
        assert_eq!(std::fs::read(root.join("a/b/x.txt")).unwrap(), b"hi");
        create_dir_all(&root.join("a/c/d")).unwrap();
        assert!(root.join("a/c/d").is_dir());
    }

    #[test]
    fn refuses_a_linked_file() {
        let (d, root) = ws();
        let outside = d.path().join("outside.txt");
        std::fs::write(&outside, "keep").unwrap();
        symlink(&outside, root.join("a/b/x.txt")).unwrap();
        let e = write_plain(&root.join("a/b/x.txt"), b"evil").unwrap_err();
        assert!(is_refusal(&e, &Refusal::Symlink), "{e}");
        let e = open_append(&root.join("a/b/x.txt")).unwrap_err();
        assert!(is_refusal(&e, &Refusal::Symlink), "{e}");
        let e = read_capped(&root.join("a/b/x.txt"), 100).unwrap_err();
        assert!(is_refusal(&e, &Refusal::Symlink), "{e}");
        assert_eq!(std::fs::read(&outside).unwrap(), b"keep");
    }

    #[test]
    fn refuses_a_linked_directory_anywhere_below_the_root() {
        let (d, root) = ws();
        let outside = d.path().join("elsewhere");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::remove_dir(root.join("a/b")).unwrap();
        symlink(&outside, root.join("a/b")).unwrap();
        let e = write_plain(&root.join("a/b/x.txt"), b"evil").unwrap_err();
        assert!(is_refusal(&e, &Refusal::Symlink), "{e}");
        let e = create_dir_all(&root.join("a/b/c")).unwrap_err();
        assert!(is_refusal(&e, &Refusal::Symlink), "{e}");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    }

    #[test]
    fn refuses_to_rewrite_a_hard_linked_file() {
        let (d, root) = ws();
        let outside = d.path().join("outside.txt");
        std::fs::write(&outside, "keep").unwrap();
        std::fs::hard_link(&outside, root.join("a/b/x.txt")).unwrap();
        let e = write_plain(&root.join("a/b/x.txt"), b"evil").unwrap_err();
        assert!(is_refusal(&e, &Refusal::HardLinked), "{e}");
        let e = open_append(&root.join("a/b/x.txt")).unwrap_err();
        assert!(is_refusal(&e, &Refusal::HardLinked), "{e}");
        assert_eq!(std::fs::read(&outside).unwrap(), b"keep");
    }

    #[test]
    fn refuses_parent_components() {
        let (_d, root) = ws();
        let e = write_plain(&root.join("a/../../x"), b"x").unwrap_err();
        assert!(is_refusal(&e, &Refusal::Escapes), "{e}");
    }

    #[test]
    fn fifo_and_directory_are_refused_without_blocking() {
        let (_d, root) = ws();
        let fifo = root.join("a/q.md");
        let c = CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: valid path string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let e = read_capped(&fifo, 100).unwrap_err();
        assert!(is_refusal(&e, &Refusal::NotRegular("FIFO")), "{e}");
        let e = read_capped(&root.join("a/b"), 100).unwrap_err();
        assert!(refusal(&e).is_some(), "{e}");
    }

    #[test]
    fn size_cap() {
        let (_d, root) = ws();
        std::fs::write(root.join("a/big"), vec![b'x'; 101]).unwrap();
        let e = read_capped(&root.join("a/big"), 100).unwrap_err();
        assert!(is_refusal(&e, &Refusal::TooLarge { limit: 100 }), "{e}");
        assert_eq!(read_capped(&root.join("a/big"), 101).unwrap().len(), 101);
    }

    #[test]
    fn missing_is_not_found() {
        let (_d, root) = ws();
        let e = read_capped(&root.join("a/none"), 10).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        let e = read_capped(&root.join("zz/none"), 10).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    fn walks() -> u64 {
        WALKS.with(|w| w.get())
    }

    /// Open `dir` twice; the walks it took, when no epoch ended meanwhile
    /// (other tests in this process start processes: try again then).
    fn walks_for_two_opens(dir: &Path) -> u64 {
        for _ in 0..3000 {
            // A fresh epoch: nothing of an earlier attempt is kept.
            untrusted_ran();
            let before = kept_state();
            let w = walks();
            Dir::open(dir, false).unwrap();
            Dir::open(dir, false).unwrap();
            let taken = walks() - w;
            if before.1 && kept_state() == before {
                return taken;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("no quiet moment to measure in");
    }

    #[test]
    fn a_directory_is_walked_once_per_epoch_where_handles_are_kept() {
        let (_d, root) = ws();
        let dir = root.join("a/b");
        // Not kept below a root that did not ask for it.
        let w = walks();
        Dir::open(&dir, false).unwrap();
        Dir::open(&dir, false).unwrap();
        assert_eq!(walks() - w, 2);

        cache_dir_handles(&root);
        untrusted_ran();
        assert_eq!(
            walks_for_two_opens(&dir),
            1,
            "the second open reuses the handle"
        );
        // An ended epoch: walked again (whatever other tests do meanwhile).
        untrusted_ran();
        let w = walks();
        Dir::open(&dir, false).unwrap();
        assert_eq!(walks() - w, 1);
        // While an agent runs nothing is kept or reused; after its reap, again.
        let mut child = spawn_untrusted(std::process::Command::new("sleep").arg("5")).unwrap();
        let w = walks();
        Dir::open(&dir, false).unwrap();
        Dir::open(&dir, false).unwrap();
        assert_eq!(walks() - w, 2, "an agent is running");
        let _ = child.kill();
        let _ = child.wait();
        untrusted_reaped(child.id());
        assert_eq!(walks_for_two_opens(&dir), 1);
    }

    #[test]
    fn a_kept_directory_swapped_for_a_link_by_an_agent_is_refused() {
        let (d, root) = ws();
        cache_dir_handles(&root);
        let outside = d.path().join("outside");
        write_plain(&root.join("a/b/x.txt"), b"before").unwrap();
        // The agent moves the directory out of the workspace and links it back.
        let script = format!(
            "mv '{b}' '{o}' && ln -s '{o}' '{b}'",
            b = root.join("a/b").display(),
            o = outside.display()
        );
        let mut child =
            spawn_untrusted(std::process::Command::new("/bin/sh").args(["-c", &script])).unwrap();
        assert!(child.wait().unwrap().success());
        untrusted_reaped(child.id());
        let e = write_plain(&root.join("a/b/y.txt"), b"evil").unwrap_err();
        assert!(is_refusal(&e, &Refusal::Symlink), "{e}");
        assert!(!outside.join("y.txt").exists());
    }

    #[test]
    fn a_reaped_pid_the_hook_missed_is_forgotten() {
        let mut child = spawn_untrusted(&mut std::process::Command::new("true")).unwrap();
        let _ = child.wait();
        // No `untrusted_reaped`: the next sweep finds the pid is no child.
        untrusted_ran();
        assert!(!kept().live.contains(&child.id()));
    }

    #[test]
    fn rename_no_replace_refuses_a_link_target() {
        let (d, root) = ws();
        let outside = d.path().join("o");
        std::fs::write(&outside, "keep").unwrap();
        std::fs::write(root.join("a/src"), "new").unwrap();
        symlink(&outside, root.join("a/b/dst")).unwrap();
        let (from, f) = Dir::parent_of(&root.join("a/src"), false).unwrap();
        let (to, t) = Dir::parent_of(&root.join("a/b/dst"), false).unwrap();
        let e = from.rename_to(&f, &to, &t, true).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&outside).unwrap(), b"keep");
    }
}
