//! `millrace init`: create or complete a workspace.

use clap::Args;

use super::error::{Error, Outcome};
use super::workspace_arg::WorkspaceArg;
use crate::workspace::init::initialize;

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    /// Print JSON instead of `key: value` lines.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: InitArgs) -> Result<Outcome, Error> {
    let layout = args.workspace.layout();
    initialize(&layout)?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"workspace": layout.root.display().to_string(), "initialized": true})
        );
    } else {
        println!("workspace: {}", layout.root.display());
        println!("initialized: true");
    }
    Ok(Outcome::Success)
}
