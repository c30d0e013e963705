//! `millrace skills ...`: list, show and search the workspace's skills;
//! install one (a local directory or a skill of the remote directory);
//! queue a learning request to create or improve one; promote a workspace
//! skill into a millrace source checkout's `stdlib/skills/`; export one as
//! a zip archive; fetch the remote skills directory.

use super::error::{Error, Outcome};
use super::workspace_arg::WorkspaceArg;
use crate::plan::compile::{self, AssetRoot};
use crate::workspace::documents::{DocKind, WorkDocument};
use crate::workspace::layout::Layout;
use crate::workspace::skills::{self, SkillError};
use crate::workspace::{clock, queue};
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct SkillsArgs {
    #[command(subcommand)]
    pub command: SkillsCommand,
    /// Print JSON (the same keys as the lines; `{"skills": [..]}` for lists).
    #[arg(long, global = true)]
    pub json: bool,
}

/// What a skills command prints: `key: value` lines, or a list of ids.
#[derive(Debug, Default)]
struct Printed {
    lines: Vec<(&'static str, String)>,
    ids: Option<Vec<String>>,
}

impl Printed {
    fn line(&mut self, key: &'static str, value: impl std::fmt::Display) {
        self.lines.push((key, value.to_string()));
    }

    fn print(&self, json: bool) {
        match (&self.ids, json) {
            (Some(ids), true) => println!("{}", serde_json::json!({ "skills": ids })),
            (Some(ids), false) => {
                for id in ids {
                    println!("{id}");
                }
            }
            (None, true) => {
                let map: serde_json::Map<String, serde_json::Value> = self
                    .lines
                    .iter()
                    .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
                    .collect();
                println!("{}", serde_json::Value::Object(map));
            }
            (None, false) => {
                for (k, v) in &self.lines {
                    println!("{k}: {v}");
                }
            }
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum SkillsCommand {
    /// List the installed skills, one id a line.
    Ls(WorkspaceArg),
    /// Show one skill: its id, path and title.
    Show {
        skill_id: String,
        #[command(flatten)]
        ws: WorkspaceArg,
    },
    /// Skills whose id or text contains QUERY.
    Search {
        query: String,
        #[command(flatten)]
        ws: WorkspaceArg,
    },
    /// Install a skill: a local directory (or its SKILL.md), else an id of the remote directory.
    Install {
        skill_ref: String,
        #[command(flatten)]
        ws: WorkspaceArg,
        /// Replace an installed skill of the same id.
        #[arg(long)]
        force: bool,
        /// Update an installed skill of the same id.
        #[arg(long)]
        update: bool,
    },
    /// Queue a learning request to create a skill (needs a mode with a learning plane).
    Create {
        prompt: String,
        #[command(flatten)]
        ws: WorkspaceArg,
        #[arg(long)]
        mode: Option<String>,
    },
    /// Queue a learning request to improve an installed skill.
    Improve {
        skill_id: String,
        #[command(flatten)]
        ws: WorkspaceArg,
        #[arg(long)]
        mode: Option<String>,
    },
    /// Copy a workspace skill into a millrace source checkout's `stdlib/skills/`.
    Promote {
        skill_id: String,
        #[command(flatten)]
        ws: WorkspaceArg,
        /// The source checkout (default: the nearest directory above the workspace with `stdlib/skills/` and `Cargo.toml`).
        #[arg(long, value_name = "DIR")]
        source: Option<PathBuf>,
    },
    /// Write a skill as a zip archive (default: `<workspace>/<id>.zip`).
    Export {
        skill_id: String,
        #[command(flatten)]
        ws: WorkspaceArg,
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Fetch the remote skills directory into `skills/remote_skills_index.md`.
    RefreshRemoteIndex(WorkspaceArg),
}

fn err(e: SkillError) -> Error {
    match e {
        SkillError::NotFound(_) => Error::Missing(e.to_string()),
        _ => Error::Failed(e.to_string()),
    }
}

pub fn run(args: SkillsArgs) -> Result<Outcome, Error> {
    let json = args.json;
    let mut out = Printed::default();
    run_inner(args, &mut out)?;
    out.print(json);
    Ok(Outcome::Success)
}

fn skills_dir(layout: &Layout) -> PathBuf {
    layout.runtime.join("skills")
}

fn run_inner(args: SkillsArgs, out: &mut Printed) -> Result<(), Error> {
    match args.command {
        SkillsCommand::Ls(ws) => {
            let layout = ws.initialized()?;
            out.ids = Some(
                skills::list(&skills_dir(&layout))
                    .into_iter()
                    .map(|s| s.id)
                    .collect(),
            );
        }
        SkillsCommand::Show { skill_id, ws } => {
            let layout = ws.initialized()?;
            let s = skills::find(&skills_dir(&layout), &skill_id)
                .ok_or_else(|| err(SkillError::NotFound(skill_id.clone())))?;
            out.line("skill_id", &s.id);
            out.line("path", s.file().display());
            if let Some(t) = s.title() {
                out.line("title", &t);
            }
            if let Some(d) = s.description() {
                out.line("description", &d);
            }
        }
        SkillsCommand::Search { query, ws } => {
            let layout = ws.initialized()?;
            out.ids = Some(
                skills::search(&skills_dir(&layout), &query)
                    .map_err(err)?
                    .into_iter()
                    .map(|s| s.id)
                    .collect(),
            );
        }
        SkillsCommand::Install {
            skill_ref,
            ws,
            force,
            update,
        } => {
            let layout = ws.initialized()?;
            let dir = skills_dir(&layout);
            match skills::local_source(&skill_ref) {
                Some(source) => {
                    let s = skills::install_local(&dir, &source, force || update).map_err(err)?;
                    skills::log_operation(
                        &dir,
                        "install",
                        &s.id,
                        &source.display().to_string(),
                        &s.dir.display().to_string(),
                    )
                    .map_err(err)?;
                    out.line("installed_skill", &s.id);
                    out.line("path", s.dir.display());
                }
                None if Path::new(&skill_ref).exists() => {
                    return Err(Error::Invalid(format!(
                        "{skill_ref}: not a skill (a directory holding SKILL.md, or a SKILL.md file)"
                    )));
                }
                None => {
                    let s =
                        skills::install_remote(&dir, &skill_ref, force || update).map_err(err)?;
                    out.line("installed_skill", &s.id);
                    out.line("source", "remote");
                    out.line("source_index", skills::remote_index_url());
                    out.line("path", s.dir.display());
                }
            }
        }
        SkillsCommand::Create { prompt, ws, mode } => {
            let layout = ws.initialized()?;
            require_learning(&layout, mode.as_deref())?;
            if prompt.trim().is_empty() {
                return Err(Error::Invalid(
                    "a prompt saying what the skill is for is required".into(),
                ));
            }
            let path = queue_request(&layout, "create", "Create skill", &prompt, None)?;
            out.line("queued_learning_request", path.display());
        }
        SkillsCommand::Improve { skill_id, ws, mode } => {
            let layout = ws.initialized()?;
            require_learning(&layout, mode.as_deref())?;
            if skills::find(&skills_dir(&layout), &skill_id).is_none() {
                return Err(err(SkillError::NotFound(skill_id)));
            }
            let path = queue_request(
                &layout,
                "improve",
                &format!("Improve {skill_id}"),
                &format!("Improve installed skill {skill_id}."),
                Some(&skill_id),
            )?;
            out.line("queued_learning_request", path.display());
        }
        SkillsCommand::Promote {
            skill_id,
            ws,
            source,
        } => {
            let layout = ws.initialized()?;
            let dir = skills_dir(&layout);
            let s = skills::find(&dir, &skill_id)
                .ok_or_else(|| err(SkillError::NotFound(skill_id.clone())))?;
            let root = match source {
                Some(r) => r,
                None => source_checkout(&layout.root).ok_or_else(|| {
                    Error::Invalid("cannot locate a millrace source checkout (a directory with stdlib/skills/ and Cargo.toml) above the workspace; pass --source DIR".into())
                })?,
            };
            let target = root.join("stdlib/skills");
            if !target.is_dir() {
                return Err(Error::Invalid(format!(
                    "{}: not a millrace source checkout (no stdlib/skills/)",
                    root.display()
                )));
            }
            if target.join(&skill_id).exists() {
                return Err(Error::Invalid(format!(
                    "source skill already exists: {skill_id}"
                )));
            }
            let promoted = skills::install_local(&target, &s.dir, false).map_err(err)?;
            skills::log_operation(
                &dir,
                "promote",
                &skill_id,
                &s.dir.display().to_string(),
                &promoted.dir.display().to_string(),
            )
            .map_err(err)?;
            out.line("promoted_skill", &skill_id);
            out.line("path", promoted.dir.display());
        }
        SkillsCommand::Export {
            skill_id,
            ws,
            output,
        } => {
            let layout = ws.initialized()?;
            let dir = skills_dir(&layout);
            let s = skills::find(&dir, &skill_id)
                .ok_or_else(|| err(SkillError::NotFound(skill_id.clone())))?;
            let dest = match output {
                Some(o) if o.extension().is_some_and(|e| e == "zip") => o,
                Some(o) => o.with_extension("zip"),
                None => layout.root.join(format!("{skill_id}.zip")),
            };
            skills::export_zip(&s, &dest).map_err(err)?;
            skills::log_operation(
                &dir,
                "export",
                &skill_id,
                &s.dir.display().to_string(),
                &dest.display().to_string(),
            )
            .map_err(err)?;
            out.line("exported_skill", dest.display());
        }
        SkillsCommand::RefreshRemoteIndex(ws) => {
            let layout = ws.initialized()?;
            let dest = skills::refresh_remote_index(&skills_dir(&layout)).map_err(err)?;
            out.line("remote_skills_index", dest.display());
        }
    }
    Ok(())
}

/// The mode (or the workspace default) must have a learning plane.
fn require_learning(layout: &Layout, mode: Option<&str>) -> Result<(), Error> {
    let out = compile::compile(&AssetRoot::Workspace(layout.clone()), mode);
    let Some(plan) = out.plan else {
        let why = out.errors.first().cloned().unwrap_or_default();
        return Err(Error::Invalid(format!(
            "mode {} does not compile: {why}",
            out.mode_id
        )));
    };
    if plan.graph("learning").is_none() {
        return Err(Error::Invalid(format!(
            "mode {} does not enable the learning plane (try --mode learning_codex)",
            plan.mode_id
        )));
    }
    Ok(())
}

fn queue_request(
    layout: &Layout,
    action: &str,
    title: &str,
    summary: &str,
    target_skill: Option<&str>,
) -> Result<PathBuf, Error> {
    let id = crate::runtime::ids::learning_request_id();
    let one = crate::workspace::documents::one_line;
    let mut text = format!(
        "# {t}\n\nLearning-Request-ID: {id}\nTitle: {t}\nSummary: {s}\nRequested-Action: {action}\n",
        t = one(title),
        s = one(summary)
    );
    if let Some(skill) = target_skill {
        text.push_str(&format!("Target-Skill-ID: {skill}\n"));
    }
    text.push_str(&format!(
        "Created-At: {}\nCreated-By: millrace skills\n",
        clock::now_rfc3339()
    ));
    let doc = WorkDocument::parse_as(DocKind::LearningRequest, &text, "learning request")
        .map_err(crate::workspace::Error::from)?;
    queue::enqueue(layout, &doc).map_err(|e| crate::workspace::Error::from(e).into())
}

/// The nearest directory at or above `start` that is a millrace source checkout.
fn source_checkout(start: &Path) -> Option<PathBuf> {
    let start = start.canonicalize().ok()?;
    start
        .ancestors()
        .find(|d| d.join("stdlib/skills").is_dir() && d.join("Cargo.toml").is_file())
        .map(Path::to_path_buf)
}
