//! `millrace fmt`: the canonical layout. Formatting is idempotent and keeps
//! the program (the formatted text parses to the same declarations), for the
//! shipped files and for generated programs in any spacing; comments are
//! kept; `--check` exits 1 with a diff; the shipped files are formatted.

use assert_cmd::Command;
use millrace::language::format::format;
use millrace::language::syntax::parse;
use proptest::prelude::*;
use std::path::Path;

/// The parsed program with every span removed, for comparison.
fn program(text: &str) -> String {
    let file = parse(0, text).unwrap_or_else(|d| panic!("does not parse: {}\n{text}", d.message));
    let debug = format!("{file:?}");
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug.as_str();
    while let Some(i) = rest.find("Span { file: ") {
        out.push_str(&rest[..i]);
        let close = rest[i..].find('}').expect("a span closes");
        rest = &rest[i + close + 1..];
    }
    out.push_str(rest);
    out
}

fn comments(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.find("//").map(|i| l[i..].trim_end().to_string()))
        .collect()
}

fn check_round_trip(text: &str) {
    let once = format(text).unwrap_or_else(|d| panic!("{}\n{text}", d.message));
    let twice = format(&once).unwrap();
    assert_eq!(once, twice, "not idempotent:\n{text}\n---\n{once}");
    assert_eq!(
        program(text),
        program(&once),
        "program changed:\n{text}\n---\n{once}"
    );
    let mut before = comments(text);
    let mut after = comments(&once);
    before.sort();
    after.sort();
    assert_eq!(before, after, "comments changed:\n{once}");
}

fn shipped() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in ["modes", "stdlib/stages", "stdlib/loops"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "mill") {
                out.push((
                    p.display().to_string(),
                    std::fs::read_to_string(&p).unwrap(),
                ));
            }
        }
    }
    out
}

#[test]
fn shipped_files_are_formatted_and_round_trip() {
    for (name, text) in shipped() {
        check_round_trip(&text);
        assert_eq!(format(&text).unwrap(), text, "{name} is not formatted");
    }
}

/// Re-space a program: every run of spaces becomes `sep`, every line break
/// `nl` (comments keep their line ends).
fn respace(text: &str, sep: &str, nl: &str) -> String {
    text.lines()
        .map(|l| {
            let (code, comment) = match l.find("//") {
                Some(i) => (&l[..i], Some(&l[i..])),
                None => (l, None),
            };
            let mut s = code.split_whitespace().collect::<Vec<_>>().join(sep);
            if let Some(c) = comment {
                s.push(' ');
                s.push_str(c);
                // A comment runs to the end of its line.
                if !nl.contains('\n') {
                    s.push('\n');
                }
            }
            s
        })
        .collect::<Vec<_>>()
        .join(nl)
}

const MARKERS: &[&str] = &["DONE", "AGAIN", "BLOCKED", "REVIEW_PASS", "FIX_NEEDED"];

/// A generated program: a stage kind, a loop of `n` nodes with routes,
/// thresholds and comments, and a mode using it.
fn generated(n: usize, outs: usize, after: u32, commented: bool) -> String {
    let outs = &MARKERS[..outs.clamp(1, MARKERS.len())];
    let mut s = String::from("import \"std/loops/planning.mill\"\n");
    if commented {
        s.push_str("// a generated program\n");
    }
    s.push_str("stage step {\n  plane execution\n  outcomes {\n");
    for o in outs {
        s.push_str(&format!("    {o} => success\n"));
    }
    s.push_str("  }\n}\nloop gen.loop on execution {\n  nodes ");
    s.push_str(
        &(0..n)
            .map(|i| format!("n{i}: step"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    s.push_str("\n  entry task -> n0\n");
    for i in 0..n {
        for (k, o) in outs.iter().enumerate() {
            let target = if (i + k) % 3 == 0 || i + 1 == n {
                "terminal done".to_string()
            } else {
                format!("n{}", i + 1)
            };
            let lead = if k == 0 {
                format!("n{i}")
            } else {
                String::new()
            };
            s.push_str(&format!("  {lead} {o} -> {target}"));
            if commented && k == 0 {
                s.push_str(" // route");
            }
            s.push('\n');
        }
    }
    s.push_str(&format!(
        "  threshold gen.limit {{ counter gen_count on {} from n0 after {after} -> terminal done }}\n",
        outs[0]
    ));
    s.push_str("  terminal done success\n}\n");
    s.push_str(
        "mode gen { loops { execution: gen.loop, planning: planning.standard } runner script }\n",
    );
    s
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn generated_programs_round_trip(
        n in 1usize..8,
        outs in 1usize..5,
        after in 1u32..50,
        commented in any::<bool>(),
        sep in prop::sample::select(vec![" ", "  ", "\t", " \t "]),
        nl in prop::sample::select(vec!["\n", "\n\n", "\n  \n", " "]),
    ) {
        let text = generated(n, outs, after, commented);
        check_round_trip(&text);
        // Any spacing formats to the same text.
        let canonical = format(&text).unwrap();
        let spaced = respace(&text, sep, nl);
        check_round_trip(&spaced);
        let other = format(&spaced).unwrap();
        // Blank lines are kept, and a comment joined to a code line becomes
        // a trailing one; any other spacing gives the same text.
        if nl == "\n" || (nl == " " && !commented) {
            prop_assert_eq!(canonical, other);
        }
    }

    #[test]
    fn respaced_shipped_files_round_trip(
        i in 0usize..11,
        sep in prop::sample::select(vec![" ", "   ", "\t"]),
    ) {
        let files = shipped();
        let (_, text) = &files[i % files.len()];
        let spaced = respace(text, sep, "\n");
        check_round_trip(&spaced);
        prop_assert_eq!(format(&spaced).unwrap(), format(text).unwrap());
    }
}

fn millrace(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::cargo_bin("millrace")
        .unwrap()
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn check_reports_a_diff_and_fmt_rewrites() {
    let dir = tempfile::tempdir().unwrap();
    let messy = "stage   a{plane execution // keep me\noutcomes{DONE=>success BLOCKED=>blocked|recoverable_failure}}\n";
    std::fs::write(dir.path().join("a.mill"), messy).unwrap();
    let (code, out) = millrace(dir.path(), &["fmt", "--check", "a.mill"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("--- a.mill") && out.contains("+stage a {"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("a.mill")).unwrap(),
        messy
    );
    let (code, out) = millrace(dir.path(), &["fmt"]);
    assert_eq!(code, Some(0), "{out}");
    let text = std::fs::read_to_string(dir.path().join("a.mill")).unwrap();
    assert_eq!(
        text,
        "stage a {\n  plane execution // keep me\n  outcomes {\n    DONE    => success\n    BLOCKED => blocked | recoverable_failure\n  }\n}\n"
    );
    let (code, _) = millrace(dir.path(), &["fmt", "--check", "."]);
    assert_eq!(code, Some(0));
}

#[test]
fn a_file_that_does_not_parse_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let broken = "stage a {\n  plane execution\n";
    std::fs::write(dir.path().join("b.mill"), broken).unwrap();
    let (code, out) = millrace(dir.path(), &["fmt", "b.mill"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("is not closed") && out.contains("not formatted"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("b.mill")).unwrap(),
        broken
    );
}

#[test]
fn shipped_files_pass_fmt_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (code, out) = millrace(root, &["fmt", "--check", "stdlib", "modes"]);
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn every_corpus_file_that_parses_round_trips() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lint/invalid");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        if p.extension().is_some_and(|x| x == "mill") && parse(0, &text).is_ok() {
            check_round_trip(&text);
            n += 1;
        }
    }
    assert!(n > 40, "only {n} corpus files parse");
}
