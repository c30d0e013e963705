//! `millrace test`: the shipped loops' scenarios, worst-case paths, the
//! exhaustive mode, edited stdlib copies, output formats and single-stage
//! checks, all through the real binary.

use std::path::{Path, PathBuf};

mod support;
use support::cli::{assert_has, output as run};
use support::copy_dir;

/// A copy of the shipped stdlib (with its scenario files).
fn stdlib_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("stdlib");
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("stdlib"), &copy);
    (dir, copy)
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from:?} not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn the_shipped_scenarios_pass() {
    let (code, out, err) = run(&["test"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_has(
        &out,
        &[
            "PASS execution.standard: happy path",
            "PASS execution.standard: a checker that always asks for fixes ends in planning",
            "PASS planning.standard: the arbiter finds a gap",
            "PASS learning.standard: nothing to learn",
            "17 of 17 scenarios passed",
        ],
    );
}

#[test]
fn each_loop_prints_its_worst_case_path_at_the_bound() {
    let (code, out, _) = run(&["test"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("worst case: execution.standard (default_codex) entry task: 23 stage runs (bound 23), ending terminal:needs_planning"),
        "{out}"
    );
    let path = out
        .lines()
        .skip_while(|l| !l.starts_with("worst case: execution.standard"))
        .nth(1)
        .unwrap();
    assert_eq!(path.matches(" -> ").count(), 22, "{path}");
    assert!(
        path.trim().starts_with("builder BUILDER_COMPLETE -> "),
        "{path}"
    );
    assert!(out.contains("worst case: planning.standard (default_codex) entry incident: 11 stage runs (bound 11)"), "{out}");
}

#[test]
fn the_exhaustive_run_over_the_shipped_loops_passes() {
    let (code, out, err) = run(&["test", "--exhaustive"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_has(
        &out,
        &[
            "exhaustive: execution.standard entry task: 112698676 sequences over 270 states, terminals blocked, needs_planning, update_complete",
            "exhaustive: 5 loop entries",
            "0 failing",
        ],
    );
}

#[test]
fn an_edited_stdlib_copy_is_what_gets_tested() {
    let (_d, copy) = stdlib_copy();
    let c = copy.to_str().unwrap();
    let (code, out, err) = run(&["test", "--std", c, c]);
    assert_eq!(code, 0, "{out}{err}");
    // The copy's loop now sends a passing check to the fixer.
    edit(
        &copy.join("loops/execution.mill"),
        "checker        CHECKER_PASS          -> updater",
        "checker        CHECKER_PASS          -> fixer",
    );
    let (code, out, _) = run(&["test", "--std", c, c]);
    assert_eq!(code, 1, "{out}");
    assert_has(
        &out,
        &[
            "FAIL execution.standard: happy path",
            "path (- expected, + actual):",
            "        builder\n        checker\n      - updater\n    expected terminal update_complete",
            "fixer ran a 1st time but the scenario gives it 0 outcomes",
        ],
    );
}

#[test]
fn a_wrong_expectation_fails_with_its_line() {
    let (_d, copy) = stdlib_copy();
    let c = copy.to_str().unwrap();
    edit(
        &copy.join("loops/planning.scenarios.toml"),
        "expect = { path = [\"arbiter\"], terminal = \"remediation_needed\" }",
        "expect = { path = [\"arbiter\"], terminal = \"arbiter_complete\" }",
    );
    let (code, out, _) = run(&["test", "--std", c, c]);
    assert_eq!(code, 1, "{out}");
    assert_has(
        &out,
        &[
            "FAIL planning.standard: the arbiter finds a gap",
            "expected terminal arbiter_complete, got terminal remediation_needed",
        ],
    );
    let (code, out, _) = run(&["test", "--std", c, c, "--format", "github"]);
    assert_eq!(code, 1);
    assert!(
        out.contains("planning.scenarios.toml,line=38,title=scenario failed: the arbiter finds a gap::expected terminal arbiter_complete"),
        "{out}"
    );
}

#[test]
fn the_exhaustive_mode_reports_a_terminal_the_author_did_not_allow() {
    let (_d, copy) = stdlib_copy();
    let c = copy.to_str().unwrap();
    edit(
        &copy.join("loops/execution.scenarios.toml"),
        "allow_terminals = [\"update_complete\", \"needs_planning\", \"blocked\"]",
        "allow_terminals = [\"update_complete\", \"needs_planning\"]",
    );
    // Scenarios alone still pass; only the exhaustive run looks further.
    let (code, _, _) = run(&["test", "--std", c, c]);
    assert_eq!(code, 0);
    let (code, out, _) = run(&["test", "--std", c, c, "--exhaustive"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL execution.standard entry task: reaches terminal blocked, which allow_terminals does not list"),
        "{out}"
    );
    let witness = out
        .lines()
        .skip_while(|l| !l.contains("reaches terminal blocked"))
        .nth(1)
        .unwrap();
    assert!(witness.trim().ends_with("consultant BLOCKED"), "{witness}");
}

#[test]
fn json_output_carries_scenarios_and_exhaustive_results() {
    let (code, out, _) = run(&["test", "--exhaustive", "--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["scenarios"].as_array().unwrap().len(), 17);
    let exec = v["loops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["loop"] == "execution.standard")
        .unwrap();
    assert_eq!(exec["worst_case_runs"], 23);
    assert_eq!(exec["bound"], 23);
    assert_eq!(exec["worst_case"][0]["node"], "builder");
    assert_eq!(exec["passed"], true);
    assert!(exec["transitions"].as_u64().unwrap() > 100);
}

#[test]
fn a_single_stage_check_prints_verdict_route_counters_and_the_deciding_line() {
    let (code, out, err) = run(&[
        "test",
        "--stage",
        "troubleshooter",
        "--marker",
        "fixed it\nResume-Stage: checker\n### TROUBLESHOOT_COMPLETE\n",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_has(
        &out,
        &[
            "verdict: TROUBLESHOOT_COMPLETE / success",
            "route:   troubleshooter -> checker (via resume",
            "counter: troubleshoot_resume_count 0 -> 1",
            "decided by mill/stdlib/loops/execution.mill:40:10: resume execution.troubleshooter.resume {",
        ],
    );
    let (code, out, _) = run(&[
        "test",
        "--stage",
        "builder",
        "--result",
        r#"{"terminal_result":"BLOCKED","result_class":"blocked"}"#,
        "--counter",
        "troubleshoot_attempt_count=2",
    ]);
    assert_eq!(code, 0);
    assert_has(
        &out,
        &[
            "route:   builder -> consultant (via threshold_exhausted",
            "threshold execution.blocked.recovery {",
        ],
    );
    let (code, out, _) = run(&["test", "--stage", "builder", "--marker", "no marker here"]);
    assert_eq!(code, 0);
    assert_has(
        &out,
        &["verdict: BLOCKED / recoverable_failure (missing_terminal_result)"],
    );
    let (code, out, _) = run(&["test", "--stage", "builder", "--marker", "### CHECKER_PASS"]);
    assert_eq!(code, 0);
    assert!(out.contains("illegal_terminal_result"), "{out}");
}

#[test]
fn bad_inputs_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x.scenarios.toml");
    std::fs::write(&f, "loop = \"execution.standard\"\nmode = \"default_codex\"\nallow_terminals = []\nsurprise = true\n").unwrap();
    let (code, _, err) = run(&["test", f.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_has(
        &err,
        &["x.scenarios.toml: line 4: unknown field `surprise`"],
    );
    let (code, _, err) = run(&["test", "--stage", "nobody", "--marker", "x"]);
    assert_eq!(code, 1);
    assert_has(&err, &["mode default_codex has no node nobody"]);
    let (code, _, err) = run(&[
        "test", "--stage", "builder", "--marker", "x", "--format", "github",
    ]);
    assert_eq!(code, 2);
    assert_has(&err, &["--format github is for scenario runs"]);
    let (code, _, _) = run(&[
        "test",
        "--stage",
        "builder",
        "--marker",
        "x",
        "--exhaustive",
    ]);
    assert_eq!(code, 2);
    let (code, _, err) = run(&["test", "--stage", "builder"]);
    assert_eq!(code, 2);
    assert_has(&err, &["--stage needs --marker TEXT or --result JSON"]);
    let (code, _, err) = run(&["test", dir.path().join("missing").to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    std::fs::write(
        &f,
        "loop = \"nope.loop\"\nmode = \"default_codex\"\nallow_terminals = []\n",
    )
    .unwrap();
    let (code, out, _) = run(&["test", f.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert_has(&out, &["mode default_codex does not run loop nope.loop"]);
}
