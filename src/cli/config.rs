//! `millrace config show|validate`: the effective `millrace.toml`, and a
//! validation that is a compile (same lines and exit status as `compile
//! validate`) plus, in a workspace, a check that every runner the plan uses
//! can start (`runtime::runner_health`).

use super::compile::{compile_target, Target};
use super::error::{Error, Outcome};
use super::workspace_arg::WorkspaceArg;
use crate::runtime::runner_health;
use crate::workspace::config;
use crate::workspace::state;
use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// The main settings in effect.
    Show {
        #[command(flatten)]
        workspace: WorkspaceArg,
        #[command(flatten)]
        config: super::workspace_arg::ConfigArg,
        /// Print the whole effective config (every key, defaults filled in) as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check `millrace.toml` and compile the mode with it.
    Validate {
        #[command(flatten)]
        target: Target,
        /// Print JSON (the `compile validate --json` object) instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Ask a running daemon to re-read `millrace.toml` (same as `reload-config`).
    Reload {
        #[command(flatten)]
        workspace: WorkspaceArg,
        /// Print JSON instead of `key: value` lines.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: ConfigArgs) -> Result<Outcome, Error> {
    match args.command {
        ConfigCommand::Show {
            workspace,
            config: config_arg,
            json,
        } => {
            let layout = config_arg.initialized(&workspace)?;
            let c = config::load_config(&layout.config_file())?;
            if json {
                let mut v = serde_json::to_value(&c).unwrap_or_default();
                // Left out of the fingerprinted config at its default; shown here.
                v["runtime"]["heartbeat_seconds"] = serde_json::json!(c.runtime.heartbeat_seconds);
                v["runner_commands"] = match runner_commands(&layout, &c) {
                    Ok((_, lines)) => lines
                        .into_iter()
                        .map(|(runner, command, stages)| {
                            serde_json::json!({"runner": runner, "command": command, "stages": stages})
                        })
                        .collect(),
                    Err(why) => {
                        eprintln!("warning: {why}");
                        serde_json::Value::Null
                    }
                };
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
                return Ok(Outcome::Success);
            }
            let snapshot = state::load_snapshot(&layout).ok();
            let style = match c.runtime.run_style {
                config::RunStyle::Once => "once",
                config::RunStyle::Daemon => "daemon",
            };
            println!("default_mode: {}", c.runtime.default_mode);
            println!("run_style: {style}");
            println!("idle_sleep_seconds: {:?}", c.runtime.idle_sleep_seconds);
            println!("heartbeat_seconds: {}", c.runtime.heartbeat_seconds);
            println!("watchers.enabled: {}", c.watchers.enabled);
            println!("usage_governance.enabled: {}", c.usage_governance.enabled);
            println!(
                "config_version: {}",
                snapshot
                    .as_ref()
                    .map(|s| s.config_version.as_str())
                    .unwrap_or("bootstrap")
            );
            let text = |v: Option<&serde_json::Value>| match v {
                None | Some(serde_json::Value::Null) => "none".to_string(),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            println!(
                "last_reload_outcome: {}",
                text(snapshot.as_ref().map(|s| &s.last_reload_outcome))
            );
            println!(
                "last_reload_error: {}",
                snapshot
                    .as_ref()
                    .and_then(|s| s.last_reload_error.as_deref())
                    .unwrap_or("none")
            );
            match runner_commands(&layout, &c) {
                Ok((mode, lines)) => {
                    println!("runner_mode: {mode}");
                    for (runner, cmd, stages) in lines {
                        println!("runner.{runner}.command: {cmd}");
                        println!("runner.{runner}.stages: {}", stages.join(", "));
                    }
                }
                Err(why) => eprintln!("warning: {why}"),
            }
            Ok(Outcome::Success)
        }
        ConfigCommand::Reload { workspace, json } => {
            super::control::run(super::control::ControlCommand::ReloadConfig(
                super::control::ControlFlags { workspace, json },
            ))
        }
        ConfigCommand::Validate { target, json } => {
            let mut c = compile_target(&target)?;
            // In a workspace, every runner the plan uses must be able to start.
            if let (Some((layout, _)), Some(plan)) = (&c.workspace, &c.active) {
                if let Ok(config) = config::load_config(&layout.config_file()) {
                    let findings = runner_health::check_plan(plan, &config.runners, &layout.root);
                    c.outcome.errors.extend(
                        findings
                            .iter()
                            .map(|f| format!("{}: {f}", f.problem.code())),
                    );
                }
            }
            if json {
                let v = super::compile::validate_json(&c);
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                print!("{}", super::compile::validate_text(&c));
            }
            Ok(Outcome::problems_if(!c.outcome.errors.is_empty()))
        }
    }
}

/// Each command line the default mode's stages would start
/// (`runner.<name>.command:`), followed by the stages that start it.
/// A runner, one command line it starts, and the stages that start it.
type RunnerLine = (String, String, Vec<String>);

/// The default mode and each distinct command line its stages would start
/// (built by the runners' own argv code); `Err` says why they are unknown
/// (the mode does not compile).
fn runner_commands(
    layout: &crate::workspace::layout::Layout,
    c: &config::Config,
) -> Result<(String, Vec<RunnerLine>), String> {
    use crate::plan::compile::{compile, AssetRoot};
    let outcome = compile(&AssetRoot::Workspace(layout.clone()), None);
    let Some(plan) = outcome.plan else {
        let why = outcome
            .errors
            .first()
            .map(String::as_str)
            .unwrap_or("no plan");
        return Err(format!(
            "runner command lines unknown: mode {} does not compile: {}",
            outcome.mode_id,
            why.lines().next().unwrap_or_default()
        ));
    };
    let mut lines: Vec<RunnerLine> = Vec::new();
    for (plane, g) in &plan.graphs_by_plane {
        for n in &g.nodes {
            let cmd =
                crate::runners::preview::command_line(n, &plan.mode_id, &c.runners, &layout.root);
            let stage = format!("{plane}.{}", n.node_id);
            match lines
                .iter_mut()
                .find(|(r, line, _)| *r == n.runner_name && *line == cmd)
            {
                Some((_, _, stages)) => stages.push(stage),
                None => lines.push((n.runner_name.clone(), cmd, vec![stage])),
            }
        }
    }
    Ok((plan.mode_id.clone(), lines))
}
