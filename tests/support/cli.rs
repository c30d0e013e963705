//! One command of the real binary against a workspace, its output with the
//! workspace path written `[WS]` (for exact comparisons and snapshots).

use std::path::Path;

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
