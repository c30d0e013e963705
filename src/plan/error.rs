//! The plan layer's error: why a mode could not be compiled, loaded or
//! persisted (unknown mode with the known ones, sources that fail to load,
//! invalid config, I/O on the plan files). The command line maps it to an
//! exit code (`cli::error`).

use std::fmt;
use std::path::PathBuf;

use crate::workspace;

#[derive(Debug)]
pub enum Error {
    /// No mode or alias has this id.
    UnknownMode { id: String },
    /// The `.mill` sources could not be loaded (missing file, bad import).
    Sources(crate::language::Error),
    /// The mode does not compile (diagnostics, lowering).
    Compile(String),
    /// A workspace failure under the plan (config, I/O, uninitialized).
    Workspace(workspace::Error),
    /// `state/compiled_plan.json` cannot be read (absent, unreadable, or
    /// refused: a link, a FIFO, too large).
    NoPlan {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `state/compiled_plan.json` is not a compiled plan.
    NotAPlan {
        path: PathBuf,
        source: serde_json::Error,
    },
    /// The compiled plan or its diagnostics could not be written.
    Persist(std::io::Error),
    /// The mode did not compile (one line per error) and no plan of it may
    /// stand in: `stale` lists what changed since the last known good plan
    /// when there is one. `unknown_mode` when no mode or alias has the id.
    CompileFailed {
        errors: Vec<String>,
        stale: Option<Vec<String>>,
        unknown_mode: bool,
    },
    /// The compile reported no error and produced no plan.
    NoPlanProduced,
}

impl Error {
    /// No mode or alias has the id asked for.
    pub fn is_unknown_mode(&self) -> bool {
        matches!(
            self,
            Error::UnknownMode { .. }
                | Error::CompileFailed {
                    unknown_mode: true,
                    ..
                }
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownMode { id } => write!(f, "Unknown mode id: {id}"),
            Error::Sources(e) => write!(f, "{e}"),
            Error::Compile(m) => f.write_str(m),
            Error::Workspace(e) => write!(f, "{e}"),
            Error::NoPlan { path, source } => match workspace::safe_fs::refusal(source) {
                Some(r) => write!(f, "{r}"),
                None => write!(f, "{}: no compiled plan", path.display()),
            },
            Error::NotAPlan { path, source } => {
                write!(f, "{}: not a compiled plan: {source}", path.display())
            }
            Error::Persist(e) => write!(f, "cannot persist compiled plan: {e}"),
            Error::CompileFailed {
                errors,
                stale: Some(changes),
                ..
            } => write!(
                f,
                "compile failed ({}) and the last known good plan is stale ({}); fix the errors and run `millrace compile validate`",
                errors.join("; "),
                changes.join("; ")
            ),
            Error::CompileFailed { errors, .. } => {
                write!(f, "compile failed: {}", errors.join("; "))
            }
            Error::NoPlanProduced => f.write_str("compile produced no plan"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Workspace(e) => Some(e),
            Error::Sources(e) => Some(e),
            Error::NoPlan { source, .. } | Error::Persist(source) => Some(source),
            Error::NotAPlan { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<workspace::Error> for Error {
    fn from(e: workspace::Error) -> Self {
        Error::Workspace(e)
    }
}

impl From<crate::language::Error> for Error {
    fn from(e: crate::language::Error) -> Self {
        Error::Sources(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_mode_keeps_the_reference_message() {
        let e = Error::UnknownMode { id: "nope".into() };
        assert_eq!(e.to_string(), "Unknown mode id: nope");
        assert!(e.is_unknown_mode());
    }

    #[test]
    fn a_failed_compile_keeps_its_errors_and_whether_the_mode_exists() {
        let unknown = Error::CompileFailed {
            errors: vec!["Unknown mode id: nope".into()],
            stale: None,
            unknown_mode: true,
        };
        assert_eq!(unknown.to_string(), "compile failed: Unknown mode id: nope");
        assert!(unknown.is_unknown_mode());
        let stale = Error::CompileFailed {
            errors: vec!["a".into(), "b".into()],
            stale: Some(vec!["config changed".into()]),
            unknown_mode: false,
        };
        assert_eq!(
            stale.to_string(),
            "compile failed (a; b) and the last known good plan is stale (config changed); fix the errors and run `millrace compile validate`"
        );
        assert!(!stale.is_unknown_mode());
    }

    #[test]
    fn a_missing_plan_names_its_file() {
        let e = Error::NoPlan {
            path: "/w/state/compiled_plan.json".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert_eq!(
            e.to_string(),
            "/w/state/compiled_plan.json: no compiled plan"
        );
    }
}
