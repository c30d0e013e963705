//! The `command` runner: drives any CLI agent (`claude -p`, `aider`, a shell
//! script) from a configured argv.
//!
//! Placeholders are replaced inside every argument: `{prompt}`,
//! `{prompt_file}`, `{last_message_file}`, `{workspace}`, `{run_dir}`,
//! `{request_id}`, `{stage}`, `{node_id}`, `{model}`, `{thinking}` (the last
//! two empty when unset). With `prompt_mode = "stdin"` the prompt file is the
//! agent's stdin; with `"argument"` the prompt goes wherever `{prompt}` is,
//! else it is appended as the last argument. The agent runs in the workspace
//! root with the inherited environment, `runners.command.env`, and
//! `MILLRACE_*` variables naming the request's files. The marker is read
//! from `{last_message_file}` when the agent writes it, else from stdout.
//! Token usage is read from stdout as `usage_format` says: `codex_json`
//! (the default: `token_count` events, else `turn.completed`),
//! `claude_stream_json` (the final `result` event, whose text is then the
//! final message unless the agent wrote one), or `none`.

use std::collections::BTreeMap;

use super::artifacts::{path_string, FileNames};
use super::exec::{self, CliRun, StdinFrom};
use super::settings::{CommandSettings, PromptMode};
use super::{prompt, Cancel, RunnerError, RunnerOutput, StageRequest};

pub const RUNNER_NAME: &str = "command";

/// Run one stage through the configured command.
pub fn run(
    request: &StageRequest,
    settings: &CommandSettings,
    max_output_bytes: u64,
    cancel: Cancel<'_>,
) -> Result<RunnerOutput, RunnerError> {
    if settings.argv.is_empty() {
        return Err(RunnerError::Settings(
            "runners.command.argv is empty: set the agent command to run".into(),
        ));
    }
    let names = FileNames::new(&request.run_dir, &request.request_id);
    let prompt = prompt::render(request);
    let argv = build_argv(settings, request, &prompt, &names);
    let mut env = settings.env.clone();
    env.extend(agent_env(request, &names));
    exec::run(
        CliRun {
            request,
            runner_name: RUNNER_NAME,
            names: &names,
            prompt: &prompt,
            argv,
            env,
            stdin: match settings.prompt_mode {
                PromptMode::Stdin => StdinFrom::PromptFile,
                PromptMode::Argument => StdinFrom::Null,
            },
            usage: settings.usage_format,
            max_output_bytes,
            watch: None,
        },
        cancel,
    )
}

/// `MILLRACE_*` variables given to command agents.
pub fn agent_env(request: &StageRequest, names: &FileNames) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        env.insert(k.to_string(), v);
    };
    set("MILLRACE_REQUEST_ID", request.request_id.clone());
    set("MILLRACE_RUN_ID", request.run_id.clone());
    set("MILLRACE_STAGE", request.stage.clone());
    set("MILLRACE_NODE_ID", request.node_id.clone());
    set("MILLRACE_WORKSPACE", path_string(&request.workspace_root));
    set("MILLRACE_RUN_DIR", path_string(&request.run_dir));
    set("MILLRACE_PROMPT_FILE", path_string(&names.prompt));
    set(
        "MILLRACE_LAST_MESSAGE_FILE",
        path_string(&names.last_message),
    );
    set("MILLRACE_LEGAL_MARKERS", request.legal_markers().join("\n"));
    env
}

/// The argv after placeholder substitution.
pub fn build_argv(
    settings: &CommandSettings,
    request: &StageRequest,
    prompt: &str,
    names: &FileNames,
) -> Vec<String> {
    let values: [(&str, String); 10] = [
        ("{prompt}", prompt.to_string()),
        ("{prompt_file}", path_string(&names.prompt)),
        ("{last_message_file}", path_string(&names.last_message)),
        ("{workspace}", path_string(&request.workspace_root)),
        ("{run_dir}", path_string(&request.run_dir)),
        ("{request_id}", request.request_id.clone()),
        ("{stage}", request.stage.clone()),
        ("{node_id}", request.node_id.clone()),
        ("{model}", request.model_name.clone().unwrap_or_default()),
        (
            "{thinking}",
            request
                .thinking_level
                .clone()
                .or_else(|| request.model_reasoning_effort.clone())
                .unwrap_or_default(),
        ),
    ];
    let mut argv: Vec<String> = settings
        .argv
        .iter()
        .map(|arg| substitute(arg, &values))
        .collect();
    let mentions_prompt = settings.argv.iter().any(|a| a.contains("{prompt}"));
    if settings.prompt_mode == PromptMode::Argument && !mentions_prompt {
        argv.push(prompt.to_string());
    }
    argv
}

/// Replace placeholders in one pass (a value containing `{...}` is not re-expanded).
fn substitute(arg: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    'outer: while !rest.is_empty() {
        if rest.starts_with('{') {
            for (key, value) in values {
                if let Some(after) = rest.strip_prefix(key) {
                    out.push_str(value);
                    rest = after;
                    continue 'outer;
                }
            }
        }
        let ch = rest.chars().next().unwrap_or_default();
        out.push(ch);
        rest = &rest[ch.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runners::test_support::updater_request;
    use std::path::Path;

    #[test]
    fn placeholders() {
        let request = updater_request(Path::new("/ws"));
        let names = FileNames::new(Path::new("/run"), "request-1");
        let settings = CommandSettings {
            argv: vec![
                "agent".into(),
                "--out={last_message_file}".into(),
                "{stage}/{node_id}:{model}".into(),
                "{prompt_file}".into(),
                "{unknown}".into(),
            ],
            prompt_mode: PromptMode::Argument,
            env: BTreeMap::new(),
            ..CommandSettings::default()
        };
        let argv = build_argv(&settings, &request, "P {stage}", &names);
        assert_eq!(
            argv,
            [
                "agent",
                "--out=/run/runner_last_message.request-1.txt",
                "updater/updater:",
                "/run/runner_prompt.request-1.md",
                "{unknown}",
                "P {stage}"
            ]
        );
        let settings = CommandSettings {
            argv: vec!["claude".into(), "-p".into(), "{prompt}".into()],
            prompt_mode: PromptMode::Argument,
            env: BTreeMap::new(),
            ..CommandSettings::default()
        };
        assert_eq!(
            build_argv(&settings, &request, "P", &names),
            ["claude", "-p", "P"]
        );
    }
}
