//! Operator commands the reference has: `planning retry-active`, the plane
//! scope of `retry-active`, `queue repair-lineage`, `--config PATH`,
//! `upgrade --localize-removed-from`; each through the real binary on a
//! temporary workspace.

mod support;
use support::cli::assert_has;

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

/// A task whose execution stage is in flight, nothing in planning.
fn task_in_flight() -> Ws {
    let ws = Ws::new("");
    ws.add("add-task", task("t-1", "2026-01-01T00:00:00Z", json!({})));
    in_flight(&ws, &["execution"]);
    ws
}

#[test]
fn retry_active_without_a_scope_refuses_when_two_planes_are_active() {
    let ws = two_planes_in_flight();
    let out = ws.run(&["retry-active"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert_has(
        &text,
        &[
            "applied: false",
            "detail: multiple active planes; retry-active requires a plane scope",
        ],
    );
    assert_eq!(ws.items("tasks", "active"), ["t-1"]);
    assert_eq!(ws.items("specs", "active"), ["s-1"]);
}

#[test]
fn retry_active_with_a_plane_requeues_only_that_plane() {
    let ws = two_planes_in_flight();
    let out = ws.run(&["retry-active", "--plane", "execution"]);
    let text = stdout(&out);
    assert_has(
        &text,
        &["applied: true", "detail: active task t-1 requeued"],
    );
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
    assert_has(
        &text,
        &["applied: true", "detail: active spec s-1 requeued"],
    );
    assert_eq!(ws.items("specs", "queue"), ["s-1"]);
    assert_eq!(ws.items("tasks", "active"), ["t-1"]);
}

#[test]
fn planning_retry_active_refuses_without_planning_work() {
    let ws = task_in_flight();
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
    let ws = task_in_flight();
    let text = stdout(&ws.run(&["retry-active", "--plane", "learning"]));
    assert!(
        text.contains("detail: learning retry requires matching active plane; current active planes are execution"),
        "{text}"
    );
    assert_eq!(ws.items("tasks", "active"), ["t-1"]);
}

/// An open closure target for root spec `spec-a` of idea `idea-a`, and a
/// queued task of that idea filed under `spec-x`.
fn drifted() -> Ws {
    let ws = Ws::new("");
    let targets = ws.ma().join("arbiter/targets");
    fs::create_dir_all(&targets).unwrap();
    fs::write(
        targets.join("spec-a.json"),
        json!({
            "schema_version": "1.0", "kind": "closure_target_state",
            "root_spec_id": "spec-a", "root_idea_id": "idea-a",
            "root_spec_path": "millrace-agents/arbiter/contracts/root-specs/spec-a.md",
            "root_idea_path": null,
            "rubric_path": "millrace-agents/arbiter/rubrics/spec-a.md",
            "latest_verdict_path": null, "latest_report_path": null,
            "closure_open": true, "closure_blocked_by_lineage_work": false,
            "blocking_work_ids": [], "opened_at": "2026-01-01T00:00:00Z",
            "closed_at": null, "last_arbiter_run_id": null,
        })
        .to_string(),
    )
    .unwrap();
    ws.add(
        "add-task",
        task(
            "t-drift",
            "2026-01-01T00:00:00Z",
            json!({"root_idea_id": "idea-a", "spec_id": "spec-x"}),
        ),
    );
    ws
}

#[test]
fn doctor_reports_closure_lineage_drift() {
    let ws = drifted();
    let out = ws.run(&["doctor"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("error: closure_lineage_drift ")
            && text
                .contains("tasks/queue/t-drift.md task t-drift has root spec-x; expected spec-a"),
        "{text}"
    );
}

#[test]
fn repair_lineage_previews_then_applies() {
    let ws = drifted();
    let doc = ws.ma().join("tasks/queue/t-drift.md");
    let before = fs::read_to_string(&doc).unwrap();
    let out = ws.run(&["queue", "repair-lineage", "--root-spec-id", "spec-a"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    for line in [
        "root_spec_id: spec-a",
        "apply: false",
        "repair_count: 1",
        "change_count: 2",
        "repaired_count: 0",
        "skipped_count: 0",
        "change: task t-drift root_spec_id spec-x -> spec-a",
        "change: task t-drift spec_id spec-x -> spec-a",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
    }
    assert_eq!(fs::read_to_string(&doc).unwrap(), before);

    let out = ws.run(&[
        "queue",
        "repair-lineage",
        "--root-spec-id",
        "spec-a",
        "--apply",
    ]);
    let text = stdout(&out);
    assert!(text.contains("repaired_count: 1"), "{text}");
    let after = fs::read_to_string(&doc).unwrap();
    assert_has(&after, &["Root-Spec-ID: spec-a", "Spec-ID: spec-a"]);
    let report = text
        .lines()
        .find_map(|l| l.strip_prefix("repair_report: "))
        .unwrap();
    let report: Value = serde_json::from_slice(&fs::read(report).unwrap()).unwrap();
    assert_eq!(report["applied"], true);
    assert_eq!(report["kind"], "closure_lineage_repair_plan");
    assert!(ws
        .events()
        .iter()
        .any(|e| e["event_type"] == "closure_lineage_repaired"));
    assert!(!stdout(&ws.run(&["doctor"])).contains("closure_lineage_drift"));
}

#[test]
fn repair_lineage_without_a_target_fails() {
    let ws = Ws::new("");
    let out = ws.run(&["queue", "repair-lineage", "--root-spec-id", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("failed to load closure target"));
    let out = ws.run(&["queue", "repair-lineage", "--root-spec-id", "../x"]);
    assert_eq!(out.status.code(), Some(1));
}

/// A copy of the workspace's config with the checker on another model,
/// outside the workspace.
fn alternate_config(ws: &Ws) -> std::path::PathBuf {
    let mut text = fs::read_to_string(ws.ma().join("millrace.toml")).unwrap();
    text.push_str("\n[stages.checker]\nmodel = \"alt-model\"\n");
    let path = ws.root.parent().unwrap().join("alt.toml");
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn config_path_is_used_by_compile_config_and_run() {
    let ws = Ws::new("");
    let alt = alternate_config(&ws);
    let alt = alt.to_str().unwrap();

    let show = stdout(&ws.run(&["compile", "show", "--config", alt]));
    assert!(show.contains("stage: execution.checker\n"), "{show}");
    let checker = show.split("stage: execution.checker\n").nth(1).unwrap();
    assert!(checker.contains("model_name: alt-model"), "{show}");
    // The persisted plan was compiled with it: current with it, stale without.
    let with = stdout(&ws.run(&["compile", "show", "--config", alt]));
    assert_has(&with, &["compiled_plan_currentness: current"]);
    let plain = stdout(&ws.run(&["config", "show", "--json"]));
    let alt_json = stdout(&ws.run(&["config", "show", "--json", "--config", alt]));
    assert_ne!(plain, alt_json);
    assert!(alt_json.contains("alt-model"), "{alt_json}");

    ws.add("add-task", task("t-1", "2026-01-01T00:00:00Z", json!({})));
    ws.run_ok(&["run", "daemon", "--until-idle", "--config", alt]);
    let snap: Value = serde_json::from_slice(&fs::read(snapshot_path(&ws)).unwrap()).unwrap();
    let plan: Value =
        serde_json::from_slice(&fs::read(ws.ma().join("state/compiled_plan.json")).unwrap())
            .unwrap();
    assert_eq!(snap["compiled_plan_id"], plan["compiled_plan_id"]);
    let checker = plan["graphs_by_plane"]["execution"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node_id"] == "checker")
        .unwrap();
    assert_eq!(checker["model_name"], "alt-model");
}

#[test]
fn a_config_path_that_is_not_a_file_is_refused() {
    let ws = Ws::new("");
    for args in [
        &["compile", "validate", "--config", "/nonexistent/x.toml"][..],
        &["config", "show", "--config", "/nonexistent/x.toml"][..],
        &["run", "once", "--config", "/nonexistent/x.toml"][..],
    ] {
        let out = ws.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--config /nonexistent/x.toml"),
            "{args:?}"
        );
    }
}

/// A `millrace.toml` that fails a check is one line naming the file, the
/// line and the key, `invalid_config` with exit 1, whichever command reads it.
#[test]
fn a_bad_config_is_invalid_config_naming_its_line_everywhere() {
    let ws = Ws::new("");
    fs::write(
        ws.ma().join("millrace.toml"),
        "[runtime]\nevent_log_keep = 0\n",
    )
    .unwrap();
    let expected = "millrace.toml: line 2: `runtime.event_log_keep` must be between 1 and 1000";
    for args in [
        &["config", "show"][..],
        &["config", "validate"][..],
        &["run", "once"][..],
    ] {
        let out = ws.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(all.contains(expected), "{args:?}: {all}");
    }
    let out = ws.run(&["config", "show", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let err: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["error"]["kind"], "invalid_config");
    assert_eq!(err["error"]["code"], 1);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with(expected),
        "{err}"
    );
    // `doctor` names the file once per finding: in the finding's path,
    // not again at the start of its message.
    let out = ws.run(&["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let config = ws.ma().join("millrace.toml").display().to_string();
    let findings: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("runtime_config_invalid") || l.contains("resolved_mode_invalid"))
        .collect();
    assert!(!findings.is_empty(), "{text}");
    for line in findings {
        assert_eq!(line.matches(config.as_str()).count(), 1, "{line}");
        assert!(line.contains("line 2: `runtime.event_log_keep`"), "{line}");
    }
}

#[test]
fn the_runtime_holds_a_target_with_drifted_lineage_and_writes_a_diagnostic() {
    let ws = drifted();
    fs::rename(
        ws.ma().join("tasks/queue/t-drift.md"),
        ws.ma().join("tasks/blocked/t-drift.md"),
    )
    .unwrap();
    ws.run_until_idle();
    assert!(
        !ws.claim_order().iter().any(|c| c.starts_with("arbiter")),
        "{:?}",
        ws.claim_order()
    );
    let diagnostic: Value = serde_json::from_slice(
        &fs::read(
            ws.ma()
                .join("arbiter/diagnostics/lineage-drift/spec-a.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(diagnostic["kind"], "closure_lineage_drift_diagnostic");
    assert_eq!(diagnostic["findings"][0]["work_item_id"], "t-drift");
    assert_eq!(
        diagnostic["findings"][0]["diagnostic_reason"],
        "same_root_idea_different_root_spec"
    );
    assert!(ws
        .events()
        .iter()
        .any(|e| e["event_type"] == "closure_lineage_drift_detected"));

    // Repaired, the lineage is whole and the arbiter judges it.
    let out = ws.run(&[
        "queue",
        "repair-lineage",
        "--root-spec-id",
        "spec-a",
        "--apply",
    ]);
    assert!(
        stdout(&out).contains("repaired_count: 1"),
        "{}",
        stdout(&out)
    );
    fs::rename(
        ws.ma().join("tasks/blocked/t-drift.md"),
        ws.ma().join("tasks/done/t-drift.md"),
    )
    .unwrap();
    ws.run_until_idle();
    assert!(
        ws.claim_order().iter().any(|c| c == "arbiter(spec-a)"),
        "{:?}",
        ws.claim_order()
    );
}

#[test]
fn a_daemon_skips_a_retry_scoped_to_a_plane_that_is_not_active() {
    let ws = Ws::new("");
    ws.add("add-task", task("t-1", "2026-01-01T00:00:00Z", json!({})));
    let daemon = ws.spawn_daemon(&["--until-idle"], &[("FAKE_DELAY", "0.3")]);
    ws.wait_for("t-1's builder to start", |ws| {
        ws.events()
            .iter()
            .any(|e| e["event_type"] == "stage_started" && e["data"]["node_id"] == "builder")
    });
    let out = ws.run(&["retry-active", "--plane", "planning"]);
    assert!(stdout(&out).contains("mode: mailbox"), "{}", stdout(&out));
    daemon.finish();
    let archived: Vec<Value> = fs::read_dir(ws.ma().join("state/mailbox/processed"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| serde_json::from_slice(&fs::read(e.path()).unwrap()).unwrap())
        .filter(|a: &Value| a.to_string().contains("retry_active"))
        .collect();
    assert_eq!(archived.len(), 1, "{archived:?}");
    assert!(
        archived[0].to_string().contains(
            "planning retry requires matching active plane; current active planes are execution"
        ),
        "{archived:?}"
    );
    // The item was not put back: one builder run, and it is done.
    let builders = ws
        .events()
        .iter()
        .filter(|e| e["event_type"] == "stage_started" && e["data"]["node_id"] == "builder")
        .count();
    assert_eq!(builders, 1);
    assert_eq!(ws.items("tasks", "done"), ["t-1"]);
}
