//! `millrace queue ls|show|add-task|add-spec|add-idea` (`repair-lineage` is in its own module), and the top-level
//! aliases `add-task`, `add-spec`, `add-idea`.

use std::path::{Path, PathBuf};

use crate::runtime::control::{self, Added, Work};

use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use super::error::{Error, Outcome};
use super::workspace_arg::WorkspaceArg;
use crate::workspace::documents::{DocKind, IdeaDocument, WorkDocument};
use crate::workspace::queue::{self, count_items, state_dir};

#[derive(Debug, Args)]
pub struct QueueArgs {
    #[command(subcommand)]
    pub command: QueueCommand,
}

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Show queue depths and active counts.
    Ls(LsArgs),
    /// Show where one work item is.
    Show(ShowArgs),
    /// Queue a task from a markdown document or a JSON import.
    AddTask(AddArgs),
    /// Queue a spec from a markdown document or a JSON import.
    AddSpec(AddArgs),
    /// Stage an idea (markdown) in `ideas/inbox/`.
    AddIdea(AddArgs),
    /// Preview (or `--apply`) repairs of work filed under the wrong root spec of an open closure target.
    RepairLineage(super::repair_lineage::RepairLineageArgs),
}

#[derive(Debug, Args)]
pub struct LsArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    /// Print JSON instead of `key: value` lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Task, spec, incident or learning-request id.
    pub id: String,
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    /// Print JSON (location and every field) instead of `key: value` lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The document to add (`.md`, or `.json` for tasks and specs).
    pub file: PathBuf,
    #[command(flatten)]
    pub workspace: WorkspaceArg,
    /// Print JSON instead of `key: value` lines.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: QueueArgs) -> Result<Outcome, Error> {
    match args.command {
        QueueCommand::Ls(a) => ls(a),
        QueueCommand::Show(a) => show(a),
        QueueCommand::AddTask(a) => add_task(a),
        QueueCommand::AddSpec(a) => add_spec(a),
        QueueCommand::AddIdea(a) => add_idea(a),
        QueueCommand::RepairLineage(a) => super::repair_lineage::run(a),
    }
}

pub fn add_task(args: AddArgs) -> Result<Outcome, Error> {
    add(args, Some(DocKind::Task))
}

pub fn add_spec(args: AddArgs) -> Result<Outcome, Error> {
    add(args, Some(DocKind::Spec))
}

pub fn add_idea(args: AddArgs) -> Result<Outcome, Error> {
    add(args, None)
}

fn ls(args: LsArgs) -> Result<Outcome, Error> {
    let layout = args.workspace.initialized()?;
    let n = |kind, state| count_items(&state_dir(&layout, kind, state));
    let [exec, plan, learn] = queue::queue_depths(&layout);
    let (tasks, specs, incidents, requests) = (
        n(DocKind::Task, "active"),
        n(DocKind::Spec, "active"),
        n(DocKind::Incident, "active"),
        n(DocKind::LearningRequest, "active"),
    );
    let rows: [(&str, u64); 10] = [
        ("execution_queue_depth", exec),
        ("planning_queue_depth", plan),
        ("learning_queue_depth", learn),
        ("execution_active", tasks as u64),
        ("planning_active", (specs + incidents) as u64),
        ("learning_active", requests as u64),
        ("active_task_count", tasks as u64),
        ("active_spec_count", specs as u64),
        ("active_incident_count", incidents as u64),
        ("active_learning_request_count", requests as u64),
    ];
    // Ours, after the reference's lines: tasks whose dependencies are not done.
    let waiting = crate::runtime::scheduler::Scheduler::new().waiting(&layout);
    if args.json {
        let mut map: Map<String, Value> = rows
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let waiting: Vec<Value> = waiting
            .iter()
            .map(|w| {
                let deps: Vec<Value> = w
                    .waits_for
                    .iter()
                    .map(|(id, state)| json!({"id": id, "state": state}))
                    .collect();
                json!({"task_id": w.task_id, "waits_for": deps})
            })
            .collect();
        map.insert("waiting_on_dependencies".into(), Value::Array(waiting));
        println!("{}", Value::Object(map));
    } else {
        let mut out = String::new();
        for (k, v) in rows {
            out.push_str(&format!("{k}: {v}\n"));
        }
        for w in &waiting {
            let deps: Vec<String> = w
                .waits_for
                .iter()
                .map(|(id, state)| format!("{id} ({state})"))
                .collect();
            out.push_str(&format!(
                "waiting: {} depends on {}\n",
                w.task_id,
                deps.join(", ")
            ));
        }
        print!("{out}");
    }
    Ok(Outcome::Success)
}

fn show(args: ShowArgs) -> Result<Outcome, Error> {
    let layout = args.workspace.initialized()?;
    let found = match queue::locate(&layout, &args.id) {
        Ok(Some(found)) => found,
        Ok(None) => {
            return Err(crate::workspace::Error::NotFound {
                what: "work item",
                id: args.id,
            }
            .into())
        }
        Err(e) => {
            return Err(
                Error::from(crate::workspace::Error::from(e)).context("invalid work item id")
            )
        }
    };
    let doc = queue::read_item(found.kind, &found.path).map_err(crate::workspace::Error::from)?;
    if args.json {
        let mut fields = Map::new();
        for field in found.kind.schema() {
            if field.list {
                if !doc.list(field.label).is_empty() {
                    fields.insert(field.json.into(), json!(doc.list(field.label)));
                }
            } else if let Some(v) = doc.scalar(field.label) {
                fields.insert(field.json.into(), json!(v));
            }
        }
        fields.insert("title".into(), json!(doc.title()));
        let out = json!({
            "work_item_id": doc.id(),
            "work_item_kind": found.kind.tag(),
            "work_item_state": found.state,
            "path": found.path.display().to_string(),
            "title": doc.title(),
            "document": fields,
            "body": doc.body(),
        });
        println!("{}", serde_json::to_string_pretty(&out).expect("json"));
    } else {
        println!("work_item_id: {}", doc.id());
        println!("work_item_kind: {}", found.kind.tag());
        println!("work_item_state: {}", found.state);
        println!("path: {}", found.path.display());
        println!("title: {}", doc.title());
    }
    Ok(Outcome::Success)
}

/// Add a task or spec (`kind`) or, with `None`, an idea.
fn add(args: AddArgs, kind: Option<DocKind>) -> Result<Outcome, Error> {
    let layout = args.workspace.initialized()?;
    let what = kind.map_or("idea", DocKind::tag);
    let added = read_work(&args.file, kind)
        .and_then(|work| control::add(&layout, &work).map_err(Error::from))
        .map_err(|e| e.context(format!("failed to add {what}")))?;
    match added {
        Added::Direct(path) if args.json => println!(
            "{}",
            json!({"mode": "direct", format!("enqueued_{what}"): path.display().to_string()})
        ),
        Added::Direct(path) => println!("enqueued_{what}: {}", path.display()),
        Added::Mailbox(outcome) if args.json => println!("{}", outcome.json()),
        Added::Mailbox(outcome) => print!("{}", outcome.lines()),
    }
    Ok(Outcome::Success)
}

/// Read and check the file to add.
fn read_work(file: &Path, kind: Option<DocKind>) -> Result<Work, Error> {
    let raw = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
    let name = file.display().to_string();
    let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("");
    let Some(kind) = kind else {
        let file_name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let idea =
            IdeaDocument::parse(&file_name, &raw).map_err(|e| Error::Invalid(e.to_string()))?;
        return Ok(Work::Idea(idea));
    };
    let doc = match ext {
        "md" => WorkDocument::parse_as(kind, &raw, &name),
        "json" => WorkDocument::from_json(kind, &raw, &name),
        _ => {
            return Err(Error::Invalid(format!(
                "{name}: a {kind} import must end with .md or .json"
            )))
        }
    }
    .map_err(crate::workspace::Error::from)?;
    Ok(Work::Item(doc))
}
