//! The workspace layer's error: what can go wrong reading or changing a
//! workspace, with the data that explains it (path, id, I/O error). The
//! command line maps it to an exit code (`cli::error`); this layer only names
//! the failure.

use std::fmt;
use std::path::PathBuf;

use super::documents::DocError;
use super::ids::IdError;
use super::lock::LockError;
use super::queue::QueueError;

#[derive(Debug)]
pub enum Error {
    /// `millrace-agents/` is missing or incomplete.
    Uninitialized { root: PathBuf },
    /// A named thing (work item, run, skill...) does not exist.
    NotFound { what: &'static str, id: String },
    /// An id that could escape its directory or is malformed.
    InvalidId(IdError),
    /// A work document that does not parse or check.
    Document(DocError),
    /// A queue transition that could not be made.
    Queue(QueueError),
    /// The daemon ownership lock (`Held`: another daemon owns the workspace).
    Lock(LockError),
    /// The state lock is held by another process (a daemon starting or
    /// stopping, or another direct control command).
    StateLockBusy { path: PathBuf },
    /// A path that must be a directory (the workspace root, `millrace-agents/`) is something else.
    NotADirectory { path: PathBuf, root: bool },
    /// `millrace.toml` (or the file given with `--config`) is invalid.
    Config { path: PathBuf, error: ConfigError },
    /// Reading or writing a file failed.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A mailbox command that cannot be written (unknown command, bad id).
    Envelope(super::mailbox::EnvelopeError),
    /// A JSON state file that does not parse as what it should hold.
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// An id read back from a state file that fails the id check
    /// (`field` names where it was).
    StateId {
        path: PathBuf,
        field: String,
        source: IdError,
    },
    /// An `upgrade --apply` refused because files conflict.
    UpgradeRefused(String),
    /// Any other failure, described in words.
    Other(String),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Another process holds a lock this operation needs.
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            Error::StateLockBusy { .. } | Error::Lock(LockError::Held(_))
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Uninitialized { root } => write!(
                f,
                "workspace is not initialized: {}. Run `millrace init --workspace {}` first.",
                root.display(),
                root.display()
            ),
            Error::NotFound { what, id } => write!(f, "{what} not found: {id}"),
            Error::NotADirectory { path, root: true } => write!(
                f,
                "{} exists and is not a directory; choose a directory for the workspace",
                path.display()
            ),
            Error::NotADirectory { path, root: false } => {
                write!(f, "{} exists and is not a directory", path.display())
            }
            Error::InvalidId(e) => write!(f, "{e}"),
            Error::Document(e) => write!(f, "{e}"),
            Error::Queue(e) => write!(f, "{e}"),
            Error::Lock(e) => write!(f, "{e}"),
            Error::Envelope(e) => write!(f, "{e}"),
            Error::StateLockBusy { path } => write!(
                f,
                "{} is held by another process (a daemon starting or stopping, or another control command) and no daemon owns the workspace; nothing was applied, try again",
                path.display()
            ),
            Error::Config { path, error } => write!(f, "{}: {error}", path.display()),
            // A refusal names its own path.
            Error::Io { path, source } => match super::safe_fs::refusal(source) {
                Some(r) => write!(f, "{r}"),
                None => write!(f, "{}: {source}", path.display()),
            },
            Error::Json { path, source } => write!(f, "{}: {source}", path.display()),
            Error::StateId {
                path,
                field,
                source,
            } => write!(f, "{}: {field}: {source}", path.display()),
            Error::UpgradeRefused(m) | Error::Other(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Json { source, .. } => Some(source),
            Error::StateId { source, .. } => Some(source),
            Error::Lock(e) => Some(e),
            Error::Queue(e) => Some(e),
            Error::Document(e) => Some(e),
            Error::InvalidId(e) => Some(e),
            Error::Config { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// One problem in `millrace.toml`: the one-line diagnostic `config
/// validate`, `config set` and every command that reads the file show
/// (`line N: <problem>`, the line left out when it is not known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The 1-based line of the file the problem is on, when known.
    pub line: Option<usize>,
    /// The dotted key at fault (`runtime.run_style`), when one is.
    pub key: Option<String>,
    /// What is wrong, as shown after the line (it names the key itself).
    pub problem: String,
}

impl ConfigError {
    /// A problem with no key (a TOML syntax error, an unknown key serde names).
    pub fn syntax(line: Option<usize>, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            line,
            key: None,
            problem: problem.into(),
        }
    }

    /// A problem with `key`, on `line` when known.
    pub fn key(
        line: Option<usize>,
        key: impl Into<String>,
        problem: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            line,
            key: Some(key.into()),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(n) = self.line {
            write!(f, "line {n}: ")?;
        }
        f.write_str(&self.problem)
    }
}

impl std::error::Error for ConfigError {}

impl From<IdError> for Error {
    fn from(e: IdError) -> Self {
        Error::InvalidId(e)
    }
}

impl From<DocError> for Error {
    fn from(e: DocError) -> Self {
        Error::Document(e)
    }
}

impl From<QueueError> for Error {
    fn from(e: QueueError) -> Self {
        Error::Queue(e)
    }
}

impl From<LockError> for Error {
    fn from(e: LockError) -> Self {
        Error::Lock(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_is_the_state_lock_or_a_held_daemon_lock() {
        assert!(Error::StateLockBusy { path: "x".into() }.is_busy());
        assert!(!Error::NotFound {
            what: "run",
            id: "zzz".into()
        }
        .is_busy());
        assert_eq!(
            Error::NotFound {
                what: "work item",
                id: "zzz".into()
            }
            .to_string(),
            "work item not found: zzz"
        );
    }

    #[test]
    fn a_refused_read_names_its_path_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runtime_snapshot.json");
        std::fs::write(&path, "{}").unwrap();
        let refused = super::super::safe_fs::read_capped(&path, 1).unwrap_err();
        assert!(super::super::safe_fs::refusal(&refused).is_some());
        let text = Error::io(&path, refused).to_string();
        assert_eq!(text.matches("runtime_snapshot.json").count(), 1, "{text}");
        assert!(text.contains("refused"), "{text}");
        let plain = Error::io(&path, std::io::Error::from(std::io::ErrorKind::NotFound));
        assert!(plain
            .to_string()
            .starts_with(&format!("{}: ", path.display())));
    }

    #[test]
    fn a_config_error_shows_its_line_and_the_file_in_front() {
        let e = ConfigError::key(Some(3), "runtime.run_style", "`runtime.run_style` is bad");
        assert_eq!(e.to_string(), "line 3: `runtime.run_style` is bad");
        assert_eq!(ConfigError::syntax(None, "no line").to_string(), "no line");
        let wrapped = Error::Config {
            path: "/w/millrace.toml".into(),
            error: e,
        };
        assert_eq!(
            wrapped.to_string(),
            "/w/millrace.toml: line 3: `runtime.run_style` is bad"
        );
        assert!(std::error::Error::source(&wrapped).is_some());
    }

    #[test]
    fn uninitialized_names_the_root_and_the_fix() {
        let e = Error::Uninitialized { root: "/w".into() };
        assert_eq!(
            e.to_string(),
            "workspace is not initialized: /w. Run `millrace init --workspace /w` first."
        );
    }
}
