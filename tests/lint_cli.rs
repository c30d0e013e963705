//! `millrace lint` as CI runs it: exit statuses, formats and I/O errors.

use assert_cmd::Command;
use std::path::Path;

fn millrace() -> Command {
    let mut c = Command::cargo_bin("millrace").unwrap();
    c.env("NO_COLOR", "1");
    c
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
    let out = millrace()
        .current_dir(root)
        .args([
            "lint",
            "modes",
            "stdlib",
            "--std",
            "stdlib",
            "--deny-warnings",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn warnings_fail_only_when_denied() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lint");
    let file = "invalid/23-unreachable-node.mill";
    let plain = millrace()
        .current_dir(&dir)
        .args(["lint", file])
        .output()
        .unwrap();
    assert_eq!(plain.status.code(), Some(0));
    let denied = millrace()
        .current_dir(&dir)
        .args(["lint", file, "--deny-warnings"])
        .output()
        .unwrap();
    assert_eq!(denied.status.code(), Some(1));
}

#[test]
fn missing_file_is_an_io_error() {
    let out = millrace()
        .args(["lint", "/nonexistent/x.mill"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
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
    let out = millrace().arg("lint").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("contains no .mill files"));
}

#[test]
fn non_utf8_file_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.mill");
    std::fs::write(&f, b"stage caf\xe9 {}\n").unwrap();
    let out = millrace().arg("lint").arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
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
        "import \"std/loops/execution.mill\"\n\
         mode careful {\n  loops { execution: execution.standard }\n  runner command\n  \
         stage checker { model \"gpt-5-codex\" thinking high timeout 30m }\n  threshold fix_cycle_count 3\n}\n",
    )
    .unwrap();
    let out = millrace().arg("lint").arg(&f).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
