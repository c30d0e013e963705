//! Running an agent process: spawned as the leader of its own process group
//! (so a timeout can kill everything it started, grandchildren included),
//! with stdio connected to files or pipes chosen by the caller, and waited
//! for with a deadline and an optional cancel flag.
//!
//! Waiting costs no thread and no polling latency: one `poll` on the
//! child's pidfd (readable when it exits) and its output pipes sleeps
//! until the exit, output, the deadline, a cancel check (every 100 ms) or
//! the moment a `capture::Watch` asked for comes first. Where the kernel
//! gives no pidfd the exit is checked every 10 ms instead.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::capture::{self, Captured, Streams, Watch};
use super::Cancel;
use crate::workspace::safe_fs;

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
/// time> <token>`), so that a later process can stop an agent whose daemon
/// was killed. Set by the interpreter; `None` records nothing.
static AGENT_RECORD: std::sync::Mutex<Option<std::path::PathBuf>> = std::sync::Mutex::new(None);

/// Environment variable carrying the token of the note, set in every agent
/// this process starts: a process is only ever killed from a note when its
/// own environment carries the note's token.
pub const AGENT_TOKEN_ENV: &str = "MILLRACE_AGENT_TOKEN";

/// This process's agent token (one per process).
fn agent_token() -> &'static str {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN.get_or_init(crate::runtime::ids::hex32)
}

pub fn record_agents_in(path: Option<std::path::PathBuf>) {
    if let Ok(mut slot) = AGENT_RECORD.lock() {
        *slot = path;
    }
}

/// A process's start time in clock ticks since boot (field 22 of
/// `/proc/<pid>/stat`), which tells a process from a later one that reused its pid.
/// Read in one `read` into a buffer on the stack: the file is at most about
/// 1.2 KB (52 numeric fields and a command name of at most 64 bytes), and
/// the kernel makes it whole on the first read.
fn start_time(pid: u32) -> Option<u64> {
    use std::io::Read;
    let mut buf = [0u8; 2048];
    let mut f = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    let n = f.read(&mut buf).ok()?;
    stat_start_time(&buf[..n])
}

/// Field 22 of a `/proc/<pid>/stat` text. The command name (field 2) may
/// contain spaces and parentheses; fields resume after its last `)`.
fn stat_start_time(stat: &[u8]) -> Option<u64> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(stat.get(close + 2..)?).ok()?;
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

fn note_agent(pid: u32) {
    let Ok(slot) = AGENT_RECORD.lock() else {
        return;
    };
    // Appended: a learning agent may run beside a foreground one.
    if let (Some(path), Some(start)) = (slot.as_ref(), start_time(pid)) {
        // Appended (a learning agent may run beside a foreground one), and
        // never through a planted link (`safe_fs` refuses one).
        use std::io::Write;
        if let Ok(mut f) = safe_fs::open_append(path) {
            let _ = f.write_all(format!("{pid} {start} {}\n", agent_token()).as_bytes());
        }
    }
}

/// Empty the note when no agent runs any more: it is cut to nothing in
/// place, so a stage creates and removes no file (an empty note names no
/// agent). Anything but a plain file there (a planted link, a FIFO, a file
/// with other hard links) is removed, never followed.
pub fn clear_agent_note(path: &Path) {
    match safe_fs::open_existing_write(path) {
        Ok(f) => {
            let _ = f.set_len(0);
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(_) => {
            let _ = safe_fs::remove_file(path);
        }
    }
}

/// Remove the note (at startup, after its agents were dealt with).
pub fn remove_agent_note(path: &Path) {
    let _ = safe_fs::remove_file(path);
}

/// Why a noted process was not signalled.
fn verify_noted(pid: u32, start: u64, token: &str) -> Result<(), &'static str> {
    if pid <= 1 || pid > i32::MAX as u32 || pid == std::process::id() {
        return Err("the pid cannot be an agent");
    }
    if start_time(pid) != Some(start) {
        return Err("no process with that pid and start time");
    }
    // SAFETY: getpgid has no memory-safety preconditions.
    let pgid = unsafe { libc::getpgid(pid as libc::pid_t) };
    if pgid != pid as libc::pid_t {
        return Err("the process does not lead its own process group");
    }
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    let wanted = format!("{AGENT_TOKEN_ENV}={token}");
    if token.is_empty() || !environ.split(|&b| b == 0).any(|v| v == wanted.as_bytes()) {
        return Err("the process is not an agent started by millrace");
    }
    Ok(())
}

/// What `kill_recorded_agents` did with one noted agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotedAgent {
    /// The noted agent was still running; its process group was killed.
    Killed(u32),
    /// The note named a process that is not that agent (stale or planted);
    /// nothing was signalled.
    Refused { pid: Option<u32>, reason: String },
}

/// Kill the process groups of the agents noted in `path` by a previous
/// process (one `<pid> <start time> <token>` line each), each only if that
/// very process still runs: same start time, leader of its own process
/// group, carrying the note's token in its environment. The note is
/// removed. Empty when there was no note.
pub fn kill_recorded_agents(path: &Path) -> Vec<NotedAgent> {
    let read = safe_fs::read_to_string_capped(path, 64 * 1024);
    if matches!(&read, Err(e) if e.kind() == io::ErrorKind::NotFound) {
        return Vec::new();
    }
    remove_agent_note(path);
    let refused = |pid, reason: &str| NotedAgent::Refused {
        pid,
        reason: reason.to_string(),
    };
    let text = match read {
        Ok(t) => t,
        Err(e) => return vec![refused(None, &e.to_string())],
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut parts = line.split_whitespace();
            let (Some(pid), Some(start)) = (
                parts.next().and_then(|p| p.parse::<u32>().ok()),
                parts.next().and_then(|s| s.parse::<u64>().ok()),
            ) else {
                return refused(None, "a line is not `<pid> <start time> <token>`");
            };
            match verify_noted(pid, start, parts.next().unwrap_or("")) {
                Ok(()) => {
                    kill_group(pid);
                    NotedAgent::Killed(pid)
                }
                Err(reason) => refused(Some(pid), reason),
            }
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
        .env(AGENT_TOKEN_ENV, agent_token())
        .process_group(0);
    let child = safe_fs::spawn_untrusted(&mut cmd).map_err(|e| match e.kind() {
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
    wait_capturing(child, Streams::new(Vec::new(), 0), timeout, cancel, &mut ()).0
}

/// A pidfd for `pid` (readable once the process exits), where the kernel
/// has them.
#[cfg(target_os = "linux")]
fn pidfd(pid: u32) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes two integers and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    // SAFETY: a non-negative result is a fresh fd owned by nobody else.
    (fd >= 0).then(|| unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(not(target_os = "linux"))]
fn pidfd(_: u32) -> Option<std::os::fd::OwnedFd> {
    None
}

/// Has the child `pid` exited? Checked without reaping it, so its pid
/// still names its process group. A child that is not ours to wait for any
/// more counts as exited.
fn exited_unreaped(pid: u32) -> bool {
    safe_fs::peek_child(pid).is_none_or(|exited| exited)
}

/// How often the exit is checked where the kernel gives no pidfd.
const EXIT_POLL: Duration = Duration::from_millis(10);

/// How often a cancel flag is looked at.
const CANCEL_TICK: Duration = Duration::from_millis(100);

/// Milliseconds for `poll` from `now` to `until`, rounded up (at least 1).
fn poll_ms(now: Instant, until: Instant) -> i32 {
    let micros = until.saturating_duration_since(now).as_micros();
    micros.div_ceil(1000).clamp(1, i32::MAX as u128) as i32
}

/// `wait`, copying the child's output `streams` meanwhile on this thread
/// and showing what is kept to `watch` (one `poll` on the pipes and the
/// child's pidfd: no helper thread, no hand-over latency). The agent is
/// stopped as on a cancel (`Ended::Interrupted`) when `watch` asks. After
/// the exit, the streams get `capture::DRAIN_GRACE` to reach their end (a
/// process that left the group may hold them open), then the files are
/// closed, with a truncation note where output was discarded. Returns how
/// it ended and how each stream's copy ended.
pub fn wait_capturing(
    child: Child,
    streams: Streams,
    timeout: Duration,
    cancel: Cancel<'_>,
    watch: &mut dyn Watch,
) -> (Ended, Vec<Captured>) {
    let exit_fd = pidfd(child.id());
    wait_with(child, streams, timeout, cancel, watch, exit_fd)
}

fn wait_with(
    mut child: Child,
    mut streams: Streams,
    timeout: Duration,
    cancel: Cancel<'_>,
    watch: &mut dyn Watch,
    exit_fd: Option<std::os::fd::OwnedFd>,
) -> (Ended, Vec<Captured>) {
    use std::os::fd::AsRawFd;
    let pid = child.id();
    let deadline = Instant::now() + timeout;
    let ended = loop {
        let now = Instant::now();
        if now >= deadline {
            break None;
        }
        if cancel.is_set() || watch.stop(now) {
            break Some(Ended::Interrupted);
        }
        let mut until = deadline;
        if cancel.0.is_some() {
            until = until.min(now + CANCEL_TICK);
        }
        if let Some(at) = watch.next_check() {
            until = until.min(at);
        }
        if exit_fd.is_none() {
            until = until.min(now + EXIT_POLL);
        }
        let fd = exit_fd.as_ref().map(|f| f.as_raw_fd());
        let exited = streams.pump(fd, poll_ms(now, until), watch);
        if exited || (exit_fd.is_none() && exited_unreaped(pid)) {
            // The agent exited but is not reaped yet, so its pid still names
            // our process group: whatever it left running in the group dies
            // with the stage (no agent process outlives its stage).
            kill_group(pid);
            break Some(Ended::Exited(child.wait().map(exit_code).unwrap_or(-1)));
        }
    };
    let ended = match ended {
        Some(Ended::Exited(code)) => Ended::Exited(code),
        other => {
            // Not reaped yet, so the pid still names our process group.
            kill_group(pid);
            let _ = child.wait();
            other.unwrap_or(Ended::TimedOut)
        }
    };
    let grace = Instant::now() + capture::DRAIN_GRACE;
    while streams.open() {
        let now = Instant::now();
        if now >= grace {
            break;
        }
        streams.pump(None, poll_ms(now, grace), watch);
    }
    safe_fs::untrusted_reaped(pid);
    watch.end();
    (ended, streams.finish())
}

/// Poll `child` for up to `limit`; `Some(status)` when it exited.
pub fn wait_briefly(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                safe_fs::untrusted_reaped(child.id());
                return Some(status);
            }
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
    fn wait_capturing_copies_both_streams_and_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let run = |script: &str, timeout: Duration, pidfd_too: bool| {
            let (o, e) = (dir.path().join("o"), dir.path().join("e"));
            let mut child = spawn(Spawn {
                argv: &sh(script),
                cwd: Path::new("/"),
                env: &BTreeMap::new(),
                stdin: Stdio::null(),
                stdout: Stdio::piped(),
                stderr: Stdio::piped(),
            })
            .unwrap();
            let pid = child.id();
            let streams: Vec<(Box<dyn capture::Source>, capture::Sink)> = vec![
                (
                    Box::new(child.stdout.take().unwrap()),
                    std::fs::File::create(&o).unwrap().into(),
                ),
                (
                    Box::new(child.stderr.take().unwrap()),
                    std::fs::File::create(&e).unwrap().into(),
                ),
            ];
            let (ended, captured) = wait_with(
                child,
                Streams::new(streams, 5),
                timeout,
                Cancel::none(),
                &mut (),
                // Both ways of learning of the exit: the pidfd, and the
                // fallback without one (every 10 ms).
                if pidfd_too { pidfd(pid) } else { None },
            );
            let read = |p| std::fs::read_to_string(p).unwrap();
            let dropped: Vec<u64> = captured.iter().map(|c| c.dropped).collect();
            (ended, dropped, read(&o), read(&e))
        };
        for pidfd_too in [true, false] {
            let (ended, dropped, out, err) = run(
                "echo hi; echo oops >&2; exit 3",
                Duration::from_secs(30),
                pidfd_too,
            );
            assert_eq!(ended, Ended::Exited(3));
            assert_eq!(dropped, vec![0, 0]);
            assert_eq!((out.as_str(), err.as_str()), ("hi\n", "oops\n"));
            let (ended, dropped, out, _) = run(
                "echo 0123456789; sleep 30",
                Duration::from_millis(300),
                pidfd_too,
            );
            assert_eq!(ended, Ended::TimedOut);
            assert_eq!(dropped, vec![6, 0]);
            assert!(
                out.starts_with("01234\n[millrace: output truncated"),
                "{out}"
            );
        }
    }

    /// An exit seen without a pidfd leaves the child unreaped until we
    /// reap it, so the group can still be killed by its pid.
    #[test]
    fn an_exit_is_seen_without_reaping() {
        let mut child = start(&sh("exit 4"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !exited_unreaped(child.id()) {
            assert!(Instant::now() < deadline, "the exit was never seen");
            std::thread::sleep(Duration::from_millis(5));
        }
        // Still ours to reap, with its status.
        assert_eq!(child.wait().ok().and_then(|s| s.code()), Some(4));
        let mut running = start(&sh("sleep 30"));
        assert!(!exited_unreaped(running.id()));
        kill_group(running.id());
        let _ = running.wait();
    }

    /// A watch that stops the agent once it printed `stop`.
    struct StopOn(Vec<u8>, Option<Instant>);

    impl Watch for StopOn {
        fn seen(&mut self, _: usize, bytes: &[u8]) {
            self.0.extend_from_slice(bytes);
        }
        fn next_check(&self) -> Option<Instant> {
            self.1
        }
        fn stop(&mut self, now: Instant) -> bool {
            if self.1.is_none() && self.0.windows(4).any(|w| w == b"stop") {
                // Asked to be woken 200 ms later, with no more output.
                self.1 = Some(now + Duration::from_millis(200));
            }
            self.1.is_some_and(|at| now >= at)
        }
    }

    #[test]
    fn a_watch_stops_the_agent_at_the_moment_it_asked_for() {
        let mut child = spawn(Spawn {
            argv: &sh("echo stop; exec sleep 30"),
            cwd: Path::new("/"),
            env: &BTreeMap::new(),
            stdin: Stdio::null(),
            stdout: Stdio::piped(),
            stderr: Stdio::null(),
        })
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let streams: Vec<(Box<dyn capture::Source>, capture::Sink)> = vec![(
            Box::new(child.stdout.take().unwrap()),
            std::fs::File::create(dir.path().join("o")).unwrap().into(),
        )];
        let mut watch = StopOn(Vec::new(), None);
        let started = Instant::now();
        let (ended, _) = wait_capturing(
            child,
            Streams::new(streams, 1000),
            Duration::from_secs(60),
            Cancel::none(),
            &mut watch,
        );
        assert_eq!(ended, Ended::Interrupted);
        assert_eq!(watch.0, b"stop\n");
        // Woken by the moment it asked for, not by the 60 s deadline (and
        // no cancel flag was given, so nothing else would wake the loop).
        assert!(started.elapsed() < Duration::from_secs(50));
    }

    #[test]
    fn start_time_is_field_22_whatever_the_command_name() {
        let fields: Vec<String> = (3..=52).map(|i| i.to_string()).collect();
        let stat = format!("1234 (a) b) (c d) {}\n", fields.join(" "));
        assert_eq!(stat_start_time(stat.as_bytes()), Some(22));
        assert_eq!(stat_start_time(b"1234 (x"), None);
        // This process's own, as the kernel writes it.
        let text = std::fs::read_to_string("/proc/self/stat").unwrap();
        let ours = stat_start_time(text.as_bytes()).unwrap();
        assert_eq!(start_time(std::process::id()), Some(ours));
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
