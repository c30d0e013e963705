//! Hostile queue and control inputs against the real binary: no queued work
//! is lost or run twice, control commands reach the daemon they were meant
//! for and no other, JSON imports cannot smuggle fields, and `demo` never
//! touches an operator's workspace.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::cli::assert_has;
use support::file_names as files;
use support::wait_for;

/// The binary, with a fake `codex` first on `PATH` (the default runner must resolve).
fn millrace() -> Command {
    support::millrace_cmd()
}

fn run(args: &[&str]) -> Output {
    millrace().args(args).output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn init(dir: &Path) -> PathBuf {
    let ws = dir.join("ws");
    let out = run(&["init", "--workspace", ws.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    ws
}

fn ma(ws: &Path) -> PathBuf {
    ws.join("millrace-agents")
}

/// Point the codex runner at the scripted fake agent (happy path).
fn use_fake_agent(ws: &Path) {
    let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes/scripted_codex.sh");
    let config = ma(ws).join("millrace.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "command = {:?}\nargs = []\n",
        fake.display().to_string()
    ));
    std::fs::write(&config, text).unwrap();
}

fn set_runtime_key(ws: &Path, line: &str) {
    let config = ma(ws).join("millrace.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replacen("[runtime]\n", &format!("[runtime]\n{line}\n"), 1);
    std::fs::write(&config, text).unwrap();
}

/// A daemon process, killed if a failing test leaves it running.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn spawn_daemon(ws: &Path) -> Daemon {
    Daemon(
        millrace()
            .args(["run", "daemon", "--workspace", ws.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Wait for a child to exit (a liveness guard, not a timing assertion).
fn wait_exit(child: &mut Child, what: &str) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn daemon_running(ws: &Path) -> bool {
    ma(ws).join("state/runtime_daemon.lock.json").exists()
        && snapshot(ws)["process_running"] == true
}

fn snapshot(ws: &Path) -> serde_json::Value {
    std::fs::read(ma(ws).join("state/runtime_snapshot.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null)
}

fn task_json(id: &str) -> String {
    format!(
        r#"{{"task_id": "{id}", "title": "Task {id}", "summary": "s", "target_paths": ["README.md"], "acceptance": ["a"], "required_checks": ["c"], "references": ["r"], "risk": ["none"], "created_at": "2026-04-15T12:00:00Z", "created_by": "tests"}}"#
    )
}

fn write_task(dir: &Path, id: &str) -> PathBuf {
    let f = dir.join(format!("{id}.json"));
    std::fs::write(&f, task_json(id)).unwrap();
    f
}

fn events(ws: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(ma(ws).join("logs/runtime_events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

// ------------------------------------------------------------ idle sleep

#[test]
fn an_unbounded_idle_sleep_is_refused_with_its_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let ws = init(dir.path());
    set_runtime_key(&ws, "idle_sleep_seconds = 1e308");
    let w = ws.to_str().unwrap();
    let out = run(&["run", "once", "--workspace", w]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_has(
        &err,
        &["line 2", "runtime.idle_sleep_seconds", "at most 3600"],
    );
}

#[test]
fn a_stop_reaches_a_daemon_sleeping_an_hour() {
    let dir = tempfile::tempdir().unwrap();
    let ws = init(dir.path());
    set_runtime_key(&ws, "idle_sleep_seconds = 3600");
    let w = ws.to_str().unwrap();
    let mut child = spawn_daemon(&ws);
    wait_for("the daemon", || daemon_running(&ws));
    // Let it reach its idle sleep.
    wait_for("an idle tick", || {
        events(&ws)
            .iter()
            .any(|e| e["event_type"] == "runtime_started")
    });
    std::thread::sleep(Duration::from_millis(300));
    let out = run(&["stop", "--workspace", w]);
    assert!(out.status.success(), "{}", text(&out));
    let status = wait_exit(&mut child.0, "the daemon to stop");
    assert!(status.success());
    assert_eq!(files(&ma(&ws).join("state/mailbox/incoming")).len(), 0);
}

// ------------------------------------------------------------ demo

#[test]
fn demo_refuses_an_existing_workspace_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ws = init(dir.path());
    let task = write_task(dir.path(), "op-001");
    let w = ws.to_str().unwrap();
    assert!(run(&["add-task", task.to_str().unwrap(), "--workspace", w])
        .status
        .success());
    let before = support::tree(&ws);
    let out = run(&["demo", "--workspace", w, "--quiet"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("existing Millrace workspace"), "{err}");
    assert_eq!(
        before,
        support::tree(&ws),
        "demo changed the operator's workspace"
    );
}

#[test]
fn demo_refuses_a_non_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("mine");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("notes.txt"), "keep me").unwrap();
    let out = run(&["demo", "--workspace", target.to_str().unwrap(), "--quiet"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(files(&target), ["notes.txt"]);
}

#[test]
fn demo_runs_the_demo_mode_in_a_fresh_directory() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("fresh");
    std::fs::create_dir(&target).unwrap();
    let out = run(&["demo", "--workspace", target.to_str().unwrap(), "--quiet"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("active_mode_id: demo"), "{stdout}");
    assert_eq!(files(&ma(&target).join("tasks/done")).len(), 3, "{stdout}");
}

// ------------------------------------------------------------ stage results

#[test]
fn doctor_reports_empty_and_torn_stage_results() {
    let dir = tempfile::tempdir().unwrap();
    let ws = init(dir.path());
    let results = ma(&ws).join("runs/run-1/stage_results");
    std::fs::create_dir_all(&results).unwrap();
    std::fs::write(results.join("request-empty.json"), "").unwrap();
    std::fs::write(results.join("request-torn.json"), "{\"stage\": \"buil").unwrap();
    std::fs::write(
        results.join("request-fine.json"),
        "{\"stage\": \"builder\"}",
    )
    .unwrap();
    let out = run(&["doctor", "--workspace", ws.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(stdout.contains("errors: 2"), "{stdout}");
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line("request-empty.json").contains("empty_stage_result"),
        "{stdout}"
    );
    assert!(
        line("request-torn.json").contains("invalid_stage_result"),
        "{stdout}"
    );
    assert!(line("request-fine.json").is_empty(), "{stdout}");
}

// ------------------------------------------------------------ JSON imports

fn add_json(ws: &Path, dir: &Path, json: &str) -> Output {
    let f = dir.join("import.json");
    std::fs::write(&f, json).unwrap();
    run(&[
        "add-task",
        f.to_str().unwrap(),
        "--workspace",
        ws.to_str().unwrap(),
    ])
}

#[test]
fn a_newline_in_a_json_value_cannot_smuggle_a_field() {
    let dir = tempfile::tempdir().unwrap();
    let ws = init(dir.path());
    let json = task_json("t-1").replace(r#""summary": "s""#, r#""summary": "x\nDepends-On: j-1""#);
    let out = add_json(&ws, dir.path(), &json);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_has(&err, &["field `summary`", "control character U+000A"]);
    assert!(files(&ma(&ws).join("tasks/queue")).is_empty());
    // A list item too.
    let json = task_json("t-1").replace(r#"["a"]"#, r#"["a\n\nDepends-On:\n- j-1"]"#);
    let out = add_json(&ws, dir.path(), &json);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("field `acceptance`"));
    assert!(files(&ma(&ws).join("tasks/queue")).is_empty());
}

#[test]
fn a_repeated_json_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ws = init(dir.path());
    let json = task_json("t-1").replace(r#""summary": "s""#, r#""summary": "s", "summary": "t""#);
    let out = add_json(&ws, dir.path(), &json);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("duplicate key `summary`"), "{err}");
    assert!(files(&ma(&ws).join("tasks/queue")).is_empty());
}

#[test]
fn json_import_errors_name_the_json_key() {
    let dir = tempfile::tempdir().unwrap();
    let ws = init(dir.path());
    let json = task_json("t-1").replace("2026-04-15T12:00:00Z", "yesterday");
    let out = add_json(&ws, dir.path(), &json);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("field `created_at`"), "{err}");
    assert!(!err.contains("Created-At"), "{err}");
}

// ------------------------------------------------------------ mailbox intake

fn mailbox(ws: &Path, which: &str) -> PathBuf {
    ma(ws).join("state/mailbox").join(which)
}

fn archives(ws: &Path, which: &str) -> Vec<serde_json::Value> {
    files(&mailbox(ws, which))
        .iter()
        .filter(|n| n.ends_with(".json"))
        .map(|n| {
            serde_json::from_slice(&std::fs::read(mailbox(ws, which).join(n)).unwrap()).unwrap()
        })
        .collect()
}

/// Drop an envelope into `incoming/` the way the reference writes one.
fn drop_envelope(ws: &Path, id: &str, command: &str, issued_at: &str, payload: serde_json::Value) {
    let env = serde_json::json!({
        "schema_version": "1.0", "kind": "mailbox_command", "command_id": id,
        "command": command, "issued_at": issued_at, "issuer": "operator", "payload": payload,
    });
    let path = mailbox(ws, "incoming").join(format!("{id}.json"));
    std::fs::write(path, serde_json::to_string_pretty(&env).unwrap()).unwrap();
}

fn stop_daemon(ws: &Path, child: &mut Daemon) {
    let out = run(&["stop", "--workspace", ws.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(wait_exit(&mut child.0, "the daemon to stop").success());
}

fn finished(ws: &Path, id: &str) -> usize {
    events(ws)
        .iter()
        .filter(|e| e["event_type"] == "work_item_finished" && e["data"]["work_item_id"] == id)
        .count()
}

#[test]
fn add_commands_sent_to_a_running_daemon_are_applied() {
    let dir = tempfile::tempdir().unwrap();
    let ws = init(dir.path());
    use_fake_agent(&ws);
    let w = ws.to_str().unwrap();
    let mut child = spawn_daemon(&ws);
    wait_for("the daemon", || daemon_running(&ws));
    // Like the reference: with a daemon running, add-task goes to its mailbox.
    let task = write_task(dir.path(), "t-1");
    let out = run(&["add-task", task.to_str().unwrap(), "--workspace", w]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_has(&stdout, &["action: add_task", "mode: mailbox"]);
    // Markdown with a body the JSON shape cannot carry: the body is kept.
    let md = dir.path().join("bt-1.md");
    std::fs::write(&md, "# Body task\n\nTask-ID: bt-1\nTitle: Body task\nCreated-At: 2026-03-01T12:30:00Z\nCreated-By: me\n\nTarget-Paths:\n- a\n\nAcceptance:\n- b\n\nRequired-Checks:\n- c\n\nReferences:\n- d\n\nRisk:\n- e\n\nKeep this body.\n").unwrap();
    let out = run(&["add-task", md.to_str().unwrap(), "--workspace", w]);
    assert!(out.status.success(), "{}", text(&out));
    let idea = dir.path().join("idea-1.md");
    std::fs::write(&idea, "# An idea\n\nMake it faster.\n").unwrap();
    let out = run(&["add-idea", idea.to_str().unwrap(), "--workspace", w]);
    assert!(out.status.success(), "{}", text(&out));
    // A command in the reference's exact shape.
    let doc: serde_json::Value = serde_json::from_str(&task_json("t-2")).unwrap();
    drop_envelope(
        &ws,
        "add_task-1-ref",
        "add_task",
        "2099-01-01T00:00:00+00:00",
        serde_json::json!({"document": doc}),
    );
    wait_for("the tasks to finish", || {
        finished(&ws, "t-1") == 1 && finished(&ws, "t-2") == 1 && finished(&ws, "bt-1") == 1
    });
    let body = std::fs::read_to_string(ma(&ws).join("tasks/done/bt-1.md")).unwrap();
    assert!(body.contains("Keep this body."), "{body}");
    wait_for("the idea", || ws.join("ideas/inbox/idea-1.md").is_file());
    stop_daemon(&ws, &mut child);
    assert_eq!(
        std::fs::read_to_string(ws.join("ideas/inbox/idea-1.md")).unwrap(),
        "# An idea\n\nMake it faster.\n"
    );
    let processed = archives(&ws, "processed");
    for command in ["add_task", "add_idea"] {
        assert!(
            processed
                .iter()
                .any(|a| a["envelope"]["command"] == command),
            "{processed:?}"
        );
    }
    assert!(
        archives(&ws, "failed").is_empty(),
        "{:?}",
        archives(&ws, "failed")
    );
    assert!(files(&ma(&ws).join("tasks/done")).contains(&"t-1.md".to_string()));
}

#[test]
fn an_add_the_daemon_cannot_apply_is_archived_as_failed_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let ws = init(dir.path());
    let w = ws.to_str().unwrap();
    let task = write_task(dir.path(), "t-1");
    assert!(run(&["add-task", task.to_str().unwrap(), "--workspace", w])
        .status
        .success());
    let doc: serde_json::Value = serde_json::from_str(&task_json("t-1")).unwrap();
    drop_envelope(
        &ws,
        "a-dup",
        "add_task",
        "2099-01-01T00:00:00Z",
        serde_json::json!({"document": doc}),
    );
    let mut bad = doc.clone();
    bad["task_id"] = serde_json::json!("../escape");
    drop_envelope(
        &ws,
        "a-bad",
        "add_task",
        "2099-01-01T00:00:00Z",
        serde_json::json!({"document": bad}),
    );
    let out = run(&["run", "once", "--workspace", w, "--mode", "default_codex"]);
    // The run itself may fail (no agent): the mailbox is drained first.
    let _ = out;
    let failed = archives(&ws, "failed");
    assert_eq!(failed.len(), 2, "{failed:?}");
    let error = |id: &str| {
        failed
            .iter()
            .find(|a| a["envelope"]["command_id"] == id)
            .map(|a| a["error"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    assert!(error("a-dup").contains("already exists"), "{failed:?}");
    assert!(error("a-bad").contains("task_id"), "{failed:?}");
    assert!(archives(&ws, "processed").is_empty());
}

#[test]
fn a_daemon_killed_after_writing_an_added_task_does_not_add_it_twice() {
    let dir = tempfile::tempdir().unwrap();
    let ws = init(dir.path());
    use_fake_agent(&ws);
    let w = ws.to_str().unwrap();
    let doc: serde_json::Value = serde_json::from_str(&task_json("t-1")).unwrap();
    drop_envelope(
        &ws,
        "a-1",
        "add_task",
        "2099-01-01T00:00:00Z",
        serde_json::json!({"document": doc}),
    );
    // Abort right after the document is written, before the archive.
    let out = millrace()
        .args(["run", "once", "--workspace", w])
        .env("MILLRACE_TEST_CRASH_AT", "queue.enqueue:1")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert_eq!(files(&ma(&ws).join("tasks/queue")), ["t-1.md"]);
    assert_eq!(files(&mailbox(&ws, "incoming")), ["a-1.json"]);
    let out = run(&["run", "daemon", "--until-idle", "--workspace", w]);
    assert!(out.status.success(), "{}", text(&out));
    let processed = archives(&ws, "processed");
    assert_eq!(processed.len(), 1, "{processed:?}");
    assert_eq!(processed[0]["result"]["repeated"], true, "{processed:?}");
    assert!(
        archives(&ws, "failed").is_empty(),
        "{:?}",
        archives(&ws, "failed")
    );
    assert_eq!(files(&ma(&ws).join("tasks/done")), ["t-1.md"]);
    assert_eq!(finished(&ws, "t-1"), 1);
}

// ------------------------------------------------------------ unique ids

#[test]
fn concurrent_adds_of_one_id_racing_a_daemon_create_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let ws = init(dir.path());
    use_fake_agent(&ws);
    let w = ws.to_str().unwrap().to_string();
    let task = write_task(dir.path(), "t-1");
    let mut child = spawn_daemon(&ws);
    let adders: Vec<_> = (0..12)
        .map(|i| {
            let (w, task) = (w.clone(), task.clone());
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(5 * i));
                run(&["add-task", task.to_str().unwrap(), "--workspace", &w])
            })
        })
        .collect();
    let outs: Vec<Output> = adders.into_iter().map(|h| h.join().unwrap()).collect();
    wait_for("the daemon", || daemon_running(&ws));
    wait_for("the mailbox to drain", || {
        files(&mailbox(&ws, "incoming")).is_empty()
    });
    wait_for("the task to finish", || finished(&ws, "t-1") >= 1);
    stop_daemon(&ws, &mut child);
    let direct = outs
        .iter()
        .filter(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains("enqueued_task")
        })
        .count();
    let queued = outs
        .iter()
        .filter(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains("mode: mailbox")
        })
        .count();
    let refused = outs.iter().filter(|o| !o.status.success()).count();
    let applied = archives(&ws, "processed")
        .iter()
        .filter(|a| a["envelope"]["command"] == "add_task")
        .count();
    let failed = archives(&ws, "failed").len();
    let report = format!(
        "direct {direct}, mailbox {queued} ({applied} applied, {failed} failed), refused {refused}"
    );
    eprintln!("{report}");
    assert_eq!(direct + applied, 1, "{report}");
    assert_eq!(queued, applied + failed, "{report}");
    assert_eq!(direct + queued + refused, 12, "{report}");
    assert_eq!(finished(&ws, "t-1"), 1, "{report}");
    assert_eq!(files(&ma(&ws).join("tasks/done")), ["t-1.md"], "{report}");
}

// ------------------------------------------------------------ control exclusion

#[test]
fn a_direct_pause_racing_a_starting_daemon_is_never_lost() {
    for round in 0..6u64 {
        let dir = tempfile::tempdir().unwrap();
        let ws = init(dir.path());
        let w = ws.to_str().unwrap();
        let mut child = spawn_daemon(&ws);
        std::thread::sleep(Duration::from_millis(3 * round));
        let out = run(&["pause", "--workspace", w]);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "round {round}: {}", text(&out));
        wait_for("the daemon", || daemon_running(&ws));
        wait_for("the mailbox to drain", || {
            files(&mailbox(&ws, "incoming")).is_empty()
        });
        let snap = snapshot(&ws);
        assert_eq!(
            snap["paused"], true,
            "round {round}: pause reported {stdout} but lost"
        );
        stop_daemon(&ws, &mut child);
    }
}

// ------------------------------------------------------------ addressing

#[test]
fn a_stop_meant_for_a_dead_daemon_does_not_stop_the_next_one() {
    let dir = tempfile::tempdir().unwrap();
    let ws = init(dir.path());
    // As our CLI addresses it to the daemon it saw, now gone.
    drop_envelope(
        &ws,
        "stop-1",
        "stop",
        "2099-01-01T00:00:00Z",
        serde_json::json!({"daemon_session_id": "session-of-a-dead-daemon"}),
    );
    // As the reference writes it (no session), before this daemon started.
    drop_envelope(
        &ws,
        "stop-2",
        "stop",
        "2020-01-01T00:00:00+00:00",
        serde_json::json!({}),
    );
    let mut child = spawn_daemon(&ws);
    wait_for("the stale commands to be archived", || {
        archives(&ws, "failed").len() == 2
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.0.try_wait().unwrap().is_none(), "the daemon stopped");
    for a in archives(&ws, "failed") {
        assert!(a["error"].as_str().unwrap().starts_with("expired:"), "{a}");
    }
    assert_eq!(
        events(&ws)
            .iter()
            .filter(|e| e["event_type"] == "mailbox_command_expired")
            .count(),
        2
    );
    // A stop addressed to this daemon still works.
    stop_daemon(&ws, &mut child);
    let stop = archives(&ws, "processed");
    assert_eq!(stop.len(), 1);
    assert!(stop[0]["envelope"]["payload"]["daemon_session_id"].is_string());
}

#[test]
fn an_add_killed_between_reservation_and_document_can_be_retried() {
    let dir = tempfile::tempdir().unwrap();
    let ws = init(dir.path());
    let w = ws.to_str().unwrap();
    let task = write_task(dir.path(), "t-1");
    let out = millrace()
        .args(["add-task", task.to_str().unwrap(), "--workspace", w])
        .env("MILLRACE_TEST_CRASH_AT", "reserve.create_unique:1")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(ma(&ws)
        .join("state/id_reservations/task/t-1.json")
        .is_file());
    assert!(files(&ma(&ws).join("tasks/queue")).is_empty());
    let out = run(&["add-task", task.to_str().unwrap(), "--workspace", w]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(files(&ma(&ws).join("tasks/queue")), ["t-1.md"]);
    let again = run(&["add-task", task.to_str().unwrap(), "--workspace", w]);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
}
