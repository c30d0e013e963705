//! The learning plane as the reference runs it: trigger requests carry the
//! reference's fields, a request's `Target-Stage` chooses where it starts,
//! requests of learning modes carry skill revision evidence, a curator's
//! skill update crosses the promotion boundary (deferred while foreground
//! work runs), and reviewed no-change learning closes as a no-op.

mod support;
use support::cli::assert_has;

use serde_json::{json, Value};
use support::harness::{task, Ws};

fn request(id: &str, target_stage: Option<&str>) -> String {
    let mut s = format!(
        "# Learn\n\nLearning-Request-ID: {id}\nTitle: Learn\nSummary: A lesson.\nRequested-Action: improve\nTarget-Skill-ID: builder-core\n"
    );
    if let Some(t) = target_stage {
        s.push_str(&format!("Target-Stage: {t}\n"));
    }
    s.push_str("Created-At: 2026-03-01T12:30:00Z\nCreated-By: tests\n");
    s
}

fn queue_request(ws: &Ws, id: &str, target_stage: Option<&str>) {
    std::fs::write(
        ws.ma().join(format!("learning/requests/queue/{id}.md")),
        request(id, target_stage),
    )
    .unwrap();
}

fn calls(ws: &Ws) -> String {
    std::fs::read_to_string(ws.script.with_extension("txt.log")).unwrap_or_default()
}

#[test]
fn a_trigger_request_carries_the_reference_fields() {
    // One fix cycle: the doublechecker's pass fires the learning rule.
    let ws = Ws::new("checker FIX_NEEDED CHECKER_PASS\n");
    ws.add("add-task", task("t-1", "2026-04-15T12:00:00Z", json!({})));
    ws.run_mode_until_idle("learning_codex");
    let done = ws.items("learning/requests", "done");
    assert_eq!(done.len(), 1, "{done:?}");
    let doc = std::fs::read_to_string(
        ws.ma()
            .join(format!("learning/requests/done/{}.md", done[0])),
    )
    .unwrap();
    for want in [
        "Requested-Action: improve",
        "Target-Stage: analyst",
        "Source-Refs:\n- run:run-",
        "- node:doublechecker\n- stage_kind:doublechecker\n- stage:doublechecker\n- terminal:DOUBLECHECK_PASS",
        "Originating-Run-IDs:\n- run-",
        "Artifact-Paths:\n- /",
        "\"source_stage_kind_id\":\"doublechecker\"",
        "\"work_item_id\":\"t-1\"",
    ] {
        assert!(doc.contains(want), "{want:?} missing:\n{doc}");
    }
    let artifact = doc
        .lines()
        .skip_while(|l| *l != "Artifact-Paths:")
        .nth(1)
        .unwrap()
        .strip_prefix("- ")
        .unwrap();
    assert!(std::path::Path::new(artifact).is_file(), "{artifact}");
    let enqueued = ws
        .events()
        .into_iter()
        .find(|e| e["event_type"] == "learning_request_enqueued")
        .unwrap();
    assert_eq!(enqueued["data"]["source_stage"], "doublechecker");
    assert_eq!(enqueued["data"]["terminal_result"], "DOUBLECHECK_PASS");
}

#[test]
fn target_stage_chooses_the_entry_stage() {
    let ws = Ws::new("");
    queue_request(&ws, "lr-cur", Some("curator"));
    ws.run_mode_until_idle("learning_codex");
    assert_eq!(calls(&ws), "curator CURATOR_NOOP\n");
    // Reviewed, no change: the request closes as a no-op.
    assert_eq!(ws.items("learning/requests", "done"), ["lr-cur"]);
    let results = ws.stage_results();
    assert_eq!(results[0]["terminal_result"], "CURATOR_NOOP");
    assert_eq!(results[0]["result_class"], "no_op");
}

#[test]
fn an_unknown_target_stage_is_refused() {
    let ws = Ws::new("");
    queue_request(&ws, "lr-bad", Some("builder"));
    let monitor = ws.run_mode_until_idle("learning_codex");
    // `builder` is no learning stage: the request is refused unrun.
    assert_has(&monitor, &["rejected learning_request:lr-bad reason="]);
    assert_eq!(ws.items("learning/requests", "blocked"), ["lr-bad"]);
    assert_eq!(calls(&ws), "");
}

#[test]
fn learning_modes_write_skill_revision_evidence() {
    let ws = Ws::new("");
    ws.add("add-task", task("t-1", "2026-04-15T12:00:00Z", json!({})));
    ws.run_mode_until_idle("learning_codex");
    let results = ws.stage_results();
    let builder = results.iter().find(|r| r["stage"] == "builder").unwrap();
    let path = builder["metadata"]["skill_revision_evidence_path"]
        .as_str()
        .unwrap();
    let evidence: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(evidence["kind"], "skill_revision_evidence");
    assert_eq!(evidence["mode_id"], "learning_codex");
    let skill = &evidence["skills"][0];
    assert!(skill["path"]
        .as_str()
        .unwrap()
        .ends_with("builder-core/SKILL.md"));
    assert_eq!(skill["exists"], true);
    let bytes = std::fs::read(skill["path"].as_str().unwrap()).unwrap();
    assert_eq!(skill["size_bytes"], bytes.len());
    assert_eq!(skill["sha256"].as_str().unwrap().len(), 64);
    // The prompt names it.
    let prompt_dir = std::path::Path::new(path).parent().unwrap();
    let prompt = std::fs::read_dir(prompt_dir)
        .unwrap()
        .flatten()
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("runner_prompt.")
        })
        .unwrap();
    assert!(std::fs::read_to_string(prompt.path())
        .unwrap()
        .contains("skill_revision_evidence."));

    // A mode without a learning plane writes none.
    let ws = Ws::new("");
    ws.add("add-task", task("t-1", "2026-04-15T12:00:00Z", json!({})));
    ws.run_until_idle();
    assert!(ws
        .stage_results()
        .iter()
        .all(|r| r["metadata"]["skill_revision_evidence_path"].is_null()));
}

#[test]
fn a_curator_skill_update_is_applied_when_nothing_runs_in_the_foreground() {
    let ws = Ws::new("curator CURATOR_COMPLETE\n");
    ws.append_config("FAKE_SKILL_UPDATE = \"1\"\n");
    queue_request(&ws, "lr-1", Some("curator"));
    let monitor = ws.run_mode_until_idle("learning_codex");
    let applied = ws.ma().join("learning/update-candidates/applied");
    let records: Vec<_> = std::fs::read_dir(&applied).unwrap().flatten().collect();
    assert_eq!(records.len(), 1, "{monitor}");
    let record: Value =
        serde_json::from_str(&std::fs::read_to_string(records[0].path()).unwrap()).unwrap();
    assert_eq!(record["kind"], "learning_curator_promotion");
    assert_eq!(record["state"], "applied");
    assert_eq!(record["work_item_id"], "lr-1");
    assert!(record["artifact_paths"][0]
        .as_str()
        .unwrap()
        .ends_with("curator_skill_update_summary.md"));
    assert!(
        monitor.contains(
            "curator promotion applied source=none record=millrace-agents/learning/update-candidates/applied/"
        ),
        "{monitor}"
    );
}

#[test]
fn a_curator_skill_update_waits_for_the_foreground_to_drain() {
    let ws = Ws::new("curator CURATOR_COMPLETE\n");
    ws.append_config(
        "FAKE_SKILL_UPDATE = \"1\"\nFAKE_NAP_STAGES = \"builder\"\nFAKE_NAP = \"2\"\n",
    );
    ws.add("add-task", task("t-1", "2026-04-15T12:00:00Z", json!({})));
    queue_request(&ws, "lr-1", Some("curator"));
    let monitor = ws.run_mode_until_idle("learning_codex");
    assert_has(
        &monitor,
        &[
            "curator promotion deferred active=execution record=",
            "curator promotion applied source=deferred_safe_boundary record=millrace-agents/learning/update-candidates/applied/",
        ],
    );
    let kinds: Vec<String> = ws
        .events()
        .iter()
        .filter_map(|e| e["event_type"].as_str().map(str::to_string))
        .filter(|k| k.starts_with("learning_curator_promotion"))
        .collect();
    assert_eq!(
        kinds,
        [
            "learning_curator_promotion_deferred",
            "learning_curator_promotion_applied"
        ]
    );
    assert!(
        std::fs::read_dir(ws.ma().join("learning/update-candidates/deferred"))
            .unwrap()
            .next()
            .is_none()
    );
    assert_eq!(ws.items("tasks", "done"), ["t-1"]);
}

#[test]
fn a_trigger_rule_destination_reaches_the_request_and_its_event() {
    // A workspace-local mode whose rule sends a checker pass straight to the
    // curator, naming the skill and where to write.
    let ws = Ws::new("");
    let local = ws.ma().join("mill/local");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(
        local.join("curated.mill"),
        "import \"../modes/learning_codex.mill\"\n\
         mode curated extends learning_codex {\n\
         \x20 learn execution.checker.pass-to-curator\n\
         \x20   when checker CHECKER_PASS -> curator improve\n\
         \x20   skill \"builder-core\"\n\
         \x20   outputs \"millrace-agents/skills/builder-core/SKILL.md\", \"notes/lesson.md\"\n\
         }\n",
    )
    .unwrap();
    let show = ws.run(&["compile", "show", "--mode", "curated"]);
    let show_text = String::from_utf8_lossy(&show.stdout);
    assert!(
        show_text.contains(
            "learning_trigger: execution.checker.pass-to-curator execution.checker on=CHECKER_PASS -> curator action=improve skill=builder-core outputs=millrace-agents/skills/builder-core/SKILL.md,notes/lesson.md"
        ),
        "{show_text}{}",
        String::from_utf8_lossy(&show.stderr)
    );
    ws.add("add-task", task("t-1", "2026-04-15T12:00:00Z", json!({})));
    ws.run_ok(&[
        "run",
        "daemon",
        "--mode",
        "curated",
        "--monitor",
        "basic",
        "--until-idle",
    ]);
    let enqueued: Vec<Value> = ws
        .events()
        .into_iter()
        .filter(|e| {
            e["event_type"] == "learning_request_enqueued"
                && e["data"]["rule_id"] == "execution.checker.pass-to-curator"
        })
        .collect();
    assert_eq!(enqueued.len(), 1, "{enqueued:?}");
    let data = &enqueued[0]["data"];
    assert_eq!(data["target_stage"], "curator");
    assert_eq!(data["target_skill_id"], "builder-core");
    assert_eq!(
        data["preferred_output_paths"],
        json!([
            "millrace-agents/skills/builder-core/SKILL.md",
            "notes/lesson.md"
        ])
    );
    let id = data["learning_request_id"].as_str().unwrap();
    let doc = ["queue", "active", "done", "blocked"]
        .iter()
        .find_map(|s| {
            std::fs::read_to_string(ws.ma().join(format!("learning/requests/{s}/{id}.md"))).ok()
        })
        .expect("the request document");
    for want in [
        "Target-Stage: curator",
        "Target-Skill-ID: builder-core",
        "Preferred-Output-Paths:\n- millrace-agents/skills/builder-core/SKILL.md\n- notes/lesson.md",
    ] {
        assert!(doc.contains(want), "{want:?} missing:\n{doc}");
    }
}
