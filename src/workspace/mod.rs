//! The workspace substrate: everything Millrace keeps under `<workspace>/millrace-agents/`.
//!
//! One concept per file: `layout` (the tree and asset mapping), `ids`
//! (safe identifiers), `atomic` (durable writes), `documents` (the markdown
//! work-document format), `queue` (work items and their state transitions),
//! `state` (snapshot, counters, status markers), `events` (the append-only
//! event log), `lock` (daemon ownership), `mailbox` (control envelopes),
//! `manifest` and `upgrade` (managed files), `doctor` (integrity checks),
//! `config` (`millrace.toml`), `init` (creating a workspace), `clock` (timestamps),
//! `flock` (kernel lock guards), `reserve` (unique ids across queue states),
//! `state_lock` (direct control commands vs a daemon), `runs_index` (our
//! index of the run directories), `retention` (pruning old runs), `strict_json`
//! (imports that refuse repeated keys), `skills` (installed skills, the index,
//! export, the remote skills directory), `safe_fs` (file access below the
//! root that follows no link and never blocks on a special file).

pub mod error;
pub use error::{ConfigError, Error};
pub mod atomic;
pub mod clock;
pub mod config;
pub mod doctor;
pub mod documents;
pub mod events;
pub mod flock;
pub mod ids;
pub mod init;
pub mod layout;
pub mod lock;
pub mod mailbox;
pub mod manifest;
pub mod queue;
pub mod reserve;
pub mod retention;
pub mod runs_index;
pub mod safe_fs;
pub mod skills;
pub mod state;
pub mod state_lock;
pub mod strict_json;
pub mod upgrade;
