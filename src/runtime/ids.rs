//! Identifiers the runtime mints: run ids (`run-<32 hex>`, one per claimed
//! work item), request ids (`request-<32 hex>`, one per stage execution),
//! learning-request ids, and the short handles the monitor and
//! `status` print.

use std::sync::atomic::{AtomicU64, Ordering};

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// 32 hex digits, unique per process call: blake3 of time, pid and a sequence.
pub fn hex32() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let mut h = blake3::Hasher::new();
    h.update(&now.to_le_bytes());
    h.update(&std::process::id().to_le_bytes());
    h.update(&seq.to_le_bytes());
    h.finalize().to_hex()[..32].to_string()
}

pub fn run_id() -> String {
    format!("run-{}", hex32())
}

pub fn request_id() -> String {
    format!("request-{}", hex32())
}

/// `learn-<12 hex>`.
pub fn learning_request_id() -> String {
    format!("learn-{}", &hex32()[..12])
}

/// The first 8 hex digits of a run id (`run-abcdef12...` → `abcdef12`).
pub fn handle(run_id: &str) -> String {
    run_id
        .strip_prefix("run-")
        .unwrap_or(run_id)
        .chars()
        .take(8)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_reference_shape_and_differ() {
        let a = run_id();
        let b = run_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 32);
        assert!(request_id().starts_with("request-"));
        assert_eq!(handle("run-0123456789abcdef"), "01234567");
    }
}
