//! The command line a runner would start for a node of a plan, built by the
//! same `build_argv` functions the runners use, with placeholders
//! (`<prompt>`, `<run_dir>`, `<request_id>`) for what only a run knows.
//! `config show` prints it.

use std::path::{Path, PathBuf};

use super::artifacts::FileNames;
use super::settings::RunnerSettings;
use super::{claude, codex, command, pi, StageRequest};
use crate::plan::ir::CompiledNode;

/// A request for `node` whose run-specific values are placeholders.
fn request(node: &CompiledNode, mode_id: &str, workspace_root: &Path) -> StageRequest {
    StageRequest {
        request_id: "<request_id>".into(),
        run_id: "<run_id>".into(),
        ..StageRequest::for_node(node, mode_id, workspace_root, PathBuf::from("<run_dir>"))
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
