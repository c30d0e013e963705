//! The command line a runner would start for a node of a plan, built by the
//! same `build_argv` functions the runners use, with placeholders
//! (`<prompt>`, `<run_dir>`, `<request_id>`) for what only a run knows.
//! `config show` prints it.

use std::path::{Path, PathBuf};

use super::artifacts::FileNames;
use super::settings::RunnerSettings;
use super::{claude, codex, command, pi, ClosureFields, StageRequest};
use crate::plan::ir::CompiledNode;

/// A request for `node` whose run-specific values are placeholders.
fn request(node: &CompiledNode, mode_id: &str, workspace_root: &Path) -> StageRequest {
    let ma = workspace_root.join("millrace-agents");
    let run_dir = PathBuf::from("<run_dir>");
    StageRequest {
        request_id: "<request_id>".into(),
        run_id: "<run_id>".into(),
        mode_id: mode_id.into(),
        compiled_plan_id: String::new(),
        node_id: node.node_id.clone(),
        stage_kind_id: node.stage_kind_id.clone(),
        stage: node.node_id.clone(),
        plane: node.plane.clone(),
        request_kind: String::new(),
        running_status_marker: node.running_status_marker.clone(),
        entrypoint_path: ma.join(&node.entrypoint_path),
        entrypoint_contract_id: None,
        work_item: None,
        closure: ClosureFields::default(),
        outcomes: vec![],
        required_skill_paths: vec![],
        attached_skill_paths: vec![],
        run_dir: run_dir.clone(),
        workspace_root: workspace_root.to_path_buf(),
        runtime_snapshot_path: PathBuf::new(),
        recovery_counters_path: PathBuf::new(),
        summary_status_path: PathBuf::new(),
        preferred_troubleshoot_report_path: None,
        runtime_error_code: None,
        runtime_error_report_path: None,
        runtime_error_catalog_path: None,
        skill_revision_evidence_path: None,
        runner_name: Some(node.runner_name.clone()),
        model_name: node.model_name.clone(),
        thinking_level: node.thinking_level.clone(),
        model_reasoning_effort: node.model_reasoning_effort.clone(),
        timeout_seconds: node.timeout_seconds,
    }
}

/// One argument as a shell would need it (single quotes when needed).
fn quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%<>".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

/// The command line `node`'s runner would start, or what it does instead
/// (the script runner starts no process).
pub fn command_line(
    node: &CompiledNode,
    mode_id: &str,
    settings: &RunnerSettings,
    workspace_root: &Path,
) -> String {
    let req = request(node, mode_id, workspace_root);
    let names = FileNames::new(&req.run_dir, &req.request_id);
    let argv = match node.runner_name.as_str() {
        "codex_cli" => codex::build_argv(&settings.codex, &req, "<prompt>", &names.last_message),
        "claude_code" => claude::build_argv(&settings.claude, &req, "<prompt>"),
        "pi_rpc" => pi::build_argv(&settings.pi, &req),
        "command" => {
            if settings.command.argv.is_empty() {
                return "(no argv: set `argv` in [runners.command])".into();
            }
            command::build_argv(&settings.command, &req, "<prompt>", &names)
        }
        "script" => {
            return match &settings.script.path {
                Some(p) => format!("(no process: answers from the script file {p})"),
                None => "(no process: every stage answers its first success outcome)".into(),
            }
        }
        other => return format!("(unknown runner {other})"),
    };
    argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote("--json"), "--json");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(
            quote("approval_policy=\"never\""),
            "'approval_policy=\"never\"'"
        );
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
    }
}
