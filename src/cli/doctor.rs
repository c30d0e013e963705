//! `millrace doctor [--repair]`: integrity checks (the workspace's, and
//! whether every runner the plan uses can start), and the repairs that are
//! always safe (queue reconciliation, removing a daemon lock no process holds).

use clap::Args;

use super::error::{Error, Outcome};
use super::workspace_arg::WorkspaceArg;
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
    /// Print JSON (`ok`, `errors`, `warnings`, `repaired`, `findings`) instead of lines.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: DoctorArgs) -> Result<Outcome, Error> {
    let layout = args.workspace.initialized()?;
    let mut repaired = Vec::new();
    if args.repair {
        let report = reconcile(&layout).map_err(crate::workspace::Error::from)?;
        repaired.extend(report.actions.iter().map(|a| a.to_string()));
        if let Some(r) = crate::workspace::lock::clear_stale(&layout, "doctor --repair")
            .map_err(crate::workspace::Error::from)?
        {
            repaired.push(format!(
                "removed stale daemon lock (owner pid {} on {})",
                r.owner_pid, r.owner_hostname
            ));
        }
        if !args.json {
            for action in &repaired {
                println!("repaired: {action}");
            }
        }
    }
    let mut findings = check(&layout);
    findings.extend(crate::plan::health::findings(&layout));
    findings.extend(runner_findings(&layout));
    findings.extend(lineage_findings(&layout));
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    if args.json {
        let list: Vec<serde_json::Value> = findings
            .iter()
            .map(|f| {
                serde_json::json!({
                    "severity": if f.severity == Severity::Error { "error" } else { "warning" },
                    "code": f.code, "path": f.path, "message": f.message, "fix": f.fix,
                })
            })
            .collect();
        let out = serde_json::json!({
            "ok": errors == 0, "errors": errors, "warnings": findings.len() - errors,
            "repaired": repaired, "findings": list,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        println!("ok: {}", errors == 0);
        println!("errors: {errors}");
        println!("warnings: {}", findings.len() - errors);
        for f in &findings {
            println!("{}", f.line());
        }
    }
    Ok(Outcome::problems_if(errors > 0))
}

/// One error per runner of the workspace's plan that cannot start an agent
/// (nothing when the config or the plan does not load: those have their own findings).
fn runner_findings(layout: &Layout) -> Vec<Finding> {
    let Ok(config) = load_config(&layout.config_file()) else {
        return Vec::new();
    };
    // A mode that does not compile is reported by `plan::health`
    // (`resolved_mode_invalid`, the reference's code, with the reason).
    let Some(plan) = compile(&AssetRoot::Workspace(layout.clone()), None).plan else {
        return Vec::new();
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

/// One error per work item of an open closure target's lineage that names
/// another root spec (the reference's `closure_lineage_drift`).
fn lineage_findings(layout: &Layout) -> Vec<Finding> {
    crate::runtime::lineage_integrity::scan_open_targets(layout)
        .into_iter()
        .map(|f| Finding {
            severity: Severity::Error,
            code: "closure_lineage_drift",
            path: layout.root.join(&f.path).display().to_string(),
            message: format!(
                "{} {} has root {}; expected {}",
                f.work_item_kind,
                f.work_item_id,
                f.actual_root_spec_id.as_deref().unwrap_or("None"),
                f.expected_root_spec_id
            ),
            fix: format!(
                "run `millrace queue repair-lineage --root-spec-id {} --apply` (queued and blocked work), requeue active work",
                f.expected_root_spec_id
            ),
        })
        .collect()
}
