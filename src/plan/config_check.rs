//! What `millrace.toml` and the mode say about each other, in words an
//! operator can act on: unknown mode and stage names (with a did-you-mean,
//! the valid names and the `millrace.toml` line), `permission_by_stage` keys
//! checked against the stages, and config settings a mode overrides
//! (warnings that name the mode's line).

use super::ir::CompiledPlan;
use super::lower::EffectiveConfig;
use crate::language::check::suggest;
use crate::language::model::{Mode, Model};
use crate::language::source::{SourceSet, Span};
use crate::workspace::config::line_of;

/// ` (millrace.toml line N)`-style location of `key` in `[table]`, if found.
fn toml_line(text: &str, table: &str, key: &str) -> Option<usize> {
    if text.is_empty() {
        return None;
    }
    line_of(text, table, key)
}

/// The help lines of an unknown name: a did-you-mean when one is close,
/// and always the valid names.
fn help(word: &str, what: &str, valid: &[&str]) -> String {
    let mut out = String::new();
    if let Some(s) = suggest(word, valid.iter().copied()) {
        out.push_str(&format!("\n  help: did you mean `{s}`?"));
    }
    out.push_str(&format!("\n  help: valid {what}: {}", valid.join(", ")));
    out
}

/// The mode ids and aliases of a model, for messages.
fn mode_names(model: &Model) -> Vec<&str> {
    model
        .modes
        .keys()
        .map(String::as_str)
        .chain(model.aliases.keys().map(String::as_str))
        .collect()
}

/// `Unknown mode id: X` (the reference's line), where the name came from
/// (`millrace.toml`'s `runtime.default_mode` when `from_config`), a
/// did-you-mean and the modes and aliases there are.
pub fn unknown_mode(model: &Model, requested: &str, from_config: Option<&str>) -> String {
    let mut out = format!("Unknown mode id: {requested}");
    if let Some(text) = from_config {
        if let Some(n) = toml_line(text, "runtime", "default_mode") {
            out.push_str(&format!(
                "\n  = millrace.toml line {n}: `default_mode = \"{requested}\"` in [runtime]"
            ));
        }
    }
    let names = mode_names(model);
    out.push_str(&help(requested, "modes and aliases", &names));
    out
}

/// Every stage name `millrace.toml` may tune: the nodes of every loaded
/// loop and every stage kind (the reference's "known stage names").
fn known_stages(model: &Model) -> Vec<&str> {
    let mut known: Vec<&str> = model
        .loops
        .values()
        .flat_map(|l| l.nodes.iter().map(|n| n.id.as_str()))
        .chain(model.stages.keys().map(String::as_str))
        .collect();
    known.sort_unstable();
    known.dedup();
    known
}

/// `[stages.<name>]` tables that name no stage: one error each, the
/// reference's first line, then the line, a did-you-mean and the names.
pub fn unknown_config_stages(model: &Model, cfg: &EffectiveConfig) -> Vec<String> {
    let known = known_stages(model);
    cfg.config
        .stages
        .keys()
        .filter(|s| !known.contains(&s.as_str()))
        .map(|name| {
            let mut e = format!("unknown stage names in config: {name}");
            let table = format!("stages.{name}");
            if let Some(n) = toml_line(&cfg.text, &table, "") {
                e.push_str(&format!("\n  = millrace.toml line {n}: [{table}]"));
            }
            e.push_str(&help(name, "stage names", &known));
            e
        })
        .collect()
}

/// `permission_by_stage` keys of the codex and claude runners: a name that
/// is no stage at all is an error (as the reference has it); a stage this
/// plan does not run is a warning (the setting does nothing in this mode).
pub fn permission_keys(
    model: &Model,
    plan: &CompiledPlan,
    cfg: &EffectiveConfig,
) -> (Vec<String>, Vec<String>) {
    let known = known_stages(model);
    let mut in_plan: Vec<&str> = plan
        .graphs_by_plane
        .values()
        .flat_map(|g| {
            g.nodes
                .iter()
                .flat_map(|n| [n.node_id.as_str(), n.stage_kind_id.as_str()])
        })
        .collect();
    in_plan.sort_unstable();
    in_plan.dedup();
    let runners = &cfg.config.runners;
    let (mut errors, mut warnings) = (Vec::new(), Vec::new());
    for (table, keys) in [
        ("runners.codex", &runners.codex.permission_by_stage),
        ("runners.claude", &runners.claude.permission_by_stage),
    ] {
        let line = |key: &str| {
            toml_line(&cfg.text, &format!("{table}.permission_by_stage"), key)
                .or_else(|| toml_line(&cfg.text, table, "permission_by_stage"))
        };
        let at = |key: &str| {
            line(key)
                .map(|n| format!("\n  = millrace.toml line {n}"))
                .unwrap_or_default()
        };
        for key in keys.keys() {
            if !known.contains(&key.as_str()) {
                errors.push(format!(
                    "unknown stage names in {table}.permission_by_stage: {key}{}{}",
                    at(key),
                    help(key, &format!("stages of mode {}", plan.mode_id), &in_plan)
                ));
            } else if !in_plan.contains(&key.as_str()) {
                let prefix = line(key)
                    .map(|n| format!("millrace.toml line {n}: "))
                    .unwrap_or_default();
                warnings.push(format!(
                    "{prefix}`{key}` in {table}.permission_by_stage has no effect: mode {} has no such stage",
                    plan.mode_id
                ));
            }
        }
    }
    (errors, warnings)
}

/// `file:line` of a `.mill` span.
fn mill_line(sources: &SourceSet, span: Span, name_of: &dyn Fn(usize) -> String) -> String {
    let lc = sources.line_col(span);
    format!("{}:{}", name_of(span.file), lc.line)
}

/// Config bindings the mode wins over (`docs/compiler.md`, "who wins"):
/// `[runners] default_runner` and `[stages.<node>] runner` under a mode
/// that sets `runner`, and `[stages.<node>]` keys the mode's `stage <node>
/// { ... }` block sets too. One warning each, naming both lines.
pub fn overridden_by_mode(
    mode: &Mode,
    plan: &CompiledPlan,
    cfg: &EffectiveConfig,
    sources: &SourceSet,
    name_of: &dyn Fn(usize) -> String,
) -> Vec<String> {
    let text = &cfg.text;
    if text.is_empty() {
        return vec![];
    }
    let mut out = Vec::new();
    let runner_at = mode
        .runner_span
        .map(|s| mill_line(sources, s, name_of))
        .unwrap_or_else(|| "its extends chain".into());
    if let (Some(runner), Some(n)) = (
        &mode.default_runner,
        toml_line(text, "runners", "default_runner"),
    ) {
        if cfg.config.runners.default_runner != *runner {
            out.push(format!(
                "millrace.toml line {n}: `default_runner = \"{}\"` has no effect: mode {} sets `runner {runner}` ({runner_at})",
                cfg.config.runners.default_runner, mode.id
            ));
        }
    }
    let planned: Vec<&str> = plan
        .graphs_by_plane
        .values()
        .flat_map(|g| g.nodes.iter().map(|n| n.node_id.as_str()))
        .collect();
    for (name, stage) in &cfg.config.stages {
        if !planned.contains(&name.as_str()) {
            continue;
        }
        let table = format!("stages.{name}");
        let ms = mode.stages.get(name);
        let ms_at = ms
            .and_then(|s| s.span)
            .map(|s| mill_line(sources, s, name_of))
            .unwrap_or_default();
        if let Some(r) = &stage.runner {
            let by_stage = ms.and_then(|s| s.runner.as_ref());
            let (winner, at) = match (by_stage, &mode.default_runner) {
                (Some(w), _) => (
                    Some(w),
                    format!("`stage {name} {{ runner {w} }}` ({ms_at})"),
                ),
                (None, Some(w)) => (Some(w), format!("`runner {w}` ({runner_at})")),
                (None, None) => (None, String::new()),
            };
            if let (Some(w), Some(n)) = (winner, toml_line(text, &table, "runner")) {
                if w != r {
                    out.push(format!(
                        "millrace.toml line {n}: `[{table}] runner = \"{r}\"` has no effect: mode {} sets {at}",
                        mode.id
                    ));
                }
            }
        }
        let Some(ms) = ms else { continue };
        let thinking_key = if stage.thinking_level.is_some() {
            "thinking_level"
        } else {
            "model_reasoning_effort"
        };
        let pairs: [(&str, Option<String>, Option<String>, &str); 3] = [
            ("model", stage.model.clone(), ms.model.clone(), "model"),
            (
                thinking_key,
                stage.thinking().map(str::to_string),
                ms.thinking.clone(),
                "thinking",
            ),
            (
                "timeout_seconds",
                toml_line(text, &table, "timeout_seconds")
                    .map(|_| stage.timeout_seconds.to_string()),
                ms.timeout_seconds.map(|t| t.to_string()),
                "timeout",
            ),
        ];
        for (key, ours, theirs, word) in pairs {
            if let (Some(ours), Some(theirs), Some(n)) =
                (ours, theirs, toml_line(text, &table, key))
            {
                if ours != theirs {
                    out.push(format!(
                        "millrace.toml line {n}: `[{table}] {key}` has no effect: mode {} sets `{word}` in `stage {name} {{ ... }}` ({ms_at})",
                        mode.id
                    ));
                }
            }
        }
    }
    out
}
