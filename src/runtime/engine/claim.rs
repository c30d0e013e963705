//! Claim: which work runs next. Queued items are claimed by plane
//! (planning, then execution, then learning) in the scheduler's order; a
//! malformed document is set aside as blocked instead of run. With nothing
//! to claim, a closure target whose lineage has drained is judged by the
//! plan's completion stage. A claim moves the item to `active/` and records
//! the new active run in the snapshot before any stage runs.

use super::{entry_key, ActiveRun, Engine};
use crate::plan::ir::{CompiledNode, CompiledPlan};
use crate::runtime::scheduler::{LINEAGE_ORDER, ORDER};
use crate::runtime::Error;
use crate::runtime::{closure, ids};
use crate::workspace::documents::DocKind;
use crate::workspace::{atomic, clock, events, queue};
use serde_json::json;

/// The request kind of a claimed work item.
fn run_kind(kind: DocKind) -> String {
    if kind == DocKind::LearningRequest {
        "learning_request"
    } else {
        "active_work_item"
    }
    .into()
}

impl ActiveRun {
    /// A fresh run standing at `node`, with no work item attached yet.
    fn at_node(plane: &str, node: &CompiledNode, request_kind: &str) -> ActiveRun {
        ActiveRun {
            plane: plane.to_string(),
            stage: node.node_id.clone(),
            node_id: node.node_id.clone(),
            stage_kind_id: node.stage_kind_id.clone(),
            run_id: ids::run_id(),
            request_kind: request_kind.to_string(),
            work_item_kind: None,
            work_item_id: None,
            closure_target_root_spec_id: None,
            closure_target_root_idea_id: None,
            active_since: clock::now_rfc3339(),
            running_status_marker: node.running_status_marker.clone(),
            entry_key: String::new(),
            stage_runs: 0,
            interrupted_retries: 0,
            pending_failure: None,
            pending_terminal: None,
        }
    }
}

impl Engine {
    /// Claim the next work item: planning, then execution, then learning;
    /// while a closure target is open, only its lineage's work (tasks
    /// first), and other root specs wait.
    pub(super) fn claim(&mut self) -> Result<Option<ActiveRun>, Error> {
        self.claim_in(&["planning", "execution", "learning"])
    }

    /// `claim`, restricted to work of the given planes.
    pub(super) fn claim_in(&mut self, planes: &[&str]) -> Result<Option<ActiveRun>, Error> {
        let focus = self.closure_focus();
        let order: &[(DocKind, &str)] = match &focus {
            Some(root) => {
                self.note_backpressure(root);
                &LINEAGE_ORDER
            }
            None => &ORDER,
        };
        for &(kind, plane) in order.iter().filter(|(_, p)| planes.contains(p)) {
            let key = entry_key(kind);
            let Some(entry_node) = CompiledPlan::graph(&self.plan, plane)
                .and_then(|g| g.entries.iter().find(|e| e.entry_key == key))
                .map(|e| e.node_id.clone())
            else {
                continue;
            };
            while let Some(id) = self.scheduler.next(&self.layout, kind, focus.as_deref()) {
                self.scheduler.take(kind, &id);
                if let Some(run) = self.claim_item(kind, plane, &entry_node, &id)? {
                    return Ok(Some(run));
                }
            }
        }
        Ok(None)
    }

    /// The root spec whose open closure target restricts claims, if any:
    /// one that is open, not waiting on blocked lineage work, and not
    /// suppressed, in a plan with completion behaviour.
    fn closure_focus(&self) -> Option<String> {
        self.plan
            .graph("planning")
            .and_then(|g| g.completion_behavior.as_ref())?;
        closure::actionable(&self.layout).map(|t| t.root_spec_id)
    }

    /// Record a `closure_target_backpressure` event when the set of root
    /// specs held back by the open target changes.
    fn note_backpressure(&mut self, root: &str) {
        let deferred = self.scheduler.deferred_root_specs(&self.layout, root);
        let key = (root.to_string(), deferred.clone());
        if deferred.is_empty() || self.backpressure.as_ref() == Some(&key) {
            return;
        }
        let _ = events::record(
            &self.layout,
            "closure_target_backpressure",
            json!({"open_root_spec_id": root, "deferred_root_spec_ids": deferred, "reason": "open_closure_target"}),
        );
        self.backpressure = Some(key);
    }

    /// Set a queued item that cannot run aside in its blocked state.
    fn reject(
        &mut self,
        kind: DocKind,
        id: &str,
        from: &std::path::Path,
        error: &str,
        reason: &str,
    ) {
        let state = queue::states(kind)[3];
        let blocked = queue::state_dir(&self.layout, kind, state).join(format!("{id}.md"));
        if atomic::rename_durable(from, &blocked).is_ok() {
            self.tally.finished_one(kind.tag(), state);
        }
        let _ = events::record(
            &self.layout,
            "work_item_rejected",
            json!({"work_item_kind": kind.tag(), "work_item_id": id, "error": error}),
        );
        self.monitor
            .line(&format!("rejected {}:{id} reason={reason}", kind.tag()));
    }

    /// Claim one queued item: move it to `active/` and record its run. A
    /// malformed document is set aside (blocked) instead; an item someone
    /// else moved first is skipped. `None` when nothing was claimed.
    fn claim_item(
        &mut self,
        kind: DocKind,
        plane: &str,
        entry_node: &str,
        id: &str,
    ) -> Result<Option<ActiveRun>, Error> {
        let id = id.to_string();
        let [q, active, ..] = queue::states(kind);
        let from = queue::state_dir(&self.layout, kind, q).join(format!("{id}.md"));
        let to = queue::state_dir(&self.layout, kind, active).join(format!("{id}.md"));
        let doc = match queue::read_item(kind, &from) {
            Ok(d) => d,
            Err(e) => {
                self.reject(kind, &id, &from, &e.to_string(), "invalid_document");
                return Ok(None);
            }
        };
        // A learning request's `Target-Stage` chooses the stage it starts at.
        let entry_node = match self.learning_entry(kind, &doc) {
            Ok(Some(node)) => node,
            Ok(None) => entry_node.to_string(),
            Err(e) => {
                self.reject(kind, &id, &from, &e.to_string(), "unknown_target_stage");
                return Ok(None);
            }
        };
        match atomic::rename_forward(&from, &to) {
            Ok(()) => self.scheduler.own_change(&self.layout, kind),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(to.display(), e)),
        }
        let completion = self
            .plan
            .graph(plane)
            .is_some_and(|g| g.completion_behavior.is_some());
        if kind == DocKind::Spec && completion {
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
                        json!({"root_spec_id": id, "error": e.to_string()}),
                    );
                }
            }
        }
        let node = self
            .plan
            .graph(plane)
            .and_then(|g| g.node(&entry_node))
            .ok_or(Error::PlanLacks("entry node"))?;
        let mut run = ActiveRun::at_node(plane, node, &run_kind(kind));
        run.work_item_kind = Some(kind.tag().to_string());
        run.work_item_id = Some(id.clone());
        run.entry_key = entry_key(kind).to_string();
        self.counters.clear_item(kind.tag(), &id);
        self.set_active(&run);
        let depths = self.scheduler.depths(&self.layout);
        self.snapshot.set_queue_depths(depths);
        self.save_snapshot()?;
        tracing::debug!(plane, kind = kind.tag(), id = %id, run_id = %run.run_id, node = %run.node_id, "claimed work item");
        let _ = events::record(
            &self.layout,
            "work_item_claimed",
            json!({"work_item_kind": kind.tag(), "work_item_id": id, "run_id": run.run_id, "node_id": run.node_id}),
        );
        Ok(Some(run))
    }

    /// With nothing to claim: the completion target for a closure target
    /// whose lineage has no open work, if the plan has completion behaviour.
    pub(super) fn closure_run(&mut self) -> Result<Option<ActiveRun>, Error> {
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
            .ok_or(Error::PlanLacks("completion target"))?;
        let mut run = ActiveRun::at_node("planning", node, &cb.request_kind);
        run.closure_target_root_spec_id = Some(target.root_spec_id.clone());
        run.closure_target_root_idea_id = target.root_idea_id.clone();
        run.entry_key = "closure_target".into();
        self.set_active(&run);
        self.save_snapshot()?;
        tracing::debug!(root_spec_id = %target.root_spec_id, run_id = %run.run_id, "claimed closure target");
        let _ = events::record(
            &self.layout,
            "closure_target_judged",
            json!({"root_spec_id": target.root_spec_id, "run_id": run.run_id}),
        );
        Ok(Some(run))
    }
}
