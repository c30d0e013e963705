//! The runtime decides as the reference 0.18.0 does where the traces do not
//! pin it: claim order (oldest `Created-At` first), task dependencies,
//! closure backpressure between root specs, and idea intake. Each test runs
//! the real daemon with the scripted fake agent.

mod support;
use support::cli::assert_has;

use serde_json::json;
use support::harness::{spec, task, Ws};

/// A root spec (its own root, from the idea `idea-<id>`).
fn root_spec(id: &str, at: &str) -> serde_json::Value {
    spec(
        id,
        at,
        json!({"root_idea_id": format!("idea-{id}"), "root_spec_id": id}),
    )
}

#[test]
fn the_oldest_task_runs_first_whatever_its_id() {
    let ws = Ws::new("");
    ws.add("add-task", task("t-a", "2026-04-15T12:00:02Z", json!({})));
    ws.add(
        "add-task",
        task("t-b", "2026-04-15T12:00:01+00:00", json!({})),
    );
    ws.add(
        "add-task",
        task("t-c", "2026-04-15T11:00:03-02:00", json!({})),
    );
    ws.run_until_idle();
    // t-c is 13:00:03 UTC, the latest.
    assert_eq!(ws.claim_order(), ["t-b", "t-a", "t-c"]);
}

#[test]
fn a_task_waits_for_a_dependency_created_after_it() {
    let ws = Ws::new("");
    ws.add(
        "add-task",
        task(
            "t-first",
            "2026-04-15T12:00:00Z",
            json!({"depends_on": ["t-later"]}),
        ),
    );
    ws.add(
        "add-task",
        task("t-later", "2026-04-15T12:00:05Z", json!({})),
    );
    let ls = ws.run(&["queue", "ls"]);
    let text = String::from_utf8_lossy(&ls.stdout);
    assert_has(&text, &["waiting: t-first depends on t-later (queue)"]);
    ws.run_until_idle();
    assert_eq!(ws.claim_order(), ["t-later", "t-first"]);
    assert_eq!(ws.items("tasks", "done"), ["t-first", "t-later"]);
}

#[test]
fn a_blocked_dependency_keeps_its_dependent_queued_and_says_why() {
    // Every builder blocks, troubleshooting and consulting block too: the
    // dependency ends blocked (the reference's dead-end trace).
    let ws = Ws::new("builder BLOCKED\ntroubleshooter BLOCKED\nconsultant BLOCKED\n");
    ws.add("add-task", task("t-dep", "2026-04-15T12:00:00Z", json!({})));
    ws.add(
        "add-task",
        task(
            "t-needs",
            "2026-04-15T12:00:01Z",
            json!({"depends_on": ["t-dep", "t-gone"]}),
        ),
    );
    ws.run_until_idle();
    assert_eq!(ws.claim_order(), ["t-dep"], "t-needs is never claimed");
    assert_eq!(ws.items("tasks", "blocked"), ["t-dep"]);
    assert_eq!(ws.items("tasks", "queue"), ["t-needs"]);
    let ls = ws.stdout(&["queue", "ls"]);
    assert_has(
        &ls,
        &["waiting: t-needs depends on t-dep (blocked), t-gone (missing)"],
    );
    let json: serde_json::Value =
        serde_json::from_slice(&ws.run(&["queue", "ls", "--json"]).stdout).unwrap();
    assert_eq!(
        json["waiting_on_dependencies"][0]["waits_for"][0],
        json!({"id": "t-dep", "state": "blocked"})
    );
    let status = ws.stdout(&["status"]);
    assert_has(&status, &["tasks_waiting_on_dependencies: 1"]);
}

#[test]
fn an_open_closure_target_runs_its_lineage_before_the_next_root_spec() {
    let ws = Ws::new("");
    ws.add("add-spec", root_spec("spec-a", "2026-04-15T12:00:00Z"));
    ws.add("add-spec", root_spec("spec-b", "2026-04-15T12:00:01Z"));
    ws.add(
        "add-task",
        task(
            "t-a1",
            "2026-04-15T12:00:02Z",
            json!({"root_spec_id": "spec-a"}),
        ),
    );
    ws.add(
        "add-task",
        task(
            "t-b1",
            "2026-04-15T12:00:03Z",
            json!({"root_spec_id": "spec-b"}),
        ),
    );
    ws.add(
        "add-task",
        task(
            "t-a2",
            "2026-04-15T12:00:04Z",
            json!({"root_spec_id": "spec-a"}),
        ),
    );
    ws.run_until_idle();
    assert_eq!(
        ws.claim_order(),
        [
            "spec-a",
            "t-a1",
            "t-a2",
            "arbiter(spec-a)",
            "spec-b",
            "t-b1",
            "arbiter(spec-b)"
        ]
    );
    let backpressure: Vec<serde_json::Value> = ws
        .events()
        .into_iter()
        .filter(|e| e["event_type"] == "closure_target_backpressure")
        .collect();
    assert!(
        !backpressure.is_empty(),
        "no closure_target_backpressure event"
    );
    assert_eq!(
        backpressure[0]["data"],
        json!({"open_root_spec_id": "spec-a", "deferred_root_spec_ids": ["spec-b"], "reason": "open_closure_target"})
    );
}

#[test]
fn status_counts_root_specs_deferred_by_an_open_closure_target() {
    let ws = Ws::new("");
    ws.add("add-spec", root_spec("spec-a", "2026-04-15T12:00:00Z"));
    ws.add("add-spec", root_spec("spec-b", "2026-04-15T12:00:01Z"));
    ws.add("add-spec", root_spec("spec-c", "2026-04-15T12:00:02Z"));
    // One tick claims and plans spec-a, which opens its closure target.
    ws.run_ok(&["run", "once"]);
    let status = ws.stdout(&["status"]);
    assert_has(
        &status,
        &[
            "closure_target_root_spec_id: spec-a",
            "planning_root_specs_deferred_by_closure_target: 2",
        ],
    );
}

#[test]
fn an_idea_in_the_inbox_becomes_a_spec_the_planner_runs() {
    let ws = Ws::new("");
    let inbox = ws.root.join("ideas/inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(
        inbox.join("faster builds.md"),
        "# Faster builds\n\nCache the dependency layer.\n",
    )
    .unwrap();
    let log = ws.run_until_idle();
    assert_has(
        &log,
        &["intake idea=faster builds.md spec=idea-faster-builds"],
    );
    assert_eq!(ws.items("specs", "done"), ["idea-faster-builds"]);
    let shown = ws.stdout(&["queue", "show", "idea-faster-builds"]);
    assert!(shown.contains("Faster builds"), "{shown}");
    let calls = std::fs::read_to_string(ws.script.with_extension("txt.log")).unwrap();
    assert!(calls.starts_with("planner PLANNER_COMPLETE"), "{calls}");
    // A second run does not take the same idea twice.
    ws.run_until_idle();
    let normalized = ws
        .events()
        .iter()
        .filter(|e| e["event_type"] == "idea_normalized_to_spec")
        .count();
    assert_eq!(normalized, 1);
}

#[test]
fn idea_intake_is_off_when_the_watcher_is_disabled() {
    let ws = Ws::new("");
    ws.append_config("\n[watchers]\nwatch_ideas_inbox = false\n");
    let inbox = ws.root.join("ideas/inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    std::fs::write(inbox.join("x.md"), "# X\n").unwrap();
    ws.run_until_idle();
    assert!(ws.items("specs", "queue").is_empty());
    assert!(ws.items("specs", "done").is_empty());
}

#[test]
fn a_reload_waits_until_the_item_in_flight_finishes() {
    let ws = Ws::new("");
    ws.add("add-task", task("t-1", "2026-04-15T12:00:00Z", json!({})));
    ws.add("add-task", task("t-2", "2026-04-15T12:00:01Z", json!({})));
    // While t-1's builder runs, the checker's model changes and a reload is asked.
    let daemon = ws.spawn_daemon(&["--until-idle"], &[("FAKE_DELAY", "0.3")]);
    ws.wait_for("t-1's builder to start", |ws| {
        ws.events()
            .iter()
            .any(|e| e["event_type"] == "stage_started" && e["data"]["node_id"] == "builder")
    });
    ws.append_config("\n[stages.checker]\nmodel = \"model-after-reload\"\n");
    ws.run_ok(&["config", "reload"]);
    let log = daemon.finish();
    assert_has(
        &log,
        &["reload deferred reason=active_planes active=execution"],
    );
    let events = ws.events();
    let deferred = events
        .iter()
        .find(|e| e["event_type"] == "runtime_config_reload_deferred")
        .expect("a deferred reload");
    assert_eq!(deferred["data"]["active_planes"], json!(["execution"]));
    assert!(events
        .iter()
        .any(|e| e["event_type"] == "runtime_config_reloaded"));
    // Which model each checker ran with.
    let models: Vec<(String, String)> = events
        .iter()
        .filter(|e| e["event_type"] == "stage_started" && e["data"]["node_id"] == "checker")
        .map(|e| {
            let run = e["data"]["run_id"].as_str().unwrap();
            let req = e["data"]["request_id"].as_str().unwrap();
            let inv = std::fs::read_to_string(
                ws.ma()
                    .join(format!("runs/{run}/runner_invocation.{req}.json")),
            )
            .unwrap();
            let item = e["data"]["work_item_id"].as_str().unwrap().to_string();
            (item, inv.contains("model-after-reload").to_string())
        })
        .collect();
    assert_eq!(
        models,
        [
            ("t-1".into(), "false".into()),
            ("t-2".into(), "true".into())
        ],
        "the item in flight keeps its plan; the next one gets the new one"
    );
}

#[test]
fn a_runtime_error_after_a_stage_reroutes_to_the_troubleshooter_with_its_context() {
    // The builder plants a file where the run's stage_results/ directory
    // goes, so its result cannot be recorded; the troubleshooter removes it.
    let ws = Ws::new("builder PLANT BUILDER_COMPLETE\ntroubleshooter UNPLANT\n");
    ws.add("add-task", task("t-1", "2026-04-15T12:00:00Z", json!({})));
    let log = ws.run_until_idle();
    assert_has(
        &log,
        &[
            "route execution -> troubleshooter reason=runtime_exception:execution_post_stage_apply_failed",
            "to=BLOCKED",
        ],
    );
    assert_eq!(ws.items("tasks", "done"), ["t-1"]);
    let events = ws.events();
    let scheduled = events
        .iter()
        .find(|e| e["event_type"] == "runtime_post_stage_recovery_scheduled")
        .expect("recovery scheduled");
    assert_eq!(scheduled["data"]["failed_stage"], "builder");
    assert_eq!(scheduled["data"]["repair_stage"], "troubleshooter");
    let run = scheduled["data"]["report_path"].as_str().unwrap();
    let report = std::fs::read_to_string(run).unwrap();
    assert_has(&report, &["Error-Code: execution_post_stage_apply_failed"]);
    // The troubleshooter's prompt carried the error code and the report.
    let started = events
        .iter()
        .find(|e| e["event_type"] == "stage_started" && e["data"]["node_id"] == "troubleshooter")
        .unwrap();
    let run_id = started["data"]["run_id"].as_str().unwrap();
    let req = started["data"]["request_id"].as_str().unwrap();
    let prompt = std::fs::read_to_string(
        ws.ma()
            .join(format!("runs/{run_id}/runner_prompt.{req}.md")),
    )
    .unwrap();
    assert_has(
        &prompt,
        &[
            "execution_post_stage_apply_failed",
            "runtime_error_report.md",
        ],
    );
    // Consumed: the context is gone once the troubleshooter's result is applied.
    assert!(!ws.ma().join("state/runtime_error_context.json").exists());
}

#[test]
fn the_run_line_sums_the_tokens_of_the_runs_stages() {
    let ws = Ws::new("");
    ws.append_config("FAKE_TOKENS = \"100\"\n");
    ws.add("add-task", task("t-1", "2026-04-15T12:00:00Z", json!({})));
    let log = ws.run_until_idle();
    let runs: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("] run execution"))
        .collect();
    assert_eq!(runs.len(), 3, "{log}");
    assert!(
        runs[0].ends_with("tokens=in=100 cached=0 out=10 think=0 total=110"),
        "{log}"
    );
    assert!(
        runs[2].ends_with("tokens=in=300 cached=0 out=30 think=0 total=330"),
        "{log}"
    );
}

#[test]
fn a_custom_stage_kind_can_escalate_to_planning() {
    let ws = Ws::new("security_review SECURITY_ESCALATE\n");
    let local = ws.ma().join("mill/local");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(
        local.join("reviewed.mill"),
        r#"import "../modes/default_codex.mill"

stage security_reviewer {
  plane execution
  entrypoint "entrypoints/execution/security_reviewer.md"
  outcomes {
    SECURITY_PASS     => success
    SECURITY_ESCALATE => escalate_planning
    BLOCKED           => blocked | recoverable_failure
  }
}

loop execution.reviewed on execution extends execution.standard {
  nodes security_review: security_reviewer
  checker         CHECKER_PASS      -> security_review
  doublechecker   DOUBLECHECK_PASS  -> security_review
  security_review SECURITY_PASS     -> updater
                  SECURITY_ESCALATE -> terminal needs_planning
                  BLOCKED           -> troubleshooter
}

mode reviewed extends default_codex {
  loops { execution: execution.reviewed }
}
"#,
    )
    .unwrap();
    std::fs::write(
        ws.ma().join("entrypoints/execution/security_reviewer.md"),
        "# Security reviewer\n\nReview the change for security problems.\n",
    )
    .unwrap();
    ws.add("add-task", task("t-1", "2026-04-15T12:00:00Z", json!({})));
    ws.run_ok(&["run", "daemon", "--until-idle", "--mode", "reviewed"]);
    assert_eq!(ws.items("tasks", "blocked"), ["t-1"]);
    let resolved = ws.items("incidents", "resolved");
    assert_eq!(resolved.len(), 1, "the incident was planned: {resolved:?}");
    assert!(resolved[0].starts_with("incident-t-1-"), "{resolved:?}");
    let text = std::fs::read_to_string(
        ws.ma()
            .join(format!("incidents/resolved/{}.md", resolved[0])),
    )
    .unwrap();
    assert!(text.contains("Source-Stage: security_review"), "{text}");
}

#[test]
fn no_agent_process_outlives_its_stage() {
    let ws = Ws::new("builder ORPHAN\n");
    ws.add("add-task", task("t-1", "2026-04-15T12:00:00Z", json!({})));
    ws.run_until_idle();
    assert_eq!(ws.items("tasks", "done"), ["t-1"]);
    let runs = std::fs::read_dir(ws.ma().join("runs")).unwrap();
    let pid_file = runs
        .filter_map(Result::ok)
        .map(|d| d.path().join("orphan.pid"))
        .find(|p| p.exists())
        .expect("the builder noted its background process");
    let pid = std::fs::read_to_string(pid_file)
        .unwrap()
        .trim()
        .to_string();
    // It may take a moment for init to reap the killed process.
    ws.wait_for("the agent's background process to be gone", |_| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.is_empty() || stat.contains(") Z ")
    });
}
