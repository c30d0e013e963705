//! `millrace doctor [--repair]`: integrity checks (the workspace's, and
//! whether every runner the plan uses can start), and the repairs that are
//! always safe (queue reconciliation, removing a daemon lock no process holds).

use clap::Args;

use super::workspace_arg::{fail, WorkspaceArg};
use crate::plan::compile::{compile, AssetRoot};
use crate::runtime::runner_health;
use crate::workspace::config::load_config;
use crate::workspace::doctor::{check, Finding, Severity};
use crate::workspace::layout::Layout;
use crate::workspace::queue::reconcile;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    /// Reconcile the queue first: remove debris of interrupted writes,
    /// resolve items found in two states, recompute snapshot queue depths,
    /// remove a daemon lock no process holds.
    #[arg(long)]
    pub repair: bool,
}

pub fn run(args: DoctorArgs) -> i32 {
    let layout = match args.workspace.initialized() {
        Ok(l) => l,
        Err(code) => return code,
    };
    if args.repair {
        match reconcile(&layout) {
            Ok(report) => {
                for action in report.actions {
                    println!("repaired: {action}");
                }
            }
            Err(e) => return fail(&e.to_string()),
        }
        match crate::workspace::lock::clear_stale(&layout, "doctor --repair") {
            Ok(Some(r)) => println!(
                "repaired: removed stale daemon lock (owner pid {} on {})",
                r.owner_pid, r.owner_hostname
            ),
            Ok(None) => {}
            Err(e) => return fail(&e.to_string()),
        }
    }
    let mut findings = check(&layout);
    findings.extend(runner_findings(&layout));
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    println!("ok: {}", errors == 0);
    println!("errors: {errors}");
    println!("warnings: {}", findings.len() - errors);
    for f in &findings {
        println!("{}", f.line());
    }
    if errors == 0 {
        0
    } else {
        1
    }
}

/// One error per runner of the workspace's plan that cannot start an agent
/// (nothing when the config or the plan does not load: those have their own findings).
fn runner_findings(layout: &Layout) -> Vec<Finding> {
    let Ok(config) = load_config(&layout.config_file()) else {
        return Vec::new();
    };
    let outcome = compile(&AssetRoot::Workspace(layout.clone()), None);
    let Some(plan) = outcome.plan else {
        // A mode that does not compile cannot run either: say why.
        return outcome
            .errors
            .iter()
            .map(|e| Finding {
                severity: Severity::Error,
                code: "mode_bundle_invalid",
                path: layout.config_file().display().to_string(),
                message: format!(
                    "mode {}: {}",
                    outcome.mode_id,
                    e.lines().next().unwrap_or(e)
                ),
                fix: format!(
                    "run `millrace compile validate --workspace {}` for the full diagnostics",
                    layout.root.display()
                ),
            })
            .collect();
    };
    runner_health::check_plan(&plan, &config.runners, &layout.root)
        .into_iter()
        .map(|f| Finding {
            severity: Severity::Error,
            code: f.problem.code(),
            path: layout.config_file().display().to_string(),
            message: f.to_string(),
            fix: "install the agent or correct `[runners]` in millrace.toml (command, argv, env PATH, script path)".into(),
        })
        .collect()
}
