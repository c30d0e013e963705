//! Terminal: the side effects of a terminal decision, applied after the
//! decision is durable in the snapshot and idempotent so recovery can apply
//! them again: the closure verdict, the item's move to `done/` or
//! `blocked/`, the planning incident of an escalation (carrying the item's
//! lineage), cleared counters and active run.

use super::{kind_of, ActiveRun, Engine, PendingTerminal};
use crate::runtime::closure;
use crate::runtime::Error;
use crate::workspace::documents::{one_line, DocKind, WorkDocument};
use crate::workspace::state::IDLE_MARKER;
use crate::workspace::{atomic, clock, events, queue};
use serde_json::{json, Value};

impl Engine {
    /// The verdict and report the arbiter wrote, as the reference records
    /// them on the closure target: the preferred verdict path when that file
    /// exists, and the stage's report artifact copied to
    /// `arbiter/reports/<run>.md`. Read from the stage result file, so
    /// recovery applying the terminal again finds the same answer.
    fn arbiter_files(
        &self,
        run: &ActiveRun,
        p: &PendingTerminal,
    ) -> (Option<String>, Option<String>) {
        use crate::workspace::safe_fs;
        let result = p
            .stage_result_path
            .strip_prefix("millrace-agents/")
            .and_then(|rel| {
                safe_fs::read_to_string_capped(&self.layout.runtime.join(rel), 4 << 20).ok()
            })
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .unwrap_or(Value::Null);
        let rel = |path: &std::path::Path| {
            path.strip_prefix(&self.layout.root)
                .ok()
                .map(|r| r.display().to_string())
        };
        let verdict = result["metadata"]["preferred_verdict_path"]
            .as_str()
            .map(std::path::PathBuf::from)
            .filter(|v| v.starts_with(&self.layout.runtime))
            .filter(|v| safe_fs::open_regular(v, None).is_ok())
            .and_then(|v| rel(&v));
        let report = result["report_artifact"].as_str().and_then(|src| {
            let bytes = safe_fs::read_capped(std::path::Path::new(src), 4 << 20).ok()?;
            let dest = self
                .layout
                .path(&format!("arbiter/reports/{}.md", run.run_id));
            if atomic::write_atomic(&dest, &bytes).is_err() {
                safe_fs::create_dir_all(dest.parent()?).ok()?;
                atomic::write_atomic(&dest, &bytes).ok()?;
            }
            rel(&dest)
        });
        (verdict, report)
    }

    /// Apply a terminal decision: move the work item, open an incident for
    /// escalations, forget its counters, clear the run. Idempotent.
    pub(super) fn apply_terminal(
        &mut self,
        run: &ActiveRun,
        p: &PendingTerminal,
    ) -> Result<(), Error> {
        let plan = std::sync::Arc::clone(&self.plan);
        let graph = self.graph_of(&plan, &run.plane)?;
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
                        json!({"root_spec_id": root, "error": e.to_string()}),
                    );
                }
            }
            let (verdict_path, report_path) = self.arbiter_files(run, p);
            closure::record_verdict(
                &self.layout,
                &root,
                &run.run_id,
                verdict,
                verdict_path,
                report_path,
            )?;
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
                        json!({"work_item_id": id, "error": e.to_string()}),
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
                    atomic::rename_forward(&from, &to),
                )?;
                self.tally.finished_one(kind.tag(), dest);
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
        self.run_tokens.remove(&run.run_id);
        self.runtime_errors.remove(&run.run_id);
        let r = self.counters.save_if_dirty(&self.layout);
        self.io("state/recovery_counters.json", r)?;
        let depths = self.scheduler.depths(&self.layout);
        self.snapshot.set_queue_depths(depths);
        // Not written here: the next save (the next claim, or the end of the
        // next tick that claims nothing, or shutdown) carries it. A crash
        // before then finds the pending terminal and re-applies it, which
        // is idempotent: one durable commit per item saved.
        self.snapshot_deferred = true;
        Ok(())
    }

    /// The planning incident for an escalated item, carrying its lineage.
    fn open_incident(
        &mut self,
        run: &ActiveRun,
        kind: DocKind,
        id: &str,
        p: &PendingTerminal,
    ) -> Result<(), Error> {
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
    ) -> Result<(), Error> {
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
        doc["trigger_reason"] = json!(one_line(&p.reason));
        doc["consultant_decision"] = json!("needs_planning");
        doc["opened_at"] = json!(clock::now_rfc3339());
        doc["opened_by"] = json!("runtime");
        doc["observed_symptoms"] = json!(p.notes.iter().map(|n| one_line(n)).collect::<Vec<_>>());
        doc["related_run_ids"] = json!([run.run_id]);
        doc["related_stage_results"] = json!([p.stage_result_path]);
        let path = queue::state_dir(&self.layout, DocKind::Incident, "incoming")
            .join(format!("{incident_id}.md"));
        let document =
            WorkDocument::from_json(DocKind::Incident, &doc.to_string(), "runtime incident")
                .map_err(crate::workspace::Error::from)?;
        match atomic::create_atomic(&path, document.to_markdown().as_bytes()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io(path.display(), e)),
        }
        self.scheduler.invalidate_all();
        let _ = events::record(
            &self.layout,
            "runtime_handoff_incident_enqueued",
            json!({"incident_id": incident_id, "source_stage": run.node_id, "run_id": run.run_id}),
        );
        Ok(())
    }
}
