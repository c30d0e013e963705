//! Stage-kind checks: required fields, no field twice, outcomes with known
//! result classes that do not mix success with failure, closed vocabularies,
//! and a `BLOCKED` outcome to carry runtime failures.

use super::*;
use crate::language::ast::StageValue;

pub(super) fn check_all(cx: &mut Cx<'_>) {
    let decls: Vec<(FileId, &ast::StageDecl)> =
        cx.stage_decls.values().map(|d| (d.file, d.decl)).collect();
    for (file, decl) in decls {
        if let Some(kind) = check_stage(&mut cx.diags, decl) {
            cx.stage_file.insert(kind.id.clone(), file);
            cx.model.stages.insert(kind.id.clone(), kind);
        }
    }
}

fn polarity(classes: &[String]) -> Option<Polarity> {
    let success = classes.iter().filter(|c| *c == "success").count();
    let noop = classes.iter().filter(|c| *c == "no_op").count();
    if success == classes.len() {
        Some(Polarity::Success)
    } else if noop == classes.len() {
        Some(Polarity::Neutral)
    } else if success == 0 && noop == 0 {
        Some(Polarity::Failure)
    } else {
        None
    }
}

fn check_stage(diags: &mut Vec<Diagnostic>, decl: &ast::StageDecl) -> Option<StageKind> {
    let errors_before = diags.iter().filter(|d| d.is_error()).count();
    let id = decl.name.text.clone();
    let mut seen: BTreeMap<&'static str, Span> = BTreeMap::new();
    for f in &decl.fields {
        let kw = f.value.keyword();
        if f.value.repeatable() {
            continue;
        }
        if let Some(prev) = seen.get(kw) {
            diags.push(
                Diagnostic::error(
                    Code::DuplicateField,
                    f.keyword,
                    format!("`{kw}` is given twice in stage `{id}`"),
                )
                .label("second occurrence")
                .with(*prev, "first given here")
                .help(format!("keep one `{kw}` line")),
            );
        } else {
            seen.insert(kw, f.keyword);
        }
    }

    let mut plane = None;
    let mut display = None;
    let mut entrypoint = None;
    let mut contract = None;
    let mut required_skills = Vec::new();
    let mut suggested_skills = Vec::new();
    let mut running = None;
    let mut outcomes: Option<&Vec<ast::OutcomeDecl>> = None;
    let mut inputs = Vec::new();
    let mut outputs = vec!["stage_result".to_string()];
    let mut idempotence = "retry_safe_with_key".to_string();
    let mut overrides: Vec<String> = OVERRIDES.iter().map(|s| s.to_string()).collect();
    let mut overrides_span = None;
    let mut starts = Vec::new();
    let mut recovery_role = None;
    let mut closure = false;

    for f in &decl.fields {
        match &f.value {
            StageValue::Plane(w) => {
                if check_word(diags, Code::UnknownPlane, "plane", w, PLANES) {
                    plane.get_or_insert(w.text.clone());
                }
            }
            StageValue::Display(s) => {
                display.get_or_insert(s.value.clone());
            }
            StageValue::Entrypoint(s) => {
                if check_entrypoint_path(diags, s) {
                    entrypoint.get_or_insert(s.value.clone());
                }
            }
            StageValue::Contract(s) => {
                contract.get_or_insert(s.value.clone());
            }
            StageValue::Skill(s) => required_skills.push(s.value.clone()),
            StageValue::Suggest(s) => suggested_skills.push(s.value.clone()),
            StageValue::Running(w) => {
                running.get_or_insert(w.text.clone());
            }
            StageValue::Outcomes(list) => {
                outcomes.get_or_insert(list);
            }
            StageValue::Consumes(ws) => inputs = ws.iter().map(|w| w.text.clone()).collect(),
            StageValue::Emits(ws) => outputs = ws.iter().map(|w| w.text.clone()).collect(),
            StageValue::Idempotence(w) => {
                if check_word(
                    diags,
                    Code::InvalidValue,
                    "idempotence policy",
                    w,
                    IDEMPOTENCE,
                ) {
                    idempotence = w.text.clone();
                }
            }
            StageValue::Overrides(ws) => {
                overrides_span = Some(f.span);
                let none = ws.len() == 1 && ws[0].text == "none";
                overrides = ws
                    .iter()
                    .filter(|_| !none)
                    .filter(|w| check_word(diags, Code::InvalidValue, "override", w, OVERRIDES))
                    .map(|w| w.text.clone())
                    .collect();
            }
            StageValue::Starts(ws) => {
                starts = ws
                    .iter()
                    .filter(|w| check_word(diags, Code::InvalidValue, "work item kind", w, STARTS))
                    .map(|w| w.text.clone())
                    .collect();
            }
            StageValue::Recovery(w) => {
                if check_word(
                    diags,
                    Code::InvalidValue,
                    "recovery role",
                    w,
                    RECOVERY_ROLES,
                ) {
                    recovery_role = Some(w.text.clone());
                }
            }
            StageValue::Closure => closure = true,
        }
    }

    let missing = |diags: &mut Vec<Diagnostic>, field: &str, example: &str| {
        diags.push(
            Diagnostic::error(
                Code::MissingField,
                decl.name.span,
                format!("stage `{id}` has no `{field}`"),
            )
            .label(format!("`{field}` missing in this stage"))
            .help(format!("add a line like `{example}` inside the block")),
        );
    };
    if plane.is_none() && !seen.contains_key("plane") {
        missing(diags, "plane", "plane execution");
    }
    let mut checked_outcomes = Vec::new();
    match outcomes {
        None => missing(
            diags,
            "outcomes",
            "outcomes { DONE => success  BLOCKED => blocked | recoverable_failure }",
        ),
        Some(list) => {
            let mut seen_markers: BTreeMap<&str, Span> = BTreeMap::new();
            for o in list {
                if let Some(prev) = seen_markers.get(o.marker.text.as_str()) {
                    diags.push(duplicate("outcome", &o.marker, *prev));
                    continue;
                }
                seen_markers.insert(&o.marker.text, o.marker.span);
                let mut classes = Vec::new();
                let mut all_known = true;
                for c in &o.classes {
                    if !check_word(
                        diags,
                        Code::UnknownResultClass,
                        "result class",
                        c,
                        RESULT_CLASSES,
                    ) {
                        all_known = false;
                    } else if !classes.contains(&c.text) {
                        classes.push(c.text.clone());
                    }
                }
                if !all_known {
                    continue;
                }
                match polarity(&classes) {
                    Some(p) => checked_outcomes.push(Outcome {
                        marker: o.marker.text.clone(),
                        classes,
                        polarity: p,
                        span: o.span,
                    }),
                    None => diags.push(
                        Diagnostic::error(
                            Code::MixedOutcomeClasses,
                            o.span,
                            format!(
                                "outcome `{}` mixes {} with other result classes",
                                o.marker.text,
                                if classes.iter().any(|c| c == "success") { "success" } else { "no_op" }
                            ),
                        )
                        .label("classes of different kinds")
                        .help("an outcome is a success (only `success`), neutral (only `no_op`) or a failure (the other classes); split it into two outcomes"),
                    ),
                }
            }
            let blocked = checked_outcomes.iter().find(|o| o.marker == "BLOCKED");
            match blocked {
                Some(b) if !b.classes.iter().any(|c| c == "recoverable_failure") => diags.push(
                    Diagnostic::error(
                        Code::MissingField,
                        b.span,
                        format!("`BLOCKED` of stage `{id}` does not allow `recoverable_failure`"),
                    )
                    .label("runtime failures cannot be reported here")
                    .help("write `BLOCKED => blocked | recoverable_failure`: the runtime reports crashes, timeouts and missing markers as a recoverable BLOCKED"),
                ),
                None if !checked_outcomes.is_empty() && !seen_markers.contains_key("BLOCKED") => diags.push(
                    Diagnostic::error(
                        Code::MissingField,
                        decl.name.span,
                        format!("stage `{id}` has no BLOCKED outcome"),
                    )
                    .label("every stage kind needs BLOCKED")
                    .help("add `BLOCKED => blocked | recoverable_failure`: the runtime reports crashes, timeouts and missing markers through it"),
                ),
                _ => {}
            }
        }
    }

    let errors_after = diags.iter().filter(|d| d.is_error()).count();
    if errors_after > errors_before {
        return None;
    }
    let plane = plane?;
    let display_name = display.unwrap_or_else(|| {
        let mut c = id.chars();
        c.next()
            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
            .unwrap_or_default()
    });
    Some(StageKind {
        entrypoint: entrypoint.unwrap_or_else(|| format!("entrypoints/{plane}/{id}.md")),
        contract_id: contract.unwrap_or_else(|| format!("{id}.contract.v1")),
        running_marker: running.unwrap_or_else(|| format!("{}_RUNNING", id.to_uppercase())),
        id,
        plane,
        display_name,
        required_skills,
        suggested_skills,
        outcomes: checked_outcomes,
        inputs,
        outputs,
        idempotence,
        overrides,
        starts,
        recovery_role,
        closure,
        span: decl.name.span,
        overrides_span,
    })
}
