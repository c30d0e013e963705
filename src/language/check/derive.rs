//! Loop extension: `loop <id> on <plane> extends <base> { ... }` is the
//! base's declarations with the derived loop's on top. A node, entry,
//! terminal, threshold or resume policy of the same name replaces the base's;
//! a route for a (node, outcome) the base routes replaces that route;
//! `remove route|node|threshold|resume` deletes from the base. The merged
//! declaration is then checked like any loop, and each diagnostic about it
//! points at the derived loop's line that made the change, with the base line
//! it changes as a secondary label.

use super::*;
use crate::language::ast::{LoopDecl, RemoveWhat};
use crate::language::diagnostic::Label;

/// A merged loop declaration and where each change came from.
pub(super) struct Merged {
    pub decl: LoopDecl,
    /// (derived item span, base item span it replaces or removes).
    pub changes: Vec<(Span, Span)>,
}

fn bad(span: Span, message: String, label: &str, help: &str) -> Diagnostic {
    Diagnostic::error(Code::BadExtension, span, message)
        .label(label)
        .help(help)
}

/// Apply `d` on top of `base` (already merged, if it extends another).
pub(super) fn merge(base: &LoopDecl, d: &LoopDecl, diags: &mut Vec<Diagnostic>) -> Merged {
    let mut m = base.clone();
    let mut changes = Vec::new();
    m.name = d.name.clone();
    m.span = d.span;
    m.extends = None;
    m.removals = Vec::new();
    m.defaults = base.defaults.clone();
    if d.plane.text != base.plane.text {
        diags.push(
            Diagnostic::error(
                Code::PlaneMismatch,
                d.plane.span,
                format!(
                    "loop `{}` runs on {}, but the loop it extends runs on {}",
                    d.name.text, d.plane.text, base.plane.text
                ),
            )
            .label("another plane than the base")
            .with(base.plane.span, "the base's plane")
            .help(format!(
                "a loop extends only a loop of its own plane: write `on {}`",
                base.plane.text
            )),
        );
    }
    let base_name = &base.name.text;
    for r in &d.removals {
        match &r.what {
            RemoveWhat::Route(node, outcomes) => {
                for o in outcomes {
                    let mut hit = None;
                    for arm in m.routes.iter_mut().filter(|a| a.from.text == node.text) {
                        if arm.outcomes.iter().any(|x| x.text == o.text) {
                            arm.outcomes.retain(|x| x.text != o.text);
                            hit = Some(arm.span);
                        }
                    }
                    m.routes.retain(|a| !a.outcomes.is_empty());
                    match hit {
                        Some(s) => changes.push((r.span, s)),
                        None => diags.push(bad(
                            o.span,
                            format!(
                                "loop `{base_name}` has no route `{} {}` to remove",
                                node.text, o.text
                            ),
                            "no such route in the base",
                            "remove only routes the base declares; check the node and the outcome",
                        )),
                    }
                }
            }
            RemoveWhat::Node(n) => match m.nodes.iter().position(|x| x.id.text == n.text) {
                Some(i) => {
                    changes.push((r.span, m.nodes[i].id.span));
                    m.nodes.remove(i);
                    m.routes.retain(|a| a.from.text != n.text);
                }
                None => diags.push(bad(
                    n.span,
                    format!("loop `{base_name}` has no node `{}` to remove", n.text),
                    "no such node in the base",
                    "remove only nodes the base declares",
                )),
            },
            RemoveWhat::Threshold(id) => {
                match m.thresholds.iter().position(|x| x.id.text == id.text) {
                    Some(i) => {
                        changes.push((r.span, m.thresholds[i].span));
                        m.thresholds.remove(i);
                    }
                    None => diags.push(bad(
                        id.span,
                        format!(
                            "loop `{base_name}` has no threshold `{}` to remove",
                            id.text
                        ),
                        "no such threshold in the base",
                        "remove only thresholds the base declares, by id",
                    )),
                }
            }
            RemoveWhat::Resume(id) => match m.resumes.iter().position(|x| x.id.text == id.text) {
                Some(i) => {
                    changes.push((r.span, m.resumes[i].span));
                    m.resumes.remove(i);
                }
                None => diags.push(bad(
                    id.span,
                    format!(
                        "loop `{base_name}` has no resume policy `{}` to remove",
                        id.text
                    ),
                    "no such resume policy in the base",
                    "remove only resume policies the base declares, by id",
                )),
            },
        }
    }
    for n in &d.nodes {
        match m.nodes.iter_mut().find(|x| x.id.text == n.id.text) {
            Some(old) => {
                changes.push((n.id.span, old.id.span));
                *old = n.clone();
            }
            None => m.nodes.push(n.clone()),
        }
    }
    for e in &d.entries {
        match m.entries.iter_mut().find(|x| x.key.text == e.key.text) {
            Some(old) => {
                changes.push((e.span, old.span));
                *old = e.clone();
            }
            None => m.entries.push(e.clone()),
        }
    }
    // A derived route replaces the base's route for the same (node, outcome).
    for arm in &d.routes {
        for o in &arm.outcomes {
            for b in m.routes.iter_mut().filter(|b| b.from.text == arm.from.text) {
                if b.outcomes.iter().any(|x| x.text == o.text) {
                    b.outcomes.retain(|x| x.text != o.text);
                    changes.push((arm.span, b.span));
                }
            }
        }
    }
    m.routes.retain(|a| !a.outcomes.is_empty());
    m.routes.extend(d.routes.iter().cloned());
    for t in &d.terminals {
        match m.terminals.iter_mut().find(|x| x.id.text == t.id.text) {
            Some(old) => {
                changes.push((t.span, old.span));
                *old = t.clone();
            }
            None => m.terminals.push(t.clone()),
        }
    }
    for t in &d.thresholds {
        match m.thresholds.iter_mut().find(|x| x.id.text == t.id.text) {
            Some(old) => {
                changes.push((t.span, old.span));
                *old = t.clone();
            }
            None => m.thresholds.push(t.clone()),
        }
    }
    for r in &d.resumes {
        match m.resumes.iter_mut().find(|x| x.id.text == r.id.text) {
            Some(old) => {
                changes.push((r.span, old.span));
                *old = r.clone();
            }
            None => m.resumes.push(r.clone()),
        }
    }
    for dr in &d.defaults {
        for o in &dr.outcomes {
            for b in m.defaults.iter_mut() {
                if b.outcomes.iter().any(|x| x.text == o.text) {
                    b.outcomes.retain(|x| x.text != o.text);
                    changes.push((dr.span, b.span));
                }
            }
        }
    }
    m.defaults.retain(|x| !x.outcomes.is_empty());
    m.defaults.extend(d.defaults.iter().cloned());
    if !d.completions.is_empty() {
        if let Some(old) = m.completions.first() {
            changes.push((d.completions[0].span, old.span));
        }
        m.completions = d.completions.clone();
    }
    Merged { decl: m, changes }
}

fn within(outer: Span, inner: Span) -> bool {
    outer.file == inner.file && outer.start <= inner.start && inner.end <= outer.end
}

/// Re-point the diagnostics raised while checking a derived loop: one on a
/// changed line gains the base line it changes; one on an unchanged base line
/// moves to the derived loop's name, keeping the base line as a label.
pub(super) fn attribute(
    diags: &mut [Diagnostic],
    derived: &LoopDecl,
    base_name: &str,
    changes: &[(Span, Span)],
) {
    for d in diags {
        if within(derived.span, d.primary.span) {
            if let Some((_, base)) = changes.iter().find(|(c, _)| within(*c, d.primary.span)) {
                if !d.secondary.iter().any(|l| l.span == *base) {
                    d.secondary.push(Label {
                        span: *base,
                        message: format!("changes this line of `{base_name}`"),
                    });
                }
            }
        } else {
            let original = std::mem::replace(
                &mut d.primary,
                Label {
                    span: derived.name.span,
                    message: format!(
                        "in loop `{}`, which extends `{base_name}`",
                        derived.name.text
                    ),
                },
            );
            let message = if original.message.is_empty() {
                "here in the base loop".to_string()
            } else {
                format!("in the base: {}", original.message)
            };
            d.secondary.insert(
                0,
                Label {
                    span: original.span,
                    message,
                },
            );
        }
    }
}
