//! The state lock, `state/state.lock`: an `flock` that a daemon holds from
//! the moment it owns the workspace until it exits, and that a direct
//! control command (no daemon running: `pause`, `add-task`, ... written
//! straight into the state files) holds while it checks for a daemon and
//! writes. A direct command therefore never interleaves with a starting
//! daemon's startup write: either the command finishes first and the
//! daemon loads its result, or the daemon holds the lock and the command
//! goes to its mailbox instead. The kernel drops the lock of a dead holder.
//! Separate from the daemon ownership lock (`lock`), which it does not
//! replace.

use std::io;
use std::path::PathBuf;

use super::flock::FileLock;
use super::layout::Layout;

/// The lock file, relative to `millrace-agents/`.
pub const FILE: &str = "state/state.lock";

pub fn path(layout: &Layout) -> PathBuf {
    layout.path(FILE)
}

/// Wait for the state lock (a daemon: direct commands hold it briefly).
pub fn hold(layout: &Layout) -> io::Result<FileLock> {
    FileLock::exclusive(&path(layout))
}

/// Take the state lock if no one holds it.
pub fn try_hold(layout: &Layout) -> io::Result<Option<FileLock>> {
    FileLock::try_exclusive(&path(layout))
}
