//! Hostile queue and control inputs against the real binary: no queued work
//! is lost or run twice, control commands reach the daemon they were meant
//! for and no other, JSON imports cannot smuggle fields, and `demo` never
//! touches an operator's workspace.

use assert_cmd::cargo::CommandCargoExt;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn millrace() -> Command {
    Command::cargo_bin("millrace").unwrap()
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

fn set_runtime_key(ws: &Path, line: &str) {
    let config = ma(ws).join("millrace.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replacen("[runtime]\n", &format!("[runtime]\n{line}\n"), 1);
    std::fs::write(&config, text).unwrap();
}

fn spawn_daemon(ws: &Path) -> Child {
    millrace()
        .args(["run", "daemon", "--workspace", ws.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
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

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Every file under `root` with a hash of its bytes.
fn tree(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().filter_map(Result::ok) {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                out.insert(p.clone(), "dir".to_string());
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).unwrap_or_default();
                out.insert(p, format!("{:x}", md5ish(&bytes)));
            }
        }
    }
    out
}

/// FNV-1a: enough to notice a changed file in a test.
fn md5ish(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
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
    assert!(err.contains("line 2"), "{err}");
    assert!(err.contains("runtime.idle_sleep_seconds"), "{err}");
    assert!(err.contains("at most 3600"), "{err}");
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
    let status = wait_exit(&mut child, "the daemon to stop");
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
    let before = tree(&ws);
    let out = run(&["demo", "--workspace", w, "--quiet"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("existing Millrace workspace"), "{err}");
    assert_eq!(before, tree(&ws), "demo changed the operator's workspace");
}

#[test]
fn demo_refuses_a_non_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("mine");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("notes.txt"), "keep me").unwrap();
    let out = run(&["demo", "--workspace", target.to_str().unwrap(), "--quiet"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
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
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("field `summary`"), "{err}");
    assert!(err.contains("control character U+000A"), "{err}");
    assert!(files(&ma(&ws).join("tasks/queue")).is_empty());
    // A list item too.
    let json = task_json("t-1").replace(r#"["a"]"#, r#"["a\n\nDepends-On:\n- j-1"]"#);
    let out = add_json(&ws, dir.path(), &json);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("field `acceptance`"));
    assert!(files(&ma(&ws).join("tasks/queue")).is_empty());
}

#[test]
fn a_repeated_json_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ws = init(dir.path());
    let json = task_json("t-1").replace(r#""summary": "s""#, r#""summary": "s", "summary": "t""#);
    let out = add_json(&ws, dir.path(), &json);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
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
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("field `created_at`"), "{err}");
    assert!(!err.contains("Created-At"), "{err}");
}
