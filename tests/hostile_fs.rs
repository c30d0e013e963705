//! Hostile files (issue 9): the real daemon against a fake agent that
//! plants links, FIFOs and floods of output in the workspace, and against
//! planted state. Nothing outside the workspace changes or is read, no
//! command hangs, memory and disk stay bounded, bad ids are refused.

use assert_cmd::Command;
use serde_json::Value;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod support;
use support::cli::{assert_has, assert_success};

/// Long enough for any command here; only a hang reaches it.
const HANG: Duration = Duration::from_secs(120);

fn fake() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes/hostile_codex.sh")
}

fn bench_task() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bench/task.json")
}

struct Ws {
    dir: tempfile::TempDir,
    root: PathBuf,
}

impl Ws {
    fn ma(&self) -> PathBuf {
        self.root.join("millrace-agents")
    }
    fn r(&self) -> &str {
        self.root.to_str().unwrap()
    }
    /// A file outside the workspace with known content.
    fn outside_file(&self) -> PathBuf {
        self.dir.path().join("outside.txt")
    }
    /// An empty directory outside the workspace.
    fn outside_dir(&self) -> PathBuf {
        self.dir.path().join("outside-dir")
    }
    fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(self.ma().join("logs/runtime_events.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
    fn has_event(&self, event_type: &str, key: &str, value: &str) -> bool {
        self.events()
            .iter()
            .any(|e| e["event_type"] == event_type && e["data"][key] == value)
    }
    fn millrace(&self, args: &[&str]) -> std::process::Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--workspace", self.r()]);
        millrace(&all)
    }
}

fn millrace(args: &[&str]) -> std::process::Output {
    let out = Command::cargo_bin("millrace")
        .unwrap()
        .args(args)
        .timeout(HANG)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some(),
        "millrace {args:?} hung or was killed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// An initialized workspace whose codex runner is the hostile fake, doing
/// `hostile` once, with `env` added to its environment and `runtime`
/// lines added to `[runtime]`.
fn setup(hostile: &str, env: &[(&str, String)], runtime: &str) -> Ws {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    assert!(millrace(&["init", "--workspace", root.to_str().unwrap()])
        .status
        .success());
    let ws = Ws { dir, root };
    std::fs::write(ws.outside_file(), "outside: keep me\n").unwrap();
    std::fs::create_dir_all(ws.outside_dir()).unwrap();
    let config = ws.ma().join("millrace.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text = text.replacen("[runtime]\n", &format!("[runtime]\n{runtime}"), 1);
    text.push_str(&format!(
        "command = {:?}\nargs = []\n\n[runners.codex.env]\nHOSTILE = {hostile:?}\nHOSTILE_FLAG = {:?}\nOUTSIDE = {:?}\nOUTSIDE_DIR = {:?}\n",
        fake().display().to_string(),
        ws.dir.path().join("hostile.done").display().to_string(),
        ws.outside_file().display().to_string(),
        ws.outside_dir().display().to_string(),
    ));
    for (k, v) in env {
        text.push_str(&format!("{k} = {v:?}\n"));
    }
    std::fs::write(&config, text).unwrap();
    ws
}

fn add_task(ws: &Ws) {
    let out = ws.millrace(&["add-task", bench_task().to_str().unwrap()]);
    assert_success(&out);
}

fn run_until_idle(ws: &Ws) -> std::process::Output {
    let out = ws.millrace(&["run", "daemon", "--until-idle"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    out
}

fn outside_unchanged(ws: &Ws) {
    assert_eq!(
        std::fs::read_to_string(ws.outside_file()).unwrap(),
        "outside: keep me\n"
    );
    assert_eq!(std::fs::read_dir(ws.outside_dir()).unwrap().count(), 0);
}

/// The builder stage failed as `unsafe_workspace_path`, and the run went
/// on through the normal recovery path to the end.
fn builder_failed_typed(ws: &Ws, out: &std::process::Output) {
    // 4: the work ended blocked (every stage failed the same way).
    assert!(
        matches!(out.status.code(), Some(0 | 4)),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        ws.has_event("workspace_path_refused", "node_id", "builder"),
        "{:#?}",
        ws.events()
    );
    let failed_as: Vec<Value> = ws
        .events()
        .into_iter()
        .filter(|e| e["event_type"] == "router_decision" && e["data"]["node_id"] == "builder")
        .collect();
    assert!(
        failed_as
            .iter()
            .any(|e| e["data"]["terminal_result"] == "BLOCKED"
                && e["data"]["failure_class"] == "unsafe_workspace_path"),
        "{failed_as:#?}"
    );
}

/// A workspace whose agent does `hostile` on its first builder call, one
/// task run until idle: the daemon's output.
fn hostile_run(hostile: &str) -> (Ws, std::process::Output) {
    let ws = setup(hostile, &[], "");
    add_task(&ws);
    let out = run_until_idle(&ws);
    (ws, out)
}

/// `hostile_run`, then: nothing outside changed and the builder failed as
/// `unsafe_workspace_path`.
fn builder_refuses(hostile: &str) -> Ws {
    let (ws, out) = hostile_run(hostile);
    outside_unchanged(&ws);
    builder_failed_typed(&ws, &out);
    ws
}

#[test]
fn planted_link_at_runner_stdout_fails_the_stage_and_writes_nothing_outside() {
    builder_refuses("stdout");
}

#[test]
fn planted_hard_link_at_runner_stdout_is_not_rewritten() {
    builder_refuses("hardlink");
}

#[test]
fn planted_link_at_runner_completion_fails_the_stage() {
    builder_refuses("completion");
}

#[test]
fn planted_link_as_last_message_is_never_read() {
    let ws = builder_refuses("last_message");
    // The outside file's content was not copied anywhere into the workspace.
    let mut stack = vec![ws.root.clone()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().filter_map(Result::ok) {
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else if ft.is_file() {
                let bytes = std::fs::read(e.path()).unwrap();
                assert!(
                    !String::from_utf8_lossy(&bytes).contains("outside: keep me"),
                    "{} holds the outside file's content",
                    e.path().display()
                );
            }
        }
    }
}

#[test]
fn planted_link_at_stage_results_fails_the_stage() {
    builder_refuses("stage_results");
}

#[test]
fn run_directory_replaced_by_a_link_fails_the_stage() {
    builder_refuses("run_dir");
}

/// The runtime keeps directory handles between its writes (`safe_fs`);
/// one kept from before the agent ran must not follow the run directory
/// the agent moved out of the workspace.
#[test]
fn run_directory_moved_outside_and_linked_back_gets_no_write() {
    let (ws, out) = hostile_run("run_dir_out");
    let moved = ws.outside_dir().join("run");
    let listed = std::fs::read_to_string(ws.dir.path().join("hostile.done.list")).unwrap();
    let mut now: Vec<String> = std::fs::read_dir(&moved)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    now.sort();
    let mut then: Vec<&str> = listed.lines().collect();
    then.sort();
    assert_eq!(
        now, then,
        "the runtime created files in the moved run directory"
    );
    builder_failed_typed(&ws, &out);
}

/// The same for `state/`, whose handle every stage uses: nothing the
/// runtime writes after the agent lands in the moved directory.
#[test]
fn state_directory_moved_outside_and_linked_back_gets_no_write() {
    let (ws, out) = hostile_run("state_out");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let marker = std::fs::metadata(ws.dir.path().join("hostile.done.moved"))
        .unwrap()
        .modified()
        .unwrap();
    for entry in std::fs::read_dir(ws.outside_dir().join("state")).unwrap() {
        let entry = entry.unwrap();
        let meta = std::fs::symlink_metadata(entry.path()).unwrap();
        if meta.is_file() {
            assert!(
                meta.modified().unwrap() <= marker,
                "{} was written after the agent moved state/ out",
                entry.path().display()
            );
        }
    }
}

#[test]
fn planted_links_at_state_files_and_the_event_log_change_nothing_outside() {
    for hostile in ["event_log", "status", "snapshot"] {
        let (ws, out) = hostile_run(hostile);
        outside_unchanged(&ws);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{hostile}: {stderr}");
    }
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
}

#[test]
fn fifo_in_the_queue_hangs_nothing_and_is_set_aside() {
    let ws = setup("none", &[], "");
    let fifo = ws.ma().join("tasks/queue/t-fifo.md");
    mkfifo(&fifo);
    let out = ws.millrace(&["queue", "ls"]);
    assert_success(&out);
    let out = ws.millrace(&["doctor"]);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_has(&text, &["unsafe_workspace_file", "t-fifo.md"]);
    let out = ws.millrace(&["run", "once"]);
    assert_success(&out);
    assert!(ws.has_event("work_item_rejected", "work_item_id", "t-fifo"));
    assert!(!fifo.exists());
    assert!(ws
        .ma()
        .join("tasks/blocked/t-fifo.md")
        .symlink_metadata()
        .is_ok());
}

#[test]
fn mailbox_directory_named_json_is_set_aside() {
    let ws = setup("none", &[], "");
    let planted = ws.ma().join("state/mailbox/incoming/x.json");
    std::fs::create_dir_all(&planted).unwrap();
    let out = ws.millrace(&["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("unsafe_workspace_file"), "{text}");
    let out = ws.millrace(&["run", "once"]);
    assert_success(&out);
    assert!(!planted.exists());
    let aside: Vec<String> = std::fs::read_dir(ws.ma().join("state/mailbox/failed"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        aside
            .iter()
            .any(|n| n.starts_with("x.json.") && n.ends_with(".set-aside")),
        "{aside:?}"
    );
    assert!(ws.has_event("mailbox_command_archived", "disposition", "failed"));
    let out = ws.millrace(&["doctor"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("mailbox_entry_set_aside"));
}

#[test]
fn planted_agent_note_never_signals_an_unrelated_process() {
    use std::os::unix::process::CommandExt;
    let ws = setup("none", &[], "");
    // An unrelated process that leads its own process group, as an agent does.
    let mut victim = std::process::Command::new("sleep")
        .arg("300")
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = victim.id();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let start = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .nth(19)
        .unwrap()
        .to_string();
    let note = ws.ma().join("state/agent_process.txt");
    std::fs::write(&note, format!("{pid} {start}\n")).unwrap();
    let out = ws.millrace(&["run", "once"]);
    let alive = victim.try_wait().unwrap().is_none();
    let _ = victim.kill();
    let _ = victim.wait();
    assert_success(&out);
    assert!(alive, "the daemon killed a process named by a planted note");
    assert!(ws.has_event("runtime_recovered", "reason", "agent_note_refused"));
    assert!(!note.exists());
}

/// Peak resident memory (KiB) of the largest child this test process has
/// waited for.
fn children_max_rss_kib() -> i64 {
    // SAFETY: zeroed rusage is a valid out-parameter.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid out-pointer.
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) },
        0
    );
    usage.ru_maxrss
}

#[test]
fn one_gigabyte_line_keeps_daemon_memory_and_disk_bounded() {
    let ws = setup("big_line", &[], "");
    add_task(&ws);
    // Measured in a child of its own so that other tests' children do not count.
    let exe = assert_cmd::cargo::cargo_bin("millrace");
    let script = format!(
        "{:?} run daemon --until-idle --workspace {:?} >/dev/null 2>&1; echo $?",
        exe.display().to_string(),
        ws.r()
    );
    let out = std::process::Command::new("/usr/bin/time")
        .args(["-f", "maxrss_kib=%M", "sh", "-c", &script])
        .output();
    let (rss_kib, status) = match out {
        Ok(o) if o.status.success() => {
            let err = String::from_utf8_lossy(&o.stderr);
            let kib: i64 = err
                .lines()
                .find_map(|l| l.strip_prefix("maxrss_kib="))
                .and_then(|v| v.trim().parse().ok())
                .expect("time -f output");
            (kib, String::from_utf8_lossy(&o.stdout).trim().to_string())
        }
        _ => {
            // No /usr/bin/time: the largest waited-for child of this process.
            let o = millrace(&["run", "daemon", "--until-idle", "--workspace", ws.r()]);
            (children_max_rss_kib(), o.status.code().unwrap().to_string())
        }
    };
    eprintln!("daemon peak RSS: {rss_kib} KiB");
    assert_eq!(status, "0");
    assert!(
        rss_kib < 200 * 1024,
        "daemon peak RSS {rss_kib} KiB with a 1 GB output line"
    );
    // The capture on disk is bounded by the default cap (64 MiB) plus a note.
    let mut total = 0;
    for run in std::fs::read_dir(ws.ma().join("runs")).unwrap() {
        for f in std::fs::read_dir(run.unwrap().path()).unwrap() {
            let f = f.unwrap();
            if f.file_type().unwrap().is_file() {
                total += f.metadata().unwrap().len();
            }
        }
    }
    assert!(total < 80 * 1024 * 1024, "{total} bytes in run directories");
}

#[test]
fn output_cap_truncates_with_a_note() {
    let ws = setup(
        "flood",
        &[("BIG_BYTES", "100000".into())],
        "max_stage_output_bytes = 8192\n",
    );
    add_task(&ws);
    let out = run_until_idle(&ws);
    assert_success(&out);
    let run = std::fs::read_dir(ws.ma().join("runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut events_files = 0;
    let mut noted_results = 0;
    for f in std::fs::read_dir(&run).unwrap().map(|f| f.unwrap().path()) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("runner_events.") || name.starts_with("runner_stderr.") {
            let text = std::fs::read_to_string(&f).unwrap();
            if text.contains("[millrace: output truncated") {
                events_files += 1;
                assert!(text.len() < 8192 + 300, "{name}: {} bytes", text.len());
                assert!(text.contains("max_stage_output_bytes"), "{name}");
            }
        }
    }
    for f in std::fs::read_dir(run.join("stage_results")).unwrap() {
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(f.unwrap().path()).unwrap()).unwrap();
        if doc["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().starts_with("output truncated:"))
        {
            noted_results += 1;
        }
    }
    assert_eq!(events_files, 2, "stdout and stderr captures carry the note");
    assert_eq!(noted_results, 1, "the builder's stage result notes it");
}

#[test]
fn too_long_id_is_refused_at_add_task() {
    let ws = setup("none", &[], "");
    let id = format!("t-{}", "x".repeat(220));
    let doc = std::fs::read_to_string(bench_task())
        .unwrap()
        .replace("\"t-001\"", &format!("{id:?}"));
    let file = ws.dir.path().join("long.json");
    std::fs::write(&file, doc).unwrap();
    let out = ws.millrace(&["add-task", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("longer than 128"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(
        std::fs::read_dir(ws.ma().join("tasks/queue"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn bad_id_in_the_snapshot_is_refused_with_a_clear_message() {
    let ws = setup("none", &[], "");
    let path = ws.ma().join("state/runtime_snapshot.json");
    let mut snap: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    snap["active_runs_by_plane"]["execution"] = serde_json::json!({
        "plane": "execution", "stage": "builder", "node_id": "builder",
        "stage_kind_id": "builder", "run_id": "../../../../outside",
        "request_kind": "active_work_item", "work_item_kind": "task",
        "work_item_id": "t-001", "active_since": "2026-01-01T00:00:00Z",
        "running_status_marker": "BUILDER_RUNNING", "entry_key": "task"
    });
    std::fs::write(&path, serde_json::to_string_pretty(&snap).unwrap()).unwrap();
    let out = ws.millrace(&["run", "once"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_has(
        &err,
        &[
            "runtime_snapshot.json",
            "active_runs_by_plane.execution.run_id",
            "invalid id",
        ],
    );
    let out = ws.millrace(&["doctor"]);
    let doctor = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(doctor.contains("snapshot_invalid"), "{doctor}");
    assert!(!ws.dir.path().join("outside").exists());
}

#[test]
fn symlinked_workspace_root_is_trusted() {
    // The operator's own path may go through links; only what is below the
    // root is untrusted.
    let ws = setup("none", &[], "");
    let alias = ws.dir.path().join("alias");
    symlink(&ws.root, &alias).unwrap();
    let bench = bench_task();
    let out = millrace(&[
        "add-task",
        bench.to_str().unwrap(),
        "--workspace",
        alias.to_str().unwrap(),
    ]);
    assert_success(&out);
    let out = millrace(&[
        "run",
        "daemon",
        "--until-idle",
        "--workspace",
        alias.to_str().unwrap(),
    ]);
    assert_success(&out);
    assert!(ws.ma().join("tasks/done/t-001.md").is_file());
}
