//! The run loop on tokio: `run once` (startup plus one tick) and `run
//! daemon` (ticks until stopped). The ticks run back to back on one blocking
//! thread while the async side watches SIGINT/SIGTERM: the first signal asks for a stop at
//! the next safe point (after the running stage is routed), a second one
//! cancels the running stage (its process group is killed and it runs again
//! on the next start); each is acknowledged on stderr at once. Either way the
//! snapshot is saved and the lock released. While a stage runs, the loop
//! writes a `heartbeat` monitor line every `heartbeat_seconds` (reading the
//! engine's `progress` board, never its state).

use super::engine::{Engine, Step};
use super::monitor::Monitor;
use super::progress::{self, Board};
use crate::workspace::config::MAX_IDLE_SLEEP_SECONDS;
use crate::workspace::layout::Layout;
use crate::workspace::mailbox;
use crate::workspace::safe_fs;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub mode: Option<String>,
    pub max_ticks: Option<u64>,
    pub once: bool,
    /// Stop as soon as there is no work (instead of waiting for more).
    pub until_idle: bool,
    /// Seconds between heartbeat lines (`--heartbeat`); `None` takes
    /// `runtime.heartbeat_seconds`; 0 turns them off.
    pub heartbeat: Option<u64>,
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
    /// A second signal cancelled the running stage (`run` exits 130).
    pub cancelled: bool,
    /// How the stages and items this process ran ended.
    pub tally: super::engine::Tally,
    /// Why the loop ended: `completed` (one tick, `--max-ticks`), `idle`,
    /// `stop_requested`, `signal`.
    pub stop_reason: String,
    /// The run stopped at a pause over the environment that needs the
    /// operator (`runner_unavailable`, or `agent_environment` without an
    /// automatic retry): its reason. `run` exits 5 then.
    pub environment_pause: Option<String>,
}

/// Run the engine until done; returns the summary or a one-line error.
pub fn run(layout: Layout, opts: RunOptions, monitor: Monitor) -> Result<RunSummary, super::Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| super::Error::Failed(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(run_async(layout, opts, monitor))
}

async fn run_async(
    layout: Layout,
    opts: RunOptions,
    monitor: Monitor,
) -> Result<RunSummary, super::Error> {
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
                let name = tokio::select! {
                    _ = int.recv() => "Ctrl-C",
                    _ = term.recv() => "SIGTERM",
                };
                // Said at once, on stderr: the monitor may be a file.
                if signals.fetch_add(1, Ordering::SeqCst) >= 1 {
                    cancel.store(true, Ordering::SeqCst);
                    eprintln!("{name} again: cancelling the running stage (its item runs it again on the next start)");
                } else if name == "Ctrl-C" {
                    eprintln!("stopping after the current stage (press Ctrl-C again to cancel it)");
                } else {
                    eprintln!(
                        "SIGTERM: stopping after the current stage (send it again to cancel it)"
                    );
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
    .map_err(|e| super::Error::Failed(format!("startup failed: {e}")))??;
    // This process starts the agents (and startup stopped any a killed
    // daemon left): it may keep directory handles under the epoch rule.
    safe_fs::cache_dir_handles(&engine.layout.root);
    let mut summary = RunSummary {
        mode_id: engine.plan.mode_id.clone(),
        plan_id: engine.plan.compiled_plan_id.clone(),
        ticks: 0,
        last_reason: String::new(),
        interrupted: false,
        failed: false,
        cancelled: false,
        tally: Default::default(),
        stop_reason: String::new(),
        environment_pause: None,
    };
    let board = engine.progress.clone();
    let mut beat = engine.monitor.handle();
    let mut beats: HashMap<String, u64> = HashMap::new();
    let every = opts
        .heartbeat
        .unwrap_or(engine.config.runtime.heartbeat_seconds);
    // The ticks run back to back on one blocking thread (no hand-over
    // between the async side and a thread per tick); this side only reads
    // the board and writes heartbeat lines until the loop ends.
    let mut ticking = tokio::task::spawn_blocking({
        let (signals, cancel) = (signals.clone(), cancel.clone());
        move || {
            let ended = tick_until_done(&mut engine, &opts, &mut summary, &signals, &cancel);
            (engine, summary, ended)
        }
    });
    let (engine, mut summary, ended) = loop {
        tokio::select! {
            done = &mut ticking => break done.map_err(|e| super::Error::Failed(format!("tick failed: {e}")))?,
            _ = tokio::time::sleep(HEARTBEAT_POLL) => heartbeat(&board, &mut beat, every, &mut beats),
        }
    };
    let mut engine = engine;
    let stop_reason = match ended {
        Ok(reason) => reason,
        Err(err) => {
            let _ = engine.shutdown("error");
            return Err(err);
        }
    };
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
        return Err(err.into());
    }
    engine.shutdown(stop_reason)?;
    summary.cancelled = cancel.load(Ordering::SeqCst);
    summary.tally = engine.tally.clone();
    tracing::info!(stop_reason, ticks = summary.ticks, "daemon stopped");
    summary.stop_reason = stop_reason.to_string();
    Ok(summary)
}

/// Tick until the run ends; the reason it ended (`stop_reason`).
fn tick_until_done(
    engine: &mut Engine,
    opts: &RunOptions,
    summary: &mut RunSummary,
    signals: &AtomicU8,
    cancel: &AtomicBool,
) -> Result<&'static str, super::Error> {
    let idle_sleep = Duration::from_secs_f64(
        engine
            .config
            .runtime
            .idle_sleep_seconds
            .clamp(0.01, MAX_IDLE_SLEEP_SECONDS),
    );
    loop {
        if signals.load(Ordering::SeqCst) > 0 {
            summary.interrupted = true;
            engine.stopped_line("signal");
            return Ok("signal");
        }
        let step = engine.step(cancel)?;
        summary.ticks += 1;
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
                            return Ok("paused");
                        }
                    }
                }
            }
            Step::Stopped => {
                summary.last_reason = "stop_requested".into();
                engine.stopped_line("stop_requested");
                return Ok("stop_requested");
            }
            Step::Interrupted => {
                summary.interrupted = true;
                summary.cancelled = true;
                engine.stopped_line("signal");
                return Ok("signal");
            }
            Step::Waiting => summary.last_reason = "waiting".into(),
        }
        if opts.once || opts.max_ticks.is_some_and(|m| summary.ticks >= m) {
            return Ok("completed");
        }
        if opts.until_idle && matches!(step, Step::Idle(_)) {
            return Ok("idle");
        }
        if matches!(step, Step::Idle(_) | Step::Paused) {
            idle_wait(&engine.layout, idle_sleep, signals);
            // No directory handle kept before the sleep is used after it.
            safe_fs::untrusted_ran();
        }
    }
}

/// How often the daemon loop looks at the board while a stage runs.
const HEARTBEAT_POLL: Duration = Duration::from_millis(200);

/// A `heartbeat` line for each stage in flight that has run another
/// `every` seconds since its start (none when `every` is 0).
fn heartbeat(board: &Board, monitor: &mut Monitor, every: u64, beats: &mut HashMap<String, u64>) {
    let stages = board.stages();
    beats.retain(|req, _| stages.iter().any(|s| &s.request_id == req));
    if every == 0 {
        return;
    }
    for s in &stages {
        let n = beats.entry(s.request_id.clone()).or_insert(0);
        if s.started.elapsed() >= Duration::from_secs(every.saturating_mul(*n + 1)) {
            *n = s.started.elapsed().as_secs() / every;
            monitor.line(&progress::heartbeat_line(s));
        }
    }
}

/// Sleep between idle ticks in short slices: wake early on a signal, and on
/// a command in the mailbox (looked at every `MAILBOX_POLL`, so a `stop`
/// reaches an idle daemon within a second whatever `idle_sleep_seconds` is).
fn idle_wait(layout: &Layout, idle_sleep: Duration, signals: &AtomicU8) {
    const SLICE: Duration = Duration::from_millis(20);
    const MAILBOX_POLL: Duration = Duration::from_millis(250);
    let start = Instant::now();
    let deadline = start + idle_sleep;
    let mut next_poll = start + MAILBOX_POLL;
    while Instant::now() < deadline && signals.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(SLICE.min(idle_sleep));
        if Instant::now() >= next_poll {
            if mailbox::has_pending(layout) {
                return;
            }
            next_poll += MAILBOX_POLL;
        }
    }
}
