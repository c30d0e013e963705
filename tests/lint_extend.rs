//! Loop extension end to end: the `security_review` example of
//! docs/language.md, compiled in a workspace and run by the daemon on the
//! script runner, takes the derived loop's new stage and routes.

use assert_cmd::Command;
use std::path::Path;

mod support;
use support::cli::{assert_has, assert_success};

/// The docs' example, as a workspace-local file.
const REVIEWED: &str = r#"import "../modes/default_codex.mill"

stage security_reviewer {
  plane execution
  display "Security reviewer"
  entrypoint "entrypoints/execution/security_reviewer.md"
  outcomes {
    SECURITY_PASS  => success
    SECURITY_ISSUE => followup_needed
    BLOCKED        => blocked | recoverable_failure
  }
}

loop execution.reviewed on execution extends execution.standard {
  nodes security_review: security_reviewer
  checker         CHECKER_PASS     -> security_review
  doublechecker   DOUBLECHECK_PASS -> security_review
  security_review SECURITY_PASS    -> updater
                  SECURITY_ISSUE   -> fixer
                  BLOCKED          -> troubleshooter
  threshold execution.security.limit {
    counter security_fix_count
    on SECURITY_ISSUE from security_review
    after 2 -> troubleshooter
  }
}

mode reviewed extends default_codex {
  loops { execution: execution.reviewed }
  runner script
}
"#;

fn millrace(args: &[&str]) -> std::process::Output {
    Command::cargo_bin("millrace")
        .unwrap()
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_docs_example_is_in_the_docs() {
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/language.md"))
            .unwrap();
    let body = REVIEWED.split_once("\n\n").unwrap().1;
    let loop_part =
        &body[body.find("loop execution.reviewed").unwrap()..body.find("mode reviewed").unwrap()];
    assert!(
        docs.contains(loop_part.trim()),
        "docs/language.md lost the example"
    );
}

#[test]
fn a_derived_loop_runs_through_the_script_runner() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let w = ws.to_str().unwrap();
    assert!(millrace(&["init", "--workspace", w]).status.success());
    let ma = ws.join("millrace-agents");
    std::fs::create_dir_all(ma.join("mill/local")).unwrap();
    std::fs::write(ma.join("mill/local/reviewed.mill"), REVIEWED).unwrap();
    std::fs::write(
        ma.join("entrypoints/execution/security_reviewer.md"),
        "# Security reviewer\n",
    )
    .unwrap();
    std::fs::write(
        ws.join("script.json"),
        r#"{"security_review": ["SECURITY_ISSUE", "SECURITY_PASS"], "default": "success"}"#,
    )
    .unwrap();
    let cfg = ma.join("millrace.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        format!("{text}\n[runners.script]\npath = \"script.json\"\n"),
    )
    .unwrap();

    let lint = millrace(&[
        "lint",
        ma.join("mill/local/reviewed.mill").to_str().unwrap(),
    ]);
    let lint_out = String::from_utf8_lossy(&lint.stdout);
    assert_eq!(lint.status.code(), Some(0), "{lint_out}");
    assert_has(&lint_out, &["bound: execution.reviewed: at most"]);

    let task = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bench/task.json");
    let out = millrace(&["add-task", task.to_str().unwrap(), "--workspace", w]);
    assert_success(&out);
    let out = millrace(&[
        "run",
        "daemon",
        "--workspace",
        w,
        "--mode",
        "reviewed",
        "--monitor",
        "basic",
        "--until-idle",
    ]);
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{log}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The stages in the order they ran (`stage start execution/<node> ...`).
    let order: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split_once("stage start execution/").map(|(_, r)| r))
        .filter_map(|r| r.split_whitespace().next())
        .collect();
    let done = std::fs::read_dir(ma.join("tasks/done")).unwrap().count();
    assert_eq!(done, 1, "{log}");
    assert_eq!(
        order,
        [
            "builder",
            "checker",
            "security_review",
            "fixer",
            "doublechecker",
            "security_review",
            "updater"
        ],
        "{log}"
    );
}
