//! The learning plane's requests: after a stage, every learning-trigger
//! rule of the plan that matches its plane, node and outcome enqueues a
//! learning request (only in modes that have a learning plane), carrying
//! what the reference fills: the source refs, the originating run, the
//! stage result as artifact, the trigger metadata. A request's
//! `Target-Stage` chooses the learning stage it starts at; every request
//! of a learning-enabled mode carries skill revision evidence.

use super::{ActiveRun, Engine};
use crate::plan::ir::CompiledNode;
use crate::runners::StageRequest;
use crate::runtime::ids;
use crate::runtime::Error;
use crate::workspace::documents::{DocKind, WorkDocument};
use crate::workspace::{atomic, clock, events, queue};
use serde_json::{json, Value};

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
        let result_abs = self.layout.runtime.join(result_rel).display().to_string();
        let (kind, item) = (
            run.work_item_kind.clone().unwrap_or_default(),
            run.work_item_id.clone().unwrap_or_default(),
        );
        let request_id = result_rel
            .rsplit('/')
            .next()
            .and_then(|f| f.strip_suffix(".json"))
            .unwrap_or("unknown")
            .to_string();
        for rule in rules {
            let id = ids::learning_request_id();
            let metadata = json!({
                "rule_id": rule.rule_id,
                "source_plane": run.plane,
                "source_stage": node.node_id,
                "source_node_id": node.node_id,
                "source_stage_kind_id": node.stage_kind_id,
                "terminal_result": outcome,
                "run_id": run.run_id,
                "work_item_kind": kind,
                "work_item_id": item,
            });
            let doc = json!({
                "learning_request_id": id,
                "title": format!("Learn from {} {outcome}", node.node_id),
                "summary": format!("Runtime-generated learning request from the trigger rule {}.", rule.rule_id),
                "requested_action": rule.requested_action,
                "target_stage": rule.target_stage,
                "target_skill_id": rule.target_skill_id,
                "preferred_output_paths": rule.preferred_output_paths,
                "source_refs": [
                    format!("run:{}", run.run_id),
                    format!("request:{request_id}"),
                    format!("node:{}", node.node_id),
                    format!("stage_kind:{}", node.stage_kind_id),
                    format!("stage:{}", node.node_id),
                    format!("terminal:{outcome}"),
                ],
                "trigger_metadata": metadata,
                "originating_run_ids": [run.run_id],
                "artifact_paths": [result_abs],
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
                    json!({
                        "learning_request_id": id,
                        "rule_id": rule.rule_id,
                        "source_plane": run.plane,
                        "source_stage": node.node_id,
                        "source_node_id": node.node_id,
                        "source_stage_kind_id": node.stage_kind_id,
                        "terminal_result": outcome,
                        "target_stage": rule.target_stage,
                        "target_skill_id": rule.target_skill_id,
                        "preferred_output_paths": rule.preferred_output_paths,
                        "path": path.display().to_string(),
                    }),
                );
                self.scheduler.invalidate_all();
                out.push(id);
            }
        }
        out
    }

    /// The learning node a request starts at when its `Target-Stage` names
    /// one (the node of that stage kind); `None` for other items and
    /// requests without one; an error for a stage the plan's learning loop
    /// does not have.
    pub(super) fn learning_entry(
        &self,
        kind: DocKind,
        doc: &WorkDocument,
    ) -> Result<Option<String>, Error> {
        if kind != DocKind::LearningRequest {
            return Ok(None);
        }
        let json = doc.to_json();
        let Some(target) = json.get("target_stage").and_then(Value::as_str) else {
            return Ok(None);
        };
        let graph = self.graph("learning")?;
        graph
            .nodes
            .iter()
            .find(|n| n.stage_kind_id == target || n.node_id == target)
            .map(|n| Some(n.node_id.clone()))
            .ok_or_else(|| Error::UnknownTargetStage {
                target: target.to_string(),
                loop_id: self
                    .plan
                    .loop_ids_by_plane
                    .get("learning")
                    .cloned()
                    .unwrap_or_default(),
            })
    }

    /// In a learning-enabled mode, write the request's skill revision
    /// evidence and name it in the request.
    pub(super) fn skill_evidence(&self, request: &mut StageRequest) {
        if self.plan.graph("learning").is_none() {
            return;
        }
        let skills: Vec<_> = request
            .required_skill_paths
            .iter()
            .chain(&request.attached_skill_paths)
            .cloned()
            .collect();
        if let Ok(path) = crate::runtime::skill_evidence::write(
            &request.run_dir,
            &request.request_id,
            &request.run_id,
            &request.mode_id,
            &request.compiled_plan_id,
            &skills,
        ) {
            request.skill_revision_evidence_path = Some(path.display().to_string());
        }
    }
}
