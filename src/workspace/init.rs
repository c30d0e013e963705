//! Creating a workspace: the directory tree, the bootstrap files (config,
//! snapshot, counters, status markers, outline, history log, learning event
//! log), the deployed assets and the baseline manifest. Idempotent: existing
//! files are never overwritten, so a second `init` changes nothing.

use std::fs;
use std::path::PathBuf;

use serde_json::json;

use super::layout::{deployed_assets, Layout, DIRECTORIES, PLANES};
use super::manifest::Manifest;
use super::state::{RecoveryCounters, RuntimeSnapshot, IDLE_MARKER};
use super::{atomic, config, events};

/// What `initialize` did.
#[derive(Debug, Default)]
pub struct InitReport {
    /// Files written (relative to `millrace-agents/`); empty on a re-run.
    pub created: Vec<String>,
}

/// Create (or complete) the workspace at `layout.root`. Refuses a root that
/// exists and is not a directory.
pub fn initialize(layout: &Layout) -> Result<InitReport, super::Error> {
    if layout.root.exists() && !layout.root.is_dir() {
        return Err(super::Error::NotADirectory {
            path: layout.root.clone(),
            root: true,
        });
    }
    if layout.runtime.exists() && !layout.runtime.is_dir() {
        return Err(super::Error::NotADirectory {
            path: layout.runtime.clone(),
            root: false,
        });
    }
    let io = |p: &PathBuf| {
        let p = p.clone();
        move |e: std::io::Error| super::Error::io(p, e)
    };
    fs::create_dir_all(&layout.runtime).map_err(io(&layout.runtime))?;
    for rel in DIRECTORIES {
        let dir = layout.path(rel);
        fs::create_dir_all(&dir).map_err(io(&dir))?;
    }

    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("outline.md".into(), Vec::new()),
        ("historylog.md".into(), Vec::new()),
        ("millrace.toml".into(), config::BOOTSTRAP_TOML.into()),
        ("learning/events.jsonl".into(), Vec::new()),
        (
            "state/runtime_snapshot.json".into(),
            RuntimeSnapshot::bootstrap().to_json().into(),
        ),
        (
            "state/recovery_counters.json".into(),
            RecoveryCounters::default().to_json().into(),
        ),
    ];
    for plane in PLANES {
        files.push((
            format!("state/{plane}_status.md"),
            format!("{IDLE_MARKER}\n").into(),
        ));
    }
    for (rel, bytes) in deployed_assets() {
        files.push((rel, bytes.to_vec()));
    }

    let mut report = InitReport::default();
    for (rel, bytes) in &files {
        let path = layout.path(rel);
        if path.exists() {
            continue;
        }
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io(&parent.to_path_buf()))?;
        }
        atomic::write_atomic(&path, bytes).map_err(io(&path))?;
        report.created.push(rel.clone());
    }
    if !layout.manifest_file().exists() {
        Manifest::shipped()
            .save(layout)
            .map_err(io(&layout.manifest_file()))?;
        report.created.push("state/baseline_manifest.json".into());
    }
    if !report.created.is_empty() {
        events::record(
            layout,
            "workspace_initialized",
            json!({"created": report.created.len()}),
        )
        .map_err(io(&layout.event_log()))?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_creates_tree_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        assert!(layout.require_initialized().is_err());
        let first = initialize(&layout).unwrap();
        assert!(!first.created.is_empty());
        layout.require_initialized().unwrap();
        for rel in DIRECTORIES {
            assert!(layout.path(rel).is_dir(), "{rel}");
        }
        let manifest = Manifest::load(&layout).unwrap();
        assert_eq!(manifest.entries.len(), deployed_assets().len());
        let second = initialize(&layout).unwrap();
        assert!(second.created.is_empty());
    }

    #[test]
    fn init_refuses_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, "x").unwrap();
        let e = initialize(&Layout::new(&file)).unwrap_err().to_string();
        assert!(e.contains("not a directory"), "{e}");
        assert_eq!(fs::read(&file).unwrap(), b"x");
    }
}
