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
    /// Standard error: `run --json` keeps standard output for its summary.
    Stderr,
    File(std::fs::File),
}

/// The sink is shared: `handle` gives the daemon loop a monitor writing to
/// the same stream (heartbeat lines), whole lines at a time.
pub struct Monitor {
    sink: std::sync::Arc<std::sync::Mutex<Sink>>,
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
            sink: std::sync::Arc::new(std::sync::Mutex::new(sink)),
            last_idle: None,
        }
    }

    /// Another monitor on the same sink.
    pub fn handle(&self) -> Monitor {
        Monitor {
            sink: self.sink.clone(),
            last_idle: None,
        }
    }

    pub fn off() -> Monitor {
        Monitor::new(Sink::Off)
    }

    pub fn enabled(&self) -> bool {
        self.sink
            .lock()
            .map(|s| !matches!(*s, Sink::Off))
            .unwrap_or(false)
    }

    /// A handle that writes lines to the same place from another thread
    /// (a runner reporting while its agent runs).
    pub fn tap(&self) -> Tap {
        Tap(self.sink.clone())
    }

    pub fn line(&mut self, text: &str) {
        write_line(&self.sink, text);
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

/// See `Monitor::tap`: the monitor's sink, written from another thread.
pub struct Tap(std::sync::Arc<std::sync::Mutex<Sink>>);

impl Tap {
    pub fn line(&self, text: &str) {
        write_line(&self.0, text);
    }
}

/// One `[HH:MM:SS] text` line to the sink, whole.
fn write_line(sink: &std::sync::Mutex<Sink>, text: &str) {
    let line = format!("[{}] {text}\n", clock());
    let Ok(mut sink) = sink.lock() else {
        return;
    };
    match &mut *sink {
        Sink::Off => {}
        Sink::Stdout => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
        Sink::Stderr => {
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
        Sink::File(f) => {
            let _ = f.write_all(line.as_bytes());
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
