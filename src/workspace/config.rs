//! `millrace-agents/millrace.toml`: the bootstrap text `init` writes (the
//! reference's exact content) and a typed read of the keys this layer needs.
//! The full configuration model belongs to the `config` commands.

use std::path::Path;

use super::ConfigError;

/// The file `init` writes, byte-identical to the reference's bootstrap config.
pub const BOOTSTRAP_TOML: &str = "[runtime]\ndefault_mode = \"default_codex\"\nrun_style = \"daemon\"\n\n[runners.codex]\npermission_default = \"maximum\"\n";

/// The keys of `[runtime]` the workspace layer reads.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeConfig {
    pub default_mode: String,
    pub run_style: String,
    /// The whole document, for other layers.
    pub table: toml::Table,
}

/// Read and check `millrace.toml`. Errors are one line naming the file.
pub fn load(path: &Path) -> Result<RuntimeConfig, super::Error> {
    let text = std::fs::read_to_string(path).map_err(|e| super::Error::io(path, e))?;
    parse(&text).map_err(|error| super::Error::Config {
        path: path.to_path_buf(),
        error,
    })
}

/// A TOML error as a config diagnostic: the line its span starts on and its
/// message on one line, with serde's words made ours by `reword`.
fn toml_error(text: &str, e: &toml::de::Error, reword: fn(String) -> String) -> ConfigError {
    let line = e
        .span()
        .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    ConfigError::syntax(line, reword(e.message().trim().replace('\n', ", ")))
}

/// Parse config text. The error is the one-line diagnostic (`line N: ...`);
/// it is the value shown, and `load` names the file in front of it
/// (`workspace::Error::Config`).
pub fn parse(text: &str) -> Result<RuntimeConfig, ConfigError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| toml_error(text, &e, |m| m))?;
    let runtime = match table.get("runtime") {
        None => None,
        Some(toml::Value::Table(t)) => Some(t),
        Some(_) => {
            return Err(ConfigError::key(
                None,
                "runtime",
                "`runtime` must be a table",
            ))
        }
    };
    let text_key = |key: &str, default: &str| -> Result<String, ConfigError> {
        match runtime.and_then(|t| t.get(key)) {
            None => Ok(default.to_string()),
            Some(toml::Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(ConfigError::key(
                None,
                format!("runtime.{key}"),
                format!("`runtime.{key}` must be a string"),
            )),
        }
    };
    let default_mode = text_key("default_mode", "default_codex")?;
    let run_style = text_key("run_style", "daemon")?;
    if !matches!(run_style.as_str(), "once" | "daemon") {
        return Err(ConfigError::key(
            None,
            "runtime.run_style",
            format!("`runtime.run_style` must be \"once\" or \"daemon\", not {run_style:?}"),
        ));
    }
    Ok(RuntimeConfig {
        default_mode,
        run_style,
        table,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_parses() {
        let c = parse(BOOTSTRAP_TOML).unwrap();
        assert_eq!(c.default_mode, "default_codex");
        assert_eq!(c.run_style, "daemon");
    }

    #[test]
    fn bad_config_is_one_line() {
        for bad in [
            "[runtime",
            "runtime = 3",
            "[runtime]\nrun_style = \"sometimes\"",
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(!e.trim().contains('\n'), "{e}");
        }
    }
}

// ---------------------------------------------------------------- the full model

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Every key of `millrace.toml`, with the reference's defaults. Unknown keys
/// are refused everywhere (`deny_unknown_fields`), as the reference does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub runtime: RuntimeSection,
    /// `[runners]`, `[runners.codex]`, `[runners.pi]`, `[runners.command]`, `[runners.script]`.
    pub runners: crate::runners::RunnerSettings,
    pub recovery: RecoverySection,
    pub watchers: WatchersSection,
    pub usage_governance: UsageGovernance,
    pub stages: BTreeMap<String, StageConfig>,
    /// `[runs]`: retention of run directories (ours; see `workspace::retention`).
    pub runs: RunsSection,
}

/// `[runs]` (ours; the reference keeps every run). With `retention_days`
/// set, the daemon prunes runs older than that at idle boundaries, as
/// `runs prune --older-than <N>d` does, always keeping the `keep_last`
/// newest runs and, with `keep_failed`, every run that did not end
/// `complete`. Runs of active or blocked items and runs open incidents
/// name are never pruned by the daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RunsSection {
    pub retention_days: Option<u32>,
    pub keep_last: Option<u32>,
    pub keep_failed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RunStyle {
    Once,
    #[default]
    Daemon,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeSection {
    pub default_mode: String,
    pub run_style: RunStyle,
    pub idle_sleep_seconds: f64,
    /// Bytes of each agent output stream kept per stage (ours; the
    /// reference has no such key). Output beyond it is discarded and a
    /// truncation note is written.
    pub max_stage_output_bytes: u64,
    /// Seconds between `heartbeat` monitor lines while a stage runs; 0 turns
    /// them off (ours; the reference has no such key). Left out of the
    /// serialized config at its default, so it moves no config fingerprint.
    #[serde(skip_serializing_if = "is_default_heartbeat")]
    pub heartbeat_seconds: u64,
    /// Size past which `logs/runtime_events.jsonl` is rotated to
    /// `runtime_events.jsonl.1` (ours; the reference's log only grows).
    pub event_log_max_bytes: u64,
    /// Rotated event-log files kept (`.1` newest ... `.N` oldest).
    pub event_log_keep: u32,
}

impl Default for RuntimeSection {
    fn default() -> Self {
        RuntimeSection {
            default_mode: "default_codex".into(),
            run_style: RunStyle::Daemon,
            idle_sleep_seconds: 1.0,
            max_stage_output_bytes: crate::runners::capture::DEFAULT_MAX_STAGE_OUTPUT_BYTES,
            heartbeat_seconds: DEFAULT_HEARTBEAT_SECONDS,
            event_log_max_bytes: super::events::DEFAULT_MAX_BYTES,
            event_log_keep: super::events::DEFAULT_KEEP,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecoverySection {
    pub max_fix_cycles: u32,
    pub max_troubleshoot_attempts_before_consult: u32,
    pub max_mechanic_attempts: u32,
    pub stale_state_recovery_enabled: bool,
}

impl Default for RecoverySection {
    fn default() -> Self {
        RecoverySection {
            max_fix_cycles: 2,
            max_troubleshoot_attempts_before_consult: 2,
            max_mechanic_attempts: 2,
            stale_state_recovery_enabled: true,
        }
    }
}

impl RecoverySection {
    /// The loop counters these keys retune, as (counter, threshold).
    pub fn counter_thresholds(&self) -> [(&'static str, u32); 3] {
        [
            ("fix_cycle_count", self.max_fix_cycles),
            (
                "troubleshoot_attempt_count",
                self.max_troubleshoot_attempts_before_consult,
            ),
            ("mechanic_attempt_count", self.max_mechanic_attempts),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WatchersSection {
    pub enabled: bool,
    pub debounce_ms: u64,
    pub watch_ideas_inbox: bool,
    pub watch_specs_queue: bool,
}

impl Default for WatchersSection {
    fn default() -> Self {
        WatchersSection {
            enabled: true,
            debounce_ms: 250,
            watch_ideas_inbox: true,
            watch_specs_queue: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UsageGovernance {
    pub enabled: bool,
    pub auto_resume: bool,
    pub evaluation_boundary: String,
    pub calendar_timezone: String,
    pub runtime_token_rules: TokenRules,
    pub subscription_quota_rules: QuotaRules,
}

impl Default for UsageGovernance {
    fn default() -> Self {
        UsageGovernance {
            enabled: false,
            auto_resume: true,
            evaluation_boundary: "between_stages".into(),
            calendar_timezone: "UTC".into(),
            runtime_token_rules: TokenRules::default(),
            subscription_quota_rules: QuotaRules::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenRules {
    pub enabled: bool,
    pub rules: Vec<TokenRule>,
}

impl Default for TokenRules {
    fn default() -> Self {
        TokenRules {
            enabled: true,
            rules: vec![
                TokenRule {
                    rule_id: "rolling-5h-default".into(),
                    window: "rolling_5h".into(),
                    metric: "total_tokens".into(),
                    threshold: 750_000,
                },
                TokenRule {
                    rule_id: "calendar-week-default".into(),
                    window: "calendar_week".into(),
                    metric: "total_tokens".into(),
                    threshold: 5_000_000,
                },
            ],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRule {
    pub rule_id: String,
    pub window: String,
    #[serde(default = "total_tokens")]
    pub metric: String,
    pub threshold: u64,
}

fn total_tokens() -> String {
    "total_tokens".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaRules {
    pub enabled: bool,
    pub provider: String,
    pub degraded_policy: String,
    pub refresh_interval_seconds: u64,
    pub rules: Vec<QuotaRule>,
}

impl Default for QuotaRules {
    fn default() -> Self {
        QuotaRules {
            enabled: false,
            provider: "codex_chatgpt_oauth".into(),
            degraded_policy: "fail_open".into(),
            refresh_interval_seconds: 60,
            rules: vec![
                QuotaRule {
                    rule_id: "codex-five-hour-default".into(),
                    window: "five_hour".into(),
                    pause_at_percent_used: 95.0,
                },
                QuotaRule {
                    rule_id: "codex-weekly-default".into(),
                    window: "weekly".into(),
                    pause_at_percent_used: 95.0,
                },
            ],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaRule {
    pub rule_id: String,
    pub window: String,
    pub pause_at_percent_used: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StageConfig {
    pub runner: Option<String>,
    pub model: Option<String>,
    pub thinking_level: Option<String>,
    /// The Codex name for `thinking_level`, accepted as an alias.
    pub model_reasoning_effort: Option<String>,
    pub timeout_seconds: u64,
}

impl Default for StageConfig {
    fn default() -> Self {
        StageConfig {
            runner: None,
            model: None,
            thinking_level: None,
            model_reasoning_effort: None,
            timeout_seconds: crate::language::model::DEFAULT_TIMEOUT_SECONDS,
        }
    }
}

/// The 1-based line where `key` is set inside `[table]` (best effort, for
/// messages); with an empty `key`, the line of the `[table]` header.
pub fn line_of(text: &str, table: &str, key: &str) -> Option<usize> {
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(h) = t.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
            current = h.trim().trim_matches('[').trim_matches(']').to_string();
            if current == table && key.is_empty() {
                return Some(i + 1);
            }
            continue;
        }
        let k = t.split('=').next().unwrap_or("").trim().trim_matches('"');
        if current == table && k == key {
            return Some(i + 1);
        }
    }
    None
}

/// Parse `millrace.toml` text into the full model. The error renders as one
/// line, `line N: <what is wrong>`, with the key and the allowed values where
/// known, and carries the line and key as data; `load_config` wraps it in
/// `workspace::Error::Config` with the file's path.
pub fn parse_config(text: &str) -> Result<Config, ConfigError> {
    let config: Config = toml::from_str(text).map_err(|e: toml::de::Error| {
        toml_error(text, &e, |m| {
            m.replace("unknown field", "unknown key")
                .replace("expected one of", "allowed:")
        })
    })?;
    let mut config = config;
    validate(&config, text)?;
    config.runners.max_output_bytes = config.runtime.max_stage_output_bytes;
    Ok(config)
}

/// Read and validate the full config file; errors name the file.
pub fn load_config(path: &Path) -> Result<Config, super::Error> {
    let text = std::fs::read_to_string(path).map_err(|e| super::Error::io(path, e))?;
    parse_config(&text).map_err(|error| super::Error::Config {
        path: path.to_path_buf(),
        error,
    })
}

/// Smallest `runtime.event_log_max_bytes`.
pub const MIN_EVENT_LOG_BYTES: u64 = 64 * 1024;

/// Smallest `runtime.max_stage_output_bytes` (room for a final message).
pub const MIN_STAGE_OUTPUT_BYTES: u64 = 4096;

/// The longest idle sleep a config may ask for (an hour): a daemon must stay
/// reachable, and its mailbox is read at least every second while it sleeps.
pub const MAX_IDLE_SLEEP_SECONDS: f64 = 3600.0;

fn is_default_heartbeat(s: &u64) -> bool {
    *s == DEFAULT_HEARTBEAT_SECONDS
}

/// `runtime.heartbeat_seconds` when unset.
pub const DEFAULT_HEARTBEAT_SECONDS: u64 = 30;

/// The longest heartbeat interval a config may ask for (a day).
pub const MAX_HEARTBEAT_SECONDS: u64 = 86_400;

/// The checks serde cannot make; the error is the one-line diagnostic.
fn validate(c: &Config, text: &str) -> Result<(), ConfigError> {
    // A problem with `table.key`, on the line that sets it when there is one.
    let at = |table: &str, key: &str, problem: String| {
        ConfigError::key(line_of(text, table, key), format!("{table}.{key}"), problem)
    };
    let idle = c.runtime.idle_sleep_seconds;
    if !(idle > 0.0 && idle <= MAX_IDLE_SLEEP_SECONDS) {
        return Err(at(
            "runtime",
            "idle_sleep_seconds",
            format!(
                "`runtime.idle_sleep_seconds` is {idle:?}; it must be above 0 and at most {MAX_IDLE_SLEEP_SECONDS}"
            ),
        ));
    }
    if c.runtime.heartbeat_seconds > MAX_HEARTBEAT_SECONDS {
        return Err(at(
            "runtime",
            "heartbeat_seconds",
            format!(
                "`runtime.heartbeat_seconds` is {}; it must be at most {MAX_HEARTBEAT_SECONDS} (0 turns heartbeats off)",
                c.runtime.heartbeat_seconds
            ),
        ));
    }
    if c.runtime.max_stage_output_bytes < MIN_STAGE_OUTPUT_BYTES {
        return Err(at(
            "runtime",
            "max_stage_output_bytes",
            format!("`runtime.max_stage_output_bytes` must be at least {MIN_STAGE_OUTPUT_BYTES}"),
        ));
    }
    if c.runtime.event_log_max_bytes < MIN_EVENT_LOG_BYTES {
        return Err(at(
            "runtime",
            "event_log_max_bytes",
            format!("`runtime.event_log_max_bytes` must be at least {MIN_EVENT_LOG_BYTES}"),
        ));
    }
    if !(1..=1000).contains(&c.runtime.event_log_keep) {
        return Err(at(
            "runtime",
            "event_log_keep",
            "`runtime.event_log_keep` must be between 1 and 1000".into(),
        ));
    }
    if c.runs.retention_days == Some(0) {
        return Err(at(
            "runs",
            "retention_days",
            "`runs.retention_days` must be at least 1 (leave it out to keep every run)".into(),
        ));
    }
    if c.runs.retention_days.is_none() && (c.runs.keep_last.is_some() || c.runs.keep_failed) {
        return Err(at(
            "runs",
            if c.runs.keep_last.is_some() {
                "keep_last"
            } else {
                "keep_failed"
            },
            "`runs.keep_last` and `runs.keep_failed` only apply with `runs.retention_days`".into(),
        ));
    }
    let runners = crate::language::model::RUNNERS;
    // `; did you mean "x"?` when a runner name is close to a real one.
    let mean = |name: &str| {
        crate::language::check::suggest(name, runners.iter().copied())
            .map(|s| format!("; did you mean \"{s}\"?"))
            .unwrap_or_default()
    };
    if !runners.contains(&c.runners.default_runner.as_str()) {
        return Err(at(
            "runners",
            "default_runner",
            format!(
                "`runners.default_runner` is {:?}; allowed: {}{}",
                c.runners.default_runner,
                runners.join(", "),
                mean(&c.runners.default_runner)
            ),
        ));
    }
    for (key, v) in [
        ("max_fix_cycles", c.recovery.max_fix_cycles),
        (
            "max_troubleshoot_attempts_before_consult",
            c.recovery.max_troubleshoot_attempts_before_consult,
        ),
        ("max_mechanic_attempts", c.recovery.max_mechanic_attempts),
    ] {
        if v == 0 || v > 1000 {
            return Err(at(
                "recovery",
                key,
                format!("`recovery.{key}` must be between 1 and 1000"),
            ));
        }
    }
    c.runners.validate_at().map_err(|e| {
        let line = line_of(text, e.table, e.key).or_else(|| line_of(text, e.table, ""));
        ConfigError::key(line, format!("{}.{}", e.table, e.key), e.message)
    })?;
    for (name, s) in &c.stages {
        let table = format!("stages.{name}");
        if let Some(r) = &s.runner {
            if !runners.contains(&r.as_str()) {
                return Err(at(
                    &table,
                    "runner",
                    format!(
                        "`stages.{name}.runner` is {r:?}; allowed: {}{}",
                        runners.join(", "),
                        mean(r)
                    ),
                ));
            }
        }
        if s.timeout_seconds == 0 {
            return Err(at(
                &table,
                "timeout_seconds",
                format!("`stages.{name}.timeout_seconds` must be above 0"),
            ));
        }
        for (key, v) in [
            ("thinking_level", &s.thinking_level),
            ("model_reasoning_effort", &s.model_reasoning_effort),
        ] {
            if let Some(v) = v {
                let levels = crate::language::model::THINKING_LEVELS;
                if !levels.contains(&v.as_str()) {
                    return Err(at(
                        &table,
                        key,
                        format!(
                            "`stages.{name}.{key}` is {v:?}; allowed: {}",
                            levels.join(", ")
                        ),
                    ));
                }
            }
        }
        if let (Some(a), Some(b)) = (&s.thinking_level, &s.model_reasoning_effort) {
            if a != b {
                return Err(at(
                    &table,
                    "model_reasoning_effort",
                    format!(
                        "`stages.{name}`: thinking_level and model_reasoning_effort must match when both are set"
                    ),
                ));
            }
        }
    }
    crate::runtime::governance::validate(c)
}

impl StageConfig {
    /// The thinking level, taking the Codex alias into account.
    pub fn thinking(&self) -> Option<&str> {
        self.thinking_level
            .as_deref()
            .or(self.model_reasoning_effort.as_deref())
    }
}

/// Which keys of `[recovery]` the file sets explicitly (they retune loop thresholds).
pub fn explicit_recovery_keys(text: &str) -> Vec<String> {
    let table: toml::Table = text.parse().unwrap_or_default();
    match table.get("recovery") {
        Some(toml::Value::Table(t)) => t.keys().cloned().collect(),
        _ => vec![],
    }
}

#[cfg(test)]
mod model_tests {
    use super::*;

    #[test]
    fn defaults_match_the_reference_bootstrap() {
        let c = parse_config(BOOTSTRAP_TOML).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.runners.codex.args, vec!["exec"]);
    }

    #[test]
    fn stage_output_cap_acts_and_is_checked() {
        let c = parse_config("[runtime]\nevent_log_max_bytes = 1048576\nevent_log_keep = 2\n[runs]\nretention_days = 30\nkeep_last = 100\n").unwrap();
        assert_eq!(c.runtime.event_log_max_bytes, 1 << 20);
        assert_eq!(c.runtime.event_log_keep, 2);
        assert_eq!(c.runs.retention_days, Some(30));
        assert_eq!(c.runs.keep_last, Some(100));
        for bad in [
            "[runtime]\nevent_log_max_bytes = 10\n",
            "[runtime]\nevent_log_keep = 0\n",
            "[runs]\nretention_days = 0\n",
            "[runs]\nkeep_last = 5\n",
            "[runs]\nretention = 5\n",
        ] {
            assert!(
                parse_config(bad).unwrap_err().to_string().contains("line "),
                "{bad}"
            );
        }
        let c = parse_config("[runtime]\nmax_stage_output_bytes = 8192\n").unwrap();
        assert_eq!(c.runtime.max_stage_output_bytes, 8192);
        assert_eq!(c.runners.max_output_bytes, 8192);
        let e = parse_config("[runtime]\nmax_stage_output_bytes = 10\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("line 2:"), "{e}");
        assert!(e.contains("max_stage_output_bytes"), "{e}");
    }

    #[test]
    fn heartbeat_interval_acts_and_is_checked() {
        assert_eq!(
            parse_config("").unwrap().runtime.heartbeat_seconds,
            DEFAULT_HEARTBEAT_SECONDS
        );
        let c = parse_config("[runtime]\nheartbeat_seconds = 0\n").unwrap();
        assert_eq!(c.runtime.heartbeat_seconds, 0);
        let e = parse_config("[runtime]\nheartbeat_seconds = 100000\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("line 2:"), "{e}");
        assert!(e.contains("heartbeat_seconds"), "{e}");
        assert!(parse_config("[runtime]\nheartbeat_seconds = -1\n").is_err());
    }

    #[test]
    fn unknown_key_names_line_and_allowed_keys() {
        let e = parse_config("[runtime]\ndefault_mode = \"x\"\nmodee = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("line 3: unknown key `modee`"), "{e}");
        assert!(e.contains("default_mode"), "{e}");
    }

    #[test]
    fn bad_enum_value_lists_allowed_values() {
        let e = parse_config("[runners.codex]\npermission_default = \"root\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("line 2:"), "{e}");
        assert!(e.contains("maximum"), "{e}");
    }

    #[test]
    fn runner_names_get_a_did_you_mean() {
        let e = parse_config("[runners]\ndefault_runner = \"claude_cod\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("line 2: `runners.default_runner` is \"claude_cod\"; allowed: "),
            "{e}"
        );
        assert!(e.ends_with("; did you mean \"claude_code\"?"), "{e}");
        let e = parse_config("[stages.checker]\nrunner = \"codex\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("allowed: codex_cli,"), "{e}");
    }

    #[test]
    fn validation_errors_name_key_and_line() {
        let e = parse_config("[recovery]\nmax_fix_cycles = 0\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "line 2: `recovery.max_fix_cycles` must be between 1 and 1000"
        );
        let e = parse_config(
            "[stages.checker]\nthinking_level = \"high\"\nmodel_reasoning_effort = \"low\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("must match"), "{e}");
        let e = parse_config("[runners.pi]\nargs = [\"--no-skills\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("reserved pi runner flags"), "{e}");
        assert!(e.starts_with("line 2: "), "{e}");
        let e = parse_config(
            "[runtime]\n\n[runners.codex]\ncommand = \"c\"\nmodel_reasoning_effort = \"huge\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("line 5: runners.codex.model_reasoning_effort"),
            "{e}"
        );
        let e = parse_config("[runners]\nstart_failures_before_pause = 0\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("line 2: "), "{e}");
    }

    #[test]
    fn a_config_error_carries_its_line_and_key() {
        let e = parse_config("[runtime]\n\n[recovery]\nmax_mechanic_attempts = 0\n").unwrap_err();
        assert_eq!(e.line, Some(4));
        assert_eq!(e.key.as_deref(), Some("recovery.max_mechanic_attempts"));
        assert_eq!(
            e.problem,
            "`recovery.max_mechanic_attempts` must be between 1 and 1000"
        );
        // A runner setting: the key `validate_at` names.
        let e = parse_config("[runners.pi]\nargs = [\"--mode=x\"]\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("runners.pi.args"))
        );
        // Governance has no line; the key still says where to look.
        let e = parse_config("[usage_governance]\ncalendar_timezone = \"CET\"\n").unwrap_err();
        assert_eq!(e.line, None);
        assert_eq!(e.key.as_deref(), Some("usage_governance.calendar_timezone"));
        assert!(e
            .to_string()
            .starts_with("`usage_governance.calendar_timezone` is \"CET\""));
        // A syntax error has a line and no key.
        let e = parse_config("[runtime\n").unwrap_err();
        assert_eq!((e.line, e.key), (Some(1), None));
        // The `[runtime]` read names the key too.
        let e = parse("[runtime]\nrun_style = 3\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("runtime.run_style"));
        assert_eq!(e.to_string(), "`runtime.run_style` must be a string");
    }
}
