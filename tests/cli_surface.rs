//! The whole command line, walked from clap's own tree
//! (`millrace::cli::Cli::command()`), so a command added later is checked
//! without editing this file: every command's `--help` exits 0; every
//! command that prints has `--json` (or `--format json`) unless it is in the
//! short allowlist below, and its output on a small workspace parses as
//! JSON; the error classes exit with the table's codes
//! (`docs/exit-codes.md`); completions and the man page; `tracing` logs go
//! to stderr only when asked for.

mod support;
use support::cli::assert_has;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use clap::CommandFactory;
use serde_json::Value;
use support::harness::{spec, task, Ws};

/// Commands that cannot print JSON, and why.
const NO_JSON: &[(&str, &str)] = &[
    ("lsp", "speaks JSON-RPC on stdio; it prints nothing else"),
    (
        "web",
        "a server: its JSON is the HTTP API (tests/web_cli.rs)",
    ),
    ("completions", "prints a shell script"),
    ("man", "prints roff"),
];

/// Commands whose JSON is checked elsewhere because running them here
/// would need more than a small workspace, and why.
const NOT_RUN: &[(&str, &str)] = &[(
    "skills refresh-remote-index",
    "fetches the remote skills directory with curl (tests/skills_cli.rs serves one from a file)",
)];

/// Commands whose sample run here is an error: their `--json` error object
/// on stderr is checked instead of stdout.
const SAMPLE_IS_AN_ERROR: &[&str] = &["queue repair-lineage"];

/// Every command path below the root, in tree order (`["queue", "show"]`).
fn commands() -> Vec<(Vec<String>, clap::Command)> {
    fn walk(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<(Vec<String>, clap::Command)>) {
        for sub in cmd.get_subcommands() {
            if sub.get_name() == "help" {
                continue;
            }
            let mut p = path.clone();
            p.push(sub.get_name().to_string());
            out.push((p.clone(), sub.clone()));
            walk(sub, p, out);
        }
    }
    let mut root = millrace::cli::Cli::command();
    root.build();
    let mut out = Vec::new();
    walk(&root, Vec::new(), &mut out);
    out
}

fn is_leaf(cmd: &clap::Command) -> bool {
    cmd.get_subcommands().all(|s| s.get_name() == "help")
}

fn has_arg(cmd: &clap::Command, id: &str) -> bool {
    cmd.get_arguments().any(|a| a.get_id() == id)
}

/// `--json`, or a `--format` that offers `json`.
fn json_flag(cmd: &clap::Command) -> Option<Vec<&'static str>> {
    if has_arg(cmd, "json") {
        return Some(vec!["--json"]);
    }
    let format = cmd.get_arguments().find(|a| a.get_id() == "format")?;
    format
        .get_possible_values()
        .iter()
        .any(|v| v.get_name() == "json")
        .then(|| vec!["--format", "json"])
}

fn millrace(args: &[&str]) -> Output {
    assert_cmd::Command::cargo_bin("millrace")
        .unwrap()
        .env_remove("RUST_LOG")
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every JSON value of `bytes` (one document, or JSON lines); at least one.
fn json_values(bytes: &[u8]) -> Result<Vec<Value>, String> {
    let values: Result<Vec<Value>, _> = serde_json::Deserializer::from_slice(bytes)
        .into_iter::<Value>()
        .collect();
    match values {
        Ok(v) if !v.is_empty() => Ok(v),
        Ok(_) => Err("no JSON on stdout".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// The `--json` error object on stderr: `{"error": {"code", "kind", "message"}}`.
fn json_error(out: &Output) -> Value {
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().last().unwrap_or_default();
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {}", text(out)));
    assert_eq!(
        v["error"]["code"].as_i64(),
        out.status.code().map(i64::from),
        "{}",
        text(out)
    );
    assert!(v["error"]["kind"].is_string(), "{}", text(out));
    assert!(v["error"]["message"].is_string(), "{}", text(out));
    v
}

#[test]
fn every_command_has_help() {
    let all = commands();
    assert!(all.len() > 40, "the walk found {} commands", all.len());
    for (path, _) in &all {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = millrace(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage:"),
            "{args:?}"
        );
    }
}

#[test]
fn every_printing_command_has_json_or_a_reason() {
    let allowed: BTreeMap<&str, &str> = NO_JSON.iter().copied().collect();
    let mut missing = Vec::new();
    for (path, cmd) in commands() {
        let name = path.join(" ");
        if !is_leaf(&cmd) && !has_arg(&cmd, "json") {
            continue;
        }
        match (
            json_flag(&cmd).is_some(),
            allowed.contains_key(name.as_str()),
        ) {
            (false, false) => missing.push(name),
            (true, true) => panic!("{name} has --json: take it off the NO_JSON list"),
            _ => {}
        }
    }
    assert!(
        missing.is_empty(),
        "commands without --json (add it, or add them to NO_JSON with a reason): {missing:?}"
    );
}

/// The workspace and files the sample runs use.
struct Fixture {
    /// Kept alive (dropped with the fixture) while the commands run.
    _ws: Ws,
    tmp: tempfile::TempDir,
    values: BTreeMap<&'static str, String>,
}

impl Fixture {
    fn new() -> Fixture {
        let ws = Ws::new("");
        let tmp = tempfile::tempdir().unwrap();
        let write = |name: &str, body: String| {
            let p = tmp.path().join(name);
            std::fs::write(&p, body).unwrap();
            p.display().to_string()
        };
        let mut values = BTreeMap::new();
        values.insert("ws", ws.w().to_string());
        ws.add(
            "add-task",
            task("t-1", "2026-01-01T00:00:00Z", serde_json::json!({})),
        );
        for (key, id) in [("task_a", "t-2"), ("task_b", "t-3")] {
            let doc = task(id, "2026-01-02T00:00:00Z", serde_json::json!({}));
            values.insert(key, write(&format!("{id}.json"), doc.to_string()));
        }
        for (key, id) in [("spec_a", "s-1"), ("spec_b", "s-2")] {
            let doc = spec(id, "2026-01-02T00:00:00Z", serde_json::json!({}));
            values.insert(key, write(&format!("{id}.json"), doc.to_string()));
        }
        values.insert(
            "idea_a",
            write("idea-one.md", "# Idea one\n\nA thought.\n".into()),
        );
        values.insert(
            "idea_b",
            write("idea-two.md", "# Idea two\n\nAnother.\n".into()),
        );
        let mill = tmp.path().join("x.mill");
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("stdlib/stages/execution.mill"),
            &mill,
        )
        .unwrap();
        values.insert("mill", mill.display().to_string());
        for name in ["fresh_init", "fresh_demo"] {
            values.insert(name, tmp.path().join(name).display().to_string());
        }
        let skill = tmp.path().join("my-skill");
        std::fs::create_dir_all(&skill).unwrap();
        std::fs::write(
            skill.join("SKILL.md"),
            "---\ndescription: Mine.\n---\n\n# My skill\n",
        )
        .unwrap();
        values.insert("skill_src", skill.display().to_string());
        let checkout = tmp.path().join("checkout");
        std::fs::create_dir_all(checkout.join("stdlib/skills")).unwrap();
        values.insert("checkout", checkout.display().to_string());
        values.insert("zip", tmp.path().join("out.zip").display().to_string());
        // One run, so `runs show|tail|trace` have something to show.
        let out = ws.run(&["run", "once"]);
        assert!(out.status.success(), "{}", text(&out));
        let runs = ws.run(&["runs", "ls", "--json"]);
        let list: Value = serde_json::from_slice(&runs.stdout).unwrap();
        values.insert("run", list[0]["run_id"].as_str().unwrap().to_string());
        Fixture {
            _ws: ws,
            tmp,
            values,
        }
    }

    /// The sample arguments of a command (placeholders `{name}` filled in).
    fn sample(&self, name: &str) -> Vec<String> {
        let args: &[&str] = match name {
            "lint" | "test" => &[],
            "fmt" => &["--check", "{mill}"],
            "init" => &["--workspace", "{fresh_init}"],
            "demo" => &["--workspace", "{fresh_demo}", "--quiet"],
            "status watch" => &["--workspace", "{ws}", "--max-updates", "1"],
            "queue show" => &["t-1"],
            "queue add-task" => &["{task_a}"],
            "add-task" => &["{task_b}"],
            "queue add-spec" => &["{spec_a}"],
            "add-spec" => &["{spec_b}"],
            "queue add-idea" => &["{idea_a}"],
            "add-idea" => &["{idea_b}"],
            "queue repair-lineage" => &["--root-spec-id", "s-1"],
            "modes show" => &["default_codex"],
            "run daemon" => &["--max-ticks", "1"],
            "runs show" | "runs tail" | "runs trace" => &["{run}"],
            "runs prune" => &["--older-than", "30d", "--dry-run"],
            "skills show" | "skills export" => &["millrace-skill-creator"],
            "skills search" => &["skill"],
            "skills install" => &["{skill_src}"],
            "skills create" => &["a skill for tests", "--mode", "learning_codex"],
            "skills improve" => &["millrace-skill-creator", "--mode", "learning_codex"],
            "skills promote" => &["my-skill", "--source", "{checkout}"],
            _ => &[],
        };
        let mut out: Vec<String> = args.iter().map(|a| self.fill(a)).collect();
        if name == "skills export" {
            out.extend(["--output".to_string(), self.fill("{zip}")]);
        }
        out
    }

    fn fill(&self, arg: &str) -> String {
        match arg.strip_prefix('{').and_then(|a| a.strip_suffix('}')) {
            Some(key) => self.values[key].clone(),
            None => arg.to_string(),
        }
    }
}

#[test]
fn every_json_command_prints_json() {
    let f = Fixture::new();
    let not_run: BTreeMap<&str, &str> = NOT_RUN.iter().copied().collect();
    let mut checked = 0;
    for (path, cmd) in commands() {
        let name = path.join(" ");
        let Some(flag) = json_flag(&cmd) else {
            continue;
        };
        if not_run.contains_key(name.as_str()) || (!is_leaf(&cmd) && name != "status") {
            continue;
        }
        let mut args: Vec<String> = path.clone();
        args.extend(f.sample(&name));
        args.extend(flag.iter().map(|s| s.to_string()));
        if has_arg(&cmd, "workspace") && !args.iter().any(|a| a == "--workspace") {
            args.extend(["--workspace".to_string(), f.values["ws"].clone()]);
        }
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = millrace(&argv);
        if SAMPLE_IS_AN_ERROR.contains(&name.as_str()) {
            assert!(out.stdout.is_empty(), "{argv:?}: {}", text(&out));
            json_error(&out);
        } else {
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "{argv:?} (new command? give it sample arguments in Fixture::sample): {}",
                text(&out)
            );
            if let Err(e) = json_values(&out.stdout) {
                panic!("{argv:?}: stdout is not JSON ({e}): {}", text(&out));
            }
        }
        checked += 1;
    }
    assert!(checked > 40, "only {checked} commands ran with --json");
    drop(f.tmp);
}

#[test]
fn run_json_is_one_summary_object() {
    let ws = Ws::new("");
    ws.add(
        "add-task",
        task("t-1", "2026-01-01T00:00:00Z", serde_json::json!({})),
    );
    let out = ws.run(&[
        "run",
        "daemon",
        "--until-idle",
        "--monitor",
        "basic",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["stop_reason"], "idle", "{v}");
    assert_eq!(v["items_by_outcome"]["task"]["done"], 1, "{v}");
    assert!(v["stages_run"].as_u64().unwrap() >= 2, "{v}");
    // The monitor lines went to stderr.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stage start execution/builder"), "{err}");

    // A second run counts only what it did, not the history before it; an
    // item set aside unread counts as blocked.
    ws.add(
        "add-task",
        task("t-2", "2026-01-01T00:00:01Z", serde_json::json!({})),
    );
    std::fs::write(ws.ma().join("tasks/queue/t-bad.md"), "not a task\n").unwrap();
    let out = ws.run(&[
        "run",
        "daemon",
        "--until-idle",
        "--monitor",
        "none",
        "--json",
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["items_by_outcome"]["task"]["done"], 1, "{v}");
    assert_eq!(v["items_by_outcome"]["task"]["blocked"], 1, "{v}");
    assert_eq!(v["items_by_outcome"]["spec"]["done"], 0, "{v}");
    assert_eq!(v["stages_run"], 3, "builder, checker, updater: {v}");
}

// ------------------------------------------------------------ exit codes

fn uninitialized() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn not_found_exits_1_everywhere() {
    let ws = Ws::new("");
    for args in [
        &["runs", "show", "zzz"][..],
        &["queue", "show", "zzz"][..],
        &["modes", "show", "nope"][..],
    ] {
        let out = ws.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).starts_with("error: "),
            "{}",
            text(&out)
        );
        let mut with_json = args.to_vec();
        with_json.push("--json");
        let out = ws.run(&with_json);
        let v = json_error(&out);
        assert_eq!(v["error"]["code"], 1);
        assert_eq!(v["error"]["kind"], "not_found", "{args:?}");
    }
}

/// `run once --mode nope`: the engine's startup keeps the plan layer's
/// class (an unknown mode is `not_found`), not a generic failure.
#[test]
fn run_once_with_an_unknown_mode_is_not_found() {
    let ws = Ws::new("");
    let out = ws.run(&["run", "once", "--mode", "nope"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("error: compile failed: Unknown mode id: nope"),
        "{}",
        text(&out)
    );
    let out = ws.run(&["run", "once", "--mode", "nope", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("{\"error\""))
        .unwrap_or_else(|| panic!("no JSON error: {}", text(&out)));
    let v: Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["error"]["kind"], "not_found", "{}", text(&out));
    assert_eq!(v["error"]["code"], 1);
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["bogus"][..],
        &["status", "--bogus"][..],
        &["run", "once", "--monitor", "loud"][..],
        &["completions", "tcsh"][..],
        &["version", "--log-level", "nonsense"][..],
    ] {
        let out = millrace(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
    }
    let out = millrace(&["status", "--json", "--bogus"]);
    let v = json_error(&out);
    assert_eq!(v["error"]["kind"], "usage");
}

#[test]
fn format_json_reports_errors_as_json_too() {
    let out = millrace(&["lint", "/nonexistent/x.mill", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let v = json_error(&out);
    assert_eq!(v["error"]["kind"], "invalid_input");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/nonexistent/x.mill"));
    assert!(out.stdout.is_empty());
}

#[test]
fn an_uninitialized_workspace_exits_1() {
    let dir = uninitialized();
    let w = dir.path().to_str().unwrap();
    for args in [
        &["status", "--workspace", w][..],
        &["queue", "ls", "--workspace", w][..],
        &["doctor", "--workspace", w][..],
        &["run", "once", "--workspace", w][..],
        &["pause", "--workspace", w][..],
    ] {
        let out = millrace(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("is not initialized"),
            "{}",
            text(&out)
        );
    }
    let out = millrace(&["status", "--workspace", w, "--json"]);
    assert_eq!(json_error(&out)["error"]["kind"], "uninitialized");
}

/// Hold `millrace-agents/state/state.lock` as another process would.
struct HeldLock(#[allow(dead_code)] std::fs::File);

impl HeldLock {
    fn take(path: &Path) -> HeldLock {
        use std::os::unix::io::AsRawFd;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .unwrap();
        assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) }, 0);
        HeldLock(f)
    }
}

#[test]
fn a_busy_workspace_exits_3() {
    let ws = Ws::new("");
    let lock_path: PathBuf = ws.ma().join("state/state.lock");
    let _held = HeldLock::take(&lock_path);
    // A direct control command gives up after waiting for the state lock.
    let out = ws.run(&["pause", "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let v = json_error(&out);
    assert_eq!(v["error"]["kind"], "busy");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("held by another process"));
    let snapshot =
        std::fs::read_to_string(ws.ma().join("state/runtime_snapshot.json")).unwrap_or_default();
    assert!(!snapshot.contains("\"paused\": true"), "{snapshot}");
}

#[test]
fn run_once_while_a_daemon_owns_the_workspace_exits_3() {
    let ws = Ws::new("");
    let daemon = ws.spawn_daemon(&[], &[]);
    ws.wait_for("the daemon to own the workspace", |w| {
        w.events()
            .iter()
            .any(|e| e["event_type"] == "runtime_daemon_lock_acquired")
    });
    let out = ws.run(&["run", "once"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("owned by a running daemon"),
        "{}",
        text(&out)
    );
    let stop = ws.run(&["stop"]);
    assert!(stop.status.success(), "{}", text(&stop));
    daemon.finish();
}

#[test]
fn a_second_sigint_cancels_the_stage_and_exits_130() {
    let ws = Ws::new("builder SLEEP\n");
    ws.add(
        "add-task",
        task("t-1", "2026-01-01T00:00:00Z", serde_json::json!({})),
    );
    let daemon = ws.spawn_daemon(&["--until-idle"], &[]);
    ws.wait_for("the builder to start", |w| {
        std::fs::read_to_string(w.script.with_extension("txt.log"))
            .is_ok_and(|log| log.contains("builder SLEEP"))
    });
    for _ in 0..2 {
        unsafe { libc::kill(daemon.0.id() as libc::pid_t, libc::SIGINT) };
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let mut daemon = daemon;
    let status = daemon.0.wait().unwrap();
    assert_eq!(status.code(), Some(130));
}

// ------------------------------------------------------------ discoverability

#[test]
fn bash_completion_names_the_subcommands() {
    let out = millrace(&["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let script = String::from_utf8_lossy(&out.stdout);
    for word in [
        "millrace",
        "queue",
        "add-task",
        "retry-active",
        "completions",
    ] {
        assert!(
            script.contains(word),
            "{word} missing from the bash completion"
        );
    }
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = millrace(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("queue"),
            "{shell}"
        );
    }
}

#[test]
fn man_prints_roff_and_writes_one_page_per_command() {
    let out = millrace(&["man"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.lines().any(|l| l.starts_with(".TH millrace 1")),
        "{page}"
    );
    assert!(page.contains("queue"), "{page}");
    let dir = tempfile::tempdir().unwrap();
    let out = millrace(&["man", "--out", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for page in ["millrace.1", "millrace-queue.1", "millrace-run-once.1"] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap();
        assert!(text.contains(".TH"), "{page}");
    }
}

// ------------------------------------------------------------ logging

/// Monitor lines as they compare across runs: the timestamp and ids dropped.
fn monitor_shape(stdout: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| {
            l.split_whitespace()
                .filter(|w| !w.starts_with('[') && !w.contains("run_id=") && !w.contains("run="))
                .filter(|w| !w.contains("plan_id") && !w.starts_with("compiled_plan"))
                .filter(|w| !w.contains("elapsed") && !w.starts_with("dur="))
                .filter(|w| !w.starts_with("plan=") && !w.starts_with("manifest="))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|l| !l.starts_with("compiled_plan_id"))
        .collect()
}

#[test]
fn rust_log_writes_decisions_to_stderr_only() {
    let run = |log: Option<&str>| {
        let ws = Ws::new("");
        ws.add(
            "add-task",
            task("t-1", "2026-01-01T00:00:00Z", serde_json::json!({})),
        );
        let mut cmd = assert_cmd::Command::cargo_bin("millrace").unwrap();
        cmd.env_remove("RUST_LOG");
        if let Some(filter) = log {
            cmd.env("RUST_LOG", filter);
        }
        let out = cmd
            .args(["run", "once", "--monitor", "basic", "--workspace", ws.w()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out));
        out
    };
    let quiet = run(None);
    let logged = run(Some("millrace=debug"));
    let err = String::from_utf8_lossy(&logged.stderr);
    assert_has(&err, &["claimed work item", "t-1", "daemon lock acquired"]);
    assert!(
        quiet.stderr.is_empty(),
        "no RUST_LOG: nothing extra on stderr: {}",
        text(&quiet)
    );
    assert_eq!(monitor_shape(&quiet.stdout), monitor_shape(&logged.stdout));
    assert!(!String::from_utf8_lossy(&logged.stdout).contains("claimed work item"));
}

#[test]
fn log_file_takes_the_lines_instead_of_stderr() {
    let ws = Ws::new("");
    ws.add(
        "add-task",
        task("t-1", "2026-01-01T00:00:00Z", serde_json::json!({})),
    );
    let log = ws.root.parent().unwrap().join("millrace.log");
    let out = assert_cmd::Command::cargo_bin("millrace")
        .unwrap()
        .env_remove("RUST_LOG")
        .args(["run", "once", "--log-level", "debug", "--log-file"])
        .arg(&log)
        .args(["--workspace", ws.w()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(out.stderr.is_empty(), "{}", text(&out));
    let written = std::fs::read_to_string(&log).unwrap();
    assert!(written.contains("claimed work item"), "{written}");
}
