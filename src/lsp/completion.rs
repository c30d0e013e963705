//! Completion by position: the keywords of the block the cursor is in
//! (text-based, so it works while the file does not parse), node names of
//! the enclosing loop, the outcomes the node on this line can return (its
//! stage kind's), terminals after `->`, counters, stage kinds, loops and
//! modes where they can be named.

use super::analysis::Analysis;
use super::documents;
use crate::language::model::{Loop, Model};
use lsp_types::{CompletionItem, CompletionItemKind};

const TOP: &[&str] = &["import", "stage", "loop", "mode", "alias"];
const LOOP: &[&str] = &[
    "nodes",
    "entry",
    "terminal",
    "resume",
    "threshold",
    "completion",
    "remove",
    "default",
];
const THRESHOLD: &[&str] = &["counter", "on", "from", "after"];
const RESUME: &[&str] = &["from", "on", "metadata", "default", "never"];
const MODE: &[&str] = &[
    "loops",
    "runner",
    "model",
    "stages",
    "thresholds",
    "concurrency",
    "learning",
];

fn item(label: &str, kind: CompletionItemKind, detail: &str) -> CompletionItem {
    CompletionItem {
        label: label.to_string(),
        kind: Some(kind),
        detail: (!detail.is_empty()).then(|| detail.to_string()),
        ..CompletionItem::default()
    }
}

fn keywords(words: &[&str]) -> Vec<CompletionItem> {
    words
        .iter()
        .map(|w| item(w, CompletionItemKind::KEYWORD, ""))
        .collect()
}

/// The node whose routes this line belongs to: the line's first word when
/// it is a node, else the nearest line above that starts with one.
fn route_node<'l>(text: &str, offset: usize, l: &'l Loop) -> Option<&'l str> {
    let before = &text[..offset];
    for line in before.rsplit('\n') {
        let first = line.split_whitespace().next();
        match first {
            Some(w) if l.node(w).is_some() => return l.node(w).map(|n| n.id.as_str()),
            Some(w) if w.chars().all(|c| c.is_ascii_uppercase() || c == '_') => continue,
            None => continue,
            Some(_) => return None,
        }
    }
    None
}

fn counters(m: &Model) -> Vec<CompletionItem> {
    let mut seen = std::collections::BTreeSet::new();
    m.loops
        .values()
        .flat_map(|l| &l.thresholds)
        .filter(|t| seen.insert(t.counter.clone()))
        .map(|t| {
            item(
                &t.counter,
                CompletionItemKind::VARIABLE,
                &format!("counter of {}", t.id),
            )
        })
        .collect()
}

pub fn completion(a: &Analysis, offset: usize) -> Vec<CompletionItem> {
    let text = a.text();
    let m = &a.checked.model;
    let blocks = documents::enclosing(text, offset);
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = &text[line_start..offset];
    let innermost = blocks
        .last()
        .and_then(|b| b.first())
        .map(String::as_str)
        .unwrap_or("");
    let current_loop = blocks
        .iter()
        .find(|b| b.first().map(String::as_str) == Some("loop"))
        .and_then(|b| b.get(1))
        .and_then(|id| m.loops.get(id));
    let mut out = Vec::new();
    match innermost {
        "" => {
            out.extend(keywords(TOP));
            if line.trim_start().starts_with("alias") || line.contains("extends") {
                out.extend(
                    m.modes
                        .keys()
                        .map(|k| item(k, CompletionItemKind::MODULE, "mode")),
                );
            }
        }
        "loop" => {
            let Some(l) = current_loop else {
                out.extend(keywords(LOOP));
                out.extend(
                    m.stages
                        .keys()
                        .map(|k| item(k, CompletionItemKind::CLASS, "stage kind")),
                );
                return out;
            };
            if let Some(after_arrow) = line.rsplit_once("->").map(|(_, r)| r) {
                if after_arrow.trim_start().starts_with("terminal") {
                    out.extend(
                        l.terminals
                            .iter()
                            .map(|t| item(&t.id, CompletionItemKind::ENUM_MEMBER, &t.class)),
                    );
                } else {
                    out.push(item("terminal", CompletionItemKind::KEYWORD, ""));
                    out.extend(
                        l.nodes
                            .iter()
                            .map(|n| item(&n.id, CompletionItemKind::FIELD, &n.kind)),
                    );
                }
                return out;
            }
            if let Some(node) = route_node(text, offset, l) {
                if let Some(kind) = l.node(node).and_then(|n| m.stages.get(&n.kind)) {
                    out.extend(kind.outcomes.iter().map(|o| {
                        item(
                            &o.marker,
                            CompletionItemKind::ENUM_MEMBER,
                            &format!("{}: {}", node, o.classes.join(", ")),
                        )
                    }));
                }
                if line.split_whitespace().count() > 1
                    || line.starts_with(char::is_whitespace) && !line.trim().is_empty()
                {
                    return out;
                }
            }
            out.extend(keywords(LOOP));
            out.extend(
                l.nodes
                    .iter()
                    .map(|n| item(&n.id, CompletionItemKind::FIELD, &n.kind)),
            );
            if line.trim_start().starts_with("nodes") {
                out.extend(
                    m.stages
                        .keys()
                        .map(|k| item(k, CompletionItemKind::CLASS, "stage kind")),
                );
            }
        }
        "threshold" | "resume" => {
            out.extend(keywords(if innermost == "threshold" {
                THRESHOLD
            } else {
                RESUME
            }));
            if let Some(l) = current_loop {
                out.extend(
                    l.nodes
                        .iter()
                        .map(|n| item(&n.id, CompletionItemKind::FIELD, &n.kind)),
                );
                let mut outcomes: Vec<&str> = l
                    .nodes
                    .iter()
                    .filter_map(|n| m.stages.get(&n.kind))
                    .flat_map(|s| s.outcomes.iter().map(|o| o.marker.as_str()))
                    .collect();
                outcomes.sort_unstable();
                outcomes.dedup();
                out.extend(
                    outcomes
                        .iter()
                        .map(|o| item(o, CompletionItemKind::ENUM_MEMBER, "outcome")),
                );
            }
            if innermost == "threshold" {
                out.extend(counters(m));
            }
        }
        "mode" | "loops" | "thresholds" | "stages" => {
            out.extend(keywords(MODE));
            out.extend(
                m.loops
                    .keys()
                    .map(|k| item(k, CompletionItemKind::MODULE, "loop")),
            );
            out.extend(counters(m));
            out.extend(
                m.stages
                    .keys()
                    .map(|k| item(k, CompletionItemKind::CLASS, "stage kind")),
            );
        }
        _ => {
            if let Some(l) = current_loop {
                out.extend(
                    l.nodes
                        .iter()
                        .map(|n| item(&n.id, CompletionItemKind::FIELD, &n.kind)),
                );
            }
        }
    }
    out
}
