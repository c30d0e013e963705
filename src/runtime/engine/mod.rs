//! The interpreter: one engine per workspace, owning the lock, the compiled
//! plan (it reads only the IR), the snapshot and counters in memory. One
//! `step` = one tick: drain the mailbox, honour stop and pause, claim work,
//! dispatch one stage, apply its result.
//!
//! This module keeps the loop and the state the engine owns (snapshot,
//! active runs, markers); each decision lives in its own child module:
//! - `claim`: which work item (or closure target) runs next;
//! - `dispatch`: build the stage request, run the runner, get a verdict;
//! - `apply`: judge the result surface, record it, route, write state;
//! - `terminal`: a terminal decision's side effects (item moves, incidents);
//! - `learning`: learning-trigger rules fired by a stage's outcome;
//! - `govern`: usage governance at stage boundaries (pause, auto-resume);
//! - `promote`: the curator's promotion boundary (deferred while the
//!   foreground runs);
//! - `planes`: a learning stage running on its own thread beside the
//!   foreground, as the compiled concurrency policy allows;
//! - `record`: how an active run is stored (the reference's record in the
//!   snapshot, our bookkeeping in `state/active_run_extras.json`);
//! - `recover`: finish what a crash left, at startup;
//! - `commands`: control commands from the mailbox or the CLI, reload;
//! - `unstarted`: a stage whose agent could not be started goes back
//!   unchanged (the decision is `runtime::runner_health`'s).
//!
//! Architecture invariant: the engine is the single writer of runtime state;
//! results are applied one at a time, in `apply` and `terminal` only.
//!
//! Durability: the snapshot (active runs, routed-to nodes, queue depths) is
//! written durably after every decision; a terminal decision is written
//! into the snapshot *before* its side effects (moving the work item,
//! opening an incident), which are idempotent, so a crash at any point is
//! finished by the next start and nothing is lost or done twice. Status
//! markers and run records are written atomically but not fsynced: they are
//! re-derived from the snapshot after a crash.

mod apply;
mod claim;
mod commands;
mod dispatch;
mod govern;
mod learning;
mod planes;
mod promote;
mod record;
mod recover;
mod runtime_error;
mod terminal;
mod unstarted;

use super::counters::Counters;
use super::ids;
use super::intake::{IdeaInbox, Intake};
use super::monitor::Monitor;
use super::runner_health::{self, RunnerHealth};
use super::scheduler::Scheduler;
use super::Error;
use crate::plan::ir::{CompiledGraph, CompiledPlan};
use crate::plan::persist;
use crate::workspace::config::{self, Config};
use crate::workspace::documents::DocKind;
use crate::workspace::flock::FileLock;
use crate::workspace::layout::Layout;
use crate::workspace::manifest::Manifest;
use crate::workspace::state::{self, RuntimeSnapshot, IDLE_MARKER};
use crate::workspace::{clock, events, lock, queue, state_lock};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
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
    #[serde(default, deserialize_with = "record::null_as_empty")]
    pub running_status_marker: String,
    // The fields below are ours: never in the snapshot (the reference's
    // record has none of them), kept in `state/active_run_extras.json`.
    /// The entry the item came in by (`task`, `spec`, ...): its bound applies.
    #[serde(skip)]
    pub entry_key: String,
    /// Stages this item has run in this run.
    #[serde(skip)]
    pub stage_runs: u64,
    /// Interrupted stages re-run so far.
    #[serde(skip)]
    pub interrupted_retries: u64,
    /// A failure to route instead of running the node (an interruption that
    /// may not be retried), as its failure class.
    #[serde(skip)]
    pub pending_failure: Option<String>,
    /// A terminal decision recorded before its side effects were applied.
    #[serde(skip)]
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
    /// Only a learning stage is running (on its own thread); nothing was
    /// applied this tick.
    Waiting,
}

/// How the work this process ran ended, for `run`'s last line and exit
/// status: the last stage's outcome, and the items whose runs ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// The outcome of the last stage applied (`BLOCKED`, `BUILDER_COMPLETE`...).
    pub last_outcome: Option<String>,
    /// The run of that stage.
    pub last_run_id: Option<String>,
    /// `<kind>:<id>` (or the run id) of each run that ended blocked.
    pub blocked: Vec<String>,
    /// Runs that ended otherwise (success, no-op, handoff).
    pub ended_otherwise: u64,
    /// Stage results this process recorded (`run --json`'s `stages_run`).
    pub stages_run: u64,
    /// Work items this process moved to an end state, by kind tag and state.
    pub finished: std::collections::BTreeMap<(String, String), u64>,
}

impl Tally {
    /// One more item of `kind` moved to its end state `state`.
    pub(super) fn finished_one(&mut self, kind: &str, state: &str) {
        *self
            .finished
            .entry((kind.to_string(), state.to_string()))
            .or_default() += 1;
    }
}

pub struct Engine {
    pub layout: Layout,
    /// Shared, so a stage can hold its graph while the engine changes.
    pub plan: Arc<CompiledPlan>,
    pub config: Config,
    pub snapshot: RuntimeSnapshot,
    pub counters: Counters,
    pub monitor: Monitor,
    pub mode_override: Option<String>,
    pub ticks: u64,
    /// Stages whose runner is running (heartbeats read it; see `progress`).
    pub progress: crate::runtime::progress::Board,
    /// How the stages and items this process ran ended (`run`'s exit status).
    pub tally: Tally,
    scheduler: Scheduler,
    session: String,
    run_started: HashMap<String, Instant>,
    /// The run trace of each active run, kept in memory (read from disk only
    /// after a restart) and written after every stage.
    traces: HashMap<String, Value>,
    /// The open closure target and the root specs it held back, as last
    /// reported in a `closure_target_backpressure` event.
    backpressure: Option<(String, Vec<String>)>,
    /// The ideas inbox as last polled (watcher intake).
    ideas: IdeaInbox,
    /// When this engine took the workspace (its lock record's `acquired_at`).
    owned_since: String,
    /// Held for the engine's life (see `workspace::state_lock`).
    _state_lock: FileLock,
    /// The last `runtime_tick_*` event written (see `tick_event`).
    last_tick_event: Option<&'static str>,
    /// Token usage summed over each active run's stages (monitor `run` lines).
    run_tokens: HashMap<String, crate::runners::TokenUsage>,
    /// Runtime errors rerouted per run (see `runtime_error`).
    runtime_errors: HashMap<String, u32>,
    /// Consecutive stages whose agent could not be started.
    runner_health: RunnerHealth,
    /// A learning stage running beside the foreground (`planes`).
    in_flight: Option<planes::InFlight>,
    /// The usage-governance ledger, as read at startup and appended since.
    ledger: Vec<super::governance::LedgerEntry>,
    /// Our bookkeeping of each plane's active run (see `record`).
    run_extras: std::collections::BTreeMap<String, record::RunExtras>,
    /// `[runs]` retention: due at the next idle boundary (set at start and
    /// after work), and when it last ran.
    retention_due: bool,
    last_retention: Option<Instant>,
    /// The extras as this engine last wrote them (what a restart would read).
    saved_extras: Option<std::collections::BTreeMap<String, record::RunExtras>>,
    /// A snapshot change not written yet (a finished run's clearing; see
    /// `apply_terminal`): written by the next save, at the latest at the
    /// end of the next tick that runs no stage.
    snapshot_deferred: bool,
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
    ) -> Result<Engine, crate::runtime::Error> {
        layout.require_initialized()?;
        // Managed files missing from the workspace (one the reference
        // initialized has no `mill/`) are deployed; nothing is overwritten.
        crate::workspace::init::initialize(&layout)?;
        let config = config::load_config(&layout.config_file())?;
        events::configure(
            config.runtime.event_log_max_bytes,
            config.runtime.event_log_keep,
        );
        let record = lock::acquire(&layout, std::process::id()).map_err(|e| {
            if matches!(e, lock::LockError::Held(_)) {
                tracing::info!(reason = %e, "daemon lock denied");
                let _ = events::record(
                    &layout,
                    "runtime_daemon_lock_denied",
                    json!({"reason": e.to_string()}),
                );
            }
            crate::workspace::Error::Lock(e)
        })?;
        tracing::info!(session = %record.owner_session_id, pid = record.owner_pid, "daemon lock acquired");
        let session = record.owner_session_id.clone();
        let fail = |layout: &Layout, e: Error| -> Error {
            let _ = lock::release(layout, &session);
            e
        };
        let state_lock = match state_lock::hold(&layout) {
            Ok(l) => l,
            Err(e) => return Err(fail(&layout, Error::io(state_lock::FILE, e))),
        };
        let plan = match persist::authoritative_plan(&layout, mode) {
            Ok(p) => p,
            Err(e) => return Err(fail(&layout, e.into())),
        };
        for w in persist::plan_warnings(&layout, &plan.compiled_plan_id) {
            eprintln!("warning: {w}");
        }
        let snapshot = match state::load_snapshot(&layout) {
            Ok(s) => s,
            Err(e) => return Err(fail(&layout, e.into())),
        };
        let counters = match Counters::load(&layout) {
            Ok(c) => c,
            Err(e) => return Err(fail(&layout, e.into())),
        };
        let run_extras = match record::load(&layout) {
            Ok(x) => record::with_stage_counts(&layout, record::complete(x, &snapshot, &plan)),
            Err(e) => return Err(fail(&layout, e.into())),
        };
        if let Err(e) = runner_health::refuse_unavailable(&plan, &config.runners, &layout.root) {
            return Err(fail(&layout, e));
        }
        let runner_health =
            RunnerHealth::continuing(runner_health::pause_record(&layout, &snapshot).as_ref());
        let mut engine = Engine {
            layout,
            plan: Arc::new(plan),
            config,
            snapshot,
            counters,
            monitor,
            mode_override: mode.map(str::to_string),
            ticks: 0,
            progress: Default::default(),
            tally: Tally::default(),
            scheduler: Scheduler::new(),
            session,
            run_started: HashMap::new(),
            traces: HashMap::new(),
            backpressure: None,
            ideas: IdeaInbox::default(),
            runner_health,
            runtime_errors: HashMap::new(),
            run_tokens: HashMap::new(),
            last_tick_event: None,
            in_flight: None,
            ledger: Vec::new(),
            run_extras,
            retention_due: true,
            last_retention: None,
            saved_extras: None,
            snapshot_deferred: false,
            owned_since: record.acquired_at.clone(),
            _state_lock: state_lock,
        };
        if let Err(e) = engine.boot(runtime_mode) {
            let _ = lock::release(&engine.layout, &engine.session);
            return Err(e);
        }
        Ok(engine)
    }

    fn io<T>(&self, what: &str, r: std::io::Result<T>) -> Result<T, Error> {
        r.map_err(|e| Error::io(what, e))
    }

    fn boot(&mut self, runtime_mode: &str) -> Result<(), Error> {
        let _ = queue::reconcile(&self.layout);
        self.recover()?;
        self.ledger = super::governance::load_ledger(&self.layout);
        self.govern_boot()?;
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
            json!({"compiled_plan_id": self.plan.compiled_plan_id, "mode_id": self.plan.mode_id, "process_running": true, "runtime_mode": runtime_mode}),
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
        self.monitor.line(if planes::plane_concurrent(&self.plan) {
            "scheduler mode=plane-concurrent"
        } else {
            "scheduler mode=serial"
        });
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
            .filter_map(|p| {
                let value = self.snapshot.active_runs_by_plane.get(*p)?;
                record::active_run(value, self.run_extras.get(*p), &self.plan)
            })
            .collect()
    }

    fn set_active(&mut self, run: &ActiveRun) {
        self.snapshot.active_runs_by_plane.insert(
            run.plane.clone(),
            serde_json::to_value(run).expect("active run serializes"),
        );
        self.run_extras
            .insert(run.plane.clone(), record::extras_of(run));
        self.sync_flat_fields();
    }

    fn clear_active(&mut self, plane: &str) {
        self.snapshot.active_runs_by_plane.remove(plane);
        self.run_extras.remove(plane);
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

    fn save_snapshot(&mut self) -> Result<(), Error> {
        // Extras first: a record whose run the snapshot does not hold is ignored.
        self.run_extras.retain(|plane, x| {
            self.snapshot
                .active_runs_by_plane
                .get(plane)
                .and_then(|v| v["run_id"].as_str())
                == Some(x.run_id.as_str())
        });
        // One durable commit for both files (one directory fsync), the
        // extras renamed first; the extras only when a restart would read
        // them differently: not for a new stage count alone (counted again
        // from the run's stage results) nor for a new run whose record is
        // the one the snapshot implies (`record::complete`).
        let changed = match &self.saved_extras {
            None => true,
            Some(saved) => record::differ(
                saved,
                &self.run_extras,
                &self.snapshot.active_runs_by_plane,
                &self.plan,
            ),
        };
        let extras = record::render(&self.run_extras);
        self.snapshot.updated_at = clock::now_rfc3339();
        let snapshot = self.snapshot.to_json();
        let (extras_path, snapshot_path) =
            (self.layout.path(record::FILE), self.layout.snapshot_file());
        let mut files: Vec<(&std::path::Path, &[u8])> = Vec::with_capacity(2);
        if changed {
            files.push((&extras_path, extras.as_bytes()));
        }
        files.push((&snapshot_path, snapshot.as_bytes()));
        let r = crate::workspace::atomic::write_atomic_group(&files);
        self.io("state/runtime_snapshot.json", r)?;
        if changed {
            self.saved_extras = Some(self.run_extras.clone());
        }
        self.snapshot_deferred = false;
        Ok(())
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

    fn graph(&self, plane: &str) -> Result<&CompiledGraph, Error> {
        self.graph_of(&self.plan, plane)
    }

    /// The graph of `run`'s plane and the node it stands at, in `plan` (a
    /// clone of the engine's `Arc`, held across `&mut self` calls).
    fn graph_and_node<'p>(
        &self,
        plan: &'p CompiledPlan,
        run: &ActiveRun,
    ) -> Result<(&'p CompiledGraph, &'p crate::plan::ir::CompiledNode), Error> {
        let graph = self.graph_of(plan, &run.plane)?;
        let node = graph
            .node(&run.node_id)
            .ok_or_else(|| Error::NodeNotInPlan {
                node: run.node_id.clone(),
            })?;
        Ok((graph, node))
    }

    /// `plane`'s graph in `plan` (a clone of the engine's `Arc`, so the
    /// graph can be held across `&mut self` calls).
    fn graph_of<'p>(
        &self,
        plan: &'p CompiledPlan,
        plane: &str,
    ) -> Result<&'p CompiledGraph, Error> {
        plan.graph(plane).ok_or_else(|| Error::NoPlane {
            mode: plan.mode_id.clone(),
            plane: plane.to_string(),
        })
    }

    // ------------------------------------------------------------ recovery
    // ------------------------------------------------------------ the tick

    /// One tick. `cancel` interrupts a running stage (shutdown). The error
    /// is boxed: it travels back from the blocking thread the tick runs on.
    pub fn step(&mut self, cancel: &AtomicBool) -> Result<Step, Box<Error>> {
        self.step_once(cancel).map_err(Box::new)
    }

    fn step_once(&mut self, cancel: &AtomicBool) -> Result<Step, Error> {
        self.ticks += 1;
        self.drain_mailbox()?;
        self.take_ideas();
        self.govern_tick()?;
        self.retry_environment()?;
        self.apply_deferred_promotions();
        let step = self.tick(cancel)?;
        if matches!(step, Step::Ran { .. }) {
            self.govern_after_stage()?;
        } else if self.snapshot_deferred {
            self.save_snapshot()?;
        }
        Ok(step)
    }

    /// The tick's decision: stop, pause, or run a stage.
    fn tick(&mut self, cancel: &AtomicBool) -> Result<Step, Error> {
        if self.snapshot.stop_requested {
            // The stop waits for a learning stage in flight to be applied.
            self.collect(true, cancel)?;
            self.tick_event("runtime_tick_stopped");
            return Ok(Step::Stopped);
        }
        if self.snapshot.paused {
            if let Some(step) = self.collect(false, cancel)? {
                return Ok(step);
            }
            self.tick_event("runtime_tick_paused");
            return Ok(Step::Paused);
        }
        if planes::plane_concurrent(&self.plan) {
            return self.step_concurrent(cancel);
        }
        let run = match self.active_runs().into_iter().next() {
            Some(r) => r,
            None => match self
                .claim()?
                .map_or_else(|| self.closure_run(), |r| Ok(Some(r)))?
            {
                Some(r) => r,
                None => return self.idle_step(),
            },
        };
        self.run_stage(run, cancel)
    }

    /// Nothing to run: refresh the queue depths in the snapshot if they
    /// changed, and report idle.
    fn idle_step(&mut self) -> Result<Step, Error> {
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
        self.apply_retention();
        self.monitor.idle("no_work");
        self.tick_event("runtime_tick_idle");
        Ok(Step::Idle("no_work".into()))
    }

    /// `[runs]` retention at an idle boundary: after work, and at most
    /// hourly while idle. Never touches active or blocked items' runs or
    /// runs an open incident names; a failure is reported, not fatal.
    fn apply_retention(&mut self) {
        let Some(days) = self.config.runs.retention_days else {
            return;
        };
        let hourly = self
            .last_retention
            .is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(3600));
        if !(self.retention_due || hourly) {
            return;
        }
        self.retention_due = false;
        self.last_retention = Some(Instant::now());
        let opts = crate::workspace::retention::Options {
            older_than_secs: u64::from(days) * 86_400,
            keep_failed: self.config.runs.keep_failed,
            include_blocked: false,
            keep_last: self.config.runs.keep_last.unwrap_or(0) as usize,
            dry_run: false,
        };
        match crate::workspace::retention::prune(&self.layout, &opts) {
            Ok(r) if r.pruned.is_empty() && r.errors.is_empty() => {}
            Ok(r) => {
                let _ = events::record(
                    &self.layout,
                    "runs_pruned",
                    json!({"pruned": r.pruned.len(), "retention_days": days, "errors": r.errors}),
                );
                self.monitor.line(&format!(
                    "runs pruned count={} retention_days={days}",
                    r.pruned.len()
                ));
            }
            Err(e) => self.monitor.line(&format!("runs prune failed error={e}")),
        }
    }

    /// Watcher intake: ideas dropped in the inbox become queued root specs.
    fn take_ideas(&mut self) {
        let w = &self.config.watchers;
        if !(w.enabled && w.watch_ideas_inbox) {
            return;
        }
        let taken = self.ideas.poll(&self.layout);
        if taken.is_empty() {
            return;
        }
        for (name, result) in &taken {
            if let Intake::Queued { spec_id } = result {
                self.monitor
                    .line(&format!("intake idea={name} spec={spec_id}"));
            }
        }
        self.scheduler.invalidate_all();
        let _ = events::record(
            &self.layout,
            "watcher_events_consumed",
            json!({"count": taken.len()}),
        );
    }

    /// `runtime_tick_idle|paused|stopped`, as the reference names them, but
    /// only when the tick's kind changes: a daemon idle for a week writes
    /// one idle event, not one per poll.
    fn tick_event(&mut self, name: &'static str) {
        if self.last_tick_event != Some(name) {
            let _ = events::record(&self.layout, name, json!({}));
            self.last_tick_event = Some(name);
        }
    }

    /// Run the stage `run` stands at and apply its result.
    fn run_stage(&mut self, mut run: ActiveRun, cancel: &AtomicBool) -> Result<Step, Error> {
        self.last_tick_event = None;
        self.retention_due = true;
        let plan = Arc::clone(&self.plan);
        let (graph, node) = self.graph_and_node(&plan, &run)?;
        match self.dispatch(&mut run, graph, node, cancel) {
            dispatch::Dispatch::Interrupted => Ok(Step::Interrupted),
            dispatch::Dispatch::Unstarted(failure) => self.put_back_unstarted(run, &failure),
            dispatch::Dispatch::Done(stage) => self.apply_dispatched(run, graph, node, *stage),
        }
    }

    /// Apply a dispatched stage's result; a runtime error while applying it
    /// is rerouted (`runtime_error`).
    fn apply_dispatched(
        &mut self,
        run: ActiveRun,
        graph: &CompiledGraph,
        node: &crate::plan::ir::CompiledNode,
        stage: dispatch::Dispatched,
    ) -> Result<Step, Error> {
        match self.apply_result(run.clone(), graph, node, stage) {
            Ok(step) => {
                self.clear_runtime_error(&run, node);
                self.curator_promotion(&run, node);
                Ok(step)
            }
            Err(failure) => self.reroute_runtime_error(run, graph, node, *failure),
        }
    }

    /// Stop: mark the process not running, keep active runs for the next
    /// start, release the lock.
    pub fn shutdown(&mut self, reason: &str) -> Result<(), Error> {
        self.snapshot.process_running = false;
        self.snapshot.stop_requested = false;
        let r = self.counters.save_if_dirty(&self.layout);
        self.io("state/recovery_counters.json", r)?;
        self.save_snapshot()?;
        let _ = events::record(
            &self.layout,
            "runtime_closed",
            json!({"mode_id": self.plan.mode_id, "compiled_plan_id": self.plan.compiled_plan_id, "process_running": false, "reason": reason}),
        );
        lock::release(&self.layout, &self.session)
            .map_err(|e| Error::io("releasing the lock", e))?;
        tracing::info!(session = %self.session, reason, "daemon lock released");
        Ok(())
    }

    pub fn stopped_line(&mut self, reason: &str) {
        self.monitor.line(&format!("stopped reason={reason}"));
    }

    pub fn paused_line(&mut self) {
        self.monitor.idle("paused");
    }
}
