//! The invalid-input corpus: every file under `tests/lint/invalid/` names the
//! diagnostic codes it must produce on its first line (`// expect: ...`).
//! Each is linted by the real binary: the human rendering is pinned by an
//! insta snapshot, and the JSON output is checked for code, file, line and
//! column. Together the corpus covers every diagnostic code.

use assert_cmd::Command;
use millrace::language::diagnostic::Code;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn lint_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lint")
}

fn cases() -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(lint_dir().join("invalid"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mill"))
        .collect();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let first = text.lines().next().unwrap_or("");
        let expect: Vec<String> = first
            .strip_prefix("// expect:")
            .unwrap_or_else(|| panic!("{} lacks an `// expect:` line", f.display()))
            .split_whitespace()
            .map(str::to_string)
            .collect();
        out.push((
            f.file_name().unwrap().to_string_lossy().into_owned(),
            expect,
        ));
    }
    out
}

fn lint(args: &[&str]) -> (i32, String) {
    let out = Command::cargo_bin("millrace")
        .unwrap()
        .current_dir(lint_dir())
        .env("NO_COLOR", "1")
        .arg("lint")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn corpus_has_at_least_forty_cases() {
    assert!(cases().len() >= 40, "only {} invalid inputs", cases().len());
}

#[test]
fn each_invalid_input_reports_its_codes() {
    for (name, expect) in cases() {
        let path = format!("invalid/{name}");
        let (code, json) = lint(&[&path, "--format", "json"]);
        let v: serde_json::Value = serde_json::from_str(&json)
            .unwrap_or_else(|e| panic!("{name}: bad JSON ({e}): {json}"));
        let diags = v["diagnostics"].as_array().unwrap();
        let errors = v["errors"].as_u64().unwrap();
        assert_eq!(code, if errors > 0 { 1 } else { 0 }, "{name}: exit status");
        for d in diags {
            assert!(
                Code::parse(d["code"].as_str().unwrap()).is_some(),
                "{name}: {d}"
            );
            assert!(d["line"].as_u64().unwrap() >= 1, "{name}: {d}");
            assert!(d["column"].as_u64().unwrap() >= 1, "{name}: {d}");
            assert!(!d["file"].as_str().unwrap().is_empty(), "{name}: {d}");
            assert!(
                !d["help"].as_str().unwrap().is_empty(),
                "{name}: no help line: {d}"
            );
        }
        for e in &expect {
            assert!(
                diags
                    .iter()
                    .any(|d| d["code"] == e.as_str() && d["file"] == path.as_str()),
                "{name}: expected {e} located in {path}, got {json}"
            );
        }
        // Diagnostics of one file come in source order.
        let positions: Vec<(u64, u64)> = diags
            .iter()
            .filter(|d| d["file"] == path.as_str())
            .map(|d| (d["line"].as_u64().unwrap(), d["column"].as_u64().unwrap()))
            .collect();
        let mut sorted = positions.clone();
        sorted.sort();
        assert_eq!(positions, sorted, "{name}: diagnostics out of source order");
    }
}

#[test]
fn human_rendering_is_pinned() {
    for (name, _) in cases() {
        let (_, human) = lint(&[&format!("invalid/{name}")]);
        let stem = name.trim_end_matches(".mill").to_string();
        insta::assert_snapshot!(format!("lint_{stem}"), human);
    }
}

#[test]
fn github_annotations_are_one_line_each() {
    let (code, out) = lint(&[
        "invalid/49-several-errors-in-order.mill",
        "--format",
        "github",
    ]);
    assert_eq!(code, 1);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[0].starts_with("::error file=invalid/49-several-errors-in-order.mill,line=4,col=9,")
    );
    assert!(lines.iter().all(|l| l.contains("title=mill%3A%3A")));
}

#[test]
fn corpus_covers_every_code() {
    let mut seen = BTreeSet::new();
    for (_, expect) in cases() {
        seen.extend(expect);
    }
    let missing: Vec<&str> = Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !seen.contains(*c))
        .collect();
    assert!(
        missing.is_empty(),
        "codes with no invalid input: {missing:?}"
    );
}

#[test]
fn the_readme_counts_the_diagnostic_codes_right() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let claim = format!("a checker with {} coded diagnostics", Code::ALL.len());
    assert!(readme.contains(&claim), "README.md should say {claim:?}");
}

#[test]
fn every_code_has_its_section_in_the_language_reference() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/language.md"))
            .unwrap();
    let missing: Vec<&str> = Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !doc.contains(&format!("### `{c}`")))
        .collect();
    assert!(missing.is_empty(), "docs/language.md lacks: {missing:?}");
}
