//! The stage-request prompt: the text every agent receives (codex as its last
//! argument, pi as the RPC prompt message, the command runner by stdin,
//! argument or file). The line format is the reference's, byte for byte: a
//! preamble naming the entrypoint, one `Label: value` line per request field
//! (`none` for absent values, `Label: none` for empty lists, `- item` lines
//! otherwise), and a closing reminder about terminal markers. No trailing
//! newline.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use super::StageRequest;

/// Render the prompt for one stage request.
pub fn render(request: &StageRequest) -> String {
    let mut out = String::with_capacity(4096);
    let entry = request.entrypoint_path.display();
    line(
        &mut out,
        "You are executing one Millrace runtime stage request.",
    );
    let _ = writeln!(out, "Open `{entry}` and follow instructions exactly.");
    line(&mut out, "");
    line(&mut out, "Stage Request Context:");
    render_context(&mut out, request);
    line(&mut out, "");
    line(
        &mut out,
        "When done, print exactly one legal terminal marker defined by the opened entrypoint contract.",
    );
    let markers: Vec<String> = request
        .legal_markers()
        .iter()
        .map(|m| format!("`{m}`"))
        .collect();
    let _ = writeln!(out, "Legal markers for this stage: {}.", markers.join(", "));
    line(&mut out, "Do not invent or rename terminal markers.");
    out.push_str("Do not print multiple terminal markers.");
    out
}

/// The `Stage Request Context:` block, one line per field, each ending in a newline.
pub fn render_context(out: &mut String, r: &StageRequest) {
    kv(out, "Request ID", &r.request_id);
    kv(out, "Run ID", &r.run_id);
    kv(out, "Mode ID", &r.mode_id);
    kv(out, "Compiled Plan ID", &r.compiled_plan_id);
    kv(out, "Node ID", &r.node_id);
    kv(out, "Stage Kind ID", &r.stage_kind_id);
    kv(out, "Stage", &r.stage);
    kv(out, "Plane", &r.plane);
    kv(out, "Request Kind", &r.request_kind);
    kv(out, "Running Status Marker", &r.running_status_marker);
    kv(out, "Entrypoint Path", &path_text(&r.entrypoint_path));
    kv(
        out,
        "Entrypoint Contract ID",
        opt(&r.entrypoint_contract_id),
    );
    let (kind, id, path) = match &r.work_item {
        Some(w) => (
            w.kind.as_str(),
            none_if_empty(&w.id),
            w.path.as_deref().map(path_text),
        ),
        None => ("none", "none", None),
    };
    let _ = writeln!(out, "Active Work Item: {kind} {id}");
    kv(
        out,
        "Active Work Item Path",
        path.as_deref().unwrap_or("none"),
    );
    let c = &r.closure;
    kv(out, "Closure Target Path", opt(&c.target_path));
    kv(out, "Closure Target Root Spec ID", opt(&c.root_spec_id));
    kv(out, "Closure Target Root Idea ID", opt(&c.root_idea_id));
    kv(
        out,
        "Canonical Root Spec Path",
        opt(&c.canonical_root_spec_path),
    );
    kv(
        out,
        "Canonical Seed Idea Path",
        opt(&c.canonical_seed_idea_path),
    );
    kv(out, "Preferred Rubric Path", opt(&c.preferred_rubric_path));
    kv(
        out,
        "Preferred Verdict Path",
        opt(&c.preferred_verdict_path),
    );
    kv(out, "Preferred Report Path", opt(&c.preferred_report_path));
    list(out, "Legal Terminal Markers", r.legal_markers());
    list(
        out,
        "Allowed Result Classes By Outcome",
        r.outcomes
            .iter()
            .map(|o| format!("{}: {}", o.name, o.result_classes.join(", "))),
    );
    list(
        out,
        "Required Skill Paths",
        r.required_skill_paths.iter().map(|p| path_text(p)),
    );
    list(
        out,
        "Attached Skill Paths",
        r.attached_skill_paths.iter().map(|p| path_text(p)),
    );
    kv(out, "Run Directory", &path_text(&r.run_dir));
    kv(
        out,
        "Runtime Snapshot Path",
        &path_text(&r.runtime_snapshot_path),
    );
    kv(
        out,
        "Recovery Counters Path",
        &path_text(&r.recovery_counters_path),
    );
    kv(
        out,
        "Summary Status Path",
        &path_text(&r.summary_status_path),
    );
    kv(
        out,
        "Preferred Troubleshoot Report Path",
        &opt_path(&r.preferred_troubleshoot_report_path),
    );
    kv(out, "Runtime Error Code", opt(&r.runtime_error_code));
    kv(
        out,
        "Runtime Error Report Path",
        opt(&r.runtime_error_report_path),
    );
    kv(
        out,
        "Runtime Error Catalog Path",
        opt(&r.runtime_error_catalog_path),
    );
    kv(
        out,
        "Skill Revision Evidence Path",
        opt(&r.skill_revision_evidence_path),
    );
    kv(out, "Runner Name", opt(&r.runner_name));
    kv(out, "Model Name", opt(&r.model_name));
    kv(out, "Thinking Level", opt(&r.thinking_level));
    kv(
        out,
        "Model Reasoning Effort",
        opt(&r.model_reasoning_effort),
    );
    let _ = writeln!(out, "Timeout Seconds: {}", r.timeout_seconds);
}

fn line(out: &mut String, text: &str) {
    out.push_str(text);
    out.push('\n');
}

fn kv(out: &mut String, label: &str, value: &str) {
    let _ = writeln!(out, "{label}: {value}");
}

fn list<I, S>(out: &mut String, label: &str, items: I)
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut items = items.into_iter().peekable();
    if items.peek().is_none() {
        let _ = writeln!(out, "{label}: none");
        return;
    }
    let _ = writeln!(out, "{label}:");
    for item in items {
        let _ = writeln!(out, "- {}", item.as_ref());
    }
}

/// Absent and empty values both print `none`, as in the reference.
fn opt(value: &Option<String>) -> &str {
    value.as_deref().map(none_if_empty).unwrap_or("none")
}

fn none_if_empty(value: &str) -> &str {
    if value.is_empty() {
        "none"
    } else {
        value
    }
}

fn opt_path(value: &Option<PathBuf>) -> String {
    match value {
        Some(p) if !p.as_os_str().is_empty() => path_text(p),
        _ => "none".to_string(),
    }
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runners::test_support::updater_request;

    const FIXTURE_RUN: &str = "tests/fixtures/reference/traces/happy/millrace-agents/runs/run-521e36da984b4edea877eca48475eceb";

    #[test]
    fn rebuilds_the_reference_updater_prompt_byte_for_byte() {
        let fixture = std::fs::read_to_string(format!(
            "{}/{FIXTURE_RUN}/runner_prompt.request-5bf4f5b072704d4a901f2edb2f1ac4d3.md",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let request = updater_request(Path::new("<WS>"));
        assert_eq!(render(&request), fixture);
    }

    #[test]
    fn rebuilds_a_reference_closure_prompt() {
        use crate::runners::{ClosureFields, LegalOutcome};
        let fixture = std::fs::read_to_string(format!(
            "{}/tests/fixtures/runners/arbiter_closure_prompt.md",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let ma = "/ws/millrace-agents";
        let p = |rel: &str| format!("{ma}/{rel}");
        let run_id = "run-00001111222233334444555566667777";
        let mut r = updater_request(Path::new("/ws"));
        r.request_id = "request-aaaabbbbccccddddeeeeffff00001111".into();
        r.run_id = run_id.into();
        r.mode_id = "default_pi".into();
        r.compiled_plan_id = "plan-default_pi-0123456789ab".into();
        r.node_id = "arbiter".into();
        r.stage_kind_id = "arbiter".into();
        r.stage = "arbiter".into();
        r.plane = "planning".into();
        r.request_kind = "closure_target".into();
        r.running_status_marker = "ARBITER_RUNNING".into();
        r.entrypoint_path = p("entrypoints/planning/arbiter.md").into();
        r.entrypoint_contract_id = None;
        r.work_item = None;
        r.closure = ClosureFields {
            target_path: Some(p("arbiter/targets/spec-1.md")),
            root_spec_id: Some("spec-1".into()),
            root_idea_id: Some("idea-1".into()),
            canonical_root_spec_path: Some(p("arbiter/contracts/root-specs/spec-1.md")),
            canonical_seed_idea_path: Some(p("arbiter/contracts/ideas/idea-1.md")),
            preferred_rubric_path: Some(p("arbiter/rubrics/spec-1.md")),
            preferred_verdict_path: Some(p("arbiter/verdicts/spec-1.json")),
            preferred_report_path: Some(p("runs/r/arbiter_report.md")),
        };
        r.outcomes = vec![
            LegalOutcome::new("ARBITER_COMPLETE", &["success"]),
            LegalOutcome::new("REMEDIATION_NEEDED", &["followup_needed"]),
            LegalOutcome::new("BLOCKED", &["blocked", "recoverable_failure"]),
        ];
        r.required_skill_paths = vec![p("skills/a/SKILL.md").into(), p("skills/b/SKILL.md").into()];
        r.attached_skill_paths = vec![p("skills/extra/SKILL.md").into()];
        r.run_dir = p(&format!("runs/{run_id}")).into();
        r.summary_status_path = p("state/planning_status.md").into();
        r.preferred_troubleshoot_report_path = None;
        r.runtime_error_code = Some("E_STALE".into());
        r.runtime_error_report_path = Some(p("runs/err.md"));
        r.runner_name = Some("pi_rpc".into());
        r.model_name = Some("claude-x".into());
        r.thinking_level = Some("high".into());
        r.timeout_seconds = 0;
        assert_eq!(r.validate(), Ok(()));
        assert_eq!(render(&r), fixture);
    }

    #[test]
    fn empty_lists_and_absent_values_print_none() {
        let mut request = updater_request(Path::new("/ws"));
        request.required_skill_paths.clear();
        request.work_item = None;
        request.preferred_troubleshoot_report_path = None;
        request.attached_skill_paths = vec![PathBuf::from("/ws/a.md"), PathBuf::from("/ws/b.md")];
        let text = render(&request);
        assert!(text.contains("\nRequired Skill Paths: none\n"));
        assert!(text.contains("\nAttached Skill Paths:\n- /ws/a.md\n- /ws/b.md\n"));
        assert!(text.contains("\nActive Work Item: none none\nActive Work Item Path: none\n"));
        assert!(text.contains("\nPreferred Troubleshoot Report Path: none\n"));
        assert!(!text.ends_with('\n'));
    }
}
