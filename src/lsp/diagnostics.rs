//! Diagnostics as the author types: the checker's diagnostics for one
//! document (the same codes, messages, help and spans `millrace lint`
//! prints), as `textDocument/publishDiagnostics`.

use super::analysis::Analysis;
use super::documents;
use crate::language::diagnostic::Severity;
use lsp_types::{
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, NumberOrString,
    PublishDiagnosticsParams, Uri,
};

pub fn for_document(a: &Analysis, uri: &Uri, version: Option<i32>) -> PublishDiagnosticsParams {
    let text = a.text();
    let diagnostics = a
        .checked
        .diagnostics
        .iter()
        .filter(|d| d.primary.span.file == a.file)
        .map(|d| {
            let mut message = d.message.clone();
            if !d.primary.message.is_empty() {
                message.push_str(&format!("\n{}", d.primary.message));
            }
            if !d.help.is_empty() {
                message.push_str(&format!("\nhelp: {}", d.help));
            }
            let related: Vec<DiagnosticRelatedInformation> = d
                .secondary
                .iter()
                .filter_map(|l| {
                    Some(DiagnosticRelatedInformation {
                        location: a.location(l.span)?,
                        message: l.message.clone(),
                    })
                })
                .collect();
            Diagnostic {
                range: documents::range_of(text, d.primary.span.start, d.primary.span.end),
                severity: Some(match d.severity {
                    Severity::Error => DiagnosticSeverity::ERROR,
                    Severity::Warning => DiagnosticSeverity::WARNING,
                }),
                code: Some(NumberOrString::String(d.code.as_str().to_string())),
                source: Some("millrace".into()),
                message,
                related_information: (!related.is_empty()).then_some(related),
                ..Diagnostic::default()
            }
        })
        .collect();
    PublishDiagnosticsParams {
        uri: uri.clone(),
        diagnostics,
        version,
    }
}
