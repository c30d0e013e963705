//! The runtime: the interpreter that runs a compiled plan over the
//! workspace. `engine` (startup, recovery, the tick), `scheduler` (what runs
//! next), `router` (where an outcome leads, from the IR only), `counters`
//! (per-item threshold counters), `stage_result` and `trace` (the records a
//! stage leaves), `monitor` (the basic line stream), `progress` (stages in
//! flight, an agent's latest event, a failure's reason), `daemon` (the tokio
//! loop, signals, `--max-ticks`), `control` (operator commands, direct or
//! through the mailbox), `closure` (completion behaviour: closure targets
//! judged by the arbiter), `intake` (the ideas inbox turned into specs),
//! `mailbox_intake` (mailbox addressing and work intake), `runner_health`
//! (runners that cannot start: the preflight refusal, put-back and
//! self-pause), `governance` (usage governance: ledger, rules, state),
//! `skill_evidence` (skill revision evidence of learning-mode requests),
//! `subscription_quota` (Codex rate-limit telemetry for governance),
//! `surface` (is a result legal for a node), `simulate` (loops run in memory
//! through the router, for `millrace test`), `scenario` (scenario files and
//! their expectations), `ids`.

pub mod error;
pub use error::Error;
pub mod closure;
pub mod control;
pub mod counters;
pub mod daemon;
pub mod engine;
pub mod governance;
pub mod ids;
pub mod intake;
pub mod lineage_integrity;
pub mod mailbox_intake;
pub mod monitor;
pub mod progress;
pub mod router;
pub mod runner_health;
pub mod scenario;
pub mod scheduler;
pub mod simulate;
pub mod skill_evidence;
pub mod stage_result;
pub mod subscription_quota;
pub mod surface;
pub mod trace;
