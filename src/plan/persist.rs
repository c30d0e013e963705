//! Persistence and currentness: `state/compiled_plan.json` (the plan, pretty
//! JSON, deterministic), `state/compile_diagnostics.json` (the last compile's
//! outcome, always rewritten), and whether the persisted plan still matches
//! its inputs (`current | stale | missing | unknown`).
//!
//! A failed compile never touches the plan file. The old plan stays usable
//! ("last known good") only while its fingerprint still equals the current
//! inputs; otherwise it is stale and refused as authority.

use super::compile::{self, AssetRoot, CompileOutcome};
use super::fingerprint;
use super::ir::{CompileInput, CompiledPlan};
use crate::workspace::{atomic, clock, layout::Layout, safe_fs};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

pub fn plan_path(l: &Layout) -> PathBuf {
    l.state_dir().join("compiled_plan.json")
}

pub fn diagnostics_path(l: &Layout) -> PathBuf {
    l.state_dir().join("compile_diagnostics.json")
}

/// The bytes a plan is stored as: pretty JSON and a newline.
pub fn plan_bytes(plan: &CompiledPlan) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(plan).expect("plan serializes");
    b.push(b'\n');
    b
}

/// The persisted plan, or `Err` with why it cannot be used (absent, unreadable, invalid).
pub fn load_plan(l: &Layout) -> Result<CompiledPlan, super::Error> {
    let path = plan_path(l);
    let bytes = match safe_fs::read_capped(&path, safe_fs::MAX_STATE_BYTES) {
        Ok(b) => b,
        Err(source) => return Err(super::Error::NoPlan { path, source }),
    };
    serde_json::from_slice(&bytes).map_err(|source| super::Error::NotAPlan { path, source })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompileDiagnostics {
    pub schema_version: String,
    pub kind: String,
    pub ok: bool,
    pub mode_id: String,
    pub used_last_known_good: bool,
    pub compiled_plan_id: Option<String>,
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
    pub emitted_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Currentness {
    Current,
    Stale,
    Missing,
    Unknown,
}

impl std::fmt::Display for Currentness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Currentness::Current => "current",
            Currentness::Stale => "stale",
            Currentness::Missing => "missing",
            Currentness::Unknown => "unknown",
        })
    }
}

/// The persisted plan compared with the inputs as they are now.
#[derive(Debug, Clone)]
pub struct Status {
    pub currentness: Currentness,
    pub plan: Option<CompiledPlan>,
    /// The fingerprint the persisted plan was compiled from.
    pub persisted: Option<CompileInput>,
    /// The fingerprint of the current inputs (mode, config, the plan's assets now).
    pub expected: Option<CompileInput>,
    /// What differs, in words (`config changed`, `asset changed: <path>`, ...).
    pub changes: Vec<String>,
    /// Why currentness is unknown or the plan missing.
    pub error: Option<String>,
}

/// Compare the persisted plan of a workspace with its current inputs.
/// `mode` is the mode asked for (`None`: the config's default mode).
pub fn status(l: &Layout, mode: Option<&str>) -> Status {
    let root = AssetRoot::Workspace(l.clone());
    let cfg = match compile::effective_config(&root) {
        Ok(c) => c,
        Err(e) => {
            return Status {
                currentness: Currentness::Unknown,
                plan: load_plan(l).ok(),
                persisted: None,
                expected: None,
                changes: vec![],
                error: Some(e.to_string()),
            }
        }
    };
    let config_fp = fingerprint::config_fingerprint(&cfg.config, &cfg.explicit_recovery);
    let plan = match load_plan(l) {
        Ok(p) => p,
        Err(e) => {
            return Status {
                currentness: Currentness::Missing,
                plan: None,
                persisted: None,
                expected: Some(CompileInput {
                    mode_id: mode
                        .map(str::to_string)
                        .unwrap_or(cfg.config.runtime.default_mode.clone()),
                    config_fingerprint: config_fp,
                    assets_fingerprint: "assets-missing".into(),
                }),
                changes: vec![],
                error: Some(e.to_string()),
            }
        }
    };
    let requested = mode
        .map(str::to_string)
        .unwrap_or(cfg.config.runtime.default_mode.clone());
    let (assets_fp, changed_assets) =
        compile::current_assets_fingerprint(&root, &plan.resolved_assets);
    let persisted = plan.compile_input_fingerprint.clone();
    // An alias names the plan's mode too: a shipped one, or one the
    // workspace's own `.mill` files declare (read only when needed).
    let mode_matches = requested == persisted.mode_id
        || alias_target(&requested).as_deref() == Some(persisted.mode_id.as_str())
        || workspace_mode_id(&root, &requested).as_deref() == Some(persisted.mode_id.as_str());
    let expected = CompileInput {
        mode_id: if mode_matches {
            persisted.mode_id.clone()
        } else {
            requested.clone()
        },
        config_fingerprint: config_fp,
        assets_fingerprint: assets_fp,
    };
    let mut changes = Vec::new();
    if expected.mode_id != persisted.mode_id {
        changes.push(format!(
            "mode changed: {} -> {}",
            persisted.mode_id, expected.mode_id
        ));
    }
    if expected.config_fingerprint != persisted.config_fingerprint {
        changes.push(format!(
            "config changed: {} -> {}",
            persisted.config_fingerprint, expected.config_fingerprint
        ));
    }
    for p in changed_assets {
        changes.push(format!("asset changed: {p}"));
    }
    Status {
        currentness: if changes.is_empty() {
            Currentness::Current
        } else {
            Currentness::Stale
        },
        plan: Some(plan),
        persisted: Some(persisted),
        expected: Some(expected),
        changes,
        error: None,
    }
}

/// The shipped alias table (`standard_plain -> default_codex`), for currentness.
/// Checked once per process.
fn alias_target(name: &str) -> Option<String> {
    static ALIASES: std::sync::OnceLock<std::collections::BTreeMap<String, String>> =
        std::sync::OnceLock::new();
    ALIASES
        .get_or_init(|| {
            let (_, checked) = crate::language::check_shipped();
            checked
                .model
                .aliases
                .values()
                .map(|a| (a.name.clone(), a.target.clone()))
                .collect()
        })
        .get(name)
        .cloned()
}

/// The mode id `name` resolves to among a workspace's own sources
/// (following its aliases), if it names one.
fn workspace_mode_id(root: &AssetRoot, name: &str) -> Option<String> {
    let program = compile::load_sources(root).ok()?;
    let checked = crate::language::check::check(&program);
    checked.model.resolve_mode(name).map(|m| m.id.clone())
}

/// The warnings of the last compile, when it produced the plan `plan_id`
/// (config bindings the mode overrides, unused `permission_by_stage` keys,
/// missing skills): `run` repeats them on standard error.
pub fn plan_warnings(l: &Layout, plan_id: &str) -> Vec<String> {
    let Ok(bytes) = safe_fs::read_capped(&diagnostics_path(l), safe_fs::MAX_STATE_BYTES) else {
        return vec![];
    };
    match serde_json::from_slice::<CompileDiagnostics>(&bytes) {
        Ok(d) if d.compiled_plan_id.as_deref() == Some(plan_id) => d.warnings,
        _ => vec![],
    }
}

/// What a compile against a workspace decided, after persisting.
pub struct Persisted {
    pub outcome: CompileOutcome,
    /// The plan now in force: the new one, or the last known good one while
    /// it still matches the inputs. A stale plan is in `status.plan` only.
    pub active: Option<CompiledPlan>,
    pub used_last_known_good: bool,
    pub status: Status,
}

/// Compile a workspace's mode and persist the result: the plan on success
/// (only rewritten when its bytes change), the diagnostics always.
pub fn compile_and_persist(l: &Layout, mode: Option<&str>) -> std::io::Result<Persisted> {
    let root = AssetRoot::Workspace(l.clone());
    let outcome = compile::compile(&root, mode);
    if let Some(plan) = &outcome.plan {
        let bytes = plan_bytes(plan);
        let path = plan_path(l);
        if safe_fs::read_capped(&path, safe_fs::MAX_STATE_BYTES)
            .ok()
            .as_deref()
            != Some(bytes.as_slice())
        {
            atomic::write_atomic(&path, &bytes)?;
        }
    }
    // A plan just compiled and written is current by construction: no need
    // to read it back and hash its assets again.
    let status = match &outcome.plan {
        Some(plan) => Status {
            currentness: Currentness::Current,
            plan: Some(plan.clone()),
            persisted: Some(plan.compile_input_fingerprint.clone()),
            expected: Some(plan.compile_input_fingerprint.clone()),
            changes: vec![],
            error: None,
        },
        None => status(l, mode),
    };
    // Without a new plan, the persisted one stays in force only while current.
    let (active, used_last_known_good) = match &outcome.plan {
        Some(plan) => (Some(plan.clone()), false),
        None if status.currentness == Currentness::Current => {
            (status.plan.clone(), status.plan.is_some())
        }
        None => (None, false),
    };
    let diags = CompileDiagnostics {
        schema_version: "1.0".into(),
        kind: "compile_diagnostics".into(),
        ok: outcome.errors.is_empty(),
        mode_id: outcome.mode_id.clone(),
        used_last_known_good,
        compiled_plan_id: active.as_ref().map(|p| p.compiled_plan_id.clone()),
        errors: outcome.errors.clone(),
        warnings: outcome.warnings.clone(),
        emitted_at: clock::now_rfc3339(),
    };
    let mut bytes = serde_json::to_vec_pretty(&diags).expect("diagnostics serialize");
    bytes.push(b'\n');
    atomic::write_atomic(&diagnostics_path(l), &bytes)?;
    Ok(Persisted {
        outcome,
        active,
        used_last_known_good,
        status,
    })
}

/// The plan the runtime may act on: compile if needed, and refuse a stale
/// last-known-good plan with a message saying what changed.
pub fn authoritative_plan(l: &Layout, mode: Option<&str>) -> Result<CompiledPlan, super::Error> {
    let st = status(l, mode);
    if st.currentness == Currentness::Current {
        if let Some(p) = st.plan {
            return Ok(p);
        }
    }
    let p = compile_and_persist(l, mode).map_err(super::Error::Persist)?;
    if p.outcome.errors.is_empty() {
        return p.active.ok_or(super::Error::NoPlanProduced);
    }
    // The sources loaded (the model has modes) and none answers to the id.
    let model = &p.outcome.checked.model;
    let unknown_mode = !model.modes.is_empty() && model.resolve_mode(&p.outcome.mode_id).is_none();
    // Another mode's plan is no "last known good" of this one.
    let same_mode = p
        .status
        .plan
        .as_ref()
        .is_some_and(|plan| plan.mode_id == p.outcome.mode_id);
    match (p.active, same_mode) {
        (Some(plan), _) => Ok(plan),
        (None, same_mode) => Err(super::Error::CompileFailed {
            errors: p.outcome.errors,
            stale: same_mode.then_some(p.status.changes),
            unknown_mode,
        }),
    }
}
