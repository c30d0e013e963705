//! The runners layer's error: runner settings that are invalid, runners
//! that cannot start (the preflight's `Unavailable`), a script runner file
//! that cannot be used (`ScriptError`) and a stage request of the wrong
//! shape (`RequestError`). What a stage's agent did wrong is not an error
//! here: it is a stage result. The command line maps it to an exit code
//! (`cli::error`).

use std::fmt;
use std::sync::Arc;

use super::preflight::Unavailable;

#[derive(Debug)]
pub enum Error {
    /// `[runners.*]` settings that cannot be used.
    Settings(String),
    /// A runner that cannot start (binary missing, script file missing...).
    Unavailable { runner: String, reason: Unavailable },
    /// A stage request that fails the shape check (`StageRequest::validate`).
    Request(RequestError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Settings(m) => f.write_str(m),
            Error::Unavailable { runner, reason } => write!(f, "runner {runner}: {reason}"),
            Error::Request(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Unavailable { reason, .. } => Some(reason),
            Error::Request(e) => Some(e),
            Error::Settings(_) => None,
        }
    }
}

impl From<RequestError> for Error {
    fn from(e: RequestError) -> Self {
        Error::Request(e)
    }
}

/// Why a script runner file (`runners::script`) cannot be used. It renders
/// as the file parser always said it: `<stage>: <what is wrong>`.
#[derive(Debug, Clone)]
pub enum ScriptError {
    /// The text is not JSON (shared so the preflight's `Unavailable` stays `Clone`).
    Json(Arc<serde_json::Error>),
    /// The document is JSON but not an object.
    NotAnObject,
    /// A stage's value is not a list of entries.
    NotAList { key: String },
    /// An entry of `key`'s list (`default` for the fallback) is not an entry.
    Entry { key: String, error: EntryError },
}

impl PartialEq for ScriptError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ScriptError::Json(a), ScriptError::Json(b)) => a.to_string() == b.to_string(),
            (ScriptError::NotAnObject, ScriptError::NotAnObject) => true,
            (ScriptError::NotAList { key: a }, ScriptError::NotAList { key: b }) => a == b,
            (ScriptError::Entry { key: a, error: x }, ScriptError::Entry { key: b, error: y }) => {
                a == b && x == y
            }
            _ => false,
        }
    }
}

impl Eq for ScriptError {}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScriptError::Json(e) => write!(f, "{e}"),
            ScriptError::NotAnObject => f.write_str("the script must be a JSON object"),
            ScriptError::NotAList { key } => write!(f, "{key}: expected a list of entries"),
            ScriptError::Entry { key, error } => write!(f, "{key}: {error}"),
        }
    }
}

impl std::error::Error for ScriptError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ScriptError::Json(e) => Some(e.as_ref()),
            ScriptError::Entry { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Why one value of a script file is not a script entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryError {
    /// A string that is no keyword and no outcome token.
    Unknown(String),
    /// An object without a `"text"` string.
    NoText,
    /// An object whose `"exit_code"` is not a 32-bit integer.
    ExitCode,
    /// An object with a key other than `text` and `exit_code`.
    UnknownKey(String),
    /// Neither a string nor an object.
    WrongType,
}

impl fmt::Display for EntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryError::Unknown(s) => write!(f, "unknown script entry {s:?}"),
            EntryError::NoText => f.write_str("a script entry object needs a \"text\" string"),
            EntryError::ExitCode => f.write_str("\"exit_code\" must be an integer"),
            EntryError::UnknownKey(k) => write!(f, "unknown key {k:?} in a script entry"),
            EntryError::WrongType => f.write_str("a script entry must be a string or an object"),
        }
    }
}

impl std::error::Error for EntryError {}

/// A stage request that fails the shape check the reference makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// A required id or marker field is empty.
    Missing(&'static str),
    /// No legal outcome at all.
    NoOutcomes,
    /// An outcome name that is not a marker token.
    NotAMarker(String),
    /// An outcome that allows no result class.
    NoResultClass(String),
    /// An `active_work_item` or `learning_request` request with closure target fields.
    ClosureFieldsNotAllowed { kind: String },
    /// A `learning_request` request without a work item path.
    NoWorkItemPath,
    /// A `closure_target` request with active work item fields.
    WorkItemNotAllowed,
    /// A `closure_target` request without its target path or root spec.
    NoClosureTarget,
    /// A request kind the runners do not know.
    UnknownKind(String),
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Missing(name) => write!(f, "{name} is required"),
            RequestError::NoOutcomes => {
                f.write_str("a stage request needs at least one legal outcome")
            }
            RequestError::NotAMarker(name) => write!(f, "outcome {name:?} is not a marker token"),
            RequestError::NoResultClass(name) => write!(f, "outcome {name} allows no result class"),
            RequestError::ClosureFieldsNotAllowed { kind } => {
                write!(f, "{kind} requests cannot declare closure target fields")
            }
            RequestError::NoWorkItemPath => {
                f.write_str("learning_request requests require a work item path")
            }
            RequestError::WorkItemNotAllowed => {
                f.write_str("closure_target requests cannot declare active work item fields")
            }
            RequestError::NoClosureTarget => {
                f.write_str("closure_target requests require closure target fields")
            }
            RequestError::UnknownKind(kind) => write!(f, "unknown request kind {kind:?}"),
        }
    }
}

impl std::error::Error for RequestError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_errors_keep_their_message() {
        assert_eq!(
            Error::Settings("[runners.codex] bad".into()).to_string(),
            "[runners.codex] bad"
        );
    }

    #[test]
    fn a_script_error_names_the_stage_and_the_entry() {
        let e = ScriptError::Entry {
            key: "builder".into(),
            error: EntryError::Unknown("maybe".into()),
        };
        assert_eq!(e.to_string(), "builder: unknown script entry \"maybe\"");
        assert_eq!(
            ScriptError::NotAList {
                key: "checker".into()
            }
            .to_string(),
            "checker: expected a list of entries"
        );
        let json = ScriptError::Json(Arc::new(
            serde_json::from_str::<serde_json::Value>("{").unwrap_err(),
        ));
        assert_eq!(json, json.clone());
        assert!(std::error::Error::source(&json).is_some());
    }

    #[test]
    fn a_request_error_keeps_the_shape_checks_words() {
        let e: Error = RequestError::Missing("run_id").into();
        assert_eq!(e.to_string(), "run_id is required");
        assert_eq!(
            RequestError::UnknownKind("other".into()).to_string(),
            "unknown request kind \"other\""
        );
    }
}
