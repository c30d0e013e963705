//! `millrace lint`: check .mill files (or the shipped ones) and print their
//! diagnostics for people (miette), tools (JSON) or CI (GitHub annotations).
//!
//! Exit status (`docs/exit-codes.md`): 0 clean, 1 errors (or warnings with
//! `--deny-warnings`) or an I/O error (a missing path, a directory with no
//! .mill file, a file that is not UTF-8), 2 usage errors.

use crate::language::bounds::Graph;
use crate::language::check::{self, Checked};
use crate::language::diagnostic::{self, Severity};
use crate::language::load::{self, Loader, Program, StdRoot};
use clap::{Args, ValueEnum};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
    Github,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Files or directories to check (with what they import); with none, the shipped stdlib and modes.
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// Exit with status 1 when there are warnings, not only errors.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Resolve `std/...` imports from this directory instead of the embedded stdlib.
    #[arg(long, value_name = "DIR")]
    pub std: Option<PathBuf>,
}

/// Load the requested files; `Err` carries the one-line I/O problem.
pub fn load(paths: &[PathBuf], std: Option<PathBuf>) -> Result<Program, load::LoadError> {
    let root = std.map(StdRoot::Dir).unwrap_or(StdRoot::Embedded);
    let mut loader = Loader::new(root);
    if paths.is_empty() {
        loader.load_embedded_all();
    } else {
        for file in load::expand_paths(paths)? {
            loader.load_path(&file)?;
        }
    }
    Ok(loader.finish())
}

pub fn run(args: LintArgs) -> Result<super::Outcome, super::Error> {
    let program = load(&args.paths, args.std.clone()).map_err(crate::language::Error::from)?;
    let mut checked = check::check(&program);
    checked
        .diagnostics
        .extend(check::files::missing_files(&program, args.std.as_deref()));
    diagnostic::sort(&mut checked.diagnostics);
    let errors = checked
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = checked.diagnostics.len() - errors;
    match args.format {
        Format::Human => print_human(&program, &checked, errors, warnings),
        Format::Json => print_json(&program, &checked, errors, warnings),
        Format::Github => {
            for d in &checked.diagnostics {
                println!("{}", diagnostic::to_github(d, &program.sources));
            }
        }
    }
    Ok(super::Outcome::problems_if(
        errors > 0 || (args.deny_warnings && warnings > 0),
    ))
}

/// Worst-case stage runs per loop of a clean model, keyed by loop id.
pub fn loop_bounds(checked: &Checked) -> BTreeMap<String, crate::language::bounds::Bound> {
    checked
        .model
        .loops
        .values()
        .filter_map(|l| {
            Graph::new(l, &checked.model.stages, &BTreeMap::new())
                .worst_case()
                .map(|b| (l.id.clone(), b))
        })
        .collect()
}

fn plural(n: usize, word: &str) -> String {
    match (n, word) {
        (1, _) => format!("1 {word}"),
        (_, "alias") => format!("{n} aliases"),
        _ => format!("{n} {word}s"),
    }
}

fn print_human(program: &Program, checked: &Checked, errors: usize, warnings: usize) {
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    for d in &checked.diagnostics {
        print!("{}", diagnostic::render_human(d, &program.sources, color));
        println!();
    }
    let files = program.sources.len();
    if errors == 0 {
        let m = &checked.model;
        // A mode that retunes thresholds has bounds of its own.
        for mode in m
            .modes
            .values()
            .filter(|m| !m.threshold_overrides.is_empty())
        {
            for lid in mode.loops.values() {
                let Some(l) = m.loops.get(lid) else { continue };
                if let Some(b) = Graph::new(l, &m.stages, &mode.threshold_overrides).worst_case() {
                    println!(
                        "bound: mode {}: {lid}: at most {} per work item{}",
                        mode.id,
                        plural(b.max_stage_runs as usize, "stage run"),
                        if b.exact { "" } else { " [upper estimate]" }
                    );
                }
            }
        }
        for (id, b) in loop_bounds(checked) {
            let per: Vec<String> = b
                .per_entry
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            println!(
                "bound: {id}: at most {} per work item ({}){}",
                plural(b.max_stage_runs as usize, "stage run"),
                per.join(", "),
                if b.exact { "" } else { " [upper estimate]" }
            );
        }
        println!(
            "{}: {} checked ({}, {}, {}, {}){}",
            if warnings == 0 {
                "ok"
            } else {
                "ok with warnings"
            },
            plural(files, "file"),
            plural(m.stages.len(), "stage kind"),
            plural(m.loops.len(), "loop"),
            plural(m.modes.len(), "mode"),
            plural(m.aliases.len(), "alias"),
            if warnings == 0 {
                String::new()
            } else {
                format!(", {}", plural(warnings, "warning"))
            }
        );
    } else {
        println!(
            "failed: {}, {} in {}",
            plural(errors, "error"),
            plural(warnings, "warning"),
            plural(files, "file")
        );
    }
}

fn print_json(program: &Program, checked: &Checked, errors: usize, warnings: usize) {
    let diags: Vec<_> = checked
        .diagnostics
        .iter()
        .map(|d| diagnostic::to_json(d, &program.sources))
        .collect();
    let bounds: BTreeMap<String, serde_json::Value> = if errors == 0 {
        loop_bounds(checked)
            .into_iter()
            .map(|(k, b)| (k, serde_json::to_value(b).unwrap_or_default()))
            .collect()
    } else {
        BTreeMap::new()
    };
    let out = json!({
        "ok": errors == 0,
        "files": program.sources.files().iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
        "errors": errors,
        "warnings": warnings,
        "diagnostics": diags,
        "bounds": bounds,
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
}
