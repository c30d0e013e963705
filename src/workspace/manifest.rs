//! `state/baseline_manifest.json`: every managed file `init` deployed, with
//! the SHA-256 of the bytes shipped. `upgrade` and `doctor` compare the
//! workspace against it. The reference's schema exactly (its strict model
//! rejects any other key, and it verifies SHA-256), so either implementation
//! reads the other's manifest; the id is the SHA-256 of the canonical JSON
//! (sorted keys, no whitespace) of version and entries, as the reference
//! computes it. Plan fingerprints stay blake3 (`plan::fingerprint`).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{atomic, layout::Layout};

/// One managed file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    /// Path relative to `millrace-agents/`.
    pub relative_path: String,
    /// First path component: `entrypoints`, `skills` or `mill`.
    pub asset_family: String,
    /// Lowercase hex SHA-256 of the shipped bytes.
    pub original_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub schema_version: String,
    pub manifest_id: String,
    pub seed_package_version: String,
    pub entries: Vec<ManifestEntry>,
}

/// Lowercase hex SHA-256, the hash the reference records and verifies.
pub fn hash_bytes(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Manifest {
    /// The manifest of a set of files (relative path, bytes).
    pub fn from_files<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Manifest {
        let mut entries: Vec<ManifestEntry> = files
            .into_iter()
            .map(|(path, bytes)| ManifestEntry {
                relative_path: path.to_string(),
                asset_family: path.split('/').next().unwrap_or(path).to_string(),
                original_sha256: hash_bytes(bytes),
            })
            .collect();
        entries.sort_by(|a, b| a.relative_path.cmp(&b.relative_path));
        let version = env!("CARGO_PKG_VERSION").to_string();
        // serde_json's maps are sorted, and `to_string` is compact: the
        // reference's `json.dumps(sort_keys=True, separators=(",", ":"))`.
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

    pub fn load(layout: &Layout) -> Result<Manifest, super::Error> {
        let path = layout.manifest_file();
        let text = super::safe_fs::read_to_string_capped(&path, super::safe_fs::MAX_STATE_BYTES)
            .map_err(|e| super::Error::io(&path, e))?;
        serde_json::from_str(&text).map_err(|source| super::Error::Json { path, source })
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
        assert_eq!(a.entries[0].original_sha256, hash_bytes(b"x"));
        let again = Manifest::from_files([("skills/a.md", &b"x"[..])]);
        assert_eq!(a, again);
    }

    #[test]
    fn hashes_are_sha256_as_the_reference_verifies() {
        assert_eq!(
            hash_bytes(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let m = Manifest::from_files([("skills/a.md", &b"abc"[..])]);
        let text = serde_json::to_string(&m).unwrap();
        assert!(text.contains("\"original_sha256\""), "{text}");
        assert!(!text.contains("blake3"), "{text}");
    }
}
