//! The `--workspace` option shared by every workspace command, and the
//! "is it initialized?" gate they all pass through.

use std::path::PathBuf;

use clap::Args;

use super::error::Error;
use crate::workspace::layout::Layout;

#[derive(Debug, Clone, Args)]
pub struct WorkspaceArg {
    /// Workspace root directory (the one holding `millrace-agents/`).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub workspace: PathBuf,
}

impl WorkspaceArg {
    pub fn layout(&self) -> Layout {
        Layout::new(&self.workspace)
    }

    /// The layout of an initialized workspace, or the error that tells the
    /// operator to run `init`.
    pub fn initialized(&self) -> Result<Layout, Error> {
        let layout = self.layout();
        layout.require_initialized()?;
        Ok(layout)
    }
}

/// `--config PATH`: the config file to use instead of
/// `millrace-agents/millrace.toml` (as the reference's `run`, `compile` and
/// `config` take it).
#[derive(Debug, Clone, Args)]
pub struct ConfigArg {
    /// Config file to use instead of `millrace-agents/millrace.toml`.
    #[arg(long = "config", value_name = "PATH")]
    pub config: Option<PathBuf>,
}

impl ConfigArg {
    /// The initialized workspace's layout reading its config from `--config`
    /// when given; a `--config` file that is not a readable file is refused
    /// before anything runs.
    pub fn initialized(&self, workspace: &WorkspaceArg) -> Result<Layout, Error> {
        let layout = workspace.initialized()?.with_config(self.config.as_deref());
        if let Some(path) = &layout.config_override {
            if !path.is_file() {
                return Err(Error::Invalid(format!(
                    "--config {}: not a readable file",
                    path.display()
                )));
            }
        }
        Ok(layout)
    }
}
