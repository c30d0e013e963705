//! What an operator sees (issue 13): a failed stage says why on the monitor
//! and on stderr, `run` exits 4 when its work ended blocked and 130 on a
//! second Ctrl-C, `runs show` leads with how a run ended, `runs tail` says
//! when stdout is empty and `--follow` streams a running stage, heartbeat
//! lines while a stage runs, `status` shows the stage's start and latest
//! event, and a missing agent leaves the queue intact. The terminal test
//! drives a daemon in tmux (a real pseudo-terminal, real Ctrl-C keys);
//! without tmux it is skipped with a reason, except under CI (`CI` set).

mod support;
use support::cli::assert_has;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::harness::{task, Ws};

const EVENT: &str =
    r#"{"type":"item.completed","item":{"type":"agent_message","text":"reading the code"}}"#;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn added(script: &str) -> Ws {
    let ws = Ws::new(script);
    ws.add(
        "add-task",
        task("t-001", "2026-01-01T00:00:00Z", serde_json::json!({})),
    );
    ws
}

fn value<'a>(block: &'a str, key: &str) -> &'a str {
    block
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(": ")))
        .unwrap_or_else(|| panic!("no {key} in\n{block}"))
}

fn run_ids(ws: &Ws) -> Vec<String> {
    support::file_names(&ws.ma().join("runs"))
}

/// A daemon with stdout and stderr in files (read while it runs).
struct Bg {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Bg {
    fn spawn(ws: &Ws, args: &[&str], env: &[(&str, &str)]) -> Bg {
        let out = ws.root.with_file_name("daemon.out");
        let err = ws.root.with_file_name("daemon.err");
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("millrace"));
        cmd.args(["run", "daemon", "--monitor", "basic", "--workspace", ws.w()])
            .args(args)
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        Bg {
            child: cmd.spawn().unwrap(),
            out,
            err,
        }
    }
    fn out(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }
    fn err(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }
    fn signal(&self, sig: libc::c_int) {
        unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
    }
    fn wait(&mut self) -> i32 {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "daemon did not exit"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------ failures are loud

#[test]
fn a_failed_stage_says_why_on_the_monitor_and_stderr_and_run_once_exits_4() {
    let ws = added("builder CRASH\n");
    let out = ws.run(&["run", "once", "--monitor", "basic"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(4), "{stdout}{stderr}");
    let done = stdout
        .lines()
        .find(|l| l.contains("stage done execution/builder"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_has(done, &[" result=BLOCKED ", " failure=runner_"]);
    assert!(done.ends_with(" reason=\"scripted crash\""), "{done}");
    // The same cause, one line, where the operator looks.
    let warning = stderr
        .lines()
        .find(|l| l.starts_with("warning: stage execution/builder on task:t-001 ended BLOCKED ("))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert_has(
        warning,
        &[
            "): scripted crash (see millrace-agents/runs/run-",
            "/runner_stderr.request-",
        ],
    );
    assert!(
        stderr
            .lines()
            .last()
            .unwrap()
            .starts_with("blocked: the stage ended BLOCKED (`millrace runs show run-"),
        "{stderr}"
    );

    // `runs show` leads with why; `runs tail` says stdout is empty.
    let id = &run_ids(&ws)[0];
    let show = text(&ws.run(&["runs", "show", id]).stdout);
    let lead: Vec<&str> = show
        .lines()
        .take(4)
        .map(|l| l.split(": ").next().unwrap())
        .collect();
    assert_eq!(
        lead,
        [
            "outcome",
            "outcome_failure_class",
            "outcome_reason",
            "look_at"
        ]
    );
    // The run goes on (to the troubleshooter): nobody works it now.
    assert_eq!(value(&show, "outcome"), "interrupted", "{show}");
    let tail = ws.run(&["runs", "tail", id]);
    assert_eq!(tail.status.code(), Some(0));
    assert_eq!(text(&tail.stdout), "scripted crash\n");
    let note = text(&tail.stderr);
    assert!(
        note.starts_with("note: the stage's stdout (runner_stdout.request-"),
        "{note}"
    );
    assert_has(
        &note,
        &[") is empty; showing its stderr (runner_stderr.request-"],
    );
    let v: serde_json::Value =
        serde_json::from_str(&text(&ws.run(&["runs", "tail", id, "--json"]).stdout)).unwrap();
    assert!(v["note"].as_str().unwrap().contains("is empty"));
    assert_eq!(v["content"], "scripted crash\n");
}

#[test]
fn a_daemon_whose_work_all_ended_blocked_says_so_and_exits_4() {
    let ws = added("builder CRASH\ntroubleshooter CRASH\nconsultant CRASH\n");
    let out = ws.run(&["run", "daemon", "--until-idle"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert_eq!(
        stderr.lines().last().unwrap(),
        "blocked: all 1 work item(s) this run finished ended blocked: task:t-001 \
         (see `millrace queue ls --state blocked`, `millrace runs show <run>`)"
    );
    let show = text(&ws.run(&["runs", "show", &run_ids(&ws)[0]]).stdout);
    assert_eq!(value(&show, "outcome"), "blocked");
    assert!(
        value(&show, "outcome_failure_class").starts_with("runner_"),
        "{show}"
    );
    assert_eq!(value(&show, "outcome_reason"), "consultant: scripted crash");
    assert!(
        value(&show, "look_at").contains("/runner_stderr.request-"),
        "{show}"
    );
    let v: serde_json::Value = serde_json::from_str(&text(
        &ws.run(&["runs", "show", &run_ids(&ws)[0], "--json"]).stdout,
    ))
    .unwrap();
    assert_eq!(v["ending"]["outcome"], "blocked");

    // One blocked item among finished ones: a warning, exit 0.
    ws.add(
        "add-task",
        task("t-002", "2026-01-02T00:00:00Z", serde_json::json!({})),
    );
    std::fs::write(&ws.script, "").unwrap();
    let out = ws.run(&["run", "daemon", "--until-idle"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn a_missing_agent_is_an_error_on_stderr_and_the_queue_stays_intact() {
    let ws = added("");
    ws.append_config("\n");
    let config = ws.ma().join("millrace.toml");
    let toml = std::fs::read_to_string(&config).unwrap();
    let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes/scripted_codex.sh");
    std::fs::write(
        &config,
        toml.replace(
            &format!("{:?}", fake.display().to_string()),
            "\"no-such-agent-cli\"",
        ),
    )
    .unwrap();
    for args in [&["run", "once"][..], &["run", "daemon", "--until-idle"]] {
        let out = ws.run(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert_has(&stderr, &["runner binary not found: no-such-agent-cli"]);
        assert_eq!(ws.items("tasks", "queue"), ["t-001"]);
        assert!(ws.items("tasks", "active").is_empty());
    }
}

// ------------------------------------------------------------ progress is visible

#[test]
fn heartbeats_show_the_stage_and_the_agents_latest_event() {
    let ws = added("");
    let mut d = Bg::spawn(
        &ws,
        &["--until-idle", "--heartbeat", "1", "--max-ticks", "1"],
        &[("FAKE_DELAY", "2.5"), ("FAKE_EVENT", EVENT)],
    );
    assert_eq!(d.wait(), 0, "{}", d.err());
    let out = d.out();
    let beat = out
        .lines()
        .find(|l| l.contains("] heartbeat "))
        .unwrap_or_else(|| panic!("no heartbeat in\n{out}"));
    assert_has(
        beat,
        &[
            "heartbeat execution/builder run=",
            " work=task:t-001 elapsed=",
        ],
    );
    assert!(
        beat.ends_with(&format!(
            "output={}B last=\"message: reading the code\"",
            EVENT.len() + 1
        )),
        "{beat}"
    );
    // Heartbeats come before the stage is done.
    let at = |needle: &str| out.find(needle).unwrap();
    assert!(
        at("] heartbeat ") < at("stage done execution/builder"),
        "{out}"
    );
}

/// An agent waiting for its network says so on the monitor, once, and
/// when the wait outlasts `network_grace_seconds` the stage is stopped,
/// the task put back and the daemon paused for its environment (exit 5;
/// no automatic retry).
#[test]
fn a_network_wait_is_shown_and_past_the_grace_pauses_the_daemon() {
    const WAIT: &str = r#"{"type":"error","message":"Reconnecting... waiting for network (Connection failed: error sending request)"}"#;
    let ws = added("");
    let config = ws.ma().join("millrace.toml");
    let toml = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("[runners]\nnetwork_grace_seconds = 1\nenvironment_retry_seconds = 0\n\n{toml}"),
    )
    .unwrap();
    // The agent prints the wait, then would sit for 30 s.
    let mut d = Bg::spawn(
        &ws,
        &["--until-idle"],
        &[("FAKE_DELAY", "30"), ("FAKE_EVENT", WAIT)],
    );
    let code = d.wait();
    let all = format!("{}{}", d.out(), d.err());
    assert_eq!(code, 5, "{all}");
    assert_eq!(
        all.matches("stage waiting execution/builder reason=\"Reconnecting... waiting for network")
            .count(),
        1,
        "{all}"
    );
    assert!(all.contains("paused source=agent_environment"), "{all}");
    assert_eq!(ws.items("tasks", "queue"), ["t-001"]);
    let status = text(&ws.run(&["status"]).stdout);
    assert_has(&status, &["agent_environment", "waiting for network"]);
}

#[test]
fn heartbeats_can_be_turned_off_and_the_interval_is_checked() {
    let ws = added("");
    ws.append_config("");
    let config = ws.ma().join("millrace.toml");
    let toml = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        toml.replace("[runtime]\n", "[runtime]\nheartbeat_seconds = 0\n"),
    )
    .unwrap();
    let mut d = Bg::spawn(&ws, &["--max-ticks", "1"], &[("FAKE_DELAY", "1.5")]);
    assert_eq!(d.wait(), 0, "{}", d.err());
    assert!(!d.out().contains("heartbeat"), "{}", d.out());

    std::fs::write(
        &config,
        toml.replace("[runtime]\n", "[runtime]\nheartbeat_seconds = 100000\n"),
    )
    .unwrap();
    let out = ws.run(&["config", "validate"]);
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stdout) + &text(&out.stderr);
    assert_has(&said, &["line 2: `runtime.heartbeat_seconds` is 100000"]);
    std::fs::write(&config, toml).unwrap();
    let out = ws.run(&["run", "once", "--heartbeat", "soon"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn status_shows_the_running_stage_and_runs_tail_follows_it() {
    let ws = added("");
    ws.add(
        "add-task",
        task("t-002", "2026-01-02T00:00:00Z", serde_json::json!({})),
    );
    let mut d = Bg::spawn(
        &ws,
        &["--until-idle"],
        &[("FAKE_DELAY", "1"), ("FAKE_EVENT", EVENT)],
    );
    let mut status = String::new();
    support::wait_for("the agent's first event in status", || {
        status = text(&ws.run(&["status"]).stdout);
        status.contains("active_stage_progress: ") && status.contains("last=")
    });
    let line = value(&status, "active_stage_progress");
    assert!(line.starts_with("plane=execution started_at=20"), "{line}");
    assert!(line.contains(" elapsed="), "{line}");
    assert!(
        line.ends_with(" last=\"message: reading the code\""),
        "{line}"
    );
    let mut run = serde_json::Value::Null;
    support::wait_for("the running stage in status --json", || {
        let v: serde_json::Value =
            serde_json::from_str(&text(&ws.run(&["status", "--json"]).stdout)).unwrap();
        run = v["active_runs"][0].clone();
        run.get("latest_event").is_some()
    });
    assert!(
        run["stage_started_at"].as_str().unwrap().starts_with("20"),
        "{run}"
    );
    assert!(run["stage_elapsed_seconds"].as_u64().is_some(), "{run}");
    assert_eq!(run["latest_event"], "message: reading the code");

    // Follow the first run to its end: every stage's output, then how it ended.
    let first = run_ids(&ws)[0].clone();
    let follow = ws.run(&["runs", "tail", "-f", &first]);
    assert_eq!(follow.status.code(), Some(0));
    let (out, err) = (text(&follow.stdout), text(&follow.stderr));
    assert_has(&out, &["reading the code", "### UPDATE_COMPLETE"]);
    assert!(err.contains("==> stage "), "{err}");
    assert!(
        err.lines().last().unwrap().starts_with(&format!(
            "==> run {first} complete: updater ended UPDATE_COMPLETE"
        )),
        "{err}"
    );
    assert_eq!(d.wait(), 0, "{}", d.err());
    // A finished run: printed, then how it ended, at once.
    let follow = ws.run(&["runs", "tail", "--follow", &first]);
    assert_eq!(text(&follow.stdout), "done\n### UPDATE_COMPLETE\n");
    assert!(text(&follow.stderr).starts_with(&format!("==> run {first} complete")));
}

#[test]
fn ctrl_c_stops_after_the_stage_and_a_second_one_cancels_it() {
    // One Ctrl-C: said at once, the stage finishes, exit 0.
    let ws = added("");
    let mut d = Bg::spawn(&ws, &[], &[("FAKE_DELAY", "5")]);
    support::wait_for("the stage to start", || {
        d.out().contains("stage start execution/builder")
    });
    d.signal(libc::SIGINT);
    support::wait_for("the acknowledgement", || {
        d.err().contains("stopping after the current stage")
    });
    assert!(
        !d.out().contains("stage done"),
        "said before the stage ended"
    );
    assert_eq!(d.wait(), 0, "{}", d.err());
    assert!(
        d.out().contains("stage done execution/builder"),
        "{}",
        d.out()
    );
    assert_eq!(
        d.err().lines().next().unwrap(),
        "stopping after the current stage (press Ctrl-C again to cancel it)"
    );

    // Two: the stage is cancelled, exit 130, the item stays to run it again.
    let ws = added("");
    let mut d = Bg::spawn(&ws, &[], &[("FAKE_DELAY", "30")]);
    support::wait_for("the stage to start", || {
        d.out().contains("stage start execution/builder")
    });
    // Meanwhile `runs show` says the run is being worked, and where.
    let id = run_ids(&ws)[0].clone();
    let show = text(&ws.run(&["runs", "show", &id]).stdout);
    assert_eq!(value(&show, "outcome"), "running", "{show}");
    assert!(
        value(&show, "outcome_reason").starts_with("stage builder running since 20"),
        "{show}"
    );
    assert!(
        value(&show, "look_at").contains("/runner_events.request-"),
        "{show}"
    );
    d.signal(libc::SIGINT);
    support::wait_for("the acknowledgement", || d.err().contains("stopping after"));
    d.signal(libc::SIGINT);
    assert_eq!(d.wait(), 130, "{}", d.err());
    let err = d.err();
    assert_has(&err, &["Ctrl-C again: cancelling the running stage"]);
    assert!(
        err.lines().last().unwrap().starts_with("interrupted: "),
        "{err}"
    );
    assert_eq!(ws.items("tasks", "active"), ["t-001"]);
    let id = &id;
    let show = text(&ws.run(&["runs", "show", id]).stdout);
    assert_eq!(value(&show, "outcome"), "interrupted", "{show}");

    // Retried: the run never ends, and says so instead of looking alive.
    let out = ws.run(&["retry-active", "--reason", "test"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let show = text(&ws.run(&["runs", "show", id]).stdout);
    assert_eq!(value(&show, "outcome"), "not_finished", "{show}");
    assert!(
        value(&show, "outcome_reason").contains("task t-001 is now in queue"),
        "{show}"
    );
}

/// The heartbeat and the Ctrl-C messages as an operator sees them: a daemon
/// in a tmux pane (a real terminal), keys sent as typed.
#[test]
fn in_a_terminal_heartbeats_show_and_ctrl_c_is_acknowledged() {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "tmux is required under CI (.ci/run installs it)"
        );
        eprintln!("skipped: tmux is not installed (.ci/run installs it)");
        return;
    }
    let ws = added("");
    let session = format!("millrace-progress-{}", std::process::id());
    let socket = ws.root.with_file_name("tmux.sock");
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .arg("-S")
            .arg(&socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let bin = assert_cmd::cargo::cargo_bin("millrace");
    let cmd = format!(
        "FAKE_DELAY=30 FAKE_EVENT='{EVENT}' {} run daemon --monitor basic --heartbeat 1 --workspace {}; echo exit=$?; sleep 60",
        bin.display(),
        ws.w()
    );
    let out = tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "250",
        "-y",
        "50",
        &cmd,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    struct Kill<'a>(&'a dyn Fn(&[&str]) -> std::process::Output, String);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            (self.0)(&["kill-session", "-t", &self.1]);
        }
    }
    let _guard = Kill(&tmux, session.clone());
    let pane = || text(&tmux(&["capture-pane", "-p", "-J", "-t", &session]).stdout);
    support::wait_for("a heartbeat in the pane", || {
        pane().contains("] heartbeat execution/builder")
    });
    assert!(
        pane().contains("last=\"message: reading the code\""),
        "{}",
        pane()
    );
    tmux(&["send-keys", "-t", &session, "C-c"]);
    support::wait_for("the Ctrl-C message", || {
        pane().contains("stopping after the current stage (press Ctrl-C again to cancel it)")
    });
    tmux(&["send-keys", "-t", &session, "C-c"]);
    support::wait_for("the daemon to exit", || pane().contains("exit=130"));
    let screen = pane();
    assert_has(&screen, &["Ctrl-C again: cancelling the running stage"]);
    assert_eq!(ws.items("tasks", "active"), ["t-001"]);
}
