//! `doctor`'s checks of the workspace's modes and loops, under the
//! reference's finding codes: every mode the sources declare compiles
//! (`mode_definition_invalid`, or `loop_definition_invalid` when the error
//! is in a loop file), the sources load at all (`mode_bundle_invalid`), and
//! the mode the config selects compiles (`resolved_mode_invalid`). A
//! compile error the config causes is reported under the config's code.

use super::compile::{compile, load_sources, AssetRoot};
use crate::language::check::check;
use crate::workspace::doctor::{Finding, Severity};
use crate::workspace::layout::Layout;
use std::collections::BTreeSet;

const FIX: &str = "run `millrace lint` in millrace-agents/mill/ (with `--std stdlib`) and fix the file, or `millrace upgrade --apply` to restore a shipped one";

/// One finding per distinct compile error of a mode or loop.
pub fn findings(layout: &Layout) -> Vec<Finding> {
    if !layout.path("mill").exists() {
        // A workspace the reference initialized: `run` deploys the shipped
        // sources (doctor reports `missing_managed_assets`), nothing to judge.
        return Vec::new();
    }
    let root = AssetRoot::Workspace(layout.clone());
    let mill = layout.path("mill").display().to_string();
    let program = match load_sources(&root) {
        Ok(p) => p,
        Err(e) => {
            return vec![finding("mode_bundle_invalid", mill, e.to_string())];
        }
    };
    let checked = check(&program);
    let default = compile(&root, None);
    let mut compiled: Vec<(String, Vec<String>)> = checked
        .model
        .modes
        .keys()
        .map(|mode| (mode.clone(), compile(&root, Some(mode)).errors))
        .collect();
    compiled.push((default.mode_id.clone(), default.errors.clone()));
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (mode, errors) in compiled {
        for error in errors {
            let first = error.lines().next().unwrap_or_default().to_string();
            if !seen.insert(first.clone()) {
                continue;
            }
            let file = first.split(':').next().unwrap_or_default();
            let (code, path) = if file.ends_with(".mill") {
                let code = if file.contains("/loops/") {
                    "loop_definition_invalid"
                } else {
                    "mode_definition_invalid"
                };
                (code, layout.path(file))
            } else if first.starts_with("[runners.script]") {
                // The config names a script the compile cannot read.
                ("runner_script_unavailable", layout.config_file())
            } else {
                ("runtime_config_invalid", layout.config_file())
            };
            let shown = crate::workspace::doctor::without_path(&first, &path);
            out.push(finding(
                code,
                path.display().to_string(),
                format!("{mode}: {shown}"),
            ));
        }
    }
    if default.plan.is_none() {
        let why = default
            .errors
            .first()
            .and_then(|e| e.lines().next())
            .unwrap_or("the mode does not compile")
            .to_string();
        let why = crate::workspace::doctor::without_path(&why, &layout.config_file());
        out.push(finding(
            "resolved_mode_invalid",
            layout.config_file().display().to_string(),
            format!("{}: {why}", default.mode_id),
        ));
    }
    out
}

fn finding(code: &'static str, path: String, message: String) -> Finding {
    Finding {
        severity: Severity::Error,
        code,
        path,
        message,
        fix: FIX.into(),
    }
}
