//! The command line's one error type, the exit-code table, and the one place
//! a failure is printed.
//!
//! Every command returns `Result<Outcome, Error>`. `exit_code` is the table
//! (`docs/exit-codes.md` is a copy of it); `report` prints an error as
//! `error: <message>` on stderr, or with `--json` as one JSON object
//! `{"error": {"code": .., "kind": .., "message": ..}}` on stderr. Nothing
//! else in `cli/` chooses an exit code or prints `error:` for a failed command.

use std::fmt;
use std::path::PathBuf;

use crate::{language, plan, runners, runtime, workspace};

/// How a command that ran to its end went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It did what was asked.
    Success,
    /// It ran and found problems, already printed on stdout (lint or
    /// validation errors, `fmt --check` differences, doctor errors, failed
    /// scenarios, a `run once` stage that failed).
    Problems,
    /// `run`: the work it ran ended blocked.
    Blocked,
    /// `run`: the daemon paused itself for a failure of the environment.
    EnvironmentPaused,
    /// Interrupted (second Ctrl-C / SIGINT cancel).
    Interrupted,
}

impl Outcome {
    /// `Problems` when `found`, else `Success`.
    pub fn problems_if(found: bool) -> Outcome {
        if found {
            Outcome::Problems
        } else {
            Outcome::Success
        }
    }
}

/// Why a command could not do what was asked.
#[derive(Debug)]
pub enum Error {
    Language(language::Error),
    Plan(plan::Error),
    Workspace(workspace::Error),
    Runtime(runtime::Error),
    Runners(runners::Error),
    /// An argument value clap could not check (`--counter x`, an empty `--token`).
    Usage(String),
    /// A named thing that does not exist (run, mode, node...).
    NotFound {
        what: &'static str,
        id: String,
    },
    /// A named thing that does not exist, said in words (`mode X has no node Y`).
    Missing(String),
    /// Input that cannot be used (a document, a file of the wrong kind, a
    /// directory that cannot hold a demo).
    Invalid(String),
    /// Reading or writing a file failed.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Anything else the command could not do.
    Failed(String),
    /// Another error with what the command was doing in front of it
    /// (`failed to add task: ...`); its class is the inner error's.
    Context {
        context: String,
        source: Box<Error>,
    },
}

/// The exit-code table: the only place an outcome or an error becomes a
/// process exit status (`docs/exit-codes.md` is a copy).
pub fn exit_code(result: Result<Outcome, &Error>) -> i32 {
    match result {
        Ok(Outcome::Success) => 0,
        Ok(Outcome::Problems) => 1,
        Ok(Outcome::Blocked) => 4,
        Ok(Outcome::EnvironmentPaused) => 5,
        Ok(Outcome::Interrupted) => 130,
        Err(Error::Usage(_)) => 2,
        Err(Error::Context { source, .. }) => exit_code(Err(source)),
        Err(e) if e.is_busy() => 3,
        Err(_) => 1,
    }
}

impl Error {
    /// An I/O failure on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// This error with `context` in front of its message.
    pub fn context(self, context: impl Into<String>) -> Error {
        Error::Context {
            context: context.into(),
            source: Box::new(self),
        }
    }

    /// Another process holds the workspace lock, or a daemon owns the
    /// workspace and the command needs it.
    pub fn is_busy(&self) -> bool {
        match self {
            Error::Context { source, .. } => source.is_busy(),
            Error::Workspace(e) => e.is_busy(),
            Error::Runtime(e) => e.is_busy(),
            Error::Plan(plan::Error::Workspace(e)) => e.is_busy(),
            _ => false,
        }
    }

    /// A stable name for the class of failure (the `kind` of `--json` errors).
    pub fn kind(&self) -> &'static str {
        if let Error::Context { source, .. } = self {
            return source.kind();
        }
        if self.is_busy() {
            return "busy";
        }
        let workspace = match self {
            Error::Workspace(e)
            | Error::Runtime(runtime::Error::Workspace(e))
            | Error::Plan(plan::Error::Workspace(e))
            | Error::Runtime(runtime::Error::Plan(plan::Error::Workspace(e))) => Some(e),
            _ => None,
        };
        if let Some(e) = workspace {
            return match e {
                workspace::Error::Uninitialized { .. } => "uninitialized",
                workspace::Error::NotFound { .. } => "not_found",
                workspace::Error::InvalidId(_) | workspace::Error::Document(_) => "invalid_input",
                workspace::Error::Config { .. } => "invalid_config",
                workspace::Error::Io { .. } => "io",
                _ => "failed",
            };
        }
        let plan = match self {
            Error::Plan(e) | Error::Runtime(runtime::Error::Plan(e)) => Some(e),
            _ => None,
        };
        if let Some(e) = plan {
            return match e {
                e if e.is_unknown_mode() => "not_found",
                plan::Error::NoPlan { .. } | plan::Error::Persist(_) => "io",
                _ => "invalid_input",
            };
        }
        match self {
            Error::Usage(_) => "usage",
            Error::NotFound { .. } | Error::Missing(_) => "not_found",
            Error::Invalid(_)
            | Error::Language(_)
            | Error::Runtime(runtime::Error::Payload(_) | runtime::Error::IllegalResult { .. }) => {
                "invalid_input"
            }
            Error::Runners(_)
            | Error::Runtime(runtime::Error::Runners(_) | runtime::Error::RunnersUnavailable(_)) => {
                "runner"
            }
            Error::Runtime(runtime::Error::Refused(_) | runtime::Error::UnknownCommand { .. }) => {
                "refused"
            }
            Error::Io { .. } | Error::Runtime(runtime::Error::Io { .. }) => "io",
            _ => "failed",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Language(e) => write!(f, "{e}"),
            Error::Plan(e) => write!(f, "{e}"),
            Error::Workspace(e) => write!(f, "{e}"),
            Error::Runtime(e) => write!(f, "{e}"),
            Error::Runners(e) => write!(f, "{e}"),
            Error::NotFound { what, id } => write!(f, "{what} not found: {id}"),
            Error::Usage(m) | Error::Missing(m) | Error::Invalid(m) | Error::Failed(m) => {
                f.write_str(m)
            }
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Context { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<language::Error> for Error {
    fn from(e: language::Error) -> Self {
        Error::Language(e)
    }
}

impl From<plan::Error> for Error {
    fn from(e: plan::Error) -> Self {
        Error::Plan(e)
    }
}

impl From<workspace::Error> for Error {
    fn from(e: workspace::Error) -> Self {
        Error::Workspace(e)
    }
}

impl From<runtime::Error> for Error {
    fn from(e: runtime::Error) -> Self {
        Error::Runtime(e)
    }
}

impl From<runners::Error> for Error {
    fn from(e: runners::Error) -> Self {
        Error::Runners(e)
    }
}

/// Print a failed command's error: `error: <message>` on stderr, or with
/// `--json` one JSON object on stderr. The only place this is done.
pub fn report(err: &Error, json: bool) {
    let code = exit_code(Err(err));
    if json {
        let value = serde_json::json!({
            "error": {"code": code, "kind": err.kind(), "message": err.to_string()}
        });
        eprintln!("{value}");
    } else {
        eprintln!("error: {err}");
    }
}

/// Print a clap parse error (usage): clap's own text, or with `--json` one
/// JSON object on stderr; returns the error it stands for.
pub fn report_usage(err: &clap::Error, json: bool) -> Error {
    let text = err.to_string();
    let message = text
        .lines()
        .next()
        .unwrap_or("")
        .trim_start_matches("error: ")
        .to_string();
    let usage = Error::Usage(message);
    if json {
        report(&usage, true);
    } else {
        let _ = err.print();
    }
    usage
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/exit-codes.md` carries a copy of `exit_code`: keep them equal.
    #[test]
    fn the_docs_copy_the_table() {
        let doc = include_str!("../../docs/exit-codes.md");
        let src = include_str!("error.rs");
        let start = src.find("pub fn exit_code").unwrap();
        let end = start + src[start..].find("\n}\n").unwrap() + 2;
        assert!(
            doc.contains(&src[start..end]),
            "docs/exit-codes.md does not show the current exit_code:\n{}",
            &src[start..end]
        );
    }

    #[test]
    fn the_table() {
        assert_eq!(exit_code(Ok(Outcome::Success)), 0);
        assert_eq!(exit_code(Ok(Outcome::Problems)), 1);
        assert_eq!(exit_code(Ok(Outcome::Blocked)), 4);
        assert_eq!(exit_code(Ok(Outcome::EnvironmentPaused)), 5);
        assert_eq!(exit_code(Ok(Outcome::Interrupted)), 130);
        assert_eq!(exit_code(Err(&Error::Usage("x".into()))), 2);
        let not_found = Error::NotFound {
            what: "run",
            id: "zzz".into(),
        };
        assert_eq!(exit_code(Err(&not_found)), 1);
        let uninit = Error::from(workspace::Error::Uninitialized { root: "/w".into() });
        assert_eq!(uninit.kind(), "uninitialized");
        assert_eq!(exit_code(Err(&uninit)), 1);
        let busy = Error::from(runtime::Error::from(workspace::Error::StateLockBusy {
            path: "l".into(),
        }));
        assert_eq!(busy.kind(), "busy");
        assert_eq!(exit_code(Err(&busy)), 3);
    }

    /// The engine's startup passes the plan layer's error up unchanged: an
    /// unknown mode stays `not_found`, a plan that cannot be written `io`,
    /// one that does not compile `invalid_input`; all exit 1.
    #[test]
    fn plan_failures_keep_their_class_through_the_runtime() {
        let unknown = Error::from(runtime::Error::from(plan::Error::CompileFailed {
            errors: vec!["Unknown mode id: nope".into()],
            stale: None,
            unknown_mode: true,
        }));
        assert_eq!(unknown.kind(), "not_found");
        assert_eq!(exit_code(Err(&unknown)), 1);
        let broken = Error::from(runtime::Error::from(plan::Error::CompileFailed {
            errors: vec!["E001 ...".into()],
            stale: Some(vec!["config changed".into()]),
            unknown_mode: false,
        }));
        assert_eq!(broken.kind(), "invalid_input");
        assert_eq!(exit_code(Err(&broken)), 1);
        let unwritable = Error::from(plan::Error::Persist(std::io::Error::other("disk full")));
        assert_eq!(unwritable.kind(), "io");
        assert_eq!(
            unwritable.to_string(),
            "cannot persist compiled plan: disk full"
        );
    }

    #[test]
    fn runtime_failures_have_their_own_kinds() {
        let io = Error::from(runtime::Error::io(
            "state/runtime_snapshot.json",
            std::io::Error::other("disk full"),
        ));
        assert_eq!(io.kind(), "io");
        assert_eq!(exit_code(Err(&io)), 1);
        let unknown = Error::from(runtime::Error::UnknownCommand {
            command: "explode".into(),
        });
        assert_eq!(unknown.kind(), "refused");
        let payload = Error::from(runtime::Error::Payload(
            "payload `markdown` must be a string".into(),
        ));
        assert_eq!(payload.kind(), "invalid_input");
        let state = Error::from(runtime::Error::from(workspace::Error::Json {
            path: "s.json".into(),
            source: serde_json::from_str::<serde_json::Value>("{").unwrap_err(),
        }));
        assert_eq!(state.kind(), "failed");
        assert_eq!(exit_code(Err(&state)), 1);
    }
    /// A bad `millrace.toml` is `invalid_config`, exit 1, whichever layer
    /// read it, and its line and key arrive as data, not only as text.
    #[test]
    fn a_config_error_keeps_its_kind_line_and_key_through_every_layer() {
        let config = || {
            let error =
                workspace::config::parse_config("[runtime]\nevent_log_keep = 0\n").unwrap_err();
            workspace::Error::Config {
                path: "/w/millrace-agents/millrace.toml".into(),
                error,
            }
        };
        for e in [
            Error::from(config()),
            Error::from(runtime::Error::from(config())),
            Error::from(plan::Error::Workspace(config())),
            Error::from(runtime::Error::from(plan::Error::Workspace(config()))),
        ] {
            assert_eq!(e.kind(), "invalid_config");
            assert_eq!(exit_code(Err(&e)), 1);
            assert_eq!(
                e.to_string(),
                "/w/millrace-agents/millrace.toml: line 2: `runtime.event_log_keep` must be between 1 and 1000"
            );
        }
        let workspace::Error::Config { error, .. } = config() else {
            unreachable!()
        };
        assert_eq!(error.line, Some(2));
        assert_eq!(error.key.as_deref(), Some("runtime.event_log_keep"));
    }
}
