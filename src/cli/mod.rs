//! The command line: clap definitions and dispatch to one module per command group.
//!
//! Exit codes follow one rule everywhere: 0 success, 1 the command ran and
//! found problems (lint errors, failed validation), 2 usage or I/O errors.

mod authoring;
mod compile;
mod config;
mod control;
mod demo;
mod doctor;
mod fmt;
mod init;
mod lint;
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
    /// Rewrite .mill files in the canonical layout; `--check` reports instead (exit 1).
    Fmt(fmt::FmtArgs),
    /// Run loops without agents: scenario files, worst-case paths, `--exhaustive`, `--stage` checks.
    Test(test::TestArgs),
    /// Serve the `.mill` language server on stdio (diagnostics, hover, definition, completion, symbols, formatting).
    Lsp(lsp::LspArgs),
    /// Print the Millrace version.
    Version,
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
    /// Inspect runs: list, show, tail, trace.
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
        Command::Fmt(args) => fmt::run(args),
        Command::Test(args) => test::run(args),
        Command::Lsp(args) => lsp::run(args),
        Command::Version => {
            println!("millrace {}", env!("CARGO_PKG_VERSION"));
            0
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
    }
}
