//! The IR: `CompiledPlan`, the frozen, self-contained description of one mode
//! that the interpreter runs. It is serialized deterministically (struct field
//! order, sorted maps, no timestamps), so the same inputs give the same bytes.
//!
//! Every node, transition and policy carries a [`SourceLoc`]: the `.mill`
//! file and span it came from (the source map).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SCHEMA_VERSION: &str = "1.0";

/// Where a piece of the plan was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLoc {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

impl std::fmt::Display for SourceLoc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompileInput {
    pub mode_id: String,
    pub config_fingerprint: String,
    pub assets_fingerprint: String,
}

/// One file the plan depends on, with the blake3 of its bytes at compile time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetRef {
    /// `mill`, `entrypoint` or `skill`.
    pub family: String,
    /// Path relative to `millrace-agents/` (or the repository, for embedded assets).
    pub path: String,
    /// blake3 hex of the content, or `missing`.
    pub content_blake3: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeClasses {
    pub outcome: String,
    pub result_classes: Vec<String>,
}

/// A node with its frozen stage-request binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledNode {
    pub node_id: String,
    pub plane: String,
    pub stage_kind_id: String,
    pub entrypoint_path: String,
    pub entrypoint_contract_id: String,
    pub required_skill_paths: Vec<String>,
    pub attached_skill_paths: Vec<String>,
    pub runner_name: String,
    pub model_name: Option<String>,
    pub thinking_level: Option<String>,
    pub model_reasoning_effort: Option<String>,
    pub timeout_seconds: u64,
    pub running_status_marker: String,
    pub legal_outcomes: Vec<String>,
    pub allowed_result_classes_by_outcome: Vec<OutcomeClasses>,
    pub success_outcomes: Vec<String>,
    pub failure_outcomes: Vec<String>,
    pub idempotence_policy: String,
    pub declared_output_artifacts: Vec<String>,
    pub source: SourceLoc,
}

impl CompiledNode {
    pub fn classes_for(&self, outcome: &str) -> Option<&[String]> {
        self.allowed_result_classes_by_outcome
            .iter()
            .find(|o| o.outcome == outcome)
            .map(|o| o.result_classes.as_slice())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledEntry {
    pub entry_key: String,
    pub node_id: String,
    pub source: SourceLoc,
}

/// Where a transition leads.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum TransitionTarget {
    Node(String),
    Terminal(String),
}

impl std::fmt::Display for TransitionTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransitionTarget::Node(n) => f.write_str(n),
            TransitionTarget::Terminal(t) => write!(f, "terminal:{t}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledTransition {
    /// `<from>.<OUTCOME>`: unique within the graph.
    pub edge_id: String,
    pub from_node_id: String,
    pub on_outcome: String,
    pub target: TransitionTarget,
    pub source: SourceLoc,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledTerminal {
    pub terminal_state_id: String,
    pub terminal_class: String,
    pub writes_status: String,
    pub emits_artifacts: Vec<String>,
    pub source: SourceLoc,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledResumePolicy {
    pub policy_id: String,
    pub source_node_id: String,
    pub on_outcome: String,
    pub default_target_node_id: String,
    pub metadata_stage_keys: Vec<String>,
    pub disallowed_target_node_ids: Vec<String>,
    pub source: SourceLoc,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledThresholdPolicy {
    pub policy_id: String,
    pub source_node_ids: Vec<String>,
    pub on_outcome: String,
    pub counter_name: String,
    pub threshold: u32,
    pub exhausted_target: TransitionTarget,
    pub source: SourceLoc,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledCompletion {
    pub trigger: String,
    pub readiness_rule: String,
    pub target_node_id: String,
    pub request_kind: String,
    pub target_selector: String,
    pub rubric_policy: String,
    pub blocked_work_policy: String,
    pub skip_if_already_closed: bool,
    pub on_pass_terminal_state_id: String,
    pub on_gap_terminal_state_id: String,
    pub create_incident_on_gap: bool,
    pub source: SourceLoc,
}

/// The proven worst case for one loop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageRunBound {
    /// Worst-case stage runs for one work item per entry key (and `closure_target`).
    pub per_entry: BTreeMap<String, u64>,
    pub max_stage_runs: u64,
    pub exact: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledGraph {
    pub loop_id: String,
    pub plane: String,
    pub source: SourceLoc,
    pub nodes: Vec<CompiledNode>,
    pub entries: Vec<CompiledEntry>,
    pub transitions: Vec<CompiledTransition>,
    pub terminal_states: Vec<CompiledTerminal>,
    pub resume_policies: Vec<CompiledResumePolicy>,
    pub threshold_policies: Vec<CompiledThresholdPolicy>,
    pub completion_behavior: Option<CompiledCompletion>,
    pub stage_run_bound: StageRunBound,
}

impl CompiledGraph {
    pub fn node(&self, id: &str) -> Option<&CompiledNode> {
        self.nodes.iter().find(|n| n.node_id == id)
    }

    pub fn transition(&self, from: &str, outcome: &str) -> Option<&CompiledTransition> {
        self.transitions
            .iter()
            .find(|t| t.from_node_id == from && t.on_outcome == outcome)
    }

    pub fn terminal(&self, id: &str) -> Option<&CompiledTerminal> {
        self.terminal_states
            .iter()
            .find(|t| t.terminal_state_id == id)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConcurrencyPolicy {
    pub mutually_exclusive_planes: Vec<[String; 2]>,
    pub may_run_concurrently: Vec<[String; 2]>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LearningTriggerRule {
    pub rule_id: String,
    pub source_plane: String,
    pub source_stage: String,
    pub on_terminal_results: Vec<String>,
    pub target_stage: String,
    pub requested_action: String,
    #[serde(default)]
    pub target_skill_id: Option<String>,
    #[serde(default)]
    pub preferred_output_paths: Vec<String>,
    pub source: SourceLoc,
}

/// The whole frozen plan for one mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompiledPlan {
    pub schema_version: String,
    pub kind: String,
    pub compiled_plan_id: String,
    pub compile_input_fingerprint: CompileInput,
    pub mode_id: String,
    /// The mode's inheritance chain, nearest first.
    pub extends: Vec<String>,
    pub loop_ids_by_plane: BTreeMap<String, String>,
    pub graphs_by_plane: BTreeMap<String, CompiledGraph>,
    pub concurrency_policy: Option<ConcurrencyPolicy>,
    pub learning_trigger_rules: Vec<LearningTriggerRule>,
    pub resolved_assets: Vec<AssetRef>,
}

impl CompiledPlan {
    /// Planes in the reference's display order (execution, planning, learning).
    pub fn planes(&self) -> Vec<&str> {
        crate::language::model::PLANES
            .iter()
            .copied()
            .filter(|p| self.graphs_by_plane.contains_key(*p))
            .collect()
    }

    pub fn graph(&self, plane: &str) -> Option<&CompiledGraph> {
        self.graphs_by_plane.get(plane)
    }

    /// The graph and node that handle a stage by node id, searching every plane.
    pub fn find_node(&self, node_id: &str) -> Option<(&CompiledGraph, &CompiledNode)> {
        self.graphs_by_plane
            .values()
            .find_map(|g| g.node(node_id).map(|n| (g, n)))
    }
}
