//! Runner settings: the `[runners]` table of `millrace.toml`.
//!
//! `[runners]` (`default_runner`), `[runners.codex]` and `[runners.pi]` have
//! the reference's keys and defaults; `runners.start_failures_before_pause`,
//! `[runners.command]` and `[runners.script]` are ours (the reference rejects
//! them as unknown keys).
//! Unknown keys are rejected in every table, as the reference does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// All runner settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunnerSettings {
    /// Runner used by stages that bind none (`codex_cli`).
    pub default_runner: String,
    pub codex: CodexSettings,
    pub pi: PiSettings,
    pub command: CommandSettings,
    pub script: ScriptSettings,
    /// `[runners.claude]` (ours): the `claude_code` runner.
    pub claude: ClaudeSettings,
    /// Ours: after this many consecutive stages whose agent could not be
    /// started (binary missing, not executable, empty argv, missing script),
    /// the daemon pauses itself (pause source `runner_unavailable`). At least 1.
    pub start_failures_before_pause: u32,
    /// Ours: how long a Codex or Claude Code agent may wait for its network
    /// (Codex `Reconnecting... waiting for network`, Claude Code `api_retry`
    /// without an HTTP status) before the stage is stopped and the daemon
    /// pauses with the pause source `agent_environment`. 1 to 86400.
    pub network_grace_seconds: u64,
    /// Ours: after an environment pause (`agent_environment`), retry by
    /// itself after this many seconds, doubling on each consecutive
    /// environment failure up to `environment_retry_max_seconds`; a quota
    /// message naming its reset time retries then instead. 0 turns the
    /// automatic retry off (only `millrace resume` retries).
    pub environment_retry_seconds: u64,
    /// Ours: the longest wait between automatic retries (at least
    /// `environment_retry_seconds`).
    pub environment_retry_max_seconds: u64,
    /// Bytes of each output stream kept per stage (`[runtime]
    /// max_stage_output_bytes`, copied here by the config loader).
    #[serde(skip)]
    pub max_output_bytes: u64,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        RunnerSettings {
            start_failures_before_pause: 3,
            network_grace_seconds: 60,
            environment_retry_seconds: 300,
            environment_retry_max_seconds: 3600,
            default_runner: "codex_cli".into(),
            codex: CodexSettings::default(),
            pi: PiSettings::default(),
            command: CommandSettings::default(),
            script: ScriptSettings::default(),
            claude: ClaudeSettings::default(),
            max_output_bytes: super::capture::DEFAULT_MAX_STAGE_OUTPUT_BYTES,
        }
    }
}

/// Codex sandbox/approval level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// `--full-auto`
    Basic,
    /// `-c approval_policy="never" --sandbox danger-full-access`
    Elevated,
    /// `--dangerously-bypass-approvals-and-sandbox`
    Maximum,
}

impl Permission {
    /// The codex flags for this level.
    pub fn flags(self) -> &'static [&'static str] {
        match self {
            Permission::Basic => &["--full-auto"],
            Permission::Elevated => &[
                "-c",
                "approval_policy=\"never\"",
                "--sandbox",
                "danger-full-access",
            ],
            Permission::Maximum => &["--dangerously-bypass-approvals-and-sandbox"],
        }
    }
}

/// `[runners.codex]`.
/// The permission level for a stage: a stage override wins over a model
/// override, which wins over the default (the codex and claude runners).
pub fn permission_for(
    by_stage: &BTreeMap<String, Permission>,
    by_model: &BTreeMap<String, Permission>,
    default: Permission,
    stage: &str,
    model: Option<&str>,
) -> Permission {
    by_stage
        .get(stage)
        .or_else(|| model.and_then(|m| by_model.get(m)))
        .copied()
        .unwrap_or(default)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CodexSettings {
    pub command: String,
    pub args: Vec<String>,
    pub profile: Option<String>,
    pub permission_default: Permission,
    /// Stage name → level; wins over `permission_by_model`.
    pub permission_by_stage: BTreeMap<String, Permission>,
    /// Model name → level.
    pub permission_by_model: BTreeMap<String, Permission>,
    /// `low`, `medium`, `high` or `xhigh`; used when the stage sets no thinking level.
    pub model_reasoning_effort: Option<String>,
    pub skip_git_repo_check: bool,
    /// Each item becomes `-c <item>`.
    pub extra_config: Vec<String>,
    /// Added to the inherited environment.
    pub env: BTreeMap<String, String>,
}

impl Default for CodexSettings {
    fn default() -> Self {
        CodexSettings {
            command: "codex".into(),
            args: vec!["exec".into()],
            profile: None,
            permission_default: Permission::Maximum,
            permission_by_stage: BTreeMap::new(),
            permission_by_model: BTreeMap::new(),
            model_reasoning_effort: None,
            skip_git_repo_check: true,
            extra_config: Vec::new(),
            env: BTreeMap::new(),
        }
    }
}

/// When pi's event log is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiEventLogPolicy {
    /// Only when the run did not complete.
    FailureFull,
    /// Always.
    Full,
}

/// `[runners.pi]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PiSettings {
    pub command: String,
    pub args: Vec<String>,
    pub provider: Option<String>,
    /// Used when the stage sets no thinking level.
    pub thinking: Option<String>,
    pub disable_context_files: bool,
    pub disable_skills: bool,
    pub event_log_policy: PiEventLogPolicy,
    pub env: BTreeMap<String, String>,
}

impl Default for PiSettings {
    fn default() -> Self {
        PiSettings {
            command: "pi".into(),
            args: Vec::new(),
            provider: None,
            thinking: None,
            disable_context_files: true,
            disable_skills: true,
            event_log_policy: PiEventLogPolicy::FailureFull,
            env: BTreeMap::new(),
        }
    }
}

/// How the command runner hands the prompt to the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptMode {
    /// The prompt file is the agent's stdin.
    Stdin,
    /// The prompt is an argument: wherever `{prompt}` appears, else appended last.
    Argument,
}

/// `[runners.command]` (ours): any CLI agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CommandSettings {
    /// Program and arguments. Placeholders, replaced inside any argument:
    /// `{prompt}`, `{prompt_file}`, `{last_message_file}`, `{workspace}`,
    /// `{run_dir}`, `{request_id}`, `{stage}`, `{node_id}`, `{model}` (empty
    /// when unset), `{thinking}` (empty when unset).
    pub argv: Vec<String>,
    pub prompt_mode: PromptMode,
    pub env: BTreeMap<String, String>,
    /// How token usage is read from the agent's standard output.
    pub usage_format: UsageFormat,
}

impl Default for CommandSettings {
    fn default() -> Self {
        CommandSettings {
            argv: Vec::new(),
            prompt_mode: PromptMode::Stdin,
            env: BTreeMap::new(),
            usage_format: UsageFormat::CodexJson,
        }
    }
}

/// How a file-based agent's standard output reports token usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageFormat {
    /// The agent reports none.
    None,
    /// Codex JSON lines: `token_count` events, else `turn.completed` usage.
    CodexJson,
    /// Claude Code `stream-json` (or `json`): the final `result` event's
    /// `usage`; its `result` text is the final message.
    ClaudeStreamJson,
}

/// `[runners.claude]` (ours): Claude Code driven as `claude -p`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClaudeSettings {
    pub command: String,
    /// Placed right after the command.
    pub args: Vec<String>,
    /// `stream-json` (with `--verbose`, as Claude Code requires) or `json`.
    pub output_format: ClaudeOutputFormat,
    /// `basic`: `--permission-mode acceptEdits`; `elevated`:
    /// `--permission-mode bypassPermissions`; `maximum`:
    /// `--dangerously-skip-permissions` (as root Claude Code refuses the last
    /// two unless `IS_SANDBOX=1` is in the environment).
    pub permission_default: Permission,
    pub permission_by_stage: BTreeMap<String, Permission>,
    pub permission_by_model: BTreeMap<String, Permission>,
    /// Appended after the permission flags.
    pub extra_args: Vec<String>,
    pub env: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClaudeOutputFormat {
    #[serde(rename = "stream-json")]
    StreamJson,
    #[serde(rename = "json")]
    Json,
}

impl Default for ClaudeSettings {
    fn default() -> Self {
        ClaudeSettings {
            command: "claude".into(),
            args: Vec::new(),
            output_format: ClaudeOutputFormat::StreamJson,
            permission_default: Permission::Maximum,
            permission_by_stage: BTreeMap::new(),
            permission_by_model: BTreeMap::new(),
            extra_args: Vec::new(),
            env: BTreeMap::new(),
        }
    }
}

/// `[runners.script]` (ours): the deterministic runner.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScriptSettings {
    /// The script file (JSON, see `script.rs`); relative paths are resolved
    /// against the workspace root. Without one every stage answers its first
    /// success outcome.
    pub path: Option<String>,
}

/// Flags the pi runner adds itself; `runners.pi.args` may not contain them.
pub const PI_RESERVED_FLAGS: [&str; 7] = [
    "--mode",
    "--no-session",
    "--provider",
    "--model",
    "--thinking",
    "--no-context-files",
    "--no-skills",
];

const REASONING_EFFORTS: [&str; 4] = ["low", "medium", "high", "xhigh"];

impl RunnerSettings {
    /// Read the `[runners]` table of a parsed `millrace.toml` (defaults when absent).
    pub fn from_config(config: &toml::Table) -> Result<RunnerSettings, super::Error> {
        let settings: RunnerSettings = match config.get("runners") {
            None => RunnerSettings::default(),
            Some(value) => value.clone().try_into().map_err(|e: toml::de::Error| {
                super::Error::Settings(format!("runners: {}", e.message().trim()))
            })?,
        };
        settings.validate()?;
        Ok(settings)
    }

    /// Checks serde cannot express.
    pub fn validate(&self) -> Result<(), super::Error> {
        self.validate_at()
            .map_err(|e| super::Error::Settings(e.message))
    }

    /// `validate`, naming the table and key at fault (for a line number).
    pub fn validate_at(&self) -> Result<(), SettingError> {
        let fail = |table, key, message| {
            Err(SettingError {
                table,
                key,
                message,
            })
        };
        if !(1..=1000).contains(&self.start_failures_before_pause) {
            return fail(
                "runners",
                "start_failures_before_pause",
                format!(
                    "runners.start_failures_before_pause must be between 1 and 1000, not {}",
                    self.start_failures_before_pause
                ),
            );
        }
        if !(1..=86_400).contains(&self.network_grace_seconds) {
            return fail(
                "runners",
                "network_grace_seconds",
                format!(
                    "runners.network_grace_seconds must be between 1 and 86400, not {}",
                    self.network_grace_seconds
                ),
            );
        }
        if self.environment_retry_seconds > 7 * 86_400 {
            return fail(
                "runners",
                "environment_retry_seconds",
                format!(
                    "runners.environment_retry_seconds must be at most 604800 (0 turns the retry off), not {}",
                    self.environment_retry_seconds
                ),
            );
        }
        if self.environment_retry_max_seconds > 7 * 86_400
            || (self.environment_retry_seconds > 0
                && self.environment_retry_max_seconds < self.environment_retry_seconds)
        {
            return fail(
                "runners",
                "environment_retry_max_seconds",
                format!(
                    "runners.environment_retry_max_seconds must be between runners.environment_retry_seconds ({}) and 604800, not {}",
                    self.environment_retry_seconds, self.environment_retry_max_seconds
                ),
            );
        }
        if let Some(effort) = &self.codex.model_reasoning_effort {
            if !REASONING_EFFORTS.contains(&effort.as_str()) {
                return fail(
                    "runners.codex",
                    "model_reasoning_effort",
                    format!(
                        "runners.codex.model_reasoning_effort must be one of {}, not {effort:?}",
                        REASONING_EFFORTS.join(", ")
                    ),
                );
            }
        }
        let reserved: Vec<&str> = self
            .pi
            .args
            .iter()
            .filter(|a| {
                let flag = a.split('=').next().unwrap_or(a);
                PI_RESERVED_FLAGS.contains(&flag)
            })
            .map(String::as_str)
            .collect();
        if !reserved.is_empty() {
            return fail(
                "runners.pi",
                "args",
                format!(
                    "reserved pi runner flags are not allowed in runners.pi.args: {}",
                    reserved.join(", ")
                ),
            );
        }
        Ok(())
    }
}

/// A runner setting refused by `validate_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    pub table: &'static str,
    pub key: &'static str,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RunnerSettings, crate::runners::Error> {
        RunnerSettings::from_config(&text.parse::<toml::Table>().unwrap())
    }

    #[test]
    fn defaults_match_the_reference() {
        let s = parse("[runtime]\ndefault_mode = \"default_codex\"\n").unwrap();
        assert_eq!(s.default_runner, "codex_cli");
        assert_eq!(s.codex.command, "codex");
        assert_eq!(s.codex.args, vec!["exec"]);
        assert_eq!(s.codex.permission_default, Permission::Maximum);
        assert!(s.codex.skip_git_repo_check);
        assert_eq!(s.pi.command, "pi");
        assert!(s.pi.disable_context_files && s.pi.disable_skills);
        assert_eq!(s.pi.event_log_policy, PiEventLogPolicy::FailureFull);
        assert_eq!(s.command.prompt_mode, PromptMode::Stdin);
    }

    #[test]
    fn bench_style_config() {
        let s = parse(
            "[runners.codex]\npermission_default = \"maximum\"\ncommand = \"/x/fake\"\nargs = []\n\
             env = { MILL_SCRIPT = \"/tmp/s.json\" }\npermission_by_stage = { checker = \"basic\" }\n\
             [runners.command]\nargv = [\"claude\", \"-p\"]\nprompt_mode = \"stdin\"\n\
             [runners.script]\npath = \"script.json\"\n",
        )
        .unwrap();
        assert_eq!(s.codex.command, "/x/fake");
        assert!(s.codex.args.is_empty());
        assert_eq!(s.codex.env["MILL_SCRIPT"], "/tmp/s.json");
        assert_eq!(s.codex.permission_by_stage["checker"], Permission::Basic);
        assert_eq!(s.command.argv, vec!["claude", "-p"]);
        assert_eq!(s.script.path.as_deref(), Some("script.json"));
    }

    #[test]
    fn rejections() {
        assert!(parse("[runners.codex]\nbogus = 1\n").is_err());
        assert!(parse("[runners.codex]\npermission_default = \"root\"\n").is_err());
        assert!(parse("[runners.codex]\nmodel_reasoning_effort = \"huge\"\n").is_err());
        assert!(parse("[runners]\nnetwork_grace_seconds = 0\n").is_err());
        assert!(parse(
            "[runners]\nenvironment_retry_seconds = 600\nenvironment_retry_max_seconds = 60\n"
        )
        .is_err());
        let s =
            parse("[runners]\nenvironment_retry_seconds = 0\nnetwork_grace_seconds = 5\n").unwrap();
        assert_eq!(
            (s.environment_retry_seconds, s.network_grace_seconds),
            (0, 5)
        );
        let e = parse("[runners.pi]\nargs = [\"--model=x\", \"--verbose\", \"--no-skills\"]\n")
            .unwrap_err();
        assert!(matches!(e, crate::runners::Error::Settings(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            "reserved pi runner flags are not allowed in runners.pi.args: --model=x, --no-skills"
        );
    }
}
