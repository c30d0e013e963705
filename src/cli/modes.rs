//! `millrace modes list|show`: the modes a workspace (or the binary) offers,
//! in the reference's line format.

use super::workspace_arg::fail;
use crate::language::check::Checked;
use crate::plan::compile::{self, AssetRoot};
use crate::workspace::layout::Layout;
use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct ModesArgs {
    #[command(subcommand)]
    pub command: ModesCommand,
}

#[derive(Debug, Subcommand)]
pub enum ModesCommand {
    /// One line per mode and alias.
    List {
        /// Workspace root; without an initialized one, the shipped modes.
        #[arg(long, value_name = "DIR", default_value = ".")]
        workspace: std::path::PathBuf,
    },
    /// One mode's loops (an alias shows the mode it names).
    Show {
        /// Mode id or alias.
        mode_id: String,
        #[arg(long, value_name = "DIR", default_value = ".")]
        workspace: std::path::PathBuf,
    },
}

fn load(workspace: &std::path::Path) -> Result<Checked, i32> {
    let layout = Layout::new(workspace);
    let root = if layout.require_initialized().is_ok() {
        AssetRoot::Workspace(layout)
    } else {
        eprintln!(
            "note: {} is not an initialized workspace; showing the shipped modes",
            workspace.display()
        );
        AssetRoot::Embedded
    };
    let program = compile::load_sources(&root).map_err(|e| fail(&e))?;
    let checked = crate::language::check::check(&program);
    Ok(checked)
}

fn loops_line(m: &crate::language::model::Mode) -> String {
    let mut parts = Vec::new();
    for p in ["execution", "planning"] {
        if let Some(l) = m.loops.get(p) {
            parts.push(format!("{p}_loop={l}"));
        }
    }
    parts.join(" ")
}

pub fn run(args: ModesArgs) -> i32 {
    match args.command {
        ModesCommand::List { workspace } => {
            let checked = match load(&workspace) {
                Ok(c) => c,
                Err(code) => return code,
            };
            for m in checked.model.modes.values() {
                println!("{}: {}", m.id, loops_line(m));
            }
            for a in checked.model.aliases.values() {
                println!("{} -> {} (compatibility alias)", a.name, a.target);
            }
            if checked.has_errors() {
                let n = checked.diagnostics.iter().filter(|d| d.is_error()).count();
                eprintln!("error: the mode sources have {n} error(s); modes that depend on them are not listed (run `millrace lint` on them)");
                return 1;
            }
            0
        }
        ModesCommand::Show { mode_id, workspace } => {
            let checked = match load(&workspace) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let Some(m) = checked.model.resolve_mode(&mode_id) else {
                let e = crate::plan::config_check::unknown_mode(&checked.model, &mode_id, None);
                eprintln!("error: {e}");
                return 1;
            };
            if m.id != mode_id {
                println!("alias_of: {}", m.id);
            }
            println!("mode_id: {}", m.id);
            for (p, l) in crate::language::model::PLANES
                .iter()
                .filter_map(|p| m.loops.get(*p).map(|l| (p, l)))
            {
                println!("{p}_loop_id: {l}");
            }
            if !m.extends.is_empty() {
                println!("extends: {}", m.extends.join(", "));
            }
            println!(
                "default_runner: {}",
                m.default_runner.as_deref().unwrap_or("none")
            );
            0
        }
    }
}
