//! `upgrade`: compare the managed files of a workspace with the baseline
//! manifest and the assets of this binary, classify each file with the
//! reference's dispositions, and apply only the safe ones.

use std::collections::BTreeSet;

use super::layout::Layout;
use super::manifest::{hash_bytes, Manifest};
use super::{atomic, events};

/// The reference's upgrade dispositions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Disposition {
    Unchanged,
    SafePackageUpdate,
    LocalOnlyModification,
    AlreadyConverged,
    LocalizedRemoved,
    Conflict,
    Missing,
}

impl Disposition {
    pub const ALL: [Disposition; 7] = [
        Disposition::Unchanged,
        Disposition::SafePackageUpdate,
        Disposition::LocalOnlyModification,
        Disposition::AlreadyConverged,
        Disposition::LocalizedRemoved,
        Disposition::Conflict,
        Disposition::Missing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Unchanged => "unchanged",
            Disposition::SafePackageUpdate => "safe_package_update",
            Disposition::LocalOnlyModification => "local_only_modification",
            Disposition::AlreadyConverged => "already_converged",
            Disposition::LocalizedRemoved => "localized_removed",
            Disposition::Conflict => "conflict",
            Disposition::Missing => "missing",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeEntry {
    pub relative_path: String,
    pub disposition: Disposition,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradePlan {
    pub applied: bool,
    pub baseline_manifest_id: String,
    pub candidate_manifest_id: String,
    pub entries: Vec<UpgradeEntry>,
}

impl UpgradePlan {
    pub fn count(&self, d: Disposition) -> usize {
        self.entries.iter().filter(|e| e.disposition == d).count()
    }
}

/// Classify every managed file against `candidate` (relative path, bytes).
/// `localize` lists removed managed files the operator keeps as local files.
pub fn preview_with(
    layout: &Layout,
    candidate: &[(String, Vec<u8>)],
    localize: &[String],
) -> Result<UpgradePlan, super::Error> {
    let baseline = Manifest::load(layout)?;
    let candidate_manifest =
        Manifest::from_files(candidate.iter().map(|(p, b)| (p.as_str(), b.as_slice())));
    let paths: BTreeSet<&str> = baseline
        .entries
        .iter()
        .chain(&candidate_manifest.entries)
        .map(|e| e.relative_path.as_str())
        .collect();
    let localize: BTreeSet<&str> = localize
        .iter()
        .map(|p| p.trim().trim_start_matches("./"))
        .collect();
    let mut removed = BTreeSet::new();
    let mut entries = Vec::new();
    for rel in paths {
        let path = layout.path(rel);
        let current = if path.is_file() {
            Some(hash_bytes(
                &std::fs::read(&path).map_err(|e| super::Error::io(&path, e))?,
            ))
        } else {
            None
        };
        let original = baseline.entry(rel).map(|e| e.original_sha256.as_str());
        let offered = candidate_manifest
            .entry(rel)
            .map(|e| e.original_sha256.as_str());
        let current = current.as_deref();
        let disposition = if path.exists() && !path.is_file() {
            Disposition::Conflict
        } else {
            match (original, offered) {
                (None, Some(new)) => match current {
                    None => Disposition::Missing,
                    Some(c) if c == new => Disposition::AlreadyConverged,
                    Some(_) => Disposition::Conflict,
                },
                (Some(_), None) => {
                    removed.insert(rel);
                    if localize.contains(rel) {
                        Disposition::LocalizedRemoved
                    } else {
                        Disposition::Conflict
                    }
                }
                (Some(old), Some(new)) => match current {
                    None => Disposition::Missing,
                    Some(c) if c == old && old == new => Disposition::Unchanged,
                    Some(c) if c == old => Disposition::SafePackageUpdate,
                    Some(_) if old == new => Disposition::LocalOnlyModification,
                    Some(c) if c == new => Disposition::AlreadyConverged,
                    Some(_) => Disposition::Conflict,
                },
                (None, None) => unreachable!("path comes from one of the manifests"),
            }
        };
        entries.push(UpgradeEntry {
            relative_path: rel.to_string(),
            disposition,
        });
    }
    let invalid: Vec<&str> = localize.difference(&removed).copied().collect();
    if !invalid.is_empty() {
        return Err(super::Error::Other(format!(
            "--localize-removed path is not a removed managed file: {}",
            invalid.join(", ")
        )));
    }
    Ok(UpgradePlan {
        applied: false,
        baseline_manifest_id: baseline.manifest_id,
        candidate_manifest_id: candidate_manifest.manifest_id,
        entries,
    })
}

/// Apply a plan against `candidate`: refuses (changing nothing) when any
/// file is in conflict; otherwise writes the safe package updates and the
/// missing files, then records the candidate as the new baseline.
pub fn apply_with(
    layout: &Layout,
    candidate: &[(String, Vec<u8>)],
    localize: &[String],
) -> Result<UpgradePlan, super::Error> {
    let mut plan = preview_with(layout, candidate, localize)?;
    let conflicts: Vec<&str> = plan
        .entries
        .iter()
        .filter(|e| e.disposition == Disposition::Conflict)
        .map(|e| e.relative_path.as_str())
        .collect();
    if !conflicts.is_empty() {
        return Err(super::Error::UpgradeRefused(format!(
            "upgrade refused, nothing changed: conflict in {} (keep your version by restoring the shipped file, or pass --localize-removed for removed files)",
            conflicts.join(", ")
        )));
    }
    let mut written = 0;
    for entry in &plan.entries {
        if !matches!(
            entry.disposition,
            Disposition::SafePackageUpdate | Disposition::Missing
        ) {
            continue;
        }
        let (_, bytes) = candidate
            .iter()
            .find(|(p, _)| *p == entry.relative_path)
            .ok_or_else(|| {
                super::Error::Other(format!(
                    "candidate file is missing: {}",
                    entry.relative_path
                ))
            })?;
        let path = layout.path(&entry.relative_path);
        if let Some(parent) = path.parent() {
            super::safe_fs::create_dir_all(parent).map_err(|e| super::Error::io(parent, e))?;
        }
        atomic::write_atomic(&path, bytes).map_err(|e| super::Error::io(&path, e))?;
        written += 1;
    }
    Manifest::from_files(candidate.iter().map(|(p, b)| (p.as_str(), b.as_slice())))
        .save(layout)
        .map_err(|e| super::Error::io(layout.manifest_file(), e))?;
    let _ = events::record(
        layout,
        "workspace_upgraded",
        serde_json::json!({"files_written": written, "manifest_id": plan.candidate_manifest_id}),
    );
    plan.applied = true;
    Ok(plan)
}

/// The assets embedded in this binary, as an upgrade candidate.
pub fn shipped_candidate() -> Vec<(String, Vec<u8>)> {
    super::layout::deployed_assets()
        .into_iter()
        .map(|(p, b)| (p, b.to_vec()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn files(list: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        list.iter()
            .map(|(p, b)| (p.to_string(), b.as_bytes().to_vec()))
            .collect()
    }

    /// A workspace whose baseline shipped `old`, with files written as given.
    fn workspace(old: &[(&str, &str)], on_disk: &[(&str, &str)]) -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        fs::create_dir_all(layout.state_dir()).unwrap();
        Manifest::from_files(old.iter().map(|(p, b)| (*p, b.as_bytes())))
            .save(&layout)
            .unwrap();
        for (p, b) in on_disk {
            let path = layout.path(p);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, b).unwrap();
        }
        (dir, layout)
    }

    fn disposition(plan: &UpgradePlan, path: &str) -> Disposition {
        plan.entries
            .iter()
            .find(|e| e.relative_path == path)
            .unwrap()
            .disposition
    }

    #[test]
    fn classifies_like_the_reference() {
        let old = [
            ("skills/same", "1"),
            ("skills/safe", "1"),
            ("skills/local", "1"),
            ("skills/conv", "1"),
            ("skills/both", "1"),
            ("skills/gone", "1"),
            ("skills/removed", "1"),
        ];
        let disk = [
            ("skills/same", "1"),
            ("skills/safe", "1"),
            ("skills/local", "mine"),
            ("skills/conv", "2"),
            ("skills/both", "mine"),
            ("skills/removed", "1"),
            ("skills/new-conv", "n"),
        ];
        let new = files(&[
            ("skills/same", "1"),
            ("skills/safe", "2"),
            ("skills/local", "1"),
            ("skills/conv", "2"),
            ("skills/both", "2"),
            ("skills/gone", "1"),
            ("skills/new", "n"),
            ("skills/new-conv", "n"),
        ]);
        let (_d, layout) = workspace(&old, &disk);
        let plan = preview_with(&layout, &new, &["skills/removed".into()]).unwrap();
        use Disposition::*;
        for (path, want) in [
            ("skills/same", Unchanged),
            ("skills/safe", SafePackageUpdate),
            ("skills/local", LocalOnlyModification),
            ("skills/conv", AlreadyConverged),
            ("skills/both", Conflict),
            ("skills/gone", Missing),
            ("skills/removed", LocalizedRemoved),
            ("skills/new", Missing),
            ("skills/new-conv", AlreadyConverged),
        ] {
            assert_eq!(disposition(&plan, path), want, "{path}");
        }
        let plan = preview_with(&layout, &new, &[]).unwrap();
        assert_eq!(disposition(&plan, "skills/removed"), Conflict);
        assert!(preview_with(&layout, &new, &["skills/same".into()]).is_err());
    }

    #[test]
    fn apply_refuses_conflicts_and_changes_nothing() {
        let (_d, layout) = workspace(
            &[("skills/a", "1"), ("skills/b", "1")],
            &[("skills/a", "1"), ("skills/b", "mine")],
        );
        let before_manifest = fs::read(layout.manifest_file()).unwrap();
        let new = files(&[("skills/a", "2"), ("skills/b", "2")]);
        let e = apply_with(&layout, &new, &[]).unwrap_err();
        assert!(
            matches!(e, crate::workspace::Error::UpgradeRefused(_)),
            "{e}"
        );
        let e = e.to_string();
        assert!(e.contains("skills/b"), "{e}");
        assert_eq!(fs::read(layout.path("skills/a")).unwrap(), b"1");
        assert_eq!(fs::read(layout.manifest_file()).unwrap(), before_manifest);
    }

    #[test]
    fn apply_writes_safe_updates_only() {
        let (_d, layout) = workspace(
            &[("skills/a", "1"), ("skills/b", "1")],
            &[("skills/a", "1"), ("skills/b", "mine")],
        );
        let new = files(&[("skills/a", "2"), ("skills/b", "1"), ("mill/x.mill", "x")]);
        let plan = apply_with(&layout, &new, &[]).unwrap();
        assert!(plan.applied);
        assert_eq!(fs::read(layout.path("skills/a")).unwrap(), b"2");
        assert_eq!(fs::read(layout.path("skills/b")).unwrap(), b"mine");
        assert_eq!(fs::read(layout.path("mill/x.mill")).unwrap(), b"x");
        let again = preview_with(&layout, &new, &[]).unwrap();
        assert_eq!(again.count(Disposition::Unchanged), 2);
        assert_eq!(again.count(Disposition::LocalOnlyModification), 1);
    }
}
