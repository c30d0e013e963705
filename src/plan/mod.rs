//! The plan: the IR (`CompiledPlan`), lowering from the checked model,
//! fingerprints, the compile pipeline, persistence with currentness, and the
//! graph exports (text, JSON, DOT, Mermaid) and the reference's
//! `compiled_stage_graph` export.

pub mod error;
pub use error::Error;
pub mod compile;
pub mod config_check;
pub mod fingerprint;
pub mod graph;
pub mod health;
pub mod ir;
pub mod lower;
pub mod persist;
pub mod reference_assets;
pub mod stage_graph_export;
