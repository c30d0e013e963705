//! The `--monitor basic` line stream: one compact line per runtime event,
//! prefixed `[HH:MM:SS] ` (UTC), in the reference's formats (`stage start`,
//! `stage done ... result=X dur=Ns`, `route ...`, `idle reason=no_work`).
//! Lines go to standard output or to `--monitor-log PATH` (appended).

use std::io::Write;
use std::time::{Duration, Instant};

/// How often `idle reason=no_work` repeats while nothing changes.
pub const IDLE_HEARTBEAT: Duration = Duration::from_secs(6 * 3600);

pub enum Sink {
    Off,
    Stdout,
    File(std::fs::File),
}

pub struct Monitor {
    sink: Sink,
    last_idle: Option<(String, Instant)>,
}

fn clock() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let day = secs % 86_400;
    format!("{:02}:{:02}:{:02}", day / 3600, (day % 3600) / 60, day % 60)
}

impl Monitor {
    pub fn new(sink: Sink) -> Monitor {
        Monitor {
            sink,
            last_idle: None,
        }
    }

    pub fn off() -> Monitor {
        Monitor::new(Sink::Off)
    }

    pub fn enabled(&self) -> bool {
        !matches!(self.sink, Sink::Off)
    }

    /// A handle that writes lines to the same place from another thread
    /// (a runner reporting while its agent runs).
    pub fn tap(&self) -> Tap {
        Tap(match &self.sink {
            Sink::Off => None,
            Sink::Stdout => Some(None),
            Sink::File(f) => f.try_clone().ok().map(Some),
        })
    }

    pub fn line(&mut self, text: &str) {
        let line = format!("[{}] {text}\n", clock());
        match &mut self.sink {
            Sink::Off => {}
            Sink::Stdout => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(line.as_bytes());
                let _ = out.flush();
            }
            Sink::File(f) => {
                let _ = f.write_all(line.as_bytes());
            }
        }
        if !text.starts_with("idle ") {
            self.last_idle = None;
        }
    }

    /// `idle reason=<r>`, only when the reason changes or the heartbeat is due.
    pub fn idle(&mut self, reason: &str) {
        let due = match &self.last_idle {
            Some((r, at)) => r != reason || at.elapsed() >= IDLE_HEARTBEAT,
            None => true,
        };
        if due {
            self.line(&format!("idle reason={reason}"));
            self.last_idle = Some((reason.to_string(), Instant::now()));
        }
    }
}

/// See `Monitor::tap`: `None` off, `Some(None)` standard output.
pub struct Tap(Option<Option<std::fs::File>>);

impl Tap {
    pub fn line(&self, text: &str) {
        let line = format!("[{}] {text}\n", clock());
        match &self.0 {
            None => {}
            Some(None) => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(line.as_bytes());
                let _ = out.flush();
            }
            Some(Some(f)) => {
                let mut f: &std::fs::File = f;
                let _ = f.write_all(line.as_bytes());
            }
        }
    }
}

/// `in=N cached=N out=N think=N total=N` for a token usage.
pub fn tokens(t: &crate::runners::TokenUsage) -> String {
    format!(
        "in={} cached={} out={} think={} total={}",
        t.input_tokens, t.cached_input_tokens, t.output_tokens, t.thinking_tokens, t.total_tokens
    )
}
