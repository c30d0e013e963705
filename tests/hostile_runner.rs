//! Broken runners and dead daemons (issue 9): a runner that cannot start
//! never drains the queue, a plan whose runner cannot be found is refused
//! up front, and a daemon lock that no process holds heals.

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn millrace(args: &[&str]) -> Output {
    Command::cargo_bin("millrace")
        .unwrap()
        .args(args)
        .output()
        .unwrap()
}

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
        let mut v: Vec<String> = std::fs::read_dir(self.ma(rel))
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
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

// ------------------------------------------------------------------ lock

#[test]
fn a_lock_naming_a_live_process_that_holds_nothing_is_stale_and_cleared() {
    let ws = Ws::new(&fake("fake_codex.sh"), "");
    let sleeper = Sleeper::new();
    ws.plant_lock(sleeper.0.id(), &hostname());

    let status = ws.run(&["status"]);
    let out = text(&status);
    assert!(out.contains("process_running: false"), "{out}");
    assert!(out.contains("runtime_ownership_lock: stale"), "{out}");

    let doctor = ws.run(&["doctor"]);
    let out = text(&doctor);
    assert!(out.contains("stale_runtime_lock"), "{out}");
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
    assert!(out.contains("mode: direct"), "{out}");
    assert!(out.contains("removed stale daemon lock"), "{out}");
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
    assert!(!out.contains("stale_runtime_lock"), "{out}");
    assert!(!ws.ma("state/runtime_daemon.lock.json").exists());
}
