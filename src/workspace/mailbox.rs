//! The control mailbox, `state/mailbox/`: operators drop command envelopes
//! (JSON files) into `incoming/`; the daemon drains them in file-name order
//! (names start with a sortable timestamp) and archives each one, with its
//! outcome, into `processed/` or `failed/`. Envelope and archive shapes
//! follow the reference.

use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{atomic, clock, events, ids, layout::Layout, safe_fs};

/// The commands the mailbox carries.
pub const COMMANDS: &[&str] = &[
    "stop",
    "pause",
    "resume",
    "reload_config",
    "add_task",
    "add_spec",
    "add_idea",
    "retry_active",
    "clear_stale_state",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    pub schema_version: String,
    pub kind: String,
    pub command_id: String,
    pub command: String,
    pub issued_at: String,
    pub issuer: String,
    #[serde(default)]
    pub payload: Map<String, Value>,
}

/// Why a file in `incoming/` is no command: it is archived in `failed/`
/// with this message.
#[derive(Debug)]
pub enum EnvelopeError {
    /// It could not be read (refused as unsafe, too large, I/O).
    Unreadable(std::io::Error),
    /// It is not JSON of the envelope's shape.
    Json(serde_json::Error),
    /// Another schema or kind.
    NotAnEnvelope,
    /// A command the mailbox does not carry.
    UnknownCommand(String),
    /// A command id that could escape its directory or is malformed.
    Id(ids::IdError),
}

impl std::fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EnvelopeError::Unreadable(e) => write!(f, "{e}"),
            EnvelopeError::Json(e) => write!(f, "invalid envelope: {e}"),
            EnvelopeError::NotAnEnvelope => {
                f.write_str("not a mailbox_command envelope (schema_version 1.0)")
            }
            EnvelopeError::UnknownCommand(c) => write!(f, "unknown command {c:?}"),
            EnvelopeError::Id(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for EnvelopeError {}

impl Envelope {
    fn check(&self) -> Result<(), EnvelopeError> {
        if self.schema_version != "1.0" || self.kind != "mailbox_command" {
            return Err(EnvelopeError::NotAnEnvelope);
        }
        if !COMMANDS.contains(&self.command.as_str()) {
            return Err(EnvelopeError::UnknownCommand(self.command.clone()));
        }
        ids::validate_id(&self.command_id).map_err(EnvelopeError::Id)?;
        Ok(())
    }
}

/// Write a command envelope into `incoming/`; returns its path.
pub fn submit(
    layout: &Layout,
    command: &str,
    issuer: &str,
    payload: Map<String, Value>,
) -> Result<PathBuf, super::Error> {
    let now = clock::now_rfc3339();
    let stamp: String = now.chars().filter(char::is_ascii_digit).collect();
    let nonce =
        &blake3::hash(format!("{now}{}{command}", std::process::id()).as_bytes()).to_hex()[..8];
    let envelope = Envelope {
        schema_version: "1.0".into(),
        kind: "mailbox_command".into(),
        command_id: format!("{stamp}-{command}-{nonce}"),
        command: command.into(),
        issued_at: now,
        issuer: issuer.into(),
        payload,
    };
    envelope.check().map_err(super::Error::Envelope)?;
    let path = layout
        .mailbox_dir("incoming")
        .join(format!("{}.json", envelope.command_id));
    let text = serde_json::to_string_pretty(&envelope).expect("envelope serializes") + "\n";
    atomic::create_atomic(&path, text.as_bytes()).map_err(|e| super::Error::io(&path, e))?;
    Ok(path)
}

/// What identifies one state of a directory's entries: any name added,
/// removed or renamed there changes its modification time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DirStamp {
    dev: u64,
    ino: u64,
    mtime_ns: i128,
    size: u64,
}

/// How old a directory's modification time must be, when it is listed, for
/// the listing to stand for it while the time does not change: a name added
/// later gets a later time, even on a file system whose clock is coarse.
const SETTLED: std::time::Duration = std::time::Duration::from_secs(1);

impl DirStamp {
    /// The stamp of `dir`, and whether it was settled when taken.
    fn of(dir: &std::path::Path) -> Option<(DirStamp, bool)> {
        use std::os::unix::fs::MetadataExt;
        let now = std::time::SystemTime::now();
        let m = fs::metadata(dir).ok()?;
        let settled = m
            .modified()
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age >= SETTLED);
        let stamp = DirStamp {
            dev: m.dev(),
            ino: m.ino(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            size: m.size(),
        };
        Some((stamp, settled))
    }
}

/// `incoming/` as it was when a listing found no command in it (one entry
/// per workspace this process looked at, a few at most).
static EMPTY_INCOMING: std::sync::Mutex<Vec<(PathBuf, DirStamp)>> =
    std::sync::Mutex::new(Vec::new());

/// Is there a command waiting in `incoming/`? Looks at the directory's
/// modification time first (one `stat`): while it is what it was when a
/// listing found nothing, and was settled then, nothing arrived since.
pub fn has_pending(layout: &Layout) -> bool {
    let dir = layout.mailbox_dir("incoming");
    let stamp = DirStamp::of(&dir);
    let mut empty = EMPTY_INCOMING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((stamp, _)) = &stamp {
        if empty.iter().any(|(p, s)| p == &dir && s == stamp) {
            return false;
        }
    }
    let pending = fs::read_dir(&dir).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.ends_with(".json") && !name.starts_with('.')
        })
    });
    empty.retain(|(p, _)| p != &dir);
    if let Some((stamp, true)) = stamp.filter(|_| !pending) {
        if empty.len() >= 8 {
            empty.remove(0);
        }
        empty.push((dir, stamp));
    }
    pending
}

/// The outcome of one drained envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Drained {
    pub file_name: String,
    pub command: Option<String>,
    /// `processed` or `failed`.
    pub disposition: &'static str,
    pub archive: PathBuf,
    pub error: Option<String>,
}

/// Drain `incoming/` in order: each envelope goes to `handler`; its result
/// (or error) is archived with it. The archive is written before the
/// incoming file is removed, so a crash can repeat a command's archival
/// but never lose the command. A handler's error is the refusal archived
/// (its message); the `Err` of `drain` is a failure of the mailbox itself.
pub fn drain<E: std::fmt::Display>(
    layout: &Layout,
    mut handler: impl FnMut(&Envelope) -> Result<Value, E>,
) -> Result<Vec<Drained>, super::Error> {
    let incoming = layout.mailbox_dir("incoming");
    let mut names: Vec<String> = fs::read_dir(&incoming)
        .map_err(|e| super::Error::io(&incoming, e))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let source = incoming.join(&name);
        // Never a link, FIFO, device or directory, never an unbounded read.
        let read = safe_fs::read_to_string_capped(&source, safe_fs::MAX_DOCUMENT_BYTES);
        let refused = matches!(&read, Err(e) if safe_fs::refusal(e).is_some());
        let parsed = read
            .map_err(EnvelopeError::Unreadable)
            .and_then(|t| serde_json::from_str::<Envelope>(&t).map_err(EnvelopeError::Json))
            .and_then(|env| env.check().map(|()| env));
        let (envelope, outcome) = match parsed {
            Ok(env) => {
                let outcome = handler(&env).map_err(|e| e.to_string());
                (Some(env), outcome)
            }
            Err(e) => (None, Err(e.to_string())),
        };
        let disposition = if outcome.is_ok() {
            "processed"
        } else {
            "failed"
        };
        let mut archive = json!({
            "schema_version": "1.0",
            "kind": "mailbox_archive",
            "disposition": disposition,
            "archived_at": clock::now_rfc3339(),
            "envelope": envelope.as_ref().map(|e| serde_json::to_value(e).expect("envelope")).unwrap_or(Value::Null),
        });
        let error = match &outcome {
            Ok(result) => {
                archive["result"] = result.clone();
                None
            }
            Err(e) => {
                archive["result"] = json!({});
                archive["error"] = Value::String(e.clone());
                Some(e.clone())
            }
        };
        let archive_path = layout.mailbox_dir(disposition).join(&name);
        let text = serde_json::to_string_pretty(&archive).expect("archive") + "\n";
        atomic::write_atomic(&archive_path, text.as_bytes())
            .map_err(|e| super::Error::io(&archive_path, e))?;
        if refused {
            // Set aside as-is (a rename opens nothing) beside its archive.
            let aside = layout
                .mailbox_dir("failed")
                .join(format!("{name}.{}.set-aside", std::process::id()));
            atomic::rename_durable(&source, &aside).map_err(|e| super::Error::io(&source, e))?;
        } else {
            safe_fs::remove_file(&source).map_err(|e| super::Error::io(&source, e))?;
        }
        atomic::sync_dir(&incoming).map_err(|e| super::Error::io(&incoming, e))?;
        let command = envelope.map(|e| e.command);
        let _ = events::record(
            layout,
            "mailbox_command_archived",
            json!({"file": name, "command": command, "disposition": disposition, "error": error}),
        );
        out.push(Drained {
            file_name: name,
            command,
            disposition,
            archive: archive_path,
            error,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drains_in_order_and_archives_outcomes() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        for d in ["incoming", "processed", "failed"] {
            fs::create_dir_all(layout.mailbox_dir(d)).unwrap();
        }
        let a = submit(&layout, "pause", "operator", Map::new()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = submit(&layout, "resume", "operator", Map::new()).unwrap();
        fs::write(layout.mailbox_dir("incoming").join("zz-garbage.json"), "{").unwrap();
        assert!(submit(&layout, "explode", "operator", Map::new()).is_err());
        let mut seen = Vec::new();
        let drained = drain(&layout, |env| {
            seen.push(env.command.clone());
            if env.command == "resume" {
                Err("not paused".to_string())
            } else {
                Ok(json!({"applied": true}))
            }
        })
        .unwrap();
        assert_eq!(seen, ["pause", "resume"]);
        assert_eq!(drained.len(), 3);
        assert_eq!(drained[0].disposition, "processed");
        assert_eq!(drained[1].disposition, "failed");
        assert_eq!(drained[2].disposition, "failed");
        assert!(!a.exists() && !b.exists());
        assert_eq!(
            fs::read_dir(layout.mailbox_dir("incoming"))
                .unwrap()
                .count(),
            0
        );
        let archived: Value =
            serde_json::from_str(&fs::read_to_string(&drained[1].archive).unwrap()).unwrap();
        assert_eq!(archived["error"], "not paused");
        assert_eq!(archived["envelope"]["command"], "resume");
    }
    /// Set `dir`'s modification time to `secs` seconds since the epoch.
    fn set_mtime(dir: &std::path::Path, secs: i64) {
        use std::os::unix::ffi::OsStrExt;
        let t = libc::timespec {
            tv_sec: secs,
            tv_nsec: 0,
        };
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid path and two timespecs.
        assert_eq!(
            unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), [t, t].as_ptr(), 0) },
            0
        );
    }

    #[test]
    fn pending_is_looked_up_by_the_directory_time_once_it_settled() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let incoming = layout.mailbox_dir("incoming");
        fs::create_dir_all(&incoming).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let age = |dir: &std::path::Path, secs: i64| set_mtime(dir, now - secs);
        // A recent time is not trusted: every call lists.
        assert!(!has_pending(&layout));
        fs::write(incoming.join("a.json"), "{}").unwrap();
        assert!(has_pending(&layout));
        fs::remove_file(incoming.join("a.json")).unwrap();
        age(&incoming, 10);
        assert!(!has_pending(&layout));
        // A command arriving changes the time: seen at once.
        let cmd = submit(&layout, "pause", "operator", Map::new()).unwrap();
        assert!(has_pending(&layout));
        fs::remove_file(&cmd).unwrap();
        age(&incoming, 10);
        assert!(!has_pending(&layout));
        // The listing is not repeated while the time stands (a name slipped
        // in with the old time put back is not seen: the time is the key).
        fs::write(incoming.join("b.json"), "{}").unwrap();
        age(&incoming, 10);
        assert!(!has_pending(&layout));
        age(&incoming, 5);
        assert!(has_pending(&layout));
    }
}
