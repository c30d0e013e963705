//! `runs/<run>/run_trace.json`: the path one run followed. One node per
//! stage execution (request), one edge per routing decision. Rewritten after
//! every stage (atomically; it is a record, not runtime state).
//!
//! The file is the reference's run-trace schema exactly (its strict model
//! lists any other key as malformed). Our provenance of each edge, how it
//! was decided (`decided_via`) and the `.mill` location of the rule that
//! decided it (`decided_by`), is kept beside it in
//! `runs/<run>/trace_provenance.json`, keyed by `trace_edge_id`; `load`
//! merges it back, so in memory an edge carries both.

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
        "status": "active",
        "started_at": Value::Null,
        "completed_at": Value::Null,
        "duration_seconds": Value::Null,
        "nodes": [],
        "edges": [],
        "notes": [],
        "generated_at": clock::now_rfc3339(),
    })
}

/// The provenance file beside `run_trace.json` (ours).
pub const PROVENANCE_FILE: &str = "trace_provenance.json";

/// Edge keys that are ours, kept in the provenance file.
const OUR_EDGE_KEYS: [&str; 2] = ["decided_via", "decided_by"];

/// Load a run's trace, or `None` when absent or unreadable.
pub fn load(run_dir: &Path) -> Option<Value> {
    use crate::workspace::safe_fs;
    let path = run_dir.join("run_trace.json");
    let text = safe_fs::read_to_string_capped(&path, safe_fs::MAX_STATE_BYTES).ok()?;
    let mut trace = serde_json::from_str(&text).ok()?;
    merge_provenance(run_dir, &mut trace);
    Some(trace)
}

/// Put the provenance recorded beside the trace back on its edges (a
/// missing or unreadable file, as for a run of the reference, adds nothing).
pub fn merge_provenance(run_dir: &Path, trace: &mut Value) {
    use crate::workspace::safe_fs;
    let path = run_dir.join(PROVENANCE_FILE);
    let Some(prov) = safe_fs::read_to_string_capped(&path, safe_fs::MAX_STATE_BYTES)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
    else {
        return;
    };
    let Some(edges) = trace["edges"].as_array_mut() else {
        return;
    };
    for edge in edges {
        let Some(id) = edge["trace_edge_id"].as_str() else {
            continue;
        };
        let p = &prov["edges"][id];
        for key in OUR_EDGE_KEYS {
            if !p[key].is_null() {
                edge[key] = p[key].clone();
            }
        }
    }
}

/// Rewrite the trace in place (no new file per stage): the provenance file
/// first, then `run_trace.json` without our keys. A reader racing a write
/// can see a torn document; `load` then returns `None` and readers retry
/// (see `cli::runs`).
pub fn save(run_dir: &Path, trace: &Value) -> std::io::Result<()> {
    let mut prov = serde_json::Map::new();
    for edge in trace["edges"].as_array().into_iter().flatten() {
        let Some(id) = edge.get("trace_edge_id").and_then(Value::as_str) else {
            continue;
        };
        let ours: serde_json::Map<String, Value> = OUR_EDGE_KEYS
            .iter()
            .filter_map(|k| Some((k.to_string(), edge.get(*k)?.clone())))
            .collect();
        prov.insert(id.to_string(), Value::Object(ours));
    }
    let doc = json!({"schema_version": "1.0", "kind": "run_trace_provenance", "edges": prov});
    let mut text = serde_json::to_string_pretty(&doc).expect("provenance serializes");
    text.push('\n');
    crate::workspace::atomic::overwrite_in_place(&run_dir.join(PROVENANCE_FILE), text.as_bytes())?;
    let mut text = serde_json::to_string_pretty(&Shared(trace)).expect("trace serializes");
    text.push('\n');
    crate::workspace::atomic::overwrite_in_place(&run_dir.join("run_trace.json"), text.as_bytes())
}

/// The trace as the reference's schema has it: each edge without our keys
/// (serialized from the trace in memory, without copying it).
struct Shared<'a>(&'a Value);

impl serde::Serialize for Shared<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        let Some(obj) = self.0.as_object() else {
            return self.0.serialize(s);
        };
        let mut map = s.serialize_map(Some(obj.len()))?;
        for (k, v) in obj {
            match v.as_array() {
                Some(edges) if k == "edges" => {
                    struct Edges<'a>(&'a [Value]);
                    impl serde::Serialize for Edges<'_> {
                        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                            let mut seq = s.serialize_seq(Some(self.0.len()))?;
                            for e in self.0 {
                                seq.serialize_element(&Edge(e))?;
                            }
                            seq.end()
                        }
                    }
                    map.serialize_entry(k, &Edges(edges))?;
                }
                _ => map.serialize_entry(k, v)?,
            }
        }
        map.end()
    }
}

/// One edge without our keys.
struct Edge<'a>(&'a Value);

impl serde::Serialize for Edge<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Some(obj) = self.0.as_object() else {
            return self.0.serialize(s);
        };
        let mut map = s.serialize_map(None)?;
        for (k, v) in obj
            .iter()
            .filter(|(k, _)| !OUR_EDGE_KEYS.contains(&k.as_str()))
        {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Append the node for one stage execution.
pub fn add_node(trace: &mut Value, stage_result: &Value, result_path_rel: &str) {
    let m = &stage_result["metadata"];
    let mut node = json!({
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
    // The report the stage wrote (always inside the run directory), named
    // relative to it as the reference's trace names its artifacts.
    let run_prefix = format!("/{}/", stage_result["run_id"].as_str().unwrap_or_default());
    let report = stage_result["report_artifact"].as_str().and_then(|p| {
        p.rsplit_once(run_prefix.as_str())
            .map(|(_, rel)| rel.to_string())
    });
    if let (Some(rel), Some(artifacts)) = (report, node["artifacts"].as_array_mut()) {
        artifacts.push(json!({"path": rel, "kind": "report", "size_bytes": Value::Null, "sha256": Value::Null}));
    }
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
        "spawned_work": spawned.iter().map(|id| json!({
            "kind": "learning_request",
            "item_id": id,
            "path": format!("millrace-agents/learning/requests/queue/{id}.md"),
            "reason": "learning_trigger",
            "source_stage_node_id": Value::Null,
            "source_terminal_result": outcome,
        })).collect::<Vec<_>>(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provenance_is_kept_beside_the_trace_and_merged_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut trace = new_trace(
            "run-1",
            dir.path(),
            "plan",
            "mode",
            "active_work_item",
            None,
        );
        let source = SourceLoc {
            file: "mill/stdlib/loops/execution.mill".into(),
            line: 14,
            column: 5,
            end_line: 14,
            end_column: 30,
        };
        add_edge(
            &mut trace,
            "req-1",
            "BUILDER_COMPLETE",
            "normal",
            Some("checker"),
            None,
            "route",
            "route",
            &source,
            vec!["lr-1".into()],
        );
        save(dir.path(), &trace).unwrap();
        let stored: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("run_trace.json")).unwrap())
                .unwrap();
        let edge = &stored["edges"][0];
        assert!(
            edge.get("decided_by").is_none() && edge.get("decided_via").is_none(),
            "{edge}"
        );
        assert_eq!(stored["status"], "active");
        assert_eq!(edge["spawned_work"][0]["kind"], "learning_request");
        assert_eq!(edge["spawned_work"][0]["item_id"], "lr-1");
        let loaded = load(dir.path()).unwrap();
        assert_eq!(loaded["edges"][0]["decided_by"]["line"], 14);
        assert_eq!(loaded["edges"][0]["decided_via"], "route");
    }
}
