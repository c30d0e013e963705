//! The command examples in README.md and docs/ are tests: every ```console
//! block of the pages below is run by trycmd against the real `millrace`
//! binary, in a temporary directory prepared for that page, and its output
//! compared. Volatile parts are written in the docs as trycmd redactions:
//! `[..]` for part of a line (times, run ids, durations), a line `...` for
//! any number of lines, `[CWD]` for the page's working directory; `? failed`
//! after a command expects it to fail. Other blocks (```text, ```sh) are
//! prose and not run.
//!
//! Each page runs as one sequence of steps in one directory, in page order:
//! a later example may use a workspace an earlier one created.
//! `tests/docs/<page>.in/`, when present, is copied there first (input
//! files the page's commands name). The run happens on a copy of the page;
//! the failure report names the copy's path, with the page's own line
//! numbers.
//!
//! After a change of output, re-bless the pages with
//! `TRYCMD=overwrite cargo test --test docs_examples`: the failing examples'
//! expected output is rewritten in README.md and docs/ (check the diff;
//! put back `[..]` where a volatile value was written literally).

use std::path::{Path, PathBuf};

mod support;
use support::copy_dir;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A `millrace` command run while preparing a page's directory.
fn millrace(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_millrace"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The body of the first ```LANG block of `page` whose first line is `first`:
/// an input file the page shows, so the test uses the page's own text.
fn block(page: &str, lang: &str, first: &str) -> String {
    let text = std::fs::read_to_string(repo().join(page)).unwrap();
    let start = text
        .find(&format!("```{lang}\n{first}\n"))
        .unwrap_or_else(|| panic!("{page} lost its ```{lang} block starting {first:?}"));
    let body = &text[start + 4 + lang.len()..];
    body[..body.find("```\n").unwrap()].to_string()
}

/// Run the console examples of one page (a path relative to the repository).
fn check(page: &str) {
    check_with(page, |_| {})
}

/// The same, after `setup` prepared the page's directory (after the copy
/// of `tests/docs/<page>.in/`).
fn check_with(page: &str, setup: impl FnOnce(&Path)) {
    let source = repo().join(page);
    let name = page.trim_end_matches(".md").replace('/', "-");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join(format!("{name}.md"));
    std::fs::copy(&source, &copy).unwrap();
    let work = dir.path().join(format!("{name}.in"));
    std::fs::create_dir_all(&work).unwrap();
    let inputs = repo().join("tests/docs").join(format!("{name}.in"));
    if inputs.is_dir() {
        copy_dir(&inputs, &work);
    }
    setup(&work);
    let overwrite = std::env::var_os("TRYCMD").is_some_and(|v| v == "overwrite");
    let cases = trycmd::TestCases::new();
    cases
        .register_bin("millrace", PathBuf::from(env!("CARGO_BIN_EXE_millrace")))
        .env("NO_COLOR", "1")
        .env("MILLRACE_SKILLS_INDEX_URL", "file:///nonexistent")
        .timeout(std::time::Duration::from_secs(120))
        .case(&copy);
    cases.run();
    if overwrite {
        let blessed = std::fs::read(&copy).unwrap();
        if blessed != std::fs::read(&source).unwrap() {
            std::fs::write(&source, blessed).unwrap();
            eprintln!("rewrote {page}");
        }
    }
}

#[test]
fn readme() {
    check("README.md");
}

#[test]
fn operator_guide() {
    let page = "docs/operator-guide.md";
    check_with(page, |dir| {
        // The inputs in tests/docs/ are the files the page shows.
        let shown = block(page, "markdown", "# Add a health endpoint");
        let input = std::fs::read_to_string(dir.join("in/task-health.md")).unwrap();
        assert_eq!(
            input, shown,
            "tests/docs/docs-operator-guide.in/in/task-health.md"
        );
        let shown = block(
            page,
            "json",
            r#"{"task_id": "task-docs", "title": "Document the API", "summary": "Write docs/api.md.","#,
        );
        let input = std::fs::read_to_string(dir.join("in/task-docs.json")).unwrap();
        assert_eq!(
            input, shown,
            "tests/docs/docs-operator-guide.in/in/task-docs.json"
        );
    });
}

#[test]
fn compiler() {
    let page = "docs/compiler.md";
    check_with(page, |dir| {
        // The workspace of the page's examples, with its `careful` mode.
        millrace(dir, &["init", "--workspace", "docws"]);
        let careful = block(
            page,
            "mill",
            "// A workspace-local mode: the default mode with a more careful checker.",
        );
        let local = dir.join("docws/millrace-agents/mill/local");
        std::fs::create_dir_all(&local).unwrap();
        std::fs::write(local.join("careful.mill"), careful).unwrap();
    });
}

#[test]
fn runners() {
    let page = "docs/runners.md";
    check_with(page, |dir| {
        // `w` runs the demo mode on the page's script, `no-script` names a missing one.
        millrace(dir, &["init", "--workspace", "w"]);
        let toml = block(page, "toml", "[runners.script]");
        let config = format!("[runtime]\ndefault_mode = \"demo\"\n\n{toml}");
        std::fs::write(dir.join("w/millrace-agents/millrace.toml"), config).unwrap();
        let script = block(
            page,
            "json",
            "{\n  \"builder\": [\"BLOCKED\", \"BUILDER_COMPLETE\"],",
        );
        std::fs::write(dir.join("w/millrace-agents/outcomes.json"), script).unwrap();
        millrace(dir, &["init", "--workspace", "no-script"]);
        let config =
            "[runtime]\ndefault_mode = \"demo\"\n\n[runners.script]\npath = \"answers.json\"\n";
        std::fs::write(dir.join("no-script/millrace-agents/millrace.toml"), config).unwrap();
    });
}

#[test]
fn language() {
    let page = "docs/language.md";
    check_with(page, |dir| {
        let patient = block(
            page,
            "mill",
            "import \"std/loops/execution.mill\"\nimport \"std/loops/planning.mill\"\n\nmode patient {",
        );
        std::fs::write(dir.join("patient.mill"), patient).unwrap();
    });
}

#[test]
fn testing_loops() {
    check("docs/testing-loops.md");
}

#[test]
fn workspace() {
    check("docs/workspace.md");
}

#[test]
fn exit_codes() {
    check_with("docs/exit-codes.md", |dir| {
        // `ws` is an initialized workspace; `empty` is a directory that is not one.
        millrace(dir, &["init", "--workspace", "ws"]);
        std::fs::create_dir_all(dir.join("empty")).unwrap();
    });
}
