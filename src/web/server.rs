//! The HTTP server: routes, the token check, and the SSE stream.
//!
//! - `GET /`: the landing page (Detail summary and Flow graph together);
//!   `/detail` and `/flow` show one view each.
//! - `GET /assets/app.js`, `/assets/app.css`: the embedded assets.
//! - `GET /api/state`: every workspace's snapshot (`snapshot::Overview`).
//! - `GET /api/workspaces/{index}/runs/{run}`: one run's trace.
//! - `GET /events`: server-sent events, one `state` event (the overview) on
//!   connect and after every change the watcher sees.
//!
//! With a token, every request must carry it (`Authorization: Bearer T`,
//! `X-Millrace-Token: T`, or `?token=T`), else 401.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::Stream;
use tokio::sync::watch;

use super::{assets, snapshot};
use crate::workspace::layout::Layout;

pub struct AppState {
    pub layouts: Arc<Vec<Layout>>,
    pub token: Option<String>,
    pub changes: watch::Receiver<u64>,
}

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(|| async { page("both") }))
        .route("/detail", get(|| async { page("detail") }))
        .route("/flow", get(|| async { page("flow") }))
        .route(
            "/assets/app.js",
            get(|| async { asset(assets::APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/assets/app.css",
            get(|| async { asset(assets::APP_CSS, "text/css; charset=utf-8") }),
        )
        .route("/api/state", get(api_state))
        .route("/api/workspaces/{index}/runs/{run}", get(api_trace))
        .route("/events", get(events))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .with_state(state)
}

fn page(view: &str) -> Response {
    let html = assets::INDEX_HTML.replace("data-view=\"both\"", &format!("data-view=\"{view}\""));
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Compare without an early exit on the first differing byte.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn query_token(query: Option<&str>) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == "token").then(|| v.to_string())
    })
}

fn header_token(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers
        .get("x-millrace-token")
        .and_then(|v| v.to_str().ok())
    {
        return Some(v.to_string());
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    auth.strip_prefix("Bearer ").map(str::to_string)
}

async fn require_token(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if let Some(expected) = &state.token {
        let given = header_token(req.headers()).or_else(|| query_token(req.uri().query()));
        if !given.is_some_and(|g| same(&g, expected)) {
            return (
                StatusCode::UNAUTHORIZED,
                "a token is required: send `Authorization: Bearer <token>` or `?token=<token>`\n",
            )
                .into_response();
        }
    }
    next.run(req).await
}

/// Every workspace's snapshot, read off the async threads. `None` only if
/// reading panicked (a bug): the request then fails alone.
async fn overview(state: &AppState) -> Option<snapshot::Overview> {
    let layouts = state.layouts.clone();
    let version = *state.changes.borrow();
    tokio::task::spawn_blocking(move || snapshot::overview(&layouts, version))
        .await
        .ok()
}

async fn api_state(State(state): State<Arc<AppState>>) -> Response {
    match overview(&state).await {
        Some(doc) => Json(doc).into_response(),
        None => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error: reading the workspaces failed\n",
        )
            .into_response(),
    }
}

async fn api_trace(
    State(state): State<Arc<AppState>>,
    Path((index, run)): Path<(usize, String)>,
) -> Response {
    let Some(layout) = state.layouts.get(index).cloned() else {
        return (StatusCode::NOT_FOUND, "no such workspace\n").into_response();
    };
    let found = tokio::task::spawn_blocking(move || snapshot::run_trace(&layout, &run))
        .await
        .ok()
        .flatten();
    match found {
        Some(trace) => Json(trace).into_response(),
        None => (StatusCode::NOT_FOUND, "run not found\n").into_response(),
    }
}

async fn events(
    State(state): State<Arc<AppState>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.changes.clone();
    let stream =
        futures_util::stream::unfold((state, rx, true), |(state, mut rx, first)| async move {
            if !first && rx.changed().await.is_err() {
                return None;
            }
            rx.borrow_and_update();
            let doc = overview(&state).await?;
            let data = serde_json::to_string(&doc).ok()?;
            let event = Event::default()
                .event("state")
                .id(doc.version.to_string())
                .data(data);
            Some((Ok(event), (state, rx, false)))
        });
    Sse::new(stream).keep_alive(KeepAlive::default())
}
