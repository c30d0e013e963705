//! `millrace fmt`: rewrite `.mill` files in the canonical layout
//! (`language::format`), or with `--check` report the files that differ.
//!
//! Exit status: 0 every file formatted (or already canonical); 1 with
//! `--check` when a file would change (its diff is printed), or when a file
//! does not parse (its syntax error is printed, the file is left alone),
//! or on an I/O error; 2 usage errors. `--json` prints one object with each
//! file's status (and its diff under `--check`) instead.

use crate::language::diagnostic;
use crate::language::format::format;
use crate::language::load::{self, read_source};
use crate::language::source::{Origin, SourceFile, SourceSet};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct FmtArgs {
    /// Files or directories (every `.mill` file below); with none, the current directory.
    pub paths: Vec<PathBuf>,
    /// Change nothing: print a diff of each file that is not formatted and exit 1.
    #[arg(long)]
    pub check: bool,
    /// Print one JSON object (`files`: path, status, diff) instead of lines and diffs.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: FmtArgs) -> Result<super::Outcome, super::Error> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths
    };
    let files = load::expand_paths(&paths).map_err(crate::language::Error::from)?;
    let mut differs = false;
    let mut report = Vec::new();
    let mut entry = |file: &std::path::Path, status: &str, diff: Option<String>| {
        report.push(
            serde_json::json!({"path": file.display().to_string(), "status": status, "diff": diff}),
        );
    };
    for file in files {
        let text = read_source(&file).map_err(|error| crate::language::Error::Read {
            path: file.clone(),
            error,
        })?;
        let formatted = match format(&text) {
            Ok(f) => f,
            Err(d) => {
                let mut sources = SourceSet::default();
                sources.add(SourceFile::new(
                    file.display().to_string(),
                    text.into(),
                    Origin::Disk(file.clone()),
                ));
                if args.json {
                    let message = diagnostic::render_human(&d, &sources, false);
                    entry(&file, "does_not_parse", Some(message));
                } else {
                    print!("{}", diagnostic::render_human(&d, &sources, false));
                    println!("{}: not formatted: it does not parse", file.display());
                }
                differs = true;
                continue;
            }
        };
        if formatted == text {
            entry(&file, "unchanged", None);
            continue;
        }
        if args.check {
            let d = diff(&file.display().to_string(), &text, &formatted);
            if args.json {
                entry(&file, "would_change", Some(d));
            } else {
                print!("{d}");
            }
            differs = true;
        } else if let Err(e) = crate::workspace::atomic::write_atomic(&file, formatted.as_bytes()) {
            return Err(super::Error::Failed(format!(
                "{}: cannot write: {e}",
                file.display()
            )));
        } else if args.json {
            entry(&file, "formatted", None);
        } else {
            println!("formatted {}", file.display());
        }
    }
    if args.json {
        let out = serde_json::json!({"check": args.check, "files": report});
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    }
    Ok(super::Outcome::problems_if(differs))
}

/// A line diff in unified style (`-` old, `+` new, two lines of context).
fn diff(name: &str, old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // Longest common subsequence table, from the end.
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    // The edit script: (' ' | '-' | '+', line).
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            ops.push(('+', b[j]));
            j += 1;
        } else {
            ops.push(('-', a[i]));
            i += 1;
        }
    }
    let mut out = format!("--- {name}\n+++ {name} (formatted)\n");
    let near = |k: usize| {
        ops[k.saturating_sub(2)..(k + 3).min(ops.len())]
            .iter()
            .any(|(c, _)| *c != ' ')
    };
    let mut skipped = false;
    for (k, (c, line)) in ops.iter().enumerate() {
        if *c == ' ' && !near(k) {
            skipped = true;
            continue;
        }
        if skipped {
            out.push_str("@@\n");
            skipped = false;
        }
        out.push_str(&format!("{c}{line}\n"));
    }
    out
}
