//! The canonical layout of `.mill` source, for `millrace fmt`.
//!
//! Formatting works on the parse tree, so only a file that parses is
//! formatted; the result parses to the same program. Every comment is kept:
//! a comment on a line of its own stays before the item that follows it, a
//! comment after code on the same line stays at the end of that line. Layout:
//! two spaces per block level, one item per line, one blank line between
//! top-level declarations (blank lines inside blocks are kept, at most one),
//! and aligned columns where the shipped files align them (routes, entries,
//! terminals, outcomes, loop bindings, concurrency rules).

use super::diagnostic::Diagnostic;
use super::syntax::{self, Rule};
use pest::iterators::Pair;
use text::{code_part, comments, flat, has_blank_line, Comment};

mod text;

/// Format one file's text. A file that does not parse is returned as its
/// syntax error.
pub fn format(text: &str) -> Result<String, Box<Diagnostic>> {
    let root = syntax::parse_tree(0, text)?;
    let mut f = Formatter {
        text,
        comments: comments(text),
        next_comment: 0,
        out: Vec::new(),
        last_end: 0,
    };
    let decls: Vec<Pair<Rule>> = root
        .into_inner()
        .filter(|p| p.as_rule() != Rule::EOI)
        .collect();
    let mut prev: Option<Rule> = None;
    for d in decls {
        let rule = d.as_rule();
        let start = d.as_span().start();
        let blank = match prev {
            None => false,
            Some(Rule::import) if rule == Rule::import => f.blank_in_source(start),
            Some(_) => true,
        };
        f.leading(start, 0, blank);
        f.decl(d);
        prev = Some(rule);
    }
    f.flush_until(text.len(), 0, true);
    let mut s = f.out.join("\n");
    s.push('\n');
    Ok(s)
}

struct Formatter<'a> {
    text: &'a str,
    comments: Vec<Comment>,
    next_comment: usize,
    out: Vec<String>,
    /// End offset of the last source text emitted.
    last_end: usize,
}

fn pad(level: usize) -> String {
    "  ".repeat(level)
}

impl<'a> Formatter<'a> {
    /// Was there a blank line in the source between what was last emitted and `at`?
    fn blank_in_source(&self, at: usize) -> bool {
        let from = self.last_end.min(at);
        has_blank_line(&self.text[from..at])
    }

    fn push(&mut self, level: usize, line: String) {
        self.out
            .push(format!("{}{}", pad(level), line).trim_end().to_string());
    }

    fn blank(&mut self) {
        if self.out.last().is_some_and(|l| !l.is_empty()) {
            self.out.push(String::new());
        }
    }

    /// Emit the comments before `at`: trailing ones at the end of the last
    /// line, the others on lines of their own, keeping blank lines between.
    fn flush_until(&mut self, at: usize, level: usize, keep_blanks: bool) {
        while let Some(c) = self.comments.get(self.next_comment) {
            if c.start >= at {
                break;
            }
            let (start, text, trailing) = (c.start, c.text.clone(), c.trailing);
            self.next_comment += 1;
            if trailing && !self.out.is_empty() {
                let last = self.out.last_mut().expect("non-empty");
                last.push(' ');
                last.push_str(&text);
            } else {
                if keep_blanks && self.blank_in_source(start) && !self.out.is_empty() {
                    self.blank();
                }
                self.push(level, text);
            }
            self.last_end = start + c_len(&self.text[start..]);
        }
    }

    /// Before an item at `at`: its leading comments, with a blank line before
    /// them when `blank` (or the source had one).
    fn leading(&mut self, at: usize, level: usize, blank: bool) {
        let has_comment = self
            .comments
            .get(self.next_comment)
            .is_some_and(|c| c.start < at && !c.trailing);
        if blank {
            // The blank line goes before the comments that lead the item.
            if has_comment || !self.out.is_empty() {
                self.flush_trailing(at);
                self.blank();
            }
        } else if self.blank_in_source(first_own_line(&self.comments, self.next_comment, at))
            && !self.out.is_empty()
        {
            self.flush_trailing(at);
            self.blank();
        }
        self.flush_until(at, level, true);
        if self.blank_in_source(at) && !self.out.is_empty() && has_comment {
            self.blank();
        }
    }

    /// Attach trailing comments that precede `at` to the last line.
    fn flush_trailing(&mut self, at: usize) {
        while let Some(c) = self.comments.get(self.next_comment) {
            if c.start >= at || !c.trailing {
                break;
            }
            self.flush_until(c.start + 1, 0, false);
        }
    }

    /// Record that `pair` is emitted. A pair ending in a repetition also
    /// spans the whitespace and comments after its last token: only the code
    /// counts, so a blank line after it is still seen.
    fn done(&mut self, pair: &Pair<Rule>) {
        self.last_end = self.last_end.max(self.code_end(pair));
    }

    /// The end of the last token of `pair` (its span may run on over the
    /// whitespace and comments after it).
    fn code_end(&self, pair: &Pair<Rule>) -> usize {
        let (start, end) = (pair.as_span().start(), pair.as_span().end());
        let mut code_end = start;
        let mut offset = start;
        for line in self.text[start..end].split_inclusive('\n') {
            let code = code_part(line);
            if !code.trim().is_empty() {
                code_end = offset + code.trim_end().len();
            }
            offset += line.len();
        }
        code_end
    }

    fn decl(&mut self, d: Pair<'a, Rule>) {
        match d.as_rule() {
            Rule::stage_decl => self.stage(d),
            Rule::loop_decl => self.loop_decl(d),
            Rule::mode_decl => self.mode(d),
            _ => {
                self.push(0, flat(d.as_str()));
                self.done(&d);
            }
        }
    }

    /// `header {`, the items, `}`.
    fn block(
        &mut self,
        level: usize,
        header: String,
        close_at: usize,
        body: impl FnOnce(&mut Self),
    ) {
        self.push(level, format!("{header} {{"));
        // The block's `{`: the last one before its first item.
        if let Some(open) = self.text[self.last_end..close_at].find('{') {
            self.last_end = self.last_end + open + 1;
        }
        body(self);
        self.flush_trailing(close_at);
        self.flush_until(close_at, level + 1, true);
        self.push(level, "}".to_string());
        self.last_end = close_at + 1;
    }

    /// Items of a block, grouping runs of one rule for column alignment.
    fn items(&mut self, level: usize, items: Vec<Pair<'a, Rule>>, render: &Render<'a>) {
        let mut i = 0;
        while i < items.len() {
            let rule = items[i].as_rule();
            let mut j = i + 1;
            if ALIGNED.contains(&rule) {
                while j < items.len()
                    && items[j].as_rule() == rule
                    && !self.blank_between(&items[j - 1], &items[j])
                    && !self.comment_between(&items[j - 1], &items[j])
                {
                    j += 1;
                }
            }
            let group: Vec<Pair<Rule>> = items[i..j].to_vec();
            let start = group[0].as_span().start();
            let blank = self
                .out
                .last()
                .is_some_and(|l| !l.trim_end().ends_with('{'))
                && self.blank_in_source(start);
            self.leading(start, level, blank);
            render(self, level, group);
            i = j;
        }
    }

    fn blank_between(&self, a: &Pair<Rule>, b: &Pair<Rule>) -> bool {
        has_blank_line(&self.text[self.code_end(a)..b.as_span().start()])
    }

    fn comment_between(&self, a: &Pair<Rule>, b: &Pair<Rule>) -> bool {
        let (s, e) = (self.code_end(a), b.as_span().start());
        self.comments
            .iter()
            .any(|c| c.start >= s && c.start < e && !c.trailing)
    }

    fn stage(&mut self, d: Pair<'a, Rule>) {
        let close = d.as_span().end() - 1;
        let mut it = d.into_inner();
        let name = it.next().expect("stage name").as_str().to_string();
        let fields: Vec<Pair<Rule>> = it.collect();
        self.block(0, format!("stage {name}"), close, |f| {
            f.items(1, fields, &|f, level, group| {
                for p in group {
                    if p.as_rule() == Rule::outcomes_block {
                        let close = p.as_span().end() - 1;
                        let outs: Vec<Pair<Rule>> = p.into_inner().collect();
                        f.block(level, "outcomes".into(), close, |f| {
                            f.items(level + 1, outs, &|f, level, group| {
                                let rows: Vec<(String, String)> = group
                                    .iter()
                                    .map(|o| {
                                        let mut i = o.clone().into_inner();
                                        let m = i.next().expect("marker").as_str().to_string();
                                        (m, flat(i.next().expect("classes").as_str()))
                                    })
                                    .collect();
                                let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
                                for ((m, c), p) in rows.into_iter().zip(&group) {
                                    f.flush_until(p.as_span().start(), level, true);
                                    f.push(level, format!("{m:<w$} => {c}"));
                                    f.done(p);
                                }
                            });
                        });
                    } else {
                        f.push(level, flat(p.as_str()));
                        f.done(&p);
                    }
                }
            });
        });
    }

    fn loop_decl(&mut self, d: Pair<'a, Rule>) {
        let close = d.as_span().end() - 1;
        let mut it = d.into_inner().peekable();
        let name = it.next().expect("loop name").as_str().to_string();
        let plane = it.next().expect("plane").as_str().to_string();
        let mut header = format!("loop {name} on {plane}");
        if it.peek().is_some_and(|p| p.as_rule() == Rule::loop_extends) {
            header.push(' ');
            header.push_str(&flat(it.next().expect("extends").as_str()));
        }
        let items: Vec<Pair<Rule>> = it.collect();
        self.block(0, header, close, |f| {
            f.items(1, items, &Formatter::loop_group)
        });
    }

    fn loop_group(&mut self, level: usize, group: Vec<Pair<'a, Rule>>) {
        match group[0].as_rule() {
            Rule::route_decl => {
                // (node, [(markers, target, arm)])
                let arm_starts: Vec<Vec<usize>> = group
                    .iter()
                    .map(|r| {
                        r.clone()
                            .into_inner()
                            .skip(1)
                            .map(|a| a.as_span().start())
                            .collect()
                    })
                    .collect();
                let routes: Vec<(String, Vec<(String, String)>)> = group
                    .iter()
                    .map(|r| {
                        let mut i = r.clone().into_inner();
                        let from = i.next().expect("node").as_str().to_string();
                        let arms = i
                            .map(|a| {
                                let mut ai = a.into_inner();
                                let m = flat(ai.next().expect("markers").as_str());
                                (m, flat(ai.next().expect("target").as_str()))
                            })
                            .collect();
                        (from, arms)
                    })
                    .collect();
                let w1 = routes.iter().map(|r| r.0.len()).max().unwrap_or(0);
                let w2 = routes
                    .iter()
                    .flat_map(|r| r.1.iter().map(|a| a.0.len()))
                    .max()
                    .unwrap_or(0);
                for (((from, arms), p), starts) in routes.into_iter().zip(&group).zip(&arm_starts) {
                    self.flush_until(p.as_span().start(), level, true);
                    for (k, (m, t)) in arms.into_iter().enumerate() {
                        if k > 0 {
                            // Comments between arms stay between them.
                            self.flush_until(starts[k], level, true);
                        }
                        let node = if k == 0 { from.as_str() } else { "" };
                        self.push(level, format!("{node:<w1$} {m:<w2$} -> {t}"));
                    }
                    self.done(p);
                }
            }
            Rule::entry_decl => {
                let rows: Vec<(String, String)> = group
                    .iter()
                    .map(|e| {
                        let mut i = e.clone().into_inner();
                        (
                            i.next().expect("key").as_str().to_string(),
                            i.next().expect("node").as_str().to_string(),
                        )
                    })
                    .collect();
                let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
                for ((k, n), p) in rows.into_iter().zip(&group) {
                    self.flush_until(p.as_span().start(), level, true);
                    self.push(level, format!("entry {k:<w$} -> {n}"));
                    self.done(p);
                }
            }
            Rule::terminal_decl => {
                let rows: Vec<[String; 4]> = group
                    .iter()
                    .map(|t| {
                        let mut i = t.clone().into_inner();
                        let mut row = [
                            i.next().expect("id").as_str().to_string(),
                            i.next().expect("class").as_str().to_string(),
                            String::new(),
                            String::new(),
                        ];
                        for extra in i {
                            match extra.as_rule() {
                                Rule::terminal_status => row[2] = flat(extra.as_str()),
                                _ => row[3] = flat(extra.as_str()),
                            }
                        }
                        row
                    })
                    .collect();
                let w: Vec<usize> = (0..3)
                    .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
                    .collect();
                for (r, p) in rows.iter().zip(&group) {
                    self.flush_until(p.as_span().start(), level, true);
                    let line = format!(
                        "terminal {:<w0$} {:<w1$} {:<w2$} {}",
                        r[0],
                        r[1],
                        r[2],
                        r[3],
                        w0 = w[0],
                        w1 = w[1],
                        w2 = w[2]
                    );
                    self.push(level, line);
                    self.done(p);
                }
            }
            Rule::threshold_decl => {
                for p in group {
                    let close = p.as_span().end() - 1;
                    let mut i = p.into_inner();
                    let id = i.next().expect("id").as_str().to_string();
                    let counter = i.next().expect("counter").as_str().to_string();
                    let on = i.next().expect("on").as_str().to_string();
                    let from = flat(i.next().expect("from").as_str());
                    let after = i.next().expect("after").as_str().to_string();
                    let target = flat(i.next().expect("target").as_str());
                    self.block(level, format!("threshold {id}"), close, |f| {
                        f.push(level + 1, format!("counter {counter}"));
                        f.push(level + 1, format!("on {on} from {from}"));
                        f.push(level + 1, format!("after {after} -> {target}"));
                    });
                }
            }
            Rule::resume_decl => {
                for p in group {
                    let close = p.as_span().end() - 1;
                    let mut i = p.into_inner();
                    let id = i.next().expect("id").as_str().to_string();
                    let from = i.next().expect("from").as_str().to_string();
                    let on = i.next().expect("on").as_str().to_string();
                    let metadata = flat(i.next().expect("metadata").as_str());
                    let rest: Vec<String> = i.map(|x| flat(x.as_str())).collect();
                    self.block(level, format!("resume {id}"), close, |f| {
                        f.push(level + 1, format!("from {from} on {on}"));
                        f.push(level + 1, format!("metadata {metadata}"));
                        for r in rest {
                            f.push(level + 1, r);
                        }
                    });
                }
            }
            Rule::completion_decl => {
                for p in group {
                    let close = p.as_span().end() - 1;
                    let settings: Vec<Pair<Rule>> = p.into_inner().collect();
                    self.block(level, "completion".into(), close, |f| {
                        f.items(level + 1, settings, &|f, level, group| {
                            for s in group {
                                f.push(level, flat(s.as_str()));
                                f.done(&s);
                            }
                        });
                    });
                }
            }
            _ => {
                for p in group {
                    self.push(level, flat(p.as_str()));
                    self.done(&p);
                }
            }
        }
    }

    fn mode(&mut self, d: Pair<'a, Rule>) {
        let close = d.as_span().end() - 1;
        let mut it = d.into_inner().peekable();
        let name = it.next().expect("mode name").as_str().to_string();
        let mut header = format!("mode {name}");
        if it.peek().is_some_and(|p| p.as_rule() == Rule::extends) {
            header.push(' ');
            header.push_str(&flat(it.next().expect("extends").as_str()));
        }
        let items: Vec<Pair<Rule>> = it.collect();
        self.block(0, header, close, |f| {
            f.items(1, items, &Formatter::mode_group)
        });
    }

    fn mode_group(&mut self, level: usize, group: Vec<Pair<'a, Rule>>) {
        for p in group {
            match p.as_rule() {
                Rule::loops_block => {
                    let close = p.as_span().end() - 1;
                    let binds: Vec<Pair<Rule>> = p.into_inner().collect();
                    self.block(level, "loops".into(), close, |f| {
                        f.items(level + 1, binds, &|f, level, group| {
                            let rows: Vec<(String, String)> = group
                                .iter()
                                .map(|b| {
                                    let mut i = b.clone().into_inner();
                                    (
                                        format!("{}:", i.next().expect("plane").as_str()),
                                        i.next().expect("loop").as_str().to_string(),
                                    )
                                })
                                .collect();
                            let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
                            for ((k, v), b) in rows.into_iter().zip(&group) {
                                f.flush_until(b.as_span().start(), level, true);
                                f.push(level, format!("{k:<w$} {v}"));
                                f.done(b);
                            }
                        });
                    });
                }
                Rule::concurrency_block => {
                    let close = p.as_span().end() - 1;
                    let rules: Vec<Pair<Rule>> = p.into_inner().collect();
                    self.block(level, "concurrency".into(), close, |f| {
                        f.items(level + 1, rules, &|f, level, group| {
                            let rows: Vec<(String, String)> = group
                                .iter()
                                .map(|r| {
                                    let mut i = r.clone().into_inner();
                                    let kind = i.next().expect("kind").as_str().to_string();
                                    let a = i.next().expect("a").as_str();
                                    let b = i.next().expect("b").as_str();
                                    (kind, format!("{a}, {b}"))
                                })
                                .collect();
                            let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
                            for ((k, v), r) in rows.into_iter().zip(&group) {
                                f.flush_until(r.as_span().start(), level, true);
                                f.push(level, format!("{k:<w$} {v}"));
                                f.done(r);
                            }
                        });
                    });
                }
                Rule::learn_rule => {
                    let mut i = p.clone().into_inner();
                    let id = i.next().expect("id").as_str().to_string();
                    let source = i.next().expect("source").as_str().to_string();
                    let markers = flat(i.next().expect("markers").as_str());
                    let target = i.next().expect("target").as_str().to_string();
                    let action = i.next().expect("action").as_str().to_string();
                    self.push(level, format!("learn {id}"));
                    self.push(
                        level + 1,
                        format!("when {source} {markers} -> {target} {action}"),
                    );
                    for clause in i {
                        let strings: Vec<&str> =
                            clause.clone().into_inner().map(|s| s.as_str()).collect();
                        let head = match clause.as_rule() {
                            Rule::learn_skill => "skill",
                            _ => "outputs",
                        };
                        self.push(level + 1, format!("{head} {}", strings.join(", ")));
                    }
                    self.done(&p);
                }
                _ => {
                    self.push(level, flat(p.as_str()));
                    self.done(&p);
                }
            }
        }
    }
}

/// How a group of items of one rule is written (at a block level).
type Render<'a> = dyn Fn(&mut Formatter<'a>, usize, Vec<Pair<'a, Rule>>);

/// Rules whose consecutive lines share aligned columns.
const ALIGNED: &[Rule] = &[
    Rule::route_decl,
    Rule::entry_decl,
    Rule::terminal_decl,
    Rule::outcome_decl,
    Rule::loop_binding,
    Rule::concurrency_rule,
];

fn c_len(rest: &str) -> usize {
    rest.find('\n').unwrap_or(rest.len())
}

/// The offset of the first own-line comment before `at`, or `at`.
fn first_own_line(comments: &[Comment], next: usize, at: usize) -> usize {
    comments[next.min(comments.len())..]
        .iter()
        .find(|c| c.start < at && !c.trailing)
        .map_or(at, |c| c.start)
}
