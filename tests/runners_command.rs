//! The generic command runner with a shell agent (tests/fakes/fake_agent.sh):
//! prompt on stdin or as an argument, marker from the final-message file or
//! stdout, the MILLRACE_* environment, a process-group timeout, a missing
//! binary; plus runner selection and the script runner through `run`.

mod runners_support;

use std::fs;

use millrace::runners::{self, CommandSettings, ExitKind, PromptMode, RunnerError, RunnerSettings};
use runners_support::*;

fn settings(argv: &[&str], mode: PromptMode, env: &[(&str, &str)]) -> RunnerSettings {
    RunnerSettings {
        default_runner: "command".into(),
        command: CommandSettings {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            prompt_mode: mode,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..CommandSettings::default()
        },
        ..RunnerSettings::default()
    }
}

fn request(ws: &Workspace) -> millrace::runners::StageRequest {
    let mut r = ws.request("builder");
    r.runner_name = Some("command".into());
    r
}

#[test]
fn prompt_on_stdin_answer_in_the_last_message_file() {
    let ws = Workspace::new();
    let record = ws.record_dir();
    let request = request(&ws);
    let agent = fake("fake_agent.sh");
    let s = settings(
        &["/bin/sh", &agent, "--last-message", "{last_message_file}"],
        PromptMode::Stdin,
        &[
            ("FAKE_RECORD", record.to_str().unwrap()),
            ("FAKE_OUTCOME", "BLOCKED"),
        ],
    );
    let out = runners::run(&request, &s).unwrap();
    assert_eq!(out.runner_name, "command");
    assert_eq!(out.exit_kind, ExitKind::Completed);
    assert_eq!(
        fs::read_to_string(record.join("prompt")).unwrap(),
        fs::read_to_string(&out.files.prompt).unwrap()
    );
    let env = fs::read_to_string(record.join("env")).unwrap();
    let lines: Vec<&str> = env.lines().collect();
    assert_eq!(lines[0], request.request_id);
    assert_eq!(lines[1], "builder");
    assert_eq!(
        lines[2],
        out.files.last_message.as_ref().unwrap().to_str().unwrap()
    );
    assert_eq!(
        fs::read_to_string(out.files.stdout.as_ref().unwrap()).unwrap(),
        "stage builder handled\n### BLOCKED\n"
    );
    // Raw stdout is kept as the events file.
    assert_eq!(
        fs::read_to_string(out.files.events.as_ref().unwrap()).unwrap(),
        "progress for builder\n"
    );
    let v = out.verdict(&request);
    assert_eq!(
        (v.outcome.as_str(), v.result_class.as_str(), v.valid),
        ("BLOCKED", "blocked", true)
    );
}

#[test]
fn prompt_as_argument_answer_on_stdout() {
    let ws = Workspace::new();
    let request = request(&ws);
    let agent = fake("fake_agent.sh");
    let s = settings(
        &["/bin/sh", &agent, "--prompt", "{prompt}"],
        PromptMode::Argument,
        &[],
    );
    let out = runners::run(&request, &s).unwrap();
    assert!(out.files.last_message.is_none());
    assert_eq!(
        out.last_message.as_deref(),
        Some("progress for builder\nstage builder handled\n### BUILDER_COMPLETE\n")
    );
    let v = out.verdict(&request);
    assert_eq!(v.outcome, "BUILDER_COMPLETE");
    assert!(v.valid);
}

#[test]
fn timeout_kills_the_process_group() {
    let ws = Workspace::new();
    let record = ws.record_dir();
    let mut request = request(&ws);
    request.timeout_seconds = 1;
    let script = format!(
        "sleep 300 & echo $! > {r}/grandchild.pid; echo $$ > {r}/child.pid; wait",
        r = record.display()
    );
    let s = settings(&["/bin/sh", "-c", &script], PromptMode::Stdin, &[]);
    let out = runners::run(&request, &s).unwrap();
    assert_eq!(
        (out.exit_kind, out.exit_code),
        (ExitKind::Timeout, Some(124))
    );
    assert_dead(&record.join("child.pid"));
    assert_dead(&record.join("grandchild.pid"));
}

#[test]
fn cancel_interrupts_the_run() {
    let ws = Workspace::new();
    let record = ws.record_dir();
    let request = request(&ws);
    let script = format!("echo $$ > {}/child.pid; sleep 300", record.display());
    let s = settings(&["/bin/sh", "-c", &script], PromptMode::Stdin, &[]);
    let flag = std::sync::atomic::AtomicBool::new(false);
    let out = std::thread::scope(|scope| {
        let handle =
            scope.spawn(|| runners::run_with_cancel(&request, &s, runners::Cancel(Some(&flag))));
        let pid_file = record.join("child.pid");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !pid_file.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
        handle.join().unwrap().unwrap()
    });
    assert_eq!(out.exit_kind, ExitKind::Interrupted);
    assert_dead(&record.join("child.pid"));
}

#[test]
fn missing_binary_and_configuration_errors() {
    let ws = Workspace::new();
    let request = request(&ws);
    let out = runners::run(
        &request,
        &settings(&["no-such-agent-binary-xyz", "-p"], PromptMode::Stdin, &[]),
    )
    .unwrap();
    assert_eq!(
        (out.exit_kind, out.exit_code),
        (ExitKind::SpawnFailed, Some(127))
    );
    assert_eq!(
        fs::read_to_string(out.files.stderr.as_ref().unwrap()).unwrap(),
        "runner binary not found: no-such-agent-binary-xyz\n"
    );
    let err = runners::run(&request, &settings(&[], PromptMode::Stdin, &[])).unwrap_err();
    assert!(matches!(err, RunnerError::Settings(_)));
    let mut unknown = request.clone();
    unknown.runner_name = Some("warp_drive".into());
    let err = runners::run(&unknown, &RunnerSettings::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Unknown stage runner: warp_drive. Available: codex_cli, pi_rpc, claude_code, command, script"
    );
}

#[test]
fn script_runner_through_dispatch() {
    let ws = Workspace::new();
    fs::write(
        ws.root.join("outcomes.json"),
        r#"{"builder": ["BLOCKED", "no_marker"]}"#,
    )
    .unwrap();
    let mut settings = RunnerSettings::default();
    settings.script.path = Some("outcomes.json".into());
    let mut request = ws.request("builder");
    request.runner_name = Some("script".into());
    let mut verdicts = Vec::new();
    for n in 0..3 {
        request.request_id = format!("request-{n:032}");
        let out = runners::run(&request, &settings).unwrap();
        assert!(out.files.completion.exists());
        let v = out.verdict(&request);
        verdicts.push((v.outcome, v.failure_class));
    }
    assert_eq!(
        verdicts,
        [
            ("BLOCKED".to_string(), None),
            (
                "BLOCKED".to_string(),
                Some("missing_terminal_result".to_string())
            ),
            ("BUILDER_COMPLETE".to_string(), None),
        ]
    );
}
