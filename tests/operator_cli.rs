//! The operator commands through the real binary on temp workspaces:
//! `status` (keys and order against the reference's captured output,
//! `--json`, `status watch`), and `runs ls|show|tail|trace` after a run of
//! the scripted fake agent and on the reference's own run records.

use std::path::{Path, PathBuf};

mod support;
use support::harness::millrace;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn reference(rel: &str) -> PathBuf {
    manifest_dir().join("tests/fixtures/reference").join(rel)
}

struct Ws {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Ws {
    /// A freshly initialized workspace.
    fn new() -> Ws {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        let out = millrace(&["init", "--workspace", root.to_str().unwrap()]);
        assert!(out.status.success(), "{out:?}");
        let root = root.canonicalize().unwrap();
        Ws { _dir: dir, root }
    }

    /// A workspace whose codex runner is the scripted fake, with one task queued.
    fn with_fake(script: &str) -> Ws {
        let ws = Ws::new();
        let script_path = ws.root.join("script.txt");
        std::fs::write(&script_path, script).unwrap();
        let config = ws.ma().join("millrace.toml");
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str(&format!(
            "command = {:?}\nargs = []\n\n[runners.codex.env]\nFAKE_SCRIPT = {:?}\n",
            manifest_dir()
                .join("tests/fakes/scripted_codex.sh")
                .display()
                .to_string(),
            script_path.display().to_string()
        ));
        std::fs::write(&config, text).unwrap();
        let task = manifest_dir().join("tests/fixtures/bench/task.json");
        ws.ok(&["add-task", task.to_str().unwrap()]);
        ws
    }

    fn ma(&self) -> PathBuf {
        self.root.join("millrace-agents")
    }

    fn ws(&self) -> &str {
        self.root.to_str().unwrap()
    }

    /// Run a command against this workspace: (exit code, stdout, stderr),
    /// with the workspace path shown as `<WS>`.
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--workspace", self.ws()]);
        let out = millrace(&all);
        let clean = |b: &[u8]| String::from_utf8_lossy(b).replace(self.ws(), "<WS>");
        (
            out.status.code().unwrap_or(-1),
            clean(&out.stdout),
            clean(&out.stderr),
        )
    }

    /// Stdout of a command that must succeed.
    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "{args:?}\nstdout:\n{out}\nstderr:\n{err}");
        out
    }

    /// `run daemon --until-idle`; its exit code: 0, or 4 when the work it
    /// ran ended blocked.
    fn run_until_idle(&self) -> i32 {
        let (code, out, err) = self.run(&["run", "daemon", "--until-idle"]);
        assert!(
            code == 0 || code == 4,
            "exit {code}\nstdout:\n{out}\nstderr:\n{err}"
        );
        code
    }

    fn run_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(self.ma().join("runs"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        ids.sort();
        ids
    }

    /// Copy the reference's run records of a trace into this workspace,
    /// with `<WS>` in them pointing here.
    fn import_reference_runs(&self, trace: &str) {
        let from = reference(&format!("traces/{trace}/millrace-agents/runs"));
        copy_tree(&from, &self.ma().join("runs"), self.ws());
    }

    fn edit_snapshot(&self, f: impl FnOnce(&mut serde_json::Value)) {
        let path = self.ma().join("state/runtime_snapshot.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    }
}

fn copy_tree(from: &Path, to: &Path, ws: &str) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest, ws);
        } else {
            let bytes = std::fs::read(e.path()).unwrap();
            let text = String::from_utf8_lossy(&bytes).replace("<WS>", ws);
            std::fs::write(dest, text).unwrap();
        }
    }
}

/// A captured reference output without its `$ command` and `[exit N]` lines.
fn reference_output(name: &str) -> String {
    let text = std::fs::read_to_string(reference(&format!("cli/{name}"))).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("$ ") && lines.last().unwrap().starts_with("[exit"));
    let mut out = lines[1..lines.len() - 1].join("\n");
    out.push('\n');
    out
}

fn keys(block: &str) -> Vec<&str> {
    block
        .lines()
        .map(|l| l.split_once(": ").map_or(l, |(k, _)| k))
        .collect()
}

fn value<'a>(block: &'a str, key: &str) -> &'a str {
    block
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(": ")))
        .unwrap_or_else(|| panic!("no {key} in\n{block}"))
}

/// Values that differ between our build and the reference, or between runs.
fn masked(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let line = match line.split_once(": ") {
            Some(("baseline_manifest_id", _)) => "baseline_manifest_id: [MANIFEST]".to_string(),
            Some(("baseline_seed_package_version", _)) => {
                "baseline_seed_package_version: [VERSION]".to_string()
            }
            _ => line.to_string(),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

fn insta_settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(
        r"baseline_manifest_id: [0-9a-f]{64}",
        "baseline_manifest_id: [MANIFEST]",
    );
    s.add_filter(
        r"baseline_seed_package_version: \S+",
        "baseline_seed_package_version: [VERSION]",
    );
    s.add_filter(
        r"plan-default_codex-[0-9a-f]{12}",
        "plan-default_codex-[PLAN]",
    );
    s.add_filter(r"cfg-[0-9a-f]{12}", "cfg-[CFG]");
    s.add_filter(r"assets-[0-9a-f]{12}", "assets-[ASSETS]");
    s.add_filter(r"run-[0-9a-f]{32}", "run-[RUN]");
    s.add_filter(r"run=[0-9a-f]{12}", "run=[HANDLE]");
    s.add_filter(r"request-[0-9a-f]{32}", "request-[REQUEST]");
    s.add_filter(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)",
        "[TIMESTAMP]",
    );
    s.add_filter(
        r"duration_seconds: [0-9.e+-]+",
        "duration_seconds: [SECONDS]",
    );
    s
}

// ------------------------------------------------------------------ status

/// The reference's status keys, in order, with `active_run` where it goes.
fn reference_status_keys() -> Vec<String> {
    keys(&reference_output("status-after-run-once.txt"))
        .into_iter()
        .map(str::to_string)
        .collect()
}

#[test]
fn status_on_a_fresh_workspace_is_the_reference_block() {
    let ws = Ws::new();
    let out = ws.ok(&["status"]);
    // Same lines as the reference's fresh workspace, except the values that
    // name this build's assets and the config fingerprint.
    let expected = masked(&reference_output("status.txt"));
    let cfg = value(&out, "compile_input.config_fingerprint").to_string();
    let got = masked(&out).replace(&cfg, "cfg-d3f98203e969");
    assert_eq!(got, expected);
    insta_settings().bind(|| insta::assert_snapshot!("status_fresh", out));
}

#[test]
fn status_keys_follow_the_reference_order() {
    let ws = Ws::new();
    ws.edit_snapshot(|v| {
        v["active_runs_by_plane"]["execution"] = serde_json::json!({
            "plane": "execution", "stage": "checker", "node_id": "checker",
            "stage_kind_id": "checker", "run_id": "run-aa61cfb3b5234f0e9d0c1b2a3f4e5d6c",
            "request_kind": "active_work_item", "work_item_kind": "task",
            "work_item_id": "t-001", "active_since": "2026-11-21T05:17:11.049278Z",
            "running_status_marker": "### CHECKER_RUNNING", "entry_key": "task",
            "stage_runs": 1
        });
    });
    let out = ws.ok(&["status"]);
    assert_eq!(keys(&out), reference_status_keys());
    assert_eq!(
        value(&out, "active_run"),
        "plane=execution stage=checker node=checker stage_kind=checker request_kind=active_work_item work_item_kind=task work_item_id=t-001 run=aa61cfb3b523"
    );
    assert_eq!(value(&out, "active_run_count"), "1");
    // `status show` is the same command.
    assert_eq!(ws.ok(&["status", "show"]), out);
}

#[test]
fn status_json_parses_and_agrees_with_the_text() {
    let ws = Ws::new();
    let text = ws.ok(&["status"]);
    let json = ws.ok(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["workspace"], "<WS>");
    assert_eq!(v["process_running"], false);
    assert_eq!(v["runtime_ownership_lock"], "absent");
    assert_eq!(v["compiled_plan_currentness"], "missing");
    assert_eq!(v["active_run_count"], 0);
    assert_eq!(v["execution_queue_depth"], 0);
    assert_eq!(v["execution_status_marker"], "### IDLE");
    assert_eq!(v["active_runs"], serde_json::json!([]));
    assert_eq!(v["persisted_compile_input"], serde_json::Value::Null);
    assert_eq!(
        v["compile_input"]["config_fingerprint"],
        value(&text, "compile_input.config_fingerprint")
    );
    assert_eq!(
        v["baseline_manifest_id"],
        value(&text, "baseline_manifest_id")
    );
    assert_eq!(v["usage_governance_subscription_status"], "disabled");
    assert_eq!(v["current_failure_class"], serde_json::Value::Null);
    // Keys come in the text's order (the JSON is the same report).
    let obj_keys: Vec<String> = json
        .lines()
        .filter_map(|l| {
            l.strip_prefix("  \"")?
                .split_once('"')
                .map(|(k, _)| k.to_string())
        })
        .collect();
    assert_eq!(obj_keys[..10], keys(&text)[..10]);
}

#[test]
fn status_after_a_happy_run() {
    let ws = Ws::with_fake("");
    assert_eq!(value(&ws.ok(&["status"]), "execution_queue_depth"), "1");
    ws.run_until_idle();
    let out = ws.ok(&["status"]);
    assert_eq!(keys(&out), {
        let mut k = reference_status_keys();
        k.retain(|k| k != "active_run");
        k
    });
    assert_eq!(value(&out, "compiled_plan_currentness"), "current");
    assert_eq!(
        value(&out, "compiled_plan_id"),
        format!(
            "plan-default_codex-{}",
            &value(&out, "compiled_plan_id")[19..]
        )
    );
    for k in ["mode_id", "config_fingerprint", "assets_fingerprint"] {
        assert_eq!(
            value(&out, &format!("compile_input.{k}")),
            value(&out, &format!("persisted_compile_input.{k}")),
            "{k}"
        );
    }
    assert_eq!(value(&out, "process_running"), "false");
    assert_eq!(value(&out, "active_run_count"), "0");
    assert_eq!(value(&out, "execution_queue_depth"), "0");
    insta_settings().bind(|| insta::assert_snapshot!("status_after_happy_run", out));
}

#[test]
fn status_prints_the_failure_class_and_non_zero_counters() {
    let ws = Ws::new();
    ws.edit_snapshot(|v| {
        v["current_failure_class"] = "illegal_terminal_result".into();
        v["troubleshoot_attempt_count"] = 2.into();
        v["consultant_invocations"] = 1.into();
        v["paused"] = true.into();
    });
    let out = ws.ok(&["status"]);
    let tail: Vec<&str> = out.lines().rev().take(3).collect();
    assert_eq!(
        tail,
        [
            "consultant_invocations: 1",
            "troubleshoot_attempt_count: 2",
            "current_failure_class: illegal_terminal_result",
        ]
    );
    // A pause without recorded sources is the operator's (as the reference).
    assert_eq!(value(&out, "paused"), "true");
    assert_eq!(value(&out, "pause_sources"), "operator");
}

#[test]
fn process_running_needs_a_live_lock() {
    let ws = Ws::new();
    ws.edit_snapshot(|v| v["process_running"] = true.into());
    let out = ws.ok(&["status"]);
    assert_eq!(value(&out, "process_running"), "false");
    assert_eq!(value(&out, "runtime_ownership_lock"), "absent");

    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let lock = |pid: u32| {
        let record = serde_json::json!({
            "workspace_root": ws.ws(), "owner_pid": pid, "owner_hostname": host,
            "owner_session_id": "0123456789abcdef0123456789abcdef",
            "acquired_at": "2026-11-21T05:17:11.049278+00:00"
        });
        std::fs::write(
            ws.ma().join("state/runtime_daemon.lock.json"),
            record.to_string(),
        )
        .unwrap();
    };
    // The JSON alone is not enough: a live pid that holds no kernel lock
    // (a pid reused after a reboot) does not own the workspace.
    lock(std::process::id());
    let out = ws.ok(&["status"]);
    assert_eq!(value(&out, "runtime_ownership_lock"), "stale");
    assert_eq!(value(&out, "process_running"), "false");

    // Holding the daemon's kernel lock is.
    let flock = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(ws.ma().join("state/runtime_daemon.flock"))
        .unwrap();
    use std::os::fd::AsRawFd;
    assert_eq!(
        unsafe { libc::flock(flock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    let out = ws.ok(&["status"]);
    assert_eq!(value(&out, "runtime_ownership_lock"), "active");
    assert_eq!(value(&out, "process_running"), "true");
    drop(flock);

    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    lock(dead);
    let out = ws.ok(&["status"]);
    assert_eq!(value(&out, "runtime_ownership_lock"), "stale");
    assert_eq!(value(&out, "process_running"), "false");
}

#[test]
fn status_watch_repeats_the_block() {
    let ws = Ws::new();
    let single = ws.ok(&["status"]);
    let out = ws.ok(&[
        "status",
        "watch",
        "--max-updates",
        "2",
        "--interval-seconds",
        "0",
    ]);
    assert_eq!(out, format!("{single}\n{single}"));
    // Watching never takes the ownership lock.
    assert!(!ws.ma().join("state/runtime_daemon.lock.json").exists());

    // Several workspaces: a blank line between workspaces and between updates.
    let other = Ws::new();
    let out = millrace(&[
        "status",
        "watch",
        "--workspace",
        ws.ws(),
        "--workspace",
        other.ws(),
        "--workspace",
        ws.ws(),
        "--max-updates",
        "2",
        "--interval-seconds",
        "0",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let blocks: Vec<&str> = text.split("\n\n").collect();
    assert_eq!(blocks.len(), 4, "{text}");
    let roots: Vec<&str> = blocks.iter().map(|b| value(b, "workspace")).collect();
    assert_eq!(roots, [ws.ws(), other.ws(), ws.ws(), other.ws()]);
}

#[test]
fn status_watch_says_interrupted_on_ctrl_c() {
    use std::io::Read;
    let ws = Ws::new();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("millrace"))
        .args(["status", "watch", "--interval-seconds", "30", "--workspace"])
        .arg(&ws.root)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    // Wait for the first block, then interrupt.
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("closure_target_latest_report_path") {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "watch ended early");
        seen.extend_from_slice(&buf[..n]);
    }
    // SAFETY: signalling the child this test spawned.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    stdout.read_to_end(&mut seen).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let text = String::from_utf8(seen).unwrap();
    assert!(text.ends_with("\n\ninterrupted: true\n"), "{text}");
}

// ------------------------------------------------------------------ runs

#[test]
fn runs_after_a_fake_agent_run() {
    let ws = Ws::with_fake("");
    ws.run_until_idle();
    let ids = ws.run_ids();
    assert_eq!(ids.len(), 1);
    let id = &ids[0];

    let ls = ws.ok(&["runs", "ls"]);
    assert_eq!(
        keys(&ls),
        [
            "run_id",
            "status",
            "outcome",
            "work_item_kind",
            "work_item_id",
            "failure_class",
            "stage_count",
            "started_at"
        ]
    );
    assert_eq!(value(&ls, "run_id"), id);
    assert_eq!(value(&ls, "status"), "valid");
    assert_eq!(value(&ls, "outcome"), "complete");
    assert_eq!(value(&ls, "stage_count"), "3");

    let show = ws.ok(&["runs", "show", id]);
    assert_eq!(value(&show, "stage_result_count"), "3");
    let stages: Vec<&str> = show
        .lines()
        .filter_map(|l| l.strip_prefix("stage: "))
        .collect();
    assert_eq!(stages, ["builder", "checker", "updater"]);
    // Paths inside the run directory are shown relative to it.
    assert!(value(&show, "primary_stdout_path").starts_with("runner_stdout.request-"));
    insta_settings().bind(|| insta::assert_snapshot!("runs_show_happy", show));

    // A unique prefix of the hex id names the run too.
    assert_eq!(ws.ok(&["runs", "show", &id[4..10]]), show);
    assert_eq!(ws.ok(&["runs", "show", &id[..10]]), show);

    assert_eq!(ws.ok(&["runs", "tail", id]), "done\n### UPDATE_COMPLETE\n");
    assert_eq!(
        ws.ok(&["runs", "tail", id, "--lines", "1"]),
        "### UPDATE_COMPLETE\n"
    );

    let trace = ws.ok(&["runs", "trace", id]);
    assert_eq!(value(&trace, "status"), "complete");
    assert_eq!(value(&trace, "edge_count"), "3");
    insta_settings().bind(|| insta::assert_snapshot!("runs_trace_happy", trace));
    let mill = std::fs::read_to_string(ws.ma().join("mill/stdlib/loops/execution.mill")).unwrap();
    let steps: Vec<&str> = trace.lines().filter(|l| l.contains(" -> ")).collect();
    assert_eq!(steps.len(), 3);
    for step in steps {
        // `<stage> <RESULT> -> <target> reason=.. via=route at <file>:<line>:<col>`
        let (head, at) = step.split_once(" at ").unwrap();
        assert!(head.contains(" via=route"), "{step}");
        let outcome = head.split(' ').nth(1).unwrap();
        let loc = at
            .strip_prefix("mill/stdlib/loops/execution.mill:")
            .unwrap();
        let (line, col) = loc.split_once(':').unwrap();
        let line: usize = line.parse().unwrap();
        let col: usize = col.parse().unwrap();
        // The cited place in the workspace's .mill file is that rule's outcome.
        let source_line = mill.lines().nth(line - 1).unwrap();
        assert!(
            source_line[col - 1..].starts_with(outcome),
            "{step}: line {line} is {source_line:?}"
        );
    }

    // JSON forms.
    let v: serde_json::Value = serde_json::from_str(&ws.ok(&["runs", "ls", "--json"])).unwrap();
    assert_eq!(v[0]["run_id"], id.as_str());
    assert_eq!(v[0]["stage_count"], 3);
    let v: serde_json::Value =
        serde_json::from_str(&ws.ok(&["runs", "show", id, "--json"])).unwrap();
    assert_eq!(v["stage_results"].as_array().unwrap().len(), 3);
    let v: serde_json::Value =
        serde_json::from_str(&ws.ok(&["runs", "trace", id, "--format", "json"])).unwrap();
    assert_eq!(v["kind"], "run_trace_graph");
    assert_eq!(
        v["edges"][0]["decided_by"]["file"],
        "mill/stdlib/loops/execution.mill"
    );
    assert_eq!(
        ws.ok(&["runs", "trace", id, "--json"]),
        ws.ok(&["runs", "trace", id, "--format", "json"])
    );
    let v: serde_json::Value =
        serde_json::from_str(&ws.ok(&["runs", "tail", id, "--json"])).unwrap();
    assert_eq!(v["content"], "done\n### UPDATE_COMPLETE\n");
}

#[test]
fn runs_trace_cites_the_threshold_that_fired() {
    let ws = Ws::with_fake("builder BLOCKED\ntroubleshooter BLOCKED BLOCKED\nconsultant BLOCKED\n");
    // Its one item ended blocked: the daemon says so with exit 4.
    assert_eq!(ws.run_until_idle(), 4);
    let id = &ws.run_ids()[0];
    let show = ws.ok(&["runs", "show", id]);
    assert_eq!(value(&show, "outcome"), "blocked", "{show}");
    assert_eq!(
        value(&show, "outcome_reason"),
        "consultant ended BLOCKED",
        "{show}"
    );
    let trace = ws.ok(&["runs", "trace", id]);
    assert_eq!(value(&trace, "status"), "blocked");
    let steps: Vec<&str> = trace.lines().filter(|l| l.contains(" -> ")).collect();
    let shape: Vec<String> = steps
        .iter()
        .map(|s| {
            let (head, at) = s.split_once(" at ").unwrap();
            let mut words = head.split(' ');
            let (stage, outcome) = (words.next().unwrap(), words.next().unwrap());
            let via = head.split(" via=").nth(1).unwrap();
            assert!(at.starts_with("mill/stdlib/loops/execution.mill:"), "{s}");
            format!("{stage} {outcome} via={via}")
        })
        .collect();
    assert_eq!(
        shape,
        [
            "builder BLOCKED via=route",
            "troubleshooter BLOCKED via=route",
            "troubleshooter BLOCKED via=threshold_exhausted",
            "consultant BLOCKED via=route",
        ]
    );
    assert!(steps[3].contains("-> terminal:blocked reason=consultant_blocked"));
}

#[test]
fn runs_match_the_reference_output_on_its_records() {
    let ws = Ws::new();
    ws.import_reference_runs("happy");
    let id = "run-521e36da984b4edea877eca48475eceb";
    // Our `outcome` lines lead, then the reference's output line for line.
    let show = ws.ok(&["runs", "show", id]);
    let (lead, rest) = show.split_once("\n\n").unwrap();
    assert!(lead.starts_with("outcome: complete\n"), "{lead}");
    assert_eq!(rest, reference_output("runs-show.txt"));
    assert_eq!(
        ws.ok(&["runs", "tail", id]),
        reference_output("runs-tail.txt")
    );
    assert_eq!(
        ws.ok(&["runs", "trace", id, "--format", "json"]),
        reference_output("runs-trace-json.txt")
    );
    // Trace lines: the reference's, each followed by why (the reference's
    // records have no `.mill` location, so no ` at ...`).
    let ours = ws.ok(&["runs", "trace", id]);
    let theirs = reference_output("runs-trace.txt");
    assert_eq!(ours.lines().count(), theirs.lines().count());
    for (a, b) in ours.lines().zip(theirs.lines()) {
        assert!(
            a == b || a.starts_with(&format!("{b} reason=")),
            "{a:?} vs {b:?}"
        );
    }
    // `ls`: the reference's five lines per run, plus ours (`outcome`,
    // `stage_count`, `started_at`); newest first by start time where the
    // reference lists by id (here the same runs in reverse).
    ws.import_reference_runs("escalation");
    let ls = ws.ok(&["runs", "ls"]);
    let ours: Vec<&str> = ls
        .lines()
        .filter(|l| {
            !l.starts_with("stage_count: ")
                && !l.starts_with("started_at: ")
                && !l.starts_with("outcome: ")
        })
        .collect();
    let theirs = format!(
        "{}\n{}",
        reference_output("runs-ls.txt"),
        reference_output("runs-ls-escalation.txt")
    );
    let mut blocks: Vec<&str> = theirs.split("\n\n").map(str::trim_end).collect();
    blocks.reverse();
    let theirs = blocks.join("\n\n");
    let theirs: Vec<&str> = theirs.lines().collect();
    assert_eq!(ours, theirs);
    let outcomes: Vec<&str> = ls
        .lines()
        .filter_map(|l| l.strip_prefix("outcome: "))
        .collect();
    assert_eq!(outcomes, ["complete", "handoff", "complete"]);
    let trace = ws.ok(&["runs", "trace", "run-b7f07d89e4f444d8a625d0d9143cabf2"]);
    let expected = reference_output("runs-trace-escalation.txt");
    for (a, b) in trace.lines().zip(expected.lines()) {
        assert!(
            a == b || a.starts_with(&format!("{b} reason=")),
            "{a:?} vs {b:?}"
        );
    }
}

#[test]
fn unknown_and_ambiguous_runs() {
    let ws = Ws::new();
    // No runs at all: `ls` prints nothing.
    assert_eq!(ws.ok(&["runs", "ls"]), "");
    let (code, out, err) = ws.run(&["runs", "show", "nope"]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(err, "error: run not found: nope\n");
    for cmd in ["tail", "trace"] {
        let (code, _, err) = ws.run(&["runs", cmd, "run-0123"]);
        assert_eq!(code, 1);
        assert_eq!(err, "error: run not found: run-0123\n");
    }
    let (code, _, err) = ws.run(&["runs", "show", "../state"]);
    assert_eq!(
        (code, err.as_str()),
        (1, "error: run not found: ../state\n")
    );

    // Two runs sharing a prefix.
    ws.import_reference_runs("happy");
    let runs = ws.ma().join("runs");
    let original = runs.join("run-521e36da984b4edea877eca48475eceb");
    let a = "run-abcd1111000000000000000000000000";
    let b = "run-abcd2222000000000000000000000000";
    std::fs::rename(&original, runs.join(a)).unwrap();
    copy_tree(&runs.join(a), &runs.join(b), ws.ws());
    let (code, _, err) = ws.run(&["runs", "show", "abcd"]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        format!("error: run id abcd is ambiguous: it matches 2 runs: {a}, {b}\n")
    );
    let (code, _, _) = ws.run(&["runs", "trace", "run-abcd"]);
    assert_eq!(code, 1);
    assert_eq!(value(&ws.ok(&["runs", "show", "abcd2"]), "run_id"), b);
    assert_eq!(value(&ws.ok(&["runs", "show", "ABCD1"]), "run_id"), a);
    // (`trace` prints the id its document records: this copy's original.)
    assert_eq!(
        value(&ws.ok(&["runs", "trace", "abcd1"]), "node_count"),
        "3"
    );
    let (code, _, err) = ws.run(&["runs", "show", "abcd3"]);
    assert_eq!((code, err.as_str()), (1, "error: run not found: abcd3\n"));
}

#[test]
fn runs_trace_without_a_readable_trace_falls_back_to_the_stage_results() {
    let ws = Ws::new();
    ws.import_reference_runs("happy");
    let id = "run-521e36da984b4edea877eca48475eceb";
    let trace_file = ws.ma().join("runs").join(id).join("run_trace.json");

    std::fs::write(&trace_file, "{\"kind\": \"run_tra").unwrap();
    let out = ws.ok(&["runs", "trace", id]);
    assert_eq!(value(&out, "status"), "malformed");
    assert!(value(&out, "note").starts_with("run_trace.json malformed: "));
    assert_eq!(value(&out, "node_count"), "3");
    assert!(
        out.ends_with("builder BUILDER_COMPLETE\nchecker CHECKER_PASS\nupdater UPDATE_COMPLETE\n")
    );

    std::fs::remove_file(&trace_file).unwrap();
    let out = ws.ok(&["runs", "trace", id]);
    assert_eq!(value(&out, "status"), "incomplete");
    assert_eq!(value(&out, "note"), "derived from stage result artifacts");
}

#[test]
fn runs_trace_retries_while_the_trace_is_being_rewritten() {
    let ws = Ws::new();
    ws.import_reference_runs("happy");
    let id = "run-521e36da984b4edea877eca48475eceb";
    let trace_file = ws.ma().join("runs").join(id).join("run_trace.json");
    let good = std::fs::read(&trace_file).unwrap();
    // A torn document, completed a few milliseconds later.
    std::fs::write(&trace_file, &good[..good.len() / 2]).unwrap();
    let writer = {
        let trace_file = trace_file.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(15));
            std::fs::write(&trace_file, good).unwrap();
        })
    };
    let out = millrace(&["runs", "trace", id, "--workspace", ws.ws()]);
    writer.join().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success());
    assert_eq!(value(&text, "status"), "complete", "{text}");
}

#[test]
fn runs_show_reports_an_incomplete_run() {
    let ws = Ws::new();
    std::fs::create_dir_all(ws.ma().join("runs/run-ffff0000000000000000000000000000")).unwrap();
    let out = ws.ok(&["runs", "show", "ffff"]);
    assert_eq!(value(&out, "status"), "incomplete");
    assert_eq!(value(&out, "stage_result_count"), "0");
    assert_eq!(value(&out, "note"), "no stage result artifacts found");
    let (code, _, err) = ws.run(&["runs", "tail", "ffff"]);
    assert_eq!(code, 1);
    assert_eq!(err, "error: no tailable artifact found for run: ffff\n");
}
