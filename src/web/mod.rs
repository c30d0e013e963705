//! `millrace web`: a read-only dashboard over one or several workspaces.
//!
//! - `server`: routes, the token check, server-sent events;
//! - `snapshot`: the read-only picture of a workspace the page shows;
//! - `watch`: polls the workspace files and signals changes;
//! - `svg`: a plane's compiled graph drawn as SVG with text labels;
//! - `assets`: the embedded HTML, CSS and JavaScript.
//!
//! Architecture invariant: the dashboard never takes the runtime's lock and
//! never writes inside a workspace; it only reads files and metadata.

pub mod assets;
pub mod server;
pub mod snapshot;
pub mod svg;
pub mod watch;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use crate::workspace::layout::Layout;

/// Why the dashboard could not start.
#[derive(Debug)]
pub enum WebError {
    /// `--bind` is not `HOST:PORT`, or the host does not resolve.
    BadAddress(String),
    /// A non-loopback address without `--token`.
    NonLoopbackWithoutToken(SocketAddr),
    /// The address could not be bound.
    Bind(SocketAddr, std::io::Error),
    /// The async runtime could not start.
    Runtime(std::io::Error),
}

impl std::fmt::Display for WebError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WebError::BadAddress(a) => {
                write!(f, "--bind {a:?}: not an address of the form HOST:PORT")
            }
            WebError::NonLoopbackWithoutToken(a) => write!(
                f,
                "refusing to serve on {a}: it is not a loopback address; pass --token <TOKEN> to require a token on every request"
            ),
            WebError::Bind(a, e) => write!(f, "cannot listen on {a}: {e}"),
            WebError::Runtime(e) => write!(f, "cannot start the async runtime: {e}"),
        }
    }
}

/// Resolve `--bind` and apply the loopback rule.
pub fn check_bind(bind: &str, token: Option<&str>) -> Result<SocketAddr, WebError> {
    let addrs: Vec<SocketAddr> = match bind.parse::<SocketAddr>() {
        Ok(a) => vec![a],
        Err(_) => bind
            .to_socket_addrs()
            .map_err(|_| WebError::BadAddress(bind.to_string()))?
            .collect(),
    };
    let first = *addrs
        .first()
        .ok_or_else(|| WebError::BadAddress(bind.to_string()))?;
    if token.is_none() {
        if let Some(open) = addrs.iter().find(|a| !a.ip().is_loopback()) {
            return Err(WebError::NonLoopbackWithoutToken(*open));
        }
    }
    Ok(first)
}

/// Serve until interrupted. `on_listening` receives the bound address
/// (the port is chosen by the system when `addr` has port 0).
pub fn serve(
    layouts: Vec<Layout>,
    addr: SocketAddr,
    token: Option<String>,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<(), WebError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(WebError::Runtime)?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| WebError::Bind(addr, e))?;
        let bound = listener.local_addr().map_err(|e| WebError::Bind(addr, e))?;
        let (tx, rx) = tokio::sync::watch::channel(0u64);
        tokio::spawn(watch::poll(layouts.clone(), tx));
        let state = Arc::new(server::AppState {
            layouts: Arc::new(layouts),
            token,
            changes: rx,
        });
        on_listening(bound);
        let app = server::router(state);
        // Open event streams never end by themselves: on a signal, stop at
        // once rather than wait for them.
        tokio::select! {
            r = axum::serve(listener, app) => r.map_err(|e| WebError::Bind(bound, e)),
            _ = shutdown_signal() => Ok(()),
        }
    })
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_binds_need_no_token_and_others_do() {
        assert!(check_bind("127.0.0.1:0", None).is_ok());
        assert!(check_bind("[::1]:8080", None).is_ok());
        assert!(matches!(
            check_bind("0.0.0.0:8080", None),
            Err(WebError::NonLoopbackWithoutToken(_))
        ));
        assert!(check_bind("0.0.0.0:8080", Some("t")).is_ok());
        assert!(matches!(
            check_bind("no port", None),
            Err(WebError::BadAddress(_))
        ));
    }
}
