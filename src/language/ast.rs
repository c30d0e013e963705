//! The syntax tree of one `.mill` file, exactly as written, with spans.
//!
//! Nothing here is resolved or checked: names are plain strings with the
//! span of their text. `check` turns a set of these into the typed model.

use super::source::Span;

/// A word from the source (ident, dotted name or marker) and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub span: Span,
}

/// A string literal's unescaped value and the span of the whole literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Str {
    pub value: String,
    pub span: Span,
}

#[derive(Debug, Clone, Default)]
pub struct File {
    pub imports: Vec<Str>,
    pub stages: Vec<StageDecl>,
    pub loops: Vec<LoopDecl>,
    pub modes: Vec<ModeDecl>,
    pub aliases: Vec<AliasDecl>,
}

// ---------------------------------------------------------------- stage kinds

#[derive(Debug, Clone)]
pub struct StageDecl {
    pub name: Word,
    pub fields: Vec<StageField>,
    pub span: Span,
}

/// One field of a stage block; `keyword` spans the field's leading keyword.
#[derive(Debug, Clone)]
pub struct StageField {
    pub keyword: Span,
    pub span: Span,
    pub value: StageValue,
}

#[derive(Debug, Clone)]
pub enum StageValue {
    Plane(Word),
    Display(Str),
    Entrypoint(Str),
    Contract(Str),
    Skill(Str),
    Suggest(Str),
    Running(Word),
    Outcomes(Vec<OutcomeDecl>),
    Consumes(Vec<Word>),
    Emits(Vec<Word>),
    Idempotence(Word),
    Overrides(Vec<Word>),
    Starts(Vec<Word>),
    Recovery(Word),
    Closure,
}

impl StageValue {
    /// The keyword that introduces this field, for messages.
    pub fn keyword(&self) -> &'static str {
        match self {
            StageValue::Plane(_) => "plane",
            StageValue::Display(_) => "display",
            StageValue::Entrypoint(_) => "entrypoint",
            StageValue::Contract(_) => "contract",
            StageValue::Skill(_) => "skill",
            StageValue::Suggest(_) => "suggest",
            StageValue::Running(_) => "running",
            StageValue::Outcomes(_) => "outcomes",
            StageValue::Consumes(_) => "consumes",
            StageValue::Emits(_) => "emits",
            StageValue::Idempotence(_) => "idempotence",
            StageValue::Overrides(_) => "overrides",
            StageValue::Starts(_) => "starts",
            StageValue::Recovery(_) => "recovery",
            StageValue::Closure => "closure",
        }
    }

    /// Fields that may appear more than once (each adds to a list).
    pub fn repeatable(&self) -> bool {
        matches!(self, StageValue::Skill(_) | StageValue::Suggest(_))
    }
}

#[derive(Debug, Clone)]
pub struct OutcomeDecl {
    pub marker: Word,
    pub classes: Vec<Word>,
    pub span: Span,
}

// ---------------------------------------------------------------- loops

#[derive(Debug, Clone)]
pub struct LoopDecl {
    pub name: Word,
    pub plane: Word,
    pub nodes: Vec<NodeSpec>,
    pub entries: Vec<EntryDecl>,
    pub routes: Vec<RouteArm>,
    pub terminals: Vec<TerminalDecl>,
    pub thresholds: Vec<ThresholdDecl>,
    pub resumes: Vec<ResumeDecl>,
    pub completions: Vec<CompletionDecl>,
    /// The loop this one extends (`extends <loop>`), if any.
    pub extends: Option<Word>,
    /// `remove ...` lines of an extending loop.
    pub removals: Vec<Removal>,
    /// `default OUTCOME -> target` lines: routes for every node without its own.
    pub defaults: Vec<DefaultRoute>,
    pub span: Span,
}

/// `default OUTCOME[, OUTCOME] -> target`.
#[derive(Debug, Clone)]
pub struct DefaultRoute {
    pub outcomes: Vec<Word>,
    pub target: Target,
    pub span: Span,
}

/// One `remove` line of a loop that extends another.
#[derive(Debug, Clone)]
pub struct Removal {
    pub what: RemoveWhat,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum RemoveWhat {
    /// `remove route <node> <MARKER>[, <MARKER>]`
    Route(Word, Vec<Word>),
    /// `remove node <node>` (with the routes from it)
    Node(Word),
    /// `remove threshold <id>`
    Threshold(Word),
    /// `remove resume <id>`
    Resume(Word),
}

#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub id: Word,
    /// The stage kind, when it differs from the node id (`fix2: fixer`).
    pub kind: Option<Word>,
}

impl NodeSpec {
    pub fn kind(&self) -> &Word {
        self.kind.as_ref().unwrap_or(&self.id)
    }
}

#[derive(Debug, Clone)]
pub struct EntryDecl {
    pub key: Word,
    pub node: Word,
    pub span: Span,
}

/// One `OUTCOME[, OUTCOME] -> target` arm, with the node it belongs to.
#[derive(Debug, Clone)]
pub struct RouteArm {
    pub from: Word,
    pub outcomes: Vec<Word>,
    pub target: Target,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Node(Word),
    Terminal(Word),
}

impl Target {
    pub fn word(&self) -> &Word {
        match self {
            Target::Node(w) | Target::Terminal(w) => w,
        }
    }
}

#[derive(Debug, Clone)]
pub struct TerminalDecl {
    pub id: Word,
    pub class: Word,
    pub status: Option<Word>,
    pub emits: Vec<Word>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct ThresholdDecl {
    pub id: Word,
    pub counter: Word,
    pub outcome: Word,
    pub sources: Vec<Word>,
    pub after: u32,
    pub after_span: Span,
    pub target: Target,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct ResumeDecl {
    pub id: Word,
    pub from: Word,
    pub outcome: Word,
    pub metadata: Vec<Word>,
    pub default: Option<Word>,
    pub never: Vec<Word>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct CompletionDecl {
    pub settings: Vec<Setting>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct Setting {
    pub key: Word,
    pub value: Value,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum Value {
    Bool(bool, Span),
    Terminal(Word),
    Word(Word),
}

impl Value {
    pub fn span(&self) -> Span {
        match self {
            Value::Bool(_, s) => *s,
            Value::Terminal(w) | Value::Word(w) => w.span,
        }
    }
}

// ---------------------------------------------------------------- modes

#[derive(Debug, Clone)]
pub struct ModeDecl {
    pub name: Word,
    pub extends: Option<Word>,
    pub loops: Vec<(Word, Word)>,
    pub runners: Vec<Word>,
    pub overrides: Vec<StageOverride>,
    pub concurrency: Vec<ConcurrencyRule>,
    pub learn: Vec<LearnRule>,
    pub thresholds: Vec<ThresholdOverride>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct StageOverride {
    pub stage: Word,
    pub fields: Vec<OverrideField>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct OverrideField {
    pub keyword: Span,
    pub value: OverrideValue,
}

#[derive(Debug, Clone)]
pub enum OverrideValue {
    Runner(Word),
    Model(Str),
    Thinking(Word),
    /// Seconds, and the span of the duration literal.
    Timeout(u64, Span),
    Entrypoint(Str),
    Skill(Str),
}

impl OverrideValue {
    pub fn keyword(&self) -> &'static str {
        match self {
            OverrideValue::Runner(_) => "runner",
            OverrideValue::Model(_) => "model",
            OverrideValue::Thinking(_) => "thinking",
            OverrideValue::Timeout(..) => "timeout",
            OverrideValue::Entrypoint(_) => "entrypoint",
            OverrideValue::Skill(_) => "skill",
        }
    }

    /// The reference's name for this override in `allowed_overrides`.
    pub fn override_name(&self) -> &'static str {
        match self {
            OverrideValue::Runner(_) => "runner_name",
            OverrideValue::Model(_) => "model_name",
            OverrideValue::Thinking(_) => "thinking_level",
            OverrideValue::Timeout(..) => "timeout_seconds",
            OverrideValue::Entrypoint(_) => "entrypoint_path",
            OverrideValue::Skill(_) => "attached_skill_additions",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConcurrencyKind {
    Exclusive,
    Concurrent,
}

#[derive(Debug, Clone)]
pub struct ConcurrencyRule {
    pub kind: ConcurrencyKind,
    pub a: Word,
    pub b: Word,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct LearnRule {
    pub id: Word,
    pub source: Word,
    pub outcomes: Vec<Word>,
    pub target: Word,
    pub action: Word,
    /// `skill "id"`: the skill the learning should land in (`target_skill_id`).
    pub skill: Option<Str>,
    /// `outputs "path", ...`: where the learning stage should write (`preferred_output_paths`).
    pub outputs: Vec<Str>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct ThresholdOverride {
    pub counter: Word,
    pub value: u32,
    pub value_span: Span,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct AliasDecl {
    pub name: Word,
    pub target: Word,
    pub span: Span,
}
