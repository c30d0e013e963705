//! `millrace config show|validate`: the effective `millrace.toml`, and a
//! validation that is a compile (same lines and exit status as `compile
//! validate`) plus, in a workspace, a check that every runner the plan uses
//! can start (`runtime::runner_health`).

use super::compile::{compile_target, Target};
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
    },
    /// Ask a running daemon to re-read `millrace.toml` (same as `reload-config`).
    Reload {
        #[command(flatten)]
        workspace: WorkspaceArg,
    },
}

pub fn run(args: ConfigArgs) -> i32 {
    match args.command {
        ConfigCommand::Show {
            workspace,
            config: config_arg,
            json,
        } => {
            let layout = match config_arg.initialized(&workspace) {
                Ok(l) => l,
                Err(code) => return code,
            };
            let c = match config::load_config(&layout.config_file()) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return 1;
                }
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&c).unwrap_or_default());
                return 0;
            }
            let snapshot = state::load_snapshot(&layout).ok();
            let style = match c.runtime.run_style {
                config::RunStyle::Once => "once",
                config::RunStyle::Daemon => "daemon",
            };
            println!("default_mode: {}", c.runtime.default_mode);
            println!("run_style: {style}");
            println!("idle_sleep_seconds: {:?}", c.runtime.idle_sleep_seconds);
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
            runner_commands(&layout, &c);
            0
        }
        ConfigCommand::Reload { workspace } => super::control::run(
            super::control::ControlCommand::ReloadConfig(super::control::ControlFlags {
                workspace,
                json: false,
            }),
        ),
        ConfigCommand::Validate { target } => {
            let mut c = match compile_target(&target) {
                Ok(c) => c,
                Err(code) => return code,
            };
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
            print!("{}", super::compile::validate_text(&c));
            i32::from(!c.outcome.errors.is_empty())
        }
    }
}

/// Each command line the default mode's stages would start
/// (`runner.<name>.command:`), followed by the stages that start it.
fn runner_commands(layout: &crate::workspace::layout::Layout, c: &config::Config) {
    use crate::plan::compile::{compile, AssetRoot};
    let outcome = compile(&AssetRoot::Workspace(layout.clone()), None);
    let Some(plan) = outcome.plan else {
        let why = outcome
            .errors
            .first()
            .map(String::as_str)
            .unwrap_or("no plan");
        eprintln!(
            "warning: runner command lines unknown: mode {} does not compile: {}",
            outcome.mode_id,
            why.lines().next().unwrap_or_default()
        );
        return;
    };
    let mut lines: Vec<(String, String, Vec<String>)> = Vec::new();
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
    println!("runner_mode: {}", plan.mode_id);
    for (runner, cmd, stages) in lines {
        println!("runner.{runner}.command: {cmd}");
        println!("runner.{runner}.stages: {}", stages.join(", "));
    }
}
