//! `millrace lint`: check .mill files (or the shipped ones) and print diagnostics.

use clap::Args;

#[derive(Debug, Args)]
pub struct LintArgs {
    /// Files or directories to check; with none, the shipped stdlib and modes.
    pub paths: Vec<std::path::PathBuf>,
}

pub fn run(_args: LintArgs) -> i32 {
    0
}
