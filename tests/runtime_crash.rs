//! Crash safety of the interpreter: a daemon running 50 tasks is killed with
//! SIGKILL at pseudo-random moments and restarted each time. In the end every
//! task is done exactly once (one file in `tasks/done`, one finish event),
//! nothing is left queued, active or blocked, and `doctor` is clean.

use assert_cmd::cargo::CommandCargoExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const TASKS: usize = 50;

fn millrace() -> Command {
    Command::cargo_bin("millrace").unwrap()
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".md"))
                .count()
        })
        .unwrap_or(0)
}

/// A small deterministic generator (the run is reproducible from the seed).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn sigkill_at_random_moments_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ws: PathBuf = dir.path().join("ws");
    let w = ws.to_str().unwrap();
    assert!(millrace()
        .args(["init", "--workspace", w])
        .output()
        .unwrap()
        .status
        .success());
    let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes/scripted_codex.sh");
    let config = ws.join("millrace-agents/millrace.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "command = {:?}\nargs = []\n",
        fake.display().to_string()
    ));
    std::fs::write(&config, text).unwrap();
    let task = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bench/task.json"),
    )
    .unwrap();
    for i in 1..=TASKS {
        let f = dir.path().join(format!("t{i}.json"));
        std::fs::write(&f, task.replace("t-001", &format!("t-{i:03}"))).unwrap();
        assert!(millrace()
            .args(["add-task", f.to_str().unwrap(), "--workspace", w])
            .output()
            .unwrap()
            .status
            .success());
    }
    let done_dir = ws.join("millrace-agents/tasks/done");
    let mut rng = Lcg(0x5eed_2026);
    let mut kills = 0;
    while count(&done_dir) < TASKS && kills < 60 {
        let mut child = millrace()
            .args(["run", "daemon", "--workspace", w])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(15 + rng.next() % 60));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
    }
    // Let a last, uninterrupted run finish whatever is left.
    let out = millrace()
        .args(["run", "daemon", "--workspace", w, "--until-idle"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ma = ws.join("millrace-agents");
    assert_eq!(count(&done_dir), TASKS, "after {kills} kills");
    for state in ["queue", "active", "blocked"] {
        assert_eq!(
            count(&ma.join("tasks").join(state)),
            0,
            "tasks/{state} not empty"
        );
    }
    // Exactly one finish per task.
    let events = std::fs::read_to_string(ma.join("logs/runtime_events.jsonl")).unwrap();
    let finished: Vec<String> = events
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event_type"] == "work_item_finished")
        .map(|e| e["data"]["work_item_id"].as_str().unwrap_or("").to_string())
        .collect();
    let mut unique = finished.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        finished.len(),
        "a task finished twice: {finished:?}"
    );
    let doctor = millrace()
        .args(["doctor", "--workspace", w])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert!(doctor.status.success(), "{report}");
    assert!(report.contains("errors: 0"), "{report}");
    assert!(
        kills >= 10,
        "only {kills} kills: the run finished before it could be interrupted enough"
    );
    eprintln!("{kills} SIGKILLs");
}
