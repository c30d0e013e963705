//! A stage whose agent could not be started (runner binary missing or not
//! executable, empty argv, missing script file) is the environment's fault,
//! not the item's: the item goes back unchanged (to its queue when its run
//! has not run a stage yet, else it stays at this stage), no stage result,
//! counter or stage run is recorded, the cause goes to stderr and the
//! monitor, and once `runtime::runner_health` says the runner has failed
//! often enough in a row, the runtime pauses itself. An agent whose
//! environment failed (not logged in, credentials, network, quota) goes the
//! same way and pauses at once (`agent_environment`); `retry_environment`
//! lifts that pause when its automatic retry is due.

use super::{kind_of, ActiveRun, Engine, Step};
use crate::runtime::ids;
use crate::runtime::runner_health::{self, StartFailure};
use crate::workspace::state::IDLE_MARKER;
use crate::workspace::{atomic, events, queue};
use serde_json::json;

impl Engine {
    /// Put `run`'s item back after `f`, and pause when `f` says so.
    pub(super) fn put_back_unstarted(
        &mut self,
        run: ActiveRun,
        f: &StartFailure,
    ) -> Result<Step, crate::runtime::Error> {
        let item = run.work_item_kind.as_deref().and_then(kind_of);
        let requeue = match (item, &run.work_item_id) {
            (Some(kind), Some(id)) if run.stage_runs == 0 => Some((kind, id.clone())),
            _ => None,
        };
        let place = if let Some((kind, id)) = &requeue {
            let [entry, active, ..] = queue::states(*kind);
            let from = queue::state_dir(&self.layout, *kind, active).join(format!("{id}.md"));
            let to = queue::state_dir(&self.layout, *kind, entry).join(format!("{id}.md"));
            self.io("requeue", atomic::rename_durable(&from, &to))?;
            self.clear_active(&run.plane);
            self.set_marker(&run.plane, IDLE_MARKER);
            self.scheduler.invalidate_all();
            // The run never ran a stage: its directory holds only the failed start.
            let _ = std::fs::remove_dir_all(self.layout.runtime.join("runs").join(&run.run_id));
            entry.to_string()
        } else {
            let last = self
                .snapshot
                .last_terminal_result
                .as_str()
                .map(|m| format!("### {m}"));
            self.set_marker(&run.plane, last.as_deref().unwrap_or(IDLE_MARKER));
            format!("stage {}", run.node_id)
        };
        let environment = f.source == runner_health::ENVIRONMENT_SOURCE;
        let line = if environment {
            format!(
                "agent environment {}/{} run={} class={} reason={:?} back_to={place}",
                run.plane,
                run.node_id,
                ids::handle(&run.run_id),
                f.class.as_deref().unwrap_or("unknown"),
                f.cause
            )
        } else {
            format!(
                "runner unavailable {}/{} run={} cause={} failures={}/{} back_to={place}",
                run.plane,
                run.node_id,
                ids::handle(&run.run_id),
                f.cause,
                f.consecutive,
                f.limit
            )
        };
        eprintln!("error: {line}");
        self.monitor.line(&line);
        let _ = events::record(
            &self.layout,
            if environment {
                "agent_environment_failed"
            } else {
                "runner_start_failed"
            },
            json!({"runner": f.runner, "cause": f.cause, "failure_class": f.class,
                   "plane": run.plane, "node_id": run.node_id,
                   "work_item_kind": run.work_item_kind, "work_item_id": run.work_item_id,
                   "consecutive": f.consecutive, "back_to": place}),
        );
        if f.pause() {
            runner_health::pause(&self.layout, &mut self.snapshot, f)?;
            let line = if environment {
                format!(
                    "paused source={} reason={:?} retry_at={} (fix it, then `millrace resume`)",
                    f.source,
                    f.cause,
                    f.retry_at.as_deref().unwrap_or("none")
                )
            } else {
                format!(
                    "paused source={} reason={} (fix the runner, then `millrace resume`)",
                    f.source, f.cause
                )
            };
            if environment {
                eprintln!("error: {line}");
            }
            self.monitor.line(&line);
        }
        self.save_snapshot()?;
        Ok(if f.pause() {
            Step::Paused
        } else {
            Step::Ran {
                reason: "runner_unavailable".into(),
                failed: true,
            }
        })
    }

    /// While paused over the agent's environment: lift the pause when its
    /// automatic retry is due (the next tick dispatches again).
    pub(super) fn retry_environment(&mut self) -> Result<(), crate::runtime::Error> {
        if let Some(record) = runner_health::lift_due_retry(&self.layout, &mut self.snapshot) {
            self.monitor.line(&format!(
                "resume source={} reason=automatic_retry attempt={}",
                runner_health::ENVIRONMENT_SOURCE,
                record.consecutive_start_failures
            ));
            self.save_snapshot()?;
        }
        Ok(())
    }

    /// The reason of a self-pause over the environment, retry or not.
    pub fn environment_pause(&self) -> Option<String> {
        runner_health::pause_record(&self.layout, &self.snapshot).map(|r| r.reason())
    }

    /// The self-pause that needs the operator: `runner_unavailable`, or
    /// `agent_environment` without an automatic retry. Its reason.
    pub fn environment_pause_for_operator(&self) -> Option<String> {
        let record = runner_health::pause_record(&self.layout, &self.snapshot)?;
        (record.source == runner_health::PAUSE_SOURCE || record.retry_at.is_none())
            .then(|| record.reason())
    }
}
