//! The interpreter: one engine per workspace, owning the lock, the compiled
//! plan (it reads only the IR), the snapshot and counters in memory, and one
//! `step` = one tick: drain the mailbox, honour stop and pause, claim work,
//! run one stage, check its result surface, route it, apply the decision.
//!
//! Durability: the snapshot (active runs, routed-to nodes, queue depths) is
//! written durably after every decision; a terminal decision is written
//! into the snapshot *before* its side effects (moving the work item,
//! opening an incident), which are idempotent, so a crash at any point is
//! finished by the next start and nothing is lost or done twice. Status
//! markers and run records are written atomically but not fsynced: they are
//! re-derived from the snapshot after a crash.

use super::closure;
use super::counters::Counters;
use super::ids;
use super::monitor::{self, Monitor};
use super::router::{self, Decision, ResumeHints};
use super::scheduler::{Scheduler, ORDER};
use super::{stage_result, trace};
use crate::plan::ir::{CompiledGraph, CompiledNode, CompiledPlan, TransitionTarget};
use crate::plan::persist;
use crate::runners::{
    self, Cancel, LegalOutcome, RunnerOutput, StageRequest, Verdict, WorkItemRef,
};
use crate::workspace::config::{self, Config};
use crate::workspace::documents::{DocKind, WorkDocument};
use crate::workspace::layout::Layout;
use crate::workspace::manifest::Manifest;
use crate::workspace::state::{self, RuntimeSnapshot, IDLE_MARKER};
use crate::workspace::{atomic, clock, events, lock, mailbox, queue, safe_fs};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// Interrupted stages of retry-safe kinds are re-run this many times per
/// item before the interruption is routed as a failure.
pub const MAX_INTERRUPTED_RETRIES: u64 = 2;

/// One active run of a plane, as kept in `active_runs_by_plane`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveRun {
    pub plane: String,
    pub stage: String,
    pub node_id: String,
    pub stage_kind_id: String,
    pub run_id: String,
    pub request_kind: String,
    pub work_item_kind: Option<String>,
    pub work_item_id: Option<String>,
    pub closure_target_root_spec_id: Option<String>,
    pub closure_target_root_idea_id: Option<String>,
    pub active_since: String,
    pub running_status_marker: String,
    /// The entry the item came in by (`task`, `spec`, ...): its bound applies.
    #[serde(default)]
    pub entry_key: String,
    /// Stages this item has run in this run.
    #[serde(default)]
    pub stage_runs: u64,
    /// Interrupted stages re-run so far.
    #[serde(default)]
    pub interrupted_retries: u64,
    /// A failure to route instead of running the node (an interruption that
    /// may not be retried), as its failure class.
    #[serde(default)]
    pub pending_failure: Option<String>,
    /// A terminal decision recorded before its side effects were applied.
    #[serde(default)]
    pub pending_terminal: Option<PendingTerminal>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingTerminal {
    pub terminal_state_id: String,
    pub outcome: String,
    pub reason: String,
    pub request_id: String,
    pub stage_result_path: String,
    pub notes: Vec<String>,
    pub failure_class: Option<String>,
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A stage ran and was routed (`failed`: the result was a runtime failure).
    Ran {
        reason: String,
        failed: bool,
    },
    Idle(String),
    Paused,
    /// A stop was requested (mailbox or signal).
    Stopped,
    /// The running stage was cancelled (shutdown); it will run again on restart.
    Interrupted,
}

pub struct Engine {
    pub layout: Layout,
    pub plan: CompiledPlan,
    pub config: Config,
    pub snapshot: RuntimeSnapshot,
    pub counters: Counters,
    pub monitor: Monitor,
    pub mode_override: Option<String>,
    pub ticks: u64,
    scheduler: Scheduler,
    session: String,
    run_started: HashMap<String, Instant>,
    /// The run trace of each active run, kept in memory (read from disk only
    /// after a restart) and written after every stage.
    traces: HashMap<String, Value>,
}

fn kind_of(tag: &str) -> Option<DocKind> {
    DocKind::ALL.into_iter().find(|k| k.tag() == tag)
}

fn entry_key(kind: DocKind) -> &'static str {
    match kind {
        DocKind::Task => "task",
        DocKind::Spec => "spec",
        DocKind::Incident => "incident",
        DocKind::LearningRequest => "learning_request",
    }
}

fn bare(marker: &str) -> &str {
    marker.strip_prefix("### ").unwrap_or(marker)
}

impl Engine {
    /// Start: take the lock, get an authoritative plan (compiling if needed,
    /// refusing a stale one), load state, recover what a crash left, and
    /// mark the process running.
    pub fn start(
        layout: Layout,
        mode: Option<&str>,
        monitor: Monitor,
        runtime_mode: &str,
    ) -> Result<Engine, String> {
        layout.require_initialized()?;
        let config = config::load_config(&layout.config_file())?;
        let record = lock::acquire(&layout, std::process::id()).map_err(|e| e.to_string())?;
        let session = record.owner_session_id.clone();
        let fail = |layout: &Layout, e: String| {
            let _ = lock::release(layout, &session);
            e
        };
        let plan = match persist::authoritative_plan(&layout, mode) {
            Ok(p) => p,
            Err(e) => return Err(fail(&layout, e)),
        };
        let snapshot = match state::load_snapshot(&layout) {
            Ok(s) => s,
            Err(e) => return Err(fail(&layout, e)),
        };
        let counters = match Counters::load(&layout) {
            Ok(c) => c,
            Err(e) => return Err(fail(&layout, e)),
        };
        let mut engine = Engine {
            layout,
            plan,
            config,
            snapshot,
            counters,
            monitor,
            mode_override: mode.map(str::to_string),
            ticks: 0,
            scheduler: Scheduler::new(),
            session,
            run_started: HashMap::new(),
            traces: HashMap::new(),
        };
        if let Err(e) = engine.boot(runtime_mode) {
            let _ = lock::release(&engine.layout, &engine.session);
            return Err(e);
        }
        Ok(engine)
    }

    fn io<T>(&self, what: &str, r: std::io::Result<T>) -> Result<T, String> {
        r.map_err(|e| format!("{what}: {e}"))
    }

    fn boot(&mut self, runtime_mode: &str) -> Result<(), String> {
        let _ = queue::reconcile(&self.layout);
        self.recover()?;
        let s = &mut self.snapshot;
        s.runtime_mode = runtime_mode.to_string();
        s.process_running = true;
        s.stop_requested = false;
        s.active_mode_id = self.plan.mode_id.clone();
        s.loop_ids_by_plane = self.plan.loop_ids_by_plane.clone();
        s.execution_loop_id = self.plan.loop_ids_by_plane.get("execution").cloned();
        s.planning_loop_id = self.plan.loop_ids_by_plane.get("planning").cloned();
        s.learning_loop_id = self.plan.loop_ids_by_plane.get("learning").cloned();
        s.compiled_plan_id = self.plan.compiled_plan_id.clone();
        s.compiled_plan_path = "millrace-agents/state/compiled_plan.json".into();
        s.config_version = self
            .plan
            .compile_input_fingerprint
            .config_fingerprint
            .clone();
        s.started_at = Some(clock::now_rfc3339());
        s.last_reload_outcome = Value::Null;
        s.last_reload_error = None;
        let depths = self.scheduler.depths(&self.layout);
        self.snapshot.set_queue_depths(depths);
        self.sync_flat_fields();
        self.save_snapshot()?;
        let _ = events::record(
            &self.layout,
            "runtime_started",
            json!({"mode_id": self.plan.mode_id, "compiled_plan_id": self.plan.compiled_plan_id, "runtime_mode": runtime_mode}),
        );
        self.startup_lines();
        Ok(())
    }

    fn startup_lines(&mut self) {
        if !self.monitor.enabled() {
            return;
        }
        let st = persist::status(&self.layout, self.mode_override.as_deref());
        self.monitor.line(&format!(
            "runtime started mode={} plan={} currentness={}",
            self.plan.mode_id, self.plan.compiled_plan_id, st.currentness
        ));
        if let Ok(m) = Manifest::load(&self.layout) {
            self.monitor.line(&format!(
                "baseline manifest={} seed_package={}",
                m.manifest_id, m.seed_package_version
            ));
        }
        let loops: Vec<String> = self
            .plan
            .planes()
            .iter()
            .map(|p| format!("{p}={}", self.plan.loop_ids_by_plane[*p]))
            .collect();
        self.monitor.line(&format!("loops {}", loops.join(" ")));
        let line = match &self.plan.concurrency_policy {
            None => "concurrency none".to_string(),
            Some(c) => format!(
                "concurrency exclusive={} concurrent={}",
                c.mutually_exclusive_planes
                    .iter()
                    .map(|[a, b]| format!("{a}+{b}"))
                    .collect::<Vec<_>>()
                    .join(","),
                c.may_run_concurrently
                    .iter()
                    .map(|[a, b]| format!("{a}+{b}"))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        };
        self.monitor.line(&line);
        self.monitor.line("scheduler mode=serial");
        // The marker files are what agents and operators see; the snapshot's copies may lag after a crash.
        let marker = |plane: &str| {
            state::read_marker(&self.layout, plane).unwrap_or_else(|_| IDLE_MARKER.to_string())
        };
        let (e, p, l) = (marker("execution"), marker("planning"), marker("learning"));
        let s = &self.snapshot;
        let line = format!(
            "snapshot status execution={} planning={} learning={} queue execution={} planning={} learning={}",
            bare(&e),
            bare(&p),
            bare(&l),
            s.queue_depth_execution,
            s.queue_depth_planning,
            s.queue_depth_learning
        );
        self.monitor.line(&line);
        for run in self.active_runs() {
            let marker = state::read_marker(&self.layout, &run.plane).unwrap_or_default();
            self.monitor.line(&format!(
                "resumed active {}/{} run={} status={}",
                run.plane,
                run.stage,
                ids::handle(&run.run_id),
                bare(&marker)
            ));
        }
    }

    // ------------------------------------------------------------ active runs

    pub fn active_runs(&self) -> Vec<ActiveRun> {
        ["planning", "execution", "learning"]
            .iter()
            .filter_map(|p| self.snapshot.active_runs_by_plane.get(*p))
            .filter_map(|v| serde_json::from_value(v.clone()).ok())
            .collect()
    }

    fn set_active(&mut self, run: &ActiveRun) {
        self.snapshot.active_runs_by_plane.insert(
            run.plane.clone(),
            serde_json::to_value(run).expect("active run serializes"),
        );
        self.sync_flat_fields();
    }

    fn clear_active(&mut self, plane: &str) {
        self.snapshot.active_runs_by_plane.remove(plane);
        self.sync_flat_fields();
    }

    /// The flat `active_*` fields mirror the first active run (planning, execution, learning).
    fn sync_flat_fields(&mut self) {
        let first = self.active_runs().into_iter().next();
        let s = &mut self.snapshot;
        s.active_plane = first.as_ref().map(|r| r.plane.clone());
        s.active_stage = first.as_ref().map(|r| r.stage.clone());
        s.active_node_id = first.as_ref().map(|r| r.node_id.clone());
        s.active_stage_kind_id = first.as_ref().map(|r| r.stage_kind_id.clone());
        s.active_run_id = first.as_ref().map(|r| r.run_id.clone());
        s.active_work_item_kind = first.as_ref().and_then(|r| r.work_item_kind.clone());
        s.active_work_item_id = first.as_ref().and_then(|r| r.work_item_id.clone());
        s.active_since = first.as_ref().map(|r| r.active_since.clone());
        let [t, m, f, c] = match &first {
            Some(r) => self.counters.snapshot_fields(
                r.work_item_kind.as_deref().unwrap_or(""),
                r.work_item_id.as_deref().unwrap_or(""),
            ),
            None => [0; 4],
        };
        s.troubleshoot_attempt_count = t;
        s.mechanic_attempt_count = m;
        s.fix_cycle_count = f;
        s.consultant_invocations = c;
    }

    fn save_snapshot(&mut self) -> Result<(), String> {
        let r = state::save_snapshot(&self.layout, &mut self.snapshot);
        self.io("state/runtime_snapshot.json", r)
    }

    fn set_marker(&mut self, plane: &str, marker: &str) {
        let _ = state::write_marker_in_place(&self.layout, plane, marker);
        let m = marker.to_string();
        match plane {
            "execution" => self.snapshot.execution_status_marker = m.clone(),
            "planning" => self.snapshot.planning_status_marker = m.clone(),
            _ => self.snapshot.learning_status_marker = m.clone(),
        }
        self.snapshot
            .status_markers_by_plane
            .insert(plane.to_string(), m);
    }

    fn graph(&self, plane: &str) -> Result<&CompiledGraph, String> {
        self.plan
            .graph(plane)
            .ok_or_else(|| format!("mode {} has no {plane} plane", self.plan.mode_id))
    }

    // ------------------------------------------------------------ recovery

    /// Finish what a crash left: terminal decisions not yet applied, items
    /// whose move happened but whose snapshot did not, interrupted stages,
    /// and claimed items that no active run owns.
    fn recover(&mut self) -> Result<(), String> {
        // An agent whose daemon was killed may still be working: stop it
        // before its stage runs again.
        match runners::process::kill_recorded_agent(&self.agent_note()) {
            Some(runners::process::NotedAgent::Killed(pid)) => {
                let _ = events::record(
                    &self.layout,
                    "runtime_recovered",
                    json!({"reason": "orphaned_agent_killed", "pid": pid}),
                );
            }
            Some(runners::process::NotedAgent::Refused { pid, reason }) => {
                let _ = events::record(
                    &self.layout,
                    "runtime_recovered",
                    json!({"reason": "agent_note_refused", "pid": pid, "detail": reason}),
                );
            }
            None => {}
        }
        runners::process::record_agents_in(Some(self.agent_note()));
        for mut run in self.active_runs() {
            if let Some(p) = run.pending_terminal.clone() {
                self.apply_terminal(&run, &p)?;
                continue;
            }
            let (Some(kind), Some(id)) = (
                run.work_item_kind.as_deref().and_then(kind_of),
                run.work_item_id.clone(),
            ) else {
                continue;
            };
            let active_path =
                queue::state_dir(&self.layout, kind, "active").join(format!("{id}.md"));
            if !active_path.is_file() {
                // The item left active (done or blocked) but the snapshot was not updated.
                let _ = events::record(
                    &self.layout,
                    "runtime_recovered",
                    json!({"reason": "item_left_active", "work_item_id": id, "plane": run.plane}),
                );
                self.counters.clear_item(kind.tag(), &id);
                self.clear_active(&run.plane);
                continue;
            }
            let marker = state::read_marker(&self.layout, &run.plane).unwrap_or_default();
            if marker == format!("### {}", run.running_status_marker) {
                // The stage was running when the previous process died.
                let graph = self.graph(&run.plane)?;
                let retry_safe = graph
                    .node(&run.node_id)
                    .is_some_and(|n| n.idempotence_policy != "single_attempt_only");
                if retry_safe && run.interrupted_retries < MAX_INTERRUPTED_RETRIES {
                    run.interrupted_retries += 1;
                } else {
                    run.pending_failure = Some("stale_active_ownership".into());
                }
                let _ = events::record(
                    &self.layout,
                    "runtime_recovered",
                    json!({"reason": "interrupted_stage", "plane": run.plane, "node_id": run.node_id, "work_item_id": id,
                           "action": if run.pending_failure.is_some() { "route_failure" } else { "rerun" }}),
                );
                self.set_active(&run);
            }
        }
        // Claimed items that no active run owns go back to their queue.
        let owned: Vec<(String, String)> = self
            .active_runs()
            .into_iter()
            .filter_map(|r| Some((r.work_item_kind?, r.work_item_id?)))
            .collect();
        for (kind, _) in ORDER {
            let [entry, active, ..] = queue::states(kind);
            for id in queue::list_ids(&self.layout, kind, active) {
                if owned.iter().any(|(k, i)| k == kind.tag() && *i == id) {
                    continue;
                }
                let from = queue::state_dir(&self.layout, kind, active).join(format!("{id}.md"));
                let to = queue::state_dir(&self.layout, kind, entry).join(format!("{id}.md"));
                if atomic::rename_durable(&from, &to).is_ok() {
                    self.counters.clear_item(kind.tag(), &id);
                    let _ = events::record(
                        &self.layout,
                        "runtime_recovered",
                        json!({"reason": "orphaned_active_item", "work_item_kind": kind.tag(), "work_item_id": id, "to": entry}),
                    );
                }
            }
        }
        let r = self.counters.save_if_dirty(&self.layout);
        self.io("state/recovery_counters.json", r)
    }

    /// Where the running agent's pid is noted (`state/agent_process.txt`).
    fn agent_note(&self) -> std::path::PathBuf {
        self.layout.state_dir().join("agent_process.txt")
    }

    // ------------------------------------------------------------ mailbox

    fn drain_mailbox(&mut self) -> Result<(), String> {
        let incoming = self.layout.mailbox_dir("incoming");
        let has_mail = std::fs::read_dir(&incoming)
            .map(|mut d| d.next().is_some())
            .unwrap_or(false);
        if !has_mail {
            return Ok(());
        }
        let mut effects: Vec<(String, Map<String, Value>)> = Vec::new();
        mailbox::drain(&self.layout.clone(), |env| {
            effects.push((env.command.clone(), env.payload.clone()));
            Ok(json!({"accepted": true}))
        })?;
        for (command, payload) in effects {
            self.apply_command(&command, &payload)?;
        }
        Ok(())
    }

    /// Apply one control command to the running engine.
    pub fn apply_command(
        &mut self,
        command: &str,
        payload: &Map<String, Value>,
    ) -> Result<String, String> {
        let reason = payload
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or("operator requested")
            .to_string();
        let detail = match command {
            "stop" => {
                self.snapshot.stop_requested = true;
                "stop requested".to_string()
            }
            "pause" => {
                self.snapshot.paused = true;
                if !self.snapshot.pause_sources.iter().any(|v| v == "operator") {
                    self.snapshot.pause_sources.push(json!("operator"));
                }
                "paused".to_string()
            }
            "resume" => {
                self.snapshot.paused = false;
                self.snapshot.pause_sources.clear();
                "resumed".to_string()
            }
            "retry_active" | "clear_stale_state" => {
                let runs = self.active_runs();
                for run in &runs {
                    if let (Some(kind), Some(id)) = (
                        run.work_item_kind.as_deref().and_then(kind_of),
                        run.work_item_id.as_deref(),
                    ) {
                        let [entry, active, ..] = queue::states(kind);
                        let from =
                            queue::state_dir(&self.layout, kind, active).join(format!("{id}.md"));
                        let to =
                            queue::state_dir(&self.layout, kind, entry).join(format!("{id}.md"));
                        if from.is_file() {
                            self.io("requeue", atomic::rename_durable(&from, &to))?;
                        }
                        self.counters.clear_item(kind.tag(), id);
                    }
                    self.clear_active(&run.plane);
                    self.set_marker(&run.plane, IDLE_MARKER);
                }
                if command == "clear_stale_state" {
                    self.counters.clear_all();
                }
                self.traces.clear();
                self.scheduler.invalidate_all();
                format!("{} active run(s) requeued: {reason}", runs.len())
            }
            "reload_config" => match self.reload() {
                Ok(d) => d,
                Err(e) => {
                    self.snapshot.last_reload_outcome = json!("failed_retained_previous_plan");
                    self.snapshot.last_reload_error = Some(e.clone());
                    e
                }
            },
            "add_task" | "add_spec" | "add_idea" => {
                self.scheduler.invalidate_all();
                "intake".to_string()
            }
            other => return Err(format!("unknown command {other}")),
        };
        let r = self.counters.save_if_dirty(&self.layout);
        self.io("state/recovery_counters.json", r)?;
        self.save_snapshot()?;
        let _ = events::record(
            &self.layout,
            "control_command_applied",
            json!({"command": command, "detail": detail}),
        );
        Ok(detail)
    }

    /// Re-read the config and recompile; the new plan applies between stages.
    fn reload(&mut self) -> Result<String, String> {
        let config = config::load_config(&self.layout.config_file())?;
        let plan = persist::authoritative_plan(&self.layout, self.mode_override.as_deref())?;
        self.config = config;
        self.snapshot.config_version = plan.compile_input_fingerprint.config_fingerprint.clone();
        self.snapshot.compiled_plan_id = plan.compiled_plan_id.clone();
        self.plan = plan;
        self.snapshot.last_reload_outcome = json!("applied");
        self.snapshot.last_reload_error = None;
        Ok(format!("applied plan {}", self.plan.compiled_plan_id))
    }

    // ------------------------------------------------------------ the tick

    /// One tick. `cancel` interrupts a running stage (shutdown).
    pub fn step(&mut self, cancel: &AtomicBool) -> Result<Step, String> {
        self.ticks += 1;
        self.drain_mailbox()?;
        if self.snapshot.stop_requested {
            return Ok(Step::Stopped);
        }
        if self.snapshot.paused {
            return Ok(Step::Paused);
        }
        let run = match self.active_runs().into_iter().next() {
            Some(r) => r,
            None => match self
                .claim()?
                .map_or_else(|| self.closure_run(), |r| Ok(Some(r)))?
            {
                Some(r) => r,
                None => {
                    let depths = self.scheduler.depths(&self.layout);
                    if self
                        .snapshot
                        .queue_depths_by_plane
                        .values()
                        .copied()
                        .collect::<Vec<_>>()
                        != depths.to_vec()
                    {
                        self.snapshot.set_queue_depths(depths);
                        self.save_snapshot()?;
                    }
                    self.monitor.idle("no_work");
                    return Ok(Step::Idle("no_work".into()));
                }
            },
        };
        self.run_stage(run, cancel)
    }

    /// Claim the next work item (planning, then execution, then learning).
    fn claim(&mut self) -> Result<Option<ActiveRun>, String> {
        for (kind, plane) in ORDER {
            let Some(graph) = self.plan.graph(plane) else {
                continue;
            };
            let key = entry_key(kind);
            let Some(entry) = graph.entries.iter().find(|e| e.entry_key == key) else {
                continue;
            };
            let entry_node = entry.node_id.clone();
            while let Some(id) = self.scheduler.peek(&self.layout, kind) {
                self.scheduler.take(kind, &id);
                let [q, active, ..] = queue::states(kind);
                let from = queue::state_dir(&self.layout, kind, q).join(format!("{id}.md"));
                let to = queue::state_dir(&self.layout, kind, active).join(format!("{id}.md"));
                // A malformed document is set aside (blocked) rather than run.
                let doc = match queue::read_item(kind, &from) {
                    Ok(d) => d,
                    Err(e) => {
                        let blocked = queue::state_dir(&self.layout, kind, queue::states(kind)[3])
                            .join(format!("{id}.md"));
                        let _ = atomic::rename_durable(&from, &blocked);
                        let _ = events::record(
                            &self.layout,
                            "work_item_rejected",
                            json!({"work_item_kind": kind.tag(), "work_item_id": id, "error": e.to_string()}),
                        );
                        self.monitor.line(&format!(
                            "rejected {}:{id} reason=invalid_document",
                            kind.tag()
                        ));
                        continue;
                    }
                };
                match atomic::rename_durable(&from, &to) {
                    Ok(()) => self.scheduler.own_change(&self.layout, kind),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(format!("{}: {e}", to.display())),
                }
                if kind == DocKind::Spec && graph.completion_behavior.is_some() {
                    match closure::open_for_spec(&self.layout, &doc) {
                        Ok(true) => {
                            let _ = events::record(
                                &self.layout,
                                "closure_target_opened",
                                json!({"root_spec_id": id}),
                            );
                        }
                        Ok(false) => {}
                        Err(e) => {
                            let _ = events::record(
                                &self.layout,
                                "closure_target_failed",
                                json!({"root_spec_id": id, "error": e}),
                            );
                        }
                    }
                }
                let node = graph
                    .node(&entry_node)
                    .ok_or("entry node missing from plan")?;
                let run = ActiveRun {
                    plane: plane.to_string(),
                    stage: node.node_id.clone(),
                    node_id: node.node_id.clone(),
                    stage_kind_id: node.stage_kind_id.clone(),
                    run_id: ids::run_id(),
                    request_kind: if kind == DocKind::LearningRequest {
                        "learning_request"
                    } else {
                        "active_work_item"
                    }
                    .into(),
                    work_item_kind: Some(kind.tag().to_string()),
                    work_item_id: Some(id.clone()),
                    closure_target_root_spec_id: None,
                    closure_target_root_idea_id: None,
                    active_since: clock::now_rfc3339(),
                    running_status_marker: node.running_status_marker.clone(),
                    entry_key: key.to_string(),
                    stage_runs: 0,
                    interrupted_retries: 0,
                    pending_failure: None,
                    pending_terminal: None,
                };
                self.counters.clear_item(kind.tag(), &id);
                self.set_active(&run);
                let depths = self.scheduler.depths(&self.layout);
                self.snapshot.set_queue_depths(depths);
                self.save_snapshot()?;
                let _ = events::record(
                    &self.layout,
                    "work_item_claimed",
                    json!({"work_item_kind": kind.tag(), "work_item_id": id, "run_id": run.run_id, "node_id": run.node_id}),
                );
                return Ok(Some(run));
            }
        }
        Ok(None)
    }

    /// With nothing to claim: the completion target for a closure target
    /// whose lineage has no open work, if the plan has completion behaviour.
    fn closure_run(&mut self) -> Result<Option<ActiveRun>, String> {
        let Some(graph) = self.plan.graph("planning") else {
            return Ok(None);
        };
        let Some(cb) = graph.completion_behavior.clone() else {
            return Ok(None);
        };
        let Some(target) = closure::ready(&self.layout, cb.blocked_work_policy == "suppress")?
        else {
            return Ok(None);
        };
        let node = graph
            .node(&cb.target_node_id)
            .ok_or("completion target missing from plan")?;
        let run = ActiveRun {
            plane: "planning".into(),
            stage: node.node_id.clone(),
            node_id: node.node_id.clone(),
            stage_kind_id: node.stage_kind_id.clone(),
            run_id: ids::run_id(),
            request_kind: cb.request_kind.clone(),
            work_item_kind: None,
            work_item_id: None,
            closure_target_root_spec_id: Some(target.root_spec_id.clone()),
            closure_target_root_idea_id: target.root_idea_id.clone(),
            active_since: clock::now_rfc3339(),
            running_status_marker: node.running_status_marker.clone(),
            entry_key: "closure_target".into(),
            stage_runs: 0,
            interrupted_retries: 0,
            pending_failure: None,
            pending_terminal: None,
        };
        self.set_active(&run);
        self.save_snapshot()?;
        let _ = events::record(
            &self.layout,
            "closure_target_judged",
            json!({"root_spec_id": target.root_spec_id, "run_id": run.run_id}),
        );
        Ok(Some(run))
    }

    fn closure_fields(&self, run: &ActiveRun, run_dir: &std::path::Path) -> runners::ClosureFields {
        let Some(root) = &run.closure_target_root_spec_id else {
            return Default::default();
        };
        let Some(t) = closure::load(&self.layout, root) else {
            return Default::default();
        };
        let abs = |rel: &str| self.layout.root.join(rel).display().to_string();
        runners::ClosureFields {
            target_path: Some(abs(&format!("millrace-agents/arbiter/targets/{root}.json"))),
            root_spec_id: Some(t.root_spec_id.clone()),
            root_idea_id: t.root_idea_id.clone(),
            canonical_root_spec_path: Some(abs(&t.root_spec_path)),
            canonical_seed_idea_path: t.root_idea_path.as_deref().map(abs),
            preferred_rubric_path: Some(abs(&t.rubric_path)),
            preferred_verdict_path: Some(
                run_dir.join("arbiter_verdict.json").display().to_string(),
            ),
            preferred_report_path: Some(run_dir.join("arbiter_report.md").display().to_string()),
        }
    }

    fn request(&self, run: &ActiveRun, node: &CompiledNode) -> StageRequest {
        let ma = &self.layout.runtime;
        let run_dir = ma.join("runs").join(&run.run_id);
        let work_item = match (&run.work_item_kind, &run.work_item_id) {
            (Some(k), Some(id)) => kind_of(k).map(|kind| WorkItemRef {
                kind: k.clone(),
                id: id.clone(),
                path: Some(queue::state_dir(&self.layout, kind, "active").join(format!("{id}.md"))),
            }),
            _ => None,
        };
        StageRequest {
            request_id: ids::request_id(),
            run_id: run.run_id.clone(),
            mode_id: self.plan.mode_id.clone(),
            compiled_plan_id: self.plan.compiled_plan_id.clone(),
            node_id: node.node_id.clone(),
            stage_kind_id: node.stage_kind_id.clone(),
            stage: node.node_id.clone(),
            plane: node.plane.clone(),
            request_kind: run.request_kind.clone(),
            running_status_marker: node.running_status_marker.clone(),
            entrypoint_path: ma.join(&node.entrypoint_path),
            entrypoint_contract_id: Some(node.entrypoint_contract_id.clone()),
            work_item,
            closure: self.closure_fields(run, &run_dir),
            outcomes: node
                .allowed_result_classes_by_outcome
                .iter()
                .map(|o| LegalOutcome {
                    name: o.outcome.clone(),
                    result_classes: o.result_classes.clone(),
                })
                .collect(),
            required_skill_paths: node
                .required_skill_paths
                .iter()
                .map(|p| ma.join(p))
                .collect(),
            attached_skill_paths: node
                .attached_skill_paths
                .iter()
                .map(|p| ma.join(p))
                .collect(),
            preferred_troubleshoot_report_path: Some(run_dir.join("troubleshoot_report.md")),
            run_dir,
            workspace_root: self.layout.root.clone(),
            runtime_snapshot_path: self.layout.snapshot_file(),
            recovery_counters_path: self.layout.counters_file(),
            summary_status_path: self.layout.status_file(&node.plane),
            runtime_error_code: None,
            runtime_error_report_path: None,
            runtime_error_catalog_path: None,
            skill_revision_evidence_path: None,
            runner_name: Some(node.runner_name.clone()),
            model_name: node.model_name.clone(),
            thinking_level: node.thinking_level.clone(),
            model_reasoning_effort: node.model_reasoning_effort.clone(),
            timeout_seconds: node.timeout_seconds,
        }
    }

    /// A failure verdict for something that happened outside the agent.
    fn failure_verdict(failure_class: &str, note: String) -> Verdict {
        Verdict {
            outcome: "BLOCKED".into(),
            result_class: "recoverable_failure".into(),
            valid: false,
            failure_class: Some(failure_class.to_string()),
            detected_marker: None,
            notes: vec![note],
            exit_code: 1,
            retryable: true,
            raw_exit_kind: "runner_error",
            raw_exit_code: None,
            timeout_reconciled: false,
            metadata: Default::default(),
        }
    }

    fn run_stage(&mut self, mut run: ActiveRun, cancel: &AtomicBool) -> Result<Step, String> {
        let plane = run.plane.clone();
        let graph = self.graph(&plane)?.clone();
        let node = graph
            .node(&run.node_id)
            .ok_or_else(|| format!("node {} is not in the plan", run.node_id))?
            .clone();
        let work = match (&run.work_item_kind, &run.work_item_id) {
            (Some(k), Some(i)) => (k.clone(), i.clone()),
            _ => (String::new(), String::new()),
        };
        let bound = graph
            .stage_run_bound
            .per_entry
            .get(&run.entry_key)
            .copied()
            .unwrap_or(graph.stage_run_bound.max_stage_runs);
        let request = self.request(&run, &node);
        let handle = ids::handle(&run.run_id);
        let work_label = if work.0.is_empty() {
            String::new()
        } else {
            format!(" work={}:{}", work.0, work.1)
        };
        self.run_started
            .entry(run.run_id.clone())
            .or_insert_with(Instant::now);

        // The stage itself, or the failure that stands in for it.
        let (verdict, output) = if run.stage_runs >= bound {
            (
                Self::failure_verdict(
                    "stage_run_bound_exhausted",
                    format!("work item reached its plan's bound of {bound} stage runs"),
                ),
                None,
            )
        } else if let Some(fc) = run.pending_failure.take() {
            (
                Self::failure_verdict(
                    &fc,
                    "the stage was interrupted and may not be retried".into(),
                ),
                None,
            )
        } else {
            self.set_marker(&plane, &format!("### {}", node.running_status_marker));
            self.monitor.line(&format!(
                "stage start {plane}/{}{} run={handle}{work_label}",
                node.node_id,
                if node.stage_kind_id != node.node_id {
                    format!(" kind={}", node.stage_kind_id)
                } else {
                    String::new()
                }
            ));
            let _ = events::record(
                &self.layout,
                "stage_started",
                json!({"plane": plane, "node_id": node.node_id, "run_id": run.run_id, "request_id": request.request_id}),
            );
            let result =
                runners::run_with_cancel(&request, &self.config.runners, Cancel(Some(cancel)));
            runners::process::clear_agent_note(&self.agent_note());
            match result {
                Ok(out) if out.exit_kind == runners::ExitKind::Interrupted => {
                    // Shutdown: leave the stage as running; the next start re-runs it.
                    return Ok(Step::Interrupted);
                }
                Ok(out) => (out.verdict(&request), Some(out)),
                Err(e) => (
                    Self::failure_verdict(e.failure_class(), e.to_string()),
                    None,
                ),
            }
        };
        run.stage_runs += 1;

        // Result surface: the verdict's outcome must be legal with an allowed class.
        let mut verdict = match node.classes_for(&verdict.outcome) {
            Some(classes) if classes.contains(&verdict.result_class) => verdict,
            _ => Self::failure_verdict(
                "illegal_terminal_result",
                format!(
                    "{} / {} is not a legal result of {}",
                    verdict.outcome, verdict.result_class, node.node_id
                ),
            ),
        };

        // Record the stage result.
        let result_rel = format!(
            "runs/{}/stage_results/{}.json",
            run.run_id, request.request_id
        );
        let mut result_doc = match &output {
            Some(out) => stage_result::build(&request, out, &verdict),
            None => stage_result::build(&request, &self.synthetic_output(&request), &verdict),
        };
        let result_path = self.layout.runtime.join(&result_rel);
        if let Err(e) = stage_result::write(&result_path, &result_doc) {
            // A link planted in the run directory: the stage fails (typed),
            // its result cannot be recorded there, and routing goes on.
            if safe_fs::refusal(&e).is_none() {
                return Err(format!("{result_rel}: {e}"));
            }
            verdict = Self::failure_verdict(runners::UNSAFE_PATH_FAILURE, e.to_string());
            result_doc = stage_result::build(&request, &self.synthetic_output(&request), &verdict);
        }
        if verdict.failure_class.as_deref() == Some(runners::UNSAFE_PATH_FAILURE) {
            let _ = events::record(
                &self.layout,
                "workspace_path_refused",
                json!({"plane": plane, "node_id": node.node_id, "run_id": run.run_id, "request_id": request.request_id, "notes": verdict.notes}),
            );
        }
        let run_dir = self.layout.runtime.join("runs").join(&run.run_id);
        let cached = self.traces.remove(&run.run_id);
        let mut tr = cached.or_else(|| trace::load(&run_dir)).unwrap_or_else(|| {
            trace::new_trace(
                &run.run_id,
                &run_dir,
                &self.plan.compiled_plan_id,
                &self.plan.mode_id,
                &run.request_kind,
                (!work.0.is_empty()).then_some((work.0.as_str(), work.1.as_str())),
            )
        });
        trace::add_node(
            &mut tr,
            &result_doc,
            &format!("stage_results/{}.json", request.request_id),
        );

        let dur = output.as_ref().map_or(0.0, |o| o.duration_seconds);
        let tokens = output
            .as_ref()
            .and_then(|o| o.token_usage)
            .map(|t| format!(" tokens={}", monitor::tokens(&t)))
            .unwrap_or_default();
        self.monitor.line(&format!(
            "stage done {plane}/{} run={handle} result={} dur={dur:.1}s{tokens}",
            node.node_id, verdict.outcome
        ));
        let elapsed = self
            .run_started
            .get(&run.run_id)
            .map_or(0.0, |t| t.elapsed().as_secs_f64());
        self.monitor
            .line(&format!("run {plane} run={handle} elapsed={elapsed:.1}s"));

        // Learning triggers.
        let spawned = self.learning_triggers(&run, &node, &verdict.outcome, &result_rel);

        // Route.
        let hints = ResumeHints {
            resume_stage: verdict.metadata.resume_stage.clone(),
            target_stage: verdict.metadata.target_stage.clone(),
        };
        let decision = router::route(
            &graph,
            &node.node_id,
            &verdict.outcome,
            &hints,
            &mut self.counters,
            (&work.0, &work.1),
        );
        let decision: Decision = decision?;
        self.set_marker(&plane, &format!("### {}", verdict.outcome));
        self.snapshot.last_terminal_result = json!(verdict.outcome);
        self.snapshot.last_stage_result_path = Some(format!("millrace-agents/{result_rel}"));
        self.snapshot.current_failure_class = verdict.failure_class.clone();
        let failed = !verdict.valid;
        let reason = decision.reason.clone();
        match &decision.next {
            TransitionTarget::Node(next) => {
                let next_node = graph.node(next).ok_or("route target missing from plan")?;
                run.stage = next_node.node_id.clone();
                run.node_id = next_node.node_id.clone();
                run.stage_kind_id = next_node.stage_kind_id.clone();
                run.running_status_marker = next_node.running_status_marker.clone();
                run.interrupted_retries = 0;
                trace::add_edge(
                    &mut tr,
                    &request.request_id,
                    &verdict.outcome,
                    "run_stage",
                    Some(next),
                    None,
                    &reason,
                    decision.via.as_str(),
                    &decision.source,
                    spawned,
                );
                let _ = trace::save(&run_dir, &tr);
                self.traces.insert(run.run_id.clone(), tr);
                let r = self.counters.save_if_dirty(&self.layout);
                self.io("state/recovery_counters.json", r)?;
                self.set_active(&run);
                self.save_snapshot()?;
                self.monitor
                    .line(&format!("route {plane} -> {next} reason={reason}"));
            }
            TransitionTarget::Terminal(t) => {
                let pending = PendingTerminal {
                    terminal_state_id: t.clone(),
                    outcome: verdict.outcome.clone(),
                    reason: reason.clone(),
                    request_id: request.request_id.clone(),
                    stage_result_path: format!("millrace-agents/{result_rel}"),
                    notes: verdict.notes.clone(),
                    failure_class: verdict.failure_class.clone(),
                };
                let terminal = graph
                    .terminal(t)
                    .ok_or("terminal missing from plan")?
                    .clone();
                let kind = match terminal.terminal_class.as_str() {
                    "success" | "no_op" => "idle",
                    "escalate_planning" | "followup_needed" => "handoff",
                    _ => "blocked",
                };
                trace::add_edge(
                    &mut tr,
                    &request.request_id,
                    &verdict.outcome,
                    kind,
                    None,
                    Some(t),
                    &reason,
                    decision.via.as_str(),
                    &decision.source,
                    spawned,
                );
                trace::finish(
                    &mut tr,
                    match kind {
                        "idle" => "complete",
                        "handoff" => "handoff",
                        _ => "blocked",
                    },
                );
                let _ = trace::save(&run_dir, &tr);
                // Record the decision durably before its side effects.
                run.pending_terminal = Some(pending.clone());
                self.set_active(&run);
                self.save_snapshot()?;
                self.apply_terminal(&run, &pending)?;
                match kind {
                    "idle" => self
                        .monitor
                        .line(&format!("route {plane} done reason={reason}")),
                    "handoff" => {
                        let target = self
                            .plan
                            .graph("planning")
                            .and_then(|g| g.entries.iter().find(|e| e.entry_key == "incident"))
                            .map(|e| e.node_id.clone())
                            .unwrap_or_else(|| "auditor".into());
                        self.monitor.line(&format!(
                            "route {plane} -> planning/{target} action=handoff reason={reason}"
                        ))
                    }
                    _ => self
                        .monitor
                        .line(&format!("route {plane} blocked reason={reason}")),
                }
            }
        }
        let _ = events::record(
            &self.layout,
            "router_decision",
            json!({"plane": plane, "node_id": node.node_id, "outcome": verdict.outcome, "next": decision.next, "reason": reason, "via": decision.via.as_str(), "source": decision.source, "run_id": run.run_id}),
        );
        Ok(Step::Ran { reason, failed })
    }

    /// Stand-in runner output for a stage that did not run (bound, interruption, runner error).
    fn synthetic_output(&self, req: &StageRequest) -> RunnerOutput {
        let now = clock::now_rfc3339();
        RunnerOutput {
            runner_name: req.runner_name.clone().unwrap_or_default(),
            exit_kind: runners::ExitKind::SpawnFailed,
            exit_code: None,
            observed: None,
            failure_class: None,
            notes: vec![],
            files: runners::RunFiles {
                prompt: req
                    .run_dir
                    .join(format!("runner_prompt.{}.md", req.request_id)),
                invocation: req
                    .run_dir
                    .join(format!("runner_invocation.{}.json", req.request_id)),
                completion: req
                    .run_dir
                    .join(format!("runner_completion.{}.json", req.request_id)),
                stdout: None,
                stderr: req
                    .run_dir
                    .join(format!("runner_stderr.{}.txt", req.request_id)),
                events: None,
                last_message: None,
            },
            last_message: None,
            scan: Default::default(),
            token_usage: None,
            started_at: now.clone(),
            ended_at: now,
            duration_seconds: 0.0,
            command: vec![],
            invocation: Value::Null,
            model_reasoning_effort: None,
        }
    }

    /// Apply a terminal decision: move the work item, open an incident for
    /// escalations, forget its counters, clear the run. Idempotent.
    fn apply_terminal(&mut self, run: &ActiveRun, p: &PendingTerminal) -> Result<(), String> {
        let graph = self.graph(&run.plane)?.clone();
        let class = graph
            .terminal(&p.terminal_state_id)
            .map(|t| t.terminal_class.clone())
            .unwrap_or_else(|| "blocked".into());
        if let Some(root) = run.closure_target_root_spec_id.clone() {
            let verdict = match class.as_str() {
                "success" => "pass",
                "followup_needed" | "escalate_planning" => "gap",
                _ => "blocked",
            };
            let cb = graph.completion_behavior.clone();
            if verdict == "gap" && cb.as_ref().is_some_and(|c| c.create_incident_on_gap) {
                let target = closure::load(&self.layout, &root);
                let doc = json!({
                    "title": format!("Arbiter remediation for {root}"),
                    "summary": format!("Arbiter found parity gaps for root spec {root}; planning remediation required."),
                    "root_idea_id": target.and_then(|t| t.root_idea_id),
                    "root_spec_id": root,
                    "source_spec_id": root,
                    "failure_class": "arbiter_parity_gap",
                });
                if let Err(e) = self.enqueue_incident(&format!("arbiter-gap-{root}"), doc, run, p) {
                    let _ = events::record(
                        &self.layout,
                        "incident_creation_failed",
                        json!({"root_spec_id": root, "error": e}),
                    );
                }
            }
            let run_dir_rel = format!("millrace-agents/runs/{}", run.run_id);
            closure::record_verdict(&self.layout, &root, &run.run_id, verdict, &run_dir_rel)?;
            let _ = events::record(
                &self.layout,
                "closure_target_verdict",
                json!({"root_spec_id": root, "verdict": verdict, "run_id": run.run_id}),
            );
        }
        if let (Some(kind), Some(id)) = (
            run.work_item_kind.as_deref().and_then(kind_of),
            run.work_item_id.clone(),
        ) {
            let [_, active, done, blocked] = queue::states(kind);
            // Finished lineage work lets a suppressed closure target be judged again.
            let item_path = queue::state_dir(&self.layout, kind, active).join(format!("{id}.md"));
            if let Ok(doc) = queue::read_item(kind, &item_path) {
                if let Some(root) = doc
                    .lineage()
                    .root_spec_id
                    .or_else(|| (kind == DocKind::Spec).then(|| id.clone()))
                {
                    let _ = closure::lineage_progressed(&self.layout, &root);
                }
            }
            let dest = if matches!(class.as_str(), "success" | "no_op") {
                done
            } else {
                blocked
            };
            if matches!(class.as_str(), "escalate_planning" | "followup_needed") {
                // The item is blocked either way; a failed incident is reported, not fatal.
                if let Err(e) = self.open_incident(run, kind, &id, p) {
                    let _ = events::record(
                        &self.layout,
                        "incident_creation_failed",
                        json!({"work_item_id": id, "error": e}),
                    );
                    self.monitor.line(&format!(
                        "incident failed work={}:{id} error={e}",
                        kind.tag()
                    ));
                }
            }
            let from = queue::state_dir(&self.layout, kind, active).join(format!("{id}.md"));
            let to = queue::state_dir(&self.layout, kind, dest).join(format!("{id}.md"));
            if from.is_file() {
                self.io(
                    &to.display().to_string(),
                    atomic::rename_durable(&from, &to),
                )?;
                // Recorded only by the move itself: at most once per item.
                let _ = events::record(
                    &self.layout,
                    "work_item_finished",
                    json!({"work_item_kind": kind.tag(), "work_item_id": id, "state": dest, "terminal_state_id": p.terminal_state_id, "reason": p.reason}),
                );
            }
            self.counters.clear_item(kind.tag(), &id);
        }
        if matches!(class.as_str(), "success" | "no_op") {
            self.set_marker(&run.plane, IDLE_MARKER);
        }
        self.clear_active(&run.plane);
        self.run_started.remove(&run.run_id);
        let r = self.counters.save_if_dirty(&self.layout);
        self.io("state/recovery_counters.json", r)?;
        let depths = self.scheduler.depths(&self.layout);
        self.snapshot.set_queue_depths(depths);
        self.save_snapshot()
    }

    /// The planning incident for an escalated item, carrying its lineage.
    fn open_incident(
        &mut self,
        run: &ActiveRun,
        kind: DocKind,
        id: &str,
        p: &PendingTerminal,
    ) -> Result<(), String> {
        let source = queue::state_dir(&self.layout, kind, "active").join(format!("{id}.md"));
        let lineage = queue::read_item(kind, &source)
            .map(|d| d.lineage())
            .unwrap_or_default();
        let (root_spec, source_spec, source_task) = match kind {
            DocKind::Task => (
                lineage.root_spec_id.clone().or(lineage.spec_id.clone()),
                lineage.root_spec_id.clone().or(lineage.spec_id.clone()),
                Some(id.to_string()),
            ),
            DocKind::Spec => (
                lineage.root_spec_id.clone().or(Some(id.to_string())),
                Some(id.to_string()),
                None,
            ),
            _ => (
                lineage.root_spec_id.clone(),
                lineage.source_spec_id.clone(),
                lineage.source_task_id.clone(),
            ),
        };
        let doc = json!({
            "title": format!("Planning handoff for {} {id}", kind.tag()),
            "summary": format!("Stage {} returned {}; planning remediation required.", run.node_id, p.outcome),
            "root_idea_id": lineage.root_idea_id,
            "root_spec_id": root_spec,
            "source_task_id": source_task,
            "source_spec_id": source_spec,
            "failure_class": p.failure_class.clone().unwrap_or_else(|| p.reason.clone()),
        });
        self.enqueue_incident(&format!("incident-{id}"), doc, run, p)
    }

    /// Write a planning incident `<prefix>-<8 hex of the request>` from the
    /// given fields plus the common ones. Deterministic from the request, so
    /// re-applying after a crash writes nothing new.
    fn enqueue_incident(
        &mut self,
        prefix: &str,
        mut doc: Value,
        run: &ActiveRun,
        p: &PendingTerminal,
    ) -> Result<(), String> {
        let suffix: String = p
            .request_id
            .trim_start_matches("request-")
            .chars()
            .take(8)
            .collect();
        let incident_id = crate::workspace::ids::derived_id(prefix, &suffix);
        if queue::states(DocKind::Incident).iter().any(|s| {
            queue::state_dir(&self.layout, DocKind::Incident, s)
                .join(format!("{incident_id}.md"))
                .is_file()
        }) {
            return Ok(());
        }
        doc["incident_id"] = json!(incident_id);
        doc["source_stage"] = json!(run.node_id);
        doc["source_plane"] = json!(run.plane);
        doc["severity"] = json!("high");
        doc["trigger_reason"] = json!(p.reason);
        doc["consultant_decision"] = json!("needs_planning");
        doc["opened_at"] = json!(clock::now_rfc3339());
        doc["opened_by"] = json!("runtime");
        doc["observed_symptoms"] = json!(p.notes);
        doc["related_run_ids"] = json!([run.run_id]);
        doc["related_stage_results"] = json!([p.stage_result_path]);
        let path = queue::state_dir(&self.layout, DocKind::Incident, "incoming")
            .join(format!("{incident_id}.md"));
        let document =
            WorkDocument::from_json(DocKind::Incident, &doc.to_string(), "runtime incident")
                .map_err(|e| e.to_string())?;
        match atomic::create_atomic(&path, document.to_markdown().as_bytes()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
        self.scheduler.invalidate_all();
        let _ = events::record(
            &self.layout,
            "runtime_handoff_incident_enqueued",
            json!({"incident_id": incident_id, "source_stage": run.node_id, "run_id": run.run_id}),
        );
        Ok(())
    }

    /// Enqueue learning requests for matching trigger rules; returns their ids.
    fn learning_triggers(
        &mut self,
        run: &ActiveRun,
        node: &CompiledNode,
        outcome: &str,
        result_rel: &str,
    ) -> Vec<String> {
        if self.plan.graph("learning").is_none() {
            return vec![];
        }
        let rules: Vec<_> = self
            .plan
            .learning_trigger_rules
            .iter()
            .filter(|r| {
                r.source_plane == run.plane
                    && r.source_stage == node.node_id
                    && r.on_terminal_results.iter().any(|o| o == outcome)
            })
            .cloned()
            .collect();
        let mut out = vec![];
        for rule in rules {
            let id = ids::learning_request_id();
            let doc = json!({
                "learning_request_id": id,
                "title": format!("Learn from {} {outcome}", node.node_id),
                "summary": format!("Rule {} fired on {} {outcome} in run {}.", rule.rule_id, node.node_id, run.run_id),
                "requested_action": rule.requested_action,
                "target_stage": rule.target_stage,
                "trigger_metadata": {"rule_id": rule.rule_id, "run_id": run.run_id, "node_id": node.node_id, "outcome": outcome, "stage_result": result_rel},
                "created_at": clock::now_rfc3339(),
                "created_by": "millrace runtime",
            });
            let Ok(document) = WorkDocument::from_json(
                DocKind::LearningRequest,
                &doc.to_string(),
                "runtime learning request",
            ) else {
                continue;
            };
            let path = queue::state_dir(&self.layout, DocKind::LearningRequest, "queue")
                .join(format!("{id}.md"));
            if atomic::create_atomic(&path, document.to_markdown().as_bytes()).is_ok() {
                let _ = events::record(
                    &self.layout,
                    "learning_request_enqueued",
                    json!({"learning_request_id": id, "rule_id": rule.rule_id}),
                );
                self.scheduler.invalidate_all();
                out.push(id);
            }
        }
        out
    }

    /// Stop: mark the process not running, keep active runs for the next
    /// start, release the lock.
    pub fn shutdown(&mut self, reason: &str) -> Result<(), String> {
        self.snapshot.process_running = false;
        self.snapshot.stop_requested = false;
        let r = self.counters.save_if_dirty(&self.layout);
        self.io("state/recovery_counters.json", r)?;
        self.save_snapshot()?;
        let _ = events::record(&self.layout, "runtime_stopped", json!({"reason": reason}));
        lock::release(&self.layout, &self.session)
            .map_err(|e| format!("releasing the lock: {e}"))?;
        Ok(())
    }

    pub fn stopped_line(&mut self, reason: &str) {
        self.monitor.line(&format!("stopped reason={reason}"));
    }

    pub fn paused_line(&mut self) {
        self.monitor.idle("paused");
    }
}
