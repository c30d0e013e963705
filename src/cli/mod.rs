//! The command line: clap definitions and dispatch to one module per command group.
//!
//! Every command returns `Result<Outcome, Error>` (`error.rs`); `main` turns
//! it into the exit code with the one table in `error::exit_code` (0 success,
//! 1 could not do it or found problems, 2 usage, 3 busy, 4 `run` blocked,
//! 5 `run` paused for its environment, 130 interrupted; `docs/exit-codes.md`)
//! and prints a failure once (`error::report`, JSON with `--json`).

mod authoring;
mod compile;
mod config;
mod control;
mod demo;
mod doctor;
pub mod error;
mod fmt;
mod init;
mod lint;
mod logging;
mod lsp;
mod modes;
mod queue;
mod repair_lineage;
mod run;
pub(crate) mod runs;
mod skills;
pub(crate) mod status;
mod test;
mod upgrade;
mod web;
mod workspace_arg;

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

pub use error::{exit_code, Error, Outcome};

/// Millrace: a governed runtime for long-running agent work.
#[derive(Debug, Parser)]
#[command(name = "millrace", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log the runtime's internal decisions (claims, locks, recovery, reload,
    /// mailbox, governance) at this level (`error`, `warn`, `info`, `debug`,
    /// `trace`, or a `RUST_LOG`-style filter); `RUST_LOG` does the same.
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Write log lines to this file (appended) instead of standard error.
    #[arg(long, global = true, value_name = "PATH")]
    pub log_file: Option<std::path::PathBuf>,
}

/// `millrace version`.
#[derive(Debug, clap::Args)]
pub struct VersionArgs {
    /// Print JSON (`{"name": .., "version": ..}`).
    #[arg(long)]
    pub json: bool,
}

/// `millrace completions SHELL`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to write the completion script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `millrace man [--out DIR]`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write one page per command (`millrace.1`, `millrace-run-once.1`, ...)
    /// into DIR instead of printing the top-level page.
    #[arg(long, value_name = "DIR")]
    pub out: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check .mill files and report coded diagnostics.
    Lint(lint::LintArgs),
    /// Rewrite .mill files in the canonical layout; `--check` reports instead (exit 1).
    Fmt(fmt::FmtArgs),
    /// Run loops without agents: scenario files, worst-case paths, `--exhaustive`, `--stage` checks.
    Test(test::TestArgs),
    /// Serve the `.mill` language server on stdio (diagnostics, hover, definition, completion, symbols, formatting).
    Lsp(lsp::LspArgs),
    /// Print the Millrace version.
    Version(VersionArgs),
    /// Create (or complete) a workspace; idempotent.
    Init(init::InitArgs),
    /// Compare managed files with the shipped baseline; `--apply` applies safe updates.
    Upgrade(upgrade::UpgradeArgs),
    /// Check the workspace's integrity.
    Doctor(doctor::DoctorArgs),
    /// Show runtime state, queue depths and status markers.
    Status(status::StatusArgs),
    /// Inspect and add work items.
    Queue(queue::QueueArgs),
    /// Queue a task (same as `queue add-task`).
    AddTask(queue::AddTaskArgs),
    /// Queue a spec (same as `queue add-spec`).
    AddSpec(queue::AddSpecArgs),
    /// Stage an idea (same as `queue add-idea`).
    AddIdea(queue::AddArgs),
    /// Print a task or spec skeleton (same as `queue template`).
    Template(authoring::TemplateArgs),
    /// Compile a mode into the frozen plan and inspect it.
    Compile(compile::CompileArgs),
    /// List and show the available modes.
    Modes(modes::ModesArgs),
    /// Show and validate `millrace.toml`.
    Config(config::ConfigArgs),
    /// Run the shipped demo: a fresh workspace, sample work, the `demo` mode on the script runner.
    Demo(demo::DemoArgs),
    /// Run the interpreter: one tick, or as a daemon.
    Run(run::RunArgs),
    /// Inspect runs: list, show, tail, trace, prune.
    Runs(runs::RunsArgs),
    /// Operator control commands (direct, or through a running daemon's mailbox).
    Control(control::ControlArgs),
    /// Same as `control pause`.
    Pause(control::ControlFlags),
    /// Same as `control resume`.
    Resume(control::ControlFlags),
    /// Same as `control stop`.
    Stop(control::ControlFlags),
    /// Same as `control retry-active`.
    RetryActive(control::RetryFlags),
    /// Planning-plane commands: `planning retry-active`.
    Planning(control::PlanningArgs),
    /// Same as `control clear-stale-state`.
    ClearStaleState(control::ReasonFlags),
    /// Same as `control reload-config`.
    ReloadConfig(control::ControlFlags),
    /// Serve a read-only dashboard (Detail and Flow views) over workspaces.
    Web(web::WebArgs),
    /// Skills: list, show, search, install, create, improve, promote, export, refresh-remote-index.
    Skills(skills::SkillsArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write one page per command with `--out DIR`.
    Man(ManArgs),
}

/// Parse the process arguments, run the command, and return the exit code.
pub fn main() -> i32 {
    let matches = match Cli::command().try_get_matches() {
        Ok(m) => m,
        Err(err) if !err.use_stderr() => {
            // `--help` and `--version`.
            let _ = err.print();
            return exit_code(Ok(Outcome::Success));
        }
        Err(err) => {
            let json = std::env::args_os().any(|a| a == "--json");
            return exit_code(Err(&error::report_usage(&err, json)));
        }
    };
    let json = wants_json(&matches);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => return exit_code(Err(&error::report_usage(&err, json))),
    };
    let result = logging::init(cli.log_level.as_deref(), cli.log_file.as_deref())
        .and_then(|()| dispatch(cli.command));
    if let Err(e) = &result {
        error::report(e, json);
    }
    exit_code(result.as_ref().map(|o| *o))
}

/// Whether the command line asked for JSON (`--json` on the command, or
/// `--format json`), so that a failure is reported as JSON too.
fn wants_json(matches: &ArgMatches) -> bool {
    let mut m = matches;
    loop {
        if let Ok(Some(true)) = m.try_get_one::<bool>("json") {
            return true;
        }
        if let Ok(Some(mut values)) = m.try_get_raw("format") {
            if values.any(|v| v == "json") {
                return true;
            }
        }
        match m.subcommand() {
            Some((_, sub)) => m = sub,
            None => return false,
        }
    }
}

fn dispatch(command: Command) -> Result<Outcome, Error> {
    match command {
        Command::Lint(args) => lint::run(args),
        Command::Fmt(args) => fmt::run(args),
        Command::Test(args) => test::run(args),
        Command::Lsp(args) => lsp::run(args),
        Command::Version(args) => {
            if args.json {
                let v =
                    serde_json::json!({"name": "millrace", "version": env!("CARGO_PKG_VERSION")});
                println!("{v}");
            } else {
                println!("millrace {}", env!("CARGO_PKG_VERSION"));
            }
            Ok(Outcome::Success)
        }
        Command::Init(args) => init::run(args),
        Command::Upgrade(args) => upgrade::run(args),
        Command::Doctor(args) => doctor::run(args),
        Command::Status(args) => status::run(args),
        Command::Queue(args) => queue::run(args),
        Command::AddTask(args) => queue::add_task(args),
        Command::AddSpec(args) => queue::add_spec(args),
        Command::AddIdea(args) => queue::add_idea(args),
        Command::Template(args) => authoring::run_template(args),
        Command::Compile(args) => compile::run(args),
        Command::Modes(args) => modes::run(args),
        Command::Config(args) => config::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Run(args) => run::run(args),
        Command::Runs(args) => runs::run(args),
        Command::Skills(args) => skills::run(args),
        Command::Control(args) => control::run(args.command),
        Command::Pause(f) => control::run(control::ControlCommand::Pause(f)),
        Command::Resume(f) => control::run(control::ControlCommand::Resume(f)),
        Command::Stop(f) => control::run(control::ControlCommand::Stop(f)),
        Command::RetryActive(f) => control::run(control::ControlCommand::RetryActive(f)),
        Command::Planning(args) => control::planning(args),
        Command::ClearStaleState(f) => control::run(control::ControlCommand::ClearStaleState(f)),
        Command::ReloadConfig(f) => control::run(control::ControlCommand::ReloadConfig(f)),
        Command::Web(args) => web::run(args),
        Command::Completions(args) => {
            let mut cmd = Cli::command();
            clap_complete::generate(args.shell, &mut cmd, "millrace", &mut std::io::stdout());
            Ok(Outcome::Success)
        }
        Command::Man(args) => man(args),
    }
}

/// `millrace man`: the top-level page on stdout, or every command's page in `--out DIR`.
fn man(args: ManArgs) -> Result<Outcome, Error> {
    let cmd = Cli::command();
    match args.out {
        Some(dir) => {
            std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            clap_mangen::generate_to(cmd, &dir).map_err(|e| Error::io(&dir, e))?;
            println!("man_pages: {}", dir.display());
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .map_err(|e| Error::Failed(format!("cannot render the man page: {e}")))?;
            use std::io::Write;
            std::io::stdout()
                .write_all(&out)
                .map_err(|e| Error::io("<stdout>", e))?;
        }
    }
    Ok(Outcome::Success)
}
