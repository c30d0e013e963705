//! The run loop on tokio: `run once` (startup plus one tick) and `run
//! daemon` (ticks until stopped). A stage runs on a blocking thread while the
//! async side watches SIGINT/SIGTERM: the first signal asks for a stop at
//! the next safe point (after the running stage is routed), a second one
//! cancels the running stage (its process group is killed and it runs again
//! on the next start). Either way the snapshot is saved and the lock released.

use super::engine::{Engine, Step};
use super::monitor::Monitor;
use crate::workspace::config::MAX_IDLE_SLEEP_SECONDS;
use crate::workspace::layout::Layout;
use crate::workspace::mailbox;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub mode: Option<String>,
    pub max_ticks: Option<u64>,
    pub once: bool,
    /// Stop as soon as there is no work (instead of waiting for more).
    pub until_idle: bool,
}

#[derive(Debug, Clone)]
pub struct RunSummary {
    pub mode_id: String,
    pub plan_id: String,
    pub ticks: u64,
    pub last_reason: String,
    pub interrupted: bool,
    /// The last stage ended in a runtime failure (`run once` exits 1 then).
    pub failed: bool,
    /// The run stopped at a pause over the environment that needs the
    /// operator (`runner_unavailable`, or `agent_environment` without an
    /// automatic retry): its reason. `run` exits 5 then.
    pub environment_pause: Option<String>,
}

/// Run the engine until done; returns the summary or a one-line error.
pub fn run(layout: Layout, opts: RunOptions, monitor: Monitor) -> Result<RunSummary, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    rt.block_on(run_async(layout, opts, monitor))
}

async fn run_async(
    layout: Layout,
    opts: RunOptions,
    monitor: Monitor,
) -> Result<RunSummary, String> {
    let signals = Arc::new(AtomicU8::new(0));
    let cancel = Arc::new(AtomicBool::new(false));
    {
        let signals = signals.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            loop {
                tokio::select! {
                    _ = int.recv() => {},
                    _ = term.recv() => {},
                }
                if signals.fetch_add(1, Ordering::SeqCst) >= 1 {
                    cancel.store(true, Ordering::SeqCst);
                }
            }
        });
    }
    let runtime_mode = if opts.once { "once" } else { "daemon" };
    let mode = opts.mode.clone();
    let mut engine = tokio::task::spawn_blocking({
        let layout = layout.clone();
        move || Engine::start(layout, mode.as_deref(), monitor, runtime_mode)
    })
    .await
    .map_err(|e| format!("startup failed: {e}"))??;
    let mut summary = RunSummary {
        mode_id: engine.plan.mode_id.clone(),
        plan_id: engine.plan.compiled_plan_id.clone(),
        ticks: 0,
        last_reason: String::new(),
        interrupted: false,
        failed: false,
        environment_pause: None,
    };
    let idle_sleep = Duration::from_secs_f64(
        engine
            .config
            .runtime
            .idle_sleep_seconds
            .clamp(0.01, MAX_IDLE_SLEEP_SECONDS),
    );
    let mut stop_reason = "completed";
    loop {
        if signals.load(Ordering::SeqCst) > 0 {
            summary.interrupted = true;
            stop_reason = "signal";
            engine.stopped_line("signal");
            break;
        }
        let c = cancel.clone();
        let (e, step) = tokio::task::spawn_blocking(move || {
            let r = engine.step(&c);
            (engine, r)
        })
        .await
        .map_err(|e| format!("tick failed: {e}"))?;
        engine = e;
        summary.ticks += 1;
        let step = match step {
            Ok(s) => s,
            Err(err) => {
                let _ = engine.shutdown("error");
                return Err(err);
            }
        };
        match &step {
            Step::Ran { reason, failed } => {
                summary.last_reason = reason.clone();
                summary.failed = *failed;
            }
            Step::Idle(r) => summary.last_reason = r.clone(),
            Step::Paused => {
                summary.last_reason = "paused".into();
                engine.paused_line();
                // `run once`, and `--until-idle` when nothing will lift the
                // pause by itself, stop here (a scheduled automatic retry
                // is waited for: the daemon still expects to do the work).
                if opts.once || opts.until_idle {
                    let reason = if opts.once {
                        engine.environment_pause()
                    } else {
                        engine.environment_pause_for_operator()
                    };
                    if let Some(reason) = reason {
                        summary.environment_pause = Some(reason);
                        if opts.until_idle {
                            stop_reason = "paused";
                            break;
                        }
                    }
                }
            }
            Step::Stopped => {
                summary.last_reason = "stop_requested".into();
                engine.stopped_line("stop_requested");
                stop_reason = "stop_requested";
                break;
            }
            Step::Interrupted => {
                summary.interrupted = true;
                stop_reason = "signal";
                engine.stopped_line("signal");
                break;
            }
            Step::Waiting => summary.last_reason = "waiting".into(),
        }
        if opts.once || opts.max_ticks.is_some_and(|m| summary.ticks >= m) {
            break;
        }
        if opts.until_idle && matches!(step, Step::Idle(_)) {
            stop_reason = "idle";
            break;
        }
        if matches!(step, Step::Idle(_) | Step::Paused) {
            idle_wait(&engine.layout, idle_sleep, &signals).await;
        }
    }
    // A learning stage still running beside the foreground finishes and is
    // applied (a second signal cancels it; it runs again on the next start).
    let c = cancel.clone();
    let (mut engine, settled) = tokio::task::spawn_blocking(move || {
        let r = engine.settle(&c);
        (engine, r)
    })
    .await
    .map_err(|e| format!("tick failed: {e}"))?;
    if let Err(err) = settled {
        let _ = engine.shutdown("error");
        return Err(err);
    }
    engine.shutdown(stop_reason)?;
    Ok(summary)
}

/// Sleep between idle ticks in short slices: wake early on a signal, and on
/// a command in the mailbox (looked at every `MAILBOX_POLL`, so a `stop`
/// reaches an idle daemon within a second whatever `idle_sleep_seconds` is).
async fn idle_wait(layout: &Layout, idle_sleep: Duration, signals: &AtomicU8) {
    const SLICE: Duration = Duration::from_millis(20);
    const MAILBOX_POLL: Duration = Duration::from_millis(250);
    let start = tokio::time::Instant::now();
    let deadline = start + idle_sleep;
    let mut next_poll = start + MAILBOX_POLL;
    while tokio::time::Instant::now() < deadline && signals.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(SLICE.min(idle_sleep)).await;
        if tokio::time::Instant::now() >= next_poll {
            if mailbox::has_pending(layout) {
                return;
            }
            next_poll += MAILBOX_POLL;
        }
    }
}
