//! History that stays cheap: our runs index (`state/runs_index.jsonl`)
//! behind `runs ls` (newest first, `--limit`, how each run ended), rebuilt
//! when stale or corrupt; `runs prune` and `[runs]` retention, which never
//! touch what is active or blocked; the event log's rotation by size; and
//! no empty files left in run directories.

mod support;
use support::cli::assert_has;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use support::harness::{task, Ws};

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ls_json(ws: &Ws, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["runs", "ls", "--json"];
    args.extend(extra);
    serde_json::from_str(&ok(&ws.run(&args))).unwrap()
}

fn ids(runs: &[Value]) -> Vec<String> {
    runs.iter()
        .map(|r| r["run_id"].as_str().unwrap().to_string())
        .collect()
}

fn run_dirs(ws: &Ws) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(ws.ma().join("runs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The run directory of work item `id` (from `runs ls --all`).
fn run_of(ws: &Ws, id: &str) -> String {
    ls_json(ws, &["--all"])
        .iter()
        .find(|r| r["work_item_id"] == id)
        .unwrap_or_else(|| panic!("no run for {id}"))["run_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn three_done() -> Ws {
    let ws = Ws::new("");
    for (i, id) in ["t-1", "t-2", "t-3"].iter().enumerate() {
        ws.add(
            "add-task",
            task(id, &format!("2026-04-15T12:00:0{i}Z"), json!({})),
        );
    }
    ws.run_until_idle();
    ws
}

/// Set a directory's modification time `days` in the past.
fn age(dir: &Path, days: u64) {
    let when = std::time::SystemTime::now() - std::time::Duration::from_secs(days * 86_400);
    std::fs::File::open(dir)
        .unwrap()
        .set_modified(when)
        .unwrap();
}

/// A run directory in the reference's layout, as another process left it.
fn foreign_run(ws: &Ws, hex: &str, started_days_ago: u64, status: &str, item: &str) -> PathBuf {
    let id = format!("run-{hex}");
    let dir = ws.ma().join("runs").join(&id);
    std::fs::create_dir_all(&dir).unwrap();
    let started =
        std::time::SystemTime::now() - std::time::Duration::from_secs(started_days_ago * 86_400);
    let secs = started
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let ts = millrace::workspace::clock::format_unix(secs, 0);
    std::fs::write(
        dir.join("run_trace.json"),
        json!({"schema_version": "1.0", "kind": "run_trace_graph", "run_id": id,
               "status": status, "started_at": ts, "completed_at": ts,
               "work_item_kind": "task", "work_item_id": item,
               "nodes": [], "edges": [], "notes": []})
        .to_string(),
    )
    .unwrap();
    age(&dir, started_days_ago);
    dir
}

#[test]
fn runs_ls_lists_newest_first_with_a_limit_and_how_each_run_ended() {
    let ws = three_done();
    let all = ls_json(&ws, &["--all"]);
    assert_eq!(all.len(), 3);
    let items: Vec<&str> = all
        .iter()
        .map(|r| r["work_item_id"].as_str().unwrap())
        .collect();
    assert_eq!(items, ["t-3", "t-2", "t-1"], "newest first");
    assert!(all.iter().all(|r| r["outcome"] == "complete"), "{all:?}");
    let two = ls_json(&ws, &["--limit", "2"]);
    assert_eq!(ids(&two), ids(&all)[..2].to_vec());
    let text = ok(&ws.run(&["runs", "ls", "--limit", "1"]));
    assert!(text.contains("outcome: complete"), "{text}");
    assert_eq!(text.matches("run_id:").count(), 1, "{text}");
    // The index was built by the first listing and kept current by the daemon.
    assert!(ws.ma().join("state/runs_index.jsonl").is_file());
    ws.add("add-task", task("t-4", "2026-04-15T12:00:09Z", json!({})));
    ws.run_until_idle();
    let newest = ls_json(&ws, &["--limit", "1"]);
    assert_eq!(newest[0]["work_item_id"], "t-4");
}

/// A run whose trace never reached a decision and that no snapshot holds
/// (its item was retried, or moved on): `runs ls` and `runs show` say the
/// same, `not_finished`, as for a run without a readable trace.
#[test]
fn runs_ls_and_runs_show_agree_on_how_a_run_stands() {
    let ws = three_done();
    let id = run_of(&ws, "t-2");
    let trace = ws.ma().join("runs").join(&id).join("run_trace.json");
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    doc["status"] = json!("active");
    std::fs::write(&trace, doc.to_string()).unwrap();
    let gone = run_of(&ws, "t-3");
    std::fs::remove_file(ws.ma().join("runs").join(&gone).join("run_trace.json")).unwrap();
    let runs = ls_json(&ws, &["--all"]);
    for (run, expected) in [(&id, "not_finished"), (&gone, "not_finished")] {
        let r = runs.iter().find(|r| r["run_id"] == run.as_str()).unwrap();
        assert_eq!(r["outcome"], expected, "runs ls: {r}");
        let show: Value =
            serde_json::from_str(&ok(&ws.run(&["runs", "show", run, "--json"]))).unwrap();
        assert_eq!(show["ending"]["outcome"], expected, "runs show: {show}");
    }
}

#[test]
fn a_run_directory_made_by_another_process_or_a_corrupt_index_triggers_a_rebuild() {
    let ws = three_done();
    assert_eq!(ls_json(&ws, &["--all"]).len(), 3);
    // The reference (no index of ours) adds a run: listed at once.
    foreign_run(&ws, &"ab".repeat(16), 0, "complete", "t-9");
    let all = ls_json(&ws, &["--all"]);
    assert_eq!(all.len(), 4);
    assert!(ids(&all).contains(&format!("run-{}", "ab".repeat(16))));
    // A corrupt index naming a path outside `runs/` is rebuilt, never followed.
    let index = ws.ma().join("state/runs_index.jsonl");
    let mut text = std::fs::read_to_string(&index).unwrap();
    text.push_str("{\"run_id\":\"../../../etc\",\"started_at\":\"2099-01-01T00:00:00Z\"}\n");
    text.push_str("not json\n");
    std::fs::write(&index, text).unwrap();
    let all = ls_json(&ws, &["--all"]);
    assert_eq!(all.len(), 4);
    assert!(all
        .iter()
        .all(|r| r["run_id"].as_str().unwrap().starts_with("run-")));
    assert!(!std::fs::read_to_string(&index).unwrap().contains("etc"));
    // A prefix resolves through the index.
    let show = ok(&ws.run(&["runs", "show", "abababab"]));
    assert!(
        show.contains(&format!("run_id: run-{}", "ab".repeat(16))),
        "{show}"
    );
}

#[test]
fn prune_keeps_recent_failed_and_blocked_runs_and_says_what_it_did() {
    let ws = three_done();
    let old_done = foreign_run(&ws, &"01".repeat(16), 40, "complete", "t-old");
    let old_blocked = foreign_run(&ws, &"02".repeat(16), 40, "blocked", "t-old2");
    // A blocked work item whose old run must stay.
    let blocked_item = foreign_run(&ws, &"03".repeat(16), 40, "complete", "t-b");
    std::fs::write(
        ws.ma().join("tasks/blocked/t-b.md"),
        "# t-b\n\nTask-ID: t-b\nTitle: t-b\n",
    )
    .unwrap();
    let dry: Value = serde_json::from_str(&ok(&ws.run(&[
        "runs",
        "prune",
        "--older-than",
        "30d",
        "--keep-failed",
        "--dry-run",
        "--json",
    ])))
    .unwrap();
    assert_eq!(dry["pruned"], json!([format!("run-{}", "01".repeat(16))]));
    assert_eq!(dry["kept_failed"], 1);
    assert_eq!(dry["kept_blocked"], 1);
    assert_eq!(dry["kept_recent"], 3);
    assert!(old_done.is_dir(), "a dry run deletes nothing");
    let text = ok(&ws.run(&["runs", "prune", "--older-than", "30d", "--keep-failed"]));
    assert!(text.contains("pruned 1 of 6 runs"), "{text}");
    assert!(!old_done.exists() && old_blocked.is_dir() && blocked_item.is_dir());
    assert_eq!(ls_json(&ws, &["--all"]).len(), 5);
    // Without --keep-failed the blocked run goes; the blocked item's only with --include-blocked.
    ok(&ws.run(&["runs", "prune", "--older-than", "30d"]));
    assert!(!old_blocked.exists() && blocked_item.is_dir());
    ok(&ws.run(&["runs", "prune", "--older-than", "30d", "--include-blocked"]));
    assert!(!blocked_item.exists());
    assert_eq!(ls_json(&ws, &["--all"]).len(), 3);
    // A bad duration is a usage error.
    let out = ws.run(&["runs", "prune", "--older-than", "30"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unit"));
}

#[test]
fn pruning_under_a_running_daemon_loses_nothing_active() {
    let ws = Ws::new("builder BLOCKED\ntroubleshooter BLOCKED\nconsultant BLOCKED\n");
    ws.add(
        "add-task",
        task("t-blocked", "2026-04-15T12:00:00Z", json!({})),
    );
    ws.run_until_idle();
    assert_eq!(ws.items("tasks", "blocked"), ["t-blocked"]);
    std::fs::write(&ws.script, "").unwrap();
    ws.add(
        "add-task",
        task("t-done", "2026-04-15T12:00:01Z", json!({})),
    );
    ws.run_until_idle();
    let blocked_run = run_of(&ws, "t-blocked");
    let done_run = run_of(&ws, "t-done");
    ws.add(
        "add-task",
        task("t-slow", "2026-04-15T12:00:02Z", json!({})),
    );
    let daemon = ws.spawn_daemon(
        &["--until-idle"],
        &[("FAKE_NAP_STAGES", "builder checker"), ("FAKE_NAP", "2")],
    );
    ws.wait_for("t-slow to be active", |w| {
        w.items("tasks", "active") == ["t-slow"]
            && std::fs::read_dir(w.ma().join("runs")).unwrap().count() == 3
    });
    let report: Value = serde_json::from_str(&ok(&ws.run(&[
        "runs",
        "prune",
        "--older-than",
        "0s",
        "--json",
    ])))
    .unwrap();
    let pruned: Vec<&str> = report["pruned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(pruned, [done_run.as_str()], "{report}");
    assert_eq!(report["kept_active"], 1, "{report}");
    let out = daemon.finish();
    assert_eq!(ws.items("tasks", "done"), ["t-done", "t-slow"], "{out}");
    let dirs = run_dirs(&ws);
    assert!(dirs.contains(&blocked_run));
    let slow_run = run_of(&ws, "t-slow");
    let results = std::fs::read_dir(ws.ma().join("runs").join(&slow_run).join("stage_results"))
        .unwrap()
        .count();
    assert_eq!(results, 3, "every stage of the active run was kept");
    let runs = ls_json(&ws, &["--all"]);
    let slow = runs
        .iter()
        .find(|r| r["run_id"] == slow_run.as_str())
        .unwrap();
    assert_eq!(slow["outcome"], "complete");
    assert_eq!(slow["stage_count"], 3);
}

#[test]
fn the_daemon_applies_runs_retention_at_idle() {
    let ws = Ws::new("");
    ws.append_config("\n[runs]\nretention_days = 7\nkeep_last = 1\n");
    let old = foreign_run(&ws, &"0a".repeat(16), 30, "complete", "t-old");
    let older = foreign_run(&ws, &"0b".repeat(16), 40, "complete", "t-older");
    ws.add("add-task", task("t-1", "2026-04-15T12:00:00Z", json!({})));
    let out = ws.run_until_idle();
    assert!(out.contains("runs pruned count=2"), "{out}");
    assert!(!old.exists() && !older.exists());
    assert_eq!(ls_json(&ws, &["--all"]).len(), 1);
    assert!(ws
        .events()
        .iter()
        .any(|e| e["event_type"] == "runs_pruned" && e["data"]["pruned"] == 2));
    // A config that sets keep_last without retention_days is refused.
    let ws = Ws::new("");
    ws.append_config("\n[runs]\nkeep_last = 5\n");
    let out = ws.run(&["run", "daemon", "--until-idle"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("runs.keep_last"));
}

#[test]
fn the_event_log_rotates_by_size_where_the_reference_reads_it() {
    let ws = Ws::new("");
    let config = ws.ma().join("millrace.toml");
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "[runtime]\n",
        "[runtime]\nevent_log_max_bytes = 65536\nevent_log_keep = 2\n",
        1,
    );
    std::fs::write(&config, text).unwrap();
    for i in 0..30 {
        ws.add(
            "add-task",
            task(&format!("t-{i:02}"), "2026-04-15T12:00:00Z", json!({})),
        );
    }
    ws.run_until_idle();
    let log = ws.ma().join("logs/runtime_events.jsonl");
    let rotated = ws.ma().join("logs/runtime_events.jsonl.1");
    assert!(log.is_file() && rotated.is_file());
    assert!(!ws.ma().join("logs/runtime_events.jsonl.3").exists());
    for f in [&log, &rotated] {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(std::fs::metadata(f).unwrap().len() < 65536 + 4096);
        assert!(text
            .lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok()));
    }
    // The newest events are in the file the reference reads.
    let live = std::fs::read_to_string(&log).unwrap();
    assert!(live.contains("runtime_closed") || live.contains("runtime_tick_idle"));
    assert_eq!(ws.items("tasks", "done").len(), 30);
}

#[test]
fn run_directories_hold_no_empty_files() {
    let ws = three_done();
    for run in run_dirs(&ws) {
        let dir = ws.ma().join("runs").join(&run);
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap();
            if f.file_type().unwrap().is_file() {
                assert!(f.metadata().unwrap().len() > 0, "{:?} is empty", f.path());
            }
        }
        for f in std::fs::read_dir(dir.join("stage_results")).unwrap() {
            let doc: Value =
                serde_json::from_str(&std::fs::read_to_string(f.unwrap().path()).unwrap()).unwrap();
            assert!(doc["stderr_path"].is_null(), "{doc}");
        }
    }
}

#[test]
fn an_active_run_is_running_only_while_a_daemon_works_it() {
    let ws = Ws::new("");
    ws.add("add-task", task("t-1", "2026-04-15T12:00:00Z", json!({})));
    // A daemon mid-stage: the run is `running`.
    let daemon = ws.spawn_daemon(&["--until-idle"], &[("FAKE_DELAY", "3")]);
    ws.wait_for("the builder to start", |w| {
        ls_json(w, &["--limit", "1"])
            .first()
            .is_some_and(|r| r["outcome"] == "running")
    });
    daemon.finish();
    // `run once` leaves the task's run active with no process working it:
    // `interrupted`, as `runs show` says, not `running`.
    ws.add("add-task", task("t-2", "2026-04-15T12:01:00Z", json!({})));
    ok(&ws.run(&["run", "once"]));
    let newest = ls_json(&ws, &["--limit", "1"]);
    assert_eq!(newest[0]["work_item_id"], "t-2");
    assert_eq!(newest[0]["outcome"], "interrupted", "{newest:?}");
    let show = ok(&ws.run(&["runs", "show", newest[0]["run_id"].as_str().unwrap()]));
    assert!(show.starts_with("outcome: interrupted\n"), "{show}");
}

/// A forward move (queue to active, active to done) makes only its
/// destination durable, so a power loss can bring the old name back next to
/// the new one. The next daemon start keeps the copy furthest in the
/// lifecycle and runs nothing again.
#[test]
fn an_old_copy_left_by_a_power_loss_after_a_forward_move_is_dropped_not_rerun() {
    let ws = three_done();
    let runs_before = run_dirs(&ws);
    let done = ws.ma().join("tasks/done/t-1.md");
    // What the disk can hold after a power loss: the item in done/ and,
    // the source directory's change not yet written, still in active/ and queue/.
    std::fs::copy(&done, ws.ma().join("tasks/active/t-1.md")).unwrap();
    std::fs::copy(&done, ws.ma().join("tasks/queue/t-1.md")).unwrap();
    ws.run_until_idle();
    assert_eq!(ws.items("tasks", "active"), Vec::<String>::new());
    assert_eq!(ws.items("tasks", "queue"), Vec::<String>::new());
    assert!(ws.items("tasks", "done").contains(&"t-1".to_string()));
    assert_eq!(run_dirs(&ws), runs_before, "nothing ran again");
    let reconciled: Vec<Value> = ws
        .events()
        .into_iter()
        .filter(|e| e["event_type"] == "workspace_reconciled")
        .collect();
    let actions =
        reconciled.last().expect("a workspace_reconciled event")["data"]["actions"].to_string();
    assert_has(
        &actions,
        &[
            "removed copy in active, kept done",
            "removed copy in queue, kept done",
        ],
    );
}
