//! Bounded capture of an agent's output stream: a thread copies a pipe into
//! a run-directory file up to a byte limit (`[runtime]
//! max_stage_output_bytes`), discards the rest while still draining the
//! pipe (so the agent never blocks on a full pipe), and ends the file with
//! a one-line truncation note. Memory use is one fixed buffer whatever the
//! agent prints. A stream may go to a file created on its first byte
//! (`Sink::lazy`): an agent that prints nothing there leaves no file. What
//! is kept is also shown, as it arrives, to a `Watch` (the runner's
//! network-wait watch and token count), on the same thread.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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

/// Follows an agent's output while the agent runs, and may ask for it to be
/// stopped. Driven by the wait loop that copies the streams
/// (`process::wait_capturing`): no thread of its own, and no file read
/// back.
pub trait Watch {
    /// `bytes` were kept of stream number `stream` (what its file gets, in
    /// order).
    fn seen(&mut self, stream: usize, bytes: &[u8]);
    /// The next moment `stop` must be asked (the end of a grace period),
    /// if any: the wait loop wakes up then.
    fn next_check(&self) -> Option<Instant> {
        None
    }
    /// Should the agent be stopped now? Asked at every turn of the loop.
    fn stop(&mut self, _now: Instant) -> bool {
        false
    }
    /// Every stream ended (or was given up on): a last line without a
    /// newline is complete now.
    fn end(&mut self) {}
}

/// No watch.
impl Watch for () {
    fn seen(&mut self, _: usize, _: &[u8]) {}
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

    /// Has the sink a file (given, or created on a first byte)?
    fn has_file(&self) -> bool {
        self.file.is_some()
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

/// How one stream's copy ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Captured {
    /// Bytes discarded past the limit.
    pub dropped: u64,
    /// Whether the stream has a file (a lazy sink that got no byte, or
    /// could not create its file, has none).
    pub file: bool,
}

/// Streams being copied, each into its file, each kept to `limit` bytes.
/// Driven by `pump`, from the caller's own wait loop (see
/// `process::wait_capturing`).
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
    /// or `extra` to be readable, and copy what the streams have, showing
    /// what is kept to `watch`. Returns whether `extra` is readable.
    pub fn pump(&mut self, extra: Option<RawFd>, timeout_ms: i32, watch: &mut dyn Watch) -> bool {
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
                        watch.seen(i, &self.buf[..keep]);
                    }
                    s.dropped += (n - keep) as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => s.open = false,
            }
        }
        fds.last().is_some_and(|f| f.revents != 0)
    }

    /// End every file that lost bytes with the truncation note; how each
    /// stream ended. Streams still open are closed.
    pub fn finish(mut self) -> Vec<Captured> {
        let limit = self.limit;
        self.streams
            .iter_mut()
            .map(|s| {
                if s.dropped > 0 {
                    let _ = writeln!(s.dst, "\n{}", truncation_note(limit, s.dropped));
                }
                Captured {
                    dropped: s.dropped,
                    file: s.dst.has_file(),
                }
            })
            .collect()
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

    /// Copy until every stream ends.
    fn drain(mut streams: Streams, watch: &mut dyn Watch) -> Vec<Captured> {
        while streams.open() {
            streams.pump(None, -1, watch);
        }
        watch.end();
        streams.finish()
    }

    /// Counts the bytes shown per stream.
    #[derive(Default)]
    struct Seen([usize; 2]);

    impl Watch for Seen {
        fn seen(&mut self, stream: usize, bytes: &[u8]) {
            self.0[stream] += bytes.len();
        }
    }

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
        let ended = drain(Streams::new(streams, 1000), &mut ());
        child.wait().unwrap();
        assert_eq!(
            ended,
            vec![
                Captured {
                    dropped: 0,
                    file: false
                },
                Captured {
                    dropped: 0,
                    file: true
                }
            ]
        );
        assert!(!quiet.exists(), "a stream that printed nothing made a file");
        assert_eq!(std::fs::read_to_string(&loud).unwrap(), "out\n");
    }

    #[test]
    fn two_pipes_on_one_thread_and_the_watch_sees_what_is_kept() {
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
        let mut seen = Seen::default();
        let ended = drain(Streams::new(streams, 1000), &mut seen);
        child.wait().unwrap();
        let dropped: Vec<u64> = ended.iter().map(|c| c.dropped).collect();
        assert_eq!(dropped, vec![49_000, 0]);
        // The watch saw what was kept of each stream, nothing more.
        assert_eq!((seen.0[0], seen.0[1]), (1000, 10));
        let text = std::fs::read(&a).unwrap();
        assert!(text.ends_with(format!("{}\n", truncation_note(1000, 49_000)).as_bytes()));
        assert_eq!(std::fs::read(&b).unwrap().len(), 10);
    }
}
