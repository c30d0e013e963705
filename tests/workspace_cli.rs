//! The workspace commands driven through the real binary on temp dirs:
//! init, the "run init first" gate, queue add/ls/show, doctor, upgrade, status.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod support;
use support::cli::{assert_has, run};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reference-docs")
        .join(name)
}

/// Every entry under `dir` (`support::tree`) but the append-only event log.
fn state_tree(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut t = support::tree(dir);
    t.retain(|p, _| !p.ends_with("runtime_events.jsonl"));
    t
}

/// `millrace COMMAND <fixture NAME>`, which must succeed.
fn add(ws: &Path, command: &str, name: &str) {
    let out = run(ws, &[command, fixture(name).to_str().unwrap()]);
    assert_eq!(out.code, 0, "{command} {name}: {}", out.stderr);
}

fn initialized() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(run(dir.path(), &["init"]).code, 0);
    dir
}

#[test]
fn init_creates_the_tree_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let first = run(dir.path(), &["init"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    // The reference's two lines first; the next steps are ours.
    assert!(
        first
            .stdout
            .starts_with("workspace: [WS]\ninitialized: true\nnext steps:\n"),
        "{}",
        first.stdout
    );
    let rt = dir.path().join("millrace-agents");
    for rel in [
        "tasks/queue",
        "specs/blocked",
        "incidents/resolved",
        "learning/requests/done",
        "arbiter/verdicts",
        "runs",
        "state/mailbox/incoming",
        "mill",
        "entrypoints",
        "skills",
    ] {
        assert!(rt.join(rel).is_dir(), "{rel}");
    }
    for rel in [
        "millrace.toml",
        "state/runtime_snapshot.json",
        "state/recovery_counters.json",
        "state/execution_status.md",
        "state/baseline_manifest.json",
        "outline.md",
        "historylog.md",
        "learning/events.jsonl",
    ] {
        assert!(rt.join(rel).is_file(), "{rel}");
    }
    assert_eq!(
        std::fs::read_to_string(rt.join("state/planning_status.md")).unwrap(),
        "### IDLE\n"
    );
    for (path, _) in millrace::assets::all() {
        if let Some(dest) = millrace::workspace::layout::asset_destination(path) {
            assert!(rt.join(dest).is_file(), "{path} deployed");
        }
    }
    let before = state_tree(dir.path());
    let second = run(dir.path(), &["init"]);
    assert_eq!(second.code, 0);
    assert_eq!(
        state_tree(dir.path()),
        before,
        "a second init changes nothing"
    );
}

#[test]
fn init_refuses_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let out = run(&file, &["init"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("not a directory"), "{}", out.stderr);
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}

#[test]
fn every_command_on_an_uninitialized_workspace_says_run_init() {
    let dir = tempfile::tempdir().unwrap();
    let task = fixture("task-minimal.md");
    let task = task.to_str().unwrap();
    for args in [
        vec!["status"],
        vec!["doctor"],
        vec!["upgrade"],
        vec!["queue", "ls"],
        vec!["queue", "show", "task-001"],
        vec!["queue", "add-task", task],
        vec!["add-task", task],
        vec!["add-spec", task],
        vec!["add-idea", task],
    ] {
        let out = run(dir.path(), &args);
        assert_eq!(out.code, 1, "{args:?}");
        assert_eq!(
            out.stderr,
            "error: workspace is not initialized: [WS]. Run `millrace init --workspace [WS]` first.\n",
            "{args:?}"
        );
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn add_list_and_show_work_items() {
    let dir = initialized();
    let ws = dir.path();
    let md = fixture("task-lineage.md");
    let out = run(ws, &["queue", "add-task", md.to_str().unwrap()]);
    assert_eq!(
        out.stdout,
        "enqueued_task: [WS]/millrace-agents/tasks/queue/task-042.b.md\n"
    );
    assert_eq!(
        std::fs::read(ws.join("millrace-agents/tasks/queue/task-042.b.md")).unwrap(),
        std::fs::read(&md).unwrap(),
        "a reference document is stored byte-identically"
    );
    let json = fixture("import-task.json");
    assert_eq!(run(ws, &["add-task", json.to_str().unwrap()]).code, 0);
    assert_eq!(
        std::fs::read_to_string(ws.join("millrace-agents/tasks/queue/task-json-1.md")).unwrap(),
        std::fs::read_to_string(fixture("import-task.expected.md")).unwrap()
    );
    add(ws, "add-spec", "spec-derived.md");
    let idea = ws.join("faster-builds.md");
    std::fs::write(&idea, "# Faster builds\n\nCache the target dir.\n").unwrap();
    let out = run(ws, &["add-idea", idea.to_str().unwrap()]);
    assert_eq!(
        out.stdout,
        "enqueued_idea: [WS]/ideas/inbox/faster-builds.md\n"
    );

    // The counts, then the items (ages masked: they grow with the clock).
    let ages = vec![(r"(queue|inbox) +\d+[smhd] +", "$1 [AGE] ")];
    insta::with_settings!({filters => ages}, {
    insta::assert_snapshot!(run(ws, &["queue", "ls"]).stdout, @r"
    execution_queue_depth: 2
    planning_queue_depth: 1
    learning_queue_depth: 0
    execution_active: 0
    planning_active: 0
    learning_active: 0
    active_task_count: 0
    active_spec_count: 0
    active_incident_count: 0
    active_learning_request_count: 0
    waiting: task-042.b depends on task-040 (missing)

    ID             KIND  STATE  AGE   TITLE                  WAITS_FOR
    task-042.b     task  queue [AGE] Wire the retry budget  dependencies: task-040 (missing)
    task-json-1    task  queue [AGE] From JSON              its turn
    spec-3         spec  queue [AGE] Retry budget           its turn
    faster-builds  idea  inbox [AGE] Faster builds          intake (watchers.watch_ideas_inbox)
    ");
    });
    insta::assert_snapshot!(run(ws, &["queue", "show", "task-042.b"]).stdout, @r"
    work_item_id: task-042.b
    work_item_kind: task
    work_item_state: queue
    path: [WS]/millrace-agents/tasks/queue/task-042.b.md
    title: Wire the retry budget
    ");
    let shown: serde_json::Value =
        serde_json::from_str(&run(ws, &["queue", "show", "spec-3", "--json"]).stdout).unwrap();
    assert_eq!(shown["work_item_kind"], "spec");
    assert_eq!(shown["document"]["root_spec_id"], "spec-root-1");
    assert_eq!(shown["document"]["goals"][0], "bounded retries");
    let listed: serde_json::Value =
        serde_json::from_str(&run(ws, &["queue", "ls", "--json"]).stdout).unwrap();
    assert_eq!(listed["execution_queue_depth"], 2);
    let items = listed["items"].as_array().unwrap();
    assert_eq!(listed["items_total"], 4);
    let first = &items[0];
    assert_eq!(
        (
            &first["id"],
            &first["kind"],
            &first["state"],
            &first["title"]
        ),
        (
            &serde_json::json!("task-042.b"),
            &serde_json::json!("task"),
            &serde_json::json!("queue"),
            &serde_json::json!("Wire the retry budget")
        )
    );
    assert_eq!(first["waits_for"], "dependencies: task-040 (missing)");
    assert!(first["age_seconds"].as_u64().is_some());
    // Filters: kind, state, limit.
    let ids = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["queue", "ls", "--json"];
        all.extend_from_slice(args);
        let v: serde_json::Value = serde_json::from_str(&run(ws, &all).stdout).unwrap();
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&["--kind", "spec"]), ["spec-3"]);
    assert_eq!(ids(&["--kind", "idea"]), ["faster-builds"]);
    assert_eq!(ids(&["--kind", "task", "--limit", "1"]), ["task-042.b"]);
    assert!(ids(&["--state", "done"]).is_empty());
    assert!(ids(&["--state", "active", "--state", "blocked"]).is_empty());
    assert_eq!(ids(&["--state", "all", "--kind", "task"]).len(), 2);
    let limited = run(ws, &["queue", "ls", "--limit", "1"]).stdout;
    assert!(
        limited.ends_with("... 3 more (--limit N, or --limit 0 for all)\n"),
        "{limited}"
    );
    assert_eq!(run(ws, &["queue", "ls", "--state", "nope"]).code, 2);

    let missing = run(ws, &["queue", "show", "nope"]);
    assert_eq!(
        (missing.code, missing.stderr.as_str()),
        (1, "error: work item not found: nope\n")
    );
    for bad in ["../x", "/abs", "a/b"] {
        let out = run(ws, &["queue", "show", bad]);
        assert_eq!(out.code, 1);
        assert!(
            out.stderr.starts_with("error: invalid work item id:"),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn bad_documents_are_refused_with_one_line_and_nothing_written() {
    let dir = initialized();
    let ws = dir.path();
    add(ws, "add-task", "task-minimal.md");
    let good = std::fs::read_to_string(fixture("task-minimal.md")).unwrap();
    let cases = [
        ("dup.md", good.clone(), "already exists"),
        (
            "missing.md",
            good.replace("Created-By: operator\n", "")
                .replace("task-001", "task-009"),
            "field `Created-By`: is required",
        ),
        (
            "escape.md",
            good.replace("Task-ID: task-001", "Task-ID: ../evil"),
            "field `Task-ID`",
        ),
        (
            "nolist.md",
            good.replace("task-001", "task-010")
                .replace("Risk:\n- low\n", ""),
            "field `Risk`",
        ),
        (
            "notes.txt",
            good.replace("task-001", "task-011"),
            "must end with .md or .json",
        ),
        ("broken.json", "{\"task_id\": ".to_string(), "invalid JSON"),
    ];
    let before = state_tree(ws);
    for (name, text, needle) in cases {
        let file = tempfile::tempdir().unwrap();
        let path = file.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = run(ws, &["add-task", path.to_str().unwrap()]);
        assert_eq!(out.code, 1, "{name}");
        assert_eq!(out.stderr.lines().count(), 1, "{name}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{name}: {}", out.stderr);
        if name != "dup.md" {
            assert!(
                out.stderr.contains(name),
                "{name}: the error names the file: {}",
                out.stderr
            );
        }
        assert_eq!(state_tree(ws), before, "{name}: nothing written");
    }
}

#[test]
fn doctor_reports_and_repairs() {
    let dir = initialized();
    let ws = dir.path();
    let clean = run(ws, &["doctor"]);
    assert_eq!(clean.code, 0, "{}", clean.stdout);
    assert!(clean
        .stdout
        .starts_with("ok: true\nerrors: 0\nwarnings: 0\n"));

    add(ws, "add-task", "task-minimal.md");
    let rt = ws.join("millrace-agents");
    std::fs::copy(
        rt.join("tasks/queue/task-001.md"),
        rt.join("tasks/active/task-001.md"),
    )
    .unwrap();
    std::fs::write(
        rt.join("tasks/blocked/renamed.md"),
        std::fs::read(rt.join("tasks/queue/task-001.md")).unwrap(),
    )
    .unwrap();
    let out = run(ws, &["doctor"]);
    assert_eq!(out.code, 1);
    assert_has(
        &out.stdout,
        &[
            "error: duplicate_task_lifecycle_state tasks/task-001 task task-001 is in queue and active; fix: run `millrace doctor --repair",
            "renamed.md: field `Task-ID`: is \"task-001\" but the file is named renamed.md",
            "warning: orphaned_active_item",
        ],
    );

    std::fs::remove_file(rt.join("tasks/blocked/renamed.md")).unwrap();
    let repaired = run(ws, &["doctor", "--repair"]);
    assert!(
        repaired
            .stdout
            .contains("repaired: task task-001: removed copy in queue, kept active"),
        "{}",
        repaired.stdout
    );
    assert!(!repaired.stdout.contains("duplicate_task_lifecycle_state"));
    assert_eq!(repaired.code, 0, "{}", repaired.stdout);
}

#[test]
fn doctor_reports_what_the_reference_checks_under_its_codes() {
    let dir = initialized();
    let ws = dir.path();
    let rt = ws.join("millrace-agents");
    std::fs::remove_file(rt.join("state/planning_status.md")).unwrap();
    std::fs::write(rt.join("state/runtime_snapshot.json"), "{").unwrap();
    std::fs::write(rt.join("state/execution_status.md"), "running\n").unwrap();
    std::fs::remove_file(rt.join("entrypoints/execution/builder.md")).unwrap();
    let lp = rt.join("mill/stdlib/loops/planning.mill");
    let mut text = std::fs::read_to_string(&lp).unwrap();
    text.push_str("stage x {\n");
    std::fs::write(&lp, text).unwrap();
    let out = run(ws, &["doctor"]);
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    for (level, code, path) in [
        ("error", "missing_file", "state/planning_status.md"),
        ("error", "snapshot_invalid", "state/runtime_snapshot.json"),
        (
            "error",
            "execution_status_invalid",
            "state/execution_status.md",
        ),
        (
            "error",
            "baseline_manifest_managed_file_missing",
            "entrypoints/execution/builder.md",
        ),
        (
            "error",
            "loop_definition_invalid",
            "mill/stdlib/loops/planning.mill",
        ),
        ("error", "resolved_mode_invalid", "millrace.toml"),
    ] {
        let line = format!("{level}: {code} [WS]/millrace-agents/{path}");
        assert!(out.stdout.contains(&line), "{line} not in\n{}", out.stdout);
    }
}

#[test]
fn upgrade_previews_and_refuses_conflicts() {
    let dir = initialized();
    let ws = dir.path();
    let out = run(ws, &["upgrade"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for d in [
        "unchanged",
        "safe_package_update",
        "local_only_modification",
        "already_converged",
        "localized_removed",
        "conflict",
        "missing",
    ] {
        assert!(
            out.stdout.contains(&format!("\n{d}: ")),
            "{d}: {}",
            out.stdout
        );
    }
    // A file the old baseline shipped but this binary no longer does.
    let rt = ws.join("millrace-agents");
    let manifest_path = rt.join("state/baseline_manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    std::fs::write(rt.join("skills/retired.md"), "old skill").unwrap();
    manifest["entries"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "relative_path": "skills/retired.md",
            "asset_family": "skills",
            "original_sha256": millrace::workspace::manifest::hash_bytes(b"old skill"),
        }));
    std::fs::write(
        &manifest_path,
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();

    let preview = run(ws, &["upgrade"]);
    assert_has(&preview.stdout, &["entry: skills/retired.md conflict"]);
    let before = state_tree(ws);
    let refused = run(ws, &["upgrade", "--apply"]);
    assert_eq!(refused.code, 1);
    assert_has(&refused.stderr, &["conflict in skills/retired.md"]);
    assert_eq!(state_tree(ws), before, "a refused upgrade changes nothing");

    let list = ws.join("localize.txt");
    std::fs::write(&list, "# kept on purpose\n\n  skills/retired.md  \n").unwrap();
    let preview = run(
        ws,
        &["upgrade", "--localize-removed-from", list.to_str().unwrap()],
    );
    assert!(
        preview
            .stdout
            .contains("entry: skills/retired.md localized_removed"),
        "{}",
        preview.stdout
    );
    let missing = run(
        ws,
        &[
            "upgrade",
            "--localize-removed-from",
            "/nonexistent/list.txt",
        ],
    );
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert!(missing.stderr.contains("/nonexistent/list.txt"));
    let applied = run(
        ws,
        &[
            "upgrade",
            "--apply",
            "--localize-removed",
            "skills/retired.md",
        ],
    );
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    assert!(applied.stdout.starts_with("applied: true\n"));
    assert!(applied
        .stdout
        .contains("entry: skills/retired.md localized_removed"));
    assert_eq!(
        std::fs::read(rt.join("skills/retired.md")).unwrap(),
        b"old skill"
    );
    let after = run(ws, &["upgrade"]);
    assert!(
        !after.stdout.contains("retired"),
        "no longer managed: {}",
        after.stdout
    );
}

#[test]
fn status_prints_depths_and_markers() {
    let dir = initialized();
    let ws = dir.path();
    add(ws, "add-task", "task-minimal.md");
    std::fs::write(
        ws.join("millrace-agents/state/execution_status.md"),
        "### BUILDER_RUNNING\n",
    )
    .unwrap();
    // `status` prints many more keys (see tests/operator_cli.rs); these are
    // the ones this test is about, in their order.
    let keys = [
        "workspace",
        "runtime_mode",
        "process_running",
        "runtime_ownership_lock",
        "paused",
        "stop_requested",
        "active_mode_id",
        "compiled_plan_id",
        "active_plane",
        "active_stage",
        "active_work_item_kind",
        "active_work_item_id",
        "execution_queue_depth",
        "planning_queue_depth",
        "learning_queue_depth",
        "execution_status_marker",
        "planning_status_marker",
        "learning_status_marker",
    ];
    let out = run(ws, &["status"]).stdout;
    let shown: String = out
        .lines()
        .filter(|l| {
            keys.iter()
                .any(|k| l.split_once(": ").is_some_and(|(key, _)| key == *k))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    insta::assert_snapshot!(shown, @r"
    workspace: [WS]
    runtime_mode: daemon
    process_running: false
    runtime_ownership_lock: absent
    paused: false
    stop_requested: false
    active_mode_id: default_codex
    compiled_plan_id: bootstrap
    active_plane: none
    active_stage: none
    active_work_item_kind: none
    active_work_item_id: none
    execution_queue_depth: 1
    planning_queue_depth: 0
    learning_queue_depth: 0
    execution_status_marker: ### BUILDER_RUNNING
    planning_status_marker: ### IDLE
    learning_status_marker: ### IDLE
    ");
}
