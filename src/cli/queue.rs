//! `millrace queue ls|show|add-task|add-spec|add-idea` (`repair-lineage` is in its own module), and the top-level
//! aliases `add-task`, `add-spec`, `add-idea`.

use std::path::{Path, PathBuf};

use crate::runtime::control::{self, Added, Work};

use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use super::authoring::{self, Fields, NewItem, SpecFields, TaskFields};
use super::workspace_arg::{fail, WorkspaceArg};
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
    /// Queue a task from a markdown document, a JSON import, or `--title` and flags.
    AddTask(AddTaskArgs),
    /// Queue a spec from a markdown document, a JSON import, or `--title` and flags.
    AddSpec(AddSpecArgs),
    /// Stage an idea (markdown, or `--title`) in `ideas/inbox/`.
    AddIdea(AddArgs),
    /// Print a task or spec skeleton that `add-task`/`add-spec` accept once filled.
    Template(super::authoring::TemplateArgs),
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
    /// The document to add (`.md`, or `.json` for tasks and specs); or use `--title`.
    #[arg(required_unless_present = "title")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub new: NewItem,
    #[command(flatten)]
    pub workspace: WorkspaceArg,
}

#[derive(Debug, Args)]
pub struct AddTaskArgs {
    #[command(flatten)]
    pub add: AddArgs,
    #[command(flatten)]
    pub fields: TaskFields,
}

#[derive(Debug, Args)]
pub struct AddSpecArgs {
    #[command(flatten)]
    pub add: AddArgs,
    #[command(flatten)]
    pub fields: SpecFields,
}

pub fn run(args: QueueArgs) -> i32 {
    match args.command {
        QueueCommand::Ls(a) => ls(a),
        QueueCommand::Show(a) => show(a),
        QueueCommand::AddTask(a) => add_task(a),
        QueueCommand::AddSpec(a) => add_spec(a),
        QueueCommand::AddIdea(a) => add_idea(a),
        QueueCommand::Template(a) => super::authoring::run_template(a),
        QueueCommand::RepairLineage(a) => super::repair_lineage::run(a),
    }
}

pub fn add_task(args: AddTaskArgs) -> i32 {
    add(args.add, Fields::Task(&args.fields))
}

pub fn add_spec(args: AddSpecArgs) -> i32 {
    add(args.add, Fields::Spec(&args.fields))
}

pub fn add_idea(args: AddArgs) -> i32 {
    add(args, Fields::Idea)
}

fn ls(args: LsArgs) -> i32 {
    let layout = match args.workspace.initialized() {
        Ok(l) => l,
        Err(code) => return code,
    };
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
    0
}

fn show(args: ShowArgs) -> i32 {
    let layout = match args.workspace.initialized() {
        Ok(l) => l,
        Err(code) => return code,
    };
    let found = match queue::locate(&layout, &args.id) {
        Ok(Some(found)) => found,
        Ok(None) => return fail(&format!("work item not found: {}", args.id)),
        Err(e) => return fail(&format!("invalid work item id: {e}")),
    };
    let doc = match queue::read_item(found.kind, &found.path) {
        Ok(doc) => doc,
        Err(e) => return fail(&e.to_string()),
    };
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
    0
}

/// Add a task, spec or idea (`fields`), from a file or from `--title` and flags.
fn add(args: AddArgs, fields: Fields<'_>) -> i32 {
    let layout = match args.workspace.initialized() {
        Ok(l) => l,
        Err(code) => return code,
    };
    let kind = match fields {
        Fields::Task(_) => Some(DocKind::Task),
        Fields::Spec(_) => Some(DocKind::Spec),
        Fields::Idea => None,
    };
    let what = kind.map_or("idea", DocKind::tag);
    let work = match &args.file {
        Some(file) => match read_work(file, kind) {
            Ok(work) => work,
            Err(e) => return fail(&format!("failed to add {what}: {e}")),
        },
        None => match authoring::from_flags(&layout, &args.new, fields) {
            Ok(work) => work,
            Err(e) => {
                eprintln!("error: failed to add {what}: {e}");
                return authoring::INVALID_INPUT;
            }
        },
    };
    let added = control::add(&layout, &work);
    match added {
        Ok(Added::Direct(path)) => {
            println!("enqueued_{what}: {}", path.display());
            0
        }
        Ok(Added::Mailbox(outcome)) => {
            print!("{}", outcome.lines());
            0
        }
        Err(e) => fail(&format!("failed to add {what}: {e}")),
    }
}

/// Read and check the file to add.
fn read_work(file: &Path, kind: Option<DocKind>) -> Result<Work, String> {
    let raw = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    authoring::check_filled(file, &raw)?;
    let name = file.display().to_string();
    let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("");
    let Some(kind) = kind else {
        let file_name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let idea = IdeaDocument::parse(&file_name, &raw).map_err(|e| e.to_string())?;
        return Ok(Work::Idea(idea));
    };
    let doc = match ext {
        "md" => WorkDocument::parse_as(kind, &raw, &name),
        "json" => WorkDocument::from_json(kind, &raw, &name),
        _ => {
            return Err(format!(
                "{name}: a {kind} import must end with .md or .json"
            ))
        }
    }
    .map_err(|e| e.to_string())?;
    Ok(Work::Item(doc))
}
