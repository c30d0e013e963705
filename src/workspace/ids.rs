//! Work-item and command identifiers: the one rule that keeps an id inside
//! its directory. An id must match `[A-Za-z0-9][A-Za-z0-9._-]*` (the
//! reference's safe-id pattern), so `../x`, `/abs`, `a/b`, `` and ` x` are refused.

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
    fn refuses_escaping_ids() {
        for id in [
            "", "../x", "/abs", "a/b", "a\\b", ".hidden", " x", "x ", "-x", "a b", "é",
        ] {
            assert!(validate_id(id).is_err(), "{id:?} should be refused");
        }
    }
}
