//! `millrace modes list|show`: the modes a workspace (or the binary) offers,
//! in the reference's line format.

use super::error::{Error, Outcome};
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
        /// Print JSON (`modes` and `aliases`) instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// One mode's loops (an alias shows the mode it names).
    Show {
        /// Mode id or alias.
        mode_id: String,
        #[arg(long, value_name = "DIR", default_value = ".")]
        workspace: std::path::PathBuf,
        /// Print JSON instead of `key: value` lines.
        #[arg(long)]
        json: bool,
    },
}

fn load(workspace: &std::path::Path) -> Result<Checked, Error> {
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
    let program = compile::load_sources(&root)?;
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

pub fn run(args: ModesArgs) -> Result<Outcome, Error> {
    match args.command {
        ModesCommand::List { workspace, json } => {
            let checked = load(&workspace)?;
            if json {
                let modes: Vec<serde_json::Value> = checked
                    .model
                    .modes
                    .values()
                    .map(|m| {
                        serde_json::json!({
                            "mode_id": m.id,
                            "loops": m.loops,
                        })
                    })
                    .collect();
                let aliases: Vec<serde_json::Value> = checked
                    .model
                    .aliases
                    .values()
                    .map(|a| serde_json::json!({"alias": a.name, "mode_id": a.target}))
                    .collect();
                let out = serde_json::json!({"modes": modes, "aliases": aliases});
                println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            } else {
                for m in checked.model.modes.values() {
                    println!("{}: {}", m.id, loops_line(m));
                }
                for a in checked.model.aliases.values() {
                    println!("{} -> {} (compatibility alias)", a.name, a.target);
                }
            }
            if checked.has_errors() {
                let n = checked.diagnostics.iter().filter(|d| d.is_error()).count();
                return Err(Error::Invalid(format!("the mode sources have {n} error(s); modes that depend on them are not listed (run `millrace lint` on them)")));
            }
            Ok(Outcome::Success)
        }
        ModesCommand::Show {
            mode_id,
            workspace,
            json,
        } => {
            let checked = load(&workspace)?;
            let Some(m) = checked.model.resolve_mode(&mode_id) else {
                return Err(Error::Missing(crate::plan::config_check::unknown_mode(
                    &checked.model,
                    &mode_id,
                    None,
                )));
            };
            let loops: Vec<(&str, &String)> = crate::language::model::PLANES
                .iter()
                .filter_map(|p| m.loops.get(*p).map(|l| (*p, l)))
                .collect();
            if json {
                let mut out = serde_json::json!({
                    "mode_id": m.id,
                    "alias_of": (m.id != mode_id).then_some(&m.id),
                    "extends": m.extends,
                    "default_runner": m.default_runner,
                });
                for (p, l) in &loops {
                    out[format!("{p}_loop_id")] = serde_json::json!(l);
                }
                println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
                return Ok(Outcome::Success);
            }
            if m.id != mode_id {
                println!("alias_of: {}", m.id);
            }
            println!("mode_id: {}", m.id);
            for (p, l) in loops {
                println!("{p}_loop_id: {l}");
            }
            if !m.extends.is_empty() {
                println!("extends: {}", m.extends.join(", "));
            }
            println!(
                "default_runner: {}",
                m.default_runner.as_deref().unwrap_or("none")
            );
            Ok(Outcome::Success)
        }
    }
}
