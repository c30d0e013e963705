//! `millrace lsp`: run the `.mill` language server on stdin/stdout
//! (`src/lsp/`). Exit status: 0 after a clean shutdown, 1 when the
//! connection fails (not a language client on the other end).

use clap::Args;

#[derive(Debug, Args)]
pub struct LspArgs {
    /// Accepted for editors that pass it; stdio is the only transport.
    #[arg(long)]
    pub stdio: bool,
}

pub fn run(_args: LspArgs) -> Result<super::Outcome, super::Error> {
    crate::lsp::serve().map_err(|e| super::Error::Failed(format!("millrace lsp: {e}")))?;
    Ok(super::Outcome::Success)
}
