//! The per-request files a runner leaves in the run directory, and the two
//! JSON records among them: `runner_invocation.<req>.json` (written before
//! the agent starts) and `runner_completion.<req>.json` (written after it
//! ends), with the reference's field names and order.
//!
//! Every file here is opened through `workspace::safe_fs`: a link or FIFO
//! the agent planted in the run directory is refused, never followed.
//!
//! These files are evidence, not state: they are written plainly (no fsync),
//! so a stage handoff does not pay for durable writes the runtime's own state
//! files already make.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{io_err, RunnerError, StageRequest, TokenUsage};
use crate::workspace::safe_fs;

/// Paths of one request's files. `stdout`, `stderr`, `events` and
/// `last_message` are `Some` only when the file exists after the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunFiles {
    pub prompt: PathBuf,
    pub invocation: PathBuf,
    pub completion: PathBuf,
    pub stdout: Option<PathBuf>,
    pub stderr: Option<PathBuf>,
    pub events: Option<PathBuf>,
    pub last_message: Option<PathBuf>,
}

/// The fixed names, whether or not the files exist.
#[derive(Debug, Clone)]
pub struct FileNames {
    pub prompt: PathBuf,
    pub invocation: PathBuf,
    pub completion: PathBuf,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    pub events: PathBuf,
    pub last_message: PathBuf,
}

impl FileNames {
    pub fn new(run_dir: &Path, request_id: &str) -> FileNames {
        let f = |stem: &str, ext: &str| run_dir.join(format!("{stem}.{request_id}.{ext}"));
        FileNames {
            prompt: f("runner_prompt", "md"),
            invocation: f("runner_invocation", "json"),
            completion: f("runner_completion", "json"),
            stdout: f("runner_stdout", "txt"),
            stderr: f("runner_stderr", "txt"),
            events: f("runner_events", "jsonl"),
            last_message: f("runner_last_message", "txt"),
        }
    }

    /// The files that exist now. An agent's stderr file left empty is
    /// removed first (ours; the reference keeps it): no run file stays empty.
    pub fn existing(&self) -> RunFiles {
        if std::fs::symlink_metadata(&self.stderr).is_ok_and(|m| m.is_file() && m.len() == 0) {
            remove_stale(&self.stderr);
        }
        let some = |p: &PathBuf| p.exists().then(|| p.clone());
        RunFiles {
            prompt: self.prompt.clone(),
            invocation: self.invocation.clone(),
            completion: self.completion.clone(),
            stdout: some(&self.stdout),
            stderr: some(&self.stderr),
            events: some(&self.events),
            last_message: some(&self.last_message),
        }
    }
}

/// Which of a request's optional files exist, as the runner that made
/// them knows it (no `stat` needed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Present {
    pub stdout: bool,
    pub stderr: bool,
    pub events: bool,
    pub last_message: bool,
}

impl FileNames {
    /// The files, with the optional ones the runner knows it left.
    pub fn known(&self, present: Present) -> RunFiles {
        let some = |p: &PathBuf, here: bool| here.then(|| p.clone());
        RunFiles {
            prompt: self.prompt.clone(),
            invocation: self.invocation.clone(),
            completion: self.completion.clone(),
            stdout: some(&self.stdout, present.stdout),
            stderr: some(&self.stderr, present.stderr),
            events: some(&self.events, present.events),
            last_message: some(&self.last_message, present.last_message),
        }
    }
}

/// The fields that open both runner records (in the reference's order).
#[derive(Debug, Clone, Serialize)]
pub struct RecordHead<'a> {
    pub schema_version: &'static str,
    pub kind: &'static str,
    pub request_id: &'a str,
    pub run_id: &'a str,
    pub stage: &'a str,
    pub request_kind: &'a str,
    pub active_work_item_id: Option<&'a str>,
    pub closure_target_root_spec_id: Option<&'a str>,
    pub runner_name: &'a str,
}

impl<'a> RecordHead<'a> {
    fn new(kind: &'static str, request: &'a StageRequest, runner_name: &'a str) -> Self {
        RecordHead {
            schema_version: "1.0",
            kind,
            request_id: &request.request_id,
            run_id: &request.run_id,
            stage: &request.stage,
            request_kind: &request.request_kind,
            active_work_item_id: request.work_item.as_ref().map(|w| w.id.as_str()),
            closure_target_root_spec_id: request.closure.root_spec_id.as_deref(),
            runner_name,
        }
    }
}

/// `runner_invocation.<req>.json`.
#[derive(Debug, Clone, Serialize)]
pub struct InvocationRecord<'a> {
    #[serde(flatten)]
    pub head: RecordHead<'a>,
    pub model_name: Option<&'a str>,
    pub thinking_level: Option<&'a str>,
    pub model_reasoning_effort: Option<&'a str>,
    pub command: &'a [String],
    pub prompt_path: String,
    pub emitted_at: String,
}

impl<'a> InvocationRecord<'a> {
    pub fn new(
        request: &'a StageRequest,
        runner_name: &'a str,
        command: &'a [String],
        prompt_path: &Path,
        emitted_at: String,
    ) -> Self {
        InvocationRecord {
            head: RecordHead::new("runner_invocation", request, runner_name),
            model_name: request.model_name.as_deref(),
            thinking_level: request.thinking_level.as_deref(),
            model_reasoning_effort: request.model_reasoning_effort.as_deref(),
            command,
            prompt_path: prompt_path.to_string_lossy().into_owned(),
            emitted_at,
        }
    }
}

/// `runner_completion.<req>.json`.
#[derive(Debug, Clone, Serialize)]
pub struct CompletionRecord<'a> {
    #[serde(flatten)]
    pub head: RecordHead<'a>,
    pub thinking_level: Option<&'a str>,
    pub model_reasoning_effort: Option<&'a str>,
    pub exit_kind: &'static str,
    pub exit_code: Option<i32>,
    pub observed_exit_kind: Option<&'static str>,
    pub observed_exit_code: Option<i32>,
    pub stdout_path: Option<String>,
    pub stderr_path: Option<String>,
    pub terminal_result_path: Option<String>,
    pub event_log_path: Option<String>,
    pub token_usage: Option<TokenUsage>,
    pub started_at: &'a str,
    pub ended_at: &'a str,
    pub failure_class: Option<&'a str>,
    pub notes: &'a [String],
    pub command: &'a [String],
    pub emitted_at: String,
}

/// How a runner call ended, as the completion record states it.
pub struct Ending<'a> {
    pub exit_kind: super::ExitKind,
    pub exit_code: i32,
    /// The exit actually observed, when final-marker reconciliation overrode it.
    pub observed: Option<(super::ExitKind, Option<i32>)>,
    pub token_usage: Option<TokenUsage>,
    pub failure_class: Option<&'a str>,
    pub notes: &'a [String],
    pub started_at: &'a str,
    pub ended_at: &'a str,
}

impl<'a> CompletionRecord<'a> {
    /// The record for `request` run by `runner_name`, with the files that exist.
    pub fn new(
        request: &'a StageRequest,
        runner_name: &'a str,
        model_reasoning_effort: Option<&'a str>,
        files: &RunFiles,
        command: &'a [String],
        end: Ending<'a>,
    ) -> Self {
        CompletionRecord {
            head: RecordHead::new("runner_completion", request, runner_name),
            thinking_level: request.thinking_level.as_deref(),
            model_reasoning_effort,
            exit_kind: end.exit_kind.reference_str(),
            exit_code: Some(end.exit_code),
            observed_exit_kind: end.observed.map(|(k, _)| k.reference_str()),
            observed_exit_code: end.observed.and_then(|(_, c)| c),
            stdout_path: files.stdout.as_deref().map(path_string),
            stderr_path: files.stderr.as_deref().map(path_string),
            terminal_result_path: None,
            event_log_path: files.events.as_deref().map(path_string),
            token_usage: end.token_usage,
            started_at: end.started_at,
            ended_at: end.ended_at,
            failure_class: end.failure_class,
            notes: end.notes,
            command,
            emitted_at: crate::workspace::clock::now_rfc3339(),
        }
    }
}

/// Write a JSON record the way the reference does (2-space indent, trailing newline).
pub fn write_json<T: Serialize>(path: &Path, record: &T) -> Result<(), RunnerError> {
    let mut text = serde_json::to_string_pretty(record).map_err(|e| RunnerError::Io {
        path: path.to_path_buf(),
        error: io::Error::other(e),
    })?;
    text.push('\n');
    write_text(path, &text)
}

/// Create the run directory (no link followed below the workspace root).
pub fn ensure_dir(dir: &Path) -> Result<(), RunnerError> {
    safe_fs::create_dir_all(dir).map_err(io_err(dir))
}

/// Create (truncate) a file for the agent to write into; a link or special
/// file planted at that name is refused.
pub fn create(path: &Path) -> Result<File, RunnerError> {
    safe_fs::create_truncate(path).map_err(io_err(path))
}

/// Open a file the agent wrote (a regular file, not a link) for reading.
pub fn open_agent_file(path: &Path) -> Result<File, RunnerError> {
    safe_fs::open_regular(path, None).map_err(io_err(path))
}

/// Open the prompt file as an agent's stdin.
pub fn open_stdin(path: &Path) -> Result<File, RunnerError> {
    let file = open_agent_file(path)?;
    safe_fs::set_blocking(&file);
    Ok(file)
}

/// The last `limit` bytes of a file as text (cut at a character boundary,
/// invalid UTF-8 replaced); `None` if the file does not exist or is not a
/// regular file.
pub fn read_tail(path: &Path, limit: usize) -> Option<String> {
    let mut file = safe_fs::open_regular(path, None).ok()?;
    let len = file.metadata().ok()?.len();
    tail_of_file(&mut file, len, limit)
}

/// `read_tail` of a file already open, `len` bytes long.
fn tail_of_file(file: &mut File, len: u64, limit: usize) -> Option<String> {
    let start = len.saturating_sub(limit as u64);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::with_capacity((len - start) as usize);
    file.take(limit as u64).read_to_end(&mut bytes).ok()?;
    Some(text_from(&bytes, start > 0))
}

/// The last `limit` bytes of `bytes` as text, as `read_tail` gives them.
pub fn tail_of(bytes: &[u8], limit: usize) -> String {
    let start = bytes.len().saturating_sub(limit);
    text_from(&bytes[start..], start > 0)
}

/// `bytes` as text; when `cut` (they start inside a longer text) the
/// continuation bytes of a character cut in half are dropped first.
fn text_from(bytes: &[u8], cut: bool) -> String {
    let mut skip = 0;
    if cut {
        while skip < bytes.len() && skip < 4 && (bytes[skip] & 0xC0) == 0x80 {
            skip += 1;
        }
    }
    String::from_utf8_lossy(&bytes[skip..]).into_owned()
}

/// The marker scan and the tail (`limit` bytes, as `read_tail`) of a
/// file, read through one open; a missing file scans as empty, with no
/// tail. A link or special file is refused.
pub fn scan_and_tail(
    path: &Path,
    limit: usize,
) -> Result<(super::MarkerScan, Option<String>), RunnerError> {
    let mut file = match safe_fs::open_regular(path, None) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Default::default()),
        Err(e) => return Err(io_err(path)(e)),
    };
    let scan = super::marker::scan_reader(io::BufReader::new(&mut file)).map_err(io_err(path))?;
    let len = file.metadata().map_err(io_err(path))?.len();
    Ok((scan, tail_of_file(&mut file, len, limit)))
}

/// Largest final text read into memory once and shared by the stdout
/// copy, the final-marker reconciliation, the marker scan and the tail;
/// a larger one is streamed from its file instead.
pub const IN_MEMORY_TEXT_LIMIT: u64 = 4 * 1024 * 1024;

/// What `publish` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Bytes of the source left out of the copy (0 when all fit).
    pub left_out: u64,
    /// The source's bytes, read once, when they fit in the limit and in
    /// `IN_MEMORY_TEXT_LIMIT`: then the copy holds exactly these bytes.
    pub bytes: Option<Vec<u8>>,
}

/// Give `to` the bytes of `from`, at most `limit` of them: for
/// `runner_stdout`, which the reference makes a copy of the final message
/// (else of the events) once the agent has ended (nothing writes either
/// file afterwards). When all of `from` fits and it is a plain file with
/// no other link, `to` is made a second name of it (the same bytes as a
/// copy, without a new file); else the first `limit` bytes are copied.
/// `from` is read at most once and its bytes handed back when they fit
/// in memory (see `Published`). `None` when `from` does not exist; `from`
/// must be a regular file, not a link, and a link at `to` is refused.
pub fn publish(from: &Path, to: &Path, limit: u64) -> Result<Option<Published>, RunnerError> {
    use std::io::Write;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    let (dir, from_name) = safe_fs::Dir::parent_of(from, false).map_err(io_err(from))?;
    let mut src = match dir.open_file(&from_name, libc::O_RDONLY) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(from)(e)),
    };
    let meta = src.metadata().map_err(io_err(from))?;
    // A second name when all of `from` fits, it has no other link, and
    // nothing has the name `to` yet; anything already there (a stale
    // file, or a link the agent planted) gets a copy through `create`,
    // which refuses links.
    let linked = meta.len() <= limit
        && meta.nlink() == 1
        && to.parent() == from.parent()
        && to
            .file_name()
            .and_then(|n| std::ffi::CString::new(n.as_bytes()).ok())
            .is_some_and(|to_name| dir.link(&from_name, &to_name).is_ok());
    let cap = limit.min(IN_MEMORY_TEXT_LIMIT);
    let mut bytes = None;
    if meta.len() <= cap {
        let mut read = Vec::with_capacity(meta.len() as usize + 1);
        (&mut src)
            .take(cap + 1)
            .read_to_end(&mut read)
            .map_err(io_err(from))?;
        // More than `cap` when it grew after the size check.
        if read.len() as u64 <= cap {
            bytes = Some(read);
        }
    }
    if linked {
        return Ok(Some(Published { left_out: 0, bytes }));
    }
    let mut dst = create(to)?;
    if let Some(b) = bytes.as_deref() {
        dst.write_all(b).map_err(io_err(to))?;
        return Ok(Some(Published { left_out: 0, bytes }));
    }
    // Streamed: at most `limit` bytes copied, none kept in memory.
    src.seek(SeekFrom::Start(0)).map_err(io_err(from))?;
    let copied = io::copy(&mut (&mut src).take(limit), &mut dst).map_err(io_err(to))?;
    let len = src.metadata().map_err(io_err(from))?.len();
    Ok(Some(Published {
        left_out: len.saturating_sub(copied),
        bytes: None,
    }))
}

/// Replace the contents of `path` with `text`.
pub fn write_text(path: &Path, text: &str) -> Result<(), RunnerError> {
    safe_fs::write_plain(path, text.as_bytes()).map_err(io_err(path))
}

/// Append a line to a text file (used for the timeout note in stderr).
pub fn append_text(path: &Path, text: &str) -> Result<(), RunnerError> {
    use std::io::Write;
    let mut f = safe_fs::open_append(path).map_err(io_err(path))?;
    f.write_all(text.as_bytes()).map_err(io_err(path))
}

/// Remove a stale file of an earlier attempt (a link is removed, never
/// its target); a missing file is fine.
pub fn remove_stale(path: &Path) {
    let _ = safe_fs::remove_file(path);
}

pub fn path_string(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let n = FileNames::new(Path::new("/r"), "request-1");
        assert_eq!(n.prompt, Path::new("/r/runner_prompt.request-1.md"));
        assert_eq!(n.events, Path::new("/r/runner_events.request-1.jsonl"));
        assert_eq!(
            n.last_message,
            Path::new("/r/runner_last_message.request-1.txt")
        );
    }

    #[test]
    fn stdout_is_a_second_name_of_a_final_message_that_fits() {
        use std::fs;
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        safe_fs::trust_root(&root);
        let published = |from: &Path, to: &Path, limit| publish(from, to, limit).unwrap().unwrap();
        let (msg, out) = (root.join("last.txt"), root.join("stdout.txt"));
        fs::write(&msg, "### DONE\n").unwrap();
        assert_eq!(
            published(&msg, &out, 100),
            Published {
                left_out: 0,
                bytes: Some(b"### DONE\n".to_vec())
            }
        );
        assert_eq!(fs::read_to_string(&out).unwrap(), "### DONE\n");
        assert_eq!(
            fs::metadata(&out).unwrap().ino(),
            fs::metadata(&msg).unwrap().ino()
        );
        // Over the limit: a truncated copy, and what was left out.
        let (big, out2) = (root.join("big.txt"), root.join("stdout2.txt"));
        fs::write(&big, "x".repeat(50)).unwrap();
        assert_eq!(
            published(&big, &out2, 10),
            Published {
                left_out: 40,
                bytes: None
            }
        );
        assert_eq!(fs::read_to_string(&out2).unwrap(), "x".repeat(10));
        assert_ne!(
            fs::metadata(&out2).unwrap().ino(),
            fs::metadata(&big).unwrap().ino()
        );
        // Something already at the name: copied over (a plain file), never replaced.
        let out4 = root.join("stdout4.txt");
        fs::write(&out4, "stale, longer than the message").unwrap();
        assert_eq!(published(&big, &out4, 100).left_out, 0);
        assert_eq!(fs::read_to_string(&out4).unwrap(), "x".repeat(50));
        assert_eq!(fs::metadata(&out4).unwrap().nlink(), 1);
        // A file with another link is copied, never linked a third time.
        let (shared, out3) = (root.join("shared.txt"), root.join("stdout3.txt"));
        fs::hard_link(&msg, &shared).unwrap();
        fs::remove_file(&out).unwrap();
        assert_eq!(published(&shared, &out3, 100).left_out, 0);
        assert_eq!(fs::metadata(&out3).unwrap().nlink(), 1);
        assert_eq!(fs::read_to_string(&out3).unwrap(), "### DONE\n");
        // No source: nothing made.
        let out5 = root.join("stdout5.txt");
        assert_eq!(publish(&root.join("none.txt"), &out5, 100).unwrap(), None);
        assert!(!out5.exists());
        // A link as the source is refused, never read.
        let link = root.join("link.txt");
        std::os::unix::fs::symlink(&msg, &link).unwrap();
        assert!(publish(&link, &out5, 100).is_err());
        assert!(!out5.exists());
    }

    #[test]
    fn a_final_text_over_the_memory_limit_is_linked_but_not_kept() {
        use std::fs;
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        safe_fs::trust_root(&root);
        let (msg, out) = (root.join("last.txt"), root.join("stdout.txt"));
        let big = IN_MEMORY_TEXT_LIMIT as usize + 10;
        fs::write(&msg, "y".repeat(big)).unwrap();
        let p = publish(&msg, &out, 2 * big as u64).unwrap().unwrap();
        assert_eq!(
            p,
            Published {
                left_out: 0,
                bytes: None
            }
        );
        assert_eq!(
            fs::metadata(&out).unwrap().ino(),
            fs::metadata(&msg).unwrap().ino()
        );
        // Scanned and cut from the file instead, through one open.
        let (scan, tail) = scan_and_tail(&out, 5).unwrap();
        assert_eq!(scan, super::super::MarkerScan::default());
        assert_eq!(tail.as_deref(), Some("yyyyy"));
    }

    #[test]
    fn tail_is_bounded_and_valid() {
        use std::fs;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.txt");
        fs::write(&p, "ééééé\n### DONE\n").unwrap();
        assert_eq!(read_tail(&p, 1000).unwrap(), "ééééé\n### DONE\n");
        let t = read_tail(&p, 12).unwrap();
        assert!(t.ends_with("### DONE\n"));
        assert!(!t.contains('\u{fffd}'));
        assert_eq!(read_tail(&dir.path().join("none"), 10), None);
        // The same from bytes in memory.
        let bytes = fs::read(&p).unwrap();
        assert_eq!(tail_of(&bytes, 12), t);
        assert_eq!(tail_of(&bytes, 1000), "ééééé\n### DONE\n");
    }
}
