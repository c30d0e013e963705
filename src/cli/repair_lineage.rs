//! `millrace queue repair-lineage --root-spec-id ID [--apply]`: preview (or
//! apply) the reference's safe repairs of closure-lineage drift, printing
//! its lines; a report is written under `arbiter/diagnostics/lineage-repairs/`
//! either way.

use super::error::{Error, Outcome};
use super::workspace_arg::WorkspaceArg;
use crate::runtime::lineage_integrity::{self as lineage, RepairError};
use crate::workspace::ids;
use clap::Args;
use std::collections::BTreeSet;

#[derive(Debug, Args)]
pub struct RepairLineageArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    /// The open closure target's root spec id.
    #[arg(long, value_name = "ID")]
    pub root_spec_id: String,
    /// Rewrite the queued and blocked documents (refused while a daemon runs or a stage is active).
    #[arg(long)]
    pub apply: bool,
    /// Print JSON instead of the reference's lines.
    #[arg(long)]
    pub json: bool,
}

/// A refusal: the command ran but could not repair (exit 1, as the
/// reference; 3 while a daemon owns the workspace: retry later).
fn refuse(e: &RepairError) -> Error {
    match e {
        RepairError::DaemonRunning => crate::runtime::Error::DaemonOwns(e.to_string()),
        _ => crate::runtime::Error::Refused(e.to_string()),
    }
    .into()
}

pub fn run(args: RepairLineageArgs) -> Result<Outcome, Error> {
    let layout = args.workspace.initialized()?;
    let root = ids::validate_id(&args.root_spec_id)
        .map_err(|e| Error::from(crate::workspace::Error::from(e)).context("invalid root spec id"))?
        .to_string();
    let target = match lineage::target(&layout, &root) {
        Ok(t) => t,
        Err(e) => return Err(refuse(&e)),
    };
    let plan = lineage::plan(&layout, &target);
    let mut report = match lineage::write_report(&layout, &plan, None) {
        Ok(p) => p,
        Err(e) => return Err(refuse(&e)),
    };
    let mut repaired = 0;
    if args.apply {
        repaired = match lineage::apply(&layout, &plan) {
            Ok(n) => n,
            Err(e) => return Err(refuse(&e)),
        };
        report = match lineage::write_report(&layout, &plan, Some(repaired)) {
            Ok(p) => p,
            Err(e) => return Err(refuse(&e)),
        };
    }
    let documents: BTreeSet<(&str, &str, &str)> = plan
        .changes
        .iter()
        .map(|c| (c.work_item_kind, c.work_item_id.as_str(), c.path.as_str()))
        .collect();
    if args.json {
        let changes: Vec<serde_json::Value> = plan
            .changes
            .iter()
            .map(|c| {
                serde_json::json!({
                    "work_item_kind": c.work_item_kind, "work_item_id": c.work_item_id,
                    "field_name": c.field_name, "old_value": c.old_value, "new_value": c.new_value,
                    "path": c.path,
                })
            })
            .collect();
        let skipped: Vec<serde_json::Value> = plan
            .skipped_findings
            .iter()
            .map(|f| serde_json::json!({"work_item_kind": f.work_item_kind, "work_item_id": f.work_item_id, "state": f.state}))
            .collect();
        let out = serde_json::json!({
            "root_spec_id": target.root_spec_id, "apply": args.apply,
            "repair_count": documents.len(), "change_count": plan.changes.len(),
            "repaired_count": repaired, "skipped_count": plan.skipped_findings.len(),
            "repair_report": report.display().to_string(),
            "changes": changes, "skipped": skipped,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return Ok(Outcome::Success);
    }
    println!("root_spec_id: {}", target.root_spec_id);
    println!("apply: {}", args.apply);
    println!("repair_count: {}", documents.len());
    println!("change_count: {}", plan.changes.len());
    println!("repaired_count: {repaired}");
    println!("skipped_count: {}", plan.skipped_findings.len());
    println!("repair_report: {}", report.display());
    for c in &plan.changes {
        println!(
            "change: {} {} {} {} -> {}",
            c.work_item_kind,
            c.work_item_id,
            c.field_name,
            c.old_value.as_deref().unwrap_or("None"),
            c.new_value
        );
    }
    for f in &plan.skipped_findings {
        println!(
            "skipped: {} {} state={}",
            f.work_item_kind, f.work_item_id, f.state
        );
    }
    Ok(Outcome::Success)
}
