//! Better syntax errors: recognises the common shapes of a parse failure
//! (an unclosed `{`, a duration without a unit, `#` comments, a missing comma
//! in a `nodes` line, a threshold id where a mode takes a counter name) and
//! turns pest's "expected X, found Y" into a diagnostic that names the cause
//! at the place to fix.

use super::diagnostic::{Code, Diagnostic};
use super::source::{FileId, Span};

/// The code of one line: comments and string contents blanked out (same
/// length, so offsets still hold).
fn code_of(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_str = false;
    let mut escaped = false;
    let mut chars = line.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
                out.push('"');
                continue;
            }
            out.extend(std::iter::repeat_n(' ', c.len_utf8()));
            continue;
        }
        if c == '"' {
            in_str = true;
            out.push('"');
        } else if c == '/' && chars.peek().is_some_and(|(_, n)| *n == '/') {
            break;
        } else {
            out.push(c);
        }
    }
    out
}

/// An open block: where its `{` is and the text that opened it.
struct Open {
    indent: usize,
    brace: usize,
    header: String,
}

/// The first block whose `}` is missing, judged by layout: a block opened at
/// the end of a line must be closed before the next line indented no deeper
/// than the line that opened it. Returns the `{` offset, the block's header
/// and the offset of the line where the `}` was due.
pub fn unclosed_block(text: &str) -> Option<(usize, String, usize)> {
    let mut stack: Vec<Open> = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let code = code_of(line.trim_end_matches(['\n', '\r']));
        let trimmed = code.trim_start();
        let indent = code.len() - trimmed.len();
        if !trimmed.is_empty() {
            if let Some(top) = stack.last() {
                if indent <= top.indent && !trimmed.starts_with('}') {
                    return Some((top.brace, top.header.clone(), offset));
                }
            }
            for (i, c) in code.char_indices() {
                match c {
                    '{' => stack.push(Open {
                        indent,
                        brace: offset + i,
                        header: code[..i].trim().to_string(),
                    }),
                    '}' => {
                        stack.pop();
                    }
                    _ => {}
                }
            }
        }
        offset += line.len();
    }
    stack.pop().map(|o| (o.brace, o.header, text.len()))
}

/// A `nodes` line (before `pos`) with two names not separated by a comma:
/// the span of the second name and the two names.
fn missing_node_comma(text: &str, pos: usize) -> Option<(usize, usize, String, String)> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if offset > pos {
            break;
        }
        let code = code_of(line.trim_end_matches(['\n', '\r']));
        let trimmed = code.trim_start();
        if let Some(rest) = trimmed.strip_prefix("nodes ") {
            let base = offset + (code.len() - trimmed.len()) + "nodes ".len();
            // Words and separators, with their offsets.
            let mut prev: Option<(usize, &str)> = None;
            let mut sep = true;
            let mut i = 0;
            let bytes = rest.as_bytes();
            while i < rest.len() {
                let c = bytes[i] as char;
                if c.is_ascii_alphanumeric() || c == '_' {
                    let start = i;
                    while i < rest.len()
                        && ((bytes[i] as char).is_ascii_alphanumeric() || bytes[i] == b'_')
                    {
                        i += 1;
                    }
                    let word = &rest[start..i];
                    if !sep {
                        if let Some((_, p)) = prev {
                            return Some((base + start, base + i, p.to_string(), word.to_string()));
                        }
                    }
                    prev = Some((start, word));
                    sep = false;
                    continue;
                }
                if c == ',' || c == ':' {
                    sep = true;
                }
                i += 1;
            }
        }
        offset += line.len();
    }
    None
}

/// A diagnostic for a parse failure at `pos` whose plain form would be
/// `expected`/`found`, when the failure has a recognisable cause.
pub fn explain(
    file: FileId,
    text: &str,
    pos: usize,
    found: &str,
    expected: &str,
) -> Option<Diagnostic> {
    let at = |s: usize, e: usize| Span::new(file, s, e.min(text.len()));
    let before = text.get(..pos).unwrap_or("");
    let rest = text.get(pos..).unwrap_or("");
    let word_end = pos + rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());

    if let Some((brace, header, due)) = unclosed_block(text) {
        // The block is the cause when it opens before the failure, or on the
        // line where the parser gave up on it (it backtracks to the line start).
        let same_line = !text[pos.min(brace)..brace.max(pos).min(text.len())].contains('\n');
        if brace < pos || same_line {
            let what = if header.is_empty() {
                "this block".to_string()
            } else {
                format!("`{header} {{`")
            };
            let mut d = Diagnostic::error(
                Code::Syntax,
                at(brace, brace + 1),
                format!("{what} is not closed"),
            )
            .label("this block is not closed");
            if pos < text.len() && brace < pos {
                d = d.with(
                    at(pos, word_end),
                    format!("so the parser stopped here ({expected} expected)"),
                );
            }
            let help = if due >= text.len() {
                "add the missing `}` at the end of the block (the file ends inside it)".to_string()
            } else {
                let line = text[..due].matches('\n').count() + 1;
                format!("add the missing `}}` at the end of the block, before line {line}")
            };
            return Some(d.help(help));
        }
    }
    if let Some((s, e, a, b)) = missing_node_comma(text, pos) {
        return Some(
            Diagnostic::error(
                Code::Syntax,
                at(s, e),
                format!("missing `,` between nodes `{a}` and `{b}`"),
            )
            .label("expected `,` before this node")
            .help(format!("separate nodes with commas: `nodes {a}, {b}`")),
        );
    }
    if found.starts_with("`#") {
        return Some(
            Diagnostic::error(
                Code::Syntax,
                at(pos, pos + 1),
                "`#` does not start a comment",
            )
            .label("not part of the language")
            .help("comments start with `//` and run to the end of the line"),
        );
    }
    let trimmed_before = before.trim_end();
    let prev_word = trimmed_before
        .rsplit(|c: char| c.is_whitespace())
        .next()
        .unwrap_or("");
    if prev_word.chars().all(|c| c.is_ascii_digit())
        && !prev_word.is_empty()
        && trimmed_before[..trimmed_before.len() - prev_word.len()]
            .trim_end()
            .ends_with("timeout")
    {
        let s = trimmed_before.len() - prev_word.len();
        return Some(
            Diagnostic::error(
                Code::Syntax,
                at(s, trimmed_before.len()),
                format!("duration `{prev_word}` has no unit"),
            )
            .label("a duration needs a unit")
            .help(format!(
                "durations need a unit: `s`, `m` or `h` (like `{prev_word}s` or `{prev_word}m`)"
            )),
        );
    }
    if rest.starts_with(|c: char| c.is_ascii_digit()) && prev_word == "timeout" {
        let digits_end = pos
            + rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
        return Some(
            Diagnostic::error(Code::Syntax, at(pos, digits_end), "a duration has no unit")
                .label("a duration needs a unit")
                .help("durations need a unit: `s`, `m` or `h` (like `30m`)"),
        );
    }
    if rest.starts_with('.') {
        let head = trimmed_before;
        let name_start = head
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_'))
            .map_or(0, |(i, c)| i + c.len_utf8());
        if head[..name_start].trim_end().ends_with("threshold") {
            return Some(
                Diagnostic::error(
                    Code::Syntax,
                    at(name_start, word_end),
                    "in a mode, `threshold` takes a counter name, not a threshold id",
                )
                .label("a threshold id")
                .help("retune a loop's threshold by the counter it declares: `threshold fix_cycle_count 3`"),
            );
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_unclosed_block_by_layout() {
        let text =
            "loop a on execution {\n  threshold x {\n    counter c\n  threshold y {\n  }\n}\n";
        let (brace, header, _) = unclosed_block(text).unwrap();
        assert_eq!(header, "threshold x");
        assert_eq!(&text[brace..brace + 1], "{");
        assert!(unclosed_block("stage a {\n  plane execution\n}\n").is_none());
        assert!(unclosed_block("a { b { c } }\n").is_none());
        let (_, header, due) = unclosed_block("stage a {\n  plane execution\n").unwrap();
        assert_eq!(header, "stage a");
        assert_eq!(due, 28, "the end of the text");
    }

    #[test]
    fn strings_and_comments_do_not_count() {
        assert!(unclosed_block("stage a { // {\n  display \"{\"\n}\n").is_none());
    }

    #[test]
    fn finds_a_missing_node_comma() {
        let text = "loop a on execution {\n  nodes builder checker\n";
        let (s, e, a, b) = missing_node_comma(text, text.len()).unwrap();
        assert_eq!((a.as_str(), b.as_str()), ("builder", "checker"));
        assert_eq!(&text[s..e], "checker");
        assert!(missing_node_comma("  nodes a, b: c\n", 99).is_none());
    }
}
