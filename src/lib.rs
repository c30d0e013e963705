//! Millrace: a governed runtime for long-running agent work.
//!
//! The crate reads as the pipeline it implements:
//! `language` (parse, resolve, check `.mill` sources) → `plan` (the frozen IR)
//! → `workspace` (files under `millrace-agents/`) → `runtime` (the interpreter)
//! → `runners` (agent adapters), with `cli` on top. See ARCHITECTURE.md.

#![recursion_limit = "256"]

pub mod assets;
pub mod cli;
pub mod language;
pub mod plan;
pub mod runners;
pub mod runtime;
pub mod web;
pub mod workspace;
