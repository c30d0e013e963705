//! The pi_rpc runner against a fake Pi speaking JSON lines on stdio
//! (tests/fakes/fake_pi.sh): the happy exchange, token usage, the event-log
//! policy, every RPC failure class, a timeout with abort and group kill, Pi
//! retrying a connection error past `network_grace_seconds` (stopped, an
//! environment failure) or within it (finishes), and a missing binary.

mod runners_support;

use std::fs;

use millrace::runners::{self, ExitKind, Extraction, PiEventLogPolicy, PiSettings, RunnerSettings};
use runners_support::*;

fn settings(env: &[(&str, &str)]) -> RunnerSettings {
    let mut s = RunnerSettings {
        default_runner: "pi_rpc".into(),
        ..RunnerSettings::default()
    };
    s.pi = PiSettings {
        command: "/bin/sh".into(),
        args: vec![fake("fake_pi.sh")],
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..PiSettings::default()
    };
    s
}

fn request(ws: &Workspace) -> millrace::runners::StageRequest {
    let mut r = ws.request("builder");
    r.runner_name = Some("pi_rpc".into());
    r
}

#[test]
fn happy_exchange() {
    let ws = Workspace::new();
    let record = ws.record_dir();
    let mut request = request(&ws);
    request.thinking_level = Some("medium".into());
    let out = runners::run(
        &request,
        &settings(&[
            ("FAKE_OUTCOME", "BUILDER_COMPLETE"),
            ("FAKE_RECORD", record.to_str().unwrap()),
        ]),
    )
    .unwrap();
    assert_eq!(out.runner_name, "pi_rpc");
    assert_eq!(
        (out.exit_kind, out.exit_code),
        (ExitKind::Completed, Some(0))
    );
    assert_eq!(out.failure_class, None);
    let argv = read_argv(&record.join("argv"));
    assert_eq!(
        argv,
        [
            "--mode",
            "rpc",
            "--no-session",
            "--thinking",
            "medium",
            "--no-context-files",
            "--no-skills"
        ]
    );
    let stdout = fs::read_to_string(out.files.stdout.as_ref().unwrap()).unwrap();
    assert_eq!(stdout, "work done\n### BUILDER_COMPLETE\n");
    assert_eq!(
        out.scan.classify(&request.outcome_names()),
        Extraction::Legal {
            outcome: "BUILDER_COMPLETE".into()
        }
    );
    let u = out.token_usage.unwrap();
    assert_eq!(
        (
            u.input_tokens,
            u.cached_input_tokens,
            u.output_tokens,
            u.thinking_tokens,
            u.total_tokens
        ),
        (100, 5, 20, 0, 120)
    );
    // failure_full: no event log after a clean run.
    assert!(out.files.events.is_none());
    assert!(fs::read_to_string(out.files.stderr.as_ref().unwrap())
        .unwrap()
        .contains("fake pi: starting"));
    assert!(out.verdict(&request).valid);
    assert_eq!(json(&out.files.completion)["exit_kind"], "completed");
}

#[test]
fn full_event_log_policy_keeps_events_without_message_updates() {
    let ws = Workspace::new();
    let request = request(&ws);
    let mut s = settings(&[]);
    s.pi.event_log_policy = PiEventLogPolicy::Full;
    let out = runners::run(&request, &s).unwrap();
    let events = fs::read_to_string(out.files.events.as_ref().unwrap()).unwrap();
    assert!(events.contains("agent_start") && events.contains("agent_end"));
    assert!(!events.contains("message_update"));
    assert!(!events.contains("\"type\":\"response\""));
}

#[test]
fn rpc_failures() {
    let cases = [
        (
            "reject",
            ExitKind::RpcFailure,
            "runner_rpc_rejected",
            "runner_transport_failure",
        ),
        (
            "eof",
            ExitKind::RpcFailure,
            "runner_incomplete_rpc_stream",
            "runner_transport_failure",
        ),
        (
            "empty",
            ExitKind::RpcFailure,
            "runner_empty_assistant_text",
            "runner_transport_failure",
        ),
        (
            "provider_error",
            ExitKind::ProviderError,
            "runner_provider_failure",
            "provider_failure",
        ),
    ];
    for (mode, kind, class, stage_class) in cases {
        let ws = Workspace::new();
        let request = request(&ws);
        let out = runners::run(&request, &settings(&[("FAKE_MODE", mode)])).unwrap();
        assert_eq!((out.exit_kind, out.exit_code), (kind, Some(1)), "{mode}");
        assert_eq!(out.failure_class.as_deref(), Some(class), "{mode}");
        assert_eq!(
            out.verdict(&request).failure_class.as_deref(),
            Some(stage_class),
            "{mode}"
        );
        if mode == "reject" {
            assert_eq!(out.notes, ["agent is busy"]);
        } else {
            // Failures keep the event log.
            assert!(out.files.events.is_some(), "{mode}");
        }
    }
}

#[test]
fn timeout_aborts_then_kills_the_process_group() {
    let ws = Workspace::new();
    let record = ws.record_dir();
    let mut request = request(&ws);
    request.timeout_seconds = 1;
    let started = std::time::Instant::now();
    let out = runners::run(
        &request,
        &settings(&[
            ("FAKE_MODE", "hang"),
            ("FAKE_RECORD", record.to_str().unwrap()),
        ]),
    )
    .unwrap();
    assert!(started.elapsed().as_secs() < 60);
    assert_eq!(
        (out.exit_kind, out.exit_code),
        (ExitKind::Timeout, Some(124))
    );
    assert_eq!(out.failure_class.as_deref(), Some("runner_timeout"));
    assert!(out.notes.iter().any(|n| n == "sent pi rpc abort command"));
    // The stderr file ends with the timeout line, as for every runner.
    let stderr = fs::read_to_string(out.files.stderr.as_ref().expect("a stderr file")).unwrap();
    assert!(
        stderr.ends_with("runner timed out after 1 seconds\n"),
        "{stderr:?}"
    );
    assert_dead(&record.join("child.pid"));
    assert_dead(&record.join("grandchild.pid"));
}

/// Pi retrying a connection error by itself, for ever: announced once, then
/// stopped when the wait outlasts the grace, its process group killed, the
/// stage an environment failure (`agent_network_unreachable`).
#[test]
fn a_network_wait_past_the_grace_stops_pi() {
    let ws = Workspace::new();
    let record = ws.record_dir();
    let mut request = request(&ws);
    // Without the watch the stage would end only at this timeout.
    request.timeout_seconds = 30;
    let mut settings = settings(&[
        ("FAKE_MODE", "netwait"),
        ("FAKE_RECORD", record.to_str().unwrap()),
    ]);
    settings.network_grace_seconds = 1;
    let lines = std::sync::Mutex::new(Vec::<String>::new());
    let notify = |line: &str| lines.lock().unwrap().push(line.to_string());
    let started = std::time::Instant::now();
    let out =
        runners::run_watched(&request, &settings, runners::Cancel::none(), Some(&notify)).unwrap();
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
    assert_eq!(
        (out.exit_kind, out.exit_code),
        (ExitKind::ProviderError, Some(1))
    );
    let env = out.environment.as_ref().expect("an environment failure");
    assert_eq!(env.class, "agent_network_unreachable");
    assert!(
        env.reason
            .starts_with("retrying: Connection error. (still waiting after 1 s)"),
        "{env:?}"
    );
    assert_eq!(
        out.failure_class.as_deref(),
        Some("agent_network_unreachable")
    );
    assert_eq!(
        out.verdict(&request).failure_class.as_deref(),
        Some("agent_network_unreachable")
    );
    // Announced once, though Pi retried several times.
    assert_eq!(
        *lines.lock().unwrap(),
        ["stage waiting execution/builder reason=\"retrying: Connection error.\""]
    );
    let stderr = fs::read_to_string(out.files.stderr.as_ref().unwrap()).unwrap();
    assert!(
        stderr.contains("runner stopped by the runtime: retrying: Connection error."),
        "{stderr}"
    );
    // The events are kept (a failure), and they show the retries.
    let events = fs::read_to_string(out.files.events.as_ref().unwrap()).unwrap();
    assert!(events.matches("auto_retry_start").count() >= 2, "{events}");
    assert_dead(&record.join("grandchild.pid"));
}

/// An answer ends a wait: a Pi that got its network back within the grace
/// finishes normally, and its second wait (after a tool call) is neither
/// announced again nor added to the first.
#[test]
fn a_network_wait_within_the_grace_lets_pi_finish() {
    let ws = Workspace::new();
    let request = request(&ws);
    // Each wait lasts 1.3 s: together past the 2 s grace had the answer
    // between them not ended the first one.
    let mut settings = settings(&[("FAKE_MODE", "netwait_recover"), ("FAKE_PAUSE", "1.3")]);
    settings.network_grace_seconds = 2;
    let lines = std::sync::Mutex::new(Vec::<String>::new());
    let notify = |line: &str| lines.lock().unwrap().push(line.to_string());
    let out =
        runners::run_watched(&request, &settings, runners::Cancel::none(), Some(&notify)).unwrap();
    assert_eq!(out.environment, None);
    assert_eq!(
        (out.exit_kind, out.exit_code),
        (ExitKind::Completed, Some(0)),
        "{:?}",
        out.notes
    );
    assert_eq!(out.verdict(&request).outcome.as_str(), "BUILDER_COMPLETE");
    assert_eq!(lines.lock().unwrap().len(), 1);
}

#[test]
fn missing_binary() {
    let ws = Workspace::new();
    let request = request(&ws);
    let mut s = settings(&[]);
    s.pi.command = "/nonexistent/pi".into();
    let out = runners::run(&request, &s).unwrap();
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
        "runner binary not found: /nonexistent/pi\n"
    );
}
