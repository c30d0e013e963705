//! Mode checks: inheritance (`extends`) and aliases without cycles, loop
//! bindings per plane, runners, per-stage overrides the stage kind allows,
//! concurrency policy, learning triggers, and threshold retuning. A mode is
//! stored flattened: its ancestors' settings applied first, its own on top.

use super::*;
use crate::language::ast::OverrideValue;

pub(super) fn check_all(cx: &mut Cx<'_>) {
    let names: Vec<String> = cx.mode_decls.keys().cloned().collect();
    let mut state: BTreeMap<String, Visit> = BTreeMap::new();
    for name in &names {
        // Resolve the ancestors first, oldest first, walking the `extends`
        // chain iteratively: a long chain cannot deepen the call stack.
        let mut chain = vec![name.clone()];
        let mut in_chain: BTreeSet<String> = chain.iter().cloned().collect();
        while let Some(parent) = cx
            .mode_decls
            .get(chain.last().expect("chain is non-empty"))
            .and_then(|d| d.decl.extends.as_ref())
        {
            if state.contains_key(&parent.text)
                || !cx.mode_decls.contains_key(&parent.text)
                || !in_chain.insert(parent.text.clone())
            {
                break;
            }
            chain.push(parent.text.clone());
        }
        for n in chain.iter().rev() {
            resolve(cx, n, &mut state);
        }
    }
    check_aliases(cx);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Visit {
    InProgress,
    Done,
    Failed,
}

fn inheritance_cycle(mode: &ast::Word, parent: &ast::Word) -> Diagnostic {
    Diagnostic::error(
        Code::InheritanceCycle,
        parent.span,
        format!("mode `{}` extends `{}`, which extends it back", mode.text, parent.text),
    )
    .label("inheritance cycle")
    .help("a mode may extend another only if that one does not (directly or through others) extend it")
}

/// Check and flatten one mode (after its parent). Returns false if it failed.
fn resolve(cx: &mut Cx<'_>, name: &str, state: &mut BTreeMap<String, Visit>) -> bool {
    match state.get(name) {
        Some(Visit::Done) => return true,
        Some(Visit::Failed) => return false,
        Some(Visit::InProgress) => return false,
        None => {}
    }
    let Some(decl) = cx.mode_decls.get(name).map(|d| (d.file, d.decl)) else {
        return false;
    };
    let (file, decl) = decl;
    state.insert(name.to_string(), Visit::InProgress);

    let mut base: Option<Mode> = None;
    if let Some(parent) = &decl.extends {
        if state.get(&parent.text) == Some(&Visit::InProgress) {
            cx.diags.push(inheritance_cycle(&decl.name, parent));
            state.insert(name.to_string(), Visit::Failed);
            return false;
        }
        let parent_decl = cx.mode_decls.get(&parent.text).map(|d| d.file);
        match parent_decl {
            None => {
                let candidates: Vec<&String> = cx.mode_decls.keys().collect();
                let mut d = unknown(
                    Code::UnknownMode,
                    "mode",
                    parent,
                    &candidates,
                    "declare the mode or import the file that does",
                );
                let shipped = shipped_modes();
                let near = suggest(&parent.text, shipped.iter().map(String::as_str))
                    .filter(|_| !d.help.starts_with("did you"));
                if cx.alias_decls.contains_key(&parent.text) {
                    d = d.help(format!(
                        "`{}` is an alias; extend the mode it names",
                        parent.text
                    ));
                } else if shipped.contains(&parent.text) || near.is_some() {
                    let m = if shipped.contains(&parent.text) {
                        parent.text.clone()
                    } else {
                        near.unwrap_or_default().to_string()
                    };
                    let lead = if m == parent.text {
                        format!("`{m}` is a shipped mode")
                    } else {
                        format!("did you mean `{m}`? It is a shipped mode")
                    };
                    d = d.help(format!(
                        "{lead}: import its file, which a workspace has at millrace-agents/mill/modes/{m}.mill (from mill/local/: `import \"../modes/{m}.mill\"`)"
                    ));
                }
                cx.diags.push(d);
                state.insert(name.to_string(), Visit::Failed);
                return false;
            }
            Some(pfile) => {
                if let Some(hint) = cx.import_hint(file, pfile) {
                    cx.diags.push(
                        Diagnostic::error(
                            Code::UnknownMode,
                            parent.span,
                            format!("unknown mode `{}`", parent.text),
                        )
                        .label("not visible here")
                        .help(hint),
                    );
                    state.insert(name.to_string(), Visit::Failed);
                    return false;
                }
                // `check_all` resolves ancestors first; a parent not yet
                // resolved is one that leads back here.
                match state.get(&parent.text) {
                    Some(Visit::Done) => {}
                    Some(Visit::Failed) => {
                        state.insert(name.to_string(), Visit::Failed);
                        return false;
                    }
                    Some(Visit::InProgress) | None => {
                        cx.diags.push(inheritance_cycle(&decl.name, parent));
                        state.insert(name.to_string(), Visit::Failed);
                        return false;
                    }
                }
                base = cx.model.modes.get(&parent.text).cloned();
            }
        }
    }

    let errors_before = cx.diags.iter().filter(|d| d.is_error()).count();
    let mut mode = match base {
        Some(mut b) => {
            b.extends.insert(0, b.id.clone());
            b.id = decl.name.text.clone();
            b.span = decl.name.span;
            b
        }
        None => Mode {
            id: decl.name.text.clone(),
            extends: vec![],
            loops: BTreeMap::new(),
            default_runner: None,
            runner_span: None,
            stages: BTreeMap::new(),
            concurrency: None,
            learning_triggers: vec![],
            threshold_overrides: BTreeMap::new(),
            span: decl.name.span,
        },
    };

    // Loops.
    let mut bound_here: BTreeMap<&str, Span> = BTreeMap::new();
    let mut broken_loop = false;
    for (plane, loop_name) in &decl.loops {
        if !check_word(&mut cx.diags, Code::UnknownPlane, "plane", plane, PLANES) {
            continue;
        }
        if let Some(prev) = bound_here.get(plane.text.as_str()) {
            cx.diags.push(
                Diagnostic::error(
                    Code::DuplicateField,
                    plane.span,
                    format!(
                        "plane `{}` is bound twice in mode `{}`",
                        plane.text, decl.name.text
                    ),
                )
                .label("second binding")
                .with(*prev, "first binding here")
                .help("bind each plane to one loop"),
            );
            continue;
        }
        bound_here.insert(&plane.text, plane.span);
        let Some(lfile) = cx.loop_file.get(&loop_name.text).copied() else {
            if cx.loop_decls.contains_key(&loop_name.text) {
                // The loop failed its own checks (already reported).
                broken_loop = true;
            } else {
                let candidates: Vec<&String> = cx.model.loops.keys().collect();
                cx.diags.push(unknown(
                    Code::UnknownLoop,
                    "loop",
                    loop_name,
                    &candidates,
                    "declare the loop or import the file that does",
                ));
            }
            continue;
        };
        if let Some(hint) = cx.import_hint(file, lfile) {
            cx.diags.push(
                Diagnostic::error(
                    Code::UnknownLoop,
                    loop_name.span,
                    format!("unknown loop `{}`", loop_name.text),
                )
                .label("not visible here")
                .help(hint),
            );
            continue;
        }
        let l = &cx.model.loops[&loop_name.text];
        if l.plane != plane.text {
            cx.diags.push(
                Diagnostic::error(
                    Code::PlaneMismatch,
                    loop_name.span,
                    format!(
                        "loop `{}` runs on the {} plane, not {}",
                        l.id, l.plane, plane.text
                    ),
                )
                .label(format!("a {} loop", l.plane))
                .with(l.span, "loop declared here")
                .help(format!("bind it as `{}: {}`", l.plane, l.id)),
            );
            continue;
        }
        mode.loops.insert(plane.text.clone(), l.id.clone());
    }
    if broken_loop {
        // Its loop is already reported; checking the rest would only cascade.
        state.insert(name.to_string(), Visit::Failed);
        return false;
    }
    if !mode.loops.contains_key("execution")
        && errors_before == cx.diags.iter().filter(|d| d.is_error()).count()
    {
        cx.diags.push(
            Diagnostic::error(Code::MissingLoop, decl.name.span, format!("mode `{}` has no execution loop", decl.name.text))
                .label("no `execution:` binding")
                .help("bind one in a `loops { execution: execution.standard }` block, or extend a mode that does"),
        );
    }

    // Stage → kind for every node of the mode's loops.
    let mut stage_kinds: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (plane, lid) in &mode.loops {
        if let Some(l) = cx.model.loops.get(lid) {
            for n in &l.nodes {
                stage_kinds.insert(n.id.clone(), (n.kind.clone(), plane.clone()));
            }
        }
    }
    let stage_names: Vec<&String> = stage_kinds.keys().collect();
    let not_in_mode = |w: &ast::Word, what: &str| {
        let mut d = Diagnostic::error(
            Code::StageNotInMode,
            w.span,
            format!(
                "{what} names stage `{}`, which none of mode `{}`'s loops contain",
                w.text, decl.name.text
            ),
        )
        .label("not a stage of this mode");
        d = match suggest(&w.text, stage_names.iter().map(|s| s.as_str())) {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None => d.help(format!(
                "stages of this mode: {}",
                stage_names
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
        d
    };

    // Runner.
    for (i, r) in decl.runners.iter().enumerate() {
        if i > 0 {
            cx.diags.push(
                Diagnostic::error(Code::DuplicateField, r.span, format!("mode `{}` sets `runner` twice", decl.name.text))
                    .label("second runner")
                    .with(decl.runners[0].span, "first runner here")
                    .help("set one default runner; override single stages in a `stage <name> { runner ... }` block"),
            );
        } else if check_word(&mut cx.diags, Code::UnknownRunner, "runner", r, RUNNERS) {
            mode.default_runner = Some(r.text.clone());
            mode.runner_span = Some(r.span);
        }
    }

    // Stage overrides.
    for o in &decl.overrides {
        let Some((kind_id, _)) = stage_kinds.get(&o.stage.text).cloned() else {
            cx.diags.push(not_in_mode(&o.stage, "override"));
            continue;
        };
        let kind = cx.model.stages[&kind_id].clone();
        let mut settings = mode.stages.get(&o.stage.text).cloned().unwrap_or_default();
        settings.span = Some(o.stage.span);
        let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
        for f in &o.fields {
            let kw = f.value.keyword();
            if kw != "skill" {
                if let Some(prev) = seen.get(kw) {
                    cx.diags.push(
                        Diagnostic::error(
                            Code::DuplicateField,
                            f.keyword,
                            format!("`{kw}` is set twice for stage `{}`", o.stage.text),
                        )
                        .label("second occurrence")
                        .with(*prev, "first set here")
                        .help(format!("keep one `{kw}` line")),
                    );
                    continue;
                }
                seen.insert(kw, f.keyword);
            }
            if !kind.overrides.iter().any(|x| x == f.value.override_name()) {
                let mut d = Diagnostic::error(
                    Code::OverrideNotAllowed,
                    f.keyword,
                    format!(
                        "stage kind `{}` does not allow overriding `{}`",
                        kind.id,
                        f.value.override_name()
                    ),
                )
                .label("override not allowed");
                if let Some(s) = kind.overrides_span {
                    d = d.with(s, "allowed overrides declared here");
                }
                cx.diags.push(d.help(format!(
                    "`{}` allows: {}",
                    kind.id,
                    if kind.overrides.is_empty() {
                        "nothing".to_string()
                    } else {
                        kind.overrides.join(", ")
                    }
                )));
                continue;
            }
            match &f.value {
                OverrideValue::Runner(w) => {
                    if check_word(&mut cx.diags, Code::UnknownRunner, "runner", w, RUNNERS) {
                        settings.runner = Some(w.text.clone());
                    }
                }
                OverrideValue::Model(s) => {
                    if s.value.trim().is_empty() {
                        cx.diags.push(
                            Diagnostic::error(Code::InvalidValue, s.span, "model name is empty")
                                .label("empty")
                                .help("name a model, like \"gpt-5-codex\", or remove the line to use the runner's default"),
                        );
                    } else {
                        settings.model = Some(s.value.clone());
                    }
                }
                OverrideValue::Thinking(w) => {
                    if check_word(
                        &mut cx.diags,
                        Code::InvalidValue,
                        "thinking level",
                        w,
                        THINKING_LEVELS,
                    ) {
                        settings.thinking = Some(w.text.clone());
                    }
                }
                OverrideValue::Timeout(secs, span) => {
                    if *secs == 0 || *secs > 7 * 24 * 3600 {
                        cx.diags.push(
                            Diagnostic::error(
                                Code::InvalidValue,
                                *span,
                                "timeout must be between 1s and 7 days",
                            )
                            .label("out of range")
                            .help("write a duration like 900s, 30m or 2h"),
                        );
                    } else {
                        settings.timeout_seconds = Some(*secs);
                    }
                }
                OverrideValue::Entrypoint(s) => {
                    if check_entrypoint_path(&mut cx.diags, s) {
                        settings.entrypoint = Some(s.value.clone());
                    }
                }
                OverrideValue::Skill(s) => {
                    if !settings.skills.contains(&s.value) {
                        settings.skills.push(s.value.clone());
                    }
                }
            }
        }
        mode.stages.insert(o.stage.text.clone(), settings);
    }

    // Concurrency policy.
    if !decl.concurrency.is_empty() {
        let mut policy = Concurrency::default();
        for r in &decl.concurrency {
            let mut ok = true;
            for p in [&r.a, &r.b] {
                if !check_word(&mut cx.diags, Code::UnknownPlane, "plane", p, PLANES) {
                    ok = false;
                } else if !mode.loops.contains_key(&p.text) {
                    cx.diags.push(
                        Diagnostic::error(
                            Code::UnknownPlane,
                            p.span,
                            format!("mode `{}` has no {} loop", decl.name.text, p.text),
                        )
                        .label("plane not in this mode")
                        .help(format!(
                            "bind a {} loop in `loops {{ ... }}` or remove this rule",
                            p.text
                        )),
                    );
                    ok = false;
                }
            }
            if ok && r.a.text == r.b.text {
                cx.diags.push(
                    Diagnostic::error(
                        Code::InvalidValue,
                        r.span,
                        "a concurrency rule relates two different planes",
                    )
                    .label("same plane twice")
                    .help("name two planes, like `exclusive execution, planning`"),
                );
                ok = false;
            }
            if ok {
                let pair = (r.a.text.clone(), r.b.text.clone());
                match r.kind {
                    ast::ConcurrencyKind::Exclusive => policy.mutually_exclusive_planes.push(pair),
                    ast::ConcurrencyKind::Concurrent => policy.may_run_concurrently.push(pair),
                }
            }
        }
        mode.concurrency = Some(policy);
    }

    // Learning triggers.
    for rule in &decl.learn {
        if mode
            .learning_triggers
            .iter()
            .any(|t| t.rule_id == rule.id.text)
        {
            let prev = mode
                .learning_triggers
                .iter()
                .find(|t| t.rule_id == rule.id.text)
                .map(|t| t.span)
                .unwrap_or(rule.span);
            cx.diags.push(duplicate("learning trigger", &rule.id, prev));
            continue;
        }
        let Some((kind_id, plane)) = stage_kinds.get(&rule.source.text).cloned() else {
            cx.diags.push(not_in_mode(&rule.source, "learning trigger"));
            continue;
        };
        let kind = cx.model.stages[&kind_id].clone();
        let mut ok = true;
        for o in &rule.outcomes {
            if kind.outcome(&o.text).is_none() {
                cx.diags.push(
                    Diagnostic::error(
                        Code::UnknownOutcome,
                        o.span,
                        format!("stage `{}` cannot return `{}`", rule.source.text, o.text),
                    )
                    .label("not an outcome of this stage")
                    .with(kind.span, "stage kind declared here")
                    .help(format!(
                        "`{}` can return: {}",
                        kind.id,
                        kind.markers().join(", ")
                    )),
                );
                ok = false;
            }
        }
        match stage_kinds.get(&rule.target.text) {
            None => {
                cx.diags.push(not_in_mode(&rule.target, "learning trigger"));
                ok = false;
            }
            Some((_, tplane)) if tplane != "learning" => {
                cx.diags.push(
                    Diagnostic::error(Code::PlaneMismatch, rule.target.span, format!("learning triggers start learning stages; `{}` is on the {tplane} plane", rule.target.text))
                        .label("not a learning stage")
                        .help("target the learning loop's entry stage, like `analyst`"),
                );
                ok = false;
            }
            Some(_) => {}
        }
        if !check_word(
            &mut cx.diags,
            Code::InvalidValue,
            "requested action",
            &rule.action,
            LEARNING_ACTIONS,
        ) {
            ok = false;
        }
        let to_curator = rule.target.text == "curator"
            || stage_kinds
                .get(&rule.target.text)
                .is_some_and(|(k, _)| k == "curator");
        let (skill, outputs) = learn_destination(&mut cx.diags, rule, to_curator, &mut ok);
        if ok {
            mode.learning_triggers.push(LearningTrigger {
                rule_id: rule.id.text.clone(),
                source_plane: plane,
                source_stage: rule.source.text.clone(),
                on_outcomes: rule.outcomes.iter().map(|o| o.text.clone()).collect(),
                target_stage: rule.target.text.clone(),
                requested_action: rule.action.text.clone(),
                target_skill_id: skill,
                preferred_output_paths: outputs,
                span: rule.span,
            });
        }
    }

    // Threshold retuning.
    for t in &decl.thresholds {
        let counters: Vec<String> = mode
            .loops
            .values()
            .filter_map(|l| cx.model.loops.get(l))
            .flat_map(|l| l.thresholds.iter().map(|t| t.counter.clone()))
            .collect();
        if !counters.contains(&t.counter.text) {
            cx.diags.push(unknown(
                Code::UnknownCounter,
                "counter",
                &t.counter,
                &counters,
                "thresholds are retuned by the counter name their loop declares",
            ));
            continue;
        }
        if t.value == 0 || t.value > 1000 {
            cx.diags.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    t.value_span,
                    format!("threshold {} is out of range", t.value),
                )
                .label("must be between 1 and 1000")
                .help("a threshold lets the normal route run that many times; use at least 1"),
            );
            continue;
        }
        mode.threshold_overrides
            .insert(t.counter.text.clone(), t.value);
    }

    check_planning_handoff(cx, decl, &mode);

    let failed = cx.diags.iter().filter(|d| d.is_error()).count() > errors_before;
    if failed {
        state.insert(name.to_string(), Visit::Failed);
        return false;
    }
    cx.model.modes.insert(mode.id.clone(), mode);
    state.insert(name.to_string(), Visit::Done);
    true
}

/// A terminal of class `followup_needed` or `escalate_planning` outside the
/// planning plane opens an incident for the planning loop to work on: in a
/// mode with no planning loop the incident would wait forever.
fn check_planning_handoff(cx: &mut Cx<'_>, decl: &ast::ModeDecl, mode: &Mode) {
    if mode.loops.contains_key("planning") {
        return;
    }
    for (plane, lid) in &mode.loops {
        let Some(l) = cx.model.loops.get(lid) else {
            continue;
        };
        let reached: BTreeSet<&str> = l
            .routes
            .iter()
            .filter_map(|r| match &r.target {
                Target::Terminal(t) => Some(t.as_str()),
                Target::Node(_) => None,
            })
            .chain(l.thresholds.iter().filter_map(|t| match &t.exhausted {
                Target::Terminal(t) => Some(t.as_str()),
                Target::Node(_) => None,
            }))
            .collect();
        for t in &l.terminals {
            if !PLANNING_HANDOFF_CLASSES.contains(&t.class.as_str())
                || !reached.contains(t.id.as_str())
            {
                continue;
            }
            cx.diags.push(
                Diagnostic::error(
                    Code::HandoffWithoutPlanning,
                    decl.name.span,
                    format!(
                        "mode `{}` has no planning loop, but its {plane} loop `{lid}` hands work off to planning at terminal `{}`",
                        mode.id, t.id
                    ),
                )
                .label("no planning loop in this mode")
                .with(t.span, format!("a `{}` terminal opens an incident for planning", t.class))
                .help("bind a planning loop (`loops { planning: planning.standard }`), or give the terminal the class `blocked` so the work stops visibly"),
            );
        }
    }
}

/// The names of the shipped modes (one per file under `modes/`).
fn shipped_modes() -> Vec<String> {
    crate::assets::mill_sources()
        .filter_map(|(path, _)| path.strip_prefix("modes/")?.strip_suffix(".mill"))
        .map(str::to_string)
        .collect()
}

fn check_aliases(cx: &mut Cx<'_>) {
    let aliases: Vec<(FileId, &ast::AliasDecl)> =
        cx.alias_decls.values().map(|d| (d.file, d.decl)).collect();
    for (_, a) in &aliases {
        // Follow the chain; stop at a mode, a missing name, or a repeat.
        let mut seen = vec![a.name.text.clone()];
        let mut current = a.target.text.clone();
        let mut ok = true;
        loop {
            if cx.mode_decls.contains_key(&current) {
                break;
            }
            if seen.contains(&current) {
                cx.diags.push(
                    Diagnostic::error(
                        Code::InheritanceCycle,
                        a.target.span,
                        format!("alias `{}` leads back to itself", a.name.text),
                    )
                    .label("alias cycle")
                    .help("point the alias at a mode"),
                );
                ok = false;
                break;
            }
            match cx.alias_decls.get(&current) {
                Some(next) => {
                    seen.push(current.clone());
                    current = next.decl.target.text.clone();
                }
                None => {
                    let candidates: Vec<&String> = cx.mode_decls.keys().collect();
                    cx.diags.push(unknown(
                        Code::UnknownMode,
                        "mode",
                        &a.target,
                        &candidates,
                        "an alias names a declared mode",
                    ));
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            cx.model.aliases.insert(
                a.name.text.clone(),
                Alias {
                    name: a.name.text.clone(),
                    target: a.target.text.clone(),
                    span: a.name.span,
                },
            );
        }
    }
}

/// Check a learning trigger's destination (`skill "id"`, `outputs "path", ...`)
/// as the reference's compiler does: the skill id is a safe identifier,
/// output paths are non-empty and (ours, stricter) relative without `..`,
/// duplicates collapse, and a rule that starts the curator directly names a
/// skill or an output path.
fn learn_destination(
    diags: &mut Vec<Diagnostic>,
    rule: &ast::LearnRule,
    to_curator: bool,
    ok: &mut bool,
) -> (Option<String>, Vec<String>) {
    let mut skill = None;
    if let Some(s) = &rule.skill {
        let v = &s.value;
        let safe = !v.is_empty()
            && v.len() <= 128
            && v.starts_with(|c: char| c.is_ascii_alphanumeric())
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if safe {
            skill = Some(v.clone());
        } else {
            diags.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    s.span,
                    format!("`{v}` is not a skill id"),
                )
                .label("not a safe identifier")
                .help("a skill id starts with a letter or digit and has only letters, digits, '.', '_' and '-' (at most 128)"),
            );
            *ok = false;
        }
    }
    let mut outputs: Vec<String> = vec![];
    for o in &rule.outputs {
        let v = o.value.trim();
        let escapes = v.starts_with('/')
            || v.starts_with('\\')
            || v.split(['/', '\\']).any(|part| part == "..");
        if v.is_empty() || escapes {
            diags.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    o.span,
                    if v.is_empty() {
                        "an output path is empty".to_string()
                    } else {
                        format!("output path `{v}` leaves the workspace")
                    },
                )
                .label("not a workspace-relative path")
                .help("write output paths relative to the workspace root, without `..`, like \"millrace-agents/skills/my-skill/SKILL.md\""),
            );
            *ok = false;
        } else if !outputs.iter().any(|p| p == v) {
            outputs.push(v.to_string());
        }
    }
    if to_curator && skill.is_none() && outputs.is_empty() && *ok {
        diags.push(
            Diagnostic::error(
                Code::LearningWithoutDestination,
                rule.target.span,
                format!(
                    "learning trigger `{}` starts the curator without saying where the learning goes",
                    rule.id.text
                ),
            )
            .label("curator needs a destination")
            .help("add `skill \"<skill-id>\"` or `outputs \"<path>\"`, or route vague learning through `analyst`"),
        );
        *ok = false;
    }
    (skill, outputs)
}
