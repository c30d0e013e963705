//! `millrace test`: run loops without agents. Scenario files
//! (`*.scenarios.toml`, see `runtime/scenario.rs`) are run through the
//! runtime's own result check and router on the compiled plan, in memory
//! (`runtime/simulate.rs`); each loop's worst-case path is printed, and
//! `--exhaustive` enumerates every outcome sequence and fails on a terminal
//! the scenario file does not allow or an end the runtime would refuse.
//! `--stage NODE` with `--marker TEXT` or `--result JSON` checks one stage
//! output: verdict, route, counter changes, the `.mill` line that decides.
//!
//! Paths and `--std` are `lint`'s; with no path, the shipped loops and their
//! scenarios. When the loaded files define no mode, the shipped modes are
//! added (their `std/` imports resolve through `--std`), so
//! `millrace test --std COPY COPY` tests an edited copy of the stdlib.
//! Exit status (`docs/exit-codes.md`): 0 all pass, 1 a scenario or check
//! failed (or the plan does not compile, a path or node is missing, a
//! scenario file is malformed), 2 usage errors.

use super::error::{Error, Outcome};
use super::lint::Format;
use crate::language::check;
use crate::language::load::{self, Loader, Program, StdRoot};
use crate::plan::compile::{compile_program, AssetRoot};
use crate::plan::ir::{CompiledGraph, CompiledPlan, SourceLoc, TransitionTarget};
use crate::plan::lower::EffectiveConfig;
use crate::runners::marker::{self, Extraction};
use crate::runtime::counters::Counters;
use crate::runtime::router::ResumeHints;
use crate::runtime::scenario::{self, Mismatch, ScenarioFile};
use crate::runtime::simulate::{self, Exploration, Scripted, Sequence, ITEM};
use clap::Args;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const SUFFIX: &str = ".scenarios.toml";
const MAX_SCENARIO_BYTES: u64 = 1 << 20;

#[derive(Debug, Args)]
pub struct TestArgs {
    /// `.mill` files or directories (with their `*.scenarios.toml` files), or scenario files; with none, the shipped loops.
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// Resolve `std/...` imports from this directory instead of the embedded stdlib.
    #[arg(long, value_name = "DIR")]
    pub std: Option<PathBuf>,
    /// Enumerate every outcome sequence; fail on a terminal not in `allow_terminals` or an end the runtime would refuse.
    #[arg(long, conflicts_with = "stage")]
    pub exhaustive: bool,
    /// Check one stage output instead: the node that produced it.
    #[arg(long, value_name = "NODE")]
    pub stage: Option<String>,
    /// With --stage: the stage's final text (marker lines like `### BUILDER_COMPLETE`, `Resume-Stage:` lines).
    #[arg(
        long,
        value_name = "TEXT",
        requires = "stage",
        conflicts_with = "result"
    )]
    pub marker: Option<String>,
    /// With --stage: the stage result as JSON (`terminal_result` or `outcome`, `result_class`, `metadata`).
    #[arg(long, value_name = "JSON", requires = "stage")]
    pub result: Option<String>,
    /// With --stage: the mode whose plan to use.
    #[arg(long, default_value = "default_codex", requires = "stage")]
    pub mode: String,
    /// With --stage: a counter's value before the stage (repeatable).
    #[arg(long = "counter", value_name = "NAME=VALUE", requires = "stage")]
    pub counters: Vec<String>,
}

/// A scenario file: its display name and text.
struct Source {
    name: String,
    text: String,
}

fn is_scenario(p: &Path) -> bool {
    p.to_string_lossy().ends_with(SUFFIX)
}

/// Scenario files under a directory, sorted, recursively (symlinks not followed).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        let meta = std::fs::symlink_metadata(&p)?;
        if meta.is_dir() {
            walk(&p, out)?;
        } else if meta.is_file() && is_scenario(&p) {
            out.push(p);
        }
    }
    Ok(())
}

fn read_scenario(path: &Path) -> Result<Source, Error> {
    let name = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::Invalid(format!("{name}: not a regular file")));
    }
    if meta.len() > MAX_SCENARIO_BYTES {
        return Err(Error::Invalid(format!("{name}: larger than 1 MiB")));
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    Ok(Source { name, text })
}

/// The scenario files the arguments name.
fn scenario_sources(args: &TestArgs) -> Result<Vec<Source>, Error> {
    if args.paths.is_empty() && args.std.is_none() {
        return Ok(crate::assets::all()
            .iter()
            .filter(|(p, _)| p.ends_with(SUFFIX))
            .map(|(p, b)| Source {
                name: (*p).to_string(),
                text: String::from_utf8_lossy(b).into_owned(),
            })
            .collect());
    }
    let roots: Vec<PathBuf> = if args.paths.is_empty() {
        args.std.iter().cloned().collect()
    } else {
        args.paths.clone()
    };
    let mut files = Vec::new();
    for p in roots {
        if p.is_dir() {
            walk(&p, &mut files).map_err(|e| Error::io(&p, e))?;
        } else if is_scenario(&p) {
            files.push(p);
        }
    }
    files.iter().map(|p| read_scenario(p)).collect()
}

/// Load the `.mill` files named (or the shipped ones), adding the shipped
/// modes when the files define none.
fn load_program(args: &TestArgs) -> Result<Program, load::LoadError> {
    let root = || {
        args.std
            .clone()
            .map(StdRoot::Dir)
            .unwrap_or(StdRoot::Embedded)
    };
    let mill: Vec<PathBuf> = args
        .paths
        .iter()
        .filter(|p| !is_scenario(p))
        .cloned()
        .collect();
    let mill = if mill.is_empty() {
        match &args.std {
            None => {
                let mut loader = Loader::new(StdRoot::Embedded);
                loader.load_embedded_all();
                return Ok(loader.finish());
            }
            Some(d) => vec![d.clone()],
        }
    } else {
        mill
    };
    let files = load::expand_paths(&mill)?;
    let load_with = |modes: bool| -> Result<Program, load::LoadError> {
        let mut loader = Loader::new(root());
        for f in &files {
            loader.load_path(f)?;
        }
        if modes {
            for (p, _) in crate::assets::mill_sources().filter(|(p, _)| p.starts_with("modes/")) {
                loader.load_embedded(p)?;
            }
        }
        Ok(loader.finish())
    };
    let program = load_with(false)?;
    if check::check(&program).model.modes.is_empty() {
        load_with(true)
    } else {
        Ok(program)
    }
}

/// Compiled plans by mode id, compiled once each.
struct Plans {
    program: Program,
    plans: BTreeMap<String, Result<CompiledPlan, Vec<String>>>,
}

impl Plans {
    fn get(&mut self, mode: &str) -> &Result<CompiledPlan, Vec<String>> {
        if !self.plans.contains_key(mode) {
            let program = std::mem::take(&mut self.program);
            let out = compile_program(
                &AssetRoot::Embedded,
                program,
                EffectiveConfig::default(),
                mode,
            );
            self.program = out.program;
            let result = match out.plan {
                Some(p) if out.errors.is_empty() => Ok(p),
                _ => Err(out.errors),
            };
            self.plans.insert(mode.to_string(), result);
        }
        &self.plans[mode]
    }
}

fn graph_of<'p>(plan: &'p CompiledPlan, loop_id: &str) -> Option<&'p CompiledGraph> {
    plan.graphs_by_plane.values().find(|g| g.loop_id == loop_id)
}

fn seq_text(seq: &Sequence) -> String {
    seq.iter()
        .map(|(n, s)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(" -> ")
}

fn seq_json(seq: &Sequence) -> Value {
    json!(seq
        .iter()
        .map(|(n, s)| json!({"node": n, "returned": s.to_string()}))
        .collect::<Vec<_>>())
}

/// One scenario's outcome, for every format.
struct ScenarioReport {
    file: String,
    line: usize,
    loop_id: String,
    name: String,
    path: Vec<String>,
    end: String,
    counters: BTreeMap<String, u32>,
    mismatches: Vec<Mismatch>,
    /// Why it could not run at all (unknown entry).
    error: Option<String>,
}

impl ScenarioReport {
    fn passed(&self) -> bool {
        self.error.is_none() && self.mismatches.is_empty()
    }
}

/// One loop entry's exploration, with what the author allowed.
struct LoopReport {
    file: String,
    mode: String,
    ex: Exploration,
    allowed: Vec<String>,
}

impl LoopReport {
    fn disallowed(&self) -> Vec<(&str, &Sequence)> {
        self.ex
            .ends
            .iter()
            .filter_map(|(k, seq)| {
                let t = k.strip_prefix("terminal:")?;
                (!self.allowed.iter().any(|a| a == t)).then_some((t, seq))
            })
            .collect()
    }

    fn failed(&self) -> bool {
        !self.disallowed().is_empty() || !self.ex.refusals().is_empty()
    }
}

pub fn run(args: TestArgs) -> Result<Outcome, Error> {
    let program = load_program(&args).map_err(crate::language::Error::from)?;
    let mut plans = Plans {
        program,
        plans: BTreeMap::new(),
    };
    if let Some(stage) = args.stage.clone() {
        return check_stage(&args, &mut plans, &stage);
    }
    let sources = scenario_sources(&args)?;
    if sources.is_empty() {
        return Err(crate::language::Error::NoFiles {
            what: format!("*{SUFFIX}"),
        }
        .into());
    }
    let mut files: Vec<(String, ScenarioFile)> = Vec::new();
    for s in sources {
        match scenario::parse(&s.text) {
            Ok(f) => files.push((s.name, f)),
            Err(e) => return Err(Error::Invalid(format!("{}: {e}", s.name))),
        }
    }
    let mut scenarios = Vec::new();
    let mut loops = Vec::new();
    let mut compile_errors = Vec::new();
    for (name, file) in &files {
        let graph = match plans.get(&file.mode) {
            Err(errs) => {
                compile_errors.push(format!(
                    "{name}: mode {} does not compile:\n  {}",
                    file.mode,
                    errs.join("\n  ")
                ));
                continue;
            }
            Ok(plan) => match graph_of(plan, &file.loop_id) {
                Some(g) => g.clone(),
                None => {
                    compile_errors.push(format!(
                        "{name}: mode {} does not run loop {}",
                        file.mode, file.loop_id
                    ));
                    continue;
                }
            },
        };
        for sc in &file.scenarios {
            let entry = sc
                .entry
                .clone()
                .or_else(|| simulate::entries(&graph).into_iter().next())
                .unwrap_or_default();
            let mut report = ScenarioReport {
                file: name.clone(),
                line: sc.line,
                loop_id: file.loop_id.clone(),
                name: sc.name.clone(),
                path: vec![],
                end: String::new(),
                counters: BTreeMap::new(),
                mismatches: vec![],
                error: None,
            };
            match simulate::run(&graph, &entry, &sc.outcomes) {
                Ok(r) => {
                    report.mismatches = scenario::judge(&sc.expect, &r);
                    report.path = r.path();
                    report.end = r.end.to_string();
                    report.counters = r.counters;
                }
                Err(e) => report.error = Some(e.to_string()),
            }
            scenarios.push(report);
        }
        for entry in simulate::entries(&graph) {
            if let Ok(ex) = simulate::explore(&graph, &entry) {
                loops.push(LoopReport {
                    file: name.clone(),
                    mode: file.mode.clone(),
                    ex,
                    allowed: file.allow_terminals.clone(),
                });
            }
        }
    }
    let failed_scenarios = scenarios.iter().filter(|s| !s.passed()).count();
    let failed_loops = if args.exhaustive {
        loops.iter().filter(|l| l.failed()).count()
    } else {
        0
    };
    match args.format {
        Format::Human => print_human(&scenarios, &loops, &compile_errors, args.exhaustive),
        Format::Json => print_json(&scenarios, &loops, &compile_errors, args.exhaustive),
        Format::Github => print_github(&scenarios, &loops, &compile_errors, args.exhaustive),
    }
    Ok(Outcome::problems_if(
        failed_scenarios > 0 || failed_loops > 0 || !compile_errors.is_empty(),
    ))
}

fn mismatch_lines(m: &Mismatch) -> Vec<String> {
    match m {
        Mismatch::Path { expected, actual } => {
            let mut v = vec!["path (- expected, + actual):".to_string()];
            v.extend(
                scenario::path_diff(expected, actual)
                    .into_iter()
                    .map(|l| format!("  {l}")),
            );
            v
        }
        other => vec![other.to_string()],
    }
}

fn print_human(
    scenarios: &[ScenarioReport],
    loops: &[LoopReport],
    compile_errors: &[String],
    exhaustive: bool,
) {
    for e in compile_errors {
        println!("error: {e}");
    }
    for s in scenarios {
        if s.passed() {
            println!("PASS {}: {} ({})", s.loop_id, s.name, s.end);
            continue;
        }
        println!("FAIL {}: {} ({}:{})", s.loop_id, s.name, s.file, s.line);
        if let Some(e) = &s.error {
            println!("    {e}");
        }
        for m in &s.mismatches {
            for l in mismatch_lines(m) {
                println!("    {l}");
            }
        }
        if !s.mismatches.is_empty() {
            println!("    ran: {} ({})", s.path.join(" -> "), s.end);
        }
    }
    for l in loops {
        let ex = &l.ex;
        println!(
            "worst case: {} ({}) entry {}: {} stage runs (bound {}), ending {}",
            ex.loop_id,
            l.mode,
            ex.entry,
            ex.worst_case.len(),
            ex.bound,
            ex.worst_end
        );
        println!("    {}", seq_text(&ex.worst_case));
        if exhaustive {
            println!(
                "exhaustive: {} entry {}: {} sequences over {} states, terminals {}",
                ex.loop_id,
                ex.entry,
                ex.sequences,
                ex.states,
                ex.terminals().join(", ")
            );
            for (t, seq) in l.disallowed() {
                println!("FAIL {} entry {}: reaches terminal {t}, which allow_terminals does not list ({})", ex.loop_id, ex.entry, l.file);
                println!("    {}", seq_text(seq));
            }
            for (why, seq) in ex.refusals() {
                println!("FAIL {} entry {}: {why}", ex.loop_id, ex.entry);
                println!("    {}", seq_text(&seq));
            }
        }
    }
    let passed = scenarios.iter().filter(|s| s.passed()).count();
    let mut summary = format!("{} of {} scenarios passed", passed, scenarios.len());
    if exhaustive {
        let bad = loops.iter().filter(|l| l.failed()).count();
        let seqs: u128 = loops
            .iter()
            .map(|l| l.ex.sequences)
            .fold(0, u128::saturating_add);
        summary.push_str(&format!(
            "; exhaustive: {} loop entries, {seqs} sequences, {bad} failing",
            loops.len()
        ));
    }
    println!("{summary}");
}

fn print_json(
    scenarios: &[ScenarioReport],
    loops: &[LoopReport],
    compile_errors: &[String],
    exhaustive: bool,
) {
    let sc: Vec<Value> = scenarios
        .iter()
        .map(|s| {
            let diff = s.mismatches.iter().find_map(|m| match m {
                Mismatch::Path { expected, actual } => Some(scenario::path_diff(expected, actual)),
                _ => None,
            });
            json!({
                "file": s.file, "line": s.line, "loop": s.loop_id, "name": s.name,
                "passed": s.passed(), "path": s.path, "end": s.end, "counters": s.counters,
                "error": s.error,
                "mismatches": s.mismatches.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "path_diff": diff,
            })
        })
        .collect();
    let lp: Vec<Value> = loops
        .iter()
        .map(|l| {
            let ex = &l.ex;
            let mut v = json!({
                "file": l.file, "loop": ex.loop_id, "mode": l.mode, "entry": ex.entry,
                "bound": ex.bound, "worst_case_runs": ex.worst_case.len(),
                "worst_case": seq_json(&ex.worst_case), "worst_case_end": ex.worst_end,
            });
            if exhaustive {
                v["states"] = json!(ex.states);
                v["transitions"] = json!(ex.transitions);
                v["sequences"] = json!(u64::try_from(ex.sequences).unwrap_or(u64::MAX));
                v["terminals"] = json!(ex.terminals());
                v["allowed_terminals"] = json!(l.allowed);
                v["disallowed"] = json!(l
                    .disallowed()
                    .iter()
                    .map(|(t, seq)| json!({"terminal": t, "sequence": seq_json(seq)}))
                    .collect::<Vec<_>>());
                v["refusals"] = json!(ex
                    .refusals()
                    .iter()
                    .map(|(why, seq)| json!({"reason": why, "sequence": seq_json(seq)}))
                    .collect::<Vec<_>>());
                v["passed"] = json!(!l.failed());
            }
            v
        })
        .collect();
    let ok = compile_errors.is_empty()
        && scenarios.iter().all(ScenarioReport::passed)
        && (!exhaustive || loops.iter().all(|l| !l.failed()));
    let out = json!({
        "ok": ok,
        "errors": compile_errors,
        "scenarios": sc,
        "loops": lp,
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
}

/// GitHub annotation text: `%`, CR and LF escaped.
fn gh(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn print_github(
    scenarios: &[ScenarioReport],
    loops: &[LoopReport],
    compile_errors: &[String],
    exhaustive: bool,
) {
    for e in compile_errors {
        println!("::error::{}", gh(e));
    }
    for s in scenarios.iter().filter(|s| !s.passed()) {
        let mut lines: Vec<String> = s.error.iter().cloned().collect();
        for m in &s.mismatches {
            lines.extend(mismatch_lines(m));
        }
        println!(
            "::error file={},line={},title=scenario failed: {}::{}",
            s.file,
            s.line,
            gh(&s.name),
            gh(&lines.join("\n"))
        );
    }
    for l in loops {
        let ex = &l.ex;
        println!(
            "::notice file={},title=worst case {} {}::{} stage runs (bound {}): {}",
            l.file,
            ex.loop_id,
            ex.entry,
            ex.worst_case.len(),
            ex.bound,
            gh(&seq_text(&ex.worst_case))
        );
        if exhaustive {
            for (t, seq) in l.disallowed() {
                println!(
                    "::error file={},title=terminal {t} not allowed::{} entry {} reaches it: {}",
                    l.file,
                    ex.loop_id,
                    ex.entry,
                    gh(&seq_text(seq))
                );
            }
            for (why, seq) in ex.refusals() {
                println!(
                    "::error file={},title=refused::{} entry {}: {}: {}",
                    l.file,
                    ex.loop_id,
                    ex.entry,
                    gh(&why),
                    gh(&seq_text(&seq))
                );
            }
        }
    }
}

/// The text of the `.mill` line a source location names.
fn line_text(loc: &SourceLoc) -> Option<String> {
    let text = match loc.file.strip_prefix("mill/") {
        Some(rest) => crate::assets::get(rest).map(|b| String::from_utf8_lossy(b).into_owned()),
        None => std::fs::read_to_string(&loc.file).ok(),
    }?;
    text.lines()
        .nth(loc.line.saturating_sub(1))
        .map(|l| l.trim().to_string())
}

/// What a stage output says it returned, as the runtime reads it.
/// `--marker` / `--result` values that cannot be used are usage errors.
fn stage_output(args: &TestArgs, legal: &[String]) -> Result<(Scripted, Option<String>), Error> {
    if let Some(text) = &args.marker {
        let scan = marker::scan_text(text);
        let hints = ResumeHints {
            resume_stage: scan.metadata.resume_stage.clone(),
            target_stage: scan.metadata.target_stage.clone(),
        };
        return Ok(match scan.classify(legal) {
            Extraction::Legal { outcome } => (
                Scripted {
                    outcome,
                    result_class: None,
                    hints,
                },
                None,
            ),
            other => (
                Scripted {
                    outcome: "BLOCKED".into(),
                    result_class: Some("recoverable_failure".into()),
                    hints: ResumeHints::default(),
                },
                other.failure_class().map(str::to_string),
            ),
        });
    }
    let Some(json_text) = &args.result else {
        return Err(Error::Usage(
            "--stage needs --marker TEXT or --result JSON".into(),
        ));
    };
    let v: Value = serde_json::from_str(json_text)
        .map_err(|e| Error::Usage(format!("--result is not JSON: {e}")))?;
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let outcome = s(&v, "terminal_result")
        .or_else(|| s(&v, "outcome"))
        .ok_or_else(|| {
            Error::Usage("--result needs a terminal_result (or outcome) string".into())
        })?;
    let outcome = outcome.trim_start_matches("###").trim().to_string();
    let meta = v.get("metadata").cloned().unwrap_or(Value::Null);
    let hint = |k: &str| s(&meta, k).or_else(|| s(&v, k));
    Ok((
        Scripted {
            outcome,
            result_class: s(&v, "result_class"),
            hints: ResumeHints {
                resume_stage: hint("resume_stage"),
                target_stage: hint("target_stage"),
            },
        },
        s(&v, "failure_class"),
    ))
}

fn check_stage(args: &TestArgs, plans: &mut Plans, stage: &str) -> Result<Outcome, Error> {
    if args.format == Format::Github {
        return Err(Error::Usage(
            "--stage prints human or json output; --format github is for scenario runs".into(),
        ));
    }
    let plan = match plans.get(&args.mode) {
        Ok(p) => p.clone(),
        Err(errs) => {
            return Err(crate::plan::Error::Compile(format!(
                "mode {} does not compile: {}",
                args.mode,
                errs.join("; ")
            ))
            .into())
        }
    };
    let Some((graph, node)) = plan.find_node(stage) else {
        return Err(Error::Missing(format!(
            "mode {} has no node {stage}",
            args.mode
        )));
    };
    // `--marker` / `--result` values that cannot be used: usage errors.
    let (returned, failure_class) = stage_output(args, &node.legal_outcomes)?;
    let mut counters = Counters::default();
    for c in &args.counters {
        let Some((name, value)) = c.split_once('=') else {
            return Err(Error::Usage(format!("--counter {c}: write NAME=VALUE")));
        };
        let Ok(value) = value.parse::<u32>() else {
            return Err(Error::Usage(format!(
                "--counter {c}: the value is not a count"
            )));
        };
        for _ in 0..value {
            counters.increment(ITEM.0, ITEM.1, name);
        }
    }
    let before = counters.of_item(ITEM.0, ITEM.1);
    let step = match simulate::step(graph, &mut counters, stage, &returned) {
        Ok(s) => s,
        Err(e) => {
            println!("refused: {e}");
            return Ok(Outcome::Problems);
        }
    };
    let after = counters.of_item(ITEM.0, ITEM.1);
    let changes: Vec<Value> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, v)| json!({"counter": k, "before": before.get(k).copied().unwrap_or(0), "after": v}))
        .collect();
    let d = &step.decision;
    let next = match &d.next {
        TransitionTarget::Node(n) => n.clone(),
        TransitionTarget::Terminal(t) => format!("terminal {t}"),
    };
    let class = returned
        .result_class
        .clone()
        .or_else(|| crate::runtime::surface::default_class(node, &returned.outcome))
        .unwrap_or_default();
    let line = line_text(&d.source);
    match args.format {
        Format::Json => {
            let out = json!({
                "node": stage, "loop": graph.loop_id, "returned": returned.to_string(),
                "outcome": step.outcome, "result_class": class, "failure_class": failure_class,
                "refused": step.refused, "next": next, "via": d.via.as_str(), "reason": d.reason,
                "counter_changes": changes, "source": d.source, "source_line": line,
            });
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        }
        _ => {
            match (&step.refused, &failure_class) {
                (Some(why), _) => println!(
                    "verdict: BLOCKED / recoverable_failure (illegal_terminal_result: {why})"
                ),
                (None, Some(fc)) => println!("verdict: {} / {class} ({fc})", step.outcome),
                (None, None) => println!("verdict: {} / {class}", step.outcome),
            }
            println!(
                "route:   {stage} -> {next} (via {}, reason {})",
                d.via.as_str(),
                d.reason
            );
            if changes.is_empty() {
                println!("counters: unchanged");
            }
            for c in &changes {
                println!(
                    "counter: {} {} -> {}",
                    c["counter"].as_str().unwrap_or(""),
                    c["before"],
                    c["after"]
                );
            }
            println!("decided by {}: {}", d.source, line.unwrap_or_default());
        }
    }
    Ok(Outcome::Success)
}
