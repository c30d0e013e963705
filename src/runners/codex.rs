//! The `codex_cli` runner: one `codex exec`-style invocation per stage.
//!
//! argv, in the reference's order: `command`, `args`, `--profile P`,
//! `--skip-git-repo-check`, `--model M`, the permission flags (stage
//! override, else model override, else default), `-c ITEM` per
//! `extra_config`, `-c model_reasoning_effort="V"` (the stage's thinking
//! level, else its model_reasoning_effort, else the runner default),
//! `--cd <workspace>`, `--json`, `--output-last-message <final message file>`,
//! then the prompt. The agent runs in the workspace root with the inherited
//! environment plus `runners.codex.env`; the rest is `exec`'s file flow.

use std::path::Path;

use super::artifacts::{path_string, FileNames};
use super::exec::{self, CliRun, StdinFrom};
use super::settings::{CodexSettings, Permission, UsageFormat};
use super::{prompt, Cancel, RunnerError, RunnerOutput, StageRequest};

pub const RUNNER_NAME: &str = "codex_cli";

/// Run one stage through Codex.
pub fn run(
    request: &StageRequest,
    settings: &CodexSettings,
    max_output_bytes: u64,
    cancel: Cancel<'_>,
    watch: Option<exec::NetworkWatch<'_>>,
) -> Result<RunnerOutput, RunnerError> {
    let names = FileNames::new(&request.run_dir, &request.request_id);
    let prompt = prompt::render(request);
    let argv = build_argv(settings, request, &prompt, &names.last_message);
    exec::run(
        CliRun {
            request,
            runner_name: RUNNER_NAME,
            names: &names,
            prompt: &prompt,
            argv,
            env: settings.env.clone(),
            stdin: StdinFrom::Null,
            usage: UsageFormat::CodexJson,
            max_output_bytes,
            watch,
        },
        cancel,
    )
}

/// The permission level for a request: stage override > model override > default.
pub fn permission_for(settings: &CodexSettings, request: &StageRequest) -> Permission {
    super::settings::permission_for(
        &settings.permission_by_stage,
        &settings.permission_by_model,
        settings.permission_default,
        &request.stage,
        request.model_name.as_deref(),
    )
}

/// The full argv, prompt last.
pub fn build_argv(
    settings: &CodexSettings,
    request: &StageRequest,
    prompt: &str,
    last_message: &Path,
) -> Vec<String> {
    let mut argv = vec![settings.command.clone()];
    argv.extend(settings.args.iter().cloned());
    if let Some(profile) = &settings.profile {
        argv.extend(["--profile".to_string(), profile.clone()]);
    }
    if settings.skip_git_repo_check {
        argv.push("--skip-git-repo-check".into());
    }
    if let Some(model) = &request.model_name {
        argv.extend(["--model".to_string(), model.clone()]);
    }
    argv.extend(
        permission_for(settings, request)
            .flags()
            .iter()
            .map(|f| f.to_string()),
    );
    for item in &settings.extra_config {
        argv.extend(["-c".to_string(), item.clone()]);
    }
    let effort = request
        .thinking_level
        .as_ref()
        .or(request.model_reasoning_effort.as_ref())
        .or(settings.model_reasoning_effort.as_ref());
    if let Some(effort) = effort {
        argv.extend([
            "-c".to_string(),
            format!("model_reasoning_effort=\"{effort}\""),
        ]);
    }
    argv.extend([
        "--cd".to_string(),
        path_string(&request.workspace_root),
        "--json".to_string(),
        "--output-last-message".to_string(),
        path_string(last_message),
        prompt.to_string(),
    ]);
    argv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runners::test_support::updater_request;

    const FIXTURE_RUN: &str = "tests/fixtures/reference/traces/happy/millrace-agents/runs/run-521e36da984b4edea877eca48475eceb";

    #[test]
    fn argv_matches_the_reference_invocation() {
        let fixture: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!(
                "{}/{FIXTURE_RUN}/runner_invocation.request-5bf4f5b072704d4a901f2edb2f1ac4d3.json",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap(),
        )
        .unwrap();
        let request = updater_request(Path::new("<WS>"));
        let settings = CodexSettings {
            command: "/work/shared/bench/fake_codex.py".into(),
            args: vec![],
            ..CodexSettings::default()
        };
        let names = FileNames::new(&request.run_dir, &request.request_id);
        let argv = build_argv(
            &settings,
            &request,
            &prompt::render(&request),
            &names.last_message,
        );
        let expected: Vec<String> = serde_json::from_value(fixture["command"].clone()).unwrap();
        assert_eq!(argv, expected);
    }

    #[test]
    fn flags_in_order() {
        let mut request = updater_request(Path::new("/ws"));
        request.model_name = Some("gpt-5".into());
        request.thinking_level = Some("high".into());
        let mut settings = CodexSettings {
            profile: Some("p".into()),
            extra_config: vec!["a=1".into()],
            ..CodexSettings::default()
        };
        settings
            .permission_by_model
            .insert("gpt-5".into(), Permission::Elevated);
        let argv = build_argv(&settings, &request, "PROMPT", Path::new("/lm"));
        assert_eq!(
            argv,
            [
                "codex",
                "exec",
                "--profile",
                "p",
                "--skip-git-repo-check",
                "--model",
                "gpt-5",
                "-c",
                "approval_policy=\"never\"",
                "--sandbox",
                "danger-full-access",
                "-c",
                "a=1",
                "-c",
                "model_reasoning_effort=\"high\"",
                "--cd",
                "/ws",
                "--json",
                "--output-last-message",
                "/lm",
                "PROMPT"
            ]
        );
        settings
            .permission_by_stage
            .insert("updater".into(), Permission::Basic);
        settings.skip_git_repo_check = false;
        request.thinking_level = None;
        request.model_name = None;
        settings.model_reasoning_effort = Some("low".into());
        let argv = build_argv(&settings, &request, "PROMPT", Path::new("/lm"));
        assert_eq!(
            &argv[..7],
            [
                "codex",
                "exec",
                "--profile",
                "p",
                "--full-auto",
                "-c",
                "a=1"
            ]
        );
        assert!(argv.contains(&"model_reasoning_effort=\"low\"".to_string()));
    }
}
