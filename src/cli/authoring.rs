//! Writing work without writing a document: `add-task|add-spec|add-idea
//! --title ...` (the flags, the defaults, the id derived from the title and
//! made unique) and `queue template task|spec` (a skeleton those commands
//! accept once its `<fill: ...>` placeholders are filled).

use std::path::Path;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{json, Map, Value};

use crate::runtime::control::Work;
use crate::workspace::documents::{DocKind, IdeaDocument, WorkDocument};
use crate::workspace::layout::Layout;
use crate::workspace::{clock, ids, queue, reserve};

/// The flags every `add-*` command takes instead of a file.
#[derive(Debug, Clone, Args)]
pub struct NewItem {
    /// Create the item from flags instead of a file: its H1 title (the id is derived from it).
    #[arg(long, value_name = "TEXT", conflicts_with = "file")]
    pub title: Option<String>,
    /// The id to use instead of one derived from the title (refused if it exists).
    #[arg(long, value_name = "ID", conflicts_with = "file")]
    pub id: Option<String>,
    /// One-line summary (for an idea: its text under the title).
    #[arg(long, value_name = "TEXT", conflicts_with = "file")]
    pub summary: Option<String>,
}

/// `add-task` flags beyond `--title` (each list flag may be repeated).
#[derive(Debug, Clone, Args)]
pub struct TaskFields {
    /// What must be true when the task is done (default: the title).
    #[arg(long, value_name = "TEXT", conflicts_with = "file")]
    pub acceptance: Vec<String>,
    /// A task id this task waits for.
    #[arg(long, value_name = "ID", conflicts_with = "file")]
    pub depends_on: Vec<String>,
    /// A path the task may change (default: `.`).
    #[arg(long, value_name = "PATH", conflicts_with = "file")]
    pub target_path: Vec<String>,
    /// A check that must pass (default: the project's existing checks).
    #[arg(long = "check", value_name = "TEXT", conflicts_with = "file")]
    pub required_check: Vec<String>,
    /// Where the context is (default: this command).
    #[arg(long, value_name = "TEXT", conflicts_with = "file")]
    pub reference: Vec<String>,
    /// What could go wrong (default: not assessed).
    #[arg(long, value_name = "TEXT", conflicts_with = "file")]
    pub risk: Vec<String>,
    /// A tag.
    #[arg(long, value_name = "TEXT", conflicts_with = "file")]
    pub tag: Vec<String>,
    /// Who adds it (default: `$USER`).
    #[arg(long, value_name = "NAME", conflicts_with = "file")]
    pub created_by: Option<String>,
}

/// `add-spec` flags beyond `--title` (each list flag may be repeated).
#[derive(Debug, Clone, Args)]
pub struct SpecFields {
    /// A goal of the spec (default: the title).
    #[arg(long, value_name = "TEXT", conflicts_with = "file")]
    pub goal: Vec<String>,
    /// A constraint (default: none given).
    #[arg(long, value_name = "TEXT", conflicts_with = "file")]
    pub constraint: Vec<String>,
    /// What must be true when the spec is done (default: the title).
    #[arg(long, value_name = "TEXT", conflicts_with = "file")]
    pub acceptance: Vec<String>,
    /// Where the context is (default: this command).
    #[arg(long, value_name = "TEXT", conflicts_with = "file")]
    pub reference: Vec<String>,
    /// A path the work may change.
    #[arg(long, value_name = "PATH", conflicts_with = "file")]
    pub target_path: Vec<String>,
    /// Who adds it (default: `$USER`).
    #[arg(long, value_name = "NAME", conflicts_with = "file")]
    pub created_by: Option<String>,
}

/// The kind-specific flags of one `add-*` command.
pub enum Fields<'a> {
    Task(&'a TaskFields),
    Spec(&'a SpecFields),
    Idea,
}

/// The reference's id rule for names it turns into ids (an idea's file
/// stem): every run of characters outside `[A-Za-z0-9._-]` becomes `-`,
/// then leading and trailing `-` and `.` go. We also drop a leading `_`
/// (an id starts with a letter or digit) and cut to leave room for a
/// `-N` suffix.
pub fn id_from_title(title: &str, fallback: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in title.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            if gap {
                out.push('-');
            }
            gap = false;
            out.push(c);
        } else {
            gap = true;
        }
    }
    if gap {
        out.push('-');
    }
    let trimmed = out.trim_matches(|c| c == '-' || c == '.');
    let trimmed = trimmed.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    let mut id: String = trimmed.chars().take(ids::MAX_ID_LEN - 8).collect();
    while id.ends_with(['-', '.']) {
        id.pop();
    }
    if id.is_empty() {
        fallback.to_string()
    } else {
        id
    }
}

/// Is `id` in use for `tag` items: a document in some state, the idea's
/// inbox file, or a reservation (held while the item exists)?
fn taken(layout: &Layout, tag: &str, id: &str) -> bool {
    let reserved = layout
        .path(reserve::DIR)
        .join(tag)
        .join(format!("{id}.json"));
    if reserved.exists() {
        return true;
    }
    if tag == "idea" {
        return layout.path(&format!("ideas/inbox/{id}.md")).exists();
    }
    matches!(queue::locate(layout, id), Ok(Some(_)))
}

/// The first free id of `base`, `base-2`, `base-3`, ...
fn unique_id(layout: &Layout, tag: &str, base: &str) -> String {
    if !taken(layout, tag, base) {
        return base.to_string();
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|id| !taken(layout, tag, id))
        .expect("an unbounded search finds a free id")
}

fn created_by(flag: &Option<String>) -> String {
    flag.clone()
        .or_else(|| std::env::var("USER").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "operator".to_string())
}

fn or_default(values: &[String], default: &str) -> Vec<String> {
    if values.is_empty() {
        vec![default.to_string()]
    } else {
        values.to_vec()
    }
}

/// The flag a JSON key of a task or spec comes from, for error messages.
fn flag_of(key: &str) -> &str {
    match key {
        "task_id" | "spec_id" => "--id",
        "title" => "--title",
        "summary" => "--summary",
        "acceptance" => "--acceptance",
        "depends_on" => "--depends-on",
        "target_paths" => "--target-path",
        "required_checks" => "--check",
        "references" => "--reference",
        "risk" => "--risk",
        "tags" => "--tag",
        "goals" => "--goal",
        "constraints" => "--constraint",
        "created_by" => "--created-by",
        other => other,
    }
}

/// A flag value an `add-*` command cannot use: the flag (when one is to
/// blame) and what is wrong with its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadFlag {
    pub flag: Option<String>,
    pub message: String,
}

impl BadFlag {
    fn new(flag: &str, message: impl std::fmt::Display) -> BadFlag {
        BadFlag {
            flag: Some(flag.to_string()),
            message: message.to_string(),
        }
    }
}

impl std::fmt::Display for BadFlag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.flag {
            Some(flag) => write!(f, "{flag}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for BadFlag {}

/// Build the work an `add-*` command adds from its flags.
pub fn from_flags(layout: &Layout, new: &NewItem, fields: Fields<'_>) -> Result<Work, BadFlag> {
    let title = new.title.as_deref().unwrap_or_default().trim().to_string();
    if title.is_empty() {
        return Err(BadFlag::new("--title", "the title is empty"));
    }
    let (kind, tag) = match fields {
        Fields::Task(_) => (Some(DocKind::Task), "task"),
        Fields::Spec(_) => (Some(DocKind::Spec), "spec"),
        Fields::Idea => (None, "idea"),
    };
    let id = match &new.id {
        Some(id) => {
            ids::validate_id(id).map_err(|e| BadFlag::new("--id", e))?;
            id.clone()
        }
        None => unique_id(layout, tag, &id_from_title(&title, tag)),
    };
    let reference = format!("millrace add-{tag} --title");
    let now = clock::now_rfc3339();
    let mut doc = Map::new();
    match fields {
        Fields::Idea => {
            let mut markdown = format!("# {title}\n");
            if let Some(s) = &new.summary {
                markdown.push_str(&format!("\n{}\n", s.trim()));
            }
            let idea =
                IdeaDocument::parse(&format!("{id}.md"), &markdown).map_err(|e| BadFlag {
                    flag: None,
                    message: e.message.clone(),
                })?;
            return Ok(Work::Idea(idea));
        }
        Fields::Task(t) => {
            for dep in &t.depends_on {
                ids::validate_id(dep).map_err(|e| BadFlag::new("--depends-on", e))?;
            }
            doc.insert("task_id".into(), json!(id));
            doc.insert("title".into(), json!(title));
            if let Some(s) = &new.summary {
                doc.insert("summary".into(), json!(s));
            }
            doc.insert("created_at".into(), json!(now));
            doc.insert("created_by".into(), json!(created_by(&t.created_by)));
            if !t.depends_on.is_empty() {
                doc.insert("depends_on".into(), json!(t.depends_on));
            }
            if !t.tag.is_empty() {
                doc.insert("tags".into(), json!(t.tag));
            }
            doc.insert(
                "target_paths".into(),
                json!(or_default(&t.target_path, ".")),
            );
            doc.insert(
                "acceptance".into(),
                json!(or_default(&t.acceptance, &title)),
            );
            doc.insert(
                "required_checks".into(),
                json!(or_default(
                    &t.required_check,
                    "the project's existing checks pass"
                )),
            );
            doc.insert(
                "references".into(),
                json!(or_default(&t.reference, &reference)),
            );
            doc.insert("risk".into(), json!(or_default(&t.risk, "not assessed")));
        }
        Fields::Spec(s) => {
            doc.insert("spec_id".into(), json!(id));
            doc.insert("title".into(), json!(title));
            doc.insert(
                "summary".into(),
                json!(new.summary.clone().unwrap_or_else(|| title.clone())),
            );
            doc.insert("source_type".into(), json!("manual"));
            doc.insert("created_at".into(), json!(now));
            doc.insert("created_by".into(), json!(created_by(&s.created_by)));
            doc.insert("goals".into(), json!(or_default(&s.goal, &title)));
            doc.insert(
                "constraints".into(),
                json!(or_default(&s.constraint, "none given")),
            );
            if !s.target_path.is_empty() {
                doc.insert("target_paths".into(), json!(s.target_path));
            }
            doc.insert(
                "acceptance".into(),
                json!(or_default(&s.acceptance, &title)),
            );
            doc.insert(
                "references".into(),
                json!(or_default(&s.reference, &reference)),
            );
        }
    }
    let kind = kind.expect("tasks and specs have a kind");
    for (key, value) in &doc {
        let items: Vec<&str> = match value {
            Value::String(s) => vec![s],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if items.iter().any(|s| s.trim().is_empty()) {
            return Err(BadFlag::new(flag_of(key), "a value is empty"));
        }
    }
    let text = Value::Object(doc).to_string();
    let doc = WorkDocument::from_json(kind, &text, "flags").map_err(|e| BadFlag {
        flag: e.field.as_deref().map(|f| flag_of(f).to_string()),
        message: e.message.clone(),
    })?;
    Ok(Work::Item(doc))
}

/// The marker of a placeholder `queue template` prints.
pub const PLACEHOLDER: &str = "<fill:";

/// A document that still holds a template placeholder (`line` from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfilled {
    pub file: std::path::PathBuf,
    pub line: usize,
}

impl std::fmt::Display for Unfilled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: line {}: fill in the template placeholder (`{PLACEHOLDER} ...>`) first",
            self.file.display(),
            self.line
        )
    }
}

impl std::error::Error for Unfilled {}

/// Refuse a document that still holds a template placeholder, naming its line.
pub fn check_filled(file: &Path, raw: &str) -> Result<(), Unfilled> {
    match raw.lines().position(|l| l.contains(PLACEHOLDER)) {
        Some(i) => Err(Unfilled {
            file: file.to_path_buf(),
            line: i + 1,
        }),
        None => Ok(()),
    }
}

/// `queue template task|spec`.
#[derive(Debug, Args)]
pub struct TemplateArgs {
    #[command(subcommand)]
    pub kind: TemplateKind,
}

#[derive(Debug, Subcommand)]
pub enum TemplateKind {
    /// A task skeleton (`add-task FILE` accepts it once filled).
    Task(TemplateFormat),
    /// A spec skeleton (`add-spec FILE` accepts it once filled).
    Spec(TemplateFormat),
}

#[derive(Debug, Args)]
pub struct TemplateFormat {
    /// `md` (save as `<id>.md`) or `json` (save as `<id>.json`).
    #[arg(long, value_enum, default_value = "md")]
    pub format: Format,
    /// The `Created-By` to fill in (default: `$USER`).
    #[arg(long, value_name = "NAME")]
    pub created_by: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Md,
    Json,
}

/// Every field of a template, in order: (JSON key, markdown label, is a
/// list, the placeholder text). `Created-At`/`Created-By` are filled in.
fn template_fields(kind: DocKind) -> Vec<(&'static str, &'static str, bool, &'static str)> {
    match kind {
        DocKind::Task => vec![
            (
                "task_id",
                "Task-ID",
                false,
                "an id: letters, digits, dot, underscore, dash",
            ),
            ("summary", "Summary", false, "one line"),
            ("created_at", "Created-At", false, ""),
            ("created_by", "Created-By", false, ""),
            ("depends_on", "Depends-On", true, ""),
            (
                "target_paths",
                "Target-Paths",
                true,
                "a path the task may change",
            ),
            (
                "acceptance",
                "Acceptance",
                true,
                "what is true when it is done",
            ),
            (
                "required_checks",
                "Required-Checks",
                true,
                "a check that must pass",
            ),
            ("references", "References", true, "where the context is"),
            ("risk", "Risk", true, "what could go wrong"),
        ],
        _ => vec![
            (
                "spec_id",
                "Spec-ID",
                false,
                "an id: letters, digits, dot, underscore, dash",
            ),
            ("summary", "Summary", false, "one line"),
            ("source_type", "Source-Type", false, ""),
            ("created_at", "Created-At", false, ""),
            ("created_by", "Created-By", false, ""),
            ("goals", "Goals", true, "a goal"),
            ("constraints", "Constraints", true, "a constraint"),
            (
                "acceptance",
                "Acceptance",
                true,
                "what is true when it is done",
            ),
            ("references", "References", true, "where the context is"),
        ],
    }
}

/// The skeleton of a `kind` document as `format`.
pub fn template(kind: DocKind, format: Format, who: &str, now: &str) -> String {
    let fill = |what: &str| format!("{PLACEHOLDER} {what}>");
    let fixed = |key: &str| match key {
        "created_at" => Some(now.to_string()),
        "created_by" => Some(who.to_string()),
        "source_type" => Some("manual".to_string()),
        _ => None,
    };
    match format {
        Format::Json => {
            let mut map = Map::new();
            map.insert("schema_version".into(), json!("1.0"));
            map.insert("kind".into(), json!(kind.tag()));
            map.insert("title".into(), json!(fill("title")));
            for (key, _, list, what) in template_fields(kind) {
                let value = match (fixed(key), list, what.is_empty()) {
                    (Some(v), _, _) => json!(v),
                    (None, true, true) => json!([]),
                    (None, true, false) => json!([fill(what)]),
                    (None, false, _) => json!(fill(what)),
                };
                map.insert(key.into(), value);
            }
            let mut s = serde_json::to_string_pretty(&Value::Object(map)).unwrap_or_default();
            s.push('\n');
            s
        }
        Format::Md => {
            let mut out = format!("# {}\n\n", fill("title"));
            let fields = template_fields(kind);
            for (key, label, _, what) in fields.iter().filter(|f| !f.2) {
                let value = fixed(key).unwrap_or_else(|| fill(what));
                out.push_str(&format!("{label}: {value}\n"));
            }
            for (_, label, _, what) in fields.iter().filter(|f| f.2) {
                let item = if what.is_empty() {
                    "none".to_string()
                } else {
                    fill(what)
                };
                out.push_str(&format!("\n{label}:\n- {item}\n"));
            }
            out
        }
    }
}

pub fn run_template(args: TemplateArgs) -> Result<super::error::Outcome, super::error::Error> {
    let (kind, f) = match &args.kind {
        TemplateKind::Task(f) => (DocKind::Task, f),
        TemplateKind::Spec(f) => (DocKind::Spec, f),
    };
    let who = created_by(&f.created_by);
    print!("{}", template(kind, f.format, &who, &clock::now_rfc3339()));
    Ok(super::error::Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_reference_rule() {
        assert_eq!(
            id_from_title("Fix the login bug", "task"),
            "Fix-the-login-bug"
        );
        assert_eq!(id_from_title("  ../etc/passwd  ", "task"), "etc-passwd");
        assert_eq!(id_from_title("v1.2: ship it!", "task"), "v1.2-ship-it");
        assert_eq!(id_from_title("_hidden", "task"), "hidden");
        assert_eq!(id_from_title("日本語", "task"), "task");
        let long = "a".repeat(500);
        let id = id_from_title(&long, "task");
        assert!(ids::validate_id(&id).is_ok() && id.len() <= ids::MAX_ID_LEN - 8);
    }

    #[test]
    fn filled_templates_parse() {
        for kind in [DocKind::Task, DocKind::Spec] {
            for format in [Format::Md, Format::Json] {
                let t = template(kind, format, "me", "2026-01-01T00:00:00Z");
                assert!(check_filled(Path::new("t"), &t).is_err());
                let mut filled = String::new();
                let mut rest = t.as_str();
                while let Some(i) = rest.find(PLACEHOLDER) {
                    filled.push_str(&rest[..i]);
                    let end = rest[i..].find('>').unwrap();
                    filled.push_str(
                        if rest[..i].ends_with("ID: ") || rest[..i].ends_with("_id\": \"") {
                            "x-1"
                        } else {
                            "value"
                        },
                    );
                    rest = &rest[i + end + 1..];
                }
                filled.push_str(rest);
                let doc = match format {
                    Format::Md => WorkDocument::parse_as(kind, &filled, "t.md"),
                    Format::Json => WorkDocument::from_json(kind, &filled, "t.json"),
                };
                let doc = doc.unwrap_or_else(|e| panic!("{e}\n{filled}"));
                assert_eq!(doc.id(), "x-1");
            }
        }
    }
}
