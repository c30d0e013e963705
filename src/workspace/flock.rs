//! Advisory kernel file locks (`flock(2)`) as guards: the lock is held
//! while the guard lives and released when it is dropped, or by the kernel
//! when the process dies, so a crashed holder never leaves it taken. Used
//! for short critical sections between processes (id reservations, the
//! state lock of control commands).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// An exclusive `flock` on a file, held until dropped.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

fn open(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// `flock(2)` on `file`, retried on EINTR; `Ok(false)` when `LOCK_NB` was
/// asked and another holder has the lock.
pub fn flock(file: &File, operation: libc::c_int) -> io::Result<bool> {
    loop {
        // SAFETY: flock(2) on a descriptor we own; no memory is passed.
        let rc = unsafe { libc::flock(file.as_raw_fd(), operation) };
        if rc == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => return Ok(false),
            _ => return Err(e),
        }
    }
}

impl FileLock {
    /// Wait for the exclusive lock on `path` (created if missing).
    pub fn exclusive(path: &Path) -> io::Result<FileLock> {
        let file = open(path)?;
        flock(&file, libc::LOCK_EX)?;
        Ok(FileLock {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Take the exclusive lock on `path` if no one holds it.
    pub fn try_exclusive(path: &Path) -> io::Result<Option<FileLock>> {
        let file = open(path)?;
        Ok(
            flock(&file, libc::LOCK_EX | libc::LOCK_NB)?.then(|| FileLock {
                file,
                path: path.to_path_buf(),
            }),
        )
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = flock(&self.file, libc::LOCK_UN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_refused_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/x.lock");
        let held = FileLock::exclusive(&path).unwrap();
        assert!(FileLock::try_exclusive(&path).unwrap().is_none());
        drop(held);
        assert!(FileLock::try_exclusive(&path).unwrap().is_some());
    }
}
