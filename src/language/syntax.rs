//! Syntax: the pest parser for `grammar/mill.pest` and the walk from pest's
//! parse tree to the [`ast`](super::ast). A syntax error becomes one
//! `mill::syntax` diagnostic at the failing position, naming what was expected.

use super::ast::*;
use super::diagnostic::{Code, Diagnostic};
use super::source::{FileId, Span};
use pest::iterators::Pair;
use pest::Parser;

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/mill.pest"]
struct MillParser;

/// The pest parse tree of one file (the `file` pair), for the formatter.
pub fn parse_tree(file: FileId, text: &str) -> Result<Pair<'_, Rule>, Box<Diagnostic>> {
    let mut pairs =
        MillParser::parse(Rule::file, text).map_err(|e| Box::new(syntax_error(file, text, e)))?;
    Ok(pairs.next().expect("the file rule always yields one pair"))
}

/// Parse one file's text. `file` is its id in the source set, used for spans.
pub fn parse(file: FileId, text: &str) -> Result<File, Box<Diagnostic>> {
    let mut pairs =
        MillParser::parse(Rule::file, text).map_err(|e| Box::new(syntax_error(file, text, e)))?;
    let root = pairs.next().expect("the file rule always yields one pair");
    let b = Builder { file };
    Ok(b.file(root))
}

/// How a rule is named in "expected ..." messages.
fn describe(rule: &Rule) -> &'static str {
    match rule {
        Rule::EOI => "end of file",
        Rule::ident => "a lower_snake_case name",
        Rule::name => "a dotted name (like execution.standard)",
        Rule::marker => "an UPPER_SNAKE_CASE outcome marker",
        Rule::string => "a quoted string",
        Rule::int => "a number",
        Rule::duration => "a duration (like 3600s, 30m, 1h)",
        Rule::boolean => "true or false",
        Rule::import => "`import`",
        Rule::stage_decl => "`stage`",
        Rule::loop_decl => "`loop`",
        Rule::mode_decl => "`mode`",
        Rule::alias_decl => "`alias`",
        Rule::plane_field => "`plane`",
        Rule::display_field => "`display`",
        Rule::entrypoint_field => "`entrypoint`",
        Rule::contract_field => "`contract`",
        Rule::skill_field => "`skill`",
        Rule::suggest_field => "`suggest`",
        Rule::running_field => "`running`",
        Rule::outcomes_block => "`outcomes`",
        Rule::outcome_decl => "an outcome (`MARKER => class`)",
        Rule::class_list => "a result class",
        Rule::consumes_field => "`consumes`",
        Rule::emits_field => "`emits`",
        Rule::idempotence_field => "`idempotence`",
        Rule::overrides_field => "`overrides`",
        Rule::starts_field => "`starts`",
        Rule::recovery_field => "`recovery`",
        Rule::closure_flag => "`closure`",
        Rule::nodes_decl => "`nodes`",
        Rule::node_spec => "a node",
        Rule::entry_decl => "`entry`",
        Rule::route_decl => "a route (`node OUTCOME -> target`)",
        Rule::route_arm => "a route arm (`OUTCOME -> target`)",
        Rule::target => "a node or `terminal <id>`",
        Rule::terminal_target => "`terminal <id>`",
        Rule::terminal_decl => "`terminal`",
        Rule::terminal_status => "`status`",
        Rule::terminal_emits => "`emits`",
        Rule::threshold_decl => "`threshold`",
        Rule::resume_decl => "`resume`",
        Rule::resume_default => "`default`",
        Rule::resume_never => "`never`",
        Rule::completion_decl => "`completion`",
        Rule::setting => "a setting (`key value`)",
        Rule::value => "a value",
        Rule::extends => "`extends`",
        Rule::loops_block => "`loops`",
        Rule::loop_binding => "a loop binding (`plane: loop.id`)",
        Rule::runner_field => "`runner`",
        Rule::stage_override => "`stage`",
        Rule::override_runner => "`runner`",
        Rule::override_model => "`model`",
        Rule::override_thinking => "`thinking`",
        Rule::override_timeout => "`timeout`",
        Rule::override_entrypoint => "`entrypoint`",
        Rule::override_skill => "`skill`",
        Rule::concurrency_block => "`concurrency`",
        Rule::concurrency_rule => "`exclusive` or `concurrent`",
        Rule::concurrency_kind => "`exclusive` or `concurrent`",
        Rule::learn_rule => "`learn`",
        Rule::learn_skill => "`skill`",
        Rule::learn_outputs => "`outputs`",
        Rule::threshold_override => "`threshold`",
        Rule::loop_extends => "`extends`",
        Rule::default_route => "`default`",
        Rule::remove_decl => "`remove`",
        Rule::remove_route => "`route`",
        Rule::remove_node => "`node`",
        Rule::remove_threshold => "`threshold`",
        Rule::remove_resume => "`resume`",
        Rule::ident_list => "a list of names",
        Rule::marker_list => "a list of outcome markers",
        _ => "more input",
    }
}

fn syntax_error(file: FileId, text: &str, err: pest::error::Error<Rule>) -> Diagnostic {
    let pos = match err.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let rest = text.get(pos..).unwrap_or("");
    let word_len: usize = rest
        .chars()
        .take_while(|c| !c.is_whitespace())
        .map(char::len_utf8)
        .sum();
    // Point at the offending word, or at least its first character (which may
    // be multi-byte whitespace such as U+00A0).
    let found_len = if word_len == 0 {
        rest.chars().next().map_or(0, char::len_utf8)
    } else {
        word_len
    };
    let end = (pos + found_len).min(text.len());
    let found = if pos >= text.len() {
        "end of file".to_string()
    } else {
        let word: String = text[pos..end].chars().take(24).collect();
        format!("`{word}`")
    };
    let expected: Vec<&str> = match &err.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } => {
            let mut v: Vec<&str> = positives.iter().map(describe).collect();
            v.sort();
            v.dedup();
            v
        }
        pest::error::ErrorVariant::CustomError { .. } => vec![],
    };
    let expected_text = match expected.len() {
        0 => "something else".to_string(),
        1 => expected[0].to_string(),
        _ => {
            let (last, rest) = expected.split_last().unwrap();
            format!("{} or {}", rest.join(", "), last)
        }
    };
    if let Some(d) = super::parse_hints::explain(file, text, pos, &found, &expected_text) {
        return d;
    }
    let help = if pos >= text.len() {
        "the file ends inside a declaration: is a closing `}` missing?".to_string()
    } else if found.starts_with("`\"") || found.contains('\'') {
        "strings use double quotes and cannot span lines".to_string()
    } else if expected.contains(&"an UPPER_SNAKE_CASE outcome marker") {
        "outcome markers are written in UPPER_SNAKE_CASE, like CHECKER_PASS".to_string()
    } else if expected.contains(&"a lower_snake_case name") {
        "stage, node, plane and terminal names are lower_snake_case".to_string()
    } else {
        "see docs/language.md for the shape of each declaration".to_string()
    };
    Diagnostic::error(
        Code::Syntax,
        Span::new(file, pos, end),
        format!("expected {expected_text}, found {found}"),
    )
    .label(format!("expected {expected_text} here"))
    .help(help)
}

struct Builder {
    file: FileId,
}

impl Builder {
    fn span(&self, pair: &Pair<Rule>) -> Span {
        let s = pair.as_span();
        Span::new(self.file, s.start(), s.end())
    }

    fn word(&self, pair: Pair<Rule>) -> Word {
        Word {
            text: pair.as_str().to_string(),
            span: self.span(&pair),
        }
    }

    fn words(&self, pair: Pair<Rule>) -> Vec<Word> {
        pair.into_inner().map(|p| self.word(p)).collect()
    }

    fn string(&self, pair: Pair<Rule>) -> Str {
        let span = self.span(&pair);
        let body = pair.into_inner().next().map(|p| p.as_str()).unwrap_or("");
        let mut value = String::with_capacity(body.len());
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(n) = chars.next() {
                    value.push(n);
                }
            } else {
                value.push(c);
            }
        }
        Str { value, span }
    }

    fn int(&self, pair: &Pair<Rule>) -> u32 {
        // The grammar only admits digits; a number too large saturates and is
        // then rejected by the checker's range checks.
        pair.as_str().parse().unwrap_or(u32::MAX)
    }

    fn file(&self, root: Pair<Rule>) -> File {
        let mut f = File::default();
        for p in root.into_inner() {
            match p.as_rule() {
                Rule::import => f.imports.push(self.string(p.into_inner().next().unwrap())),
                Rule::stage_decl => f.stages.push(self.stage(p)),
                Rule::loop_decl => f.loops.push(self.loop_decl(p)),
                Rule::mode_decl => f.modes.push(self.mode(p)),
                Rule::alias_decl => {
                    let span = self.span(&p);
                    let mut it = p.into_inner();
                    f.aliases.push(AliasDecl {
                        name: self.word(it.next().unwrap()),
                        target: self.word(it.next().unwrap()),
                        span,
                    });
                }
                _ => {}
            }
        }
        f
    }

    fn stage(&self, pair: Pair<Rule>) -> StageDecl {
        let span = self.span(&pair);
        let mut it = pair.into_inner();
        let name = self.word(it.next().unwrap());
        let fields = it.map(|p| self.stage_field(p)).collect();
        StageDecl { name, fields, span }
    }

    fn stage_field(&self, pair: Pair<Rule>) -> StageField {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let keyword_len = pair
            .as_str()
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .next()
            .unwrap_or("")
            .len();
        let keyword = Span::new(self.file, span.start, span.start + keyword_len);
        let mut inner = pair.into_inner();
        let mut next = || inner.next().unwrap();
        let value = match rule {
            Rule::plane_field => StageValue::Plane(self.word(next())),
            Rule::display_field => StageValue::Display(self.string(next())),
            Rule::entrypoint_field => StageValue::Entrypoint(self.string(next())),
            Rule::contract_field => StageValue::Contract(self.string(next())),
            Rule::skill_field => StageValue::Skill(self.string(next())),
            Rule::suggest_field => StageValue::Suggest(self.string(next())),
            Rule::running_field => StageValue::Running(self.word(next())),
            Rule::outcomes_block => {
                let outcomes = inner
                    .map(|o| {
                        let mut oi = o.into_inner();
                        let marker = self.word(oi.next().unwrap());
                        let classes = self.words(oi.next().unwrap());
                        // pest keeps trailing whitespace inside repetitions; end at the last class.
                        let end = classes
                            .last()
                            .map(|c| c.span.end)
                            .unwrap_or(marker.span.end);
                        let span = Span::new(self.file, marker.span.start, end);
                        OutcomeDecl {
                            marker,
                            classes,
                            span,
                        }
                    })
                    .collect();
                StageValue::Outcomes(outcomes)
            }
            Rule::consumes_field => StageValue::Consumes(self.words(next())),
            Rule::emits_field => StageValue::Emits(self.words(next())),
            Rule::idempotence_field => StageValue::Idempotence(self.word(next())),
            Rule::overrides_field => StageValue::Overrides(self.words(next())),
            Rule::starts_field => StageValue::Starts(self.words(next())),
            Rule::recovery_field => StageValue::Recovery(self.word(next())),
            _ => StageValue::Closure,
        };
        StageField {
            keyword,
            span,
            value,
        }
    }

    fn target(&self, pair: Pair<Rule>) -> Target {
        let inner = pair.into_inner().next().unwrap();
        match inner.as_rule() {
            Rule::terminal_target => {
                Target::Terminal(self.word(inner.into_inner().next().unwrap()))
            }
            _ => Target::Node(self.word(inner)),
        }
    }

    fn loop_decl(&self, pair: Pair<Rule>) -> LoopDecl {
        let span = self.span(&pair);
        let mut it = pair.into_inner();
        let mut l = LoopDecl {
            name: self.word(it.next().unwrap()),
            plane: self.word(it.next().unwrap()),
            nodes: vec![],
            entries: vec![],
            routes: vec![],
            terminals: vec![],
            thresholds: vec![],
            resumes: vec![],
            completions: vec![],
            extends: None,
            removals: vec![],
            defaults: vec![],
            span,
        };
        for item in it {
            let ispan = self.span(&item);
            match item.as_rule() {
                Rule::default_route => {
                    let arm = item.into_inner().next().unwrap();
                    let mut ai = arm.into_inner();
                    let outcomes = self.words(ai.next().unwrap());
                    let target = self.target(ai.next().unwrap());
                    l.defaults.push(DefaultRoute {
                        outcomes,
                        target,
                        span: ispan,
                    });
                }
                Rule::loop_extends => {
                    l.extends = item.into_inner().next().map(|w| self.word(w));
                }
                Rule::remove_decl => {
                    let inner = item.into_inner().next().unwrap();
                    let rule = inner.as_rule();
                    let mut ri = inner.into_inner();
                    let first = self.word(ri.next().unwrap());
                    let what = match rule {
                        Rule::remove_route => {
                            RemoveWhat::Route(first, self.words(ri.next().unwrap()))
                        }
                        Rule::remove_node => RemoveWhat::Node(first),
                        Rule::remove_threshold => RemoveWhat::Threshold(first),
                        _ => RemoveWhat::Resume(first),
                    };
                    l.removals.push(Removal { what, span: ispan });
                }
                Rule::nodes_decl => {
                    for n in item.into_inner() {
                        let mut ni = n.into_inner();
                        let id = self.word(ni.next().unwrap());
                        let kind = ni.next().map(|k| self.word(k));
                        l.nodes.push(NodeSpec { id, kind });
                    }
                }
                Rule::entry_decl => {
                    let mut ei = item.into_inner();
                    l.entries.push(EntryDecl {
                        key: self.word(ei.next().unwrap()),
                        node: self.word(ei.next().unwrap()),
                        span: ispan,
                    });
                }
                Rule::route_decl => {
                    let mut ri = item.into_inner();
                    let from = self.word(ri.next().unwrap());
                    for arm in ri {
                        let aspan = self.span(&arm);
                        let mut ai = arm.into_inner();
                        let outcomes = self.words(ai.next().unwrap());
                        let target = self.target(ai.next().unwrap());
                        l.routes.push(RouteArm {
                            from: from.clone(),
                            outcomes,
                            target,
                            span: aspan,
                        });
                    }
                }
                Rule::terminal_decl => {
                    let mut ti = item.into_inner();
                    let id = self.word(ti.next().unwrap());
                    let class = self.word(ti.next().unwrap());
                    let mut t = TerminalDecl {
                        id,
                        class,
                        status: None,
                        emits: vec![],
                        span: ispan,
                    };
                    for extra in ti {
                        match extra.as_rule() {
                            Rule::terminal_status => {
                                t.status = Some(self.word(extra.into_inner().next().unwrap()))
                            }
                            _ => t.emits = self.words(extra.into_inner().next().unwrap()),
                        }
                    }
                    l.terminals.push(t);
                }
                Rule::threshold_decl => {
                    let mut ti = item.into_inner();
                    let id = self.word(ti.next().unwrap());
                    let counter = self.word(ti.next().unwrap());
                    let outcome = self.word(ti.next().unwrap());
                    let sources = self.words(ti.next().unwrap());
                    let after_pair = ti.next().unwrap();
                    let after = self.int(&after_pair);
                    let after_span = self.span(&after_pair);
                    let target = self.target(ti.next().unwrap());
                    l.thresholds.push(ThresholdDecl {
                        id,
                        counter,
                        outcome,
                        sources,
                        after,
                        after_span,
                        target,
                        span: ispan,
                    });
                }
                Rule::resume_decl => {
                    let mut ri = item.into_inner();
                    let id = self.word(ri.next().unwrap());
                    let from = self.word(ri.next().unwrap());
                    let outcome = self.word(ri.next().unwrap());
                    let metadata = self.words(ri.next().unwrap());
                    let mut r = ResumeDecl {
                        id,
                        from,
                        outcome,
                        metadata,
                        default: None,
                        never: vec![],
                        span: ispan,
                    };
                    for extra in ri {
                        match extra.as_rule() {
                            Rule::resume_default => {
                                r.default = Some(self.word(extra.into_inner().next().unwrap()))
                            }
                            _ => r.never = self.words(extra.into_inner().next().unwrap()),
                        }
                    }
                    l.resumes.push(r);
                }
                Rule::completion_decl => {
                    let settings = item
                        .into_inner()
                        .map(|s| {
                            let sspan = self.span(&s);
                            let mut si = s.into_inner();
                            let key = self.word(si.next().unwrap());
                            let v = si.next().unwrap().into_inner().next().unwrap();
                            let value = match v.as_rule() {
                                Rule::boolean => Value::Bool(v.as_str() == "true", self.span(&v)),
                                Rule::terminal_target => {
                                    Value::Terminal(self.word(v.into_inner().next().unwrap()))
                                }
                                _ => Value::Word(self.word(v)),
                            };
                            Setting {
                                key,
                                value,
                                span: sspan,
                            }
                        })
                        .collect();
                    l.completions.push(CompletionDecl {
                        settings,
                        span: ispan,
                    });
                }
                _ => {}
            }
        }
        l
    }

    fn mode(&self, pair: Pair<Rule>) -> ModeDecl {
        let span = self.span(&pair);
        let mut it = pair.into_inner();
        let mut m = ModeDecl {
            name: self.word(it.next().unwrap()),
            extends: None,
            loops: vec![],
            runners: vec![],
            overrides: vec![],
            concurrency: vec![],
            learn: vec![],
            thresholds: vec![],
            span,
        };
        for item in it {
            let ispan = self.span(&item);
            match item.as_rule() {
                Rule::extends => m.extends = Some(self.word(item.into_inner().next().unwrap())),
                Rule::loops_block => {
                    for b in item.into_inner() {
                        let mut bi = b.into_inner();
                        m.loops
                            .push((self.word(bi.next().unwrap()), self.word(bi.next().unwrap())));
                    }
                }
                Rule::runner_field => m.runners.push(self.word(item.into_inner().next().unwrap())),
                Rule::stage_override => {
                    let mut si = item.into_inner();
                    let stage = self.word(si.next().unwrap());
                    let fields = si
                        .map(|f| {
                            let fspan = self.span(&f);
                            let rule = f.as_rule();
                            let v = f.into_inner().next().unwrap();
                            let value = match rule {
                                Rule::override_runner => OverrideValue::Runner(self.word(v)),
                                Rule::override_model => OverrideValue::Model(self.string(v)),
                                Rule::override_thinking => OverrideValue::Thinking(self.word(v)),
                                Rule::override_timeout => {
                                    let dspan = self.span(&v);
                                    let mut di = v.into_inner();
                                    let n = di
                                        .next()
                                        .unwrap()
                                        .as_str()
                                        .parse::<u64>()
                                        .unwrap_or(u64::MAX);
                                    let unit = di.next().unwrap().as_str();
                                    let secs = match unit {
                                        "ms" => n / 1000,
                                        "m" => n.saturating_mul(60),
                                        "h" => n.saturating_mul(3600),
                                        _ => n,
                                    };
                                    OverrideValue::Timeout(secs, dspan)
                                }
                                Rule::override_entrypoint => {
                                    OverrideValue::Entrypoint(self.string(v))
                                }
                                _ => OverrideValue::Skill(self.string(v)),
                            };
                            OverrideField {
                                keyword: Span::new(
                                    self.file,
                                    fspan.start,
                                    fspan.start + value.keyword().len(),
                                ),
                                value,
                            }
                        })
                        .collect();
                    m.overrides.push(StageOverride {
                        stage,
                        fields,
                        span: ispan,
                    });
                }
                Rule::concurrency_block => {
                    for r in item.into_inner() {
                        let rspan = self.span(&r);
                        let mut ri = r.into_inner();
                        let kind = match ri.next().unwrap().as_str() {
                            "exclusive" => ConcurrencyKind::Exclusive,
                            _ => ConcurrencyKind::Concurrent,
                        };
                        m.concurrency.push(ConcurrencyRule {
                            kind,
                            a: self.word(ri.next().unwrap()),
                            b: self.word(ri.next().unwrap()),
                            span: rspan,
                        });
                    }
                }
                Rule::learn_rule => {
                    let mut li = item.into_inner();
                    let mut rule = LearnRule {
                        id: self.word(li.next().unwrap()),
                        source: self.word(li.next().unwrap()),
                        outcomes: self.words(li.next().unwrap()),
                        target: self.word(li.next().unwrap()),
                        action: self.word(li.next().unwrap()),
                        skill: None,
                        outputs: vec![],
                        span: ispan,
                    };
                    for clause in li {
                        match clause.as_rule() {
                            Rule::learn_skill => {
                                rule.skill = clause.into_inner().next().map(|s| self.string(s));
                            }
                            Rule::learn_outputs => {
                                rule.outputs =
                                    clause.into_inner().map(|s| self.string(s)).collect();
                            }
                            _ => {}
                        }
                    }
                    m.learn.push(rule);
                }
                Rule::threshold_override => {
                    let mut ti = item.into_inner();
                    let counter = self.word(ti.next().unwrap());
                    let vp = ti.next().unwrap();
                    m.thresholds.push(ThresholdOverride {
                        counter,
                        value: self.int(&vp),
                        value_span: self.span(&vp),
                        span: ispan,
                    });
                }
                _ => {}
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_small_loop() {
        let src = r#"
            import "std/stages/execution.mill"
            loop demo.small on execution {
              nodes builder, checker, fix2: fixer
              entry task -> builder
              builder BUILDER_COMPLETE -> checker
                      BLOCKED -> terminal blocked
              checker CHECKER_PASS, FIX_NEEDED -> terminal done
              terminal done success status DONE emits stage_result, report
              terminal blocked blocked
            }
        "#;
        let f = parse(0, src).expect("parses");
        assert_eq!(f.imports[0].value, "std/stages/execution.mill");
        let l = &f.loops[0];
        assert_eq!(l.name.text, "demo.small");
        assert_eq!(l.nodes.len(), 3);
        assert_eq!(l.nodes[2].kind().text, "fixer");
        assert_eq!(l.routes.len(), 3);
        assert_eq!(l.routes[1].from.text, "builder");
        assert_eq!(l.routes[2].outcomes.len(), 2);
        assert!(matches!(&l.routes[1].target, Target::Terminal(w) if w.text == "blocked"));
        assert_eq!(l.terminals[0].emits.len(), 2);
    }

    #[test]
    fn syntax_error_names_what_was_expected() {
        let err = parse(0, "stage builder {\n  plane\n}\n").unwrap_err();
        assert_eq!(err.code, Code::Syntax);
        assert!(err.message.contains("lower_snake_case"), "{}", err.message);
        assert_eq!(err.primary.span.start, 24);
    }

    #[test]
    fn error_at_multibyte_whitespace_does_not_split_it() {
        // Found by the fuzzer: U+00A0 is whitespace to Rust but not to the grammar.
        let err = parse(0, "\u{a0}stage").unwrap_err();
        assert_eq!((err.primary.span.start, err.primary.span.end), (0, 2));
    }

    #[test]
    fn lowercase_outcome_is_a_syntax_error_with_case_help() {
        let err = parse(0, "stage b { outcomes { done => success } }").unwrap_err();
        assert!(
            err.help.contains("UPPER_SNAKE_CASE") || err.message.contains("marker"),
            "{err:?}"
        );
    }
}
