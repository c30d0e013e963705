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
