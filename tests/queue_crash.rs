//! Crash safety of queue operations: a real child process is aborted
//! (`std::process::abort`, no cleanup) between each pair of steps of an
//! enqueue or a transition; afterwards every item is in exactly one state,
//! and `reconcile` brings the derived state (snapshot depths) back in line.
//!
//! The child is this test binary re-executed with `CHILD_ENV` set; the
//! library's `MILLRACE_TEST_CRASH_AT=<operation>:<step>` hook aborts it.

use std::path::Path;
use std::process::Command;

use millrace::workspace::atomic::CRASH_ENV;
use millrace::workspace::documents::{DocKind, WorkDocument};
use millrace::workspace::layout::Layout;
use millrace::workspace::{doctor, init, queue, state};

const CHILD_ENV: &str = "MILLRACE_CRASH_TEST_CHILD";

fn task(id: &str) -> WorkDocument {
    let md = format!(
        "# Task {id}\n\nTask-ID: {id}\nTitle: Task {id}\nCreated-At: 2026-03-01T12:30:00Z\nCreated-By: test\n\nTarget-Paths:\n- a\n\nAcceptance:\n- b\n\nRequired-Checks:\n- c\n\nReferences:\n- d\n\nRisk:\n- e\n"
    );
    WorkDocument::parse_as(DocKind::Task, &md, "test").unwrap()
}

fn incident(id: &str) -> WorkDocument {
    let md = format!(
        "# Incident {id}\n\nIncident-ID: {id}\nTitle: Incident {id}\nSummary: s\nSource-Stage: consultant\nSource-Plane: execution\nFailure-Class: blocked\nTrigger-Reason: r\nConsultant-Decision: needs_planning\nOpened-At: 2026-03-01T12:30:00Z\nOpened-By: test\n"
    );
    WorkDocument::parse_as(DocKind::Incident, &md, "test").unwrap()
}

/// The operations under test, run in the child: (name, crash operation, steps).
const OPS: &[(&str, &str, u32)] = &[
    ("enqueue", "queue.enqueue", 2),
    ("claim", "queue.transition", 3),
    ("done", "queue.transition", 3),
    ("block", "queue.transition", 3),
    ("requeue", "queue.transition", 3),
    ("incident_claim", "queue.transition", 3),
    ("incident_resolve", "queue.transition", 3),
];

/// Prepare the workspace so that `op` can run on it.
fn prepare(layout: &Layout, op: &str) {
    init::initialize(layout).unwrap();
    queue::enqueue(layout, &task("t-1")).unwrap();
    queue::enqueue(layout, &task("t-2")).unwrap();
    queue::enqueue(layout, &incident("inc-1")).unwrap();
    if matches!(op, "done" | "block" | "requeue") {
        queue::transition(layout, DocKind::Task, "t-1", "queue", "active").unwrap();
    }
    if op == "incident_resolve" {
        queue::transition(layout, DocKind::Incident, "inc-1", "incoming", "active").unwrap();
    }
}

fn run_op(layout: &Layout, op: &str) {
    match op {
        "enqueue" => drop(queue::enqueue(layout, &task("t-3")).unwrap()),
        "claim" => drop(queue::claim_next(layout, DocKind::Task).unwrap()),
        "done" => drop(queue::transition(layout, DocKind::Task, "t-1", "active", "done").unwrap()),
        "block" => {
            drop(queue::transition(layout, DocKind::Task, "t-1", "active", "blocked").unwrap())
        }
        "requeue" => {
            drop(queue::transition(layout, DocKind::Task, "t-1", "active", "queue").unwrap())
        }
        "incident_claim" => drop(
            queue::transition(layout, DocKind::Incident, "inc-1", "incoming", "active").unwrap(),
        ),
        "incident_resolve" => drop(
            queue::transition(layout, DocKind::Incident, "inc-1", "active", "resolved").unwrap(),
        ),
        other => panic!("unknown op {other}"),
    }
}

/// Every item id → the states it is in.
fn placements(layout: &Layout) -> Vec<(DocKind, String, Vec<&'static str>)> {
    let mut out: Vec<(DocKind, String, Vec<&'static str>)> = Vec::new();
    for kind in DocKind::ALL {
        for st in queue::states(kind) {
            for id in queue::list_ids(layout, kind, st) {
                match out.iter_mut().find(|(k, i, _)| *k == kind && *i == id) {
                    Some(entry) => entry.2.push(st),
                    None => out.push((kind, id, vec![st])),
                }
            }
        }
    }
    out
}

fn assert_invariant(layout: &Layout, expected_ids: &[&str], context: &str) {
    let placed = placements(layout);
    for (kind, id, states) in &placed {
        assert_eq!(states.len(), 1, "{context}: {kind} {id} is in {states:?}");
    }
    for id in expected_ids {
        assert!(
            placed.iter().any(|(_, i, _)| i == id),
            "{context}: {id} is in no state"
        );
    }
}

/// Child entry point: when re-executed with CHILD_ENV, run one operation
/// (the crash hook aborts it). Ignored in normal runs.
#[test]
#[ignore = "entry point of the child process spawned by the crash tests"]
fn crash_child() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let (ws, op) = spec.split_once('|').unwrap();
        run_op(&Layout::new(ws), op);
    }
}

/// Run `op` on `ws` in a child process, aborted after step `step` of
/// `crash_op` when `crash` names one (`Some((crash_op, step))`).
fn run_child(ws: &Path, op: &str, crash: Option<(&str, u32)>) -> std::process::ExitStatus {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "crash_child",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_ENV, format!("{}|{op}", ws.display()));
    match crash {
        Some((crash_op, step)) => cmd.env(CRASH_ENV, format!("{crash_op}:{step}")),
        None => cmd.env_remove(CRASH_ENV),
    };
    cmd.output().unwrap().status
}

#[test]
fn killed_between_any_two_steps_leaves_each_item_in_exactly_one_state() {
    for (op, crash_op, steps) in OPS {
        for step in 1..=*steps {
            let dir = tempfile::tempdir().unwrap();
            let layout = Layout::new(dir.path());
            prepare(&layout, op);
            let status = run_child(dir.path(), op, Some((crash_op, step)));
            let context = format!("{op} killed after step {step}");
            assert!(
                !status.success(),
                "{context}: the child should have been aborted"
            );

            let mut ids = vec!["t-1", "t-2", "inc-1"];
            if *op == "enqueue" {
                ids.push("t-3");
            }
            assert_invariant(&layout, &ids, &context);

            queue::reconcile(&layout).unwrap();
            assert_invariant(&layout, &ids, &context);
            let snap = state::load_snapshot(&layout).unwrap();
            let recorded = [
                snap.queue_depth_execution,
                snap.queue_depth_planning,
                snap.queue_depth_learning,
            ];
            assert_eq!(
                recorded,
                queue::queue_depths(&layout),
                "{context}: depths after reconcile"
            );
            let errors: Vec<_> = doctor::check(&layout)
                .into_iter()
                .filter(|f| f.severity == doctor::Severity::Error)
                .collect();
            assert!(errors.is_empty(), "{context}: {errors:?}");
        }
    }
}

#[test]
fn uninterrupted_operation_completes_each_step() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path());
    prepare(&layout, "claim");
    // The same child without a crash point runs to completion.
    let status = run_child(dir.path(), "claim", None);
    assert!(status.success());
    assert_eq!(queue::list_ids(&layout, DocKind::Task, "active"), ["t-1"]);
    let snap = state::load_snapshot(&layout).unwrap();
    assert_eq!(snap.queue_depth_execution, 1);
}

#[test]
fn reconcile_resolves_an_item_left_in_two_states() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path());
    prepare(&layout, "done");
    // Simulate a non-atomic mover (e.g. a copy across devices) that died
    // after copying into done/ and before removing the active copy.
    let active = queue::state_dir(&layout, DocKind::Task, "active").join("t-1.md");
    std::fs::copy(
        &active,
        queue::state_dir(&layout, DocKind::Task, "done").join("t-1.md"),
    )
    .unwrap();
    std::fs::write(
        queue::state_dir(&layout, DocKind::Task, "queue").join(".x.millrace-tmp"),
        "torn",
    )
    .unwrap();
    let report = queue::reconcile(&layout).unwrap();
    assert_eq!(report.actions.len(), 2, "{report:?}");
    assert_invariant(&layout, &["t-1", "t-2", "inc-1"], "after reconcile");
    assert_eq!(queue::list_ids(&layout, DocKind::Task, "done"), ["t-1"]);
    assert!(queue::find_debris(&layout).is_empty());
}
