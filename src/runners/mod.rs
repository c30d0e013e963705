//! Runner adapters: the boundary between the runtime and the agents that do a
//! stage's work. This file owns the interface: what a stage request carries
//! (`StageRequest`), what a runner reports back (`RunnerOutput`), and the
//! dispatch from a runner name to an adapter (`run`).
//!
//! One concept per file: `settings` (the `[runners.*]` configuration),
//! `prompt` (the stage-request prompt text), `marker` (terminal-marker and
//! metadata extraction), `tokens` (token usage from Codex JSON events),
//! `artifacts` (the run-directory files and their JSON records), `process`
//! (spawning an agent in its own process group with a timeout), `preflight`
//! (whether a runner can start at all, from its settings), `exec` (the
//! file-based run shared by codex and command), `verdict`
//! (turning a runner output into a legal outcome or a failure class), and one
//! file per adapter: `codex`, `pi`, `command`, `script`.
//!
//! Every adapter writes the same per-request files under the run directory
//! (`runner_prompt.<req>.md`, `runner_invocation.<req>.json`,
//! `runner_stdout.<req>.txt`, `runner_stderr.<req>.txt`,
//! `runner_completion.<req>.json`, and where they apply
//! `runner_events.<req>.jsonl` and `runner_last_message.<req>.txt`), so the
//! rest of the runtime cannot tell which adapter ran. Agent output is
//! streamed to files, never held whole in memory.

pub mod error;
pub use error::{EntryError, Error, RequestError, ScriptError};
pub mod artifacts;
pub mod capture;
pub mod claude;
pub mod codex;
pub mod command;
pub mod environment;
pub mod exec;
pub mod marker;
pub mod pi;
pub mod preflight;
pub mod preview;
pub mod process;
pub mod prompt;
pub mod script;
pub mod settings;
pub mod tokens;
pub mod verdict;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

pub use artifacts::RunFiles;
pub use marker::{Extraction, MarkerMetadata, MarkerScan};
pub use settings::{
    ClaudeOutputFormat, ClaudeSettings, CodexSettings, CommandSettings, Permission,
    PiEventLogPolicy, PiSettings, PromptMode, RunnerSettings, ScriptSettings, UsageFormat,
};
pub use verdict::Verdict;

/// The names a stage binding may use for its runner.
pub const RUNNER_NAMES: [&str; 5] = ["codex_cli", "pi_rpc", "claude_code", "command", "script"];

/// Timeout used when a request says 0 (the reference's default).
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 3600;

/// At most this many bytes of the final message are kept in `RunnerOutput`
/// (the tail, where the marker is); the full text stays in the files.
pub const LAST_MESSAGE_LIMIT: usize = 64 * 1024;

/// The work item a stage acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkItemRef {
    /// `task`, `spec`, `incident` or `learning_request`.
    pub kind: String,
    pub id: String,
    /// Absolute path of the work document, when there is one.
    pub path: Option<PathBuf>,
}

/// Fields of a closure-target request (arbiter); all absent otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosureFields {
    pub target_path: Option<String>,
    pub root_spec_id: Option<String>,
    pub root_idea_id: Option<String>,
    pub canonical_root_spec_path: Option<String>,
    pub canonical_seed_idea_path: Option<String>,
    pub preferred_rubric_path: Option<String>,
    pub preferred_verdict_path: Option<String>,
    pub preferred_report_path: Option<String>,
}

/// One legal outcome of the stage (a terminal marker without `### `) and the
/// result classes it may carry, in declaration order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegalOutcome {
    pub name: String,
    pub result_classes: Vec<String>,
}

impl LegalOutcome {
    pub fn new(name: &str, classes: &[&str]) -> LegalOutcome {
        LegalOutcome {
            name: name.to_string(),
            result_classes: classes.iter().map(|c| c.to_string()).collect(),
        }
    }
}

/// Everything a runner needs to execute one stage. Built by the interpreter
/// from the compiled plan and the workspace; paths are absolute.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRequest {
    /// `request-<32 hex>`, one per stage execution.
    pub request_id: String,
    /// `run-<32 hex>`, shared by the stages of one claim.
    pub run_id: String,
    pub mode_id: String,
    pub compiled_plan_id: String,
    pub node_id: String,
    pub stage_kind_id: String,
    /// The stage name printed as `Stage:` and recorded as `stage` in the
    /// invocation and completion files.
    pub stage: String,
    /// `execution`, `planning` or `learning`.
    pub plane: String,
    /// `active_work_item`, `closure_target` or `learning_request`.
    pub request_kind: String,
    /// e.g. `BUILDER_RUNNING`.
    pub running_status_marker: String,
    pub entrypoint_path: PathBuf,
    pub entrypoint_contract_id: Option<String>,
    pub work_item: Option<WorkItemRef>,
    pub closure: ClosureFields,
    /// The legal outcomes in declaration order; the legal markers are
    /// `### <name>` for each.
    pub outcomes: Vec<LegalOutcome>,
    pub required_skill_paths: Vec<PathBuf>,
    pub attached_skill_paths: Vec<PathBuf>,
    pub run_dir: PathBuf,
    /// The workspace root (the agent's working directory), not `millrace-agents/`.
    pub workspace_root: PathBuf,
    pub runtime_snapshot_path: PathBuf,
    pub recovery_counters_path: PathBuf,
    pub summary_status_path: PathBuf,
    pub preferred_troubleshoot_report_path: Option<PathBuf>,
    pub runtime_error_code: Option<String>,
    pub runtime_error_report_path: Option<String>,
    pub runtime_error_catalog_path: Option<String>,
    pub skill_revision_evidence_path: Option<String>,
    pub runner_name: Option<String>,
    pub model_name: Option<String>,
    pub thinking_level: Option<String>,
    pub model_reasoning_effort: Option<String>,
    /// As bound in the plan; 0 means the default (3600).
    pub timeout_seconds: u64,
}

impl StageRequest {
    /// What the compiled `node` alone decides of its request (stage, plane,
    /// entrypoint, runner, model, timeout), with every run-specific field
    /// empty: the engine fills those in for a stage it starts, and
    /// `config show` shows the command line of such a request.
    pub fn for_node(
        node: &crate::plan::ir::CompiledNode,
        mode_id: &str,
        workspace_root: &std::path::Path,
        run_dir: PathBuf,
    ) -> StageRequest {
        StageRequest {
            request_id: String::new(),
            run_id: String::new(),
            mode_id: mode_id.into(),
            compiled_plan_id: String::new(),
            node_id: node.node_id.clone(),
            stage_kind_id: node.stage_kind_id.clone(),
            stage: node.node_id.clone(),
            plane: node.plane.clone(),
            request_kind: String::new(),
            running_status_marker: node.running_status_marker.clone(),
            entrypoint_path: workspace_root
                .join("millrace-agents")
                .join(&node.entrypoint_path),
            entrypoint_contract_id: None,
            work_item: None,
            closure: ClosureFields::default(),
            outcomes: vec![],
            required_skill_paths: vec![],
            attached_skill_paths: vec![],
            run_dir,
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
}

impl StageRequest {
    /// `### NAME` for every legal outcome, in order.
    pub fn legal_markers(&self) -> Vec<String> {
        self.outcomes
            .iter()
            .map(|o| format!("### {}", o.name))
            .collect()
    }

    /// The outcome names, in order.
    pub fn outcome_names(&self) -> Vec<&str> {
        self.outcomes.iter().map(|o| o.name.as_str()).collect()
    }

    /// The timeout actually enforced: 0 → 3600, and never below one second.
    pub fn effective_timeout_seconds(&self) -> u64 {
        let t = if self.timeout_seconds == 0 {
            DEFAULT_TIMEOUT_SECONDS
        } else {
            self.timeout_seconds
        };
        t.max(1)
    }

    /// Shape checks the reference makes on a request: ids present, at least
    /// one outcome with a result class, outcome names that are marker
    /// tokens, and the fields each request kind requires or forbids.
    pub fn validate(&self) -> Result<(), RequestError> {
        for (name, value) in [
            ("request_id", &self.request_id),
            ("run_id", &self.run_id),
            ("node_id", &self.node_id),
            ("stage_kind_id", &self.stage_kind_id),
            ("stage", &self.stage),
            ("running_status_marker", &self.running_status_marker),
        ] {
            if value.trim().is_empty() {
                return Err(RequestError::Missing(name));
            }
        }
        if self.outcomes.is_empty() {
            return Err(RequestError::NoOutcomes);
        }
        for o in &self.outcomes {
            if marker::marker_token(&format!("### {}", o.name)) != Some(o.name.as_str()) {
                return Err(RequestError::NotAMarker(o.name.clone()));
            }
            if o.result_classes.is_empty() {
                return Err(RequestError::NoResultClass(o.name.clone()));
            }
        }
        let c = &self.closure;
        let closure = [
            &c.target_path,
            &c.root_spec_id,
            &c.root_idea_id,
            &c.canonical_root_spec_path,
            &c.canonical_seed_idea_path,
            &c.preferred_rubric_path,
            &c.preferred_verdict_path,
            &c.preferred_report_path,
        ];
        match self.request_kind.as_str() {
            "active_work_item" | "learning_request" => {
                if closure.iter().any(|f| f.is_some()) {
                    return Err(RequestError::ClosureFieldsNotAllowed {
                        kind: self.request_kind.clone(),
                    });
                }
                if self.request_kind == "learning_request"
                    && self.work_item.as_ref().is_none_or(|w| w.path.is_none())
                {
                    return Err(RequestError::NoWorkItemPath);
                }
            }
            "closure_target" => {
                if self.work_item.is_some() {
                    return Err(RequestError::WorkItemNotAllowed);
                }
                if c.target_path.is_none() || c.root_spec_id.is_none() {
                    return Err(RequestError::NoClosureTarget);
                }
            }
            other => return Err(RequestError::UnknownKind(other.to_string())),
        }
        Ok(())
    }

    /// The first outcome that may be a success (else the first outcome).
    pub fn first_success_outcome(&self) -> Option<&str> {
        self.outcomes
            .iter()
            .find(|o| o.result_classes.iter().any(|c| c == "success"))
            .or_else(|| self.outcomes.first())
            .map(|o| o.name.as_str())
    }
}

/// Token counts reported by an agent (the reference's `TokenUsage`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUsage {
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    pub thinking_tokens: u64,
    pub total_tokens: u64,
}

/// How the agent process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitKind {
    /// Exited 0 (or a reconciled final marker, see `RunnerOutput::observed`).
    Completed,
    /// Exited with a non-zero status or was killed by a signal.
    NonzeroExit,
    /// Ran past its timeout; the process group was killed (exit code 124).
    Timeout,
    /// The binary was not found (exit code 127) or could not be started.
    SpawnFailed,
    /// The pi RPC conversation failed (rejected prompt, stream ended early,
    /// empty answer, invalid JSON).
    RpcFailure,
    /// The provider reported an error and the agent gave no answer.
    ProviderError,
    /// The caller cancelled the run; the process group was killed.
    Interrupted,
}

impl ExitKind {
    /// The reference's raw `exit_kind` vocabulary (`completed`, `timeout`,
    /// `runner_error`, `provider_error`, `interrupted`).
    pub fn reference_str(self) -> &'static str {
        match self {
            ExitKind::Completed => "completed",
            ExitKind::Timeout => "timeout",
            ExitKind::NonzeroExit | ExitKind::SpawnFailed | ExitKind::RpcFailure => "runner_error",
            ExitKind::ProviderError => "provider_error",
            ExitKind::Interrupted => "interrupted",
        }
    }
}

/// What one runner call produced. The files hold the full record; this is
/// the summary the interpreter needs to build the stage result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunnerOutput {
    /// `codex_cli`, `pi_rpc`, `claude_code`, `command` or `script`.
    pub runner_name: String,
    /// The canonical exit kind (after final-marker reconciliation).
    pub exit_kind: ExitKind,
    pub exit_code: Option<i32>,
    /// The exit actually observed when reconciliation overrode it (a legal
    /// final marker in the last-message file turns a timeout or non-zero
    /// exit into `Completed`, exit 0, as the reference does).
    pub observed: Option<(ExitKind, Option<i32>)>,
    /// The runner-level failure class written to the completion file
    /// (`runner_binary_not_found`, `runner_timeout`, `runner_non_zero_exit`,
    /// `runner_rpc_rejected`, ...), `None` on a clean run.
    pub failure_class: Option<String>,
    pub notes: Vec<String>,
    pub files: RunFiles,
    /// The tail (at most `LAST_MESSAGE_LIMIT` bytes) of the text the marker
    /// was read from: the final message, else stdout.
    pub last_message: Option<String>,
    /// Markers and metadata lines found in that text (the whole file).
    pub scan: MarkerScan,
    pub token_usage: Option<TokenUsage>,
    /// UTC RFC 3339 with microseconds, as the reference writes them.
    pub started_at: String,
    pub ended_at: String,
    pub duration_seconds: f64,
    /// The argv that was (or would have been) executed.
    pub command: Vec<String>,
    /// `thinking_level` or `model_reasoning_effort` of the request, as the
    /// reference records it on the raw result.
    pub model_reasoning_effort: Option<String>,
    /// The agent could not reach or use its model for a reason of the
    /// environment (not logged in, credentials, network, quota): the stage
    /// says nothing about the work (`environment`).
    pub environment: Option<environment::EnvironmentFailure>,
}

impl RunnerOutput {
    /// Classify this output against the request's legal outcomes.
    pub fn verdict(&self, request: &StageRequest) -> Verdict {
        verdict::judge(request, self)
    }
}

/// Errors that prevent a runner from running at all (as opposed to agent
/// failures, which are reported inside `RunnerOutput`).
#[derive(Debug)]
pub enum RunnerError {
    /// The request names a runner that does not exist.
    UnknownRunner(String),
    /// The settings cannot drive this runner (e.g. an empty command argv).
    Settings(String),
    /// The script runner's file cannot be read.
    ScriptUnreadable {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The script runner's file does not parse.
    Script { path: PathBuf, error: ScriptError },
    /// The run directory could not be written.
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl fmt::Display for RunnerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunnerError::UnknownRunner(name) => write!(
                f,
                "Unknown stage runner: {name}. Available: {}",
                RUNNER_NAMES.join(", ")
            ),
            RunnerError::Settings(msg) => write!(f, "{msg}"),
            RunnerError::Script { path, error } => {
                write!(f, "script file {}: {error}", path.display())
            }
            RunnerError::ScriptUnreadable { path, error } => {
                write!(f, "script file {}: {error}", path.display())
            }
            RunnerError::Io { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for RunnerError {}

/// Failure class of a stage whose files the runtime refused to touch: a
/// link (or FIFO, device) planted where the runtime reads or writes.
pub const UNSAFE_PATH_FAILURE: &str = "unsafe_workspace_path";

impl RunnerError {
    /// The failure class a stage that hit this error is routed with.
    pub fn failure_class(&self) -> &'static str {
        match self {
            RunnerError::Io { error, .. }
                if crate::workspace::safe_fs::refusal(error).is_some() =>
            {
                UNSAFE_PATH_FAILURE
            }
            _ => "runner_error",
        }
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RunnerError + '_ {
    move |error| RunnerError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// The adapters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunnerKind {
    CodexCli,
    PiRpc,
    ClaudeCode,
    Command,
    Script,
}

impl RunnerKind {
    pub fn from_name(name: &str) -> Result<RunnerKind, RunnerError> {
        match name {
            "codex_cli" => Ok(RunnerKind::CodexCli),
            "pi_rpc" => Ok(RunnerKind::PiRpc),
            "claude_code" => Ok(RunnerKind::ClaudeCode),
            "command" => Ok(RunnerKind::Command),
            "script" => Ok(RunnerKind::Script),
            other => Err(RunnerError::UnknownRunner(other.to_string())),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            RunnerKind::CodexCli => "codex_cli",
            RunnerKind::PiRpc => "pi_rpc",
            RunnerKind::ClaudeCode => "claude_code",
            RunnerKind::Command => "command",
            RunnerKind::Script => "script",
        }
    }

    /// The request's runner, else `runners.default_runner`.
    pub fn for_request(
        request: &StageRequest,
        settings: &RunnerSettings,
    ) -> Result<RunnerKind, RunnerError> {
        let name = request
            .runner_name
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(settings.default_runner.as_str());
        RunnerKind::from_name(name)
    }
}

/// Lets the caller stop a running stage (daemon shutdown, operator stop):
/// when the flag becomes true the agent's process group is killed and the
/// output reports `ExitKind::Interrupted`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cancel<'a>(pub Option<&'a AtomicBool>);

impl Cancel<'_> {
    pub fn none() -> Cancel<'static> {
        Cancel(None)
    }
    pub fn is_set(&self) -> bool {
        self.0
            .map(|f| f.load(std::sync::atomic::Ordering::SeqCst))
            .unwrap_or(false)
    }
}

/// Where a runner reports, while its agent runs, a line worth a monitor
/// line of its own (`stage waiting ... reason=...`, once per stage).
pub type Notify<'a> = Option<&'a (dyn Fn(&str) + Sync)>;

/// Run one stage with the runner the request names (else the default).
/// Blocking: call it from a blocking task.
pub fn run(request: &StageRequest, settings: &RunnerSettings) -> Result<RunnerOutput, RunnerError> {
    run_with_cancel(request, settings, Cancel::none())
}

/// `run`, stoppable through `cancel`.
pub fn run_with_cancel(
    request: &StageRequest,
    settings: &RunnerSettings,
    cancel: Cancel<'_>,
) -> Result<RunnerOutput, RunnerError> {
    run_watched(request, settings, cancel, None)
}

/// `run_with_cancel`, reporting an agent's network wait through `notify`.
pub fn run_watched(
    request: &StageRequest,
    settings: &RunnerSettings,
    cancel: Cancel<'_>,
    notify: Notify<'_>,
) -> Result<RunnerOutput, RunnerError> {
    let kind = RunnerKind::for_request(request, settings)?;
    let watch = exec::NetworkWatch {
        kind,
        grace: std::time::Duration::from_secs(settings.network_grace_seconds),
        notify,
    };
    match kind {
        RunnerKind::CodexCli => codex::run(
            request,
            &settings.codex,
            settings.max_output_bytes,
            cancel,
            Some(watch),
        ),
        RunnerKind::PiRpc => pi::run(
            request,
            &settings.pi,
            settings.max_output_bytes,
            cancel,
            Some(watch),
        ),
        RunnerKind::ClaudeCode => claude::run(
            request,
            &settings.claude,
            settings.max_output_bytes,
            cancel,
            Some(watch),
        ),
        RunnerKind::Command => command::run(
            request,
            &settings.command,
            settings.max_output_bytes,
            cancel,
        ),
        RunnerKind::Script => script::run(request, &settings.script),
    }
}

/// Sample requests for tests (unit and integration); not part of the API.
#[doc(hidden)]
pub mod test_support {
    use super::*;

    /// A request shaped like the reference's updater request in the happy trace.
    pub fn updater_request(ws: &Path) -> StageRequest {
        let ma = ws.join("millrace-agents");
        let run_id = "run-521e36da984b4edea877eca48475eceb".to_string();
        let run_dir = ma.join("runs").join(&run_id);
        StageRequest {
            request_id: "request-5bf4f5b072704d4a901f2edb2f1ac4d3".into(),
            run_id,
            mode_id: "default_codex".into(),
            compiled_plan_id: "plan-default_codex-6241df179f4a".into(),
            node_id: "updater".into(),
            stage_kind_id: "updater".into(),
            stage: "updater".into(),
            plane: "execution".into(),
            request_kind: "active_work_item".into(),
            running_status_marker: "UPDATER_RUNNING".into(),
            entrypoint_path: ma.join("entrypoints/execution/updater.md"),
            entrypoint_contract_id: Some("updater.contract.v1".into()),
            work_item: Some(WorkItemRef {
                kind: "task".into(),
                id: "t-001".into(),
                path: Some(ma.join("tasks/active/t-001.md")),
            }),
            closure: ClosureFields::default(),
            outcomes: vec![
                LegalOutcome::new("UPDATE_COMPLETE", &["success"]),
                LegalOutcome::new("BLOCKED", &["blocked", "recoverable_failure"]),
            ],
            required_skill_paths: vec![ma.join("skills/stage/execution/updater-core/SKILL.md")],
            attached_skill_paths: vec![],
            preferred_troubleshoot_report_path: Some(run_dir.join("troubleshoot_report.md")),
            run_dir,
            workspace_root: ws.to_path_buf(),
            runtime_snapshot_path: ma.join("state/runtime_snapshot.json"),
            recovery_counters_path: ma.join("state/recovery_counters.json"),
            summary_status_path: ma.join("state/execution_status.md"),
            runtime_error_code: None,
            runtime_error_report_path: None,
            runtime_error_catalog_path: None,
            skill_revision_evidence_path: None,
            runner_name: Some("codex_cli".into()),
            model_name: None,
            thinking_level: None,
            model_reasoning_effort: None,
            timeout_seconds: 3600,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// The failure classes docs/operator-guide.md lists for errors
        /// around the agent: an I/O error preparing the stage is
        /// `runner_error`.
        #[test]
        fn runner_error_failure_classes() {
            let io = RunnerError::Io {
                path: PathBuf::from("/ws/runs/r"),
                error: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            };
            assert_eq!(io.failure_class(), "runner_error");
            let settings = RunnerError::Settings("runners.command.argv is empty".into());
            assert_eq!(settings.failure_class(), "runner_error");
        }

        #[test]
        fn validation() {
            let ok = updater_request(Path::new("/ws"));
            assert_eq!(ok.validate(), Ok(()));
            let mut r = ok.clone();
            r.outcomes[0].name = "done".into();
            assert_eq!(r.validate(), Err(RequestError::NotAMarker("done".into())));
            assert_eq!(
                r.validate().unwrap_err().to_string(),
                "outcome \"done\" is not a marker token"
            );
            let mut r = ok.clone();
            r.closure.root_spec_id = Some("s-1".into());
            assert_eq!(
                r.validate(),
                Err(RequestError::ClosureFieldsNotAllowed {
                    kind: "active_work_item".into()
                })
            );
            let mut r = ok.clone();
            r.run_id = " ".into();
            assert_eq!(r.validate(), Err(RequestError::Missing("run_id")));
            let mut r = ok.clone();
            r.request_kind = "closure_target".into();
            assert_eq!(r.validate(), Err(RequestError::WorkItemNotAllowed));
            r.work_item = None;
            assert_eq!(r.validate(), Err(RequestError::NoClosureTarget));
            let mut r = ok.clone();
            r.request_kind = "learning_request".into();
            r.work_item = None;
            assert_eq!(r.validate(), Err(RequestError::NoWorkItemPath));
            r.request_kind = "sideways".into();
            assert_eq!(
                r.validate().map_err(|e| Error::from(e).to_string()),
                Err("unknown request kind \"sideways\"".to_string())
            );
            let mut r = ok.clone();
            r.outcomes.clear();
            assert_eq!(r.validate(), Err(RequestError::NoOutcomes));
            let mut r = ok.clone();
            r.request_kind = "closure_target".into();
            r.work_item = None;
            r.closure.target_path = Some("/ws/spec.md".into());
            r.closure.root_spec_id = Some("s-1".into());
            assert_eq!(r.validate(), Ok(()));
            assert_eq!(ok.effective_timeout_seconds(), 3600);
            assert_eq!(ok.first_success_outcome(), Some("UPDATE_COMPLETE"));
        }
    }
}
