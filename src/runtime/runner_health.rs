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
//!
//! An agent that started but could not reach or use its model for a reason
//! of the environment (`runners::environment`: not logged in, credentials,
//! network, quota) is the same kind of failure: `observe_environment` turns
//! it into a pause at once, with the pause source `agent_environment`, the
//! agent's own words as the cause, and the time of the automatic retry
//! (`[runners] environment_retry_seconds`, doubling per consecutive
//! environment failure up to `environment_retry_max_seconds`, or the reset
//! time a quota message gave). The record, in the same file, names its
//! source; the snapshot stores only `paused: true` (the reference's model).

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::plan::ir::CompiledPlan;
use crate::runners::environment::EnvironmentFailure;
use crate::runners::preflight::{self, Unavailable};
use crate::runners::{ExitKind, RunnerError, RunnerKind, RunnerOutput, RunnerSettings};
use crate::workspace::layout::Layout;
use crate::workspace::state::RuntimeSnapshot;
use crate::workspace::{atomic, clock, events};

/// The pause source of a daemon that paused itself over a broken runner.
pub const PAUSE_SOURCE: &str = "runner_unavailable";

/// The pause source of a daemon whose agent's environment failed.
pub const ENVIRONMENT_SOURCE: &str = "agent_environment";

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

/// Refuse to run a plan whose runners cannot start (one line, naming each).
pub fn refuse_unavailable(
    plan: &CompiledPlan,
    settings: &RunnerSettings,
    workspace_root: &Path,
) -> Result<(), crate::runtime::Error> {
    let findings = check_plan(plan, settings, workspace_root);
    if findings.is_empty() {
        return Ok(());
    }
    Err(crate::runtime::Error::RunnersUnavailable(findings))
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
    /// `runner_unavailable`, or `agent_environment` for an agent whose
    /// environment failed (then `consecutive` counts those failures).
    pub source: &'static str,
    /// The environment failure class (`agent_network_unreachable`, ...).
    pub class: Option<String>,
    /// When the daemon retries by itself (RFC 3339), if it does.
    pub retry_at: Option<String>,
}

impl StartFailure {
    /// Has the runner failed often enough in a row to pause the daemon?
    pub fn pause(&self) -> bool {
        self.consecutive >= self.limit
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// When to retry after the `attempt`-th consecutive environment failure:
/// the provider's reset time when it gave one, else the backoff; `None`
/// when the automatic retry is off.
pub fn retry_at(
    settings: &RunnerSettings,
    attempt: u32,
    failure: &EnvironmentFailure,
) -> Option<i64> {
    let first = settings.environment_retry_seconds;
    if first == 0 {
        return None;
    }
    let now = now_unix();
    if let Some(at) = failure.retry_at_unix {
        return Some(at.max(now + 1));
    }
    let factor = 1u64 << attempt.saturating_sub(1).min(20);
    let wait = first
        .saturating_mul(factor)
        .min(settings.environment_retry_max_seconds.max(first));
    Some(now + wait as i64)
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
        Err(
            e @ (RunnerError::Settings(_)
            | RunnerError::Script { .. }
            | RunnerError::ScriptUnreadable { .. }
            | RunnerError::UnknownRunner(_)),
        ) => Some(e.to_string()),
        Err(RunnerError::Io { .. }) => None,
    }
}

/// Consecutive start failures of this process's runners.
#[derive(Debug, Default)]
pub struct RunnerHealth {
    consecutive: u32,
    /// Consecutive stages whose agent's environment failed.
    environment: u32,
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
            source: PAUSE_SOURCE,
            class: None,
            retry_at: None,
        })
    }

    /// Look at a stage that ran: `Some` (a pause, at once) when its
    /// agent's environment failed; a stage that got past its environment
    /// resets the count behind the backoff.
    pub fn observe_environment(
        &mut self,
        out: &RunnerOutput,
        runner: &str,
        settings: &RunnerSettings,
    ) -> Option<StartFailure> {
        if out.exit_kind == ExitKind::Interrupted {
            return None;
        }
        let Some(f) = &out.environment else {
            self.environment = 0;
            return None;
        };
        self.environment += 1;
        Some(StartFailure {
            runner: runner.to_string(),
            cause: f.reason.clone(),
            consecutive: self.environment,
            limit: 1,
            source: ENVIRONMENT_SOURCE,
            class: Some(f.class.clone()),
            retry_at: retry_at(settings, self.environment, f).map(|t| clock::format_unix(t, 0)),
        })
    }

    /// The counts of a daemon started while paused over the environment
    /// continue from the pause's record, so the automatic retry keeps
    /// backing off across restarts instead of starting over.
    pub fn continuing(record: Option<&PauseRecord>) -> RunnerHealth {
        let environment = record
            .filter(|r| r.source == ENVIRONMENT_SOURCE)
            .map_or(0, |r| r.consecutive_start_failures);
        RunnerHealth {
            consecutive: 0,
            environment,
        }
    }

    /// Forget the failures (on `resume`).
    pub fn reset(&mut self) {
        self.consecutive = 0;
    }
}

fn default_source() -> String {
    PAUSE_SOURCE.to_string()
}

/// The record behind a `runner_unavailable` or `agent_environment` pause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseRecord {
    /// The pause source (`runner_unavailable` when absent: older records).
    #[serde(default = "default_source")]
    pub source: String,
    pub runner: String,
    /// The cause; for `agent_environment`, the agent's own words.
    pub cause: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_class: Option<String>,
    /// Consecutive failures (start failures, or environment failures).
    pub consecutive_start_failures: u32,
    pub paused_at: String,
    /// When the daemon retries by itself (RFC 3339); none: only `resume`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<String>,
}

impl PauseRecord {
    /// One line for `status` and stderr.
    pub fn reason(&self) -> String {
        match self.source.as_str() {
            ENVIRONMENT_SOURCE => format!(
                "agent {} ({}): {}; {}",
                self.runner,
                self.failure_class.as_deref().unwrap_or("environment"),
                self.cause,
                match &self.retry_at {
                    Some(at) => format!("automatic retry at {at}"),
                    None => "no automatic retry: `millrace resume` after fixing it".into(),
                }
            ),
            _ => format!("runner {}: {}", self.runner, self.cause),
        }
    }

    /// Is the automatic retry due?
    pub fn retry_due(&self) -> bool {
        self.retry_at
            .as_deref()
            .and_then(clock::parse_seconds)
            .is_some_and(|at| at <= now_unix() as f64)
    }
}

/// Pause the runtime over `failure`: the snapshot gets the pause source,
/// the cause is written for `status`, and the event is logged. The caller
/// saves the snapshot.
pub fn pause(
    layout: &Layout,
    snapshot: &mut RuntimeSnapshot,
    failure: &StartFailure,
) -> Result<(), crate::runtime::Error> {
    let record = PauseRecord {
        source: failure.source.to_string(),
        runner: failure.runner.clone(),
        cause: failure.cause.clone(),
        failure_class: failure.class.clone(),
        consecutive_start_failures: failure.consecutive,
        paused_at: clock::now_rfc3339(),
        retry_at: failure.retry_at.clone(),
    };
    let path = layout.path(HEALTH_FILE);
    let mut bytes = serde_json::to_vec_pretty(&record).expect("record serializes");
    bytes.push(b'\n');
    atomic::write_atomic(&path, &bytes)
        .map_err(|e| crate::runtime::Error::io(path.display(), e))?;
    snapshot.paused = true;
    // One self-pause record at a time: the newest cause wins.
    snapshot
        .pause_sources
        .retain(|v| v != PAUSE_SOURCE && v != ENVIRONMENT_SOURCE);
    snapshot.pause_sources.push(json!(failure.source));
    let _ = events::record(
        layout,
        "runtime_paused",
        json!({"source": failure.source, "runner": record.runner, "reason": record.cause,
               "failure_class": record.failure_class, "retry_at": record.retry_at,
               "consecutive_start_failures": record.consecutive_start_failures}),
    );
    Ok(())
}

/// Lift an `agent_environment` pause whose automatic retry is due: the
/// source goes, the record is removed. `Some(record)` when it was lifted.
pub fn lift_due_retry(layout: &Layout, snapshot: &mut RuntimeSnapshot) -> Option<PauseRecord> {
    let record = pause_record(layout, snapshot)?;
    if record.source != ENVIRONMENT_SOURCE || !record.retry_due() {
        return None;
    }
    snapshot.pause_sources.retain(|v| v != ENVIRONMENT_SOURCE);
    snapshot.paused = !snapshot.pause_sources.is_empty();
    clear(layout);
    let _ = events::record(
        layout,
        "runtime_resumed",
        json!({"source": ENVIRONMENT_SOURCE, "reason": "automatic retry",
               "attempt": record.consecutive_start_failures}),
    );
    Some(record)
}

/// Forget the cause of a runner pause (on `resume`).
pub fn clear(layout: &Layout) {
    let _ = std::fs::remove_file(layout.path(HEALTH_FILE));
}

/// The cause of the current runner pause, if the runtime paused itself.
pub fn pause_record(layout: &Layout, snapshot: &RuntimeSnapshot) -> Option<PauseRecord> {
    if !snapshot
        .pause_sources
        .iter()
        .any(|v| v == PAUSE_SOURCE || v == ENVIRONMENT_SOURCE)
    {
        return None;
    }
    use crate::workspace::safe_fs;
    let bytes =
        safe_fs::read_capped(&layout.path(HEALTH_FILE), safe_fs::MAX_DOCUMENT_BYTES).ok()?;
    let record: PauseRecord = serde_json::from_slice(&bytes).ok()?;
    snapshot
        .pause_sources
        .iter()
        .any(|v| v == record.source.as_str())
        .then_some(record)
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
    fn environment_retries_back_off_or_wait_for_the_reset() {
        let mut settings = RunnerSettings {
            environment_retry_seconds: 60,
            environment_retry_max_seconds: 200,
            ..RunnerSettings::default()
        };
        let f = EnvironmentFailure {
            class: "agent_network_unreachable".into(),
            reason: "Connection error.".into(),
            retry_at_unix: None,
        };
        let now = now_unix();
        let wait = |attempt| retry_at(&settings, attempt, &f).unwrap() - now;
        assert!((60..=61).contains(&wait(1)));
        assert!((120..=121).contains(&wait(2)));
        assert!((200..=201).contains(&wait(3)));
        assert!((200..=201).contains(&wait(30)));
        let quota = EnvironmentFailure {
            retry_at_unix: Some(now + 5000),
            ..f.clone()
        };
        assert_eq!(retry_at(&settings, 1, &quota), Some(now + 5000));
        settings.environment_retry_seconds = 0;
        assert_eq!(retry_at(&settings, 1, &quota), None);
    }

    #[test]
    fn a_restarted_daemon_continues_the_backoff_of_its_pause() {
        let record = |source: &str| PauseRecord {
            source: source.into(),
            runner: "codex_cli".into(),
            cause: "offline".into(),
            failure_class: Some("agent_network_unreachable".into()),
            consecutive_start_failures: 3,
            paused_at: "2026-12-01T00:00:00Z".into(),
            retry_at: None,
        };
        let dir = tempfile::tempdir().unwrap();
        let mut out = spawn_failure(dir.path()).unwrap_or_else(|_| unreachable!());
        out.exit_kind = ExitKind::Completed;
        out.environment = Some(crate::runners::environment::EnvironmentFailure {
            class: "agent_network_unreachable".into(),
            reason: "offline".into(),
            retry_at_unix: None,
        });
        let settings = RunnerSettings::default();
        let mut carried = RunnerHealth::continuing(Some(&record(ENVIRONMENT_SOURCE)));
        let next = carried
            .observe_environment(&out, "codex_cli", &settings)
            .unwrap();
        assert_eq!(next.consecutive, 4, "the fourth failure in a row");
        let mut fresh = RunnerHealth::continuing(Some(&record(PAUSE_SOURCE)));
        assert_eq!(
            fresh
                .observe_environment(&out, "codex_cli", &settings)
                .unwrap()
                .consecutive,
            1
        );
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
        // A script file that cannot be used is a start failure too, named as before.
        let script = Err(RunnerError::Script {
            path: "/w/s.json".into(),
            error: crate::runners::ScriptError::NotAnObject,
        });
        let seen = health.observe(&script, "script", 2).unwrap();
        assert_eq!(
            seen.cause,
            "script file /w/s.json: the script must be a JSON object"
        );
        let unreadable = Err(RunnerError::ScriptUnreadable {
            path: "/w/s.json".into(),
            error: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
        assert_eq!(
            health
                .observe(&unreadable, "script", 2)
                .unwrap()
                .consecutive,
            2
        );
    }
}
