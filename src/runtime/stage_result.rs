//! The normalized stage result (`runs/<run>/stage_results/<request>.json`,
//! the reference's `stage_result` document) built from the stage request,
//! the runner's output and the result-surface verdict.

use crate::runners::{RunnerOutput, StageRequest, Verdict};
use serde_json::{json, Value};

fn path_str(p: &std::path::Path) -> String {
    p.display().to_string()
}

/// The path, or null when no such file was written (a stage that did not run).
fn existing(p: &std::path::Path) -> Value {
    if p.exists() {
        Value::String(path_str(p))
    } else {
        Value::Null
    }
}

/// Write a stage result below the workspace (no link followed: a link
/// planted for the run directory or `stage_results/` is a `safe_fs`
/// refusal). The directory is created when the write finds it missing.
///
/// Atomic (temp and rename) but not fsynced: a stage result is history.
/// What recovery needs from it (outcome, reason, the path) is in the
/// snapshot's pending terminal or next stage, which is written durably
/// right after; a crash may lose the file, never leave a torn one visible.
pub fn write(path: &std::path::Path, doc: &Value) -> std::io::Result<()> {
    use crate::workspace::{atomic, safe_fs};
    let mut text = serde_json::to_string_pretty(doc).expect("result serializes");
    text.push('\n');
    match atomic::write_replace(path, text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent() {
                safe_fs::create_dir_all(dir)?;
            }
            atomic::write_replace(path, text.as_bytes())
        }
        r => r,
    }
}

/// The report the stage wrote at a path its request offered, as the
/// reference resolves it: the preferred report path (arbiter), else the
/// preferred troubleshoot report path, the first that names a regular file
/// inside the run directory. A link, FIFO or directory planted there, or a
/// path outside the run directory, is no report.
pub fn report_artifact(req: &StageRequest) -> Option<String> {
    let candidates = [
        req.closure
            .preferred_report_path
            .as_deref()
            .map(std::path::PathBuf::from),
        req.preferred_troubleshoot_report_path.clone(),
    ];
    candidates.into_iter().flatten().find_map(|p| {
        let p = if p.is_absolute() {
            p
        } else {
            req.run_dir.join(p)
        };
        let inside = p.starts_with(&req.run_dir)
            && !p
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir));
        (inside && crate::workspace::safe_fs::open_regular(&p, None).is_ok()).then(|| path_str(&p))
    })
}

/// The stage result document. `report` is what `report_artifact` found for
/// this request (looked up once by the caller, who records it too).
pub fn build(
    req: &StageRequest,
    out: &RunnerOutput,
    v: &Verdict,
    report: Option<&String>,
) -> Value {
    let work = req.work_item.as_ref();
    let mut artifact_paths: Vec<String> = out
        .files
        .events
        .iter()
        .chain(
            out.files
                .stdout
                .iter()
                .filter(|_| out.files.events.is_none()),
        )
        .map(|p| path_str(p))
        .collect();
    if let Some(r) = report {
        if !artifact_paths.contains(r) {
            artifact_paths.push(r.clone());
        }
    }
    let success = v.valid && v.result_class == "success";
    // Truncated output is part of what the stage result must say.
    let notes: Vec<&String> = v
        .notes
        .iter()
        .chain(
            out.notes
                .iter()
                .filter(|n| n.starts_with(crate::runners::capture::NOTE_PREFIX)),
        )
        .collect();
    json!({
        "schema_version": "1.0",
        "kind": "stage_result",
        "run_id": req.run_id,
        "plane": req.plane,
        "stage": req.stage,
        "node_id": req.node_id,
        "stage_kind_id": req.stage_kind_id,
        "work_item_kind": work.map(|w| w.kind.clone()),
        "work_item_id": work.map(|w| w.id.clone()),
        "terminal_result": v.outcome,
        "result_class": v.result_class,
        "summary_status_marker": format!("### {}", v.outcome),
        "success": success,
        "retryable": v.retryable,
        "exit_code": v.exit_code,
        "duration_seconds": out.duration_seconds,
        "prompt_artifact": Value::Null,
        "report_artifact": report,
        "artifact_paths": artifact_paths,
        "detected_marker": v.detected_marker,
        "stdout_path": out.files.stdout.as_deref().map_or(Value::Null, existing),
        "stderr_path": out.files.stderr.as_deref().map_or(Value::Null, existing),
        "runner_name": out.runner_name,
        "model_name": req.model_name,
        "thinking_level": req.thinking_level,
        "model_reasoning_effort": req.model_reasoning_effort,
        "token_usage": out.token_usage,
        "notes": notes,
        "metadata": {
            "request_id": req.request_id,
            "request_kind": req.request_kind,
            "mode_id": req.mode_id,
            "compiled_plan_id": req.compiled_plan_id,
            "closure_target_root_spec_id": req.closure.root_spec_id,
            "closure_target_root_idea_id": req.closure.root_idea_id,
            "preferred_rubric_path": req.closure.preferred_rubric_path,
            "preferred_verdict_path": req.closure.preferred_verdict_path,
            "preferred_report_path": req.closure.preferred_report_path,
            "skill_revision_evidence_path": req.skill_revision_evidence_path,
            "thinking_level": req.thinking_level,
            "model_reasoning_effort": req.model_reasoning_effort,
            "normalization_source": if v.valid { "stdout_terminal_token" } else { "failure" },
            "failure_class": v.failure_class,
            "valid_terminal_result": v.valid,
            "raw_exit_kind": v.raw_exit_kind,
            "raw_exit_code": v.raw_exit_code,
            "timeout_reconciled": v.timeout_reconciled,
            "resume_stage": v.metadata.resume_stage,
            "target_stage": v.metadata.target_stage,
        },
        "started_at": out.started_at,
        "completed_at": out.ended_at,
    })
}
