//! `millrace upgrade [--apply] [--localize-removed PATH]...
//! [--localize-removed-from FILE]`: compare the managed files with the
//! baseline manifest and the shipped assets.

use clap::Args;

use super::workspace_arg::{fail, WorkspaceArg};
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
}

/// The paths to localize: the flags', then those listed in the file.
fn localize_paths(args: &UpgradeArgs) -> Result<Vec<String>, String> {
    let mut paths: Vec<String> = args
        .localize_removed
        .iter()
        .filter(|p| !p.trim().is_empty())
        .cloned()
        .collect();
    if let Some(file) = &args.localize_removed_from {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("--localize-removed-from {}: {e}", file.display()))?;
        paths.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
    }
    Ok(paths)
}

pub fn run(args: UpgradeArgs) -> i32 {
    let layout = match args.workspace.initialized() {
        Ok(l) => l,
        Err(code) => return code,
    };
    let localize = match localize_paths(&args) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    let candidate = shipped_candidate();
    let result = if args.apply {
        apply_with(&layout, &candidate, &localize)
    } else {
        preview_with(&layout, &candidate, &localize)
    };
    let plan = match result {
        Ok(plan) => plan,
        Err(e) if e.starts_with("upgrade refused") => {
            eprintln!("error: {e}");
            return 1;
        }
        Err(e) => return fail(&e),
    };
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
    0
}
