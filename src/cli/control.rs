//! Control commands: `millrace control pause|resume|stop|retry-active|
//! clear-stale-state|reload-config`, also available at the top level.

use super::error::{Error, Outcome};
use super::workspace_arg::WorkspaceArg;
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

#[derive(Debug, Clone, Args)]
pub struct RetryFlags {
    #[command(flatten)]
    pub reason: ReasonFlags,
    /// The plane whose active item is put back; required when several planes are active.
    #[arg(long, value_parser = ["planning", "execution", "learning"])]
    pub plane: Option<String>,
}

#[derive(Debug, Args)]
pub struct PlanningArgs {
    #[command(subcommand)]
    pub command: PlanningCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum PlanningCommand {
    /// Put the active planning item back in its queue (refused when no planning work is active).
    RetryActive(ReasonFlags),
}

/// `millrace planning retry-active`.
pub fn planning(args: PlanningArgs) -> Result<Outcome, Error> {
    let PlanningCommand::RetryActive(r) = args.command;
    let layout = r.flags.workspace.initialized()?;
    let reason = r
        .reason
        .unwrap_or_else(|| "operator requested planning retry".into());
    print_outcome(
        control::retry_active_planning(&layout, &reason),
        r.flags.json,
    )
}

fn print_outcome(
    outcome: Result<control::ControlOutcome, crate::runtime::Error>,
    json: bool,
) -> Result<Outcome, Error> {
    let outcome = outcome?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&outcome.json()).unwrap_or_default()
        );
    } else {
        print!("{}", outcome.lines());
    }
    Ok(Outcome::Success)
}

#[derive(Debug, Clone, Subcommand)]
pub enum ControlCommand {
    /// Stop dispatching new stages (the running one finishes).
    Pause(ControlFlags),
    /// Resume dispatching.
    Resume(ControlFlags),
    /// Ask the daemon to stop at the next safe point.
    Stop(ControlFlags),
    /// Put the active work item back in its queue (one plane: `--plane`, or the only active one).
    RetryActive(RetryFlags),
    /// Forget stale active runs and counters (their items go back to the queue).
    ClearStaleState(ReasonFlags),
    /// Re-read `millrace.toml` and recompile in the daemon.
    ReloadConfig(ControlFlags),
}

pub fn run(command: ControlCommand) -> Result<Outcome, Error> {
    let mut scope = None;
    let (name, flags, reason) = match command {
        ControlCommand::Pause(f) => ("pause", f, None),
        ControlCommand::Resume(f) => ("resume", f, None),
        ControlCommand::Stop(f) => ("stop", f, None),
        ControlCommand::RetryActive(RetryFlags { reason: r, plane }) => {
            scope = plane;
            (
                "retry_active",
                r.flags,
                Some(
                    r.reason
                        .unwrap_or_else(|| "operator requested retry".into()),
                ),
            )
        }
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
    let layout = flags.workspace.initialized()?;
    print_outcome(
        control::control(&layout, name, reason.as_deref(), scope.as_deref()),
        flags.json,
    )
}
