//! Bounded capture of an agent's output stream: a thread copies a pipe into
//! a run-directory file up to a byte limit (`[runtime]
//! max_stage_output_bytes`), discards the rest while still draining the
//! pipe (so the agent never blocks on a full pipe), and ends the file with
//! a one-line truncation note. Memory use is one fixed buffer whatever the
//! agent prints. A stream may go to a file created on its first byte
//! (`Sink::lazy`): an agent that prints nothing there leaves no file.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
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

/// A source stream: a pipe end that can be polled.
pub trait Source: Read + AsRawFd + Send {}
impl<T: Read + AsRawFd + Send> Source for T {}

/// Where a stream is copied: an open file, or a file created (truncated,
/// no link followed) when the first byte arrives.
pub struct Sink {
    file: Option<File>,
    create_at: Option<PathBuf>,
}

impl From<File> for Sink {
    fn from(file: File) -> Sink {
        Sink {
            file: Some(file),
            create_at: None,
        }
    }
}

impl Sink {
    /// A file at `path` created only if the stream has a byte to write:
    /// no empty file is made and removed per stage.
    pub fn lazy(path: &Path) -> Sink {
        Sink {
            file: None,
            create_at: Some(path.to_path_buf()),
        }
    }

    fn file(&mut self) -> io::Result<&mut File> {
        if self.file.is_none() {
            let path = self
                .create_at
                .take()
                .ok_or_else(|| io::Error::other("no file"))?;
            self.file = Some(crate::workspace::safe_fs::create_truncate(&path)?);
        }
        Ok(self.file.as_mut().expect("opened above"))
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.file()?.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

/// One stream being copied.
struct Stream {
    src: Box<dyn Source>,
    dst: Sink,
    written: u64,
    dropped: u64,
    write_failed: bool,
    open: bool,
}

/// Streams being copied, each into its file, each kept to `limit` bytes.
/// Driven by `pump` (from the caller's own wait loop, see
/// `process::wait_capturing`) or by a thread (`start`).
pub struct Streams {
    streams: Vec<Stream>,
    limit: u64,
    buf: Vec<u8>,
}

impl Streams {
    pub fn new(streams: Vec<(Box<dyn Source>, Sink)>, limit: u64) -> Streams {
        Streams {
            streams: streams
                .into_iter()
                .map(|(src, dst)| Stream {
                    src,
                    dst,
                    written: 0,
                    dropped: 0,
                    write_failed: false,
                    open: true,
                })
                .collect(),
            limit,
            buf: vec![0u8; 64 * 1024],
        }
    }

    /// Is any stream still open?
    pub fn open(&self) -> bool {
        self.streams.iter().any(|s| s.open)
    }

    /// Wait up to `timeout_ms` (-1: no limit) for one of the open streams
    /// or `extra` to be readable, and copy what the streams have. Returns
    /// whether `extra` is readable.
    pub fn pump(&mut self, extra: Option<RawFd>, timeout_ms: i32) -> bool {
        let mut fds: Vec<libc::pollfd> = self
            .streams
            .iter()
            .map(|s| libc::pollfd {
                fd: if s.open { s.src.as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        fds.push(libc::pollfd {
            fd: extra.unwrap_or(-1),
            events: libc::POLLIN,
            revents: 0,
        });
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
        if r <= 0 {
            return false;
        }
        let limit = self.limit;
        for (i, s) in self.streams.iter_mut().enumerate() {
            if fds[i].fd < 0 || fds[i].revents == 0 {
                continue;
            }
            match s.src.read(&mut self.buf) {
                Ok(0) => s.open = false,
                Ok(n) => {
                    let keep = (limit.saturating_sub(s.written)).min(n as u64) as usize;
                    if keep > 0 && !s.write_failed {
                        // Keep draining even if the disk is full: the agent must not block.
                        s.write_failed = s.dst.write_all(&self.buf[..keep]).is_err();
                        s.written += keep as u64;
                    }
                    s.dropped += (n - keep) as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => s.open = false,
            }
        }
        fds.last().is_some_and(|f| f.revents != 0)
    }

    /// Bytes discarded so far, per stream.
    pub fn dropped(&self) -> Vec<u64> {
        self.streams.iter().map(|s| s.dropped).collect()
    }

    /// End every file that lost bytes with the truncation note; the bytes
    /// discarded per stream. Streams still open are closed.
    pub fn finish(mut self) -> Vec<u64> {
        let limit = self.limit;
        for s in &mut self.streams {
            if s.dropped > 0 {
                let _ = writeln!(s.dst, "\n{}", truncation_note(limit, s.dropped));
            }
        }
        self.dropped()
    }
}

/// A copy of streams running on a thread of its own.
pub struct Capture {
    done: mpsc::Receiver<Vec<u64>>,
}

/// Start copying each source into its file on one thread (`poll`).
pub fn start(streams: Streams) -> Capture {
    let (tx, done) = mpsc::channel();
    thread::spawn(move || {
        let mut streams = streams;
        while streams.open() {
            streams.pump(None, -1);
        }
        let _ = tx.send(streams.finish());
    });
    Capture { done }
}

impl Capture {
    /// Wait up to `grace` for every stream to end; the bytes discarded per
    /// stream (empty when they have not ended: they keep draining in the
    /// background).
    pub fn finish(self, grace: Duration) -> Vec<u64> {
        self.done.recv_timeout(grace).unwrap_or_default()
    }
}

/// Copy `src` into `dst` until the end of `src`, keeping at most `limit`
/// bytes (then the note); the number of bytes discarded. Blocking, on the
/// caller's thread.
pub fn copy_bounded<R: Read>(mut src: R, mut dst: File, limit: u64) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let (mut written, mut dropped) = (0u64, 0u64);
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
            write_failed = dst.write_all(&buf[..keep]).is_err();
            written += keep as u64;
        }
        dropped += (n - keep) as u64;
    }
    if dropped > 0 {
        writeln!(dst, "\n{}", truncation_note(limit, dropped))?;
    }
    Ok(dropped)
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
        let dropped = copy_bounded(src, f, 1000).unwrap();
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
        let dropped = copy_bounded(io::Cursor::new(b"hi\n".to_vec()), f, 1000).unwrap();
        assert_eq!(dropped, 0);
        assert_eq!(std::fs::read(&p).unwrap(), b"hi\n");
    }

    #[test]
    fn a_lazy_sink_makes_no_file_for_a_silent_stream() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        crate::workspace::safe_fs::trust_root(&root);
        let (quiet, loud) = (root.join("quiet.txt"), root.join("loud.txt"));
        let mut child = std::process::Command::new("/bin/sh")
            .args(["-c", "echo out >&2"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let streams: Vec<(Box<dyn Source>, Sink)> = vec![
            (Box::new(child.stdout.take().unwrap()), Sink::lazy(&quiet)),
            (Box::new(child.stderr.take().unwrap()), Sink::lazy(&loud)),
        ];
        let cap = start(Streams::new(streams, 1000));
        child.wait().unwrap();
        assert_eq!(cap.finish(Duration::from_secs(30)), vec![0, 0]);
        assert!(!quiet.exists(), "a stream that printed nothing made a file");
        assert_eq!(std::fs::read_to_string(&loud).unwrap(), "out\n");
    }

    #[test]
    fn two_pipes_on_one_thread() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let mut child = std::process::Command::new("/bin/sh")
            .args(["-c", "head -c 50000 /dev/zero; head -c 10 /dev/zero >&2"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let streams: Vec<(Box<dyn Source>, Sink)> = vec![
            (
                Box::new(child.stdout.take().unwrap()),
                File::create(&a).unwrap().into(),
            ),
            (Box::new(child.stderr.take().unwrap()), Sink::lazy(&b)),
        ];
        let cap = start(Streams::new(streams, 1000));
        child.wait().unwrap();
        assert_eq!(cap.finish(Duration::from_secs(30)), vec![49_000, 0]);
        let text = std::fs::read(&a).unwrap();
        assert!(text.ends_with(format!("{}\n", truncation_note(1000, 49_000)).as_bytes()));
        assert_eq!(std::fs::read(&b).unwrap().len(), 10);
    }
}
