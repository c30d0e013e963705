//! `millrace skills ...` on real workspaces, `init` deploying the skills
//! index, and the agent-facing skill packages under `docs/skills/`: every
//! command they cite runs (in document order, in a fresh directory, with
//! the files they show written where they say) and succeeds.

use assert_cmd::Command;
use std::path::Path;

mod support;
use support::cli::{assert_has, assert_success};

fn millrace(cwd: &Path, args: &[&str]) -> std::process::Output {
    Command::cargo_bin("millrace")
        .unwrap()
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap()
}

fn ok(cwd: &Path, args: &[&str]) -> String {
    let out = millrace(cwd, args);
    assert!(
        out.status.success(),
        "millrace {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(cwd: &Path, args: &[&str]) -> String {
    let out = millrace(cwd, args);
    assert!(
        !out.status.success(),
        "millrace {} succeeded",
        args.join(" ")
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `millrace ARGS --workspace ws` in `cwd`, which must succeed: its stdout.
fn ok_ws(cwd: &Path, args: &[&str]) -> String {
    ok(cwd, &[args, &["--workspace", "ws"]].concat())
}

/// `millrace ARGS --workspace ws` in `cwd`, which must fail: its stderr.
fn fails_ws(cwd: &Path, args: &[&str]) -> String {
    fails(cwd, &[args, &["--workspace", "ws"]].concat())
}

/// `skills ARGS` in the learning mode, which queues a learning request:
/// the request document.
fn learning_request(cwd: &Path, args: &[&str]) -> String {
    let out = ok_ws(
        cwd,
        &[&["skills"], args, &["--mode", "learning_codex"]].concat(),
    );
    let path = out
        .strip_prefix("queued_learning_request: ")
        .unwrap_or_else(|| panic!("{out}"))
        .trim();
    std::fs::read_to_string(path).unwrap()
}

fn ws() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    ok_ws(&d, &["init"]);
    (dir, d)
}

#[test]
fn init_deploys_the_index_and_every_skill_the_entrypoints_name() {
    let (_t, d) = ws();
    let ma = d.join("ws/millrace-agents");
    let index = std::fs::read_to_string(ma.join("skills/skills_index.md")).unwrap();
    // Every path the index lists exists.
    for line in index.lines().filter(|l| l.starts_with("| `")) {
        let path = line.rsplit('|').nth(1).unwrap().trim().trim_matches('`');
        assert!(ma.join("skills").join(path).is_file(), "{path}");
    }
    // Every `millrace-agents/skills/...` path an entrypoint names exists.
    let mut named = 0;
    for plane in ["execution", "planning", "learning"] {
        for e in std::fs::read_dir(ma.join("entrypoints").join(plane)).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            for (i, _) in text.match_indices("`millrace-agents/skills/") {
                let rest = &text[i + 1..];
                let path = &rest[..rest.find('`').unwrap()];
                if path.contains('<') || path.ends_with('/') {
                    continue;
                }
                named += 1;
                assert!(d.join("ws").join(path).is_file(), "{path}");
            }
        }
    }
    assert!(named >= 3, "{named}");
}

#[test]
fn ls_show_and_search() {
    let (_t, d) = ws();
    let ls = ok_ws(&d, &["skills", "ls"]);
    assert!(ls.lines().any(|l| l == "builder-core"), "{ls}");
    assert!(ls.lines().any(|l| l == "millrace-skill-creator"), "{ls}");
    let show = ok_ws(&d, &["skills", "show", "checker-core"]);
    assert!(show.starts_with("skill_id: checker-core\npath: "), "{show}");
    assert_has(
        &show,
        &["stage/execution/checker-core/SKILL.md", "\ntitle: "],
    );
    let err = fails_ws(&d, &["skills", "show", "nope"]);
    assert!(err.contains("skill not found: nope"), "{err}");
    let found = ok_ws(&d, &["skills", "search", "ARBITER"]);
    assert!(found.lines().any(|l| l == "arbiter-core"), "{found}");
    assert!(!found
        .lines()
        .any(|l| l == "builder-core" && !found.contains("arbiter")));
    let err = fails_ws(&d, &["skills", "search", " "]);
    assert!(err.contains("search query is required"), "{err}");
}

#[test]
fn install_from_a_directory_updates_the_index_and_the_log() {
    let (_t, d) = ws();
    let src = d.join("my-skill");
    std::fs::create_dir_all(src.join("references")).unwrap();
    std::fs::write(
        src.join("SKILL.md"),
        "---\ndescription: Mine.\n---\n\n# My skill\n",
    )
    .unwrap();
    std::fs::write(src.join("references/a.md"), "ref\n").unwrap();
    let out = ok_ws(&d, &["skills", "install", "my-skill"]);
    assert!(
        out.starts_with("installed_skill: my-skill\npath: "),
        "{out}"
    );
    let ma = d.join("ws/millrace-agents/skills");
    assert!(ma.join("my-skill/references/a.md").is_file());
    let index = std::fs::read_to_string(ma.join("skills_index.md")).unwrap();
    assert_has(&index, &["\n- my-skill: my-skill/SKILL.md\n"]);
    let err = fails_ws(&d, &["skills", "install", "my-skill"]);
    assert!(err.contains("skill already exists: my-skill"), "{err}");
    std::fs::write(src.join("SKILL.md"), "# My skill v2\n").unwrap();
    ok_ws(&d, &["skills", "install", "my-skill/SKILL.md", "--update"]);
    assert_eq!(
        std::fs::read_to_string(ma.join("my-skill/SKILL.md")).unwrap(),
        "# My skill v2\n"
    );
    let index = std::fs::read_to_string(ma.join("skills_index.md")).unwrap();
    assert_eq!(index.matches("- my-skill:").count(), 1, "{index}");
    let log = std::fs::read_to_string(ma.join("skill_operations.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 2, "{log}");
    assert!(log.contains("\"operation\":\"install\""), "{log}");
    let show = ok_ws(&d, &["skills", "show", "my-skill"]);
    assert!(show.contains("title: My skill v2"), "{show}");
    // A path that exists but is no skill is refused, not looked up remotely.
    std::fs::create_dir_all(d.join("empty")).unwrap();
    let err = fails_ws(&d, &["skills", "install", "empty"]);
    assert!(err.contains("not a skill"), "{err}");
}

#[test]
fn create_and_improve_queue_learning_requests_in_a_learning_mode_only() {
    let (_t, d) = ws();
    let err = fails_ws(&d, &["skills", "create", "retry flaky tests"]);
    assert!(err.contains("does not enable the learning plane"), "{err}");
    let doc = learning_request(&d, &["create", "retry flaky tests"]);
    assert_has(
        &doc,
        &["Requested-Action: create\n", "Summary: retry flaky tests\n"],
    );
    let doc = learning_request(&d, &["improve", "builder-core"]);
    assert_has(
        &doc,
        &[
            "Requested-Action: improve\n",
            "Target-Skill-ID: builder-core\n",
        ],
    );
    let q = ok_ws(&d, &["queue", "ls"]);
    assert!(
        q.contains("learning_queue_depth: 2") || q.contains("learning: 2"),
        "{q}"
    );
    let err = fails_ws(
        &d,
        &["skills", "improve", "ghost", "--mode", "learning_codex"],
    );
    assert!(err.contains("skill not found: ghost"), "{err}");
}

#[test]
fn export_writes_a_zip_archive() {
    let (_t, d) = ws();
    let out = ok_ws(
        &d,
        &["skills", "export", "builder-core", "--output", "b.zip"],
    );
    assert!(out.starts_with("exported_skill: "), "{out}");
    let bytes = std::fs::read(d.join("b.zip")).unwrap();
    assert_eq!(&bytes[..4], b"PK\x03\x04");
    assert!(bytes.windows(8).any(|w| w == b"SKILL.md"));
    assert_eq!(&bytes[bytes.len() - 22..bytes.len() - 18], b"PK\x05\x06");
    if let Ok(unzip) = std::process::Command::new("unzip")
        .arg("-t")
        .arg(d.join("b.zip"))
        .output()
    {
        assert!(
            unzip.status.success(),
            "{}",
            String::from_utf8_lossy(&unzip.stdout)
        );
    }
}

#[test]
fn promote_copies_into_a_source_checkout() {
    let (_t, d) = ws();
    let err = fails_ws(&d, &["skills", "promote", "builder-core"]);
    assert_has(&err, &["cannot locate a millrace source checkout"]);
    let src = d.join("checkout");
    std::fs::create_dir_all(src.join("stdlib/skills")).unwrap();
    std::fs::write(src.join("Cargo.toml"), "[package]\nname = \"millrace\"\n").unwrap();
    let out = ok_ws(
        &d,
        &["skills", "promote", "builder-core", "--source", "checkout"],
    );
    assert!(out.starts_with("promoted_skill: builder-core\n"), "{out}");
    assert!(src.join("stdlib/skills/builder-core/SKILL.md").is_file());
    let err = fails_ws(
        &d,
        &["skills", "promote", "builder-core", "--source", "checkout"],
    );
    assert!(err.contains("source skill already exists"), "{err}");
}

#[test]
fn an_unreachable_remote_index_is_a_clear_error() {
    let (_t, d) = ws();
    // Nothing listens on port 9 of the loopback: refused at once.
    let out = Command::cargo_bin("millrace")
        .unwrap()
        .current_dir(&d)
        .env("MILLRACE_SKILLS_INDEX_URL", "http://127.0.0.1:9/index.md")
        .args(["skills", "refresh-remote-index", "--workspace", "ws"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: remote skills: "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let out = Command::cargo_bin("millrace")
        .unwrap()
        .current_dir(&d)
        .env("MILLRACE_SKILLS_INDEX_URL", "http://127.0.0.1:9/index.md")
        .args(["skills", "install", "web-qa", "--workspace", "ws"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("remote skills"));
}

#[test]
fn a_remote_index_served_from_a_file_url_installs_a_listed_skill() {
    let (_t, d) = ws();
    let remote = d.join("remote");
    std::fs::create_dir_all(remote.join("skills/web-qa")).unwrap();
    std::fs::write(
        remote.join("index.md"),
        "| Skill | Description | Tags | Path | Status |\n| --- | --- | --- | --- | --- |\n| `web-qa` | Browser QA. | `qa` | `skills/web-qa` | supported |\n",
    )
    .unwrap();
    std::fs::write(remote.join("skills/web-qa/SKILL.md"), "# Web QA\n").unwrap();
    let url = format!("file://{}/index.md", remote.display());
    let run = |args: &[&str]| {
        Command::cargo_bin("millrace")
            .unwrap()
            .current_dir(&d)
            .env("MILLRACE_SKILLS_INDEX_URL", &url)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["skills", "refresh-remote-index", "--workspace", "ws"]);
    if String::from_utf8_lossy(&out.stderr).contains("needs `curl`") {
        return; // no curl on this machine: the error above is the behaviour
    }
    assert_success(&out);
    assert!(d
        .join("ws/millrace-agents/skills/remote_skills_index.md")
        .is_file());
    let out = run(&["skills", "install", "web-qa", "--workspace", "ws"]);
    assert_success(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_has(&text, &["installed_skill: web-qa\nsource: remote\n"]);
    assert_eq!(
        std::fs::read_to_string(d.join("ws/millrace-agents/skills/web-qa/SKILL.md")).unwrap(),
        "# Web QA\n"
    );
}

/// Run a skill package's cited commands: `<!-- file: P -->` before a fenced
/// block writes that block to P; each `$ millrace ...` line of a `console`
/// block runs and must succeed. Returns how many commands ran.
fn run_cited(doc: &Path) -> usize {
    let text = std::fs::read_to_string(doc).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let mut lines = text.lines().peekable();
    let mut ran = 0;
    let mut pending_file: Option<String> = None;
    while let Some(line) = lines.next() {
        if let Some(name) = line
            .strip_prefix("<!-- file: ")
            .and_then(|r| r.strip_suffix(" -->"))
        {
            pending_file = Some(name.to_string());
            continue;
        }
        if !line.starts_with("```") || line == "```" {
            continue;
        }
        let console = line == "```console";
        let mut body = String::new();
        for l in lines.by_ref() {
            if l == "```" {
                break;
            }
            body.push_str(l);
            body.push('\n');
        }
        if let Some(name) = pending_file.take() {
            let path = cwd.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, &body).unwrap();
        }
        if console {
            for cmd in body.lines() {
                let Some(args) = cmd.strip_prefix("$ millrace ") else {
                    panic!(
                        "{}: console line is not a millrace command: {cmd}",
                        doc.display()
                    );
                };
                let args: Vec<&str> = args.split_whitespace().collect();
                // A stand-in `codex` on PATH, as an agent's machine has the real one.
                let fakes = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fakes/bin");
                let path = format!(
                    "{}:{}",
                    fakes.display(),
                    std::env::var("PATH").unwrap_or_default()
                );
                let out = Command::cargo_bin("millrace")
                    .unwrap()
                    .current_dir(cwd)
                    .env("PATH", path)
                    .args(&args)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}: `{cmd}` failed: {}{}",
                    doc.display(),
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                ran += 1;
            }
        }
    }
    ran
}

#[test]
fn every_command_the_skill_packages_cite_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/skills");
    for (name, at_least) in [
        ("millrace-ops-agent-manual", 12),
        ("millrace-autonomous-delegation", 5),
        ("millrace-loop-authoring", 6),
    ] {
        let doc = root.join(name).join("SKILL.md");
        let text = std::fs::read_to_string(&doc).unwrap();
        assert!(
            text.starts_with(&format!("---\nname: {name}\ndescription: ")),
            "{name}"
        );
        let ran = run_cited(&doc);
        assert!(ran >= at_least, "{name}: only {ran} commands");
    }
}
