//! The text-level helpers of the formatter: finding comments, joining a
//! declaration's tokens with canonical spacing, and spotting blank lines.

/// A `//` comment: its offset, text, and whether code precedes it on its line.
pub(super) struct Comment {
    pub start: usize,
    pub text: String,
    pub trailing: bool,
}

/// Every comment of the text, in order (strings are skipped).
pub(super) fn comments(text: &str) -> Vec<Comment> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        if let Some(start) = comment_start(body) {
            out.push(Comment {
                start: offset + start,
                text: body[start..].trim_end().to_string(),
                trailing: !body[..start].trim().is_empty(),
            });
        }
        offset += line.len();
    }
    out
}

/// Where the line's `//` comment starts, outside string literals.
fn comment_start(line: &str) -> Option<usize> {
    let mut in_str = false;
    let mut escaped = false;
    let mut prev_slash = false;
    for (i, c) in line.char_indices() {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        if c == '"' {
            in_str = true;
            prev_slash = false;
            continue;
        }
        if c == '/' && prev_slash {
            return Some(i - 1);
        }
        prev_slash = c == '/';
    }
    None
}

/// Join the tokens of `src` (comments dropped) with canonical spacing.
pub(super) fn flat(src: &str) -> String {
    let mut toks: Vec<String> = Vec::new();
    let chars: Vec<(usize, char)> = src.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1).is_some_and(|(_, n)| *n == '/') {
            while i < chars.len() && chars[i].1 != '\n' {
                i += 1;
            }
        } else if c == '"' {
            let mut j = i + 1;
            while j < chars.len() {
                match chars[j].1 {
                    '\\' => j += 2,
                    '"' => break,
                    _ => j += 1,
                }
            }
            let end = chars.get(j).map_or(src.len(), |(b, _)| b + 1);
            toks.push(src[at..end].to_string());
            i = j + 1;
        } else if (c == '-' || c == '=') && chars.get(i + 1).is_some_and(|(_, n)| *n == '>') {
            toks.push(format!("{c}>"));
            i += 2;
        } else if "{},:|=".contains(c) {
            toks.push(c.to_string());
            i += 1;
        } else {
            // A word runs to whitespace, punctuation, `->` or `//`.
            let ends_word = |j: usize| {
                let (c, next) = (chars[j].1, chars.get(j + 1).map(|(_, n)| *n));
                c.is_whitespace()
                    || "{},:|=\"".contains(c)
                    || (c == '-' && next == Some('>'))
                    || (c == '/' && next == Some('/'))
            };
            let mut j = i;
            while j < chars.len() && !ends_word(j) {
                j += 1;
            }
            let end = chars.get(j).map_or(src.len(), |(b, _)| *b);
            toks.push(src[at..end].to_string());
            i = j;
        }
    }
    let mut s = String::new();
    for t in toks {
        if !(s.is_empty() || t == "," || t == ":") {
            s.push(' ');
        }
        s.push_str(&t);
    }
    s
}

/// A line without its `//` comment (strings respected).
pub(super) fn code_part(line: &str) -> &str {
    comment_start(line).map_or(line, |i| &line[..i])
}

/// Does `gap` (text between two items) contain an empty line?
pub(super) fn has_blank_line(gap: &str) -> bool {
    let parts: Vec<&str> = gap.split('\n').collect();
    parts.len() > 2
        && parts[1..parts.len() - 1]
            .iter()
            .any(|l| l.trim().is_empty())
}
