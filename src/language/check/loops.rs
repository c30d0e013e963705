//! Loop checks: nodes and their stage kinds (plane agreement), entries,
//! routes (legal outcomes, one route per (node, outcome), every legal outcome
//! routed, terminal classes), terminal states, thresholds, resume policies,
//! completion behaviour, reachability, and the bounded-cycle proof.

use super::*;
use crate::language::bounds;

pub(super) fn check_all(cx: &mut Cx<'_>) {
    let decls: Vec<(FileId, &ast::LoopDecl)> =
        cx.loop_decls.values().map(|d| (d.file, d.decl)).collect();
    // Loops that extend none first; then each extending loop once its base
    // is done, with the merged declaration of every checked loop kept for
    // loops that extend it in turn.
    let mut merged: BTreeMap<String, ast::LoopDecl> = BTreeMap::new();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut pending: Vec<(FileId, &ast::LoopDecl)> = Vec::new();
    for (file, decl) in decls {
        if decl.extends.is_some() {
            pending.push((file, decl));
            continue;
        }
        for r in &decl.removals {
            cx.diags.push(
                Diagnostic::error(
                    Code::BadExtension,
                    r.span,
                    format!("loop `{}` extends no loop, so it has nothing to remove", decl.name.text),
                )
                .label("`remove` without `extends`")
                .help("delete the line, or derive the loop from another: `loop <id> on <plane> extends <base> { ... }`"),
            );
        }
        check_one(cx, file, decl);
        merged.insert(decl.name.text.clone(), decl.clone());
        done.insert(decl.name.text.clone());
    }
    loop {
        let before = pending.len();
        let mut waiting = Vec::new();
        for (file, decl) in pending {
            let base = decl.extends.as_ref().expect("pending loops extend one");
            if !done.contains(&base.text) {
                if cx.loop_decls.contains_key(&base.text) {
                    waiting.push((file, decl));
                } else {
                    let candidates: Vec<&String> = cx.loop_decls.keys().collect();
                    cx.diags.push(unknown(
                        Code::UnknownLoop,
                        "loop",
                        base,
                        &candidates,
                        "extend a declared loop, importing its file",
                    ));
                    done.insert(decl.name.text.clone());
                }
                continue;
            }
            done.insert(decl.name.text.clone());
            let base_file = cx.loop_decls[&base.text].file;
            if let Some(hint) = cx.import_hint(file, base_file) {
                cx.diags.push(
                    Diagnostic::error(
                        Code::UnknownLoop,
                        base.span,
                        format!("unknown loop `{}`", base.text),
                    )
                    .label("not visible here")
                    .help(hint),
                );
                continue;
            }
            // A base that failed its own checks was reported there.
            let Some(base_decl) = merged
                .get(&base.text)
                .filter(|_| cx.model.loops.contains_key(&base.text))
            else {
                continue;
            };
            let m = derive::merge(base_decl, decl, &mut cx.diags);
            let start = cx.diags.len();
            check_one(cx, file, &m.decl);
            let end = cx.diags.len();
            derive::attribute(&mut cx.diags[start..end], decl, &base.text, &m.changes);
            merged.insert(decl.name.text.clone(), m.decl);
        }
        pending = waiting;
        if pending.is_empty() {
            break;
        }
        if pending.len() == before {
            // What is left extends itself, directly or in a circle.
            for (_, decl) in pending {
                let base = decl.extends.as_ref().expect("pending loops extend one");
                cx.diags.push(
                    Diagnostic::error(
                        Code::InheritanceCycle,
                        base.span,
                        format!("loop `{}` extends `{}`, which leads back to it", decl.name.text, base.text),
                    )
                    .label("extension cycle")
                    .help("a loop may extend another only if that one does not (directly or through others) extend it"),
                );
            }
            break;
        }
    }
}

/// Check one loop declaration and, when sound, its graph; record it in the model.
fn check_one(cx: &mut Cx<'_>, file: FileId, decl: &ast::LoopDecl) {
    let expanded;
    let decl = if decl.defaults.is_empty() {
        decl
    } else {
        expanded = expand_defaults(cx, decl);
        &expanded
    };
    let errors_before = cx.diags.iter().filter(|d| d.is_error()).count();
    let l = check_loop(cx, file, decl);
    let errors_after = cx.diags.iter().filter(|d| d.is_error()).count();
    if errors_after == errors_before {
        // Only a structurally sound loop gets graph checks.
        graph_checks(cx, &l);
        if cx.diags.iter().filter(|d| d.is_error()).count() == errors_after {
            cx.loop_file.insert(l.id.clone(), file);
            cx.model.loops.insert(l.id.clone(), l);
        }
    }
}

/// Turn each `default OUTCOME -> target` into a route for every node whose
/// stage kind can return the outcome and that has no route of its own for it
/// (spans on the `default` line). Every (node, outcome) is then routed
/// explicitly, so the checks below prove the same things as for written routes.
fn expand_defaults(cx: &mut Cx<'_>, decl: &ast::LoopDecl) -> ast::LoopDecl {
    let mut out = decl.clone();
    let routed: BTreeSet<(&str, &str)> = decl
        .routes
        .iter()
        .flat_map(|a| {
            a.outcomes
                .iter()
                .map(|o| (a.from.text.as_str(), o.text.as_str()))
        })
        .collect();
    for d in &decl.defaults {
        for o in &d.outcomes {
            let anyone = decl.nodes.iter().any(|n| {
                cx.model
                    .stages
                    .get(&n.kind().text)
                    .is_some_and(|k| k.outcome(&o.text).is_some())
            });
            if !anyone {
                cx.diags.push(
                    Diagnostic::error(
                        Code::UnknownOutcome,
                        o.span,
                        format!(
                            "no node of loop `{}` can return `{}`",
                            decl.name.text, o.text
                        ),
                    )
                    .label("this default routes nothing")
                    .help("name an outcome some node's stage kind declares, or remove the line"),
                );
            }
        }
        for n in &decl.nodes {
            let Some(kind) = cx.model.stages.get(&n.kind().text) else {
                continue;
            };
            let outcomes: Vec<ast::Word> = d
                .outcomes
                .iter()
                .filter(|o| kind.outcome(&o.text).is_some())
                .filter(|o| !routed.contains(&(n.id.text.as_str(), o.text.as_str())))
                .cloned()
                .collect();
            if outcomes.is_empty() {
                continue;
            }
            out.routes.push(ast::RouteArm {
                from: ast::Word {
                    text: n.id.text.clone(),
                    span: d.span,
                },
                outcomes,
                target: d.target.clone(),
                span: d.span,
            });
        }
    }
    out
}

/// Resolve a target word (node or terminal), reporting unknown names.
fn target(
    diags: &mut Vec<Diagnostic>,
    t: &ast::Target,
    nodes: &BTreeMap<String, Node>,
    declared: &BTreeSet<&str>,
    terminals: &BTreeMap<String, Terminal>,
    loop_id: &str,
) -> Option<Target> {
    match t {
        ast::Target::Node(w) => {
            if nodes.contains_key(&w.text) {
                Some(Target::Node(w.text.clone()))
            } else if declared.contains(w.text.as_str()) {
                // Declared, but its stage kind failed: already reported once there.
                None
            } else {
                let mut d = unknown(
                    Code::UnknownNode,
                    "node",
                    w,
                    &nodes.keys().collect::<Vec<_>>(),
                    "",
                );
                if terminals.contains_key(&w.text) {
                    d = d.help(format!(
                        "`{}` is a terminal state: write `terminal {}`",
                        w.text, w.text
                    ));
                } else if d.help.is_empty() {
                    d = d.help(format!("add it to the `nodes` line of loop `{loop_id}`"));
                }
                diags.push(d);
                None
            }
        }
        ast::Target::Terminal(w) => {
            if terminals.contains_key(&w.text) {
                Some(Target::Terminal(w.text.clone()))
            } else {
                let mut d = unknown(
                    Code::UnknownTerminal,
                    "terminal state",
                    w,
                    &terminals.keys().collect::<Vec<_>>(),
                    "",
                );
                if d.help.is_empty() || !d.help.starts_with("did you") {
                    d = d.help(format!(
                        "declare it in loop `{loop_id}`: `terminal {} <class> status <MARKER>`",
                        w.text
                    ));
                }
                diags.push(d);
                None
            }
        }
    }
}

/// Is `marker` a legal outcome of the node's stage kind? Reports `mill::unknown-outcome`.
fn legal(
    diags: &mut Vec<Diagnostic>,
    stages: &BTreeMap<String, StageKind>,
    node: &Node,
    marker: &ast::Word,
) -> bool {
    let Some(kind) = stages.get(&node.kind) else {
        return false;
    };
    if kind.outcome(&marker.text).is_some() {
        return true;
    }
    let markers = kind.markers();
    let help = match suggest(&marker.text, markers.iter().copied()) {
        Some(s) => format!(
            "did you mean `{s}`? `{}` can return: {}",
            kind.id,
            markers.join(", ")
        ),
        None => format!(
            "stage kind `{}` can return: {}",
            kind.id,
            markers.join(", ")
        ),
    };
    diags.push(
        Diagnostic::error(
            Code::UnknownOutcome,
            marker.span,
            format!(
                "node `{}` (stage kind `{}`) cannot return `{}`",
                node.id, kind.id, marker.text
            ),
        )
        .label("not an outcome of this stage kind")
        .with(kind.span, "stage kind declared here")
        .help(help),
    );
    false
}

fn check_loop(cx: &mut Cx<'_>, file: FileId, decl: &ast::LoopDecl) -> Loop {
    let id = decl.name.text.clone();
    let plane_ok = check_word(
        &mut cx.diags,
        Code::UnknownPlane,
        "plane",
        &decl.plane,
        PLANES,
    );

    // Nodes.
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    let mut node_order = Vec::new();
    if decl.nodes.is_empty() {
        cx.diags.push(
            Diagnostic::error(Code::MissingField, decl.name.span, format!("loop `{id}` declares no nodes"))
                .label("no `nodes` line")
                .help("list the loop's nodes: `nodes builder, checker, ...` (a node may name its stage kind: `fix2: fixer`)"),
        );
    }
    for spec in &decl.nodes {
        if let Some(prev) = nodes.get(&spec.id.text) {
            let d = duplicate("node", &spec.id, prev.span);
            cx.diags.push(d);
            continue;
        }
        let kind_word = spec.kind();
        let Some(kind) = cx.stage(kind_word, file).cloned() else {
            continue;
        };
        if plane_ok && kind.plane != decl.plane.text {
            cx.diags.push(
                Diagnostic::error(
                    Code::PlaneMismatch,
                    kind_word.span,
                    format!(
                        "stage kind `{}` belongs to the {} plane, but loop `{id}` runs on {}",
                        kind.id, kind.plane, decl.plane.text
                    ),
                )
                .label(format!("a {} stage", kind.plane))
                .with(decl.plane.span, "loop plane declared here")
                .with(kind.span, "stage kind declared here")
                .help(format!(
                    "use a stage kind of the {} plane, or move the node to a {} loop",
                    decl.plane.text, kind.plane
                )),
            );
            continue;
        }
        node_order.push(spec.id.text.clone());
        nodes.insert(
            spec.id.text.clone(),
            Node {
                id: spec.id.text.clone(),
                kind: kind.id.clone(),
                span: spec.id.span,
            },
        );
    }
    let declared_nodes: BTreeSet<&str> = decl.nodes.iter().map(|n| n.id.text.as_str()).collect();

    // Terminals (before routes, which refer to them).
    let mut terminals: BTreeMap<String, Terminal> = BTreeMap::new();
    let mut terminal_order = Vec::new();
    for t in &decl.terminals {
        if let Some(prev) = terminals.get(&t.id.text) {
            let d = duplicate("terminal state", &t.id, prev.span);
            cx.diags.push(d);
            continue;
        }
        if !check_word(
            &mut cx.diags,
            Code::UnknownResultClass,
            "result class",
            &t.class,
            RESULT_CLASSES,
        ) {
            continue;
        }
        terminal_order.push(t.id.text.clone());
        terminals.insert(
            t.id.text.clone(),
            Terminal {
                id: t.id.text.clone(),
                class: t.class.text.clone(),
                status: t
                    .status
                    .as_ref()
                    .map(|s| s.text.clone())
                    .unwrap_or_else(|| t.id.text.to_uppercase()),
                emits: if t.emits.is_empty() {
                    vec!["stage_result".to_string()]
                } else {
                    t.emits.iter().map(|w| w.text.clone()).collect()
                },
                span: t.id.span,
            },
        );
    }

    // Looks up a node word, reporting it unless it was declared but failed its own checks.
    let node_ref = |diags: &mut Vec<Diagnostic>, w: &ast::Word| -> Option<Node> {
        if let Some(n) = nodes.get(&w.text) {
            return Some(n.clone());
        }
        if !declared_nodes.contains(w.text.as_str()) {
            let candidates: Vec<&String> = nodes.keys().collect();
            let mut d = unknown(Code::UnknownNode, "node", w, &candidates, "");
            if !d.help.starts_with("did you") {
                d = d.help(format!(
                    "add `{}` to the `nodes` line of loop `{id}`",
                    w.text
                ));
            }
            diags.push(d);
        }
        None
    };

    // Entries.
    let mut entries = Vec::new();
    let mut seen_entries: BTreeMap<&str, Span> = BTreeMap::new();
    for e in &decl.entries {
        if let Some(prev) = seen_entries.get(e.key.text.as_str()) {
            cx.diags.push(duplicate("entry", &e.key, *prev));
            continue;
        }
        seen_entries.insert(&e.key.text, e.key.span);
        let keys: Vec<&str> = ENTRY_KEYS.iter().map(|(k, _)| *k).collect();
        if !check_word(
            &mut cx.diags,
            Code::UnknownEntry,
            "entry key",
            &e.key,
            &keys,
        ) {
            continue;
        }
        let entry_plane = ENTRY_KEYS
            .iter()
            .find(|(k, _)| *k == e.key.text)
            .map(|(_, p)| *p)
            .unwrap_or("");
        if plane_ok && entry_plane != decl.plane.text {
            cx.diags.push(
                Diagnostic::error(
                    Code::PlaneMismatch,
                    e.key.span,
                    format!(
                        "`{}` work enters the {entry_plane} plane, not {}",
                        e.key.text, decl.plane.text
                    ),
                )
                .label("entry of another plane")
                .with(decl.plane.span, "loop plane declared here")
                .help(format!(
                    "entries of a {} loop: {}",
                    decl.plane.text,
                    ENTRY_KEYS
                        .iter()
                        .filter(|(_, p)| *p == decl.plane.text)
                        .map(|(k, _)| *k)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
            continue;
        }
        if let Some(n) = node_ref(&mut cx.diags, &e.node) {
            entries.push(Entry {
                key: e.key.text.clone(),
                node: n.id,
                span: e.span,
            });
        }
    }
    if decl.entries.is_empty() {
        cx.diags.push(
            Diagnostic::error(
                Code::MissingLoop,
                decl.name.span,
                format!("loop `{id}` has no entry"),
            )
            .label("no `entry` line")
            .help("say where work starts, e.g. `entry task -> builder`"),
        );
    }

    // Routes.
    let mut routes: Vec<Route> = Vec::new();
    // (node, outcome) pairs someone wrote a route for, even if it failed to check:
    // those are not reported again as unrouted.
    let mut attempted: BTreeSet<(String, String)> = BTreeSet::new();
    // The span of each (node, outcome) route already accepted.
    let mut routed: BTreeMap<(String, String), Span> = BTreeMap::new();
    for arm in &decl.routes {
        for o in &arm.outcomes {
            attempted.insert((arm.from.text.clone(), o.text.clone()));
        }
        let from = node_ref(&mut cx.diags, &arm.from);
        let to = target(
            &mut cx.diags,
            &arm.target,
            &nodes,
            &declared_nodes,
            &terminals,
            &id,
        );
        for o in &arm.outcomes {
            let Some(from) = &from else { continue };
            if !legal(&mut cx.diags, &cx.model.stages, from, o) {
                continue;
            }
            if let Some(prev) = routed.get(&(from.id.clone(), o.text.clone())) {
                cx.diags.push(
                    Diagnostic::error(
                        Code::DuplicateRoute,
                        o.span,
                        format!("`{} {}` is routed twice", from.id, o.text),
                    )
                    .label("second route")
                    .with(*prev, "first route here")
                    .help("a (node, outcome) pair has exactly one route; remove one, or use a threshold to change the target after repeated outcomes"),
                );
                continue;
            }
            let Some(to) = &to else { continue };
            if let Target::Terminal(t) = to {
                let term = &terminals[t];
                let kind = &cx.model.stages[&from.kind];
                let outcome = kind.outcome(&o.text).expect("checked legal");
                if !outcome.classes.contains(&term.class) {
                    cx.diags.push(
                        Diagnostic::error(
                            Code::ResultClassMismatch,
                            arm.target.word().span,
                            format!(
                                "terminal `{t}` has class `{}`, which outcome `{}` does not allow",
                                term.class, o.text
                            ),
                        )
                        .label(format!("a `{}` terminal", term.class))
                        .with(o.span, format!("`{}` allows: {}", o.text, outcome.classes.join(", ")))
                        .with(term.span, "terminal declared here")
                        .help(format!("route `{}` to a terminal whose class is one of {}, or change the terminal's class", o.text, outcome.classes.join(", "))),
                    );
                    continue;
                }
            }
            routed.insert((from.id.clone(), o.text.clone()), arm.span);
            routes.push(Route {
                from: from.id.clone(),
                outcome: o.text.clone(),
                target: to.clone(),
                span: arm.span,
            });
        }
    }

    // Thresholds.
    let mut thresholds: Vec<Threshold> = Vec::new();
    for t in &decl.thresholds {
        if let Some(prev) = thresholds.iter().find(|p| p.id == t.id.text) {
            cx.diags.push(duplicate("threshold", &t.id, prev.span));
            continue;
        }
        if let Some(prev) = thresholds.iter().find(|p| p.counter == t.counter.text) {
            cx.diags.push(
                Diagnostic::error(
                    Code::DuplicateDeclaration,
                    t.counter.span,
                    format!("counter `{}` is used by two thresholds", t.counter.text),
                )
                .label("second use")
                .with(prev.span, "first threshold with this counter")
                .help("give each threshold its own counter name"),
            );
            continue;
        }
        let mut ok = true;
        if t.after == 0 || t.after > 1000 {
            cx.diags.push(
                Diagnostic::error(Code::InvalidValue, t.after_span, format!("threshold `after {}` is out of range", t.after))
                    .label("must be between 1 and 1000")
                    .help("`after N` lets the normal route run N times before the exhausted target takes over; use at least 1"),
            );
            ok = false;
        }
        let mut sources = Vec::new();
        for s in &t.sources {
            let Some(n) = node_ref(&mut cx.diags, s) else {
                ok = false;
                continue;
            };
            if !legal(&mut cx.diags, &cx.model.stages, &n, &t.outcome) {
                ok = false;
                continue;
            }
            if routes
                .iter()
                .all(|r| !(r.from == n.id && r.outcome == t.outcome.text))
            {
                cx.diags.push(
                    Diagnostic::error(Code::UnroutedOutcome, s.span, format!("threshold counts `{} {}`, which has no route", n.id, t.outcome.text))
                        .label("no normal route to count")
                        .help(format!("add a route `{} {} -> <target>`: the threshold only replaces it once exhausted", n.id, t.outcome.text)),
                );
                ok = false;
                continue;
            }
            if let Some(prev) = thresholds
                .iter()
                .find(|p| p.outcome == t.outcome.text && p.sources.contains(&n.id))
            {
                cx.diags.push(
                    Diagnostic::error(
                        Code::DuplicateRoute,
                        s.span,
                        format!("`{} {}` is counted by two thresholds", n.id, t.outcome.text),
                    )
                    .label("second threshold")
                    .with(prev.span, "first threshold here")
                    .help("one threshold per (node, outcome): merge them or remove this source"),
                );
                ok = false;
                continue;
            }
            sources.push(n.id.clone());
        }
        let exhausted = target(
            &mut cx.diags,
            &t.target,
            &nodes,
            &declared_nodes,
            &terminals,
            &id,
        );
        if let (true, Some(exhausted)) = (ok, exhausted) {
            thresholds.push(Threshold {
                id: t.id.text.clone(),
                counter: t.counter.text.clone(),
                outcome: t.outcome.text.clone(),
                sources,
                after: t.after,
                exhausted,
                span: t.id.span,
            });
        }
    }

    // Resume policies.
    let mut resumes: Vec<Resume> = Vec::new();
    for r in &decl.resumes {
        if let Some(prev) = resumes.iter().find(|p| p.id == r.id.text) {
            cx.diags.push(duplicate("resume policy", &r.id, prev.span));
            continue;
        }
        let Some(from) = node_ref(&mut cx.diags, &r.from) else {
            continue;
        };
        if !legal(&mut cx.diags, &cx.model.stages, &from, &r.outcome) {
            continue;
        }
        if let Some(prev) = resumes
            .iter()
            .find(|p| p.from == from.id && p.outcome == r.outcome.text)
        {
            cx.diags.push(
                Diagnostic::error(
                    Code::DuplicateRoute,
                    r.id.span,
                    format!("`{} {}` has two resume policies", from.id, r.outcome.text),
                )
                .label("second policy")
                .with(prev.span, "first policy here")
                .help("keep one resume policy per (node, outcome)"),
            );
            continue;
        }
        let Some(route) = routes
            .iter()
            .find(|x| x.from == from.id && x.outcome == r.outcome.text)
        else {
            cx.diags.push(
                Diagnostic::error(Code::UnroutedOutcome, r.outcome.span, format!("resume policy for `{} {}`, which has no route", from.id, r.outcome.text))
                    .label("no default route")
                    .help(format!("add `{} {} -> <default node>`: the route is where work resumes when the result names no stage", from.id, r.outcome.text)),
            );
            continue;
        };
        let Target::Node(route_target) = &route.target else {
            cx.diags.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    r.outcome.span,
                    format!(
                        "`{} {}` ends the loop, so it cannot resume anywhere",
                        from.id, r.outcome.text
                    ),
                )
                .label("routed to a terminal")
                .with(route.span, "route here")
                .help("resume policies apply to routes that continue to a node"),
            );
            continue;
        };
        let mut ok = true;
        if let Some(d) = &r.default {
            if node_ref(&mut cx.diags, d).is_none() {
                ok = false;
            } else if &d.text != route_target {
                cx.diags.push(
                    Diagnostic::error(Code::InvalidValue, d.span, format!("resume default `{}` differs from the route's target `{route_target}`", d.text))
                        .label("default disagrees with the route")
                        .with(route.span, "route here")
                        .help(format!("the default of a resume policy is its route's target: write `default {route_target}` or change the route")),
                );
                ok = false;
            }
        }
        for k in &r.metadata {
            if !RESUME_METADATA_KEYS.contains(&k.text.as_str()) {
                let mut d = unknown(
                    Code::UnknownMetadataKey,
                    "metadata key",
                    k,
                    RESUME_METADATA_KEYS,
                    "",
                );
                d = d.label("no stage result carries this key: the resume would never happen");
                cx.diags.push(d);
                ok = false;
            }
        }
        let mut never = Vec::new();
        for n in &r.never {
            match node_ref(&mut cx.diags, n) {
                Some(n) => never.push(n.id),
                None => ok = false,
            }
        }
        if never.contains(route_target) {
            cx.diags.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    r.id.span,
                    format!("resume policy forbids its own default `{route_target}`"),
                )
                .label("default is in `never`")
                .help("remove the default node from `never`"),
            );
            ok = false;
        }
        if ok {
            resumes.push(Resume {
                id: r.id.text.clone(),
                from: from.id.clone(),
                outcome: r.outcome.text.clone(),
                metadata_keys: r.metadata.iter().map(|w| w.text.clone()).collect(),
                default: route_target.clone(),
                never,
                span: r.id.span,
            });
        }
    }

    // Completion behaviour.
    let mut completion = None;
    for (i, c) in decl.completions.iter().enumerate() {
        if i > 0 {
            cx.diags.push(
                Diagnostic::error(
                    Code::DuplicateField,
                    c.span,
                    format!("loop `{id}` has two completion blocks"),
                )
                .label("second completion block")
                .with(decl.completions[0].span, "first here")
                .help("a loop has at most one completion behaviour"),
            );
            continue;
        }
        completion = check_completion(cx, c, &nodes, &terminals, &id);
    }

    // Every legal outcome of every node needs a route.
    for nid in &node_order {
        let node = &nodes[nid];
        let kind = &cx.model.stages[&node.kind];
        for o in &kind.outcomes {
            if attempted.contains(&(node.id.clone(), o.marker.clone())) {
                continue;
            }
            cx.diags.push(
                Diagnostic::error(
                    Code::UnroutedOutcome,
                    node.span,
                    format!(
                        "node `{}` can return `{}`, but no route handles it",
                        node.id, o.marker
                    ),
                )
                .label(format!("`{}` unrouted", o.marker))
                .with(o.span, "outcome declared here")
                .help(format!(
                    "add `{} {} -> <node or terminal>` to loop `{id}`",
                    node.id, o.marker
                )),
            );
        }
    }

    Loop {
        id,
        plane: decl.plane.text.clone(),
        nodes: node_order.iter().map(|n| nodes[n].clone()).collect(),
        entries,
        routes,
        terminals: terminal_order
            .iter()
            .map(|t| terminals[t].clone())
            .collect(),
        thresholds,
        resumes,
        completion,
        span: decl.name.span,
    }
}

const COMPLETION_KEYS: &[(&str, &[&str])] = &[
    ("trigger", &["backlog_drained"]),
    ("readiness", &["no_open_lineage_work"]),
    ("target", &[]),
    ("request", &["closure_target"]),
    ("selector", &["active_closure_target"]),
    ("rubric", &["reuse_or_create"]),
    ("blocked_work", &["suppress"]),
    ("skip_if_already_closed", &[]),
    ("on_pass", &[]),
    ("on_gap", &[]),
    ("create_incident_on_gap", &[]),
];

fn check_completion(
    cx: &mut Cx<'_>,
    c: &ast::CompletionDecl,
    nodes: &BTreeMap<String, Node>,
    terminals: &BTreeMap<String, Terminal>,
    loop_id: &str,
) -> Option<Completion> {
    let mut values: BTreeMap<&str, &ast::Value> = BTreeMap::new();
    let mut ok = true;
    for s in &c.settings {
        let Some((key, allowed)) = COMPLETION_KEYS.iter().find(|(k, _)| *k == s.key.text) else {
            let keys: Vec<&str> = COMPLETION_KEYS.iter().map(|(k, _)| *k).collect();
            cx.diags.push(unknown(
                Code::UnknownSetting,
                "completion setting",
                &s.key,
                &keys,
                "",
            ));
            ok = false;
            continue;
        };
        if let Some(prev) = values.get(key) {
            cx.diags.push(
                Diagnostic::error(
                    Code::DuplicateField,
                    s.key.span,
                    format!("completion setting `{key}` is given twice"),
                )
                .label("second occurrence")
                .with(prev.span(), "first given here")
                .help(format!("keep one `{key}` line")),
            );
            ok = false;
            continue;
        }
        values.insert(key, &s.value);
        let shape_ok = match (*key, &s.value) {
            ("skip_if_already_closed" | "create_incident_on_gap", ast::Value::Bool(..)) => true,
            ("on_pass" | "on_gap", ast::Value::Terminal(_)) => true,
            ("target", ast::Value::Word(_)) => true,
            (_, ast::Value::Word(w)) if !allowed.is_empty() => {
                check_word(
                    &mut cx.diags,
                    Code::InvalidValue,
                    &format!("{key} value"),
                    w,
                    allowed,
                ) || {
                    ok = false;
                    true
                }
            }
            _ => false,
        };
        if !shape_ok {
            let expected = match *key {
                "skip_if_already_closed" | "create_incident_on_gap" => "true or false".to_string(),
                "on_pass" | "on_gap" => "`terminal <id>`".to_string(),
                "target" => "a node name".to_string(),
                _ => allowed.join(" or "),
            };
            cx.diags.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    s.value.span(),
                    format!("`{key}` expects {expected}"),
                )
                .label("wrong kind of value")
                .help(format!(
                    "write `{key} {}`",
                    if expected.starts_with('`') {
                        "terminal <id>".to_string()
                    } else {
                        expected.clone()
                    }
                )),
            );
            ok = false;
        }
    }
    let word = |k: &str, default: &str| -> String {
        match values.get(k) {
            Some(ast::Value::Word(w)) | Some(ast::Value::Terminal(w)) => w.text.clone(),
            _ => default.to_string(),
        }
    };
    let flag = |k: &str, default: bool| match values.get(k) {
        Some(ast::Value::Bool(b, _)) => *b,
        _ => default,
    };
    for required in ["target", "on_pass", "on_gap"] {
        if !values.contains_key(required) {
            cx.diags.push(
                Diagnostic::error(Code::MissingField, c.span, format!("completion behaviour has no `{required}`"))
                    .label(format!("`{required}` missing"))
                    .help("a completion block needs `target <node>`, `on_pass terminal <id>` and `on_gap terminal <id>`"),
            );
            ok = false;
        }
    }
    if let Some(ast::Value::Word(t)) = values.get("target") {
        match nodes.get(&t.text) {
            None => {
                cx.diags.push(unknown(
                    Code::UnknownNode,
                    "node",
                    t,
                    &nodes.keys().collect::<Vec<_>>(),
                    "",
                ));
                ok = false;
            }
            Some(n) => {
                let kind = &cx.model.stages[&n.kind];
                if !kind.closure {
                    cx.diags.push(
                        Diagnostic::error(Code::NotClosure, t.span, format!("completion targets `{}`, whose stage kind `{}` is not a closure stage", n.id, kind.id))
                            .label("not a closure stage")
                            .with(kind.span, "stage kind declared here")
                            .help(format!("target a node whose stage kind says `closure` (like arbiter), or add `closure` to stage `{}`", kind.id)),
                    );
                    ok = false;
                }
            }
        }
    }
    for k in ["on_pass", "on_gap"] {
        if let Some(ast::Value::Terminal(t)) = values.get(k) {
            if !terminals.contains_key(&t.text) {
                cx.diags.push(unknown(
                    Code::UnknownTerminal,
                    "terminal state",
                    t,
                    &terminals.keys().collect::<Vec<_>>(),
                    &format!("declare it in loop `{loop_id}`"),
                ));
                ok = false;
            }
        }
    }
    ok.then(|| Completion {
        trigger: word("trigger", "backlog_drained"),
        readiness_rule: word("readiness", "no_open_lineage_work"),
        target: word("target", ""),
        request_kind: word("request", "closure_target"),
        target_selector: word("selector", "active_closure_target"),
        rubric_policy: word("rubric", "reuse_or_create"),
        blocked_work_policy: word("blocked_work", "suppress"),
        skip_if_already_closed: flag("skip_if_already_closed", true),
        on_pass: word("on_pass", ""),
        on_gap: word("on_gap", ""),
        create_incident_on_gap: flag("create_incident_on_gap", false),
        span: c.span,
    })
}

/// Reachability, paths to terminals, and the bounded-cycle proof.
fn graph_checks(cx: &mut Cx<'_>, l: &Loop) {
    let g = bounds::Graph::new(l, &cx.model.stages, &BTreeMap::new());
    for node in g.unreachable() {
        let n = l.node(&node).expect("graph nodes come from the loop");
        cx.diags.push(
            Diagnostic::warning(
                Code::UnreachableNode,
                n.span,
                format!("node `{}` can never run", n.id),
            )
            .label("no entry, route, policy or completion reaches it")
            .help(format!(
                "route some outcome to `{}`, give it an `entry`, or remove it",
                n.id
            )),
        );
    }
    for node in g.no_terminal_path() {
        let n = l.node(&node).expect("graph nodes come from the loop");
        cx.diags.push(
            Diagnostic::error(Code::NoTerminalPath, n.span, format!("no terminal state can be reached from node `{}`", n.id))
                .label("work that gets here can never finish")
                .help("route at least one outcome of this node (or of a node it leads to) to `terminal <id>`"),
        );
    }
    for cycle in g.unbounded_cycles() {
        let first = &cycle.edges[0];
        // A very long cycle is shown by its first steps only.
        const SHOWN: usize = 12;
        let mut text = String::new();
        for e in cycle.edges.iter().take(SHOWN) {
            text.push_str(&format!("{} --{}--> ", e.from, e.outcome));
        }
        if cycle.edges.len() > SHOWN {
            text.push_str(&format!(
                "... ({} more steps) --> ",
                cycle.edges.len() - SHOWN
            ));
        }
        text.push_str(&first.from);
        let mut d = Diagnostic::error(
            Code::UnboundedCycle,
            first.span,
            format!("unbounded cycle: {text}"),
        )
        .label(format!(
            "`{} {}` starts a cycle no threshold exits",
            first.from, first.outcome
        ));
        for e in cycle.edges.iter().take(SHOWN).skip(1) {
            d = d.with(
                e.span,
                format!("then `{} {}`{}", e.from, e.outcome, e.note()),
            );
        }
        let e = &cycle.edges[0];
        let group = if cycle.group.len() > SHOWN {
            format!(
                "{}, ... ({} nodes in all)",
                cycle.group[..SHOWN].join(", "),
                cycle.group.len()
            )
        } else {
            cycle.group.join(", ")
        };
        let others = match cycle.others {
            0 if !cycle.more => String::new(),
            0 => format!("other cycles may also run through {group}; "),
            n if cycle.more || n + 1 >= crate::language::bounds::MAX_CYCLES => {
                format!("at least {n} other cycles also run through {group}; ")
            }
            n => format!(
                "{n} other cycle{} also run{} through {group}; ",
                if n == 1 { "" } else { "s" },
                if n == 1 { "s" } else { "" },
            ),
        };
        d = d.help(format!(
            "{others}count an outcome on the cycle with a threshold whose exhausted target leaves it, e.g. `threshold {}.{}.limit {{ counter {}_count on {} from {} after 2 -> terminal <id> }}`",
            l.plane,
            e.from,
            e.from,
            e.outcome,
            e.from
        ));
        cx.diags.push(d);
    }
}
