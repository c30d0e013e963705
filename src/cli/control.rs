//! Control commands: `millrace control pause|resume|stop|retry-active|
//! clear-stale-state|reload-config`, also available at the top level.

use super::workspace_arg::{fail, WorkspaceArg};
use crate::runtime::control;
use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct ControlArgs {
    #[command(subcommand)]
    pub command: ControlCommand,
}

#[derive(Debug, Clone, Args)]
pub struct ControlFlags {
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    /// Print JSON instead of `key: value` lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ReasonFlags {
    #[command(flatten)]
    pub flags: ControlFlags,
    /// Why (recorded with the command).
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum ControlCommand {
    /// Stop dispatching new stages (the running one finishes).
    Pause(ControlFlags),
    /// Resume dispatching.
    Resume(ControlFlags),
    /// Ask the daemon to stop at the next safe point.
    Stop(ControlFlags),
    /// Put the active work item back in its queue.
    RetryActive(ReasonFlags),
    /// Forget stale active runs and counters (their items go back to the queue).
    ClearStaleState(ReasonFlags),
    /// Re-read `millrace.toml` and recompile in the daemon.
    ReloadConfig(ControlFlags),
}

pub fn run(command: ControlCommand) -> i32 {
    let (name, flags, reason) = match command {
        ControlCommand::Pause(f) => ("pause", f, None),
        ControlCommand::Resume(f) => ("resume", f, None),
        ControlCommand::Stop(f) => ("stop", f, None),
        ControlCommand::RetryActive(r) => (
            "retry_active",
            r.flags,
            Some(
                r.reason
                    .unwrap_or_else(|| "operator requested retry".into()),
            ),
        ),
        ControlCommand::ClearStaleState(r) => (
            "clear_stale_state",
            r.flags,
            Some(
                r.reason
                    .unwrap_or_else(|| "operator requested stale-state clear".into()),
            ),
        ),
        ControlCommand::ReloadConfig(f) => ("reload_config", f, None),
    };
    let layout = match flags.workspace.initialized() {
        Ok(l) => l,
        Err(code) => return code,
    };
    match control::control(&layout, name, reason.as_deref()) {
        Ok(outcome) => {
            if flags.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&outcome.json()).unwrap_or_default()
                );
            } else {
                print!("{}", outcome.lines());
            }
            0
        }
        Err(e) => fail(&e),
    }
}
