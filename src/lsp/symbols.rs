//! Document symbols: the stage kinds, loops (with their nodes, terminals,
//! thresholds and resume policies), modes and aliases a file declares.

use super::analysis::Analysis;
use super::documents;
use crate::language::source::Span;
use lsp_types::{DocumentSymbol, SymbolKind};

#[allow(deprecated)] // `deprecated` is a required field of the struct.
fn symbol(
    a: &Analysis,
    name: &str,
    detail: &str,
    kind: SymbolKind,
    span: Span,
    children: Vec<DocumentSymbol>,
) -> DocumentSymbol {
    let range = documents::range_of(a.text(), span.start, span.end);
    DocumentSymbol {
        name: name.to_string(),
        detail: (!detail.is_empty()).then(|| detail.to_string()),
        kind,
        tags: None,
        deprecated: None,
        range,
        selection_range: range,
        children: (!children.is_empty()).then_some(children),
    }
}

pub fn symbols(a: &Analysis) -> Vec<DocumentSymbol> {
    let m = &a.checked.model;
    let here = |s: &Span| s.file == a.file;
    let mut out: Vec<(usize, DocumentSymbol)> = Vec::new();
    for s in m.stages.values().filter(|s| here(&s.span)) {
        out.push((
            s.span.start,
            symbol(
                a,
                &s.id,
                &format!("stage kind, {}", s.plane),
                SymbolKind::CLASS,
                s.span,
                vec![],
            ),
        ));
    }
    for l in m.loops.values().filter(|l| here(&l.span)) {
        let mut children = Vec::new();
        for n in l.nodes.iter().filter(|n| here(&n.span)) {
            children.push(symbol(a, &n.id, &n.kind, SymbolKind::FIELD, n.span, vec![]));
        }
        for t in l.terminals.iter().filter(|t| here(&t.span)) {
            children.push(symbol(
                a,
                &t.id,
                &t.class,
                SymbolKind::ENUM_MEMBER,
                t.span,
                vec![],
            ));
        }
        for t in l.thresholds.iter().filter(|t| here(&t.span)) {
            children.push(symbol(
                a,
                &t.id,
                &format!("counter {}", t.counter),
                SymbolKind::EVENT,
                t.span,
                vec![],
            ));
        }
        for r in l.resumes.iter().filter(|r| here(&r.span)) {
            children.push(symbol(
                a,
                &r.id,
                "resume",
                SymbolKind::EVENT,
                r.span,
                vec![],
            ));
        }
        out.push((
            l.span.start,
            symbol(
                a,
                &l.id,
                &format!("loop on {}", l.plane),
                SymbolKind::NAMESPACE,
                l.span,
                children,
            ),
        ));
    }
    for mode in m.modes.values().filter(|x| here(&x.span)) {
        out.push((
            mode.span.start,
            symbol(a, &mode.id, "mode", SymbolKind::MODULE, mode.span, vec![]),
        ));
    }
    for (id, alias) in m.aliases.iter().filter(|(_, x)| here(&x.span)) {
        out.push((
            alias.span.start,
            symbol(a, id, "alias", SymbolKind::CONSTANT, alias.span, vec![]),
        ));
    }
    out.sort_by_key(|(s, _)| *s);
    out.into_iter().map(|(_, s)| s).collect()
}
