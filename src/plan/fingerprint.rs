//! Fingerprints (blake3, 12 hex digits): the config fingerprint (`cfg-...`,
//! over the effective config with every default filled in), the assets
//! fingerprint (`assets-...`, over every `.mill`, entrypoint and skill file a
//! plan uses, with their current bytes) and the plan id
//! (`plan-<mode>-...`, over the plan's meaning: no source locations,
//! fingerprints or asset hashes, so editing a comment keeps the id).

use super::ir::{AssetRef, CompiledPlan};
use crate::workspace::config::Config;

fn short(hash: blake3::Hash) -> String {
    hash.to_hex()[..12].to_string()
}

/// Over the effective config and which `[recovery]` keys the file sets
/// explicitly (an explicit key retunes thresholds even at its default value).
pub fn config_fingerprint(config: &Config, explicit_recovery: &[String]) -> String {
    let mut keys: Vec<&String> = explicit_recovery.iter().collect();
    keys.sort();
    let bytes = serde_json::to_vec(&(config, keys)).expect("config serializes");
    format!("cfg-{}", short(blake3::hash(&bytes)))
}

/// blake3 hex of some content, or `missing`.
pub fn content_hash(bytes: Option<&[u8]>) -> String {
    bytes
        .map(|b| blake3::hash(b).to_hex().to_string())
        .unwrap_or_else(|| "missing".to_string())
}

pub fn assets_fingerprint(assets: &[AssetRef]) -> String {
    let mut sorted: Vec<&AssetRef> = assets.iter().collect();
    sorted.sort_by(|a, b| (&a.family, &a.path).cmp(&(&b.family, &b.path)));
    let mut h = blake3::Hasher::new();
    for a in sorted {
        for part in [&a.family, &a.path, &a.content_blake3] {
            h.update(part.as_bytes());
            h.update(&[0]);
        }
    }
    format!("assets-{}", short(h.finalize()))
}

fn strip_sources(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            map.remove("source");
            for x in map.values_mut() {
                strip_sources(x);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_sources),
        _ => {}
    }
}

pub fn plan_id(plan: &CompiledPlan) -> String {
    let mut v = serde_json::to_value(plan).expect("plan serializes");
    if let serde_json::Value::Object(map) = &mut v {
        for k in [
            "compiled_plan_id",
            "compile_input_fingerprint",
            "resolved_assets",
        ] {
            map.remove(k);
        }
    }
    strip_sources(&mut v);
    let bytes = serde_json::to_vec(&v).expect("value serializes");
    format!("plan-{}-{}", plan.mode_id, short(blake3::hash(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_fingerprint_is_stable_and_sensitive() {
        let a = config_fingerprint(&Config::default(), &[]);
        assert_eq!(a, config_fingerprint(&Config::default(), &[]));
        assert_ne!(
            a,
            config_fingerprint(&Config::default(), &["max_fix_cycles".into()])
        );
        assert!(a.starts_with("cfg-") && a.len() == 16);
        let mut c = Config::default();
        c.runtime.idle_sleep_seconds = 2.0;
        assert_ne!(a, config_fingerprint(&c, &[]));
    }

    #[test]
    fn assets_fingerprint_ignores_order() {
        let a = AssetRef {
            family: "mill".into(),
            path: "a".into(),
            content_blake3: "1".into(),
        };
        let b = AssetRef {
            family: "skill".into(),
            path: "b".into(),
            content_blake3: "2".into(),
        };
        assert_eq!(
            assets_fingerprint(&[a.clone(), b.clone()]),
            assets_fingerprint(&[b, a])
        );
    }
}
