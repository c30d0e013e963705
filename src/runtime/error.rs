//! The runtime layer's error: why the interpreter or a control command could
//! not do its job. Workspace and plan failures pass through unchanged (their
//! data intact); what the runtime itself refuses is named here. The command
//! line maps it to an exit code (`cli::error`).

use std::fmt;

use crate::plan;
use crate::runners;
use crate::workspace;

#[derive(Debug)]
pub enum Error {
    /// A workspace failure (uninitialized, lock held, I/O...).
    Workspace(workspace::Error),
    /// The plan could not be compiled or loaded.
    Plan(plan::Error),
    /// A runner the plan uses cannot start.
    Runners(runners::Error),
    /// The request does not apply to the current state (e.g. `retry-active`
    /// with nothing active, or an ambiguous plane).
    Refused(String),
    /// A running daemon owns the workspace and the operation needs it.
    DaemonOwns(String),
    /// Any other runtime failure, described in words.
    Failed(String),
}

impl Error {
    /// Another process holds what this operation needs.
    pub fn is_busy(&self) -> bool {
        match self {
            Error::Workspace(e) => e.is_busy(),
            Error::DaemonOwns(_) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Workspace(e) => write!(f, "{e}"),
            Error::Plan(e) => write!(f, "{e}"),
            Error::Runners(e) => write!(f, "{e}"),
            Error::Refused(m) | Error::DaemonOwns(m) | Error::Failed(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Workspace(e) => Some(e),
            Error::Plan(e) => Some(e),
            Error::Runners(e) => Some(e),
            _ => None,
        }
    }
}

impl From<workspace::Error> for Error {
    fn from(e: workspace::Error) -> Self {
        Error::Workspace(e)
    }
}

impl From<plan::Error> for Error {
    fn from(e: plan::Error) -> Self {
        Error::Plan(e)
    }
}

impl From<runners::Error> for Error {
    fn from(e: runners::Error) -> Self {
        Error::Runners(e)
    }
}

impl From<String> for Error {
    fn from(e: String) -> Self {
        Error::Failed(e)
    }
}

/// Code that still speaks in strings keeps the message.
impl From<Error> for String {
    fn from(e: Error) -> Self {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_comes_from_the_workspace_lock() {
        let busy = Error::from(workspace::Error::StateLockBusy {
            path: "state.lock".into(),
        });
        assert!(busy.is_busy());
        assert!(!Error::Refused("no active run".into()).is_busy());
    }
}
