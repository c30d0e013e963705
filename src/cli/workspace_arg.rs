//! The `--workspace` option shared by every workspace command, and the
//! "is it initialized?" gate they all pass through.

use std::path::PathBuf;

use clap::Args;

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

    /// The layout of an initialized workspace, or the exit code after
    /// printing the message that tells the operator to run `init`.
    pub fn initialized(&self) -> Result<Layout, i32> {
        let layout = self.layout();
        match layout.require_initialized() {
            Ok(()) => Ok(layout),
            Err(message) => Err(fail(&message)),
        }
    }
}

/// Print a one-line error and return the usage/IO exit code (2).
pub fn fail(message: &str) -> i32 {
    eprintln!("error: {message}");
    2
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
    pub fn initialized(&self, workspace: &WorkspaceArg) -> Result<Layout, i32> {
        let layout = workspace.initialized()?.with_config(self.config.as_deref());
        if let Some(path) = &layout.config_override {
            if !path.is_file() {
                return Err(fail(&format!(
                    "--config {}: not a readable file",
                    path.display()
                )));
            }
        }
        Ok(layout)
    }
}
