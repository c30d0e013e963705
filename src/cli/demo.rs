//! `millrace demo`: the main job on the embedded default, with no agent
//! installed. It creates a workspace (a fresh temporary directory unless
//! `--workspace` names a new or empty one; an existing workspace or any
//! non-empty directory is refused untouched), queues the shipped sample
//! work, runs the `demo` mode (the default loops on the deterministic
//! `script` runner) until no work is left, and prints the final status.

use super::error::{Error, Outcome};
use crate::runtime::daemon::{self, RunOptions};
use crate::runtime::monitor::{Monitor, Sink};
use crate::workspace::documents::{DocKind, WorkDocument};
use crate::workspace::layout::Layout;
use crate::workspace::{init, queue};
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where to create the demo workspace (default: a new temporary directory).
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Do not print the monitor lines while it runs.
    #[arg(long)]
    pub quiet: bool,
    /// Print one JSON object at the end (workspace, queued items, the run,
    /// the final status) instead of lines; monitor lines go to standard error.
    #[arg(long)]
    pub json: bool,
}

/// The mode the demo runs (the default loops on the `script` runner).
const DEMO_MODE: &str = "demo";

/// Why `root` cannot hold a demo workspace: it is something other than an
/// empty directory (an operator's workspace, or any other files).
fn occupied(root: &Path) -> Option<String> {
    match std::fs::symlink_metadata(root) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some(e.to_string()),
        Ok(m) if !m.is_dir() => Some("exists and is not a directory".into()),
        Ok(_) => match std::fs::read_dir(root).map(|mut d| d.next().is_some()) {
            Err(e) => Some(e.to_string()),
            Ok(false) => None,
            Ok(true) if root.join("millrace-agents").exists() => {
                Some("is an existing Millrace workspace".into())
            }
            Ok(true) => Some("is not empty".into()),
        },
    }
}

fn demo_dir() -> PathBuf {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    std::env::temp_dir().join(format!("millrace-demo-{stamp}-{}", std::process::id()))
}

fn shipped(prefix: &str) -> Vec<(&'static str, &'static str)> {
    crate::assets::all()
        .iter()
        .filter(|(p, _)| p.starts_with(prefix) && p.ends_with(".json"))
        .filter_map(|(p, b)| std::str::from_utf8(b).ok().map(|t| (*p, t)))
        .collect()
}

pub fn run(args: DemoArgs) -> Result<Outcome, Error> {
    let root = args.workspace.clone().unwrap_or_else(demo_dir);
    if let Some(problem) = occupied(&root) {
        return Err(Error::Invalid(format!(
            "{}: {problem}; the demo runs only in a new or empty directory (omit --workspace for a temporary one)",
            root.display()
        )));
    }
    let layout = Layout::new(&root);
    init::initialize(&layout)?;
    let mut queued = Vec::new();
    if !args.json {
        println!("workspace: {}", root.display());
    }
    // The script runner replays the shipped outcomes.
    let script = crate::assets::get("stdlib/demo/script.json").unwrap_or(b"{}");
    let script_path = root.join("demo-script.json");
    std::fs::write(&script_path, script).map_err(|e| Error::io(&script_path, e))?;
    let config = layout.config_file();
    let text = std::fs::read_to_string(&config).unwrap_or_default();
    if !text.contains("[runners.script]") {
        // The workspace's default mode is the demo, so `status` and `compile`
        // agree with what ran.
        let text = text.replace(
            "default_mode = \"default_codex\"",
            "default_mode = \"demo\"",
        );
        let text = format!("{text}\n[runners.script]\npath = \"demo-script.json\"\n");
        crate::workspace::atomic::write_atomic(&config, text.as_bytes())
            .map_err(|e| Error::io(&config, e))?;
    }
    for (prefix, kind) in [
        ("stdlib/demo/tasks/", DocKind::Task),
        ("stdlib/demo/specs/", DocKind::Spec),
    ] {
        for (path, json) in shipped(prefix) {
            let doc =
                WorkDocument::from_json(kind, json, path).map_err(crate::workspace::Error::from)?;
            match queue::enqueue(&layout, &doc) {
                Ok(p) if args.json => queued.push(p.display().to_string()),
                Ok(p) => println!("queued: {}", p.display()),
                Err(queue::QueueError::Duplicate { .. }) => {}
                Err(e) => return Err(crate::workspace::Error::from(e).into()),
            }
        }
    }
    let monitor = if args.quiet {
        Monitor::off()
    } else if args.json {
        Monitor::new(Sink::Stderr)
    } else {
        Monitor::new(Sink::Stdout)
    };
    let opts = RunOptions {
        // Always the demo mode: never a real agent, whatever the config says.
        mode: Some(DEMO_MODE.to_string()),
        max_ticks: None,
        once: false,
        until_idle: true,
        heartbeat: None,
    };
    let s = daemon::run(layout, opts, monitor)?;
    let report = super::status::StatusReport::load(&Layout::new(&root))?;
    if args.json {
        let status: serde_json::Value =
            serde_json::from_str(&report.to_json(false)).unwrap_or_default();
        let out = serde_json::json!({
            "workspace": root.display().to_string(),
            "queued": queued,
            "run_mode": "daemon",
            "active_mode_id": s.mode_id,
            "compiled_plan_id": s.plan_id,
            "ticks": s.ticks,
            "stop_reason": s.stop_reason,
            "status": status,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return Ok(Outcome::Success);
    }
    println!("run_mode: daemon");
    println!("active_mode_id: {}", s.mode_id);
    println!("compiled_plan_id: {}", s.plan_id);
    println!("ticks: {}", s.ticks);
    println!();
    print!("{}", report.render(false));
    Ok(Outcome::Success)
}
