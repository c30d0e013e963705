//! Authoring through the real binary: work added from flags and from
//! templates, configuration mistakes named with their line and a
//! did-you-mean, and compile graphs that show every edge.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

mod support;
use support::cli::{assert_has, assert_success, run, run_in};

fn millrace() -> Command {
    Command::from_std(support::millrace_cmd())
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
    assert_has(
        &task,
        &[
            "\nCreated-By: alice\n",
            "\nAcceptance:\n- login works with a new password\n",
            "\nDepends-On:\n- earlier-task\n",
        ],
    );
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
    assert_has(
        &text,
        &["Source-Type: manual\n", "\nGoals:\n- users get it\n"],
    );
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
    assert_has(&bad_id.stderr, &["--id: invalid id"]);
    let empty = run(&ws, &["add-task", "--title", "x", "--acceptance", " "]);
    assert_eq!(empty.code, 1);
    assert_has(&empty.stderr, &["--acceptance: a value is empty"]);
    let dep = run(&ws, &["add-task", "--title", "x", "--depends-on", "a\nb"]);
    assert_eq!(dep.code, 1, "{}", dep.stderr);
    assert_has(&dep.stderr, &["--depends-on: invalid id"]);
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
        assert_ne!(refused.code, 0, "{}", refused.stderr);
        assert_has(&refused.stderr, &["line ", "fill in the template"]);
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

// ------------------------------------------------- configuration says what it does

fn write_config(ws: &Path, text: &str) {
    std::fs::write(ws.join("millrace-agents/millrace.toml"), text).unwrap();
}

#[test]
fn unknown_modes_get_a_did_you_mean_the_valid_names_and_the_line() {
    let (_d, ws) = init();
    let out = run(&ws, &["compile", "validate", "--mode", "default_codx"]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("error: Unknown mode id: default_codx\n  help: did you mean `default_codex`?\n  help: valid modes and aliases: default_claude, default_codex, default_pi, demo, learning_codex, learning_pi, standard_plain\n"), "{}", out.stdout);
    // From millrace.toml: the line of `default_mode`.
    write_config(&ws, "# mine\n[runtime]\ndefault_mode = \"learnin_codex\"\n");
    let out = run(&ws, &["compile", "validate"]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("error: Unknown mode id: learnin_codex\n  = millrace.toml line 3: `default_mode = \"learnin_codex\"` in [runtime]\n  help: did you mean `learning_codex`?\n"), "{}", out.stdout);
    // `run --mode`: the same help, and no talk of another mode's plan as a
    // last known good one.
    write_config(&ws, "[runtime]\ndefault_mode = \"default_codex\"\n");
    assert_eq!(run(&ws, &["compile", "validate"]).code, 0);
    let out = run(&ws, &["run", "once", "--mode", "defalt_codex"]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("error: compile failed: Unknown mode id: defalt_codex\n  help: did you mean `default_codex`?"), "{}", out.stderr);
    assert!(!out.stderr.contains("last known good"), "{}", out.stderr);
    let show = run(&ws, &["modes", "show", "defalt_pi"]);
    assert_eq!(show.code, 1);
    assert!(
        show.stderr
            .contains("error: Unknown mode id: defalt_pi\n  help: did you mean `default_pi`?"),
        "{}",
        show.stderr
    );
}

#[test]
fn compile_show_of_an_unknown_mode_shows_no_other_plan() {
    let (_d, ws) = init();
    assert_eq!(run(&ws, &["compile", "validate"]).code, 0);
    let out = run(&ws, &["compile", "show", "--mode", "nope"]);
    assert_eq!(out.code, 1);
    assert!(
        !out.stdout.contains("stage: execution.builder"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("plan-default_codex"), "{}", out.stdout);
    assert_has(
        &out.stderr,
        &["error: no plan for mode nope: Unknown mode id: nope"],
    );
    // A broken millrace.toml: the error, not the last plan.
    write_config(&ws, "[runtime\ndefault_mode = \"default_codex\"\n");
    let out = run(&ws, &["compile", "show"]);
    assert_eq!(out.code, 1);
    assert_has(
        &out.stdout,
        &["error: [WS]/millrace-agents/millrace.toml: line 1:"],
    );
    assert!(!out.stdout.contains("compiled_plan_id:"), "{}", out.stdout);
    assert_has(&out.stderr, &["error: no plan for mode"]);
    let graph = run(&ws, &["compile", "graph"]);
    assert_eq!(graph.code, 1);
    assert_has(&graph.stderr, &["error: no plan for mode"]);
}

#[test]
fn stage_names_in_config_are_checked_with_their_line() {
    let (_d, ws) = init();
    write_config(
        &ws,
        "[runtime]\ndefault_mode = \"default_codex\"\n\n[stages.fixr]\nmodel = \"m\"\n",
    );
    let out = run(&ws, &["compile", "validate"]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("error: unknown stage names in config: fixr\n  = millrace.toml line 4: [stages.fixr]\n  help: did you mean `fixer`?\n  help: valid stage names: analyst, arbiter,"), "{}", out.stdout);
    // permission_by_stage keys: unknown names are errors, stages of another mode warnings.
    write_config(&ws, "[runners.codex]\npermission_default = \"basic\"\npermission_by_stage = { chekcer = \"basic\" }\n");
    let out = run(&ws, &["compile", "validate"]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("error: unknown stage names in runners.codex.permission_by_stage: chekcer\n  = millrace.toml line 3\n  help: did you mean `checker`?\n  help: valid stages of mode default_codex: arbiter,"), "{}", out.stdout);
    write_config(
        &ws,
        "[runners.claude.permission_by_stage]\nanalyst = \"basic\"\n",
    );
    let out = run(&ws, &["compile", "validate"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("warning: millrace.toml line 2: `analyst` in runners.claude.permission_by_stage has no effect: mode default_codex has no such stage\n"), "{}", out.stdout);
}

#[test]
fn config_the_mode_overrides_is_a_warning_naming_the_mode_line() {
    let (_d, ws) = init();
    write_config(
        &ws,
        "[runners]\ndefault_runner = \"claude_code\"\n\n[stages.checker]\nrunner = \"pi_rpc\"\n",
    );
    let out = run(&ws, &["config", "validate"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_has(
        &out.stdout,
        &[
            "warning: millrace.toml line 2: `default_runner = \"claude_code\"` has no effect: mode default_codex sets `runner codex_cli` (mill/modes/default_codex.mill:11)\n",
            "warning: millrace.toml line 5: `[stages.checker] runner = \"pi_rpc\"` has no effect: mode default_codex sets `runner codex_cli` (mill/modes/default_codex.mill:11)\n",
        ],
    );
    // `run` repeats the warnings of the plan it runs on standard error.
    let once = run(&ws, &["run", "once"]);
    assert_eq!(once.code, 0, "{}", once.stderr);
    assert!(
        once.stderr.contains(
            "warning: millrace.toml line 2: `default_runner = \"claude_code\"` has no effect"
        ),
        "{}",
        once.stderr
    );
    // A mode's own stage block wins over [stages.<node>] model.
    std::fs::write(
        ws.join("millrace-agents/mill/modes/mine.mill"),
        "import \"default_codex.mill\"\n\nmode mine extends default_codex {\n  stage checker { model \"from-mode\" }\n}\n",
    )
    .unwrap();
    write_config(
        &ws,
        "[runtime]\ndefault_mode = \"mine\"\n\n[stages.checker]\nmodel = \"from-config\"\n",
    );
    let out = run(&ws, &["compile", "validate"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out.stdout.contains("warning: millrace.toml line 5: `[stages.checker] model` has no effect: mode mine sets `model` in `stage checker { ... }` (mill/modes/mine.mill:4)\n"), "{}", out.stdout);
}

#[test]
fn runner_settings_errors_name_their_line() {
    let (_d, ws) = init();
    write_config(&ws, "[runtime]\ndefault_mode = \"default_codex\"\n\n[runners.pi]\ncommand = \"pi\"\nargs = [\"--no-skills\"]\n");
    let out = run(&ws, &["config", "validate"]);
    assert_eq!(out.code, 1);
    assert!(out.stdout.contains("millrace.toml: line 6: reserved pi runner flags are not allowed in runners.pi.args: --no-skills"), "{}", out.stdout);
    write_config(&ws, "[runtime]\ndefault_mode = \"default_codex\"\n\n[stages.builder]\nrunner = \"command\"\n\n[runners.command]\nprompt_mode = \"stdin\"\n");
    let out = run(&ws, &["compile", "validate", "--mode", "demo"]);
    let out2 = run(&ws, &["compile", "validate"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    // default_codex sets `runner codex_cli`, so the stage binding is only a warning there.
    assert!(out2.stdout.contains("has no effect"), "{}", out2.stdout);
    std::fs::write(
        ws.join("millrace-agents/mill/modes/cmd.mill"),
        "import \"default_codex.mill\"\n\nmode cmd extends default_codex {\n  stage builder { runner command }\n}\n",
    )
    .unwrap();
    let out = run(&ws, &["compile", "validate", "--mode", "cmd"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("error: millrace.toml line 7: runner command (used by builder) needs `argv`"),
        "{}",
        out.stdout
    );
}

#[test]
fn config_show_prints_each_runners_command_line() {
    let (_d, ws) = init();
    write_config(&ws, "[runners.codex]\npermission_default = \"maximum\"\npermission_by_stage = { checker = \"basic\" }\n");
    let out = run(&ws, &["config", "show"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_has(
        &out.stdout,
        &[
            "runner_mode: default_codex\nrunner.codex_cli.command: codex exec --skip-git-repo-check --dangerously-bypass-approvals-and-sandbox --cd [WS] --json --output-last-message <run_dir>/runner_last_message.<request_id>.txt <prompt>\nrunner.codex_cli.stages: execution.builder, execution.fixer,",
            "runner.codex_cli.command: codex exec --skip-git-repo-check --full-auto --cd [WS] --json --output-last-message <run_dir>/runner_last_message.<request_id>.txt <prompt>\nrunner.codex_cli.stages: execution.checker\n",
        ],
    );
    let out = run(&ws, &["config", "show"]);
    assert_eq!(out.code, 0);
    write_config(&ws, "[runtime]\ndefault_mode = \"default_claude\"\n");
    let out = run(&ws, &["config", "show"]);
    assert_has(
        &out.stdout,
        &[
            "runner.claude_code.command: claude -p <prompt> --output-format stream-json --verbose --dangerously-skip-permissions\n",
            "heartbeat_seconds: 30\n",
        ],
    );
    // The same in JSON: the runner command lines and the heartbeat default.
    let out = run(&ws, &["config", "show", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["runtime"]["heartbeat_seconds"], 30);
    let first = &v["runner_commands"][0];
    assert_eq!(first["runner"], "claude_code");
    assert!(
        first["command"]
            .as_str()
            .unwrap()
            .starts_with("claude -p <prompt>"),
        "{first}"
    );
    assert!(
        first["stages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "execution.builder"),
        "{first}"
    );
}

#[test]
fn workspace_aliases_count_for_currentness() {
    let (_d, ws) = init();
    std::fs::write(
        ws.join("millrace-agents/mill/modes/local.mill"),
        "import \"default_codex.mill\"\n\nalias fast = default_codex\n",
    )
    .unwrap();
    write_config(&ws, "[runtime]\ndefault_mode = \"fast\"\n");
    let out = run(&ws, &["compile", "validate"]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let status = run(&ws, &["status"]);
    assert!(
        status
            .stdout
            .contains("compiled_plan_currentness: current\n"),
        "{}",
        status.stdout
    );
    let show = run(&ws, &["compile", "show"]);
    assert_has(&show.stdout, &["compiled_plan_currentness: current\n"]);
}

#[test]
fn init_prints_next_steps_and_warns_about_maximum() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["init"]);
    assert_eq!(out.code, 0);
    insta::assert_snapshot!("init_stdout", out.stdout);
    insta::assert_snapshot!("init_stderr", out.stderr);
    // A safer level set: no warning.
    write_config(
        dir.path(),
        "[runners.codex]\npermission_default = \"basic\"\n",
    );
    let again = run(dir.path(), &["init"]);
    assert_eq!(again.code, 0);
    assert_eq!(again.stderr, "");
}

// ------------------------------------------------------------ graphs people can read

#[test]
fn text_graph_shows_entries_and_grouped_thresholds_within_100_columns() {
    let (_d, ws) = init();
    let out = run(&ws, &["compile", "graph"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for line in out.stdout.lines() {
        assert!(
            line.chars().count() <= 100,
            "wider than 100 columns: {line}"
        );
    }
    // Every node is the target of an edge or an entry: consultant is reached by a threshold.
    let execution = out.stdout.split("\nplanning:\n").next().unwrap();
    assert_has(
        execution,
        &["--BLOCKED after 2 (troubleshoot_attempt_count)--> consultant"],
    );
    let plan_id = out.stdout.lines().next().unwrap().to_string();
    let stable = out.stdout.replace(&plan_id, "compiled_plan_id: [id]");
    insta::assert_snapshot!("graph_text_default_codex", stable);
}

/// The node ids a DOT text declares (`"id" [` at a line start) and the
/// endpoints its edges use (`"a" -> "b"`).
fn dot_ids(dot: &str) -> (Vec<String>, Vec<String>) {
    let (mut declared, mut used) = (Vec::new(), Vec::new());
    for line in dot.lines().map(str::trim) {
        let quoted: Vec<&str> = line.split('"').collect();
        if line.contains(" -> ") {
            used.push(quoted[1].to_string());
            used.push(quoted[3].to_string());
        } else if line.starts_with('"') && line.contains(" [") {
            declared.push(quoted[1].to_string());
        }
    }
    (declared, used)
}

#[test]
fn dot_without_a_plane_is_one_digraph_with_a_cluster_per_plane() {
    let (_d, ws) = init();
    let out = run(
        &ws,
        &[
            "compile",
            "graph",
            "--mode",
            "learning_codex",
            "--format",
            "dot",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let dot = out.stdout;
    assert_eq!(dot.matches("digraph ").count(), 1, "{dot}");
    assert!(dot.starts_with("digraph \"learning_codex\" {\n") && dot.ends_with("}\n"));
    for plane in ["execution", "planning", "learning"] {
        assert!(
            dot.contains(&format!("    subgraph \"cluster_{plane}\" {{\n")),
            "{dot}"
        );
    }
    assert_eq!(dot.matches('{').count(), dot.matches('}').count());
    let (declared, used) = dot_ids(&dot);
    let mut unique = declared.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), declared.len(), "a node declared twice");
    for id in &used {
        assert!(declared.contains(id), "edge to undeclared node {id}");
    }
    // The six BLOCKED sources of one threshold meet at one junction: one labelled edge.
    assert_eq!(
        dot.matches("label=\"BLOCKED after 2 (troubleshoot_attempt_count)\"")
            .count(),
        1
    );
    assert_eq!(
        dot.matches("-> \"execution_threshold_1\" [arrowhead=none")
            .count(),
        6
    );
    // Graphviz itself, when installed, renders it.
    if std::process::Command::new("dot").arg("-V").output().is_ok() {
        let path = ws.join("g.dot");
        std::fs::write(&path, &dot).unwrap();
        let svg = std::process::Command::new("dot")
            .args(["-Tsvg"])
            .arg(&path)
            .output()
            .unwrap();
        assert_success(&svg);
        assert!(String::from_utf8_lossy(&svg.stdout).contains("<svg"));
    }
    // Mermaid groups the same way.
    let mermaid = run(
        &ws,
        &[
            "compile",
            "graph",
            "--format",
            "mermaid",
            "--plane",
            "execution",
        ],
    );
    assert_has(&mermaid.stdout, &["    execution_threshold_1(( ))\n"]);
    assert_eq!(
        mermaid
            .stdout
            .matches(" -.- execution_threshold_1\n")
            .count(),
        6
    );
    assert_eq!(
        mermaid
            .stdout
            .matches("BLOCKED after 2 (troubleshoot_attempt_count)")
            .count(),
        1
    );
    // With --plane: that plane's digraph alone.
    let one = run(
        &ws,
        &["compile", "graph", "--format", "dot", "--plane", "planning"],
    );
    assert!(
        one.stdout
            .starts_with("digraph \"default_codex.planning\" {\n"),
        "{}",
        one.stdout
    );
    assert!(!one.stdout.contains("subgraph"));
}
