//! Work-item and command identifiers: the one rule that keeps an id inside
//! its directory. An id must match `[A-Za-z0-9][A-Za-z0-9._-]*` (the
//! reference's safe-id pattern), so `../x`, `/abs`, `a/b`, `` and ` x` are refused.
//!
//! An id is also at most `MAX_ID_LEN` bytes, so that every file name the
//! runtime derives from it (`<id>.md`, `incident-<id>-<8 hex>.md`, the
//! temp names of atomic writes) fits a 255-byte file-name limit. Ids the
//! runtime derives from others are cut to fit with `derived_id`.

use std::fmt;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdError {
    pub value: String,
    pub reason: &'static str,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid id {:?}: {}", self.value, self.reason)
    }
}

impl std::error::Error for IdError {}

/// Longest id, in bytes. The longest derived file name is a temp file of
/// `<id>.md`: `.<id>.md.<pid>.<counter>.millrace-tmp`, under 180 bytes.
pub const MAX_ID_LEN: usize = 128;

/// `<prefix>-<suffix>`, with `prefix` cut so the result is a valid length
/// (deterministic, so re-deriving after a crash names the same file).
pub fn derived_id(prefix: &str, suffix: &str) -> String {
    let room = MAX_ID_LEN.saturating_sub(suffix.len() + 1);
    let cut = prefix.len().min(room);
    // Ids are ASCII; stay on a char boundary anyway.
    let cut = (0..=cut)
        .rev()
        .find(|&i| prefix.is_char_boundary(i))
        .unwrap_or(0);
    format!("{}-{suffix}", &prefix[..cut])
}

/// Check that `value` is a safe identifier and can name a file `<id>.md`.
pub fn validate_id(value: &str) -> Result<&str, IdError> {
    let err = |reason| {
        Err(IdError {
            value: value.to_string(),
            reason,
        })
    };
    if value.is_empty() {
        return err("it is empty");
    }
    if value.len() > MAX_ID_LEN {
        return err("it is longer than 128 characters");
    }
    if value.trim() != value {
        return err("it has surrounding whitespace");
    }
    let mut chars = value.chars();
    let first = chars.next().unwrap_or(' ');
    if !first.is_ascii_alphanumeric() {
        return err("it must start with a letter or digit");
    }
    if value.contains(['/', '\\']) {
        return err("it must not contain a path separator");
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
        return err("only letters, digits, '.', '_' and '-' are allowed");
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_safe_ids() {
        for id in ["task-001", "a", "T.1_b-2", "0x"] {
            assert_eq!(validate_id(id), Ok(id));
        }
    }

    #[test]
    fn length_is_capped_and_derived_ids_fit() {
        let long = "a".repeat(MAX_ID_LEN);
        assert!(validate_id(&long).is_ok());
        let e = validate_id(&format!("{long}b")).unwrap_err();
        assert!(e.to_string().contains("longer than 128"), "{e}");
        let d = derived_id(&format!("incident-{long}"), "0123abcd");
        assert_eq!(d.len(), MAX_ID_LEN);
        assert!(validate_id(&d).is_ok() && d.ends_with("-0123abcd"));
        assert_eq!(
            derived_id("incident-t-1", "0123abcd"),
            "incident-t-1-0123abcd"
        );
    }

    #[test]
    fn refuses_escaping_ids() {
        for id in [
            "", "../x", "/abs", "a/b", "a\\b", ".hidden", " x", "x ", "-x", "a b", "é",
        ] {
            assert!(validate_id(id).is_err(), "{id:?} should be refused");
        }
    }
}
