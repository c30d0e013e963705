//! Skill revision evidence: in learning-enabled modes every stage request
//! gets `runs/<run>/skill_revision_evidence.<request>.json`, the content
//! hash (SHA-256) and size of each skill file the request names, so a
//! learning stage can tell which revision of a skill a run used (the
//! reference's `skill_revision_evidence` document).

use crate::workspace::manifest::hash_bytes;
use crate::workspace::{atomic, clock};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Write the evidence for `skill_paths`; returns its path.
pub fn write(
    run_dir: &Path,
    request_id: &str,
    run_id: &str,
    mode_id: &str,
    compiled_plan_id: &str,
    skill_paths: &[PathBuf],
) -> std::io::Result<PathBuf> {
    let path = run_dir.join(format!("skill_revision_evidence.{request_id}.json"));
    let skills: Vec<_> = skill_paths
        .iter()
        .map(|p| match std::fs::read(p) {
            Ok(bytes) if p.is_file() => json!({
                "path": p.display().to_string(),
                "exists": true,
                "sha256": hash_bytes(&bytes),
                "size_bytes": bytes.len(),
            }),
            _ => json!({"path": p.display().to_string(), "exists": false, "sha256": null, "size_bytes": null}),
        })
        .collect();
    let doc = json!({
        "schema_version": "1.0",
        "kind": "skill_revision_evidence",
        "request_id": request_id,
        "run_id": run_id,
        "mode_id": mode_id,
        "compiled_plan_id": compiled_plan_id,
        "emitted_at": clock::now_rfc3339(),
        "skills": skills,
    });
    std::fs::create_dir_all(run_dir)?;
    let mut text = serde_json::to_string_pretty(&doc).expect("evidence serializes");
    text.push('\n');
    atomic::write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_test_vectors() {
        assert_eq!(
            hash_bytes(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hash_bytes(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hash_bytes(&[b'a'; 1000]),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
        );
    }
}
