//! `millrace runs ls|show|tail|trace`: inspect the records stages left under
//! `millrace-agents/runs/`. (Being written; see the operator issue.)

use super::workspace_arg::{fail, WorkspaceArg};
use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub command: RunsCommand,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs.
    Ls {
        #[command(flatten)]
        workspace: WorkspaceArg,
    },
}

pub fn run(args: RunsArgs) -> i32 {
    match args.command {
        RunsCommand::Ls { workspace } => match workspace.initialized() {
            Ok(_) => fail("runs ls is not available yet"),
            Err(code) => code,
        },
    }
}
