//! Crash safety of the interpreter: a daemon working through a mix of tasks
//! and specs, whose fake agent makes some tasks escalate to planning (an
//! incident per escalation), some dead-end, some need a fix, is killed with
//! SIGKILL at pseudo-random moments at least `KILLS` times and restarted each
//! time, while new work keeps arriving. In the end every work item (tasks,
//! specs, incidents) is in exactly one terminal directory, nothing is queued
//! or active, no item finished twice, no task escalated twice, and `doctor`
//! is clean.

use assert_cmd::cargo::CommandCargoExt;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

mod support;
use support::cli::assert_success;

/// SIGKILLs, at least.
const KILLS: usize = 110;
/// A wave of new work arrives every this many kills.
const WAVE_EVERY: usize = 20;
const TASKS_PER_WAVE: usize = 8;
const SPECS_PER_WAVE: usize = 2;

fn millrace() -> Command {
    Command::cargo_bin("millrace").unwrap()
}

/// A small deterministic generator (the kill times are reproducible from the seed).
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

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/bench")
            .join(name),
    )
    .unwrap()
}

/// `id → states it is found in`, for one kind directory (`tasks`, ...).
fn locations(ma: &Path, kind: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for state in std::fs::read_dir(ma.join(kind)).unwrap() {
        let state = state.unwrap().path();
        let state_name = state.file_name().unwrap().to_string_lossy().into_owned();
        for f in std::fs::read_dir(&state).unwrap() {
            let name = f.unwrap().file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".md") {
                out.entry(id.to_string())
                    .or_default()
                    .push(state_name.clone());
            }
        }
    }
    out
}

fn add(w: &str, dir: &Path, command: &str, file: &str, old: &str, id: &str) {
    let f = dir.join(format!("{id}.json"));
    std::fs::write(&f, fixture(file).replace(old, id)).unwrap();
    let out = millrace()
        .args([command, f.to_str().unwrap(), "--workspace", w])
        .output()
        .unwrap();
    assert_success(&out);
}

/// Start a daemon on workspace `w`, wait `wait`, and SIGKILL it.
fn kill_daemon_after(w: &str, wait: Duration) {
    let mut child = millrace()
        .args(["run", "daemon", "--workspace", w])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(wait);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
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
    let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes/crash_agent.sh");
    let config = ws.join("millrace-agents/millrace.toml");
    let mut text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("[runtime]\n", "[runtime]\nidle_sleep_seconds = 0.02\n");
    text.push_str(&format!(
        "command = {:?}\nargs = []\n",
        fake.display().to_string()
    ));
    std::fs::write(&config, text).unwrap();

    let mut rng = Lcg(0x5eed_2026);
    let (mut tasks, mut specs) = (0, 0);
    for kill in 0..KILLS {
        if kill % WAVE_EVERY == 0 {
            for _ in 0..TASKS_PER_WAVE {
                tasks += 1;
                add(
                    w,
                    dir.path(),
                    "add-task",
                    "task.json",
                    "t-001",
                    &format!("t-{tasks:03}"),
                );
            }
            for _ in 0..SPECS_PER_WAVE {
                specs += 1;
                add(
                    w,
                    dir.path(),
                    "add-spec",
                    "spec.json",
                    "s-001",
                    &format!("s-{specs:03}"),
                );
            }
        }
        kill_daemon_after(w, Duration::from_millis(10 + rng.next() % 50));
    }
    // On a loaded machine a daemon may not reach a stage within the short
    // waits above: keep killing, a little later each time, until a kill has
    // interrupted a stage (the point of the test), or work runs out.
    let interrupted_any = || {
        std::fs::read_to_string(ws.join("millrace-agents/logs/runtime_events.jsonl"))
            .unwrap_or_default()
            .contains("\"interrupted_stage\"")
    };
    let mut extra = 0u64;
    while !interrupted_any() && extra < 100 {
        extra += 1;
        kill_daemon_after(w, Duration::from_millis(50 + 5 * extra + rng.next() % 50));
    }
    let left: usize = ["tasks", "specs", "incidents"]
        .iter()
        .map(|k| {
            locations(&ws.join("millrace-agents"), k)
                .values()
                .filter(|s| {
                    s.iter()
                        .any(|s| ["queue", "incoming", "active"].contains(&s.as_str()))
                })
                .count()
        })
        .sum();
    // A last, uninterrupted run finishes whatever is left.
    let out = millrace()
        .args(["run", "daemon", "--workspace", w, "--until-idle"])
        .output()
        .unwrap();
    // 0, or 4 when all it finished ended blocked.
    assert!(
        matches!(out.status.code(), Some(0 | 4)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let ma = ws.join("millrace-agents");
    let ends = |kind: &str| -> Vec<&'static str> {
        match kind {
            "incidents" => vec!["resolved", "blocked"],
            _ => vec!["done", "blocked"],
        }
    };
    // Every item is in exactly one place, and that place is terminal.
    let mut finals: BTreeMap<String, String> = BTreeMap::new();
    for kind in ["tasks", "specs", "incidents"] {
        for (id, states) in locations(&ma, kind) {
            assert_eq!(states.len(), 1, "{kind}/{id} is in {states:?}");
            assert!(
                ends(kind).contains(&states[0].as_str()),
                "{kind}/{id} ended in {}",
                states[0]
            );
            finals.insert(id, format!("{kind}/{}", states[0]));
        }
    }
    // Nothing lost.
    for i in 1..=tasks {
        assert!(
            finals.contains_key(&format!("t-{i:03}")),
            "task t-{i:03} lost"
        );
    }
    for i in 1..=specs {
        assert!(
            finals.contains_key(&format!("s-{i:03}")),
            "spec s-{i:03} lost"
        );
    }

    // No item finished twice; no incident was created twice.
    let events: Vec<serde_json::Value> =
        std::fs::read_to_string(ma.join("logs/runtime_events.jsonl"))
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
    let mut finished: BTreeMap<String, usize> = BTreeMap::new();
    for e in events
        .iter()
        .filter(|e| e["event_type"] == "work_item_finished")
    {
        *finished
            .entry(e["data"]["work_item_id"].as_str().unwrap_or("").to_string())
            .or_default() += 1;
    }
    assert!(
        finished.values().all(|n| *n == 1),
        "finished twice: {finished:?}"
    );
    let incidents: Vec<&String> = finals
        .keys()
        .filter(|k| k.starts_with("incident-"))
        .collect();
    let mut escalated: BTreeMap<String, usize> = BTreeMap::new();
    for id in &incidents {
        let (kind_state, _) = (finals[*id].clone(), ());
        let doc = std::fs::read_to_string(ma.join(&kind_state).join(format!("{id}.md"))).unwrap();
        let source = doc
            .lines()
            .find_map(|l| l.strip_prefix("Source-Task-ID: "))
            .unwrap_or_else(|| panic!("{id} names no source task:\n{doc}"))
            .to_string();
        assert_eq!(
            finals.get(&source).map(String::as_str),
            Some("tasks/blocked"),
            "{id}"
        );
        *escalated.entry(source).or_default() += 1;
    }
    assert!(
        escalated.values().all(|n| *n == 1),
        "a task escalated twice: {escalated:?}"
    );

    // The mix happened: escalations with their incidents resolved, dead ends, planned specs.
    let count = |place: &str| finals.values().filter(|v| *v == place).count();
    assert!(
        count("tasks/done") > 0 && count("tasks/blocked") > 0,
        "{finals:?}"
    );
    assert!(count("specs/done") > 0, "{finals:?}");
    assert!(count("incidents/resolved") > 0, "{finals:?}");

    // The kills landed in the middle of the work.
    let interrupted = events
        .iter()
        .filter(|e| {
            e["event_type"] == "runtime_recovered" && e["data"]["reason"] == "interrupted_stage"
        })
        .count();
    assert!(interrupted > 0, "no kill interrupted a stage");

    let doctor = millrace()
        .args(["doctor", "--workspace", w])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert!(doctor.status.success(), "{report}");
    assert!(report.contains("errors: 0\nwarnings: 0\n"), "{report}");
    eprintln!(
        "{KILLS} SIGKILLs ({interrupted} interrupted a stage; {left} items left for the last run); {} tasks ({} done, {} blocked), {specs} specs, {} incidents",
        tasks,
        count("tasks/done"),
        count("tasks/blocked"),
        incidents.len()
    );
}
