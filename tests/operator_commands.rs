//! Operator commands the reference has: `planning retry-active`, the plane
//! scope of `retry-active`, `queue repair-lineage`, `--config PATH`,
//! `upgrade --localize-removed-from`; each through the real binary on a
//! temporary workspace.

mod support;

use serde_json::{json, Value};
use std::fs;
use support::harness::{spec, task, Ws};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn snapshot_path(ws: &Ws) -> std::path::PathBuf {
    ws.ma().join("state/runtime_snapshot.json")
}

/// Put `t-1` (execution) and/or `s-1` (planning) in flight as a crashed
/// daemon would leave them: the file in `active/` and an active run.
fn in_flight(ws: &Ws, planes: &[&str]) {
    let mut snap: Value = serde_json::from_slice(&fs::read(snapshot_path(ws)).unwrap()).unwrap();
    for plane in planes {
        let (dir, kind, id, stage) = match *plane {
            "execution" => ("tasks", "task", "t-1", "builder"),
            _ => ("specs", "spec", "s-1", "planner"),
        };
        fs::rename(
            ws.ma().join(format!("{dir}/queue/{id}.md")),
            ws.ma().join(format!("{dir}/active/{id}.md")),
        )
        .unwrap();
        snap["active_runs_by_plane"][plane] = json!({
            "plane": plane, "stage": stage, "node_id": stage, "stage_kind_id": stage,
            "run_id": format!("run-{plane}"), "request_kind": "active_work_item",
            "work_item_kind": kind, "work_item_id": id,
            "closure_target_root_spec_id": null, "closure_target_root_idea_id": null,
            "active_since": "2026-01-01T00:00:00Z", "running_status_marker": "### RUNNING",
        });
    }
    fs::write(snapshot_path(ws), snap.to_string()).unwrap();
}

fn two_planes_in_flight() -> Ws {
    let ws = Ws::new("");
    ws.add("add-task", task("t-1", "2026-01-01T00:00:00Z", json!({})));
    ws.add("add-spec", spec("s-1", "2026-01-01T00:00:00Z", json!({})));
    in_flight(&ws, &["execution", "planning"]);
    ws
}

#[test]
fn retry_active_without_a_scope_refuses_when_two_planes_are_active() {
    let ws = two_planes_in_flight();
    let out = ws.run(&["retry-active"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("applied: false"), "{text}");
    assert!(
        text.contains("detail: multiple active planes; retry-active requires a plane scope"),
        "{text}"
    );
    assert_eq!(ws.items("tasks", "active"), ["t-1"]);
    assert_eq!(ws.items("specs", "active"), ["s-1"]);
}

#[test]
fn retry_active_with_a_plane_requeues_only_that_plane() {
    let ws = two_planes_in_flight();
    let out = ws.run(&["retry-active", "--plane", "execution"]);
    let text = stdout(&out);
    assert!(text.contains("applied: true"), "{text}");
    assert!(text.contains("detail: active task t-1 requeued"), "{text}");
    assert_eq!(ws.items("tasks", "queue"), ["t-1"]);
    assert_eq!(ws.items("specs", "active"), ["s-1"]);
    let snap: Value = serde_json::from_slice(&fs::read(snapshot_path(&ws)).unwrap()).unwrap();
    let planes: Vec<&String> = snap["active_runs_by_plane"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(planes, ["planning"]);
}

#[test]
fn planning_retry_active_requeues_the_planning_item() {
    let ws = two_planes_in_flight();
    let out = ws.run(&["planning", "retry-active", "--reason", "stuck"]);
    let text = stdout(&out);
    assert!(text.contains("applied: true"), "{text}");
    assert!(text.contains("detail: active spec s-1 requeued"), "{text}");
    assert_eq!(ws.items("specs", "queue"), ["s-1"]);
    assert_eq!(ws.items("tasks", "active"), ["t-1"]);
}

#[test]
fn planning_retry_active_refuses_without_planning_work() {
    let ws = Ws::new("");
    ws.add("add-task", task("t-1", "2026-01-01T00:00:00Z", json!({})));
    in_flight(&ws, &["execution"]);
    let out = ws.run(&["planning", "retry-active"]);
    assert!(out.status.success());
    assert_eq!(
        stdout(&out),
        "action: retry_active\nmode: direct\napplied: false\ndetail: planning retry requires active planning work; current active planes are execution\n"
    );
    assert_eq!(ws.items("tasks", "active"), ["t-1"]);
}

#[test]
fn retry_active_with_a_plane_that_is_idle_is_refused() {
    let ws = Ws::new("");
    ws.add("add-task", task("t-1", "2026-01-01T00:00:00Z", json!({})));
    in_flight(&ws, &["execution"]);
    let text = stdout(&ws.run(&["retry-active", "--plane", "learning"]));
    assert!(
        text.contains("detail: learning retry requires matching active plane; current active planes are execution"),
        "{text}"
    );
    assert_eq!(ws.items("tasks", "active"), ["t-1"]);
}
