//! One command of the real binary: against a workspace, its output with
//! the workspace path written `[WS]` (for exact comparisons and snapshots);
//! or without colour, as exit code and text; and the checks every test
//! makes of a command's result.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// What one command did: exit code (`-1` when killed) and both streams,
/// the workspace path replaced by `[WS]`.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// `millrace ARGS --workspace <ws>` with `env` added (fake `codex` on `PATH`).
pub fn run_in(ws: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::from_std(super::millrace_cmd());
    cmd.args(args).arg("--workspace").arg(ws);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let clean = |b: &[u8]| {
        String::from_utf8_lossy(b).replace(
            &ws.canonicalize()
                .unwrap_or(ws.to_path_buf())
                .display()
                .to_string(),
            "[WS]",
        )
    };
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: clean(&out.stdout),
        stderr: clean(&out.stderr),
    }
}

/// `millrace ARGS --workspace <ws>`.
pub fn run(ws: &Path, args: &[&str]) -> Run {
    run_in(ws, args, &[])
}

/// The binary without colour (`NO_COLOR=1`), on the caller's own `PATH`.
pub fn plain() -> Command {
    let mut cmd = Command::cargo_bin("millrace").unwrap();
    cmd.env("NO_COLOR", "1");
    cmd
}

/// `millrace ARGS` without colour: exit code (`-1` when killed), stdout
/// and stderr, each of which must be UTF-8.
pub fn output(args: &[&str]) -> (i32, String, String) {
    let out = plain().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// A workspace `ws` in a fresh temporary directory, initialized.
pub fn init_ws() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let (code, _, err) = output(&["init", "--workspace", ws.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    (dir, ws)
}

/// The command exited 0; if not, the failure shows its stderr.
pub fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Each of `needles` is in `text`; a failure names the one missing and
/// shows the text.
pub fn assert_has(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} not in:\n{text}");
    }
}
