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

/// `runner_invocation.<req>.json`.
#[derive(Debug, Clone, Serialize)]
pub struct InvocationRecord<'a> {
    pub schema_version: &'static str,
    pub kind: &'static str,
    pub request_id: &'a str,
    pub run_id: &'a str,
    pub stage: &'a str,
    pub request_kind: &'a str,
    pub active_work_item_id: Option<&'a str>,
    pub closure_target_root_spec_id: Option<&'a str>,
    pub runner_name: &'a str,
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
            schema_version: "1.0",
            kind: "runner_invocation",
            request_id: &request.request_id,
            run_id: &request.run_id,
            stage: &request.stage,
            request_kind: &request.request_kind,
            active_work_item_id: request.work_item.as_ref().map(|w| w.id.as_str()),
            closure_target_root_spec_id: request.closure.root_spec_id.as_deref(),
            runner_name,
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
    pub schema_version: &'static str,
    pub kind: &'static str,
    pub request_id: &'a str,
    pub run_id: &'a str,
    pub stage: &'a str,
    pub request_kind: &'a str,
    pub active_work_item_id: Option<&'a str>,
    pub closure_target_root_spec_id: Option<&'a str>,
    pub runner_name: &'a str,
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
            schema_version: "1.0",
            kind: "runner_completion",
            request_id: &request.request_id,
            run_id: &request.run_id,
            stage: &request.stage,
            request_kind: &request.request_kind,
            active_work_item_id: request.work_item.as_ref().map(|w| w.id.as_str()),
            closure_target_root_spec_id: request.closure.root_spec_id.as_deref(),
            runner_name,
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

/// Copy at most `limit` bytes of `from` over `to` (streamed); `from` must
/// be a regular file, not a link. Returns how many bytes of `from` were
/// left out (0 when it fit).
pub fn copy(from: &Path, to: &Path, limit: u64) -> Result<u64, RunnerError> {
    let src = open_agent_file(from)?;
    let len = src.metadata().map_err(io_err(from))?.len();
    let mut dst = create(to)?;
    let copied = io::copy(&mut src.take(limit), &mut dst).map_err(io_err(to))?;
    Ok(len.saturating_sub(copied))
}

/// `copy`, but when all of `from` fits in `limit` (and it is a plain file
/// with no other link) `to` is made a second name of it: the same bytes
/// as a copy, without a new file. For `runner_stdout`, which the reference
/// makes a copy of the final message (else of the events) once the agent
/// has ended (nothing writes either file afterwards).
pub fn link_or_copy(from: &Path, to: &Path, limit: u64) -> Result<u64, RunnerError> {
    use std::os::unix::fs::MetadataExt;
    let linked = (|| {
        let (dir, from_name) = safe_fs::Dir::parent_of(from, false).ok()?;
        let (to_dir, to_name) = safe_fs::Dir::parent_of(to, false).ok()?;
        if to_dir.path() != dir.path() {
            return None;
        }
        let meta = open_agent_file(from).ok()?.metadata().ok()?;
        if meta.nlink() != 1 || meta.len() > limit {
            return None;
        }
        // Anything already at `to` (a stale file, or a link the agent
        // planted) is left to `copy`, which refuses links.
        dir.link(&from_name, &to_name).ok()
    })();
    match linked {
        Some(()) => Ok(0),
        None => copy(from, to, limit),
    }
}

/// The last `limit` bytes of a file as text (cut at a character boundary,
/// invalid UTF-8 replaced); `None` if the file does not exist or is not a
/// regular file.
pub fn read_tail(path: &Path, limit: usize) -> Option<String> {
    let mut file = safe_fs::open_regular(path, None).ok()?;
    let len = file.metadata().ok()?.len();
    let start = len.saturating_sub(limit as u64);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::with_capacity((len - start) as usize);
    file.take(limit as u64).read_to_end(&mut bytes).ok()?;
    let mut skip = 0;
    if start > 0 {
        // Drop continuation bytes of a character cut in half.
        while skip < bytes.len() && skip < 4 && (bytes[skip] & 0xC0) == 0x80 {
            skip += 1;
        }
    }
    Some(String::from_utf8_lossy(&bytes[skip..]).into_owned())
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
        let (msg, out) = (root.join("last.txt"), root.join("stdout.txt"));
        fs::write(&msg, "### DONE\n").unwrap();
        assert_eq!(link_or_copy(&msg, &out, 100).unwrap(), 0);
        assert_eq!(fs::read_to_string(&out).unwrap(), "### DONE\n");
        assert_eq!(
            fs::metadata(&out).unwrap().ino(),
            fs::metadata(&msg).unwrap().ino()
        );
        // Over the limit: a truncated copy, and what was left out.
        let (big, out2) = (root.join("big.txt"), root.join("stdout2.txt"));
        fs::write(&big, "x".repeat(50)).unwrap();
        assert_eq!(link_or_copy(&big, &out2, 10).unwrap(), 40);
        assert_eq!(fs::read_to_string(&out2).unwrap(), "x".repeat(10));
        assert_ne!(
            fs::metadata(&out2).unwrap().ino(),
            fs::metadata(&big).unwrap().ino()
        );
        // Something already at the name: copied over (a plain file), never replaced.
        let out4 = root.join("stdout4.txt");
        fs::write(&out4, "stale, longer than the message").unwrap();
        assert_eq!(link_or_copy(&big, &out4, 100).unwrap(), 0);
        assert_eq!(fs::read_to_string(&out4).unwrap(), "x".repeat(50));
        assert_eq!(fs::metadata(&out4).unwrap().nlink(), 1);
        // A file with another link is copied, never linked a third time.
        let (shared, out3) = (root.join("shared.txt"), root.join("stdout3.txt"));
        fs::hard_link(&msg, &shared).unwrap();
        fs::remove_file(&out).unwrap();
        assert_eq!(link_or_copy(&shared, &out3, 100).unwrap(), 0);
        assert_eq!(fs::metadata(&out3).unwrap().nlink(), 1);
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
    }
}
