//! `millrace init`: create or complete a workspace.

use clap::Args;

use super::error::{Error, Outcome};
use super::workspace_arg::WorkspaceArg;
use crate::runners::settings::Permission;
use crate::workspace::config;
use crate::workspace::init::initialize;
use crate::workspace::layout::Layout;

#[derive(Debug, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    /// Print JSON instead of `key: value` lines.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: InitArgs) -> Result<Outcome, Error> {
    let layout = args.workspace.layout();
    initialize(&layout)?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"workspace": layout.root.display().to_string(), "initialized": true})
        );
    } else {
        println!("workspace: {}", layout.root.display());
        println!("initialized: true");
        print!("{}", next_steps(&layout.root));
    }
    if let Some(w) = permission_warning(&layout) {
        eprintln!("{w}");
    }
    Ok(Outcome::Success)
}

/// What to do after `init`, with the workspace spelled out.
pub fn next_steps(root: &std::path::Path) -> String {
    let ws = root.display().to_string();
    let ws = if ws.contains(' ') {
        format!("'{ws}'")
    } else {
        ws
    };
    format!(
        "next steps:\n\
         \x20 1. check the mode and each runner's command line: millrace config show --workspace {ws}\n\
         \x20 2. queue work: millrace add-task --title \"...\" --workspace {ws} (or add-spec, add-idea; `millrace template task` prints a full task)\n\
         \x20 3. run one stage: millrace run once --workspace {ws}; or keep working: millrace run daemon --workspace {ws}\n\
         \x20 4. watch it: millrace status --workspace {ws}, millrace runs ls --workspace {ws}\n"
    )
}

/// The warning `init` prints when `millrace.toml` lets an agent run without
/// its own sandbox (`permission_default = "maximum"`), naming the line.
pub fn permission_warning(layout: &Layout) -> Option<String> {
    let path = layout.config_file();
    let text = std::fs::read_to_string(&path).ok()?;
    let c = config::parse_config(&text).ok()?;
    let mut tables = Vec::new();
    for (table, p, flag) in [
        (
            "runners.codex",
            c.runners.codex.permission_default,
            "--dangerously-bypass-approvals-and-sandbox",
        ),
        (
            "runners.claude",
            c.runners.claude.permission_default,
            "--dangerously-skip-permissions",
        ),
    ] {
        // Claude Code's settings matter once a mode or the file uses it.
        let claude_in_use = config::line_of(&text, "runners.claude", "").is_some()
            || c.runtime.default_mode.contains("claude");
        if p != Permission::Maximum || (table == "runners.claude" && !claude_in_use) {
            continue;
        }
        let at = config::line_of(&text, table, "permission_default")
            .map(|n| format!("millrace.toml line {n}"))
            .unwrap_or_else(|| "the default".to_string());
        tables.push(format!(
            "[{table}] permission_default = \"maximum\" ({at}: {flag})"
        ));
    }
    if tables.is_empty() {
        return None;
    }
    Some(format!(
        "warning: {} {} off the agent's own sandbox and approval prompts: it may run any command and change any file your user can.\n\
         \x20 a safer level: permission_default = \"basic\" (codex --full-auto: sandboxed, writes inside the workspace; claude --permission-mode acceptEdits),\n\
         \x20 or \"elevated\" (no approval prompts, codex sandbox danger-full-access); per stage: permission_by_stage = {{ checker = \"basic\" }}.\n\
         \x20 run the agent in a container or VM if you keep \"maximum\" (docs/runners.md).",
        tables.join(" and "),
        if tables.len() == 1 { "turns" } else { "turn" }
    ))
}
