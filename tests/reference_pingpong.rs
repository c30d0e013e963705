//! Interchange with the reference (millrace-ai 0.18.0), both ways, at any
//! moment: one workspace, worked alternately by the reference's CLI and
//! ours, through the same scripted fake agent (`tests/fakes/
//! scripted_codex.sh`; the reference passes its environment to the agent).
//!
//! After every step, both implementations' `status`, `queue ls`, `runs ls`
//! and `doctor` must succeed. The only findings accepted are the
//! reference's own about a runtime that is not running: `stale_active_ownership`
//! (it reports it whenever an item is in flight with no daemon, even on a
//! workspace only it touched) and, after one of its daemons was killed,
//! `runtime_ownership_lock_stale`.
//!
//! The reference is found at `$MILLRACE_REFERENCE`, else in a virtual
//! environment under `${XDG_CACHE_HOME:-$HOME/.cache}/millrace-test/
//! ref-0.18.0`, installed there when missing (`pip install
//! millrace-ai==0.18.0 click`). When it cannot be installed the tests fail
//! in CI (`CI=true`) and are skipped, with the reason printed, elsewhere.
//!
//! Note on the protocol: the reference routes any item it finds in flight
//! at startup to recovery (troubleshooter), so it never takes an item
//! further than one stage by `run once`; alternating single `run once`
//! calls would cycle forever in its recovery. Each round is therefore: the
//! reference claims (one stage), ours resumes that run at the stage it
//! stands at (one stage), the reference takes over ours' in-flight item
//! (its recovery), and ours carries the item to the end.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod support;

const REFERENCE_VERSION: &str = "0.18.0";

/// The reference's CLI, installed when missing; `None` (with the reason
/// printed) when it cannot be had outside CI.
fn reference() -> Option<&'static Path> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = FOUND.get_or_init(find_or_install_reference);
    match found {
        Ok(p) => Some(p.as_path()),
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("the reference millrace-ai {REFERENCE_VERSION} is needed in CI: {why}")
        }
        Err(why) => {
            eprintln!(
                "skipped: the reference millrace-ai {REFERENCE_VERSION} is not available: {why}"
            );
            None
        }
    }
}

fn find_or_install_reference() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("MILLRACE_REFERENCE") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("MILLRACE_REFERENCE={} is not a file", p.display()))
        };
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .ok_or("neither XDG_CACHE_HOME nor HOME is set")?;
    let venv = cache.join(format!("millrace-test/ref-{REFERENCE_VERSION}"));
    let bin = venv.join("bin/millrace");
    let installed = |bin: &Path| {
        Command::new(bin)
            .arg("--version")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(REFERENCE_VERSION))
    };
    if installed(&bin) {
        return Ok(bin);
    }
    let step = |cmd: &mut Command, what: &str| -> Result<(), String> {
        let out = cmd
            .output()
            .map_err(|e| format!("{what}: cannot start: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            Err(format!(
                "{what} failed: {}",
                err.lines().last().unwrap_or("no output")
            ))
        }
    };
    step(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        "python3 -m venv",
    )?;
    step(
        Command::new(venv.join("bin/pip")).args([
            "install",
            "--quiet",
            &format!("millrace-ai=={REFERENCE_VERSION}"),
            "click",
        ]),
        "pip install millrace-ai",
    )?;
    if installed(&bin) {
        Ok(bin)
    } else {
        Err(format!(
            "{} does not report {REFERENCE_VERSION}",
            bin.display()
        ))
    }
}

fn ours() -> PathBuf {
    assert_cmd::cargo::cargo_bin("millrace")
}

/// One shared workspace and the two implementations.
struct Court {
    _dir: tempfile::TempDir,
    tasks: usize,
    root: PathBuf,
    script: PathBuf,
    reference: PathBuf,
    ours: PathBuf,
}

impl Court {
    /// A workspace initialized by the reference or ours, its codex runner
    /// pointed at the scripted fake agent, with `tasks` tasks and one root
    /// spec (and its seed idea) added alternately by both.
    fn new(reference: &Path, init_by_reference: bool, tasks: usize, script: &str) -> Court {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        let script_path = dir.path().join("script.txt");
        std::fs::write(&script_path, script).unwrap();
        let court = Court {
            tasks,
            root,
            script: script_path,
            reference: reference.to_path_buf(),
            ours: ours(),
            _dir: dir,
        };
        let first = if init_by_reference {
            court.reference.clone()
        } else {
            court.ours.clone()
        };
        court.ok(&first, &["init"]);
        let config = court.ma().join("millrace.toml");
        let mut text = std::fs::read_to_string(&config).unwrap();
        assert!(
            text.trim_end()
                .ends_with("permission_default = \"maximum\""),
            "{text}"
        );
        let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes/scripted_codex.sh");
        text.push_str(&format!("command = \"{}\"\nargs = []\n", fake.display()));
        std::fs::write(&config, text).unwrap();

        let inbox = court.root.join("in");
        std::fs::create_dir_all(&inbox).unwrap();
        for i in 0..tasks {
            let doc = json!({
                "task_id": format!("t-{i:02}"), "title": format!("task {i}"), "summary": "s",
                "target_paths": ["README.md"], "acceptance": ["a"], "required_checks": ["c"],
                "references": ["r"], "risk": ["none"],
                "created_at": format!("2026-04-15T12:00:{:02}Z", i + 10), "created_by": "tests",
            });
            let path = inbox.join(format!("t-{i:02}.json"));
            std::fs::write(&path, doc.to_string()).unwrap();
            let by = if i % 2 == 0 {
                &court.reference
            } else {
                &court.ours
            };
            court.ok(by, &["add-task", path.to_str().unwrap()]);
        }
        let spec = json!({
            "spec_id": "spec-a", "title": "spec a", "summary": "s", "source_type": "manual",
            "goals": ["g"], "non_goals": ["n"], "constraints": ["c"], "acceptance": ["a"],
            "references": ["r"], "created_at": "2026-04-15T12:00:00Z", "created_by": "tests",
            "root_idea_id": "idea-a", "root_spec_id": "spec-a",
        });
        let path = inbox.join("spec-a.json");
        std::fs::write(&path, spec.to_string()).unwrap();
        court.ok(&court.ours, &["add-spec", path.to_str().unwrap()]);
        let ideas = court.root.join("ideas/inbox");
        std::fs::create_dir_all(&ideas).unwrap();
        std::fs::write(ideas.join("idea-a.md"), "# idea-a\n\nThe seed idea.\n").unwrap();
        court
    }

    fn ma(&self) -> PathBuf {
        self.root.join("millrace-agents")
    }

    fn command(&self, bin: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .arg("--workspace")
            .arg(&self.root)
            .env("FAKE_SCRIPT", &self.script)
            .env("FAKE_SLEEP", "20");
        cmd
    }

    fn run(&self, bin: &Path, args: &[&str]) -> Output {
        self.command(bin, args).output().unwrap()
    }

    fn ok(&self, bin: &Path, args: &[&str]) -> String {
        let out = self.run(bin, args);
        assert!(
            out.status.success(),
            "{} {args:?}: exit {:?}\n{}{}",
            self.name(bin),
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn name(&self, bin: &Path) -> &'static str {
        if bin == self.reference {
            "reference"
        } else {
            "ours"
        }
    }

    /// Both implementations' inspection commands, run side by side: each
    /// succeeds, except the reference's `doctor` with only `accepted` findings.
    fn check(&self, step: &str, accepted: &[&str]) {
        let runs: Vec<(PathBuf, &[&str])> = [&self.reference, &self.ours]
            .into_iter()
            .flat_map(|b| {
                [
                    &["status"][..],
                    &["queue", "ls"][..],
                    &["runs", "ls"][..],
                    &["doctor"][..],
                ]
                .map(|a| (b.clone(), a))
            })
            .collect();
        let outputs: Vec<Output> = std::thread::scope(|s| {
            let handles: Vec<_> = runs
                .iter()
                .map(|(b, a)| s.spawn(move || self.run(b, a)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for ((bin, args), out) in runs.iter().zip(outputs) {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            if out.status.success() {
                continue;
            }
            if bin == &self.reference && args == &["doctor"] {
                let findings: Vec<&str> = text
                    .lines()
                    .filter_map(|l| l.strip_prefix("error: "))
                    .filter_map(|l| l.split_whitespace().next())
                    .collect();
                let unexplained: Vec<&&str> = findings
                    .iter()
                    .filter(|code| {
                        !accepted.iter().any(|a| {
                            **code == *a
                                || (**code == "snapshot_reconciliation_signal"
                                    && text.contains(&format!(" {a}:")))
                        })
                    })
                    .collect();
                if !findings.is_empty() && unexplained.is_empty() {
                    continue;
                }
            }
            panic!(
                "{step}: {} {} failed (exit {:?}):\n{text}",
                self.name(bin),
                args.join(" "),
                out.status.code()
            );
        }
    }

    fn snapshot(&self) -> Value {
        serde_json::from_slice(
            &std::fs::read(self.ma().join("state/runtime_snapshot.json")).unwrap(),
        )
        .unwrap()
    }

    /// The execution plane's active run, as (run id, stage), if any.
    fn in_flight(&self) -> Option<(String, String)> {
        let snap = self.snapshot();
        let runs = snap["active_runs_by_plane"].as_object()?;
        let run = runs.values().next()?;
        Some((
            run["run_id"].as_str()?.to_string(),
            run["stage"].as_str()?.to_string(),
        ))
    }

    fn calls(&self) -> Vec<String> {
        let log = self.script.with_extension("txt.log");
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn files(&self, dir: &str) -> Vec<String> {
        support::file_names(&self.ma().join(dir))
    }

    /// One `run once` by `bin`, then the checks. Returns its tick reason.
    fn once(&self, bin: &Path, step: &mut usize) -> String {
        *step += 1;
        let before = self.in_flight();
        let calls_before = self.calls().len();
        let out = self.ok(bin, &["run", "once"]);
        let reason = out
            .lines()
            .find_map(|l| l.strip_prefix("tick_reason: "))
            .unwrap_or("")
            .to_string();
        // Ours resumes an item in flight where it stands: the same run, the same stage.
        if let (true, Some((run_id, stage))) = (bin == self.ours, &before) {
            let calls = self.calls();
            assert_eq!(calls.len(), calls_before + 1, "step {step}: {calls:?}");
            assert!(
                calls.last().unwrap().starts_with(&format!("{stage} ")),
                "step {step}: ours ran {:?}, the run stood at {stage}",
                calls.last()
            );
            let results = self.files(&format!("runs/{run_id}/stage_results"));
            assert!(
                results.len() >= 2,
                "step {step}: run {run_id} did not continue: {results:?}"
            );
        }
        self.check(
            &format!("step {step} ({} run once)", self.name(bin)),
            &["stale_active_ownership"],
        );
        reason
    }

    /// Every task done exactly once, the root spec done, its closure closed.
    fn assert_all_done_once(&self) {
        let want: Vec<String> = (0..self.tasks).map(|i| format!("t-{i:02}.md")).collect();
        assert_eq!(self.files("tasks/done"), want);
        for state in ["queue", "active", "blocked"] {
            assert!(
                self.files(&format!("tasks/{state}")).is_empty(),
                "tasks/{state}"
            );
            assert!(
                self.files(&format!("specs/{state}")).is_empty(),
                "specs/{state}"
            );
        }
        assert_eq!(self.files("specs/done"), ["spec-a.md"]);
        let target: Value = serde_json::from_slice(
            &std::fs::read(self.ma().join("arbiter/targets/spec-a.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(target["closure_open"], false, "{target}");
        let calls = self.calls();
        let count = |stage: &str| calls.iter().filter(|c| c.starts_with(stage)).count();
        assert_eq!(
            count("updater "),
            self.tasks,
            "each task finished once: {calls:?}"
        );
        assert_eq!(count("manager "), 1, "the spec planned once: {calls:?}");
        assert_eq!(count("arbiter "), 1, "the closure judged once: {calls:?}");
    }
}

/// Rounds of `run once` until no work is left: the reference claims (one
/// stage), ours resumes that run where it stands (one stage); every other
/// round the reference then takes over ours' in-flight item; ours carries
/// what is in flight to the end.
fn ping_pong(init_by_reference: bool, tasks: usize) {
    let Some(reference) = reference() else { return };
    let court = Court::new(reference, init_by_reference, tasks, "");
    court.check("after setup", &[]);
    let (r, o) = (court.reference.clone(), court.ours.clone());
    let mut step = 0;
    let mut finished = false;
    for round in 0..(tasks + 6) {
        let a = court.once(&r, &mut step);
        let b = court.once(&o, &mut step);
        if round % 2 == 1 && court.in_flight().is_some() {
            court.once(&r, &mut step);
        }
        let mut n = 0;
        while court.in_flight().is_some() {
            n += 1;
            assert!(n <= 12, "ours did not carry the item to the end");
            court.once(&o, &mut step);
        }
        if a == "no_work" && b == "no_work" {
            finished = true;
            break;
        }
    }
    assert!(finished, "work left after the rounds");
    court.assert_all_done_once();
}

#[test]
fn run_once_ping_pong_on_a_workspace_we_initialized() {
    ping_pong(false, 10);
}

/// Fewer tasks: the other init direction, the same protocol (the reference
/// is slow, about 0.5 s per CLI call and eight calls per step).
#[test]
fn run_once_ping_pong_on_a_workspace_the_reference_initialized() {
    ping_pong(true, 4);
}

/// Start a daemon and stop it by SIGTERM once the agent has been asked to
/// hang (`SLEEP`) `sleeps` times in all (so the item is mid-stage); returns
/// when the daemon has exited.
fn daemon_stopped_mid_item(court: &Court, bin: &Path, sleeps: usize) {
    let mut child = court
        .command(bin, &["run", "daemon"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let hung = || {
        court
            .calls()
            .iter()
            .filter(|c| c.ends_with(" SLEEP"))
            .count()
    };
    while hung() < sleeps {
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "{} daemon never reached the hanging agent: {:?}",
            court.name(bin),
            court.calls()
        );
        assert!(child.try_wait().unwrap().is_none(), "daemon exited early");
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
    assert!(court.in_flight().is_some(), "the item is still in flight");
}

#[test]
fn daemons_stopped_mid_item_are_taken_over_by_the_other() {
    let Some(reference) = reference() else { return };
    // The first and third checker calls hang (an agent still working).
    let court = Court::new(
        reference,
        false,
        10,
        "checker SLEEP CHECKER_PASS SLEEP CHECKER_PASS\n",
    );
    let (r, o) = (court.reference.clone(), court.ours.clone());
    let stale = ["stale_active_ownership", "runtime_ownership_lock_stale"];

    // The reference's daemon dies mid-checker; ours resumes the same run at
    // the same stage.
    daemon_stopped_mid_item(&court, &r, 1);
    court.check("reference daemon stopped", &stale);
    let (run_id, stage) = court.in_flight().unwrap();
    assert_eq!(stage, "checker");

    // Ours takes over, reruns that checker, and is itself stopped in the
    // next task's checker.
    let before = court.calls().len();
    daemon_stopped_mid_item(&court, &o, 2);
    let calls = court.calls();
    assert_eq!(calls[before], "checker CHECKER_PASS", "{calls:?}");
    assert!(court.files(&format!("runs/{run_id}/stage_results")).len() >= 2);
    court.check("our daemon stopped", &stale);

    // The reference takes ours' in-flight item over and finishes the rest.
    let mut child = court
        .command(&r, &["run", "daemon"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        let closed = std::fs::read(court.ma().join("arbiter/targets/spec-a.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|t| t["closure_open"] == false);
        if closed && court.files("tasks/done").len() == court.tasks && court.in_flight().is_none() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "the reference did not finish: {:?}",
            court.calls()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
    court.check("reference daemon stopped at the end", &stale);
    let _ = court.ok(&o, &["run", "once"]);
    court.check("ours after the end", &stale);
    court.assert_all_done_once();
}
