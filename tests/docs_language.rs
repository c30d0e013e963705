//! The `.mill` examples of docs/language.md are checked by `millrace lint`
//! as their annotations say:
//!
//! - `<!-- file: PATH -->` before a block: the block is written to PATH, for
//!   later examples to import;
//! - `<!-- lint: clean [file=PATH] -->`: the block lints with no diagnostic
//!   (exit 0);
//! - `<!-- lint: clean in a workspace that has the files it names ... -->`:
//!   its only diagnostics (errors or warnings) are `mill::missing-file` (the
//!   files it names are not in the temporary directory);
//! - `<!-- lint: [warning] mill::a,mill::b -->`: those are exactly the codes
//!   it reports (errors, or warnings with `warning`).
//!
//! Every example runs in one temporary directory holding the files written
//! so far and the inputs of `tests/lint/data/` (`latin1.mill`, ...).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Example {
    line: usize,
    annotation: String,
    body: String,
}

/// Each annotated ```mill block (`file:` or `lint:`), in page order.
fn examples(text: &str) -> Vec<Example> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim();
        if let Some(a) = l
            .strip_prefix("<!-- ")
            .and_then(|a| a.strip_suffix(" -->"))
            .filter(|a| a.starts_with("lint:") || a.starts_with("file:"))
        {
            assert_eq!(
                lines.get(i + 1).copied(),
                Some("```mill"),
                "docs/language.md:{}: an annotation must precede a ```mill block",
                i + 1
            );
            let mut body = String::new();
            let mut j = i + 2;
            while lines[j] != "```" {
                body.push_str(lines[j]);
                body.push('\n');
                j += 1;
            }
            out.push(Example {
                line: i + 3,
                annotation: a.to_string(),
                body,
            });
            i = j;
        }
        i += 1;
    }
    out
}

fn write(dir: &Path, rel: &str, body: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
}

#[test]
fn every_annotated_example_lints_as_it_says() {
    let text = std::fs::read_to_string(repo().join("docs/language.md")).unwrap();
    let examples = examples(&text);
    assert!(examples.len() > 50, "{} examples", examples.len());
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo().join("tests/lint/data")).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
    }
    let mut failures = Vec::new();
    for ex in &examples {
        if let Some(path) = ex.annotation.strip_prefix("file: ") {
            write(dir.path(), path.trim(), &ex.body);
            continue;
        }
        let spec = ex.annotation.trim_start_matches("lint:").trim();
        let (spec, file) = match spec.split_once(" file=") {
            Some((s, f)) => (s, f.to_string()),
            None => (spec, format!("example-{}.mill", ex.line)),
        };
        write(dir.path(), &file, &ex.body);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_millrace"))
            .args(["lint", &file, "--format", "json"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let report: serde_json::Value = match serde_json::from_slice(&out.stdout) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!(
                    "docs/language.md:{}: no JSON report ({e})",
                    ex.line
                ));
                continue;
            }
        };
        let codes = |severity: &str| -> BTreeSet<String> {
            report["diagnostics"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["severity"] == severity)
                .map(|d| d["code"].as_str().unwrap().to_string())
                .collect()
        };
        let (errors, warnings) = (codes("error"), codes("warning"));
        let ok = if spec == "clean" {
            errors.is_empty() && warnings.is_empty() && out.status.code() == Some(0)
        } else if spec.starts_with("clean in a workspace") {
            errors
                .iter()
                .chain(&warnings)
                .all(|c| c == "mill::missing-file")
        } else if let Some(w) = spec.strip_prefix("warning ") {
            let want: BTreeSet<String> = w.split(',').map(str::to_string).collect();
            errors.is_empty() && warnings == want && out.status.code() == Some(0)
        } else {
            let want: BTreeSet<String> = spec.split(',').map(str::to_string).collect();
            errors == want && out.status.code() == Some(1)
        };
        if !ok {
            failures.push(format!(
                "docs/language.md:{}: expected `{spec}`, got errors {errors:?} warnings {warnings:?} (exit {:?})",
                ex.line,
                out.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
