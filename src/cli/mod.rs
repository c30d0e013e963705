//! The command line: clap definitions and dispatch to one module per command group.
//!
//! Exit codes follow one rule everywhere: 0 success, 1 the command ran and
//! found problems (lint errors, failed validation), 2 usage or I/O errors.

mod lint;

use clap::{Parser, Subcommand};

/// Millrace: a governed runtime for long-running agent work.
#[derive(Debug, Parser)]
#[command(name = "millrace", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check .mill files and report coded diagnostics.
    Lint(lint::LintArgs),
    /// Print the Millrace version.
    Version,
}

/// Parse the process arguments, run the command, and return the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() { 2 } else { 0 };
            let _ = err.print();
            return code;
        }
    };
    match cli.command {
        Command::Lint(args) => lint::run(args),
        Command::Version => {
            println!("millrace {}", env!("CARGO_PKG_VERSION"));
            0
        }
    }
}
