//! Authoring through the real binary: work added from flags and from
//! templates, configuration mistakes named with their line and a
//! did-you-mean, and compile graphs that show every edge.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

mod support;

fn millrace() -> Command {
    Command::from_std(support::millrace_cmd())
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run_in(ws: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = millrace();
    cmd.args(args).arg("--workspace").arg(ws);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let clean = |b: &[u8]| {
        String::from_utf8_lossy(b).replace(
            &ws.canonicalize()
                .unwrap_or(ws.to_path_buf())
                .display()
                .to_string(),
            "[WS]",
        )
    };
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: clean(&out.stdout),
        stderr: clean(&out.stderr),
    }
}

fn run(ws: &Path, args: &[&str]) -> Run {
    run_in(ws, args, &[])
}

/// A command without `--workspace`.
fn run_plain(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = millrace();
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn init() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().to_path_buf();
    let out = run(&ws, &["init"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    (dir, ws)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ------------------------------------------------------------ work is easy to add

#[test]
fn add_task_from_a_title_creates_a_valid_task_with_defaults() {
    let (_d, ws) = init();
    let out = run_in(
        &ws,
        &[
            "add-task",
            "--title",
            "Fix the login bug",
            "--acceptance",
            "login works with a new password",
            "--depends-on",
            "earlier-task",
        ],
        &[("USER", "alice")],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "enqueued_task: [WS]/millrace-agents/tasks/queue/Fix-the-login-bug.md\n"
    );
    let task = read(&ws.join("millrace-agents/tasks/queue/Fix-the-login-bug.md"));
    assert!(
        task.starts_with("# Fix the login bug\n\nTask-ID: Fix-the-login-bug\n"),
        "{task}"
    );
    assert!(task.contains("\nCreated-By: alice\n"), "{task}");
    assert!(
        task.contains("\nAcceptance:\n- login works with a new password\n"),
        "{task}"
    );
    assert!(task.contains("\nDepends-On:\n- earlier-task\n"), "{task}");
    let created = task
        .lines()
        .find_map(|l| l.strip_prefix("Created-At: "))
        .expect("Created-At");
    assert!(
        created.starts_with("20") && created.ends_with('Z'),
        "{created}"
    );
    // The queue reads it back as a valid task.
    let show = run(&ws, &["queue", "show", "Fix-the-login-bug", "--json"]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    let v: serde_json::Value = serde_json::from_str(&show.stdout).unwrap();
    assert_eq!(v["document"]["created_by"], "alice");
    assert_eq!(v["document"]["depends_on"][0], "earlier-task");
}

#[test]
fn ids_from_titles_stay_unique_and_created_by_can_be_given() {
    let (_d, ws) = init();
    for n in ["", "-2", "-3"] {
        let out = run(
            &ws,
            &[
                "queue",
                "add-task",
                "--title",
                "Ship it!",
                "--created-by",
                "bob",
            ],
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(
            out.stdout,
            format!("enqueued_task: [WS]/millrace-agents/tasks/queue/Ship-it{n}.md\n")
        );
    }
    assert!(
        read(&ws.join("millrace-agents/tasks/queue/Ship-it-3.md")).contains("Created-By: bob\n")
    );
    // Ids are unique across kinds too (`queue show ID` names one item); an
    // explicit id that exists is refused.
    let spec = run(
        &ws,
        &["add-spec", "--title", "Ship it!", "--goal", "users get it"],
    );
    assert_eq!(spec.code, 0, "{}", spec.stderr);
    let text = read(&ws.join("millrace-agents/specs/queue/Ship-it-4.md"));
    assert!(text.contains("Source-Type: manual\n"), "{text}");
    assert!(text.contains("\nGoals:\n- users get it\n"), "{text}");
    let dup = run(&ws, &["add-task", "--title", "again", "--id", "Ship-it"]);
    assert_ne!(dup.code, 0, "duplicate is refused: {}", dup.stderr);
    assert!(dup.stderr.contains("already exists"), "{}", dup.stderr);
    let idea = run(
        &ws,
        &["add-idea", "--title", "Try Rust", "--summary", "for speed"],
    );
    assert_eq!(idea.code, 0, "{}", idea.stderr);
    assert_eq!(
        read(&ws.join("ideas/inbox/Try-Rust.md")),
        "# Try Rust\n\nfor speed\n"
    );
}

#[test]
fn bad_flags_are_refused_before_anything_is_written() {
    let (_d, ws) = init();
    let bad_id = run(&ws, &["add-task", "--title", "x", "--id", "../escape"]);
    assert_eq!(bad_id.code, 1);
    assert!(
        bad_id.stderr.contains("--id: invalid id"),
        "{}",
        bad_id.stderr
    );
    let empty = run(&ws, &["add-task", "--title", "x", "--acceptance", " "]);
    assert_eq!(empty.code, 1);
    assert!(
        empty.stderr.contains("--acceptance: a value is empty"),
        "{}",
        empty.stderr
    );
    let dep = run(&ws, &["add-task", "--title", "x", "--depends-on", "a\nb"]);
    assert_eq!(dep.code, 1, "{}", dep.stderr);
    assert!(dep.stderr.contains("--depends-on"), "{}", dep.stderr);
    // Usage errors: neither a file nor a title, both, a task flag without a title.
    for args in [
        vec!["add-task"],
        vec!["add-task", "t.md", "--title", "x"],
        vec!["add-task", "t.md", "--acceptance", "x"],
    ] {
        assert_eq!(run(&ws, &args).code, 2, "{args:?}");
    }
    let queued = std::fs::read_dir(ws.join("millrace-agents/tasks/queue"))
        .unwrap()
        .count();
    assert_eq!(queued, 0);
}

/// Replace each `<fill: ...>` placeholder: ids with `id`, others with text.
fn fill(template: &str, id: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find("<fill:") {
        out.push_str(&rest[..i]);
        let end = rest[i..].find('>').unwrap();
        let before = &rest[..i];
        let is_id = before.ends_with("-ID: ") || before.ends_with("_id\": \"");
        out.push_str(if is_id { id } else { "filled in" });
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn templates_are_accepted_once_filled() {
    let (_d, ws) = init();
    for (kind, top, format, ext) in [
        ("task", "template", "md", "md"),
        ("task", "queue", "json", "json"),
        ("spec", "template", "md", "md"),
        ("spec", "queue", "json", "json"),
    ] {
        let args: Vec<&str> = if top == "queue" {
            vec!["queue", "template", kind, "--format", format]
        } else {
            vec!["template", kind, "--format", format]
        };
        let t = run_plain(&args, &[]);
        assert!(t.contains("<fill:"), "{t}");
        let file = ws.join(format!("new.{ext}"));
        // Unfilled: refused, naming the line.
        std::fs::write(&file, &t).unwrap();
        let refused = run(&ws, &[&format!("add-{kind}"), file.to_str().unwrap()]);
        assert_eq!(refused.code, 1, "{}", refused.stderr);
        assert!(refused.stderr.contains("line "), "{}", refused.stderr);
        assert!(
            refused.stderr.contains("fill in the template"),
            "{}",
            refused.stderr
        );
        // Filled: accepted unchanged otherwise.
        let id = format!("{kind}-from-{format}");
        std::fs::write(&file, fill(&t, &id)).unwrap();
        let added = run(&ws, &[&format!("add-{kind}"), file.to_str().unwrap()]);
        assert_eq!(added.code, 0, "{kind} {format}: {}", added.stderr);
        assert!(
            added.stdout.contains(&format!("{id}.md")),
            "{}",
            added.stdout
        );
    }
}

#[test]
fn template_output_is_stable() {
    let t = run_plain(&["template", "task"], &[("USER", "alice")]);
    let stable = t
        .lines()
        .map(|l| match l.strip_prefix("Created-At: ") {
            Some(_) => "Created-At: [NOW]",
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!("template_task_md", stable);
}

#[test]
fn json_import_errors_name_the_json_key() {
    let (_d, ws) = init();
    let file = ws.join("t.json");
    std::fs::write(
        &file,
        r#"{"task_id":"t-1","title":"x","created_at":"yesterday","created_by":"me",
            "target_paths":["a"],"acceptance":["b"],"required_checks":["c"],"references":["d"],"risk":["e"]}"#,
    )
    .unwrap();
    let out = run(&ws, &["add-task", file.to_str().unwrap()]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("field `created_at`"), "{}", out.stderr);
    assert!(!out.stderr.contains("Created-At"), "{}", out.stderr);
}
