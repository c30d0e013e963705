//! The codex_cli runner against a fake Codex (tests/fakes/fake_codex.sh):
//! argv and environment, run-directory files, token usage, final-marker
//! reconciliation, failures, a process-group timeout and a missing binary.

mod runners_support;

use std::collections::BTreeMap;
use std::fs;

use millrace::runners::{self, CodexSettings, ExitKind, Extraction, RunnerSettings};
use runners_support::*;

fn settings(env: &[(&str, &str)]) -> RunnerSettings {
    RunnerSettings {
        codex: CodexSettings {
            command: "/bin/sh".into(),
            args: vec![fake("fake_codex.sh")],
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            ..CodexSettings::default()
        },
        ..RunnerSettings::default()
    }
}

#[test]
fn happy_run_writes_the_reference_files() {
    let ws = Workspace::new();
    let record = ws.record_dir();
    let request = ws.request("builder");
    let settings = settings(&[
        ("FAKE_OUTCOME", "BUILDER_COMPLETE"),
        ("FAKE_RECORD", record.to_str().unwrap()),
        ("FAKE_PROBE", "probe-value"),
    ]);
    let out = runners::run(&request, &settings).unwrap();

    assert_eq!(out.runner_name, "codex_cli");
    assert_eq!(out.exit_kind, ExitKind::Completed);
    assert_eq!(out.exit_code, Some(0));
    assert_eq!(out.observed, Some((ExitKind::Completed, Some(0))));
    assert_eq!(
        out.notes,
        ["runner timeout reconciled after final terminal marker ### BUILDER_COMPLETE"]
    );
    // argv: the prompt is the last argument, --cd is the workspace.
    let argv = read_argv(&record.join("argv"));
    assert_eq!(
        argv.last().unwrap(),
        &fs::read_to_string(&out.files.prompt).unwrap()
    );
    let cd = argv.iter().position(|a| a == "--cd").unwrap();
    assert_eq!(argv[cd + 1], ws.root.to_str().unwrap());
    assert_eq!(
        fs::read_to_string(record.join("cwd")).unwrap().trim(),
        ws.root.to_str().unwrap()
    );
    assert_eq!(
        fs::read_to_string(record.join("probe")).unwrap(),
        "probe-value"
    );
    // Files.
    let f = &out.files;
    let req = &request.request_id;
    assert!(f.prompt.ends_with(format!("runner_prompt.{req}.md")));
    assert!(f
        .events
        .as_ref()
        .unwrap()
        .ends_with(format!("runner_events.{req}.jsonl")));
    let last = fs::read_to_string(f.last_message.as_ref().unwrap()).unwrap();
    assert_eq!(
        fs::read_to_string(f.stdout.as_ref().unwrap()).unwrap(),
        last
    );
    assert!(fs::read_to_string(f.stderr.as_ref().unwrap())
        .unwrap()
        .contains("fake codex: starting"));
    let events = fs::read_to_string(f.events.as_ref().unwrap()).unwrap();
    assert!(events.contains("token_count"));
    // Token usage: the largest token_count total; turn.completed ignored.
    let usage = out.token_usage.unwrap();
    assert_eq!(
        (
            usage.input_tokens,
            usage.cached_input_tokens,
            usage.output_tokens,
            usage.thinking_tokens,
            usage.total_tokens
        ),
        (1200, 300, 45, 20, 1245)
    );
    // Marker and metadata.
    assert_eq!(
        out.scan.classify(&request.outcome_names()),
        Extraction::Legal {
            outcome: "BUILDER_COMPLETE".into()
        }
    );
    assert_eq!(out.scan.metadata.resume_stage.as_deref(), Some("checker"));
    let v = out.verdict(&request);
    assert!(v.valid);
    assert_eq!(
        (v.outcome.as_str(), v.result_class.as_str()),
        ("BUILDER_COMPLETE", "success")
    );
    // Invocation and completion records.
    let inv = json(&f.invocation);
    assert_eq!(inv["kind"], "runner_invocation");
    assert_eq!(inv["runner_name"], "codex_cli");
    assert_eq!(inv["active_work_item_id"], "t-001");
    assert_eq!(inv["command"].as_array().unwrap().len(), argv.len() + 2); // /bin/sh and the script precede "$@"
    assert_eq!(
        keys_in_order(&f.invocation),
        [
            "schema_version",
            "kind",
            "request_id",
            "run_id",
            "stage",
            "request_kind",
            "active_work_item_id",
            "closure_target_root_spec_id",
            "runner_name",
            "model_name",
            "thinking_level",
            "model_reasoning_effort",
            "command",
            "prompt_path",
            "emitted_at"
        ]
    );
    let done = json(&f.completion);
    assert_eq!(done["exit_kind"], "completed");
    assert_eq!(done["observed_exit_kind"], "completed");
    assert_eq!(done["token_usage"]["total_tokens"], 1245);
    assert_eq!(done["failure_class"], serde_json::Value::Null);
    let reference_keys = reference_completion_keys();
    assert_eq!(keys_in_order(&f.completion), reference_keys);
}

#[test]
fn stdout_only_answer_is_read_from_the_events() {
    let ws = Workspace::new();
    let request = ws.request("builder");
    let out = runners::run(
        &request,
        &settings(&[("FAKE_MODE", "stdout_only"), ("FAKE_OUTCOME", "BLOCKED")]),
    )
    .unwrap();
    assert!(out.files.last_message.is_none());
    assert_eq!(out.observed, None);
    assert_eq!(
        fs::read_to_string(out.files.stdout.as_ref().unwrap()).unwrap(),
        fs::read_to_string(out.files.events.as_ref().unwrap()).unwrap()
    );
    let v = out.verdict(&request);
    assert_eq!(
        (v.outcome.as_str(), v.result_class.as_str()),
        ("BLOCKED", "blocked")
    );
}

#[test]
fn failures_are_classified() {
    let ws = Workspace::new();
    let request = ws.request("builder");
    let out = runners::run(&request, &settings(&[("FAKE_MODE", "fail")])).unwrap();
    assert_eq!(
        (out.exit_kind, out.exit_code),
        (ExitKind::NonzeroExit, Some(3))
    );
    assert_eq!(out.failure_class.as_deref(), Some("runner_non_zero_exit"));
    assert_eq!(json(&out.files.completion)["exit_kind"], "runner_error");
    assert_eq!(
        out.verdict(&request).failure_class.as_deref(),
        Some("runner_transport_failure")
    );

    let mut request = ws.request("builder");
    request.request_id = "request-00000000000000000000000000000002".into();
    let out = runners::run(&request, &settings(&[("FAKE_MODE", "no_marker")])).unwrap();
    assert_eq!(out.exit_kind, ExitKind::Completed);
    let v = out.verdict(&request);
    assert_eq!(v.failure_class.as_deref(), Some("missing_terminal_result"));
    assert_eq!(
        (v.outcome.as_str(), v.result_class.as_str()),
        ("BLOCKED", "recoverable_failure")
    );

    request.request_id = "request-00000000000000000000000000000003".into();
    let out = runners::run(&request, &settings(&[("FAKE_OUTCOME", "CHECKER_PASS")])).unwrap();
    assert_eq!(
        out.verdict(&request).failure_class.as_deref(),
        Some("illegal_terminal_result")
    );
}

#[test]
fn timeout_kills_the_whole_process_group() {
    let ws = Workspace::new();
    let record = ws.record_dir();
    let mut request = ws.request("builder");
    request.timeout_seconds = 1;
    let settings = settings(&[
        ("FAKE_MODE", "hang"),
        ("FAKE_RECORD", record.to_str().unwrap()),
    ]);
    let started = std::time::Instant::now();
    let out = runners::run(&request, &settings).unwrap();
    assert!(started.elapsed().as_secs() < 60);
    assert_eq!(
        (out.exit_kind, out.exit_code),
        (ExitKind::Timeout, Some(124))
    );
    assert_eq!(out.failure_class.as_deref(), Some("runner_timeout"));
    assert!(fs::read_to_string(out.files.stderr.as_ref().unwrap())
        .unwrap()
        .contains("runner timed out after 1 seconds"));
    assert_eq!(
        out.verdict(&request).failure_class.as_deref(),
        Some("runner_timeout")
    );
    assert_dead(&record.join("child.pid"));
    assert_dead(&record.join("grandchild.pid"));
}

#[test]
fn missing_binary_is_a_spawn_failure() {
    let ws = Workspace::new();
    let request = ws.request("builder");
    let mut settings = RunnerSettings::default();
    settings.codex.command = "/nonexistent/codex-binary".into();
    let out = runners::run(&request, &settings).unwrap();
    assert_eq!(
        (out.exit_kind, out.exit_code),
        (ExitKind::SpawnFailed, Some(127))
    );
    assert_eq!(
        out.failure_class.as_deref(),
        Some("runner_binary_not_found")
    );
    assert_eq!(
        fs::read_to_string(out.files.stderr.as_ref().unwrap()).unwrap(),
        "runner binary not found: /nonexistent/codex-binary\n"
    );
    assert!(out.files.completion.exists() && out.files.invocation.exists());
    assert_eq!(
        out.verdict(&request).failure_class.as_deref(),
        Some("runner_transport_failure")
    );
}

/// A network wait is announced once and, when it outlasts
/// `network_grace_seconds`, stops the agent (its whole group) as an
/// environment failure, followed as the events arrive (no watcher thread).
#[test]
fn a_network_wait_past_the_grace_stops_the_agent() {
    let ws = Workspace::new();
    let record = ws.record_dir();
    let mut request = ws.request("builder");
    // Without the watch the stage would end only at this timeout.
    request.timeout_seconds = 30;
    let mut settings = settings(&[
        ("FAKE_MODE", "netwait"),
        ("FAKE_RECORD", record.to_str().unwrap()),
    ]);
    settings.network_grace_seconds = 1;
    let lines = std::sync::Mutex::new(Vec::<String>::new());
    let notify = |line: &str| lines.lock().unwrap().push(line.to_string());
    let out =
        runners::run_watched(&request, &settings, runners::Cancel::none(), Some(&notify)).unwrap();
    assert_eq!(out.exit_kind, ExitKind::ProviderError);
    let env = out.environment.as_ref().expect("an environment failure");
    assert_eq!(env.class, "agent_network_unreachable");
    assert!(env.reason.contains("waiting for network"), "{env:?}");
    assert!(env.reason.contains("still waiting after 1 s"), "{env:?}");
    assert_eq!(
        out.failure_class.as_deref(),
        Some("agent_network_unreachable")
    );
    // Announced once, though the agent printed the wait twice.
    assert_eq!(
        *lines.lock().unwrap(),
        ["stage waiting execution/builder reason=\"Reconnecting... waiting for network (Connection failed: error sending request)\""]
    );
    assert!(fs::read_to_string(out.files.stderr.as_ref().unwrap())
        .unwrap()
        .contains("runner stopped by the runtime: Reconnecting... waiting for network"));
    assert_dead(&record.join("grandchild.pid"));
}

/// Another event ends a wait: an agent that got its network back within
/// the grace is not stopped, and its second wait is not announced again.
#[test]
fn a_network_wait_that_ends_within_the_grace_lets_the_agent_finish() {
    let ws = Workspace::new();
    let request = ws.request("builder");
    // The second wait comes 2.7 s after the first: past the 2 s grace had
    // the event between them not ended the first one.
    let mut settings = settings(&[
        ("FAKE_MODE", "netwait_recover"),
        ("FAKE_NAP", "0.2"),
        ("FAKE_PAUSE", "2.5"),
    ]);
    settings.network_grace_seconds = 2;
    let lines = std::sync::Mutex::new(Vec::<String>::new());
    let notify = |line: &str| lines.lock().unwrap().push(line.to_string());
    let out =
        runners::run_watched(&request, &settings, runners::Cancel::none(), Some(&notify)).unwrap();
    assert_eq!(out.environment, None);
    assert_eq!(out.exit_kind, ExitKind::Completed);
    assert_eq!(out.verdict(&request).outcome.as_str(), "BUILDER_COMPLETE");
    assert_eq!(lines.lock().unwrap().len(), 1);
}
