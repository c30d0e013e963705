//! The reference's public graph export (`kind: compiled_stage_graph`,
//! schema 1.0): one object per plane, planes in name order, with its nodes,
//! route edges, entries and terminal states in the reference's field names,
//! so tools written for `millrace compile graph --format json` of the
//! reference read ours. What the language adds (threshold edges, resume
//! policies, bounds, source locations) is in the `mill-json` export.

use super::ir::{CompiledGraph, CompiledPlan, OutcomeClasses, TransitionTarget};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

/// One plane's export; fields in the reference's order.
#[derive(Debug, Serialize)]
pub struct StageGraph<'a> {
    schema_version: &'static str,
    kind: &'static str,
    compiled_plan_id: &'a str,
    mode_id: &'a str,
    loop_id: &'a str,
    plane: &'a str,
    nodes: Vec<Node<'a>>,
    edges: Vec<Edge<'a>>,
    entries: Vec<Entry<'a>>,
    terminal_states: Vec<Terminal<'a>>,
    source_refs: Vec<String>,
    exported_at: &'a str,
}

#[derive(Debug, Serialize)]
struct Node<'a> {
    node_id: &'a str,
    plane: &'a str,
    stage_kind_id: &'a str,
    entrypoint_path: &'a str,
    entrypoint_contract_id: &'a str,
    running_status_marker: &'a str,
    required_skill_paths: &'a [String],
    attached_skill_additions: &'a [String],
    runner_name: &'a str,
    model_name: Option<&'a str>,
    thinking_level: Option<&'a str>,
    model_reasoning_effort: Option<&'a str>,
    timeout_seconds: u64,
    allowed_result_classes_by_outcome: ClassesByOutcome<'a>,
    declared_output_artifacts: &'a [String],
}

/// Outcome → result classes as a JSON object in declaration order.
#[derive(Debug)]
struct ClassesByOutcome<'a>(&'a [OutcomeClasses]);

impl Serialize for ClassesByOutcome<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for o in self.0 {
            map.serialize_entry(&o.outcome, &o.result_classes)?;
        }
        map.end()
    }
}

#[derive(Debug, Serialize)]
struct Edge<'a> {
    edge_id: String,
    source_node_id: &'a str,
    outcome: &'a str,
    target_node_id: Option<&'a str>,
    terminal_state_id: Option<&'a str>,
    kind: &'static str,
    priority: u32,
    max_attempts: Option<u32>,
}

#[derive(Debug, Serialize)]
struct Entry<'a> {
    entry_key: &'a str,
    node_id: &'a str,
    stage_kind_id: &'a str,
    plane: &'a str,
}

#[derive(Debug, Serialize)]
struct Terminal<'a> {
    terminal_state_id: &'a str,
    terminal_class: &'a str,
    writes_status: &'a str,
    emits_artifacts: &'a [String],
    ends_plane_run: bool,
}

/// Every selected plane's `compiled_stage_graph`, planes in name order.
pub fn export<'a>(
    plan: &'a CompiledPlan,
    plane: Option<&str>,
    exported_at: &'a str,
) -> Vec<StageGraph<'a>> {
    plan.graphs_by_plane
        .iter()
        .filter(|(p, _)| plane.is_none_or(|x| x == p.as_str()))
        .map(|(_, g)| graph(plan, g, exported_at))
        .collect()
}

fn graph<'a>(plan: &'a CompiledPlan, g: &'a CompiledGraph, exported_at: &'a str) -> StageGraph<'a> {
    let nodes = g
        .nodes
        .iter()
        .map(|n| Node {
            node_id: &n.node_id,
            plane: &n.plane,
            stage_kind_id: &n.stage_kind_id,
            entrypoint_path: &n.entrypoint_path,
            entrypoint_contract_id: &n.entrypoint_contract_id,
            running_status_marker: &n.running_status_marker,
            required_skill_paths: &n.required_skill_paths,
            attached_skill_additions: &n.attached_skill_paths,
            runner_name: &n.runner_name,
            model_name: n.model_name.as_deref(),
            thinking_level: n.thinking_level.as_deref(),
            model_reasoning_effort: n.model_reasoning_effort.as_deref(),
            timeout_seconds: n.timeout_seconds,
            allowed_result_classes_by_outcome: ClassesByOutcome(
                &n.allowed_result_classes_by_outcome,
            ),
            declared_output_artifacts: &n.declared_output_artifacts,
        })
        .collect();
    let edges = g
        .transitions
        .iter()
        .map(|t| {
            let (target_node_id, terminal_state_id, kind, to) = match &t.target {
                TransitionTarget::Node(n) => (Some(n.as_str()), None, "normal", n.clone()),
                TransitionTarget::Terminal(s) => (
                    None,
                    Some(s.as_str()),
                    "terminal",
                    format!("terminal-{}", slug(s)),
                ),
            };
            Edge {
                edge_id: format!("{}-{}-to-{to}", t.from_node_id, outcome_slug(&t.on_outcome)),
                source_node_id: &t.from_node_id,
                outcome: &t.on_outcome,
                target_node_id,
                terminal_state_id,
                kind,
                priority: 100,
                max_attempts: None,
            }
        })
        .collect();
    let entries = g
        .entries
        .iter()
        .filter_map(|e| {
            let n = g.node(&e.node_id)?;
            Some(Entry {
                entry_key: &e.entry_key,
                node_id: &e.node_id,
                stage_kind_id: &n.stage_kind_id,
                plane: &g.plane,
            })
        })
        .collect();
    let terminal_states = g
        .terminal_states
        .iter()
        .map(|t| Terminal {
            terminal_state_id: &t.terminal_state_id,
            terminal_class: &t.terminal_class,
            writes_status: &t.writes_status,
            emits_artifacts: &t.emits_artifacts,
            ends_plane_run: true,
        })
        .collect();
    StageGraph {
        schema_version: "1.0",
        kind: "compiled_stage_graph",
        compiled_plan_id: &plan.compiled_plan_id,
        mode_id: &plan.mode_id,
        loop_id: &g.loop_id,
        plane: &g.plane,
        nodes,
        edges,
        entries,
        terminal_states,
        source_refs: source_refs(plan),
        exported_at,
    }
}

/// `mode:<id>`, `graph_loop:<loop>` per plane, then
/// `graph_completion_behavior:<loop>` for each loop with one.
fn source_refs(plan: &CompiledPlan) -> Vec<String> {
    let mut refs = vec![format!("mode:{}", plan.mode_id)];
    refs.extend(
        plan.graphs_by_plane
            .values()
            .map(|g| format!("graph_loop:{}", g.loop_id)),
    );
    refs.extend(
        plan.graphs_by_plane
            .values()
            .filter(|g| g.completion_behavior.is_some())
            .map(|g| format!("graph_completion_behavior:{}", g.loop_id)),
    );
    refs
}

fn slug(s: &str) -> String {
    s.to_ascii_lowercase().replace('_', "-")
}

/// The outcome part of the reference's edge ids: a stage's own
/// `<STAGE>_COMPLETE` / `_PASS` / `_NOOP` loses its stage word
/// (`BUILDER_COMPLETE` → `complete`); other outcomes are kept whole.
fn outcome_slug(outcome: &str) -> String {
    match outcome.split_once('_') {
        Some((_, rest)) if !rest.contains('_') && matches!(rest, "COMPLETE" | "PASS" | "NOOP") => {
            slug(rest)
        }
        _ => slug(outcome),
    }
}

#[cfg(test)]
mod tests {
    use super::outcome_slug;

    #[test]
    fn edge_ids_drop_the_stage_word_of_its_own_outcomes() {
        assert_eq!(outcome_slug("BUILDER_COMPLETE"), "complete");
        assert_eq!(outcome_slug("DOUBLECHECK_PASS"), "pass");
        assert_eq!(outcome_slug("ANALYST_NOOP"), "noop");
        assert_eq!(outcome_slug("FIX_NEEDED"), "fix-needed");
        assert_eq!(outcome_slug("NEEDS_PLANNING"), "needs-planning");
        assert_eq!(outcome_slug("BLOCKED"), "blocked");
    }
}
