//! The daemon as an operator drives it: signals stop it cleanly, a second
//! daemon is refused with the owner's pid, a dead owner's lock is reclaimed,
//! and control commands reach a running daemon through its mailbox.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

mod support;
use support::cli::assert_success;
use support::wait_for;

/// The binary, with a fake `codex` first on `PATH` (the default runner must resolve).
fn millrace() -> Command {
    support::millrace_cmd()
}

fn init(dir: &Path) -> PathBuf {
    let ws = dir.join("ws");
    assert!(run(&ws, &["init"]).status.success());
    ws
}

/// `millrace ARGS --workspace <ws>`.
fn run(ws: &Path, args: &[&str]) -> std::process::Output {
    millrace()
        .args(args)
        .arg("--workspace")
        .arg(ws)
        .output()
        .unwrap()
}

fn spawn_daemon(ws: &Path) -> Child {
    millrace()
        .args([
            "run",
            "daemon",
            "--workspace",
            ws.to_str().unwrap(),
            "--monitor",
            "basic",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn lock_exists(ws: &Path) -> bool {
    ws.join("millrace-agents/state/runtime_daemon.lock.json")
        .exists()
}

fn snapshot(ws: &Path) -> serde_json::Value {
    serde_json::from_slice(
        &std::fs::read(ws.join("millrace-agents/state/runtime_snapshot.json")).unwrap(),
    )
    .unwrap()
}

fn sigterm(child: &Child) {
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
}

#[test]
fn sigterm_stops_at_a_safe_point_and_releases_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let ws = init(dir.path());
    let child = spawn_daemon(&ws);
    wait_for("the lock", || lock_exists(&ws));
    wait_for("the daemon to run", || {
        snapshot(&ws)["process_running"] == true
    });
    sigterm(&child);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("interrupted: true"), "{stdout}");
    // The monitor line docs/operator-guide.md lists for a signal.
    assert!(stdout.contains("] stopped reason=signal\n"), "{stdout}");
    assert!(!lock_exists(&ws));
    assert_eq!(snapshot(&ws)["process_running"], false);
}

#[test]
fn a_second_daemon_is_refused_with_the_owner_pid() {
    let dir = tempfile::tempdir().unwrap();
    let ws = init(dir.path());
    let first = spawn_daemon(&ws);
    wait_for("the lock", || lock_exists(&ws));
    let second = run(&ws, &["run", "once"]);
    let err = String::from_utf8_lossy(&second.stderr).into_owned();
    let pid = first.id();
    sigterm(&first);
    let first_out = first.wait_with_output().unwrap();
    let context = format!(
        "second: {err}\nfirst stdout: {}\nfirst stderr: {}",
        String::from_utf8_lossy(&first_out.stdout),
        String::from_utf8_lossy(&first_out.stderr)
    );
    assert_eq!(second.status.code(), Some(3), "{context}");
    assert!(err.contains(&format!("pid={pid}")), "{context}");
}

#[test]
fn a_dead_owners_lock_is_reclaimed_and_logged() {
    let dir = tempfile::tempdir().unwrap();
    let ws = init(dir.path());
    // A pid that cannot be alive: spawn and reap a short process.
    let mut dead = Command::new("true").spawn().unwrap();
    let pid = dead.id();
    dead.wait().unwrap();
    let host = String::from_utf8(Command::new("hostname").output().unwrap().stdout).unwrap();
    let lock = serde_json::json!({
        "workspace_root": std::fs::canonicalize(&ws).unwrap().display().to_string(),
        "owner_pid": pid,
        "owner_hostname": host.trim(),
        "owner_session_id": "0123456789abcdef0123456789abcdef",
        "acquired_at": "2026-01-01T00:00:00+00:00",
    });
    std::fs::write(
        ws.join("millrace-agents/state/runtime_daemon.lock.json"),
        lock.to_string(),
    )
    .unwrap();
    let out = run(&ws, &["run", "once"]);
    assert_success(&out);
    let events =
        std::fs::read_to_string(ws.join("millrace-agents/logs/runtime_events.jsonl")).unwrap();
    assert!(events.contains("reclaim"), "{events}");
    assert!(!lock_exists(&ws));
}

#[test]
fn control_commands_reach_a_running_daemon_through_the_mailbox() {
    let dir = tempfile::tempdir().unwrap();
    let ws = init(dir.path());
    let child = spawn_daemon(&ws);
    wait_for("the daemon to run", || {
        lock_exists(&ws) && snapshot(&ws)["process_running"] == true
    });
    let pause = run(&ws, &["pause"]);
    let text = String::from_utf8_lossy(&pause.stdout);
    assert!(text.starts_with("action: pause\nmode: mailbox\napplied: false\ndetail: queued for daemon processing\ncommand_id: "), "{text}");
    wait_for("the pause to apply", || snapshot(&ws)["paused"] == true);
    let resume = run(&ws, &["control", "resume"]);
    assert!(String::from_utf8_lossy(&resume.stdout).contains("mode: mailbox"));
    wait_for("the resume to apply", || snapshot(&ws)["paused"] == false);
    let stop = run(&ws, &["stop"]);
    assert!(stop.status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("stopped reason=stop_requested"));
    let processed = std::fs::read_dir(ws.join("millrace-agents/state/mailbox/processed"))
        .unwrap()
        .count();
    assert_eq!(processed, 3);
    assert!(!lock_exists(&ws));
}

#[test]
fn control_without_a_daemon_applies_directly() {
    let dir = tempfile::tempdir().unwrap();
    let ws = init(dir.path());
    let out = run(&ws, &["pause"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "action: pause\nmode: direct\napplied: true\ndetail: runtime paused\n"
    );
    assert_eq!(snapshot(&ws)["paused"], true);
    let out = run(&ws, &["reload-config"]);
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("detail: no daemon running; reload request not enqueued"));
    // A paused workspace runs nothing.
    let once = run(&ws, &["run", "once"]);
    assert!(String::from_utf8_lossy(&once.stdout).contains("tick_reason: paused"));
}

#[test]
fn an_agent_left_running_by_a_killed_daemon_is_stopped_before_its_stage_reruns() {
    let dir = tempfile::tempdir().unwrap();
    let ws = init(dir.path());
    let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes/scripted_codex.sh");
    let script = dir.path().join("script.txt");
    std::fs::write(&script, "builder SLEEP BUILDER_COMPLETE\n").unwrap();
    let config = ws.join("millrace-agents/millrace.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "command = {:?}\nargs = []\n\n[runners.codex.env]\nFAKE_SCRIPT = {:?}\n",
        fake.display().to_string(),
        script.display().to_string()
    ));
    std::fs::write(&config, text).unwrap();
    let task = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bench/task.json");
    assert!(run(&ws, &["add-task", task.to_str().unwrap()])
        .status
        .success());
    let mut daemon = spawn_daemon(&ws);
    let note = ws.join("millrace-agents/state/agent_process.txt");
    wait_for("the agent to start", || {
        note.exists()
            && std::fs::read_to_string(&note)
                .map(|t| !t.is_empty())
                .unwrap_or(false)
    });
    let pid: i32 = std::fs::read_to_string(&note)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    let alive = |pid: i32| unsafe { libc::kill(pid, 0) == 0 };
    assert!(alive(pid), "the agent should outlive a SIGKILLed daemon");
    let out = run(&ws, &["run", "once"]);
    assert_success(&out);
    // Reaped by init once killed; give it a moment.
    wait_for("the orphaned agent to die", || {
        !alive(pid)
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|s| s.contains(") Z "))
                .unwrap_or(true)
    });
    let events =
        std::fs::read_to_string(ws.join("millrace-agents/logs/runtime_events.jsonl")).unwrap();
    assert!(events.contains("orphaned_agent_killed"), "{events}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("tick_reason: builder:BUILDER_COMPLETE"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
