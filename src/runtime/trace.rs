//! `runs/<run>/run_trace.json`: the path one run followed. One node per
//! stage execution (request), one edge per routing decision, each edge
//! citing the `.mill` location of the rule that decided it. Rewritten after
//! every stage (atomically; it is a record, not runtime state).

use crate::plan::ir::SourceLoc;
use crate::workspace::clock;
use serde_json::{json, Value};
use std::path::Path;

/// A fresh trace document for a run.
pub fn new_trace(
    run_id: &str,
    run_dir: &Path,
    plan_id: &str,
    mode_id: &str,
    request_kind: &str,
    work: Option<(&str, &str)>,
) -> Value {
    json!({
        "schema_version": "1.0",
        "kind": "run_trace_graph",
        "run_id": run_id,
        "run_dir": run_dir.display().to_string(),
        "compiled_plan_id": plan_id,
        "mode_id": mode_id,
        "request_kind": request_kind,
        "work_item_kind": work.map(|w| w.0),
        "work_item_id": work.map(|w| w.1),
        "closure_target_root_spec_id": Value::Null,
        "status": "running",
        "started_at": Value::Null,
        "completed_at": Value::Null,
        "duration_seconds": Value::Null,
        "nodes": [],
        "edges": [],
        "notes": [],
        "generated_at": clock::now_rfc3339(),
    })
}

/// Load a run's trace, or `None` when absent or unreadable.
pub fn load(run_dir: &Path) -> Option<Value> {
    use crate::workspace::safe_fs;
    let path = run_dir.join("run_trace.json");
    let text = safe_fs::read_to_string_capped(&path, safe_fs::MAX_STATE_BYTES).ok()?;
    serde_json::from_str(&text).ok()
}

/// Rewrite the trace in place (no new file per stage). A reader racing a
/// write can see a torn document; `load` then returns `None` and readers
/// retry (see `cli::runs`).
pub fn save(run_dir: &Path, trace: &Value) -> std::io::Result<()> {
    let mut text = serde_json::to_string_pretty(trace).expect("trace serializes");
    text.push('\n');
    crate::workspace::atomic::overwrite_in_place(&run_dir.join("run_trace.json"), text.as_bytes())
}

/// Append the node for one stage execution.
pub fn add_node(trace: &mut Value, stage_result: &Value, result_path_rel: &str) {
    let m = &stage_result["metadata"];
    let node = json!({
        "trace_node_id": m["request_id"],
        "run_id": stage_result["run_id"],
        "request_id": m["request_id"],
        "plane": stage_result["plane"],
        "stage": stage_result["stage"],
        "node_id": stage_result["node_id"],
        "stage_kind_id": stage_result["stage_kind_id"],
        "compiled_plan_id": m["compiled_plan_id"],
        "mode_id": m["mode_id"],
        "request_kind": m["request_kind"],
        "work_item_kind": stage_result["work_item_kind"],
        "work_item_id": stage_result["work_item_id"],
        "closure_target_root_spec_id": m["closure_target_root_spec_id"],
        "terminal_result": stage_result["terminal_result"],
        "result_class": stage_result["result_class"],
        "failure_class": m["failure_class"],
        "runner_name": stage_result["runner_name"],
        "model_name": stage_result["model_name"],
        "thinking_level": stage_result["thinking_level"],
        "model_reasoning_effort": stage_result["model_reasoning_effort"],
        "started_at": stage_result["started_at"],
        "completed_at": stage_result["completed_at"],
        "duration_seconds": stage_result["duration_seconds"],
        "token_usage": stage_result["token_usage"],
        "artifacts": [{"path": result_path_rel, "kind": "stage_result", "size_bytes": Value::Null, "sha256": Value::Null}],
    });
    if trace["started_at"].is_null() {
        trace["started_at"] = stage_result["started_at"].clone();
    }
    trace["completed_at"] = stage_result["completed_at"].clone();
    if let Some(nodes) = trace["nodes"].as_array_mut() {
        nodes.push(node);
    }
}

/// Append the routing decision that followed a stage, and link the previous edge's target.
#[allow(clippy::too_many_arguments)]
pub fn add_edge(
    trace: &mut Value,
    request_id: &str,
    outcome: &str,
    edge_kind: &str,
    target_node: Option<&str>,
    terminal: Option<&str>,
    reason: &str,
    via: &str,
    source: &SourceLoc,
    spawned: Vec<String>,
) {
    // The previous edge that pointed at a node now knows which request ran it.
    if let Some(edges) = trace["edges"].as_array_mut() {
        if let Some(last) = edges.last_mut() {
            if last["target_trace_node_id"].is_null() && !last["target_node_id"].is_null() {
                last["target_trace_node_id"] = json!(request_id);
            }
        }
    }
    let target = target_node
        .map(str::to_string)
        .unwrap_or_else(|| format!("terminal:{}", terminal.unwrap_or("")));
    let edge = json!({
        "trace_edge_id": format!("{request_id}--{outcome}--{target}"),
        "source_trace_node_id": request_id,
        "outcome": outcome,
        "edge_kind": edge_kind,
        "target_node_id": target_node,
        "target_trace_node_id": Value::Null,
        "terminal_state_id": terminal,
        "spawned_work": spawned,
        "decision_reason": reason,
        "decided_via": via,
        "decided_by": source,
        "decided_at": clock::now_rfc3339(),
    });
    if let Some(edges) = trace["edges"].as_array_mut() {
        edges.push(edge);
    }
}

/// Mark the run finished with a status (`complete`, `blocked`, `handoff`).
pub fn finish(trace: &mut Value, status: &str) {
    trace["status"] = json!(status);
    trace["generated_at"] = json!(clock::now_rfc3339());
    let secs = |v: &Value| v.as_str().and_then(crate::workspace::clock::parse_seconds);
    if let (Some(a), Some(b)) = (secs(&trace["started_at"]), secs(&trace["completed_at"])) {
        trace["duration_seconds"] = json!(((b - a) * 1e6).round() / 1e6);
    }
}
