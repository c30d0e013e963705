//! The learning plane beside the foreground: in a mode whose concurrency
//! policy lets learning run with execution, a learning stage and a
//! foreground stage run at the same time (their recorded times overlap),
//! results are applied one at a time, and a SIGKILL with both in flight
//! loses and duplicates nothing.

mod support;

use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};

use support::harness::{task, Ws};

const REQUEST: &str = "# Learn from the fix\n\nLearning-Request-ID: lr-1\nTitle: Learn from the fix\nSummary: What the fixer found.\nRequested-Action: improve\nCreated-At: 2026-03-01T12:30:00Z\nCreated-By: tests\n";

/// A workspace with one task and one learning request queued, whose
/// builder and analyst take `nap` seconds.
fn planes_ws(nap: u32) -> Ws {
    let ws = Ws::new("");
    ws.append_config(&format!(
        "FAKE_NAP_STAGES = \"builder analyst\"\nFAKE_NAP = \"{nap}\"\n"
    ));
    ws.add("add-task", task("t-1", "2026-04-15T12:00:00Z", json!({})));
    std::fs::write(ws.ma().join("learning/requests/queue/lr-1.md"), REQUEST).unwrap();
    ws
}

fn times(results: &[Value], stage: &str) -> (String, String) {
    let r = results
        .iter()
        .find(|r| r["stage"] == stage || r["node_id"] == stage)
        .unwrap_or_else(|| panic!("no {stage} result in {results:#?}"));
    (
        r["started_at"].as_str().unwrap().to_string(),
        r["completed_at"]
            .as_str()
            .or(r["ended_at"].as_str())
            .unwrap()
            .to_string(),
    )
}

/// Recorded times are UTC RFC 3339 with a fixed width: they sort as text.
fn at(s: &str) -> &str {
    assert!(s.ends_with('Z') || s.ends_with("+00:00"), "{s}");
    s
}

#[test]
fn an_analyst_runs_while_a_builder_runs() {
    let ws = planes_ws(2);
    let text = ws.run_mode_until_idle("learning_codex");
    assert!(text.contains("scheduler mode=plane-concurrent"), "{text}");
    let results = ws.stage_results();
    let (a_start, a_end) = times(&results, "analyst");
    let (b_start, b_end) = times(&results, "builder");
    assert!(
        at(&a_start) < at(&b_end) && at(&b_start) < at(&a_end),
        "analyst {a_start}..{a_end} and builder {b_start}..{b_end} do not overlap"
    );
    assert_eq!(ws.items("tasks", "done"), ["t-1"]);
    assert_eq!(ws.items("learning/requests", "done"), ["lr-1"]);
}

#[test]
fn a_mode_without_learning_stays_serial() {
    let ws = Ws::new("");
    let out = ws.run(&["run", "once", "--monitor", "basic"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("scheduler mode=serial"), "{text}");
}

fn spawn_daemon(ws: &Ws) -> std::process::Child {
    Command::new(assert_cmd::cargo::cargo_bin("millrace"))
        .args([
            "run",
            "daemon",
            "--mode",
            "learning_codex",
            "--until-idle",
            "--workspace",
            ws.w(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn snapshot(root: &Path) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(root.join("millrace-agents/state/runtime_snapshot.json")).unwrap(),
    )
    .unwrap()
}

#[test]
fn a_sigkill_with_both_planes_active_loses_and_duplicates_nothing() {
    let ws = planes_ws(3);
    let mut daemon = spawn_daemon(&ws);
    // Both planes are active and both agents are running.
    support::wait_for("both planes active", || {
        let log = std::fs::read_to_string(ws.script.with_extension("txt.log")).unwrap_or_default();
        let s = std::fs::read_to_string(ws.ma().join("state/runtime_snapshot.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok());
        s.is_some_and(|s| {
            s["active_runs_by_plane"].get("learning").is_some()
                && s["active_runs_by_plane"].get("execution").is_some()
        }) && log.contains("analyst")
            && log.contains("builder")
    });
    let status = ws.stdout(&["status"]);
    assert!(
        status.contains("learning") && status.contains("analyst") && status.contains("builder"),
        "{status}"
    );
    // `runs ls` lists both runs in flight.
    let s = snapshot(&ws.root);
    let runs = ws.stdout(&["runs", "ls"]);
    for plane in ["learning", "execution"] {
        let id = s["active_runs_by_plane"][plane]["run_id"].as_str().unwrap();
        assert!(runs.contains(id), "{plane} run {id} missing:\n{runs}");
    }
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    let s = snapshot(&ws.root);
    assert!(s["active_runs_by_plane"].get("learning").is_some());
    assert!(s["active_runs_by_plane"].get("execution").is_some());
    // The next start recovers both interrupted stages and finishes the work.
    ws.append_config("");
    ws.run_ok(&["run", "daemon", "--mode", "learning_codex", "--until-idle"]);
    assert_eq!(ws.items("tasks", "done"), ["t-1"]);
    for state in ["queue", "active", "blocked"] {
        assert!(ws.items("tasks", state).is_empty(), "tasks/{state}");
        assert!(
            ws.items("learning/requests", state).is_empty(),
            "learning/requests/{state}"
        );
    }
    assert_eq!(ws.items("learning/requests", "done"), ["lr-1"]);
    let claims = ws.claim_order();
    assert_eq!(
        claims.iter().filter(|c| *c == "t-1").count(),
        1,
        "{claims:?}"
    );
    assert_eq!(
        claims.iter().filter(|c| *c == "lr-1").count(),
        1,
        "{claims:?}"
    );
    let s = snapshot(&ws.root);
    assert_eq!(s["active_runs_by_plane"], json!({}));
}
