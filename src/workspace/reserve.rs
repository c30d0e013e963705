//! Id reservations: a new work item's id is unique across every state of
//! its kind, even while the daemon moves items between states.
//!
//! Looking for `<id>.md` in each state directory in turn cannot prove an id
//! is free: the daemon may move the item from a directory not yet looked at
//! into one already looked at (a retry moves `active` back to `queue`). So
//! creating an item first creates `state/id_reservations/<kind>/<id>.json`,
//! which is never moved and never removed while the item exists; the check
//! and the creation of both the reservation and the document happen under
//! an `flock` on `state/id_reservations/<kind>.lock`.
//!
//! The reservation names the mailbox command that created the item, if
//! any: a command applied again after a crash (document written, command
//! not yet archived) finds its own reservation and its document, and is a
//! repeat rather than a duplicate. A reservation whose document exists in
//! no state was left by a creator that died between the two writes (it
//! held the lock throughout), and is taken over.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::flock::FileLock;
use super::{atomic, clock, layout::Layout};

/// The directory of reservations, relative to `millrace-agents/`.
pub const DIR: &str = "state/id_reservations";

/// Why an id could not be created.
#[derive(Debug)]
pub enum ReserveError<E> {
    /// The id exists (at `path`, or reserved with no document yet).
    Taken { path: PathBuf },
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// Writing the document failed; the reservation is left for takeover.
    Create(E),
}

impl<E: fmt::Display> fmt::Display for ReserveError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReserveError::Taken { path } => write!(f, "id already exists at {}", path.display()),
            ReserveError::Io { path, error } => write!(f, "{}: {error}", path.display()),
            ReserveError::Create(e) => write!(f, "{e}"),
        }
    }
}

/// A created item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub path: PathBuf,
    /// The same command had already created it (a re-application).
    pub repeated: bool,
}

fn io<E>(path: &Path) -> impl FnOnce(std::io::Error) -> ReserveError<E> + '_ {
    move |error| ReserveError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Create the item `id` of `kind` (a tag such as `task` or `idea`) exactly
/// once. `existing` finds the item's document in any of its states;
/// `create` writes it. `command_id` names the mailbox command doing this.
pub fn create_unique<E>(
    layout: &Layout,
    kind: &str,
    id: &str,
    command_id: Option<&str>,
    existing: impl Fn() -> Option<PathBuf>,
    create: impl FnOnce() -> Result<PathBuf, E>,
) -> Result<Created, ReserveError<E>> {
    let dir = layout.path(DIR).join(kind);
    let lock_path = layout.path(DIR).join(format!("{kind}.lock"));
    let _lock = FileLock::exclusive(&lock_path).map_err(io(&lock_path))?;
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let path = dir.join(format!("{id}.json"));
    let record = json!({
        "kind": kind,
        "id": id,
        "command_id": command_id,
        "reserved_at": clock::now_rfc3339(),
        "pid": std::process::id(),
    });
    let text = serde_json::to_string_pretty(&record).expect("record") + "\n";
    match std::fs::read(&path) {
        Ok(bytes) => {
            let previous: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if let Some(doc) = existing() {
                let same = command_id.is_some() && previous["command_id"].as_str() == command_id;
                return if same {
                    Ok(Created {
                        path: doc,
                        repeated: true,
                    })
                } else {
                    Err(ReserveError::Taken { path: doc })
                };
            }
            // Its creator died before writing the document: take it over.
            atomic::write_atomic(&path, text.as_bytes()).map_err(io(&path))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(doc) = existing() {
                // An item made before reservations existed, or by hand.
                return Err(ReserveError::Taken { path: doc });
            }
            atomic::create_atomic(&path, text.as_bytes()).map_err(io(&path))?;
        }
        Err(e) => return Err(io(&path)(e)),
    }
    atomic::crash_point("reserve.create_unique", 1);
    let created = create().map_err(ReserveError::Create)?;
    Ok(Created {
        path: created,
        repeated: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn once_per_id_and_repeatable_by_the_same_command() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let doc = dir.path().join("t-1.md");
        let exists = || doc.is_file().then(|| doc.clone());
        let write = || -> std::io::Result<PathBuf> {
            std::fs::write(&doc, "x").unwrap();
            Ok(doc.clone())
        };
        let first = create_unique(&layout, "task", "t-1", Some("c-1"), exists, write).unwrap();
        assert!(!first.repeated);
        let again = create_unique(&layout, "task", "t-1", Some("c-1"), exists, write).unwrap();
        assert!(again.repeated);
        let other = create_unique(&layout, "task", "t-1", Some("c-2"), exists, write);
        assert!(matches!(other, Err(ReserveError::Taken { .. })));
        let direct = create_unique(&layout, "task", "t-1", None, exists, write);
        assert!(matches!(direct, Err(ReserveError::Taken { .. })));
    }

    #[test]
    fn a_reservation_without_its_document_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let calls = Cell::new(0);
        let failing = || -> std::io::Result<PathBuf> { Err(std::io::Error::other("disk full")) };
        let e = create_unique(&layout, "spec", "s-1", None, || None, failing).unwrap_err();
        assert_eq!(e.to_string(), "disk full");
        let created = create_unique(
            &layout,
            "spec",
            "s-1",
            None,
            || None,
            || {
                calls.set(calls.get() + 1);
                Ok::<_, String>(dir.path().join("s-1.md"))
            },
        )
        .unwrap();
        assert!(!created.repeated);
        assert_eq!(calls.get(), 1);
    }
}
