//! `millrace doctor [--repair]`: integrity checks, and the repairs that are
//! always safe (queue reconciliation, removing a daemon lock no process holds).

use clap::Args;

use super::workspace_arg::{fail, WorkspaceArg};
use crate::workspace::doctor::{check, Severity};
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
    let findings = check(&layout);
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
