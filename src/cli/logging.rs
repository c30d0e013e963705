//! Logging of the runtime's internal decisions through `tracing`: off unless
//! `RUST_LOG` or `--log-level` asks for it, then to standard error or to the
//! file given with `--log-file`. Never on standard output, where monitor
//! lines and command output go.

use std::path::Path;

use tracing_subscriber::EnvFilter;

use super::error::Error;

/// Install the subscriber when logging is asked for; otherwise nothing.
pub fn init(level: Option<&str>, file: Option<&Path>) -> Result<(), Error> {
    let filter = match level {
        Some(level) => {
            // A bare level applies to millrace; a filter is used as given.
            let directive = if level.contains('=') || level.contains(',') {
                level.to_string()
            } else {
                format!("millrace={level}")
            };
            EnvFilter::try_new(&directive)
                .map_err(|e| Error::Usage(format!("--log-level {level}: {e}")))?
        }
        None => match std::env::var("RUST_LOG") {
            Ok(v) if !v.trim().is_empty() => {
                EnvFilter::try_new(&v).map_err(|e| Error::Usage(format!("RUST_LOG={v}: {e}")))?
            }
            _ => {
                if let Some(path) = file {
                    // `--log-file` alone: the millrace decisions at info.
                    return install(EnvFilter::new("millrace=info"), Some(path));
                }
                return Ok(());
            }
        },
    };
    install(filter, file)
}

fn install(filter: EnvFilter, file: Option<&Path>) -> Result<(), Error> {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    let result = match file {
        Some(path) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| Error::io(path, e))?;
            builder
                .with_ansi(false)
                .with_writer(std::sync::Mutex::new(f))
                .try_init()
        }
        None => builder
            .with_ansi(false)
            .with_writer(std::io::stderr)
            .try_init(),
    };
    result.map_err(|e| Error::Failed(format!("cannot start logging: {e}")))
}
