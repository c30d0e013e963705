//! Scenario files (`*.scenarios.toml`, beside the loops they test): one
//! loop, the mode that compiles it, the terminals the author allows, and
//! scenarios, each naming a work item kind, the outcomes each stage returns
//! in order, and what must happen (the path, the terminal, counter values).
//! This module parses a file and judges a simulated run against a
//! scenario's expectations; `runtime/simulate.rs` does the running.
//!
//! ```toml
//! loop = "execution.standard"
//! mode = "default_codex"
//! allow_terminals = ["update_complete", "needs_planning", "blocked"]
//!
//! [[scenario]]
//! name = "happy path"
//! entry = "task"
//! outcomes = { builder = ["BUILDER_COMPLETE"], checker = ["CHECKER_PASS"], updater = ["UPDATE_COMPLETE"] }
//! expect = { path = ["builder", "checker", "updater"], terminal = "update_complete" }
//! ```

use super::simulate::{End, Run, Scripted, SimError};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// What is wrong with a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScenarioError {
    /// Not TOML, or a key this format does not have.
    Syntax { line: usize, message: String },
    /// A scenario that asserts nothing, or an outcome that does not parse.
    Invalid { line: usize, message: String },
}

impl ScenarioError {
    pub fn line(&self) -> usize {
        match self {
            ScenarioError::Syntax { line, .. } | ScenarioError::Invalid { line, .. } => *line,
        }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScenarioError::Syntax { line, message } | ScenarioError::Invalid { line, message } => {
                write!(f, "line {line}: {message}")
            }
        }
    }
}

impl std::error::Error for ScenarioError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(rename = "loop")]
    loop_id: String,
    mode: String,
    allow_terminals: Vec<String>,
    #[serde(default)]
    scenario: Vec<toml::Spanned<ScenarioDoc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioDoc {
    name: String,
    entry: Option<String>,
    #[serde(default)]
    outcomes: BTreeMap<String, Vec<String>>,
    expect: Expect,
}

/// What a scenario requires of its run; every field given is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub path: Option<Vec<String>>,
    pub terminal: Option<String>,
    pub counters: Option<BTreeMap<String, u32>>,
}

/// One scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    pub name: String,
    /// The 1-based line of its `[[scenario]]` table.
    pub line: usize,
    /// The work item kind (an entry key); `None`: the loop's first entry.
    pub entry: Option<String>,
    pub outcomes: BTreeMap<String, Vec<Scripted>>,
    pub expect: Expect,
}

/// A parsed scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioFile {
    pub loop_id: String,
    pub mode: String,
    pub allow_terminals: Vec<String>,
    pub scenarios: Vec<Scenario>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Parse a scenario file's text.
pub fn parse(text: &str) -> Result<ScenarioFile, ScenarioError> {
    let doc: FileDoc = toml::from_str(text).map_err(|e| ScenarioError::Syntax {
        line: e.span().map(|s| line_of(text, s.start)).unwrap_or(1),
        message: e.message().to_string(),
    })?;
    let mut scenarios = Vec::new();
    for spanned in doc.scenario {
        let line = line_of(text, spanned.span().start);
        let s = spanned.into_inner();
        let invalid = |message: String| ScenarioError::Invalid { line, message };
        if s.expect == Expect::default() {
            return Err(invalid(format!(
                "scenario {:?} expects nothing: give expect.path, expect.terminal or expect.counters",
                s.name
            )));
        }
        let mut outcomes = BTreeMap::new();
        for (node, list) in s.outcomes {
            let parsed = list
                .iter()
                .map(|o| Scripted::parse(o))
                .collect::<Result<Vec<_>, SimError>>()
                .map_err(|e| invalid(format!("scenario {:?}, {node}: {e}", s.name)))?;
            outcomes.insert(node, parsed);
        }
        scenarios.push(Scenario {
            name: s.name,
            line,
            entry: s.entry,
            outcomes,
            expect: s.expect,
        });
    }
    Ok(ScenarioFile {
        loop_id: doc.loop_id,
        mode: doc.mode,
        allow_terminals: doc.allow_terminals,
        scenarios,
    })
}

/// One way a run differs from what its scenario expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    Path {
        expected: Vec<String>,
        actual: Vec<String>,
    },
    Terminal {
        expected: String,
        actual: End,
    },
    Counter {
        name: String,
        expected: u32,
        actual: u32,
    },
    /// The run did not reach a terminal at all (ran out of script, refused,
    /// over the bound) and the scenario expected no such thing.
    Stopped(End),
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Path { .. } => f.write_str("the path differs"),
            Mismatch::Terminal { expected, actual } => {
                write!(f, "expected terminal {expected}, got {actual}")
            }
            Mismatch::Counter {
                name,
                expected,
                actual,
            } => write!(f, "expected counter {name} = {expected}, got {actual}"),
            Mismatch::Stopped(end) => write!(f, "the run stopped: {end}"),
        }
    }
}

/// Compare a run with what the scenario expects.
pub fn judge(expect: &Expect, run: &Run) -> Vec<Mismatch> {
    let mut out = Vec::new();
    if let Some(path) = &expect.path {
        let actual = run.path();
        if *path != actual {
            out.push(Mismatch::Path {
                expected: path.clone(),
                actual,
            });
        }
    }
    match (&expect.terminal, &run.end) {
        (Some(t), End::Terminal(a)) if t == a => {}
        (Some(t), actual) => out.push(Mismatch::Terminal {
            expected: t.clone(),
            actual: actual.clone(),
        }),
        (None, End::Terminal(_)) => {}
        (None, end) => out.push(Mismatch::Stopped(end.clone())),
    }
    for (name, expected) in expect.counters.iter().flatten() {
        let actual = run.counters.get(name).copied().unwrap_or(0);
        if actual != *expected {
            out.push(Mismatch::Counter {
                name: name.clone(),
                expected: *expected,
                actual,
            });
        }
    }
    out
}

/// A path diff: the common prefix, then the expected rest (`-`) and the
/// actual rest (`+`).
pub fn path_diff(expected: &[String], actual: &[String]) -> Vec<String> {
    let common = expected
        .iter()
        .zip(actual)
        .take_while(|(a, b)| a == b)
        .count();
    let mut lines: Vec<String> = expected[..common]
        .iter()
        .map(|n| format!("  {n}"))
        .collect();
    lines.extend(expected[common..].iter().map(|n| format!("- {n}")));
    lines.extend(actual[common..].iter().map(|n| format!("+ {n}")));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_file_and_refuses_unknown_keys_and_empty_expectations() {
        let ok = parse(
            "loop = \"l\"\nmode = \"m\"\nallow_terminals = [\"done\"]\n\n[[scenario]]\nname = \"a\"\noutcomes = { b = [\"X resume_stage=c\"] }\nexpect = { terminal = \"done\" }\n",
        )
        .unwrap();
        assert_eq!(ok.scenarios[0].line, 5);
        assert_eq!(
            ok.scenarios[0].outcomes["b"][0]
                .hints
                .resume_stage
                .as_deref(),
            Some("c")
        );
        let e = parse("loop = \"l\"\nmode = \"m\"\nallow_terminals = []\nbogus = 1\n").unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
        let e = parse(
            "loop = \"l\"\nmode = \"m\"\nallow_terminals = []\n[[scenario]]\nname = \"a\"\nexpect = {}\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("expects nothing"), "{e}");
    }

    #[test]
    fn the_path_diff_marks_where_runs_diverge() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            path_diff(&s(&["a", "b", "c"]), &s(&["a", "x"])),
            ["  a", "- b", "- c", "+ x"]
        );
    }
}
