//! The runtime layer's error: why the interpreter or a control command could
//! not do its job. Workspace and plan failures pass through unchanged (their
//! data intact); what the runtime itself refuses is named here. The command
//! line maps it to an exit code (`cli::error`).

use std::fmt;

use crate::plan;
use crate::runners;
use crate::workspace;

#[derive(Debug)]
pub enum Error {
    /// A workspace failure (uninitialized, lock held, I/O...).
    Workspace(workspace::Error),
    /// The plan could not be compiled or loaded.
    Plan(plan::Error),
    /// A runner the plan uses cannot start.
    Runners(runners::Error),
    /// The plan's runners that cannot start an agent (`run` refuses to
    /// begin; `config reload` keeps the old plan).
    RunnersUnavailable(Vec<super::runner_health::RunnerFinding>),
    /// The request does not apply to the current state (e.g. `retry-active`
    /// with nothing active, or an ambiguous plane).
    Refused(String),
    /// A running daemon owns the workspace and the operation needs it.
    DaemonOwns(String),
    /// Reading or writing a runtime file failed; `what` names the file
    /// (usually relative to `millrace-agents/`) or the step.
    Io {
        what: String,
        source: std::io::Error,
    },
    /// The state names a node the compiled plan does not have.
    NodeNotInPlan { node: String },
    /// A node the loop does not have (router, simulator).
    NodeNotInLoop { node: String, loop_id: String },
    /// The loop has no route for this outcome of the node.
    NoRoute {
        loop_id: String,
        node: String,
        outcome: String,
    },
    /// The mode compiles no graph for this plane.
    NoPlane { mode: String, plane: String },
    /// Part of the plan the engine needs is absent (`route target`,
    /// `terminal`, `entry node`, `completion target`).
    PlanLacks(&'static str),
    /// An outcome, with its result class, the node may not return.
    IllegalResult {
        node: String,
        outcome: String,
        class: String,
    },
    /// A learning request whose `Target-Stage` the learning loop does not have.
    UnknownTargetStage { target: String, loop_id: String },
    /// A mailbox command this runtime does not know.
    UnknownCommand { command: String },
    /// A mailbox command's payload that cannot be used (what is wrong with it).
    Payload(String),
    /// Any other runtime failure, described in words.
    Failed(String),
}

impl Error {
    /// An I/O failure on the file or step `what`.
    pub fn io(what: impl std::fmt::Display, source: std::io::Error) -> Error {
        Error::Io {
            what: what.to_string(),
            source,
        }
    }

    /// Another process holds what this operation needs.
    pub fn is_busy(&self) -> bool {
        match self {
            Error::Workspace(e) => e.is_busy(),
            Error::DaemonOwns(_) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Workspace(e) => write!(f, "{e}"),
            Error::Plan(e) => write!(f, "{e}"),
            Error::Runners(e) => write!(f, "{e}"),
            Error::RunnersUnavailable(findings) => {
                let all: Vec<String> = findings.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "cannot run: {}; fix millrace.toml, then `millrace config validate`",
                    all.join("; ")
                )
            }
            Error::Refused(m) | Error::DaemonOwns(m) | Error::Failed(m) | Error::Payload(m) => {
                f.write_str(m)
            }
            Error::Io { what, source } => write!(f, "{what}: {source}"),
            Error::NodeNotInPlan { node } => write!(f, "node {node} is not in the plan"),
            Error::NodeNotInLoop { node, loop_id } => {
                write!(f, "node {node} is not in loop {loop_id}")
            }
            Error::NoRoute {
                loop_id,
                node,
                outcome,
            } => write!(
                f,
                "loop {loop_id} has no route for {node} {outcome} (the plan is inconsistent)"
            ),
            Error::NoPlane { mode, plane } => write!(f, "mode {mode} has no {plane} plane"),
            Error::PlanLacks(what) => write!(f, "{what} missing from plan"),
            Error::IllegalResult {
                node,
                outcome,
                class,
            } => write!(f, "{outcome} / {class} is not a legal result of {node}"),
            Error::UnknownCommand { command } => write!(f, "unknown command {command}"),
            Error::UnknownTargetStage { target, loop_id } => write!(
                f,
                "target stage {target} is not a stage of the learning loop {loop_id}"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Workspace(e) => Some(e),
            Error::Plan(e) => Some(e),
            Error::Runners(e) => Some(e),
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<workspace::Error> for Error {
    fn from(e: workspace::Error) -> Self {
        Error::Workspace(e)
    }
}

impl From<plan::Error> for Error {
    fn from(e: plan::Error) -> Self {
        Error::Plan(e)
    }
}

/// The engine's tick returns its error boxed (it crosses a thread).
impl From<Box<Error>> for Error {
    fn from(e: Box<Error>) -> Self {
        *e
    }
}

impl From<runners::Error> for Error {
    fn from(e: runners::Error) -> Self {
        Error::Runners(e)
    }
}

/// The daemon's join failure and the startup's failures still return a
/// message; it becomes `Failed` (kind `failed`).
impl From<String> for Error {
    fn from(e: String) -> Self {
        Error::Failed(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_gaps_name_what_is_missing() {
        assert_eq!(
            Error::NodeNotInPlan { node: "n".into() }.to_string(),
            "node n is not in the plan"
        );
        assert_eq!(
            Error::PlanLacks("route target").to_string(),
            "route target missing from plan"
        );
        assert_eq!(
            Error::NoRoute {
                loop_id: "l".into(),
                node: "n".into(),
                outcome: "DONE".into()
            }
            .to_string(),
            "loop l has no route for n DONE (the plan is inconsistent)"
        );
        assert_eq!(
            Error::IllegalResult {
                node: "checker".into(),
                outcome: "DONE".into(),
                class: "x".into()
            }
            .to_string(),
            "DONE / x is not a legal result of checker"
        );
    }

    #[test]
    fn io_names_the_file_and_keeps_the_source() {
        let e = Error::io(
            "state/runtime_snapshot.json",
            std::io::Error::other("disk full"),
        );
        assert_eq!(e.to_string(), "state/runtime_snapshot.json: disk full");
        assert!(std::error::Error::source(&e).is_some());
        assert!(!e.is_busy());
    }

    #[test]
    fn busy_comes_from_the_workspace_lock() {
        let busy = Error::from(workspace::Error::StateLockBusy {
            path: "state.lock".into(),
        });
        assert!(busy.is_busy());
        assert!(!Error::Refused("no active run".into()).is_busy());
    }
}
