//! Shared helpers for the runner integration tests: a scratch workspace,
//! stage requests, and process checks.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use millrace::runners::{test_support, LegalOutcome, StageRequest};

pub fn fake(name: &str) -> String {
    format!("{}/tests/fakes/{name}", env!("CARGO_MANIFEST_DIR"))
}

pub struct Workspace {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl Workspace {
    pub fn new() -> Workspace {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join("millrace-agents/runs")).unwrap();
        Workspace { _dir: dir, root }
    }

    pub fn record_dir(&self) -> PathBuf {
        let d = self.root.join("record");
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A builder-like (or updater) request in this workspace.
    pub fn request(&self, stage: &str) -> StageRequest {
        let mut r = test_support::updater_request(&self.root);
        if stage == "builder" {
            let ma = self.root.join("millrace-agents");
            r.node_id = "builder".into();
            r.stage_kind_id = "builder".into();
            r.stage = "builder".into();
            r.running_status_marker = "BUILDER_RUNNING".into();
            r.entrypoint_path = ma.join("entrypoints/execution/builder.md");
            r.entrypoint_contract_id = Some("builder.contract.v1".into());
            r.outcomes = vec![
                LegalOutcome::new("BUILDER_COMPLETE", &["success"]),
                LegalOutcome::new("BLOCKED", &["blocked", "recoverable_failure"]),
            ];
        }
        r
    }
}

pub fn read_argv(path: &Path) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    bytes
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8(s.to_vec()).unwrap())
        .collect()
}

pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The completion-record keys of the reference, in order.
pub fn reference_completion_keys() -> Vec<String> {
    let path = format!(
        "{}/tests/fixtures/reference/traces/happy/millrace-agents/runs/run-521e36da984b4edea877eca48475eceb/runner_completion.request-5bf4f5b072704d4a901f2edb2f1ac4d3.json",
        env!("CARGO_MANIFEST_DIR")
    );
    keys_in_order(Path::new(&path))
}

/// Top-level keys of a pretty-printed JSON object file, in file order.
pub fn keys_in_order(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("  \"") && !l.starts_with("   "))
        .map(|l| l[3..].split('"').next().unwrap().to_string())
        .collect()
}

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z')
        }
        Err(_) => false,
    }
}

/// Assert the process whose pid is in `pid_file` is gone (within a generous bound).
pub fn assert_dead(pid_file: &Path) {
    let pid: i32 = std::fs::read_to_string(pid_file)
        .unwrap_or_else(|e| panic!("{}: {e}", pid_file.display()))
        .trim()
        .parse()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while alive(pid) {
        assert!(Instant::now() < deadline, "process {pid} is still alive");
        std::thread::sleep(Duration::from_millis(20));
    }
}
