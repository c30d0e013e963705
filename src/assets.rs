//! The shipped assets (`stdlib/` and `modes/`), embedded at build time.
//!
//! Paths are relative to the repository root, with `/` separators, e.g.
//! `stdlib/loops/execution.mill` or `modes/default_codex.mill`.

include!(concat!(env!("OUT_DIR"), "/embedded_assets.rs"));

/// Every embedded file, sorted by path.
pub fn all() -> &'static [(&'static str, &'static [u8])] {
    EMBEDDED
}

/// One embedded file by its repository-relative path.
pub fn get(path: &str) -> Option<&'static [u8]> {
    EMBEDDED
        .binary_search_by(|(p, _)| (*p).cmp(path))
        .ok()
        .map(|i| EMBEDDED[i].1)
}

/// The embedded `.mill` sources, in path order.
pub fn mill_sources() -> impl Iterator<Item = (&'static str, &'static str)> {
    EMBEDDED
        .iter()
        .filter(|(p, _)| p.ends_with(".mill"))
        .map(|(p, b)| {
            (
                *p,
                std::str::from_utf8(b).expect("shipped .mill sources are UTF-8"),
            )
        })
}
