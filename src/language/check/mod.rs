//! Checking: resolves names across files and enforces every rule of the
//! language, producing the typed [`Model`] and a list of coded diagnostics.
//!
//! Each kind of declaration has its own file (`stages`, `loops`, `modes`);
//! this one owns the declaration tables, visibility through imports, and the
//! shared helpers for "unknown name" diagnostics.

mod derive;
pub mod files;
mod loops;
mod modes;
mod stages;

use super::ast;
use super::diagnostic::{self, Code, Diagnostic};
use super::load::Program;
use super::model::*;
use super::source::{FileId, Origin, Span};
use std::collections::{BTreeMap, BTreeSet};

/// The result of checking a program: the model (complete only when there are
/// no errors) and every diagnostic, sorted by file and position.
#[derive(Debug)]
pub struct Checked {
    pub model: Model,
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Check a loaded program.
pub fn check(program: &Program) -> Checked {
    let mut cx = Cx::new(program);
    cx.diags.extend(program.diagnostics.iter().cloned());
    cx.collect();
    stages::check_all(&mut cx);
    loops::check_all(&mut cx);
    modes::check_all(&mut cx);
    let mut diagnostics = cx.diags;
    diagnostic::sort(&mut diagnostics);
    diagnostics.dedup();
    Checked {
        model: cx.model,
        diagnostics,
    }
}

/// A declaration and the file it is in.
struct Decl<'p, T> {
    file: FileId,
    decl: &'p T,
}

pub(crate) struct Cx<'p> {
    program: &'p Program,
    visible: Vec<BTreeSet<FileId>>,
    stage_decls: BTreeMap<String, Decl<'p, ast::StageDecl>>,
    loop_decls: BTreeMap<String, Decl<'p, ast::LoopDecl>>,
    mode_decls: BTreeMap<String, Decl<'p, ast::ModeDecl>>,
    alias_decls: BTreeMap<String, Decl<'p, ast::AliasDecl>>,
    /// File of each checked stage kind / loop, for visibility checks.
    stage_file: BTreeMap<String, FileId>,
    loop_file: BTreeMap<String, FileId>,
    pub(crate) model: Model,
    pub(crate) diags: Vec<Diagnostic>,
}

impl<'p> Cx<'p> {
    fn new(program: &'p Program) -> Self {
        let visible = (0..program.sources.len())
            .map(|f| program.visible_from(f))
            .collect();
        Cx {
            program,
            visible,
            stage_decls: BTreeMap::new(),
            loop_decls: BTreeMap::new(),
            mode_decls: BTreeMap::new(),
            alias_decls: BTreeMap::new(),
            stage_file: BTreeMap::new(),
            loop_file: BTreeMap::new(),
            model: Model::default(),
            diags: Vec::new(),
        }
    }

    /// Build the declaration tables, reporting names declared twice.
    fn collect(&mut self) {
        let program = self.program;
        for (file, f) in program
            .files
            .iter()
            .enumerate()
            .filter_map(|(i, f)| f.as_ref().map(|f| (i, f)))
        {
            for s in &f.stages {
                if let Some(prev) = self.stage_decls.get(&s.name.text) {
                    let d = duplicate("stage kind", &s.name, prev.decl.name.span);
                    self.diags.push(d);
                } else {
                    self.stage_decls
                        .insert(s.name.text.clone(), Decl { file, decl: s });
                }
            }
            for l in &f.loops {
                if let Some(prev) = self.loop_decls.get(&l.name.text) {
                    let d = duplicate("loop", &l.name, prev.decl.name.span);
                    self.diags.push(d);
                } else {
                    self.loop_decls
                        .insert(l.name.text.clone(), Decl { file, decl: l });
                }
            }
            for m in &f.modes {
                let prev = self
                    .mode_decls
                    .get(&m.name.text)
                    .map(|p| p.decl.name.span)
                    .or_else(|| self.alias_decls.get(&m.name.text).map(|a| a.decl.name.span));
                if let Some(prev) = prev {
                    self.diags.push(duplicate("mode", &m.name, prev));
                } else {
                    self.mode_decls
                        .insert(m.name.text.clone(), Decl { file, decl: m });
                }
            }
            for a in &f.aliases {
                let prev = self
                    .mode_decls
                    .get(&a.name.text)
                    .map(|p| p.decl.name.span)
                    .or_else(|| self.alias_decls.get(&a.name.text).map(|p| p.decl.name.span));
                if let Some(prev) = prev {
                    self.diags.push(duplicate("mode", &a.name, prev));
                } else {
                    self.alias_decls
                        .insert(a.name.text.clone(), Decl { file, decl: a });
                }
            }
        }
    }

    fn is_visible(&self, from: FileId, decl_file: FileId) -> bool {
        self.visible[from].contains(&decl_file)
    }

    fn file_name(&self, file: FileId) -> &str {
        &self.program.sources.get(file).name
    }

    /// Help text for a name declared in a file that `from` does not import.
    fn import_hint(&self, from: FileId, decl_file: FileId) -> Option<String> {
        if self.is_visible(from, decl_file) {
            return None;
        }
        let name = self.file_name(decl_file);
        let sources = &self.program.sources;
        let suggestion = match (&sources.get(from).origin, &sources.get(decl_file).origin) {
            (_, Origin::Embedded) if name.starts_with("stdlib/") => {
                format!("std/{}", &name["stdlib/".len()..])
            }
            // Relative to the file being fixed, as imports are.
            (Origin::Disk(a), Origin::Disk(b)) => relative_path(a, b),
            (Origin::Embedded, Origin::Embedded) => {
                let a = std::path::Path::new(&self.file_name(from).to_string()).to_path_buf();
                relative_path(&a, std::path::Path::new(name))
            }
            _ => name.to_string(),
        };
        Some(format!(
            "it is declared in {name}, which this file does not import: add `import \"{suggestion}\"`"
        ))
    }

    /// Look up a checked stage kind as seen from `from`, reporting `mill::unknown-stage`.
    fn stage(&mut self, name: &ast::Word, from: FileId) -> Option<&StageKind> {
        match self.stage_file.get(&name.text).copied() {
            Some(f) if self.is_visible(from, f) => self.model.stages.get(&name.text),
            Some(f) => {
                let hint = self.import_hint(from, f).unwrap_or_default();
                self.diags.push(
                    Diagnostic::error(
                        Code::UnknownStage,
                        name.span,
                        format!("unknown stage kind `{}`", name.text),
                    )
                    .label("not visible here")
                    .help(hint),
                );
                None
            }
            None => {
                if self.stage_decls.contains_key(&name.text) {
                    // Declared but failed its own checks: already reported.
                    return None;
                }
                let candidates: Vec<String> = self
                    .stage_file
                    .iter()
                    .filter(|(_, f)| self.is_visible(from, **f))
                    .map(|(n, _)| n.clone())
                    .collect();
                self.diags.push(unknown(
                    Code::UnknownStage,
                    "stage kind",
                    name,
                    &candidates,
                    "declare it with `stage <name> { ... }` or import the file that does",
                ));
                None
            }
        }
    }
}

/// The path of `to` relative to the directory of `from` (both files), with `/`.
fn relative_path(from: &std::path::Path, to: &std::path::Path) -> String {
    let dir: Vec<_> = from
        .parent()
        .map(|p| p.components().collect())
        .unwrap_or_default();
    let target: Vec<_> = to.components().collect();
    let common = dir.iter().zip(&target).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); dir.len() - common];
    parts.extend(
        target[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

fn duplicate(what: &str, name: &ast::Word, earlier: Span) -> Diagnostic {
    Diagnostic::error(
        Code::DuplicateDeclaration,
        name.span,
        format!("{what} `{}` is declared twice", name.text),
    )
    .label("second declaration")
    .with(earlier, "first declared here")
    .help(format!("rename one of them or remove the duplicate {what}"))
}

/// The closest candidate by edit distance, if close enough to be a typo.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3) && *d > 0)
        .min()
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// An "unknown X" diagnostic with a did-you-mean or the list of choices.
pub(crate) fn unknown(
    code: Code,
    what: &str,
    name: &ast::Word,
    candidates: &[impl AsRef<str>],
    fallback_help: &str,
) -> Diagnostic {
    let names: Vec<&str> = candidates.iter().map(AsRef::as_ref).collect();
    let help = if let Some(s) = suggest(&name.text, names.iter().copied()) {
        format!("did you mean `{s}`?")
    } else if !names.is_empty() && (names.len() <= 12 || fallback_help.is_empty()) {
        format!("expected one of: {}", names.join(", "))
    } else if !fallback_help.is_empty() {
        fallback_help.to_string()
    } else {
        format!("there is no {what} of this name here; check the spelling")
    };
    Diagnostic::error(code, name.span, format!("unknown {what} `{}`", name.text))
        .label(format!("no {what} of this name"))
        .help(help)
}

/// Check a closed-vocabulary word, reporting `code` when it is not one of `allowed`.
pub(crate) fn check_word(
    diags: &mut Vec<Diagnostic>,
    code: Code,
    what: &str,
    word: &ast::Word,
    allowed: &[&str],
) -> bool {
    if allowed.contains(&word.text.as_str()) {
        return true;
    }
    diags.push(unknown(code, what, word, allowed, ""));
    false
}

/// Validate an entrypoint path: relative, no `..`, `.md`, under `entrypoints/`.
pub(crate) fn check_entrypoint_path(diags: &mut Vec<Diagnostic>, path: &ast::Str) -> bool {
    let p = &path.value;
    let problem = if p.starts_with('/') || p.starts_with('\\') || p.get(1..2) == Some(":") {
        Some("is absolute")
    } else if p.split(['/', '\\']).any(|s| s == "..") {
        Some("escapes its directory with `..`")
    } else if !p.ends_with(".md") {
        Some("is not a .md file")
    } else if !p.starts_with("entrypoints/") {
        Some("is outside entrypoints/")
    } else {
        None
    };
    match problem {
        None => true,
        Some(problem) => {
            diags.push(
                Diagnostic::error(
                    Code::BadEntrypointPath,
                    path.span,
                    format!("entrypoint path \"{p}\" {problem}"),
                )
                .label("invalid entrypoint path")
                .help("entrypoints are markdown files named relative to the workspace, under entrypoints/ (like \"entrypoints/execution/builder.md\")"),
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_only() {
        assert_eq!(suggest("buidler", ["builder", "checker"]), Some("builder"));
        assert_eq!(suggest("zzz", ["builder", "checker"]), None);
    }
}
