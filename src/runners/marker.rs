//! Terminal-marker extraction from an agent's final text.
//!
//! A marker is a line that, once trimmed, is `###`, at least one whitespace
//! character, then a token of `A-Z` and `_` (the reference's
//! `^###\s+([A-Z_]+)\s*$` applied to the stripped line). The text is the
//! final message when the agent wrote one, else its stdout. The result is
//! one legal marker, missing, conflicting (two or more distinct tokens;
//! repeating the same token is fine), or illegal (not among the stage's
//! outcomes).
//!
//! An agent may also print metadata lines, `Resume-Stage: <node>` and
//! `Target-Stage: <node>` (key case-insensitive, `-` or `_`; value trimmed
//! and lowercased; the last occurrence wins). They are returned beside the
//! marker for the router's resume policies.

use std::io::{self, BufRead};

use serde::Serialize;

/// Optional routing metadata printed by the agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MarkerMetadata {
    pub resume_stage: Option<String>,
    pub target_stage: Option<String>,
}

/// Every marker token and metadata line found in a text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MarkerScan {
    /// Distinct tokens, in order of first appearance.
    pub distinct: Vec<String>,
    /// The last token seen.
    pub last: Option<String>,
    /// Legal-or-not tokens seen, counting repeats.
    pub count: usize,
    pub metadata: MarkerMetadata,
}

/// The classification of a scan against a stage's legal outcomes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Extraction {
    /// Exactly one distinct token, and it is legal.
    Legal { outcome: String },
    /// No marker line at all (`missing_terminal_result`).
    Missing,
    /// Two or more distinct tokens (`conflicting_terminal_results`); `last`
    /// is the last one printed.
    Conflicting { last: String },
    /// One token, not a legal outcome of this stage (`illegal_terminal_result`).
    Illegal { token: String },
}

impl Extraction {
    /// The reference's failure class for a non-legal extraction.
    pub fn failure_class(&self) -> Option<&'static str> {
        match self {
            Extraction::Legal { .. } => None,
            Extraction::Missing => Some("missing_terminal_result"),
            Extraction::Conflicting { .. } => Some("conflicting_terminal_results"),
            Extraction::Illegal { .. } => Some("illegal_terminal_result"),
        }
    }

    /// `### TOKEN` of the token the failure or success is about, if any.
    pub fn detected_marker(&self) -> Option<String> {
        match self {
            Extraction::Legal { outcome } => Some(format!("### {outcome}")),
            Extraction::Missing => None,
            Extraction::Conflicting { last } => Some(format!("### {last}")),
            Extraction::Illegal { token } => Some(format!("### {token}")),
        }
    }
}

/// The token of a marker line, if `line` is one.
pub fn marker_token(line: &str) -> Option<&str> {
    let rest = line.trim().strip_prefix("###")?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let token = rest.trim_start();
    if !token.is_empty() && token.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
        Some(token)
    } else {
        None
    }
}

/// `(key, value)` of a `Resume-Stage:` / `Target-Stage:` line.
fn metadata_line(line: &str) -> Option<(&'static str, String)> {
    let (key, value) = line.trim().split_once(':')?;
    let key = key.trim().to_ascii_lowercase().replace('_', "-");
    let field = match key.as_str() {
        "resume-stage" => "resume_stage",
        "target-stage" => "target_stage",
        _ => return None,
    };
    let value = value.trim().to_lowercase();
    if value.is_empty() {
        None
    } else {
        Some((field, value))
    }
}

impl MarkerScan {
    /// Feed one line.
    pub fn push_line(&mut self, line: &str) {
        if let Some(token) = marker_token(line) {
            self.count += 1;
            if !self.distinct.iter().any(|t| t == token) {
                self.distinct.push(token.to_string());
            }
            self.last = Some(token.to_string());
        } else if let Some((field, value)) = metadata_line(line) {
            match field {
                "resume_stage" => self.metadata.resume_stage = Some(value),
                _ => self.metadata.target_stage = Some(value),
            }
        }
    }

    /// Classify against the legal outcome names (without `### `).
    pub fn classify<S: AsRef<str>>(&self, legal: &[S]) -> Extraction {
        match (self.distinct.len(), &self.last) {
            (0, _) | (_, None) => Extraction::Missing,
            (1, Some(token)) => {
                if legal.iter().any(|l| l.as_ref() == token) {
                    Extraction::Legal {
                        outcome: token.clone(),
                    }
                } else {
                    Extraction::Illegal {
                        token: token.clone(),
                    }
                }
            }
            (_, Some(last)) => Extraction::Conflicting { last: last.clone() },
        }
    }
}

/// Scan a text held in memory.
pub fn scan_text(text: &str) -> MarkerScan {
    let mut scan = MarkerScan::default();
    for line in text.lines() {
        scan.push_line(line);
    }
    scan
}

/// Longest line the scanners look at. A longer line cannot be a marker,
/// a metadata line or a token-count event; it is skipped without being
/// held in memory, so one huge line costs no more than this.
pub const MAX_SCANNED_LINE_BYTES: usize = 1024 * 1024;

/// Read the next line into `buf` (cleared first), keeping at most
/// `max` bytes. `Ok(None)` at the end of the input,
/// `Ok(Some(false))` for a line that was too long (its bytes are consumed
/// and `buf` is left empty), `Ok(Some(true))` for a line.
pub fn read_bounded_line<R: BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<Option<bool>> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let chunk = match reader.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            break;
        }
        any = true;
        let (part, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..=i], true),
            None => (chunk, false),
        };
        if !too_long {
            if buf.len() + part.len() > max {
                too_long = true;
                buf.clear();
                buf.shrink_to(max.min(MAX_SCANNED_LINE_BYTES));
            } else {
                buf.extend_from_slice(part);
            }
        }
        let n = part.len();
        reader.consume(n);
        if done {
            break;
        }
    }
    Ok(any.then_some(!too_long))
}

/// Scan a reader line by line (files may be large; nothing is kept but the
/// tokens, and lines longer than `MAX_SCANNED_LINE_BYTES` are skipped).
/// Invalid UTF-8 is replaced, not an error.
pub fn scan_reader<R: BufRead>(mut reader: R) -> io::Result<MarkerScan> {
    let mut scan = MarkerScan::default();
    let mut buf = Vec::new();
    while let Some(kept) = read_bounded_line(&mut reader, &mut buf, MAX_SCANNED_LINE_BYTES)? {
        if kept {
            scan.push_line(&String::from_utf8_lossy(&buf));
        }
    }
    Ok(scan)
}

/// Scan a file; a missing file scans as empty. A link or special file is
/// refused (`workspace::safe_fs`).
pub fn scan_file(path: &std::path::Path) -> io::Result<MarkerScan> {
    match crate::workspace::safe_fs::open_regular(path, None) {
        Ok(f) => scan_reader(io::BufReader::new(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(MarkerScan::default()),
        Err(e) => Err(e),
    }
}

/// The reference's final-marker reconciliation: when the last non-empty line
/// of the final message is `### X`, X is legal, and X is the only legal
/// token in the message, the stage counts as completed even if the process
/// timed out or exited non-zero. Returns X.
pub fn reconciled_final_marker<S: AsRef<str>>(message: &str, legal: &[S]) -> Option<String> {
    let mut legal_seen: Vec<&str> = Vec::new();
    let mut last_nonempty: Option<&str> = None;
    for line in message.lines() {
        let t = line.trim();
        if !t.is_empty() {
            last_nonempty = Some(t);
        }
        if let Some(token) = marker_token(line) {
            if legal.iter().any(|l| l.as_ref() == token) {
                legal_seen.push(token);
            }
        }
    }
    if legal_seen.len() != 1 {
        return None;
    }
    let marker = legal_seen[0];
    (last_nonempty? == format!("### {marker}")).then(|| marker.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_line_is_skipped_without_being_held() {
        let huge = "a".repeat(MAX_SCANNED_LINE_BYTES * 3);
        let text = format!("{huge}\n### BLOCKED\n{huge}");
        let scan = scan_reader(io::BufReader::new(text.as_bytes())).unwrap();
        assert_eq!(scan.distinct, vec!["BLOCKED"]);
        let mut reader = io::BufReader::new(text.as_bytes());
        let mut buf = Vec::new();
        assert_eq!(
            read_bounded_line(&mut reader, &mut buf, 64).unwrap(),
            Some(false)
        );
        assert!(buf.capacity() <= MAX_SCANNED_LINE_BYTES);
        assert_eq!(
            read_bounded_line(&mut reader, &mut buf, 64).unwrap(),
            Some(true)
        );
        assert_eq!(buf, b"### BLOCKED\n");
        assert_eq!(
            read_bounded_line(&mut reader, &mut buf, 64).unwrap(),
            Some(false)
        );
        assert_eq!(read_bounded_line(&mut reader, &mut buf, 64).unwrap(), None);
    }

    const LEGAL: [&str; 2] = ["BUILDER_COMPLETE", "BLOCKED"];

    #[test]
    fn token_lines() {
        assert_eq!(marker_token("### BLOCKED"), Some("BLOCKED"));
        assert_eq!(marker_token("  ###\tFIX_NEEDED  \r"), Some("FIX_NEEDED"));
        assert_eq!(marker_token("###BLOCKED"), None);
        assert_eq!(marker_token("#### BLOCKED"), None);
        assert_eq!(marker_token("### Blocked"), None);
        assert_eq!(marker_token("### BLOCKED now"), None);
        assert_eq!(marker_token("### "), None);
        assert_eq!(marker_token("text ### BLOCKED"), None);
    }

    #[test]
    fn classification() {
        let c = |t: &str| scan_text(t).classify(&LEGAL);
        assert_eq!(
            c("work done\n### BUILDER_COMPLETE\n"),
            Extraction::Legal {
                outcome: "BUILDER_COMPLETE".into()
            }
        );
        assert_eq!(
            c("### BLOCKED\n### BLOCKED\n"),
            Extraction::Legal {
                outcome: "BLOCKED".into()
            }
        );
        assert_eq!(c("no marker here\n"), Extraction::Missing);
        assert_eq!(c(""), Extraction::Missing);
        assert_eq!(
            c("### BUILDER_COMPLETE\n### BLOCKED\n### BUILDER_COMPLETE"),
            Extraction::Conflicting {
                last: "BUILDER_COMPLETE".into()
            }
        );
        assert_eq!(
            c("### CHECKER_PASS"),
            Extraction::Illegal {
                token: "CHECKER_PASS".into()
            }
        );
        assert_eq!(
            Extraction::Missing.failure_class(),
            Some("missing_terminal_result")
        );
    }

    #[test]
    fn metadata_lines() {
        let s = scan_text("Resume-Stage:  Checker \nTARGET_stage: Fixer\n### BLOCKED\n");
        assert_eq!(s.metadata.resume_stage.as_deref(), Some("checker"));
        assert_eq!(s.metadata.target_stage.as_deref(), Some("fixer"));
        let s = scan_text("resume-stage:\n### BLOCKED");
        assert_eq!(s.metadata, MarkerMetadata::default());
    }

    #[test]
    fn reader_and_text_agree() {
        let text = "a\n### BLOCKED\r\nResume-Stage: builder\n\u{fffd}\n### BLOCKED";
        assert_eq!(scan_reader(text.as_bytes()).unwrap(), scan_text(text));
    }

    #[test]
    fn reconciliation() {
        assert_eq!(
            reconciled_final_marker("done\n### BUILDER_COMPLETE\n\n", &LEGAL).as_deref(),
            Some("BUILDER_COMPLETE")
        );
        // Not the last non-empty line.
        assert_eq!(
            reconciled_final_marker("### BUILDER_COMPLETE\ntrailing", &LEGAL),
            None
        );
        // Two legal tokens.
        assert_eq!(
            reconciled_final_marker("### BLOCKED\n### BUILDER_COMPLETE", &LEGAL),
            None
        );
        // Illegal tokens do not count.
        assert_eq!(
            reconciled_final_marker("### NOPE\n### BLOCKED", &LEGAL).as_deref(),
            Some("BLOCKED")
        );
        // Extra whitespace inside the final line defeats the exact comparison.
        assert_eq!(reconciled_final_marker("###  BLOCKED", &LEGAL), None);
    }
}
