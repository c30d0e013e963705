//! `millrace run once|daemon`: start the interpreter on a workspace.
//!
//! `run once` is startup plus one tick; `run daemon` ticks until stopped
//! (mailbox `stop`, SIGINT/SIGTERM, or `--max-ticks`). Both print the
//! reference's summary lines at the end; `--monitor basic` streams the
//! compact event lines to standard output or `--monitor-log PATH`.

use super::error::{Error, Outcome};
use super::workspace_arg::{ConfigArg, WorkspaceArg};
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
    /// Print one JSON summary object at the end (stages run, items by
    /// outcome, stop reason) instead of the summary lines; `--monitor basic`
    /// lines then go to standard error, so standard output is that object only.
    #[arg(long)]
    pub json: bool,
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

fn monitor(flags: &RunFlags) -> Result<Monitor, Error> {
    if let Some(path) = &flags.monitor_log {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        return Ok(Monitor::new(Sink::File(f)));
    }
    Ok(match flags.monitor {
        MonitorKind::None => Monitor::off(),
        MonitorKind::Basic if flags.json => Monitor::new(Sink::Stderr),
        MonitorKind::Basic => Monitor::new(Sink::Stdout),
    })
}

/// `{"stages_run": n, "items_by_outcome": {"task": {"done": n, "blocked": n}, ...}}`:
/// what this process did, as the engine counted it (every end state of
/// every kind is listed, 0 when none).
fn outcome_counts(tally: &crate::runtime::engine::Tally) -> serde_json::Value {
    use crate::workspace::documents::DocKind;
    use crate::workspace::queue;
    let mut items = serde_json::Map::new();
    for kind in [
        DocKind::Task,
        DocKind::Spec,
        DocKind::Incident,
        DocKind::LearningRequest,
    ] {
        let mut states = serde_json::Map::new();
        for state in &queue::states(kind)[2..] {
            let n = tally
                .finished
                .get(&(kind.tag().to_string(), state.to_string()))
                .copied()
                .unwrap_or(0);
            states.insert(state.to_string(), serde_json::json!(n));
        }
        items.insert(kind.tag().to_string(), serde_json::Value::Object(states));
    }
    serde_json::json!({
        "stages_run": tally.stages_run,
        "items_by_outcome": items,
    })
}

pub fn run(args: RunArgs) -> Result<Outcome, Error> {
    let (flags, once, max_ticks, until_idle) = match args.command {
        RunCommand::Once { flags } => (flags, true, None, false),
        RunCommand::Daemon {
            flags,
            max_ticks,
            until_idle,
        } => (flags, false, max_ticks, until_idle),
    };
    let layout = flags.config.initialized(&flags.workspace)?;
    let monitor = monitor(&flags)?;
    let opts = RunOptions {
        mode: flags.mode.clone(),
        max_ticks,
        once,
        until_idle,
        heartbeat: flags.heartbeat,
    };
    let s = daemon::run(layout.clone(), opts, monitor)?;
    let outcome = exit_status(&s, once);
    if flags.json {
        let mut v = outcome_counts(&s.tally);
        v["run_mode"] = serde_json::json!(if once { "once" } else { "daemon" });
        v["active_mode_id"] = serde_json::json!(s.mode_id);
        v["mode_override"] = serde_json::json!(flags.mode);
        v["compiled_plan_id"] = serde_json::json!(s.plan_id);
        v["ticks"] = serde_json::json!(s.ticks);
        v["tick_reason"] = serde_json::json!(s.last_reason);
        v["stop_reason"] = serde_json::json!(s.stop_reason);
        v["interrupted"] = serde_json::json!(s.interrupted);
        v["cancelled"] = serde_json::json!(s.cancelled);
        v["failed"] = serde_json::json!(s.failed);
        v["environment_pause"] = serde_json::json!(s.environment_pause);
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return Ok(outcome);
    }
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
    Ok(outcome)
}

/// How a finished run ends (its exit status through the table in
/// `cli::error`), and its last line on stderr when the work ended blocked or
/// the stage was cancelled: `Blocked` when `run once`'s stage ended BLOCKED
/// or every item `run daemon` took to an end ended blocked.
fn exit_status(s: &daemon::RunSummary, once: bool) -> Outcome {
    if s.cancelled {
        eprintln!("interrupted: the running stage was cancelled; its item runs it again on the next start");
        return Outcome::Interrupted;
    }
    if let Some(reason) = &s.environment_pause {
        eprintln!("error: paused over the environment: {reason}");
        return Outcome::EnvironmentPaused;
    }
    let t = &s.tally;
    if once {
        if t.last_outcome.as_deref() == Some("BLOCKED") {
            let run = t.last_run_id.as_deref().unwrap_or("<run>");
            eprintln!("blocked: the stage ended BLOCKED (`millrace runs show {run}` says why)");
            return Outcome::Blocked;
        }
        return Outcome::problems_if(s.failed);
    }
    if t.blocked.is_empty() {
        return Outcome::Success;
    }
    let ended = t.blocked.len() as u64 + t.ended_otherwise;
    let items = t.blocked.join(", ");
    if t.ended_otherwise == 0 {
        eprintln!(
            "blocked: all {ended} work item(s) this run finished ended blocked: {items} (see `millrace queue ls --state blocked`, `millrace runs show <run>`)"
        );
        Outcome::Blocked
    } else {
        eprintln!(
            "warning: {} of {ended} work item(s) this run finished ended blocked: {items}",
            t.blocked.len()
        );
        Outcome::Success
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
            stop_reason: String::new(),
            environment_pause: None,
        }
    }

    #[test]
    fn exit_status_follows_the_table() {
        let blocked = |ids: &[&str], others| Tally {
            last_outcome: Some("BLOCKED".into()),
            last_run_id: Some("run-1".into()),
            blocked: ids.iter().map(|s| s.to_string()).collect(),
            ended_otherwise: others,
            ..Tally::default()
        };
        // run once: its stage ended BLOCKED (runtime failure or not).
        assert_eq!(
            exit_status(&summary(blocked(&[], 0), true, false), true),
            Outcome::Blocked
        );
        assert_eq!(
            exit_status(&summary(blocked(&[], 0), false, false), true),
            Outcome::Blocked
        );
        assert_eq!(
            exit_status(&summary(Tally::default(), true, false), true),
            Outcome::Problems
        );
        assert_eq!(
            exit_status(&summary(Tally::default(), false, false), true),
            Outcome::Success
        );
        // run daemon: every item it ended, ended blocked.
        assert_eq!(
            exit_status(&summary(blocked(&["task:a"], 0), false, false), false),
            Outcome::Blocked
        );
        assert_eq!(
            exit_status(&summary(blocked(&["task:a"], 1), false, false), false),
            Outcome::Success
        );
        assert_eq!(
            exit_status(&summary(blocked(&[], 0), false, false), false),
            Outcome::Success
        );
        // A cancelled stage wins.
        assert_eq!(
            exit_status(&summary(blocked(&["task:a"], 0), false, true), false),
            Outcome::Interrupted
        );
    }
}
