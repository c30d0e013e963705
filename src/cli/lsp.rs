//! `millrace lsp`: run the `.mill` language server on stdin/stdout
//! (`src/lsp/`). Exit status: 0 after a clean shutdown, 2 when the
//! connection fails (not a language client on the other end).

use clap::Args;

#[derive(Debug, Args)]
pub struct LspArgs {
    /// Accepted for editors that pass it; stdio is the only transport.
    #[arg(long)]
    pub stdio: bool,
}

pub fn run(_args: LspArgs) -> i32 {
    match crate::lsp::serve() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: millrace lsp: {e}");
            2
        }
    }
}
