//! The workspace substrate: everything Millrace keeps under `<workspace>/millrace-agents/`.
//!
//! One concept per file: `layout` (the tree and asset mapping), `ids`
//! (safe identifiers), `atomic` (durable writes), `documents` (the markdown
//! work-document format), `queue` (work items and their state transitions),
//! `state` (snapshot, counters, status markers), `events` (the append-only
//! event log), `lock` (daemon ownership), `mailbox` (control envelopes),
//! `manifest` and `upgrade` (managed files), `doctor` (integrity checks),
//! `config` (`millrace.toml`), `init` (creating a workspace), `clock` (timestamps).

pub mod atomic;
pub mod clock;
pub mod config;
pub mod doctor;
pub mod documents;
pub mod events;
pub mod ids;
pub mod init;
pub mod layout;
pub mod lock;
pub mod mailbox;
pub mod manifest;
pub mod queue;
pub mod safe_fs;
pub mod state;
pub mod upgrade;
