//! `millrace compile validate|show|graph`: compile a mode (persisting the
//! plan in a workspace) and print it the reference's way, plus what the
//! language adds: the worst-case stage-run bound, the threshold policies and
//! the `.mill` location of every node. Without an initialized workspace the
//! commands work on the shipped modes and say so on stderr.

use super::error::{Error, Outcome};
use crate::plan::compile::{self, AssetRoot, CompileOutcome};
use crate::plan::ir::{CompileInput, CompiledPlan};
use crate::plan::persist::{self, Currentness, Status};
use crate::plan::{graph, stage_graph_export};
use crate::workspace::layout::Layout;
use crate::workspace::manifest::Manifest;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct CompileArgs {
    #[command(subcommand)]
    pub command: CompileCommand,
}

#[derive(Debug, Clone, Args)]
pub struct Target {
    /// Workspace root directory (the one holding `millrace-agents/`).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub workspace: PathBuf,
    /// Mode id or alias (default: the workspace's `runtime.default_mode`).
    #[arg(long, value_name = "ID")]
    pub mode: Option<String>,
    #[command(flatten)]
    pub config: super::workspace_arg::ConfigArg,
}

#[derive(Debug, Subcommand)]
pub enum CompileCommand {
    /// Compile the mode and report whether it is valid.
    Validate {
        #[command(flatten)]
        target: Target,
        /// Print JSON instead of `key: value` lines.
        #[arg(long)]
        json: bool,
    },
    /// Compile and print the plan: identity, entries, policies, bounds and every stage binding.
    Show {
        #[command(flatten)]
        target: Target,
        /// Print JSON (the validate fields, currentness and the whole plan).
        #[arg(long)]
        json: bool,
    },
    /// Print the compiled graph.
    Graph {
        #[command(flatten)]
        target: Target,
        /// Only this plane.
        #[arg(long, value_enum)]
        plane: Option<PlaneArg>,
        #[arg(long, value_enum, default_value = "text")]
        format: GraphFormat,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "PATH")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PlaneArg {
    Execution,
    Planning,
    Learning,
}

impl PlaneArg {
    fn as_str(self) -> &'static str {
        match self {
            PlaneArg::Execution => "execution",
            PlaneArg::Planning => "planning",
            PlaneArg::Learning => "learning",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// The reference's text listing.
    Text,
    /// The reference's `compiled_stage_graph` export (a JSON array, one object per plane).
    Json,
    /// Ours: every plane with threshold edges, resume policies, bounds and sources.
    MillJson,
    Dot,
    Mermaid,
}

/// The result of compiling for a command: in a workspace (persisted) or shipped.
pub struct Compiled {
    pub outcome: CompileOutcome,
    pub active: Option<CompiledPlan>,
    pub used_last_known_good: bool,
    pub workspace: Option<(Layout, Status)>,
}

/// Compile for `target`: persist in an initialized workspace, otherwise use the shipped modes.
pub fn compile_target(target: &Target) -> Result<Compiled, Error> {
    let layout = Layout::new(&target.workspace);
    if target.config.config.is_some() {
        let ws = super::workspace_arg::WorkspaceArg {
            workspace: target.workspace.clone(),
        };
        let layout = target.config.initialized(&ws)?;
        let p = persist::compile_and_persist(&layout, target.mode.as_deref())
            .map_err(|e| Error::Failed(format!("cannot write compile results: {e}")))?;
        return Ok(Compiled {
            outcome: p.outcome,
            active: p.active,
            used_last_known_good: p.used_last_known_good,
            workspace: Some((layout, p.status)),
        });
    }
    if layout.require_initialized().is_ok() {
        let p = persist::compile_and_persist(&layout, target.mode.as_deref())
            .map_err(|e| Error::Failed(format!("cannot write compile results: {e}")))?;
        Ok(Compiled {
            outcome: p.outcome,
            active: p.active,
            used_last_known_good: p.used_last_known_good,
            workspace: Some((layout, p.status)),
        })
    } else {
        eprintln!(
            "note: {} is not an initialized workspace; using the shipped modes (nothing is persisted)",
            target.workspace.display()
        );
        let outcome = compile::compile(&AssetRoot::Embedded, target.mode.as_deref());
        let active = outcome.plan.clone();
        Ok(Compiled {
            outcome,
            active,
            used_last_known_good: false,
            workspace: None,
        })
    }
}

fn input_lines(out: &mut String, prefix: &str, input: Option<&CompileInput>) {
    let (m, c, a) = match input {
        Some(i) => (
            i.mode_id.as_str(),
            i.config_fingerprint.as_str(),
            i.assets_fingerprint.as_str(),
        ),
        None => ("none", "none", "none"),
    };
    let _ = writeln!(out, "{prefix}.mode_id: {m}");
    let _ = writeln!(out, "{prefix}.config_fingerprint: {c}");
    let _ = writeln!(out, "{prefix}.assets_fingerprint: {a}");
}

/// The `compile validate` lines (shared with `config validate`).
pub fn validate_text(c: &Compiled) -> String {
    let mut out = String::new();
    let o = &c.outcome;
    let _ = writeln!(out, "ok: {}", o.errors.is_empty());
    let _ = writeln!(out, "mode_id: {}", o.mode_id);
    let _ = writeln!(out, "used_last_known_good: {}", c.used_last_known_good);
    if let Some(i) = &o.input {
        input_lines(&mut out, "compile_input", Some(i));
    }
    for w in &o.warnings {
        let _ = writeln!(out, "warning: {w}");
    }
    for e in &o.errors {
        let _ = writeln!(out, "error: {e}");
    }
    out
}

pub fn validate_json(c: &Compiled) -> serde_json::Value {
    let o = &c.outcome;
    json!({
        "ok": o.errors.is_empty(),
        "mode_id": o.mode_id,
        "used_last_known_good": c.used_last_known_good,
        "compile_input": o.input,
        "compiled_plan_id": c.active.as_ref().map(|p| p.compiled_plan_id.clone()),
        "warnings": o.warnings,
        "errors": o.errors,
    })
}

fn or_none(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("none")
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// The `compile show` text: the validate lines, then the plan.
pub fn show_text(c: &Compiled) -> String {
    let mut out = validate_text(c);
    let currentness = match &c.workspace {
        Some((_, st)) => st.currentness,
        None if c.active.is_some() => Currentness::Current,
        None => Currentness::Missing,
    };
    let _ = writeln!(out, "compiled_plan_currentness: {currentness}");
    // A stale plan of the same mode is shown (marked above) but is not in
    // force; another mode's plan, or one whose config cannot be read, is not.
    let stale = c
        .workspace
        .as_ref()
        .filter(|(_, st)| st.error.is_none())
        .and_then(|(_, st)| st.plan.as_ref())
        .filter(|p| p.mode_id == c.outcome.mode_id);
    let Some(plan) = c.active.as_ref().or(stale) else {
        return out;
    };
    let _ = writeln!(out, "compiled_plan_id: {}", plan.compiled_plan_id);
    for p in plan.planes() {
        let _ = writeln!(out, "{p}_loop_id: {}", plan.loop_ids_by_plane[p]);
    }
    let manifest = c
        .workspace
        .as_ref()
        .and_then(|(l, _)| Manifest::load(l).ok());
    let _ = writeln!(
        out,
        "baseline_manifest_id: {}",
        manifest
            .as_ref()
            .map(|m| m.manifest_id.as_str())
            .unwrap_or("none")
    );
    let _ = writeln!(
        out,
        "baseline_seed_package_version: {}",
        manifest
            .as_ref()
            .map(|m| m.seed_package_version.as_str())
            .unwrap_or("none")
    );
    input_lines(&mut out, "compile_input", c.outcome.input.as_ref());
    let persisted = c
        .workspace
        .as_ref()
        .and_then(|(_, st)| st.persisted.as_ref());
    input_lines(&mut out, "persisted_compile_input", persisted);
    for p in plan.planes() {
        for e in &plan.graphs_by_plane[p].entries {
            let _ = writeln!(out, "entry: {p}.{} -> {}", e.entry_key, e.node_id);
        }
    }
    for p in plan.planes() {
        let g = &plan.graphs_by_plane[p];
        if let Some(cb) = &g.completion_behavior {
            let _ = writeln!(
                out,
                "completion: {} -> {}",
                cb.request_kind, cb.target_node_id
            );
            let _ = writeln!(out, "completion_behavior.trigger: {}", cb.trigger);
            let _ = writeln!(
                out,
                "completion_behavior.readiness_rule: {}",
                cb.readiness_rule
            );
            let _ = writeln!(out, "completion_behavior.request_kind: {}", cb.request_kind);
            let _ = writeln!(
                out,
                "completion_behavior.target_selector: {}",
                cb.target_selector
            );
            let _ = writeln!(
                out,
                "completion_behavior.rubric_policy: {}",
                cb.rubric_policy
            );
            let _ = writeln!(
                out,
                "completion_behavior.blocked_work_policy: {}",
                cb.blocked_work_policy
            );
            let _ = writeln!(
                out,
                "completion_behavior.skip_if_already_closed: {}",
                cb.skip_if_already_closed
            );
            let _ = writeln!(
                out,
                "completion_behavior.on_pass_terminal_state_id: {}",
                cb.on_pass_terminal_state_id
            );
            let _ = writeln!(
                out,
                "completion_behavior.on_gap_terminal_state_id: {}",
                cb.on_gap_terminal_state_id
            );
            let _ = writeln!(
                out,
                "completion_behavior.create_incident_on_gap: {}",
                cb.create_incident_on_gap
            );
        }
    }
    let mut stages: Vec<(&str, &crate::plan::ir::CompiledNode)> = plan
        .graphs_by_plane
        .iter()
        .flat_map(|(p, g)| g.nodes.iter().map(move |n| (p.as_str(), n)))
        .collect();
    stages.sort_by(|a, b| (a.0, &a.1.node_id).cmp(&(b.0, &b.1.node_id)));
    for (p, n) in &stages {
        let _ = writeln!(out, "stage: {p}.{}", n.node_id);
        let _ = writeln!(out, "stage_kind_id: {}", n.stage_kind_id);
        let _ = writeln!(out, "running_status_marker: {}", n.running_status_marker);
        let _ = writeln!(out, "entrypoint_path: {}", n.entrypoint_path);
        let _ = writeln!(out, "entrypoint_contract_id: {}", n.entrypoint_contract_id);
        let _ = writeln!(
            out,
            "required_skills: {}",
            list_or_none(&n.required_skill_paths)
        );
        let _ = writeln!(
            out,
            "attached_skills: {}",
            list_or_none(&n.attached_skill_paths)
        );
        let _ = writeln!(out, "runner_name: {}", n.runner_name);
        let _ = writeln!(out, "model_name: {}", or_none(&n.model_name));
        let _ = writeln!(out, "thinking_level: {}", or_none(&n.thinking_level));
        let _ = writeln!(
            out,
            "model_reasoning_effort: {}",
            or_none(&n.model_reasoning_effort)
        );
        let _ = writeln!(out, "timeout_seconds: {}", n.timeout_seconds);
    }
    mill_show_lines(&mut out, c, plan, &stages);
    out
}

/// What `compile show` prints beyond the reference, after all of its lines:
/// why a plan is stale, the proven bounds, thresholds, resume policies,
/// learning triggers, concurrency and each stage's `.mill` location.
fn mill_show_lines(
    out: &mut String,
    c: &Compiled,
    plan: &CompiledPlan,
    stages: &[(&str, &crate::plan::ir::CompiledNode)],
) {
    if let Some((_, st)) = &c.workspace {
        for change in &st.changes {
            let _ = writeln!(out, "compiled_plan_change: {change}");
        }
    }
    for p in plan.planes() {
        let b = &plan.graphs_by_plane[p].stage_run_bound;
        let per: Vec<String> = b
            .per_entry
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(
            out,
            "{p}_stage_run_bound: {} ({}){}",
            b.max_stage_runs,
            per.join(", "),
            if b.exact { "" } else { " upper estimate" }
        );
    }
    for p in plan.planes() {
        let g = &plan.graphs_by_plane[p];
        for t in &g.threshold_policies {
            let _ = writeln!(
                out,
                "threshold: {} counter={} on={} from={} after={} exhausted={} source={}",
                t.policy_id,
                t.counter_name,
                t.on_outcome,
                t.source_node_ids.join(","),
                t.threshold,
                t.exhausted_target,
                t.source
            );
        }
        for r in &g.resume_policies {
            let _ = writeln!(
                out,
                "resume: {} from={} on={} metadata={} default={} never={} source={}",
                r.policy_id,
                r.source_node_id,
                r.on_outcome,
                r.metadata_stage_keys.join(","),
                r.default_target_node_id,
                list_or_none(&r.disallowed_target_node_ids),
                r.source
            );
        }
    }
    for rule in &plan.learning_trigger_rules {
        let mut dest = String::new();
        if let Some(skill) = &rule.target_skill_id {
            let _ = write!(dest, " skill={skill}");
        }
        if !rule.preferred_output_paths.is_empty() {
            let _ = write!(dest, " outputs={}", rule.preferred_output_paths.join(","));
        }
        let _ = writeln!(
            out,
            "learning_trigger: {} {}.{} on={} -> {} action={}{dest}",
            rule.rule_id,
            rule.source_plane,
            rule.source_stage,
            rule.on_terminal_results.join(","),
            rule.target_stage,
            rule.requested_action
        );
    }
    if let Some(cp) = &plan.concurrency_policy {
        for [a, b] in &cp.mutually_exclusive_planes {
            let _ = writeln!(out, "concurrency: {a}, {b} mutually_exclusive");
        }
        for [a, b] in &cp.may_run_concurrently {
            let _ = writeln!(out, "concurrency: {a}, {b} may_run_concurrently");
        }
    }
    for (p, n) in stages {
        let _ = writeln!(out, "stage_source: {p}.{} {}", n.node_id, n.source);
    }
}

fn show_json(c: &Compiled) -> serde_json::Value {
    let mut v = validate_json(c);
    if let Some((_, st)) = &c.workspace {
        v["compiled_plan_currentness"] = json!(st.currentness);
        v["compiled_plan_changes"] = json!(st.changes);
        v["persisted_compile_input"] = json!(st.persisted);
    } else {
        v["compiled_plan_currentness"] = json!(if c.active.is_some() {
            Currentness::Current
        } else {
            Currentness::Missing
        });
    }
    v["plan"] = json!(c.active);
    v
}

/// Compile `target` and print it as JSON or text; exit 1 when the compile failed.
fn print_compiled(
    target: &Target,
    json: bool,
    as_json: fn(&Compiled) -> serde_json::Value,
    as_text: fn(&Compiled) -> String,
    needs_plan: bool,
) -> Result<Outcome, Error> {
    let c = compile_target(target)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&as_json(&c)).unwrap_or_default()
        );
    } else {
        print!("{}", as_text(&c));
    }
    if needs_plan && c.active.is_none() {
        no_plan(&c);
    }
    Ok(Outcome::problems_if(!c.outcome.errors.is_empty()))
}

/// Say on stderr that there is no plan to show, and the first error why.
fn no_plan(c: &Compiled) {
    let why = c
        .outcome
        .errors
        .first()
        .map(|e| e.lines().next().unwrap_or_default().to_string())
        .unwrap_or_else(|| "the compile produced no plan".into());
    eprintln!(
        "error: no plan for mode {}: {why} (see the `error:` lines for the details)",
        c.outcome.mode_id
    );
}

pub fn run(args: CompileArgs) -> Result<Outcome, Error> {
    match args.command {
        CompileCommand::Validate { target, json } => {
            print_compiled(&target, json, validate_json, validate_text, false)
        }
        CompileCommand::Show { target, json } => {
            print_compiled(&target, json, show_json, show_text, true)
        }
        CompileCommand::Graph {
            target,
            plane,
            format,
            output,
        } => {
            let c = compile_target(&target)?;
            let Some(plan) = &c.active else {
                print!("{}", validate_text(&c));
                no_plan(&c);
                return Ok(Outcome::Problems);
            };
            let plane = plane.map(PlaneArg::as_str);
            if let Some(p) = plane {
                if !plan.graphs_by_plane.contains_key(p) {
                    return Err(Error::Invalid(format!(
                        "mode {} has no {p} plane",
                        plan.mode_id
                    )));
                }
            }
            let text = match format {
                GraphFormat::Text => graph::text(plan, plane),
                GraphFormat::Json => {
                    let now = crate::workspace::clock::now_rfc3339();
                    let v = stage_graph_export::export(plan, plane, &now);
                    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
                    s.push('\n');
                    s
                }
                GraphFormat::MillJson => {
                    let mut s =
                        serde_json::to_string_pretty(&graph::json(plan, plane)).unwrap_or_default();
                    s.push('\n');
                    s
                }
                GraphFormat::Dot => graph::dot(plan, plane),
                GraphFormat::Mermaid => graph::mermaid(plan, plane),
            };
            match output {
                Some(path) => {
                    std::fs::write(&path, &text).map_err(|e| Error::io(&path, e))?;
                }
                None => print!("{text}"),
            }
            Ok(Outcome::problems_if(!c.outcome.errors.is_empty()))
        }
    }
}
