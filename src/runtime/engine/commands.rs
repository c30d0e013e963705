//! Commands: control commands applied to the running engine, from the
//! mailbox (drained at the start of every tick) or from the CLI's direct
//! path (`stop`, `pause`, `resume`, `retry_active`, `clear_stale_state`,
//! `reload_config`, intake notices), and the config reload they trigger.

use super::{kind_of, ActiveRun, Engine};
use crate::plan::persist;
use crate::runtime::control;
use crate::runtime::mailbox_intake as intake;
use crate::runtime::Error;
use crate::workspace::config;
use crate::workspace::state::IDLE_MARKER;
use crate::workspace::{atomic, events, mailbox, queue};
use serde_json::{json, Map, Value};

/// Why a `retry_active` requeued nothing; its message is the command's detail.
enum Skipped {
    /// Skipped with a `retry_active_skipped` event naming `reason`.
    Reason(&'static str),
    /// Refused: the scope or the active planes do not allow it.
    Refused(control::RetryRefusal),
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skipped::Reason(reason) => write!(f, "retry skipped: {reason}"),
            Skipped::Refused(why) => write!(f, "{why}"),
        }
    }
}

impl Engine {
    /// Apply each waiting command in order; each is archived with its
    /// outcome only after it was applied (or refused), so a crash repeats a
    /// command rather than losing it (work intake is idempotent per id).
    pub(super) fn drain_mailbox(&mut self) -> Result<(), Error> {
        if !mailbox::has_pending(&self.layout) {
            return Ok(());
        }
        let layout = self.layout.clone();
        mailbox::drain(&layout, |env| self.apply_envelope(env))?;
        Ok(())
    }

    fn apply_envelope(&mut self, env: &mailbox::Envelope) -> Result<Value, Error> {
        tracing::debug!(command_id = %env.command_id, command = %env.command, "mailbox command");
        if let Some(why) = intake::expired(env, &self.session, &self.owned_since) {
            tracing::info!(command_id = %env.command_id, reason = %why, "mailbox command expired");
            let _ = events::record(
                &self.layout,
                "mailbox_command_expired",
                json!({"command_id": env.command_id, "command": env.command, "reason": why}),
            );
            return Err(Error::Refused(why));
        }
        let mut result = if intake::is_intake(&env.command) {
            intake::apply_intake(&self.layout, env)?
        } else {
            json!({})
        };
        result["detail"] = json!(self.apply_command(&env.command, &env.payload)?);
        Ok(result)
    }

    /// Apply one control command to the running engine.
    pub fn apply_command(
        &mut self,
        command: &str,
        payload: &Map<String, Value>,
    ) -> Result<String, Error> {
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
                // A governance pause is lifted only by governance itself.
                self.snapshot
                    .pause_sources
                    .retain(|v| v == crate::runtime::governance::PAUSE_SOURCE);
                self.snapshot.paused = !self.snapshot.pause_sources.is_empty();
                self.runner_health.reset();
                crate::runtime::runner_health::clear(&self.layout);
                if self.snapshot.paused {
                    "resume blocked by usage governance".to_string()
                } else {
                    "resumed".to_string()
                }
            }
            "retry_active" => match self.retry_active(payload)? {
                Ok(detail) => format!("{detail}: {reason}"),
                Err(skipped) => skipped.to_string(),
            },
            "clear_stale_state" => {
                let runs = self.active_runs();
                for run in &runs {
                    self.requeue_run(run)?;
                }
                self.counters.clear_all();
                self.traces.clear();
                self.scheduler.invalidate_all();
                format!("{} active run(s) requeued: {reason}", runs.len())
            }
            "reload_config" if !self.snapshot.active_runs_by_plane.is_empty() => {
                self.defer_reload(payload)?
            }
            "reload_config" => match self.reload() {
                Ok(d) => {
                    let _ = events::record(
                        &self.layout,
                        "runtime_config_reloaded",
                        json!({"compiled_plan_id": self.plan.compiled_plan_id, "mode_id": self.plan.mode_id}),
                    );
                    self.monitor.line(&format!(
                        "config reloaded plan={}",
                        self.plan.compiled_plan_id
                    ));
                    d
                }
                Err(e) => {
                    let e = e.to_string();
                    self.snapshot.last_reload_outcome = json!("failed_retained_previous_plan");
                    self.snapshot.last_reload_error = Some(e.clone());
                    let _ = events::record(
                        &self.layout,
                        "runtime_config_reload_failed",
                        json!({"error": e, "retained_previous_plan": true, "compiled_plan_id": self.plan.compiled_plan_id}),
                    );
                    e
                }
            },
            "add_task" | "add_spec" | "add_idea" => {
                self.scheduler.invalidate_all();
                let depths = self.scheduler.depths(&self.layout);
                self.snapshot.set_queue_depths(depths);
                "work added".to_string()
            }
            other => {
                return Err(Error::UnknownCommand {
                    command: other.to_string(),
                })
            }
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

    /// `retry_active`: the one plane the payload's scope (or the only active
    /// plane) names goes back to its queue; `Ok(Err(skipped))` when it was
    /// skipped, with a `retry_active_skipped` event as in the reference.
    fn retry_active(
        &mut self,
        payload: &Map<String, Value>,
    ) -> Result<Result<String, Skipped>, Error> {
        let scope = control::retry_scope(payload)?;
        let runs = self.active_runs();
        let planes: Vec<String> = runs.iter().map(|r| r.plane.clone()).collect();
        let chosen = control::retry_plane(&planes, scope.as_deref())
            .map(|p| runs.iter().find(|r| r.plane == p).cloned());
        let run = match chosen {
            Ok(Some(run)) if run.work_item_kind.is_some() && run.work_item_id.is_some() => run,
            Ok(_) => {
                return Ok(Err(self.retry_skipped(
                    scope,
                    planes,
                    "non_retryable_active_run",
                )))
            }
            Err(control::RetryRefusal::MultiplePlanes) if scope.is_none() => {
                return Ok(Err(self.retry_skipped(
                    scope,
                    planes,
                    "multiple_active_planes",
                )))
            }
            Err(why) => return Ok(Err(Skipped::Refused(why))),
        };
        self.requeue_run(&run)?;
        self.scheduler.invalidate_all();
        Ok(Ok(format!(
            "active {} {} requeued",
            run.work_item_kind.unwrap_or_default(),
            run.work_item_id.unwrap_or_default()
        )))
    }

    fn retry_skipped(
        &mut self,
        scope: Option<String>,
        planes: Vec<String>,
        reason: &'static str,
    ) -> Skipped {
        let _ = events::record(
            &self.layout,
            "retry_active_skipped",
            json!({"reason": reason, "requested_scope": scope, "active_planes": planes}),
        );
        Skipped::Reason(reason)
    }

    /// Put one active run's item back in its entry queue and forget the run.
    fn requeue_run(&mut self, run: &ActiveRun) -> Result<(), Error> {
        if let (Some(kind), Some(id)) = (
            run.work_item_kind.as_deref().and_then(kind_of),
            run.work_item_id.as_deref(),
        ) {
            let [entry, active, ..] = queue::states(kind);
            let from = queue::state_dir(&self.layout, kind, active).join(format!("{id}.md"));
            let to = queue::state_dir(&self.layout, kind, entry).join(format!("{id}.md"));
            if from.is_file() {
                self.io("requeue", atomic::rename_durable(&from, &to))?;
            }
            self.counters.clear_item(kind.tag(), id);
        }
        self.traces.remove(&run.run_id);
        self.clear_active(&run.plane);
        self.set_marker(&run.plane, IDLE_MARKER);
        Ok(())
    }

    /// A reload while a work item is in flight waits, as in the reference:
    /// the command goes back to the mailbox (addressed to this daemon) and
    /// is tried again at the next tick, until no plane has an active run,
    /// so an item never changes plan (model, runner, routes) halfway.
    fn defer_reload(&mut self, payload: &Map<String, Value>) -> Result<String, Error> {
        let planes: Vec<String> = self.snapshot.active_runs_by_plane.keys().cloned().collect();
        let mut again = payload.clone();
        again.insert(intake::SESSION_KEY.into(), json!(self.session));
        mailbox::submit(&self.layout, "reload_config", "runtime", again)?;
        let why = "deferred until active planes drain".to_string();
        tracing::info!(active_planes = ?planes, "config reload deferred");
        self.snapshot.last_reload_error = Some(why.clone());
        let _ = events::record(
            &self.layout,
            "runtime_config_reload_deferred",
            json!({"reason": "active_planes", "active_planes": planes}),
        );
        self.monitor.line(&format!(
            "reload deferred reason=active_planes active={}",
            planes.join(",")
        ));
        Ok(why)
    }

    /// Re-read the config and recompile; the new plan applies between items.
    fn reload(&mut self) -> Result<String, Error> {
        let config = config::load_config(&self.layout.config_file())?;
        let plan = persist::authoritative_plan(&self.layout, self.mode_override.as_deref())?;
        crate::runtime::runner_health::refuse_unavailable(
            &plan,
            &config.runners,
            &self.layout.root,
        )?;
        events::configure(
            config.runtime.event_log_max_bytes,
            config.runtime.event_log_keep,
        );
        self.config = config;
        self.snapshot.config_version = plan.compile_input_fingerprint.config_fingerprint.clone();
        self.snapshot.compiled_plan_id = plan.compiled_plan_id.clone();
        self.plan = std::sync::Arc::new(plan);
        self.snapshot.last_reload_outcome = json!("applied");
        self.snapshot.last_reload_error = None;
        tracing::info!(plan = %self.plan.compiled_plan_id, "config reload applied");
        Ok(format!("applied plan {}", self.plan.compiled_plan_id))
    }
}
