//! Files a program names: every entrypoint and skill path of a stage kind or
//! a mode's stage override must exist where the runtime will look for it.
//!
//! Paths are relative to the agents directory. For a file inside a workspace
//! (below a `millrace-agents/` directory) that is the workspace's; otherwise
//! the `--std` directory when one is given (the repository's `stdlib/`
//! holds `entrypoints/` and `skills/`), else the shipped stdlib embedded in
//! the binary. A missing entrypoint is an error, a missing skill a warning,
//! as `compile` grades them.

use crate::language::ast::{self, OverrideValue, StageValue};
use crate::language::diagnostic::{Code, Diagnostic};
use crate::language::load::Program;
use crate::language::source::{FileId, Origin};
use std::path::{Path, PathBuf};

/// Where a file's relative asset paths resolve.
enum AssetDir {
    Embedded,
    Dir(PathBuf),
}

impl AssetDir {
    fn has(&self, rel: &str) -> bool {
        match self {
            AssetDir::Embedded => crate::assets::get(&format!("stdlib/{rel}")).is_some(),
            AssetDir::Dir(d) => d.join(rel).is_file(),
        }
    }

    fn describe(&self) -> String {
        match self {
            AssetDir::Embedded => "the shipped stdlib".to_string(),
            AssetDir::Dir(d) => d.display().to_string(),
        }
    }
}

fn asset_dir(program: &Program, file: FileId, std_dir: Option<&Path>) -> AssetDir {
    let Origin::Disk(path) = &program.sources.get(file).origin else {
        return AssetDir::Embedded;
    };
    if let Some(ws) = path
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "millrace-agents"))
    {
        return AssetDir::Dir(ws.to_path_buf());
    }
    match std_dir {
        Some(d) => AssetDir::Dir(d.to_path_buf()),
        None => AssetDir::Embedded,
    }
}

/// Diagnostics for every entrypoint or skill path that names no file.
pub fn missing_files(program: &Program, std_dir: Option<&Path>) -> Vec<Diagnostic> {
    let std_dir = std_dir.map(|d| std::path::absolute(d).unwrap_or_else(|_| d.to_path_buf()));
    let mut out = Vec::new();
    for (file, f) in program.files.iter().enumerate() {
        let Some(f) = f else { continue };
        let dir = asset_dir(program, file, std_dir.as_deref());
        let mut check = |what: &str, s: &ast::Str| {
            let rel = &s.value;
            // Malformed paths are reported by the checker; never probe them.
            if rel.starts_with('/') || rel.split(['/', '\\']).any(|p| p == "..") {
                return;
            }
            if dir.has(rel) {
                return;
            }
            let message = format!("{what} file \"{rel}\" does not exist");
            let d = if what == "entrypoint" {
                Diagnostic::error(Code::MissingFile, s.span, message)
            } else {
                Diagnostic::warning(Code::MissingFile, s.span, message)
            };
            out.push(
                d.label(format!("no such file in {}", dir.describe()))
                    .help(format!(
                        "create {rel} (paths are relative to the agents directory, millrace-agents/ in a workspace), or fix the path"
                    )),
            );
        };
        for s in &f.stages {
            for field in &s.fields {
                match &field.value {
                    StageValue::Entrypoint(p) => check("entrypoint", p),
                    StageValue::Skill(p) => check("skill", p),
                    _ => {}
                }
            }
        }
        for m in &f.modes {
            for o in &m.overrides {
                for field in &o.fields {
                    match &field.value {
                        OverrideValue::Entrypoint(p) => check("entrypoint", p),
                        OverrideValue::Skill(p) => check("skill", p),
                        _ => {}
                    }
                }
            }
        }
    }
    out
}
