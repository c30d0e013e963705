//! The language layer's error: why `.mill` files could not be read or
//! loaded at all (diagnostics about their content are not errors: they are
//! reported by `diagnostic`). The command line maps it to an exit code
//! (`cli::error`).

use std::fmt;
use std::path::PathBuf;

use super::load::{LoadError, ReadError};

#[derive(Debug)]
pub enum Error {
    /// A file or import could not be loaded (missing, not a regular file, too large).
    Load(LoadError),
    /// A `.mill` file that cannot be read as one (not a regular file, too
    /// large, not UTF-8, missing).
    Read { path: PathBuf, error: ReadError },
    /// Reading or writing a file failed.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The paths given name no file of the expected kind.
    NoFiles { what: String },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Load(e) => write!(f, "{e}"),
            Error::Read { path, error } => write!(f, "{}: {error}", path.display()),
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::NoFiles { what } => write!(f, "no {what} file found in the paths given"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<LoadError> for Error {
    fn from(e: LoadError) -> Self {
        Error::Load(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_path_and_the_cause() {
        let e = Error::Io {
            path: "a.mill".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert!(e.to_string().starts_with("a.mill: "));
        let e = Error::NoFiles {
            what: "*.scenarios.toml".into(),
        };
        assert_eq!(
            e.to_string(),
            "no *.scenarios.toml file found in the paths given"
        );
    }
}
