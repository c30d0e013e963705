//! Coded diagnostics: what the checker reports and how each is rendered.
//!
//! A [`Diagnostic`] carries a stable [`Code`], a primary label on the
//! offending span, secondary labels for other places involved, and a help
//! line. It renders three ways: miette's graphical report for people,
//! JSON for tools, and GitHub workflow annotations for CI.

use super::source::{SourceSet, Span};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};
use serde::Serialize;
use std::fmt;

macro_rules! codes {
    ($($variant:ident => $text:literal, $summary:literal;)*) => {
        /// Every diagnostic code the language can report. The string form is
        /// stable: CI configurations and docs refer to it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $($variant,)* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $text,)* }
            }

            /// One line saying what the code means (for `--explain` style listings).
            pub fn summary(self) -> &'static str {
                match self { $(Code::$variant => $summary,)* }
            }
        }
    };
}

codes! {
    Syntax => "mill::syntax", "the text does not follow the grammar";
    Io => "mill::io", "an imported file could not be read (a directory, device or pipe, over 1 MiB, not UTF-8)";
    UnresolvedImport => "mill::unresolved-import", "an import names a file that does not exist";
    ImportNotMill => "mill::import-not-mill", "an import names something other than a .mill file";
    DuplicateDeclaration => "mill::duplicate-declaration", "a name is declared twice";
    DuplicateField => "mill::duplicate-field", "a field is given twice in one block";
    MissingField => "mill::missing-field", "a required field is absent";
    UnknownPlane => "mill::unknown-plane", "a plane other than execution, planning or learning";
    UnknownStage => "mill::unknown-stage", "a stage kind that is not declared";
    UnknownLoop => "mill::unknown-loop", "a loop that is not declared";
    UnknownMode => "mill::unknown-mode", "a mode that is not declared";
    UnknownNode => "mill::unknown-node", "a node that the loop does not declare";
    UnknownTerminal => "mill::unknown-terminal", "a terminal state that the loop does not declare";
    UnknownOutcome => "mill::unknown-outcome", "an outcome the stage kind cannot return";
    UnknownResultClass => "mill::unknown-result-class", "a result class outside the fixed set";
    UnknownRunner => "mill::unknown-runner", "a runner other than codex_cli, pi_rpc, claude_code, command or script";
    UnknownCounter => "mill::unknown-counter", "a counter that no threshold of the mode's loops declares";
    UnknownEntry => "mill::unknown-entry", "an entry key other than task, spec, incident or learning_request";
    UnknownSetting => "mill::unknown-setting", "a field or setting name the block does not accept";
    InvalidValue => "mill::invalid-value", "a value of the right shape but outside the allowed set";
    DuplicateRoute => "mill::duplicate-route", "two routes or policies for one (node, outcome)";
    ResultClassMismatch => "mill::result-class-mismatch", "a terminal whose class the outcome reaching it does not allow";
    UnroutedOutcome => "mill::unrouted-outcome", "a legal outcome of a node with no route";
    UnreachableNode => "mill::unreachable-node", "a node that no entry or completion target can reach";
    NoTerminalPath => "mill::no-terminal-path", "a node from which no terminal state can be reached";
    UnboundedCycle => "mill::unbounded-cycle", "a cycle that no threshold bounds";
    PlaneMismatch => "mill::plane-mismatch", "a stage kind used in a loop of another plane";
    NotClosure => "mill::not-closure", "completion behaviour targets a stage kind not marked closure";
    StageNotInMode => "mill::stage-not-in-mode", "a mode names a stage outside its loops";
    BadEntrypointPath => "mill::bad-entrypoint-path", "an entrypoint path that is absolute, escapes, is not .md or is outside entrypoints/";
    OverrideNotAllowed => "mill::override-not-allowed", "an override the stage kind does not allow";
    InheritanceCycle => "mill::inheritance-cycle", "modes or aliases that extend each other in a circle";
    MissingLoop => "mill::missing-loop", "a mode without an execution loop, or a loop without an entry";
    UnknownMetadataKey => "mill::unknown-metadata-key", "a resume policy reads a metadata key no stage result carries";
    HandoffWithoutPlanning => "mill::handoff-without-planning", "a terminal hands work to planning in a mode without a planning loop";
    MissingFile => "mill::missing-file", "an entrypoint or skill file that does not exist";
    BadExtension => "mill::bad-extension", "a loop extension that removes what its base lacks or uses `remove` without `extends`";
    MixedOutcomeClasses => "mill::mixed-outcome-classes", "an outcome whose classes mix success with failure";
    LearningWithoutDestination => "mill::learning-without-destination", "a learning trigger that starts the curator without a skill or output path";
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Code {
    pub fn parse(text: &str) -> Option<Code> {
        Code::ALL.iter().copied().find(|c| c.as_str() == text)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub primary: Label,
    pub secondary: Vec<Label>,
    pub help: String,
}

impl Diagnostic {
    pub fn error(code: Code, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            primary: Label {
                span,
                message: String::new(),
            },
            secondary: Vec::new(),
            help: String::new(),
        }
    }

    pub fn warning(code: Code, span: Span, message: impl Into<String>) -> Self {
        let mut d = Diagnostic::error(code, span, message);
        d.severity = Severity::Warning;
        d
    }

    /// The text on the primary label.
    pub fn label(mut self, text: impl Into<String>) -> Self {
        self.primary.message = text.into();
        self
    }

    /// Another place involved (the earlier duplicate, the stage kind that lacks the outcome).
    pub fn with(mut self, span: Span, text: impl Into<String>) -> Self {
        self.secondary.push(Label {
            span,
            message: text.into(),
        });
        self
    }

    pub fn help(mut self, text: impl Into<String>) -> Self {
        self.help = text.into();
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Sort diagnostics by file, then position, so each file's are in source order.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| {
        (a.primary.span.file, a.primary.span.start, a.code).cmp(&(
            b.primary.span.file,
            b.primary.span.start,
            b.code,
        ))
    });
}

// ---------------------------------------------------------------- human rendering

/// Adapter that lets miette draw one of our diagnostics.
struct Rendered<'a> {
    diag: &'a Diagnostic,
    source: NamedSource<String>,
    labels: Vec<LabeledSpan>,
    related: Vec<Related<'a>>,
}

/// A secondary label that lives in another file: drawn as a related note.
struct Related<'a> {
    label: &'a Label,
    source: NamedSource<String>,
}

impl fmt::Debug for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}
impl fmt::Display for Rendered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}
impl std::error::Error for Rendered<'_> {}

impl fmt::Debug for Related<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label.message)
    }
}
impl fmt::Display for Related<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label.message)
    }
}
impl std::error::Error for Related<'_> {}

impl miette::Diagnostic for Related<'_> {
    fn severity(&self) -> Option<miette::Severity> {
        Some(miette::Severity::Advice)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.label.span;
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            Some("here".to_string()),
            span.start..span.end,
        ))))
    }
}

impl miette::Diagnostic for Rendered<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.diag.code.as_str()))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        if self.diag.help.is_empty() {
            None
        } else {
            Some(Box::new(&self.diag.help))
        }
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(
                self.related.iter().map(|r| r as &dyn miette::Diagnostic),
            ))
        }
    }
}

fn named(sources: &SourceSet, file: usize) -> NamedSource<String> {
    let f = sources.get(file);
    NamedSource::new(f.name.clone(), f.text.to_string()).with_language("mill")
}

/// Render one diagnostic as miette's graphical report, without colour.
pub fn render_human(diag: &Diagnostic, sources: &SourceSet, color: bool) -> String {
    let file = diag.primary.span.file;
    let mut labels = vec![LabeledSpan::new_primary_with_span(
        (!diag.primary.message.is_empty()).then(|| diag.primary.message.clone()),
        diag.primary.span.start..diag.primary.span.end,
    )];
    let mut related = Vec::new();
    for l in &diag.secondary {
        if l.span.file == file {
            labels.push(LabeledSpan::new_with_span(
                Some(l.message.clone()),
                l.span.start..l.span.end,
            ));
        } else {
            related.push(Related {
                label: l,
                source: named(sources, l.span.file),
            });
        }
    }
    let rendered = Rendered {
        diag,
        source: named(sources, file),
        labels,
        related,
    };
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let mut out = String::new();
    if handler.render_report(&mut out, &rendered).is_err() {
        out = format!("{}: {}\n", diag.code, diag.message);
    }
    out
}

// ---------------------------------------------------------------- machine rendering

#[derive(Debug, Serialize)]
pub struct JsonLabel {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct JsonDiagnostic {
    pub code: &'static str,
    pub severity: Severity,
    pub message: String,
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub label: String,
    pub help: String,
    pub related: Vec<JsonLabel>,
}

fn json_label(l: &Label, sources: &SourceSet) -> JsonLabel {
    let start = sources.line_col(l.span);
    let end = sources.end_line_col(l.span);
    JsonLabel {
        file: sources.get(l.span.file).name.clone(),
        line: start.line,
        column: start.column,
        end_line: end.line,
        end_column: end.column,
        message: l.message.clone(),
    }
}

pub fn to_json(diag: &Diagnostic, sources: &SourceSet) -> JsonDiagnostic {
    let p = json_label(&diag.primary, sources);
    JsonDiagnostic {
        code: diag.code.as_str(),
        severity: diag.severity,
        message: diag.message.clone(),
        file: p.file,
        line: p.line,
        column: p.column,
        end_line: p.end_line,
        end_column: p.end_column,
        label: p.message,
        help: diag.help.clone(),
        related: diag
            .secondary
            .iter()
            .map(|l| json_label(l, sources))
            .collect(),
    }
}

/// Escape a value for a GitHub workflow command (data or property).
fn gh_escape(text: &str, property: bool) -> String {
    let mut s = text
        .replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A");
    if property {
        s = s.replace(':', "%3A").replace(',', "%2C");
    }
    s
}

/// One `::error file=...,line=...::message` workflow annotation line.
pub fn to_github(diag: &Diagnostic, sources: &SourceSet) -> String {
    let j = to_json(diag, sources);
    let level = match diag.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut message = diag.message.clone();
    if !diag.help.is_empty() {
        message.push_str("\nhelp: ");
        message.push_str(&diag.help);
    }
    format!(
        "::{level} file={},line={},col={},endLine={},endColumn={},title={}::{}",
        gh_escape(&j.file, true),
        j.line,
        j.column,
        j.end_line,
        j.end_column,
        gh_escape(j.code, true),
        gh_escape(&message, false)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::language::source::{Origin, SourceFile};

    #[test]
    fn codes_are_unique_and_parse_back() {
        for c in Code::ALL {
            assert_eq!(Code::parse(c.as_str()), Some(*c));
            assert!(c.as_str().starts_with("mill::"));
            assert!(!c.summary().is_empty());
        }
        let mut names: Vec<_> = Code::ALL.iter().map(|c| c.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Code::ALL.len());
    }

    #[test]
    fn github_annotation_escapes_properties_and_newlines() {
        let mut set = SourceSet::default();
        let f = set.add(SourceFile::new(
            "a,b:c.mill".into(),
            "stage x {}\n".into(),
            Origin::Embedded,
        ));
        let d = Diagnostic::error(Code::MissingField, Span::new(f, 6, 7), "missing plane")
            .help("add `plane execution`");
        let line = to_github(&d, &set);
        assert_eq!(
            line,
            "::error file=a%2Cb%3Ac.mill,line=1,col=7,endLine=1,endColumn=8,title=mill%3A%3Amissing-field::missing plane%0Ahelp: add `plane execution`"
        );
    }
}
