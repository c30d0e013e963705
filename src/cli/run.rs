//! `millrace run once|daemon`: start the interpreter on a workspace.
//!
//! `run once` is startup plus one tick; `run daemon` ticks until stopped
//! (mailbox `stop`, SIGINT/SIGTERM, or `--max-ticks`). Both print the
//! reference's summary lines at the end; `--monitor basic` streams the
//! compact event lines to standard output or `--monitor-log PATH`.

use super::workspace_arg::{fail, ConfigArg, WorkspaceArg};
use crate::runtime::daemon::{self, RunOptions};
use crate::runtime::monitor::{Monitor, Sink};
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
}

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

/// Exit code of a run that stopped at a pause over its environment (the
/// lead's exit-code table: 5).
pub const EXIT_ENVIRONMENT_PAUSE: i32 = 5;

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
            let code = if once {
                println!("tick_reason: {}", s.last_reason);
                i32::from(s.failed)
            } else {
                println!("ticks: {}", s.ticks);
                0
            };
            if let Some(reason) = &s.environment_pause {
                eprintln!("error: paused over the environment: {reason}");
                return EXIT_ENVIRONMENT_PAUSE;
            }
            code
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
