//! Property tests: the parser and checker never panic, whatever the input.
//!
//! Inputs are generated three ways: arbitrary strings, token soups built from
//! the language's own keywords and punctuation, and mutations (deletions,
//! insertions, swaps) of the shipped sources. The case count is fixed so CI
//! runs a fixed budget; raise `MILL_FUZZ_CASES` locally for a longer run.

use millrace::language::check::check;
use millrace::language::load::{Loader, StdRoot};
use proptest::prelude::*;
use std::io::Write;

fn cases() -> u32 {
    std::env::var("MILL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

/// Parse and check `text` as if it were a file on disk importing the stdlib.
fn check_text(text: &str) {
    let mut f = tempfile::Builder::new().suffix(".mill").tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    let mut loader = Loader::new(StdRoot::Embedded);
    loader.load_path(f.path()).unwrap();
    let program = loader.finish();
    let checked = check(&program);
    // Rendering must not panic either.
    for d in &checked.diagnostics {
        let _ = millrace::language::diagnostic::render_human(d, &program.sources, false);
        let _ = millrace::language::diagnostic::to_github(d, &program.sources);
    }
}

const TOKENS: &[&str] = &[
    "stage",
    "loop",
    "mode",
    "alias",
    "extends",
    "remove",
    "default",
    "route",
    "import",
    "nodes",
    "entry",
    "terminal",
    "threshold",
    "resume",
    "completion",
    "extends",
    "learn",
    "plane",
    "outcomes",
    "runner",
    "loops",
    "counter",
    "on",
    "from",
    "after",
    "metadata",
    "default",
    "never",
    "when",
    "status",
    "emits",
    "closure",
    "concurrency",
    "exclusive",
    "concurrent",
    "{",
    "}",
    "->",
    "=>",
    ":",
    ",",
    "|",
    "=",
    "\"std/stages/execution.mill\"",
    "\"std/loops/execution.mill\"",
    "\"entrypoints/x.md\"",
    "builder",
    "checker",
    "troubleshooter",
    "consultant",
    "execution",
    "planning",
    "learning",
    "execution.standard",
    "task",
    "spec",
    "done",
    "blocked",
    "success",
    "recoverable_failure",
    "BUILDER_COMPLETE",
    "BLOCKED",
    "FIX_NEEDED",
    "CHECKER_PASS",
    "TROUBLESHOOT_COMPLETE",
    "0",
    "2",
    "99999999999",
    "3600s",
    "true",
    "false",
    "//",
    "\n",
    " ",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..80).prop_map(|t| t.join(" "))
}

fn shipped() -> Vec<&'static str> {
    millrace::assets::mill_sources().map(|(_, t)| t).collect()
}

/// A shipped source with some byte ranges deleted, duplicated or replaced.
fn mutated() -> impl Strategy<Value = String> {
    let n = shipped().len();
    (
        0..n,
        prop::collection::vec(
            (
                any::<u16>(),
                any::<u16>(),
                0u8..3,
                prop::sample::select(TOKENS),
            ),
            1..6,
        ),
    )
        .prop_map(|(i, edits)| {
            let mut s = shipped()[i].to_string();
            for (a, b, op, tok) in edits {
                let len = s.len().max(1);
                let mut x = a as usize % len;
                let mut y = (x + b as usize % 40).min(s.len());
                while !s.is_char_boundary(x) {
                    x -= 1;
                }
                while !s.is_char_boundary(y) {
                    y -= 1;
                }
                match op {
                    0 => s.replace_range(x..y, ""),
                    1 => {
                        let dup = s[x..y].to_string();
                        s.insert_str(y, &dup)
                    }
                    _ => s.replace_range(x..y, tok),
                }
            }
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        check_text(&text);
    }

    #[test]
    fn token_soup_never_panics(text in token_soup()) {
        check_text(&text);
    }

    #[test]
    fn mutated_shipped_sources_never_panic(text in mutated()) {
        check_text(&text);
    }
}
