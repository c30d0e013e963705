//! Lowering: one checked mode, plus the effective config, becomes a
//! [`CompiledPlan`]. Every binding is resolved here (runner, model, thinking,
//! timeout, entrypoint, skills), thresholds are retuned, the worst-case bound
//! is computed, and every item records its `.mill` source location.
//!
//! Binding precedence, lowest first (the reference's): the stage kind's
//! defaults, then `[stages.<node>]` in `millrace.toml`, then the mode.
//! Thresholds: the loop's `after`, then explicit `[recovery]` keys, then the
//! mode's `threshold <counter> N`.

use super::ir::*;
use crate::language::bounds::Graph;
use crate::language::model::{self, Mode, Model, Target};
use crate::language::source::{SourceSet, Span};
use crate::workspace::config::Config;
use std::collections::BTreeMap;

/// The config as lowering needs it: the parsed model and which `[recovery]`
/// keys the file sets explicitly.
#[derive(Debug, Clone, Default)]
pub struct EffectiveConfig {
    pub config: Config,
    pub explicit_recovery: Vec<String>,
    /// The `millrace.toml` text (empty for the defaults), for messages that
    /// name a line.
    pub text: String,
}

pub fn source_loc(sources: &SourceSet, span: Span, name_of: &dyn Fn(usize) -> String) -> SourceLoc {
    let s = sources.line_col(span);
    let e = sources.end_line_col(span);
    SourceLoc {
        file: name_of(span.file),
        line: s.line,
        column: s.column,
        end_line: e.line,
        end_column: e.column,
    }
}

fn target(t: &Target) -> TransitionTarget {
    match t {
        Target::Node(n) => TransitionTarget::Node(n.clone()),
        Target::Terminal(t) => TransitionTarget::Terminal(t.clone()),
    }
}

/// Counter thresholds in force for this mode: config first, then the mode.
pub fn threshold_overrides(mode: &Mode, cfg: &EffectiveConfig) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    let explicit = |key: &str| cfg.explicit_recovery.iter().any(|k| k == key);
    let r = &cfg.config.recovery;
    if explicit("max_fix_cycles") {
        out.insert("fix_cycle_count".to_string(), r.max_fix_cycles);
    }
    if explicit("max_troubleshoot_attempts_before_consult") {
        out.insert(
            "troubleshoot_attempt_count".to_string(),
            r.max_troubleshoot_attempts_before_consult,
        );
    }
    if explicit("max_mechanic_attempts") {
        out.insert(
            "mechanic_attempt_count".to_string(),
            r.max_mechanic_attempts,
        );
    }
    for (k, v) in &mode.threshold_overrides {
        out.insert(k.clone(), *v);
    }
    out
}

/// Lower `mode` (already alias-resolved) into a plan without fingerprints or id.
pub fn lower(
    model: &Model,
    mode: &Mode,
    cfg: &EffectiveConfig,
    sources: &SourceSet,
    name_of: &dyn Fn(usize) -> String,
) -> Result<CompiledPlan, Vec<String>> {
    let loc = |span: Span| source_loc(sources, span, name_of);
    let config = &cfg.config;
    // Config may only tune stages that exist.
    let unknown = super::config_check::unknown_config_stages(model, cfg);
    if !unknown.is_empty() {
        return Err(unknown);
    }
    let overrides = threshold_overrides(mode, cfg);
    let mut graphs = BTreeMap::new();
    for (plane, loop_id) in &mode.loops {
        let l = &model.loops[loop_id];
        let nodes = l
            .nodes
            .iter()
            .map(|n| {
                let kind = &model.stages[&n.kind];
                let ms = mode.stages.get(&n.id);
                let cs = config.stages.get(&n.id);
                let runner = ms
                    .and_then(|s| s.runner.clone())
                    .or_else(|| mode.default_runner.clone())
                    .or_else(|| cs.and_then(|s| s.runner.clone()))
                    .unwrap_or_else(|| config.runners.default_runner.clone());
                let model_name = ms
                    .and_then(|s| s.model.clone())
                    .or_else(|| cs.and_then(|s| s.model.clone()));
                let thinking = ms
                    .and_then(|s| s.thinking.clone())
                    .or_else(|| cs.and_then(|s| s.thinking().map(str::to_string)));
                let timeout = ms
                    .and_then(|s| s.timeout_seconds)
                    .or_else(|| cs.map(|s| s.timeout_seconds))
                    .unwrap_or(model::DEFAULT_TIMEOUT_SECONDS);
                let effort = if runner == "codex_cli" {
                    thinking.clone()
                } else {
                    None
                };
                CompiledNode {
                    node_id: n.id.clone(),
                    plane: plane.clone(),
                    stage_kind_id: kind.id.clone(),
                    entrypoint_path: ms
                        .and_then(|s| s.entrypoint.clone())
                        .unwrap_or_else(|| kind.entrypoint.clone()),
                    entrypoint_contract_id: kind.contract_id.clone(),
                    required_skill_paths: kind.required_skills.clone(),
                    attached_skill_paths: ms.map(|s| s.skills.clone()).unwrap_or_default(),
                    runner_name: runner,
                    model_name,
                    thinking_level: thinking,
                    model_reasoning_effort: effort,
                    timeout_seconds: timeout,
                    running_status_marker: kind.running_marker.clone(),
                    legal_outcomes: kind.outcomes.iter().map(|o| o.marker.clone()).collect(),
                    allowed_result_classes_by_outcome: kind
                        .outcomes
                        .iter()
                        .map(|o| OutcomeClasses {
                            outcome: o.marker.clone(),
                            result_classes: o.classes.clone(),
                        })
                        .collect(),
                    success_outcomes: kind
                        .outcomes
                        .iter()
                        .filter(|o| o.polarity == model::Polarity::Success)
                        .map(|o| o.marker.clone())
                        .collect(),
                    failure_outcomes: kind
                        .outcomes
                        .iter()
                        .filter(|o| o.polarity == model::Polarity::Failure)
                        .map(|o| o.marker.clone())
                        .collect(),
                    idempotence_policy: kind.idempotence.clone(),
                    declared_output_artifacts: kind.outputs.clone(),
                    source: loc(n.span),
                }
            })
            .collect();
        let bound = Graph::new(l, &model.stages, &overrides)
            .worst_case()
            .ok_or_else(|| vec![format!("loop {loop_id} has an unbounded cycle")])?;
        graphs.insert(
            plane.clone(),
            CompiledGraph {
                loop_id: l.id.clone(),
                plane: plane.clone(),
                source: loc(l.span),
                nodes,
                entries: l
                    .entries
                    .iter()
                    .map(|e| CompiledEntry {
                        entry_key: e.key.clone(),
                        node_id: e.node.clone(),
                        source: loc(e.span),
                    })
                    .collect(),
                transitions: l
                    .routes
                    .iter()
                    .map(|r| CompiledTransition {
                        edge_id: format!("{}.{}", r.from, r.outcome),
                        from_node_id: r.from.clone(),
                        on_outcome: r.outcome.clone(),
                        target: target(&r.target),
                        source: loc(r.span),
                    })
                    .collect(),
                terminal_states: l
                    .terminals
                    .iter()
                    .map(|t| CompiledTerminal {
                        terminal_state_id: t.id.clone(),
                        terminal_class: t.class.clone(),
                        writes_status: t.status.clone(),
                        emits_artifacts: t.emits.clone(),
                        source: loc(t.span),
                    })
                    .collect(),
                resume_policies: l
                    .resumes
                    .iter()
                    .map(|r| CompiledResumePolicy {
                        policy_id: r.id.clone(),
                        source_node_id: r.from.clone(),
                        on_outcome: r.outcome.clone(),
                        default_target_node_id: r.default.clone(),
                        metadata_stage_keys: r.metadata_keys.clone(),
                        disallowed_target_node_ids: r.never.clone(),
                        source: loc(r.span),
                    })
                    .collect(),
                threshold_policies: l
                    .thresholds
                    .iter()
                    .map(|t| CompiledThresholdPolicy {
                        policy_id: t.id.clone(),
                        source_node_ids: t.sources.clone(),
                        on_outcome: t.outcome.clone(),
                        counter_name: t.counter.clone(),
                        threshold: *overrides.get(&t.counter).unwrap_or(&t.after),
                        exhausted_target: target(&t.exhausted),
                        source: loc(t.span),
                    })
                    .collect(),
                completion_behavior: l.completion.as_ref().map(|c| CompiledCompletion {
                    trigger: c.trigger.clone(),
                    readiness_rule: c.readiness_rule.clone(),
                    target_node_id: c.target.clone(),
                    request_kind: c.request_kind.clone(),
                    target_selector: c.target_selector.clone(),
                    rubric_policy: c.rubric_policy.clone(),
                    blocked_work_policy: c.blocked_work_policy.clone(),
                    skip_if_already_closed: c.skip_if_already_closed,
                    on_pass_terminal_state_id: c.on_pass.clone(),
                    on_gap_terminal_state_id: c.on_gap.clone(),
                    create_incident_on_gap: c.create_incident_on_gap,
                    source: loc(c.span),
                }),
                stage_run_bound: StageRunBound {
                    per_entry: bound.per_entry.into_iter().collect(),
                    max_stage_runs: bound.max_stage_runs,
                    exact: bound.exact,
                },
            },
        );
    }
    Ok(CompiledPlan {
        schema_version: SCHEMA_VERSION.to_string(),
        kind: "compiled_plan".to_string(),
        compiled_plan_id: String::new(),
        compile_input_fingerprint: CompileInput {
            mode_id: mode.id.clone(),
            config_fingerprint: String::new(),
            assets_fingerprint: String::new(),
        },
        mode_id: mode.id.clone(),
        extends: mode.extends.clone(),
        loop_ids_by_plane: mode.loops.clone(),
        graphs_by_plane: graphs,
        concurrency_policy: mode.concurrency.as_ref().map(|c| ConcurrencyPolicy {
            mutually_exclusive_planes: c
                .mutually_exclusive_planes
                .iter()
                .map(|(a, b)| [a.clone(), b.clone()])
                .collect(),
            may_run_concurrently: c
                .may_run_concurrently
                .iter()
                .map(|(a, b)| [a.clone(), b.clone()])
                .collect(),
        }),
        learning_trigger_rules: mode
            .learning_triggers
            .iter()
            .map(|t| LearningTriggerRule {
                rule_id: t.rule_id.clone(),
                source_plane: t.source_plane.clone(),
                source_stage: t.source_stage.clone(),
                on_terminal_results: t.on_outcomes.clone(),
                target_stage: t.target_stage.clone(),
                requested_action: t.requested_action.clone(),
                target_skill_id: t.target_skill_id.clone(),
                preferred_output_paths: t.preferred_output_paths.clone(),
                source: loc(t.span),
            })
            .collect(),
        resolved_assets: vec![],
    })
}
