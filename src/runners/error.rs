//! The runners layer's error: runner settings that are invalid and runners
//! that cannot start (the preflight's `Unavailable`). What a stage's agent
//! did wrong is not an error here: it is a stage result. The command line
//! maps it to an exit code (`cli::error`).

use std::fmt;

use super::preflight::Unavailable;

#[derive(Debug)]
pub enum Error {
    /// `[runners.*]` settings that cannot be used.
    Settings(String),
    /// A runner that cannot start (binary missing, script file missing...).
    Unavailable { runner: String, reason: Unavailable },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Settings(m) => f.write_str(m),
            Error::Unavailable { runner, reason } => write!(f, "runner {runner}: {reason}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Unavailable { reason, .. } => Some(reason),
            Error::Settings(_) => None,
        }
    }
}

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
}
