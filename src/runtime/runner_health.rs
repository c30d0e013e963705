//! Runner health: a runner that cannot start an agent is the environment's
//! fault, never the work item's.
//!
//! Before any work is claimed (`run once|daemon`, a config reload),
//! `refuse_unavailable` checks every runner the plan uses with
//! `runners::preflight`; `check_plan` gives the same findings to `config
//! validate` and `doctor`. While running, `RunnerHealth::observe` tells a
//! start failure (binary missing or not executable, empty argv, missing
//! script file) from a stage that ran; the engine then puts the item back
//! unchanged, and after `runners.start_failures_before_pause` consecutive
//! start failures the daemon pauses itself with the pause source
//! `runner_unavailable`. The cause is kept in `state/runner_health.json`
//! for `status`; `resume` clears it and dispatching tries again.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::plan::ir::CompiledPlan;
use crate::runners::preflight::{self, Unavailable};
use crate::runners::{ExitKind, RunnerError, RunnerKind, RunnerOutput, RunnerSettings};
use crate::workspace::layout::Layout;
use crate::workspace::state::RuntimeSnapshot;
use crate::workspace::{atomic, clock, events};

/// The pause source of a daemon that paused itself over a broken runner.
pub const PAUSE_SOURCE: &str = "runner_unavailable";

/// Where the cause of the pause is kept, relative to `millrace-agents/`.
pub const HEALTH_FILE: &str = "state/runner_health.json";

/// A runner the plan uses that cannot start, with the stages that use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerFinding {
    pub runner: String,
    /// `plane/node` of every stage bound to this runner.
    pub stages: Vec<String>,
    pub problem: Unavailable,
}

impl fmt::Display for RunnerFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "runner `{}` (used by {}): {}",
            self.runner,
            self.stages.join(", "),
            self.problem
        )
    }
}

/// Every runner of `plan` that could not start an agent.
pub fn check_plan(
    plan: &CompiledPlan,
    settings: &RunnerSettings,
    workspace_root: &Path,
) -> Vec<RunnerFinding> {
    let mut uses: Vec<(String, Vec<String>)> = Vec::new();
    for plane in plan.planes() {
        let Some(graph) = plan.graph(plane) else {
            continue;
        };
        for node in &graph.nodes {
            let stage = format!("{plane}/{}", node.node_id);
            match uses.iter_mut().find(|(r, _)| *r == node.runner_name) {
                Some((_, stages)) => stages.push(stage),
                None => uses.push((node.runner_name.clone(), vec![stage])),
            }
        }
    }
    uses.into_iter()
        .filter_map(|(runner, stages)| {
            // Unknown runner names never pass the compiler.
            let kind = RunnerKind::from_name(&runner).ok()?;
            let problem = preflight::check(kind, settings, workspace_root).err()?;
            Some(RunnerFinding {
                runner,
                stages,
                problem,
            })
        })
        .collect()
}

/// One line refusing to run a plan whose runners cannot start.
pub fn refuse_unavailable(
    plan: &CompiledPlan,
    settings: &RunnerSettings,
    workspace_root: &Path,
) -> Result<(), String> {
    let findings = check_plan(plan, settings, workspace_root);
    if findings.is_empty() {
        return Ok(());
    }
    let all: Vec<String> = findings.iter().map(ToString::to_string).collect();
    Err(format!(
        "cannot run: {}; fix millrace.toml, then `millrace config validate`",
        all.join("; ")
    ))
}

/// A stage whose agent could not be started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartFailure {
    pub runner: String,
    /// One line, e.g. `runner binary not found: claude-typo`.
    pub cause: String,
    /// Consecutive start failures, this one included.
    pub consecutive: u32,
    pub limit: u32,
}

impl StartFailure {
    /// Has the runner failed often enough in a row to pause the daemon?
    pub fn pause(&self) -> bool {
        self.consecutive >= self.limit
    }
}

/// Why a runner result is a start failure, if it is one.
fn start_failure_cause(result: &Result<RunnerOutput, RunnerError>) -> Option<String> {
    match result {
        Ok(out) if out.exit_kind == ExitKind::SpawnFailed => {
            let program = out.command.first().map(String::as_str).unwrap_or("");
            Some(match out.failure_class.as_deref() {
                Some("runner_binary_not_found") => format!("runner binary not found: {program}"),
                _ => format!(
                    "runner could not start {program}: {}",
                    out.notes
                        .first()
                        .map(String::as_str)
                        .unwrap_or("unknown error")
                ),
            })
        }
        Ok(_) => None,
        Err(e @ (RunnerError::Settings(_) | RunnerError::UnknownRunner(_))) => Some(e.to_string()),
        Err(RunnerError::Io { .. }) => None,
    }
}

/// Consecutive start failures of this process's runners.
#[derive(Debug, Default)]
pub struct RunnerHealth {
    consecutive: u32,
}

impl RunnerHealth {
    /// Look at one runner result: `Some` when the agent could not start
    /// (and the count goes up), `None` when it ran (and the count resets).
    pub fn observe(
        &mut self,
        result: &Result<RunnerOutput, RunnerError>,
        runner: &str,
        limit: u32,
    ) -> Option<StartFailure> {
        let Some(cause) = start_failure_cause(result) else {
            self.consecutive = 0;
            return None;
        };
        self.consecutive += 1;
        Some(StartFailure {
            runner: runner.to_string(),
            cause,
            consecutive: self.consecutive,
            limit: limit.max(1),
        })
    }

    /// Forget the failures (on `resume`).
    pub fn reset(&mut self) {
        self.consecutive = 0;
    }
}

/// The record behind a `runner_unavailable` pause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseRecord {
    pub runner: String,
    pub cause: String,
    pub consecutive_start_failures: u32,
    pub paused_at: String,
}

/// Pause the runtime over `failure`: the snapshot gets the pause source,
/// the cause is written for `status`, and the event is logged. The caller
/// saves the snapshot.
pub fn pause(
    layout: &Layout,
    snapshot: &mut RuntimeSnapshot,
    failure: &StartFailure,
) -> Result<(), String> {
    let record = PauseRecord {
        runner: failure.runner.clone(),
        cause: failure.cause.clone(),
        consecutive_start_failures: failure.consecutive,
        paused_at: clock::now_rfc3339(),
    };
    let path = layout.path(HEALTH_FILE);
    let mut bytes = serde_json::to_vec_pretty(&record).expect("record serializes");
    bytes.push(b'\n');
    atomic::write_atomic(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    snapshot.paused = true;
    if !snapshot.pause_sources.iter().any(|v| v == PAUSE_SOURCE) {
        snapshot.pause_sources.push(json!(PAUSE_SOURCE));
    }
    let _ = events::record(
        layout,
        "runtime_paused",
        json!({"source": PAUSE_SOURCE, "runner": record.runner, "reason": record.cause,
               "consecutive_start_failures": record.consecutive_start_failures}),
    );
    Ok(())
}

/// Forget the cause of a runner pause (on `resume`).
pub fn clear(layout: &Layout) {
    let _ = std::fs::remove_file(layout.path(HEALTH_FILE));
}

/// The cause of the current runner pause, if the runtime paused itself.
pub fn pause_record(layout: &Layout, snapshot: &RuntimeSnapshot) -> Option<PauseRecord> {
    if !snapshot.pause_sources.iter().any(|v| v == PAUSE_SOURCE) {
        return None;
    }
    use crate::workspace::safe_fs;
    let bytes =
        safe_fs::read_capped(&layout.path(HEALTH_FILE), safe_fs::MAX_DOCUMENT_BYTES).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runners::test_support::updater_request;

    fn spawn_failure(dir: &Path) -> Result<RunnerOutput, RunnerError> {
        let mut request = updater_request(dir);
        request.runner_name = Some("command".into());
        let mut settings = RunnerSettings::default();
        settings.command.argv = vec!["/nonexistent/claude-typo".into()];
        crate::runners::run(&request, &settings)
    }

    #[test]
    fn start_failures_count_until_a_stage_runs() {
        let dir = tempfile::tempdir().unwrap();
        let failed = spawn_failure(dir.path());
        let mut health = RunnerHealth::default();
        let first = health.observe(&failed, "command", 2).unwrap();
        assert_eq!(
            first.cause,
            "runner binary not found: /nonexistent/claude-typo"
        );
        assert!(!first.pause());
        assert!(health.observe(&failed, "command", 2).unwrap().pause());
        let empty = Err(RunnerError::Settings(
            "runners.command.argv is empty".into(),
        ));
        assert_eq!(health.observe(&empty, "command", 2).unwrap().consecutive, 3);
        // An agent that ran, even badly, resets the count.
        let mut ran = failed.unwrap();
        ran.exit_kind = ExitKind::NonzeroExit;
        assert_eq!(health.observe(&Ok(ran), "command", 2), None);
        assert_eq!(health.observe(&empty, "command", 2).unwrap().consecutive, 1);
        let io = Err(RunnerError::Io {
            path: dir.path().into(),
            error: std::io::Error::other("disk full"),
        });
        assert_eq!(health.observe(&io, "command", 2), None);
    }
}
