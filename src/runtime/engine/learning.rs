//! Learning triggers: after a stage, every learning-trigger rule of the
//! plan that matches its plane, node and outcome enqueues a learning
//! request for the learning plane (only in modes that have one).

use super::{ActiveRun, Engine};
use crate::plan::ir::CompiledNode;
use crate::runtime::ids;
use crate::workspace::documents::{DocKind, WorkDocument};
use crate::workspace::{atomic, clock, events, queue};
use serde_json::json;

impl Engine {
    /// Enqueue learning requests for matching trigger rules; returns their ids.
    pub(super) fn learning_triggers(
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
}
