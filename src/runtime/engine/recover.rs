//! Recover: at startup, finish what a crash left. Terminal decisions
//! recorded but not applied are applied; an item whose move happened
//! before the snapshot was written is forgotten; an interrupted stage is
//! re-run (retry-safe kinds, a bounded number of times) or routed as
//! `stale_active_ownership`; claimed items no active run owns go back to
//! their queue; an agent left running by a killed daemon is stopped first.

use super::{kind_of, Engine, MAX_INTERRUPTED_RETRIES};
use crate::runners;
use crate::runtime::scheduler::ORDER;
use crate::runtime::Error;
use crate::workspace::{atomic, events, queue, state};
use serde_json::json;

impl Engine {
    /// Finish what a crash left: terminal decisions not yet applied, items
    /// whose move happened but whose snapshot did not, interrupted stages,
    /// and claimed items that no active run owns.
    pub(super) fn recover(&mut self) -> Result<(), Error> {
        // An agent whose daemon was killed may still be working: stop it
        // before its stage runs again.
        for noted in runners::process::kill_recorded_agents(&self.agent_note()) {
            let data = match noted {
                runners::process::NotedAgent::Killed(pid) => {
                    json!({"reason": "orphaned_agent_killed", "pid": pid})
                }
                runners::process::NotedAgent::Refused { pid, reason } => {
                    json!({"reason": "agent_note_refused", "pid": pid, "detail": reason})
                }
            };
            tracing::info!(%data, "recovery: agent left by a killed daemon");
            let _ = events::record(&self.layout, "runtime_recovered", data);
        }
        runners::process::record_agents_in(Some(self.agent_note()));
        for mut run in self.active_runs() {
            tracing::info!(run_id = %run.run_id, plane = %run.plane, "recovery: active run left by the last process");
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
    pub(super) fn agent_note(&self) -> std::path::PathBuf {
        self.layout.state_dir().join("agent_process.txt")
    }
}
