//! `millrace runs ls|show|tail|trace|prune`: read the records stages left
//! under `millrace-agents/runs/<run-id>/` (stage results and
//! `run_trace.json`), and delete old ones.
//!
//! Output follows the reference's `runs` commands line for line
//! (reference-facts section 3), with these additions: a run may be named by
//! an unambiguous prefix of its hex id (the reference only takes full ids),
//! `ls` lists newest first by start time, at most `--limit` runs, and adds
//! `outcome`, `stage_count` and `started_at`, each `trace` step cites the
//! `.mill` location of the transition that routed it, and `prune` (ours).
//! `--json` everywhere.
//!
//! Listing and prefix lookups go through our index of the run directories
//! (`workspace::runs_index`), which a listing rebuilds when it is missing or
//! stale; apart from that index and `prune`, nothing here writes to the
//! workspace. A run being written while we read is retried briefly (the
//! trace is rewritten in place after every stage).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use serde_json::Value;

use super::error::{Error, Outcome};
use super::workspace_arg::WorkspaceArg;
use crate::workspace::layout::Layout;
use crate::workspace::{clock, retention, runs_index, safe_fs, state};

#[derive(Debug, Args)]
pub struct RunsArgs {
    #[command(subcommand)]
    pub command: RunsCommand,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first by start time, one block per run, with how
    /// each run ended (`outcome`).
    Ls {
        #[command(flatten)]
        workspace: WorkspaceArg,
        /// At most N runs (default 50).
        #[arg(long, value_name = "N", conflicts_with = "all")]
        limit: Option<usize>,
        /// Every run.
        #[arg(long)]
        all: bool,
        /// Print a JSON array instead of `key: value` blocks.
        #[arg(long)]
        json: bool,
    },
    /// Delete old run directories. Runs of active or blocked work items and
    /// runs an open incident names are kept unless `--include-blocked`.
    Prune {
        /// Prune runs that started and last changed longer ago than this
        /// (`30d`, `12h`, `90m`, `45s`, `2w`).
        #[arg(long, value_name = "DURATION")]
        older_than: String,
        /// Keep runs that did not end `complete` (blocked, handed off, or
        /// left before a decision: `interrupted`, `not_finished`).
        #[arg(long)]
        keep_failed: bool,
        /// Also prune runs of blocked items and runs open incidents name.
        #[arg(long)]
        include_blocked: bool,
        /// Say what would be pruned; delete nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        workspace: WorkspaceArg,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Show a run and each of its stage results.
    Show {
        /// Run id (`run-<hex>`), or an unambiguous prefix of its hex digits.
        run_id: String,
        #[command(flatten)]
        workspace: WorkspaceArg,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Print the run's primary output: the latest stage's troubleshoot report
    /// or stdout (else its stderr, else its stage result).
    Tail {
        /// Run id (`run-<hex>`), or an unambiguous prefix of its hex digits.
        run_id: String,
        #[command(flatten)]
        workspace: WorkspaceArg,
        /// Only the last N lines.
        #[arg(long, value_name = "N")]
        lines: Option<usize>,
        /// Print `{run_id, path, content}` as JSON.
        #[arg(long, conflicts_with = "follow")]
        json: bool,
        /// Stream the running stage's stdout as it is written, stage after
        /// stage, until the run ends (a finished run: print and exit).
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// Show the path the run took: one line per routing decision, citing the
    /// `.mill` rule that made it.
    Trace {
        /// Run id (`run-<hex>`), or an unambiguous prefix of its hex digits.
        run_id: String,
        #[command(flatten)]
        workspace: WorkspaceArg,
        /// Output format.
        #[arg(long, value_enum, default_value_t = TraceFormat::Text)]
        format: TraceFormat,
        /// Same as `--format json`.
        #[arg(long)]
        json: bool,
        /// Write the output to this file instead of stdout.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TraceFormat {
    Text,
    Json,
}

pub fn run(args: RunsArgs) -> Result<Outcome, Error> {
    match args.command {
        RunsCommand::Ls {
            workspace,
            limit,
            all,
            json,
        } => with_layout(&workspace, |l| {
            ls(l, if all { None } else { Some(limit.unwrap_or(50)) }, json)
        }),
        RunsCommand::Prune {
            older_than,
            keep_failed,
            include_blocked,
            dry_run,
            workspace,
            json,
        } => {
            let older_than_secs = retention::parse_duration(&older_than)
                .map_err(|e| Error::Usage(format!("--older-than: {e}")))?;
            let opts = retention::Options {
                older_than_secs,
                keep_failed,
                include_blocked,
                keep_last: 0,
                dry_run,
            };
            with_layout(&workspace, |l| prune(l, &opts, json))
        }
        RunsCommand::Show {
            run_id,
            workspace,
            json,
        } => with_layout(&workspace, |l| show(l, &run_id, json)),
        RunsCommand::Tail {
            run_id,
            workspace,
            lines,
            json,
            follow,
        } => with_layout(&workspace, |l| {
            if follow {
                follow_run(l, &run_id, lines)
            } else {
                tail(l, &run_id, lines, json)
            }
        }),
        RunsCommand::Trace {
            run_id,
            workspace,
            format,
            json,
            output,
        } => with_layout(&workspace, |l| {
            let format = if json { TraceFormat::Json } else { format };
            trace(l, &run_id, format, output.as_deref())
        }),
    }
}

fn with_layout(
    workspace: &WorkspaceArg,
    f: impl FnOnce(&Layout) -> Result<Outcome, Error>,
) -> Result<Outcome, Error> {
    f(&workspace.initialized()?)
}

/// The error of a run (or artifact) that does not exist.
fn not_found(message: &str) -> Error {
    Error::Missing(message.to_string())
}

pub(crate) fn runs_dir(layout: &Layout) -> PathBuf {
    layout.runtime.join("runs")
}

// ------------------------------------------------------------ resolution

/// A run named by its full id, or by an unambiguous prefix of its hex
/// digits (with or without `run-`). `Err`: not found, or ambiguous (both
/// kind `not_found`, exit 1).
pub(crate) fn resolve(layout: &Layout, given: &str) -> Result<(String, PathBuf), Error> {
    let not_found = || Error::NotFound {
        what: "run",
        id: given.to_string(),
    };
    if given.is_empty() || given.contains(['/', '\\']) || given == "." || given == ".." {
        return Err(not_found());
    }
    let dir = runs_dir(layout);
    if dir.join(given).is_dir() {
        return Ok((given.to_string(), dir.join(given)));
    }
    let hex = given
        .strip_prefix("run-")
        .unwrap_or(given)
        .to_ascii_lowercase();
    if hex.is_empty() || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(not_found());
    }
    let matches = runs_index::ids_with_prefix(layout, &format!("run-{hex}"));
    match matches.as_slice() {
        [] => Err(not_found()),
        [one] => Ok((one.clone(), dir.join(one))),
        many => Err(Error::Missing(format!(
            "run id {given} is ambiguous: it matches {} runs: {}",
            many.len(),
            many.join(", ")
        ))),
    }
}

/// Why a run's JSON file could not be read (noted, the run is `malformed`).
#[derive(Debug)]
enum JsonFileError {
    Unreadable(std::io::Error),
    Invalid(serde_json::Error),
}

impl std::fmt::Display for JsonFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JsonFileError::Unreadable(e) => write!(f, "{e}"),
            JsonFileError::Invalid(e) => write!(f, "invalid JSON: {e}"),
        }
    }
}

/// Read and parse a JSON file, retrying a few times when it does not parse:
/// the runtime may be rewriting it. `Ok(None)` when the file is absent.
fn read_json(path: &Path) -> Result<Option<Value>, JsonFileError> {
    let mut last = None;
    for attempt in 0..5 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(5 * attempt));
        }
        match safe_fs::read_capped(path, safe_fs::MAX_STATE_BYTES) {
            Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                Ok(v) => return Ok(Some(v)),
                Err(e) => last = Some(JsonFileError::Invalid(e)),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => last = Some(JsonFileError::Unreadable(e)),
        }
    }
    Err(last.expect("five attempts failed"))
}

// ------------------------------------------------------------ inspection

/// One stage result, as `runs show` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct StageView {
    pub stage_result_path: String,
    pub request_id: Option<String>,
    pub compiled_plan_id: Option<String>,
    pub mode_id: Option<String>,
    pub plane: Option<String>,
    pub stage: String,
    pub node_id: String,
    pub stage_kind_id: String,
    pub request_kind: Option<String>,
    pub closure_target_root_spec_id: Option<String>,
    pub terminal_result: String,
    pub result_class: String,
    pub work_item_kind: Option<String>,
    pub work_item_id: Option<String>,
    pub failure_class: Option<String>,
    pub stdout_path: Option<String>,
    pub stderr_path: Option<String>,
    pub report_artifact: Option<String>,
    pub artifact_paths: Vec<String>,
    pub runner_name: Option<String>,
    pub model_name: Option<String>,
    pub thinking_level: Option<String>,
    pub model_reasoning_effort: Option<String>,
    pub started_at: String,
    pub completed_at: String,
    pub duration_seconds: f64,
    pub token_usage: Option<TokenUsage>,
    /// The stage result's notes (the reason behind a failure class).
    #[serde(skip)]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct TokenUsage {
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    pub thinking_tokens: u64,
    pub total_tokens: u64,
}

impl TokenUsage {
    fn from_value(v: &Value) -> Option<TokenUsage> {
        let o = v.as_object()?;
        let n = |k: &str| o.get(k).and_then(Value::as_u64).unwrap_or(0);
        Some(TokenUsage {
            input_tokens: n("input_tokens"),
            cached_input_tokens: n("cached_input_tokens"),
            output_tokens: n("output_tokens"),
            thinking_tokens: n("thinking_tokens"),
            total_tokens: n("total_tokens"),
        })
    }

    fn add(&mut self, o: &TokenUsage) {
        self.input_tokens += o.input_tokens;
        self.cached_input_tokens += o.cached_input_tokens;
        self.output_tokens += o.output_tokens;
        self.thinking_tokens += o.thinking_tokens;
        self.total_tokens += o.total_tokens;
    }

    fn lines(&self, out: &mut Lines) {
        out.kv("input_tokens", self.input_tokens);
        out.kv("cached_input_tokens", self.cached_input_tokens);
        out.kv("output_tokens", self.output_tokens);
        out.kv("thinking_tokens", self.thinking_tokens);
        out.kv("total_tokens", self.total_tokens);
    }
}

/// A run: its header (from the first and latest stage results) and stages.
#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    /// Why the run ended (or that it has not): `runs show` leads with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ending: Option<Ending>,
    pub run_id: String,
    pub run_dir: String,
    /// `valid`, `incomplete` (no stage result yet) or `malformed`.
    pub status: &'static str,
    pub compiled_plan_id: Option<String>,
    pub mode_id: Option<String>,
    pub request_kind: Option<String>,
    pub closure_target_root_spec_id: Option<String>,
    pub work_item_kind: Option<String>,
    pub work_item_id: Option<String>,
    pub failure_class: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub duration_seconds: Option<f64>,
    pub troubleshoot_report_path: Option<String>,
    pub primary_stdout_path: Option<String>,
    pub primary_stderr_path: Option<String>,
    pub stage_result_count: usize,
    pub token_usage: Option<TokenUsage>,
    pub notes: Vec<String>,
    pub stage_results: Vec<StageView>,
}

fn s(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

/// A path relative to the run directory when it lies inside it.
fn run_relative(run_dir: &Path, p: &str) -> String {
    Path::new(p)
        .strip_prefix(run_dir)
        .map(|r| r.to_string_lossy().into_owned())
        .unwrap_or_else(|_| p.to_string())
}

/// A stage result without one of the fields `runs show` needs.
#[derive(Debug)]
struct MissingField(&'static str);

impl std::fmt::Display for MissingField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "missing or non-string field {}", self.0)
    }
}

fn stage_view(run_dir: &Path, rel: String, v: &Value) -> Result<StageView, MissingField> {
    let required = |k: &'static str| s(v, k).ok_or(MissingField(k));
    let m = v.get("metadata").cloned().unwrap_or(Value::Null);
    let path = |k: &str| s(v, k).map(|p| run_relative(run_dir, &p));
    Ok(StageView {
        stage_result_path: rel,
        request_id: s(&m, "request_id"),
        compiled_plan_id: s(&m, "compiled_plan_id"),
        mode_id: s(&m, "mode_id"),
        plane: s(v, "plane"),
        stage: required("stage")?,
        node_id: required("node_id")?,
        stage_kind_id: required("stage_kind_id")?,
        request_kind: s(&m, "request_kind"),
        closure_target_root_spec_id: s(&m, "closure_target_root_spec_id"),
        terminal_result: required("terminal_result")?,
        result_class: required("result_class")?,
        work_item_kind: s(v, "work_item_kind"),
        work_item_id: s(v, "work_item_id"),
        failure_class: s(&m, "failure_class"),
        stdout_path: path("stdout_path"),
        stderr_path: path("stderr_path"),
        report_artifact: path("report_artifact"),
        artifact_paths: v
            .get("artifact_paths")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|p| run_relative(run_dir, p))
                    .collect()
            })
            .unwrap_or_default(),
        runner_name: s(v, "runner_name"),
        model_name: s(v, "model_name"),
        thinking_level: s(v, "thinking_level"),
        model_reasoning_effort: s(v, "model_reasoning_effort"),
        started_at: required("started_at")?,
        completed_at: required("completed_at")?,
        duration_seconds: v
            .get("duration_seconds")
            .and_then(Value::as_f64)
            .unwrap_or(0.0),
        token_usage: v.get("token_usage").and_then(TokenUsage::from_value),
        notes: v
            .get("notes")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// Inspect one run directory (read only).
pub fn inspect(run_id: &str, run_dir: &Path) -> RunView {
    let mut notes = Vec::new();
    let mut status = "valid";
    let mut stages = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(run_dir.join("stage_results"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    for name in names {
        let path = run_dir.join("stage_results").join(&name);
        let rel = format!("stage_results/{name}");
        match read_json(&path) {
            Ok(Some(v)) => match stage_view(run_dir, rel, &v) {
                Ok(view) => stages.push(view),
                Err(e) => {
                    status = "malformed";
                    notes.push(format!("{name}: invalid stage result payload: {e}"));
                }
            },
            Ok(None) => {} // removed while listing
            Err(e) => {
                status = "malformed";
                notes.push(format!("{name}: {e}"));
            }
        }
    }
    stages.sort_by(|a, b| {
        (&a.completed_at, &a.started_at, &a.stage_result_path).cmp(&(
            &b.completed_at,
            &b.started_at,
            &b.stage_result_path,
        ))
    });
    if stages.is_empty() && status == "valid" {
        status = "incomplete";
        notes.push("no stage result artifacts found".into());
    }
    let first = stages.first();
    let latest = stages.last();
    let duration = match (first, latest) {
        (Some(f), Some(l)) => {
            match (
                clock::parse_seconds(&f.started_at),
                clock::parse_seconds(&l.completed_at),
            ) {
                (Some(a), Some(b)) => Some(((b - a) * 1e6).round() / 1e6),
                _ => None,
            }
        }
        _ => None,
    };
    let token_usage = stages
        .iter()
        .filter_map(|st| st.token_usage)
        .reduce(|mut acc, t| {
            acc.add(&t);
            acc
        });
    let pick = |f: fn(&StageView) -> Option<String>| latest.and_then(f);
    RunView {
        ending: None,
        run_id: run_id.to_string(),
        run_dir: run_dir.display().to_string(),
        status,
        compiled_plan_id: pick(|l| l.compiled_plan_id.clone()),
        mode_id: pick(|l| l.mode_id.clone()),
        request_kind: pick(|l| l.request_kind.clone()),
        closure_target_root_spec_id: pick(|l| l.closure_target_root_spec_id.clone()),
        work_item_kind: pick(|l| l.work_item_kind.clone()),
        work_item_id: pick(|l| l.work_item_id.clone()),
        failure_class: pick(|l| l.failure_class.clone()),
        started_at: first.map(|f| f.started_at.clone()),
        completed_at: latest.map(|l| l.completed_at.clone()),
        duration_seconds: duration,
        troubleshoot_report_path: pick(|l| l.report_artifact.clone()),
        primary_stdout_path: pick(|l| l.stdout_path.clone()),
        primary_stderr_path: pick(|l| l.stderr_path.clone()),
        stage_result_count: stages.len(),
        token_usage,
        notes,
        stage_results: stages,
    }
}

// ------------------------------------------------------------ rendering

/// `key: value` lines.
#[derive(Default)]
struct Lines(String);

impl Lines {
    fn kv(&mut self, k: &str, v: impl std::fmt::Display) {
        use std::fmt::Write;
        let _ = writeln!(self.0, "{k}: {v}");
    }
    fn opt(&mut self, k: &str, v: &Option<String>) {
        self.kv(k, v.as_deref().unwrap_or("none"));
    }
    fn blank(&mut self) {
        self.0.push('\n');
    }
}

/// A float as Python's `str()` prints it (`1.0`, `0.367943`, `1e-05`).
pub fn py_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    let a = x.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        // Rust: `1.5e-7`; Python: `1.5e-07`.
        let e = format!("{x:e}");
        let (mantissa, exp) = e.split_once('e').expect("exponent form");
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    let t = format!("{x}");
    if t.contains('.') {
        t
    } else {
        format!("{t}.0")
    }
}

/// A UTC timestamp as Python's `datetime.isoformat()` prints it
/// (`...T05:17:11.049278+00:00`); other text unchanged.
pub fn py_iso(ts: &str) -> String {
    let Some(base) = ts.strip_suffix('Z') else {
        return ts.to_string();
    };
    let (whole, frac) = match base.split_once('.') {
        Some((w, f)) if f.bytes().all(|c| c.is_ascii_digit()) => (w, f),
        Some(_) => return ts.to_string(),
        None => (base, ""),
    };
    let mut micros: String = frac.chars().take(6).collect();
    while micros.len() < 6 {
        micros.push('0');
    }
    if micros == "000000" {
        format!("{whole}+00:00")
    } else {
        format!("{whole}.{micros}+00:00")
    }
}

fn render_ls(runs: &[(RunView, &'static str)]) -> String {
    let mut out = Lines::default();
    for (i, (r, outcome)) in runs.iter().enumerate() {
        if i > 0 {
            out.blank();
        }
        out.kv("run_id", &r.run_id);
        out.kv("status", r.status);
        out.kv("outcome", outcome);
        out.opt("work_item_kind", &r.work_item_kind);
        out.opt("work_item_id", &r.work_item_id);
        out.opt("failure_class", &r.failure_class);
        out.kv("stage_count", r.stage_result_count);
        out.opt("started_at", &r.started_at.as_deref().map(py_iso));
    }
    out.0
}

fn render_show(r: &RunView) -> String {
    let mut out = Lines::default();
    if let Some(e) = &r.ending {
        out.kv("outcome", &e.outcome);
        out.opt("outcome_failure_class", &e.failure_class);
        out.kv("outcome_reason", &e.reason);
        out.opt("look_at", &e.look_at);
        out.blank();
    }
    out.kv("run_id", &r.run_id);
    out.kv("status", r.status);
    out.opt("compiled_plan_id", &r.compiled_plan_id);
    out.opt("mode_id", &r.mode_id);
    out.opt("request_kind", &r.request_kind);
    out.opt(
        "closure_target_root_spec_id",
        &r.closure_target_root_spec_id,
    );
    out.opt("work_item_kind", &r.work_item_kind);
    out.opt("work_item_id", &r.work_item_id);
    out.opt("failure_class", &r.failure_class);
    out.opt("started_at", &r.started_at.as_deref().map(py_iso));
    out.opt("completed_at", &r.completed_at.as_deref().map(py_iso));
    out.opt("duration_seconds", &r.duration_seconds.map(py_float));
    out.opt("troubleshoot_report_path", &r.troubleshoot_report_path);
    out.opt("primary_stdout_path", &r.primary_stdout_path);
    out.opt("primary_stderr_path", &r.primary_stderr_path);
    out.kv("stage_result_count", r.stage_result_count);
    if let Some(t) = &r.token_usage {
        t.lines(&mut out);
    }
    for note in &r.notes {
        out.kv("note", note);
    }
    for st in &r.stage_results {
        out.kv("stage_result_path", &st.stage_result_path);
        out.opt("request_id", &st.request_id);
        out.opt("compiled_plan_id", &st.compiled_plan_id);
        out.opt("mode_id", &st.mode_id);
        out.kv("stage", &st.stage);
        out.kv("node_id", &st.node_id);
        out.kv("stage_kind_id", &st.stage_kind_id);
        out.opt("request_kind", &st.request_kind);
        out.opt(
            "closure_target_root_spec_id",
            &st.closure_target_root_spec_id,
        );
        out.kv("terminal_result", &st.terminal_result);
        out.kv("result_class", &st.result_class);
        out.opt("runner_name", &st.runner_name);
        out.opt("model_name", &st.model_name);
        out.opt("thinking_level", &st.thinking_level);
        out.opt("model_reasoning_effort", &st.model_reasoning_effort);
        out.kv("started_at", py_iso(&st.started_at));
        out.kv("completed_at", py_iso(&st.completed_at));
        out.kv("duration_seconds", py_float(st.duration_seconds));
        out.opt("stdout_path", &st.stdout_path);
        out.opt("stderr_path", &st.stderr_path);
        out.opt("report_artifact", &st.report_artifact);
        if let Some(t) = &st.token_usage {
            t.lines(&mut out);
        }
        for p in &st.artifact_paths {
            out.kv("artifact_path", p);
        }
    }
    out.0
}

fn pretty(v: &impl Serialize) -> String {
    let mut text = serde_json::to_string_pretty(v).expect("serializes");
    text.push('\n');
    text
}

// ------------------------------------------------------------ commands

/// How a run stands: the one rule `runs ls` and `runs show` share. Its
/// trace's terminal decision (`complete`, `blocked`, `handoff`) when it has
/// one; else, held as an active run by the snapshot, `running` while a
/// daemon holds the workspace and `interrupted` when none does (it resumes
/// on the next start); else `not_finished`: left before a decision was
/// recorded (retried, cancelled, its item moved on, or no readable trace).
fn standing(trace_status: Option<&str>, held: bool, owned: bool) -> &'static str {
    match trace_status {
        Some("complete") => "complete",
        Some("blocked") => "blocked",
        Some("handoff") => "handoff",
        _ if held && owned => "running",
        _ if held => "interrupted",
        _ => "not_finished",
    }
}

/// The run ids the snapshot holds as active runs, and whether a daemon
/// holds the workspace lock.
fn held_runs(layout: &Layout) -> (std::collections::HashSet<String>, bool) {
    let mut ids = std::collections::HashSet::new();
    let owned = matches!(
        crate::workspace::lock::inspect(layout),
        crate::workspace::lock::LockStatus::Active(_)
    );
    if let Ok(snap) = state::load_snapshot(layout) {
        ids.extend(snap.active_run_id.clone());
        for run in snap.active_runs_by_plane.values() {
            if let Some(id) = run.get("run_id").and_then(Value::as_str) {
                ids.insert(id.to_string());
            }
        }
    }
    (ids, owned)
}

fn ls(layout: &Layout, limit: Option<usize>, json: bool) -> Result<Outcome, Error> {
    let dir = runs_dir(layout);
    let (held, owned) = held_runs(layout);
    let runs: Vec<(RunView, &'static str)> = runs_index::newest(layout, limit)
        .into_iter()
        .filter(|e| dir.join(&e.run_id).is_dir())
        .map(|e| {
            let mut view = inspect(&e.run_id, &dir.join(&e.run_id));
            if view.started_at.is_none() && !e.started_at.is_empty() {
                view.started_at = Some(e.started_at.clone());
            }
            if view.work_item_id.is_none() {
                view.work_item_kind = e.work_item_kind.clone();
                view.work_item_id = e.work_item_id.clone();
            }
            let status = retention::trace_status(&dir.join(&e.run_id));
            let ended = standing(status.as_deref(), held.contains(&e.run_id), owned);
            (view, ended)
        })
        .collect();
    if json {
        #[derive(Serialize)]
        struct Entry<'a> {
            run_id: &'a str,
            status: &'a str,
            outcome: &'a str,
            work_item_kind: &'a Option<String>,
            work_item_id: &'a Option<String>,
            failure_class: &'a Option<String>,
            stage_count: usize,
            started_at: &'a Option<String>,
            completed_at: &'a Option<String>,
        }
        let entries: Vec<Entry> = runs
            .iter()
            .map(|(r, ended)| Entry {
                run_id: &r.run_id,
                status: r.status,
                outcome: ended,
                work_item_kind: &r.work_item_kind,
                work_item_id: &r.work_item_id,
                failure_class: &r.failure_class,
                stage_count: r.stage_result_count,
                started_at: &r.started_at,
                completed_at: &r.completed_at,
            })
            .collect();
        print!("{}", pretty(&entries));
    } else {
        print!("{}", render_ls(&runs));
    }
    Ok(Outcome::Success)
}

fn prune(layout: &Layout, opts: &retention::Options, json: bool) -> Result<Outcome, Error> {
    let report = retention::prune(layout, opts)?;
    if json {
        print!("{}", pretty(&report));
    } else {
        let verb = if report.dry_run {
            "would prune"
        } else {
            "pruned"
        };
        for id in &report.pruned {
            println!("{verb}: {id}");
        }
        println!(
            "{verb} {} of {} runs; kept: active={} blocked={} incident={} failed={} recent={}",
            report.pruned.len(),
            report.runs_total,
            report.kept_active,
            report.kept_blocked,
            report.kept_incident,
            report.kept_failed,
            report.kept_recent
        );
        for e in &report.errors {
            eprintln!("error: {e}");
        }
    }
    Ok(Outcome::problems_if(!report.errors.is_empty()))
}

fn show(layout: &Layout, given: &str, json: bool) -> Result<Outcome, Error> {
    let (id, dir) = resolve(layout, given)?;
    let mut view = inspect(&id, &dir);
    view.ending = Some(ending(layout, &view, &dir));
    if json {
        print!("{}", pretty(&view));
    } else {
        print!("{}", render_show(&view));
    }
    Ok(Outcome::Success)
}

/// How a run ended, in the words an operator needs first.
#[derive(Debug, Clone, Serialize)]
pub struct Ending {
    /// `complete`, `blocked`, `handoff` (the run's terminal decision),
    /// `running` (a process is working it), `interrupted` (still the
    /// active run, no process works it: it resumes on the next start), or
    /// `not_finished` (it was left before a decision: retried or cancelled).
    pub outcome: String,
    pub failure_class: Option<String>,
    pub reason: String,
    /// The file that says more, relative to the workspace root.
    pub look_at: Option<String>,
}

fn ending(layout: &Layout, r: &RunView, dir: &Path) -> Ending {
    let mut e = ending_in_run(layout, r, dir);
    // Where to look, as a path an operator can open from the workspace root.
    e.look_at = e.look_at.map(|p| {
        if Path::new(&p).is_absolute() {
            p
        } else {
            format!("millrace-agents/runs/{}/{p}", r.run_id)
        }
    });
    e
}

fn ending_in_run(layout: &Layout, r: &RunView, dir: &Path) -> Ending {
    use crate::runtime::progress;
    let (trace, _) = load_trace(&r.run_id, dir);
    // The trace file's own status (as `runs ls` reads it), not one rebuilt
    // from the stage results.
    let file_status = retention::trace_status(dir);
    let latest = r.stage_results.last();
    let last_step = latest.map(|l| format!("{} ended {}", l.stage, l.terminal_result));
    let exists = |rel: &Option<String>| rel.clone().filter(|p| dir.join(p).is_file());
    if let s @ ("complete" | "blocked" | "handoff") = standing(file_status.as_deref(), false, false)
    {
        let failure_class = latest.and_then(|l| l.failure_class.clone());
        let (reason, look_at) = match latest {
            Some(l) if failure_class.is_some() => {
                let stderr = l.stderr_path.as_ref().map(|p| dir.join(p));
                let reason = progress::failure_reason(stderr.as_deref(), &l.notes)
                    .unwrap_or_else(|| "no reason recorded".into());
                let look = exists(&l.stderr_path).filter(|p| progress::file_len(&dir.join(p)) > 0);
                (format!("{}: {reason}", l.stage), look)
            }
            Some(l) => (
                last_step.clone().unwrap_or_default(),
                exists(&l.report_artifact)
                    .or_else(|| exists(&r.troubleshoot_report_path))
                    .or_else(|| exists(&l.stdout_path)),
            ),
            None => ("no stage result".into(), None),
        };
        return Ending {
            outcome: s.to_string(),
            failure_class,
            reason,
            look_at,
        };
    }
    // No terminal decision: is a process working the run right now?
    let (held, owned) = held_runs(layout);
    let current = progress::current_stage(dir);
    let rel = |p: &Path| run_relative(dir, &p.display().to_string());
    let outcome = standing(file_status.as_deref(), held.contains(&r.run_id), owned);
    if matches!(outcome, "running" | "interrupted") {
        let what = if outcome == "running" {
            "running"
        } else {
            "stopped mid-run; it resumes on the next `millrace run`"
        };
        let reason = match &current {
            Some(c) => format!(
                "stage {} {what} since {}",
                c.stage.as_deref().unwrap_or("?"),
                c.started_at
                    .as_deref()
                    .map(py_iso)
                    .unwrap_or_else(|| "?".into())
            ),
            None => format!(
                "{what}; {}",
                last_step.unwrap_or_else(|| "no stage ended yet".into())
            ),
        };
        return Ending {
            outcome: outcome.into(),
            failure_class: None,
            reason,
            look_at: current.map(|c| rel(&c.output)),
        };
    }
    let from_trace = |k: &str| trace.get(k).and_then(Value::as_str).map(str::to_string);
    let kind = r
        .work_item_kind
        .clone()
        .or_else(|| from_trace("work_item_kind"));
    let id = r
        .work_item_id
        .clone()
        .or_else(|| from_trace("work_item_id"))
        .or_else(|| invoked_item(dir));
    let item = id
        .as_deref()
        .and_then(|i| item_state(layout, kind.as_deref(), i))
        .map(|(k, i, st)| format!("; {k} {i} is now in {st}"))
        .unwrap_or_default();
    Ending {
        outcome: outcome.into(),
        failure_class: latest.and_then(|l| l.failure_class.clone()),
        reason: format!(
            "the run stopped before a decision (retried, cancelled, or its item moved on){item}{}",
            last_step
                .map(|s| format!("; last: {s}"))
                .unwrap_or_default()
        ),
        look_at: latest.map(|l| l.stage_result_path.clone()),
    }
}

/// The work item a run's stages were invoked on (a run cancelled in its
/// first stage has no stage result and no trace to say it).
fn invoked_item(dir: &Path) -> Option<String> {
    std::fs::read_dir(dir).ok()?.flatten().find_map(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("runner_invocation.") && name.ends_with(".json")) {
            return None;
        }
        let v = read_json(&e.path()).ok()??;
        s(&v, "active_work_item_id")
    })
}

/// Where a work item is now: its kind tag, id and queue state (`queue`,
/// `active`, `blocked`...); every kind is looked at when `kind` is unknown.
fn item_state<'a>(
    layout: &Layout,
    kind: Option<&str>,
    id: &'a str,
) -> Option<(&'static str, &'a str, &'static str)> {
    use crate::workspace::{documents::DocKind, queue};
    if crate::workspace::ids::validate_id(id).is_err() {
        return None;
    }
    DocKind::ALL
        .into_iter()
        .filter(|k| kind.is_none_or(|t| k.tag() == t))
        .find_map(|k| {
            queue::states(k)
                .into_iter()
                .find(|st| {
                    queue::state_dir(layout, k, st)
                        .join(format!("{id}.md"))
                        .is_file()
                })
                .map(|st| (k.tag(), id, st))
        })
}

/// The file `tail` prints, relative to the run directory when inside it.
fn primary_artifact(r: &RunView) -> Option<String> {
    r.troubleshoot_report_path
        .clone()
        .or_else(|| r.primary_stdout_path.clone())
        .or_else(|| r.primary_stderr_path.clone())
        .or_else(|| r.stage_results.last().map(|s| s.stage_result_path.clone()))
}

fn last_lines(text: &str, n: usize) -> &str {
    if n == 0 {
        return "";
    }
    // Skip a trailing newline when counting, then find the n-th newline back.
    let body = text.strip_suffix('\n').unwrap_or(text);
    let mut seen = 0;
    for (i, b) in body.bytes().enumerate().rev() {
        if b == b'\n' {
            seen += 1;
            if seen == n {
                return &text[i + 1..];
            }
        }
    }
    text
}

fn tail(layout: &Layout, given: &str, lines: Option<usize>, json: bool) -> Result<Outcome, Error> {
    let (id, dir) = resolve(layout, given)?;
    let view = inspect(&id, &dir);
    let Some(mut rel) = primary_artifact(&view) else {
        return Err(not_found(&format!(
            "no tailable artifact found for run: {given}"
        )));
    };
    // An empty stdout says nothing: say so, and show the stderr instead.
    let mut note = None;
    let is_empty = |rel: &str| crate::runtime::progress::file_len(&dir.join(rel)) == 0;
    if Some(&rel) == view.primary_stdout_path.as_ref() && is_empty(&rel) {
        let report = dir.join("troubleshoot_report.md").is_file().then(|| {
            format!(
                "; troubleshoot report: {}",
                dir.join("troubleshoot_report.md").display()
            )
        });
        let stderr = view.primary_stderr_path.clone().filter(|e| !is_empty(e));
        note = Some(match &stderr {
            Some(e) => format!(
                "the stage's stdout ({rel}) is empty; showing its stderr ({e}){}",
                report.unwrap_or_default()
            ),
            None => format!(
                "the stage's stdout ({rel}) and stderr are empty{}",
                report.unwrap_or_default()
            ),
        });
        if let Some(e) = stderr {
            rel = e;
        }
    }
    let path = dir.join(&rel); // an absolute `rel` replaces `dir`
                               // The artifact path comes from a file an agent can write: never read
                               // outside the workspace.
    let inside = path.starts_with(&layout.root)
        && path
            .components()
            .all(|c| !matches!(c, std::path::Component::ParentDir));
    if !inside {
        return Err(Error::Invalid(format!(
            "{}: refused: the artifact path leaves the workspace",
            path.display()
        )));
    }
    let text = match safe_fs::read_capped(&path, safe_fs::MAX_STATE_BYTES) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => return Err(Error::Failed(format!("{}: {e}", path.display()))),
    };
    let content = match lines {
        Some(n) => last_lines(&text, n),
        None => &text,
    };
    if json {
        let mut doc = serde_json::json!({
            "run_id": id,
            "path": rel,
            "content": content,
        });
        if let Some(n) = &note {
            doc["note"] = serde_json::json!(n);
        }
        print!("{}", pretty(&doc));
    } else {
        if let Some(n) = &note {
            eprintln!("note: {n}");
        }
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(content.as_bytes());
        let _ = out.flush();
    }
    Ok(Outcome::Success)
}

/// `runs tail --follow`: print the run's output as it is written. While a
/// process works the run, each stage's stdout is streamed from where it
/// stands (a header line on stderr when a new stage starts); when the run
/// is not being worked (finished, or no daemon), what is left is printed and
/// the line saying how it ended goes to stderr.
fn follow_run(layout: &Layout, given: &str, lines: Option<usize>) -> Result<Outcome, Error> {
    use crate::runtime::progress;
    use std::io::{Read, Seek, SeekFrom, Write};
    let (id, dir) = resolve(layout, given)?;
    const POLL: Duration = Duration::from_millis(200);
    const CHUNK: u64 = 64 * 1024;
    // The file being streamed and how far it was printed.
    let mut streaming: Option<(String, u64)> = None;
    let mut out = std::io::stdout();
    let mut first = true;
    loop {
        let view = inspect(&id, &dir);
        let end = ending(layout, &view, &dir);
        let running = end.outcome == "running";
        let current = if running {
            progress::current_stage(&dir)
        } else {
            None
        };
        // Drain what is left of the file being streamed.
        if let Some((req, offset)) = &mut streaming {
            // Resolved each time: the events file may appear after the stage.
            let path = &progress::live_output(&dir, req);
            loop {
                let Ok(mut f) = safe_fs::open_regular(path, None) else {
                    break;
                };
                if f.seek(SeekFrom::Start(*offset)).is_err() {
                    break;
                }
                let mut buf = Vec::new();
                let n = f.take(CHUNK).read_to_end(&mut buf).unwrap_or(0);
                if n == 0 {
                    break;
                }
                *offset += n as u64;
                let _ = out.write_all(printable(&buf).as_bytes());
            }
            let _ = out.flush();
        }
        match current {
            Some(c) if streaming.as_ref().map(|s| &s.0) != Some(&c.request_id) => {
                eprintln!(
                    "==> stage {} ({}) started {}",
                    c.stage.as_deref().unwrap_or("?"),
                    run_relative(&dir, &c.output.display().to_string()),
                    c.started_at.as_deref().map(py_iso).unwrap_or_default()
                );
                // Joining a stage under way: its last lines first, when asked.
                let start = if first && lines.is_some() {
                    let len = progress::file_len(&c.output);
                    let text = crate::runners::artifacts::read_tail(&c.output, CHUNK as usize)
                        .unwrap_or_default();
                    let shown = last_lines(&text, lines.unwrap_or(0));
                    len.saturating_sub(shown.len() as u64)
                } else {
                    0
                };
                streaming = Some((c.request_id, start));
                first = false;
                continue;
            }
            _ => {}
        }
        if !running {
            if first {
                // A finished run: print it as `tail` does, then how it ended.
                tail(layout, &id, lines, false)?;
            }
            eprintln!(
                "==> run {id} {}: {}{}",
                end.outcome,
                end.reason,
                end.look_at
                    .map(|p| format!(" (see {p})"))
                    .unwrap_or_default()
            );
            return Ok(Outcome::Success);
        }
        first = false;
        std::thread::sleep(POLL);
    }
}

/// Agent output made safe for a terminal: control characters other than
/// newline and tab are dropped, invalid UTF-8 replaced.
fn printable(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
}

/// The run's trace: `run_trace.json` (retried while it is being rewritten),
/// else one derived from the stage results, as the reference does. The
/// second value is the document's text as stored, when it was read.
pub(crate) fn load_trace(id: &str, dir: &Path) -> (Value, Option<String>) {
    let path = dir.join("run_trace.json");
    let mut last_error = String::new();
    for attempt in 0..6u64 {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(5 * attempt));
        }
        match safe_fs::read_to_string_capped(&path, safe_fs::MAX_STATE_BYTES) {
            Ok(text) => match serde_json::from_str::<Value>(&text) {
                Ok(mut v) if v.is_object() => {
                    crate::runtime::trace::merge_provenance(dir, &mut v);
                    return (v, Some(text));
                }
                Ok(_) => last_error = "not a JSON object".into(),
                Err(e) => last_error = e.to_string(),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return (
                    derive_trace(id, dir, "incomplete", "derived from stage result artifacts"),
                    None,
                )
            }
            Err(e) => last_error = e.to_string(),
        }
    }
    (
        derive_trace(
            id,
            dir,
            "malformed",
            &format!("run_trace.json malformed: {last_error}"),
        ),
        None,
    )
}

/// A trace with one node per stage result and no edges.
fn derive_trace(id: &str, dir: &Path, status: &str, note: &str) -> Value {
    let view = inspect(id, dir);
    let nodes: Vec<Value> = view
        .stage_results
        .iter()
        .map(|st| {
            serde_json::json!({
                "trace_node_id": st.request_id.clone().unwrap_or_else(|| st.stage_result_path.clone()),
                "run_id": id,
                "request_id": st.request_id,
                "plane": st.plane,
                "stage": st.stage,
                "node_id": st.node_id,
                "stage_kind_id": st.stage_kind_id,
                "terminal_result": st.terminal_result,
                "result_class": st.result_class,
                "failure_class": st.failure_class,
                "started_at": st.started_at,
                "completed_at": st.completed_at,
                "duration_seconds": st.duration_seconds,
            })
        })
        .collect();
    let mut notes = vec![Value::from(note)];
    notes.extend(view.notes.iter().map(|n| Value::from(n.as_str())));
    serde_json::json!({
        "schema_version": "1.0",
        "kind": "run_trace_graph",
        "run_id": id,
        "run_dir": view.run_dir,
        "compiled_plan_id": view.compiled_plan_id,
        "mode_id": view.mode_id,
        "request_kind": view.request_kind,
        "work_item_kind": view.work_item_kind,
        "work_item_id": view.work_item_id,
        "closure_target_root_spec_id": view.closure_target_root_spec_id,
        "status": status,
        "started_at": view.started_at,
        "completed_at": view.completed_at,
        "duration_seconds": view.duration_seconds,
        "nodes": nodes,
        "edges": [],
        "notes": notes,
    })
}

fn vstr(v: &Value) -> String {
    match v {
        Value::Null => "none".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The text form: the reference's header and edge lines, each edge followed
/// by why it was taken and the `.mill` rule that took it.
fn render_trace(t: &Value) -> String {
    let mut out = Lines::default();
    let empty = Vec::new();
    let nodes = t["nodes"].as_array().unwrap_or(&empty);
    let edges = t["edges"].as_array().unwrap_or(&empty);
    for k in [
        "run_id",
        "status",
        "compiled_plan_id",
        "mode_id",
        "request_kind",
        "work_item_kind",
        "work_item_id",
    ] {
        out.kv(k, vstr(&t[k]));
    }
    out.kv("node_count", nodes.len());
    out.kv("edge_count", edges.len());
    for note in t["notes"].as_array().unwrap_or(&empty) {
        out.kv("note", vstr(note));
    }
    if edges.is_empty() {
        for n in nodes {
            out.0.push_str(&format!(
                "{} {}\n",
                vstr(&n["stage"]),
                vstr(&n["terminal_result"])
            ));
        }
        return out.0;
    }
    let stage_of = |id: &Value| {
        nodes
            .iter()
            .find(|n| !id.is_null() && n["trace_node_id"] == *id)
            .map(|n| vstr(&n["stage"]))
    };
    for e in edges {
        let source = stage_of(&e["source_trace_node_id"])
            .unwrap_or_else(|| vstr(&e["source_trace_node_id"]));
        let target = [&e["target_trace_node_id"], &e["target_node_id"]]
            .into_iter()
            .find_map(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| format!("terminal:{}", vstr(&e["terminal_state_id"])));
        let mut line = format!("{source} {} -> {target}", vstr(&e["outcome"]));
        if let Some(reason) = e["decision_reason"].as_str() {
            line.push_str(&format!(" reason={reason}"));
        }
        if let Some(via) = e["decided_via"].as_str() {
            line.push_str(&format!(" via={via}"));
        }
        let by = &e["decided_by"];
        if let (Some(file), Some(l), Some(c)) = (
            by["file"].as_str(),
            by["line"].as_u64(),
            by["column"].as_u64(),
        ) {
            line.push_str(&format!(" at {file}:{l}:{c}"));
        }
        out.0.push_str(&line);
        out.0.push('\n');
    }
    out.0
}

fn trace(
    layout: &Layout,
    given: &str,
    format: TraceFormat,
    output: Option<&Path>,
) -> Result<Outcome, Error> {
    let (id, dir) = resolve(layout, given)?;
    let (doc, stored) = load_trace(&id, &dir);
    let rendered = match format {
        // As stored, unless our provenance (kept beside it) was merged in.
        TraceFormat::Json => match stored {
            Some(text) if !dir.join(crate::runtime::trace::PROVENANCE_FILE).is_file() => {
                let mut t = text.trim_end().to_string();
                t.push('\n');
                t
            }
            _ => pretty(&doc),
        },
        TraceFormat::Text => render_trace(&doc),
    };
    match output {
        Some(path) => match std::fs::write(path, rendered) {
            Ok(()) => Ok(Outcome::Success),
            Err(e) => Err(Error::io(path, e)),
        },
        None => {
            print!("{rendered}");
            Ok(Outcome::Success)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_python() {
        assert_eq!(py_float(0.367943), "0.367943");
        assert_eq!(py_float(1.0), "1.0");
        assert_eq!(py_float(0.0), "0.0");
        assert_eq!(py_float(0.00429972), "0.00429972");
        assert_eq!(py_float(1.5e-7), "1.5e-07");
        assert_eq!(py_float(0.0001), "0.0001");
        assert_eq!(py_float(2e16), "2e+16");
        assert_eq!(py_float(123.25), "123.25");
    }

    #[test]
    fn timestamps_print_like_isoformat() {
        assert_eq!(
            py_iso("2026-11-21T05:17:11.049278Z"),
            "2026-11-21T05:17:11.049278+00:00"
        );
        assert_eq!(
            py_iso("2026-11-21T05:17:11.000000Z"),
            "2026-11-21T05:17:11+00:00"
        );
        assert_eq!(
            py_iso("2026-11-21T05:17:11.5Z"),
            "2026-11-21T05:17:11.500000+00:00"
        );
        assert_eq!(py_iso("2026-11-21T05:17:11Z"), "2026-11-21T05:17:11+00:00");
        assert_eq!(py_iso("not a time"), "not a time");
    }

    #[test]
    fn last_lines_counts_from_the_end() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(last_lines("a\nb\nc", 1), "c");
        assert_eq!(last_lines("a\n", 5), "a\n");
        assert_eq!(last_lines("a\nb\n", 0), "");
    }
}
