//! A stage whose agent could not be started (runner binary missing or not
//! executable, empty argv, missing script file) is the environment's fault,
//! not the item's: the item goes back unchanged (to its queue when its run
//! has not run a stage yet, else it stays at this stage), no stage result,
//! counter or stage run is recorded, the cause goes to stderr and the
//! monitor, and once `runtime::runner_health` says the runner has failed
//! often enough in a row, the runtime pauses itself.

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
    ) -> Result<Step, String> {
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
        let line = format!(
            "runner unavailable {}/{} run={} cause={} failures={}/{} back_to={place}",
            run.plane,
            run.node_id,
            ids::handle(&run.run_id),
            f.cause,
            f.consecutive,
            f.limit
        );
        eprintln!("error: {line}");
        self.monitor.line(&line);
        let _ = events::record(
            &self.layout,
            "runner_start_failed",
            json!({"runner": f.runner, "cause": f.cause, "plane": run.plane, "node_id": run.node_id,
                   "work_item_kind": run.work_item_kind, "work_item_id": run.work_item_id,
                   "consecutive": f.consecutive, "back_to": place}),
        );
        if f.pause() {
            runner_health::pause(&self.layout, &mut self.snapshot, f)?;
            self.monitor.line(&format!(
                "paused source={} reason={} (fix the runner, then `millrace resume`)",
                runner_health::PAUSE_SOURCE,
                f.cause
            ));
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
}
