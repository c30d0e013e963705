//! The compile surfaces driven through the real binary: the reference's edge
//! sets, `compile show` for every shipped mode, stale and missing plans,
//! deterministic persistence, config errors, and workspace-local modes.

use std::path::{Path, PathBuf};

mod support;
use support::cli::{assert_has, output as run};

const MODES: &[&str] = &[
    "default_codex",
    "default_pi",
    "learning_codex",
    "learning_pi",
    "standard_plain",
];

fn init() -> (tempfile::TempDir, String) {
    let (dir, ws) = support::cli::init_ws();
    let ws = ws.to_str().unwrap().to_string();
    (dir, ws)
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/cli-output-0.18.0")
            .join(name),
    )
    .unwrap()
}

#[test]
fn graph_edges_match_the_reference_for_every_shipped_mode() {
    let dir = tempfile::tempdir().unwrap();
    for mode in MODES {
        let (code, out, err) = run(&[
            "compile",
            "graph",
            "--workspace",
            dir.path().to_str().unwrap(),
            "--mode",
            mode,
        ]);
        assert_eq!(code, 0, "{mode}: {err}");
        assert!(err.contains("not an initialized workspace"), "{err}");
        let reference = fixture(&format!("graph-{mode}.txt"));
        // Everything but the plan id line (ours is a blake3 digest) is
        // identical, once our lines (each plane's entries and thresholds,
        // after its routes) are left out.
        let ours: Vec<&str> = out
            .lines()
            .skip(1)
            .filter(|l| {
                !(l.starts_with("  entries: ")
                    || l.starts_with("  thresholds ")
                    || l.starts_with("    "))
            })
            .collect();
        let theirs: Vec<&str> = reference.lines().skip(1).collect();
        assert_eq!(ours, theirs, "{mode}");
        let expected_mode = if *mode == "standard_plain" {
            "default_codex"
        } else {
            mode
        };
        assert!(
            out.starts_with(&format!("compiled_plan_id: plan-{expected_mode}-")),
            "{out}"
        );
    }
}

#[test]
fn compile_show_for_every_shipped_mode() {
    let (_dir, ws) = init();
    for mode in MODES {
        let (code, out, err) = run(&["compile", "show", "--workspace", &ws, "--mode", mode]);
        assert_eq!(code, 0, "{mode}: {err}");
        hash_filters().bind(|| insta::assert_snapshot!(format!("compile_show_{mode}"), out));
    }
}

fn hash_filters() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"plan-(\w+)-[0-9a-f]{12}", "plan-$1-[hash]");
    settings.add_filter(r"cfg-[0-9a-f]{12}", "cfg-[hash]");
    settings.add_filter(r"assets-[0-9a-f]{12}", "assets-[hash]");
    settings.add_filter(
        r"baseline_manifest_id: [0-9a-f]{64}",
        "baseline_manifest_id: [hash]",
    );
    settings
}

#[test]
fn a_broken_edit_leaves_a_stale_plan_that_is_refused() {
    let (_dir, ws) = init();
    assert_eq!(run(&["compile", "validate", "--workspace", &ws]).0, 0);
    let loop_file = PathBuf::from(&ws).join("millrace-agents/mill/stdlib/loops/execution.mill");
    let text = std::fs::read_to_string(&loop_file).unwrap();
    std::fs::write(
        &loop_file,
        text.replace("after 2 -> troubleshooter", "after 0 -> troubleshooter"),
    )
    .unwrap();
    let (code, out, _) = run(&["compile", "show", "--workspace", &ws]);
    assert_eq!(code, 1);
    assert_has(
        &out,
        &[
            "used_last_known_good: false",
            "compiled_plan_currentness: stale",
            "compiled_plan_change: asset changed: mill/stdlib/loops/execution.mill",
        ],
    );
    let head: String = out.lines().take(12).map(|l| format!("{l}\n")).collect();
    hash_filters().bind(|| insta::assert_snapshot!("compile_show_stale", head));
}

#[test]
fn a_failed_first_compile_has_a_missing_plan() {
    let (_dir, ws) = init();
    let config = PathBuf::from(&ws).join("millrace-agents/millrace.toml");
    std::fs::write(&config, "[runtime]\ndefault_mode = \"default_codex\"\nrun_style = \"daemon\"\n\n[stages.chekcer]\nmodel = \"gpt-5\"\n").unwrap();
    let (code, out, _) = run(&["compile", "show", "--workspace", &ws]);
    assert_eq!(code, 1);
    assert!(!PathBuf::from(&ws)
        .join("millrace-agents/state/compiled_plan.json")
        .exists());
    hash_filters().bind(|| insta::assert_snapshot!("compile_show_missing", out));
    let diags: serde_json::Value = serde_json::from_slice(
        &std::fs::read(PathBuf::from(&ws).join("millrace-agents/state/compile_diagnostics.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(diags["ok"], false);
    // The reference's line first, then the line in millrace.toml and a did-you-mean.
    let first = diags["errors"][0].as_str().unwrap();
    assert!(
        first.starts_with("unknown stage names in config: chekcer\n  = millrace.toml line 5: [stages.chekcer]\n  help: did you mean `checker`?"),
        "{first}"
    );
}

#[test]
fn config_errors_name_the_key_line_and_allowed_values() {
    let (_dir, ws) = init();
    let config = PathBuf::from(&ws).join("millrace-agents/millrace.toml");
    std::fs::write(
        &config,
        "[runtime]\ndefault_mode = \"default_codex\"\nrun_style = \"weekly\"\n",
    )
    .unwrap();
    let (code, out, _) = run(&["compile", "validate", "--workspace", &ws]);
    assert_eq!(code, 1);
    let err = out.lines().find(|l| l.starts_with("error: ")).unwrap();
    assert!(err.contains("millrace.toml: line 3:"), "{err}");
    assert!(err.contains("`weekly`") && err.contains("daemon"), "{err}");
    assert_eq!(out.lines().filter(|l| l.starts_with("error: ")).count(), 1);
}

#[test]
fn persisted_plan_is_byte_identical_across_compiles_and_workspaces() {
    let (_a, ws_a) = init();
    let (_b, ws_b) = init();
    let plan = |ws: &str| {
        std::fs::read(PathBuf::from(ws).join("millrace-agents/state/compiled_plan.json")).unwrap()
    };
    assert_eq!(run(&["compile", "validate", "--workspace", &ws_a]).0, 0);
    let first = plan(&ws_a);
    assert_eq!(run(&["compile", "validate", "--workspace", &ws_a]).0, 0);
    assert_eq!(first, plan(&ws_a));
    assert_eq!(run(&["compile", "validate", "--workspace", &ws_b]).0, 0);
    assert_eq!(first, plan(&ws_b));
    let v: serde_json::Value = serde_json::from_slice(&first).unwrap();
    let id = v["compiled_plan_id"].as_str().unwrap();
    assert!(id.starts_with("plan-default_codex-") && id.len() == "plan-default_codex-".len() + 12);
    let node = &v["graphs_by_plane"]["execution"]["nodes"][0];
    assert_eq!(node["source"]["file"], "mill/stdlib/loops/execution.mill");
    assert_eq!(
        v["graphs_by_plane"]["execution"]["stage_run_bound"]["max_stage_runs"],
        23
    );
}

#[test]
fn workspace_local_modes_compile_alongside_the_shipped_ones() {
    let (_dir, ws) = init();
    let local = PathBuf::from(&ws).join("millrace-agents/mill/local");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(
        local.join("careful.mill"),
        "import \"../modes/default_codex.mill\"\n\
         mode careful extends default_codex {\n  stage checker { model \"gpt-5-codex\" thinking high timeout 30m }\n  threshold fix_cycle_count 3\n}\n",
    )
    .unwrap();
    let (code, out, err) = run(&["compile", "show", "--workspace", &ws, "--mode", "careful"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("mode_id: careful"));
    assert_has(&out, &["execution_stage_run_bound: 25 (task 25)"]);
    let checker: String = out
        .split("stage: execution.checker\n")
        .nth(1)
        .unwrap()
        .lines()
        .take(12)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(checker.contains("model_name: gpt-5-codex"));
    assert!(checker.contains("thinking_level: high"));
    assert!(checker.contains("model_reasoning_effort: high"));
    assert!(checker.contains("timeout_seconds: 1800"));
    let (_, list, _) = run(&["modes", "list", "--workspace", &ws]);
    assert!(
        list.contains("careful: execution_loop=execution.standard planning_loop=planning.standard")
    );
}

#[test]
fn graph_formats_render() {
    let (_dir, ws) = init();
    let (code, dot, _) = run(&["compile", "graph", "--workspace", &ws, "--format", "dot"]);
    assert_eq!(code, 0);
    // One digraph, a cluster per plane (tests/authoring_cli.rs renders it).
    assert!(dot.starts_with("digraph \"default_codex\" {\n"), "{dot}");
    assert!(dot.contains("subgraph \"cluster_execution\""));
    assert!(dot.contains("label=\"FIX_NEEDED after 2 (fix_cycle_count)\" style=dashed"));
    let (_, mermaid, _) = run(&[
        "compile",
        "graph",
        "--workspace",
        &ws,
        "--format",
        "mermaid",
        "--plane",
        "planning",
    ]);
    assert!(mermaid.starts_with("flowchart LR\n  subgraph planning"));
    assert!(mermaid.contains("planning_mechanic -->|BLOCKED| planning_mechanic"));
    let (_, json, _) = run(&[
        "compile",
        "graph",
        "--workspace",
        &ws,
        "--format",
        "mill-json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["kind"], "compiled_graph_export");
    assert_eq!(v["planes"][0]["plane"], "execution");
    assert_eq!(
        v["planes"][0]["edges"].as_array().unwrap().len(),
        17 + 6 + 2 + 1 + 1
    );
    let out_file = PathBuf::from(&ws).join("g.txt");
    let (code, printed, _) = run(&[
        "compile",
        "graph",
        "--workspace",
        &ws,
        "--output",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!((code, printed.as_str()), (0, ""));
    assert!(std::fs::read_to_string(out_file)
        .unwrap()
        .contains("builder --BUILDER_COMPLETE--> checker"));
    let (code, _, err) = run(&[
        "compile",
        "graph",
        "--workspace",
        &ws,
        "--plane",
        "learning",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("has no learning plane"), "{err}");
}

#[test]
fn modes_list_and_show_follow_the_reference_lines() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (code, out, _) = run(&["modes", "list", "--workspace", d]);
    assert_eq!(code, 0);
    for line in fixture("../reference/cli/modes-list.txt")
        .lines()
        .filter(|l| !l.starts_with('$') && !l.starts_with('['))
    {
        assert!(
            out.lines().any(|l| l == line),
            "missing line {line:?} in {out}"
        );
    }
    let (_, show, _) = run(&["modes", "show", "standard_plain", "--workspace", d]);
    assert!(show.starts_with("alias_of: default_codex\nmode_id: default_codex\nexecution_loop_id: execution.standard\nplanning_loop_id: planning.standard\n"), "{show}");
    let (code, _, err) = run(&["modes", "show", "bogus", "--workspace", d]);
    assert_eq!(code, 1);
    // The reference's line, then ours: the valid names.
    assert_has(
        &err,
        &["error: Unknown mode id: bogus\n  help: valid modes and aliases: "],
    );
}

#[test]
fn unknown_mode_is_reported_like_the_reference() {
    let (_dir, ws) = init();
    let (code, out, _) = run(&["compile", "validate", "--workspace", &ws, "--mode", "bogus"]);
    assert_eq!(code, 1);
    assert_has(
        &out,
        &[
            "ok: false\nmode_id: bogus\n",
            "error: Unknown mode id: bogus\n  help: valid modes and aliases: ",
        ],
    );
}

#[test]
fn validate_json_is_machine_readable() {
    let (_dir, ws) = init();
    let (code, out, _) = run(&["compile", "validate", "--workspace", &ws, "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["compile_input"]["mode_id"], "default_codex");
    let (_, show, _) = run(&["compile", "show", "--workspace", &ws, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&show).unwrap();
    assert_eq!(v["compiled_plan_currentness"], "current");
    assert_eq!(v["plan"]["mode_id"], "default_codex");
}

/// The values that differ between two runs or implementations (hashes,
/// plan ids, package version, export time), replaced by `<h>`.
fn without_hashes(text: &str) -> String {
    const VARYING: &[&str] = &[
        "compile_input.config_fingerprint",
        "compile_input.assets_fingerprint",
        "persisted_compile_input.config_fingerprint",
        "persisted_compile_input.assets_fingerprint",
        "compiled_plan_id",
        "baseline_manifest_id",
        "baseline_seed_package_version",
        "\"compiled_plan_id\"",
        "\"exported_at\"",
    ];
    text.lines()
        .map(|line| {
            let key = line.trim_start().split(':').next().unwrap_or("");
            if VARYING.contains(&key) {
                format!("{key}: <h>")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn graph_json_is_the_references_compiled_stage_graph_export() {
    let (_dir, ws) = init();
    let (code, out, err) = run(&[
        "compile",
        "graph",
        "--workspace",
        &ws,
        "--mode",
        "learning_codex",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let reference = fixture("graph-learning_codex.json");
    assert_eq!(without_hashes(&out), without_hashes(&reference));
}

#[test]
fn compile_show_prints_the_references_lines_first_in_its_order() {
    let (_dir, ws) = init();
    for mode in ["default_codex", "learning_codex"] {
        let (code, out, err) = run(&["compile", "show", "--workspace", &ws, "--mode", mode]);
        assert_eq!(code, 0, "{err}");
        let reference = fixture(&format!("show-{mode}.txt"));
        let n = reference.lines().count();
        let head: String = out.lines().take(n).collect::<Vec<_>>().join("\n");
        assert_eq!(without_hashes(&head), without_hashes(&reference), "{mode}");
        let rest: Vec<&str> = out.lines().skip(n).collect();
        assert!(
            rest[0].starts_with("execution_stage_run_bound: "),
            "{mode}: {rest:?}"
        );
        assert!(rest
            .iter()
            .any(|l| l.starts_with("stage_source: execution.builder ")));
    }
}
