//! Go to definition: a stage kind, loop, mode or alias to its declaration;
//! a node, terminal or threshold to its line in the loop; an import string
//! to the file (a `std/` file from the stdlib directory, or the shipped copy).

use super::analysis::{shipped_file, Analysis};
use super::documents;
use lsp_types::{Location, Position, Range};

fn file_location(path: std::path::PathBuf) -> Option<Location> {
    Some(Location {
        uri: documents::uri_of(&path)?,
        range: Range {
            start: Position::default(),
            end: Position::default(),
        },
    })
}

pub fn definition(a: &Analysis, offset: usize) -> Option<Location> {
    let text = a.text();
    if let Some(import) = documents::string_at(text, offset) {
        if let Some(rest) = import.strip_prefix("std/") {
            return match &a.std_dir {
                Some(d) => file_location(d.join(rest)),
                None => file_location(shipped_file(&format!("stdlib/{rest}"))?),
            };
        }
        let dir = a.path_of(a.file)?.parent()?.to_path_buf();
        return file_location(dir.join(import));
    }
    let (_, word) = documents::word_at(text, offset)?;
    let m = &a.checked.model;
    let current = documents::enclosing(text, offset)
        .iter()
        .find(|b| b.first().map(String::as_str) == Some("loop"))
        .and_then(|b| b.get(1).cloned())
        .and_then(|id| m.loops.get(&id));
    // In a loop, a node name means the node (from its own declaration,
    // the stage kind it runs).
    if let Some(n) = current.and_then(|l| l.node(word)) {
        let inside = n.span.file == a.file && (n.span.start..=n.span.end).contains(&offset);
        if !inside {
            return a.location(n.span);
        }
    }
    if let Some(s) = m.stages.get(word) {
        return a.location(s.span);
    }
    if let Some(l) = m.loops.get(word) {
        return a.location(l.span);
    }
    if let Some(mode) = m.modes.get(word) {
        return a.location(mode.span);
    }
    if let Some(alias) = m.aliases.get(word) {
        return a.location(alias.span);
    }
    let l = current?;
    if let Some(n) = l.node(word) {
        return a.location(n.span);
    }
    if let Some(t) = l.terminal(word) {
        return a.location(t.span);
    }
    if let Some(t) = l
        .thresholds
        .iter()
        .find(|t| t.id == word || t.counter == word)
    {
        return a.location(t.span);
    }
    None
}
