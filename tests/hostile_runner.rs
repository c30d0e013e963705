//! Broken runners and dead daemons (issue 9): a runner that cannot start
//! never drains the queue, a plan whose runner cannot be found is refused
//! up front, and a daemon lock that no process holds heals.

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;
use support::cli::assert_has;
use support::harness::millrace;
use support::wait_for;

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn fake(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fakes")
        .join(name)
        .display()
        .to_string()
}

struct Ws {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Ws {
    /// An initialized workspace whose codex runner is `codex_command`, with
    /// `extra` appended to `millrace.toml`.
    fn new(codex_command: &str, extra: &str) -> Ws {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        assert!(millrace(&["init", "--workspace", root.to_str().unwrap()])
            .status
            .success());
        let ws = Ws { _dir: dir, root };
        let mut config = std::fs::read_to_string(ws.ma("millrace.toml")).unwrap();
        config.push_str(&format!("command = {codex_command:?}\nargs = []\n{extra}"));
        std::fs::write(ws.ma("millrace.toml"), config).unwrap();
        ws
    }

    fn ma(&self, rel: &str) -> PathBuf {
        self.root.join("millrace-agents").join(rel)
    }

    fn r(&self) -> &str {
        self.root.to_str().unwrap()
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        all.extend(["--workspace", self.r()]);
        millrace(&all)
    }

    fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(self.ma("logs/runtime_events.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn files(&self, rel: &str) -> Vec<String> {
        support::file_names(&self.ma(rel))
    }

    /// A daemon lock as a daemon writes it, naming `pid` on `host`, with the
    /// snapshot saying a daemon runs (what a killed daemon leaves).
    fn plant_lock(&self, pid: u32, host: &str) {
        let lock = serde_json::json!({
            "workspace_root": std::fs::canonicalize(&self.root).unwrap().display().to_string(),
            "owner_pid": pid,
            "owner_hostname": host,
            "owner_session_id": "0123456789abcdef0123456789abcdef",
            "acquired_at": "2026-01-01T00:00:00+00:00",
        });
        std::fs::write(self.ma("state/runtime_daemon.lock.json"), lock.to_string()).unwrap();
        let path = self.ma("state/runtime_snapshot.json");
        let mut snap: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        snap["process_running"] = Value::Bool(true);
        std::fs::write(&path, snap.to_string()).unwrap();
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

/// A live process that is not a daemon: what a reused pid looks like.
struct Sleeper(std::process::Child);

impl Sleeper {
    fn new() -> Sleeper {
        Sleeper(Command::new("sleep").arg("60").spawn().unwrap())
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A daemon started in the background, killed if a test fails before it stops.
struct Daemon(Option<std::process::Child>);

impl Daemon {
    fn start(ws: &Ws, monitor: bool) -> Daemon {
        let mut args = vec!["run", "daemon", "--workspace", ws.r()];
        if monitor {
            args.extend(["--monitor", "basic"]);
        }
        Daemon(Some(
            Command::cargo_bin("millrace")
                .unwrap()
                .args(args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
        ))
    }

    fn wait(mut self) -> Output {
        self.0.take().unwrap().wait_with_output().unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

// ------------------------------------------------------------------ lock

#[test]
fn a_lock_naming_a_live_process_that_holds_nothing_is_stale_and_cleared() {
    let ws = Ws::new(&fake("fake_codex.sh"), "");
    let sleeper = Sleeper::new();
    ws.plant_lock(sleeper.0.id(), &hostname());

    let status = ws.run(&["status"]);
    let out = text(&status);
    assert_has(
        &out,
        &["process_running: false", "runtime_ownership_lock: stale"],
    );

    let doctor = ws.run(&["doctor"]);
    let out = text(&doctor);
    assert!(out.contains("runtime_ownership_lock_stale"), "{out}");
    assert!(
        out.contains(&format!(
            "pid {} is alive but is not a millrace daemon",
            sleeper.0.id()
        )),
        "{out}"
    );

    // Applied directly (no daemon to read a mailbox), and the lock is gone.
    let clear = ws.run(&["clear-stale-state"]);
    let out = text(&clear);
    assert!(clear.status.success(), "{out}");
    assert_has(&out, &["mode: direct", "removed stale daemon lock"]);
    assert!(!ws.ma("state/runtime_daemon.lock.json").exists());
    assert!(ws.files("state/mailbox/incoming").is_empty());
    assert!(text(&ws.run(&["status"])).contains("runtime_ownership_lock: absent"));
}

#[test]
fn run_once_reclaims_a_lock_left_by_a_reused_pid_or_another_host() {
    for host in [hostname(), "container-before-restart".to_string()] {
        let ws = Ws::new(&fake("fake_codex.sh"), "");
        let sleeper = Sleeper::new();
        ws.plant_lock(sleeper.0.id(), &host);
        let run = ws.run(&["run", "once"]);
        assert!(run.status.success(), "{}", text(&run));
        let reclaimed: Vec<Value> = ws
            .events()
            .into_iter()
            .filter(|e| e["event_type"] == "runtime_lock_reclaimed")
            .collect();
        assert_eq!(reclaimed.len(), 1, "{:?}", ws.events());
        assert_eq!(reclaimed[0]["data"]["previous_owner_pid"], sleeper.0.id());
        assert!(!ws.ma("state/runtime_daemon.lock.json").exists());
    }
}

#[test]
fn doctor_repair_removes_a_lock_nobody_holds() {
    let ws = Ws::new(&fake("fake_codex.sh"), "");
    let sleeper = Sleeper::new();
    ws.plant_lock(sleeper.0.id(), &hostname());
    let repair = ws.run(&["doctor", "--repair"]);
    let out = text(&repair);
    assert!(out.contains("repaired: removed stale daemon lock"), "{out}");
    assert!(!out.contains("runtime_ownership_lock_stale"), "{out}");
    assert!(!ws.ma("state/runtime_daemon.lock.json").exists());
}

#[test]
fn a_live_reference_daemon_which_takes_no_kernel_lock_still_owns_the_workspace() {
    let ws = Ws::new(&fake("fake_codex.sh"), "");
    // The reference runs as `python .../bin/millrace run daemon`.
    let bin = ws.root.with_extension("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(
        bin.join("millrace"),
        "#!/bin/sh\nwhile :; do sleep 1; done\n",
    )
    .unwrap();
    let reference = Sleeper(
        Command::new("/bin/sh")
            .arg(bin.join("millrace"))
            .args(["run", "daemon"])
            .spawn()
            .unwrap(),
    );
    ws.plant_lock(reference.0.id(), &hostname());
    assert!(text(&ws.run(&["status"])).contains("runtime_ownership_lock: active"));
    let refused = ws.run(&["run", "once"]);
    // A daemon owns the workspace: busy (docs/exit-codes.md).
    assert_eq!(refused.status.code(), Some(3));
    assert!(
        text(&refused).contains(&format!("pid={}", reference.0.id())),
        "{}",
        text(&refused)
    );
    let clear = ws.run(&["clear-stale-state"]);
    assert!(text(&clear).contains("mode: mailbox"), "{}", text(&clear));
    assert!(ws.ma("state/runtime_daemon.lock.json").exists());
}

// ------------------------------------------------------------------ runners

const STAGES: [&str; 12] = [
    "builder",
    "checker",
    "fixer",
    "doublechecker",
    "updater",
    "troubleshooter",
    "consultant",
    "planner",
    "manager",
    "mechanic",
    "auditor",
    "arbiter",
];

impl Ws {
    /// A workspace whose mode runs every stage on the `command` runner with
    /// `argv`, with `tasks` tasks and `specs` specs queued.
    /// `command_runner` whose agent for each stage is `./agents/<stage>`
    /// in the workspace (none there yet), the daemon idling 0.05 s.
    fn agents_dir_runner(tasks: usize, specs: usize) -> Ws {
        let ws = Ws::command_runner(
            &[
                "./agents/{stage}",
                "--output-last-message",
                "{last_message_file}",
            ],
            "",
            tasks,
            specs,
        );
        let config = std::fs::read_to_string(ws.ma("millrace.toml"))
            .unwrap()
            .replace("[runtime]\n", "[runtime]\nidle_sleep_seconds = 0.05\n");
        std::fs::write(ws.ma("millrace.toml"), config).unwrap();
        ws
    }

    fn command_runner(argv: &[&str], extra: &str, tasks: usize, specs: usize) -> Ws {
        let ws = Ws::new(&fake("fake_codex.sh"), "");
        std::fs::write(
            ws.ma("mill/modes/cmd.mill"),
            "import \"default_codex.mill\"\n\nmode cmd extends default_codex {\n  runner command\n}\n",
        )
        .unwrap();
        let config = std::fs::read_to_string(ws.ma("millrace.toml"))
            .unwrap()
            .replace("default_mode = \"default_codex\"", "default_mode = \"cmd\"");
        let argv: Vec<String> = argv.iter().map(|a| format!("{a:?}")).collect();
        std::fs::write(
            ws.ma("millrace.toml"),
            format!(
                "{config}\n[runners.command]\nargv = [{}]\nprompt_mode = \"argument\"\n{extra}",
                argv.join(", ")
            ),
        )
        .unwrap();
        for i in 1..=tasks {
            ws.add("add-task", &format!(
                r#"{{"task_id": "t-{i:03}", "title": "Task {i}", "summary": "s", "target_paths": ["README.md"], "acceptance": ["a"], "required_checks": ["c"], "references": ["r"], "risk": ["none"], "created_at": "2026-04-15T12:00:00Z", "created_by": "tests"}}"#
            ));
        }
        for i in 1..=specs {
            ws.add("add-spec", &format!(
                r#"{{"spec_id": "s-{i:03}", "title": "Spec {i}", "summary": "A small spec", "source_type": "manual", "goals": ["g"], "non_goals": ["n"], "constraints": ["c"], "acceptance": ["a"], "references": ["r"], "created_at": "2026-04-15T12:00:00Z", "created_by": "tests"}}"#
            ));
        }
        ws
    }

    fn add(&self, command: &str, json: &str) {
        let file = self.root.with_extension("item.json");
        std::fs::write(&file, json).unwrap();
        let out = self.run(&[command, file.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
    }

    /// Every work document, as `kind/state/file`.
    fn items(&self) -> Vec<String> {
        let mut out = Vec::new();
        for kind in ["tasks", "specs", "incidents"] {
            for state in ["queue", "incoming", "active", "done", "resolved", "blocked"] {
                for f in self.files(&format!("{kind}/{state}")) {
                    out.push(format!("{kind}/{state}/{f}"));
                }
            }
        }
        out
    }

    fn value(&self, key: &str) -> String {
        let out = text(&self.run(&["status"]));
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}: ")))
            .unwrap_or("<absent>")
            .to_string()
    }
}

#[test]
fn config_validate_doctor_and_run_refuse_a_runner_that_cannot_start() {
    for (argv, cause) in [
        (
            vec!["/usr/bin/claude-typo"],
            "runner binary not found: /usr/bin/claude-typo",
        ),
        (
            vec!["claude-typo", "-p"],
            "runner binary not found: claude-typo",
        ),
        // Caught earlier, when the plan is compiled with the config.
        (vec![], "needs `argv` in [runners.command]"),
        (vec!["./README.md"], "runner binary is not executable"),
    ] {
        let ws = Ws::command_runner(&argv, "", 2, 1);
        std::fs::write(ws.root.join("README.md"), "not a program\n").unwrap();
        let before = ws.items();

        let validate = ws.run(&["config", "validate"]);
        let out = text(&validate);
        assert_eq!(validate.status.code(), Some(1), "{out}");
        assert!(out.contains("ok: false"), "{out}");
        if !argv.is_empty() {
            assert_has(
                &out,
                &[
                    "runner_binary_unavailable",
                    "runner `command` (used by execution/builder",
                ],
            );
        }
        assert!(out.contains(cause), "{out}");

        let doctor = ws.run(&["doctor"]);
        let out = text(&doctor);
        assert_eq!(doctor.status.code(), Some(1), "{out}");
        let code = if argv.is_empty() {
            "error: resolved_mode_invalid"
        } else {
            "error: runner_binary_unavailable"
        };
        assert!(out.contains(code), "{out}");
        assert!(out.contains(cause), "{out}");

        for run in [&["run", "once"][..], &["run", "daemon", "--until-idle"][..]] {
            let refused = ws.run(run);
            let err = String::from_utf8_lossy(&refused.stderr).into_owned();
            assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(err.contains(cause), "{err}");
        }
        assert_eq!(ws.items(), before, "the queue is left as it was");
        assert!(!ws.ma("state/runtime_daemon.lock.json").exists());
    }
}

#[test]
fn a_missing_script_file_is_refused_up_front() {
    let ws = Ws::new(&fake("fake_codex.sh"), "");
    std::fs::write(
        ws.ma("mill/modes/scripted.mill"),
        "import \"default_codex.mill\"\n\nmode scripted extends default_codex {\n  runner script\n}\n",
    )
    .unwrap();
    let config = std::fs::read_to_string(ws.ma("millrace.toml"))
        .unwrap()
        .replace(
            "default_mode = \"default_codex\"",
            "default_mode = \"scripted\"",
        );
    std::fs::write(
        ws.ma("millrace.toml"),
        format!("{config}\n[runners.script]\npath = \"gone.json\"\n"),
    )
    .unwrap();
    // The compile check finds it first (the script's keys are checked
    // against the plan's nodes); doctor reports the mode as unusable.
    let doctor = ws.run(&["doctor"]);
    assert_eq!(doctor.status.code(), Some(1), "{}", text(&doctor));
    assert!(text(&doctor).contains("gone.json"), "{}", text(&doctor));
    let refused = ws.run(&["run", "once"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(text(&refused).contains("gone.json"), "{}", text(&refused));
}

#[test]
fn an_agent_that_cannot_start_puts_the_item_back_and_pauses_the_daemon() {
    // `{stage}` is only known per request, so the preflight cannot see that
    // `./agents/<stage>` does not exist; every start fails.
    let ws = Ws::agents_dir_runner(3, 1);
    // The key is ours and documented: pause after 2 start failures in a row.
    let config = std::fs::read_to_string(ws.ma("millrace.toml"))
        .unwrap()
        .replace(
            "[runners.codex]",
            "[runners]\nstart_failures_before_pause = 2\n\n[runners.codex]",
        );
    std::fs::write(ws.ma("millrace.toml"), config).unwrap();
    let validate = ws.run(&["config", "validate"]);
    assert!(validate.status.success(), "{}", text(&validate));
    let before = ws.items();

    let run = ws.run(&["run", "daemon", "--max-ticks", "8", "--monitor", "basic"]);
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(run.status.success(), "{stdout}{stderr}");

    // Nothing moved: no item blocked, no incident, no counter, no stage result.
    assert_eq!(ws.items(), before, "{stdout}");
    let counters = std::fs::read_to_string(ws.ma("state/recovery_counters.json")).unwrap();
    assert!(!counters.contains("s-001"), "{counters}");
    assert!(ws.files("runs").is_empty(), "{:?}", ws.files("runs"));
    assert!(!stdout.contains("troubleshooter"), "{stdout}");

    // The cause, on stderr and in the monitor, twice; then the pause.
    let cause = "runner binary not found: ./agents/planner";
    assert_eq!(stderr.matches(cause).count(), 2, "{stderr}");
    assert_eq!(stdout.matches("runner unavailable").count(), 2, "{stdout}");
    // Each attempt shows its `stage start` line first (docs/runners.md), and no `stage done`.
    assert_eq!(
        stdout.matches("stage start planning/planner").count(),
        2,
        "{stdout}"
    );
    assert!(!stdout.contains("stage done"), "{stdout}");
    assert!(stdout.contains("failures=2/2"), "{stdout}");
    assert!(
        stdout.contains(&format!("paused source=runner_unavailable reason={cause}")),
        "{stdout}"
    );
    assert_eq!(ws.value("paused"), "true");
    assert_eq!(ws.value("pause_sources"), "runner_unavailable");
    assert_eq!(ws.value("pause_reason"), format!("runner command: {cause}"));

    // Still paused on the next start: nothing runs.
    let once = ws.run(&["run", "once"]);
    assert!(
        text(&once).contains("tick_reason: paused"),
        "{}",
        text(&once)
    );

    // Fix the agents, resume, and the queue drains.
    std::fs::create_dir_all(ws.root.join("agents")).unwrap();
    for stage in STAGES {
        std::os::unix::fs::symlink(
            fake("scripted_codex.sh"),
            ws.root.join("agents").join(stage),
        )
        .unwrap();
    }
    let resume = ws.run(&["resume"]);
    assert!(resume.status.success(), "{}", text(&resume));
    assert_eq!(ws.value("pause_sources"), "none");
    assert_eq!(ws.value("pause_reason"), "<absent>");
    let run = ws.run(&["run", "daemon", "--until-idle"]);
    assert!(run.status.success(), "{}", text(&run));
    let items = ws.items();
    assert!(items.iter().all(|i| !i.contains("/blocked/")), "{items:?}");
    for id in ["t-001", "t-002", "t-003"] {
        assert!(items.contains(&format!("tasks/done/{id}.md")), "{items:?}");
    }
}

#[test]
fn the_start_failure_limit_is_validated() {
    let ws = Ws::new(
        &fake("fake_codex.sh"),
        "\n[runners]\nstart_failures_before_pause = 0\n",
    );
    let validate = ws.run(&["config", "validate"]);
    assert_eq!(validate.status.code(), Some(1));
    assert!(
        text(&validate).contains("start_failures_before_pause must be between 1 and 1000"),
        "{}",
        text(&validate)
    );
}

#[test]
fn a_stage_that_cannot_start_mid_run_waits_at_that_stage_and_resume_reaches_a_live_daemon() {
    let ws = Ws::agents_dir_runner(1, 0);
    // Only the builder exists: the checker cannot start.
    let agents = ws.root.join("agents");
    std::fs::create_dir_all(&agents).unwrap();
    std::os::unix::fs::symlink(fake("scripted_codex.sh"), agents.join("builder")).unwrap();

    let daemon = Daemon::start(&ws, true);
    wait_for("the runner pause", || {
        ws.value("pause_sources") == "runner_unavailable"
    });
    // The task stays where it was, at the checker, with one stage run.
    assert_eq!(ws.files("tasks/active"), vec!["t-001.md"]);
    assert_eq!(ws.value("active_stage"), "checker");
    // One stage run: one stage result (the count a restart takes back up).
    let snapshot: Value =
        serde_json::from_slice(&std::fs::read(ws.ma("state/runtime_snapshot.json")).unwrap())
            .unwrap();
    let run_id = snapshot["active_runs_by_plane"]["execution"]["run_id"]
        .as_str()
        .unwrap();
    let results = std::fs::read_dir(ws.ma(&format!("runs/{run_id}/stage_results")))
        .unwrap()
        .count();
    assert_eq!(results, 1);
    assert_eq!(ws.value("execution_status_marker"), "### BUILDER_COMPLETE");

    for stage in STAGES.iter().filter(|s| **s != "builder") {
        std::os::unix::fs::symlink(fake("scripted_codex.sh"), agents.join(stage)).unwrap();
    }
    let resume = ws.run(&["resume"]);
    assert!(text(&resume).contains("mode: mailbox"), "{}", text(&resume));
    wait_for("the task to finish", || {
        ws.files("tasks/done") == vec!["t-001.md".to_string()]
    });
    assert!(ws.run(&["stop"]).status.success());
    let out = daemon.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(
        stdout
            .matches("runner unavailable execution/checker")
            .count(),
        3,
        "{stdout}"
    );
    assert!(stdout.contains("back_to=stage checker"), "{stdout}");
    assert!(!stdout.contains("troubleshooter"), "{stdout}");
    assert_has(&stdout, &["route execution done reason=updater_complete"]);
}

#[test]
fn a_reload_to_a_runner_that_cannot_start_keeps_the_previous_plan() {
    let ws = Ws::new(&fake("fake_codex.sh"), "");
    let daemon = Daemon::start(&ws, false);
    let snapshot = || -> Value {
        serde_json::from_slice(&std::fs::read(ws.ma("state/runtime_snapshot.json")).unwrap())
            .unwrap_or(Value::Null)
    };
    wait_for("the daemon", || snapshot()["process_running"] == true);
    let config = std::fs::read_to_string(ws.ma("millrace.toml"))
        .unwrap()
        .replace(&fake("fake_codex.sh"), "claude-typo");
    std::fs::write(ws.ma("millrace.toml"), config).unwrap();
    assert!(text(&ws.run(&["reload-config"])).contains("mode: mailbox"));
    wait_for("the reload", || {
        snapshot()["last_reload_outcome"] == "failed_retained_previous_plan"
    });
    let error = snapshot()["last_reload_error"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert_has(&error, &["runner binary not found: claude-typo"]);
    assert!(ws.run(&["stop"]).status.success());
    assert!(daemon.wait().status.success());
}
