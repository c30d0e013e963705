//! The real agent CLIs (Codex, Claude Code, Pi), installed from the npm
//! registry at the pinned versions below, driven by the real daemon on the
//! shipped modes, offline, each with an empty temporary `HOME`:
//!
//! - issue 18: an agent that cannot reach or use its model (not logged in,
//!   no key, server unreachable) pauses the daemon (`agent_environment`,
//!   exit 5) with its own words in `status`, after at most one stage, and
//!   leaves every task queued (none blocked);
//! - issue 19: against the scripted model (`support::model_server`) each
//!   mode runs a task to `done`, the model's tool calls really run in the
//!   workspace, every stage result carries the usage the server reported,
//!   a governance rule pauses on that usage, and an HTTP 500 or a cut
//!   stream becomes a `provider_failure` stage the loop recovers from.
//!
//! The CLIs are found under `$MILLRACE_AGENT_CLIS` (a `node_modules/.bin`
//! directory), else in `${XDG_CACHE_HOME:-$HOME/.cache}/millrace-test/
//! agents-<versions>/`, installed there with `npm` when missing. When they
//! cannot be had the tests fail in CI (`CI=true`) and are skipped, with
//! the reason printed, elsewhere. Moving to newer versions: change
//! `PACKAGES`, run this file, read `docs/harnesses.md`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Instant;

use serde_json::{json, Value};
use support::harness::task;
use support::model_server::{Action, ModelServer};

const PACKAGES: [(&str, &str); 3] = [
    ("@openai/codex", "0.169.0"),
    ("@anthropic-ai/claude-code", "2.1.197"),
    ("@mariozechner/pi-coding-agent", "0.73.1"),
];

fn cache_name() -> String {
    format!(
        "agents-codex{}-claude{}-pi{}",
        PACKAGES[0].1, PACKAGES[1].1, PACKAGES[2].1
    )
}

/// The `node_modules/.bin` directory holding `codex`, `claude` and `pi`.
fn clis() -> Option<&'static Path> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match FOUND.get_or_init(find_or_install) {
        Ok(p) => Some(p.as_path()),
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("the real agent CLIs are needed in CI: {why}")
        }
        Err(why) => {
            eprintln!("skipped: the real agent CLIs are not available: {why}");
            None
        }
    }
}

fn installed(prefix: &Path) -> bool {
    PACKAGES.iter().all(|(name, version)| {
        std::fs::read_to_string(prefix.join("node_modules").join(name).join("package.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .is_some_and(|v| v["version"] == *version)
    }) && ["codex", "claude", "pi"]
        .iter()
        .all(|b| prefix.join("node_modules/.bin").join(b).exists())
}

fn find_or_install() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("MILLRACE_AGENT_CLIS") {
        let p = PathBuf::from(p);
        return if p.join("codex").exists() {
            Ok(p)
        } else {
            Err(format!("MILLRACE_AGENT_CLIS={} has no codex", p.display()))
        };
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .ok_or("neither XDG_CACHE_HOME nor HOME is set")?;
    let prefix = cache.join("millrace-test").join(cache_name());
    if !installed(&prefix) {
        std::fs::create_dir_all(&prefix).map_err(|e| format!("{}: {e}", prefix.display()))?;
        let specs: Vec<String> = PACKAGES.iter().map(|(n, v)| format!("{n}@{v}")).collect();
        let out = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&prefix)
            .args(&specs)
            .output()
            .map_err(|e| format!("npm: cannot start: {e}"))?;
        if !out.status.success() || !installed(&prefix) {
            return Err(format!(
                "npm install {} failed: {}",
                specs.join(" "),
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("no output")
            ));
        }
    }
    Ok(prefix.join("node_modules/.bin"))
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Cli {
    Codex,
    Claude,
    Pi,
}

impl Cli {
    fn mode(self) -> &'static str {
        match self {
            Cli::Codex => "default_codex",
            Cli::Claude => "default_claude",
            Cli::Pi => "default_pi",
        }
    }
}

/// How the agent's model endpoint is set up.
enum Endpoint<'a> {
    /// No login, no key, no provider: the CLI's defaults.
    None,
    /// A provider on a closed loopback port.
    Unreachable,
    Server(&'a ModelServer),
}

struct Ws {
    dir: tempfile::TempDir,
}

impl Ws {
    fn root(&self) -> PathBuf {
        self.dir.path().join("ws")
    }
    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }
    fn ma(&self) -> PathBuf {
        self.root().join("millrace-agents")
    }

    fn new(cli: Cli, bin: &Path, endpoint: Endpoint<'_>, extra: &str) -> Ws {
        let ws = Ws {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(ws.home()).unwrap();
        let out = ws.millrace(&["init"]);
        assert!(out.status.success(), "{}", text(&out));
        let base = match &endpoint {
            Endpoint::Server(s) => Some(s.base_url()),
            Endpoint::Unreachable => Some("http://127.0.0.1:9".to_string()),
            Endpoint::None => None,
        };
        let home = ws.home();
        let mut env: Vec<(String, String)> = vec![("HOME".into(), home.display().to_string())];
        let table = match cli {
            Cli::Codex => {
                let codex_home = home.join(".codex");
                std::fs::create_dir_all(&codex_home).unwrap();
                if let Some(base) = &base {
                    std::fs::write(
                        codex_home.join("config.toml"),
                        format!(
                            "model_provider = \"scripted\"\nmodel = \"scripted-model\"\n\n\
                             [model_providers.scripted]\nname = \"scripted\"\nbase_url = \"{base}/v1\"\n\
                             wire_api = \"responses\"\nrequest_max_retries = 0\nstream_max_retries = 0\n"
                        ),
                    )
                    .unwrap();
                }
                env.push(("CODEX_HOME".into(), codex_home.display().to_string()));
                "codex"
            }
            Cli::Claude => {
                env.push(("IS_SANDBOX".into(), "1".into()));
                env.push((
                    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".into(),
                    "1".into(),
                ));
                if let Some(base) = &base {
                    env.push(("ANTHROPIC_BASE_URL".into(), base.clone()));
                    env.push(("ANTHROPIC_API_KEY".into(), "sk-scripted".into()));
                }
                if let Endpoint::Server(_) = endpoint {
                    // Against a closed port Claude Code retries (the wait
                    // the runner stops after the grace); here errors count.
                    env.push(("CLAUDE_CODE_MAX_RETRIES".into(), "0".into()));
                }
                "claude"
            }
            Cli::Pi => {
                let agent_dir = home.join(".pi/agent");
                std::fs::create_dir_all(&agent_dir).unwrap();
                std::fs::write(
                    agent_dir.join("settings.json"),
                    json!({"retry": {"enabled": false, "provider": {"maxRetries": 0}}}).to_string(),
                )
                .unwrap();
                if let Some(base) = &base {
                    std::fs::write(
                        agent_dir.join("models.json"),
                        json!({"providers": {"scripted": {"baseUrl": format!("{base}/v1"),
                            "api": "openai-completions", "apiKey": "sk-scripted",
                            "models": [{"id": "scripted-model", "name": "scripted", "reasoning": false,
                                "input": ["text"], "contextWindow": 128000, "maxTokens": 4096,
                                "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0}}]}}})
                        .to_string(),
                    )
                    .unwrap();
                }
                env.push((
                    "PI_CODING_AGENT_DIR".into(),
                    agent_dir.display().to_string(),
                ));
                env.push(("PI_OFFLINE".into(), "1".into()));
                "pi"
            }
        };
        let program = bin.join(match cli {
            Cli::Codex => "codex",
            Cli::Claude => "claude",
            Cli::Pi => "pi",
        });
        let mut config = format!(
            "[runtime]\ndefault_mode = \"{}\"\nrun_style = \"daemon\"\nidle_sleep_seconds = 0.05\n\n\
             [runners]\nnetwork_grace_seconds = 3\nenvironment_retry_seconds = 0\n\n\
             [runners.{table}]\ncommand = {:?}\n",
            cli.mode(),
            program.display().to_string()
        );
        if cli == Cli::Pi && base.is_some() {
            config.push_str("provider = \"scripted\"\n");
        }
        config.push_str(&format!("\n[runners.{table}.env]\n"));
        for (k, v) in &env {
            config.push_str(&format!("{k} = {v:?}\n"));
        }
        config.push_str(extra);
        std::fs::write(ws.ma().join("millrace.toml"), config).unwrap();
        ws
    }

    fn millrace(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        let root = self.root();
        all.extend(["--workspace", root.to_str().unwrap()]);
        Command::new(assert_cmd::cargo::cargo_bin("millrace"))
            .args(&all)
            .env("HOME", self.home())
            .env_remove("OPENAI_API_KEY")
            .env_remove("ANTHROPIC_API_KEY")
            .output()
            .unwrap()
    }

    fn add_tasks(&self, ids: &[&str]) {
        for (i, id) in ids.iter().enumerate() {
            let file = self.dir.path().join(format!("{id}.json"));
            let doc = task(id, &format!("2026-01-01T00:00:0{i}Z"), json!({}));
            std::fs::write(&file, doc.to_string()).unwrap();
            let out = self.millrace(&["add-task", file.to_str().unwrap()]);
            assert!(out.status.success(), "{}", text(&out));
        }
    }

    fn tasks(&self, state: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.ma().join("tasks").join(state))
            .map(|d| {
                d.flatten()
                    .map(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .trim_end_matches(".md")
                            .to_string()
                    })
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Every stage result of every run, in order of their files' names.
    fn stage_results(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let Ok(runs) = std::fs::read_dir(self.ma().join("runs")) else {
            return out;
        };
        for run in runs.flatten() {
            let Ok(files) = std::fs::read_dir(run.path().join("stage_results")) else {
                continue;
            };
            for f in files.flatten() {
                if let Ok(t) = std::fs::read_to_string(f.path()) {
                    if let Ok(v) = serde_json::from_str::<Value>(&t) {
                        out.push(v);
                    }
                }
            }
        }
        out
    }
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Issue 18: three queued tasks, an agent that cannot reach its model.
/// `waits`: the agent announces a network wait first (a `stage waiting` line).
fn environment_pause(cli: Cli, endpoint: Endpoint<'_>, words: &[&str], waits: bool) {
    let Some(bin) = clis() else { return };
    environment_pause_in(Ws::new(cli, bin, endpoint, ""), words, waits);
}

fn environment_pause_in(ws: Ws, words: &[&str], waits: bool) {
    ws.add_tasks(&["t-1", "t-2", "t-3"]);
    let start = Instant::now();
    let out = ws.millrace(&["run", "daemon", "--until-idle", "--monitor", "basic"]);
    let took = start.elapsed();
    let all = text(&out);
    eprintln!("environment pause after {took:?}");
    assert_eq!(out.status.code(), Some(5), "{all}");
    assert!(ws.tasks("blocked").is_empty(), "{all}");
    assert_eq!(ws.tasks("queue"), ["t-1", "t-2", "t-3"], "{all}");
    assert!(all.contains("paused source=agent_environment"), "{all}");
    let status = text(&ws.millrace(&["status"]));
    assert!(status.contains("paused: true"), "{status}");
    assert!(status.contains("agent_environment"), "{status}");
    assert!(
        words.iter().any(|w| status.contains(w)),
        "none of {words:?} in status:\n{status}"
    );
    // At most one stage attempted before the pause.
    let started = all.matches("stage start ").count();
    assert_eq!(started, 1, "{all}");
    // The reference reads our snapshot: the pause is `paused: true` there.
    let snap: Value = serde_json::from_str(
        &std::fs::read_to_string(ws.ma().join("state/runtime_snapshot.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(snap["paused"], true);
    assert!(!snap["pause_sources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v == "agent_environment"));
    if waits {
        assert!(
            all.contains("stage waiting execution/builder reason="),
            "{all}"
        );
    }
    // The pause survives a restart: a new daemon runs nothing and says why.
    let again = ws.millrace(&["run", "daemon", "--until-idle", "--monitor", "basic"]);
    let again_all = text(&again);
    assert_eq!(again.status.code(), Some(5), "{again_all}");
    assert!(!again_all.contains("stage start"), "{again_all}");
    assert!(
        again_all.contains("paused over the environment"),
        "{again_all}"
    );
}

#[test]
fn codex_offline_and_not_logged_in_pauses() {
    // No provider, no login: Codex waits for its network (or, with a
    // network, is refused): either way the daemon pauses.
    environment_pause(
        Cli::Codex,
        Endpoint::None,
        &["waiting for network", "401", "Unauthorized", "API key"],
        false,
    );
}

#[test]
fn codex_unreachable_server_pauses_after_the_grace() {
    environment_pause(
        Cli::Codex,
        Endpoint::Unreachable,
        &["waiting for network"],
        true,
    );
}

#[test]
fn claude_not_logged_in_pauses() {
    environment_pause(Cli::Claude, Endpoint::None, &["Not logged in"], false);
}

#[test]
fn claude_unreachable_server_pauses() {
    environment_pause(
        Cli::Claude,
        Endpoint::Unreachable,
        &[
            "Unable to connect",
            "cannot reach the API",
            "Connection error",
        ],
        true,
    );
}

#[test]
fn pi_without_a_key_pauses() {
    environment_pause(Cli::Pi, Endpoint::None, &["No API key found"], false);
}

#[test]
fn pi_unreachable_server_pauses() {
    environment_pause(Cli::Pi, Endpoint::Unreachable, &["Connection error"], false);
}

/// Pi with its own retries on (`retry.enabled`, 6 attempts from 200 ms
/// apart, doubling): it would retry the closed port for about 13 s, then
/// fail by itself. The runner stops it once the wait outlasts the 3 s
/// grace: one `stage waiting` line, the daemon paused
/// (`agent_network_unreachable`, the reason saying how long it waited).
#[test]
fn pi_retrying_an_unreachable_server_pauses_after_the_grace() {
    let Some(bin) = clis() else { return };
    let ws = Ws::new(Cli::Pi, bin, Endpoint::Unreachable, "");
    std::fs::write(
        ws.home().join(".pi/agent/settings.json"),
        json!({"retry": {"enabled": true, "maxRetries": 6, "baseDelayMs": 200,
            "provider": {"maxRetries": 0}}})
        .to_string(),
    )
    .unwrap();
    let words = ["retrying: Connection error. (still waiting after 3 s)"];
    environment_pause_in(ws, &words, true);
}

/// A 429 from the model whose message says when the limit resets: the
/// daemon pauses (`agent_quota_exhausted`) and retries by itself, at the
/// reset time where the CLI passes it on (Claude Code, Pi: the 600 s
/// backoff would outlast the test), else after the backoff (Codex reports
/// only `exceeded retry limit, last status: 429 Too Many Requests`: 1 s
/// here), then finishes the task.
fn rate_limit_with_reset(cli: Cli) {
    let Some(bin) = clis() else { return };
    let server = ModelServer::start();
    server.rule("builder", 0, Action::RateLimit { reset_seconds: 2 }, 1);
    let ws = Ws::new(cli, bin, Endpoint::Server(&server), "");
    let backoff = if cli == Cli::Codex { "1" } else { "600" };
    let config = ws.ma().join("millrace.toml");
    let text_ = std::fs::read_to_string(&config).unwrap().replace(
        "environment_retry_seconds = 0",
        &format!("environment_retry_seconds = {backoff}"),
    );
    std::fs::write(&config, text_).unwrap();
    ws.add_tasks(&["t-1"]);
    let out = ws.millrace(&["run", "daemon", "--until-idle", "--monitor", "basic"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(all.contains("class=agent_quota_exhausted"), "{all}");
    assert!(
        all.contains("resume source=agent_environment reason=automatic_retry"),
        "{all}"
    );
    assert_eq!(ws.tasks("done"), ["t-1"], "{all}");
    assert!(ws
        .stage_results()
        .iter()
        .all(|r| r["metadata"]["failure_class"].is_null()));
}

#[test]
fn codex_rate_limit_retries_after_the_backoff() {
    rate_limit_with_reset(Cli::Codex);
}

#[test]
fn claude_rate_limit_retries_at_the_reset_time() {
    rate_limit_with_reset(Cli::Claude);
}

#[test]
fn pi_rate_limit_retries_at_the_reset_time() {
    rate_limit_with_reset(Cli::Pi);
}

/// Issue 19: one mode end to end against the scripted model.
fn end_to_end(cli: Cli) {
    let Some(bin) = clis() else { return };
    let server = ModelServer::start();
    server.set_usage(1500, 120);
    // The builder runs a shell command, writes a file, then finishes.
    server.rule(
        "builder",
        0,
        Action::Shell("echo built-by-shell > shell.txt".into()),
        1,
    );
    server.rule(
        "builder",
        1,
        Action::Write {
            path: "written.txt".into(),
            content: "written by the model".into(),
        },
        1,
    );
    let ws = Ws::new(cli, bin, Endpoint::Server(&server), "");
    ws.add_tasks(&["t-1"]);
    let start = Instant::now();
    let out = ws.millrace(&["run", "daemon", "--until-idle", "--monitor", "basic"]);
    let took = start.elapsed();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert_eq!(ws.tasks("done"), ["t-1"], "{all}");
    assert!(
        ws.tasks("blocked").is_empty() && ws.tasks("queue").is_empty(),
        "{all}"
    );
    assert_eq!(
        std::fs::read_to_string(ws.root().join("shell.txt"))
            .unwrap_or_default()
            .trim(),
        "built-by-shell",
        "{all}"
    );
    assert_eq!(
        std::fs::read_to_string(ws.root().join("written.txt")).unwrap_or_default(),
        "written by the model",
        "{all}"
    );
    // Every stage result carries the usage the server reported for it.
    let results = ws.stage_results();
    assert!(results.len() >= 2, "{all}");
    let stages: Vec<String> = results
        .iter()
        .map(|r| {
            r["stage"]
                .as_str()
                .or(r["node_id"].as_str())
                .unwrap_or("")
                .to_string()
        })
        .collect();
    for r in &results {
        let stage = r["stage"].as_str().or(r["node_id"].as_str()).unwrap_or("");
        let calls = server.calls_for(stage).len() as u64;
        assert!(calls >= 1, "no model call for {stage}");
        let usage = r.get("token_usage").cloned().unwrap_or(Value::Null);
        assert_eq!(usage["output_tokens"], json!(120 * calls), "{stage}: {r}");
        assert!(
            usage["input_tokens"].as_u64().unwrap_or(0) >= 1500 * calls,
            "{stage}: {r}"
        );
    }
    eprintln!(
        "{cli:?}: {} stages ({stages:?}) in {took:?}, {} model requests",
        results.len(),
        server.requests().len()
    );
    for line in all.lines().filter(|l| l.contains("stage done")) {
        eprintln!("  {line}");
    }

    // A governance rule pauses on the real usage.
    let server2 = ModelServer::start();
    server2.set_usage(3000, 200);
    let gov = Ws::new(
        cli,
        bin,
        Endpoint::Server(&server2),
        "\n[usage_governance]\nenabled = true\n\n[[usage_governance.runtime_token_rules.rules]]\n\
         rule_id = \"tokens-2k\"\nwindow = \"daemon_session\"\nthreshold = 2000\n",
    );
    gov.add_tasks(&["t-1", "t-2"]);
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("millrace"))
        .args(["run", "daemon", "--monitor", "basic", "--workspace"])
        .arg(gov.root())
        .env("HOME", gov.home())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    let mut paused = false;
    while Instant::now() < deadline {
        let s = text(&gov.millrace(&["status"]));
        if s.contains("pause_sources: usage_governance") {
            paused = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let _ = gov.millrace(&["stop"]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(paused, "governance never paused on real usage");
    assert_eq!(
        gov.stage_results().len(),
        1,
        "one stage ran before the pause"
    );

    // An HTTP 500 and a cut stream become provider failures the loop recovers from.
    let server3 = ModelServer::start();
    server3.rule("builder", 0, Action::Status(500), 1);
    server3.rule("checker", 0, Action::Cut, 1);
    let bad = Ws::new(cli, bin, Endpoint::Server(&server3), "");
    bad.add_tasks(&["t-1"]);
    let out = bad.millrace(&["run", "daemon", "--until-idle", "--monitor", "basic"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    let failures: Vec<(String, String)> = bad
        .stage_results()
        .iter()
        .filter_map(|r| {
            let class = r["metadata"]["failure_class"].as_str()?;
            Some((
                r["stage"]
                    .as_str()
                    .or(r["node_id"].as_str())
                    .unwrap_or("")
                    .to_string(),
                class.to_string(),
            ))
        })
        .collect();
    assert!(
        failures.contains(&("builder".into(), "provider_failure".into())),
        "{failures:?}\n{all}"
    );
    if cli == Cli::Claude {
        // Claude Code recovers a cut stream by itself (it asks again).
        assert!(server3.calls_for("checker").len() >= 2, "{all}");
    } else if cli == Cli::Pi {
        // Pi ends a cut stream as an empty answer: no provider error is
        // reported, the stage fails for want of an answer.
        assert!(
            failures.contains(&("checker".into(), "runner_transport_failure".into())),
            "{failures:?}\n{all}"
        );
    } else {
        assert!(
            failures.contains(&("checker".into(), "provider_failure".into())),
            "{failures:?}\n{all}"
        );
    }
    assert!(!all.contains("paused source=agent_environment"), "{all}");
}

#[test]
fn codex_end_to_end_against_the_scripted_model() {
    end_to_end(Cli::Codex);
}

#[test]
fn claude_end_to_end_against_the_scripted_model() {
    end_to_end(Cli::Claude);
}

#[test]
fn pi_end_to_end_against_the_scripted_model() {
    end_to_end(Cli::Pi);
}

/// Issue 19: the reference's traces with a real CLI against the scripted
/// model, ending in the layout the fake agents give (`tests/runtime_traces.rs`
/// pins the same traces with `tests/fakes/scripted_codex.sh`): the first
/// task's builder reports BLOCKED and the troubleshooter recovers it, then
/// its checker asks for a fix (fixer, doublechecker); the second task takes
/// the happy path.
fn reference_traces(cli: Cli) {
    let Some(bin) = clis() else { return };
    let server = ModelServer::start();
    server.rule(
        "builder",
        0,
        Action::Text("The build cannot start yet.\n### BLOCKED".into()),
        1,
    );
    server.rule(
        "checker",
        0,
        Action::Text("One check fails.\n### FIX_NEEDED".into()),
        1,
    );
    let ws = Ws::new(cli, bin, Endpoint::Server(&server), "");
    ws.add_tasks(&["t-1", "t-2"]);
    let start = Instant::now();
    let out = ws.millrace(&["run", "daemon", "--until-idle", "--monitor", "basic"]);
    let took = start.elapsed();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert_eq!(ws.tasks("done"), ["t-1", "t-2"], "{all}");
    assert!(
        ws.tasks("blocked").is_empty() && ws.tasks("queue").is_empty(),
        "{all}"
    );
    // The stage sequence, from the monitor's `stage done` lines.
    let done: Vec<String> = all
        .lines()
        .filter_map(|l| {
            let rest = l.split("] stage done execution/").nth(1)?;
            let stage = rest.split_whitespace().next()?;
            let result = rest.split(" result=").nth(1)?.split_whitespace().next()?;
            Some(format!("{stage} {result}"))
        })
        .collect();
    assert_eq!(
        done,
        [
            "builder BLOCKED",
            "troubleshooter TROUBLESHOOT_COMPLETE",
            "builder BUILDER_COMPLETE",
            "checker FIX_NEEDED",
            "fixer FIXER_COMPLETE",
            "doublechecker DOUBLECHECK_PASS",
            "updater UPDATE_COMPLETE",
            "builder BUILDER_COMPLETE",
            "checker CHECKER_PASS",
            "updater UPDATE_COMPLETE",
        ],
        "{all}"
    );
    // No incident, nothing handed to planning: the recovery stayed in the loop.
    assert!(
        std::fs::read_dir(ws.ma().join("incidents/incoming"))
            .map(|d| d.count() == 0)
            .unwrap_or(true),
        "{all}"
    );
    eprintln!(
        "{cli:?}: reference traces, {} stages in {took:?}",
        done.len()
    );
}

#[test]
fn codex_runs_the_reference_traces() {
    reference_traces(Cli::Codex);
}

#[test]
fn claude_runs_the_reference_traces() {
    reference_traces(Cli::Claude);
}

#[test]
fn pi_runs_the_reference_traces() {
    reference_traces(Cli::Pi);
}
