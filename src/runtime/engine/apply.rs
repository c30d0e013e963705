//! Apply: what a dispatched stage's result does to the workspace. The
//! result surface is judged first (an outcome the node cannot return, or a
//! class the outcome does not allow, becomes `illegal_terminal_result`),
//! the stage result and the run trace are recorded, learning triggers fire,
//! the router picks the next node or terminal from the IR, and the decision
//! is written: the run advances to its next node, or a terminal decision
//! is made durable and its side effects applied (`terminal`).

use super::dispatch::Dispatched;
use super::runtime_error::{ApplyFailure, ApplyProgress};
use super::{ActiveRun, Engine, PendingTerminal, Step};
use crate::plan::ir::{CompiledGraph, CompiledNode, TransitionTarget};
use crate::runners::{self, Verdict};
use crate::runtime::router::{self, Decision, ResumeHints};
use crate::runtime::Error;
use crate::runtime::{ids, monitor, progress, stage_result, surface, trace};
use crate::workspace::{events, safe_fs};
use serde_json::{json, Value};

/// The stage result as recorded: its path relative to `millrace-agents/`,
/// the request it answers, and the run trace it was added to.
struct Recorded {
    result_rel: String,
    request_id: String,
    trace: Value,
}

impl Engine {
    /// Judge, record and route one dispatched stage, then write the decision.
    /// A failure says how far it got, for `runtime_error` to reroute.
    pub(super) fn apply_result(
        &mut self,
        run: ActiveRun,
        graph: &CompiledGraph,
        node: &CompiledNode,
        stage: Dispatched,
    ) -> Result<Step, Box<ApplyFailure>> {
        let mut verdict = judge(node, stage.verdict.clone());
        let found_report = stage_result::report_artifact(&stage.request);
        let recorded = self.record_result(&run, &stage, &mut verdict, found_report.as_ref());
        let mut failure = ApplyProgress {
            terminal_result: verdict.outcome.clone(),
            stage_result_path: None,
            router_action: None,
        };
        let fail = |at: &ApplyProgress, error: Error| {
            Box::new(ApplyFailure {
                error,
                at: at.clone(),
            })
        };
        let recorded = recorded.map_err(|e| fail(&failure, e))?;
        self.tally.stages_run += 1;
        failure.stage_result_path = Some(format!("millrace-agents/{}", recorded.result_rel));
        let (kind, id) = work_of(&run);
        // The report the stage wrote, else the path it was offered (as the reference records it).
        let report = found_report.or_else(|| {
            stage
                .request
                .preferred_troubleshoot_report_path
                .as_ref()
                .map(|p| p.display().to_string())
        });
        let _ = events::record(
            &self.layout,
            "stage_completed",
            json!({
                "request_id": stage.request.request_id, "stage": node.node_id, "node_id": node.node_id,
                "stage_kind_id": node.stage_kind_id, "plane": run.plane, "run_id": run.run_id,
                "work_item_kind": run.work_item_kind, "work_item_id": run.work_item_id,
                "terminal_result": verdict.outcome, "failure_class": verdict.failure_class,
                "troubleshoot_report_path": report,
            }),
        );
        self.stage_done_lines(&run, node, &stage, &verdict);
        let spawned = self.learning_triggers(&run, node, &verdict.outcome, &recorded.result_rel);

        let hints = ResumeHints {
            resume_stage: verdict.metadata.resume_stage.clone(),
            target_stage: verdict.metadata.target_stage.clone(),
        };
        let decision: Decision = router::route(
            graph,
            &node.node_id,
            &verdict.outcome,
            &hints,
            &mut self.counters,
            (kind, id),
        )
        .map_err(|e| fail(&failure, e))?;
        failure.router_action = Some(match &decision.next {
            TransitionTarget::Node(_) => "run_stage",
            TransitionTarget::Terminal(t) => {
                match graph.terminal(t).map(|t| t.terminal_class.as_str()) {
                    Some("success" | "no_op") => "idle",
                    Some("escalate_planning" | "followup_needed") => "handoff",
                    _ => "blocked",
                }
            }
        });
        let plane = run.plane.clone();
        self.set_marker(&plane, &format!("### {}", verdict.outcome));
        self.snapshot.last_terminal_result = json!(verdict.outcome);
        self.snapshot.last_stage_result_path =
            Some(format!("millrace-agents/{}", recorded.result_rel));
        self.snapshot.current_failure_class = verdict.failure_class.clone();
        let run_id = run.run_id.clone();
        let (item_kind, item_id) = (run.work_item_kind.clone(), run.work_item_id.clone());
        let written = match &decision.next {
            TransitionTarget::Node(next) => {
                self.advance(run, graph, next, &verdict, &decision, recorded, spawned)
            }
            TransitionTarget::Terminal(t) => {
                self.finish(run, graph, t, &verdict, &decision, recorded, spawned)
            }
        };
        written.map_err(|e| fail(&failure, e))?;
        self.tally.last_outcome = Some(verdict.outcome.clone());
        self.tally.last_run_id = Some(run_id.clone());
        match failure.router_action {
            Some("blocked") => self.tally.blocked.push(match (&item_kind, &item_id) {
                (Some(k), Some(i)) => format!("{k}:{i}"),
                _ => run_id.clone(),
            }),
            Some("run_stage") | None => {}
            Some(_) => self.tally.ended_otherwise += 1,
        }
        let next_node = match &decision.next {
            TransitionTarget::Node(n) => graph.node(n),
            TransitionTarget::Terminal(_) => None,
        };
        let _ = events::record(
            &self.layout,
            "router_decision",
            json!({
                "action": failure.router_action, "plane": plane, "run_id": run_id,
                "work_item_kind": item_kind, "work_item_id": item_id,
                "stage": node.node_id, "node_id": node.node_id, "stage_kind_id": node.stage_kind_id,
                "terminal_result": verdict.outcome, "failure_class": verdict.failure_class,
                "troubleshoot_report_path": report,
                "next_stage": next_node.map(|n| &n.node_id), "next_node_id": next_node.map(|n| &n.node_id),
                "next_stage_kind_id": next_node.map(|n| &n.stage_kind_id),
                "reason": decision.reason,
                // Ours: the route as the IR states it and the .mill rule behind it.
                "next": decision.next, "via": decision.via.as_str(), "source": decision.source,
            }),
        );
        Ok(Step::Ran {
            reason: decision.reason,
            failed: !verdict.valid,
        })
    }

    /// Write the stage result file and add the stage to the run trace. A
    /// link planted where the result goes fails the stage instead
    /// (`unsafe_workspace_path`, event `workspace_path_refused`): `verdict`
    /// becomes that failure and no result file is written.
    fn record_result(
        &mut self,
        run: &ActiveRun,
        stage: &Dispatched,
        verdict: &mut Verdict,
        report: Option<&String>,
    ) -> Result<Recorded, Error> {
        let request = &stage.request;
        let result_rel = format!(
            "runs/{}/stage_results/{}.json",
            run.run_id, request.request_id
        );
        let mut result_doc = match &stage.output {
            Some(out) => stage_result::build(request, out, verdict, report),
            None => stage_result::build(request, &self.synthetic_output(request), verdict, report),
        };
        let result_path = self.layout.runtime.join(&result_rel);
        if let Err(e) = stage_result::write(&result_path, &result_doc) {
            if safe_fs::refusal(&e).is_none() {
                return Err(Error::io(&result_rel, e));
            }
            *verdict = Self::failure_verdict(runners::UNSAFE_PATH_FAILURE, e.to_string());
            result_doc =
                stage_result::build(request, &self.synthetic_output(request), verdict, report);
        }
        if verdict.failure_class.as_deref() == Some(runners::UNSAFE_PATH_FAILURE) {
            let _ = events::record(
                &self.layout,
                "workspace_path_refused",
                json!({"plane": run.plane, "node_id": run.node_id, "run_id": run.run_id, "request_id": request.request_id, "notes": verdict.notes}),
            );
        }
        let run_dir = self.run_dir(run);
        let cached = self.traces.remove(&run.run_id);
        let mut tr = cached.or_else(|| trace::load(&run_dir)).unwrap_or_else(|| {
            let (kind, id) = work_of(run);
            trace::new_trace(
                &run.run_id,
                &run_dir,
                &self.plan.compiled_plan_id,
                &self.plan.mode_id,
                &run.request_kind,
                (!kind.is_empty()).then_some((kind, id)),
            )
        });
        trace::add_node(
            &mut tr,
            &result_doc,
            &format!("stage_results/{}.json", request.request_id),
        );
        Ok(Recorded {
            result_rel,
            request_id: request.request_id.clone(),
            trace: tr,
        })
    }

    fn stage_done_lines(
        &mut self,
        run: &ActiveRun,
        node: &CompiledNode,
        stage: &Dispatched,
        verdict: &Verdict,
    ) {
        let handle = ids::handle(&run.run_id);
        let plane = &run.plane;
        let dur = stage.output.as_ref().map_or(0.0, |o| o.duration_seconds);
        let tokens = stage
            .output
            .as_ref()
            .and_then(|o| o.token_usage)
            .map(|t| format!(" tokens={}", monitor::tokens(&t)))
            .unwrap_or_default();
        let why = why_blocked(stage, verdict);
        let why_fields = why
            .as_ref()
            .map(|w| {
                let class = w.class.as_deref().map(|c| format!(" failure={c}"));
                format!("{} reason=\"{}\"", class.unwrap_or_default(), w.reason)
            })
            .unwrap_or_default();
        self.monitor.line(&format!(
            "stage done {plane}/{} run={handle} result={} dur={dur:.1}s{tokens}{why_fields}",
            node.node_id, verdict.outcome
        ));
        if let Some(w) = why.as_ref().filter(|w| w.class.is_some()) {
            // A runtime failure (not a BLOCKED the loop handles): said where
            // the operator is looking, whatever the monitor does.
            let look = w
                .look_at
                .as_ref()
                .map(|p| format!(" (see {})", self.rel(p)))
                .unwrap_or_default();
            eprintln!(
                "warning: stage {plane}/{}{} ended {} ({}): {}{look}",
                node.node_id,
                super::dispatch::work_label(run).replacen(" work=", " on ", 1),
                verdict.outcome,
                w.class.as_deref().unwrap_or_default(),
                w.reason
            );
        }
        let elapsed = self
            .run_started
            .get(&run.run_id)
            .map_or(0.0, |t| t.elapsed().as_secs_f64());
        // The run's token totals so far, as the reference's `run` line has them.
        let totals = match stage.output.as_ref().and_then(|o| o.token_usage) {
            Some(t) => {
                let sum = self.run_tokens.entry(run.run_id.clone()).or_default();
                sum.input_tokens += t.input_tokens;
                sum.cached_input_tokens += t.cached_input_tokens;
                sum.output_tokens += t.output_tokens;
                sum.thinking_tokens += t.thinking_tokens;
                sum.total_tokens += t.total_tokens;
                Some(*sum)
            }
            None => self.run_tokens.get(&run.run_id).copied(),
        };
        let totals = totals
            .map(|t| format!(" tokens={}", monitor::tokens(&t)))
            .unwrap_or_default();
        self.monitor.line(&format!(
            "run {plane} run={handle} elapsed={elapsed:.1}s{totals}"
        ));
    }

    /// The run moves on to `next` in the same plane.
    #[allow(clippy::too_many_arguments)]
    fn advance(
        &mut self,
        mut run: ActiveRun,
        graph: &CompiledGraph,
        next: &str,
        verdict: &Verdict,
        decision: &Decision,
        recorded: Recorded,
        spawned: Vec<String>,
    ) -> Result<(), Error> {
        let next_node = graph.node(next).ok_or(Error::PlanLacks("route target"))?;
        run.stage = next_node.node_id.clone();
        run.node_id = next_node.node_id.clone();
        run.stage_kind_id = next_node.stage_kind_id.clone();
        run.running_status_marker = next_node.running_status_marker.clone();
        run.interrupted_retries = 0;
        let mut tr = recorded.trace;
        trace::add_edge(
            &mut tr,
            &recorded.request_id,
            &verdict.outcome,
            "run_stage",
            Some(next),
            None,
            &decision.reason,
            decision.via.as_str(),
            &decision.source,
            spawned,
        );
        let _ = trace::save(&self.run_dir(&run), &tr);
        self.traces.insert(run.run_id.clone(), tr);
        let r = self.counters.save_if_dirty(&self.layout);
        self.io("state/recovery_counters.json", r)?;
        self.set_active(&run);
        self.save_snapshot()?;
        self.monitor.line(&format!(
            "route {} -> {next} reason={}",
            run.plane, decision.reason
        ));
        Ok(())
    }

    /// The run reached terminal `t`: record the decision durably, then
    /// apply its side effects.
    #[allow(clippy::too_many_arguments)]
    fn finish(
        &mut self,
        mut run: ActiveRun,
        graph: &CompiledGraph,
        t: &str,
        verdict: &Verdict,
        decision: &Decision,
        recorded: Recorded,
        spawned: Vec<String>,
    ) -> Result<(), Error> {
        let reason = &decision.reason;
        let pending = PendingTerminal {
            terminal_state_id: t.to_string(),
            outcome: verdict.outcome.clone(),
            reason: reason.clone(),
            request_id: recorded.request_id.clone(),
            stage_result_path: format!("millrace-agents/{}", recorded.result_rel),
            notes: verdict.notes.clone(),
            failure_class: verdict.failure_class.clone(),
        };
        let terminal = graph.terminal(t).ok_or(Error::PlanLacks("terminal"))?;
        let kind = match terminal.terminal_class.as_str() {
            "success" | "no_op" => "idle",
            "escalate_planning" | "followup_needed" => "handoff",
            _ => "blocked",
        };
        let mut tr = recorded.trace;
        trace::add_edge(
            &mut tr,
            &recorded.request_id,
            &verdict.outcome,
            kind,
            None,
            Some(t),
            reason,
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
        let _ = trace::save(&self.run_dir(&run), &tr);
        // Record the decision durably before its side effects.
        run.pending_terminal = Some(pending.clone());
        self.set_active(&run);
        self.save_snapshot()?;
        self.apply_terminal(&run, &pending)?;
        let plane = &run.plane;
        let line = match kind {
            "idle" => format!("route {plane} done reason={reason}"),
            "handoff" => {
                let target = self
                    .plan
                    .graph("planning")
                    .and_then(|g| g.entries.iter().find(|e| e.entry_key == "incident"))
                    .map(|e| e.node_id.clone())
                    .unwrap_or_else(|| "auditor".into());
                format!("route {plane} -> planning/{target} action=handoff reason={reason}")
            }
            _ => format!("route {plane} blocked reason={reason}"),
        };
        self.monitor.line(&line);
        Ok(())
    }

    /// `path` relative to the workspace root when inside it.
    fn rel(&self, path: &std::path::Path) -> String {
        path.strip_prefix(&self.layout.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// `millrace-agents/runs/<run id>/`.
    pub(super) fn run_dir(&self, run: &ActiveRun) -> std::path::PathBuf {
        self.layout.runtime.join("runs").join(&run.run_id)
    }
}

/// Why a stage ended BLOCKED (or failed): its failure class, a one-line
/// reason and the file that says more.
struct Why {
    class: Option<String>,
    reason: String,
    look_at: Option<std::path::PathBuf>,
}

fn why_blocked(stage: &Dispatched, verdict: &Verdict) -> Option<Why> {
    if verdict.failure_class.is_none() && verdict.outcome != "BLOCKED" {
        return None;
    }
    let stderr = stage
        .output
        .as_ref()
        .and_then(|o| o.files.stderr.as_deref());
    let report = stage.request.preferred_troubleshoot_report_path.as_deref();
    if verdict.failure_class.is_none() {
        // The agent itself reported BLOCKED: its own report says why.
        let look_at = report
            .filter(|p| p.exists())
            .or_else(|| {
                stage
                    .output
                    .as_ref()
                    .and_then(|o| o.files.last_message.as_deref())
            })
            .map(std::path::Path::to_path_buf);
        return Some(Why {
            class: None,
            reason: "the agent reported BLOCKED".into(),
            look_at,
        });
    }
    let reason = progress::failure_reason(stderr, &verdict.notes)
        .unwrap_or_else(|| "no reason recorded".into());
    let look_at = stderr
        .filter(|p| progress::file_len(p) > 0)
        .map(std::path::Path::to_path_buf);
    Some(Why {
        class: verdict.failure_class.clone(),
        reason,
        look_at,
    })
}

/// The result surface: the verdict's outcome must be one the node can
/// return, with a class that outcome allows; anything else is a failure.
fn judge(node: &CompiledNode, verdict: Verdict) -> Verdict {
    match surface::check(node, &verdict.outcome, &verdict.result_class) {
        Ok(()) => verdict,
        Err(note) => Engine::failure_verdict("illegal_terminal_result", note.to_string()),
    }
}

/// The run's work item as `(kind, id)`, both empty for closure runs.
fn work_of(run: &ActiveRun) -> (&str, &str) {
    match (&run.work_item_kind, &run.work_item_id) {
        (Some(k), Some(i)) => (k.as_str(), i.as_str()),
        _ => ("", ""),
    }
}
