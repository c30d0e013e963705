//! `millrace status [show|watch]`: the runtime as an operator sees it, in the
//! reference's `key: value` lines and key order (reference-facts 5.1), or as
//! one JSON document with `--json`.
//!
//! Status only reads: the snapshot, the lock file, the three status markers,
//! the queue directories (counted, never parsed), the baseline manifest and
//! the compiled plan's currentness (`plan::persist::status`, which hashes the
//! plan's asset files). `watch` repeats the block and never takes the lock.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{Error, Outcome};
use super::workspace_arg::WorkspaceArg;
use crate::plan::ir::CompileInput;
use crate::plan::persist;
use crate::workspace::config;
use crate::workspace::layout::{Layout, PLANES};
use crate::workspace::{clock, lock, queue, state};

/// `millrace status [--json]`, `status show`, `status watch`.
#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct StatusArgs {
    #[command(subcommand)]
    pub command: Option<StatusCommand>,
    #[command(flatten)]
    pub show: ShowArgs,
}

#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    /// Print one JSON document instead of `key: value` lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Subcommand)]
pub enum StatusCommand {
    /// Print the status block (same as `millrace status`).
    Show(ShowArgs),
    /// Print the status block repeatedly (never takes the ownership lock).
    Watch(WatchArgs),
}

#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// Workspace root; repeat to watch several (blank line between them).
    #[arg(long = "workspace", value_name = "DIR")]
    pub workspaces: Vec<PathBuf>,
    /// Stop after this many updates.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_updates: Option<u64>,
    /// Seconds between updates.
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0, value_parser = non_negative)]
    pub interval_seconds: f64,
    /// One JSON document per workspace and update (JSON lines).
    #[arg(long)]
    pub json: bool,
}

/// An `--interval-seconds` value that is not a finite number >= 0 (clap
/// prints it as the reason of its usage error).
#[derive(Debug)]
struct NotSeconds(String);

impl std::fmt::Display for NotSeconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} is not a number of seconds >= 0", self.0)
    }
}

impl std::error::Error for NotSeconds {}

fn non_negative(s: &str) -> Result<f64, NotSeconds> {
    match s.parse::<f64>() {
        Ok(v) if v >= 0.0 && v.is_finite() => Ok(v),
        _ => Err(NotSeconds(s.to_string())),
    }
}

pub fn run(args: StatusArgs) -> Result<Outcome, Error> {
    match args.command {
        None => show(args.show),
        Some(StatusCommand::Show(a)) => show(a),
        Some(StatusCommand::Watch(a)) => watch(a),
    }
}

fn show(args: ShowArgs) -> Result<Outcome, Error> {
    let layout = args.workspace.initialized()?;
    let report = StatusReport::load(&layout)?;
    print!("{}", report.render(args.json));
    Ok(Outcome::Success)
}

// ---------------------------------------------------------------- report

/// One active run as the `active_run:` line shows it; `--json` carries the
/// whole record the runtime stored (with its own fields such as `entry_key`).
#[derive(Debug, Clone, Serialize)]
pub struct ActiveRunView {
    pub plane: String,
    pub stage: Option<String>,
    pub node_id: Option<String>,
    pub stage_kind_id: Option<String>,
    pub request_kind: Option<String>,
    pub work_item_kind: Option<String>,
    pub work_item_id: Option<String>,
    pub run_id: Option<String>,
    /// When its current stage started (RFC 3339; ours, from the stage's
    /// invocation record), while a process works the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage_started_at: Option<String>,
    /// Seconds since then.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage_elapsed_seconds: Option<u64>,
    /// The agent's latest event: its last complete output line, summarised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_event: Option<String>,
    pub record: Value,
}

/// Everything `status` prints, in the reference's order. Serialized as is
/// for `--json` (struct fields keep their declaration order).
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub workspace: String,
    pub runtime_mode: String,
    pub process_running: bool,
    pub runtime_ownership_lock: &'static str,
    pub paused: bool,
    pub pause_sources: Vec<String>,
    /// Why the runtime paused itself (`runner_unavailable`): the runner and
    /// the cause. Ours; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause_reason: Option<String>,
    pub stop_requested: bool,
    pub active_mode_id: String,
    pub compiled_plan_id: String,
    pub compiled_plan_currentness: String,
    pub active_plane: Option<String>,
    pub active_stage: Option<String>,
    pub active_node_id: Option<String>,
    pub active_stage_kind_id: Option<String>,
    pub active_work_item_kind: Option<String>,
    pub active_work_item_id: Option<String>,
    pub active_run_count: usize,
    pub execution_queue_depth: u64,
    pub planning_queue_depth: u64,
    pub learning_queue_depth: u64,
    pub execution_status_marker: String,
    pub planning_status_marker: String,
    pub learning_status_marker: String,
    pub active_runs: Vec<ActiveRunView>,
    pub baseline_manifest_id: Option<String>,
    pub baseline_seed_package_version: Option<String>,
    pub compile_input: Option<CompileInput>,
    pub persisted_compile_input: Option<CompileInput>,
    /// Set when the inputs could not be read (the reference's
    /// `compile_plan_currentness_error`).
    pub compile_plan_currentness_error: Option<String>,
    pub compiled_plan_changes: Vec<String>,
    pub usage_governance_enabled: bool,
    pub usage_governance_paused: bool,
    pub usage_governance_blocker_count: u64,
    pub usage_governance_auto_resume_possible: bool,
    pub usage_governance_next_auto_resume_at: Option<String>,
    pub usage_governance_subscription_status: &'static str,
    pub usage_governance_subscription_detail: Option<String>,
    /// One `source=… rule=… window=… observed=… threshold=…` per active blocker.
    pub usage_governance_blockers: Vec<String>,
    pub closure_target_root_spec_id: Option<String>,
    pub closure_target_open: Option<bool>,
    pub closure_target_blocked_by_lineage_work: Option<bool>,
    pub planning_root_specs_deferred_by_closure_target: u64,
    /// Ours: queued tasks whose `Depends-On` items are not all done.
    pub tasks_waiting_on_dependencies: u64,
    pub closure_target_latest_verdict_path: Option<String>,
    pub closure_target_latest_report_path: Option<String>,
    pub current_failure_class: Option<String>,
    pub troubleshoot_attempt_count: u64,
    pub mechanic_attempt_count: u64,
    pub fix_cycle_count: u64,
    pub consultant_invocations: u64,
}

/// Only the two manifest fields status prints (the entries are skipped).
#[derive(Deserialize)]
struct ManifestHead {
    manifest_id: String,
    seed_package_version: String,
}

/// The active run's current stage as its run directory shows it: start
/// time, elapsed time and the agent's latest event.
fn stage_progress(layout: &Layout, view: &mut ActiveRunView) {
    use crate::runtime::progress;
    let Some(run_id) = view.run_id.as_deref() else {
        return;
    };
    if crate::workspace::ids::validate_id(run_id).is_err() {
        return;
    }
    let Some(cur) = progress::current_stage(&layout.runtime.join("runs").join(run_id)) else {
        return;
    };
    if cur.stage.is_some() && cur.stage != view.node_id && cur.stage != view.stage {
        return;
    }
    view.stage_elapsed_seconds = cur
        .started_at
        .as_deref()
        .and_then(clock::parse_seconds)
        .and_then(|start| {
            let now = clock::parse_seconds(&clock::now_rfc3339())?;
            Some((now - start).max(0.0) as u64)
        });
    view.stage_started_at = cur.started_at;
    view.latest_event = progress::latest_event(&cur.output, cur.runner);
}

fn str_field(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn value_label(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl StatusReport {
    /// Read a workspace's status (the workspace must be initialized).
    pub fn load(layout: &Layout) -> Result<StatusReport, crate::workspace::Error> {
        let snap = state::load_snapshot(layout)?;
        let lock = lock::inspect(layout);
        let depths = queue::queue_depths(layout);
        let mut markers = Vec::with_capacity(3);
        for plane in PLANES {
            let marker = state::read_marker(layout, plane)
                .map_err(|e| crate::workspace::Error::io(layout.status_file(plane), e))?;
            markers.push(marker);
        }
        let manifest: Option<ManifestHead> = crate::workspace::safe_fs::read_capped(
            &layout.manifest_file(),
            crate::workspace::safe_fs::MAX_STATE_BYTES,
        )
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
        let currentness = persist::status(layout, None);
        // Governance: the switch from the config, the rest from its last evaluation.
        let governance = crate::runtime::governance::load_state(layout).unwrap_or_default();
        let governance_enabled = config::load_config(&layout.config_file())
            .map(|c| c.usage_governance.enabled)
            .unwrap_or(governance.enabled);

        // Active runs in the reference's order: planning, execution, learning.
        let active_runs: Vec<ActiveRunView> = ["planning", "execution", "learning"]
            .iter()
            .filter_map(|plane| {
                let record = snap.active_runs_by_plane.get(*plane)?;
                Some(ActiveRunView {
                    plane: str_field(record, "plane").unwrap_or_else(|| plane.to_string()),
                    stage: str_field(record, "stage"),
                    node_id: str_field(record, "node_id"),
                    stage_kind_id: str_field(record, "stage_kind_id"),
                    request_kind: str_field(record, "request_kind"),
                    work_item_kind: str_field(record, "work_item_kind"),
                    work_item_id: str_field(record, "work_item_id"),
                    run_id: str_field(record, "run_id"),
                    stage_started_at: None,
                    stage_elapsed_seconds: None,
                    latest_event: None,
                    record: record.clone(),
                })
                .map(|mut view| {
                    // Only a process working the run makes its stage current.
                    if matches!(lock, lock::LockStatus::Active(_)) {
                        stage_progress(layout, &mut view);
                    }
                    view
                })
            })
            .collect();
        let (compile_input, persisted_compile_input, currentness_error) =
            match currentness.currentness {
                persist::Currentness::Unknown => (None, None, currentness.error.clone()),
                _ => (
                    currentness.expected.clone(),
                    currentness.persisted.clone(),
                    None,
                ),
            };
        let [execution_status_marker, planning_status_marker, learning_status_marker]: [String; 3] =
            markers.try_into().expect("three planes");
        let pause_reason =
            crate::runtime::runner_health::pause_record(layout, &snap).map(|r| r.reason());
        let mut pause_sources: Vec<String> = snap.pause_sources.iter().map(value_label).collect();
        if pause_sources.is_empty() && snap.paused {
            pause_sources.push("operator".into());
        }
        // As the reference: the actionable open target, else the first open one.
        let closure = crate::runtime::closure::actionable(layout).or_else(|| {
            crate::runtime::closure::all(layout)
                .into_iter()
                .find(|t| t.closure_open)
        });
        let mut scheduler = crate::runtime::scheduler::Scheduler::new();
        let deferred = closure.as_ref().map_or(0, |t| {
            scheduler.deferred_root_specs(layout, &t.root_spec_id).len() as u64
        });
        let waiting_on_dependencies = scheduler.waiting(layout).len() as u64;
        Ok(StatusReport {
            workspace: layout.root.display().to_string(),
            runtime_mode: snap.runtime_mode,
            process_running: snap.process_running && matches!(lock, lock::LockStatus::Active(_)),
            runtime_ownership_lock: lock.label(),
            paused: snap.paused,
            pause_sources,
            pause_reason,
            stop_requested: snap.stop_requested,
            active_mode_id: snap.active_mode_id,
            compiled_plan_id: snap.compiled_plan_id,
            compiled_plan_currentness: currentness.currentness.to_string(),
            active_plane: snap.active_plane,
            active_stage: snap.active_stage,
            active_node_id: snap.active_node_id,
            active_stage_kind_id: snap.active_stage_kind_id,
            active_work_item_kind: snap.active_work_item_kind,
            active_work_item_id: snap.active_work_item_id,
            active_run_count: snap.active_runs_by_plane.len(),
            execution_queue_depth: depths[0],
            planning_queue_depth: depths[1],
            learning_queue_depth: depths[2],
            execution_status_marker,
            planning_status_marker,
            learning_status_marker,
            active_runs,
            baseline_manifest_id: manifest.as_ref().map(|m| m.manifest_id.clone()),
            baseline_seed_package_version: manifest.map(|m| m.seed_package_version),
            compile_input,
            persisted_compile_input,
            compile_plan_currentness_error: currentness_error,
            compiled_plan_changes: currentness.changes,
            usage_governance_enabled: governance_enabled,
            usage_governance_paused: governance.paused_by_governance,
            usage_governance_blocker_count: governance.active_blockers.len() as u64,
            usage_governance_auto_resume_possible: governance.auto_resume_possible,
            usage_governance_next_auto_resume_at: governance.next_auto_resume_at.clone(),
            usage_governance_subscription_status: if governance.subscription_quota_status.state
                == "degraded"
            {
                "degraded"
            } else if governance.subscription_quota_status.state == "healthy" {
                "healthy"
            } else {
                "disabled"
            },
            usage_governance_subscription_detail: governance
                .subscription_quota_status
                .detail
                .clone(),
            usage_governance_blockers: governance
                .active_blockers
                .iter()
                .map(crate::runtime::governance::blocker_line)
                .collect(),
            closure_target_root_spec_id: closure.as_ref().map(|t| t.root_spec_id.clone()),
            closure_target_open: closure.as_ref().map(|t| t.closure_open),
            closure_target_blocked_by_lineage_work: closure
                .as_ref()
                .map(|t| t.closure_blocked_by_lineage_work),
            planning_root_specs_deferred_by_closure_target: deferred,
            tasks_waiting_on_dependencies: waiting_on_dependencies,
            closure_target_latest_verdict_path: closure
                .as_ref()
                .and_then(|t| t.latest_verdict_path.clone()),
            closure_target_latest_report_path: closure.and_then(|t| t.latest_report_path),
            current_failure_class: snap.current_failure_class,
            troubleshoot_attempt_count: snap.troubleshoot_attempt_count,
            mechanic_attempt_count: snap.mechanic_attempt_count,
            fix_cycle_count: snap.fix_cycle_count,
            consultant_invocations: snap.consultant_invocations,
        })
    }

    /// The JSON document (pretty when `pretty`), with a trailing newline.
    pub fn to_json(&self, pretty: bool) -> String {
        let mut s = if pretty {
            serde_json::to_string_pretty(self)
        } else {
            serde_json::to_string(self)
        }
        .expect("status serializes");
        s.push('\n');
        s
    }

    pub fn render(&self, json: bool) -> String {
        if json {
            self.to_json(true)
        } else {
            self.to_text()
        }
    }

    /// The `key: value` block, exactly as the reference prints it.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(2048);
        let mut line = |k: &str, v: &str| {
            out.push_str(k);
            out.push_str(": ");
            out.push_str(v);
            out.push('\n');
        };
        let b = |v: bool| if v { "true" } else { "false" };
        let o = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
        let ob = |v: Option<bool>| v.map_or("none", b);
        line("workspace", &self.workspace);
        line("runtime_mode", &self.runtime_mode);
        line("process_running", b(self.process_running));
        line("runtime_ownership_lock", self.runtime_ownership_lock);
        line("paused", b(self.paused));
        line(
            "pause_sources",
            &if self.pause_sources.is_empty() {
                "none".to_string()
            } else {
                self.pause_sources.join(",")
            },
        );
        if let Some(reason) = &self.pause_reason {
            line("pause_reason", reason);
        }
        line("stop_requested", b(self.stop_requested));
        line("active_mode_id", &self.active_mode_id);
        line("compiled_plan_id", &self.compiled_plan_id);
        line("compiled_plan_currentness", &self.compiled_plan_currentness);
        line("active_plane", &o(&self.active_plane));
        line("active_stage", &o(&self.active_stage));
        line("active_node_id", &o(&self.active_node_id));
        line("active_stage_kind_id", &o(&self.active_stage_kind_id));
        line("active_work_item_kind", &o(&self.active_work_item_kind));
        line("active_work_item_id", &o(&self.active_work_item_id));
        line("active_run_count", &self.active_run_count.to_string());
        line(
            "execution_queue_depth",
            &self.execution_queue_depth.to_string(),
        );
        line(
            "planning_queue_depth",
            &self.planning_queue_depth.to_string(),
        );
        line(
            "learning_queue_depth",
            &self.learning_queue_depth.to_string(),
        );
        line("execution_status_marker", &self.execution_status_marker);
        line("planning_status_marker", &self.planning_status_marker);
        line("learning_status_marker", &self.learning_status_marker);
        for r in &self.active_runs {
            line(
                "active_run",
                &format!(
                    "plane={} stage={} node={} stage_kind={} request_kind={} work_item_kind={} work_item_id={} run={}",
                    r.plane,
                    o(&r.stage),
                    o(&r.node_id),
                    o(&r.stage_kind_id),
                    o(&r.request_kind),
                    o(&r.work_item_kind),
                    o(&r.work_item_id),
                    short_run_handle(r.run_id.as_deref()),
                ),
            );
            if let Some(at) = &r.stage_started_at {
                let elapsed = r
                    .stage_elapsed_seconds
                    .map(|e| format!(" elapsed={e}s"))
                    .unwrap_or_default();
                let last = r
                    .latest_event
                    .as_deref()
                    .map(|e| format!(" last=\"{e}\""))
                    .unwrap_or_default();
                line(
                    "active_stage_progress",
                    &format!("plane={} started_at={at}{elapsed}{last}", r.plane),
                );
            }
        }
        line("baseline_manifest_id", &o(&self.baseline_manifest_id));
        line(
            "baseline_seed_package_version",
            &o(&self.baseline_seed_package_version),
        );
        let input = |line: &mut dyn FnMut(&str, &str), prefix: &str, c: &Option<CompileInput>| {
            let (m, cf, af) = match c {
                Some(c) => (
                    c.mode_id.as_str(),
                    c.config_fingerprint.as_str(),
                    c.assets_fingerprint.as_str(),
                ),
                None => ("none", "none", "none"),
            };
            line(&format!("{prefix}.mode_id"), m);
            line(&format!("{prefix}.config_fingerprint"), cf);
            line(&format!("{prefix}.assets_fingerprint"), af);
        };
        input(&mut line, "compile_input", &self.compile_input);
        match &self.compile_plan_currentness_error {
            Some(e) => line("compile_plan_currentness_error", e),
            None => input(
                &mut line,
                "persisted_compile_input",
                &self.persisted_compile_input,
            ),
        }
        line("usage_governance_enabled", b(self.usage_governance_enabled));
        line("usage_governance_paused", b(self.usage_governance_paused));
        line(
            "usage_governance_blocker_count",
            &self.usage_governance_blocker_count.to_string(),
        );
        line(
            "usage_governance_auto_resume_possible",
            b(self.usage_governance_auto_resume_possible),
        );
        line(
            "usage_governance_next_auto_resume_at",
            &o(&self.usage_governance_next_auto_resume_at),
        );
        line(
            "usage_governance_subscription_status",
            self.usage_governance_subscription_status,
        );
        if let Some(d) = &self.usage_governance_subscription_detail {
            line("usage_governance_subscription_detail", d);
        }
        for b in &self.usage_governance_blockers {
            line("usage_governance_blocker", b);
        }
        line(
            "closure_target_root_spec_id",
            &o(&self.closure_target_root_spec_id),
        );
        line("closure_target_open", ob(self.closure_target_open));
        line(
            "closure_target_blocked_by_lineage_work",
            ob(self.closure_target_blocked_by_lineage_work),
        );
        line(
            "planning_root_specs_deferred_by_closure_target",
            &self
                .planning_root_specs_deferred_by_closure_target
                .to_string(),
        );
        line(
            "closure_target_latest_verdict_path",
            &o(&self.closure_target_latest_verdict_path),
        );
        line(
            "closure_target_latest_report_path",
            &o(&self.closure_target_latest_report_path),
        );
        if let Some(class) = self
            .current_failure_class
            .as_deref()
            .filter(|c| !c.is_empty())
        {
            line("current_failure_class", class);
            for (k, v) in [
                (
                    "troubleshoot_attempt_count",
                    self.troubleshoot_attempt_count,
                ),
                ("mechanic_attempt_count", self.mechanic_attempt_count),
                ("fix_cycle_count", self.fix_cycle_count),
                ("consultant_invocations", self.consultant_invocations),
            ] {
                if v > 0 {
                    line(k, &v.to_string());
                }
            }
        }
        // Ours, after the reference's lines.
        if self.tasks_waiting_on_dependencies > 0 {
            line(
                "tasks_waiting_on_dependencies",
                &self.tasks_waiting_on_dependencies.to_string(),
            );
        }
        out
    }
}

/// `run-<32 hex>` → its first 12 hex digits; anything else unchanged.
pub fn short_run_handle(run_id: Option<&str>) -> String {
    let Some(id) = run_id else {
        return "none".into();
    };
    match id.strip_prefix("run-") {
        Some(hex) if hex.len() >= 12 && hex.bytes().all(|c| c.is_ascii_hexdigit()) => {
            hex[..12].to_string()
        }
        _ => id.to_string(),
    }
}

// ---------------------------------------------------------------- watch

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn install_sigint() {
    // SAFETY: the handler only stores to an atomic (async-signal-safe).
    unsafe {
        let handler: extern "C" fn(libc::c_int) = on_sigint;
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
    }
}

/// Sleep up to `secs`, waking early on Ctrl-C. True when interrupted.
fn sleep_interruptible(secs: f64) -> bool {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    loop {
        if INTERRUPTED.load(Ordering::SeqCst) {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(20)));
    }
}

fn watch(args: WatchArgs) -> Result<Outcome, Error> {
    use std::io::Write;
    let roots = if args.workspaces.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.workspaces
    };
    let mut layouts: Vec<Layout> = Vec::new();
    for root in roots {
        let arg = WorkspaceArg { workspace: root };
        let l = arg.initialized()?;
        if !layouts.iter().any(|x| x.root == l.root) {
            layouts.push(l)
        }
    }
    install_sigint();
    let stdout = std::io::stdout();
    let mut updates = 0u64;
    loop {
        let mut block = String::new();
        for (i, layout) in layouts.iter().enumerate() {
            if i > 0 && !args.json {
                block.push('\n');
            }
            match StatusReport::load(layout) {
                Ok(r) if args.json => block.push_str(&r.to_json(false)),
                Ok(r) => block.push_str(&r.to_text()),
                Err(e) => return Err(e.into()),
            }
        }
        let mut out = stdout.lock();
        if INTERRUPTED.load(Ordering::SeqCst) {
            let _ = writeln!(out, "interrupted: true");
            return Ok(Outcome::Success);
        }
        let _ = out.write_all(block.as_bytes());
        updates += 1;
        if args.max_updates.is_some_and(|m| updates >= m) {
            let _ = out.flush();
            return Ok(Outcome::Success);
        }
        if !args.json {
            let _ = out.write_all(b"\n");
        }
        let _ = out.flush();
        drop(out);
        if sleep_interruptible(args.interval_seconds) {
            let _ = writeln!(stdout.lock(), "interrupted: true");
            return Ok(Outcome::Success);
        }
    }
}
