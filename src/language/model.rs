//! The typed model: what the checker produces from the syntax tree once every
//! name is resolved and every rule holds. Lowering reads only this.
//!
//! Closed vocabularies (planes, result classes, runners, ...) are listed here
//! once, with the spelling the reference uses on disk.

use super::source::Span;
use serde::Serialize;
use std::collections::BTreeMap;

pub const PLANES: &[&str] = &["execution", "planning", "learning"];

/// Terminal classes that hand the work item off to planning: at run time the
/// item is blocked and an incident is opened for the planning loop.
pub const PLANNING_HANDOFF_CLASSES: &[&str] = &["followup_needed", "escalate_planning"];

/// The metadata keys a stage result can carry (from `Resume-Stage:` and
/// `Target-Stage:` lines of its final message): the only keys a resume policy
/// can read.
pub const RESUME_METADATA_KEYS: &[&str] = &["resume_stage", "target_stage"];
pub const RESULT_CLASSES: &[&str] = &[
    "success",
    "no_op",
    "followup_needed",
    "recoverable_failure",
    "escalate_planning",
    "blocked",
];
pub const RUNNERS: &[&str] = &["codex_cli", "pi_rpc", "claude_code", "command", "script"];
pub const IDEMPOTENCE: &[&str] = &["idempotent", "retry_safe_with_key", "single_attempt_only"];
pub const RECOVERY_ROLES: &[&str] = &["local_repair", "escalation"];
pub const STARTS: &[&str] = &["tasks", "specs", "incidents", "learning_requests"];
pub const OVERRIDES: &[&str] = &[
    "entrypoint_path",
    "runner_name",
    "model_name",
    "thinking_level",
    "timeout_seconds",
    "attached_skill_additions",
];
pub const THINKING_LEVELS: &[&str] = &["minimal", "low", "medium", "high", "xhigh"];
pub const LEARNING_ACTIONS: &[&str] = &["create", "improve", "promote", "export", "install"];
/// Entry keys and the plane each belongs to.
pub const ENTRY_KEYS: &[(&str, &str)] = &[
    ("task", "execution"),
    ("spec", "planning"),
    ("incident", "planning"),
    ("learning_request", "learning"),
];
/// Default timeout of a stage, in seconds (the reference's).
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 3600;

/// Whether an outcome counts as success, failure, or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Polarity {
    Success,
    Failure,
    Neutral,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub marker: String,
    pub classes: Vec<String>,
    pub polarity: Polarity,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageKind {
    pub id: String,
    pub plane: String,
    pub display_name: String,
    pub entrypoint: String,
    pub contract_id: String,
    pub required_skills: Vec<String>,
    pub suggested_skills: Vec<String>,
    pub running_marker: String,
    pub outcomes: Vec<Outcome>,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub idempotence: String,
    pub overrides: Vec<String>,
    pub starts: Vec<String>,
    pub recovery_role: Option<String>,
    pub closure: bool,
    #[serde(skip)]
    pub span: Span,
    /// Span of the `overrides` field, when written (for override diagnostics).
    #[serde(skip)]
    pub overrides_span: Option<Span>,
}

impl StageKind {
    pub fn outcome(&self, marker: &str) -> Option<&Outcome> {
        self.outcomes.iter().find(|o| o.marker == marker)
    }

    pub fn markers(&self) -> Vec<&str> {
        self.outcomes.iter().map(|o| o.marker.as_str()).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Target {
    Node(String),
    Terminal(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct Node {
    pub id: String,
    pub kind: String,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub key: String,
    pub node: String,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub struct Route {
    pub from: String,
    pub outcome: String,
    pub target: Target,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub struct Terminal {
    pub id: String,
    pub class: String,
    pub status: String,
    pub emits: Vec<String>,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub struct Threshold {
    pub id: String,
    pub counter: String,
    pub outcome: String,
    pub sources: Vec<String>,
    pub after: u32,
    pub exhausted: Target,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub struct Resume {
    pub id: String,
    pub from: String,
    pub outcome: String,
    pub metadata_keys: Vec<String>,
    pub default: String,
    pub never: Vec<String>,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub struct Completion {
    pub trigger: String,
    pub readiness_rule: String,
    pub target: String,
    pub request_kind: String,
    pub target_selector: String,
    pub rubric_policy: String,
    pub blocked_work_policy: String,
    pub skip_if_already_closed: bool,
    pub on_pass: String,
    pub on_gap: String,
    pub create_incident_on_gap: bool,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub struct Loop {
    pub id: String,
    pub plane: String,
    pub nodes: Vec<Node>,
    pub entries: Vec<Entry>,
    pub routes: Vec<Route>,
    pub terminals: Vec<Terminal>,
    pub thresholds: Vec<Threshold>,
    pub resumes: Vec<Resume>,
    pub completion: Option<Completion>,
    #[serde(skip)]
    pub span: Span,
}

impl Loop {
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    pub fn terminal(&self, id: &str) -> Option<&Terminal> {
        self.terminals.iter().find(|t| t.id == id)
    }

    pub fn route(&self, from: &str, outcome: &str) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| r.from == from && r.outcome == outcome)
    }

    pub fn threshold_for(&self, from: &str, outcome: &str) -> Option<&Threshold> {
        self.thresholds
            .iter()
            .find(|t| t.outcome == outcome && t.sources.iter().any(|s| s == from))
    }

    pub fn resume_for(&self, from: &str, outcome: &str) -> Option<&Resume> {
        self.resumes
            .iter()
            .find(|r| r.from == from && r.outcome == outcome)
    }
}

/// Per-stage settings a mode may set (all optional; unset means default).
#[derive(Debug, Clone, Default, Serialize)]
pub struct StageSettings {
    pub runner: Option<String>,
    pub model: Option<String>,
    pub thinking: Option<String>,
    pub timeout_seconds: Option<u64>,
    pub entrypoint: Option<String>,
    pub skills: Vec<String>,
    /// The stage name of the mode's `stage <node> { ... }` block (nearest
    /// in the `extends` chain), for messages that name the mode's line.
    #[serde(skip)]
    pub span: Option<Span>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Concurrency {
    pub mutually_exclusive_planes: Vec<(String, String)>,
    pub may_run_concurrently: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LearningTrigger {
    pub rule_id: String,
    pub source_plane: String,
    pub source_stage: String,
    pub on_outcomes: Vec<String>,
    pub target_stage: String,
    pub requested_action: String,
    /// The skill the learning should land in.
    pub target_skill_id: Option<String>,
    /// Workspace-relative paths the learning stage should write.
    pub preferred_output_paths: Vec<String>,
    #[serde(skip)]
    pub span: Span,
}

/// A mode with its inheritance already applied.
#[derive(Debug, Clone, Serialize)]
pub struct Mode {
    pub id: String,
    /// The chain of modes it extends, nearest first.
    pub extends: Vec<String>,
    /// Loop id per plane, in plane order.
    pub loops: BTreeMap<String, String>,
    /// The runner for every stage, when the mode (or an ancestor) sets one.
    pub default_runner: Option<String>,
    /// Where that `runner` line is (in this mode or the ancestor that sets it).
    #[serde(skip)]
    pub runner_span: Option<Span>,
    pub stages: BTreeMap<String, StageSettings>,
    pub concurrency: Option<Concurrency>,
    pub learning_triggers: Vec<LearningTrigger>,
    /// Counter name → threshold, overriding the loop's `after`.
    pub threshold_overrides: BTreeMap<String, u32>,
    #[serde(skip)]
    pub span: Span,
}

#[derive(Debug, Clone, Serialize)]
pub struct Alias {
    pub name: String,
    pub target: String,
    #[serde(skip)]
    pub span: Span,
}

/// Everything a successful check knows.
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub stages: BTreeMap<String, StageKind>,
    pub loops: BTreeMap<String, Loop>,
    pub modes: BTreeMap<String, Mode>,
    pub aliases: BTreeMap<String, Alias>,
}

impl Model {
    /// A mode by id or alias (following alias chains).
    pub fn resolve_mode(&self, name: &str) -> Option<&Mode> {
        let mut current = name;
        for _ in 0..=self.aliases.len() {
            if let Some(m) = self.modes.get(current) {
                return Some(m);
            }
            current = &self.aliases.get(current)?.target;
        }
        None
    }
}
