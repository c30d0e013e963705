//! A workspace for behaviour tests: initialized by the real binary, its
//! codex runner pointed at the scripted fake agent (`tests/fakes/
//! scripted_codex.sh`, outcomes per stage from a script file), work added
//! from JSON, the daemon run until idle, and what happened read back
//! (claim order from the event log, agent calls, queue layout).

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};

pub struct Ws {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub script: PathBuf,
}

pub fn millrace(args: &[&str]) -> std::process::Output {
    Command::cargo_bin("millrace")
        .unwrap()
        .args(args)
        .output()
        .unwrap()
}

impl Ws {
    /// A fresh workspace whose agent answers as `script` says
    /// (`<stage> <TOKEN> ...` lines; unlisted stages take the happy path).
    pub fn new(script: &str) -> Ws {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        let out = millrace(&["init", "--workspace", root.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let script_path = dir.path().join("script.txt");
        std::fs::write(&script_path, script).unwrap();
        let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes/scripted_codex.sh");
        let ws = Ws {
            _dir: dir,
            root,
            script: script_path,
        };
        ws.append_config(&format!(
            "command = {:?}\nargs = []\n\n[runners.codex.env]\nFAKE_SCRIPT = {:?}\n",
            fake.display().to_string(),
            ws.script.display().to_string()
        ));
        ws
    }

    pub fn ma(&self) -> PathBuf {
        self.root.join("millrace-agents")
    }

    pub fn w(&self) -> &str {
        self.root.to_str().unwrap()
    }

    pub fn append_config(&self, text: &str) {
        let config = self.ma().join("millrace.toml");
        let mut current = std::fs::read_to_string(&config).unwrap();
        current.push_str(text);
        std::fs::write(&config, current).unwrap();
    }

    /// Run `millrace ARGS --workspace <ws>`.
    pub fn run(&self, args: &[&str]) -> std::process::Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--workspace", self.w()]);
        millrace(&all)
    }

    /// Run `millrace ARGS --workspace <ws>`, which must succeed; if it
    /// does not, the failure shows its stderr.
    pub fn run_ok(&self, args: &[&str]) -> std::process::Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// The stdout of `millrace ARGS --workspace <ws>` (whatever its exit).
    pub fn stdout(&self, args: &[&str]) -> String {
        String::from_utf8_lossy(&self.run(args).stdout).into_owned()
    }

    /// Add a task or spec from JSON fields (`add-task` / `add-spec`).
    pub fn add(&self, command: &str, doc: Value) {
        let file = self._dir.path().join(format!(
            "{}.json",
            doc.get("task_id")
                .or(doc.get("spec_id"))
                .and_then(Value::as_str)
                .unwrap()
        ));
        std::fs::write(&file, doc.to_string()).unwrap();
        let out = self.run(&[command, file.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A daemon in the background (`run daemon --monitor basic` plus
    /// `args`), agents inheriting `env`; killed when dropped.
    pub fn spawn_daemon(&self, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("millrace"));
        cmd.args([
            "run",
            "daemon",
            "--monitor",
            "basic",
            "--workspace",
            self.w(),
        ])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        Daemon(cmd.spawn().unwrap())
    }

    /// Wait (up to a minute: a guard against hangs, not a timing claim)
    /// until `cond` holds.
    pub fn wait_for(&self, what: &str, mut cond: impl FnMut(&Ws) -> bool) {
        super::wait_for(what, || cond(self));
    }

    /// `run daemon --until-idle --monitor basic`; its monitor output. It
    /// exits 0, or 4 when every item it ran to an end ended blocked.
    pub fn run_until_idle(&self) -> String {
        let out = self.run(&["run", "daemon", "--monitor", "basic", "--until-idle"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            matches!(out.status.code(), Some(0 | 4)),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }

    /// The agent's calls, in order: `<stage> <TOKEN>` lines from the
    /// scripted fake's log.
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.script.with_extension("txt.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Every stage result of every run (in directory order); a result that
    /// is not JSON fails the test.
    pub fn stage_results(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for run in std::fs::read_dir(self.ma().join("runs")).unwrap().flatten() {
            if let Ok(files) = std::fs::read_dir(run.path().join("stage_results")) {
                for f in files.flatten() {
                    let text = std::fs::read_to_string(f.path()).unwrap();
                    out.push(serde_json::from_str(&text).unwrap());
                }
            }
        }
        out
    }

    /// `run daemon --mode MODE --monitor basic --until-idle`, which must
    /// exit 0; its monitor output.
    pub fn run_mode_until_idle(&self, mode: &str) -> String {
        let out = self.run(&[
            "run",
            "daemon",
            "--mode",
            mode,
            "--monitor",
            "basic",
            "--until-idle",
        ]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }

    /// Every event of the log, in order.
    pub fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(self.ma().join("logs/runtime_events.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// What ran, in order: each claimed work item's id, and `arbiter(<root>)`
    /// for each closure judgement.
    pub fn claim_order(&self) -> Vec<String> {
        self.events()
            .iter()
            .filter_map(|e| match e["event_type"].as_str()? {
                "work_item_claimed" => Some(e["data"]["work_item_id"].as_str()?.to_string()),
                "closure_target_judged" => {
                    Some(format!("arbiter({})", e["data"]["root_spec_id"].as_str()?))
                }
                _ => None,
            })
            .collect()
    }

    /// Ids of the `*.md` items in `<kind dir>/<state>`, sorted.
    pub fn items(&self, dir: &str, state: &str) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(self.ma().join(dir).join(state))
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter_map(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .strip_suffix(".md")
                            .map(str::to_string)
                    })
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }
}

/// Task JSON with the fields every task needs.
pub fn task(id: &str, created_at: &str, extra: Value) -> Value {
    let mut doc = serde_json::json!({
        "task_id": id, "title": id, "summary": "s", "target_paths": ["README.md"],
        "acceptance": ["a"], "required_checks": ["c"], "references": ["r"], "risk": ["none"],
        "created_at": created_at, "created_by": "tests",
    });
    merge(&mut doc, extra);
    doc
}

/// Spec JSON with the fields every spec needs.
pub fn spec(id: &str, created_at: &str, extra: Value) -> Value {
    let mut doc = serde_json::json!({
        "spec_id": id, "title": id, "summary": "s", "source_type": "manual",
        "goals": ["g"], "non_goals": ["n"], "constraints": ["c"], "acceptance": ["a"],
        "references": ["r"], "created_at": created_at, "created_by": "tests",
    });
    merge(&mut doc, extra);
    doc
}

fn merge(doc: &mut Value, extra: Value) {
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            doc[k] = v;
        }
    }
}

/// A background daemon, killed if the test ends before it does.
pub struct Daemon(pub std::process::Child);

impl Daemon {
    /// Wait for it to exit; its stdout.
    pub fn finish(mut self) -> String {
        let mut out = String::new();
        if let Some(mut s) = self.0.stdout.take() {
            use std::io::Read;
            let _ = s.read_to_string(&mut out);
        }
        let _ = self.0.wait();
        out
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
