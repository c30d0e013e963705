//! `millrace queue ls|show|add-task|add-spec|add-idea` (`repair-lineage` is in its own module), and the top-level
//! aliases `add-task`, `add-spec`, `add-idea`.

use std::path::{Path, PathBuf};

use crate::runtime::control::{self, Added, Work};

use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use super::authoring::{self, Fields, NewItem, SpecFields, TaskFields};
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
    /// Show queue depths and active counts, then the items (filters: --state, --kind, --limit).
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
    /// List items in these states (repeatable; default: queued, active, blocked).
    #[arg(long, value_enum, value_name = "STATE")]
    pub state: Vec<StateFilter>,
    /// List items of these kinds (repeatable; default: all).
    #[arg(long, value_enum, value_name = "KIND")]
    pub kind: Vec<KindFilter>,
    /// List at most N items (oldest first; 0: all).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StateFilter {
    /// Waiting to be claimed (`queue/`, incidents' `incoming/`, ideas' inbox).
    Queued,
    Active,
    /// Finished (`done/`, incidents' `resolved/`).
    Done,
    Blocked,
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KindFilter {
    Task,
    Spec,
    Incident,
    #[value(alias = "learning")]
    LearningRequest,
    Idea,
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
    /// Print JSON instead of `key: value` lines.
    #[arg(long)]
    pub json: bool,
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

pub fn run(args: QueueArgs) -> Result<Outcome, Error> {
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

pub fn add_task(args: AddTaskArgs) -> Result<Outcome, Error> {
    add(args.add, Fields::Task(&args.fields))
}

pub fn add_spec(args: AddSpecArgs) -> Result<Outcome, Error> {
    add(args.add, Fields::Spec(&args.fields))
}

pub fn add_idea(args: AddArgs) -> Result<Outcome, Error> {
    add(args, Fields::Idea)
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
    let listing = list_items(&layout, &args, &waiting);
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
        map.insert("items_total".into(), json!(listing.total));
        map.insert(
            "items".into(),
            Value::Array(listing.items.iter().map(Item::to_json).collect()),
        );
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
        out.push_str(&render_items(&listing));
        print!("{out}");
    }
    Ok(Outcome::Success)
}

/// One listed work item.
struct Item {
    kind: &'static str,
    id: String,
    state: &'static str,
    title: String,
    created_at: Option<String>,
    age_seconds: Option<u64>,
    waits_for: String,
}

impl Item {
    fn to_json(&self) -> Value {
        json!({
            "id": self.id, "kind": self.kind, "state": self.state, "title": self.title,
            "created_at": self.created_at, "age_seconds": self.age_seconds,
            "waits_for": self.waits_for,
        })
    }
}

struct Listing {
    items: Vec<Item>,
    /// Items matching the filters, before `--limit`.
    total: usize,
}

/// The items the filters select, oldest first (by file time), at most
/// `limit` of them read (a queue of thousands lists quickly).
fn list_items(
    layout: &crate::workspace::layout::Layout,
    args: &LsArgs,
    waiting: &[crate::runtime::scheduler::Waiting],
) -> Listing {
    use crate::workspace::safe_fs;
    let all = args.state.contains(&StateFilter::All);
    let states: Vec<StateFilter> = if all {
        vec![
            StateFilter::Queued,
            StateFilter::Active,
            StateFilter::Done,
            StateFilter::Blocked,
        ]
    } else if args.state.is_empty() {
        vec![
            StateFilter::Queued,
            StateFilter::Active,
            StateFilter::Blocked,
        ]
    } else {
        args.state.clone()
    };
    let kinds: Vec<KindFilter> = if args.kind.is_empty() {
        vec![
            KindFilter::Task,
            KindFilter::Spec,
            KindFilter::Incident,
            KindFilter::LearningRequest,
            KindFilter::Idea,
        ]
    } else {
        args.kind.clone()
    };
    // (mtime, state rank, kind, state dir name, id, path)
    let mut found: Vec<(
        std::time::SystemTime,
        usize,
        KindFilter,
        &'static str,
        String,
        PathBuf,
    )> = Vec::new();
    for kind in &kinds {
        for (rank, st) in states.iter().enumerate() {
            let (dir, name): (PathBuf, &'static str) = match (kind, st) {
                (KindFilter::Idea, StateFilter::Queued) => (layout.ideas_inbox(), "inbox"),
                (KindFilter::Idea, _) => continue,
                (k, st) => {
                    let dk = doc_kind(*k).expect("not an idea");
                    let [entry, active, done, blocked] = queue::states(dk);
                    let name = match st {
                        StateFilter::Queued => entry,
                        StateFilter::Active => active,
                        StateFilter::Done => done,
                        _ => blocked,
                    };
                    (state_dir(layout, dk, name), name)
                }
            };
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let file = e.file_name().to_string_lossy().into_owned();
                let Some(id) = file.strip_suffix(".md") else {
                    continue;
                };
                if id.starts_with('.') || crate::workspace::ids::validate_id(id).is_err() {
                    continue;
                }
                let Ok(meta) = e.path().symlink_metadata() else {
                    continue;
                };
                if !meta.is_file() {
                    continue;
                }
                let at = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                found.push((at, rank, *kind, name, id.to_string(), e.path()));
            }
        }
    }
    found.sort_by(|a, b| (a.1, a.0, &a.4).cmp(&(b.1, b.0, &b.4)));
    let total = found.len();
    let limit = if args.limit == 0 {
        usize::MAX
    } else {
        args.limit
    };
    let snapshot = crate::workspace::state::load_snapshot(layout).ok();
    let now = std::time::SystemTime::now();
    let items = found
        .into_iter()
        .take(limit)
        .map(|(at, _, kind, state, id, path)| {
            let raw = safe_fs::read_to_string_capped(&path, safe_fs::MAX_DOCUMENT_BYTES).ok();
            let doc = raw.as_deref().and_then(|r| match doc_kind(kind) {
                Some(dk) => WorkDocument::parse_as(dk, r, &path.display().to_string())
                    .ok()
                    .map(|d| {
                        (
                            d.title().to_string(),
                            d.scalar("Created-At").map(str::to_string),
                        )
                    }),
                None => IdeaDocument::parse(&format!("{id}.md"), r)
                    .ok()
                    .map(|d| (d.title, None)),
            });
            let (title, created_at) = doc.unwrap_or_else(|| ("(unreadable)".into(), None));
            let created = created_at
                .as_deref()
                .and_then(crate::workspace::clock::parse_seconds);
            let since = |t: f64| {
                let n = now
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                (n - t).max(0.0) as u64
            };
            let age_seconds = created.map(since).or_else(|| {
                at.duration_since(std::time::UNIX_EPOCH)
                    .ok()
                    .map(|d| since(d.as_secs_f64()))
            });
            let waits_for = waits_for(kind, state, &id, waiting, snapshot.as_ref());
            Item {
                kind: kind_tag(kind),
                id,
                state,
                title: crate::runtime::progress::clean(&title, 60),
                created_at,
                age_seconds,
                waits_for,
            }
        })
        .collect();
    Listing { items, total }
}

fn doc_kind(k: KindFilter) -> Option<DocKind> {
    match k {
        KindFilter::Task => Some(DocKind::Task),
        KindFilter::Spec => Some(DocKind::Spec),
        KindFilter::Incident => Some(DocKind::Incident),
        KindFilter::LearningRequest => Some(DocKind::LearningRequest),
        KindFilter::Idea => None,
    }
}

fn kind_tag(k: KindFilter) -> &'static str {
    doc_kind(k).map_or("idea", DocKind::tag)
}

/// What an item waits for: unfinished dependencies, the stage running it,
/// intake by the watcher, or an operator.
fn waits_for(
    kind: KindFilter,
    state: &str,
    id: &str,
    waiting: &[crate::runtime::scheduler::Waiting],
    snapshot: Option<&crate::workspace::state::RuntimeSnapshot>,
) -> String {
    match state {
        "queue" | "incoming" => {
            if let Some(w) = waiting
                .iter()
                .find(|w| w.task_id == id && kind == KindFilter::Task)
            {
                let deps: Vec<String> = w
                    .waits_for
                    .iter()
                    .map(|(d, st)| format!("{d} ({st})"))
                    .collect();
                format!("dependencies: {}", deps.join(", "))
            } else {
                "its turn".into()
            }
        }
        "inbox" => "intake (watchers.watch_ideas_inbox)".into(),
        "active" => snapshot
            .and_then(|s| {
                s.active_runs_by_plane
                    .values()
                    .find(|r| r.get("work_item_id").and_then(Value::as_str) == Some(id))
            })
            .map(|r| {
                let g = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("?");
                format!("stage {}/{}", g("plane"), g("node_id"))
            })
            .unwrap_or_else(|| "a runtime to resume it".into()),
        "blocked" => "an operator".into(),
        _ => "-".into(),
    }
}

/// The listing as a table after the count lines.
fn render_items(l: &Listing) -> String {
    if l.items.is_empty() {
        return String::new();
    }
    let age = |s: Option<u64>| match s {
        None => "?".to_string(),
        Some(s) if s < 120 => format!("{s}s"),
        Some(s) if s < 7200 => format!("{}m", s / 60),
        Some(s) if s < 172_800 => format!("{}h", s / 3600),
        Some(s) => format!("{}d", s / 86_400),
    };
    let rows: Vec<[String; 6]> = l
        .items
        .iter()
        .map(|i| {
            [
                i.id.clone(),
                i.kind.to_string(),
                i.state.to_string(),
                age(i.age_seconds),
                i.title.clone(),
                i.waits_for.clone(),
            ]
        })
        .collect();
    let head = ["ID", "KIND", "STATE", "AGE", "TITLE", "WAITS_FOR"];
    let mut width = head.map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = width[i]));
            }
        }
        s.push('\n');
        s
    };
    let mut out = String::from("\n");
    out.push_str(&line(head.to_vec()));
    for r in &rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    if l.total > l.items.len() {
        out.push_str(&format!(
            "... {} more (--limit N, or --limit 0 for all)\n",
            l.total - l.items.len()
        ));
    }
    out
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

/// Add a task, spec or idea (`fields`), from a file or from `--title` and flags.
fn add(args: AddArgs, fields: Fields<'_>) -> Result<Outcome, Error> {
    let layout = args.workspace.initialized()?;
    let kind = match fields {
        Fields::Task(_) => Some(DocKind::Task),
        Fields::Spec(_) => Some(DocKind::Spec),
        Fields::Idea => None,
    };
    let what = kind.map_or("idea", DocKind::tag);
    let work = match &args.file {
        Some(file) => read_work(file, kind),
        None => authoring::from_flags(&layout, &args.new, fields)
            .map_err(|e| Error::Invalid(e.to_string())),
    }
    .map_err(|e| e.context(format!("failed to add {what}")))?;
    let added = control::add(&layout, &work)
        .map_err(Error::from)
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
    authoring::check_filled(file, &raw).map_err(|e| Error::Invalid(e.to_string()))?;
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
