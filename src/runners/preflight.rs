//! Can a runner start at all? Answered before any work is claimed, from the
//! settings alone: the program a process runner would execute is found the
//! way the spawner finds it (a path with a `/` relative to the workspace
//! root, where agents run; a bare name on `PATH`, the runner's own `env`
//! `PATH` first) and is an executable regular file; the `command` runner has
//! an argv; the `script` runner's script file exists and parses.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::script::Script;
use super::{RunnerKind, RunnerSettings, ScriptError};

/// Why a runner cannot start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// No program with this name on `PATH`, or no file at this path.
    BinaryNotFound { program: String },
    /// Found, but not an executable regular file.
    NotExecutable { path: PathBuf },
    /// The setting that names the program is empty (`runners.command.argv`, `runners.codex.command`).
    NoProgram { key: &'static str },
    /// The script runner's file is missing or unreadable.
    ScriptMissing { path: PathBuf, error: String },
    /// The script runner's file does not parse.
    ScriptInvalid { path: PathBuf, error: ScriptError },
}

impl Unavailable {
    /// The stable code `doctor` reports (the reference's
    /// `runner_binary_unavailable` for a program that cannot be executed).
    pub fn code(&self) -> &'static str {
        match self {
            Unavailable::BinaryNotFound { .. }
            | Unavailable::NotExecutable { .. }
            | Unavailable::NoProgram { .. } => "runner_binary_unavailable",
            Unavailable::ScriptMissing { .. } | Unavailable::ScriptInvalid { .. } => {
                "runner_script_unavailable"
            }
        }
    }
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailable::BinaryNotFound { program } => {
                write!(f, "runner binary not found: {program}")
            }
            Unavailable::NotExecutable { path } => {
                write!(f, "runner binary is not executable: {}", path.display())
            }
            Unavailable::NoProgram { key } => write!(f, "{key} is empty: no program to run"),
            Unavailable::ScriptMissing { path, error } => {
                write!(f, "script file {}: {error}", path.display())
            }
            Unavailable::ScriptInvalid { path, error } => {
                write!(f, "script file {}: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for Unavailable {}

/// Check that `kind` could start an agent for a stage of this workspace.
pub fn check(
    kind: RunnerKind,
    settings: &RunnerSettings,
    workspace_root: &Path,
) -> Result<(), Unavailable> {
    match kind {
        RunnerKind::CodexCli => program(
            &settings.codex.command,
            "runners.codex.command",
            &settings.codex.env,
            workspace_root,
        ),
        RunnerKind::PiRpc => program(
            &settings.pi.command,
            "runners.pi.command",
            &settings.pi.env,
            workspace_root,
        ),
        RunnerKind::ClaudeCode => program(
            &settings.claude.command,
            "runners.claude.command",
            &settings.claude.env,
            workspace_root,
        ),
        RunnerKind::Command => {
            let first = settings.command.argv.first().map(String::as_str);
            let first = first
                .unwrap_or("")
                .replace("{workspace}", &workspace_root.display().to_string());
            // Another placeholder in the program name is only known per request.
            if first.contains('{') && first.contains('}') {
                return Ok(());
            }
            program(
                &first,
                "runners.command.argv",
                &settings.command.env,
                workspace_root,
            )
        }
        RunnerKind::Script => {
            let Some(rel) = settings.script.path.as_deref() else {
                return Ok(());
            };
            let path = workspace_root.join(rel);
            let text = std::fs::read_to_string(&path).map_err(|e| Unavailable::ScriptMissing {
                path: path.clone(),
                error: e.to_string(),
            })?;
            Script::parse(&text)
                .map(|_| ())
                .map_err(|error| Unavailable::ScriptInvalid { path, error })
        }
    }
}

/// Resolve `name` as the spawner will and require an executable file.
fn program(
    name: &str,
    key: &'static str,
    env: &BTreeMap<String, String>,
    workspace_root: &Path,
) -> Result<(), Unavailable> {
    if name.trim().is_empty() {
        return Err(Unavailable::NoProgram { key });
    }
    if name.contains('/') {
        let path = workspace_root.join(name);
        return executable(&path).map_err(|found| match found {
            false => Unavailable::BinaryNotFound {
                program: name.to_string(),
            },
            true => Unavailable::NotExecutable { path },
        });
    }
    let search = env
        .get("PATH")
        .cloned()
        .or_else(|| std::env::var("PATH").ok())
        .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".to_string());
    let mut not_executable = None;
    for dir in search.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let path = workspace_root.join(dir).join(name);
        match executable(&path) {
            Ok(()) => return Ok(()),
            Err(true) => {
                not_executable.get_or_insert(path);
            }
            Err(false) => {}
        }
    }
    Err(match not_executable {
        Some(path) => Unavailable::NotExecutable { path },
        None => Unavailable::BinaryNotFound {
            program: name.to_string(),
        },
    })
}

/// `Ok` for an executable regular file; `Err(true)` when something is
/// there but cannot be executed, `Err(false)` when nothing is.
fn executable(path: &Path) -> Result<(), bool> {
    use std::os::unix::ffi::OsStrExt;
    let meta = std::fs::metadata(path).map_err(|_| false)?;
    if !meta.is_file() {
        return Err(true);
    }
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return Err(false);
    };
    // SAFETY: access(2) reads a NUL-terminated path we own.
    let ok = unsafe { libc::access(c_path.as_ptr(), libc::X_OK) } == 0;
    if ok {
        Ok(())
    } else {
        Err(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn settings(f: impl FnOnce(&mut RunnerSettings)) -> RunnerSettings {
        let mut s = RunnerSettings::default();
        f(&mut s);
        s
    }

    #[test]
    fn programs_resolve_like_the_spawner() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("agent.sh"), "#!/bin/sh\n").unwrap();
        std::fs::write(root.join("plain.txt"), "").unwrap();
        std::fs::set_permissions(
            root.join("agent.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let command = |argv: &[&str]| {
            let s = settings(|s| s.command.argv = argv.iter().map(|a| a.to_string()).collect());
            check(RunnerKind::Command, &s, root)
        };
        assert_eq!(command(&["sh", "-c", "true"]), Ok(()));
        assert_eq!(command(&["./agent.sh"]), Ok(()));
        assert_eq!(command(&["{workspace}/agent.sh"]), Ok(()));
        assert_eq!(
            command(&["claude-typo"]),
            Err(Unavailable::BinaryNotFound {
                program: "claude-typo".into()
            })
        );
        assert_eq!(
            command(&["./plain.txt"]).unwrap_err().code(),
            "runner_binary_unavailable"
        );
        assert!(matches!(
            command(&["./plain.txt"]),
            Err(Unavailable::NotExecutable { .. })
        ));
        assert_eq!(
            command(&[]),
            Err(Unavailable::NoProgram {
                key: "runners.command.argv"
            })
        );
        // The runner's own PATH is the one searched.
        let s = settings(|s| {
            s.codex.command = "agent.sh".into();
            s.codex
                .env
                .insert("PATH".into(), root.display().to_string());
        });
        assert_eq!(check(RunnerKind::CodexCli, &s, root), Ok(()));
        let s = settings(|s| s.pi.command = "pi-typo-xyz".into());
        assert!(check(RunnerKind::PiRpc, &s, root).is_err());
    }

    #[test]
    fn script_file_must_exist_and_parse() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(
            check(RunnerKind::Script, &RunnerSettings::default(), root),
            Ok(())
        );
        let s = settings(|s| s.script.path = Some("script.json".into()));
        let e = check(RunnerKind::Script, &s, root).unwrap_err();
        assert_eq!(e.code(), "runner_script_unavailable");
        std::fs::write(root.join("script.json"), "[1]").unwrap();
        assert!(matches!(
            check(RunnerKind::Script, &s, root),
            Err(Unavailable::ScriptInvalid { .. })
        ));
        std::fs::write(root.join("script.json"), "{\"builder\": [\"BLOCKED\"]}").unwrap();
        assert_eq!(check(RunnerKind::Script, &s, root), Ok(()));
    }
}
