//! Bounded capture of an agent's output stream: a thread copies a pipe into
//! a run-directory file up to a byte limit (`[runtime]
//! max_stage_output_bytes`), discards the rest while still draining the
//! pipe (so the agent never blocks on a full pipe), and ends the file with
//! a one-line truncation note. Memory use is one fixed buffer whatever the
//! agent prints.

use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

/// Default for `[runtime] max_stage_output_bytes`: 64 MiB per stream.
pub const DEFAULT_MAX_STAGE_OUTPUT_BYTES: u64 = 64 * 1024 * 1024;

/// How long to wait for the stream to end after the agent exited (a
/// process that left the agent's group may still hold the pipe open).
pub const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How a truncation note starts in the runner's and stage result's notes.
pub const NOTE_PREFIX: &str = "output truncated:";

/// The note ending a truncated capture file.
pub fn truncation_note(limit: u64, dropped: u64) -> String {
    format!(
        "[millrace: output truncated at the {limit}-byte limit (runtime.max_stage_output_bytes); {dropped} more bytes discarded]"
    )
}

/// A running copy of one stream.
pub struct Capture {
    done: mpsc::Receiver<()>,
    dropped: Arc<AtomicU64>,
}

/// Start copying `src` into `dst`, keeping at most `limit` bytes.
pub fn start<R: Read + Send + 'static>(src: R, dst: File, limit: u64) -> Capture {
    let (tx, done) = mpsc::channel();
    let dropped = Arc::new(AtomicU64::new(0));
    let counter = dropped.clone();
    thread::spawn(move || {
        let _ = copy_counting(src, dst, limit, &counter);
        let _ = tx.send(());
    });
    Capture { done, dropped }
}

/// Copy `src` into `dst` until the end of `src`, keeping at most `limit`
/// bytes (then the note); the number of bytes discarded.
pub fn copy_bounded<R: Read>(src: R, dst: File, limit: u64) -> io::Result<u64> {
    let dropped = AtomicU64::new(0);
    copy_counting(src, dst, limit, &dropped)?;
    Ok(dropped.load(Ordering::Relaxed))
}

fn copy_counting<R: Read>(
    mut src: R,
    mut dst: File,
    limit: u64,
    dropped: &AtomicU64,
) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut written: u64 = 0;
    let mut write_failed = false;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let keep = (limit.saturating_sub(written)).min(n as u64) as usize;
        if keep > 0 && !write_failed {
            // Keep draining even if the disk is full: the agent must not block.
            write_failed = dst.write_all(&buf[..keep]).is_err();
            written += keep as u64;
        }
        if keep < n {
            dropped.fetch_add((n - keep) as u64, Ordering::Relaxed);
        }
    }
    let d = dropped.load(Ordering::Relaxed);
    if d > 0 {
        writeln!(dst, "\n{}", truncation_note(limit, d))?;
    }
    Ok(())
}

impl Capture {
    /// Wait up to `grace` for the stream to end; the bytes discarded so far.
    /// A stream still open after `grace` keeps draining in the background.
    pub fn finish(self, grace: Duration) -> u64 {
        let _ = self.done.recv_timeout(grace);
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_limit_and_notes_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.txt");
        let f = File::create(&p).unwrap();
        let src = io::Cursor::new(vec![b'a'; 300_000]);
        let dropped = start(src, f, 1000).finish(Duration::from_secs(30));
        assert_eq!(dropped, 299_000);
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.starts_with(&"a".repeat(1000)));
        assert!(text.ends_with(&format!("{}\n", truncation_note(1000, 299_000))));
    }

    #[test]
    fn small_output_is_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.txt");
        let f = File::create(&p).unwrap();
        let dropped =
            start(io::Cursor::new(b"hi\n".to_vec()), f, 1000).finish(Duration::from_secs(30));
        assert_eq!(dropped, 0);
        assert_eq!(std::fs::read(&p).unwrap(), b"hi\n");
    }
}
