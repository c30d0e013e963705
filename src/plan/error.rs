//! The plan layer's error: why a mode could not be compiled, loaded or
//! persisted (unknown mode with the known ones, sources that fail to load,
//! invalid config, I/O on the plan files). The command line maps it to an
//! exit code (`cli::error`).

use std::fmt;

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
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownMode { id } => write!(f, "Unknown mode id: {id}"),
            Error::Sources(e) => write!(f, "{e}"),
            Error::Compile(m) => f.write_str(m),
            Error::Workspace(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Workspace(e) => Some(e),
            Error::Sources(e) => Some(e),
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
    fn unknown_mode_keeps_the_reference_message() {
        let e = Error::UnknownMode { id: "nope".into() };
        assert_eq!(e.to_string(), "Unknown mode id: nope");
    }
}
