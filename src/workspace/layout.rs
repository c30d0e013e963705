//! The canonical tree under `<workspace>/millrace-agents/`: every directory
//! and file name the runtime uses, the mapping of shipped assets into the
//! tree, and the "is this workspace initialized?" check.
//!
//! Names match the reference 0.18.0 exactly so a workspace is usable by both.

use std::path::{Path, PathBuf};

/// Name of the runtime directory inside a workspace root.
pub const RUNTIME_DIR: &str = "millrace-agents";

/// The three planes, in the order the runtime reports them.
pub const PLANES: [&str; 3] = ["execution", "planning", "learning"];

/// Directories created by `init`, relative to `millrace-agents/`.
pub const DIRECTORIES: &[&str] = &[
    "state",
    "state/mailbox",
    "state/mailbox/incoming",
    "state/mailbox/processed",
    "state/mailbox/failed",
    "runs",
    "tasks",
    "tasks/queue",
    "tasks/active",
    "tasks/done",
    "tasks/blocked",
    "specs",
    "specs/queue",
    "specs/active",
    "specs/done",
    "specs/blocked",
    "incidents",
    "incidents/incoming",
    "incidents/active",
    "incidents/resolved",
    "incidents/blocked",
    "learning",
    "learning/requests",
    "learning/requests/queue",
    "learning/requests/active",
    "learning/requests/done",
    "learning/requests/blocked",
    "learning/research-packets",
    "learning/skill-candidates",
    "learning/update-candidates",
    "arbiter",
    "arbiter/contracts",
    "arbiter/contracts/ideas",
    "arbiter/contracts/root-specs",
    "arbiter/targets",
    "arbiter/rubrics",
    "arbiter/verdicts",
    "arbiter/reports",
    "loops",
    "loops/execution",
    "loops/planning",
    "loops/learning",
    "graphs",
    "graphs/execution",
    "graphs/planning",
    "graphs/learning",
    "registry",
    "registry/stage_kinds",
    "registry/stage_kinds/execution",
    "registry/stage_kinds/planning",
    "registry/stage_kinds/learning",
    "modes",
    "logs",
    "entrypoints",
    "skills",
    "mill",
];

/// Paths that must exist for a workspace to count as initialized
/// (relative to `millrace-agents/`).
pub const REQUIRED_FOR_INIT: &[&str] = &[
    "state",
    "tasks/queue",
    "specs/queue",
    "incidents/incoming",
    "learning/requests/queue",
    "entrypoints",
    "skills",
    "outline.md",
    "historylog.md",
    "state/baseline_manifest.json",
    "millrace.toml",
];

/// Map one shipped asset (repository-relative path from `assets::all()`)
/// to its place in the runtime tree, relative to `millrace-agents/`:
///
/// - `stdlib/entrypoints/X` → `entrypoints/X`
/// - `stdlib/skills/X` → `skills/X`
/// - any other `.mill` file `P` → `mill/P` (e.g. `mill/modes/default_codex.mill`)
///
/// Every other asset is not deployed (`None`). This is the only place that
/// decides where shipped files land; `init`, the manifest and `upgrade` use it.
pub fn asset_destination(asset_path: &str) -> Option<String> {
    if let Some(rest) = asset_path.strip_prefix("stdlib/entrypoints/") {
        return Some(format!("entrypoints/{rest}"));
    }
    if let Some(rest) = asset_path.strip_prefix("stdlib/skills/") {
        return Some(format!("skills/{rest}"));
    }
    if asset_path.ends_with(".mill") {
        return Some(format!("mill/{asset_path}"));
    }
    None
}

/// The workflow files the reference reads (`modes/`, `loops/`, `graphs/`,
/// `registry/`), generated once per process from the shipped `.mill` model
/// (`plan::reference_assets`).
fn reference_assets() -> &'static [(String, Vec<u8>)] {
    static FILES: std::sync::OnceLock<Vec<(String, Vec<u8>)>> = std::sync::OnceLock::new();
    FILES.get_or_init(|| {
        let (_, checked) = crate::language::check_shipped();
        crate::plan::reference_assets::files(&checked.model)
    })
}

/// Every deployed asset as (path relative to `millrace-agents/`, bytes),
/// sorted: the shipped entrypoints, skills and `.mill` sources, and the
/// reference's workflow files generated from them.
pub fn deployed_assets() -> Vec<(String, &'static [u8])> {
    let mut out: Vec<_> = crate::assets::all()
        .iter()
        .filter_map(|(path, bytes)| asset_destination(path).map(|d| (d, *bytes)))
        .chain(
            reference_assets()
                .iter()
                .map(|(p, b)| (p.clone(), b.as_slice())),
        )
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Resolved paths of one workspace.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The workspace root (the directory given to `--workspace`), absolute.
    pub root: PathBuf,
    /// `<root>/millrace-agents`.
    pub runtime: PathBuf,
    /// The config file given by `--config`, used instead of
    /// `millrace-agents/millrace.toml` by everything that reads the config
    /// through this layout (compile, fingerprints, currentness, the runtime).
    pub config_override: Option<PathBuf>,
}

impl Layout {
    /// Resolve a workspace root. The path is made absolute (canonical when
    /// it exists) but not required to exist, and registered as trusted.
    pub fn new(root: impl AsRef<Path>) -> Layout {
        let root = root.as_ref();
        let root = std::fs::canonicalize(root).unwrap_or_else(|_| {
            std::env::current_dir()
                .map(|cwd| cwd.join(root))
                .unwrap_or_else(|_| root.to_path_buf())
        });
        let runtime = root.join(RUNTIME_DIR);
        // Below the root, nothing is trusted: files are opened without
        // following links (`safe_fs`).
        super::safe_fs::trust_root(&root);
        Layout {
            root,
            runtime,
            config_override: None,
        }
    }

    /// This layout reading its config from `config` (`--config PATH`,
    /// relative to the current directory) when given.
    pub fn with_config(mut self, config: Option<&Path>) -> Layout {
        self.config_override = config.map(|c| {
            std::env::current_dir()
                .map(|cwd| cwd.join(c))
                .unwrap_or_else(|_| c.to_path_buf())
        });
        self
    }

    /// A path relative to `millrace-agents/`.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.runtime.join(rel)
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path("state")
    }
    /// The config in force: `--config PATH`, else `millrace-agents/millrace.toml`.
    pub fn config_file(&self) -> PathBuf {
        self.config_override
            .clone()
            .unwrap_or_else(|| self.path("millrace.toml"))
    }
    pub fn snapshot_file(&self) -> PathBuf {
        self.path("state/runtime_snapshot.json")
    }
    pub fn counters_file(&self) -> PathBuf {
        self.path("state/recovery_counters.json")
    }
    pub fn manifest_file(&self) -> PathBuf {
        self.path("state/baseline_manifest.json")
    }
    pub fn lock_file(&self) -> PathBuf {
        self.path("state/runtime_daemon.lock.json")
    }
    pub fn status_file(&self, plane: &str) -> PathBuf {
        self.path(&format!("state/{plane}_status.md"))
    }
    pub fn event_log(&self) -> PathBuf {
        self.path("logs/runtime_events.jsonl")
    }
    pub fn mailbox_dir(&self, which: &str) -> PathBuf {
        self.path(&format!("state/mailbox/{which}"))
    }
    /// Ideas are staged outside the runtime tree, in `<root>/ideas/inbox/`.
    pub fn ideas_inbox(&self) -> PathBuf {
        self.root.join("ideas").join("inbox")
    }

    /// Paths required for an initialized workspace that are missing.
    pub fn missing_required(&self) -> Vec<PathBuf> {
        REQUIRED_FOR_INIT
            .iter()
            .map(|rel| self.path(rel))
            .filter(|p| !p.exists())
            .collect()
    }

    /// Ok when the workspace is initialized; otherwise the message telling
    /// the operator what to run.
    pub fn require_initialized(&self) -> Result<(), super::Error> {
        if self.missing_required().is_empty() {
            Ok(())
        } else {
            Err(super::Error::Uninitialized {
                root: self.root.clone(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_assets_by_family() {
        assert_eq!(
            asset_destination("stdlib/entrypoints/execution/builder.md").as_deref(),
            Some("entrypoints/execution/builder.md")
        );
        assert_eq!(
            asset_destination("stdlib/skills/a/SKILL.md").as_deref(),
            Some("skills/a/SKILL.md")
        );
        assert_eq!(
            asset_destination("stdlib/stages/execution.mill").as_deref(),
            Some("mill/stdlib/stages/execution.mill")
        );
        assert_eq!(
            asset_destination("modes/default_codex.mill").as_deref(),
            Some("mill/modes/default_codex.mill")
        );
        assert_eq!(asset_destination("stdlib/README.md"), None);
    }

    #[test]
    fn every_embedded_mill_file_is_deployed() {
        let deployed = deployed_assets();
        for (path, _) in crate::assets::all() {
            if path.ends_with(".mill") {
                assert!(deployed.iter().any(|(d, _)| d == &format!("mill/{path}")));
            }
        }
    }
}
