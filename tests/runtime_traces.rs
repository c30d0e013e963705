//! The interpreter against the reference's traces (MISSION.md): a scripted
//! fake Codex answers each stage, the real `millrace run daemon` routes, and
//! the final queue layout and the sequence of agent calls must match. The
//! two reference defects (a checker that always asks for fixes, an agent
//! that never prints a legal marker) must end within the plan's bound.

use std::path::{Path, PathBuf};

mod support;
use support::cli::assert_has;
use support::harness::Ws;

fn bench(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bench")
        .join(file)
}

/// Files under tasks/, specs/ and incidents/, with incident hashes masked.
fn layout(ws: &Ws) -> Vec<String> {
    let mut out = Vec::new();
    for top in ["tasks", "specs", "incidents"] {
        for state in std::fs::read_dir(ws.ma().join(top)).unwrap() {
            let state = state.unwrap().path();
            for f in std::fs::read_dir(&state).unwrap() {
                let name = f.unwrap().file_name().to_string_lossy().into_owned();
                let name = match name.strip_prefix("incident-t-001-") {
                    Some(_) => "incident-t-001-XXXXXXXX.md".to_string(),
                    None => name,
                };
                out.push(format!(
                    "{top}/{}/{name}",
                    state.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    out.sort();
    out
}

/// A workspace running the scripted fake, with one task (or spec) queued.
fn setup(script: &str, kind: &str) -> Ws {
    let ws = Ws::new(script);
    let (cmd, file) = if kind == "task" {
        ("add-task", "task.json")
    } else {
        ("add-spec", "spec.json")
    };
    ws.run_ok(&[cmd, bench(file).to_str().unwrap()]);
    ws
}

fn calls(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Run one `kind` item with the agent answering as `script` says until
/// idle: the agent calls were `expected_calls` and the queue ended as
/// `expected_layout`. The monitor's output.
fn trace(
    script: &str,
    kind: &str,
    expected_calls: &[&str],
    expected_layout: &[&str],
) -> (Ws, String) {
    let ws = setup(script, kind);
    let log = ws.run_until_idle();
    assert_eq!(ws.calls(), calls(expected_calls), "{log}");
    assert_eq!(layout(&ws), expected_layout, "{log}");
    (ws, log)
}

#[test]
fn happy() {
    let (_ws, log) = trace(
        "",
        "task",
        &[
            "builder BUILDER_COMPLETE",
            "checker CHECKER_PASS",
            "updater UPDATE_COMPLETE",
        ],
        &["tasks/done/t-001.md"],
    );
    assert_has(
        &log,
        &[
            "route execution -> checker reason=builder:BUILDER_COMPLETE",
            "route execution done reason=updater_complete",
        ],
    );
    assert_eq!(log.matches("stage done").count(), 3);
}

#[test]
fn fix_once() {
    trace(
        "checker FIX_NEEDED\n",
        "task",
        &[
            "builder BUILDER_COMPLETE",
            "checker FIX_NEEDED",
            "fixer FIXER_COMPLETE",
            "doublechecker DOUBLECHECK_PASS",
            "updater UPDATE_COMPLETE",
        ],
        &["tasks/done/t-001.md"],
    );
}

#[test]
fn blocked_once() {
    let (_ws, log) = trace(
        "builder BLOCKED BUILDER_COMPLETE\n",
        "task",
        &[
            "builder BLOCKED",
            "troubleshooter TROUBLESHOOT_COMPLETE",
            "builder BUILDER_COMPLETE",
            "checker CHECKER_PASS",
            "updater UPDATE_COMPLETE",
        ],
        &["tasks/done/t-001.md"],
    );
    assert_has(
        &log,
        &[
            "route execution -> troubleshooter reason=builder_blocked",
            "route execution -> builder reason=troubleshoot_complete",
        ],
    );
}

#[test]
fn escalation_hands_off_to_planning_with_lineage() {
    let (ws, log) = trace(
        "builder BLOCKED\ntroubleshooter BLOCKED BLOCKED\nconsultant NEEDS_PLANNING\n",
        "task",
        &[
            "builder BLOCKED",
            "troubleshooter BLOCKED",
            "troubleshooter BLOCKED",
            "consultant NEEDS_PLANNING",
            "auditor AUDITOR_COMPLETE",
            "planner PLANNER_COMPLETE",
            "manager MANAGER_COMPLETE",
        ],
        &[
            "incidents/resolved/incident-t-001-XXXXXXXX.md",
            "tasks/blocked/t-001.md",
        ],
    );
    assert_has(
        &log,
        &["route execution -> planning/auditor action=handoff reason=consultant_needs_planning"],
    );
    let dir = ws.ma().join("incidents/resolved");
    let incident = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(incident).unwrap();
    assert!(
        text.starts_with("# Planning handoff for task t-001\n"),
        "{text}"
    );
    assert_has(
        &text,
        &["Source-Task-ID: t-001", "Source-Stage: consultant"],
    );
}

#[test]
fn dead_end_blocks_the_task() {
    let (_ws, log) = trace(
        "builder BLOCKED\ntroubleshooter BLOCKED BLOCKED\nconsultant BLOCKED\n",
        "task",
        &[
            "builder BLOCKED",
            "troubleshooter BLOCKED",
            "troubleshooter BLOCKED",
            "consultant BLOCKED",
        ],
        &["tasks/blocked/t-001.md"],
    );
    assert_has(&log, &["route execution blocked reason=consultant_blocked"]);
}

#[test]
fn spec_is_planned() {
    trace(
        "",
        "spec",
        &["planner PLANNER_COMPLETE", "manager MANAGER_COMPLETE"],
        &["specs/done/s-001.md"],
    );
}

fn execution_calls(ws: &Ws) -> usize {
    let planning = ["auditor", "planner", "manager", "mechanic", "arbiter"];
    ws.calls()
        .iter()
        .filter(|c| !planning.iter().any(|p| c.starts_with(p)))
        .count()
}

#[test]
fn a_checker_that_always_asks_for_fixes_is_escalated_within_the_bound() {
    let ws = setup("checker FIX_NEEDED\ndoublechecker FIX_NEEDED\n", "task");
    ws.run_until_idle();
    let n = execution_calls(&ws);
    assert!(n <= 23, "{n} execution stages: {:?}", ws.calls());
    assert_eq!(
        layout(&ws),
        vec![
            "incidents/resolved/incident-t-001-XXXXXXXX.md",
            "tasks/blocked/t-001.md"
        ]
    );
}

#[test]
fn an_agent_that_never_prints_a_marker_ends_blocked_within_the_bound() {
    let script = "builder NONE\nchecker NONE\nfixer NONE\ndoublechecker NONE\nupdater NONE\ntroubleshooter NONE\nconsultant NONE\n";
    let ws = setup(script, "task");
    ws.run_until_idle();
    let n = execution_calls(&ws);
    assert!(n <= 23, "{n}: {:?}", ws.calls());
    assert_eq!(layout(&ws), vec!["tasks/blocked/t-001.md"]);
    // Every stage result says why it failed.
    let results = std::fs::read_dir(ws.ma().join("runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("stage_results");
    for r in std::fs::read_dir(results).unwrap() {
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(r.unwrap().path()).unwrap()).unwrap();
        assert_eq!(v["terminal_result"], "BLOCKED");
        assert_eq!(v["metadata"]["failure_class"], "missing_terminal_result");
    }
}

#[test]
fn crashes_and_conflicting_markers_are_typed_failures() {
    let ws = setup("builder CRASH TWO BUILDER_COMPLETE\n", "task");
    ws.run_until_idle();
    assert_eq!(layout(&ws), vec!["tasks/done/t-001.md"]);
    let calls = ws.calls();
    assert_eq!(calls[0], "builder CRASH");
    assert!(calls.contains(&"builder TWO".to_string()), "{calls:?}");
}

fn root_spec_ws(script: &str) -> Ws {
    let ws = setup(script, "task");
    // Replace the queued task with a root spec (its own root, with a seed idea).
    std::fs::remove_file(ws.ma().join("tasks/queue/t-001.md")).unwrap();
    let spec = std::fs::read_to_string(bench("spec.json"))
        .unwrap()
        .replace(
        "\"source_type\": \"manual\"",
        "\"source_type\": \"manual\", \"root_idea_id\": \"idea-1\", \"root_spec_id\": \"s-001\"",
    );
    let f = ws.root.join("root-spec.json");
    std::fs::write(&f, spec).unwrap();
    ws.run_ok(&["add-spec", f.to_str().unwrap()]);
    ws
}

fn target(ws: &Ws) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(ws.ma().join("arbiter/targets/s-001.json")).unwrap())
        .unwrap()
}

#[test]
fn a_root_spec_is_closed_by_the_arbiter_once_its_backlog_drains() {
    let ws = root_spec_ws("");
    let log = ws.run_until_idle();
    assert_eq!(
        ws.calls(),
        calls(&[
            "planner PLANNER_COMPLETE",
            "manager MANAGER_COMPLETE",
            "arbiter ARBITER_COMPLETE"
        ])
    );
    assert_has(
        &log,
        &[
            "stage start planning/arbiter run=",
            "route planning done reason=arbiter_complete",
        ],
    );
    let t = target(&ws);
    assert_eq!(t["closure_open"], false);
    assert!(ws
        .ma()
        .join("arbiter/contracts/root-specs/s-001.md")
        .is_file());
    // Judged once: a second run does not call the arbiter again.
    ws.run_until_idle();
    assert_eq!(ws.calls().len(), 3);
}

#[test]
fn an_arbiter_gap_opens_remediation_and_is_judged_again() {
    let ws = root_spec_ws("arbiter REMEDIATION_NEEDED ARBITER_COMPLETE\n");
    ws.run_until_idle();
    assert_eq!(
        ws.calls(),
        calls(&[
            "planner PLANNER_COMPLETE",
            "manager MANAGER_COMPLETE",
            "arbiter REMEDIATION_NEEDED",
            "auditor AUDITOR_COMPLETE",
            "planner PLANNER_COMPLETE",
            "manager MANAGER_COMPLETE",
            "arbiter ARBITER_COMPLETE"
        ])
    );
    let resolved: Vec<String> = std::fs::read_dir(ws.ma().join("incidents/resolved"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(resolved.len(), 1);
    assert!(
        resolved[0].starts_with("arbiter-gap-s-001-"),
        "{resolved:?}"
    );
    assert_eq!(target(&ws)["closure_open"], false);
}

#[test]
fn an_arbiter_that_always_finds_gaps_stops_after_three_rounds() {
    let ws = root_spec_ws("arbiter REMEDIATION_NEEDED\n");
    ws.run_until_idle();
    let arbiter_calls = ws
        .calls()
        .iter()
        .filter(|c| c.starts_with("arbiter"))
        .count();
    assert_eq!(arbiter_calls, 3, "{:?}", ws.calls());
    let t = target(&ws);
    assert_eq!(t["closure_open"], true);
    // Our bookkeeping is beside the target, which keeps the reference's schema.
    assert!(t.get("suppressed").is_none(), "{t}");
    let extras: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ws.ma().join("state/closure_extras.json")).unwrap())
            .unwrap();
    assert_eq!(extras["targets"]["s-001"]["suppressed"], true);
    assert_eq!(extras["targets"]["s-001"]["gap_count"], 3);
}

/// The scripted fake writes its reports where the prompt says (`FAKE_REPORT`).
fn with_reports(ws: &Ws) {
    ws.append_config("FAKE_REPORT = \"1\"\n");
}

#[test]
fn a_troubleshoot_report_is_recorded_shown_and_passed_on() {
    let ws = setup("builder BLOCKED BUILDER_COMPLETE\n", "task");
    with_reports(&ws);
    ws.run_until_idle();
    let calls = ws.calls();
    assert_eq!(
        calls[..2],
        ["builder BLOCKED", "troubleshooter TROUBLESHOOT_COMPLETE"]
    );
    // The next stage of the run is offered the same path and finds the report.
    assert_eq!(
        calls[2..4],
        ["builder BUILDER_COMPLETE", "builder saw report"],
        "{calls:?}"
    );
    let results = ws.stage_results();
    let ts = results
        .iter()
        .find(|r| r["stage"] == "troubleshooter")
        .unwrap();
    let run_id = ts["run_id"].as_str().unwrap();
    let report = ws
        .ma()
        .join(format!("runs/{run_id}/troubleshoot_report.md"))
        .display()
        .to_string();
    assert_eq!(ts["report_artifact"], report.as_str());
    assert!(ts["artifact_paths"]
        .as_array()
        .unwrap()
        .contains(&report.as_str().into()));
    // The first builder ran before any report existed.
    let first = results
        .iter()
        .find(|r| r["stage"] == "builder" && r["terminal_result"] == "BLOCKED")
        .unwrap();
    assert_eq!(first["report_artifact"], serde_json::Value::Null);
    let show = ws.stdout(&["runs", "show", run_id]);
    // Paths inside the run directory are shown relative to it.
    assert_has(
        &show,
        &[
            "\ntroubleshoot_report_path: troubleshoot_report.md\n",
            "\nreport_artifact: troubleshoot_report.md\n",
        ],
    );
    let tail = ws.stdout(&["runs", "tail", run_id]);
    assert!(tail.contains("root cause: scripted"), "{tail}");
    // The run trace lists it among the troubleshooter's artifacts.
    let trace: serde_json::Value = serde_json::from_slice(
        &std::fs::read(ws.ma().join(format!("runs/{run_id}/run_trace.json"))).unwrap(),
    )
    .unwrap();
    let node = trace["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["stage"] == "troubleshooter")
        .unwrap();
    assert!(
        node["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["path"] == "troubleshoot_report.md" && a["kind"] == "report"),
        "{node}"
    );
    // The runtime events name the report the stage wrote.
    let events = std::fs::read_to_string(ws.ma().join("logs/runtime_events.jsonl")).unwrap();
    assert!(events.contains(&format!("\"troubleshoot_report_path\":\"{report}\"")));
}

#[test]
fn an_arbiter_report_and_verdict_are_kept_on_the_closure_target() {
    let ws = root_spec_ws("");
    with_reports(&ws);
    ws.run_until_idle();
    let t = target(&ws);
    assert_eq!(t["closure_open"], false);
    let run_id = t["last_arbiter_run_id"].as_str().unwrap();
    assert_eq!(
        t["latest_verdict_path"],
        "millrace-agents/arbiter/verdicts/s-001.json"
    );
    let report = format!("millrace-agents/arbiter/reports/{run_id}.md");
    assert_eq!(t["latest_report_path"], report.as_str());
    let text = std::fs::read_to_string(ws.root.join(&report)).unwrap();
    assert!(text.contains("parity: scripted"), "{text}");
    let arbiter = ws
        .stage_results()
        .into_iter()
        .find(|r| r["stage"] == "arbiter")
        .unwrap();
    let written = ws.ma().join(format!("runs/{run_id}/arbiter_report.md"));
    assert_eq!(
        arbiter["report_artifact"],
        written.display().to_string().as_str()
    );
}

#[test]
fn an_arbiter_that_writes_nothing_leaves_no_paths_on_its_target() {
    let ws = root_spec_ws("");
    ws.run_until_idle();
    let t = target(&ws);
    assert_eq!(t["latest_verdict_path"], serde_json::Value::Null);
    assert_eq!(t["latest_report_path"], serde_json::Value::Null);
}
