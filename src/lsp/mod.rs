//! `millrace lsp`: a language server for `.mill` over stdio (the
//! `lsp-server` and `lsp-types` crates). This file owns the server loop:
//! the capabilities, request and notification dispatch, and publishing
//! diagnostics when a document opens or changes. One concept per module:
//! `documents` (open texts, URIs, positions), `analysis` (one check of a
//! document, as `lint` runs it), `diagnostics`, `hover`, `definition`,
//! `completion`, `symbols`; formatting goes through `language::format`,
//! the formatter behind `millrace fmt`.

mod analysis;
mod completion;
mod definition;
mod diagnostics;
pub mod documents;
mod hover;
mod symbols;

use documents::Documents;
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, DidSaveTextDocument,
    Notification as _, PublishDiagnostics,
};
use lsp_types::request::{
    Completion, DocumentSymbolRequest, Formatting, GotoDefinition, HoverRequest, Request as _,
};
use lsp_types::{
    CompletionOptions, CompletionParams, CompletionResponse, DocumentFormattingParams,
    DocumentSymbolParams, DocumentSymbolResponse, GotoDefinitionParams, GotoDefinitionResponse,
    Hover, HoverContents, HoverParams, HoverProviderCapability, MarkupContent, MarkupKind, OneOf,
    PublishDiagnosticsParams, ServerCapabilities, TextDocumentSyncCapability, TextDocumentSyncKind,
    TextEdit, Uri,
};
use serde_json::Value;

/// Why the server stopped early.
#[derive(Debug)]
pub enum LspError {
    Protocol(lsp_server::ProtocolError),
    Send(String),
    Io(std::io::Error),
}

impl std::fmt::Display for LspError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LspError::Protocol(e) => write!(f, "protocol error: {e}"),
            LspError::Send(e) => write!(f, "the client went away: {e}"),
            LspError::Io(e) => write!(f, "stdio: {e}"),
        }
    }
}

fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![" ".into(), ">".into()]),
            ..CompletionOptions::default()
        }),
        document_symbol_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        ..ServerCapabilities::default()
    }
}

/// Serve on stdin/stdout until the client shuts the server down.
pub fn serve() -> Result<(), LspError> {
    let (conn, io) = Connection::stdio();
    let caps = serde_json::to_value(capabilities()).unwrap_or(Value::Null);
    conn.initialize(caps).map_err(LspError::Protocol)?;
    let mut docs = Documents::default();
    for msg in &conn.receiver {
        match msg {
            Message::Request(req) => {
                if conn.handle_shutdown(&req).map_err(LspError::Protocol)? {
                    break;
                }
                let resp = handle_request(&docs, req);
                send(&conn, Message::Response(resp))?;
            }
            Message::Notification(n) => {
                if let Some(uri) = handle_notification(&mut docs, n) {
                    publish(&conn, &docs, &uri)?;
                }
            }
            Message::Response(_) => {}
        }
    }
    drop(conn);
    io.join().map_err(LspError::Io)
}

fn send(conn: &Connection, msg: Message) -> Result<(), LspError> {
    conn.sender
        .send(msg)
        .map_err(|e| LspError::Send(e.to_string()))
}

fn publish(conn: &Connection, docs: &Documents, uri: &Uri) -> Result<(), LspError> {
    let params = match analysis::analyze(docs, uri) {
        Some(a) => diagnostics::for_document(&a, uri, None),
        None => PublishDiagnosticsParams {
            uri: uri.clone(),
            diagnostics: vec![],
            version: None,
        },
    };
    let n = Notification::new(PublishDiagnostics::METHOD.to_string(), params);
    send(conn, Message::Notification(n))
}

/// Apply a document notification; the URI whose diagnostics to publish.
fn handle_notification(docs: &mut Documents, n: Notification) -> Option<Uri> {
    match n.method.as_str() {
        DidOpenTextDocument::METHOD => {
            let p: lsp_types::DidOpenTextDocumentParams = serde_json::from_value(n.params).ok()?;
            docs.set(&p.text_document.uri, p.text_document.text);
            Some(p.text_document.uri)
        }
        DidChangeTextDocument::METHOD => {
            let p: lsp_types::DidChangeTextDocumentParams =
                serde_json::from_value(n.params).ok()?;
            // Full sync: the last change is the whole text.
            let text = p.content_changes.into_iter().last()?.text;
            docs.set(&p.text_document.uri, text);
            Some(p.text_document.uri)
        }
        DidSaveTextDocument::METHOD => {
            let p: lsp_types::DidSaveTextDocumentParams = serde_json::from_value(n.params).ok()?;
            Some(p.text_document.uri)
        }
        DidCloseTextDocument::METHOD => {
            let p: lsp_types::DidCloseTextDocumentParams = serde_json::from_value(n.params).ok()?;
            docs.close(&p.text_document.uri);
            None
        }
        _ => None,
    }
}

fn ok<T: serde::Serialize>(id: lsp_server::RequestId, value: T) -> Response {
    Response::new_ok(id, value)
}

fn handle_request(docs: &Documents, req: Request) -> Response {
    let id = req.id.clone();
    let bad = |id, e: serde_json::Error| {
        Response::new_err(id, ErrorCode::InvalidParams as i32, e.to_string())
    };
    match req.method.as_str() {
        HoverRequest::METHOD => {
            let p: HoverParams = match serde_json::from_value(req.params) {
                Ok(p) => p,
                Err(e) => return bad(id, e),
            };
            let pos = p.text_document_position_params;
            let hover = analysis::analyze(docs, &pos.text_document.uri).and_then(|a| {
                let offset = documents::offset_of(a.text(), pos.position);
                hover::hover(&a, offset)
            });
            ok(
                id,
                hover.map(|value| Hover {
                    contents: HoverContents::Markup(MarkupContent {
                        kind: MarkupKind::Markdown,
                        value,
                    }),
                    range: None,
                }),
            )
        }
        GotoDefinition::METHOD => {
            let p: GotoDefinitionParams = match serde_json::from_value(req.params) {
                Ok(p) => p,
                Err(e) => return bad(id, e),
            };
            let pos = p.text_document_position_params;
            let loc = analysis::analyze(docs, &pos.text_document.uri).and_then(|a| {
                let offset = documents::offset_of(a.text(), pos.position);
                definition::definition(&a, offset)
            });
            ok(id, loc.map(GotoDefinitionResponse::Scalar))
        }
        Completion::METHOD => {
            let p: CompletionParams = match serde_json::from_value(req.params) {
                Ok(p) => p,
                Err(e) => return bad(id, e),
            };
            let pos = p.text_document_position;
            let items = analysis::analyze(docs, &pos.text_document.uri)
                .map(|a| {
                    let offset = documents::offset_of(a.text(), pos.position);
                    completion::completion(&a, offset)
                })
                .unwrap_or_default();
            ok(id, CompletionResponse::Array(items))
        }
        DocumentSymbolRequest::METHOD => {
            let p: DocumentSymbolParams = match serde_json::from_value(req.params) {
                Ok(p) => p,
                Err(e) => return bad(id, e),
            };
            let syms = analysis::analyze(docs, &p.text_document.uri)
                .map(|a| symbols::symbols(&a))
                .unwrap_or_default();
            ok(id, DocumentSymbolResponse::Nested(syms))
        }
        Formatting::METHOD => {
            let p: DocumentFormattingParams = match serde_json::from_value(req.params) {
                Ok(p) => p,
                Err(e) => return bad(id, e),
            };
            let Some(text) = docs.get(&p.text_document.uri) else {
                return Response::new_err(
                    id,
                    ErrorCode::InvalidParams as i32,
                    "the document is not open".into(),
                );
            };
            match crate::language::format::format(text) {
                Ok(formatted) if formatted == text => ok(id, Vec::<TextEdit>::new()),
                Ok(formatted) => ok(
                    id,
                    vec![TextEdit {
                        range: documents::range_of(text, 0, text.len()),
                        new_text: formatted,
                    }],
                ),
                Err(d) => Response::new_err(
                    id,
                    ErrorCode::RequestFailed as i32,
                    format!(
                        "not formatted: it does not parse: {}: {}",
                        d.code, d.message
                    ),
                ),
            }
        }
        other => Response::new_err(
            id,
            ErrorCode::MethodNotFound as i32,
            format!("millrace lsp does not handle {other}"),
        ),
    }
}
