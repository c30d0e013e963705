//! Running an agent process: spawned as the leader of its own process group
//! (so a timeout can kill everything it started, grandchildren included),
//! with stdio connected to files or pipes chosen by the caller, and waited
//! for with a deadline and an optional cancel flag.
//!
//! Waiting costs no polling latency: a helper thread blocks in `wait` and
//! hands the status over a channel; the caller sleeps on the channel until
//! the status, the deadline or a cancel check (every 100 ms) comes first.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::Cancel;

/// Exit code the runtime records for a timeout (as `timeout(1)` does).
pub const TIMEOUT_EXIT_CODE: i32 = 124;
/// Exit code recorded when the binary does not exist.
pub const NOT_FOUND_EXIT_CODE: i32 = 127;
/// Exit code recorded for a cancelled run (128 + SIGINT).
pub const INTERRUPTED_EXIT_CODE: i32 = 130;

/// What to start.
pub struct Spawn<'a> {
    pub argv: &'a [String],
    pub cwd: &'a Path,
    /// Added to the inherited environment.
    pub env: &'a BTreeMap<String, String>,
    pub stdin: Stdio,
    pub stdout: Stdio,
    pub stderr: Stdio,
}

/// Why a process could not be started.
#[derive(Debug)]
pub enum SpawnError {
    /// The program (or the working directory) does not exist.
    NotFound,
    Other(io::Error),
}

/// How a waited-for process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Exit status code; a signal death is `-signal`, as Python reports it.
    Exited(i32),
    /// The deadline passed; the process group was killed.
    TimedOut,
    /// The cancel flag was set; the process group was killed.
    Interrupted,
}

/// Where to note each agent process this process starts (`<pid> <start
/// time>`), so that a later process can stop an agent whose daemon was
/// killed. Set by the interpreter; `None` records nothing.
static AGENT_RECORD: std::sync::Mutex<Option<std::path::PathBuf>> = std::sync::Mutex::new(None);

pub fn record_agents_in(path: Option<std::path::PathBuf>) {
    if let Ok(mut slot) = AGENT_RECORD.lock() {
        *slot = path;
    }
}

/// A process's start time in clock ticks since boot (field 22 of
/// `/proc/<pid>/stat`), which tells a process from a later one that reused its pid.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces; fields resume after its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

fn note_agent(pid: u32) {
    let Ok(slot) = AGENT_RECORD.lock() else {
        return;
    };
    // Appended: a learning agent may run beside a foreground one.
    if let (Some(path), Some(start)) = (slot.as_ref(), start_time(pid)) {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = f.write_all(format!("{pid} {start}\n").as_bytes());
        }
    }
}

/// Kill the process groups of the agents noted in `path` by a previous
/// process (one `pid start-time` line each), those that still run as that
/// very process; remove the note. Returns the pids that were killed.
pub fn kill_recorded_agents(path: &Path) -> Vec<u32> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let _ = std::fs::remove_file(path);
    text.lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let pid: u32 = parts.next()?.parse().ok()?;
            let start: u64 = parts.next()?.parse().ok()?;
            (start_time(pid) == Some(start)).then(|| {
                kill_group(pid);
                pid
            })
        })
        .collect()
}

/// Start the process in a new process group.
pub fn spawn(spec: Spawn<'_>) -> Result<Child, SpawnError> {
    let (program, args) = spec
        .argv
        .split_first()
        .ok_or_else(|| SpawnError::Other(io::Error::other("empty command")))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .current_dir(spec.cwd)
        .envs(spec.env)
        .stdin(spec.stdin)
        .stdout(spec.stdout)
        .stderr(spec.stderr)
        .process_group(0);
    let child = cmd.spawn().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => SpawnError::NotFound,
        _ => SpawnError::Other(e),
    })?;
    note_agent(child.id());
    Ok(child)
}

/// The numeric exit code of a status (`-signal` for a signal death).
pub fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .or_else(|| status.signal().map(|s| -s))
        .unwrap_or(-1)
}

/// Send `signal` to every process in the group led by `pid`.
pub fn signal_group(pid: u32, signal: libc::c_int) {
    if pid == 0 || pid > i32::MAX as u32 {
        return;
    }
    // SAFETY: kill(2) has no memory-safety preconditions; a negative pid
    // addresses the process group we created with `process_group(0)`.
    unsafe {
        libc::kill(-(pid as libc::pid_t), signal);
    }
}

/// Kill the whole process group led by `pid`.
pub fn kill_group(pid: u32) {
    signal_group(pid, libc::SIGKILL);
}

/// Wait for `child` until it exits, `timeout` passes, or `cancel` is set.
/// On timeout or cancel the process group is killed and the child reaped.
pub fn wait(child: Child, timeout: Duration, cancel: Cancel<'_>) -> Ended {
    let pid = child.id();
    let (tx, rx) = mpsc::channel::<io::Result<ExitStatus>>();
    let mut child = child;
    let waiter = std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let deadline = Instant::now() + timeout;
    let tick = Duration::from_millis(100);
    let ended = loop {
        let now = Instant::now();
        if now >= deadline {
            break None;
        }
        if cancel.is_set() {
            break Some(Ended::Interrupted);
        }
        let slice = if cancel.0.is_some() {
            tick.min(deadline - now)
        } else {
            deadline - now
        };
        match rx.recv_timeout(slice) {
            Ok(status) => {
                let _ = waiter.join();
                return Ended::Exited(status.map(exit_code).unwrap_or(-1));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = waiter.join();
                return Ended::Exited(-1);
            }
        }
    };
    // The leader has not been reaped yet (its status is unread), so its pid
    // still names our process group.
    kill_group(pid);
    let _ = rx.recv();
    let _ = waiter.join();
    ended.unwrap_or(Ended::TimedOut)
}

/// Poll `child` for up to `limit`; `Some(status)` when it exited.
pub fn wait_briefly(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => {}
            Err(_) => return None,
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), script.into()]
    }

    fn start(argv: &[String]) -> Child {
        spawn(Spawn {
            argv,
            cwd: Path::new("/"),
            env: &BTreeMap::new(),
            stdin: Stdio::null(),
            stdout: Stdio::null(),
            stderr: Stdio::null(),
        })
        .unwrap()
    }

    #[test]
    fn exit_codes() {
        let child = start(&sh("exit 3"));
        assert_eq!(
            wait(child, Duration::from_secs(30), Cancel::none()),
            Ended::Exited(3)
        );
        let child = start(&sh("kill -TERM $$"));
        assert_eq!(
            wait(child, Duration::from_secs(30), Cancel::none()),
            Ended::Exited(-15)
        );
    }

    #[test]
    fn not_found() {
        let argv = vec!["/nonexistent/agent-binary".to_string()];
        let err = spawn(Spawn {
            argv: &argv,
            cwd: Path::new("/"),
            env: &BTreeMap::new(),
            stdin: Stdio::null(),
            stdout: Stdio::null(),
            stderr: Stdio::null(),
        })
        .unwrap_err();
        assert!(matches!(err, SpawnError::NotFound));
    }

    #[test]
    fn timeout_and_cancel() {
        let child = start(&sh("sleep 30"));
        assert_eq!(
            wait(child, Duration::from_millis(200), Cancel::none()),
            Ended::TimedOut
        );
        let flag = std::sync::atomic::AtomicBool::new(true);
        let child = start(&sh("sleep 30"));
        assert_eq!(
            wait(child, Duration::from_secs(30), Cancel(Some(&flag))),
            Ended::Interrupted
        );
    }
}
