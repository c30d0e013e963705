//! `millrace run once|daemon`: start the interpreter on a workspace.
//!
//! `run once` is startup plus one tick; `run daemon` ticks until stopped
//! (mailbox `stop`, SIGINT/SIGTERM, or `--max-ticks`). Both print the
//! reference's summary lines at the end; `--monitor basic` streams the
//! compact event lines to standard output or `--monitor-log PATH`.

use super::workspace_arg::{fail, ConfigArg, WorkspaceArg};
use crate::runtime::daemon::{self, RunOptions};
use crate::runtime::monitor::{Monitor, Sink};
use crate::workspace::config::MAX_HEARTBEAT_SECONDS;
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(subcommand)]
    pub command: RunCommand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MonitorKind {
    None,
    Basic,
}

#[derive(Debug, Clone, Args)]
pub struct RunFlags {
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    #[command(flatten)]
    pub config: ConfigArg,
    /// Mode id or alias (default: the workspace's `runtime.default_mode`).
    #[arg(long, value_name = "ID")]
    pub mode: Option<String>,
    /// Event lines: `none` or `basic`.
    #[arg(long, value_enum, default_value = "none")]
    pub monitor: MonitorKind,
    /// Append monitor lines to this file instead of standard output.
    #[arg(long, value_name = "PATH")]
    pub monitor_log: Option<PathBuf>,
    /// Seconds between `heartbeat` monitor lines while a stage runs (0: none;
    /// default: `runtime.heartbeat_seconds`).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(0..=MAX_HEARTBEAT_SECONDS))]
    pub heartbeat: Option<u64>,
}

/// `run` finished, but the work it ran ended blocked (`run once`: its stage
/// ended BLOCKED; `run daemon`: every item it ran to an end ended blocked).
pub const EXIT_BLOCKED: i32 = 4;

/// A second Ctrl-C (or SIGTERM) cancelled the running stage.
pub const EXIT_INTERRUPTED: i32 = 130;

#[derive(Debug, Subcommand)]
pub enum RunCommand {
    /// Start, run one tick, stop.
    Once {
        #[command(flatten)]
        flags: RunFlags,
    },
    /// Run until stopped.
    Daemon {
        #[command(flatten)]
        flags: RunFlags,
        /// Stop after this many ticks.
        #[arg(long, value_name = "N")]
        max_ticks: Option<u64>,
        /// Stop as soon as no work is left (instead of waiting for more).
        #[arg(long)]
        until_idle: bool,
    },
}

fn monitor(flags: &RunFlags) -> Result<Monitor, i32> {
    if let Some(path) = &flags.monitor_log {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| fail(&format!("{}: {e}", path.display())))?;
        return Ok(Monitor::new(Sink::File(f)));
    }
    Ok(match flags.monitor {
        MonitorKind::None => Monitor::off(),
        MonitorKind::Basic => Monitor::new(Sink::Stdout),
    })
}

pub fn run(args: RunArgs) -> i32 {
    let (flags, once, max_ticks, until_idle) = match args.command {
        RunCommand::Once { flags } => (flags, true, None, false),
        RunCommand::Daemon {
            flags,
            max_ticks,
            until_idle,
        } => (flags, false, max_ticks, until_idle),
    };
    let layout = match flags.config.initialized(&flags.workspace) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let monitor = match monitor(&flags) {
        Ok(m) => m,
        Err(code) => return code,
    };
    let opts = RunOptions {
        mode: flags.mode.clone(),
        max_ticks,
        once,
        until_idle,
        heartbeat: flags.heartbeat,
    };
    match daemon::run(layout, opts, monitor) {
        Ok(s) => {
            if s.interrupted {
                println!("interrupted: true");
            }
            println!("run_mode: {}", if once { "once" } else { "daemon" });
            println!("active_mode_id: {}", s.mode_id);
            println!("mode_override: {}", flags.mode.as_deref().unwrap_or("none"));
            println!("compiled_plan_id: {}", s.plan_id);
            if once {
                println!("tick_reason: {}", s.last_reason);
            } else {
                println!("ticks: {}", s.ticks);
            }
            exit_status(&s, once)
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// The exit status of a finished run, and its last line on stderr when the
/// work ended blocked or the stage was cancelled.
fn exit_status(s: &daemon::RunSummary, once: bool) -> i32 {
    if s.cancelled {
        eprintln!("interrupted: the running stage was cancelled; its item runs it again on the next start");
        return EXIT_INTERRUPTED;
    }
    let t = &s.tally;
    if once {
        if t.last_outcome.as_deref() == Some("BLOCKED") {
            let run = t.last_run_id.as_deref().unwrap_or("<run>");
            eprintln!("blocked: the stage ended BLOCKED (`millrace runs show {run}` says why)");
            return EXIT_BLOCKED;
        }
        return i32::from(s.failed);
    }
    if t.blocked.is_empty() {
        return 0;
    }
    let ended = t.blocked.len() as u64 + t.ended_otherwise;
    let items = t.blocked.join(", ");
    if t.ended_otherwise == 0 {
        eprintln!(
            "blocked: all {ended} work item(s) this run finished ended blocked: {items} (see `millrace queue ls --state blocked`, `millrace runs show <run>`)"
        );
        EXIT_BLOCKED
    } else {
        eprintln!(
            "warning: {} of {ended} work item(s) this run finished ended blocked: {items}",
            t.blocked.len()
        );
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::engine::Tally;

    fn summary(tally: Tally, failed: bool, cancelled: bool) -> daemon::RunSummary {
        daemon::RunSummary {
            mode_id: "m".into(),
            plan_id: "p".into(),
            ticks: 1,
            last_reason: String::new(),
            interrupted: cancelled,
            failed,
            cancelled,
            tally,
        }
    }

    #[test]
    fn exit_status_follows_the_table() {
        let blocked = |ids: &[&str], others| Tally {
            last_outcome: Some("BLOCKED".into()),
            last_run_id: Some("run-1".into()),
            blocked: ids.iter().map(|s| s.to_string()).collect(),
            ended_otherwise: others,
        };
        // run once: its stage ended BLOCKED (runtime failure or not).
        assert_eq!(
            exit_status(&summary(blocked(&[], 0), true, false), true),
            EXIT_BLOCKED
        );
        assert_eq!(
            exit_status(&summary(blocked(&[], 0), false, false), true),
            EXIT_BLOCKED
        );
        assert_eq!(
            exit_status(&summary(Tally::default(), true, false), true),
            1
        );
        assert_eq!(
            exit_status(&summary(Tally::default(), false, false), true),
            0
        );
        // run daemon: every item it ended, ended blocked.
        assert_eq!(
            exit_status(&summary(blocked(&["task:a"], 0), false, false), false),
            EXIT_BLOCKED
        );
        assert_eq!(
            exit_status(&summary(blocked(&["task:a"], 1), false, false), false),
            0
        );
        assert_eq!(
            exit_status(&summary(blocked(&[], 0), false, false), false),
            0
        );
        // A cancelled stage wins.
        assert_eq!(
            exit_status(&summary(blocked(&["task:a"], 0), false, true), false),
            EXIT_INTERRUPTED
        );
    }
}
