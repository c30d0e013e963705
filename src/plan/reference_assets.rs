//! The workflow assets the reference reads, generated from our shipped
//! `.mill` model: `registry/stage_kinds/<plane>/<stage>.json` (one per stage
//! kind), `graphs/<plane>/<name>.json` and `loops/<plane>/default.json` (one
//! per loop), and `modes/<mode>.json` (one per mode whose runners the
//! reference knows). The reference compiles its plan, and its `doctor`
//! checks a workspace, from these files; we never read them (our plan comes
//! from `mill/`). Deployed as managed files by `init` and `run`
//! (`workspace::layout::deployed_assets`), so a workspace either
//! implementation initialized runs under the other.
//!
//! Derived, not copied: every value comes from the checked model, in the
//! reference's schema (its strict models reject unknown keys). What the
//! reference's schema cannot say (our modes' threshold overrides, bounds on
//! counters it keeps in code, the `demo` mode's `script` runner) is left out.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::language::model::{Loop, Mode, Model, StageKind, Target};

/// Runners the reference knows; a mode that uses another is not exported.
const REFERENCE_RUNNERS: [&str; 2] = ["codex_cli", "pi_rpc"];

/// The counters a reference threshold policy may name. Our other bounds
/// (`troubleshoot_resume_count`, `consult_count`) are limits the reference
/// keeps in its runtime code, not in its graph files: they are left out.
const REFERENCE_COUNTERS: [&str; 3] = [
    "fix_cycle_count",
    "troubleshoot_attempt_count",
    "mechanic_attempt_count",
];

/// Every generated file, as (path relative to `millrace-agents/`, bytes).
pub fn files(model: &Model) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut put = |path: String, v: Value| {
        let mut text = serde_json::to_string_pretty(&v).expect("asset serializes");
        text.push('\n');
        out.push((path, text.into_bytes()));
    };
    for s in model.stages.values() {
        put(
            format!("registry/stage_kinds/{}/{}.json", s.plane, s.id),
            stage_kind(s),
        );
    }
    for l in model.loops.values() {
        let name = l.id.split_once('.').map_or(l.id.as_str(), |(_, n)| n);
        put(format!("graphs/{}/{name}.json", l.plane), graph(l));
        if name == "standard" {
            put(format!("loops/{}/default.json", l.plane), loop_config(l));
        }
    }
    for m in model.modes.values() {
        if let Some(v) = mode(m, model) {
            put(format!("modes/{}.json", m.id), v);
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn stage_kind(s: &StageKind) -> Value {
    let pick = |want: crate::language::model::Polarity| -> Vec<&str> {
        s.outcomes
            .iter()
            .filter(|o| o.polarity == want)
            .map(|o| o.marker.as_str())
            .collect()
    };
    let classes: serde_json::Map<String, Value> = s
        .outcomes
        .iter()
        .map(|o| (o.marker.clone(), json!(o.classes)))
        .collect();
    let starts = |what: &str| s.starts.iter().any(|x| x == what);
    let mut v = json!({
        "schema_version": "1.0",
        "kind": "registered_stage_kind",
        "stage_kind_id": s.id,
        "plane": s.plane,
        "display_name": s.display_name,
        "default_entrypoint_path": s.entrypoint,
        "required_skill_paths": s.required_skills,
        "suggested_skill_paths": s.suggested_skills,
        "running_status_marker": s.running_marker,
        "legal_outcomes": s.markers(),
        "success_outcomes": pick(crate::language::model::Polarity::Success),
        "failure_outcomes": pick(crate::language::model::Polarity::Failure),
        "allowed_result_classes_by_outcome": classes,
        "allowed_input_artifacts": s.inputs,
        "declared_output_artifacts": s.outputs,
        "idempotence_policy": s.idempotence,
        "allowed_overrides": s.overrides,
        "can_start_tasks": starts("tasks"),
        "can_start_specs": starts("specs"),
        "can_start_incidents": starts("incidents"),
        "recovery_role": s.recovery_role,
        "closure_role": s.closure,
    });
    if s.plane == "learning" {
        v["can_start_learning_requests"] = json!(starts("learning_requests"));
    }
    v
}

/// `planner.BLOCKED` → a readable edge id, unique within the loop.
fn edge_id(from: &str, outcome: &str, target: &Target) -> String {
    let to = match target {
        Target::Node(n) => n.clone(),
        Target::Terminal(t) => format!("terminal-{}", t.replace('_', "-")),
    };
    format!(
        "{from}-{}-to-{to}",
        outcome.to_ascii_lowercase().replace('_', "-")
    )
}

fn graph(l: &Loop) -> Value {
    let edges: Vec<Value> = l
        .routes
        .iter()
        .map(|r| {
            let id = edge_id(&r.from, &r.outcome, &r.target);
            match &r.target {
                Target::Node(n) => json!({
                    "edge_id": id, "from_node_id": r.from, "to_node_id": n,
                    "on_outcomes": [r.outcome],
                }),
                Target::Terminal(t) => json!({
                    "edge_id": id, "from_node_id": r.from, "terminal_state_id": t,
                    "on_outcomes": [r.outcome], "kind": "terminal",
                }),
            }
        })
        .collect();
    let thresholds: Vec<Value> = l
        .thresholds
        .iter()
        .filter(|t| REFERENCE_COUNTERS.contains(&t.counter.as_str()))
        .map(|t| {
            let mut v = json!({
                "policy_id": t.id,
                "source_node_ids": t.sources,
                "on_outcome": t.outcome,
                "counter_name": t.counter,
                "threshold": t.after,
            });
            match &t.exhausted {
                Target::Node(n) => v["exhausted_target_node_id"] = json!(n),
                Target::Terminal(x) => v["exhausted_terminal_state_id"] = json!(x),
            }
            v
        })
        .collect();
    let resumes: Vec<Value> = l
        .resumes
        .iter()
        .map(|r| {
            json!({
                "policy_id": r.id,
                "source_node_id": r.from,
                "on_outcome": r.outcome,
                "default_target_node_id": r.default,
                "metadata_stage_keys": r.metadata_keys,
                "disallowed_target_node_ids": r.never,
            })
        })
        .collect();
    let mut v = json!({
        "schema_version": "1.0",
        "kind": "graph_loop",
        "loop_id": l.id,
        "plane": l.plane,
        "nodes": l.nodes.iter().map(|n| json!({"node_id": n.id, "stage_kind_id": n.kind})).collect::<Vec<_>>(),
        "entry_nodes": l.entries.iter().map(|e| json!({"entry_key": e.key, "node_id": e.node})).collect::<Vec<_>>(),
        "edges": edges,
        "terminal_states": l.terminals.iter().map(|t| json!({
            "terminal_state_id": t.id,
            "terminal_class": t.class,
            "writes_status": t.status,
            "emits_artifacts": t.emits,
        })).collect::<Vec<_>>(),
    });
    if !(resumes.is_empty() && thresholds.is_empty()) {
        v["dynamic_policies"] =
            json!({"resume_policies": resumes, "threshold_policies": thresholds});
    }
    if let Some(c) = &l.completion {
        v["completion_behavior"] = json!({
            "trigger": c.trigger,
            "readiness_rule": c.readiness_rule,
            "target_node_id": c.target,
            "request_kind": c.request_kind,
            "target_selector": c.target_selector,
            "rubric_policy": c.rubric_policy,
            "blocked_work_policy": c.blocked_work_policy,
            "skip_if_already_closed": c.skip_if_already_closed,
            "on_pass_terminal_state_id": c.on_pass,
            "on_gap_terminal_state_id": c.on_gap,
            "create_incident_on_gap": c.create_incident_on_gap,
        });
    }
    v
}

/// The stage-level view of a loop (the reference's older loop schema).
fn loop_config(l: &Loop) -> Value {
    let status = |t: &str| l.terminal(t).map(|t| t.status.clone()).unwrap_or_default();
    let edges: Vec<Value> = l
        .routes
        .iter()
        .map(|r| match &r.target {
            Target::Node(n) => json!({
                "source_stage": r.from, "on_terminal_result": r.outcome, "target_stage": n,
            }),
            Target::Terminal(t) => json!({
                "source_stage": r.from, "on_terminal_result": r.outcome,
                "terminal_result": status(t), "edge_kind": "terminal",
            }),
        })
        .collect();
    let mut results: Vec<String> = Vec::new();
    for t in &l.terminals {
        if !results.contains(&t.status) {
            results.push(t.status.clone());
        }
    }
    let entry = l
        .entries
        .first()
        .map(|e| e.node.clone())
        .unwrap_or_default();
    let mut v = json!({
        "schema_version": "1.0",
        "kind": "loop_config",
        "loop_id": l.id,
        "plane": l.plane,
        "stages": l.nodes.iter().map(|n| n.id.clone()).collect::<Vec<_>>(),
        "entry_stage": entry,
        "edges": edges,
        "terminal_results": results,
    });
    if let Some(c) = &l.completion {
        v["completion_behavior"] = json!({
            "trigger": c.trigger,
            "readiness_rule": c.readiness_rule,
            "stage": c.target,
            "request_kind": c.request_kind,
            "target_selector": c.target_selector,
            "rubric_policy": c.rubric_policy,
            "blocked_work_policy": c.blocked_work_policy,
            "skip_if_already_closed": c.skip_if_already_closed,
            "on_pass_terminal_result": status(&c.on_pass),
            "on_gap_terminal_result": status(&c.on_gap),
            "create_incident_on_gap": c.create_incident_on_gap,
        });
    }
    v
}

/// A mode in the reference's schema, or `None` when one of its stages runs
/// on a runner the reference does not have.
fn mode(m: &Mode, model: &Model) -> Option<Value> {
    let mut runners = BTreeMap::new();
    let mut models = BTreeMap::new();
    let mut thinking = BTreeMap::new();
    let mut entrypoints = BTreeMap::new();
    let mut skills = BTreeMap::new();
    let mut stage_order: Vec<String> = Vec::new();
    for loop_id in m.loops.values() {
        for n in &model.loops.get(loop_id)?.nodes {
            stage_order.push(n.id.clone());
        }
    }
    for stage in &stage_order {
        let settings = m.stages.get(stage);
        let runner = settings
            .and_then(|s| s.runner.clone())
            .or_else(|| m.default_runner.clone());
        if let Some(r) = runner {
            if !REFERENCE_RUNNERS.contains(&r.as_str()) {
                return None;
            }
            runners.insert(stage.clone(), r);
        }
        let Some(s) = settings else { continue };
        if let Some(x) = &s.model {
            models.insert(stage.clone(), json!(x));
        }
        if let Some(x) = &s.thinking {
            thinking.insert(stage.clone(), json!(x));
        }
        if let Some(x) = &s.entrypoint {
            entrypoints.insert(stage.clone(), json!(x));
        }
        if !s.skills.is_empty() {
            skills.insert(stage.clone(), json!(s.skills));
        }
    }
    // Keep the plane order of the loops' stages for the runner map.
    let runner_map: serde_json::Map<String, Value> = stage_order
        .iter()
        .filter_map(|s| runners.get(s).map(|r| (s.clone(), json!(r))))
        .collect();
    let mut v = json!({
        "schema_version": "1.0",
        "kind": "mode",
        "mode_id": m.id,
        "loop_ids_by_plane": m.loops,
        "stage_entrypoint_overrides": entrypoints,
        "stage_skill_additions": skills,
        "stage_model_bindings": models,
        "stage_runner_bindings": runner_map,
    });
    if !thinking.is_empty() {
        v["stage_thinking_bindings"] = json!(thinking);
    }
    if let Some(c) = &m.concurrency {
        let pairs = |p: &[(String, String)]| -> Vec<[String; 2]> {
            p.iter().map(|(a, b)| [a.clone(), b.clone()]).collect()
        };
        v["concurrency_policy"] = json!({
            "mutually_exclusive_planes": pairs(&c.mutually_exclusive_planes),
            "may_run_concurrently": pairs(&c.may_run_concurrently),
        });
    }
    if !m.learning_triggers.is_empty() {
        v["learning_trigger_rules"] = m
            .learning_triggers
            .iter()
            .map(|t| {
                let mut rule = json!({
                    "rule_id": t.rule_id,
                    "source_plane": t.source_plane,
                    "source_stage": t.source_stage,
                    "on_terminal_results": t.on_outcomes,
                    "target_stage": t.target_stage,
                    "requested_action": t.requested_action,
                });
                // Written only when set, as the reference's own mode files do.
                if let Some(skill) = &t.target_skill_id {
                    rule["target_skill_id"] = json!(skill);
                }
                if !t.preferred_output_paths.is_empty() {
                    rule["preferred_output_paths"] = json!(t.preferred_output_paths);
                }
                rule
            })
            .collect();
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_stage_loop_and_reference_mode_is_exported() {
        let (_, checked) = crate::language::check_shipped();
        let files = files(&checked.model);
        let names: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
        for want in [
            "registry/stage_kinds/execution/builder.json",
            "registry/stage_kinds/planning/arbiter.json",
            "graphs/planning/standard.json",
            "loops/execution/default.json",
            "modes/default_codex.json",
            "modes/learning_pi.json",
        ] {
            assert!(names.contains(&want), "{want} not in {names:?}");
        }
        assert_eq!(
            names.iter().filter(|n| n.starts_with("registry/")).count(),
            15
        );
        // The demo mode runs on our `script` runner, which the reference lacks.
        assert!(!names.contains(&"modes/demo.json"));
        let builder: Value = serde_json::from_slice(
            &files
                .iter()
                .find(|(p, _)| p.ends_with("builder.json"))
                .unwrap()
                .1,
        )
        .unwrap();
        assert_eq!(builder["can_start_tasks"], true);
        assert_eq!(builder["success_outcomes"], json!(["BUILDER_COMPLETE"]));
    }
}
