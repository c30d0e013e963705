//! Hover: what the name under the cursor means. A stage kind shows its
//! outcomes and their result classes; a loop its worst-case bound per entry;
//! a threshold (by id or counter) what it counts and where it sends work
//! once exhausted; a node its stage kind; a mode its loops.

use super::analysis::Analysis;
use super::documents;
use crate::language::bounds::Graph;
use crate::language::model::{Loop, Model, StageKind, Target, Threshold};
use std::collections::BTreeMap;

fn target(t: &Target) -> String {
    match t {
        Target::Node(n) => n.clone(),
        Target::Terminal(t) => format!("terminal {t}"),
    }
}

fn stage_text(s: &StageKind) -> String {
    let mut out = format!(
        "**stage kind `{}`** (plane {})\n\noutcomes:\n",
        s.id, s.plane
    );
    for o in &s.outcomes {
        out.push_str(&format!("- `{}`: {}\n", o.marker, o.classes.join(", ")));
    }
    out
}

fn loop_text(m: &Model, l: &Loop) -> String {
    let mut out = format!(
        "**loop `{}`** on {} ({} nodes)\n\n",
        l.id,
        l.plane,
        l.nodes.len()
    );
    match Graph::new(l, &m.stages, &BTreeMap::new()).worst_case() {
        Some(b) => {
            let per: Vec<String> = b
                .per_entry
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect();
            out.push_str(&format!(
                "worst case: at most {} stage runs per work item ({}){}",
                b.max_stage_runs,
                per.join(", "),
                if b.exact { "" } else { ", an upper estimate" }
            ));
        }
        None => out.push_str("worst case: none proven (the loop has an unbounded cycle or errors)"),
    }
    out
}

fn threshold_text(t: &Threshold) -> String {
    format!(
        "**threshold `{}`**\n\ncounter `{}` counts `{}` from {} for each work item (never reset while the item is in the loop). The first {} times the outcome takes its own route; after that it goes to {}.",
        t.id,
        t.counter,
        t.outcome,
        t.sources.join(", "),
        t.after,
        target(&t.exhausted)
    )
}

/// The Markdown for the word at `offset`, if it names something.
pub fn hover(a: &Analysis, offset: usize) -> Option<String> {
    let text = a.text();
    let (_, word) = documents::word_at(text, offset)?;
    let m = &a.checked.model;
    if let Some(s) = m.stages.get(word) {
        return Some(stage_text(s));
    }
    if let Some(l) = m.loops.get(word) {
        return Some(loop_text(m, l));
    }
    if let Some(mode) = m.modes.get(word) {
        let loops: Vec<String> = mode
            .loops
            .iter()
            .map(|(p, l)| format!("{p}: `{l}`"))
            .collect();
        return Some(format!(
            "**mode `{}`**{}\n\nloops: {}",
            mode.id,
            if mode.extends.is_empty() {
                String::new()
            } else {
                format!(" extends {}", mode.extends.join(", "))
            },
            loops.join(", ")
        ));
    }
    let block = documents::enclosing(text, offset);
    let current = block
        .iter()
        .find(|b| b.first().map(String::as_str) == Some("loop"))
        .and_then(|b| b.get(1))
        .and_then(|id| m.loops.get(id));
    let loops: Vec<&Loop> = current.into_iter().chain(m.loops.values()).collect();
    for l in &loops {
        if let Some(t) = l
            .thresholds
            .iter()
            .find(|t| t.id == word || t.counter == word)
        {
            return Some(threshold_text(t));
        }
    }
    if let Some(l) = current {
        if let Some(n) = l.node(word) {
            let s = m.stages.get(&n.kind)?;
            return Some(format!(
                "**node `{}`** of loop `{}`\n\n{}",
                n.id,
                l.id,
                stage_text(s)
            ));
        }
        if let Some(t) = l.terminal(word) {
            return Some(format!(
                "**terminal `{}`**: class {}, writes status {}, emits {}",
                t.id,
                t.class,
                t.status,
                t.emits.join(", ")
            ));
        }
    }
    if word.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
        let kinds: Vec<String> = m
            .stages
            .values()
            .filter_map(|s| {
                s.outcome(word)
                    .map(|o| format!("- `{}`: {}", s.id, o.classes.join(", ")))
            })
            .collect();
        if !kinds.is_empty() {
            return Some(format!(
                "**outcome `{word}`**, returned by:\n{}",
                kinds.join("\n")
            ));
        }
    }
    None
}
