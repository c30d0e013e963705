//! Dispatch: one stage of an active run, from the request to a verdict.
//! Builds the `StageRequest` from the run and its compiled node, runs the
//! runner (or stands in for it when the item reached its plan's bound or an
//! interrupted stage may not be retried; reports an agent that could not be
//! started without counting the stage), and returns the request, the
//! runner's output and the verdict, for `apply` to judge. Nothing here
//! routes or writes runtime state beyond the running marker.

use super::{kind_of, ActiveRun, Engine};
use crate::plan::ir::{CompiledGraph, CompiledNode};
use crate::runners::{
    self, Cancel, LegalOutcome, RunnerOutput, StageRequest, Verdict, WorkItemRef,
};
use crate::runtime::runner_health::StartFailure;
use crate::runtime::{closure, ids};
use crate::workspace::{clock, events, queue};
use serde_json::json;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// What dispatching a stage produced.
pub(super) enum Dispatch {
    /// The stage ran (or a failure stands in for it).
    Done(Box<Dispatched>),
    /// Shutdown cancelled the stage; it stays running and re-runs on restart.
    Interrupted,
    /// The agent could not be started: nothing ran, nothing is counted.
    Unstarted(StartFailure),
}

/// A dispatched stage: its request, the runner's output (none when the
/// runner never ran) and the verdict on that output.
pub(super) struct Dispatched {
    pub request: StageRequest,
    pub output: Option<RunnerOutput>,
    pub verdict: Verdict,
}

/// A stage begun: either it needs its runner run (the request), or a
/// stand-in verdict already decided it without one.
pub(super) enum Begun {
    Runner(Box<StageRequest>),
    Decided(Box<Dispatched>),
}

impl Engine {
    /// Run the stage `run` stands at. Counts the stage run on `run`.
    pub(super) fn dispatch(
        &mut self,
        run: &mut ActiveRun,
        graph: &CompiledGraph,
        node: &CompiledNode,
        cancel: &AtomicBool,
    ) -> Dispatch {
        match self.begin(run, graph, node) {
            Begun::Decided(d) => Dispatch::Done(d),
            Begun::Runner(request) => {
                let tap = self.monitor.tap();
                let notify = |line: &str| tap.line(line);
                let result = runners::run_watched(
                    &request,
                    &self.config.runners,
                    Cancel(Some(cancel)),
                    Some(&notify),
                );
                self.conclude(run, node, *request, result)
            }
        }
    }

    /// The part of a stage before its runner: the stand-in verdicts (the
    /// item reached its bound; an interrupted stage may not be retried),
    /// or the running marker, the start line and event, and the request.
    /// A stand-in counts the stage run here.
    pub(super) fn begin(
        &mut self,
        run: &mut ActiveRun,
        graph: &CompiledGraph,
        node: &CompiledNode,
    ) -> Begun {
        let plane = run.plane.clone();
        let bound = graph
            .stage_run_bound
            .per_entry
            .get(&run.entry_key)
            .copied()
            .unwrap_or(graph.stage_run_bound.max_stage_runs);
        let mut request = self.request(run, node);
        self.runtime_error_fields(run, &mut request);
        self.skill_evidence(&mut request);
        self.run_started
            .entry(run.run_id.clone())
            .or_insert_with(Instant::now);
        let stand_in = if run.stage_runs >= bound {
            Some(Self::failure_verdict(
                "stage_run_bound_exhausted",
                format!("work item reached its plan's bound of {bound} stage runs"),
            ))
        } else {
            run.pending_failure.take().map(|fc| {
                Self::failure_verdict(
                    &fc,
                    "the stage was interrupted and may not be retried".into(),
                )
            })
        };
        if let Some(verdict) = stand_in {
            run.stage_runs += 1;
            return Begun::Decided(Box::new(Dispatched {
                request,
                output: None,
                verdict,
            }));
        }
        // A new run's directory is created here, and the run added to our
        // runs index (`runs ls` never lists `runs/`).
        let _ = crate::workspace::runs_index::note_start(
            &self.layout,
            &run.run_id,
            run.work_item_kind
                .as_deref()
                .zip(run.work_item_id.as_deref()),
        );
        self.set_marker(&plane, &format!("### {}", node.running_status_marker));
        self.stage_start_line(run, node);
        self.progress.start(crate::runtime::progress::ActiveStage {
            request_id: request.request_id.clone(),
            plane: plane.clone(),
            stage: node.node_id.clone(),
            run_id: run.run_id.clone(),
            work: work_label(run),
            started: Instant::now(),
            run_dir: request.run_dir.clone(),
            runner: crate::runners::RunnerKind::from_name(&node.runner_name).ok(),
        });
        let _ = events::record(
            &self.layout,
            "stage_started",
            json!({
                "request_id": request.request_id,
                "stage": node.node_id,
                "node_id": node.node_id,
                "stage_kind_id": node.stage_kind_id,
                "plane": plane,
                "run_id": run.run_id,
                "work_item_kind": run.work_item_kind,
                "work_item_id": run.work_item_id,
                "troubleshoot_report_path": request.preferred_troubleshoot_report_path,
            }),
        );
        Begun::Runner(Box::new(request))
    }

    /// The part of a stage after its runner returned: an agent that could
    /// not start, a cancelled stage, or the verdict on its output. Counts
    /// the stage run.
    pub(super) fn conclude(
        &mut self,
        run: &mut ActiveRun,
        node: &CompiledNode,
        request: StageRequest,
        result: Result<RunnerOutput, runners::RunnerError>,
    ) -> Dispatch {
        self.progress.finish(&request.request_id);
        if !self.stage_in_flight() {
            runners::process::clear_agent_note(&self.agent_note());
        }
        let limit = self.config.runners.start_failures_before_pause;
        if let Some(failure) = self
            .runner_health
            .observe(&result, &node.runner_name, limit)
        {
            return Dispatch::Unstarted(failure);
        }
        // An agent whose environment failed: the same put-back, and a pause.
        if let Ok(out) = &result {
            if let Some(failure) =
                self.runner_health
                    .observe_environment(out, &node.runner_name, &self.config.runners)
            {
                return Dispatch::Unstarted(failure);
            }
        }
        let (verdict, output) = match result {
            Ok(out) if out.exit_kind == runners::ExitKind::Interrupted => {
                return Dispatch::Interrupted;
            }
            Ok(out) => (out.verdict(&request), Some(out)),
            Err(e) => (
                Self::failure_verdict(e.failure_class(), e.to_string()),
                None,
            ),
        };
        run.stage_runs += 1;
        Dispatch::Done(Box::new(Dispatched {
            request,
            output,
            verdict,
        }))
    }

    fn stage_start_line(&mut self, run: &ActiveRun, node: &CompiledNode) {
        let kind = if node.stage_kind_id != node.node_id {
            format!(" kind={}", node.stage_kind_id)
        } else {
            String::new()
        };
        self.monitor.line(&format!(
            "stage start {}/{}{kind} run={}{}",
            run.plane,
            node.node_id,
            ids::handle(&run.run_id),
            work_label(run)
        ));
    }

    fn closure_fields(&self, run: &ActiveRun, run_dir: &std::path::Path) -> runners::ClosureFields {
        let Some(root) = &run.closure_target_root_spec_id else {
            return Default::default();
        };
        let Some(t) = closure::load(&self.layout, root) else {
            return Default::default();
        };
        let abs = |rel: &str| self.layout.root.join(rel).display().to_string();
        runners::ClosureFields {
            target_path: Some(abs(&format!("millrace-agents/arbiter/targets/{root}.json"))),
            root_spec_id: Some(t.root_spec_id.clone()),
            root_idea_id: t.root_idea_id.clone(),
            canonical_root_spec_path: Some(abs(&t.root_spec_path)),
            canonical_seed_idea_path: t.root_idea_path.as_deref().map(abs),
            preferred_rubric_path: Some(abs(&t.rubric_path)),
            // As the reference: the target's latest verdict, else its canonical place.
            preferred_verdict_path: Some(abs(t
                .latest_verdict_path
                .as_deref()
                .unwrap_or(&format!("millrace-agents/arbiter/verdicts/{root}.json")))),
            preferred_report_path: Some(run_dir.join("arbiter_report.md").display().to_string()),
        }
    }

    fn request(&self, run: &ActiveRun, node: &CompiledNode) -> StageRequest {
        let ma = &self.layout.runtime;
        let run_dir = ma.join("runs").join(&run.run_id);
        let work_item = match (&run.work_item_kind, &run.work_item_id) {
            (Some(k), Some(id)) => kind_of(k).map(|kind| WorkItemRef {
                kind: k.clone(),
                id: id.clone(),
                path: Some(queue::state_dir(&self.layout, kind, "active").join(format!("{id}.md"))),
            }),
            _ => None,
        };
        StageRequest {
            request_id: ids::request_id(),
            run_id: run.run_id.clone(),
            compiled_plan_id: self.plan.compiled_plan_id.clone(),
            request_kind: run.request_kind.clone(),
            entrypoint_contract_id: Some(node.entrypoint_contract_id.clone()),
            work_item,
            closure: self.closure_fields(run, &run_dir),
            outcomes: node
                .allowed_result_classes_by_outcome
                .iter()
                .map(|o| LegalOutcome {
                    name: o.outcome.clone(),
                    result_classes: o.result_classes.clone(),
                })
                .collect(),
            required_skill_paths: node
                .required_skill_paths
                .iter()
                .map(|p| ma.join(p))
                .collect(),
            attached_skill_paths: node
                .attached_skill_paths
                .iter()
                .map(|p| ma.join(p))
                .collect(),
            preferred_troubleshoot_report_path: Some(run_dir.join("troubleshoot_report.md")),
            runtime_snapshot_path: self.layout.snapshot_file(),
            recovery_counters_path: self.layout.counters_file(),
            summary_status_path: self.layout.status_file(&node.plane),
            ..StageRequest::for_node(node, &self.plan.mode_id, &self.layout.root, run_dir.clone())
        }
    }

    /// A failure verdict for something that happened outside the agent.
    pub(super) fn failure_verdict(failure_class: &str, note: String) -> Verdict {
        Verdict {
            outcome: "BLOCKED".into(),
            result_class: "recoverable_failure".into(),
            valid: false,
            failure_class: Some(failure_class.to_string()),
            detected_marker: None,
            notes: vec![note],
            exit_code: 1,
            retryable: true,
            raw_exit_kind: "runner_error",
            raw_exit_code: None,
            timeout_reconciled: false,
            metadata: Default::default(),
        }
    }

    /// Stand-in runner output for a stage that did not run (bound, interruption, runner error).
    pub(super) fn synthetic_output(&self, req: &StageRequest) -> RunnerOutput {
        let now = clock::now_rfc3339();
        RunnerOutput {
            runner_name: req.runner_name.clone().unwrap_or_default(),
            exit_kind: runners::ExitKind::SpawnFailed,
            exit_code: None,
            observed: None,
            failure_class: None,
            notes: vec![],
            files: runners::RunFiles {
                prompt: req
                    .run_dir
                    .join(format!("runner_prompt.{}.md", req.request_id)),
                invocation: req
                    .run_dir
                    .join(format!("runner_invocation.{}.json", req.request_id)),
                completion: req
                    .run_dir
                    .join(format!("runner_completion.{}.json", req.request_id)),
                stdout: None,
                stderr: Some(
                    req.run_dir
                        .join(format!("runner_stderr.{}.txt", req.request_id)),
                ),
                events: None,
                last_message: None,
            },
            last_message: None,
            scan: Default::default(),
            token_usage: None,
            started_at: now.clone(),
            ended_at: now,
            duration_seconds: 0.0,
            command: vec![],
            model_reasoning_effort: None,
            environment: None,
        }
    }
}

/// ` work=<kind>:<id>` for runs on a work item, empty otherwise.
pub(super) fn work_label(run: &ActiveRun) -> String {
    match (&run.work_item_kind, &run.work_item_id) {
        (Some(k), Some(i)) => format!(" work={k}:{i}"),
        _ => String::new(),
    }
}
