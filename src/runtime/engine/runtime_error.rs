//! Runtime errors after a stage: when applying a legal stage result fails
//! (the result cannot be recorded, a work item cannot be moved), the
//! reference does not stop the daemon. It writes a runtime error report in
//! the run directory and a context file (`state/runtime_error_context.json`),
//! routes the item to its plane's recovery stage (the troubleshooter for
//! execution, the mechanic for planning) and hands that stage the error
//! code, the report and the error catalog in its request. We do the same,
//! with a bound the reference lacks: at most `MAX_REROUTES` reroutes per run,
//! and never from the recovery stage itself; past that the error stops the
//! daemon as before, with the item still active for an operator.

use super::{ActiveRun, Engine, Step};
use crate::plan::ir::{CompiledGraph, CompiledNode};
use crate::runners::StageRequest;
use crate::runtime::Error;
use crate::workspace::documents::one_line;
use crate::workspace::{atomic, clock, events};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::PathBuf;

/// Reroutes per run before a runtime error stops the daemon.
pub const MAX_REROUTES: u32 = 3;

/// Where the reference keeps its runtime error catalog, under the workspace.
const CATALOG: &str = "docs/runtime/millrace-runtime-error-codes.md";

/// Why applying a stage's result failed, with what was known by then.
#[derive(Debug)]
pub(super) struct ApplyFailure {
    pub error: Error,
    pub at: ApplyProgress,
}

/// How far applying a stage's result got.
#[derive(Debug, Clone)]
pub(super) struct ApplyProgress {
    pub terminal_result: String,
    pub stage_result_path: Option<String>,
    /// The router's decision when it was made: `run_stage`, `idle`,
    /// `blocked` or `handoff`.
    pub router_action: Option<&'static str>,
}

/// `state/runtime_error_context.json`, in the reference's schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Context {
    error_code: String,
    plane: String,
    failed_stage: String,
    repair_stage: String,
    work_item_kind: Option<String>,
    work_item_id: Option<String>,
    run_id: String,
    router_action: Option<String>,
    terminal_result: Option<String>,
    stage_result_path: Option<String>,
    report_path: String,
    exception_type: String,
    exception_message: String,
    captured_at: String,
}

/// The recovery stage kind of a plane.
fn repair_kind(plane: &str) -> &'static str {
    if plane == "planning" {
        "mechanic"
    } else {
        "troubleshooter"
    }
}

impl Engine {
    fn error_context_file(&self) -> PathBuf {
        self.layout.state_dir().join("runtime_error_context.json")
    }

    fn load_error_context(&self) -> Option<Context> {
        use crate::workspace::safe_fs;
        let text =
            safe_fs::read_to_string_capped(&self.error_context_file(), safe_fs::MAX_DOCUMENT_BYTES)
                .ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Route `run` to its plane's recovery stage after `failure`, or give
    /// the error back when no reroute is allowed.
    pub(super) fn reroute_runtime_error(
        &mut self,
        mut run: ActiveRun,
        graph: &CompiledGraph,
        node: &CompiledNode,
        failure: ApplyFailure,
    ) -> Result<Step, Error> {
        let kind = repair_kind(&run.plane);
        let repair = graph.nodes.iter().find(|n| n.stage_kind_id == kind);
        let tries = self.runtime_errors.entry(run.run_id.clone()).or_insert(0);
        *tries += 1;
        let Some(repair) = repair.filter(|r| {
            r.node_id != node.node_id && run.work_item_id.is_some() && *tries <= MAX_REROUTES
        }) else {
            return Err(failure.error);
        };
        let code = match (run.plane.as_str(), failure.at.router_action) {
            ("planning", Some("idle")) => "planning_work_item_completion_conflict",
            (_, Some("idle")) => "execution_work_item_completion_conflict",
            ("planning", _) => "planning_post_stage_apply_failed",
            _ => "execution_post_stage_apply_failed",
        };
        let report = self.run_dir(&run).join("runtime_error_report.md");
        let context = Context {
            error_code: code.into(),
            plane: run.plane.clone(),
            failed_stage: node.node_id.clone(),
            repair_stage: repair.node_id.clone(),
            work_item_kind: run.work_item_kind.clone(),
            work_item_id: run.work_item_id.clone(),
            run_id: run.run_id.clone(),
            router_action: failure.at.router_action.map(str::to_string),
            terminal_result: Some(failure.at.terminal_result.clone()),
            stage_result_path: failure.at.stage_result_path.clone(),
            report_path: report.display().to_string(),
            exception_type: "RuntimeApplyError".into(),
            exception_message: failure.error.to_string(),
            captured_at: clock::now_rfc3339(),
        };
        let _ = crate::workspace::safe_fs::create_dir_all(&self.run_dir(&run));
        let _ = atomic::write_atomic(&report, report_text(&context).as_bytes());
        let text = serde_json::to_string_pretty(&context).expect("context serializes") + "\n";
        self.io(
            "state/runtime_error_context.json",
            atomic::write_atomic(&self.error_context_file(), text.as_bytes()),
        )?;
        let plane = run.plane.clone();
        let previous = self
            .snapshot
            .status_markers_by_plane
            .get(&plane)
            .cloned()
            .unwrap_or_default();
        self.set_marker(&plane, "### BLOCKED");
        // The reference's monitor shows marker changes the runtime makes itself.
        self.monitor.line(&format!(
            "status {plane} run={} from={} to=BLOCKED",
            crate::runtime::ids::handle(&run.run_id),
            previous.trim_start_matches("### ")
        ));
        run.pending_terminal = None;
        run.stage = repair.node_id.clone();
        run.node_id = repair.node_id.clone();
        run.stage_kind_id = repair.stage_kind_id.clone();
        run.running_status_marker = repair.running_status_marker.clone();
        run.interrupted_retries = 0;
        self.snapshot.current_failure_class = Some(code.into());
        self.snapshot.last_terminal_result = json!(failure.at.terminal_result);
        self.set_active(&run);
        self.save_snapshot()?;
        let reason = format!("runtime_exception:{code}");
        let _ = events::record(
            &self.layout,
            "runtime_post_stage_recovery_scheduled",
            json!({
                "error_code": code,
                "plane": plane,
                "failed_stage": node.node_id,
                "repair_stage": repair.node_id,
                "repair_node_id": repair.node_id,
                "repair_stage_kind_id": repair.stage_kind_id,
                "router_action": failure.at.router_action,
                "terminal_result": failure.at.terminal_result,
                "work_item_kind": run.work_item_kind,
                "work_item_id": run.work_item_id,
                "exception_type": context.exception_type,
                "exception_message": failure.error.to_string(),
                "report_path": context.report_path,
            }),
        );
        self.monitor.line(&format!(
            "route {plane} -> {} reason={reason} error={}",
            repair.node_id,
            one_line(&failure.error.to_string())
        ));
        Ok(Step::Ran {
            reason,
            failed: true,
        })
    }

    /// The runtime error fields of a recovery stage's request, when a
    /// runtime error rerouted this very run to it.
    pub(super) fn runtime_error_fields(&self, run: &ActiveRun, request: &mut StageRequest) {
        // Only a plane's recovery stage is ever rerouted to (no file to read
        // for every other stage).
        if run.stage_kind_id != repair_kind(&run.plane) {
            return;
        }
        let Some(c) = self.load_error_context() else {
            return;
        };
        if c.run_id != run.run_id
            || c.repair_stage != run.node_id
            || c.work_item_id != run.work_item_id
        {
            return;
        }
        let catalog = self.layout.root.join(CATALOG);
        request.runtime_error_code = Some(c.error_code);
        request.runtime_error_report_path = Some(c.report_path);
        request.runtime_error_catalog_path =
            catalog.is_file().then(|| catalog.display().to_string());
    }

    /// The recovery stage consumed the context: forget it.
    pub(super) fn clear_runtime_error(&mut self, run: &ActiveRun, node: &CompiledNode) {
        let (run_id, node_id) = (&run.run_id, &node.node_id);
        if node.stage_kind_id == repair_kind(&run.plane)
            && self
                .load_error_context()
                .is_some_and(|c| &c.run_id == run_id && &c.repair_stage == node_id)
        {
            let _ = crate::workspace::safe_fs::remove_file(&self.error_context_file());
        }
    }
}

fn report_text(c: &Context) -> String {
    let none = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
    let work = match (&c.work_item_kind, &c.work_item_id) {
        (Some(k), Some(i)) => format!("{k} {i}"),
        _ => "none".into(),
    };
    format!(
        "# Runtime Error Report\n\n\
         Error-Code: {}\nPlane: {}\nFailed-Stage: {}\nRepair-Stage: {}\nRun-ID: {}\n\
         Work-Item: {work}\nRouter-Action: {}\nTerminal-Result: {}\nStage-Result-Path: {}\n\
         Exception-Type: {}\nException-Message: {}\nCaptured-At: {}\n\n\
         Summary:\n\
         - The stage returned a legal result, and the runtime failed while applying it.\n\
         - Instead of stopping the daemon, the runtime sent the work item to the recovery stage.\n\
         - Look the error code up in the runtime error catalog when it needs explaining.\n",
        c.error_code,
        c.plane,
        c.failed_stage,
        c.repair_stage,
        c.run_id,
        none(&c.router_action),
        none(&c.terminal_result),
        none(&c.stage_result_path),
        c.exception_type,
        one_line(&c.exception_message),
        c.captured_at,
    )
}
