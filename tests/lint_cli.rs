//! `millrace lint` as CI runs it: exit statuses, formats and I/O errors.

use std::path::Path;
use std::process::Output;

mod support;
use support::cli::{assert_has, plain as millrace};

/// `millrace lint ARGS` run in `dir`.
fn lint(dir: &Path, args: &[&str]) -> Output {
    millrace()
        .current_dir(dir)
        .arg("lint")
        .args(args)
        .output()
        .unwrap()
}

/// `millrace lint ARGS --format json` run in `dir`: its exit code and report.
fn lint_json(dir: &Path, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out = lint(dir, &[args, &["--format", "json"]].concat());
    let report = serde_json::from_slice(&out.stdout).unwrap();
    (out.status.code(), report)
}

/// The lint exited `code`; if not, the failure shows its report.
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The directory the other lints here run in (`cargo test`'s own).
fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn shipped_files_lint_clean_with_bounds() {
    let out = millrace().arg("lint").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    insta::assert_snapshot!("lint_shipped", text);
}

#[test]
fn shipped_files_lint_clean_as_json() {
    let out = millrace()
        .args(["lint", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["errors"], 0);
    assert!(
        v["bounds"]["execution.standard"]["max_stage_runs"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[test]
fn shipped_tree_on_disk_lints_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = lint(
        root,
        &["modes", "stdlib", "--std", "stdlib", "--deny-warnings"],
    );
    assert_exit(&out, 0);
}

#[test]
fn warnings_fail_only_when_denied() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lint");
    let file = "invalid/23-unreachable-node.mill";
    assert_exit(&lint(&dir, &[file]), 0);
    assert_exit(&lint(&dir, &[file, "--deny-warnings"]), 1);
}

#[test]
fn missing_file_is_an_io_error() {
    let out = millrace()
        .args(["lint", "/nonexistent/x.mill"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err.trim(),
        "error: /nonexistent/x.mill: cannot read: no such file"
    );
}

#[test]
fn directory_without_mill_files_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hi").unwrap();
    let out = lint(crate_dir(), &[path(dir.path())]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("contains no .mill files"));
}

#[test]
fn non_utf8_file_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.mill");
    std::fs::write(&f, b"stage caf\xe9 {}\n").unwrap();
    let out = lint(crate_dir(), &[path(&f)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("not valid UTF-8"));
}

#[test]
fn unknown_format_is_a_usage_error() {
    let out = millrace()
        .args(["lint", "--format", "xml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_workspace_style_mode_can_import_the_stdlib() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("careful.mill");
    std::fs::write(
        &f,
        "import \"std/loops/execution.mill\"\nimport \"std/loops/planning.mill\"\n\
         mode careful {\n  loops { execution: execution.standard, planning: planning.standard }\n  runner command\n  \
         stage checker { model \"gpt-5-codex\" thinking high timeout 30m }\n  threshold fix_cycle_count 3\n}\n",
    )
    .unwrap();
    assert_exit(&lint(crate_dir(), &[path(&f)]), 0);
}

#[test]
fn a_missing_entrypoint_is_reported_by_lint() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("custom.mill");
    std::fs::write(
        &f,
        "stage reviewer {\n  plane execution\n  entrypoint \"entrypoints/execution/reviewer.md\"\n  \
         skill \"skills/stage/execution/reviewer-core/SKILL.md\"\n  \
         outcomes {\n    REVIEW_PASS => success\n    BLOCKED => blocked | recoverable_failure\n  }\n}\n",
    )
    .unwrap();
    let (code, v) = lint_json(crate_dir(), &[path(&f)]);
    assert_eq!(code, Some(1), "{v}");
    let d = v["diagnostics"].as_array().unwrap();
    assert_eq!(d.len(), 2, "{v}");
    assert_eq!(d[0]["code"], "mill::missing-file");
    assert_eq!(d[0]["severity"], "error");
    assert_eq!(d[0]["line"], 3);
    assert_eq!(d[1]["severity"], "warning");
    // Inside a workspace the same paths resolve against millrace-agents/.
    let agents = dir.path().join("millrace-agents");
    std::fs::create_dir_all(agents.join("mill/modes")).unwrap();
    std::fs::create_dir_all(agents.join("entrypoints/execution")).unwrap();
    std::fs::create_dir_all(agents.join("skills/stage/execution/reviewer-core")).unwrap();
    std::fs::write(agents.join("entrypoints/execution/reviewer.md"), "x").unwrap();
    std::fs::write(
        agents.join("skills/stage/execution/reviewer-core/SKILL.md"),
        "x",
    )
    .unwrap();
    let inside = agents.join("mill/modes/custom.mill");
    std::fs::copy(&f, &inside).unwrap();
    assert_exit(&lint(crate_dir(), &[path(&inside)]), 0);
}

#[test]
fn import_help_is_relative_to_the_file_being_fixed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    std::fs::create_dir_all(dir.path().join("b")).unwrap();
    std::fs::write(
        dir.path().join("b/kinds.mill"),
        "stage reviewer {\n  plane execution\n  outcomes { REVIEW_PASS => success  BLOCKED => blocked | recoverable_failure }\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("a/root.mill"),
        "import \"../b/kinds.mill\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("a/sub.mill"),
        "loop demo.r on execution {\n  nodes reviewer\n  entry task -> reviewer\n  \
         reviewer REVIEW_PASS -> terminal done  BLOCKED -> terminal stuck\n  \
         terminal done success\n  terminal stuck blocked\n}\n",
    )
    .unwrap();
    let (_, v) = lint_json(dir.path(), &["a/root.mill", "a/sub.mill"]);
    let help = v["diagnostics"][0]["help"].as_str().unwrap();
    assert!(help.ends_with("add `import \"../b/kinds.mill\"`"), "{help}");
}

#[test]
fn extends_of_a_misspelt_shipped_mode_gets_a_did_you_mean() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("careful.mill");
    std::fs::write(&f, "mode careful extends default_codx {}\n").unwrap();
    let (_, v) = lint_json(crate_dir(), &[path(&f)]);
    let help = v["diagnostics"][0]["help"].as_str().unwrap();
    assert!(help.starts_with("did you mean `default_codex`?"), "{help}");
}

#[test]
fn a_default_route_replaces_the_repeated_blocked_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let standard = std::fs::read_to_string(root.join("stdlib/loops/execution.mill")).unwrap();
    // The standard loop with its six `BLOCKED -> troubleshooter` arms as one default.
    let terse: String = standard
        .replace("loop execution.standard", "loop execution.terse")
        .lines()
        .filter(|l| {
            !l.trim_start()
                .starts_with("BLOCKED               -> troubleshooter")
        })
        .map(|l| {
            if l.trim_start().starts_with("entry task") {
                format!("{l}\n  default BLOCKED -> troubleshooter")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(standard.lines().count() - terse.lines().count(), 5);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("terse.mill"), &terse).unwrap();
    let out = lint(dir.path(), &["terse.mill"]);
    assert_exit(&out, 0);
    let text = String::from_utf8_lossy(&out.stdout);
    // The same graph: the same exact worst case as the standard loop.
    assert_has(
        &text,
        &["bound: execution.terse: at most 23 stage runs per work item (task 23)"],
    );
    // Without the default, the five nodes' BLOCKED are unrouted.
    std::fs::write(
        dir.path().join("terse.mill"),
        terse.replace("  default BLOCKED -> troubleshooter\n", ""),
    )
    .unwrap();
    let (_, v) = lint_json(dir.path(), &["terse.mill"]);
    let unrouted = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| {
            d["code"] == "mill::unrouted-outcome"
                && d["message"]
                    .as_str()
                    .unwrap()
                    .ends_with("can return `BLOCKED`, but no route handles it")
        })
        .count();
    assert_eq!(unrouted, 6, "{v}");
}
