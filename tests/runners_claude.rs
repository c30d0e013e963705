//! The `claude_code` runner and the shipped `default_claude` mode against a
//! fake `claude` that keeps Claude Code's stream-json contract (system init,
//! assistant events, a final `result` event with `usage` and
//! `total_cost_usd`): the final text is the stage's output, token usage and
//! cost reach the stage result and governance, `is_error: true` is a
//! failure, and the `command` runner can read the same format.

mod support;
use support::cli::assert_has;

use serde_json::{json, Value};
use std::path::Path;
use support::harness::{task, Ws};

fn fake() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fakes/fake_claude.sh")
        .display()
        .to_string()
}

fn claude_ws(extra_env: &str) -> (Ws, std::path::PathBuf) {
    let ws = Ws::new("");
    let log = ws.root.parent().unwrap().join("claude_argv.log");
    ws.append_config(&format!(
        "\n[runners.claude]\ncommand = {:?}\n\n[runners.claude.env]\nFAKE_CLAUDE_LOG = {:?}\n{extra_env}",
        fake(),
        log.display().to_string()
    ));
    ws.add("add-task", task("t-1", "2026-04-15T12:00:00Z", json!({})));
    (ws, log)
}

/// The runner's completion record of a stage result.
fn completion(ws: &Ws, result: &Value) -> Value {
    let path = ws
        .ma()
        .join("runs")
        .join(result["run_id"].as_str().unwrap())
        .join(format!(
            "runner_completion.{}.json",
            result["metadata"]["request_id"].as_str().unwrap()
        ));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn default_claude_runs_a_task_with_usage_and_cost() {
    let (ws, log) = claude_ws("");
    ws.run_ok(&["run", "daemon", "--mode", "default_claude", "--until-idle"]);
    assert_eq!(ws.items("tasks", "done"), ["t-1"]);
    let results = ws.stage_results();
    assert_eq!(results.len(), 3, "builder, checker, updater");
    for r in &results {
        assert_eq!(r["runner_name"], "claude_code");
        assert_eq!(
            r["token_usage"],
            json!({"input_tokens": 500, "cached_input_tokens": 300, "output_tokens": 100, "thinking_tokens": 0, "total_tokens": 600})
        );
        let completion = completion(&ws, r);
        let notes = completion["notes"].to_string();
        assert!(notes.contains("total_cost_usd=0.0125"), "{notes}");
    }
    let argv = std::fs::read_to_string(log).unwrap();
    let first: Vec<&str> = argv.split("--\n").next().unwrap().lines().collect();
    assert_eq!(first[0], "-p");
    assert!(
        first
            .windows(3)
            .any(|w| w == ["--output-format", "stream-json", "--verbose"]),
        "{first:?}"
    );
    assert!(
        first.contains(&"--dangerously-skip-permissions"),
        "{first:?}"
    );
    // The final text is the stage's output.
    let builder = results.iter().find(|r| r["stage"] == "builder").unwrap();
    let stdout = std::fs::read_to_string(builder["stdout_path"].as_str().unwrap()).unwrap();
    assert_eq!(stdout, "done with builder\n### BUILDER_COMPLETE");
}

#[test]
fn is_error_true_is_a_failure_whatever_the_subtype() {
    let (ws, _) = claude_ws("FAKE_CLAUDE_ERROR = \"500\"\n");
    let out = ws.run(&["run", "once", "--mode", "default_claude"]);
    let _ = out;
    let results = ws.stage_results();
    let builder = results.iter().find(|r| r["stage"] == "builder").unwrap();
    assert_eq!(builder["terminal_result"], "BLOCKED");
    assert_eq!(builder["metadata"]["failure_class"], "provider_failure");
    let notes = completion(&ws, builder)["notes"].to_string();
    assert!(notes.contains("API Error: 500"), "{notes}");
}

#[test]
fn not_logged_in_pauses_the_runtime_and_puts_the_task_back() {
    let (ws, _) = claude_ws("FAKE_CLAUDE_ERROR = \"1\"\n");
    let out = ws.run(&["run", "once", "--mode", "default_claude"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("Not logged in"), "{err}");
    assert!(ws.stage_results().is_empty());
    assert_eq!(ws.items("tasks", "queue"), ["t-1"]);
    let status = ws.stdout(&["status"]);
    assert_has(
        &status,
        &[
            "pause_sources: agent_environment",
            "agent claude_code (agent_not_logged_in): Not logged in",
        ],
    );
    // The reference's snapshot model: our pause is `paused: true` there.
    let snap: Value = serde_json::from_str(
        &std::fs::read_to_string(ws.ma().join("state/runtime_snapshot.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(snap["paused"], true);
    assert_eq!(snap["pause_sources"], json!([]));
    // `resume` lifts it.
    assert!(ws.run(&["resume"]).status.success());
    let status = ws.stdout(&["status"]);
    assert!(status.contains("paused: false"), "{status}");
}

/// A daemon started while paused over the environment continues the
/// backoff: the failure after a restart is the second in a row, and its
/// automatic retry waits twice as long.
#[test]
fn the_environment_backoff_continues_across_a_restart() {
    let (ws, _) = claude_ws("FAKE_CLAUDE_ERROR = \"1\"\n");
    let config = ws.ma().join("millrace.toml");
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "[runners.claude]\n",
        "[runners]\nenvironment_retry_seconds = 1000\n\n[runners.claude]\n",
        1,
    );
    std::fs::write(&config, text).unwrap();
    let health = ws.ma().join("state/runner_health.json");
    let record =
        || -> Value { serde_json::from_str(&std::fs::read_to_string(&health).unwrap()).unwrap() };
    let out = ws.run(&["run", "once", "--mode", "default_claude"]);
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(record()["consecutive_start_failures"], 1);
    // The retry came due while no daemon ran.
    let mut due = record();
    due["retry_at"] = json!("2020-01-01T00:00:00Z");
    std::fs::write(&health, due.to_string()).unwrap();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let _ = ws.run(&["run", "once", "--mode", "default_claude"]);
    let again = record();
    assert_eq!(again["consecutive_start_failures"], 2, "{again}");
    let at = again["retry_at"].as_str().unwrap();
    let wait = chrono_like_unix(at) - before;
    assert!(
        (1900..=2100).contains(&wait),
        "second retry {wait} s away: {again}"
    );
}

/// Seconds since the epoch of an RFC 3339 UTC time (`YYYY-MM-DDTHH:MM:SSZ`).
fn chrono_like_unix(at: &str) -> i64 {
    let n = |a: usize, b: usize| at[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    let (y2, m2) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let days = 365 * y2 + y2 / 4 - y2 / 100 + y2 / 400 + (153 * m2 + 2) / 5 + d - 719469;
    days * 86400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19)
}

#[test]
fn a_quota_reset_time_schedules_the_automatic_retry() {
    let flag = tempfile::tempdir().unwrap();
    let once = flag.path().join("quota-hit");
    let (ws, _) = claude_ws(&format!(
        "FAKE_CLAUDE_QUOTA_ONCE = {:?}\nFAKE_CLAUDE_RESET = \"2\"\n",
        once.display().to_string()
    ));
    let config = ws.ma().join("millrace.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text
        .replacen("[runtime]\n", "[runtime]\nidle_sleep_seconds = 0.05\n", 1)
        .replacen(
            "[runners.claude]\n",
            "[runners]\nenvironment_retry_seconds = 600\n\n[runners.claude]\n",
            1,
        );
    std::fs::write(&config, text).unwrap();
    let out = ws.run(&[
        "run",
        "daemon",
        "--mode",
        "default_claude",
        "--until-idle",
        "--monitor",
        "basic",
    ]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The 600 s backoff would outlast the test: the reset time wins.
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert_has(
        &all,
        &[
            "paused source=agent_environment",
            "class=agent_quota_exhausted",
            "resume source=agent_environment reason=automatic_retry attempt=1",
        ],
    );
    assert_eq!(ws.items("tasks", "done"), ["t-1"], "{all}");
    assert!(ws
        .stage_results()
        .iter()
        .all(|r| r["metadata"]["failure_class"].is_null()));
}

#[test]
fn denied_tool_calls_are_not_a_success_whatever_the_text() {
    let (ws, _) = claude_ws("FAKE_CLAUDE_DENIED = \"1\"\n");
    let _ = ws.run(&["run", "once", "--mode", "default_claude"]);
    let results = ws.stage_results();
    let builder = results.iter().find(|r| r["stage"] == "builder").unwrap();
    assert_eq!(builder["terminal_result"], "BLOCKED");
    assert_eq!(
        builder["metadata"]["failure_class"],
        "agent_permission_denied"
    );
}

#[test]
fn claude_usage_feeds_governance() {
    let (ws, _) = claude_ws("");
    ws.append_config(
        "\n[usage_governance]\nenabled = true\n\n[[usage_governance.runtime_token_rules.rules]]\nrule_id = \"claude-1k\"\nwindow = \"daemon_session\"\nthreshold = 1000\n",
    );
    let out = ws.run(&[
        "run",
        "daemon",
        "--mode",
        "default_claude",
        "--max-ticks",
        "4",
        "--monitor",
        "basic",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_has(
        &text,
        &["governance pause source=runtime_token rule=claude-1k"],
    );
    assert_eq!(ws.stage_results().len(), 2);
}

#[test]
fn the_command_runner_reads_claude_stream_json_when_told() {
    let ws = Ws::new("");
    ws.append_config(&format!(
        "\n[runners.command]\nargv = [{:?}, \"-p\", \"{{prompt}}\", \"--output-format\", \"stream-json\", \"--verbose\"]\nprompt_mode = \"argument\"\nusage_format = \"claude_stream_json\"\n",
        fake()
    ));
    std::fs::write(
        ws.ma().join("mill/modes/on_command.mill"),
        "import \"default_codex.mill\"\n\nmode on_command extends default_codex {\n  runner command\n}\n",
    )
    .unwrap();
    ws.add("add-task", task("t-1", "2026-04-15T12:00:00Z", json!({})));
    ws.run_ok(&["run", "daemon", "--mode", "on_command", "--until-idle"]);
    assert_eq!(ws.items("tasks", "done"), ["t-1"]);
    let results = ws.stage_results();
    assert!(
        results.iter().all(|r| r["runner_name"] == "command"),
        "{results:#?}"
    );
    assert!(
        results
            .iter()
            .all(|r| r["token_usage"]["total_tokens"] == 600),
        "{results:#?}"
    );
}

/// Credentials that expire in the middle of a run (written from Codex's
/// real output): the stage that meets them leaves its item at that stage,
/// no troubleshooter runs, the daemon pauses (`agent_environment`, exit 5
/// under `--until-idle` with the automatic retry off); after `resume` the
/// item carries on from that stage.
#[test]
fn credentials_expiring_mid_run_pause_and_resume_at_the_same_stage() {
    let ws = Ws::new("");
    let flag = ws.root.parent().unwrap().join("expired");
    std::fs::write(&flag, "").unwrap();
    let fake =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes/expiring_codex.sh");
    let config = ws.ma().join("millrace.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text
        .replace(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fakes/scripted_codex.sh")
                .display()
                .to_string(),
            &fake.display().to_string(),
        )
        .replacen("[runtime]\n", "[runtime]\nidle_sleep_seconds = 0.05\n", 1);
    std::fs::write(&config, text).unwrap();
    ws.append_config(&format!(
        "FAKE_EXPIRE_AT = \"checker\"\nFAKE_EXPIRED = {:?}\n",
        flag.display().to_string()
    ));
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replacen(
            "[runners.codex]\n",
            "[runners]\nenvironment_retry_seconds = 0\n\n[runners.codex]\n",
            1,
        ),
    )
    .unwrap();
    ws.add("add-task", task("t-1", "2026-04-15T12:00:00Z", json!({})));
    let out = ws.run(&["run", "daemon", "--until-idle", "--monitor", "basic"]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(5), "{all}");
    assert_has(
        &all,
        &["class=agent_credentials_invalid", "back_to=stage checker"],
    );
    assert!(!all.contains("troubleshooter"), "{all}");
    assert_eq!(ws.items("tasks", "active"), ["t-1"], "{all}");
    let status = ws.stdout(&["status"]);
    assert_has(&status, &["token has expired", "no automatic retry"]);

    // Signed in again: `resume`, and the item goes on from the checker.
    std::fs::remove_file(&flag).unwrap();
    assert!(ws.run(&["resume"]).status.success());
    let out = ws.run(&["run", "daemon", "--until-idle", "--monitor", "basic"]);
    let all = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("stage start execution/checker"), "{all}");
    assert!(!all.contains("stage start execution/builder"), "{all}");
    assert_eq!(ws.items("tasks", "done"), ["t-1"], "{all}");
}
