//! `millrace web`: serve the read-only dashboard (`crate::web`) over one or
//! several workspaces. Loopback by default; a non-loopback `--bind` needs
//! `--token` (a usage error, exit 2, otherwise).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::error::{Error, Outcome};
use super::workspace_arg::WorkspaceArg;
use crate::web;

#[derive(Debug, Clone, Args)]
pub struct WebArgs {
    /// Workspace root; repeat to show several.
    #[arg(long = "workspace", value_name = "DIR")]
    pub workspaces: Vec<PathBuf>,
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8787")]
    pub bind: String,
    /// Require this token on every request (header or `?token=`); needed
    /// for a non-loopback `--bind`.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
}

pub fn run(args: WebArgs) -> Result<Outcome, Error> {
    if args.token.as_deref() == Some("") {
        return Err(Error::Usage("--token must not be empty".into()));
    }
    let addr = web::check_bind(&args.bind, args.token.as_deref())
        .map_err(|e| Error::Usage(e.to_string()))?;
    let roots = if args.workspaces.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.workspaces
    };
    let mut layouts = Vec::new();
    for root in roots {
        let l = (WorkspaceArg { workspace: root }).initialized()?;
        if !layouts
            .iter()
            .any(|x: &crate::workspace::layout::Layout| x.root == l.root)
        {
            layouts.push(l)
        }
    }
    let count = layouts.len();
    let result = web::serve(layouts, addr, args.token, |bound| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "millrace web: serving {count} workspace(s) on http://{bound}/ (read-only; Ctrl-C stops)"
        );
        let _ = out.flush();
    });
    result.map_err(|e| Error::Failed(e.to_string()))?;
    Ok(Outcome::Success)
}
