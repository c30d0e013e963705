//! Work documents (tasks, specs, incidents, learning requests, ideas) in the
//! reference's markdown format: an H1 title, `Key: value` scalar lines and
//! `Key:` lines followed by `- item` lists, then an optional free-form body.
//!
//! Parsing follows the reference's rules (unknown labels are skipped, a
//! repeated label is an error, `Title` must equal the H1). Rendering is the
//! reference's canonical form, so a document written by the reference parses
//! and renders back to the same bytes. A parsed document that is not modified
//! is written back exactly as it was read, whatever its layout.

use std::collections::BTreeMap;
use std::fmt;

use super::{clock, ids};

/// The four structured document kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocKind {
    Task,
    Spec,
    Incident,
    LearningRequest,
}

impl DocKind {
    pub const ALL: [DocKind; 4] = [
        DocKind::Task,
        DocKind::Spec,
        DocKind::Incident,
        DocKind::LearningRequest,
    ];

    /// The reference's `kind` tag (`task`, `spec`, `incident`, `learning_request`).
    pub fn tag(self) -> &'static str {
        match self {
            DocKind::Task => "task",
            DocKind::Spec => "spec",
            DocKind::Incident => "incident",
            DocKind::LearningRequest => "learning_request",
        }
    }

    /// The label of the identifier field (`Task-ID`, ...).
    pub fn id_label(self) -> &'static str {
        match self {
            DocKind::Task => "Task-ID",
            DocKind::Spec => "Spec-ID",
            DocKind::Incident => "Incident-ID",
            DocKind::LearningRequest => "Learning-Request-ID",
        }
    }

    /// The field schema of this kind, in canonical rendering order
    /// (all scalars, then all lists).
    pub fn schema(self) -> &'static [Field] {
        match self {
            DocKind::Task => TASK,
            DocKind::Spec => SPEC,
            DocKind::Incident => INCIDENT,
            DocKind::LearningRequest => LEARNING_REQUEST,
        }
    }

    pub fn field(self, label: &str) -> Option<&'static Field> {
        self.schema().iter().find(|f| f.label == label)
    }
}

impl fmt::Display for DocKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

/// How a field's value is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Text,
    /// A safe identifier (see `ids`).
    Id,
    DateTime,
    Bool,
    /// A JSON object, rendered compact with sorted keys.
    JsonObject,
    OneOf(&'static [&'static str]),
}

/// One field of a document schema.
#[derive(Debug)]
pub struct Field {
    /// The markdown label, e.g. `Root-Spec-ID`.
    pub label: &'static str,
    /// The JSON import name, e.g. `root_spec_id`.
    pub json: &'static str,
    pub list: bool,
    /// Scalars: must be present. Lists: must have at least one item.
    pub required: bool,
    pub check: Check,
}

const fn s(label: &'static str, json: &'static str, required: bool, check: Check) -> Field {
    Field {
        label,
        json,
        list: false,
        required,
        check,
    }
}

const fn l(label: &'static str, json: &'static str, required: bool) -> Field {
    Field {
        label,
        json,
        list: true,
        required,
        check: Check::Text,
    }
}

const TASK_STATUS: &[&str] = &["queued", "active", "blocked", "done"];
const INCIDENT_STATUS: &[&str] = &["incoming", "active", "blocked", "resolved"];
const SEVERITY: &[&str] = &["low", "medium", "high", "critical"];
const DECISION: &[&str] = &["needs_planning", "blocked"];
const SOURCE_TYPE: &[&str] = &["idea", "incident", "manual", "derived_spec"];
const PLANE: &[&str] = &["execution", "planning", "learning"];
const LEARNING_STAGE: &[&str] = &["analyst", "professor", "curator"];
const LEARNING_ACTION: &[&str] = &["create", "improve", "promote", "export", "install"];

static TASK: &[Field] = &[
    s("Task-ID", "task_id", true, Check::Id),
    s("Title", "title", false, Check::Text),
    s("Summary", "summary", false, Check::Text),
    s("Root-Idea-ID", "root_idea_id", false, Check::Id),
    s("Root-Spec-ID", "root_spec_id", false, Check::Id),
    s("Spec-ID", "spec_id", false, Check::Id),
    s("Parent-Task-ID", "parent_task_id", false, Check::Id),
    s("Incident-ID", "incident_id", false, Check::Id),
    s(
        "Status-Hint",
        "status_hint",
        false,
        Check::OneOf(TASK_STATUS),
    ),
    s("Created-At", "created_at", true, Check::DateTime),
    s("Created-By", "created_by", true, Check::Text),
    s("Updated-At", "updated_at", false, Check::DateTime),
    l("Depends-On", "depends_on", false),
    l("Blocks", "blocks", false),
    l("Tags", "tags", false),
    l("Target-Paths", "target_paths", true),
    l("Acceptance", "acceptance", true),
    l("Required-Checks", "required_checks", true),
    l("References", "references", true),
    l("Risk", "risk", true),
];

static SPEC: &[Field] = &[
    s("Spec-ID", "spec_id", true, Check::Id),
    s("Title", "title", false, Check::Text),
    s("Summary", "summary", true, Check::Text),
    s(
        "Source-Type",
        "source_type",
        true,
        Check::OneOf(SOURCE_TYPE),
    ),
    s("Source-ID", "source_id", false, Check::Id),
    s("Parent-Spec-ID", "parent_spec_id", false, Check::Id),
    s("Root-Idea-ID", "root_idea_id", false, Check::Id),
    s("Root-Spec-ID", "root_spec_id", false, Check::Id),
    s("Created-At", "created_at", true, Check::DateTime),
    s("Created-By", "created_by", true, Check::Text),
    s("Updated-At", "updated_at", false, Check::DateTime),
    l("Goals", "goals", true),
    l("Non-Goals", "non_goals", false),
    l("Scope", "scope", false),
    l("Constraints", "constraints", true),
    l("Assumptions", "assumptions", false),
    l("Risks", "risks", false),
    l("Target-Paths", "target_paths", false),
    l("Entrypoints", "entrypoints", false),
    l("Required-Skills", "required_skills", false),
    l("Decomposition-Hints", "decomposition_hints", false),
    l("Acceptance", "acceptance", true),
    l("References", "references", true),
];

static INCIDENT: &[Field] = &[
    s("Incident-ID", "incident_id", true, Check::Id),
    s("Title", "title", false, Check::Text),
    s("Summary", "summary", true, Check::Text),
    s("Root-Idea-ID", "root_idea_id", false, Check::Id),
    s("Root-Spec-ID", "root_spec_id", false, Check::Id),
    s("Source-Task-ID", "source_task_id", false, Check::Id),
    s("Source-Spec-ID", "source_spec_id", false, Check::Id),
    // Any node of the plan may escalate, custom stage kinds included; the
    // plane check below applies to the shipped stage names.
    s("Source-Stage", "source_stage", true, Check::Id),
    s("Source-Plane", "source_plane", true, Check::OneOf(PLANE)),
    s("Failure-Class", "failure_class", true, Check::Text),
    s(
        "Status-Hint",
        "status_hint",
        false,
        Check::OneOf(INCIDENT_STATUS),
    ),
    s("Severity", "severity", false, Check::OneOf(SEVERITY)),
    s("Needs-Planning", "needs_planning", false, Check::Bool),
    s("Trigger-Reason", "trigger_reason", true, Check::Text),
    s(
        "Consultant-Decision",
        "consultant_decision",
        true,
        Check::OneOf(DECISION),
    ),
    s("Opened-At", "opened_at", true, Check::DateTime),
    s("Opened-By", "opened_by", true, Check::Text),
    s("Updated-At", "updated_at", false, Check::DateTime),
    l("Observed-Symptoms", "observed_symptoms", false),
    l("Failed-Attempts", "failed_attempts", false),
    l("Evidence-Paths", "evidence_paths", false),
    l("Related-Run-IDs", "related_run_ids", false),
    l("Related-Stage-Results", "related_stage_results", false),
    l("References", "references", false),
];

static LEARNING_REQUEST: &[Field] = &[
    s(
        "Learning-Request-ID",
        "learning_request_id",
        true,
        Check::Id,
    ),
    s("Title", "title", false, Check::Text),
    s("Summary", "summary", false, Check::Text),
    s(
        "Requested-Action",
        "requested_action",
        true,
        Check::OneOf(LEARNING_ACTION),
    ),
    s("Target-Skill-ID", "target_skill_id", false, Check::Id),
    s(
        "Target-Stage",
        "target_stage",
        false,
        Check::OneOf(LEARNING_STAGE),
    ),
    s(
        "Trigger-Metadata",
        "trigger_metadata",
        false,
        Check::JsonObject,
    ),
    s("Created-At", "created_at", true, Check::DateTime),
    s("Created-By", "created_by", true, Check::Text),
    s("Updated-At", "updated_at", false, Check::DateTime),
    l("Source-Refs", "source_refs", false),
    l("Preferred-Output-Paths", "preferred_output_paths", false),
    l("Originating-Run-IDs", "originating_run_ids", false),
    l("Artifact-Paths", "artifact_paths", false),
    l("References", "references", false),
];

/// Is `label` a known label of any kind, and is it a list there?
fn known_label(label: &str) -> Option<bool> {
    DocKind::ALL
        .iter()
        .find_map(|k| k.field(label))
        .map(|f| f.list)
}

/// A document that could not be read: names the file, the field when there
/// is one, and the problem, on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocError {
    pub file: String,
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for DocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{}: field `{}`: {}", self.file, field, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for DocError {}

fn err(file: &str, field: Option<&str>, message: impl Into<String>) -> DocError {
    DocError {
        file: file.to_string(),
        field: field.map(str::to_string),
        message: message.into(),
    }
}

/// A control character (a newline above all) in an imported value would
/// start a new markdown line, i.e. smuggle a field into the document.
fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// `text` with each control character replaced by a space: for values the
/// runtime itself puts into a document (an agent's notes), which must not
/// break the document's lines either.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn control_message(text: &str) -> String {
    let c = text.chars().find(|c| c.is_control()).unwrap_or('\0');
    format!(
        "contains the control character U+{:04X}; a value must be one line of text",
        c as u32
    )
}

/// Lineage of a work item: where it came from. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lineage {
    pub root_idea_id: Option<String>,
    pub root_spec_id: Option<String>,
    pub spec_id: Option<String>,
    pub parent_task_id: Option<String>,
    pub parent_spec_id: Option<String>,
    pub incident_id: Option<String>,
    pub source_id: Option<String>,
    pub source_task_id: Option<String>,
    pub source_spec_id: Option<String>,
}

/// One parsed, validated work document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkDocument {
    kind: DocKind,
    title: String,
    scalars: BTreeMap<&'static str, String>,
    lists: BTreeMap<&'static str, Vec<String>>,
    body: String,
    /// The exact text this document was parsed from, while unmodified.
    original: Option<String>,
}

fn field_line(line: &str) -> Option<(&str, &str)> {
    let (label, value) = line.split_once(':')?;
    let mut chars = label.chars();
    let first = chars.next()?;
    if !first.is_ascii_alphabetic() || !chars.all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return None;
    }
    Some((label, value.trim()))
}

fn list_item(line: &str) -> Option<&str> {
    let rest = line.strip_prefix('-')?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let value = rest.trim();
    (!value.is_empty()).then_some(value)
}

fn is_relationship_placeholder(label: &str, item: &str) -> bool {
    matches!(label, "Depends-On" | "Blocks")
        && matches!(item.trim().to_lowercase().as_str(), "none" | "n/a" | "-")
}

impl WorkDocument {
    /// Parse markdown as a document of the expected `kind`. `file` names the
    /// source in error messages.
    pub fn parse_as(kind: DocKind, raw: &str, file: &str) -> Result<WorkDocument, DocError> {
        let mut doc = parse_fields(raw, file, Some(kind))?;
        doc.kind = kind;
        doc.validate(file)?;
        doc.original = Some(raw.to_string());
        Ok(doc)
    }

    /// Parse markdown and infer the kind from its identifier field.
    pub fn parse(raw: &str, file: &str) -> Result<WorkDocument, DocError> {
        let probe = parse_fields(raw, file, None)?;
        let kind = [
            DocKind::Task,
            DocKind::LearningRequest,
            DocKind::Incident,
            DocKind::Spec,
        ]
        .into_iter()
        .find(|k| probe.scalars.contains_key(k.id_label()))
        .ok_or_else(|| {
            err(
                file,
                None,
                "no document identifier (Task-ID, Spec-ID, Incident-ID or Learning-Request-ID)",
            )
        })?;
        WorkDocument::parse_as(kind, raw, file)
    }

    /// Build a document from the reference's JSON import shape (snake_case
    /// field names, lists as arrays).
    pub fn from_json(kind: DocKind, raw: &str, file: &str) -> Result<WorkDocument, DocError> {
        let value = super::strict_json::parse(raw)
            .map_err(|e| err(file, None, format!("invalid JSON: {e}")))?;
        let object = value
            .as_object()
            .ok_or_else(|| err(file, None, "a JSON import must be an object"))?;
        let mut doc = WorkDocument {
            kind,
            title: String::new(),
            scalars: BTreeMap::new(),
            lists: BTreeMap::new(),
            body: String::new(),
            original: None,
        };
        for (key, value) in object {
            match key.as_str() {
                "schema_version" => {
                    if value.as_str() != Some("1.0") {
                        return Err(err(file, Some(key), "schema_version must be \"1.0\""));
                    }
                    continue;
                }
                "kind" => {
                    if value.as_str() != Some(kind.tag()) {
                        return Err(err(
                            file,
                            Some(key),
                            format!("kind must be \"{}\"", kind.tag()),
                        ));
                    }
                    continue;
                }
                _ => {}
            }
            let field = kind
                .schema()
                .iter()
                .find(|f| f.json == key)
                .ok_or_else(|| err(file, Some(key), format!("not a field of a {kind}")))?;
            if value.is_null() {
                continue;
            }
            if field.list {
                let items = value
                    .as_array()
                    .and_then(|a| {
                        a.iter()
                            .map(|v| v.as_str().map(str::to_string))
                            .collect::<Option<Vec<_>>>()
                    })
                    .ok_or_else(|| err(file, Some(key), "must be a list of strings"))?;
                if let Some(item) = items.iter().find(|i| has_control(i)) {
                    return Err(err(file, Some(key), control_message(item)));
                }
                // Like the reference, JSON imports keep placeholders verbatim.
                doc.lists.insert(field.label, items);
            } else {
                let text = match (field.check, value) {
                    (Check::Bool, serde_json::Value::Bool(b)) => b.to_string(),
                    (Check::JsonObject, serde_json::Value::Object(map)) => {
                        serde_json::to_string(map).unwrap_or_default()
                    }
                    (Check::DateTime, serde_json::Value::String(t)) => normalize_utc(t),
                    (_, serde_json::Value::String(t)) => t.clone(),
                    _ => return Err(err(file, Some(key), "has the wrong JSON type")),
                };
                if has_control(&text) {
                    return Err(err(file, Some(key), control_message(&text)));
                }
                if field.label == "Title" {
                    doc.title = text.trim().to_string();
                }
                doc.scalars.insert(field.label, text);
            }
        }
        if doc.title.is_empty() {
            return Err(err(file, Some("title"), "is required"));
        }
        // Errors of an import name its JSON keys, not the markdown labels.
        doc.validate(file).map_err(|mut e| {
            if let Some(f) = e.field.as_deref().and_then(|l| kind.field(l)) {
                e.field = Some(f.json.to_string());
                if f.list {
                    // No markdown `- item` syntax in a JSON import's error.
                    e.message = "must be a list of at least one string".into();
                }
            }
            e
        })?;
        Ok(doc)
    }

    /// The reference's JSON shape of this document (what `from_json`
    /// reads): `schema_version`, `kind`, then each present field by its
    /// snake_case name. The body is not part of it.
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        map.insert("schema_version".into(), "1.0".into());
        map.insert("kind".into(), self.kind.tag().into());
        for field in self.kind.schema() {
            if field.list {
                if let Some(items) = self.lists.get(field.label).filter(|l| !l.is_empty()) {
                    map.insert(field.json.into(), items.clone().into());
                }
                continue;
            }
            let Some(value) = self.scalars.get(field.label) else {
                continue;
            };
            let json = match field.check {
                Check::Bool => serde_json::Value::Bool(matches!(
                    value.to_lowercase().as_str(),
                    "true" | "yes" | "1" | "on"
                )),
                Check::JsonObject => serde_json::from_str(value).unwrap_or_default(),
                _ => value.clone().into(),
            };
            map.insert(field.json.into(), json);
        }
        serde_json::Value::Object(map)
    }

    fn validate(&self, file: &str) -> Result<(), DocError> {
        for field in self.kind.schema() {
            if field.list {
                let empty = self.lists.get(field.label).is_none_or(Vec::is_empty);
                if field.required && empty {
                    return Err(err(file, Some(field.label), "needs at least one `- item`"));
                }
                continue;
            }
            let Some(value) = self.scalars.get(field.label) else {
                if field.required {
                    return Err(err(file, Some(field.label), "is required"));
                }
                continue;
            };
            let problem = match field.check {
                Check::Text => None,
                Check::Id => ids::validate_id(value).err().map(|e| e.reason.to_string()),
                Check::DateTime => (!clock::is_datetime(value))
                    .then(|| format!("{value:?} is not an ISO 8601 date-time")),
                Check::Bool => (!matches!(
                    value.to_lowercase().as_str(),
                    "true" | "false" | "yes" | "no" | "1" | "0" | "on" | "off"
                ))
                .then(|| format!("{value:?} is not true or false")),
                Check::JsonObject => (!serde_json::from_str::<serde_json::Value>(value)
                    .is_ok_and(|v| v.is_object()))
                .then(|| "must be a JSON object".to_string()),
                Check::OneOf(allowed) => (!allowed.contains(&value.as_str()))
                    .then(|| format!("{value:?} is not one of {}", allowed.join(", "))),
            };
            if let Some(problem) = problem {
                return Err(err(file, Some(field.label), problem));
            }
        }
        if self.kind == DocKind::Incident {
            let stage = self.scalar("Source-Stage").unwrap_or_default();
            let plane = self.scalar("Source-Plane").unwrap_or_default();
            if stage_plane(stage).is_some_and(|p| p != plane) {
                return Err(err(
                    file,
                    Some("Source-Stage"),
                    format!("stage {stage:?} does not belong to plane {plane:?}"),
                ));
            }
        }
        Ok(())
    }

    pub fn kind(&self) -> DocKind {
        self.kind
    }

    /// The document's identifier (its file is `<id>.md`).
    pub fn id(&self) -> &str {
        self.scalars
            .get(self.kind.id_label())
            .map(String::as_str)
            .unwrap_or_default()
    }

    pub fn title(&self) -> &str {
        &self.title
    }

    /// Free-form text after the fields (without surrounding blank lines).
    pub fn body(&self) -> &str {
        &self.body
    }

    /// A scalar field by label, e.g. `scalar("Root-Spec-ID")`.
    pub fn scalar(&self, label: &str) -> Option<&str> {
        self.scalars.get(label).map(String::as_str)
    }

    /// A list field by label; empty when absent.
    pub fn list(&self, label: &str) -> &[String] {
        self.lists.get(label).map(Vec::as_slice).unwrap_or_default()
    }

    /// Set a scalar of this kind's schema (`None` removes it). The document
    /// is then rendered canonically.
    pub fn set_scalar(&mut self, label: &str, value: Option<&str>) -> Result<(), DocError> {
        let field = self.kind.field(label).filter(|f| !f.list).ok_or_else(|| {
            err(
                "<memory>",
                Some(label),
                format!("not a scalar field of a {}", self.kind),
            )
        })?;
        let before = self.clone();
        match value {
            Some(v) => {
                self.scalars.insert(field.label, v.to_string());
            }
            None => {
                self.scalars.remove(field.label);
            }
        }
        if field.label == "Title" {
            if let Some(v) = value {
                self.title = v.to_string();
            }
        }
        if let Err(e) = self.validate("<memory>") {
            *self = before;
            return Err(e);
        }
        self.original = None;
        Ok(())
    }

    /// The lineage fields present in this document.
    pub fn lineage(&self) -> Lineage {
        let get = |label: &str| self.scalar(label).map(str::to_string);
        Lineage {
            root_idea_id: get("Root-Idea-ID"),
            root_spec_id: get("Root-Spec-ID"),
            spec_id: if self.kind == DocKind::Spec {
                None
            } else {
                get("Spec-ID")
            },
            parent_task_id: get("Parent-Task-ID"),
            parent_spec_id: get("Parent-Spec-ID"),
            incident_id: if self.kind == DocKind::Incident {
                None
            } else {
                get("Incident-ID")
            },
            source_id: get("Source-ID"),
            source_task_id: get("Source-Task-ID"),
            source_spec_id: get("Source-Spec-ID"),
        }
    }

    /// The markdown to write: the original text when unmodified, else the
    /// reference's canonical rendering.
    pub fn to_markdown(&self) -> String {
        match &self.original {
            Some(text) => text.clone(),
            None => self.render_canonical(),
        }
    }

    /// The reference's canonical rendering: `# title`, blank line, scalars in
    /// schema order (defaults omitted), each list after a blank line, body.
    pub fn render_canonical(&self) -> String {
        let mut out = format!("# {}\n\n", self.title);
        for field in self.kind.schema().iter().filter(|f| !f.list) {
            let Some(value) = self.scalars.get(field.label) else {
                continue;
            };
            let value = match field.check {
                Check::Bool => bool_text(value).to_string(),
                Check::JsonObject => canonical_json_object(value),
                _ => value.clone(),
            };
            let default = match field.label {
                "Summary" => value.is_empty(),
                "Trigger-Metadata" => value == "{}",
                "Severity" => value == "medium",
                "Needs-Planning" => value == "true",
                _ => false,
            };
            if !default {
                out.push_str(&format!("{}: {}\n", field.label, value));
            }
        }
        for field in self.kind.schema().iter().filter(|f| f.list) {
            let items = self.list(field.label);
            if items.is_empty() {
                continue;
            }
            out.push_str(&format!("\n{}:\n", field.label));
            for item in items {
                out.push_str(&format!("- {item}\n"));
            }
        }
        if !self.body.is_empty() {
            out.push('\n');
            out.push_str(&self.body);
        }
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        out.push('\n');
        out
    }
}

fn bool_text(value: &str) -> &'static str {
    if matches!(value.to_lowercase().as_str(), "true" | "yes" | "1" | "on") {
        "true"
    } else {
        "false"
    }
}

fn canonical_json_object(value: &str) -> String {
    // serde_json's default map is sorted, which gives the reference's sort_keys form.
    serde_json::from_str::<serde_json::Value>(value)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| value.to_string())
}

fn normalize_utc(t: &str) -> String {
    match t.strip_suffix("+00:00") {
        Some(prefix) => format!("{prefix}Z"),
        None => t.to_string(),
    }
}

/// The plane a stage belongs to.
pub fn stage_plane(stage: &str) -> Option<&'static str> {
    match stage {
        "builder" | "checker" | "fixer" | "doublechecker" | "updater" | "troubleshooter"
        | "consultant" => Some("execution"),
        "planner" | "manager" | "mechanic" | "auditor" | "arbiter" => Some("planning"),
        "analyst" | "professor" | "curator" => Some("learning"),
        _ => None,
    }
}

/// Read the title and fields following the reference's parsing rules.
/// With `kind`, labels of other kinds are refused (the reference forbids
/// extra fields).
fn parse_fields(raw: &str, file: &str, kind: Option<DocKind>) -> Result<WorkDocument, DocError> {
    let lines: Vec<&str> = raw.lines().collect();
    let first = lines
        .first()
        .ok_or_else(|| err(file, None, "the document is empty"))?
        .trim();
    let title = first
        .strip_prefix('#')
        .filter(|rest| rest.starts_with(char::is_whitespace))
        .map(str::trim)
        .ok_or_else(|| {
            err(
                file,
                None,
                "the first line must be a markdown H1 title (`# Title`)",
            )
        })?;
    if title.is_empty() {
        return Err(err(file, None, "the H1 title is empty"));
    }
    let mut doc = WorkDocument {
        kind: kind.unwrap_or(DocKind::Task),
        title: title.to_string(),
        scalars: BTreeMap::new(),
        lists: BTreeMap::new(),
        body: String::new(),
        original: None,
    };
    // Index just past the last line that belonged to a field block.
    let mut fields_end = 1;
    let mut i = 1;
    while i < lines.len() {
        let line = lines[i].trim();
        i += 1;
        let Some((label, inline)) = (!line.is_empty()).then(|| field_line(line)).flatten() else {
            continue;
        };
        let Some(is_list) = known_label(label) else {
            // Unknown label: skip it and every line up to the next field line.
            while i < lines.len() && field_line(lines[i].trim()).is_none() {
                i += 1;
            }
            fields_end = i;
            continue;
        };
        let field = match kind {
            Some(k) => k
                .field(label)
                .ok_or_else(|| err(file, Some(label), format!("is not a field of a {k}")))?,
            None => DocKind::ALL
                .iter()
                .find_map(|k| k.field(label))
                .expect("known label"),
        };
        let field_label = field.label;
        if doc.scalars.contains_key(field_label) || doc.lists.contains_key(field_label) {
            return Err(err(file, Some(label), "appears twice"));
        }
        fields_end = i;
        if !inline.is_empty() {
            if is_list {
                let items = vec![inline.to_string()];
                let items = items
                    .into_iter()
                    .filter(|x| !is_relationship_placeholder(field_label, x))
                    .collect();
                doc.lists.insert(field_label, items);
            } else {
                doc.scalars.insert(field_label, inline.to_string());
            }
            continue;
        }
        if !is_list {
            // An empty scalar is absent; a list item under it is an error.
            let mut j = i;
            while j < lines.len() && lines[j].trim().is_empty() {
                j += 1;
            }
            if j < lines.len() {
                let next = lines[j].trim();
                if field_line(next).is_none() && list_item(next).is_some() {
                    return Err(err(
                        file,
                        Some(label),
                        "is a scalar but has a list item under it",
                    ));
                }
            }
            continue;
        }
        let mut items = Vec::new();
        while i < lines.len() {
            let next = lines[i].trim();
            if next.is_empty() {
                i += 1;
                if !items.is_empty() {
                    break;
                }
                continue;
            }
            if field_line(next).is_some() {
                break;
            }
            let item = list_item(next).ok_or_else(|| {
                err(
                    file,
                    Some(label),
                    format!("invalid list item {next:?} (expected `- item`)"),
                )
            })?;
            items.push(item.to_string());
            i += 1;
            fields_end = i;
        }
        items.retain(|x| !is_relationship_placeholder(field_label, x));
        doc.lists.insert(field_label, items);
    }
    if let Some(t) = doc.scalars.get("Title") {
        if t.trim() != doc.title {
            return Err(err(file, Some("Title"), "must match the H1 title"));
        }
    }
    doc.body = lines
        .get(fields_end..)
        .unwrap_or_default()
        .join("\n")
        .trim()
        .to_string();
    Ok(doc)
}

/// An idea: free-form markdown staged in `<workspace>/ideas/inbox/<id>.md`.
/// Only its H1 title is required; the file stem is its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdeaDocument {
    pub id: String,
    pub title: String,
    pub markdown: String,
}

impl IdeaDocument {
    /// Check an idea file (`file_name` must be `<safe-id>.md`).
    pub fn parse(file_name: &str, markdown: &str) -> Result<IdeaDocument, DocError> {
        let stem = file_name
            .strip_suffix(".md")
            .ok_or_else(|| err(file_name, None, "an idea file name must end with .md"))?;
        ids::validate_id(stem).map_err(|e| err(file_name, None, e.to_string()))?;
        if markdown.trim().is_empty() {
            return Err(err(file_name, None, "the idea is empty"));
        }
        let first = markdown
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .trim();
        let title = first
            .strip_prefix("# ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                err(
                    file_name,
                    None,
                    "an idea must start with a markdown H1 title",
                )
            })?;
        Ok(IdeaDocument {
            id: stem.to_string(),
            title: title.to_string(),
            markdown: markdown.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TASK_MD: &str = "# Do it\n\nTask-ID: t-1\nTitle: Do it\nCreated-At: 2026-03-01T12:30:00Z\nCreated-By: me\n\nTarget-Paths:\n- a\n\nAcceptance:\n- b\n\nRequired-Checks:\n- c\n\nReferences:\n- d\n\nRisk:\n- e\n";

    #[test]
    fn canonical_task_round_trips() {
        let doc = WorkDocument::parse_as(DocKind::Task, TASK_MD, "t-1.md").unwrap();
        assert_eq!(doc.id(), "t-1");
        assert_eq!(doc.list("Risk"), ["e"]);
        assert_eq!(doc.render_canonical(), TASK_MD);
    }

    #[test]
    fn json_shape_round_trips() {
        let doc = WorkDocument::parse_as(DocKind::Task, TASK_MD, "t-1.md").unwrap();
        let json = doc.to_json().to_string();
        let back = WorkDocument::from_json(DocKind::Task, &json, "t.json").unwrap();
        assert_eq!(back.render_canonical(), TASK_MD);
    }

    #[test]
    fn hand_written_layout_is_kept_until_modified() {
        let raw = "#   Do it  \nTask-ID:   t-1\nCreated-At: 2026-03-01T12:30:00Z\nCreated-By: me\nOwner: bob\nTarget-Paths: a\nAcceptance:\n  - b\nRequired-Checks:\n- c\nReferences:\n- d\nRisk:\n- e\n";
        let mut doc = WorkDocument::parse(raw, "t-1.md").unwrap();
        assert_eq!(doc.to_markdown(), raw);
        doc.set_scalar("Root-Spec-ID", Some("spec-1")).unwrap();
        assert!(doc.to_markdown().contains("Root-Spec-ID: spec-1\n"));
        assert_eq!(doc.lineage().root_spec_id.as_deref(), Some("spec-1"));
    }

    #[test]
    fn missing_required_field_names_file_and_field() {
        let raw = TASK_MD.replace("Created-By: me\n", "");
        let e = WorkDocument::parse_as(DocKind::Task, &raw, "t-1.md").unwrap_err();
        assert_eq!(e.to_string(), "t-1.md: field `Created-By`: is required");
    }

    #[test]
    fn refuses_bad_shapes() {
        let cases = [
            ("", "empty"),
            ("no title\nTask-ID: x", "H1"),
            (
                &TASK_MD.replace("Task-ID: t-1", "Task-ID: ../x") as &str,
                "Task-ID",
            ),
            (&TASK_MD.replace("Title: Do it", "Title: Other"), "Title"),
            (
                &TASK_MD.replace("Risk:\n- e", "Risk:\n- e\nRisk: f"),
                "twice",
            ),
            (&TASK_MD.replace("- e", "e"), "list item"),
            (
                &TASK_MD.replace("Created-By: me", "Created-By:\n- me"),
                "scalar",
            ),
            (
                &TASK_MD.replace("Created-At: 2026-03-01T12:30:00Z", "Created-At: soon"),
                "date-time",
            ),
            (
                &TASK_MD.replace("Created-By: me", "Created-By: me\nGoals: x"),
                "not a field",
            ),
        ];
        for (raw, needle) in cases {
            let e = WorkDocument::parse_as(DocKind::Task, raw, "f.md")
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("f.md: "), "{e}");
            assert!(e.contains(needle), "{e} should mention {needle}");
        }
    }

    #[test]
    fn relationship_placeholders_are_dropped() {
        let raw = TASK_MD.replace(
            "Target-Paths:",
            "Depends-On:\n- none\n- t-0\n\nTarget-Paths:",
        );
        let doc = WorkDocument::parse_as(DocKind::Task, &raw, "f.md").unwrap();
        assert_eq!(doc.list("Depends-On"), ["t-0"]);
    }

    #[test]
    fn json_import_renders_canonically() {
        let json = r#"{"task_id":"t-1","title":"Do it","target_paths":["a"],"acceptance":["b"],
            "required_checks":["c"],"references":["d"],"risk":["e"],
            "created_at":"2026-03-01T12:30:00+00:00","created_by":"me","kind":"task"}"#;
        let doc = WorkDocument::from_json(DocKind::Task, json, "t.json").unwrap();
        assert_eq!(doc.to_markdown(), TASK_MD);
        let bad = json.replace("\"created_by\":\"me\",", "");
        let e = WorkDocument::from_json(DocKind::Task, &bad, "t.json").unwrap_err();
        assert_eq!(e.to_string(), "t.json: field `created_by`: is required");
        let empty = json.replace("\"target_paths\":[\"a\"]", "\"target_paths\":[]");
        let e = WorkDocument::from_json(DocKind::Task, &empty, "t.json").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.json: field `target_paths`: must be a list of at least one string"
        );
        let extra = json.replace("\"kind\"", "\"colour\"");
        assert!(WorkDocument::from_json(DocKind::Task, &extra, "t.json").is_err());
    }

    #[test]
    fn ideas_need_a_title_and_a_safe_name() {
        assert_eq!(
            IdeaDocument::parse("idea-1.md", "# Faster\n\nbody")
                .unwrap()
                .title,
            "Faster"
        );
        assert!(IdeaDocument::parse("../x.md", "# T").is_err());
        assert!(IdeaDocument::parse("x.txt", "# T").is_err());
        assert!(IdeaDocument::parse("x.md", "no title").is_err());
    }
}
