//! The `claude_code` runner: one `claude -p` invocation per stage, and the
//! reading of Claude Code's `stream-json` / `json` output (also used by the
//! `command` runner with `usage_format = "claude_stream_json"`).
//!
//! argv: `command`, `args`, `-p`, the prompt, `--output-format stream-json
//! --verbose` (stream-json requires `--verbose`) or `--output-format json`,
//! `--model M` when the stage sets one, the permission flags (stage
//! override, else model override, else default), then `extra_args`. The
//! agent runs in the workspace root with a closed stdin, the inherited
//! environment plus `runners.claude.env`. Its standard output is the event
//! stream (`runner_events.<req>.jsonl`); the final `result` event gives the
//! final message (its `result` text), the token usage and the cost. A
//! result with `is_error: true` is a failure whatever its `subtype` says.

use std::path::Path;

use serde_json::Value;

use super::artifacts::FileNames;
use super::exec::{self, CliRun, StdinFrom};
use super::settings::{ClaudeOutputFormat, ClaudeSettings, Permission, UsageFormat};
use super::{prompt, Cancel, RunnerError, RunnerOutput, StageRequest, TokenUsage};

pub const RUNNER_NAME: &str = "claude_code";

/// Run one stage through Claude Code.
pub fn run(
    request: &StageRequest,
    settings: &ClaudeSettings,
    max_output_bytes: u64,
    cancel: Cancel<'_>,
    watch: Option<exec::NetworkWatch<'_>>,
) -> Result<RunnerOutput, RunnerError> {
    let names = FileNames::new(&request.run_dir, &request.request_id);
    let prompt = prompt::render(request);
    let argv = build_argv(settings, request, &prompt);
    exec::run(
        CliRun {
            request,
            runner_name: RUNNER_NAME,
            names: &names,
            prompt: &prompt,
            argv,
            env: settings.env.clone(),
            stdin: StdinFrom::Null,
            usage: UsageFormat::ClaudeStreamJson,
            max_output_bytes,
            watch,
        },
        cancel,
    )
}

/// The permission level for a request: stage override > model override > default.
pub fn permission_for(settings: &ClaudeSettings, request: &StageRequest) -> Permission {
    super::settings::permission_for(
        &settings.permission_by_stage,
        &settings.permission_by_model,
        settings.permission_default,
        &request.stage,
        request.model_name.as_deref(),
    )
}

fn permission_flags(p: Permission) -> &'static [&'static str] {
    match p {
        Permission::Basic => &["--permission-mode", "acceptEdits"],
        Permission::Elevated => &["--permission-mode", "bypassPermissions"],
        Permission::Maximum => &["--dangerously-skip-permissions"],
    }
}

/// The full argv.
pub fn build_argv(settings: &ClaudeSettings, request: &StageRequest, prompt: &str) -> Vec<String> {
    let mut argv = vec![settings.command.clone()];
    argv.extend(settings.args.iter().cloned());
    argv.extend(["-p".to_string(), prompt.to_string()]);
    match settings.output_format {
        ClaudeOutputFormat::StreamJson => {
            argv.extend(["--output-format", "stream-json", "--verbose"].map(String::from))
        }
        ClaudeOutputFormat::Json => argv.extend(["--output-format", "json"].map(String::from)),
    }
    if let Some(model) = &request.model_name {
        argv.extend(["--model".to_string(), model.clone()]);
    }
    argv.extend(
        permission_flags(permission_for(settings, request))
            .iter()
            .map(|f| f.to_string()),
    );
    argv.extend(settings.extra_args.iter().cloned());
    argv
}

/// What the final `result` event says.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClaudeResult {
    pub is_error: bool,
    pub subtype: Option<String>,
    /// The final text.
    pub text: Option<String>,
    pub usage: Option<TokenUsage>,
    pub total_cost_usd: Option<f64>,
    pub permission_denials: usize,
    /// The HTTP status of a failed API call (`api_error_status`).
    pub api_error_status: Option<i64>,
}

/// The last `result` event of a stream-json file (or the one object of a
/// `json` output); `None` when there is none.
/// The file is read through `safe_fs` (a link planted there is not
/// followed).
pub fn read_result(path: &Path) -> Option<ClaudeResult> {
    use std::io::Read;
    let mut text = String::new();
    crate::workspace::safe_fs::open_regular(path, None)
        .ok()?
        .read_to_string(&mut text)
        .ok()?;
    let from_lines = text
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .find(is_result);
    let event = from_lines.or_else(|| {
        serde_json::from_str::<Value>(text.trim())
            .ok()
            .filter(is_result)
    })?;
    Some(result_of(&event))
}

/// Is this event line a `result` event?
pub fn is_result(event: &Value) -> bool {
    event.get("type").and_then(Value::as_str) == Some("result")
}

/// What a `result` event says.
pub fn result_of(event: &Value) -> ClaudeResult {
    let n = |u: &Value, k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    let usage = event.get("usage").filter(|u| u.is_object()).map(|u| {
        let cache_read = n(u, "cache_read_input_tokens");
        let input = n(u, "input_tokens")
            .saturating_add(n(u, "cache_creation_input_tokens"))
            .saturating_add(cache_read);
        let output = n(u, "output_tokens");
        TokenUsage {
            input_tokens: input,
            cached_input_tokens: cache_read,
            output_tokens: output,
            thinking_tokens: 0,
            total_tokens: input.saturating_add(output),
        }
    });
    ClaudeResult {
        is_error: event
            .get("is_error")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        subtype: event
            .get("subtype")
            .and_then(Value::as_str)
            .map(str::to_string),
        text: event
            .get("result")
            .and_then(Value::as_str)
            .map(str::to_string),
        usage,
        total_cost_usd: event.get("total_cost_usd").and_then(Value::as_f64),
        permission_denials: event
            .get("permission_denials")
            .and_then(Value::as_array)
            .map_or(0, Vec::len),
        api_error_status: event.get("api_error_status").and_then(Value::as_i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runners::test_support::updater_request;

    #[test]
    fn argv_in_order() {
        let mut request = updater_request(Path::new("/ws"));
        request.model_name = Some("sonnet".into());
        let mut settings = ClaudeSettings {
            args: vec!["--bare".into()],
            extra_args: vec!["--max-turns".into(), "30".into()],
            ..ClaudeSettings::default()
        };
        assert_eq!(
            build_argv(&settings, &request, "PROMPT"),
            [
                "claude",
                "--bare",
                "-p",
                "PROMPT",
                "--output-format",
                "stream-json",
                "--verbose",
                "--model",
                "sonnet",
                "--dangerously-skip-permissions",
                "--max-turns",
                "30"
            ]
        );
        settings.output_format = ClaudeOutputFormat::Json;
        settings
            .permission_by_stage
            .insert("updater".into(), Permission::Basic);
        let argv = build_argv(&settings, &request, "P");
        assert!(argv.ends_with(&[
            "--output-format".into(),
            "json".into(),
            "--model".into(),
            "sonnet".into(),
            "--permission-mode".into(),
            "acceptEdits".into(),
            "--max-turns".into(),
            "30".into()
        ]));
    }

    #[test]
    fn the_result_event_gives_text_usage_and_cost() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("events.jsonl");
        std::fs::write(
            &p,
            concat!(
                "{\"type\":\"system\",\"subtype\":\"init\"}\n",
                "{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}}\n",
                "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"result\":\"done\\n### BUILDER_COMPLETE\",",
                "\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":100,\"cache_read_input_tokens\":400,\"output_tokens\":90},",
                "\"total_cost_usd\":0.0125,\"permission_denials\":[]}\n"
            ),
        )
        .unwrap();
        let r = read_result(&p).unwrap();
        assert!(!r.is_error);
        assert_eq!(r.text.as_deref(), Some("done\n### BUILDER_COMPLETE"));
        let u = r.usage.unwrap();
        assert_eq!(
            (
                u.input_tokens,
                u.cached_input_tokens,
                u.output_tokens,
                u.total_tokens
            ),
            (510, 400, 90, 600)
        );
        assert_eq!(r.total_cost_usd, Some(0.0125));
        std::fs::write(&p, "{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":true,\"result\":\"Not logged in\"}").unwrap();
        assert!(read_result(&p).unwrap().is_error);
        std::fs::write(&p, "no json\n").unwrap();
        assert_eq!(read_result(&p), None);
    }
}
