//! The documents an editor has open: their text by URI, and the
//! conversions the protocol needs (file URI ↔ path, LSP position ↔ byte
//! offset, the word under the cursor, the block around it).

use lsp_types::{Position, Range, Uri};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Open documents by URI text.
#[derive(Debug, Default)]
pub struct Documents {
    open: HashMap<String, String>,
}

impl Documents {
    pub fn set(&mut self, uri: &Uri, text: String) {
        self.open.insert(uri.as_str().to_string(), text);
    }

    pub fn close(&mut self, uri: &Uri) {
        self.open.remove(uri.as_str());
    }

    pub fn get(&self, uri: &Uri) -> Option<&str> {
        self.open.get(uri.as_str()).map(String::as_str)
    }

    /// Every open document that is a file on disk, as (path, text).
    pub fn files(&self) -> Vec<(PathBuf, String)> {
        self.open
            .iter()
            .filter_map(|(u, t)| Some((path_of_str(u)?, t.clone())))
            .collect()
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn path_of_str(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    // `file:///p` (empty authority) or `file://localhost/p`.
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    let bytes = rest.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    let text = String::from_utf8(out).ok()?;
    text.starts_with('/').then(|| PathBuf::from(text))
}

/// The path of a `file:` URI.
pub fn path_of(uri: &Uri) -> Option<PathBuf> {
    path_of_str(uri.as_str())
}

/// The `file:` URI of an absolute path.
pub fn uri_of(path: &Path) -> Option<Uri> {
    let abs = std::path::absolute(path).ok()?;
    let mut s = String::from("file://");
    for b in abs.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    Uri::from_str(&s).ok()
}

/// The byte offset of an LSP position (UTF-16 columns), clamped to the text.
pub fn offset_of(text: &str, pos: Position) -> usize {
    let mut line_start = 0;
    for _ in 0..pos.line {
        match text[line_start..].find('\n') {
            Some(i) => line_start += i + 1,
            None => return text.len(),
        }
    }
    let line_end = text[line_start..]
        .find('\n')
        .map_or(text.len(), |i| line_start + i);
    let mut units = 0u32;
    for (i, c) in text[line_start..line_end].char_indices() {
        if units >= pos.character {
            return line_start + i;
        }
        units += c.len_utf16() as u32;
    }
    line_end
}

/// The LSP position of a byte offset.
pub fn position_of(text: &str, offset: usize) -> Position {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() as u32;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let character = text[line_start..offset]
        .chars()
        .map(|c| c.len_utf16() as u32)
        .sum();
    Position { line, character }
}

pub fn range_of(text: &str, start: usize, end: usize) -> Range {
    Range {
        start: position_of(text, start),
        end: position_of(text, end.max(start)),
    }
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-'
}

/// The word (identifier, dotted id or marker) around `offset`, with its start.
pub fn word_at(text: &str, offset: usize) -> Option<(usize, &str)> {
    let offset = offset.min(text.len());
    let start = text[..offset]
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_word(*c))
        .last()
        .map_or(offset, |(i, _)| i);
    let end = text[offset..]
        .char_indices()
        .find(|(_, c)| !is_word(*c))
        .map_or(text.len(), |(i, _)| offset + i);
    let w = text[start..end].trim_end_matches('.');
    (!w.is_empty()).then_some((start, w))
}

/// The quoted string around `offset` (an import path), without quotes.
pub fn string_at(text: &str, offset: usize) -> Option<&str> {
    let line_start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line_end = text[line_start..]
        .find('\n')
        .map_or(text.len(), |i| line_start + i);
    let line = &text[line_start..line_end];
    let col = offset - line_start;
    let open = line[..col.min(line.len())].rfind('"')?;
    let close = open + 1 + line[open + 1..].find('"')?;
    (col > open && col <= close).then(|| &line[open + 1..close])
}

/// The blocks that enclose `offset`, outermost first, as the first two
/// words of the line that opened each (`["loop", "x.y"]`, `["outcomes"]`).
/// Text-based, so it works while the file does not parse.
pub fn enclosing(text: &str, offset: usize) -> Vec<Vec<String>> {
    let mut stack: Vec<Vec<String>> = Vec::new();
    let mut in_comment = false;
    let mut in_string = false;
    let mut line_start = 0;
    for (i, c) in text[..offset.min(text.len())].char_indices() {
        match c {
            '\n' => {
                in_comment = false;
                in_string = false;
                line_start = i + 1;
            }
            _ if in_comment => {}
            '"' => in_string = !in_string,
            _ if in_string => {}
            '/' if text[i..].starts_with("//") => in_comment = true,
            '{' => stack.push(
                text[line_start..i]
                    .split_whitespace()
                    .take(2)
                    .map(str::to_string)
                    .collect(),
            ),
            '}' => {
                stack.pop();
            }
            _ => {}
        }
    }
    stack
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_round_trip_and_positions_count_utf16() {
        let uri = uri_of(Path::new("/tmp/a b/ü.mill")).unwrap();
        assert_eq!(uri.as_str(), "file:///tmp/a%20b/%C3%BC.mill");
        assert_eq!(path_of(&uri).unwrap(), PathBuf::from("/tmp/a b/ü.mill"));
        let text = "ab\n😀x y\n";
        let off = offset_of(
            text,
            Position {
                line: 1,
                character: 2,
            },
        );
        assert_eq!(&text[off..off + 1], "x");
        assert_eq!(
            position_of(text, off),
            Position {
                line: 1,
                character: 2
            }
        );
        assert_eq!(word_at("  builder BLOCKED", 4), Some((2, "builder")));
        assert_eq!(string_at("import \"std/x.mill\"", 10), Some("std/x.mill"));
        let t = "loop a.b on execution {\n  nodes x // {\n  resume r {\n";
        let e = enclosing(t, t.len());
        assert_eq!(e, vec![vec!["loop", "a.b"], vec!["resume", "r"]]);
    }
}
