//! `millrace init`: create or complete a workspace.

use clap::Args;

use super::workspace_arg::{fail, WorkspaceArg};
use crate::workspace::init::initialize;

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArg,
}

pub fn run(args: InitArgs) -> i32 {
    let layout = args.workspace.layout();
    match initialize(&layout) {
        Ok(_) => {
            println!("workspace: {}", layout.root.display());
            println!("initialized: true");
            0
        }
        Err(e) => fail(&e),
    }
}
