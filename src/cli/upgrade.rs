//! `millrace upgrade [--apply] [--localize-removed PATH]...
//! [--localize-removed-from FILE]`: compare the managed files with the
//! baseline manifest and the shipped assets.

use clap::Args;

use super::error::{Error, Outcome};
use super::workspace_arg::WorkspaceArg;
use crate::workspace::upgrade::{apply_with, preview_with, shipped_candidate, Disposition};

#[derive(Debug, Args)]
pub struct UpgradeArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    /// Apply the safe updates (refused, changing nothing, if any file conflicts).
    #[arg(long)]
    pub apply: bool,
    /// Keep a managed file that the new baseline removed as a local file.
    #[arg(long = "localize-removed", value_name = "PATH")]
    pub localize_removed: Vec<String>,
    /// Read more `--localize-removed` paths from FILE, one a line (blank
    /// lines and `#` comments skipped).
    #[arg(long = "localize-removed-from", value_name = "FILE")]
    pub localize_removed_from: Option<std::path::PathBuf>,
    /// Print JSON instead of `key: value` lines.
    #[arg(long)]
    pub json: bool,
}

/// The paths to localize: the flags', then those listed in the file.
fn localize_paths(args: &UpgradeArgs) -> Result<Vec<String>, Error> {
    let mut paths: Vec<String> = args
        .localize_removed
        .iter()
        .filter(|p| !p.trim().is_empty())
        .cloned()
        .collect();
    if let Some(file) = &args.localize_removed_from {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Error::io(file, e).context("--localize-removed-from"))?;
        paths.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
    }
    Ok(paths)
}

pub fn run(args: UpgradeArgs) -> Result<Outcome, Error> {
    let layout = args.workspace.initialized()?;
    let localize = localize_paths(&args)?;
    let candidate = shipped_candidate();
    let result = if args.apply {
        apply_with(&layout, &candidate, &localize)
    } else {
        preview_with(&layout, &candidate, &localize)
    };
    let plan = result?;
    if args.json {
        let mut counts = serde_json::Map::new();
        for d in Disposition::ALL {
            counts.insert(d.as_str().into(), serde_json::json!(plan.count(d)));
        }
        let entries: Vec<serde_json::Value> = plan
            .entries
            .iter()
            .map(|e| serde_json::json!({"path": e.relative_path, "disposition": e.disposition.as_str()}))
            .collect();
        let out = serde_json::json!({
            "applied": plan.applied,
            "baseline_manifest_id": plan.baseline_manifest_id,
            "candidate_manifest_id": plan.candidate_manifest_id,
            "result_manifest_id": plan.applied.then_some(&plan.candidate_manifest_id),
            "counts": counts,
            "entries": entries,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return Ok(Outcome::Success);
    }
    println!("applied: {}", plan.applied);
    println!("baseline_manifest_id: {}", plan.baseline_manifest_id);
    println!("candidate_manifest_id: {}", plan.candidate_manifest_id);
    if plan.applied {
        println!("result_manifest_id: {}", plan.candidate_manifest_id);
    }
    for d in Disposition::ALL {
        println!("{}: {}", d.as_str(), plan.count(d));
    }
    for e in &plan.entries {
        println!("entry: {} {}", e.relative_path, e.disposition.as_str());
    }
    Ok(Outcome::Success)
}
