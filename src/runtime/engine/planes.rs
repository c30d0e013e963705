//! Planes side by side: when the compiled concurrency policy lets the
//! learning plane run beside a foreground plane (planning or execution),
//! a learning stage's runner runs on its own thread while the engine
//! dispatches foreground stages. This module owns that in-flight stage:
//! which planes may start beside which (the policy), starting the learning
//! stage, and collecting its completion. Its result is applied by the
//! engine like any other (`apply`), one result at a time: the engine stays
//! the single writer of state. Both active runs are in the snapshot before
//! their runners start, so a crash with both in flight is recovered as two
//! interrupted stages (`recover`).

use super::dispatch::{Begun, Dispatch};
use super::{ActiveRun, Engine, Step};
use crate::plan::ir::{CompiledGraph, CompiledNode, CompiledPlan};
use crate::runners::{self, Cancel, RunnerError, RunnerOutput, StageRequest};
use crate::runtime::Error;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The plane that may run beside the foreground.
pub(super) const LEARNING: &str = "learning";
/// The foreground planes, in claim order.
pub(super) const FOREGROUND: [&str; 2] = ["planning", "execution"];

/// How long one tick waits for the in-flight stage when nothing else runs,
/// before the engine looks at its mailbox again.
const WAIT_SLICE: Duration = Duration::from_millis(250);

/// A learning stage whose runner runs on its own thread.
pub(super) struct InFlight {
    run: ActiveRun,
    graph: CompiledGraph,
    node: CompiledNode,
    request: StageRequest,
    cancel: Arc<AtomicBool>,
    handle: JoinHandle<Result<RunnerOutput, RunnerError>>,
}

/// Whether `candidate` may start while `active` planes run, as the
/// compiled policy says: never beside itself; with no policy, only alone;
/// never beside a plane it is exclusive with, and only beside planes it is
/// declared concurrent with.
pub(super) fn may_start(plan: &CompiledPlan, active: &[&str], candidate: &str) -> bool {
    if active.contains(&candidate) {
        return false;
    }
    if active.is_empty() {
        return true;
    }
    let Some(policy) = &plan.concurrency_policy else {
        return false;
    };
    let pair_in = |groups: &[[String; 2]], a: &str, b: &str| {
        groups
            .iter()
            .any(|[x, y]| (x == a && y == b) || (x == b && y == a))
    };
    active.iter().all(|other| {
        !pair_in(&policy.mutually_exclusive_planes, candidate, other)
            && pair_in(&policy.may_run_concurrently, candidate, other)
    })
}

/// Whether the plan runs the learning plane beside the foreground at all
/// (the reference's `scheduler_mode`: `plane-concurrent` with a policy).
pub(super) fn plane_concurrent(plan: &CompiledPlan) -> bool {
    plan.concurrency_policy.is_some()
        && plan.graph(LEARNING).is_some()
        && FOREGROUND
            .iter()
            .any(|f| plan.graph(f).is_some() && may_start(plan, &[f], LEARNING))
}

impl Engine {
    /// Whether a learning stage's runner is running on its own thread.
    pub(super) fn stage_in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// The concurrent tick: apply a finished learning stage, start the
    /// learning plane beside the foreground when the policy allows, run one
    /// foreground stage, or wait a slice for the learning stage.
    pub(super) fn step_concurrent(&mut self, cancel: &AtomicBool) -> Result<Step, Error> {
        if let Some(step) = self.collect(false, cancel)? {
            return Ok(step);
        }
        let foreground = match self.active_runs().into_iter().find(|r| r.plane != LEARNING) {
            Some(r) => Some(r),
            None => self.claim_in(&FOREGROUND)?,
        };
        let foreground = match foreground {
            Some(r) => Some(r),
            None => self.closure_run()?,
        };
        if self.in_flight.is_none() {
            let active: Vec<&str> = foreground.iter().map(|r| r.plane.as_str()).collect();
            if may_start(&self.plan, &active, LEARNING) {
                let learning = match self.active_runs().into_iter().find(|r| r.plane == LEARNING) {
                    Some(r) => Some(r),
                    None => self.claim_in(&[LEARNING])?,
                };
                if let Some(run) = learning {
                    if let Some(step) = self.start_in_flight(run)? {
                        return Ok(step);
                    }
                }
            }
        }
        if let Some(run) = foreground {
            return self.run_stage(run, cancel);
        }
        if self.in_flight.is_some() {
            let until = Instant::now() + WAIT_SLICE;
            while Instant::now() < until && !self.in_flight_done() && !cancel.load(Ordering::SeqCst)
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            return Ok(self.collect(false, cancel)?.unwrap_or(Step::Waiting));
        }
        self.idle_step()
    }

    fn in_flight_done(&self) -> bool {
        self.in_flight
            .as_ref()
            .is_some_and(|f| f.handle.is_finished())
    }

    /// Begin the learning stage `run` stands at and start its runner on its
    /// own thread. A stage decided without a runner is applied at once (its
    /// step is returned).
    fn start_in_flight(&mut self, mut run: ActiveRun) -> Result<Option<Step>, Error> {
        let plan = Arc::clone(&self.plan);
        let (graph, node) = self.graph_and_node(&plan, &run)?;
        let request = match self.begin(&mut run, graph, node) {
            Begun::Decided(d) => return self.apply_dispatched(run, graph, node, *d).map(Some),
            Begun::Runner(r) => *r,
        };
        let cancel = Arc::new(AtomicBool::new(false));
        let handle = {
            let (request, settings, cancel) =
                (request.clone(), self.config.runners.clone(), cancel.clone());
            std::thread::spawn(move || {
                runners::run_with_cancel(&request, &settings, Cancel(Some(&cancel)))
            })
        };
        self.in_flight = Some(InFlight {
            run,
            graph: graph.clone(),
            node: node.clone(),
            request,
            cancel,
            handle,
        });
        Ok(None)
    }

    /// Apply the in-flight stage's result if its runner returned (or wait
    /// for it when `wait`; a set `cancel` cancels it). `None` when nothing
    /// was collected.
    pub(super) fn collect(
        &mut self,
        wait: bool,
        cancel: &AtomicBool,
    ) -> Result<Option<Step>, Error> {
        if wait {
            while !self.in_flight_done() && self.in_flight.is_some() {
                if cancel.load(Ordering::SeqCst) {
                    if let Some(f) = &self.in_flight {
                        f.cancel.store(true, Ordering::SeqCst);
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        if !self.in_flight_done() {
            return Ok(None);
        }
        let Some(f) = self.in_flight.take() else {
            return Ok(None);
        };
        let InFlight {
            mut run,
            graph,
            node,
            request,
            handle,
            ..
        } = f;
        let result = handle
            .join()
            .unwrap_or_else(|_| Err(RunnerError::Settings("the runner thread panicked".into())));
        match self.conclude(&mut run, &node, request, result) {
            Dispatch::Interrupted => Ok(Some(Step::Interrupted)),
            Dispatch::Unstarted(failure) => self.put_back_unstarted(run, &failure).map(Some),
            Dispatch::Done(stage) => self.apply_dispatched(run, &graph, &node, *stage).map(Some),
        }
    }

    /// Before the engine stops: let the in-flight stage finish and apply
    /// it, or cancel it when `cancel` is set (it stays active and runs
    /// again on the next start). The error is boxed, as `step`'s.
    pub fn settle(&mut self, cancel: &AtomicBool) -> Result<(), Box<Error>> {
        self.collect(true, cancel).map(|_| ()).map_err(Box::new)
    }
}
