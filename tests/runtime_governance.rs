//! Usage governance acts: a fake agent reporting 600 tokens per stage
//! against a 1,000-token rule pauses the daemon after the stage that
//! crosses it, `status` names the rule, an operator `resume` does not lift
//! it, and a short rolling window lifts it by itself.

mod support;
use support::cli::assert_has;

use serde_json::json;
use support::harness::{task, Ws};

fn governed_ws(window: &str) -> Ws {
    let ws = Ws::new("");
    ws.append_config("FAKE_TURN_TOKENS = \"600\"\n");
    ws.append_config(&format!(
        "\n[usage_governance]\nenabled = true\n\n[[usage_governance.runtime_token_rules.rules]]\nrule_id = \"tokens-1k\"\nwindow = \"{window}\"\nthreshold = 1000\n"
    ));
    let config = ws.ma().join("millrace.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replacen("[runtime]\n", "[runtime]\nidle_sleep_seconds = 0.05\n", 1),
    )
    .unwrap();
    ws
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_token_rule_pauses_after_the_crossing_stage_and_resume_does_not_lift_it() {
    let ws = governed_ws("daemon_session");
    ws.add("add-task", task("t-1", "2026-04-15T12:00:00Z", json!({})));
    let out = ws.run(&["run", "daemon", "--monitor", "basic", "--max-ticks", "5"]);
    let monitor = text(&out);
    assert!(out.status.success(), "{monitor}");
    assert!(
        monitor.contains(
            "governance pause source=runtime_token rule=tokens-1k window=daemon_session observed=1200 threshold=1000"
        ),
        "{monitor}"
    );
    // Builder (600) and checker (1,200): the checker crossed the rule; nothing ran after it.
    let calls = std::fs::read_to_string(ws.script.with_extension("txt.log")).unwrap();
    assert_eq!(calls, "builder BUILDER_COMPLETE\nchecker CHECKER_PASS\n");
    assert_eq!(ws.items("tasks", "active"), ["t-1"]);
    let ledger =
        std::fs::read_to_string(ws.ma().join("state/usage_governance_ledger.jsonl")).unwrap();
    assert_eq!(ledger.lines().count(), 2, "{ledger}");
    assert!(ledger.contains("\"total_tokens\":600"), "{ledger}");

    let status = text(&ws.run(&["status"]));
    for want in [
        "paused: true",
        "pause_sources: usage_governance",
        "usage_governance_enabled: true",
        "usage_governance_paused: true",
        "usage_governance_blocker_count: 1",
        "usage_governance_auto_resume_possible: false",
        "usage_governance_blocker: source=runtime_token rule=tokens-1k window=daemon_session observed=1200 threshold=1000",
    ] {
        assert!(status.contains(want), "{want:?} missing:\n{status}");
    }
    let resume = ws.run(&["resume"]);
    assert!(
        text(&resume).contains("blocked by usage governance"),
        "{}",
        text(&resume)
    );
    let status = text(&ws.run(&["status"]));
    assert_has(
        &status,
        &["pause_sources: usage_governance", "paused: true"],
    );
}

#[test]
fn an_operator_pause_and_a_governance_pause_are_separate() {
    let ws = governed_ws("daemon_session");
    ws.add("add-task", task("t-1", "2026-04-15T12:00:00Z", json!({})));
    let out = ws.run(&["run", "daemon", "--max-ticks", "3"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(ws.run(&["pause"]).status.success());
    let status = text(&ws.run(&["status"]));
    assert!(
        status.contains("pause_sources: operator,usage_governance")
            || status.contains("pause_sources: usage_governance,operator"),
        "{status}"
    );
    assert!(ws.run(&["resume"]).status.success());
    let status = text(&ws.run(&["status"]));
    assert_has(&status, &["pause_sources: usage_governance"]);
}

#[test]
fn a_short_rolling_window_resumes_the_daemon_by_itself() {
    let ws = governed_ws("rolling_2s");
    ws.add("add-task", task("t-1", "2026-04-15T12:00:00Z", json!({})));
    let monitor = ws.run_until_idle();
    assert_has(
        &monitor,
        &[
            "governance pause source=runtime_token rule=tokens-1k window=rolling_2s",
            "governance resume cleared_rules=tokens-1k",
        ],
    );
    assert_eq!(ws.items("tasks", "done"), ["t-1"]);
}

#[test]
fn unsupported_governance_settings_are_refused() {
    let ws = Ws::new("");
    ws.append_config(
        "\n[usage_governance.subscription_quota_rules]\nenabled = true\ndegraded_policy = \"sometimes\"\n",
    );
    let out = ws.run(&["run", "once"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("degraded_policy` is \"sometimes\""),
        "{}",
        text(&out)
    );

    let ws = Ws::new("");
    ws.append_config(
        "\n[usage_governance]\nenabled = true\n\n[[usage_governance.runtime_token_rules.rules]]\nrule_id = \"x\"\nwindow = \"fortnight\"\nthreshold = 5\n",
    );
    let out = ws.run(&["run", "once"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("window \"fortnight\""),
        "{}",
        text(&out)
    );
}

fn run_with_codex_home(ws: &Ws, home: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--workspace", ws.w()]);
    assert_cmd::Command::cargo_bin("millrace")
        .unwrap()
        .env("CODEX_HOME", home)
        .args(&all)
        .output()
        .unwrap()
}

fn quota_ws(policy: &str) -> Ws {
    let ws = Ws::new("");
    ws.append_config(&format!(
        "\n[usage_governance]\nenabled = true\n\n[usage_governance.runtime_token_rules]\nenabled = false\n\n[usage_governance.subscription_quota_rules]\nenabled = true\ndegraded_policy = \"{policy}\"\n"
    ));
    ws.add("add-task", task("t-1", "2026-04-15T12:00:00Z", json!({})));
    ws
}

#[test]
fn a_subscription_quota_read_from_codex_telemetry_pauses_the_daemon() {
    let ws = quota_ws("fail_open");
    let home = tempfile::tempdir().unwrap();
    let day = home.path().join("sessions/2026/12/01");
    std::fs::create_dir_all(&day).unwrap();
    std::fs::write(
        day.join("rollout.jsonl"),
        "{\"type\":\"event_msg\",\"payload\":{\"type\":\"token_count\",\"info\":null,\"rate_limits\":{\"primary\":{\"used_percent\":97.0,\"window_minutes\":300,\"resets_at\":4102444800},\"secondary\":{\"used_percent\":40.0,\"resets_at\":4102444800}}}}\n",
    )
    .unwrap();
    let out = run_with_codex_home(
        &ws,
        home.path(),
        &["run", "daemon", "--monitor", "basic", "--max-ticks", "2"],
    );
    let monitor = text(&out);
    assert!(out.status.success(), "{monitor}");
    assert!(
        monitor.contains("governance pause source=subscription_quota rule=codex-five-hour-default window=five_hour observed=97 threshold=95 next_resume=2100-01-01T00:00:00.000000Z"),
        "{monitor}"
    );
    assert!(!monitor.contains("stage start"), "{monitor}");
    let status = text(&run_with_codex_home(&ws, home.path(), &["status"]));
    assert_has(
        &status,
        &[
            "usage_governance_subscription_status: healthy",
            "usage_governance_auto_resume_possible: true",
        ],
    );
}

#[test]
fn missing_quota_telemetry_is_degraded_open_or_closed_as_configured() {
    let home = tempfile::tempdir().unwrap();
    let ws = quota_ws("fail_open");
    let out = run_with_codex_home(
        &ws,
        home.path(),
        &["run", "daemon", "--monitor", "basic", "--until-idle"],
    );
    let monitor = text(&out);
    assert!(monitor.contains("governance degraded source=codex_chatgpt_oauth policy=fail_open detail=quota_telemetry_unavailable"), "{monitor}");
    assert_eq!(ws.items("tasks", "done"), ["t-1"]);
    let status = text(&ws.run(&["status"]));
    assert_has(
        &status,
        &[
            "usage_governance_subscription_status: degraded",
            "usage_governance_subscription_detail: quota_telemetry_unavailable",
        ],
    );

    let ws = quota_ws("fail_closed");
    let out = run_with_codex_home(
        &ws,
        home.path(),
        &["run", "daemon", "--monitor", "basic", "--max-ticks", "2"],
    );
    let monitor = text(&out);
    assert!(monitor.contains("governance pause source=subscription_quota rule=subscription-quota-degraded-fail-closed window=degraded"), "{monitor}");
    assert!(ws.items("tasks", "done").is_empty());
}
