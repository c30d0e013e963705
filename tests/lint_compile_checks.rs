//! Checks that need the workspace: made when a plan is compiled with the
//! workspace's config, so a mode that `lint` accepts cannot fail only at run
//! time for want of runner settings.

use std::path::Path;

mod support;
use support::cli::{assert_has, init_ws as init, output as run};

fn local_mode(ws: &Path, name: &str, body: &str) {
    let local = ws.join("millrace-agents/mill/local");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(
        local.join(format!("{name}.mill")),
        format!("import \"../modes/default_codex.mill\"\nmode {name} extends default_codex {{\n{body}\n}}\n"),
    )
    .unwrap();
}

fn append_config(ws: &Path, text: &str) {
    let p = ws.join("millrace-agents/millrace.toml");
    let mut cfg = std::fs::read_to_string(&p).unwrap();
    cfg.push_str(text);
    std::fs::write(p, cfg).unwrap();
}

fn compile(ws: &Path, mode: &str) -> (i32, String) {
    let (code, out, err) = run(&[
        "compile",
        "show",
        "--workspace",
        ws.to_str().unwrap(),
        "--mode",
        mode,
    ]);
    (code, format!("{out}{err}"))
}

#[test]
fn runner_command_without_argv_fails_at_compile() {
    let (_d, ws) = init();
    local_mode(&ws, "cmd", "  runner command");
    let (code, out) = compile(&ws, "cmd");
    assert_ne!(code, 0, "{out}");
    assert_has(
        &out,
        &[
            "runner command (used by builder, checker",
            "[runners.command]",
        ],
    );
    append_config(
        &ws,
        "\n[runners.command]\nargv = [\"my-agent\", \"{prompt_file}\"]\n",
    );
    let (code, out) = compile(&ws, "cmd");
    assert_eq!(code, 0, "{out}");
}

#[test]
fn script_keys_must_name_nodes_of_the_plan() {
    let (_d, ws) = init();
    local_mode(&ws, "scripted", "  runner script");
    std::fs::write(
        ws.join("script.json"),
        r#"{"builder": ["BUILDER_COMPLETE"], "checkr": ["CHECKER_PASS"], "default": "success"}"#,
    )
    .unwrap();
    append_config(&ws, "\n[runners.script]\npath = \"script.json\"\n");
    let (code, out) = compile(&ws, "scripted");
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains(
            "key `checkr` names no node or stage kind of mode scripted: did you mean `checker`?"
        ),
        "{out}"
    );
    assert!(!out.contains("key `builder`"), "{out}");
    std::fs::write(ws.join("script.json"), r#"{"checker": ["CHECKER_PASS"]}"#).unwrap();
    let (code, out) = compile(&ws, "scripted");
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_broken_file_stops_only_the_modes_that_import_it() {
    let (_d, ws) = init();
    let local = ws.join("millrace-agents/mill/local");
    std::fs::create_dir_all(&local).unwrap();
    for f in ["a.mill", "b.mill"] {
        std::fs::write(
            local.join(f),
            "import \"../modes/default_codex.mill\"\nmode twin extends default_codex {}\n",
        )
        .unwrap();
    }
    let (code, out) = compile(&ws, "default_codex");
    assert_eq!(code, 0, "{out}");
    let (code, out) = compile(&ws, "twin");
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("mode `twin` is declared twice"), "{out}");
    // Errors carry the labels and help lint shows.
    assert!(out.contains("help: rename one of them"), "{out}");
}
