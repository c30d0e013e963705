//! `state/baseline_manifest.json`: every managed file `init` deployed, with
//! the blake3 hash of the bytes shipped. `upgrade` compares the workspace
//! against it. Same shape as the reference's manifest, with `original_blake3`
//! where the reference records `original_sha256`.

use serde::{Deserialize, Serialize};

use super::{atomic, layout::Layout};

/// One managed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    /// Path relative to `millrace-agents/`.
    pub relative_path: String,
    /// First path component: `entrypoints`, `skills` or `mill`.
    pub asset_family: String,
    pub original_blake3: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub schema_version: String,
    pub manifest_id: String,
    pub seed_package_version: String,
    pub entries: Vec<ManifestEntry>,
}

pub fn hash_bytes(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

impl Manifest {
    /// The manifest of a set of files (relative path, bytes).
    pub fn from_files<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Manifest {
        let mut entries: Vec<ManifestEntry> = files
            .into_iter()
            .map(|(path, bytes)| ManifestEntry {
                relative_path: path.to_string(),
                asset_family: path.split('/').next().unwrap_or(path).to_string(),
                original_blake3: hash_bytes(bytes),
            })
            .collect();
        entries.sort_by(|a, b| a.relative_path.cmp(&b.relative_path));
        let version = env!("CARGO_PKG_VERSION").to_string();
        let canonical = serde_json::json!({
            "schema_version": "1.0",
            "seed_package_version": version,
            "entries": entries,
        });
        Manifest {
            schema_version: "1.0".into(),
            manifest_id: hash_bytes(canonical.to_string().as_bytes()),
            seed_package_version: version,
            entries,
        }
    }

    /// The manifest of the assets embedded in this binary.
    pub fn shipped() -> Manifest {
        let assets = super::layout::deployed_assets();
        Manifest::from_files(assets.iter().map(|(p, b)| (p.as_str(), *b)))
    }

    pub fn entry(&self, relative_path: &str) -> Option<&ManifestEntry> {
        self.entries
            .iter()
            .find(|e| e.relative_path == relative_path)
    }

    pub fn load(layout: &Layout) -> Result<Manifest, String> {
        let path = layout.manifest_file();
        let text = super::safe_fs::read_to_string_capped(&path, super::safe_fs::MAX_STATE_BYTES)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn save(&self, layout: &Layout) -> std::io::Result<()> {
        let mut text = serde_json::to_string_pretty(self).expect("manifest serializes");
        text.push('\n');
        atomic::write_atomic(&layout.manifest_file(), text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_depends_on_content() {
        let a = Manifest::from_files([("skills/a.md", &b"x"[..])]);
        let b = Manifest::from_files([("skills/a.md", &b"y"[..])]);
        assert_ne!(a.manifest_id, b.manifest_id);
        assert_eq!(a.entries[0].asset_family, "skills");
        assert_eq!(a.entries[0].original_blake3, hash_bytes(b"x"));
        let again = Manifest::from_files([("skills/a.md", &b"x"[..])]);
        assert_eq!(a, again);
    }
}
